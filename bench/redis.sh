#!/usr/bin/env bash
# bench/redis.sh - Redis proxy benchmark: direct vs twemproxy vs nodown.
#
# Usage: bench/redis.sh            (or: make bench-redis)
#
# Environment:
#   REQUESTS=200000   requests per redis-benchmark run
#   RUNS=3            rounds; each round runs every target once, interleaved
#   CLIENTS=50        redis-benchmark -c
#   PIPELINES="1 16"  redis-benchmark -P values measured
#   NODOWN=build/nodown
#
# Setup: one redis-server (no persistence) on a free 127.0.0.1 port;
# twemproxy (Debian's nutcracker) and nodown (one worker thread) in front
# of it. redis-benchmark -t set,get -c CLIENTS -P P -n REQUESTS against
# each, interleaved, RUNS rounds. Reported: the median requests/s per
# target, test and pipeline depth, the ratios to direct and nodown to
# twemproxy, and the CPU time the proxy process used per request
# (utime + stime from /proc/PID/stat over its runs).
#
# Both proxies are single-threaded here (twemproxy always is; nodown is
# given `workers: 1`) so the comparison is per core. Every process is
# started here and stopped by PID on exit.
# shellcheck disable=SC2015
set -euo pipefail

REQUESTS=${REQUESTS:-200000}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-50}
PIPELINES=${PIPELINES:-1 16}
PYTHON=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NODOWN=${NODOWN:-$ROOT/build/nodown}

case "$REQUESTS$RUNS$CLIENTS${PIPELINES// /}" in
*[!0-9]*) echo "bench: REQUESTS, RUNS, CLIENTS and PIPELINES must be whole numbers" >&2; exit 2 ;;
esac

# shellcheck source=bench/proc.sh
. "$HERE/proc.sh"

missing=""
for t in redis-server redis-benchmark nutcracker; do
	command -v "$t" >/dev/null 2>&1 || [ -x "/usr/sbin/$t" ] || missing="$missing $t"
done
[ -z "$missing" ] || die "missing tools:$missing (install with: scripts/deps bench)"
[ -x "$NODOWN" ] || die "$NODOWN not found or not executable; build it first with 'make'"
NUTCRACKER=$(command -v nutcracker || echo /usr/sbin/nutcracker)

read -r P_R P_TW P_ND P_TWS <<<"$(free_ports 4)"

spawn redis redis-server --port "$P_R" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$TMP" --protected-mode no
wait_port "$P_R" "$LASTPID" redis
PID_R=$LASTPID

cat >"$TMP/nutcracker.yml" <<EOF
bench:
  listen: 127.0.0.1:$P_TW
  redis: true
  hash: fnv1a_64
  distribution: ketama
  auto_eject_hosts: false
  timeout: 2000
  servers:
    - 127.0.0.1:$P_R:1
EOF
spawn twemproxy "$NUTCRACKER" -c "$TMP/nutcracker.yml" -s "$P_TWS" -o "$TMP/nutcracker.out"
wait_port "$P_TW" "$LASTPID" twemproxy
PID_TW=$LASTPID

cat >"$TMP/nodown.yml" <<EOF
workers: 1
admin:
  socket: $TMP/nodown.sock
log:
  access: off
  error: $TMP/nodown-error.log
listeners:
  - { name: cache, protocol: redis, bind: 127.0.0.1:$P_ND, pool: cache }
pools:
  - name: cache
    protocol: redis
    health: { interval: 200ms, timeout: 200ms, rise: 1, fall: 2 }
    backends:
      - { name: r1, address: 127.0.0.1:$P_R }
EOF
spawn nodown "$NODOWN" serve -c "$TMP/nodown.yml"
wait_port "$P_ND" "$LASTPID" nodown
PID_ND=$LASTPID
for ((i = 0; i < 50; i++)); do		# the first health check finds the primary
	redis-cli -p "$P_ND" ping 2>/dev/null | grep -q PONG && break
	sleep 0.1
done

declare -A PORT=([direct]=$P_R [twemproxy]=$P_TW [nodown]=$P_ND)
declare -A CPID=([direct]=$PID_R [twemproxy]=$PID_TW [nodown]=$PID_ND)
TARGETS=(direct twemproxy nodown)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

RESULTS=$TMP/results.tsv
: >"$RESULTS"
# columns: target pipeline test round rps cpu_ticks
for ((round = 1; round <= RUNS; round++)); do
	for p in $PIPELINES; do
		for t in "${TARGETS[@]}"; do
			c0=$(cpu_ticks "${CPID[$t]}")
			redis-benchmark -h 127.0.0.1 -p "${PORT[$t]}" -c "$CLIENTS" -n "$REQUESTS" -P "$p" \
				-t set,get --csv -q >"$TMP/rb-$t-$p-$round.csv" 2>"$TMP/rb-$t-$p-$round.err" ||
				die "redis-benchmark against $t failed: $(cat "$TMP/rb-$t-$p-$round.err")"
			c1=$(cpu_ticks "${CPID[$t]}")
			# "SET","123456.78",... ; the CPU time covers both tests
			awk -F'"' -v t="$t" -v p="$p" -v r="$round" -v c=$((c1 - c0)) \
				'$2 == "SET" || $2 == "GET" { print t "\t" p "\t" $2 "\t" r "\t" $4 "\t" c }' \
				"$TMP/rb-$t-$p-$round.csv" >>"$RESULTS"
		done
	done
	log "round $round of $RUNS done"
done

grep -q . "$RESULTS" || die "no results (redis-benchmark output in $TMP)"

HZ=$(getconf CLK_TCK)
echo "== redis-benchmark -c $CLIENTS -n $REQUESTS -t set,get, $RUNS interleaved rounds, medians =="
echo "(2 CPUs shared by redis-benchmark, the proxy and redis-server; proxies single-threaded;"
echo " load average $(cut -d' ' -f1-3 /proc/loadavg) at the end)"
$PYTHON - "$RESULTS" "$HZ" "$REQUESTS" <<'PY'
import statistics, sys
from collections import defaultdict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
hz, n = int(sys.argv[2]), int(sys.argv[3])
rps, cpu = defaultdict(list), defaultdict(list)
for t, p, test, r, v, c in rows:
    rps[(t, int(p), test)].append(float(v))
    cpu[(t, int(p), r)] = int(c)          # one value per run (both tests)
med = {k: statistics.median(v) for k, v in rps.items()}
pipes = sorted({k[1] for k in med})
print(f"{'pipeline':>8} {'test':>4} {'direct':>10} {'twemproxy':>10} {'nodown':>10}"
      f" {'tw/direct':>9} {'nd/direct':>9} {'nd/tw':>6}")
for p in pipes:
    for test in ("SET", "GET"):
        d, tw, nd = (med.get((t, p, test), 0) for t in ("direct", "twemproxy", "nodown"))
        print(f"{p:>8} {test:>4} {d:>10.0f} {tw:>10.0f} {nd:>10.0f} {tw / d:>9.2f} {nd / d:>9.2f} {nd / tw:>6.2f}")
print()
print("CPU per request of the serving process (median over rounds; µs):")
for p in pipes:
    parts = []
    for t in ("direct", "twemproxy", "nodown"):
        vals = [c for (tt, pp, r), c in cpu.items() if tt == t and pp == p]
        if vals:
            parts.append(f"{t} {statistics.median(vals) / hz / (2 * n) * 1e6:.2f}")
    print(f"  pipeline {p}: " + ", ".join(parts))
PY
