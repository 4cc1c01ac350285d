"""
Event invocations: POST .../invocations and `nubis invoke`, the handler
styles (callback, async), the context object, error reporting and log tail
(reference A.3, A.4, A.5).
"""
import base64
import json

import pytest

from conftest import assert_request_id, fixture_files, unique

SVC = unique("inv")
HANDLERS = ("hello", "asyncHello", "ctx", "handled", "unhandled", "log", "counted")


@pytest.fixture(scope="module")
def svc(nubis):
    files = fixture_files("eventfn")
    for h in HANDLERS:
        extra = {}
        if h == "counted":
            extra = {"initializer": "index.initializer", "initializationTimeout": 10}
        nubis.deploy(SVC, h, files, handler="index." + h, http_trigger=False,
                     memorySize=256, timeout=7, **extra)
    return SVC


def test_callback_handler(nubis, svc):
    r = nubis.invoke(svc, "hello", b"world")
    assert r.status_code == 200, r.text
    assert r.content == b"hello world"
    assert_request_id(r)
    assert "X-Fc-Error-Type" not in r.headers
    dur = r.headers.get("X-Fc-Invocation-Duration")
    assert dur is not None, r.headers
    assert float(dur) >= 0


def test_async_handler(nubis, svc):
    r = nubis.invoke(svc, "asyncHello", b"there")
    assert r.status_code == 200, r.text
    assert r.content == b"async there"


def test_cli_invoke(nubis, svc):
    r = nubis.cli("invoke", "%s/hello" % svc, "-d", "from cli")
    assert r.returncode == 0, r.stderr
    assert "hello from cli" in r.stdout


def test_context_fields(nubis, svc):
    r = nubis.invoke(svc, "ctx", b"{}")
    assert r.status_code == 200, r.text
    ctx = json.loads(r.content)
    assert ctx["requestId"] == r.headers["X-Fc-Request-Id"]
    assert ctx["function"]["name"] == "ctx"
    assert ctx["function"]["memory"] == 256
    assert ctx["function"]["timeout"] == 7
    assert ctx["function"]["handler"] == "index.ctx"
    assert ctx["service"]["name"] == svc


def test_handled_error(nubis, svc):
    r = nubis.invoke(svc, "handled", b"")
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Fc-Error-Type") == "HandledInvocationError"
    body = json.loads(r.content)
    assert body["errorMessage"] == "oops"
    assert body.get("errorType") == "Error"
    assert_request_id(r)


def test_unhandled_error(nubis, svc):
    r = nubis.invoke(svc, "unhandled", b"")
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError"
    body = json.loads(r.content)
    assert "boom" in body["errorMessage"]
    # the instance survives or is replaced: the next call works
    r = nubis.invoke(svc, "hello", b"again")
    assert r.content == b"hello again"


def test_tail_log(nubis, svc):
    r = nubis.invoke(svc, "log", b"tail-xyz", headers={"X-Fc-Log-Type": "Tail"})
    assert r.status_code == 200, r.text
    assert r.content == b"logged"
    tail = r.headers.get("X-Fc-Log-Result")
    assert tail, "no X-Fc-Log-Result with X-Fc-Log-Type: Tail"
    text = base64.b64decode(tail).decode(errors="replace")
    assert "log-marker tail-xyz" in text, text
    # without Tail: no log result
    r = nubis.invoke(svc, "log", b"quiet")
    assert "X-Fc-Log-Result" not in r.headers


def test_cli_tail_log(nubis, svc):
    r = nubis.cli("invoke", "%s/log" % svc, "-d", "cli-tail", "--tail-log")
    assert r.returncode == 0, r.stderr
    assert "log-marker cli-tail" in r.stdout + r.stderr
    assert "logged" in r.stdout


def test_initializer_runs_once(nubis, svc):
    seen = []
    for _ in range(4):
        r = nubis.invoke(svc, "counted", b"")
        assert r.status_code == 200, r.text
        assert "X-Fc-Error-Type" not in r.headers, r.text
        seen.append(json.loads(r.content))
    assert all(s["inits"] == 1 for s in seen), seen
    calls = [s["calls"] for s in seen]
    assert calls == list(range(calls[0], calls[0] + 4)), "warm instance not reused: %s" % calls


def test_invoke_unknown_function(nubis, svc):
    r = nubis.invoke(svc, "nosuch", b"")
    assert r.status_code == 404
    assert r.json()["ErrorCode"] == "FunctionNotFound"
    r = nubis.cli("invoke", "%s/nosuch" % svc, "-d", "x")
    assert r.returncode != 0
    assert r.stderr.strip()
