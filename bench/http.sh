#!/usr/bin/env bash
# bench/http.sh - HTTP/1.1 reverse-proxy benchmark: nodown vs HAProxy vs nginx.
#
# Usage: bench/http.sh            (or: make bench)
#
# Environment:
#   DURATION=5      seconds per wrk run
#   RUNS=3          rounds; each round runs every target once, interleaved
#   CONNS=50        wrk connections (wrk -t1 -cCONNS)
#   IDLE_CONNS=10000  idle keep-alive connections for the memory test (0: skip)
#   MEM_OTHERS=1    also measure HAProxy and nginx memory (0: nodown only)
#   NODOWN=build/nodown
#
# Setup: two nginx backends (1 worker each) serve a 100-byte static file.
# Targets: the first backend directly ("direct"), both backends directly
# with two wrk processes of CONNS/2 each ("direct-2", requests/s summed),
# then nodown, HAProxy and nginx as reverse proxies, each with one worker
# thread and round robin over both backends with keep-alive upstream
# connections. Nothing is pinned to a CPU. Everything listens on
# 127.0.0.1 on free ports; all processes are started here and stopped on
# exit by PID; all files live in one temporary directory.
#
# Reported per target: median over RUNS of requests/s, p50 and p99 latency
# (from wrk --latency), the ratios between proxies and to direct, and the
# latency each proxy adds (p50 difference to direct), and the CPU time the
# serving process used per request (utime + stime from /proc/PID/stat; on a
# small shared machine the proxies rarely saturate their core, so this is
# the steadier measure of efficiency). Then the resident memory (VmRSS) of
# each proxy holding IDLE_CONNS idle keep-alive client connections, each
# of which has made one request (bench/idle_conns.py).
#
# Config generation and process handling are in bench/lib.sh, shared with
# bench/profile.sh (syscalls per request, perf and callgrind profiles).
# shellcheck disable=SC2015
set -euo pipefail

DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
CONNS=${CONNS:-50}
IDLE_CONNS=${IDLE_CONNS:-10000}
MEM_OTHERS=${MEM_OTHERS:-1}
PYTHON=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NODOWN=${NODOWN:-$ROOT/build/nodown}

case "$DURATION$RUNS$CONNS$IDLE_CONNS" in
*[!0-9]*) echo "bench: DURATION, RUNS, CONNS and IDLE_CONNS must be whole numbers" >&2; exit 2 ;;
esac
[ "$RUNS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CONNS" -ge 2 ] ||
	{ echo "bench: need RUNS >= 1, DURATION >= 1, CONNS >= 2" >&2; exit 2; }

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

if [ "$IDLE_CONNS" -gt 0 ] && [ "$NOFILE" != unlimited ] && [ $((IDLE_CONNS + 200)) -gt "$NOFILE" ]; then
	log "fd limit is $NOFILE (could not raise to 65536); lowering IDLE_CONNS from $IDLE_CONNS to $((NOFILE - 200))"
	IDLE_CONNS=$((NOFILE - 200))
fi

# ---- throughput and latency -------------------------------------------------

RESULTS=$TMP/results.tsv
: >"$RESULTS"

