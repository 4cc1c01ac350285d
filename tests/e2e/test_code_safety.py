"""
Hostile code packages: path traversal, absolute paths, symlinks out, junk,
zip bombs and oversize zips are refused with a clear 4xx, write nothing
outside the code store (nor leave anything inside), and change nothing.
Identical packages are stored once.
"""
import base64
import hashlib
import os
import uuid

import pytest

from conftest import assert_request_id, make_symlink_zip, make_zip, make_zip_raw, unique

TAG = uuid.uuid4().hex[:10]
EVIL = "nubis-evil-" + TAG
SVC = unique("safe")
INDEX = "exports.handler = (e, c, cb) => cb(null, 'ok');\n"


def hostile_zips():
    return {
        "dotdot": make_zip({"index.js": INDEX, "../" + EVIL: "pwned"}),
        "dotdot_deep": make_zip({"index.js": INDEX, "a/../../../../../../../../tmp/" + EVIL: "x"}),
        "absolute": make_zip({"index.js": INDEX, "/tmp/" + EVIL: "pwned"}),
        "symlink_passwd": make_symlink_zip("passwd", "/etc/passwd",
                                           [("index.js", INDEX, 0o100644)]),
        "symlink_dotdot": make_symlink_zip("up", "../../../../../../tmp",
                                           [("index.js", INDEX, 0o100644)]),
        "symlink_then_write": make_zip_raw([("link", "/tmp", 0o120777),
                                            ("link/" + EVIL, "pwned", 0o100644)]),
    }


def evil_paths(nubis):
    parent = os.path.dirname(nubis.data_dir)
    return [os.path.join(d, EVIL) for d in
            ("/tmp", "/", parent, nubis.data_dir, os.path.join(nubis.data_dir, "code"))]


def assert_nothing_written(nubis):
    for p in evil_paths(nubis):
        assert not os.path.lexists(p), "hostile zip wrote %s" % p
    for root, dirs, files in os.walk(os.path.dirname(nubis.data_dir)):
        for n in files + dirs:
            assert EVIL not in n, "hostile entry left behind: %s" % os.path.join(root, n)
            full = os.path.join(root, n)
            if os.path.islink(full):
                target = os.path.realpath(full)
                assert target != "/etc/passwd", "symlink to /etc/passwd left at %s" % full


def assert_error(r, status=400):
    assert r.status_code == status, "expected %d, got %d %s" % (status, r.status_code, r.text)
    body = r.json()
    assert body.get("ErrorCode"), body
    assert body.get("ErrorMessage"), body
    assert_request_id(r)
    return body


@pytest.mark.parametrize("kind", sorted(hostile_zips()))
def test_hostile_upload_refused(nubis, kind):
    z = hostile_zips()[kind]
    r = nubis.api("POST", "/api/v1/code", data=z, headers={"Content-Type": "application/zip"})
    assert_error(r, 400)
    assert_nothing_written(nubis)


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink_passwd", "symlink_then_write"])
def test_hostile_function_create_refused(nubis, kind):
    z = hostile_zips()[kind]
    r = nubis.api("PUT", "/api/v1/services/%s" % SVC, json_body={"serviceName": SVC})
    assert r.status_code in (200, 201), r.text
    fn = "f_" + kind
    r = nubis.api("POST", "/api/v1/services/%s/functions" % SVC, json_body={
        "functionName": fn, "runtime": "nodejs20", "handler": "index.handler",
        "code": {"zipFile": base64.b64encode(z).decode()}})
    assert_error(r, 400)
    assert_nothing_written(nubis)
    r = nubis.api("GET", "/api/v1/services/%s/functions/%s" % (SVC, fn))
    assert r.status_code == 404, "a refused function exists anyway: %s" % r.text


def test_not_a_zip(nubis):
    for junk in (b"this is not a zip file at all", b"PK\x03\x04" + os.urandom(200), b""):
        r = nubis.api("POST", "/api/v1/code", data=junk,
                      headers={"Content-Type": "application/zip"})
        assert_error(r, 400)
    r = nubis.api("POST", "/api/v1/services/%s/functions" % SVC, json_body={
        "functionName": "junk", "runtime": "nodejs20", "handler": "index.handler",
        "code": {"zipFile": base64.b64encode(b"not a zip").decode()}})
    assert_error(r, 400)


def test_zip_bomb(nubis, bomb_zip):
    assert len(bomb_zip) < 5 << 20
    r = nubis.api("POST", "/api/v1/code", data=bomb_zip,
                  headers={"Content-Type": "application/zip"}, timeout=120)
    assert r.status_code in (400, 413), "zip bomb: %s %s" % (r.status_code, r.text)
    assert_error(r, r.status_code)
    assert r.status_code == 413, "a bomb is too large unpacked: expected 413 EntityTooLarge"
    # nothing left of it: no tree holding zeros.bin
    for root, _, files in os.walk(nubis.data_dir):
        assert "zeros.bin" not in files, "bomb partially unpacked into %s" % root


def test_oversize_zip(nubis):
    big = make_zip({"index.js": INDEX, "blob.bin": os.urandom(51 << 20)},
                   compression=0)  # stored: 51 MiB zipped > 50 MiB limit
    r = nubis.api("POST", "/api/v1/code", data=big,
                  headers={"Content-Type": "application/zip"}, timeout=120)
    assert_error(r, 413)


def test_same_zip_twice_stored_once(nubis):
    z = make_zip({"index.js": INDEX, "data.txt": "dedup " + TAG})
    digest = hashlib.sha256(z).hexdigest()
    sums = []
    for _ in range(2):
        r = nubis.api("POST", "/api/v1/code", data=z, headers={"Content-Type": "application/zip"})
        assert r.status_code == 200, r.text
        assert r.json()["codeSize"] == len(z)
        sums.append(r.json()["checksum"])
    assert sums[0] == sums[1] == digest
    blobs = os.path.join(nubis.data_dir, "code", "blobs")
    if os.path.isdir(blobs):
        hits = [n for n in os.listdir(blobs) if n.startswith(digest)]
        assert len(hits) == 1, hits
    # and two functions using it share it
    nubis.api("PUT", "/api/v1/services/%s" % SVC, json_body={"serviceName": SVC})
    for fn in ("d1", "d2"):
        r = nubis.api("PUT", "/api/v1/services/%s/functions/%s" % (SVC, fn), json_body={
            "functionName": fn, "runtime": "nodejs20", "handler": "index.handler",
            "code": {"zipFile": base64.b64encode(z).decode()}})
        assert r.status_code in (200, 201), r.text
        assert r.json()["codeChecksum"] == digest
        r = nubis.api("GET", "/api/v1/services/%s/functions/%s/code" % (SVC, fn))
        assert r.status_code == 200, r.text
        assert r.json()["checksum"] == digest
    r = nubis.invoke(SVC, "d1", b"")
    assert r.status_code == 200 and r.content == b"ok", r.text


def test_unknown_checksum(nubis):
    nubis.api("PUT", "/api/v1/services/%s" % SVC, json_body={"serviceName": SVC})
    r = nubis.api("PUT", "/api/v1/services/%s/functions/ghost" % SVC, json_body={
        "functionName": "ghost", "runtime": "nodejs20", "handler": "index.handler",
        "code": {"checksum": "0" * 64}})
    assert 400 <= r.status_code < 500, r.text
