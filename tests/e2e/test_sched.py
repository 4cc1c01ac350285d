"""
Scheduler behaviour a caller can see (issue 4, docs/internals/sched.md):
a burst against a function limited to a few instances is answered in bounded
time (200, or 429 ResourceExhausted once a request has waited the queue
timeout) and never runs more instances than allowed; cold starts say so and
give their init duration; a per-function idle timeout scales to zero while
minInstances stay warm; an initializer failure reaches the caller and the
next request tries a fresh instance, bounded by initializationTimeout; the
pool settings are validated.  (Code updates that drain are in
test_deploy_update.py.)
"""
import asyncio
import json
import os
import threading
import time

import pytest
import requests

from conftest import Daemon, unique

# answers with an id of its instance (pids are all 1 in the sandbox's pid namespace)
SLOW_JS = """
const ID = Math.random().toString(36).slice(2);
exports.handler = (req, resp, ctx) => {
  setTimeout(() => resp.send(ID), %d);
};
"""


def stats(d):
    r = d.api("GET", "/api/v1/stats")
    assert r.status_code == 200, r.text
    return r.json()


def fn_stats(d, svc, fn):
    for f in stats(d)["functions"]:
        if f["serviceName"] == svc and f["functionName"] == fn:
            return f
    raise AssertionError("no stats for %s/%s" % (svc, fn))


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(0.1)


async def one_get(port, path, timeout):
    """A GET on its own connection: (status, body, seconds), or (None, error, seconds)."""
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        writer.write(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(-1), timeout)
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, body, time.monotonic() - t0
    except (OSError, asyncio.TimeoutError, IndexError, ValueError) as e:
        return None, repr(e), time.monotonic() - t0


def burst(port, path, n, timeout):
    async def run():
        return await asyncio.gather(*(one_get(port, path, timeout) for _ in range(n)))
    return asyncio.run(run())


def test_burst_against_five_instances(tmp_path):
    """500 concurrent requests, maxInstances 5, 50 ms each, queue timeout 1 s."""
    cfg = os.path.join(str(tmp_path), "cfg.yaml")
    with open(cfg, "w") as f:
        f.write("pool:\n  queueTimeout: 1\n")
    d = Daemon(tmp_path).start(["--config", cfg])
    try:
        d.deploy("burst", "f", {"index.js": SLOW_JS % 50}, maxInstances=5, timeout=10)
        assert d.get("/fn/burst/f/").status_code == 200  # one warm instance to begin with
        peak = [0]
        stop = threading.Event()

        def watch():  # the instance count while the burst runs
            while not stop.is_set():
                try:
                    n = stats(d)["instances"]["total"]
                    peak[0] = max(peak[0], n)
                except requests.RequestException:
                    pass
                time.sleep(0.02)

        w = threading.Thread(target=watch)
        w.start()
        t0 = time.monotonic()
        try:
            results = burst(d.port, "/fn/burst/f/", 500, timeout=20)
        finally:
            stop.set()
            w.join()
        took = time.monotonic() - t0
        codes = [s for s, _, _ in results]
        bad = [(s, b) for s, b, _ in results if s not in (200, 429)]
        assert not bad, "requests neither served nor throttled: %s" % bad[:5]
        ok = [r for r in results if r[0] == 200]
        throttled = [r for r in results if r[0] == 429]
        # 5 instances x ~1 s of queueing / 50 ms: about a hundred served, the rest throttled
        assert len(ok) >= 50, "only %d served" % len(ok)
        assert throttled, "a 5 s backlog with a 1 s queue timeout throttled nothing"
        for _, body, secs in throttled:
            assert json.loads(body)["ErrorCode"] == "ResourceExhausted", body
            assert secs < 4.0, "a 429 took %.1f s: the queue timeout is 1 s" % secs
        assert took < 10, "the burst took %.1f s" % took
        ids = {b for _, b, _ in ok}
        assert len(ids) <= 5, "served by %d instances" % len(ids)
        assert peak[0] <= 5, "%d instances at once with maxInstances 5" % peak[0]
        m = requests.get(d.url + "/metrics").text
        started = [l for l in m.splitlines() if l.startswith("nubis_instances_started_total ")]
        assert started and int(started[0].split()[1]) <= 5, started
        # the pool still serves normally afterwards
        assert d.get("/fn/burst/f/").status_code == 200
        assert codes.count(429) == fn_stats(d, "burst", "f")["throttles"]
    finally:
        d.check_clean_exit(d.stop())


