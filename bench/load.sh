#!/usr/bin/env bash
# bench/load.sh - can `nodown load` drive a server as hard as wrk?
#
# One nginx (1 worker) serves a 100-byte file on a free 127.0.0.1 port.
# wrk (-t1) and `nodown load` (one thread, asked for far more than the
# server can do, so it runs flat out) each send DURATION seconds of
# keep-alive GETs on CONNS connections, RUNS times interleaved; medians of
# requests/s are printed with the ratio nodown-load/wrk (goal: >= 0.80).
set -euo pipefail

DURATION=${DURATION:-5}
RUNS=${RUNS:-3}
CONNS=${CONNS:-50}
HERE=$(cd "$(dirname "$0")" && pwd)
NODOWN=${NODOWN:-$HERE/../build/nodown}

command -v wrk >/dev/null && command -v nginx >/dev/null ||
	{ echo "bench: needs wrk and nginx (scripts/deps bench)" >&2; exit 1; }
[ -x "$NODOWN" ] || { echo "bench: build nodown first (make)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/nodown-bench-load.XXXXXX)
chmod 755 "$TMP"
NGINX_PID=
cleanup() {
	[ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$TMP/www"
printf '%0100d' 0 >"$TMP/www/index.html"
cat >"$TMP/nginx.conf" <<EOC
daemon off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/body;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server { listen 127.0.0.1:$PORT backlog=4096; root $TMP/www; }
}
EOC
nginx -p "$TMP" -c "$TMP/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

URL="http://127.0.0.1:$PORT/index.html"
wrk_rates=() load_rates=()
for run in $(seq "$RUNS"); do
	w=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "$URL" | awk '/Requests\/sec/ {print $2}')
	l=$("$NODOWN" load http "$URL" --rate 10000000 --duration "${DURATION}s" -c "$CONNS" -q --json --timeout 1s |
		/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["rate_achieved"])')
	echo "run $run: wrk $w req/s, nodown load $l req/s" >&2
	wrk_rates+=("$w") load_rates+=("$l")
done
/usr/bin/python3 - "${wrk_rates[*]}" "${load_rates[*]}" <<'EOP'
import statistics, sys
w = statistics.median(map(float, sys.argv[1].split()))
l = statistics.median(map(float, sys.argv[2].split()))
print(f"wrk          {w:10.0f} req/s (median)")
print(f"nodown load  {l:10.0f} req/s (median)")
print(f"nodown load / wrk: {l / w:.2f} (goal >= 0.80)")
EOP
