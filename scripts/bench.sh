#!/usr/bin/env bash
# hastack's benchmark harness from a fresh clone: installs, builds, (as root) installs the lab tools,
# then runs every scenario. Pass --quick for the short run (< 3 minutes). Other arguments go to
# bench/run.mjs (see docs/performance.md). Without root the lab scenarios are reported as skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/env.sh
install_deps
build
install_lab_tools
exec node bench/run.mjs "$@"
