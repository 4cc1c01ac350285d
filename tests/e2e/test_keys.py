"""
Access keys (docs/security-gateway.md): several keys with scopes, created,
listed and revoked through the API and the CLI; scopes enforced by the
gateway (403 AccessDenied); secrets encrypted at rest, shown once; the
gateway learns new and revoked keys without a restart.
"""
import json
import os
import sqlite3

import pytest

from conftest import file_mode, fixture_files, unique

SVC = unique("keys")
OTHER = unique("keysother")


@pytest.fixture(scope="module")
def fns(nubis):
    files = fixture_files("httpfn")
    nubis.deploy(SVC, "f", files, auth="function")
    nubis.deploy(OTHER, "g", files, auth="function")
    return SVC


def create(nubis, scope=None):
    r = nubis.api("POST", "/api/v1/keys", json_body={"scope": scope} if scope else {})
    assert r.status_code == 201, r.text
    k = r.json()
    assert k["accessKeyId"].startswith("NB") and len(k["accessKeySecret"]) >= 20
    return k["accessKeyId"], k["accessKeySecret"]


def as_key(nubis, key, method, path, **kw):
    return nubis.api(method, path, key_id=key[0], secret=key[1], **kw)


def trigger(nubis, key, svc, fn):
    path = "/2016-08-15/proxy/%s/%s/" % (svc, fn)
    h = nubis.signed_headers("GET", path, key_id=key[0], secret=key[1])
    return nubis.session.get(nubis.url + path, headers=h, timeout=30)


def test_scopes(nubis, fns):
    deploy, invoke, svc = create(nubis), create(nubis, "invoke"), create(nubis, "service:" + SVC)
    # deploy (the default scope): management and invoke, not keys
    assert as_key(nubis, deploy, "GET", "/api/v1/services").status_code == 200
    assert as_key(nubis, deploy, "PUT", "/api/v1/services/%s" % SVC,
                  json_body={"description": "d"}).status_code == 200
    r = as_key(nubis, deploy, "GET", "/api/v1/keys")
    assert r.status_code == 403 and r.json()["ErrorCode"] == "AccessDenied", r.text
    assert "deploy" in r.json()["ErrorMessage"]
    assert as_key(nubis, deploy, "POST", "/api/v1/keys", json_body={}).status_code == 403
    # invoke: the invoke API and signed triggers only
    r = nubis.api("POST", "/api/v1/services/%s/functions/f/invocations" % SVC, data=b"{}",
                  key_id=invoke[0], secret=invoke[1])
    assert r.status_code == 200, r.text
    assert trigger(nubis, invoke, SVC, "f").status_code == 200
    r = as_key(nubis, invoke, "GET", "/api/v1/services")
    assert r.status_code == 403 and "invoke" in r.json()["ErrorMessage"]
    assert as_key(nubis, invoke, "GET", "/api/v1/services/%s/functions/f/logs" % SVC).status_code == 403
    # service:NAME: that service only
    assert as_key(nubis, svc, "GET", "/api/v1/services/%s/functions" % SVC).status_code == 200
    assert as_key(nubis, svc, "GET", "/2016-08-15/services/%s.LATEST/functions/f" % SVC).status_code == 200
    assert trigger(nubis, svc, SVC, "f").status_code == 200
    r = trigger(nubis, svc, OTHER, "g")
    assert r.status_code == 403 and OTHER in r.json()["ErrorMessage"], r.text
    r = as_key(nubis, svc, "GET", "/api/v1/services/%s" % OTHER)
    assert r.status_code == 403, r.text
    assert as_key(nubis, svc, "GET", "/api/v1/services").status_code == 403
    assert as_key(nubis, svc, "GET", "/api/v1/keys").status_code == 403
    # admin (the bootstrap key) can do everything
    assert trigger(nubis, (nubis.key_id, nubis.secret), OTHER, "g").status_code == 200


def test_list_and_revoke(nubis, fns):
    k = create(nubis, "invoke")
    r = nubis.api("GET", "/api/v1/keys")
    assert r.status_code == 200
    listed = {x["accessKeyId"]: x for x in r.json()["keys"]}
    assert listed[k[0]]["scope"] == "invoke"
    assert listed[nubis.key_id]["scope"] == "admin"
    assert all("accessKeySecret" not in x for x in listed.values())  # shown once only
    assert trigger(nubis, k, SVC, "f").status_code == 200
    r = nubis.api("DELETE", "/api/v1/keys/%s" % k[0])
    assert r.status_code == 204, r.text
    r = trigger(nubis, k, SVC, "f")
    assert r.status_code == 403 and r.json()["ErrorCode"] == "InvalidAccessKeyID", r.text
    assert nubis.api("DELETE", "/api/v1/keys/%s" % k[0]).status_code == 404
    # the last admin key cannot be revoked
    r = nubis.api("DELETE", "/api/v1/keys/%s" % nubis.key_id)
    assert r.status_code == 409, r.text


@pytest.mark.parametrize("scope", ["root", "service:", "service:a/b", "", 3])
def test_bad_scope(nubis, scope):
    r = nubis.api("POST", "/api/v1/keys", json_body={"scope": scope})
    assert r.status_code == 400, r.text
    assert "scope" in r.json()["ErrorMessage"]


def test_secrets_encrypted_at_rest(nubis, fns):
    k = create(nubis, "deploy")
    master = os.path.join(nubis.data_dir, "master.key")
    assert file_mode(master) == 0o600
    assert os.path.getsize(master) == 32
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(nubis.data_dir, "nubis.db"), uri=True)
    rows = dict(db.execute("SELECT id, secret FROM keys").fetchall())
    db.close()
    assert rows[k[0]].startswith("v1:")
    for stored in rows.values():
        assert k[1] not in stored and nubis.secret not in stored
    with open(os.path.join(nubis.data_dir, "nubis.db"), "rb") as f:
        assert k[1].encode() not in f.read()


def test_cli_keys(nubis, fns):
    r = nubis.cli("keys", "create", "--scope", "invoke")
    assert r.returncode == 0, r.stderr
    env = dict(line.split("=", 1) for line in r.stdout.split())
    kid, secret = env["NUBIS_ACCESS_KEY_ID"], env["NUBIS_ACCESS_KEY_SECRET"]
    assert trigger(nubis, (kid, secret), SVC, "f").status_code == 200
    r = nubis.cli("keys", "list", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert kid in [x["accessKeyId"] for x in json.loads(r.stdout)["keys"]]
    r = nubis.cli("keys", "list")
    assert kid in r.stdout and "invoke" in r.stdout and secret not in r.stdout
    # an invoke key cannot manage keys through the CLI either
    env2 = dict(nubis.cli_env(), NUBIS_ACCESS_KEY_ID=kid, NUBIS_ACCESS_KEY_SECRET=secret)
    r = nubis.cli("keys", "list", env=env2)
    assert r.returncode == 1 and ("AccessDenied" in r.stderr or "scope" in r.stderr), r.stderr
    r = nubis.cli("keys", "revoke", kid)
    assert r.returncode == 0, r.stderr
    assert trigger(nubis, (kid, secret), SVC, "f").status_code == 403
    assert nubis.cli("keys", "create", "--scope", "bogus").returncode == 1
    assert nubis.cli("keys", "revoke").returncode == 2
