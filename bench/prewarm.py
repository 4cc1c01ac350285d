"""
bench/prewarm.py (run by bench/prewarm.sh): cold start of a function's
first request after deploy, with pre-warmed generic instances
(pool.prewarm 1) next to fresh cold starts (pool.prewarm 0), in one run.

Per runtime and mode it deploys N functions (10 KB of code each: a handler
and a 10 KB JSON module it requires / imports), calls each once and records
the request's wall time seen by the client and the daemon's
X-Nubis-Init-Duration (sandbox start or specialization to INIT_OK).  A
pause between functions lets the pool refill in the background, as it
would between deploys.
"""
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from conftest import Daemon  # noqa: E402  (the e2e suite's daemon driver)

N = int(os.environ.get("N", "30"))
PAUSE = float(os.environ.get("PAUSE", "0.3"))
BLOB = json.dumps({"blob": "x" * 10000}).encode()
CODE = {
    "nodejs20": {"index.js": b"const d = require('./data.json');\n"
                             b"exports.handler = (e, c, cb) => cb(null, 'ok ' + d.blob.length);\n",
                 "data.json": BLOB},
    "python3": {"index.py": b"import json\nwith open('data.json') as f:\n    D = json.load(f)\n"
                            b"def handler(event, context):\n    return 'ok %d' % len(D['blob'])\n",
                "data.json": BLOB},
}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def run(prewarm):
    tmp = tempfile.mkdtemp(prefix="nubis-prewarm.")
    cfg = os.path.join(tmp, "nubis.yaml")
    with open(cfg, "w") as f:
        f.write("pool:\n  prewarm: %d\n" % prewarm)
    d = Daemon(tmp).start(["--config", cfg])
    out = {}
    try:
        time.sleep(1.0)  # the first generic instances boot
        for rt, files in CODE.items():
            wall, init, warm = [], [], []
            for i in range(N):
                fn = "f%d" % i
                d.deploy("bench%s" % rt[:4], fn, files, runtime=rt, http_trigger=False)
                time.sleep(PAUSE)
                t0 = time.perf_counter()
                r = d.invoke("bench%s" % rt[:4], fn, b"x")
                dt = (time.perf_counter() - t0) * 1000
                if r.status_code != 200 or not r.text.startswith("ok 10000"):
                    raise SystemExit("bench: %s %s answered %d %s" % (rt, fn, r.status_code, r.text[:200]))
                if r.headers.get("X-Nubis-Cold-Start") != "1":
                    raise SystemExit("bench: %s %s was not a cold start" % (rt, fn))
                wall.append(dt)
                init.append(float(r.headers["X-Nubis-Init-Duration"]))
                t0 = time.perf_counter()
                r = d.invoke("bench%s" % rt[:4], fn, b"x")
                warm.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200 or "X-Nubis-Cold-Start" in r.headers:
                    raise SystemExit("bench: %s %s second call not warm" % (rt, fn))
            out[rt] = (wall, init, warm)
    finally:
        d.stop()
    return out


def main():
    res = {0: run(0), 1: run(1)}
    print("## cold start: pre-warmed generic instance vs fresh start (%s, %d CPUs, %s)"
          % (time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), os.cpu_count(),
             os.path.basename(os.path.dirname(os.environ.get("NUBIS_BIN", "build/nubis")))))
    print()
    print("First request after deploy, %d functions per row, 10 KB of code each; "
          "wall = client-side request time (a signed invoke API call from Python requests), "
          "init = X-Nubis-Init-Duration, warm = the same function's second call. ms." % N)
    print()
    print("| runtime | pool.prewarm | wall p50 | wall p90 | init p50 | init p90 | warm wall p50 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for rt in CODE:
        for pw in (0, 1):
            wall, init, warm = res[pw][rt]
            print("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |"
                  % (rt, pw, statistics.median(wall), pct(wall, 90), statistics.median(init),
                     pct(init, 90), statistics.median(warm)))
    print()
    for rt in CODE:
        w0, w1 = statistics.median(res[0][rt][0]), statistics.median(res[1][rt][0])
        i0, i1 = statistics.median(res[0][rt][1]), statistics.median(res[1][rt][1])
        print("- %s: init p50 pre-warmed %.1f ms vs fresh %.1f ms (%.1fx); wall p50 %.1f vs %.1f ms"
              % (rt, i1, i0, i0 / i1, w1, w0))


if __name__ == "__main__":
    main()
