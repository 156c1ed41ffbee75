# Shared by scripts/test.sh, scripts/demo.sh and scripts/bench.sh: how to get pnpm, dependencies and a build.
# pnpm is not assumed installed (and corepack cannot verify signatures on every machine): run the exact
# version pinned in package.json's packageManager through npx.
PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")
PNPM=(npx -y "pnpm@${PNPM_VERSION}")

log() { printf '\033[1m[hastack]\033[0m %s\n' "$*" >&2; }

install_deps() {
  log "installing dependencies (pnpm ${PNPM_VERSION}, frozen lockfile)"
  "${PNPM[@]}" install --frozen-lockfile --reporter=append-only >/dev/null
}

build() {
  log "building (TypeScript project references + native TAP addon)"
  "${PNPM[@]}" run --silent build
}

# Debian packages the lab tests use as real peers (kernel TCP/UDP tools, tshark, usrsctp examples).
LAB_PACKAGES=(iproute2 iptables iputils-ping util-linux curl wget socat ncat iperf3 wrk tcpdump tshark libusrsctp-examples procps)
install_lab_tools() {
  if [[ $(id -u) -ne 0 ]]; then
    log "not root: lab tools not installed; lab tests will be skipped and say why"
    return 0
  fi
  local missing=()
  for p in "${LAB_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]} > 0)); then
    log "installing lab tools: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