# measure TARGET ROUND SECONDS: one measurement; appends to $RESULTS the
# columns target round rps p50_us p99_us errors requests cpu_user_s cpu_sys_s
measure() {
	local t=$1 round=$2 secs=$3 out="$TMP/wrk-$1-$2" a b c0 c1 reqs
	# shellcheck disable=SC2086
	read -r -a c0 <<<"$(cpu_ticks ${CPU_PIDS[$t]})"
	if [ "$t" = direct-2 ]; then
		# Both backends at once, CONNS/2 each: what the backends can do
		# together when nothing sits in front of them.
		run_wrk $((CONNS / 2)) "$secs" "http://127.0.0.1:$P_B1/index.html" "$out.a" &
		local w1=$!
		run_wrk $((CONNS - CONNS / 2)) "$secs" "http://127.0.0.1:$P_B2/index.html" "$out.b"
		wait "$w1" || true
		# shellcheck disable=SC2086
		read -r -a c1 <<<"$(cpu_ticks ${CPU_PIDS[$t]})"
		read -r -a a <<<"$(wrk_parse "$out.a")"
		read -r -a b <<<"$(wrk_parse "$out.b")"
		[ "${a[4]}" != 0 ] && [ "${b[4]}" != 0 ] || { cat "$out.a" "$out.b" >&2; die "$t: wrk made no requests"; }
		reqs=$((a[4] + b[4]))
		# rps summed; p50 the mean of the two, p99 the worse of the two
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$round" \
			"$(awk -v x="${a[0]}" -v y="${b[0]}" 'BEGIN { printf "%.2f", x + y }')" \
			"$(awk -v x="${a[1]}" -v y="${b[1]}" 'BEGIN { printf "%.1f", (x + y) / 2 }')" \
			"$(awk -v x="${a[2]}" -v y="${b[2]}" 'BEGIN { printf "%.1f", (x > y ? x : y) }')" \
			"$((a[3] + b[3]))" "$reqs" >"$out.row"
	else
		run_wrk "$CONNS" "$secs" "${URL[$t]}" "$out"
		# shellcheck disable=SC2086
		read -r -a c1 <<<"$(cpu_ticks ${CPU_PIDS[$t]})"
		read -r -a a <<<"$(wrk_parse "$out")"
		[ "${a[4]}" != 0 ] || { cat "$out" >&2; die "$t: wrk made no requests (output above)"; }
		reqs=${a[4]}
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$round" "${a[0]}" "${a[1]}" "${a[2]}" "${a[3]}" "$reqs" >"$out.row"
	fi
	# The measured process is not doing anything else, so the CPU it used
	# between the two samples (wrk's setup and teardown included, a few ms)
	# is what these requests cost it.
	printf '%s\t%s\t%s\n' "$(head -c -1 "$out.row")" \
		"$(awk -v t="$((c1[0] - c0[0]))" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')" \
		"$(awk -v t="$((c1[1] - c0[1]))" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }')" >>"$RESULTS"
	[ "$round" = 0 ] && return 0
	tail -n 1 "$RESULTS" | awk -F'\t' -v d="$secs" '{
		printf "bench:   %-9s round %s: %8.0f req/s  p50 %7.1f us  p99 %7.1f us  cpu %3.0f%% = %5.2f us/req (usr %.2f sys %.2f)  errors %s\n",
			$1, $2, $3, $4, $5, 100 * ($8 + $9) / d, 1e6 * ($8 + $9) / $7, 1e6 * $8 / $7, 1e6 * $9 / $7, $6 }' >&2
}

log "nodown $("$NODOWN" version 2>/dev/null || echo '?'), $(haproxy -v | head -n 1 | awk '{ print "HAProxy " $3 }'), $(nginx -v 2>&1 | sed 's/.*\///;s/^/nginx /'), $(wrk --version 2>&1 | head -n 1 | awk '{ print "wrk " $2 }')"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "$(nproc) CPUs, load average $LOAD_START; fd limit $NOFILE; body $BODY_BYTES bytes"
log "wrk -t1 -c$CONNS -d${DURATION}s --latency; $RUNS interleaved rounds of: ${TARGETS[*]}"
log "warm-up (1 s each, not counted)"
for t in "${TARGETS[@]}"; do
	measure "$t" 0 1
done
: >"$RESULTS"
for ((r = 1; r <= RUNS; r++)); do
	log "round $r/$RUNS"
	for t in "${TARGETS[@]}"; do
		measure "$t" "$r" "$DURATION"
	done
done

# The throughput servers are not needed any more; free their CPU and memory.
stop_pid "$PID_ND"
stop_pid "$PID_HA"
stop_pid "$PID_NG"

# ---- memory with idle keep-alive connections --------------------------------

