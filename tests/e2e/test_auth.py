"""
Management API authentication (FC signature, reference A.6), the files the
daemon writes for its admin key, and trigger auth types.
"""
import os
import time

import pytest

from conftest import assert_request_id, file_mode, fixture_files, http_date, read_env_file, unique

SVC = unique("auth")


def test_signed_request_works(nubis):
    r = nubis.api("GET", "/api/v1/services")
    assert r.status_code == 200, r.text
    assert "services" in r.json()


def test_unsigned_is_401(nubis):
    r = nubis.api("GET", "/api/v1/services", sign_it=False)
    assert r.status_code == 401, r.text
    assert r.json().get("ErrorCode")
    assert_request_id(r)
    r = nubis.api("POST", "/api/v1/services", json_body={"serviceName": SVC + "x"}, sign_it=False)
    assert r.status_code == 401
    assert nubis.api("GET", "/api/v1/services/%sx" % SVC).status_code == 404


def test_wrong_secret_is_403(nubis):
    r = nubis.api("GET", "/api/v1/services", secret="not-the-secret")
    assert r.status_code == 403, r.text
    assert r.json().get("ErrorCode") == "SignatureNotMatch"
    assert_request_id(r)


def test_unknown_key_is_403(nubis):
    r = nubis.api("GET", "/api/v1/services", key_id="NOSUCHKEY123")
    assert r.status_code == 403, r.text
    assert r.json().get("ErrorCode") in ("InvalidAccessKeyID", "SignatureNotMatch")


def test_stale_date_is_403(nubis):
    r = nubis.api("GET", "/api/v1/services", date=http_date(time.time() - 20 * 60))
    assert r.status_code == 403, r.text
    r = nubis.api("GET", "/api/v1/services", date=http_date(time.time() + 20 * 60))
    assert r.status_code == 403, r.text
    r = nubis.api("GET", "/api/v1/services", date=http_date(time.time() - 60))
    assert r.status_code == 200, "a 1-minute-old Date must pass: %s" % r.text


def test_signature_covers_path_and_headers(nubis):
    # signed for one path, sent to another
    h = nubis.signed_headers("GET", "/api/v1/services/other")
    r = nubis.session.get(nubis.url + "/api/v1/services", headers=h, timeout=30)
    assert r.status_code == 403
    # an x-fc- header changed after signing
    h = nubis.signed_headers("GET", "/api/v1/services", headers={"x-fc-trace": "a"})
    h["x-fc-trace"] = "b"
    r = nubis.session.get(nubis.url + "/api/v1/services", headers=h, timeout=30)
    assert r.status_code == 403
    # the FC API prefix is signed the same way
    r = nubis.api("GET", "/2016-08-15/services")
    assert r.status_code == 200, r.text


def test_credentials_file(nubis):
    path = os.path.join(nubis.data_dir, "credentials")
    assert file_mode(path) == 0o600, oct(file_mode(path))
    env = read_env_file(path)
    assert env["NUBIS_ACCESS_KEY_ID"] and env["NUBIS_ACCESS_KEY_SECRET"]
    assert len(env["NUBIS_ACCESS_KEY_SECRET"]) >= 20


def test_endpoint_file(nubis):
    assert nubis.endpoint.rstrip("/") == nubis.url


def test_anonymous_and_function_triggers(nubis):
    files = fixture_files("httpfn")
    nubis.deploy(SVC, "anon", files, auth="anonymous")
    nubis.deploy(SVC, "signed", files, auth="function")
    r = nubis.get("/2016-08-15/proxy/%s/anon/?a=1" % SVC)
    assert r.status_code == 200, r.text

    path = "/2016-08-15/proxy/%s/signed/x" % SVC
    r = nubis.get(path + "?a=1")
    assert r.status_code in (401, 403), r.text
    assert_request_id(r)
    # signed with the query lines, as the FC SDK does for /proxy/ paths
    query = "b=2&a=1&a=0"
    h = nubis.signed_headers("GET", path, query=query)
    r = nubis.session.get(nubis.url + path + "?" + query, headers=h, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["queries"] == {"a": ["1", "0"], "b": "2"}
    # the same signature without the query lines does not pass
    h = nubis.signed_headers("GET", path, query="")
    r = nubis.session.get(nubis.url + path + "?" + query, headers=h, timeout=30)
    assert r.status_code == 403, r.text
    # wrong secret
    h = nubis.signed_headers("GET", path, query=query, secret="nope")
    r = nubis.session.get(nubis.url + path + "?" + query, headers=h, timeout=30)
    assert r.status_code == 403


def test_healthz_unsigned(nubis):
    r = nubis.get("/healthz")
    assert r.status_code == 200
    assert r.json().get("status") == "ok"


@pytest.mark.parametrize("path", ["/api/v1/code", "/api/v1/services/x/functions"])
def test_unsigned_writes_refused(nubis, path):
    r = nubis.api("POST", path, data=b"PK", sign_it=False)
    assert r.status_code == 401
