"""
Timer triggers (issue 6): a trigger with cronExpression "@every 1s" (or a
6-field cron) enqueues {"triggerTime","triggerName","payload"} through the
async queue each second, never twice for one scheduled time; a bad
cronExpression is refused with 400 (API), before sending (CLI), or before
deploying anything (manifest); `nubis trigger add|list|rm` manage triggers.
"""
import json
import os
import time

import pytest

from conftest import fixture_files, unique, write_tree

SVC = unique("timer")


@pytest.fixture(scope="module")
def svc(nubis):
    nubis.deploy(SVC, "sink", fixture_files("asyncfn"), handler="index.sink", http_trigger=False)
    return SVC


def timer_events(nubis, tag):
    r = nubis.api("GET", "/api/v1/services/%s/functions/sink/logs" % SVC)
    assert r.status_code == 200, r.text
    out = []
    for line in r.text.splitlines():
        rec = json.loads(line)
        msg = rec["message"]
        if "sink-event " in msg and tag in msg:
            out.append((rec["requestId"], json.loads(msg.split("sink-event ", 1)[1])))
    return out


def put_timer(nubis, name, cron, payload="", enable=True):
    return nubis.api("PUT", "/api/v1/services/%s/functions/sink/triggers/%s" % (SVC, name),
                     json_body={"triggerName": name, "triggerType": "timer",
                                "triggerConfig": {"cronExpression": cron, "payload": payload,
                                                  "enable": enable}})


@pytest.mark.parametrize("cron", ["@every 1s", "* * * * * *"])
def test_timer_fires_every_second(nubis, svc, cron):
    tag = unique("tick")
    name = "t" + tag[-8:]
    r = put_timer(nubis, name, cron, payload=tag)
    assert r.status_code == 200, r.text
    try:
        deadline = time.monotonic() + 8
        events = []
        while time.monotonic() < deadline and len(events) < 3:
            time.sleep(0.3)
            events = timer_events(nubis, tag)
    finally:
        assert nubis.api("DELETE", "/api/v1/services/%s/functions/sink/triggers/%s"
                         % (SVC, name)).status_code == 204
    assert len(events) >= 3, "timer %r fired %d times in 8 s: %s" % (cron, len(events), events)
    times = [ev["triggerTime"] for _, ev in events]
    assert len(set(times)) == len(times), "a scheduled time ran twice: %s" % times
    for rid, ev in events:
        assert ev["triggerName"] == name and ev["payload"] == tag
        assert ev["triggerTime"].endswith("Z") and len(ev["triggerTime"]) == 20
        st = nubis.api("GET", "/api/v1/invocations/%s" % rid)
        assert st.status_code == 200 and st.json()["state"] in ("running", "succeeded"), st.text
    # deleted: no more fires
    time.sleep(1.5)
    n = len(timer_events(nubis, tag))
    time.sleep(1.5)
    assert len(timer_events(nubis, tag)) == n


def test_disabled_timer_does_not_fire(nubis, svc):
    tag = unique("off")
    assert put_timer(nubis, "off", "@every 1s", payload=tag, enable=False).status_code == 200
    time.sleep(2.5)
    assert timer_events(nubis, tag) == []
    nubis.api("DELETE", "/api/v1/services/%s/functions/sink/triggers/off" % SVC)


@pytest.mark.parametrize("cron,needle", [
    ("61 * * * *", "field 'minute' value 61 out of range 0-59"),
    ("* * * *", "got 4"),
    ("0 0 30 FOO *", "unknown name 'FOO'"),
    ("@every 0s", "at least 1s"),
    ("@fortnightly", "unknown macro"),
])
def test_bad_cron_is_400_naming_the_problem(nubis, svc, cron, needle):
    r = put_timer(nubis, "bad", cron)
    assert r.status_code == 400, r.text
    msg = r.json()["ErrorMessage"]
    assert "cronExpression" in msg and needle in msg, msg


