"""
The daemon's config file (`nubis serve --config FILE`, docs/operations.md):
its keys take effect (prices, currency and free tier in the bill, body
limits, pool sizes, listen and dataDir), command-line flags win over it,
and a bad file stops the daemon with a message naming the line and key.
"""
import os
import signal
import subprocess
import time

import requests

from conftest import NUBIS_BIN, Daemon, fixture_files, free_port


def write(tmp_path, text):
    p = os.path.join(str(tmp_path), "nubis-config.yaml")
    with open(p, "w") as f:
        f.write(text)
    return p


def test_config_keys_take_effect(tmp_path):
    cfg = write(tmp_path, """
# every key is optional
listen: 127.0.0.1:1            # overridden by --listen (the fixture passes it)
dataDir: /nonexistent/ignored  # overridden by --data-dir
limits:
  maxSyncBodyBytes: 4096
pool:
  maxInstances: 1
  maxQueue: 1
  idleTimeout: 300
logs:
  maxBytesPerFunction: 65536
billing:
  currency: EUR
  pricePer10kInvocations: 10000    # 1 EUR per invocation
  pricePerGbSecond: 0
  freeInvocationsPerMonth: 2
  freeGbSecondsPerMonth: 0
usage:
  recordRetentionDays: 7
  flushInterval: 50
""")
    d = Daemon(tmp_path).start(["--config", cfg])
    try:
        assert d.endpoint == d.url  # the flag won over the file's listen
        d.deploy("cfg", "f", fixture_files("eventfn"), handler="index.hello", http_trigger=False)
        for _ in range(5):
            assert d.invoke("cfg", "f", b"x").status_code == 200
        u = d.api("GET", "/api/v1/usage").json()
        assert u["currency"] == "EUR" and u["invocations"] == 5
        assert u["freeTierUsed"]["invocations"] == 2
        assert abs(u["cost"]["invocations"] - 3.0) < 1e-9 and abs(u["cost"]["total"] - 3.0) < 1e-9
        r = d.cli("usage")
        assert "3.0000 EUR" in r.stdout, r.stdout
        # limits.maxSyncBodyBytes
        assert d.invoke("cfg", "f", b"x" * 5000).status_code == 413
        assert d.invoke("cfg", "f", b"x" * 3000).status_code == 200
        # pool.maxInstances 1 + maxQueue 1: a third concurrent call is throttled
        d.deploy("cfg", "hang", fixture_files("eventfn"), handler="index.hang",
                 http_trigger=False, timeout=2)
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            codes = sorted(ex.map(lambda _: d.invoke("cfg", "hang", b"").status_code, range(3)))
        assert 429 in codes, codes
        m = requests.get(d.url + "/metrics").text
        assert 'nubis_throttles_total{service="cfg",function="hang"} ' in m
        assert 'nubis_throttles_total{service="cfg",function="hang"} 0' not in m
    finally:
        d.check_clean_exit(d.stop())


def test_config_file_alone(tmp_path):
    port = free_port()
    data = os.path.join(str(tmp_path), "data-from-config")
    cfg = write(tmp_path, "listen: 127.0.0.1:%d\ndataDir: %s\n" % (port, data))
    env = dict(os.environ)
    env.pop("NUBIS_DATA_DIR", None)
    p = subprocess.Popen([NUBIS_BIN, "serve", "--config", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert p.poll() is None, p.stderr.read().decode()
            try:
                if requests.get("http://127.0.0.1:%d/healthz" % port, timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with open(os.path.join(data, "endpoint")) as f:
            assert f.read().strip() == "http://127.0.0.1:%d" % port
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=10) == 0
        err = p.stderr.read().decode()
        assert "Sanitizer" not in err and "runtime error:" not in err, err


def test_bad_config_is_refused(tmp_path):
    for text, want in [
        ("pool:\n  maxInstancez: 3\n", "line 2: pool.maxInstancez: unknown key"),
        ("pool:\n  maxInstances: -1\n", "pool.maxInstances: must be an integer between 1 and"),
        ("billing:\n  pricePerGbSecond: cheap\n", "billing.pricePerGbSecond: must be a number"),
        ("limits: 5\n", "limits: must be a mapping"),
        ("listen: [a\n", "line"),
        ("limits:\n  maxBufferedBodyBytes: 10485760\n",  # below the 72 MiB upload limit
         "limits.maxBufferedBodyBytes (10485760) must exceed the largest body limit"),
    ]:
        cfg = write(tmp_path, text)
        r = subprocess.run([NUBIS_BIN, "serve", "--config", cfg, "--data-dir",
                            os.path.join(str(tmp_path), "d")], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 2, (text, r.returncode, r.stderr)
        assert want in r.stderr and cfg in r.stderr, (text, r.stderr)
        assert "Sanitizer" not in r.stderr
    r = subprocess.run([NUBIS_BIN, "serve", "--config", "/nonexistent.yaml"], capture_output=True,
                       text=True, timeout=20)
    assert r.returncode == 2 and "/nonexistent.yaml" in r.stderr
