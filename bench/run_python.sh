#!/usr/bin/env bash
# bench/run_python.sh: a Python hello-world (FC WSGI handler,
# bench/python_fn/index.py) over nubis's HTTP trigger next to a bare Python
# http.server (ThreadingHTTPServer, TCP_NODELAY; bench/python_baseline.py)
# running the same handler, measured with wrk in one run.
#
#   bench/run_python.sh                 # DUR=10s (c16), DUR1=5s (c1), WARM=2s
#   DUR=5s DUR1=3s bench/run_python.sh  # shorter
#
# Knobs (env): NUBIS_BIN (default build/nubis), DUR, DUR1, WARM, CONNS=16,
# PIN=1 (servers on CPU 1, wrk on CPU 0), ROUNDS=3 (interleaved rounds, medians).
# Only 127.0.0.1 is bound; every server is stopped by the PID we started.
set -uo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NUBIS=${NUBIS_BIN:-$ROOT/build/nubis}
PY=/usr/bin/python3
DUR=${DUR:-10s}; DUR1=${DUR1:-5s}; WARM=${WARM:-2s}; CONNS=${CONNS:-16}; PIN=${PIN:-1}
QUERY='?name=bench'
EXPECT='{"message":"Hello, bench!"}'

BENCH_NAME=pybench
. "$HERE/lib.sh"

# --- nubis, with the Python function deployed through the CLI
mkdir -p "$TMP/fn"
cp "$HERE/python_fn/index.py" "$TMP/fn/index.py"
start_nubis pybench python3

# --- the baseline
BPORT=$(free_port)
echo "== python http.server baseline on 127.0.0.1:$BPORT" >&2
start "$TMP/py.log" env PORT="$BPORT" "$PY" "$HERE/python_baseline.py"
BURL="http://127.0.0.1:$BPORT/$QUERY"
wait_200 "$BURL" "$PID" || die "python baseline not ready: $(tail -c 400 "$TMP/py.log")"
CHECK[py]=$(check "$BURL")

# --- interleaved rounds (see run.sh); the table shows medians
for round in $(seq "$NROUNDS"); do
  measure nubis "$NURL"
  measure nubis1 "$NURL1"
  measure py "$BURL"
done
stop_all

echo "## nubis (Python runtime) vs bare Python http.server: hello world over HTTP ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo
echo "wrk -t1, c$CONNS for $DUR and c1 for $DUR1 after a $WARM warm-up, $NROUNDS interleaved rounds (medians);" \
     "pinning: $([ ${#SRV_PIN[@]} -gt 0 ] && echo 'servers (and their children) on CPU 1, wrk on CPU 0' || echo off)."
echo
echo "| server | c$CONNS req/s | c$CONNS p50 µs | c$CONNS p99 µs | c1 req/s | c1 p50 µs | c1 p99 µs | errors | response |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
row nubis "nubis, instanceConcurrency 16 (one instance, like the baseline)"
row nubis1 "nubis, instanceConcurrency 1 (FC's default: an instance per request in flight)"
row py "Python ThreadingHTTPServer (same WSGI handler)"
echo
echo "- nubis / bare Python req/s at c$CONNS: **$(ratio nubis py)** (instanceConcurrency 16)"
echo "- p50 added by nubis at c1: **$(added nubis py) µs**"
