"""
Redeploys and scaling: new code takes effect at once, configuration reaches
the function, and concurrent requests are served side by side (scale-out
with instanceConcurrency 1, sharing with instanceConcurrency > 1).
"""
import concurrent.futures
import time

import requests

from conftest import fixture_files, unique

SVC = unique("upd")


def version_js(tag):
    return ("exports.handler = (req, resp, ctx) => {\n"
            "  resp.setHeader('Content-Type', 'text/plain');\n"
            "  resp.send('%s ' + (process.env.GREETING || '-'));\n};\n" % tag)


def test_redeploy_takes_effect(nubis):
    nubis.deploy(SVC, "ver", {"index.js": version_js("v1")},
                 environmentVariables={"GREETING": "hi"})
    for _ in range(3):  # warm instance
        r = nubis.get("/fn/%s/ver/" % SVC)
        assert r.status_code == 200, r.text
        assert r.text == "v1 hi"
    nubis.deploy(SVC, "ver", {"index.js": version_js("v2")},
                 environmentVariables={"GREETING": "hello"})
    r = nubis.get("/fn/%s/ver/" % SVC)
    assert r.text == "v2 hello", "stale code or config served after a redeploy: %r" % r.text
    for _ in range(5):
        assert nubis.get("/fn/%s/ver/" % SVC).text == "v2 hello"


def test_function_delete_stops_serving(nubis):
    nubis.deploy(SVC, "gone", {"index.js": version_js("here")})
    assert nubis.get("/fn/%s/gone/" % SVC).status_code == 200
    r = nubis.api("DELETE", "/api/v1/services/%s/functions/gone" % SVC)
    assert r.status_code in (200, 204), r.text
    r = nubis.get("/fn/%s/gone/" % SVC)
    assert r.status_code == 404, "deleted function still answers: %s" % r.text


def parallel_get(url, n):
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        futs = [ex.submit(requests.get, url, timeout=30) for _ in range(n)]
        return [f.result() for f in futs]


def test_scale_out_with_concurrency_one(nubis):
    nubis.deploy(SVC, "slow1", fixture_files("httpfn"), instanceConcurrency=1, timeout=10)
    url = nubis.url + "/fn/%s/slow1/slow" % SVC
    assert requests.get(url, timeout=30).status_code == 200
    t0 = time.monotonic()
    rs = parallel_get(url, 6)
    took = time.monotonic() - t0
    assert all(r.status_code == 200 and r.text == "slow done" for r in rs), \
        [(r.status_code, r.text[:80]) for r in rs]
    assert took < 4.0, "6 concurrent 1-s requests took %.1f s: not served side by side" % took


def test_instance_concurrency_shares_one_instance(nubis):
    nubis.deploy(SVC, "slow8", fixture_files("httpfn"), instanceConcurrency=8, timeout=10)
    base = nubis.url + "/fn/%s/slow8" % SVC
    assert requests.get(base + "/pid", timeout=30).status_code == 200
    t0 = time.monotonic()
    rs = parallel_get(base + "/slow", 6)
    took = time.monotonic() - t0
    assert all(r.status_code == 200 for r in rs)
    assert took < 2.5, "6 concurrent requests with instanceConcurrency 8 took %.1f s" % took
    pids = {requests.get(base + "/pid", timeout=30).json()["pid"] for _ in range(3)}
    assert len(pids) == 1


def test_code_update_drains_in_flight(nubis):
    """Requests in flight on the old code finish with it; new ones get the new code; none dropped."""
    slow = ("exports.handler = (req, resp, ctx) => {\n"
            "  setTimeout(() => resp.send('old'), 1000);\n};\n")
    nubis.deploy(SVC, "drain", {"index.js": slow}, instanceConcurrency=1, timeout=10)
    url = nubis.url + "/fn/%s/drain/" % SVC
    assert requests.get(url, timeout=30).text == "old"  # warm
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        inflight = [ex.submit(requests.get, url, timeout=30) for _ in range(4)]
        time.sleep(0.3)
        nubis.deploy(SVC, "drain", {"index.js": version_js("new")}, instanceConcurrency=1,
                     timeout=10)
        t0 = time.monotonic()
        fresh = [requests.get(url, timeout=30) for _ in range(3)]
        fresh_took = time.monotonic() - t0
        old = [f.result() for f in inflight]
    assert [(r.status_code, r.text) for r in old] == [(200, "old")] * 4
    assert [(r.status_code, r.text) for r in fresh] == [(200, "new -")] * 3
    assert fresh_took < 0.9, "new requests waited %.1f s for the old instances" % fresh_took
