#!/bin/busybox sh
# metro vmtest stage 1: /init of the initramfs. Loads the 9p, virtio and
# overlay modules, mounts the host root (read-only 9p) under a tmpfs overlay
# and switches into it, running stage 2 as PID 1.
export PATH=/bin
/bin/busybox --install -s /bin

fail() {
	echo "metro-vm: FATAL: $*"
	sync
	poweroff -f
	sleep 60
}

mkdir -p /proc /sys /dev /lower /rw /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "metro-vm: initramfs up"

while read -r m; do
	[ -n "$m" ] || continue
	insmod "/modules/$m" || fail "insmod $m failed"
done </modules.order

# Virtio devices are probed when virtio_pci loads; give them a moment.
i=0
until mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /lower 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || fail "cannot mount the host root (9p tag hostroot)"
	sleep 0.1
done
mount -t tmpfs -o mode=0755 rw /rw || fail "cannot mount tmpfs for the overlay"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "cannot mount the overlay root"

mkdir -p /newroot/.metro-vm/out
cp /bin/busybox /newroot/.metro-vm/busybox || fail "cannot copy busybox into the new root"
cp /stage2 /newroot/.metro-vm/stage2 || fail "cannot copy stage2 into the new root"
mount --move /proc /newroot/proc || fail "cannot move /proc"
mount --move /sys /newroot/sys || fail "cannot move /sys"
mount --move /dev /newroot/dev || fail "cannot move /dev"
exec switch_root /newroot /.metro-vm/busybox sh /.metro-vm/stage2
fail "switch_root failed"
