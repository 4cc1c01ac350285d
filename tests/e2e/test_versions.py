"""
Versions and aliases (FC 2.0 semantics): publish snapshots the service, an
alias points at a version (optionally with a weighted canary), and the
qualifier selects what runs, in trigger URLs and in invocations; the version
that ran is reported in X-Fc-Invocation-Service-Version.
"""
import concurrent.futures
import http.client
import json
import threading
import time

import pytest

from conftest import unique

SVC = unique("ver")


def code(tag):
    return {"index.js": "exports.handler = (req, resp, ctx) => resp.send('%s');\n"
                        "exports.ev = (e, c, cb) => cb(null, '%s');\n" % (tag, tag)}


def publish(nubis, svc, desc):
    r = nubis.api("POST", "/api/v1/services/%s/versions" % svc, json_body={"description": desc})
    assert r.status_code == 200, "publish: %s %s" % (r.status_code, r.text)
    return str(r.json()["versionId"])


def put_alias(nubis, svc, alias, version, weights=None):
    body = {"aliasName": alias, "versionId": version}
    if weights:
        body["additionalVersionWeight"] = weights
    r = nubis.api("PUT", "/api/v1/services/%s/aliases/%s" % (svc, alias), json_body=body)
    assert r.status_code in (200, 201), "alias: %s %s" % (r.status_code, r.text)
    return r.json()


def put_trigger(nubis, svc, fn, name, qualifier):
    r = nubis.api("PUT", "/api/v1/services/%s/functions/%s/triggers/%s" % (svc, fn, name), json_body={
        "triggerName": name, "triggerType": "http", "qualifier": qualifier,
        "triggerConfig": {"authType": "anonymous", "methods": ["GET"]}})
    assert r.status_code in (200, 201), r.text


def invoke(nubis, fn, qualifier=None, session=None):
    path = "/api/v1/services/%s/functions/%s/invocations" % (SVC, fn)
    query = "qualifier=%s" % qualifier if qualifier else ""
    h = nubis.signed_headers("POST", path, query, {"Content-Type": "application/octet-stream"}, b"")
    url = nubis.url + path + ("?" + query if query else "")
    return (session or nubis.session).post(url, data=b"", headers=h, timeout=30)


@pytest.fixture(scope="module")
def versions(nubis):
    nubis.deploy(SVC, "f", code("v1"))
    nubis.deploy(SVC, "e", code("v1"), handler="index.ev", http_trigger=False,
                 instanceConcurrency=20)
    v1 = publish(nubis, SVC, "first")
    nubis.deploy(SVC, "f", code("v2"))
    nubis.deploy(SVC, "e", code("v2"), handler="index.ev", http_trigger=False,
                 instanceConcurrency=20)
    v2 = publish(nubis, SVC, "second")
    assert (v1, v2) == ("1", "2")
    put_alias(nubis, SVC, "prod", v1)
    put_trigger(nubis, SVC, "f", "httpprod", "prod")
    return v1, v2


def proxy(nubis, qual):
    return nubis.get("/2016-08-15/proxy/%s.%s/f/" % (SVC, qual))


def test_qualified_trigger_urls(nubis, versions):
    v1, v2 = versions
    assert nubis.get("/2016-08-15/proxy/%s/f/" % SVC).text == "v2"
    assert proxy(nubis, "LATEST").text == "v2"
    r = proxy(nubis, "prod")
    assert r.status_code == 200, r.text
    assert r.text == "v1"
    assert proxy(nubis, v2).text == "v2"
    assert proxy(nubis, v1).text == "v1"
    r = proxy(nubis, "nosuch")
    assert r.status_code == 404 and r.json()["ErrorCode"] == "AliasNotFound", r.text
    r = proxy(nubis, "99")
    assert r.status_code == 404 and r.json()["ErrorCode"] == "VersionNotFound", r.text


