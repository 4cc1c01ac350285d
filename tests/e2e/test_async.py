"""
Async invocations (issue 6): X-Fc-Invocation-Type: Async on the invoke API,
`nubis invoke --async` and HTTP triggers answers 202 with the invocation id;
GET /api/v1/invocations/<id> tells its state, attempts and result or error;
failures are retried per asyncConfig then fail; destinations (a function, a
webhook) and X-Callback-Url get the outcome; payloads over 128 KB get 413.
"""
import base64
import http.server
import json
import socketserver
import threading
import time

import pytest

from conftest import fixture_files, unique

SVC = unique("async")
TERMINAL = ("succeeded", "failed", "expired")


@pytest.fixture(scope="module")
def svc(nubis):
    files = fixture_files("asyncfn")
    nubis.deploy(SVC, "echo", files, handler="index.echo", http_trigger=False)
    nubis.deploy(SVC, "sink", files, handler="index.sink", http_trigger=False)
    nubis.deploy(SVC, "bytes", files, handler="index.bytes", http_trigger=False)
    nubis.deploy(SVC, "fail", files, handler="index.fail", http_trigger=False,
                 asyncConfig={"maxAsyncRetryAttempts": 1,
                              "destinationConfig": {"onFailure": {"destination": SVC + "/sink"}}})
    nubis.deploy(SVC, "web", files, handler="index.http", methods=("GET", "POST"))
    return SVC


def state_of(nubis, rid):
    r = nubis.api("GET", "/api/v1/invocations/%s" % rid)
    assert r.status_code == 200, "GET /api/v1/invocations/%s: %s %s" % (rid, r.status_code, r.text)
    return r.json()


def wait_state(nubis, rid, timeout=15):
    deadline = time.monotonic() + timeout
    body = None
    while time.monotonic() < deadline:
        body = state_of(nubis, rid)
        if body["state"] in TERMINAL:
            return body
        time.sleep(0.05)
    pytest.fail("async invocation %s not finished in %d s: %s" % (rid, timeout, body))


def async_invoke(nubis, fn, payload, headers=None):
    h = {"X-Fc-Invocation-Type": "Async"}
    h.update(headers or {})
    r = nubis.invoke(SVC, fn, payload, headers=h)
    assert r.status_code == 202, "%s %s" % (r.status_code, r.text)
    assert r.content == b""
    return r.headers["X-Fc-Request-Id"]


def logs_with(nubis, fn, marker, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = nubis.api("GET", "/api/v1/services/%s/functions/%s/logs" % (SVC, fn))
        assert r.status_code == 200, r.text
        recs = [json.loads(l) for l in r.text.splitlines() if l.strip()]
        hits = [x for x in recs if marker in x["message"]]
        if hits:
            return hits
        time.sleep(0.1)
    pytest.fail("no log line with %r from %s/%s in %d s" % (marker, SVC, fn, timeout))


class Hook:
    """A local HTTP server recording the POSTs it gets (webhook destinations, callbacks)."""

    def __init__(self, fail_first=0):
        self.posts = []
        self.fail_first = fail_first
        hook = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                hook.posts.append((self.path, dict(self.headers), body))
                code = 500 if len(hook.posts) <= hook.fail_first else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def wait(self, n, timeout=15):
        deadline = time.monotonic() + timeout
        while len(self.posts) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.posts) >= n, "webhook got %d POSTs, expected %d" % (len(self.posts), n)
        return self.posts

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_async_invoke_succeeds_with_result(nubis, svc):
    rid = async_invoke(nubis, "echo", b"hello")
    st = wait_state(nubis, rid)
    assert st["state"] == "succeeded", st
    assert st["invocationId"] == rid
    assert (st["service"], st["function"]) == (SVC, "echo")
    assert st["attempts"] == 1
    assert st["result"] == "echo:hello"
    assert st["createdTime"].endswith("Z") and st["startedTime"] and st["finishedTime"]


def test_async_binary_result_is_base64(nubis, svc):
    rid = async_invoke(nubis, "bytes", b"")
    st = wait_state(nubis, rid)
    assert st["state"] == "succeeded", st
    assert "result" not in st, st
    assert base64.b64decode(st["resultBase64"]) == b"\xff\x00\xfe"


def test_failure_is_retried_then_failed_and_sent_to_destination(nubis, svc):
    tag = unique("boom")
    rid = async_invoke(nubis, "fail", tag.encode())
    st = wait_state(nubis, rid, timeout=20)
    assert st["state"] == "failed", st
    assert st["attempts"] == 2, st  # maxAsyncRetryAttempts: 1 -> one retry
    assert "nope " + tag in json.dumps(st["error"])
    # onFailure destination: the sink function got {"requestId","state","error","event"}
    line = logs_with(nubis, "sink", tag)[0]["message"]
    ev = json.loads(line.split("sink-event ", 1)[1])
    assert ev["requestId"] == rid
    assert ev["state"] == "failed"
    assert ev["event"] == tag
    assert ev["attempts"] == 2
    assert "nope" in ev["error"]


