"""
Request limits and bad input: oversize headers, URL and body; malformed
HTTP; a bad manifest.  Each gets a clear 4xx and the daemon keeps serving.
"""
import socket

import pytest

from conftest import assert_request_id, fixture_files, unique, write_tree

SVC = unique("lim")


@pytest.fixture(scope="module")
def fn(nubis):
    nubis.deploy(SVC, "echo", fixture_files("httpfn"))
    return "/2016-08-15/proxy/%s/echo" % SVC


def raw(nubis, data, read_timeout=5.0):
    """Sends bytes on a fresh connection; returns what came back (until close or timeout)."""
    s = socket.create_connection(("127.0.0.1", nubis.port), timeout=read_timeout)
    try:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(rest) >= int(cl[0].split(b":")[1]):
                    break
        return out
    finally:
        s.close()


def status_of(resp):
    assert resp.startswith(b"HTTP/1."), "no HTTP response: %r" % resp[:200]
    return int(resp.split(b" ", 2)[1])


def test_headers_too_large(nubis, fn):
    r = nubis.get(fn + "/", headers={"X-Big": "a" * 9000})
    assert r.status_code == 431, r.status_code
    assert_request_id(r)
    assert r.json().get("ErrorCode"), r.text
    many = {"X-H%d" % i: "v" * 100 for i in range(100)}
    r = nubis.get(fn + "/", headers=many)
    assert r.status_code == 431
    assert nubis.get("/healthz").status_code == 200
    # just under the limit is fine
    r = nubis.get(fn + "/", headers={"X-Big": "a" * 6000})
    assert r.status_code == 200


def test_url_too_long(nubis, fn):
    r = nubis.get(fn + "/?q=" + "a" * 5000)
    assert r.status_code == 414, r.status_code
    assert_request_id(r)
    r = nubis.get(fn + "/" + "p" * 5000)
    assert r.status_code == 414
    r = nubis.get(fn + "/?q=" + "a" * 3000)
    assert r.status_code == 200


def test_body_too_large_announced(nubis, fn):
    req = ("POST %s/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40000000\r\n"
           "Content-Type: application/octet-stream\r\nExpect: 100-continue\r\n\r\n" % fn).encode()
    resp = raw(nubis, req)
    assert status_of(resp) == 413, resp[:300]
    assert b"100 Continue" not in resp.split(b"\r\n")[0]
    assert b"x-fc-request-id:" in resp.lower(), resp[:300]
    assert nubis.get("/healthz").status_code == 200


def test_body_too_large_without_expect(nubis, fn):
    req = ("POST %s/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 40000000\r\n\r\n"
           % fn).encode() + b"x" * 65536
    resp = raw(nubis, req)
    assert status_of(resp) == 413, resp[:300]


def test_body_just_under_limit_is_fine(nubis, fn):
    body = b"z" * (8 << 20)
    r = nubis.post(fn + "/echo", data=body, timeout=60)
    assert r.status_code == 200
    assert len(r.content) == len(body)


@pytest.mark.parametrize("garbage", [
    b"GARBAGE\x00\x01 nonsense\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n",
    b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n",
], ids=["garbage", "negative-length", "bad-header-line", "bad-chunk"])
def test_malformed_http(nubis, garbage):
    resp = raw(nubis, garbage, read_timeout=3)
    assert status_of(resp) == 400, resp[:300]
    assert nubis.get("/healthz").status_code == 200


def test_truncated_request_does_not_hang_daemon(nubis):
    s = socket.create_connection(("127.0.0.1", nubis.port), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
    try:
        r = nubis.get("/healthz", timeout=5)
        assert r.status_code == 200
    finally:
        s.close()


def write_manifest(tmp_path, fn_yaml):
    write_tree(tmp_path, {
        "index.js": "exports.handler = (req, resp) => resp.send('x');\n",
        "nubis.yaml": "service:\n  name: %s\nfunctions:\n  f1:\n%s" % (SVC, fn_yaml),
    })


@pytest.mark.parametrize("key,fn_yaml", [
    ("memorySize", "    runtime: nodejs20\n    handler: index.handler\n    memorySize: lots\n"),
    ("timeout", "    runtime: nodejs20\n    handler: index.handler\n    timeout: 999999\n"),
    ("runtime", "    runtime: cobol85\n    handler: index.handler\n"),
], ids=["memorySize", "timeout", "runtime"])
def test_bad_manifest(nubis, tmp_path, key, fn_yaml):
    write_manifest(tmp_path, fn_yaml)
    r = nubis.cli("deploy", str(tmp_path))
    assert r.returncode != 0, "bad %s accepted: %s" % (key, r.stdout)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert lines, "no error message"
    # progress lines may come first; the error is one line, the last, naming the key
    assert key in lines[-1], "error does not name %s: %r" % (key, r.stderr)
    assert sum(key in l for l in lines) == 1, "error spans several lines: %r" % r.stderr
    # a refused manifest changes nothing
    r = nubis.api("GET", "/api/v1/services/%s/functions/f1" % SVC)
    assert r.status_code == 404, "bad %s refused, but function f1 was deployed anyway" % key


def test_manifest_not_yaml(nubis, tmp_path):
    write_tree(tmp_path, {"nubis.yaml": "service: [unclosed\n  : : :\n", "index.js": ""})
    r = nubis.cli("deploy", str(tmp_path))
    assert r.returncode != 0
    assert "nubis.yaml" in r.stderr


def test_missing_manifest(nubis, tmp_path):
    r = nubis.cli("deploy", str(tmp_path))
    assert r.returncode != 0
    assert r.stderr.strip()