def test_cold_start_headers_and_idle_timeout(nubis):
    svc = unique("idle")
    nubis.deploy(svc, "f", {"index.js": SLOW_JS % 0}, idleTimeout=1)
    r = nubis.get("/fn/%s/f/" % svc)
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Nubis-Cold-Start") == "1", r.headers
    init_ms = float(r.headers["X-Nubis-Init-Duration"])
    assert 0 < init_ms < 10000, init_ms
    r2 = nubis.get("/fn/%s/f/" % svc)
    assert "X-Nubis-Cold-Start" not in r2.headers and "X-Nubis-Init-Duration" not in r2.headers
    assert r2.text == r.text  # the same warm instance
    # idleTimeout 1 s: scaled to zero, and the next call is cold on a new process
    wait_for(lambda: fn_stats(nubis, svc, "f")["instances"] == 0, 5, "scale to zero")
    r3 = nubis.get("/fn/%s/f/" % svc)
    assert r3.headers.get("X-Nubis-Cold-Start") == "1" and r3.text != r.text
    # the daemon logs each cold start with its init duration
    log = nubis.stderr_tail(200000)
    assert "%s/f: cold start" % svc in log and "init duration" in log
    # and the invoke API carries the same headers
    nubis.deploy(svc, "e", {"index.js": "exports.handler = (e, c, cb) => cb(null, 'x');"},
                 http_trigger=False)
    r = nubis.invoke(svc, "e", b"")
    assert r.headers.get("X-Nubis-Cold-Start") == "1" and "X-Nubis-Init-Duration" in r.headers


def test_min_instances_stay_warm(nubis):
    svc = unique("warm")
    nubis.deploy(svc, "f", {"index.js": SLOW_JS % 300}, minInstances=2, idleTimeout=1,
                 instanceConcurrency=1)
    # started at deploy, before any call
    wait_for(lambda: fn_stats(nubis, svc, "f")["idle"] == 2, 10, "2 warm instances")
    r = nubis.get("/fn/%s/f/" % svc)
    assert r.status_code == 200 and "X-Nubis-Cold-Start" not in r.headers, r.headers
    # a burst of 4 scales out to 4; after the idle timeout only the 2 stay
    rs = burst(nubis.port, "/fn/%s/f/" % svc, 4, timeout=20)
    assert [s for s, _, _ in rs] == [200] * 4
    assert len({b for _, b, _ in rs}) == 4
    time.sleep(2.5)
    st = fn_stats(nubis, svc, "f")
    assert st["instances"] == 2 and st["idle"] == 2, st
    r = nubis.get("/fn/%s/f/" % svc)
    assert "X-Nubis-Cold-Start" not in r.headers


def test_initializer_failure_retries_on_fresh_instance(nubis):
    svc = unique("initf")
    js = ("const ID = Math.random().toString(36).slice(2);\n"
          "exports.init = (ctx, cb) => cb(new Error('init failed in ' + ID));\n"
          "exports.handler = (e, c, cb) => cb(null, 'never');\n")
    nubis.deploy(svc, "f", {"index.js": js}, initializer="index.init", http_trigger=False)
    r1 = nubis.invoke(svc, "f", b"")
    assert r1.headers.get("X-Fc-Error-Type"), r1.text
    assert "init failed in" in r1.text, r1.text
    r2 = nubis.invoke(svc, "f", b"")
    assert "init failed in" in r2.text, r2.text
    assert r1.json()["errorMessage"] != r2.json()["errorMessage"], \
        "the second request did not get a fresh instance: %s" % r2.text
    # initializationTimeout bounds a hung initializer
    hang = ("exports.init = (ctx, cb) => {};\n"
            "exports.handler = (e, c, cb) => cb(null, 'never');\n")
    nubis.deploy(svc, "h", {"index.js": hang}, initializer="index.init",
                 initializationTimeout=1, http_trigger=False)
    t0 = time.monotonic()
    r = nubis.invoke(svc, "h", b"")
    took = time.monotonic() - t0
    assert r.headers.get("X-Fc-Error-Type"), r.text
    assert took < 4, "a hung initializer held the caller %.1f s (initializationTimeout 1)" % took


@pytest.mark.parametrize("body,needle", [
    ({"maxInstances": 0}, "maxInstances"),
    ({"maxInstances": 10001}, "maxInstances"),
    ({"minInstances": -1}, "minInstances"),
    ({"idleTimeout": 0}, "idleTimeout"),
    ({"maxInstances": 2, "minInstances": 3}, "minInstances"),
])
def test_pool_settings_validated(nubis, body, needle):
    svc = unique("val")
    nubis.api("PUT", "/api/v1/services/%s" % svc, json_body={"serviceName": svc})
    doc = {"functionName": "f", "runtime": "nodejs20", "handler": "index.handler"}
    doc.update(body)
    r = nubis.api("PUT", "/api/v1/services/%s/functions/f" % svc, json_body=doc)
    assert r.status_code == 400, r.text
    assert needle in r.text


def test_pool_settings_shown_and_cleared(nubis):
    svc = unique("val")
    nubis.deploy(svc, "f", {"index.js": SLOW_JS % 0}, maxInstances=3, idleTimeout=60)
    f = nubis.api("GET", "/api/v1/services/%s/functions/f" % svc).json()
    assert f["maxInstances"] == 3 and f["idleTimeout"] == 60
    r = nubis.api("PUT", "/api/v1/services/%s/functions/f" % svc,
                  json_body={"maxInstances": None})
    assert r.status_code == 200, r.text
    assert "maxInstances" not in r.json()
