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
# latency each proxy adds (p50 difference to direct). Then the resident
# memory (VmRSS) of each proxy holding IDLE_CONNS idle keep-alive client
# connections, each of which has made one request.
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

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

# ---- tools ------------------------------------------------------------------

missing=""
for t in wrk haproxy nginx curl; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
[ -x "$PYTHON" ] || missing="$missing $PYTHON"
[ -z "$missing" ] || die "missing tools:$missing (install with: scripts/deps bench, or apt-get install wrk haproxy nginx-light curl python3)"
[ -x "$NODOWN" ] || die "$NODOWN not found or not executable; build it first with 'make'"
[ -r /proc/self/status ] || die "/proc is needed to read VmRSS"
case "$DURATION$RUNS$CONNS$IDLE_CONNS" in *[!0-9]*) die "DURATION, RUNS, CONNS and IDLE_CONNS must be whole numbers" ;; esac
[ "$RUNS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CONNS" -ge 2 ] || die "need RUNS >= 1, DURATION >= 1, CONNS >= 2"

# Raise the fd limit for the idle-connection test; fall back to the hard
# limit where 65536 is not permitted.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [ "$IDLE_CONNS" -gt 0 ] && [ "$NOFILE" != unlimited ] && [ $((IDLE_CONNS + 200)) -gt "$NOFILE" ]; then
	log "fd limit is $NOFILE (could not raise to 65536); lowering IDLE_CONNS from $IDLE_CONNS to $((NOFILE - 200))"
	IDLE_CONNS=$((NOFILE - 200))
fi

# ---- processes and cleanup --------------------------------------------------

TMP=$(mktemp -d /tmp/nodown-bench.XXXXXX)
PIDS=()

stop_pid() {	# stop_pid PID: TERM, wait up to 5 s, then KILL; its children too
	local pid=$1 kids i
	kill -0 "$pid" 2>/dev/null || return 0
	kids=$(pgrep -P "$pid" 2>/dev/null || true)
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	for k in $kids; do	# nginx workers, if their master went away first
		kill -0 "$k" 2>/dev/null && kill -KILL "$k" 2>/dev/null || true
	done
	return 0
}

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${PIDS[@]}"; do
		stop_pid "$p"
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# spawn NAME CMD...: start CMD in the background, output to $TMP/NAME.log;
# the PID is in $LASTPID (not $!, which a subshell would not see).
spawn() {
	local name=$1
	shift
	"$@" >"$TMP/$name.log" 2>&1 &
	LASTPID=$!
	PIDS+=("$LASTPID")
}

# wait_port PORT PID NAME: until PORT accepts connections (10 s at most)
wait_port() {
	local port=$1 pid=$2 name=$3 i
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.log" >&2; die "$name exited at startup (log above)"; }
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	cat "$TMP/$name.log" >&2
	die "$name did not listen on 127.0.0.1:$port within 10 s"
}

# free_ports N: N distinct ports the kernel considers free right now
free_ports() {
	"$PYTHON" - "$1" <<-'EOF'
	import socket, sys
	socks = []
	for _ in range(int(sys.argv[1])):
	    s = socket.socket()
	    s.bind(("127.0.0.1", 0))
	    socks.append(s)
	print(" ".join(str(s.getsockname()[1]) for s in socks))
	EOF
}

read -r P_B1 P_B2 P_ND P_HA P_NG P_NDM P_HAM P_NGM <<<"$(free_ports 8)"

# ---- configs ----------------------------------------------------------------

mkdir -p "$TMP/www"
# 100 bytes exactly.
printf '%s\n' "nodown bench payload: a small static file served by nginx, one hundred bytes long. 0123456789abc" \
	>"$TMP/www/index.html"
BODY_BYTES=$(wc -c <"$TMP/www/index.html")

