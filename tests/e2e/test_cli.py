"""
The CLI as a user drives it: help, list/get/rm/logs/init with -o json, and
clear errors (missing function, dead server).
"""
import json
import os
import queue
import subprocess
import threading
import time

import pytest

from conftest import NUBIS_BIN, assert_request_id, fixture_files, free_port, unique

SVC = unique("cli")
COMMANDS = ["serve", "deploy", "invoke", "list", "get", "rm", "logs", "publish", "alias",
            "usage", "init"]


@pytest.fixture(scope="module")
def svc(nubis):
    files = fixture_files("eventfn")
    nubis.deploy(SVC, "hello", files, handler="index.hello", http_trigger=False)
    nubis.deploy(SVC, "log", files, handler="index.log", http_trigger=False)
    nubis.deploy(SVC, "doomed", files, handler="index.hello", http_trigger=False)
    return SVC


def parse_json(out):
    try:
        return json.loads(out)
    except ValueError:
        pytest.fail("-o json printed something that is not JSON: %r" % out[:500])


def test_help(nubis):
    r = nubis.cli("--help")
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    missing = [c for c in COMMANDS if c not in text]
    assert not missing, "nubis --help does not mention %s" % missing


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(nubis, command):
    r = nubis.cli(command, "--help")
    assert r.returncode == 0, "nubis %s --help exited %d: %s" % (command, r.returncode, r.stderr)
    assert (r.stdout + r.stderr).strip(), "nubis %s --help printed nothing" % command


def test_unknown_command(nubis):
    r = nubis.cli("frobnicate")
    assert r.returncode != 0
    assert r.stderr.strip()


def test_list(nubis, svc):
    r = nubis.cli("list", "-o", "json")
    assert r.returncode == 0, r.stderr
    data = parse_json(r.stdout)
    dumped = json.dumps(data)
    assert SVC in dumped and '"hello"' in dumped and '"log"' in dumped, dumped[:1000]
    r = nubis.cli("list")
    assert r.returncode == 0
    assert SVC in r.stdout and "hello" in r.stdout


def find_key(obj, key):
    if isinstance(obj, dict):
        if key in obj:
            return obj[key]
        for v in obj.values():
            found = find_key(v, key)
            if found is not None:
                return found
    if isinstance(obj, list):
        for v in obj:
            found = find_key(v, key)
            if found is not None:
                return found
    return None


def test_get(nubis, svc):
    r = nubis.cli("get", "%s/hello" % svc, "-o", "json")
    assert r.returncode == 0, r.stderr
    data = parse_json(r.stdout)
    assert find_key(data, "functionName") == "hello"
    assert find_key(data, "handler") == "index.hello"
    assert find_key(data, "runtime") == "nodejs20"
    r = nubis.cli("get", "%s/hello" % svc)
    assert r.returncode == 0
    assert "hello" in r.stdout


def test_get_missing(nubis, svc):
    r = nubis.cli("get", "%s/nosuch" % svc)
    assert r.returncode != 0
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, "expected one line on stderr, got %r" % r.stderr
    assert "nosuch" in lines[0] or "not found" in lines[0].lower() or "FunctionNotFound" in lines[0]


def test_rm(nubis, svc):
    assert nubis.api("GET", "/api/v1/services/%s/functions/doomed" % svc).status_code == 200
    r = nubis.cli("rm", "%s/doomed" % svc)
    assert r.returncode == 0, r.stderr
    assert nubis.api("GET", "/api/v1/services/%s/functions/doomed" % svc).status_code == 404
    r = nubis.cli("get", "%s/doomed" % svc)
    assert r.returncode != 0


def test_logs(nubis, svc):
    r = nubis.invoke(svc, "log", b"for-logs")
    assert r.status_code == 200, r.text
    rid = assert_request_id(r)
    deadline = time.monotonic() + 5
    while True:
        r = nubis.cli("logs", "%s/log" % svc)
        assert r.returncode == 0, r.stderr
        lines = [l for l in r.stdout.splitlines() if "log-marker for-logs" in l]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert lines, "log line not shown by nubis logs: %r" % r.stdout[-2000:]
    assert rid in lines[0], "log line not tagged with the request id %s: %s" % (rid, lines[0])
    r = nubis.cli("logs", "%s/log" % svc, "-o", "json")
    assert r.returncode == 0
    text = r.stdout.strip()
    recs = []
    try:
        data = json.loads(text)
        recs = data if isinstance(data, list) else find_key(data, "logs") or [data]
    except ValueError:
        recs = [json.loads(l) for l in text.splitlines() if l.strip()]  # NDJSON
    mine = [x for x in recs if "log-marker for-logs" in x.get("message", "")]
    assert mine and mine[0].get("requestId") == rid, recs[-5:]


def test_logs_follow(nubis, svc):
    p = subprocess.Popen([NUBIS_BIN, "logs", "%s/log" % svc, "-f"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=nubis.cli_env(), text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l) for l in p.stdout], daemon=True).start()
    try:
        time.sleep(0.5)
        assert p.poll() is None, "nubis logs -f exited: %s" % p.stderr.read()
        r = nubis.invoke(svc, "log", b"followed")
        assert r.status_code == 200
        deadline = time.monotonic() + 10
        seen = []
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            seen.append(line)
            if "log-marker followed" in line:
                break
        else:
            pytest.fail("nubis logs -f did not show the new line; got %r" % seen[-5:])
    finally:
        p.terminate()
        p.wait(5)


def test_init_deploy_call(nubis, tmp_path):
    d = tmp_path / "myfn"
    r = nubis.cli("init", str(d), "--runtime", "nodejs20")
    assert r.returncode == 0, r.stderr
    assert (d / "nubis.yaml").exists()
    r = nubis.cli("deploy", str(d), timeout=120)
    assert r.returncode == 0, r.stderr
    import yaml
    m = yaml.safe_load((d / "nubis.yaml").read_text())
    svc = m["service"]["name"]
    fname, fconf = next(iter(m["functions"].items()))
    assert fconf["runtime"] == "nodejs20"
    http = [t for t in fconf.get("triggers", []) if t.get("type") == "http"]
    if http:
        r = nubis.get("/fn/%s/%s/" % (svc, fname))
        assert r.status_code == 200, r.text
    else:
        r = nubis.cli("invoke", "%s/%s" % (svc, fname), "-d", "{}")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip()
    r = nubis.cli("get", "%s/%s" % (svc, fname), "-o", "json")
    assert r.returncode == 0


def test_dead_server(nubis, tmp_path):
    port = free_port()
    env = nubis.cli_env()
    env["NUBIS_URL"] = "http://127.0.0.1:%d" % port
    t0 = time.monotonic()
    r = nubis.cli("list", env=env, timeout=30)
    assert time.monotonic() - t0 < 15
    assert r.returncode != 0
    msg = r.stderr.strip()
    assert msg, "no message on stderr"
    assert str(port) in msg or "connect" in msg.lower(), msg


def test_cli_finds_server_from_data_dir(nubis):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUBIS_URL", "NUBIS_ACCESS_KEY_ID", "NUBIS_ACCESS_KEY_SECRET")}
    env["NUBIS_DATA_DIR"] = nubis.data_dir
    r = nubis.cli("list", "-o", "json", env=env)
    assert r.returncode == 0, r.stderr
    parse_json(r.stdout)