def test_qualified_invocations(nubis, versions):
    v1, v2 = versions
    r = invoke(nubis, "e", "prod")
    assert r.status_code == 200, r.text
    assert r.content == b"v1"
    assert r.headers["X-Fc-Invocation-Service-Version"] == v1
    r = invoke(nubis, "e")
    assert r.content == b"v2" and r.headers["X-Fc-Invocation-Service-Version"] == "LATEST"
    # FC's qualified path
    path = "/2016-08-15/services/%s.%s/functions/e/invocations" % (SVC, v1)
    r = nubis.api("POST", path, data=b"", headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.content == b"v1", r.text
    r = nubis.cli("invoke", "%s/e" % SVC, "--qualifier", v2)
    assert r.returncode == 0 and r.stdout.strip() == "v2", (r.stdout, r.stderr)
    r = nubis.cli("invoke", "%s/e" % SVC, "--qualifier", v1)
    assert r.stdout.strip() == "v1", (r.stdout, r.stderr)
    r = nubis.cli("invoke", "%s/e" % SVC, "--qualifier", "nosuchalias")
    assert r.returncode != 0 and "AliasNotFound" in r.stderr


def test_versions_are_immutable(nubis, versions):
    v1, _ = versions
    assert invoke(nubis, "e", v1).content == b"v1"  # v1's pool is warm now
    nubis.deploy(SVC, "e", code("v3"), handler="index.ev", http_trigger=False,
                 instanceConcurrency=20)
    r = invoke(nubis, "e", v1)
    assert r.content == b"v1"
    assert "X-Nubis-Cold-Start" not in r.headers, "updating LATEST restarted version 1's instances"
    r = nubis.cli("invoke", "%s/e" % SVC)
    assert r.stdout.strip() == "v3"
    # the version keeps its config too
    r = nubis.api("GET", "/api/v1/services/%s/versions/%s" % (SVC, v1))
    assert r.status_code == 200, r.text
    fns = {f["functionName"]: f for f in r.json()["functions"]}
    assert set(fns) == {"e", "f"} and fns["e"]["handler"] == "index.ev"


def test_canary_split_10000_calls(nubis, versions):
    """90/10 alias: over 10,000 invocations the second version's share is 10 % +- 3 points."""
    v1, v2 = versions
    body = put_alias(nubis, SVC, "canary", v1, {v2: 0.1})
    assert body["additionalVersionWeight"] == {v2: 0.1}
    local = threading.local()
    path = "/api/v1/services/%s/functions/e/invocations" % SVC
    query = "qualifier=canary"

    def one(_):
        # http.client with keep-alive: requests' own overhead would dominate 10,000 calls
        if not hasattr(local, "c"):
            local.c = http.client.HTTPConnection("127.0.0.1", nubis.port, timeout=30)
        h = nubis.signed_headers("POST", path, query, {"Content-Type": "application/octet-stream"},
                                 b"")
        local.c.request("POST", path + "?" + query, body=b"", headers=h)
        r = local.c.getresponse()
        body = r.read()
        assert r.status == 200, body
        assert r.getheader("X-Fc-Invocation-Service-Version") == {b"v1": v1, b"v2": v2}[body]
        return body

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(one, range(10000)))
    share = got.count(b"v2") / len(got)
    print("canary: version %s served %.2f %% of 10,000 calls" % (v2, share * 100))
    assert got.count(b"v1") + got.count(b"v2") == 10000
    assert 0.07 <= share <= 0.13, share


def test_version_delete_refused_while_aliased(nubis, versions):
    v1, v2 = versions
    r = nubis.api("DELETE", "/api/v1/services/%s/versions/%s" % (SVC, v1))
    assert r.status_code == 409 and r.json()["ErrorCode"] == "VersionInUse", r.text
    assert "prod" in r.json()["ErrorMessage"] or "canary" in r.json()["ErrorMessage"]
    v3 = publish(nubis, SVC, "third")
    assert invoke(nubis, "e", v3).content == b"v3"
    r = nubis.cli("versions", "rm", SVC, v3)
    assert r.returncode == 0, r.stderr
    r = invoke(nubis, "e", v3)
    assert r.status_code == 404 and r.json()["ErrorCode"] == "VersionNotFound", r.text
    r = nubis.api("GET", "/api/v1/services/%s/versions" % SVC)
    ids = [v["versionId"] for v in r.json()["versions"]]
    assert v3 not in ids and ids[:2] == [v2, v1]
    # ids are never reused
    v4 = publish(nubis, SVC, "fourth")
    assert int(v4) == int(v3) + 1