MEMRES=$TMP/mem.tsv
: >"$MEMRES"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
nfds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# mem_test NAME PORT PID [N]: RSS of PID before and while N (default
# IDLE_CONNS) idle keep-alive clients, one request each, are connected to PORT
mem_test() {
	local name=$1 port=$2 pid=$3 n=${4:-$IDLE_CONNS} before after fds ready="$TMP/idle-$1.ready" rel="$TMP/idle-$1.release" cpid res
	# A few requests first, so lazily allocated state (upstream pool,
	# buffers) is counted in "before", not charged to idle connections.
	for _ in 1 2 3 4; do curl -sS --max-time 5 -o /dev/null "http://127.0.0.1:$port/index.html" || die "$name: warm-up request failed"; done
	sleep 0.5
	before=$(rss_kib "$pid")
	log "$name: RSS ${before} KiB before; opening $n keep-alive connections"
	timeout -k 5 200 "$PYTHON" "$HERE/idle_conns.py" 127.0.0.1 "$port" "$n" "$ready" "$rel" 180 \
		>"$TMP/idle-$name.log" 2>&1 &
	cpid=$!
	PIDS+=("$cpid")
	for ((i = 0; i < 1200; i++)); do
		[ -e "$ready" ] && break
		kill -0 "$cpid" 2>/dev/null || break
		sleep 0.1
	done
	[ -e "$ready" ] || { cat "$TMP/idle-$name.log" >&2; die "$name: idle client did not get ready within 120 s"; }
	sleep 1
	kill -0 "$pid" 2>/dev/null || die "$name exited during the idle-connection test"
	after=$(rss_kib "$pid")
	fds=$(nfds "$pid")
	read -r -a res <<<"$(cat "$ready")"
	touch "$rel"
	wait "$cpid" 2>/dev/null || true
	log "$name: RSS ${after} KiB with ${res[0]} idle connections (${res[1]} failed, opened in ${res[2]} s, ${res[3]} still open; process has $fds fds)"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$before" "$after" "${res[0]}" "${res[1]}" "${res[3]}" >>"$MEMRES"
}

if [ "$IDLE_CONNS" -gt 0 ]; then
	spawn nodown-mem "$NODOWN" serve -c "$TMP/nodown-mem.yml"
	PID_NDM=$LASTPID
	wait_port "$P_NDM" "$PID_NDM" nodown-mem
	mem_test nodown "$P_NDM" "$PID_NDM"
	stop_pid "$PID_NDM"

	if [ "$MEM_OTHERS" = 1 ]; then
		# HAProxy reserves two fds per connection (client and server side)
		# and refuses to start if maxconn * 2 exceeds the fd limit, so
		# under a low hard limit it holds somewhat fewer connections.
		ha_max=$((IDLE_CONNS + 100))
		[ "$NOFILE" != unlimited ] && [ $((ha_max * 2 + 20)) -gt "$NOFILE" ] && ha_max=$(((NOFILE - 20) / 2))
		ha_conns=$((IDLE_CONNS < ha_max - 10 ? IDLE_CONNS : ha_max - 10))
		[ "$ha_conns" -lt "$IDLE_CONNS" ] &&
			log "haproxy: fd limit $NOFILE allows maxconn $ha_max only; holding $ha_conns connections instead of $IDLE_CONNS"
		haproxy_conf "$TMP/haproxy-mem.cfg" "$P_HAM" "$ha_max" 10m
		spawn haproxy-mem haproxy -db -f "$TMP/haproxy-mem.cfg"
		PID_HAM=$LASTPID
		wait_port "$P_HAM" "$PID_HAM" haproxy-mem
		mem_test haproxy "$P_HAM" "$PID_HAM" "$ha_conns"
		stop_pid "$PID_HAM"

		# nginx: the worker process holds the connections (the master
		# serves none), so its RSS is the one that grows.
		spawn nginx-mem nginx -p "$TMP/nginx-proxy" -c "$TMP/nginx-proxy/nginx.conf"
		PID_NGM=$LASTPID
		wait_port "$P_NGM" "$PID_NGM" nginx-mem
		ngw=$(worker_of "$PID_NGM")
		[ -n "$ngw" ] || die "nginx-mem: no worker process found"
		mem_test nginx "$P_NGM" "$ngw"
		stop_pid "$PID_NGM"
	fi
fi

# ---- report -----------------------------------------------------------------

"$PYTHON" - "$RESULTS" "$MEMRES" "$DURATION" "$RUNS" "$CONNS" "$(nproc)" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" <<-'EOF'
import statistics, sys

res, mem, dur, runs, conns, ncpu, load0, load1 = sys.argv[1:9]
order = ["direct", "direct-2", "nodown", "haproxy", "nginx"]
rows = {}
for line in open(res):
    t, rnd, rps, p50, p99, err, reqs, usr, sys_ = line.rstrip("\n").split("\t")
    reqs, usr, sys_ = int(reqs), float(usr), float(sys_)
    rows.setdefault(t, []).append((float(rps), float(p50), float(p99), int(err),
                                   1e6 * (usr + sys_) / reqs, 1e6 * usr / reqs, 1e6 * sys_ / reqs,
                                   100 * (usr + sys_) / float(dur)))