# nginx_conf NAME BODY: a standalone nginx config in $TMP/NAME/ (1 worker,
# foreground, no access log, every path in $TMP) around the http{} BODY.
nginx_conf() {
	local name=$1 body=$2 d="$TMP/$1"
	mkdir -p "$d"
	cat >"$d/nginx.conf" <<-EOF
	daemon off;
	master_process on;
	worker_processes 1;
	worker_rlimit_nofile $NOFILE;
	pid $d/nginx.pid;
	error_log $d/error.log warn;
	events { worker_connections $((NOFILE - 100)); }
	http {
	    access_log off;
	    client_body_temp_path $d/body;
	    proxy_temp_path $d/proxy;
	    fastcgi_temp_path $d/fastcgi;
	    uwsgi_temp_path $d/uwsgi;
	    scgi_temp_path $d/scgi;
	    keepalive_requests 100000000;
	    keepalive_timeout 600s;
	    default_type text/html;
	$body
	}
	EOF
}

for b in 1 2; do
	port_var=P_B$b
	nginx_conf "backend$b" "
	    server {
	        listen 127.0.0.1:${!port_var} backlog=4096;
	        root $TMP/www;
	        location / { }
	    }"
done

nginx_conf nginx-proxy "
    upstream backends {
        server 127.0.0.1:$P_B1;
        server 127.0.0.1:$P_B2;
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 600s;
    }
    server {
        listen 127.0.0.1:$P_NG backlog=4096;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }
    server {
        listen 127.0.0.1:$P_NGM backlog=4096;
        keepalive_timeout 600s;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
        }
    }"

# nodown_conf FILE PORT MAXCONN IDLE_TIMEOUT
nodown_conf() {
	cat >"$1" <<-EOF
	workers: 1
	pid_file: $TMP/nodown-$2.pid
	admin: { socket: "$TMP/nodown-$2.sock" }
	log: { access: "off", error: "stderr" }
	listeners:
	  - name: bench
	    protocol: http
	    bind: 127.0.0.1:$2
	    pool: backends
	    backlog: 4096
	    max_connections: $3
	    idle_timeout: $4
	pools:
	  - name: backends
	    protocol: http
	    balance: round_robin
	    backends:
	      - { name: b1, address: "127.0.0.1:$P_B1" }
	      - { name: b2, address: "127.0.0.1:$P_B2" }
	EOF
}
nodown_conf "$TMP/nodown.yml" "$P_ND" 100000 60s
nodown_conf "$TMP/nodown-mem.yml" "$P_NDM" 1000000 10m
"$NODOWN" check -c "$TMP/nodown.yml" >/dev/null || die "nodown rejected the bench config $TMP/nodown.yml"

# haproxy_conf FILE PORT MAXCONN KEEPALIVE_TIMEOUT
haproxy_conf() {
	cat >"$1" <<-EOF
	global
	    nbthread 1
	    maxconn $3
	    pidfile $TMP/haproxy-$2.pid
	defaults
	    mode http
	    option http-keep-alive
	    timeout connect 5s
	    timeout client 60s
	    timeout server 60s
	    timeout http-request 10s
	    timeout http-keep-alive $4
	frontend bench
	    bind 127.0.0.1:$2
	    maxconn $3
	    default_backend backends
	backend backends
	    balance roundrobin
	    server b1 127.0.0.1:$P_B1
	    server b2 127.0.0.1:$P_B2
	EOF
}
haproxy_conf "$TMP/haproxy.cfg" "$P_HA" 4096 60s
haproxy -c -q -f "$TMP/haproxy.cfg" || die "haproxy rejected the bench config $TMP/haproxy.cfg"

# ---- start everything -------------------------------------------------------

spawn backend1 nginx -p "$TMP/backend1" -c "$TMP/backend1/nginx.conf"
PID_B1=$LASTPID
spawn backend2 nginx -p "$TMP/backend2" -c "$TMP/backend2/nginx.conf"
PID_B2=$LASTPID
spawn nodown "$NODOWN" serve -c "$TMP/nodown.yml"
PID_ND=$LASTPID
spawn haproxy haproxy -db -f "$TMP/haproxy.cfg"
PID_HA=$LASTPID
spawn nginx-proxy nginx -p "$TMP/nginx-proxy" -c "$TMP/nginx-proxy/nginx.conf"
PID_NG=$LASTPID
wait_port "$P_B1" "$PID_B1" backend1
wait_port "$P_B2" "$PID_B2" backend2
wait_port "$P_ND" "$PID_ND" nodown
wait_port "$P_HA" "$PID_HA" haproxy
wait_port "$P_NG" "$PID_NG" nginx-proxy