def test_alias_validation(nubis, versions):
    base = "/api/v1/services/%s/aliases/" % SVC
    for name, body, code in [
        ("bad", {"versionId": "42"}, 404),                                   # no such version
        ("bad", {"versionId": "1", "additionalVersionWeight": {"2": 1.5}}, 400),
        ("bad", {"versionId": "1", "additionalVersionWeight": {"2": 0.1, "3": 0.1}}, 400),
        ("123", {"versionId": "1"}, 400),                                    # looks like a version
        ("LATEST", {"versionId": "1"}, 400),
    ]:
        r = nubis.api("PUT", base + name, json_body=body)
        assert r.status_code == code, (name, body, r.status_code, r.text)
    r = nubis.api("GET", base + "bad")
    assert r.status_code == 404 and r.json()["ErrorCode"] == "AliasNotFound"


def test_cli_publish_versions_and_alias(nubis, versions):
    r = nubis.cli("publish", SVC, "--description", "from the cli", "-o", "json")
    assert r.returncode == 0, r.stderr
    v = str(json.loads(r.stdout)["versionId"])
    r = nubis.cli("versions", SVC)
    assert r.returncode == 0 and "from the cli" in r.stdout, r.stdout
    r = nubis.cli("alias", "set", SVC, "cli", v, "--weight", "1=0.25")
    assert r.returncode == 0, r.stderr
    r = nubis.cli("alias", "get", SVC, "cli", "-o", "json")
    assert json.loads(r.stdout)["additionalVersionWeight"] == {"1": 0.25}
    r = nubis.cli("alias", "list", SVC, "-o", "json")
    assert r.returncode == 0, r.stderr
    names = [a["aliasName"] for a in json.loads(r.stdout)["aliases"]]
    assert "cli" in names and "prod" in names
    r = nubis.cli("alias", "rm", SVC, "cli")
    assert r.returncode == 0
    r = nubis.cli("alias", "get", SVC, "cli")
    assert r.returncode != 0 and "AliasNotFound" in r.stderr


def test_versions_survive_restart_and_go_with_the_service(tmp_path):
    from conftest import Daemon
    d = Daemon(tmp_path).start()
    try:
        d.deploy("rs", "e", code("old"), handler="index.ev", http_trigger=False)
        r = d.api("POST", "/api/v1/services/rs/versions", json_body={})
        assert r.status_code == 200, r.text
        r = d.api("PUT", "/api/v1/services/rs/aliases/live", json_body={"versionId": "1"})
        assert r.status_code == 200, r.text
        d.deploy("rs", "e", code("new"), handler="index.ev", http_trigger=False)
        assert d.stop() == 0
        d.start()
        r = d.api("POST", "/api/v1/services/rs/functions/e/invocations", query="qualifier=live",
                  data=b"", headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 200 and r.content == b"old", r.text
        assert d.cli("rm", "-r", "rs").returncode == 0
        d.deploy("rs", "e", code("again"), handler="index.ev", http_trigger=False)
        r = d.api("GET", "/api/v1/services/rs/versions")
        assert r.json()["versions"] == [], "a re-created service must not inherit versions"
        r = d.api("POST", "/api/v1/services/rs/functions/e/invocations", query="qualifier=live",
                  data=b"", headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 404, r.text
    finally:
        d.check_clean_exit(d.stop())


def test_async_invocations_run_the_qualified_version_and_are_metered(nubis, versions):
    v1, v2 = versions
    path = "/api/v1/services/%s/functions/e/invocations" % SVC
    r = nubis.api("POST", path, data=b"", query="qualifier=prod",
                  headers={"X-Fc-Invocation-Type": "Async",
                           "Content-Type": "application/octet-stream"})
    assert r.status_code == 202, r.text
    rid = r.headers["X-Fc-Request-Id"]
    deadline = time.monotonic() + 15
    state = None
    while time.monotonic() < deadline:
        state = nubis.api("GET", "/api/v1/invocations/%s" % rid).json()
        if state["state"] in ("succeeded", "failed", "expired"):
            break
        time.sleep(0.05)
    assert state["state"] == "succeeded", state
    assert state["result"] == "v1"  # the alias's version ran, not LATEST ("v2")
    # and the async run left a usage record like a sync one (written in batches)
    recs = []
    while time.monotonic() < deadline:
        r = nubis.api("GET", "/api/v1/usage/records",
                      query="service=%s&function=e&limit=100000" % SVC)
        recs = [x for x in r.json()["records"] if x["requestId"] == rid]
        if recs:
            break
        time.sleep(0.1)
    assert len(recs) == 1, "no usage record for async invocation %s" % rid
    assert recs[0]["version"] == v1 and recs[0]["status"] == "success"
