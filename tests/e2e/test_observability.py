"""
Observability: /metrics in Prometheus text (per-function counters,
histograms, instances by state, HTTP responses by code), `nubis logs`
filters (--since, --request-id) and `nubis top --once`.
"""
import json
import re
import time

from conftest import fixture_files, unique

SVC = unique("obs")
LINE = re.compile(r'^([a-z_:][a-z0-9_:]*)(\{([a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def metrics(nubis):
    r = nubis.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain")
    out, typed = {}, {}
    for line in r.text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            typed[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, "not Prometheus text: %r" % line
        out[line.rsplit(" ", 1)[0]] = float(m.group(4))
    return out, typed


def fn_labels(fn):
    return 'service="%s",function="%s"' % (SVC, fn)


def test_metrics(nubis):
    nubis.deploy(SVC, "m", fixture_files("eventfn"), handler="index.hello", http_trigger=False)
    nubis.deploy(SVC, "x", fixture_files("eventfn"), handler="index.handled", http_trigger=False)
    before, _ = metrics(nubis)
    for _ in range(3):
        assert nubis.invoke(SVC, "m", b"x").status_code == 200
    assert nubis.invoke(SVC, "x", b"x").headers["X-Fc-Error-Type"] == "HandledInvocationError"
    m, typed = metrics(nubis)
    assert m['nubis_invocations_total{%s,status="success"}' % fn_labels("m")] == 3
    assert m['nubis_invocations_total{%s,status="handled_error"}' % fn_labels("x")] == 1
    assert m["nubis_errors_total{%s}" % fn_labels("x")] == 1
    assert m["nubis_errors_total{%s}" % fn_labels("m")] == 0
    assert m["nubis_cold_starts_total{%s}" % fn_labels("m")] == 1
    h = "nubis_invocation_duration_seconds"
    assert m["%s_count{%s}" % (h, fn_labels("m"))] == 3
    assert m['%s_bucket{%s,le="+Inf"}' % (h, fn_labels("m"))] == 3
    buckets = [v for k, v in m.items() if k.startswith("%s_bucket{%s," % (h, fn_labels("m")))]
    assert buckets == sorted(buckets), "histogram buckets must be cumulative"
    assert m["%s_sum{%s}" % (h, fn_labels("m"))] > 0
    assert m["nubis_init_duration_seconds_count{%s}" % fn_labels("m")] == 1
    assert m['nubis_instances{state="idle"}'] >= 2
    assert m['nubis_http_responses_total{code="200"}'] >= \
        before.get('nubis_http_responses_total{code="200"}', 0) + 4
    assert "nubis_pending_invocations" in m and "nubis_async_queue_depth" in m
    for name, kind in typed.items():
        if kind == "counter":
            assert name.endswith("_total"), name
        assert name.startswith("nubis_"), name
    assert typed[h] == "histogram" and typed["nubis_instances"] == "gauge"
    # a 404 is counted by its code
    nubis.get("/no/such/path")
    m2, _ = metrics(nubis)
    assert m2['nubis_http_responses_total{code="404"}'] >= 1


def test_logs_filters(nubis):
    nubis.deploy(SVC, "l", fixture_files("eventfn"), handler="index.log", http_trigger=False)
    old = nubis.invoke(SVC, "l", b"old").headers["X-Fc-Request-Id"]
    time.sleep(2.1)
    new = nubis.invoke(SVC, "l", b"new").headers["X-Fc-Request-Id"]
    r = nubis.cli("logs", "%s/l" % SVC, "--since", "10m")
    assert r.returncode == 0, r.stderr
    assert "log-marker old" in r.stdout and "log-marker new" in r.stdout
    assert "REPORT RequestId: %s" % old in r.stdout
    r = nubis.cli("logs", "%s/l" % SVC, "--since", "2s", "-o", "json")
    ids = {json.loads(x)["requestId"] for x in r.stdout.splitlines()}
    assert new in ids and old not in ids, r.stdout
    r = nubis.cli("logs", "%s/l" % SVC, "--request-id", old)
    assert "log-marker old" in r.stdout and "log-marker new" not in r.stdout, r.stdout


def test_top_once(nubis):
    nubis.deploy(SVC, "t", fixture_files("eventfn"), handler="index.hello", http_trigger=False)
    for _ in range(5):
        assert nubis.invoke(SVC, "t", b"x").status_code == 200
    r = nubis.cli("top", "--once", "-o", "json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    mine = [f for f in st["functions"] if f["serviceName"] == SVC and f["functionName"] == "t"]
    assert len(mine) == 1, st
    f = mine[0]
    assert f["invocations"] == 5 and f["errors"] == 0
    assert 0 < f["p50Ms"] <= f["p99Ms"]
    assert f["instances"] == 1 and f["idle"] == 1
    assert f["rate"] >= 0
    r = nubis.cli("top", "--once")
    assert r.returncode == 0, r.stderr
    row = [x for x in r.stdout.splitlines() if x.startswith("%s/t " % SVC)]
    assert row and row[0].split()[4] == "5", r.stdout
    r = nubis.api("GET", "/api/v1/stats", sign_it=False)
    assert r.status_code == 401
