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
# PIN=1 (servers on CPU 1, wrk on CPU 0).
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
PORT=$(free_port)
mkdir -p "$TMP/data" "$TMP/fn"
cp "$HERE/python_fn/index.py" "$TMP/fn/index.py"
cat >"$TMP/fn/nubis.yaml" <<YAML
service:
  name: pybench
functions:
  test01:
    runtime: python3
    handler: index.handler
    codeUri: ./
    instanceConcurrency: 16
    triggers:
      - name: http
        type: http
        config: {authType: anonymous, methods: [GET, POST]}
  single:
    runtime: python3
    handler: index.handler
    codeUri: ./
    instanceConcurrency: 1
    triggers:
      - name: http
        type: http
        config: {authType: anonymous, methods: [GET, POST]}
YAML
echo "== nubis on 127.0.0.1:$PORT ($NUBIS)" >&2
start "$TMP/nubis.log" "$NUBIS" serve --listen "127.0.0.1:$PORT" --data-dir "$TMP/data"
NPID=$PID
wait_200 "http://127.0.0.1:$PORT/healthz" "$NPID" || die "nubis serve not ready: $(tail -c 400 "$TMP/nubis.log")"
(unset NUBIS_URL NUBIS_ACCESS_KEY_ID NUBIS_ACCESS_KEY_SECRET; NUBIS_DATA_DIR=$TMP/data "$NUBIS" deploy "$TMP/fn") \
  >"$TMP/deploy.log" 2>&1 || die "nubis deploy failed: $(tail -c 400 "$TMP/deploy.log")"
NURL="http://127.0.0.1:$PORT/2016-08-15/proxy/pybench/test01/$QUERY"
wait_200 "$NURL" "$NPID" || die "the Python function does not answer 200: $(curl -s "$NURL" | head -c 300)"
CHECK[nubis]=$(check "$NURL")
measure nubis "$NURL"
NURL1="http://127.0.0.1:$PORT/2016-08-15/proxy/pybench/single/$QUERY"
CHECK[nubis1]=$(check "$NURL1")
measure nubis1 "$NURL1"
stop_all

# --- the baseline
BPORT=$(free_port)
echo "== python http.server baseline on 127.0.0.1:$BPORT" >&2
start "$TMP/py.log" env PORT="$BPORT" "$PY" "$HERE/python_baseline.py"
BURL="http://127.0.0.1:$BPORT/$QUERY"
wait_200 "$BURL" "$PID" || die "python baseline not ready: $(tail -c 400 "$TMP/py.log")"
CHECK[py]=$(check "$BURL")
measure py "$BURL"
stop_all

ratio=$(awk -v a="${R16[nubis]}" -v b="${R16[py]}" 'BEGIN{ if (b > 0 && a+0 == a) printf "%.2f", a/b; else print "-" }')
dp50=$(awk -v a="${P50_1[nubis]}" -v b="${P50_1[py]}" 'BEGIN{ if (a+0 == a && b+0 == b) printf "%+d", a-b; else print "-" }')

echo "## nubis (Python runtime) vs bare Python http.server: hello world over HTTP ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo
echo "wrk -t1, c$CONNS for $DUR and c1 for $DUR1 after a $WARM warm-up;" \
     "pinning: $([ ${#SRV_PIN[@]} -gt 0 ] && echo 'servers (and their children) on CPU 1, wrk on CPU 0' || echo off)."
echo
echo "| server | c$CONNS req/s | c$CONNS p50 µs | c$CONNS p99 µs | c1 req/s | c1 p50 µs | c1 p99 µs | errors | response |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
echo "| nubis, instanceConcurrency 16 (one instance, like the baseline) | ${R16[nubis]} | ${P50_16[nubis]} | ${P99_16[nubis]} | ${R1[nubis]} | ${P50_1[nubis]} | ${P99_1[nubis]} | $(( E16[nubis] + E1[nubis] )) | ${CHECK[nubis]} |"
echo "| nubis, instanceConcurrency 1 (FC's default: an instance per request in flight) | ${R16[nubis1]} | ${P50_16[nubis1]} | ${P99_16[nubis1]} | ${R1[nubis1]} | ${P50_1[nubis1]} | ${P99_1[nubis1]} | $(( E16[nubis1] + E1[nubis1] )) | ${CHECK[nubis1]} |"
echo "| Python ThreadingHTTPServer (same WSGI handler) | ${R16[py]} | ${P50_16[py]} | ${P99_16[py]} | ${R1[py]} | ${P50_1[py]} | ${P99_1[py]} | $(( E16[py] + E1[py] )) | ${CHECK[py]} |"
echo
echo "- nubis / bare Python req/s at c$CONNS: **$ratio** (instanceConcurrency 16)"
echo "- p50 added by nubis at c1: **$dp50 µs**"
