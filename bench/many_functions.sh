#!/usr/bin/env bash
# bench/many_functions.sh: what 1,000 deployed functions cost the daemon when
# none of them is warm: its RSS, and whether routing stays flat in the number
# of functions.  One run, one daemon:
#
#   1. start `nubis serve` (a temporary data dir, a free loopback port), deploy
#      one function `hot` (the tutorial hello, HTTP trigger) and warm it;
#   2. with SMALL (10) functions deployed: daemon RSS, then wrk -c1 on `hot`
#      and on a 404 (a function that does not exist);
#   3. deploy up to N (1000) functions through the signed API (each with an
#      HTTP trigger, none ever called), and measure the same again.
#
#   bench/many_functions.sh                 # N=1000 SMALL=10 DUR1=5s
#   N=200 DUR1=3s bench/many_functions.sh   # quicker
#
# Knobs (env): NUBIS_BIN (default build/nubis), N, SMALL, DUR1, WARM (2s), PIN=1
# (daemon on CPU 1, wrk on CPU 0).  Targets (issue 4): daemon RSS <= 30 MB with
# 1,000 functions; routing cost flat (the ratios near 1.0).
set -uo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NUBIS=${NUBIS_BIN:-$ROOT/build/nubis}
PY=/usr/bin/python3
N=${N:-1000}; SMALL=${SMALL:-10}; DUR1=${DUR1:-5s}; WARM=${WARM:-2s}; PIN=${PIN:-1}
PAIR=${PAIR:-10000}

die() { echo "bench: $*" >&2; exit 1; }
[ -x "$NUBIS" ] || die "no nubis binary at $NUBIS (run make, or set NUBIS_BIN)"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then SRV_PIN=(taskset -c 1); CLI_PIN=(taskset -c 0)
else SRV_PIN=(); CLI_PIN=(); fi

TMP=$(mktemp -d /tmp/nubis-many.XXXXXX)
PIDS=()
cleanup() {
  local p i
  for p in "${PIDS[@]}"; do
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME: a daemon with its data in $TMP/NAME; sets PORT and NPID
start() {
  PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$TMP/$1/data"
  echo "== nubis ($1) on 127.0.0.1:$PORT ($NUBIS)" >&2
  setsid "${SRV_PIN[@]}" "$NUBIS" serve --listen "127.0.0.1:$PORT" --data-dir "$TMP/$1/data" \
    </dev/null >>"$TMP/$1/nubis.log" 2>&1 &
  NPID=$!
  PIDS+=("$NPID")
  local i
  for i in $(seq 200); do
    curl -s -o /dev/null -m 1 "http://127.0.0.1:$PORT/healthz" && return 0
    kill -0 "$NPID" 2>/dev/null || die "nubis exited: $(tail -c 400 "$TMP/$1/nubis.log")"
    sleep 0.1
  done
  die "nubis ($1) did not answer /healthz"
}

# deploy PORT DATA FROM TO: functions f<FROM>..f<TO-1> in service many (f0 is `hot`), signed FC requests
deploy() {
  "$PY" - "$1" "$2/credentials" "$3" "$4" <<'PY'
import base64, email.utils, hashlib, hmac, http.client, io, json, sys, zipfile
port, cred, lo, hi = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
env = dict(l.strip().split("=", 1) for l in open(cred) if "=" in l and not l.startswith("#"))
kid, secret = env["NUBIS_ACCESS_KEY_ID"], env["NUBIS_ACCESS_KEY_SECRET"]
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
def call(method, path, body, ctype="application/json"):
    date = email.utils.formatdate(usegmt=True)
    sts = "%s\n\n%s\n%s\n%s" % (method, ctype, date, path)
    sig = base64.b64encode(hmac.new(secret.encode(), sts.encode(), hashlib.sha256).digest()).decode()
    conn.request(method, path, body=body, headers={"Date": date, "Content-Type": ctype,
                 "Authorization": "FC %s:%s" % (kid, sig)})
    r = conn.getresponse(); data = r.read()
    if r.status not in (200, 201):
        sys.exit("%s %s: %s %s" % (method, path, r.status, data[:200]))
    return json.loads(data) if data else {}
zb = io.BytesIO()
with zipfile.ZipFile(zb, "w") as z:
    z.writestr("index.js", "exports.handler = (req, resp, ctx) => {\n"
               "  resp.setHeader('Content-Type', 'application/json');\n"
               "  resp.send(JSON.stringify({message: `Hello, ${req.queries.name}!`}));\n};\n")
checksum = call("POST", "/api/v1/code", zb.getvalue(), "application/zip")["checksum"]
call("PUT", "/api/v1/services/many", json.dumps({"serviceName": "many"}))
trig = json.dumps({"triggerName": "http", "triggerType": "http",
                   "triggerConfig": {"authType": "anonymous", "methods": ["GET"]}})
for i in range(lo, hi):
    name = "hot" if i == 0 else "f%d" % i
    call("PUT", "/api/v1/services/many/functions/" + name,
         json.dumps({"functionName": name, "runtime": "nodejs20", "handler": "index.handler",
                     "instanceConcurrency": 16, "code": {"checksum": checksum}}))
    call("PUT", "/api/v1/services/many/functions/%s/triggers/http" % name, trig)
PY
}

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
to_us() {
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) printf "%.0f", v+0; else if (v ~ /ms$/) printf "%.0f", v*1000;
                        else if (v ~ /s$/) printf "%.0f", v*1000000; else print "-" }'
}
c1() { # url out -> "rps p50us p99us"
  timeout 60 "${CLI_PIN[@]}" wrk -t1 -c1 -d"$WARM" "$1" >/dev/null 2>&1
  timeout 120 "${CLI_PIN[@]}" wrk -t1 -c1 -d"$DUR1" --latency "$1" >"$2" 2>&1
  echo "$(awk '/^Requests\/sec:/{printf "%.0f", $2}' "$2") $(to_us "$(awk '$1=="50%"{print $2}' "$2")") $(to_us "$(awk '$1=="99%"{print $2}' "$2")")"
}
declare -A RSS RH P50H P99H RM P50M P99M DEPLOY_S

