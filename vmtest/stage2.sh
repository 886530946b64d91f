# metro vmtest stage 2: PID 1 inside the overlay root (the host's file
# system). Mounts the writable results share, loads the IPsec modules, runs
# the job, records its exit code and powers off.
bb=/.metro-vm/busybox
out=/.metro-vm/out
ctl=$out/.metro-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
export TERM=dumb

fail() {
	echo "metro-vm: FATAL: $*"
	[ -d "$ctl" ] && echo "$*" >"$ctl/fatal"
	$bb sync
	$bb poweroff -f
	$bb sleep 60
}

$bb mount -t tmpfs -o mode=0755,nosuid,nodev run /run || fail "cannot mount /run"
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
$bb mount -t tmpfs -o mode=1777 shm /dev/shm
$bb mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results "$out" ||
	fail "cannot mount the results share (9p tag results)"
[ -f "$ctl/setup.env" ] || fail "$ctl/setup.env is missing"
. "$ctl/setup.env"
if [ "$METRO_VM_TMPFS_TMP" = 1 ]; then
	$bb mount -t tmpfs -o mode=1777,nosuid,nodev tmp /tmp || fail "cannot mount /tmp"
fi

$bb mkdir -p /lib/modules || fail "cannot create /lib/modules"
$bb mount --bind "$METRO_VM_MODULES_DIR" /lib/modules || fail "cannot bind $METRO_VM_MODULES_DIR onto /lib/modules"
[ "$($bb uname -r)" = "$METRO_VM_KVER" ] || fail "booted kernel $($bb uname -r), want $METRO_VM_KVER"

modprobe="$bb modprobe"
command -v modprobe >/dev/null 2>&1 && modprobe=modprobe
for m in $METRO_VM_REQUIRED_MODULES; do
	$modprobe "$m" || fail "required kernel module $m failed to load"
done
for m in $METRO_VM_OPTIONAL_MODULES; do
	$modprobe "$m" 2>/dev/null || echo "metro-vm: warning: optional kernel module $m not loaded"
done

$bb ip link set lo up || fail "cannot bring up lo"
$bb hostname metro-vm
$bb mkdir -p "$METRO_VM_RESULTS" || fail "cannot create $METRO_VM_RESULTS"
$bb mount --bind "$out" "$METRO_VM_RESULTS" || fail "cannot bind the results share onto $METRO_VM_RESULTS"

echo "metro-vm: ready (kernel $($bb uname -r))"
(
	/bin/sh "$ctl/job.sh" </dev/null
	echo $? >"$ctl/exit"
) 2>&1 | $bb tee "$ctl/output.log"
echo "metro-vm: exit $($bb cat "$ctl/exit" 2>/dev/null || echo '?')"
$bb sync
$bb umount "$METRO_VM_RESULTS" 2>/dev/null
$bb umount "$out" 2>/dev/null
$bb poweroff -f
$bb sleep 60