def test_cli_trigger_add_list_rm(nubis, svc):
    r = nubis.cli("trigger", "add", "%s/sink" % SVC, "nightly", "--type", "timer",
                  "--cron", "0 0 4 * * *", "--payload", "p1")
    assert r.returncode == 0, r.stderr
    r = nubis.cli("trigger", "add", "%s/sink" % SVC, "web", "--type", "http",
                  "--methods", "GET,POST", "--auth", "anonymous")
    assert r.returncode == 0, r.stderr
    r = nubis.cli("trigger", "list", "%s/sink" % SVC, "-o", "json")
    assert r.returncode == 0, r.stderr
    by_name = {t["triggerName"]: t for t in json.loads(r.stdout)}
    assert by_name["nightly"]["triggerConfig"]["cronExpression"] == "0 0 4 * * *"
    assert by_name["nightly"]["triggerConfig"]["payload"] == "p1"
    assert by_name["web"]["triggerConfig"]["methods"] == ["GET", "POST"]
    r = nubis.cli("trigger", "list", "%s/sink" % SVC)
    assert "nightly" in r.stdout and "0 0 4 * * *" in r.stdout and "web" in r.stdout
    # a bad cron fails locally, naming the field and the problem
    r = nubis.cli("trigger", "add", "%s/sink" % SVC, "bad", "--type", "timer", "--cron", "0 61 * * * *")
    assert r.returncode != 0
    assert "cronExpression" in r.stderr and "minute" in r.stderr and "61" in r.stderr
    for name in ("nightly", "web"):
        r = nubis.cli("trigger", "rm", "%s/sink" % SVC, name)
        assert r.returncode == 0, r.stderr
    r = nubis.cli("trigger", "list", "%s/sink" % SVC, "-o", "json")
    names = [t["triggerName"] for t in json.loads(r.stdout)]
    assert "nightly" not in names and "web" not in names


def test_manifest_with_bad_cron_deploys_nothing(nubis, tmp_path):
    svc = unique("blue")
    write_tree(tmp_path, {
        "index.js": "exports.handler = (e, c, cb) => cb(null, 'x');\n",
        "nubis.yaml": ("service:\n  name: %s\nfunctions:\n  f:\n    runtime: nodejs20\n"
                       "    handler: index.handler\n    triggers:\n      - name: moon\n"
                       "        type: timer\n        config: {cronExpression: 'every blue moon'}\n"
                       % svc),
    })
    r = nubis.cli("deploy", str(tmp_path))
    assert r.returncode != 0
    assert "cronExpression" in r.stderr, r.stderr
    assert nubis.api("GET", "/api/v1/services/%s" % svc).status_code == 404


def test_manifest_timer_deploys_and_fires(nubis, tmp_path):
    svc = unique("mtimer")
    tag = unique("m")
    files = fixture_files("asyncfn")
    files["nubis.yaml"] = (
        "service:\n  name: %s\nfunctions:\n  sink:\n    runtime: nodejs20\n"
        "    handler: index.sink\n    asyncConfig: {maxAsyncRetryAttempts: 0}\n    triggers:\n"
        "      - name: every\n        type: timer\n"
        "        config: {cronExpression: '@every 1s', payload: '%s'}\n" % (svc, tag))
    write_tree(tmp_path, files)
    r = nubis.cli("deploy", str(tmp_path))
    assert r.returncode == 0, r.stderr
    try:
        fn = nubis.api("GET", "/api/v1/services/%s/functions/sink" % svc).json()
        assert fn["asyncConfig"] == {"maxAsyncRetryAttempts": 0}
        deadline = time.monotonic() + 6
        seen = False
        while time.monotonic() < deadline and not seen:
            time.sleep(0.3)
            r = nubis.api("GET", "/api/v1/invocations",
                          query="service=%s&function=sink&limit=5" % svc)
            assert r.status_code == 200, r.text
            seen = any(i["state"] == "succeeded" for i in r.json()["invocations"])
        assert seen, "the manifest's @every 1s timer did not run within 6 s"
    finally:
        nubis.cli("rm", "-r", svc)
    assert os.path.exists(str(tmp_path))
