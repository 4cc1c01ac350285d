"""
Metering and billing: a usage record per invocation (billed ms rounded up,
memory, GB-s, cold or warm, status), hourly sums that equal the records
exactly, `nubis usage` with the free tier and the bill, and the REPORT line
each invocation leaves in its function's log.
"""
import base64
import json
import math
import re

from conftest import fixture_files, unique

SVC = unique("meter")


def usage(nubis, query=""):
    r = nubis.api("GET", "/api/v1/usage", query=query)
    assert r.status_code == 200, r.text
    return r.json()


def records(nubis, function):
    r = nubis.api("GET", "/api/v1/usage/records",
                  query="service=%s&function=%s&limit=100000" % (SVC, function))
    assert r.status_code == 200, r.text
    return r.json()["records"]


def test_usage_matches_records(nubis):
    nubis.deploy(SVC, "u", fixture_files("eventfn"), handler="index.hello", http_trigger=False,
                 memorySize=512)
    nubis.deploy(SVC, "bad", fixture_files("eventfn"), handler="index.unhandled",
                 http_trigger=False)
    rids = []
    for _ in range(7):
        r = nubis.invoke(SVC, "u", b"x")
        assert r.status_code == 200
        rids.append(r.headers["X-Fc-Request-Id"])
    for _ in range(2):
        assert nubis.invoke(SVC, "bad", b"x").headers.get("X-Fc-Error-Type")

    u = usage(nubis, "service=%s" % SVC)
    mine = {f["functionName"]: f for f in u["functions"]}
    assert set(mine) == {"u", "bad"}, u
    assert mine["u"]["invocations"] == 7 and mine["u"]["errors"] == 0
    assert mine["bad"]["invocations"] == 2 and mine["bad"]["errors"] == 2

    recs = records(nubis, "u")
    assert [x["requestId"] for x in recs] == rids
    for x in recs:
        assert x["memoryMB"] == 512 and x["status"] == "success" and x["version"] == "LATEST"
        assert x["billedMs"] == max(1, math.ceil(x["durationMs"] - 1e-9)), x
        assert x["mbMs"] == 512 * x["billedMs"]
        assert abs(x["gbSeconds"] - 0.5 * x["billedMs"] / 1000) < 1e-12
    assert [x["coldStart"] for x in recs] == [True] + [False] * 6
    assert recs[0]["initDurationMs"] > 0 and recs[1]["initDurationMs"] == 0
    # the sums are exactly the records' sums
    assert mine["u"]["mbMs"] == sum(x["mbMs"] for x in recs)
    assert mine["u"]["billedMs"] == sum(x["billedMs"] for x in recs)
    assert mine["u"]["coldStarts"] == 1
    assert u["invocations"] == 9
    assert u["mbMs"] == sum(f["mbMs"] for f in u["functions"])
    assert abs(u["gbSeconds"] - u["mbMs"] / 1024000) < 1e-9
    bad = records(nubis, "bad")
    assert [x["status"] for x in bad] == ["unhandled_error"] * 2
    # inside the free tier nothing is owed
    assert u["freeTierUsed"]["invocations"] == 9
    assert u["cost"]["total"] == 0
    assert u["currency"] == "USD" and u["prices"]["per10kInvocations"] == 0.0133


def test_usage_cli(nubis):
    nubis.deploy(SVC, "c", fixture_files("eventfn"), handler="index.hello", http_trigger=False)
    for _ in range(3):
        assert nubis.invoke(SVC, "c", b"x").status_code == 200
    r = nubis.cli("usage", "--service", SVC, "-o", "json")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert {f["functionName"]: f["invocations"] for f in j["functions"]}["c"] == 3
    assert re.fullmatch(r"\d{4}-\d{2}", j["period"]["month"])
    r = nubis.cli("usage", "--service", SVC)
    assert r.returncode == 0, r.stderr
    assert "%s/c" % SVC in r.stdout and "free tier used" in r.stdout and "bill:" in r.stdout
    r = nubis.cli("usage", "--month", "2001-02", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["invocations"] == 0, r.stdout
    assert json.loads(r.stdout)["period"]["from"] == "2001-02-01T00:00:00Z"
    r = nubis.cli("usage", "--month", "2001-13")
    assert r.returncode == 2
    r = nubis.api("GET", "/api/v1/usage", query="month=nope")
    assert r.status_code == 400, r.text


def test_report_line(nubis):
    nubis.deploy(SVC, "rep", fixture_files("eventfn"), handler="index.log", http_trigger=False,
                 memorySize=256)
    first = nubis.invoke(SVC, "rep", b"one", headers={"X-Fc-Log-Type": "Tail"})
    second = nubis.invoke(SVC, "rep", b"two", headers={"X-Fc-Log-Type": "Tail"})
    for r, cold in ((first, True), (second, False)):
        assert r.status_code == 200, r.text
        tail = base64.b64decode(r.headers["X-Fc-Log-Result"]).decode()
        rid = r.headers["X-Fc-Request-Id"]
        m = re.search(r"REPORT RequestId: (\S+) Version: LATEST Duration: ([\d.]+) ms "
                      r"Billed Duration: (\d+) ms Memory Size: 256 MB Max Memory Used: (\d+) MB"
                      r"( Init Duration: [\d.]+ ms)?", tail)
        assert m, tail
        assert m.group(1) == rid
        # billed = duration rounded up to 1 ms, from the unrounded duration: the printed
        # one ("1.00") hides up to 0.005 ms (1.004 ms bills 2 ms)
        d = float(m.group(2))
        assert max(1, math.ceil(d - 0.005)) <= int(m.group(3)) <= max(1, math.ceil(d + 0.005)), tail
        # a Node instance uses some memory, and the sandbox's cgroup measures it
        assert 1 <= int(m.group(4)) <= 256, tail
        assert bool(m.group(5)) == cold, tail
        assert tail.index("log-marker") < tail.index("REPORT"), tail
    rid = second.headers["X-Fc-Request-Id"]
    r = nubis.cli("logs", "%s/rep" % SVC, "--request-id", rid, "-o", "json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert {x["requestId"] for x in lines} == {rid}
    assert [x["stream"] for x in lines if x["message"].startswith("REPORT")] == ["report"]
