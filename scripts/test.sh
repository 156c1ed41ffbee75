#!/usr/bin/env bash
# The whole hastack test suite, from a fresh clone: installs what it needs, builds, then runs the unit
# layers (wire, engine, netsim, fuzz) and the lab layer (real TAP devices in network namespaces against
# the Linux kernel's stack; needs root and /dev/net/tun, otherwise each lab test says why it skipped).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/env.sh

install_lab_tools
install_deps
build

mkdir -p .test-results
rm -f .test-results/*.json
status=0
log "unit tests"
"${PNPM[@]}" exec vitest run --project unit --reporter=default --reporter=json --outputFile.json=.test-results/unit.json || status=1
log "lab tests"
"${PNPM[@]}" exec vitest run --project lab --reporter=default --reporter=json --outputFile.json=.test-results/lab.json || status=1
node scripts/test-summary.mjs .test-results/unit.json .test-results/lab.json || status=1
exit $status
