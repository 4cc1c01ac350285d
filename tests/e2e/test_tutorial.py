"""
The FC tutorial, exactly as a user types it: logic.js + index.js + nubis.yaml
in a directory, `nubis deploy DIR`, then the HTTP trigger URL answers JSON.
"""
import json

from conftest import assert_request_id, fixture_files, write_tree


def test_tutorial_deploy_and_call(nubis, tmp_path):
    write_tree(tmp_path, fixture_files("tutorial"))
    r = nubis.cli("deploy", str(tmp_path), timeout=120)
    assert r.returncode == 0, "nubis deploy failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr)

    for path in ("/2016-08-15/proxy/myserverless.LATEST/test01/?name=Serverless",
                 "/2016-08-15/proxy/myserverless/test01/?name=Serverless",
                 "/2016-08-15/proxy/myserverless/test01?name=Serverless"):
        r = nubis.get(path)
        assert r.status_code == 200, "%s -> %s %s" % (path, r.status_code, r.text)
        assert r.headers["Content-Type"].split(";")[0].strip() == "application/json", path
        assert r.content == b'{"message":"Hello, Serverless!"}', path
        assert_request_id(r)

    r = nubis.get("/fn/myserverless/test01/?name=X")
    assert r.status_code == 200, r.text
    assert json.loads(r.content) == {"message": "Hello, X!"}
    assert_request_id(r)

    # POST is allowed by the trigger too
    r = nubis.post("/2016-08-15/proxy/myserverless/test01/?name=Post", data=b"ignored")
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "Hello, Post!"}


def test_request_ids_unique_and_on_errors(nubis, tmp_path):
    write_tree(tmp_path, fixture_files("tutorial"))
    r = nubis.cli("deploy", str(tmp_path), timeout=120)
    assert r.returncode == 0, r.stderr
    ids = set()
    for _ in range(3):
        r = nubis.get("/fn/myserverless/test01/?name=Y")
        assert r.status_code == 200
        ids.add(assert_request_id(r))
    assert len(ids) == 3, "request ids repeat: %s" % ids
    # errors carry one too
    for path in ("/fn/myserverless/nosuchfn/", "/2016-08-15/proxy/nosuchservice/f/"):
        r = nubis.get(path)
        assert r.status_code == 404, "%s -> %s" % (path, r.status_code)
        assert_request_id(r)
    r = nubis.api("GET", "/api/v1/services", sign_it=False)
    assert r.status_code == 401
    assert_request_id(r)
