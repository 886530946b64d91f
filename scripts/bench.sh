#!/usr/bin/env bash
# bench.sh: metrod against strongSwan's charon as IKEv2 responders, same
# load generator (cmd/metro-bench), same run, this machine.
#
# Everything runs in a private network and mount namespace (unshare -n -m):
# only loopback addresses (127.0.1.1 metrod, 127.0.0.1 charon, initiators
# from 127.0.2.1 on), nothing touches the host's lo, /run is a private
# tmpfs (charon's pid file and sockets), and every process is stopped at
# the end. metrod runs with --kernel memory; charon with kernel-libipsec
# (ESP in user space, no kernel ESP needed).
#
# charon's setup, and why (each point made charon silent or refuse):
#   - IKE on port 500: charon treats a datagram to any other port as
#     NAT-T traffic that must start with the non-ESP marker; without it
#     the IKE_SA_INIT goes to the ESP path ("parsed ESP header") and is
#     dropped without a word at the default log levels.
#   - address 127.0.0.1: kernel-libipsec installs a route per CHILD_SA
#     and needs a local address inside the traffic selector; the kernel
#     interface skips loopback addresses, except that a selector holding
#     127.0.0.1 means "any". allow_peer_ts lets it route the peer's own
#     address (host-to-host SAs).
#   - tunnel mode: kernel-libipsec has no transport mode ("IPsec SA:
#     unsupported mode"); metro-bench -accept-tunnel takes the tunnel-mode
#     answer (same cryptography and state for both sides).
#   - dos_protection = no: no cookies, no half-open blocking, like metrod.
#
# Trials: this kind of machine (a shared VM) changes speed from one second
# to the next by 20 % or more, so one measurement of each side proves
# little. The script runs T trials (default 5), each a fresh metrod, a
# fresh charon and the crypto floor measured right before them, and
# reports the median of each row; "CPU per setup / floor" is the median
# of the per-trial ratios. Every trial is listed under the table.
#
# Usage: scripts/bench.sh [-n SETUPS] [-c CONCURRENCY] [-t TRIALS] [-o results.md]
#   N, C, T  also from the environment (BENCH_N, BENCH_C, BENCH_TRIALS). Needs root,
#   strongswan-charon, libcharon-extra-plugins (kernel-libipsec) and
#   libstrongswan-standard-plugins (openssl: X25519, AES-GCM).
set -euo pipefail

N=${BENCH_N:-3000}
C=${BENCH_C:-50}
T=${BENCH_TRIALS:-5}
OUT=""
while getopts "n:c:t:o:" opt; do
	case $opt in
	n) N=$OPTARG ;;
	c) C=$OPTARG ;;
	t) T=$OPTARG ;;
	o) OUT=$OPTARG ;;
	*) echo "usage: $0 [-n setups] [-c concurrency] [-t trials] [-o results.md]" >&2; exit 2 ;;
	esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
