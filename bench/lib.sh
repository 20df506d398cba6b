# shellcheck shell=bash disable=SC2034,SC2015
# bench/lib.sh - shared by bench/http.sh and bench/profile.sh; sourced, not run.
#
# Checks the tools, raises the fd limit, makes a temporary directory, writes
# the configs and starts, on free 127.0.0.1 ports: two nginx backends
# (P_B1, P_B2) serving a 100-byte /index.html, nodown (P_ND), HAProxy
# (P_HA) and nginx as a proxy (P_NG), each proxy with one worker thread.
# Every process started is stopped by PID on exit, and the directory
# removed (KEEP_TMP=1 keeps it).
#
# Expects: set -euo pipefail; PYTHON, HERE, NODOWN set by the caller.

# shellcheck source=bench/proc.sh
. "$HERE/proc.sh"	# die, log, $TMP, PIDS, stop_pid, spawn, wait_port, free_ports

# ---- tools ------------------------------------------------------------------

missing=""
for t in wrk haproxy nginx curl; do
	command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
done
[ -x "$PYTHON" ] || missing="$missing $PYTHON"
[ -z "$missing" ] || die "missing tools:$missing (install with: scripts/deps bench, or apt-get install wrk haproxy nginx-light curl python3)"
[ -x "$NODOWN" ] || die "$NODOWN not found or not executable; build it first with 'make'"
[ -r /proc/self/status ] || die "/proc is needed to read VmRSS"

# Raise the fd limit for the idle-connection test; fall back to the hard
# limit where 65536 is not permitted.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

read -r P_B1 P_B2 P_ND P_HA P_NG P_NDM P_HAM P_NGM <<<"$(free_ports 8)"

# ---- configs ----------------------------------------------------------------

mkdir -p "$TMP/www"
# 100 bytes exactly.
printf '%s\n' "nodown bench payload: a small static file served by nginx, one hundred bytes long. 0123456789abcdef" \
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

# ---- wrk and CPU accounting ------------------------------------------------

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

# The process whose CPU time each target costs: the proxy (all its
# threads), or for direct the backends' nginx workers.
CLK_TCK=$(getconf CLK_TCK)
# worker_of PID: the (first) child of nginx master PID, waiting up to 5 s for it
worker_of() {
	local i w
	for ((i = 0; i < 50; i++)); do
		w=$(pgrep -P "$1" | head -n 1 || true)
		[ -n "$w" ] && { echo "$w"; return 0; }
		sleep 0.1
	done
	return 0
}
W_B1=$(worker_of "$PID_B1")
W_B2=$(worker_of "$PID_B2")
W_NG=$(worker_of "$PID_NG")
[ -n "$W_B1" ] && [ -n "$W_B2" ] && [ -n "$W_NG" ] || die "could not find the nginx worker processes"
declare -A CPU_PIDS=(
	[direct]="$W_B1"
	[direct-2]="$W_B1 $W_B2"
	[nodown]="$PID_ND"
	[haproxy]="$PID_HA"
	[nginx]="$W_NG"
)
# cpu_ticks PID...: "USER SYS" clock ticks used so far, summed over PIDs
cpu_ticks() {
	local p u=0 s=0 f
	for p in "$@"; do
		# fields after the ")" that ends the command name: utime is the 12th, stime the 13th
		read -r -a f <<<"$(sed 's/^.*) //' "/proc/$p/stat")"
		u=$((u + f[11]))
		s=$((s + f[12]))
	done
	echo "$u $s"
}

