#!/usr/bin/env bash
# hastack's main demo, from a fresh clone, no root needed: installs, builds, runs.
# Extra arguments go to the demo (see README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/env.sh
install_deps
build
exec node examples/demo/dist/demo.js "$@"
