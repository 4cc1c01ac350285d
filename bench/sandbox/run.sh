#!/usr/bin/env bash
# bench/sandbox/run.sh: what the sandbox costs (bench_sandbox.c), each number
# next to its baseline from the same run.
#
#   bench/sandbox/run.sh              # N_TRUE=200 sandboxed /bin/true, N_COLD=20 cold starts
#   N_TRUE=50 N_COLD=5 bench/sandbox/run.sh
#   MEM_MB=128 bench/sandbox/run.sh  # the instance's memorySize (and so its CPU weight)
#
# Builds bench_sandbox against the static libraries of BUILD_DIR (default
# build/, a release build; `make` first) and runs it on the example handler
# (examples/hello).  Needs root, like `nubis serve`.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=${BUILD_DIR:-$ROOT/build}
N_TRUE=${N_TRUE:-200}
N_COLD=${N_COLD:-20}
MEM_MB=${MEM_MB:-1024}
for lib in runtime sandbox base; do
  [ -f "$BUILD/libnb_$lib.a" ] || { echo "bench: no $BUILD/libnb_$lib.a (run make, or set BUILD_DIR)" >&2; exit 1; }
done
OUT=$(mktemp -d /tmp/nubis-bench-sandbox.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
cc -O2 -D_GNU_SOURCE -I"$ROOT/src" "$HERE/bench_sandbox.c" \
  "$BUILD/libnb_runtime.a" "$BUILD/libnb_sandbox.a" "$BUILD/libnb_base.a" \
  $(pkg-config --libs libuv jansson libseccomp libcrypto) -lpthread -o "$OUT/bench_sandbox"
cd "$OUT"
"$OUT/bench_sandbox" "$ROOT/runtimes" "$ROOT/examples/hello" "$HERE/load_handler.js" "$N_TRUE" "$N_COLD" "$MEM_MB"
