"""
Hostile functions: each tries to escape or exhaust its sandbox and must fail
inside it, while a normal function on the same daemon keeps answering.  At the
end the daemon stops and nothing is left behind: no cgroups, no mounts in the
host, no instance processes.

Runs its own daemon (so that the leak checks see only what it did).  The
escapes run in Node and in Python (tests/e2e/fixtures/hostile/index.js and
hostile_py/index.py); the resource exhaustions that do not depend on the
language (fork bomb, CPU, /tmp, logs) in Node.
"""
import json
import os
import re
import threading
import time

import pytest

from conftest import Daemon, fixture_files, unique

SVC = unique("hostile")
EPERM = 1


def mounts():
    with open("/proc/self/mountinfo") as f:
        return sorted(line.split()[4] for line in f)


def daemon_children(pid):
    out = set()
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out.update(int(x) for x in f.read().split())
    except OSError:
        pass
    return out


def cgroup_dirs(pid):
    """Every cgroup directory the daemon pid would use (it lives under its own cgroup).

    In the cpu hierarchy the daemon itself sits in nubis/d<pid>/gateway, beside its instances.
    """
    dirs = []
    gateway = "/nubis/d%d/gateway" % pid
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if path.endswith(gateway):
                path = path[:-len(gateway)] or "/"
            for c in (ctrls.split(",") if ctrls else ["unified"]):
                if c in ("memory", "cpu", "pids", "unified"):
                    base = "/sys/fs/cgroup/" + c if os.path.isdir("/sys/fs/cgroup/" + c) \
                        else "/sys/fs/cgroup"
                    dirs.append(os.path.join(base + path.rstrip("/"), "nubis", "d%d" % pid))
    return dirs


@pytest.fixture(scope="module")
def hd(tmp_path_factory):
    state = {"mounts": mounts()}
    d = Daemon(tmp_path_factory.mktemp("hostile")).start()
    state["cgroups"] = [p for p in cgroup_dirs(d.proc.pid) if os.path.isdir(p)]
    files = fixture_files("hostile")
    for fn, cfg in {"h": dict(timeout=5), "other": dict(timeout=5), "normal": dict(timeout=10),
                    "spin": dict(timeout=1), "mem": dict(timeout=10, memorySize=128),
                    "tmpfill": dict(timeout=20, memorySize=1024), "bomb": dict(timeout=5),
                    "biglog": dict(timeout=2)}.items():
        d.deploy(SVC, fn, files, http_trigger=False, **cfg)
    py = fixture_files("hostile_py")
    for fn, cfg in {"ph": dict(timeout=5), "pother": dict(timeout=5),
                    "pmem": dict(timeout=10, memorySize=128)}.items():
        d.deploy(SVC, fn, py, runtime="python3", http_trigger=False, **cfg)
    d.state = state
    d.pids = set()
    yield d
    if d.proc.poll() is None:
        d.stop()


# Per runtime: the hostile function, a second one, one for the memory test, its code file.
RUNTIMES = {"node": ("h", "other", "mem", "/code/index.js"),
            "python": ("ph", "pother", "pmem", "/code/index.py")}


@pytest.fixture(params=sorted(RUNTIMES))
def fn(request):
    return RUNTIMES[request.param]


def call(d, fn, action, timeout=30, **args):
    args["action"] = action
    r = d.invoke(SVC, fn, json.dumps(args).encode(), timeout=timeout)
    if hasattr(d, "pids"):
        d.pids |= daemon_children(d.proc.pid)
    return r


def ok_json(r):
    assert r.status_code == 200 and "X-Fc-Error-Type" not in r.headers, (r.status_code, r.text)
    return json.loads(r.content)


def normal_answers(d, max_s=2.0):
    t0 = time.monotonic()
    r = call(d, "normal", "normal")
    took = time.monotonic() - t0
    body = ok_json(r)
    assert took < max_s, "the normal function took %.2f s" % took
    return body["hits"]