# the daemon that stays at SMALL functions (the paired baseline)
start small
PORT_S=$PORT
deploy "$PORT_S" "$TMP/small/data" 0 "$SMALL" || die "deploying $SMALL functions failed"
HOT_S="http://127.0.0.1:$PORT_S/fn/many/hot/?name=bench"
MISS_S="http://127.0.0.1:$PORT_S/fn/many/nosuch/?name=bench"
[ "$(curl -s -m 10 "$HOT_S")" = '{"message":"Hello, bench!"}' ] || die "hot does not answer: $(curl -s "$HOT_S" | head -c 200)"

# the daemon that goes to N
start big
HOT="http://127.0.0.1:$PORT/fn/many/hot/?name=bench"
MISS="http://127.0.0.1:$PORT/fn/many/nosuch/?name=bench"
RSS[0]=$(rss_kb "$NPID")
measure_at() { # n
  local n=$1
  sleep 1
  RSS[$n]=$(rss_kb "$NPID")
  read -r RH[$n] P50H[$n] P99H[$n] < <(c1 "$HOT" "$TMP/hot-$n.txt")
  read -r RM[$n] P50M[$n] P99M[$n] < <(c1 "$MISS" "$TMP/miss-$n.txt")
  echo "   $n functions: RSS $((RSS[$n] / 1024)) MiB; hot c1 p50 ${P50H[$n]} µs; 404 c1 p50 ${P50M[$n]} µs" >&2
}

t0=$(date +%s.%N)
deploy "$PORT" "$TMP/big/data" 0 "$SMALL" || die "deploying $SMALL functions failed"
DEPLOY_S[$SMALL]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
[ "$(curl -s -m 10 "$HOT")" = '{"message":"Hello, bench!"}' ] || die "hot does not answer: $(curl -s "$HOT" | head -c 200)"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$MISS")" = 404 ] || die "nosuch does not answer 404"
measure_at "$SMALL"
echo "== deploying up to $N functions" >&2
t0=$(date +%s.%N)
deploy "$PORT" "$TMP/big/data" "$SMALL" "$N" || die "deploying $N functions failed"
DEPLOY_S[$N]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
INST=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^nubis_instances\{/{s+=$2} END{print s+0}')
measure_at "$N"

# routing, paired: the SMALL daemon's URL first (the baseline), the N daemon's second
PH= PM=
if [ "$PAIR" -gt 0 ]; then
  gcc -O2 -o "$TMP/c1pair" "$HERE/c1pair.c" -lhttp_parser || die "cannot build bench/c1pair.c"
  echo "== routing paired: $PAIR requests each" >&2
  PH=$(timeout 600 "${CLI_PIN[@]}" "$TMP/c1pair" -n "$PAIR" "$HOT_S" "$HOT") || die "c1pair failed"
  PM=$(timeout 600 "${CLI_PIN[@]}" "$TMP/c1pair" -s 404 -n "$PAIR" "$MISS_S" "$MISS") || die "c1pair failed"
fi
SP_PIDS=$(ps -o pid= --ppid "$NPID" | tr -s ' \n' ' ')

mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0 && a+0 == a) printf "%.2f", a/b; else print "-" }'; }
echo "## nubis with $N functions deployed, none warm but one ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo
echo "wrk -t1 -c1 for $DUR1 after a $WARM warm-up; pinning: $([ ${#SRV_PIN[@]} -gt 0 ] && echo 'daemon on CPU 1, wrk on CPU 0' || echo off)." \
     "Instances running at the end: $INST (the one warm function's)."
echo
echo "| functions | daemon RSS MiB | hot c1 req/s | hot c1 p50 µs | hot c1 p99 µs | 404 c1 req/s | 404 c1 p50 µs | 404 c1 p99 µs | deploy s |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
echo "| 0 | $(mib "${RSS[0]}") | | | | | | | |"
for n in "$SMALL" "$N"; do
  echo "| $n | $(mib "${RSS[$n]}") | ${RH[$n]} | ${P50H[$n]} | ${P99H[$n]} | ${RM[$n]} | ${P50M[$n]} | ${P99M[$n]} | ${DEPLOY_S[$n]} |"
done
echo
echo "- daemon RSS with $N functions: **$(mib "${RSS[$N]}") MiB** (target <= 30 MB; the daemon process only, its children: ${SP_PIDS:-none})"
echo "- routing, $N vs $SMALL functions, wrk rounds seconds apart: hot c1 p50 $(ratio "${P50H[$N]}" "${P50H[$SMALL]}")x, 404 c1 p50 $(ratio "${P50M[$N]}" "${P50M[$SMALL]}")x"
if [ -n "$PH" ]; then
  paired() { # c1pair output, what
    echo "- routing, paired (bench/c1pair.c, $PAIR requests each, blocks of 100 taking turns), $2:" \
         "$SMALL functions p50 $(awk '$2==1{print $4}' <<<"$1") µs, $N functions p50 $(awk '$2==2{print $4}' <<<"$1") µs," \
         "difference **$(awk '$2==2{print $NF}' <<<"$1") µs** (flat: ~0)"
  }
  paired "$PH" "hot"
  paired "$PM" "404"
fi
