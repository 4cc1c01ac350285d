"""
Graceful shutdown: SIGTERM lets the request in flight finish, then the
daemon exits 0 promptly.  Uses its own daemon.
"""
import signal
import threading
import time

import requests

from conftest import Daemon, fixture_files


def test_sigterm_drains_in_flight_request(tmp_path):
    d = Daemon(tmp_path).start()
    try:
        d.deploy("shut", "slow", fixture_files("httpfn"), timeout=10)
        url = d.url + "/2016-08-15/proxy/shut/slow"
        assert requests.get(url + "/pid", timeout=30).status_code == 200  # warm
        result = {}

        def call():
            try:
                result["r"] = requests.get(url + "/slow", timeout=15)
            except requests.RequestException as e:
                result["err"] = e

        t = threading.Thread(target=call)
        t0 = time.monotonic()
        t.start()
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGTERM)
        t.join(15)
        assert "err" not in result, "in-flight request failed on SIGTERM: %s" % result.get("err")
        r = result["r"]
        assert r.status_code == 200, r.text
        assert r.text == "slow done"
        assert time.monotonic() - t0 >= 0.9
        try:
            rc = d.proc.wait(timeout=5)
        except Exception:
            rc = "still running 5 s after the in-flight request completed"
        assert rc == 0, "daemon exit status after SIGTERM: %s" % rc
        # no new connections after shutdown
        try:
            requests.get(d.url + "/healthz", timeout=2)
            raise AssertionError("daemon still answering after exit")
        except requests.ConnectionError:
            pass
        d.check_clean_exit(rc)
    finally:
        d.stop()


def test_restart_keeps_functions(tmp_path):
    d = Daemon(tmp_path).start()
    try:
        d.deploy("keep", "f", fixture_files("httpfn"))
        assert d.get("/fn/keep/f/?a=1").status_code == 200
        key = (d.key_id, d.secret)
        assert d.stop() == 0
        d.start()
        assert (d.key_id, d.secret) == key, "admin key changed across restarts"
        r = d.get("/fn/keep/f/?a=2")
        assert r.status_code == 200, r.text
        assert r.json()["queries"] == {"a": "2"}
        d.check_clean_exit(d.stop())
    finally:
        d.stop()