def test_identity(hd, fn):
    a = ok_json(call(hd, fn[0], "whoami"))
    b = ok_json(call(hd, fn[1], "whoami"))
    assert 200000 <= a["uid"] < 300000 and a["gid"] == a["uid"], a
    assert a["uid"] != b["uid"], "two functions share a uid"
    assert a["cwd"] == "/code" and a["hostname"] == "localhost", a
    assert a["pids"][0] == 1 and len(a["pids"]) <= 3, a
    assert a["ifaces"] == ["lo"], a  # and listing interfaces (netlink) works


def test_cannot_read_host_secrets(hd, fn):
    for path in ("/etc/shadow", os.path.join(hd.data_dir, "nubis.db"),
                 os.path.join(hd.data_dir, "credentials"), "/root/.bashrc",
                 "/proc/1/root/etc/shadow"):
        r = ok_json(call(hd, fn[0], "read", path=path))
        assert r["ok"] is False, "read %s: %s" % (path, r)
    assert ok_json(call(hd, fn[0], "read", path=fn[3]))["ok"] is True


def test_cannot_write_outside_tmp(hd, fn):
    for path in ("/usr/pwned", "/usr/bin/node", fn[3], "/pwned", "/etc/passwd",
                 "/opt/nubis/nodejs/bootstrap.js"):
        r = ok_json(call(hd, fn[0], "write", path=path))
        assert r["ok"] is False and r["code"] in ("EROFS", "EACCES", "EPERM"), (path, r)
    assert ok_json(call(hd, fn[0], "write", path="/tmp/fine"))["ok"] is True


def test_sees_only_its_own_processes(hd, fn):
    r = ok_json(call(hd, fn[0], "procs"))
    assert r["pids"][0] == 1 and len(r["pids"]) <= 3, r
    for c in r.get("cmdlines", []):
        assert (c or "").startswith("/usr/bin/node"), r


def test_cannot_signal_pid1_or_other_instances(hd, fn):
    before = normal_answers(hd)
    targets = sorted(daemon_children(hd.proc.pid)) + [hd.proc.pid]
    for pid in targets:
        r = ok_json(call(hd, fn[0], "kill", pid=pid))
        assert r["ok"] is False and r["code"] == "ESRCH", (pid, r)
    call(hd, fn[0], "kill", pid=1)   # its own init (itself): ignored by the kernel
    call(hd, fn[0], "kill", pid=-1)  # everything it can reach: only its own namespace
    assert hd.proc.poll() is None
    assert normal_answers(hd) == before + 1, "the normal function's instance was replaced"


def test_no_network(hd, fn):
    r = ok_json(call(hd, fn[0], "connect", host="127.0.0.1", port=hd.port))
    assert r["ok"] is False and r["code"] == "ECONNREFUSED", r
    r = ok_json(call(hd, fn[0], "connect", host="1.1.1.1", port=80))
    assert r["ok"] is False and r["code"] == "ENETUNREACH", r


def test_no_mount_ptrace_unshare(hd, fn):
    for action in ("mount", "ptrace", "unshare"):
        r = ok_json(call(hd, fn[0], action))
        assert r["ret"] == -1 and r["errno"] == EPERM, (action, r)


def test_fork_bomb_is_contained(hd):
    before = normal_answers(hd)
    result = {}
    t = threading.Thread(target=lambda: result.update(r=call(hd, "bomb", "forkbomb")))
    t.start()
    time.sleep(0.5)
    for _ in range(3):
        normal_answers(hd)
    t.join(30)
    r = result["r"]
    if r.status_code == 200 and "X-Fc-Error-Type" not in r.headers:
        assert json.loads(r.content)["npids"] <= 128
    assert normal_answers(hd) == before + 4


