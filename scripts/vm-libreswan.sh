#!/usr/bin/env bash
# vm-libreswan.sh installs what the interop tests (e2e/interop*_test.go) need
# besides strongSwan: Libreswan's library dependencies through apt, and the
# libreswan package itself extracted into a cache directory. Libreswan and
# strongSwan conflict as Debian packages, so libreswan is never installed:
# the tests copy the extracted usr/ over the VM's writable overlay root.
# Idempotent: an extracted package with a .complete marker is kept.
#
# Environment:
#   METRO_VM_CACHE   cache directory (default /var/cache/metro-vm)
#
# Output (shell-evaluable):
#   METRO_LIBRESWAN=/var/cache/metro-vm/libreswan/4.10-2+deb12u1
set -euo pipefail

cache=${METRO_VM_CACHE:-/var/cache/metro-vm}/libreswan
mkdir -p "$cache"
export DEBIAN_FRONTEND=noninteractive

log() { echo "vm-libreswan: $*" >&2; }
die() { log "error: $*"; exit 1; }

ver=$(apt-cache policy libreswan 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "apt knows no libreswan package (run apt-get update)"

# Library and tool dependencies: every Depends that is a real package other
# than the ones that conflict with strongSwan (none do today).
deps=$(apt-cache depends libreswan | awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }' | sort -u)
missing=
for d in $deps; do
	dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" || missing="$missing $d"
done
if [ -n "$missing" ]; then
	log "installing dependencies:$missing"
	apt-get install -y --no-install-recommends $missing </dev/null >&2 || die "apt-get install$missing failed"
fi

dir=$cache/$ver
if [ ! -f "$dir/.complete" ]; then
	log "fetching libreswan $ver"
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get -o APT::Sandbox::User=root download "libreswan=$ver" >&2) ||
		die "apt-get download libreswan=$ver failed"
	mkdir -p "$tmp/root"
	dpkg-deb -x "$tmp"/libreswan_*.deb "$tmp/root"
	[ -x "$tmp/root/usr/libexec/ipsec/pluto" ] || die "package has no usr/libexec/ipsec/pluto"
	touch "$tmp/root/.complete"
	rm -rf "$dir"
	mv "$tmp/root" "$dir"
	ln -sfn "$ver" "$cache/current.tmp"
	mv -T "$cache/current.tmp" "$cache/current"
	for old in "$cache"/*; do
		[ "$old" = "$dir" ] || [ "$old" = "$cache/current" ] || [ ! -d "$old" ] || rm -rf "$old"
	done
	log "extracted libreswan $ver into $dir"
elif [ "$(readlink "$cache/current" 2>/dev/null || true)" != "$ver" ]; then
	ln -sfn "$ver" "$cache/current.tmp"
	mv -T "$cache/current.tmp" "$cache/current"
fi
echo "METRO_LIBRESWAN=$dir"
