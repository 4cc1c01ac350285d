#!/usr/bin/env bash
# bench/run.sh: hello-world over nubis's HTTP trigger next to a bare Node
# http.createServer running the same handler and a workerd module worker,
# measured with wrk in one run.
#
#   bench/run.sh                 # DUR=10s (c16), DUR1=5s (c1), WARM=2s
#   DUR=5s DUR1=3s bench/run.sh  # shorter
#
# Knobs (env): NUBIS_BIN (default build/nubis), DUR, DUR1, WARM, CONNS=16,
# PIN=1 (servers on CPU 1, wrk on CPU 0), NODE (default: node on PATH),
# WORKERD=1 (0 skips workerd; bench/workerd/setup.sh installs it into bench/.cache),
# ROUNDS=3 (interleaved rounds per server; the table shows medians),
# PAIR=20000 (requests per server for the paired c1 measurement; 0 skips it).
# Only 127.0.0.1 is bound; every server is stopped by the PID we started.
set -uo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NUBIS=${NUBIS_BIN:-$ROOT/build/nubis}
NODE=${NODE:-$(command -v node)}
PY=/usr/bin/python3
DUR=${DUR:-10s}; DUR1=${DUR1:-5s}; WARM=${WARM:-2s}; CONNS=${CONNS:-16}; PIN=${PIN:-1}
WORKERD=${WORKERD:-1}; PAIR=${PAIR:-20000}
QUERY='?name=bench'
EXPECT='{"message":"Hello, bench!"}'

. "$HERE/lib.sh"
[ -n "$NODE" ] || die "node not found"

# --- nubis, with the tutorial function deployed through the CLI
mkdir -p "$TMP/fn"
cat >"$TMP/fn/logic.js" <<'JS'
exports.sayHello = function (name) { return `Hello, ${name}!`; }
JS
cat >"$TMP/fn/index.js" <<'JS'
const logic = require('./logic');
exports.handler = (request, response, context) => {
  const { name } = request.queries;
  const message = logic.sayHello(name);
  response.setStatusCode(200);
  response.setHeader("Content-Type", "application/json");
  response.send(JSON.stringify({ message }));
}
JS
start_nubis myserverless nodejs20

# --- the baseline
BPORT=$(free_port)
echo "== node baseline on 127.0.0.1:$BPORT" >&2
start "$TMP/node.log" env PORT="$BPORT" "$NODE" "$HERE/node_baseline.js"
BURL="http://127.0.0.1:$BPORT/$QUERY"
wait_200 "$BURL" "$PID" || die "node baseline not ready: $(tail -c 400 "$TMP/node.log")"
CHECK[node]=$(check "$BURL")

# --- workerd (npm @cloudflare/workerd-linux-64), the same handler as a module worker
WBIN=
if [ "$WORKERD" = 1 ]; then
  WBIN=$("$HERE/workerd/setup.sh") || die "bench/workerd/setup.sh failed (WORKERD=0 skips workerd)"
  WPORT=$(free_port)
  echo "== workerd ($("$WBIN" --version 2>&1)) on 127.0.0.1:$WPORT" >&2
  start "$TMP/workerd.log" "$WBIN" serve "$HERE/workerd/workerd.capnp" --socket-addr "http=127.0.0.1:$WPORT"
  WURL="http://127.0.0.1:$WPORT/$QUERY"
  wait_200 "$WURL" "$PID" || die "workerd not ready: $(tail -c 400 "$TMP/workerd.log")"
  CHECK[workerd]=$(check "$WURL")
fi

# --- the measurements, interleaved round by round so that a slow spell of
# this VM hits every server alike; the table shows medians over the rounds.
# Servers not being measured sit idle.
for round in $(seq "$NROUNDS"); do
  measure nubis "$NURL"
  measure nubis1 "$NURL1"
  measure node "$BURL"
  [ -n "$WBIN" ] && measure workerd "$WURL"
done

# --- c1 once more, paired: bench/c1pair.c sends one request at a time and
# lets the servers take turns in blocks of 100, so the difference to bare
# Node is taken within moments this VM treats alike (see c1pair.c).
PAIRED=
if [ "$PAIR" -gt 0 ]; then
  gcc -O2 -o "$TMP/c1pair" "$HERE/c1pair.c" -lhttp_parser || die "cannot build bench/c1pair.c"
  echo "== c1 paired: $PAIR requests each" >&2
  PAIRED=$(timeout 600 "${CLI_PIN[@]}" "$TMP/c1pair" -n "$PAIR" "$BURL" "$NURL") || die "c1pair failed"
fi
stop_all

echo "## nubis vs bare Node: hello world over HTTP ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs)"
echo
echo "wrk -t1, c$CONNS for $DUR and c1 for $DUR1 after a $WARM warm-up, $NROUNDS interleaved rounds (medians);" \
     "pinning: $([ ${#SRV_PIN[@]} -gt 0 ] && echo 'servers (and their children) on CPU 1, wrk on CPU 0' || echo off)."
echo
echo "| server | c$CONNS req/s | c$CONNS p50 µs | c$CONNS p99 µs | c1 req/s | c1 p50 µs | c1 p99 µs | errors | response |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
row nubis "nubis, instanceConcurrency 16 (one instance, like the baseline)"
row nubis1 "nubis, instanceConcurrency 1 (FC's default: an instance per request in flight)"
row node "Node http.createServer"
[ -n "$WBIN" ] && row workerd "workerd (module worker)"
echo
echo "- nubis / node req/s at c$CONNS: **$(ratio nubis node)** (instanceConcurrency 16)"
[ -n "$WBIN" ] && echo "- nubis / workerd req/s at c$CONNS: **$(ratio nubis workerd)**"
echo "- p50 added by nubis at c1: **$(added nubis node) µs** (wrk, medians of the rounds)"
if [ -n "$PAIRED" ]; then
  echo "- c1 paired (bench/c1pair.c, $PAIR requests each, blocks of 100 taking turns): node p50" \
       "$(awk '$2==1{print $4}' <<<"$PAIRED") µs, nubis p50 $(awk '$2==2{print $4}' <<<"$PAIRED") µs," \
       "added **$(awk '$2==2{print $NF}' <<<"$PAIRED") µs** (median of the per-block differences)"
fi
