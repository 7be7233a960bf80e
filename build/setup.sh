#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu machine (run as root):
# Debian packages the engine and its tests need, npm dependencies, and a build.
# Safe to run again: it only installs what is missing and rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "berth setup: run as root (the engine manages mounts, namespaces and cgroups)" >&2
    exit 1
  fi
}
need_root

# Engine runtime: overlayfs tools, xattrs for whiteouts, zstd/bzip2/xz for ADD's archives, runc/conmon for
# containers, iproute2 and nftables for networking, tini (its tini-static is Docker's docker-init, for --init);
# acl so `sudo berth desktop` can let the user's app open the socket.
ENGINE_PKGS=(attr zstd bzip2 xz-utils runc conmon iproute2 iptables nftables ca-certificates tini acl)
# Tests: a real registry, skopeo to push OCI layouts, htpasswd, openssl for the token server,
# Debian's docker-compose 1.29 (a real docker-py client), libbsd0 for the netcat the UDP test copies into an image,
# Debian's chromium for the desktop UI tests (playwright-core drives it), OpenSSH's server for the
# remote-engine tests, what builds and boots the Berth VM image (vm/build.sh, test/e2e-vm; busybox
# checks the initramfs it writes), and
# what runs docker-py's own test suite against berthd (test/conformance/docker-py, test/e2e-docker-py).
TEST_PKGS=(docker-registry skopeo apache2-utils openssl jq docker-compose libbsd0 chromium openssh-server openssh-client
  qemu-system-x86 qemu-utils mmdebstrap squashfs-tools bc xz-utils busybox
  python3-pytest python3-pytest-timeout python3-requests python3-websocket python3-packaging python3-paramiko)

PKGS=("${ENGINE_PKGS[@]}")
if [ "${1:-}" = "--with-tests" ]; then PKGS+=("${TEST_PKGS[@]}"); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "berth setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v node >/dev/null || { echo "berth setup: Node.js 20+ is required" >&2; exit 1; }
node -e 'const [M,m]=process.versions.node.split(".").map(Number); if (M<20||(M===20&&m<18)) { console.error("berth setup: Node.js >= 20.18 required, found "+process.versions.node); process.exit(1); }'

# npm dependencies from the lockfile, only when the lockfile changed since the last install.
stamp=node_modules/.berth-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "berth setup: npm ci"
  ELECTRON_SKIP_BINARY_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# Berth Desktop's native app: npm ci skips Electron's ~100 MB binary; fetch it where the machine
# can (never in CI; a short probe first, so offline this costs a moment), else say in one line that
# the app opens in web mode and how to fetch it later. Never fails the setup.
node build/desktop-install.mjs --setup

echo "berth setup: building"
npx tsc -b
node build/bundle-berthd.mjs
npx vite build --config renderer/vite.config.ts
