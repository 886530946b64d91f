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
# Progress is read from the nodes' logs by one watcher process that reads
# only what was appended since its last look, once a second; the
# convergence time comes from the log lines' own timestamps (the moment
# the last node logged its last peer), so the polling neither costs the
# nodes CPU nor rounds the result.
#
# Usage: scripts/bench-mesh.sh [K]   (root)
#   MESH_LOGS=DIR     keep the nodes' logs in DIR.
#   MESH_PROFILE=DIR  node 1 writes DIR/cpu.prof and DIR/mem.prof (metrod
#                     --cpuprofile/--memprofile) for its first run.
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
start() { # index [extra metrod flags...]
	local i=$1
	shift
	"$root/bin/metrod" --config "$w/metro.env" --kernel memory --local-addrs "${addrs[$i]}" \
		--socket "$w/$i.sock" "$@" 2>>"$w/$i.log" &
	pid[$i]=$!
}
cleanup() {
	for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 2
	for p in "${pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	if [[ -n ${MESH_LOGS:-} ]]; then # keep the logs (the private /run goes)
		mkdir -p "$MESH_LOGS" && cp "$w"/*.log "$MESH_LOGS"/
	fi
}
trap cleanup EXIT

# watch LIMIT SINCE NODES...: follows the nodes' logs (appended bytes
# only, once a second) until each has logged "IKE SA established" with
# K-1 distinct peers at or after SINCE (epoch seconds), or LIMIT seconds
# passed. Prints the epoch time at which the last node got its last peer
# (from the log timestamps) and the number of nodes still short.
watch() {
	python3 - "$K" "$w" "$@" <<'PY'
import datetime, sys, time
k, w, limit, since = int(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
nodes = sys.argv[5:]
pos = {n: 0 for n in nodes}
peers = {n: set() for n in nodes}
done = {}
rest = {n: "" for n in nodes}
end = time.time() + limit
def stamp(line):
    t = line.split("time=", 1)[1].split(" ", 1)[0]
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
while True:
    for n in [n for n in nodes if n not in done]:
        with open(f"{w}/{n}.log", "rb") as f:
            f.seek(pos[n])
            data = f.read()
        pos[n] += len(data)
        lines = (rest[n] + data.decode(errors="replace")).split("\n")
        rest[n] = lines.pop()
        for l in lines:
            if 'msg="IKE SA established"' not in l or "peer=" not in l:
                continue
            t = stamp(l)
            if t < since:
                continue
            peers[n].add(l.split("peer=", 1)[1].split(" ", 1)[0])
            if len(peers[n]) >= k - 1:
                done[n] = t
                break
    if len(done) == len(nodes) or time.time() > end:
        break
    time.sleep(1)
print(f"{max(done.values(), default=0):.3f} {len(nodes) - len(done)}")
PY
}
cpu_ticks() { local t=0 f; for p in "${pid[@]}"; do f=($(sed 's/.*) //' /proc/$p/stat)); t=$((t + f[11] + f[12])); done; echo $t; }

prof=()
if [[ -n ${MESH_PROFILE:-} ]]; then
	mkdir -p "$MESH_PROFILE"
	prof=(--cpuprofile "$MESH_PROFILE/cpu.prof" --memprofile "$MESH_PROFILE/mem.prof")
fi
t0=$(date +%s.%N)
start 0 "${prof[@]}"
for i in $(seq 1 $((K - 1))); do start "$i"; done
read -r t1 short_nodes < <(watch "$LIMIT" "$t0" $(seq 0 $((K - 1))))
ticks=$(cpu_ticks)
((short_nodes == 0)) || echo "mesh: not converged after ${LIMIT}s: $short_nodes nodes short" >&2
conv=$(echo "$t1 - $t0" | bc)
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
read -r r1 short0 < <(watch "$LIMIT" "$r0" 0)
((short0 == 0)) || echo "restarted node not converged after ${LIMIT}s" >&2

printf 'mesh of %d metrods (memory backend, loopback, %s, %d cores)\n' "$K" \
	"$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" "$(nproc)"
printf '  full mesh established in %.2f s (%d of %d nodes complete%s)\n' "$conv" $((K - short_nodes)) "$K" \
	"$( ((short)) && echo ', metroctl cross-check failed' || echo ', metroctl cross-check ok')"
printf '  total CPU %.2f s, RSS per node %d KiB\n' "$(echo "$ticks / 100" | bc -l)" $((rss / K))
# UDP datagrams dropped because a socket's receive buffer was full (all
# of the namespace's sockets: each is an IKE message lost, retransmitted
# after 1, 2, 4... s).
printf '  UDP: %s\n' "$(awk '/^Udp:/ { if (!n++) { for (i = 2; i <= NF; i++) name[i] = $i; next } for (i = 2; i <= NF; i++) if (name[i] == "InDatagrams" || name[i] == "RcvbufErrors") printf "%s %s  ", name[i], $i }' /proc/net/snmp)"
printf '  restarted node re-converged with all %d peers in %.2f s\n' $((K - 1)) "$(echo "$r1 - $r0" | bc)"
