#!/bin/bash
# Builds the Berth guest image: a Debian trixie root with berthd, booted by a tiny initramfs.
#
#   vm/build.sh [--arch x86_64|aarch64] [--out DIR] [--print-version]   (as root; default DIR vm/out/<arch>)
#
# Outputs in DIR: vmlinuz, initrd.img, rootfs.img (squashfs), data.qcow2 (the blank data disk) and
# manifest.json (see vm/README.md). --print-version prints the input hash and builds nothing.
# Everything comes from Debian packages (deb.debian.org, or $BERTH_VM_MIRROR) plus the berthd
# bundle from this checkout. The result is cached by the hash of its inputs - this recipe (vm/),
# the bundle's files, package-lock.json and the architecture - in
# ${BERTH_VM_CACHE:-/var/cache/berth/vm}/<hash>/; a cache hit takes seconds.
#
# aarch64 is the same recipe for arm64. Built on an x86_64 host it needs qemu-user-static with
# binfmt_misc registered and arch-test (mmdebstrap runs the arm64 maintainer scripts, depmod
# and modprobe under emulation).
set -euo pipefail

ARCH=x86_64
OUT=
PRINT_VERSION=0
while [ $# -gt 0 ]; do
  case $1 in
    --arch) ARCH=${2:?--arch needs a value}; shift 2 ;;
    --out) OUT=${2:?--out needs a value}; shift 2 ;;
    --print-version) PRINT_VERSION=1; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case $ARCH in
  x86_64) DEB_ARCH=amd64 CONSOLE=ttyS0 ;;
  aarch64) DEB_ARCH=arm64 CONSOLE=ttyAMA0 ;;
  *) echo "build.sh: --arch must be x86_64 or aarch64" >&2; exit 2 ;;
