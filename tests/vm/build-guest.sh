#!/bin/sh
# tests/vm/build-guest.sh OUTDIR: the tiny test guest, from Debian packages
# only (scripts/deps.sh --vm installs them):
#   OUTDIR/vmlinuz     the kernel of linux-image-amd64's dependency
#   OUTDIR/initrd.cpio busybox-static, the kernel's virtio/9p/virtio-net
#                      modules (uncompressed .ko in Debian) and tests/vm/init,
#                      packed with busybox's own cpio (newc)
# Takes well under a second; nothing is installed or changed outside OUTDIR.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-guest.sh OUTDIR}
busybox=/bin/busybox

# linux-image-amd64 depends on the current linux-image-VERSION package.
pkg=$(dpkg-query -W -f '${Depends}' linux-image-amd64 2>/dev/null | sed 's/[ ,(].*//')
ver=${pkg#linux-image-}
case "$ver" in
"" | "$pkg") echo "build-guest.sh: linux-image-amd64 is not installed (scripts/deps.sh --vm)" >&2; exit 1 ;;
esac
kernel=/boot/vmlinuz-$ver
mods=/lib/modules/$ver/kernel
[ -r "$kernel" ] || { echo "build-guest.sh: no $kernel" >&2; exit 1; }
"$busybox" --list | grep -qx cpio || { echo "build-guest.sh: $busybox has no cpio (busybox-static)" >&2; exit 1; }

mkdir -p "$out"
root=$out/root
rm -rf "$root"
mkdir -p "$root/bin" "$root/lib/modules" "$root/etc"
cp "$busybox" "$root/bin/busybox"
cp "$here/init" "$root/init"
cp "$here/udhcpc.script" "$root/etc/udhcpc.script"
chmod 0755 "$root/init" "$root/etc/udhcpc.script"
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
	drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci fs/netfs/netfs fs/fscache/fscache \
	net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p net/core/failover drivers/net/net_failover \
	drivers/net/virtio_net; do
	f=$mods/$m.ko
	[ -f "$f" ] || { echo "build-guest.sh: no module $f (Debian ships them uncompressed)" >&2; exit 1; }
	cp "$f" "$root/lib/modules/"
done
cp "$kernel" "$out/vmlinuz"
(cd "$root" && find . -mindepth 1 | sed "s|^\./||" | "$busybox" cpio -o -H newc 2>/dev/null) >"$out/initrd.cpio.tmp"
mv "$out/initrd.cpio.tmp" "$out/initrd.cpio"
rm -rf "$root"
echo "guest: kernel $ver, initramfs $(wc -c <"$out/initrd.cpio") bytes"