if [[ ${BENCH_INNER:-} != 1 ]]; then
	[[ $(id -u) == 0 ]] || { echo "bench.sh: needs root (network namespace, charon)" >&2; exit 1; }
	[[ -x /usr/lib/ipsec/charon ]] || { echo "bench.sh: charon missing: apt-get install strongswan-charon libcharon-extra-plugins libstrongswan-standard-plugins" >&2; exit 1; }
	for p in kernel-libipsec openssl; do
		[[ -e /usr/lib/ipsec/plugins/libstrongswan-$p.so ]] || { echo "bench.sh: strongSwan plugin $p missing: apt-get install libcharon-extra-plugins libstrongswan-standard-plugins" >&2; exit 1; }
	done
	mkdir -p "$root/bin"
	(cd "$root" && CGO_ENABLED=0 go build -o bin/ ./cmd/metrod ./cmd/metro-bench)
	# The crypto floor (one responder's cryptography per setup, alone),
	# run in each trial from this test binary.
	(cd "$root" && go test -c -o bin/ike.test ./ike)
	[[ -n $OUT && $OUT != /* ]] && OUT=$root/$OUT
	export BENCH_INNER=1 BENCH_ROOT=$root
	exec timeout --kill-after=10 1800 unshare -n -m --propagation private "$0" -n "$N" -c "$C" -t "$T" ${OUT:+-o "$OUT"}
fi

# ---- inside the namespaces ----
root=$BENCH_ROOT
mount -t tmpfs tmpfs /run
work=/run/bench
mkdir -p "$work/creds" "$work/swanctl"
ip link set lo up
ip addr add 127.0.1.1/32 dev lo

pids=()
logs=$root/.cache/bench
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	sleep 1
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	# Logs and raw results survive the private /run.
	mkdir -p "$logs"
	cp "$work"/*.log "$work"/*.stdout "$work"/*.json "$work"/*.conf "$logs"/ 2>/dev/null || true
}
trap cleanup EXIT

key=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
# The initiator addresses: 127.0.2.1 and the N-1 after it.
addrs=$(python3 -c "
import ipaddress,sys
a=ipaddress.ip_address('127.0.2.1')
print(' '.join(str(a+i) for i in range($N)))")
printf '127.0.1.1 %s\n%s\n' "$addrs" "$key" >"$work/creds/bench.psk"
chmod 600 "$work/creds/bench.psk"
# METRO_START=on-demand: metrod only answers, like charon here (no
# connection to start); with the default it would also initiate to the N
# configured initiator addresses at start and retransmit to them during
# the run, work that is not the responder's.
printf 'METRO_CREDS_DIR=%s\nMETRO_START=on-demand\n' "$work/creds" >"$work/metro.env"

# metrod: memory kernel, its own address only, IKE port 5500, on demand.
start_metrod() { # trial
	rm -f "$work/metrod.sock"
	"$root/bin/metrod" --config "$work/metro.env" --kernel memory --local-addrs 127.0.1.1 \
		--ike-port 5500 --socket "$work/metrod.sock" 2>"$work/metrod-$1.log" &
	metrod_pid=$!
	pids+=("$metrod_pid")
	for _ in $(seq 100); do [[ -S $work/metrod.sock ]] && break; sleep 0.1; done
	sleep 1
}

# charon: kernel-libipsec, IKE on port 500 at 127.0.0.1 (see the top).
cat >"$work/strongswan.conf" <<CONF
charon {
	port = 500
	port_nat_t = 4500
	load = random nonce openssl curve25519 gcm aes sha2 hmac kdf pem pkcs1 x509 pubkey kernel-libipsec kernel-netlink socket-default vici
	install_routes = no
	install_virtual_ip = no
	threads = 32
	# Like metrod: no cookies, no half-open limits (a like-for-like race).
	dos_protection = no
	plugins {
		kernel-libipsec {
			allow_peer_ts = yes
		}
		vici {
			socket = unix://$work/charon.vici
		}
	}
	filelog {
		charon {
			path = $work/charon.log
			flush_line = yes
			default = ${CHARON_LOGLEVEL:-1}
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
}
CONF
cat >"$work/swanctl/swanctl.conf" <<CONF
connections {
	bench {
		version = 2
		local_addrs = 127.0.0.1
		proposals = aes256gcm16-prfsha256-x25519
		unique = never
		local {
			auth = psk
			id = 127.0.0.1
		}
		remote {
			auth = psk
		}
		children {
			bench {
				mode = tunnel
				esp_proposals = aes256gcm16
			}
		}
	}
}
secrets {
	ike-bench {
		secret = "$key"
	}
}
CONF
start_charon() { # trial
	rm -f "$work/charon.vici"
	STRONGSWAN_CONF=$work/strongswan.conf /usr/lib/ipsec/charon >"$work/charon-$1.stdout" 2>&1 &
	charon_pid=$!
	pids+=("$charon_pid")
	for _ in $(seq 50); do [[ -S $work/charon.vici ]] && break; sleep 0.1; done
	swanctl --load-all --uri "unix://$work/charon.vici" --file "$work/swanctl/swanctl.conf" >"$work/swanctl.out" 2>&1 ||
		{ cat "$work/swanctl.out" "$work/charon.log" >&2; exit 1; }
	sleep 1
}
stop() { # pid: the process measured stops, so it takes no CPU from the next
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
floor() { # json: the crypto floor in ns per setup
	"$root/bin/ike.test" -test.run '^$' -test.bench ResponderHandshakeCrypto -test.benchtime 3000x |
		awk '/^BenchmarkResponderHandshakeCrypto/ {printf "{\"floor_ns\": %s}\n", $3}' >"$1"
}

for t in $(seq "$T"); do
	echo "== trial $t of $T" >&2
	floor "$work/floor-$t.json"
	start_metrod "$t"
	# metrod answers to its own IKE port: its initiators bind 5500.
	"$root/bin/metro-bench" -label metrod -target 127.0.1.1:5500 -src 127.0.2.1 -n "$N" -c "$C" \
		-psk-file "$work/creds/bench.psk" -pid "$metrod_pid" -hold 2s -deadline "${BENCH_DEADLINE:-120s}" \
		-json "$work/metrod-$t.json" || true
	stop "$metrod_pid"
	start_charon "$t"
	"$root/bin/metro-bench" -label charon -target 127.0.0.1:500 -local-port 5700 -src 127.0.2.1 -n "$N" -c "$C" \
		-psk-file "$work/creds/bench.psk" -pid "$charon_pid" -hold 2s -deadline "${BENCH_DEADLINE:-120s}" \
		-json "$work/charon-$t.json" -accept-tunnel || true
	stop "$charon_pid"
done

python3 - "$work" "$T" "${OUT:-}" <<'PY'
import json, os, platform, statistics, sys, datetime
work, trials, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
load = lambda name: [json.load(open(f"{work}/{name}-{t}.json")) for t in range(1, trials + 1)]
ms, cs, fs = load("metrod"), load("charon"), load("floor")
med = lambda xs: statistics.median(xs)
m = {k: med([x[k] for x in ms]) for k in ms[0] if isinstance(ms[0][k], (int, float))}
c = {k: med([x[k] for x in cs]) for k in cs[0] if isinstance(cs[0][k], (int, float))}
floors = [f["floor_ns"] / 1e6 for f in fs]
ratios = [x["responder_cpu_ms_per_setup"] / fl for x, fl in zip(ms, floors)]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
def row(name, key, fmt, better):
    a, b = m[key], c[key]
    ratio = f"{a / b:.2f}" if b else "n/a"
    return f"| {name} | {fmt.format(a)} | {fmt.format(b)} | {ratio} | {better} |"
lines = [
    f"# metro vs strongSwan responder benchmark, {datetime.date.today()}",
    "",
    f"CPU: {cpu}, {os.cpu_count()} cores; kernel {platform.release()}; "
    f"N={ms[0]['n']} setups, C={ms[0]['concurrency']} initiators at once (metro-bench, PSK, x25519, aes256gcm16, prfsha256); "
    f"median of {trials} trials (each: crypto floor, fresh metrod, fresh charon).",
    "metrod: `--kernel memory`, `METRO_START=on-demand` (answers only, like charon; transport mode); charon 5.9: kernel-libipsec (tunnel mode: it has no transport mode; one TUN route per CHILD_SA), port 500, dos_protection off. Same load generator, same run, private network namespace on loopback.",
    "",
    "| | metrod | charon | metro/charon | better |",
    "|---|---|---|---|---|",
    row("setups established", "established", "{:.0f}", "higher"),
    row("setups/s", "setups_per_sec", "{:.1f}", "higher"),
    row("p50 setup latency (ms)", "p50_ms", "{:.2f}", "lower"),
    row("p99 setup latency (ms)", "p99_ms", "{:.2f}", "lower"),
    row("responder CPU ms per setup", "responder_cpu_ms_per_setup", "{:.3f}", "lower"),
    row("RSS growth per established peer (bytes)", "responder_rss_per_peer", "{:.0f}", "lower"),
    row("RSS total / established peers (bytes)", "responder_rss_total_per_peer", "{:.0f}", "lower"),
    "",
    f"Crypto floor (BenchmarkResponderHandshakeCrypto): median {med(floors):.3f} ms per setup; "
    f"metrod CPU per setup / floor: median {med(ratios):.2f}x (trials: {', '.join(f'{r:.2f}' for r in ratios)}).",
    "",
    "| trial | floor ms | metrod CPU ms/setup | / floor | metrod setups/s | charon setups/s | metrod p99 ms | charon p99 ms |",
    "|---|---|---|---|---|---|---|---|",
]
for t, (x, y, fl, r) in enumerate(zip(ms, cs, floors, ratios), 1):
    lines.append(f"| {t} | {fl:.3f} | {x['responder_cpu_ms_per_setup']:.3f} | {r:.2f} | {x['setups_per_sec']:.1f} | "
                 f"{y['setups_per_sec']:.1f} | {x['p99_ms']:.2f} | {y['p99_ms']:.2f} |")
for x in ms + cs:
    if x["failures"]:
        lines.append(f"{x['label']} failures: " + "; ".join(f"{f['count']}x {f['reason']}" for f in x["failures"]))
lines.append("")
lines.append(f"Reproduce: `sudo make bench` (or `scripts/bench.sh -n {ms[0]['n']} -c {ms[0]['concurrency']} -t {trials}`).")
text = "\n".join(lines) + "\n"
print(text)
if out:
    with open(out, "w") as f:
        f.write(text)
PY