esac
# linux-image-cloud-* would be smaller but has no 9p (CONFIG_NET_9P is not set), which the
# shared folders need; the generic flavour is pruned to vm/modules.txt instead.
KERNEL_FLAVOUR=$DEB_ARCH
SUITE=trixie
MIRROR=${BERTH_VM_MIRROR:-http://deb.debian.org/debian}
CACHE=${BERTH_VM_CACHE:-/var/cache/berth/vm}
# One fixed timestamp for every file, so identical inputs give identical images.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$REPO/vm/out/$ARCH}
START=$(date +%s.%N)
stage() { printf '==> [%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $START" | bc)" "$*"; }
die() { echo "build.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap builds a root filesystem with its real owners)"
for tool in mmdebstrap mksquashfs node npx npm gzip xz bc qemu-img mkfs.ext4 debugfs ssh-keygen; do
  command -v "$tool" > /dev/null || die "$tool is required"
done

WORK=$(mktemp -d /var/tmp/berth-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

stage "compile (tsc -b)"
(cd "$REPO" && npx --no-install tsc -b) || die "tsc -b failed"

stage "bundle berthd for $ARCH"
BUNDLE=$WORK/bundle
node "$REPO/vm/lib/bundle.mjs" "$REPO" "$ARCH" "$BUNDLE"

stage "hash inputs"
# The base (Debian root, kernel, Node) depends on the package lists, the module list, the hook and
# the Node pin only: it is cached apart, so a change to berthd or the boot scripts rebuilds in
# about a minute instead of running mmdebstrap again (ten minutes for arm64 under emulation).
BASE_INPUTS="vm/packages.txt vm/modules.txt vm/lib/customize.sh vm/node.json"
BASE_HASH=$(
  {
    echo "arch $ARCH suite $SUITE"
    (cd "$REPO" && sha256sum $BASE_INPUTS)
  } | sha256sum | cut -c1-32
)
# The whole image: every file under vm/ except its outputs, docs and the host-side launcher
# (vm/host); modes count (exec bits). Then the bundle and the lockfile.
HASH=$(
  {
    echo "arch $ARCH base $BASE_HASH"
    (cd "$REPO" && find vm \( -path vm/out -o -path vm/host \) -prune -o -type f ! -name '*.md' -printf '%m %p\n' | LC_ALL=C sort)
    (cd "$REPO" && find vm \( -path vm/out -o -path vm/host \) -prune -o -type f ! -name '*.md' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    (cd "$BUNDLE" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    (cd "$REPO" && sha256sum package-lock.json)
  } | sha256sum | cut -c1-32
)
echo "version $HASH (base $BASE_HASH)"
[ "$PRINT_VERSION" = 1 ] && exit 0

install_outputs() {
  mkdir -p "$OUT"
  for f in vmlinuz initrd.img rootfs.img data.qcow2 manifest.json; do
    rm -f "$OUT/$f"
    ln "$1/$f" "$OUT/$f" 2> /dev/null || cp "$1/$f" "$OUT/$f"
  done
}

if [ -f "$CACHE/$HASH/manifest.json" ]; then
  stage "cached: $CACHE/$HASH"
  install_outputs "$CACHE/$HASH"
  stage "done: $OUT"
  exit 0
fi

BASE=$CACHE/base/$ARCH-$BASE_HASH
if [ ! -f "$BASE/root.tar" ]; then
  stage "Node.js $(node -p "require('$REPO/vm/node.json').version") for $ARCH (npm)"
  NODE_TGZ=$(node "$REPO/vm/lib/fetch-node.mjs" "$REPO/vm/node.json" "$ARCH" "$CACHE/dl")

  stage "root filesystem (mmdebstrap $SUITE/$DEB_ARCH)"
  export REPO WORK DEB_ARCH KERNEL_FLAVOUR NODE_TGZ
  mmdebstrap --quiet --variant=essential --architectures="$DEB_ARCH" \
    --include="$(grep -v '^#' "$REPO/vm/packages.txt" | awk 'NF' | paste -sd,)" \
    --aptopt='APT::Install-Recommends "false"' --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook="$REPO/vm/lib/customize.sh" \
    "$SUITE" "$WORK/root" "$MIRROR"
  chroot "$WORK/root" dpkg-query -W -f '${Package}\t${Version}\n' > "$WORK/kernel/versions"
  echo "node $(node -p "require('$REPO/vm/node.json').version")" >> "$WORK/kernel/versions"

  stage "store base in cache $BASE"
  mkdir -p "$CACHE/base"
  rm -rf "$BASE.tmp.$$"
  mkdir -p "$BASE.tmp.$$"
  tar --numeric-owner --xattrs -C "$WORK/root" -cf "$BASE.tmp.$$/root.tar" .
  cp "$WORK/vmlinuz" "$BASE.tmp.$$/vmlinuz"
  cp "$WORK/kernel/release" "$WORK/kernel/package" "$WORK/kernel/initramfs.order" "$WORK/kernel/versions" "$BASE.tmp.$$/"
  rm -rf "$BASE"
  mv -T "$BASE.tmp.$$" "$BASE"
else
  stage "base from cache $BASE"
  mkdir -p "$WORK/root"
  tar --numeric-owner --xattrs -C "$WORK/root" -xpf "$BASE/root.tar"
fi
mkdir -p "$WORK/kernel"
cp "$BASE/vmlinuz" "$WORK/vmlinuz"
cp "$BASE/release" "$BASE/package" "$BASE/initramfs.order" "$BASE/versions" "$WORK/kernel/"
cp "$WORK/kernel/versions" "$WORK/versions"

stage "berthd and the image's own files"
node "$REPO/vm/lib/unsign-modules.mjs" "$WORK/root/usr/lib/modules"
mkdir -p "$WORK/root/opt"
rm -rf "$WORK/root/opt/berth"
cp -a "$BUNDLE" "$WORK/root/opt/berth"
cp -a "$REPO/vm/rootfs/." "$WORK/root/"
chown -R 0:0 "$WORK/root/opt/berth" "$WORK/root/usr/lib/berth"
# The guest no longer checks sshd's configuration at every boot (an sshd exec costs a fraction of
# a second under emulation): it is checked here, once, with a throwaway host key.
mkdir -p "$WORK/root/run/sshd" "$WORK/root/mnt/data/ssh"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/root/mnt/data/ssh/ssh_host_ed25519_key" > /dev/null
chroot "$WORK/root" /usr/sbin/sshd -t -f /etc/ssh/sshd_config || die "vm/rootfs/etc/ssh/sshd_config is invalid"
rm -rf "$WORK/root/mnt/data" "$WORK/root/run/sshd"

stage "initramfs"
KVER=$(cat "$WORK/kernel/release")
INITRAMFS=$WORK/initramfs
mkdir -p "$INITRAMFS"/{bin,dev,proc,sys,lib/modules}
cp "$WORK/root/usr/bin/busybox" "$INITRAMFS/bin/busybox"
install -m 755 "$REPO/vm/initramfs/init" "$INITRAMFS/init"
# busybox insmod takes plain .ko files; the archive is compressed as a whole anyway.
: > "$INITRAMFS/lib/modules/load"
while read -r ko; do
  name=$(basename "$ko" | sed 's/\.ko\.xz$/.ko/; s/\.ko\.zst$/.ko/')
  case $ko in
    *.xz) xz -dc "$WORK/root/usr/lib/modules/$KVER/$ko" > "$INITRAMFS/lib/modules/$name" ;;
    *.zst) zstd -qdc "$WORK/root/usr/lib/modules/$KVER/$ko" > "$INITRAMFS/lib/modules/$name" ;;
    *) cp "$WORK/root/usr/lib/modules/$KVER/$ko" "$INITRAMFS/lib/modules/$name" ;;
  esac
  echo "$name" >> "$INITRAMFS/lib/modules/load"
done < "$WORK/kernel/initramfs.order"
mkdir -p "$WORK/out"
node "$REPO/vm/lib/cpio.mjs" "$INITRAMFS" "$SOURCE_DATE_EPOCH" | gzip -9 -n > "$WORK/out/initrd.img"
cp "$WORK/vmlinuz" "$WORK/out/vmlinuz"

stage "squashfs"
# lz4 in 128 KiB blocks rather than zstd in 1 MiB ones: about 30 % bigger, but under an emulated CPU
# decompression is what a boot waits for (reading Node's 100 MB binary took 16 s with zstd), and
# small blocks decompress less of what is not read.
# (mksquashfs refuses SOURCE_DATE_EPOCH together with the explicit times below.)
env -u SOURCE_DATE_EPOCH mksquashfs "$WORK/root" "$WORK/out/rootfs.img" -noappend -quiet -no-progress \
  -comp lz4 -Xhc -b 128K \
  -mkfs-time "$SOURCE_DATE_EPOCH" -all-time "$SOURCE_DATE_EPOCH" > /dev/null

stage "data disk"
# The blank data disk every VM starts from: ext4 made here, once, instead of mkfs.ext4 in the guest
# on its first boot (seconds under emulation). Sized at the default disk (the launcher grows it
# online for bigger ones; smaller disks start blank and the guest makes their filesystem). Fixed
# UUID, hash seed and time so identical inputs give an identical file; lazy init keeps it sparse.
DATA_GIB=64
truncate -s "${DATA_GIB}G" "$WORK/data.raw"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -F -L berth-data -m 0 -U 6c3b1f0e-8a55-4c1e-9d1a-5e2f0b7c9a11 \
  -E lazy_itable_init=1,lazy_journal_init=1,nodiscard,hash_seed=2f6b0d3e-1c4a-4b8e-a7d2-9e5c1f3b8a60 "$WORK/data.raw"
# The guest runs resize2fs when the disk's size differs from the one recorded here: at the
# template's own size, the first boot has nothing to resize.
echo $((DATA_GIB * 2 * 1024 * 1024)) > "$WORK/resized"
E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH debugfs -w -R "write $WORK/resized .berth-resized" "$WORK/data.raw" > /dev/null 2>&1 || die "debugfs could not write to the data disk template"
qemu-img convert -c -O qcow2 "$WORK/data.raw" "$WORK/out/data.qcow2"
rm -f "$WORK/data.raw"

stage "manifest"
ARCH=$ARCH HASH=$HASH CONSOLE=$CONSOLE DATA_GIB=$DATA_GIB KERNEL_PACKAGE="$(cat "$WORK/kernel/package")" \
  node - "$WORK/out" "$WORK/versions" "$REPO/vm/packages.txt" <<'EOF'
const fs = require('node:fs');
const [out, versionsFile, packagesFile] = process.argv.slice(2);
const versions = new Map(fs.readFileSync(versionsFile, 'utf8').trim().split('\n').map((l) => l.split(/\t| /)));
const wanted = fs.readFileSync(packagesFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
const packages = {};
const [kernelName, kernelVersion] = process.env.KERNEL_PACKAGE.split(' ');
packages[kernelName] = kernelVersion;
for (const p of wanted) packages[p] = versions.get(p);
packages['node (official build, npm)'] = versions.get('node');
const files = { kernel: 'vmlinuz', initrd: 'initrd.img', rootfs: 'rootfs.img' };
const sizes = Object.fromEntries(Object.values(files).map((f) => [f, fs.statSync(`${out}/${f}`).size]));
const manifest = {
  arch: process.env.ARCH,
  version: process.env.HASH,
  ...files,
  console: process.env.CONSOLE,
  sizes,
  compressedBytes: Object.values(sizes).reduce((a, b) => a + b, 0),
  dataDisk: { file: 'data.qcow2', sizeGiB: Number(process.env.DATA_GIB), bytes: fs.statSync(`${out}/data.qcow2`).size },
  packages,
};
fs.writeFileSync(`${out}/manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
EOF

stage "store in cache $CACHE/$HASH"
mkdir -p "$CACHE"
rm -rf "$CACHE/$HASH.tmp.$$"
cp -a "$WORK/out" "$CACHE/$HASH.tmp.$$"
mv -T "$CACHE/$HASH.tmp.$$" "$CACHE/$HASH" 2> /dev/null || rm -rf "$CACHE/$HASH.tmp.$$"
install_outputs "$CACHE/$HASH"
stage "done: $OUT ($(du -cb "$OUT"/{vmlinuz,initrd.img,rootfs.img} | tail -1 | cut -f1) bytes)"
