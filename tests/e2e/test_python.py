"""
The Python runtime, FC style (reference A.2-A.4): the WSGI handler over HTTP
triggers (environ per PEP 3333 plus fc.context / fc.request_uri; a real
Flask app unchanged), the event handler over the invoke API (event as
bytes), the initializer, the context object, print() and logging in the
invocation's log, FC error shapes, binary / 10 MB / streamed bodies.
"""
import base64
import json
import os
import re
import time

import pytest

from conftest import assert_request_id, fixture_files, unique

SVC = unique("py")


@pytest.fixture(scope="module")
def svc(nubis):
    files = fixture_files("pyfc")
    nubis.deploy(SVC, "wsgi", files, runtime="python3", handler="index.handler",
                 initializer="index.initializer", methods=("GET", "POST", "PUT"))
    nubis.deploy(SVC, "event", files, runtime="python3.11", handler="index.event",
                 initializer="index.initializer", http_trigger=False)
    nubis.deploy(SVC, "flask", fixture_files("pyflask"), runtime="python3.9",
                 handler="app.handler")
    return SVC


def url(fn, rest=""):
    return "/2016-08-15/proxy/%s/%s%s" % (SVC, fn, rest)


def logs_with(nubis, fn, marker, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        r = nubis.cli("logs", "%s/%s" % (SVC, fn))
        assert r.returncode == 0, r.stderr
        lines = [l for l in r.stdout.splitlines() if marker in l]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def test_wsgi_environ(nubis, svc):
    r = nubis.post(url("wsgi", "/env?a=1&a=2&b=x%20y"), data=b"hello=1",
                   headers={"Content-Type": "application/x-www-form-urlencoded",
                            "X-Hello": "world", "User-Agent": "e2e", "Host": "example.test:8080"})
    assert r.status_code == 200, r.text
    rid = assert_request_id(r)
    env = r.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["PATH_INFO"] == "/env"
    assert env["SCRIPT_NAME"] == ""
    assert env["QUERY_STRING"] == "a=1&a=2&b=x%20y"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == "7"
    assert env["body"] == "hello=1"
    assert env["HTTP_X_HELLO"] == "world"
    assert env["HTTP_USER_AGENT"] == "e2e"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert not any(k.startswith("HTTP_X_FC_") for k in env)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_NAME"] == "example.test" and env["SERVER_PORT"] == "8080"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["wsgi.url_scheme"] == "http" and env["wsgiVersion"] == [1, 0]
    assert env["requestUri"] == "http://example.test:8080" + url("wsgi", "/env?a=1&a=2&b=x%20y")
    assert env["requestId"] == rid
    assert env["inits"] == 1
    ctx = env["context"]
    assert ctx["function"]["name"] == "wsgi"
    assert ctx["function"]["handler"] == "index.handler"
    assert ctx["function"]["memory"] > 0 and ctx["function"]["timeout"] > 0
    assert ctx["service"]["name"] == SVC and ctx["service"]["qualifier"] == "LATEST"
    assert set(ctx["credentials"]) == {"access_key_id", "access_key_secret", "security_token"}
    assert "region" in ctx and "accountId" in ctx


def test_wsgi_repeated_headers_and_status(nubis, svc):
    r = nubis.get(url("wsgi", "/headers"))
    assert r.status_code == 201
    assert r.content == b"created"
    assert r.headers["X-Custom"] == "yes"
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_wsgi_repeated_request_header(nubis, svc):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", nubis.port, timeout=10)
    c.putrequest("GET", url("wsgi", "/env"))
    c.putheader("X-Multi", "a")
    c.putheader("X-Multi", "b")
    c.endheaders()
    resp = c.getresponse()
    env = json.loads(resp.read())
    c.close()
    assert env["HTTP_X_MULTI"] == "a,b"


def test_wsgi_binary_echo(nubis, svc):
    payload = os.urandom(1 << 20) + b"\0\r\n\xff"
    r = nubis.post(url("wsgi", "/echo"), data=payload,
                   headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200
    assert r.headers["X-Len"] == str(len(payload))
    assert r.content == payload


def test_wsgi_large_body_10mb(nubis, svc):
    payload = os.urandom(10 << 20)
    r = nubis.session.put(nubis.url + url("wsgi", "/echo"), data=payload, timeout=60)
    assert r.status_code == 200, r.text[:200]
    assert r.headers["X-Len"] == str(len(payload))
    assert r.content == payload


def test_wsgi_streamed_iterable_and_close(nubis, svc):
    before = int(nubis.get(url("wsgi", "/closed")).text)
    # 48 chunks of 64 KB: crosses the shim's 1 MB flush point (RESULT frames with MORE)
    r = nubis.get(url("wsgi", "/stream/48x65536"))
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain"
    expect = b"".join(bytes([65 + i % 26]) * 65536 for i in range(48))
    assert len(r.content) == len(expect) and r.content == expect
    after = int(nubis.get(url("wsgi", "/closed")).text)
    assert after == before + 1, "close() of the WSGI iterable not called"
    r = nubis.get(url("wsgi", "/stream/3x5"))
    assert r.content == b"AAAAABBBBBCCCCC"


def test_wsgi_write_callable(nubis, svc):
    r = nubis.get(url("wsgi", "/write"))
    assert r.status_code == 200
    assert r.content == b"written-returned"


def test_children_do_not_get_the_protocol_pipes(nubis, svc):
    r = nubis.get(url("wsgi", "/child-fds"))
    assert r.status_code == 200, r.text
    fds = r.text.split()
    assert "0" in fds and "1" in fds, fds  # the listing itself works
    assert "3" not in fds and "4" not in fds, fds


def test_wsgi_error_shape(nubis, svc):
    r = nubis.get(url("wsgi", "/error"))
    assert r.status_code == 502
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError"
    body = r.json()
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "bad value in wsgi"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    assert any("index.py" in f and "in handler" in f for f in body["stackTrace"]), body
    assert not any("bootstrap.py" in f for f in body["stackTrace"]), body
    # the instance keeps serving
    assert nubis.get(url("wsgi", "/headers")).status_code == 201


def test_wsgi_logs_print_and_logging(nubis, svc):
    r = nubis.get(url("wsgi", "/log?q-marker-7"))
    assert r.status_code == 200 and r.content == b"logged"
    rid = assert_request_id(r)
    lines = logs_with(nubis, "wsgi", "logging-marker q-marker-7")
    assert lines, "logging output missing from the function's log"
    assert rid in lines[0]
    # FC's format: "<time> <requestId> [LEVEL] msg"
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z %s \[INFO\] logging-marker q-marker-7"
                     % re.escape(rid), lines[0]), lines[0]
    lines = logs_with(nubis, "wsgi", "print-marker " + rid)
    assert lines and rid in lines[0]


def test_flask_app_unchanged(nubis, svc):
    r = nubis.get(url("flask", "/"))
    assert r.status_code == 200, r.text
    assert r.text == "Hello from Flask"
    r = nubis.get(url("flask", "/users/42?name=ann&tag=a&tag=b"))
    assert r.status_code == 200, r.text
    assert r.json() == {"id": 42, "name": "ann", "tags": ["a", "b"]}
    assert r.headers["Content-Type"] == "application/json"
    r = nubis.post(url("flask", "/form"), data={"x": ["1", "2"], "y": "z w"})
    assert r.status_code == 200, r.text
    assert r.json() == {"form": {"x": ["1", "2"], "y": ["z w"]}, "method": "POST"}
    r = nubis.post(url("flask", "/json"), json={"k": [1, 2]}, headers={"User-Agent": "ua-1"})
    assert r.status_code == 201
    assert r.json() == {"got": {"k": [1, 2]}, "ua": "ua-1"}
    r = nubis.get(url("flask", "/fail"))
    assert r.status_code == 400 and r.json() == {"error": "nope"}
    r = nubis.get(url("flask", "/nope"))
    assert r.status_code == 404
    r = nubis.get(url("flask", "/cookie"), cookies={"k": "v"})
    assert r.json() == {"cookie": "v"}
    assert sorted(c.split(";")[0] for c in r.raw.headers.getlist("Set-Cookie")) == ["x=1", "y=2"]


def test_event_handler(nubis, svc):
    r = nubis.invoke(SVC, "event", b"world")
    assert r.status_code == 200, r.text
    assert "X-Fc-Error-Type" not in r.headers, r.text
    assert r.content == b"hello world"
    r = nubis.invoke(SVC, "event", b"ctx")
    ctx = json.loads(r.content)
    assert ctx["type"] == "bytes"
    assert ctx["requestId"] == r.headers["X-Fc-Request-Id"]
    assert ctx["function"]["name"] == "event" and ctx["function"]["handler"] == "index.event"
    assert ctx["function"]["initializer"] == "index.initializer"
    assert ctx["service"]["name"] == SVC
    assert ctx["inits"] == 1
    r = nubis.invoke(SVC, "event", b"none")
    assert r.status_code == 200 and r.content == b""
    blob = bytes(range(256)) * 8
    r = nubis.invoke(SVC, "event", b"bin:" + blob)
    assert r.content == blob


def test_event_error_shape(nubis, svc):
    r = nubis.invoke(SVC, "event", b"fail")
    assert r.status_code == 200
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError"
    body = json.loads(r.content)
    assert body["errorType"] == "KeyError"
    assert "missing-key" in body["errorMessage"]
    assert any("in event" in f for f in body["stackTrace"]), body
    assert nubis.invoke(SVC, "event", b"again").content == b"hello again"


def test_event_tail_log(nubis, svc):
    r = nubis.invoke(SVC, "event", b"log", headers={"X-Fc-Log-Type": "Tail"})
    assert r.status_code == 200 and r.content == b"logged"
    rid = assert_request_id(r)
    tail = base64.b64decode(r.headers["X-Fc-Log-Result"]).decode()
    assert "event-print " + rid in tail, tail
    assert re.search(r"Z %s \[WARNING\] event-warning" % re.escape(rid), tail), tail


def test_import_error_is_clear(nubis):
    svc = unique("pybad")
    nubis.deploy(svc, "broken", {"index.py": "import nosuchmodule_xyz\n"}, runtime="python3",
                 http_trigger=False)
    r = nubis.invoke(svc, "broken", b"")
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError", r.text
    assert "nosuchmodule_xyz" in r.text
    nubis.deploy(svc, "nohandler", {"index.py": "x = 1\n"}, runtime="python3", http_trigger=False)
    r = nubis.invoke(svc, "nohandler", b"")
    assert "X-Fc-Error-Type" in r.headers
    assert "Runtime.HandlerNotFound" in r.text or "handler" in r.text


CONCURRENT = '''
import threading, time, json
def handler(event, context):
    time.sleep(0.6)
    print("slept", context.request_id)
    return json.dumps({"rid": context.request_id, "thread": threading.get_ident()})
'''


def test_instance_concurrency_runs_handlers_in_parallel(nubis):
    """instanceConcurrency 4: a slow handler's calls overlap in one instance, logs stay tagged."""
    import concurrent.futures
    svc = unique("pyconc")
    nubis.deploy(svc, "slow", {"index.py": CONCURRENT}, runtime="python3", http_trigger=False,
                 instanceConcurrency=4)
    assert nubis.invoke(svc, "slow", b"").status_code == 200  # warm: one instance
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        rs = list(ex.map(lambda _: nubis.invoke(svc, "slow", b"", headers={"X-Fc-Log-Type": "Tail"}),
                         range(4)))
    elapsed = time.monotonic() - t0
    for r in rs:
        assert r.status_code == 200 and "X-Fc-Error-Type" not in r.headers, r.text
        rid = r.headers["X-Fc-Request-Id"]
        assert json.loads(r.content)["rid"] == rid
        tail = base64.b64decode(r.headers["X-Fc-Log-Result"]).decode()
        assert "slept " + rid in tail, tail
        others = [x.headers["X-Fc-Request-Id"] for x in rs if x is not r]
        assert not any(o in tail for o in others), "another invocation's log in this tail"
    # serial would be 4 x 0.6 s; overlapped (after the 50 ms switch to threads) well under
    assert elapsed < 1.9, "4 concurrent calls took %.2f s: not run in parallel" % elapsed


def test_initializer_failure(nubis):
    svc = unique("pyinit")
    nubis.deploy(svc, "f", {"index.py": "def init(ctx):\n    raise RuntimeError('init broke')\n"
                            "def handler(e, c):\n    return 'never'\n"},
                 runtime="python3", initializer="index.init", http_trigger=False)
    r = nubis.invoke(svc, "f", b"")
    assert "X-Fc-Error-Type" in r.headers, r.text
    assert "init broke" in r.text
