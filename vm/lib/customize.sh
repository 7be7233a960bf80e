#!/bin/sh
# mmdebstrap customize hook for the Berth guest: runs on the build host with the guest root as $1,
# after the Debian packages are installed. Environment from build.sh: REPO, WORK, DEB_ARCH,
# KERNEL_FLAVOUR, NODE_TGZ (the official Node.js build, from npm).
#
# - The kernel is not installed as a package: its postinst would pull initramfs-tools + udev and
#   build an 18 MB initrd we do not use. Its .deb is fetched with mmdebstrap's own apt config and
#   unpacked: vmlinuz goes to $WORK, and only the modules in vm/modules.txt (plus what they
#   depend on) stay in the image.
# - Node.js is the official build from npm's node-linux-<cpu> package (vm/node.json says why).
# - berthd and vm/rootfs/ are added by build.sh afterwards: this root is cached without them.
# - Anything a booted guest never reads is removed (host keys baked in by openssh-server's
#   postinst would also be shared by every user of the image: they go too).
set -eu
root=$1
apt_env="APT_CONFIG=$MMDEBSTRAP_APT_CONFIG"

# --- kernel -------------------------------------------------------------------------------------
kpkg=$(env "$apt_env" apt-cache depends "linux-image-$KERNEL_FLAVOUR" | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
[ -n "$kpkg" ] || { echo "customize: no kernel package behind linux-image-$KERNEL_FLAVOUR" >&2; exit 1; }
mkdir -p "$WORK/kernel"
(cd "$WORK/kernel" && env "$apt_env" apt-get download -q=2 "$kpkg")
kdeb=$(ls "$WORK"/kernel/*.deb)
dpkg-deb -f "$kdeb" Package Version | awk '{ print $2 }' | paste -sd' ' > "$WORK/kernel/package"
dpkg-deb -x "$kdeb" "$WORK/kernel/x"
kver=$(ls "$WORK/kernel/x/usr/lib/modules")
echo "$kver" > "$WORK/kernel/release"
cp "$WORK/kernel/x/boot/vmlinuz-$kver" "$WORK/vmlinuz"
mkdir -p "$root/usr/lib/modules"
cp -a "$WORK/kernel/x/usr/lib/modules/$kver" "$root/usr/lib/modules/"
chroot "$root" depmod -a "$kver"
# The closure of the whitelist, as paths relative to the modules dir; initramfs modules in load order.
grep -v '^#' "$REPO/vm/modules.txt" | sed 's/^initramfs: *//' | awk 'NF' > "$WORK/kernel/wanted"
: > "$WORK/kernel/keep"
: > "$WORK/kernel/initramfs"
for m in $(cat "$WORK/kernel/wanted"); do
  deps=$(chroot "$root" modprobe -S "$kver" --show-depends "$m") || { echo "customize: module $m not found" >&2; exit 1; }
  echo "$deps" | awk '$1 == "insmod" { print $2 }' | sed "s|^/usr/lib/modules/$kver/||; s|^/lib/modules/$kver/||" >> "$WORK/kernel/keep"
done
for m in $(sed -n 's/^initramfs: *//p' "$REPO/vm/modules.txt"); do
  chroot "$root" modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }' \
    | sed "s|^/usr/lib/modules/$kver/||; s|^/lib/modules/$kver/||" >> "$WORK/kernel/initramfs"
done
awk '!seen[$0]++' "$WORK/kernel/initramfs" | sed 's/\.xz$//' > "$WORK/kernel/initramfs.order"
sort -u "$WORK/kernel/keep" > "$WORK/kernel/keep.sorted"
(cd "$root/usr/lib/modules/$kver" && find kernel -name '*.ko*' | sort > "$WORK/kernel/all")
comm -23 "$WORK/kernel/all" "$WORK/kernel/keep.sorted" | (cd "$root/usr/lib/modules/$kver" && xargs rm -f)
find "$root/usr/lib/modules/$kver/kernel" -depth -type d -empty -delete
# Stored uncompressed: the squashfs compresses them about as well, and modprobe under emulation
# is much faster without unpacking xz.
find "$root/usr/lib/modules/$kver/kernel" -name '*.ko.xz' -exec xz -d {} +
chroot "$root" depmod -a "$kver"
echo "customize: kernel $kver, $(wc -l < "$WORK/kernel/keep.sorted") modules kept"

# --- Node.js: the official build (see vm/node.json), not Debian's --------------------------------
mkdir -p "$WORK/node"
tar -xzf "$NODE_TGZ" -C "$WORK/node" package/bin/node package/LICENSE
install -m 755 "$WORK/node/package/bin/node" "$root/usr/bin/node"
mkdir -p "$root/usr/share/doc/node"
cp "$WORK/node/package/LICENSE" "$root/usr/share/doc/node/copyright"

# --- prune --------------------------------------------------------------------------------------
rm -f "$root"/etc/ssh/ssh_host_* "$root/etc/machine-id" "$root/var/lib/dbus/machine-id"
rm -rf "$root"/usr/share/info/* "$root"/usr/share/lintian "$root"/usr/share/linda \
  "$root"/usr/share/bug "$root"/usr/share/menu "$root"/var/cache/* "$root"/var/log/* \
  "$root"/var/lib/dpkg/*-old "$root"/usr/lib/*-linux-gnu/gconv "$root"/usr/share/nodejs/corepack \
  "$root"/usr/share/doc-base "$root"/boot/* "$root"/root/.[!.]*
# Not "$root"/tmp/*: mmdebstrap keeps its apt config there until its own cleanup, which empties /tmp
# after it. Without that file its final `apt-get update` runs against the HOST's apt directories
# and wipes the build machine's package lists.
find "$root/var/lib/dpkg/info" -name '*.md5sums' -delete
find "$root/usr/lib/python3" "$root/usr/share" -name '__pycache__' -prune -exec rm -rf {} + 2>/dev/null || true
