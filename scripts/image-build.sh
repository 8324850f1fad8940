#!/usr/bin/env bash
# The build steps of the daxmon image, run verbatim by the Dockerfile and by .ci/run, so that
# what CI proves is what the image does: install the Debian and npm dependencies, then build
# the daemon only (TypeScript to dist/, the libbpf objects and loader to bpf/build/). The VM lab
# (lab/, package @daxmon/lab) is not built for a DAX host: `npm run lab` builds it in a checkout,
# and the Dockerfile leaves it out of the image (.dockerignore).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build
