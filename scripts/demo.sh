#!/bin/sh
# Two-host demo: hosts "a" and "b" are network namespaces joined by a veth
# link, each running metrod with one shared .psk file. Shows the SAs come up,
# metroctl status, and that pings between the hosts are ESP on the wire.
# Needs root and a kernel with ESP (make demo boots a VM when this one has none).
set -eu
cd "$(dirname "$0")/.."
BIN=$PWD/bin
W=$(mktemp -d /tmp/metro-demo.XXXXXX)
A=metro-demo-a B=metro-demo-b
cleanup() {
	for h in a b; do [ -f "$W/$h.pid" ] && kill "$(cat "$W/$h.pid")" 2>/dev/null || true; done
	sleep 1
	ip netns del $A 2>/dev/null || true
	ip netns del $B 2>/dev/null || true
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "creating hosts a (10.0.0.1, fd00::1) and b (10.0.0.2, fd00::2)"
ip netns add $A
ip netns add $B
ip link add eth0 netns $A type veth peer name eth0 netns $B
for h in a b; do
	ns=$A; n=1; [ $h = b ] && ns=$B && n=2
	ip -n $ns link set lo up
	ip -n $ns addr add 10.0.0.$n/24 dev eth0
	ip -n $ns addr add fd00::$n/64 dev eth0 nodad
	ip -n $ns link set eth0 up
	mkdir -p "$W/$h/creds"
	chmod 700 "$W/$h/creds"
	printf '# one group: every address in it talks to every other with this key\n10.0.0.1 10.0.0.2 fd00::1 fd00::2\ndemo-key-%s\n' "$(date +%s)" >"$W/$h/creds/demo.psk"
	echo "METRO_CREDS_DIR=$W/$h/creds" >"$W/$h/config.env"
done
cp "$W/a/creds/demo.psk" "$W/b/creds/demo.psk"
chmod 600 "$W/a/creds/demo.psk" "$W/b/creds/demo.psk"

say "starting metrod on both hosts"
for h in a b; do
	ns=$A; [ $h = b ] && ns=$B
	ip netns exec $ns "$BIN/metrod" --config "$W/$h/config.env" --socket "$W/$h/metrod.sock" --hostname $h >"$W/$h/metrod.log" 2>&1 &
	echo $! >"$W/$h.pid"
done

say "waiting for the SAs"
i=0
until [ "$(ip netns exec $A "$BIN/metroctl" --socket "$W/a/metrod.sock" status --json 2>/dev/null | grep -c '"state": "established"')" = 2 ]; do
	i=$((i + 1))
	if [ $i -gt 150 ]; then
		echo "SAs did not come up; metrod log of a:"; cat "$W/a/metrod.log"; exit 1
	fi
	sleep 0.2
done
echo "established after about $((i * 200)) ms"

say "metroctl status on a"
ip netns exec $A "$BIN/metroctl" --socket "$W/a/metrod.sock" status

say "kernel ESP states on a (keys not shown)"
ip -n $A xfrm state | grep -E '^src|proto esp'

say "ping b over IPv4 and IPv6 while capturing on a's link"
ip netns exec $A tcpdump -n -l -i eth0 -c 12 'not icmp6 or (icmp6 and ip6[40] < 133)' >"$W/capture.txt" 2>/dev/null &
tp=$!
sleep 1
ip netns exec $A busybox ping -c 3 10.0.0.2
ip netns exec $A busybox ping -c 3 fd00::2
wait $tp || true
say "what the wire saw (12 packets)"
cat "$W/capture.txt"
if grep -q 'ICMP' "$W/capture.txt"; then echo "FAIL: cleartext ICMP on the wire"; exit 1; fi
grep -q 'ESP' "$W/capture.txt" || { echo "FAIL: no ESP seen"; exit 1; }
say "OK: the pings crossed the link as ESP only"