med = {}
for t in order:
    if t not in rows:
        continue
    r = rows[t]
    med[t] = dict(rps=statistics.median(x[0] for x in r), p50=statistics.median(x[1] for x in r),
                  p99=statistics.median(x[2] for x in r), err=sum(x[3] for x in r),
                  cpu=statistics.median(x[4] for x in r), usr=statistics.median(x[5] for x in r),
                  sys=statistics.median(x[6] for x in r), pct=statistics.median(x[7] for x in r),
                  lo=min(x[0] for x in r), hi=max(x[0] for x in r))

print()
print(f"== HTTP/1.1 keep-alive, {dur} s x {runs} interleaved runs, wrk -t1 -c{conns}, medians ==")
print(f"({ncpu} CPUs shared by wrk, the proxy and both backends; load average {load0} at start, {load1} at end)")
print(f"{'target':<10} {'req/s':>10} {'min..max req/s':>19} {'p50 us':>9} {'p99 us':>9} {'vs direct':>10} {'+p50 us':>8} "
      f"{'cpu%':>5} {'cpu us/req':>10} {'(usr':>6} {'sys)':>6} {'errors':>7}")
d = med.get("direct")
for t in order:
    if t not in med:
        continue
    m = med[t]
    vs = f"{m['rps'] / d['rps']:.2f}x" if d else "-"
    add = f"{m['p50'] - d['p50']:+.0f}" if d and t in ("nodown", "haproxy", "nginx") else ""
    rng = f"{m['lo']:.0f}..{m['hi']:.0f}"
    print(f"{t:<10} {m['rps']:>10.0f} {rng:>19} {m['p50']:>9.1f} {m['p99']:>9.1f} {vs:>10} {add:>8} "
          f"{m['pct']:>5.0f} {m['cpu']:>10.2f} {m['usr']:>6.2f} {m['sys']:>6.2f} {m['err']:>7}")
print("(direct-2: two wrk processes, one per backend, req/s summed, p50 averaged, p99 the worse)")
print("(cpu: CPU time of the serving process - the proxy, or the backend nginx worker(s) for direct -")
print(" per request and as % of one core over the run, from /proc/PID/stat utime+stime)")

mem_rows = [l.rstrip("\n").split("\t") for l in open(mem)]
if mem_rows:
    print()
    print("== resident memory holding idle keep-alive client connections (one request each) ==")
    print(f"{'proxy':<10} {'RSS before':>11} {'RSS after':>11} {'connections':>12} {'failed':>7} {'KiB/conn':>9}")
    per = {}
    for name, before, after, ok, failed, alive in mem_rows:
        before, after, ok = int(before), int(after), int(ok)
        per[name] = (after - before) / ok if ok else float("nan")
        print(f"{name:<10} {before:>8} KiB {after:>8} KiB {ok:>12} {failed:>7} {per[name]:>9.2f}")
    print("(RSS of the process holding the connections, from /proc/PID/status VmRSS; kernel socket memory not included)")

print()
print("== summary ==")
if "nodown" in med:
    n = med["nodown"]
    for other in ("haproxy", "nginx"):
        if other in med:
            print(f"nodown/{other:<8} req/s: {n['rps'] / med[other]['rps']:.2f}")
    for t in ("nodown", "haproxy", "nginx"):
        if t in med and d:
            print(f"{t:<8} vs direct: {med[t]['rps'] / d['rps']:.2f} of direct req/s, "
                  f"adds {med[t]['p50'] - d['p50']:+.0f} us at p50, {med[t]['p99'] - d['p99']:+.0f} us at p99")
    for other in ("haproxy", "nginx"):
        if other in med:
            print(f"nodown/{other:<8} CPU per request: {n['cpu'] / med[other]['cpu']:.2f} "
                  f"({n['cpu']:.2f} vs {med[other]['cpu']:.2f} us)")
if mem_rows:
    for name, *_ in mem_rows:
        print(f"{name:<8} memory: {per[name]:.2f} KiB per idle keep-alive connection")
total_err = sum(m["err"] for m in med.values())
if total_err:
    print(f"WARNING: {total_err} wrk errors (socket errors or non-2xx responses) in the timed runs")
EOF
