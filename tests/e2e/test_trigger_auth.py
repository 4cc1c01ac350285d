"""
HTTP trigger auth (authType anonymous | function): a function trigger needs
the FC signature over the /proxy/ path and its sorted query lines
(reference A.6) with a Date within 15 minutes; anything else is refused
(401 without a signature, 403 SignatureNotMatch with a bad one).
"""
import time

import pytest

from conftest import assert_request_id, fixture_files, http_date, unique

SVC = unique("tauth")


@pytest.fixture(scope="module")
def fns(nubis):
    files = fixture_files("httpfn")
    nubis.deploy(SVC, "open", files, auth="anonymous", methods=("GET", "POST"))
    nubis.deploy(SVC, "closed", files, auth="function", methods=("GET", "POST"))
    return SVC


def call(nubis, method, path, query="", body=None, sign_query=None, **kw):
    h = nubis.signed_headers(method, path, query=query if sign_query is None else sign_query,
                             body=body, **kw)
    url = nubis.url + path + ("?" + query if query else "")
    return nubis.session.request(method, url, headers=h, data=body, timeout=30)


def test_anonymous_needs_nothing(nubis, fns):
    r = nubis.get("/2016-08-15/proxy/%s/open/x?a=1" % fns)
    assert r.status_code == 200, r.text
    assert r.json()["queries"] == {"a": "1"}


def test_function_refuses_unsigned(nubis, fns):
    r = nubis.get("/2016-08-15/proxy/%s/closed/x" % fns)
    assert r.status_code == 401, r.text
    assert_request_id(r)
    r = nubis.get("/2016-08-15/proxy/%s/closed/x" % fns, headers={"Authorization": "FC nope"})
    assert r.status_code == 403 and r.json()["ErrorCode"] == "SignatureNotMatch"


@pytest.mark.parametrize("query,want", [
    ("b=2&a=1&a=0", {"a": ["1", "0"], "b": "2"}),
    ("q=a+b&r=%2B%26x&empty=&flag", {"q": "a b", "r": "+&x", "empty": "", "flag": ""}),
    ("", {}),
])
def test_signed_query_canonicalization(nubis, fns, query, want):
    path = "/2016-08-15/proxy/%s/closed/deep/path" % fns
    r = call(nubis, "GET", path, query)
    assert r.status_code == 200, r.text
    assert r.json()["queries"] == want
    assert r.json()["path"] == "/deep/path"


def test_query_is_covered(nubis, fns):
    path = "/2016-08-15/proxy/%s/closed/x" % fns
    r = call(nubis, "GET", path, "a=1", sign_query="a=2")
    assert r.status_code == 403 and r.json()["ErrorCode"] == "SignatureNotMatch", r.text
    r = call(nubis, "GET", path, "a=1&b=2", sign_query="a=1")
    assert r.status_code == 403


def test_body_headers_and_method_are_covered(nubis, fns):
    path = "/2016-08-15/proxy/%s/closed/echo" % fns
    r = call(nubis, "POST", path, body=b"payload", headers={"Content-Type": "text/plain",
                                                            "X-Fc-Trace": "1"})
    assert r.status_code == 200, r.text
    assert r.content == b"payload"
    h = nubis.signed_headers("POST", path, body=b"x", headers={"Content-Type": "text/plain"})
    h["Content-Type"] = "application/json"  # changed after signing
    r = nubis.session.post(nubis.url + path, headers=h, data=b"x", timeout=30)
    assert r.status_code == 403
    h = nubis.signed_headers("GET", path)
    r = nubis.session.post(nubis.url + path, headers=h, timeout=30)  # signed as GET
    assert r.status_code == 403


@pytest.mark.parametrize("skew,ok", [(-14 * 60, True), (14 * 60, True), (-16 * 60, False),
                                     (16 * 60, False)])
def test_date_window(nubis, fns, skew, ok):
    path = "/2016-08-15/proxy/%s/closed/x" % fns
    r = call(nubis, "GET", path, date=http_date(time.time() + skew))
    assert r.status_code == (200 if ok else 403), r.text
    if not ok:
        assert r.json()["ErrorCode"] == "SignatureNotMatch"
        assert "15 minutes" in r.json()["ErrorMessage"]


def test_missing_date(nubis, fns):
    path = "/2016-08-15/proxy/%s/closed/x" % fns
    h = nubis.signed_headers("GET", path)
    del h["Date"]
    r = nubis.session.get(nubis.url + path, headers=h, timeout=30)
    assert r.status_code == 403 and "Date" in r.json()["ErrorMessage"]


def test_short_form_signs_path_without_query(nubis, fns):
    # /fn/ is not a /proxy/ path: its query is not part of the signature
    path = "/fn/%s/closed/x" % fns
    r = call(nubis, "GET", path, "a=1", sign_query="")
    assert r.status_code == 200, r.text
    r = call(nubis, "GET", path, secret="wrong")
    assert r.status_code == 403
