"""
Failure isolation: a crashing instance gives a 502 naming the cause and is
replaced; a function past its timeout gets a clear error and works again; a
hung function does not hold up another one.
"""
import json
import re
import threading
import time

import pytest
import requests

from conftest import assert_request_id, fixture_files, unique

SVC = unique("fail")


@pytest.fixture(scope="module")
def fns(nubis):
    files = fixture_files("httpfn")
    nubis.deploy(SVC, "crashy", files, timeout=10)
    nubis.deploy(SVC, "hangs", files, timeout=1)
    nubis.deploy(SVC, "slowhang", files, timeout=3)
    nubis.deploy(SVC, "other", files, timeout=10)
    ev = fixture_files("eventfn")
    nubis.deploy(SVC, "evcrash", ev, handler="index.crash", http_trigger=False, timeout=10)
    nubis.deploy(SVC, "evhang", ev, handler="index.hang", http_trigger=False, timeout=1)
    return lambda f: "/2016-08-15/proxy/%s/%s" % (SVC, f)


def test_crash_gives_502_and_instance_replaced(nubis, fns):
    r = nubis.get(fns("crashy") + "/pid")
    assert r.status_code == 200, r.text
    assert r.json()["hits"] >= 1
    r = nubis.get(fns("crashy") + "/crash")
    assert r.status_code == 502, "%s %s" % (r.status_code, r.text)
    assert "Process exited unexpectedly before completing request" in r.text
    assert_request_id(r)
    r = nubis.get(fns("crashy") + "/pid")
    assert r.status_code == 200, r.text
    assert r.json()["hits"] == 1, "the crashed instance was not replaced by a fresh one"


def test_crash_via_invocation(nubis, fns):
    r = nubis.invoke(SVC, "evcrash", b"")
    assert r.status_code in (200, 502), r.text
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError" or r.status_code == 502
    assert "Process exited unexpectedly" in json.loads(r.content)["errorMessage"]


def test_timeout_is_clear_and_recovers(nubis, fns):
    assert nubis.get(fns("hangs") + "/pid").status_code == 200  # warm it up
    t0 = time.monotonic()
    r = nubis.get(fns("hangs") + "/hang")
    took = time.monotonic() - t0
    assert took < 3.5, "timeout 1 s answered after %.1f s" % took
    assert r.status_code >= 400, r.status_code
    assert re.search(r"timed out", r.text, re.I), r.text
    assert_request_id(r)
    r = nubis.get(fns("hangs") + "/pid")
    assert r.status_code == 200, "function broken after a timeout: %s %s" % (r.status_code, r.text)


def test_timeout_via_invocation(nubis, fns):
    t0 = time.monotonic()
    r = nubis.invoke(SVC, "evhang", b"")
    assert time.monotonic() - t0 < 3.5
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError", (r.status_code, r.text)
    assert re.search(r"timed out", json.loads(r.content)["errorMessage"], re.I), r.text


def test_hung_function_does_not_block_another(nubis, fns):
    assert nubis.get(fns("other") + "/pid").status_code == 200  # warm
    assert nubis.get(fns("slowhang") + "/pid").status_code == 200
    result = {}

    def hang():
        result["r"] = requests.get(nubis.url + fns("slowhang") + "/hang", timeout=30)

    t = threading.Thread(target=hang)
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    for _ in range(5):
        r = nubis.get(fns("other") + "/?x=1")
        assert r.status_code == 200
    took = time.monotonic() - t0
    assert took < 1.5, "5 calls to B took %.2f s while A hung" % took
    t.join(10)
    assert not t.is_alive()
    assert result["r"].status_code >= 400