def test_memory_twice_the_limit(hd, fn):
    r = call(hd, fn[2], "memory", mb=256)
    assert r.headers.get("X-Fc-Error-Type") == "UnhandledInvocationError", (r.status_code, r.text)
    msg = json.loads(r.content)["errorMessage"]
    assert "out of memory (limit 128 MB)" in msg, msg
    assert re.search(r"maxMemoryUsage: 1[0-2]\dMB", msg), msg
    normal_answers(hd)
    r = call(hd, fn[2], "memory", mb=16)  # a fresh instance
    assert ok_json(r)["survived"] == 16
    assert 16 <= int(r.headers["X-Fc-Max-Memory-Usage"]) <= 128, r.headers


def test_spin_past_timeout(hd):
    t0 = time.monotonic()
    r = call(hd, "spin", "spin")
    assert time.monotonic() - t0 < 4
    assert "timed out after 1 seconds" in json.loads(r.content)["errorMessage"], r.text
    normal_answers(hd)


def test_fill_tmp(hd):
    r = ok_json(call(hd, "tmpfill", "filltmp"))
    assert r["code"] == "ENOSPC" and 500 <= r["mb"] <= 512, r


def test_fds_without_bound(hd, fn):
    r = ok_json(call(hd, fn[0], "fds"))
    assert r["code"] == "EMFILE" and 1000 <= r["opened"] < 1024, r


def test_huge_log(hd):
    result = {}
    t0 = time.monotonic()
    t = threading.Thread(target=lambda: result.update(r=call(hd, "biglog", "biglog")))
    t.start()
    time.sleep(0.5)
    for _ in range(3):
        normal_answers(hd, max_s=1.0)
    t.join(30)
    assert time.monotonic() - t0 < 8
    assert "timed out" in json.loads(result["r"].content)["errorMessage"]
    logs = os.path.join(hd.data_dir, "logs", SVC)
    size = sum(os.path.getsize(os.path.join(logs, f)) for f in os.listdir(logs)
               if f.startswith("biglog."))
    assert size <= 2 * (8 << 20) + (1 << 20), size


def test_zz_nothing_leaks(hd):
    assert hd.state["cgroups"], "the daemon made no cgroups"
    if os.path.isdir("/sys/fs/cgroup/cpu"):
        assert any(p.startswith("/sys/fs/cgroup/cpu/") for p in hd.state["cgroups"]), \
            hd.state["cgroups"]
    hd.pids |= daemon_children(hd.proc.pid)
    rc = hd.stop()
    hd.check_clean_exit(rc)
    for p in hd.state["cgroups"]:
        assert not os.path.exists(p), "leaked cgroup %s: %s" % (p, os.listdir(p))
    assert mounts() == hd.state["mounts"], "host mounts changed"
    alive = [p for p in hd.pids if os.path.exists("/proc/%d" % p)
             and open("/proc/%d/stat" % p).read().split()[2] != "Z"]
    assert not alive, "instance processes left: %s" % alive


def test_daemon_killed_takes_its_instances(tmp_path):
    """SIGKILL to the daemon: its instances and spawner die with it (PDEATHSIG);
    the next daemon sweeps the cgroups it left."""
    d = Daemon(tmp_path).start()
    try:
        d.deploy(SVC, "normal", fixture_files("hostile"), http_trigger=False, timeout=10)
        assert ok_json(call(d, "normal", "normal"))["hits"] == 1
        kids = daemon_children(d.proc.pid)
        assert len(kids) >= 2, kids  # the spawner and the instance
        dirs = [p for p in cgroup_dirs(d.proc.pid) if os.path.isdir(p)]
        assert dirs
        os.kill(d.proc.pid, 9)
        d.proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(os.path.exists("/proc/%d" % p) for p in kids):
            time.sleep(0.05)
        assert not [p for p in kids if os.path.exists("/proc/%d" % p)], "instances outlived the daemon"
    finally:
        d.stop()
    d2 = Daemon(tmp_path).start()
    try:
        assert not [p for p in dirs if os.path.exists(p)], "stale cgroups were not swept"
    finally:
        d2.check_clean_exit(d2.stop())