def test_cli_invoke_async_and_invocations_list(nubis, svc):
    r = nubis.cli("invoke", "%s/echo" % SVC, "-d", "from-cli", "--async")
    assert r.returncode == 0, r.stderr
    rid = r.stdout.strip()
    assert wait_state(nubis, rid)["result"] == "echo:from-cli"
    r = nubis.cli("invocations", "%s/echo" % SVC, "--limit", "50", "-o", "json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert rid in [x["invocationId"] for x in items]
    assert all(x["function"] == "echo" for x in items)
    r = nubis.cli("invocations", "%s/echo" % SVC)
    assert r.returncode == 0 and rid in r.stdout and "succeeded" in r.stdout, r.stdout + r.stderr
    r = nubis.cli("invocations", rid)
    assert r.returncode == 0 and "echo:from-cli" in r.stdout, r.stdout + r.stderr


def test_http_trigger_async_replays_the_request(nubis, svc):
    r = nubis.post("/fn/%s/web/some/path?q=42" % SVC, data=b"payload-1",
                   headers={"X-Fc-Invocation-Type": "Async", "X-Test": "yes"})
    assert r.status_code == 202, r.text
    rid = r.headers["X-Fc-Request-Id"]
    st = wait_state(nubis, rid)
    assert st["state"] == "succeeded", st
    assert st["kind"] == "http"
    assert st["httpStatus"] == 201
    assert st["result"] == "POST /some/path q=42 h=yes body=payload-1"


def test_payload_limit_413(nubis, svc):
    r = nubis.invoke(SVC, "echo", b"x" * (128 * 1024 + 1), headers={"X-Fc-Invocation-Type": "Async"})
    assert r.status_code == 413, "%s %s" % (r.status_code, r.text[:200])
    assert r.json()["ErrorCode"] == "EntityTooLarge"
    # exactly 128 KB is fine
    rid = async_invoke(nubis, "echo", b"y" * (128 * 1024))
    assert wait_state(nubis, rid)["state"] == "succeeded"


def test_unknown_invocation_type_and_id(nubis, svc):
    r = nubis.invoke(SVC, "echo", b"", headers={"X-Fc-Invocation-Type": "Later"})
    assert r.status_code == 400, r.text
    r = nubis.api("GET", "/api/v1/invocations/does-not-exist")
    assert r.status_code == 404, r.text
    r = nubis.get("/api/v1/invocations/does-not-exist")  # unsigned
    assert r.status_code == 401, r.text


def test_webhook_destination_and_callback_url(nubis, svc):
    hook = Hook(fail_first=1)  # the first delivery fails: it must be retried
    try:
        r = nubis.api("PUT", "/api/v1/services/%s/functions/echo" % SVC, json_body={
            "asyncConfig": {"destinationConfig": {"onSuccess": {"destination": hook.url + "/dest"}}}})
        assert r.status_code == 200, r.text
        rid = async_invoke(nubis, "echo", b"cb", headers={"X-Callback-Url": hook.url + "/cb"})
        assert wait_state(nubis, rid)["state"] == "succeeded"
        posts = hook.wait(3, timeout=20)  # dest (or cb) once failed, then both delivered
        by_path = {}
        for path, headers, body in posts:
            by_path.setdefault(path, []).append((headers, body))
        dest = json.loads(by_path["/dest"][-1][1])
        assert dest["requestId"] == rid and dest["state"] == "succeeded"
        assert dest["result"] == "echo:cb" and dest["event"] == "cb"
        cb_headers, cb_body = by_path["/cb"][-1]
        assert cb_body == b"echo:cb"
        assert cb_headers.get("X-Call-Id") == rid
        assert cb_headers.get("X-Function-Status") == "200"
    finally:
        nubis.api("PUT", "/api/v1/services/%s/functions/echo" % SVC,
                  json_body={"asyncConfig": None})
        hook.close()


def test_bad_async_config_refused(nubis, svc):
    for cfg, field in [({"maxAsyncRetryAttempts": 99}, "maxAsyncRetryAttempts"),
                       ({"maxAsyncEventAgeInSeconds": 0}, "maxAsyncEventAgeInSeconds"),
                       ({"destinationConfig": {"onSuccess": {"destination": "nowhere"}}},
                        "destination"),
                       ({"bogus": 1}, "bogus")]:
        r = nubis.api("PUT", "/api/v1/services/%s/functions/echo" % SVC,
                      json_body={"asyncConfig": cfg})
        assert r.status_code == 400, r.text
        assert field in r.json()["ErrorMessage"], r.text
