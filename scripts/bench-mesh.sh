#!/usr/bin/env bash
# bench-mesh.sh: a full mesh of K metrods (default 200) on loopback
# addresses 127.0.1.1 ... 127.0.1.K, one shared .psk group, in-memory
# kernel backend, all started at once. Reports the time until every node
# has established an IKE SA with all K-1 others, their total CPU seconds
# and RSS per node; then restarts node 1 and times its re-convergence.
#
# Runs in a private network and mount namespace (the K addresses go on
# that namespace's lo, never the host's), is bounded in time (timeout
# below, and every wait loop), and stops every metrod it started.
#
# Usage: scripts/bench-mesh.sh [K]   (root)
set -euo pipefail
K=${1:-200}
LIMIT=${MESH_LIMIT:-120} # seconds to wait for convergence
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ ${MESH_INNER:-} != 1 ]]; then
	[[ $(id -u) == 0 ]] || { echo "bench-mesh.sh: needs root (network namespace)" >&2; exit 1; }
	mkdir -p "$root/bin"
	(cd "$root" && CGO_ENABLED=0 go build -o bin/ ./cmd/metrod ./cmd/metroctl)
	export MESH_INNER=1
	exec timeout --kill-after=10 $((3 * LIMIT + 60)) unshare -n -m --propagation private "$0" "$K"
fi

mount -t tmpfs tmpfs /run
w=/run/mesh
mkdir -p "$w/creds"
ip link set lo up
addrs=()
for i in $(seq 1 "$K"); do
	a=127.0.$((1 + (i - 1) / 254)).$((1 + (i - 1) % 254))
	addrs+=("$a")
	ip addr add "$a/32" dev lo
done
printf '%s\n%s\n' "${addrs[*]}" "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" >"$w/creds/mesh.psk"
chmod 600 "$w/creds/mesh.psk"
printf 'METRO_CREDS_DIR=%s\n' "$w/creds" >"$w/metro.env"

declare -A pid
start() { # index
	local i=$1
	"$root/bin/metrod" --config "$w/metro.env" --kernel memory --local-addrs "${addrs[$i]}" \
		--socket "$w/$i.sock" 2>"$w/$i.log" &
	pid[$i]=$!
}
cleanup() {
	for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 2
	for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

# established N: how many distinct peers node N's log says it has
# established an IKE SA with.
established() { grep -o 'IKE SA established.*' "$w/$1.log" | grep -o 'peer=[0-9.]*' | sort -u | wc -l; }
cpu_ticks() { local t=0 f; for p in "${pid[@]}"; do f=($(sed 's/.*) //' /proc/$p/stat)); t=$((t + f[11] + f[12])); done; echo $t; }

t0=$(date +%s.%N)
for i in $(seq 0 $((K - 1))); do start "$i"; done
pending=($(seq 0 $((K - 1))))
while ((${#pending[@]} > 0)); do
	now=$(date +%s.%N)
	if (($(echo "$now - $t0 > $LIMIT" | bc))); then
		echo "mesh: not converged after ${LIMIT}s: ${#pending[@]} nodes short" >&2
		break
	fi
	left=()
	for i in "${pending[@]}"; do
		(($(established "$i") >= K - 1)) || left+=("$i")
	done
	pending=("${left[@]}")
	((${#pending[@]} == 0)) || sleep 0.2
done
t1=$(date +%s.%N)
conv=$(echo "$t1 - $t0" | bc)
ticks=$(cpu_ticks)
rss=0
for p in "${pid[@]}"; do rss=$((rss + $(awk '/VmRSS/ {print $2}' /proc/$p/status))); done
# Cross-check with metroctl: peers in state established, per node.
short=0
for i in 0 $((K / 2)) $((K - 1)); do
	n=$("$root/bin/metroctl" status --json --socket "$w/$i.sock" | grep -c '"state": "established"' || true)
	((n == K - 1)) || { echo "node $i: metroctl shows $n established peers, want $((K - 1))"; short=1; }
done

# Restart node 0 (SIGTERM: it deletes its SAs, its peers see DELETE).
kill "${pid[0]}"; wait "${pid[0]}" 2>/dev/null || true
r0=$(date +%s.%N)
start 0
while (($(established 0) < K - 1)); do
	(($(echo "$(date +%s.%N) - $r0 > $LIMIT" | bc))) && { echo "restarted node not converged after ${LIMIT}s" >&2; break; }
	sleep 0.05
done
r1=$(date +%s.%N)

printf 'mesh of %d metrods (memory backend, loopback, %s, %d cores)\n' "$K" \
	"$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(nproc)"
printf '  full mesh established in %.2f s (%d of %d nodes complete%s)\n' "$conv" $((K - ${#pending[@]})) "$K" \
	"$( ((short)) && echo ', metroctl cross-check failed' || echo ', metroctl cross-check ok')"
printf '  total CPU %.2f s, RSS per node %d KiB\n' "$(echo "$ticks / 100" | bc -l)" $((rss / K))
printf '  restarted node re-converged with all %d peers in %.2f s\n' $((K - 1)) "$(echo "$r1 - $r0" | bc)"
