#!/usr/bin/env bash
# Installs everything daxmon needs on a Debian host: the Debian packages listed in
# scripts/apt-packages.txt, then the npm packages (npm ci). Used by .ci/run and the Dockerfile, so the
# two cannot drift. Idempotent; needs root for apt-get (skipped with DAXMON_SKIP_APT=1).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
if [[ "${DAXMON_SKIP_APT:-0}" != 1 ]]; then
  mapfile -t pkgs < <(grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$')
  missing=()
  for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  if ((${#missing[@]})); then
    echo "install-deps: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi
npm ci --no-audit --no-fund
