"""
Pre-warmed generic instances (issue 4, docs/internals/sched.md): the daemon
keeps `pool.prewarm` instances per runtime started with no code; a cold
start takes one, mounts the function's code at /code and sends INIT.  A
pre-warmed instance keeps the uid drawn for it (docs/security.md), which is
how these tests tell it from a freshly started one (those run under the
function's own uid, a hash of "service/function").
"""
import json
import os
import time

from conftest import Daemon, unique

NODE = {
    "index.js": b"""
const fs = require('fs');
const data = require('./data.json');
exports.handler = (event, context, callback) => {
  let other = null;
  try { other = fs.readdirSync(event.toString()); } catch (e) { other = e.code; }
  let ro = null;
  try { fs.writeFileSync('/code/w.txt', 'x'); } catch (e) { ro = e.code; }
  callback(null, JSON.stringify({
    uid: process.getuid(), cwd: process.cwd(), files: fs.readdirSync('/code').sort(),
    env: process.env.GREETING || null, fcfn: process.env.FC_FUNCTION_NAME || null,
    size: data.blob.length, other: other, ro: ro,
  }));
};
""",
    "data.json": json.dumps({"blob": "x" * 10000}).encode(),
}

PY = {
    "index.py": b"""
import json, os
def handler(event, context):
    try:
        other = sorted(os.listdir(event.decode()))
    except OSError as e:
        other = e.errno
    return json.dumps({"uid": os.getuid(), "cwd": os.getcwd(),
                       "files": sorted(os.listdir("/code")),
                       "env": os.environ.get("GREETING"), "fcfn": os.environ.get("FC_FUNCTION_NAME"),
                       "other": other})
""",
}


def fn_uid(service, function):
    """nb_sandbox_uid_for("service/function"): FNV-1a, 200000 + h % 100000."""
    h = 2166136261
    for b in ("%s/%s" % (service, function)).encode():
        h ^= b
        h = (h * 16777619) & 0xFFFFFFFF
    return 200000 + h % 100000


def deploy(d, svc, fn, runtime, files, handler="index.handler"):
    d.deploy(svc, fn, files, runtime=runtime, handler=handler, http_trigger=False,
             environmentVariables={"GREETING": "hi-" + fn})


def call(d, svc, fn, payload=b"/nonexistent"):
    r = d.invoke(svc, fn, payload)
    assert r.status_code == 200, (r.status_code, r.text)
    return r, json.loads(r.content)


def wait_refilled():
    time.sleep(0.6)  # the refill runs 50 ms after a take; the shim then boots in the background


def start(tmp_path, prewarm):
    p = os.path.join(str(tmp_path), "nubis.yaml")
    with open(p, "w") as f:
        f.write("pool:\n  prewarm: %d\n" % prewarm)
    return Daemon(tmp_path).start(["--config", p])


def test_cold_start_from_prewarmed_instance(tmp_path):
    d = start(tmp_path, 1)
    try:
        svc = unique("pw")
        for runtime, files, own in (("nodejs20", NODE, ["data.json", "index.js"]),
                                    ("python3", PY, ["index.py"])):
            fn = unique(runtime[:4])
            deploy(d, svc, fn, runtime, files)
            r, body = call(d, svc, fn)
            assert r.headers.get("X-Nubis-Cold-Start") == "1", r.headers
            assert 0 < float(r.headers["X-Nubis-Init-Duration"]) < 2000, r.headers
            # the pre-warmed instance, specialized: its own uid, the code, env, cwd
            assert body["uid"] != fn_uid(svc, fn), body
            assert 200000 <= body["uid"] < 300000, body
            assert body["files"] == own and body["cwd"] == "/code", body
            assert body["env"] == "hi-" + fn and body["fcfn"] == fn, body
            # warm now
            r2, body2 = call(d, svc, fn)
            assert "X-Nubis-Cold-Start" not in r2.headers and body2["uid"] == body["uid"]
    finally:
        d.stop()


def test_pool_refills_and_code_is_isolated(tmp_path):
    d = start(tmp_path, 1)
    try:
        svc = unique("pw")
        a, b = unique("a"), unique("b")
        deploy(d, svc, a, "nodejs20", NODE)
        deploy(d, svc, b, "nodejs20", {"index.js": NODE["index.js"],
                                       "data.json": NODE["data.json"], "secret.txt": b"b only"})
        _, ba = call(d, svc, a)
        wait_refilled()
        # b's code lives in the host's code store: a path a's sandbox cannot reach
        _, bb = call(d, svc, b, b"/code")
        assert ba["uid"] != fn_uid(svc, a) and bb["uid"] != fn_uid(svc, b), (ba, bb)
        assert ba["uid"] != bb["uid"], "two pre-warmed instances share a uid"
        assert ba["files"] == ["data.json", "index.js"], ba
        assert bb["files"] == ["data.json", "index.js", "secret.txt"], bb
        # a's instance still sees only its own code, and /code is read-only
        _, ba2 = call(d, svc, a, b"/code")
        assert ba2["other"] == ["data.json", "index.js"], ba2
        assert ba["ro"] == "EROFS" and bb["ro"] == "EROFS", (ba, bb)
    finally:
        d.stop()


def test_prewarm_off_starts_fresh_instances(tmp_path):
    d = start(tmp_path, 0)
    try:
        svc, fn = unique("pw"), unique("f")
        deploy(d, svc, fn, "nodejs20", NODE)
        r, body = call(d, svc, fn)
        assert r.headers.get("X-Nubis-Cold-Start") == "1"
        assert body["uid"] == fn_uid(svc, fn) and body["env"] == "hi-" + fn, body
    finally:
        d.stop()


def generic_pids(d):
    """The daemon's runtime children (idle pre-warmed instances when no function ran)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        if ppid == d.proc.pid and comm in ("node", "python3"):
            out.append(int(pid))
    return out


def test_dead_prewarmed_instances_are_replaced(tmp_path):
    d = start(tmp_path, 1)
    try:
        deadline = time.monotonic() + 5
        while len(generic_pids(d)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = generic_pids(d)
        assert len(pids) == 2, pids  # one Node, one Python
        for pid in pids:
            os.kill(pid, 9)
        svc, a, b = unique("pw"), unique("a"), unique("b")
        deploy(d, svc, a, "nodejs20", NODE)
        # none pre-warmed (or a dead one not yet reaped): a fresh start serves it
        _, ba = call(d, svc, a)
        assert ba["uid"] == fn_uid(svc, a) and ba["files"] == ["data.json", "index.js"], ba
        time.sleep(1.6)  # refilled after the 1 s back-off
        deploy(d, svc, b, "nodejs20", NODE)
        _, bb = call(d, svc, b)
        assert bb["uid"] != fn_uid(svc, b) and bb["env"] == "hi-" + b, bb
    finally:
        d.stop()
