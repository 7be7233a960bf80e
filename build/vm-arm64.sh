#!/usr/bin/env bash
# The arm64 Berth VM, built and booted on this x86_64 machine (test/e2e-vm-arm64.test.ts), when it
# needs checking: when the image recipe under vm/ changed since it was last verified
# (build/vm-arm64.verified holds that recipe's hash), or when BERTH_VM_ARM64=1 asks for it.
#
# Why not on every CI run: a cold arm64 build takes 10-12 minutes here (mmdebstrap runs every arm64
# maintainer script under qemu-user) and its TCG boot 1-2 more; the x86_64 image, built and booted
# on every run, covers the engine and the launcher. The arm64-specific parts are the recipe (vm/)
# and attach without the native addon, which test/vm-seqpacket-bridge.test.ts covers on x86_64.
#
#   bash build/vm-arm64.sh            check, build and test if needed
#   bash build/vm-arm64.sh --record   the same, then record the recipe as verified (commit the stamp)
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=build/vm-arm64.verified
recipe=$(find vm \( -path vm/out -o -path vm/host \) -prune -o -type f ! -name '*.md' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-32)
verified=$(cat "$stamp" 2> /dev/null || true)
if [ "${BERTH_VM_ARM64:-}" != 1 ] && [ "$verified" = "$recipe" ]; then
  echo "berth arm64 VM: recipe $recipe verified already; skipping (BERTH_VM_ARM64=1 runs it anyway)"
  exit 0
fi
echo "berth arm64 VM: recipe $recipe (verified: ${verified:-none}): building and booting it"

# Foreign-architecture builds: qemu-user through binfmt_misc, arch-test for mmdebstrap; the arm64
# guest boots in qemu-system-aarch64; the test image's busybox comes from Debian's arm64 package.
pkgs=(qemu-system-arm qemu-user-static binfmt-support arch-test)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep -q "install ok installed" || missing+=("$p"); done
if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64; missing+=(update); fi
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  [ "${missing[*]}" = update ] || apt-get install -y -qq --no-install-recommends "${pkgs[@]}" > /dev/null
fi
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64

start=$(date +%s)
bash vm/build.sh --arch aarch64
echo "berth arm64 VM: image ready after $(( $(date +%s) - start )) s"
BERTH_VM_ARM64=1 node build/run-tests.mjs e2e-vm-arm64
echo "berth arm64 VM: built and booted in $(( $(date +%s) - start )) s"
if [ "${1:-}" = --record ]; then
  echo "$recipe" > "$stamp"
  echo "berth arm64 VM: recorded $recipe in $stamp"
fi
