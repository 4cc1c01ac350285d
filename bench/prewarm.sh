#!/usr/bin/env bash
# bench/prewarm.sh: cold start from a pre-warmed generic instance (first
# request after deploy, 10 KB of code) next to a fresh cold start
# (pool.prewarm 0), for Node.js and Python, in one run (bench/prewarm.py).
#
#   bench/prewarm.sh            # N=30 functions per runtime and mode
#   N=10 bench/prewarm.sh
#
# Knobs (env): NUBIS_BIN (default build/nubis), N, PAUSE (s between deploy
# and call, 0.3: the pool refills in the background).  Each daemon runs on
# a free 127.0.0.1 port with a temporary data dir and is stopped by its PID.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export NUBIS_BIN=${NUBIS_BIN:-$ROOT/build/nubis}
export NUBIS_RUNTIMES_DIR=${NUBIS_RUNTIMES_DIR:-$ROOT/runtimes}
[ -x "$NUBIS_BIN" ] || { echo "bench: no nubis binary at $NUBIS_BIN (run make, or set NUBIS_BIN)" >&2; exit 1; }
exec /usr/bin/python3 "$HERE/prewarm.py"
