#!/usr/bin/env bash
# hastack's main demo, from a fresh clone, no root needed: installs, builds, then runs the failover
# demo: a client downloads 256 MiB from a virtual IP on an in-memory network, the primary crashes at a
# random point, the backup takes the TCP connection over and the download completes (SHA-256 checked).
# Extra arguments go to the demo (--size 64MiB, --seed N, --connections N, --clock real, --tap, ...;
# see docs/ha.md). The older two-stack ping/UDP demo is `node examples/demo/dist/demo.js`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/env.sh
install_deps
build
exec node examples/failover-demo/dist/demo.js "$@"
