#!/usr/bin/env bash
# `make run`: starts nubis in the foreground on 127.0.0.1:9000 (NUBIS_LISTEN),
# deploys examples/hello once it answers, and prints how to call it.
# Ctrl-C stops it gracefully.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/nubis
listen=${NUBIS_LISTEN:-127.0.0.1:9000}
data_dir=${NUBIS_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/nubis}
export NUBIS_DATA_DIR=$data_dir
# The CLI reads the endpoint and credentials from the data dir.
unset NUBIS_URL NUBIS_ACCESS_KEY_ID NUBIS_ACCESS_KEY_SECRET

"$bin" serve --listen "$listen" --data-dir "$data_dir" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM

for _ in $(seq 100); do
    if curl -fsS -o /dev/null "http://$listen/healthz" 2>/dev/null; then break; fi
    if ! kill -0 $pid 2>/dev/null; then echo "nubis exited during start-up" >&2; exit 1; fi
    sleep 0.1
done
"$bin" deploy "$here/examples/hello"
cat <<MSG

nubis is running on http://$listen (data dir $data_dir). Try:

  curl 'http://$listen/2016-08-15/proxy/demo.LATEST/hello/?name=Serverless'
  $bin list
  $bin logs demo/hello

Ctrl-C stops it.
MSG
wait $pid
