"""
The custom runtime (FC's custom runtime contract): the code's executable
`bootstrap` serves HTTP on FC_SERVER_PORT (9000 in the sandbox) and the
instance's relay proxies HTTP triggers to it as is and turns invocations
into POST /invoke, with FC's x-fc-* headers and POST /initialize.  A C
program (compiled here) and a shell script that execs a Python server.
"""
import base64
import http.client
import json
import os
import subprocess

import pytest

from conftest import FIXTURES, assert_request_id, make_zip_raw, unique

SVC = unique("custom")


def read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def svc(nubis, tmp_path_factory):
    out = tmp_path_factory.mktemp("cbuild") / "bootstrap"
    subprocess.run(["gcc", "-O2", "-o", str(out), os.path.join(FIXTURES, "custom_c", "server.c")],
                   check=True, capture_output=True)
    czip = make_zip_raw([("bootstrap", read(out), 0o100755)])
    sh = os.path.join(FIXTURES, "custom_sh")
    shzip = make_zip_raw([("bootstrap", read(os.path.join(sh, "bootstrap")), 0o100755),
                          ("server.py", read(os.path.join(sh, "server.py")), 0o100644)])
    deploy_zip(nubis, "cfn", czip, initializer="index.init")
    deploy_zip(nubis, "shfn", shzip, environmentVariables={"GREETING": "hey"},
               initializer="index.init")
    deploy_zip(nubis, "noboot", make_zip_raw([("README", "no bootstrap", 0o100644)]))
    deploy_zip(nubis, "notexec", make_zip_raw([("bootstrap", "#!/bin/sh\n", 0o100644)]))
    return SVC


def deploy_zip(nubis, fn, zbytes, **config):
    r = nubis.api("PUT", "/api/v1/services/%s" % SVC, json_body={"serviceName": SVC})
    assert r.status_code in (200, 201), r.text
    checksum = nubis.upload_code(zbytes)
    body = {"functionName": fn, "runtime": "custom", "code": {"checksum": checksum},
            "initializationTimeout": 10}
    body.update(config)
    r = nubis.api("PUT", "/api/v1/services/%s/functions/%s" % (SVC, fn), json_body=body)
    assert r.status_code in (200, 201), r.text
    trig = {"triggerName": "http", "triggerType": "http",
            "triggerConfig": {"authType": "anonymous", "methods": ["GET", "POST", "PUT"]}}
    r = nubis.api("PUT", "/api/v1/services/%s/functions/%s/triggers/http" % (SVC, fn),
                  json_body=trig)
    assert r.status_code in (200, 201), r.text


def url(fn, rest=""):
    return "/2016-08-15/proxy/%s/%s%s" % (SVC, fn, rest)


def test_c_bootstrap_http(nubis, svc):
    r = nubis.post(url("cfn", "/some/path?x=1&x=2"), data=b"abc")
    assert r.status_code == 201, r.text
    rid = assert_request_id(r)
    got = r.json()
    assert got["server"] == "c"
    assert got["method"] == "POST"
    # proxied as is: the full request URI, and FC's base path header
    assert got["target"] == url("cfn", "/some/path?x=1&x=2")
    assert got["basePath"] == "/2016-08-15/proxy/%s/cfn/" % SVC
    assert got["requestId"] == rid
    assert got["bodyLen"] == 3
    assert got["inits"] == 1
    assert r.headers["X-Server"] == "c"
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    # the short form
    r = nubis.get("/fn/%s/cfn/short" % SVC)
    assert r.json()["basePath"] == "/fn/%s/cfn/" % SVC


def test_c_bootstrap_binary_and_large(nubis, svc):
    for size in (1000, 10 << 20):
        payload = os.urandom(size)
        r = nubis.session.put(nubis.url + url("cfn", "/binary"), data=payload, timeout=60)
        assert r.status_code == 200
        assert r.content == payload


def test_c_bootstrap_invoke(nubis, svc):
    r = nubis.invoke(SVC, "cfn", b"payload-1")
    assert r.status_code == 200, r.text
    assert "X-Fc-Error-Type" not in r.headers
    assert r.content == b"c-event:payload-1"
    # warm: the same bootstrap process answers again
    r = nubis.invoke(SVC, "cfn", b"payload-2")
    assert r.content == b"c-event:payload-2"


def test_shell_bootstrap(nubis, svc):
    c = http.client.HTTPConnection("127.0.0.1", nubis.port, timeout=30)
    c.putrequest("GET", url("shfn", "/p?q=1"))
    c.putheader("X-Multi", "a")
    c.putheader("X-Multi", "b")
    c.putheader("X-Fc-Secret", "dropped")
    c.endheaders()
    resp = c.getresponse()
    data = resp.read()
    cookies = resp.headers.get_all("Set-Cookie")
    rid = resp.getheader("X-Fc-Request-Id")
    c.close()
    assert resp.status == 200, data
    got = json.loads(data)
    assert got["server"] == "py"
    assert got["target"] == url("shfn", "/p?q=1")
    assert got["multi"] == ["a", "b"]
    assert cookies == ["s=1", "t=2"]
    fc = got["fc"]
    assert fc["x-fc-request-id"] == rid
    assert fc["x-fc-function-name"] == "shfn"
    assert fc["x-fc-service-name"] == SVC
    assert fc["x-fc-function-memory"] == "128"
    assert fc["x-fc-control-path"] == "/http-invoke"
    assert fc["x-fc-base-path"] == "/2016-08-15/proxy/%s/shfn/" % SVC
    assert "x-fc-secret" not in fc
    assert got["inits"] == 1
    env = got["env"]
    assert env["FC_FUNCTION_NAME"] == "shfn" and env["FC_SERVICE_NAME"] == SVC
    assert env["GREETING"] == "hey"
    assert env["FC_SERVER_PORT"].isdigit()


def test_shell_bootstrap_invoke_and_logs(nubis, svc):
    r = nubis.invoke(SVC, "shfn", b"evt", headers={"X-Fc-Log-Type": "Tail"})
    assert r.status_code == 200, r.text
    assert r.content == b"py-event:evt"
    rid = assert_request_id(r)
    tail = base64.b64decode(r.headers.get("X-Fc-Log-Result", "")).decode()
    assert "event seen " + rid in tail, tail
    r = nubis.invoke(SVC, "shfn", b"fail")
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError"
    assert r.json() == {"errorMessage": "py server failed", "errorType": "ValueError"}


def test_bootstrap_problems_are_clear(nubis, svc):
    r = nubis.invoke(SVC, "noboot", b"")
    assert "X-Fc-Error-Type" in r.headers, r.text
    assert "bootstrap" in r.text
    r = nubis.get(url("notexec", "/"))
    assert r.status_code >= 500
    assert "not executable" in r.text
