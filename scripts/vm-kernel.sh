#!/usr/bin/env bash
# vm-kernel.sh fetches the Debian kernel the VM test bed boots, extracts it
# into a cache directory and runs depmod on it. It is idempotent: when the
# newest available kernel is already extracted, it only prints the paths.
#
# The host kernel may lack ESP or loadable modules; Debian's generic amd64
# kernel (not -cloud-, not -rt-) ships esp4, esp6, xfrm_user, veth, 9p and
# overlay as modules, which is everything the test bed needs.
#
# Environment:
#   METRO_VM_CACHE   cache directory (default /var/cache/metro-vm)
#   METRO_VM_KERNEL  pin a kernel version, e.g. 6.1.0-57-amd64
#
# Output (shell-evaluable, one per line):
#   METRO_VM_KVER=6.1.0-57-amd64
#   METRO_VM_KERNEL_IMAGE=/var/cache/metro-vm/6.1.0-57-amd64/boot/vmlinuz-6.1.0-57-amd64
#   METRO_VM_MODULES=/var/cache/metro-vm/6.1.0-57-amd64/lib/modules
set -euo pipefail

cache=${METRO_VM_CACHE:-/var/cache/metro-vm}
mkdir -p "$cache"

log() { echo "vm-kernel: $*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in dpkg-deb depmod; do
	command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] ||
		die "$tool not found (install dpkg and kmod)"
done
PATH=$PATH:/usr/sbin:/sbin

# newest_available prints the newest linux-image-6.1.0-N-amd64 apt knows of.
newest_available() {
	apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null |
		awk '{print $1}' | sed 's/^linux-image-//' | sort -V | tail -n 1
}

# newest_cached prints the newest kernel already extracted in the cache.
newest_cached() {
	local d
	for d in "$cache"/6.1.0-*-amd64; do
		[ -f "$d/.complete" ] && basename "$d"
	done | sort -V | tail -n 1
}

kver=${METRO_VM_KERNEL:-}
if [ -z "$kver" ]; then
	kver=$(newest_available || true)
	if [ -z "$kver" ]; then
		kver=$(newest_cached || true)
		[ -n "$kver" ] || die "apt knows no linux-image-6.1.0-*-amd64 package and the cache $cache is empty (run apt-get update)"
		log "apt has no kernel package; using cached $kver"
	fi
fi
case $kver in
*-rt-* | *-cloud-*) die "kernel $kver is an -rt- or -cloud- flavour; the test bed needs the generic amd64 flavour" ;;
esac

dir=$cache/$kver
if [ ! -f "$dir/.complete" ]; then
	log "fetching linux-image-$kver"
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get -o APT::Sandbox::User=root download "linux-image-$kver" >&2) ||
		die "apt-get download linux-image-$kver failed"
	deb=$(ls "$tmp"/linux-image-"$kver"_*.deb)
	mkdir -p "$tmp/root"
	dpkg-deb -x "$deb" "$tmp/root"
	# Debian bookworm ships modules under /lib; newer releases under /usr/lib.
	if [ ! -d "$tmp/root/lib/modules/$kver" ] && [ -d "$tmp/root/usr/lib/modules/$kver" ]; then
		mkdir -p "$tmp/root/lib"
		mv "$tmp/root/usr/lib/modules" "$tmp/root/lib/modules"
	fi
	[ -f "$tmp/root/boot/vmlinuz-$kver" ] || die "package has no boot/vmlinuz-$kver"
	[ -d "$tmp/root/lib/modules/$kver" ] || die "package has no lib/modules/$kver"
	depmod -b "$tmp/root" "$kver"
	for m in esp4 esp6 xfrm_user veth 9p 9pnet_virtio overlay; do
		grep -Eq "/$m\.ko(\.[a-z]+)?:" "$tmp/root/lib/modules/$kver/modules.dep" ||
			grep -Eq "/$m\.ko" "$tmp/root/lib/modules/$kver/modules.builtin" ||
			die "kernel $kver has no module $m"
	done
	touch "$tmp/root/.complete"
	rm -rf "$dir"
	mv "$tmp/root" "$dir"
	ln -sfn "$kver" "$cache/current.tmp"
	mv -T "$cache/current.tmp" "$cache/current"
	log "extracted $kver into $dir"
	# Older kernels are superseded; each takes ~400 MB.
	for old in "$cache"/6.1.0-*-amd64; do
		[ "$old" = "$dir" ] || [ ! -d "$old" ] || { log "removing old kernel $(basename "$old")"; rm -rf "$old"; }
	done
elif [ "$(readlink "$cache/current" 2>/dev/null || true)" != "$kver" ]; then
	ln -sfn "$kver" "$cache/current.tmp"
	mv -T "$cache/current.tmp" "$cache/current"
fi

echo "METRO_VM_KVER=$kver"
echo "METRO_VM_KERNEL_IMAGE=$dir/boot/vmlinuz-$kver"
echo "METRO_VM_MODULES=$dir/lib/modules"
