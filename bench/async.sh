#!/usr/bin/env bash
# bench/async.sh: durable async enqueues over HTTP (wrk, c=16, signed POSTs
# with X-Fc-Invocation-Type: Async, each answered 202 only after its batch
# is fsync'd) next to a baseline of one SQLite transaction per insert
# (WAL, synchronous=FULL) on the same disk, in the same run; then the drain
# rate of the queue into a no-op Node function.  While enqueueing, the
# function is slow and runs one at a time (so a backlog builds and the
# enqueue numbers are not shared with running it); then it is replaced by
# a no-op and the backlog drains.
#
#   bench/async.sh               # DUR=10s, DRAIN=10s
# Knobs (env): NUBIS_BIN (default build/nubis), DUR, DRAIN, CONNS=16.
# Only 127.0.0.1 is bound; the daemon is stopped by the PID we started.
set -uo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NUBIS=${NUBIS_BIN:-$ROOT/build/nubis}
PY=/usr/bin/python3
DUR=${DUR:-10s}; DRAIN=${DRAIN:-10}; CONNS=${CONNS:-16}
die() { echo "bench: $*" >&2; exit 1; }
[ -x "$NUBIS" ] || die "no nubis binary at $NUBIS (run make, or set NUBIS_BIN)"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"

WORK=$(mktemp -d /tmp/nubis-bench-async.XXXXXX)
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
"$NUBIS" serve --listen 127.0.0.1:$PORT --data-dir "$WORK/data" >"$WORK/nubis.log" 2>&1 &
PID=$!
cleanup() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
for _ in $(seq 100); do curl -fs "$URL/healthz" >/dev/null && break; sleep 0.1; done
$PY "$HERE/async/helper.py" deploy "$URL" "$WORK/data" hold || die "deploy failed"
$PY "$HERE/async/helper.py" lua "$URL" "$WORK/data" "$WORK/enqueue.lua"

echo "== baseline: one SQLite transaction per insert (WAL, synchronous=FULL), 1 thread"
BASE=$($PY "$HERE/async/helper.py" baseline "$WORK" 5)
echo "baseline inserts/s: $BASE"

echo "== nubis: async enqueues over HTTP, c=$CONNS, $DUR (202 after fsync)"
wrk -t2 -c"$CONNS" -d"$DUR" --latency -s "$WORK/enqueue.lua" "$URL" | tee "$WORK/wrk.txt"
RATE=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
echo "nubis enqueues/s: $RATE  (baseline $BASE/s, x$($PY -c "print(round($RATE/max($BASE,1),1))"))"
grep -q "Non-2xx" "$WORK/wrk.txt" && echo "WARNING: some answers were not 202"

echo "== drain: the backlog into a no-op Node function (maxAsyncConcurrency 64), ${DRAIN}s window"
$PY "$HERE/async/helper.py" deploy "$URL" "$WORK/data" noop || die "deploy failed"
sleep 1
read -r DR LEFT < <($PY "$HERE/async/helper.py" drain "$WORK/data/nubis.db" "$DRAIN")
echo "drained invocations/s: $DR  (still queued: $LEFT)"
