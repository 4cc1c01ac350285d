#!/usr/bin/env bash
# bench/workerd/setup.sh: installs the pinned workerd (npm @cloudflare/workerd-linux-64,
# see package.json) into bench/.cache/workerd (git-ignored); quick when done before.
# Prints the workerd binary's path on stdout.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${WORKERD_CACHE:-$HERE/../.cache/workerd}
mkdir -p "$CACHE"
stamp=$CACHE/.stamp
want=$(sha256sum "$HERE/package.json" | cut -d' ' -f1)
if [ ! -d "$CACHE/node_modules" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "workerd: npm install into $CACHE" >&2
  cp "$HERE/package.json" "$CACHE/package.json"
  (cd "$CACHE" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" >"$stamp"
fi
bin=$CACHE/node_modules/@cloudflare/workerd-linux-64/bin/workerd
[ -x "$bin" ] || { echo "workerd: no binary at $bin" >&2; exit 1; }
echo "$bin"
