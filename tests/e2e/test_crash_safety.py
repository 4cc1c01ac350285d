"""
Crash safety of the async queue (issue 6), on a daemon of its own: 1,000
async invocations are acknowledged (202), the daemon is killed with SIGKILL
while they run, and restarted on the same data dir: every acknowledged
invocation completes (at least once), none is lost, and runs repeated
because of the kill are bounded by what was in flight and show in the
attempts count.
"""
import concurrent.futures
import os
import signal
import time

from conftest import Daemon, fixture_files

N = 1000
CONCURRENCY = 4  # maxAsyncConcurrency: at most this many runs in flight


def list_all(d):
    r = d.api("GET", "/api/v1/invocations", query="service=crash&function=slow&limit=1000")
    assert r.status_code == 200, r.text
    return r.json()["invocations"]


def test_kill_9_loses_nothing(tmp_path):
    d = Daemon(tmp_path).start()
    try:
        d.deploy("crash", "slow", fixture_files("asyncfn"), handler="index.slow",
                 http_trigger=False, asyncConfig={"maxAsyncConcurrency": CONCURRENCY})

        def enqueue(i):
            r = d.invoke("crash", "slow", b"ev-%d" % i, headers={"X-Fc-Invocation-Type": "Async"})
            assert r.status_code == 202, r.text
            return r.headers["X-Fc-Request-Id"]

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            acked = list(pool.map(enqueue, range(N)))
        assert len(set(acked)) == N

        # let some run, then kill -9 mid-stream
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            done = sum(1 for x in list_all(d) if x["state"] == "succeeded")
            if done >= 50:
                break
            time.sleep(0.05)
        assert 0 < done < N, "expected the kill to land mid-stream (%d of %d done)" % (done, N)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        try:  # the instances it left behind
            os.killpg(d.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        d._err.close()

        d.start()  # same data dir
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            items = list_all(d)
            if len(items) == N and all(x["state"] == "succeeded" for x in items):
                break
            time.sleep(0.2)
        by_id = {x["invocationId"]: x for x in items}
        missing = [i for i in acked if i not in by_id]
        assert not missing, "%d acknowledged invocations lost, e.g. %s" % (len(missing), missing[:3])
        unfinished = [x for x in items if x["state"] != "succeeded"]
        assert not unfinished, "%d not succeeded after restart: %s" % (len(unfinished), unfinished[:3])
        for i in range(0, N, 97):  # results are kept (the list leaves them out)
            r = d.api("GET", "/api/v1/invocations/%s" % acked[i])
            assert r.status_code == 200 and r.json()["result"] == "done:ev-%d" % i, r.text
        repeated = [x for x in items if x["attempts"] > 1]
        # a run in flight at the kill is repeated; nothing else is.  In flight: at most
        # CONCURRENCY running plus as many whose result was not yet committed.
        assert len(repeated) <= 2 * CONCURRENCY, repeated
        assert all(x["attempts"] == 2 for x in repeated), repeated
    finally:
        rc = d.stop()
    d.check_clean_exit(rc)
