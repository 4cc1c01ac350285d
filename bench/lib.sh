# bench/lib.sh: what the wrk benchmarks share (sourced, not run): checks, CPU
# pinning, starting and stopping servers by PID, readiness, the response
# check, and `measure NAME URL` filling R16/P50_16/P99_16/E16 and the c1 twins.
# The caller sets NUBIS, PY, DUR, DUR1, WARM, CONNS, PIN, QUERY, EXPECT and
# optionally BENCH_NAME (the temp dir prefix).
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$NUBIS" ] || die "no nubis binary at $NUBIS (run make, or set NUBIS_BIN)"
if ! command -v wrk >/dev/null; then
  echo "bench: installing wrk" >&2
  apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; } \
    || die "wrk is missing and apt-get install wrk failed"
fi
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then SRV_PIN=(taskset -c 1); CLI_PIN=(taskset -c 0)
else SRV_PIN=(); CLI_PIN=(); fi

TMP=$(mktemp -d "/tmp/nubis-${BENCH_NAME:-bench}.XXXXXX")
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
median() { printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -n | awk '{a[NR]=$1} END{print (NR ? a[int((NR+1)/2)] : "-")}'; }
# measure NAME URL: one round (c$CONNS, then c1) for NAME.  Call it again for
# more rounds: R16/P50_16/P99_16/R1/P50_1/P99_1 hold the median over NAME's
# rounds so far, E16/E1 the errors summed; NMEAS[NAME] counts them.
measure() {
  local name=$1 url=$2 r16 p16 q16 e16 r1 p1 q1 e1 n
  timeout 60 "${CLI_PIN[@]}" wrk -t1 -c"$CONNS" -d"$WARM" "$url" >/dev/null 2>&1
  n=$(( ${NMEAS[$name]:-0} + 1 )); NMEAS[$name]=$n
  read -r r16 p16 q16 e16 < <(bench "$url" "$CONNS" "$DUR" "$TMP/$name-c$CONNS-$n.txt")
  read -r r1 p1 q1 e1 < <(bench "$url" 1 "$DUR1" "$TMP/$name-c1-$n.txt")
  S_R16[$name]+=" $r16"; S_P50_16[$name]+=" $p16"; S_P99_16[$name]+=" $q16"
  S_R1[$name]+=" $r1"; S_P50_1[$name]+=" $p1"; S_P99_1[$name]+=" $q1"
  E16[$name]=$(( ${E16[$name]:-0} + e16 )); E1[$name]=$(( ${E1[$name]:-0} + e1 ))
  R16[$name]=$(median ${S_R16[$name]}); P50_16[$name]=$(median ${S_P50_16[$name]})
  P99_16[$name]=$(median ${S_P99_16[$name]}); R1[$name]=$(median ${S_R1[$name]})
  P50_1[$name]=$(median ${S_P50_1[$name]}); P99_1[$name]=$(median ${S_P99_1[$name]})
  echo "   $name round $n: c$CONNS $r16 req/s p50 $p16 µs; c1 $r1 req/s p50 $p1 µs" >&2
}
# start_nubis SERVICE RUNTIME: writes $TMP/fn/nubis.yaml (functions test01 with
# instanceConcurrency 16 and single with 1, the code already in $TMP/fn),
# starts build/nubis on a free port and deploys with the CLI; sets NURL and
# NURL1 (their trigger URLs) and CHECK[nubis], CHECK[nubis1].
start_nubis() {
  local svc=$1 runtime=$2 port fn
  port=$(free_port)
  mkdir -p "$TMP/data" "$TMP/fn"
  { printf 'service:\n  name: %s\nfunctions:\n' "$svc"
    for fn in test01:16 single:1; do
      printf '  %s:\n    runtime: %s\n    handler: index.handler\n    codeUri: ./\n' "${fn%:*}" "$runtime"
      printf '    instanceConcurrency: %s\n    triggers:\n      - name: http\n        type: http\n' "${fn#*:}"
      printf '        config: {authType: anonymous, methods: [GET, POST]}\n'
    done; } >"$TMP/fn/nubis.yaml"
  echo "== nubis on 127.0.0.1:$port ($NUBIS)" >&2
  start "$TMP/nubis.log" "$NUBIS" serve --listen "127.0.0.1:$port" --data-dir "$TMP/data"
  wait_200 "http://127.0.0.1:$port/healthz" "$PID" || die "nubis serve not ready: $(tail -c 400 "$TMP/nubis.log")"
  (unset NUBIS_URL NUBIS_ACCESS_KEY_ID NUBIS_ACCESS_KEY_SECRET; NUBIS_DATA_DIR=$TMP/data "$NUBIS" deploy "$TMP/fn") \
    >"$TMP/deploy.log" 2>&1 || die "nubis deploy failed: $(tail -c 400 "$TMP/deploy.log")"
  NURL="http://127.0.0.1:$port/2016-08-15/proxy/$svc/test01/$QUERY"
  NURL1="http://127.0.0.1:$port/2016-08-15/proxy/$svc/single/$QUERY"
  wait_200 "$NURL" "$PID" || die "the function does not answer 200: $(curl -s "$NURL" | head -c 300)"
  CHECK[nubis]=$(check "$NURL")
  CHECK[nubis1]=$(check "$NURL1")
}
# row NAME LABEL: the table row of NAME's medians.
row() {
  local n=$1
  echo "| $2 | ${R16[$n]} | ${P50_16[$n]} | ${P99_16[$n]} | ${R1[$n]} | ${P50_1[$n]} | ${P99_1[$n]} | $(( E16[$n] + E1[$n] )) | ${CHECK[$n]} |"
}
# ratio A B / added A B: A's c$CONNS req/s over B's, and A's c1 p50 minus B's.
ratio() { awk -v a="${R16[$1]:-}" -v b="${R16[$2]:-}" 'BEGIN{ if (b > 0 && a+0 == a) printf "%.2f", a/b; else print "-" }'; }
added() { awk -v a="${P50_1[$1]:-}" -v b="${P50_1[$2]:-}" 'BEGIN{ if (a+0 == a && b+0 == b) printf "%+d", a-b; else print "-" }'; }
NROUNDS=${ROUNDS:-3}
declare -A R16 P50_16 P99_16 E16 R1 P50_1 P99_1 E1 CHECK NMEAS
declare -A S_R16 S_P50_16 S_P99_16 S_R1 S_P50_1 S_P99_1
