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

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$NUBIS" ] || die "no nubis binary at $NUBIS (run make, or set NUBIS_BIN)"
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; } \
    || die "wrk is missing and apt-get install wrk failed"
fi
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then SRV_PIN=(taskset -c 1); CLI_PIN=(taskset -c 0)
else SRV_PIN=(); CLI_PIN=(); fi

TMP=$(mktemp -d /tmp/nubis-pybench.XXXXXX)
PIDS=()
stop_all() { # by the PIDs (= process groups) we started
  local p i
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  PIDS=()
}
cleanup() { stop_all; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # logfile cmd... -> sets PID (its own session, pinned)
  local log=$1; shift
  setsid "${SRV_PIN[@]}" "$@" </dev/null >>"$log" 2>&1 &
  PID=$!; PIDS+=("$PID")
}
wait_200() { # url pid
  local i; for i in $(seq 300); do
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1")" = 200 ] && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done; return 1
}
check() { # url -> ok or what differs
  local b; b=$(curl -s -m 5 "$1")
  [ "$b" = "$EXPECT" ] && echo ok || echo "unexpected body: ${b:0:80}"
}
to_us() { # wrk latency token (461.00us, 2.21ms, 1.02s) -> integer µs
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.0f", v+0; else if (v ~ /ms$/) printf "%.0f", v*1000;
                        else if (v ~ /s$/) printf "%.0f", v*1000000; else print "-" }'
}
bench() { # url conns dur out -> "rps p50us p99us errors"
  timeout 120 "${CLI_PIN[@]}" wrk -t1 -c"$2" -d"$3" --latency "$1" >"$4" 2>&1
  local rps p50 p99 non2xx sock
  rps=$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$4")
  p50=$(to_us "$(awk '$1=="50%"{print $2}' "$4")")
  p99=$(to_us "$(awk '$1=="99%"{print $2}' "$4")")
  non2xx=$(awk '/Non-2xx/{print $NF}' "$4")
  sock=$(awk '/Socket errors/{gsub(",","");print $4+$6+$8+$10}' "$4")
  echo "${rps:--} $p50 $p99 $(( ${non2xx:-0} + ${sock:-0} ))"
}
measure() { # name url -> appends a row
  local name=$1 url=$2
  timeout 60 "${CLI_PIN[@]}" wrk -t1 -c"$CONNS" -d"$WARM" "$url" >/dev/null 2>&1
  read -r R16[$name] P50_16[$name] P99_16[$name] E16[$name] < <(bench "$url" "$CONNS" "$DUR" "$TMP/$name-c$CONNS.txt")
  read -r R1[$name] P50_1[$name] P99_1[$name] E1[$name] < <(bench "$url" 1 "$DUR1" "$TMP/$name-c1.txt")
  echo "   $name: c$CONNS ${R16[$name]} req/s p50 ${P50_16[$name]} µs; c1 ${R1[$name]} req/s p50 ${P50_1[$name]} µs" >&2
}
declare -A R16 P50_16 P99_16 E16 R1 P50_1 P99_1 E1 CHECK

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