TARGETS=(direct direct-2 nodown haproxy nginx)
declare -A URL=(
	[direct]="http://127.0.0.1:$P_B1/index.html"
	[nodown]="http://127.0.0.1:$P_ND/index.html"
	[haproxy]="http://127.0.0.1:$P_HA/index.html"
	[nginx]="http://127.0.0.1:$P_NG/index.html"
)

# Every target must serve the file byte for byte before anything is timed.
for t in direct nodown haproxy nginx; do
	got=$(curl -sS --max-time 5 "${URL[$t]}") || die "$t: request to ${URL[$t]} failed"
	[ "$got" = "$(cat "$TMP/www/index.html")" ] || die "$t: ${URL[$t]} did not return the expected body"
done
got=$(curl -sS --max-time 5 "http://127.0.0.1:$P_B2/index.html") || die "backend2 does not answer"

# ---- throughput and latency -------------------------------------------------

# wrk_parse FILE: "RPS P50_US P99_US ERRORS REQUESTS" from wrk --latency output
wrk_parse() {
	awk '
	function us(v) {
		if (v ~ /us$/) return v + 0
		if (v ~ /ms$/) return (v + 0) * 1000
		if (v ~ /m$/)  return (v + 0) * 60e6
		if (v ~ /s$/)  return (v + 0) * 1e6
		return -1
	}
	/Requests\/sec:/ { rps = $2 }
	/^ +50%/ { p50 = us($2) }
	/^ +99%/ { p99 = us($2) }
	/requests in/ { reqs = $1 }
	/Socket errors:/ { gsub(",", ""); err += $4 + $6 + $8 + $10 }
	/Non-2xx or 3xx responses:/ { err += $5 }
	END { printf "%s %s %s %d %s\n", rps == "" ? 0 : rps, p50 == "" ? -1 : p50, p99 == "" ? -1 : p99, err, reqs == "" ? 0 : reqs }
	' "$1"
}

# run_wrk CONNS SECONDS URL OUT: one bounded wrk run
run_wrk() {
	timeout -k 5 $(($2 + 30)) wrk -t1 -c"$1" -d"$2"s --latency "$3" >"$4" 2>&1 || true
}

RESULTS=$TMP/results.tsv
: >"$RESULTS"

# measure TARGET ROUND SECONDS: one measurement; appends to $RESULTS
measure() {
	local t=$1 round=$2 secs=$3 out="$TMP/wrk-$1-$2" a b
	if [ "$t" = direct-2 ]; then
		# Both backends at once, CONNS/2 each: what the backends can do
		# together when nothing sits in front of them.
		run_wrk $((CONNS / 2)) "$secs" "http://127.0.0.1:$P_B1/index.html" "$out.a" &
		local w1=$!
		run_wrk $((CONNS - CONNS / 2)) "$secs" "http://127.0.0.1:$P_B2/index.html" "$out.b"
		wait "$w1" || true
		read -r -a a <<<"$(wrk_parse "$out.a")"
		read -r -a b <<<"$(wrk_parse "$out.b")"
		# rps summed; p50 the mean of the two, p99 the worse of the two
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$round" \
			"$(awk -v x="${a[0]}" -v y="${b[0]}" 'BEGIN { printf "%.2f", x + y }')" \
			"$(awk -v x="${a[1]}" -v y="${b[1]}" 'BEGIN { printf "%.1f", (x + y) / 2 }')" \
			"$(awk -v x="${a[2]}" -v y="${b[2]}" 'BEGIN { printf "%.1f", x > y ? x : y }')" \
			"$((a[3] + b[3]))" >>"$RESULTS"
		[ "${a[4]}" != 0 ] && [ "${b[4]}" != 0 ] || { cat "$out.a" "$out.b" >&2; die "$t: wrk made no requests"; }
	else
		run_wrk "$CONNS" "$secs" "${URL[$t]}" "$out"
		read -r -a a <<<"$(wrk_parse "$out")"
		[ "${a[4]}" != 0 ] || { cat "$out" >&2; die "$t: wrk made no requests (output above)"; }
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$round" "${a[0]}" "${a[1]}" "${a[2]}" "${a[3]}" >>"$RESULTS"
	fi
	[ "$round" = 0 ] && return 0
	tail -n 1 "$RESULTS" | awk -F'\t' '{ printf "bench:   %-9s round %s: %10.0f req/s  p50 %8.1f us  p99 %8.1f us  errors %s\n", $1, $2, $3, $4, $5, $6 }' >&2
}

