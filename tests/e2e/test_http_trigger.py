"""
HTTP triggers: what the function sees of the request (FC HTTP handler
contract, reference A.1/A.2), what the client sees of the response, routing
errors and keep-alive.
"""
import http.client
import json
import os

import pytest
import requests

from conftest import assert_request_id, fixture_files, unique

SVC = unique("http")
FN = "echo"


@pytest.fixture(scope="module")
def fn(nubis):
    nubis.deploy(SVC, FN, fixture_files("httpfn"), methods=("GET", "POST"))
    return "/2016-08-15/proxy/%s/%s" % (SVC, FN)


def test_request_fields(nubis, fn):
    r = nubis.get(fn + "/some/path?a=1&a=2&b=x%20y",
                  headers={"X-Hello": "world", "X-Fc-Secret": "hidden", "User-Agent": "e2e"})
    assert r.status_code == 200, r.text
    assert_request_id(r)
    got = r.json()
    assert got["method"] == "GET"
    assert got["path"] == "/some/path"
    assert got["queries"]["a"] == ["1", "2"]
    assert got["queries"]["b"] == "x y"
    assert got["headers"].get("x-hello") == "world", got["headers"]
    assert got["headers"].get("user-agent") == "e2e"
    # x-fc-* request headers are the platform's, not passed to the function
    assert not any(k.lower().startswith("x-fc-") for k in got["headers"]), got["headers"]
    assert got["clientIP"] == "127.0.0.1"
    assert got["requestId"] == r.headers["X-Fc-Request-Id"]


def test_names_like_object_members(nubis, fn):
    # Query and header names are plain data to the function, even where they
    # spell Object.prototype's members: nothing inherited, no prototype set.
    r = nubis.get(fn + "/?constructor=1&__proto__=2&__proto__=3&toString=x&hasOwnProperty=",
                  headers={"Constructor": "c", "__proto__": "p"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["queries"] == {"constructor": "1", "__proto__": ["2", "3"], "toString": "x",
                              "hasOwnProperty": ""}, got["queries"]
    assert got["headers"]["constructor"] == "c" and got["headers"]["__proto__"] == "p"


def test_post_body_stream_and_buffer(nubis, fn):
    r = nubis.post(fn + "/", data=b"name=value&x=1",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["method"] == "POST"
    assert got["body"] == "name=value&x=1"
    assert got["streamed"] == "name=value&x=1"
    assert got["headers"].get("content-type") == "application/x-www-form-urlencoded"


def test_binary_body_echo_1mb(nubis, fn):
    payload = os.urandom(1 << 20)
    r = nubis.post(fn + "/echo", data=payload, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text[:200]
    assert r.headers.get("X-Body-Equal") == "true", "request.body differs from the streamed body"
    assert len(r.content) == len(payload)
    assert r.content == payload


def test_string_bodies_small_to_large(nubis, fn):
    # A string body is sent as UTF-8 whether it is copied into the shim's
    # frame buffer (small) or written from its own buffer, past what the pipe
    # takes at once (large); logs written around it do not cut into it.
    for n in (1, 20000, 300000, 5):
        r = nubis.get(fn + "/text/%d" % n)
        assert r.status_code == 200, r.text[:200]
        assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert r.content == ("\u00e9\u20acx" * n).encode(), "body of %d differs" % n


def test_status_codes(nubis, fn):
    for code in (201, 202, 204, 301, 400, 404, 418, 500, 503):
        r = nubis.get(fn + "/status/%d" % code, allow_redirects=False)
        assert r.status_code == code, "handler set %d, client got %d" % (code, r.status_code)
        assert_request_id(r)


def test_response_header_filtering(nubis, fn):
    r = nubis.get(fn + "/headers")
    assert r.status_code == 200
    assert r.content == b"headers"
    assert r.headers.get("Content-Length") == "7"
    assert r.headers.get("Date") != "Mon, 01 Jan 2001 00:00:00 GMT"
    assert r.headers.get("Server") != "evil-server"
    assert r.headers.get("X-Fc-Foo") != "bar"
    assert r.headers.get("Connection", "").lower() != "close"
    assert r.headers.get("X-Custom") == "yes"
    assert "X-Deleted" not in r.headers
    assert_request_id(r)


def test_method_not_allowed(nubis, fn):
    r = nubis.session.put(nubis.url + fn + "/", data=b"x", timeout=30)
    assert r.status_code == 405, r.text
    assert r.json().get("ErrorCode") == "MethodNotAllowed"
    assert_request_id(r)


def test_unknown_function_and_service(nubis, fn):
    r = nubis.get("/2016-08-15/proxy/%s/nosuch/" % SVC)
    assert r.status_code == 404
    assert r.json().get("ErrorCode") == "FunctionNotFound"
    assert_request_id(r)
    r = nubis.get("/fn/%s/nosuch/x" % SVC)
    assert r.status_code == 404
    assert r.json().get("ErrorCode") == "FunctionNotFound"
    r = nubis.get("/2016-08-15/proxy/nosuch_%s/%s/" % (SVC, FN))
    assert r.status_code == 404
    assert r.json().get("ErrorCode") in ("ServiceNotFound", "FunctionNotFound")


def test_keep_alive_reuses_connection(nubis, fn):
    conn = http.client.HTTPConnection("127.0.0.1", nubis.port, timeout=30)
    conn.connect()
    first = conn.sock
    for i in range(20):
        conn.request("GET", fn + "/?i=%d" % i)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200
        assert json.loads(body)["queries"]["i"] == str(i)
        assert conn.sock is first, "server closed the keep-alive connection after request %d" % i
    conn.close()
    # requests.Session works the same way
    s = requests.Session()
    for i in range(5):
        assert s.get(nubis.url + fn + "/", timeout=30).status_code == 200


def test_short_form_url(nubis, fn):
    r = nubis.get("/fn/%s/%s/deep/er?q=1" % (SVC, FN))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["path"] == "/deep/er"
    assert got["queries"] == {"q": "1"}
