#!/usr/bin/env bash
# Installs the Debian packages nubis builds and tests with (DESIGN.md), if
# any is missing.  Idempotent; quick when everything is there.
set -euo pipefail
pkgs=(cmake pkg-config gcc make libuv1-dev libhttp-parser-dev libsqlite3-dev libjansson-dev
      libarchive-dev libssl-dev libseccomp-dev libyaml-dev libcurl4-openssl-dev libcmocka-dev
      python3-pytest python3-requests python3-flask nodejs curl clang-14 libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node may come from outside Debian (nodesource, nvm): accept any node >= 18 on PATH.
if command -v node >/dev/null 2>&1; then
    missing=("${missing[@]/nodejs/}")
fi
missing=(${missing[@]+"${missing[@]}"})
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