log "nodown $("$NODOWN" version 2>/dev/null || echo '?'), $(haproxy -v | head -n 1 | awk '{ print "HAProxy " $3 }'), $(nginx -v 2>&1 | sed 's/.*\///;s/^/nginx /'), $(wrk --version 2>&1 | head -n 1 | awk '{ print "wrk " $2 }')"
log "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); fd limit $NOFILE; body $BODY_BYTES bytes"
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
		ngw=$(pgrep -P "$PID_NGM" | head -n 1)
		[ -n "$ngw" ] || die "nginx-mem: no worker process found"
		mem_test nginx "$P_NGM" "$ngw"
		stop_pid "$PID_NGM"
	fi
fi

# ---- report -----------------------------------------------------------------

"$PYTHON" - "$RESULTS" "$MEMRES" "$DURATION" "$RUNS" "$CONNS" <<-'EOF'
import statistics, sys

res, mem, dur, runs, conns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
order = ["direct", "direct-2", "nodown", "haproxy", "nginx"]
rows = {}
for line in open(res):
    t, rnd, rps, p50, p99, err = line.rstrip("\n").split("\t")
    rows.setdefault(t, []).append((float(rps), float(p50), float(p99), int(err)))

med = {}
for t in order:
    if t not in rows:
        continue
    r = rows[t]
    med[t] = dict(rps=statistics.median(x[0] for x in r), p50=statistics.median(x[1] for x in r),
                  p99=statistics.median(x[2] for x in r), err=sum(x[3] for x in r),
                  lo=min(x[0] for x in r), hi=max(x[0] for x in r))

print()
print(f"== HTTP/1.1 keep-alive, {dur} s x {runs} interleaved runs, wrk -t1 -c{conns}, medians ==")
print(f"{'target':<10} {'req/s':>10} {'min..max req/s':>19} {'p50 us':>9} {'p99 us':>9} {'vs direct':>10} {'+p50 us':>8} {'errors':>7}")
d = med.get("direct")
for t in order:
    if t not in med:
        continue
    m = med[t]
    vs = f"{m['rps'] / d['rps']:.2f}x" if d else "-"
    add = f"{m['p50'] - d['p50']:+.0f}" if d and t in ("nodown", "haproxy", "nginx") else ""
    rng = f"{m['lo']:.0f}..{m['hi']:.0f}"
    print(f"{t:<10} {m['rps']:>10.0f} {rng:>19} {m['p50']:>9.1f} {m['p99']:>9.1f} {vs:>10} {add:>8} {m['err']:>7}")
print("(direct-2: two wrk processes, one per backend, req/s summed, p50 averaged, p99 the worse)")

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
if mem_rows:
    for name, *_ in mem_rows:
        print(f"{name:<8} memory: {per[name]:.2f} KiB per idle keep-alive connection")
total_err = sum(m["err"] for m in med.values())
if total_err:
    print(f"WARNING: {total_err} wrk errors (socket errors or non-2xx responses) in the timed runs")
EOF
