#!/usr/bin/env bash
# The build steps of the daxmon image, run verbatim by the Dockerfile and by .ci/run, so that
# what CI proves is what the image does: install the Debian and npm dependencies, then build
# (TypeScript to dist/, the libbpf objects and loader to bpf/build/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npm run build
