#!/usr/bin/env bash
# bench/profile.sh - where nodown spends its time under wrk load, beside HAProxy.
#
# Usage: bench/profile.sh
#
# Same setup as bench/http.sh (two nginx backends, one-worker proxies,
# 127.0.0.1 only). Three views, each bounded in time:
#   1. syscalls per request for nodown, HAProxy and nginx while wrk runs:
#      what each proxy asks the kernel for per request. Counted with perf
#      stat on the syscall tracepoints (exact, full speed), or failing that
#      strace -c -f (slows the proxy, which changes some counts).
#   2. perf record -e cpu-clock (a software clock, for machines without
#      hardware counters) on the running nodown and HAProxy, kernel
#      included: user vs kernel split and the top symbols.
#   3. valgrind --tool=callgrind on nodown under a light wrk load: exact
#      user-space instruction counts per function (callgrind_annotate).
# Skips a view whose tool is missing or unusable.
#
# Environment: SECONDS_PER=5 (perf and callgrind load time), CONNS=50,
#   TOP=25 (functions listed), STEPS="syscalls perf callgrind",
#   NODOWN=build/nodown
set -euo pipefail

SECONDS_PER=${SECONDS_PER:-5}
CONNS=${CONNS:-50}
TOP=${TOP:-25}
STEPS=${STEPS:-syscalls perf callgrind}
PYTHON=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NODOWN=${NODOWN:-$ROOT/build/nodown}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

URL_ND="http://127.0.0.1:$P_ND/index.html"
URL_HA="http://127.0.0.1:$P_HA/index.html"
URL_NG="http://127.0.0.1:$P_NG/index.html"
declare -A PURL=([nodown]="$URL_ND" [haproxy]="$URL_HA" [nginx]="$URL_NG")
declare -A PPID_OF=([nodown]="$PID_ND" [haproxy]="$PID_HA" [nginx]="$W_NG")

# Warm every proxy up so connection pools are filled before anything is counted.
for p in nodown haproxy nginx; do
	run_wrk "$CONNS" 1 "${PURL[$p]}" "$TMP/warm-$p"
done

section() { printf '\n== %s ==\n' "$*"; }

# ---- 1. syscalls per request ----------------------------------------------------

SYSCALLS="read write readv writev recvfrom sendto recvmsg sendmsg epoll_wait epoll_pwait epoll_ctl
	getsockopt setsockopt clock_gettime accept4 connect close shutdown"

# print_per_request NAME REQUESTS FILE: FILE has "COUNT SYSCALL [ERRORS]" lines
print_per_request() {
	awk -v reqs="$2" '{ if ($1 / reqs >= 0.01) printf "%.2f %s %s\n", $1 / reqs, $2, ($3 > 0 ? sprintf("(%d%%_failed)", 100 * $3 / $1) : "") }' "$3" |
		sort -rn >"$3.per"
	printf '%-8s %s requests, %.2f syscalls per request (all kinds):\n' "$1" "$2" "$4"
	awk '{ sub("_", " ", $3); printf "    %6.2f  %s %s\n", $1, $2, $3 }' "$3.per"
}

if [[ " $STEPS " == *" syscalls "* ]]; then
	if perf stat -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
		# Syscall tracepoints: exact counts at full speed.
		events=raw_syscalls:sys_enter
		for sc in $SYSCALLS; do
			events="$events,syscalls:sys_enter_$sc"
		done
		section "syscalls per request (perf stat syscall tracepoints, ${SECONDS_PER}s of wrk -c$CONNS)"
		for p in nodown haproxy nginx; do
			out="$TMP/sys-$p.csv"
			timeout -k 5 "$((SECONDS_PER + 20))" perf stat -x, -e "$events" -p "${PPID_OF[$p]}" -o "$out" \
				-- sleep "$((SECONDS_PER + 1))" >/dev/null 2>&1 &
			spid=$!
			PIDS+=("$spid")
			sleep 0.5
			run_wrk "$CONNS" "$SECONDS_PER" "${PURL[$p]}" "$TMP/wrk-sys-$p"
			wait "$spid" 2>/dev/null || true
			read -r -a w <<<"$(wrk_parse "$TMP/wrk-sys-$p")"
			# Counted from 0.5 s before wrk to 0.5 s after: every request
			# wrk made, plus a little idle polling.
			awk -F, '$1 ~ /^[0-9]+$/ && $3 ~ /^syscalls:sys_enter_/ { sub("syscalls:sys_enter_", "", $3); print $1, $3 }' \
				"$out" >"$out.counts"
			total=$(awk -F, '$3 == "raw_syscalls:sys_enter" { print $1 }' "$out")
			print_per_request "$p" "${w[4]}" "$out.counts" \
				"$(awk -v t="${total:-0}" -v r="${w[4]}" 'BEGIN { printf "%.2f", t / r }')"
		done
	elif command -v strace >/dev/null 2>&1; then
		section "syscalls per request (strace -c -f, ${SECONDS_PER}s of wrk -c$CONNS; strace slows the proxy, counts per request are what matters)"
		for p in nodown haproxy nginx; do
			out="$TMP/strace-$p.txt"
			timeout -s INT "$((SECONDS_PER + 1))" strace -c -f -q -o "$out" -p "${PPID_OF[$p]}" &
			spid=$!
			PIDS+=("$spid")
			sleep 0.5
			run_wrk "$CONNS" "$SECONDS_PER" "${PURL[$p]}" "$TMP/wrk-strace-$p"
			wait "$spid" 2>/dev/null || true
			read -r -a w <<<"$(wrk_parse "$TMP/wrk-strace-$p")"
			awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $4, $NF, (NF == 6 ? $5 : 0) }' "$out" >"$out.counts"
			print_per_request "$p" "${w[4]}" "$out.counts" \
				"$(awk -v r="${w[4]}" '{ t += $1 } END { printf "%.2f", t / r }' "$out.counts")"
		done
	else
		log "neither perf syscall tracepoints nor strace available; skipping syscall counts"
	fi
fi

# ---- 2. perf, kernel included -----------------------------------------------------

perf_ok() { command -v perf >/dev/null 2>&1 && perf record -q -e cpu-clock -o "$TMP/perf-probe.data" -- true >/dev/null 2>&1; }

if [[ " $STEPS " == *" perf "* ]]; then
	if ! perf_ok; then
		log "perf record -e cpu-clock does not work here; skipping the kernel-inclusive profile"
	else
		for p in nodown haproxy; do
			data="$TMP/perf-$p.data"
			timeout -s INT "$((SECONDS_PER + 1))" perf record -q -e cpu-clock -F 4999 -g -o "$data" -p "${PPID_OF[$p]}" >/dev/null 2>&1 &
			ppid=$!
			PIDS+=("$ppid")
			sleep 0.5
			run_wrk "$CONNS" "$SECONDS_PER" "${PURL[$p]}" "$TMP/wrk-perf-$p"
			wait "$ppid" 2>/dev/null || true
			read -r -a w <<<"$(wrk_parse "$TMP/wrk-perf-$p")"
			section "perf cpu-clock: $p at ${w[0]} req/s (wrk -c$CONNS) - by object"
			# (every "|| true": head closes the pipe early, which pipefail would report)
			perf report -i "$data" --stdio --no-children --sort dso -g none 2>/dev/null |
				grep '%' | grep -v '^#' | sed 's/ *$//' | head -n 8 || true
			section "perf cpu-clock: $p - kernel time by syscall, callees included"
			perf report -i "$data" --stdio --children --sort symbol -g none 2>/dev/null |
				grep -E '\] (do_syscall_64|ksys_read|ksys_write|do_writev|do_readv|__sys_recvfrom|__sys_sendto|__sys_recvmsg|__sys_sendmsg|do_epoll_wait|do_epoll_ctl|__sys_accept4|__sys_connect|__sys_getsockopt|__sys_setsockopt|__x64_sys_clock_gettime|__x64_sys_close|__x64_sys_shutdown) +- +- *$' |
				sed 's/ *- *- *$//' | awk '{ printf "    %7s  %s\n", $1, $NF }' | head -n 12 || true
			section "perf cpu-clock: $p - top $TOP symbols, self time, kernel included"
			perf report -i "$data" --stdio --no-children --sort dso,symbol -g none 2>/dev/null |
				grep '%' | grep -v '^#' | sed 's/ *- *- *$//' | head -n "$TOP" || true
		done
	fi
fi

# ---- 3. callgrind: exact user-space instructions ------------------------------------

if [[ " $STEPS " == *" callgrind "* ]]; then
	if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_annotate >/dev/null 2>&1; then
		log "valgrind not installed; skipping callgrind (apt-get install valgrind)"
	else
		cg="$TMP/callgrind.out"
		spawn nodown-callgrind valgrind --tool=callgrind --callgrind-out-file="$cg" \
			"$NODOWN" serve -c "$TMP/nodown-mem.yml"
		PID_CG=$LASTPID
		for ((i = 0; i < 300; i++)); do	# valgrind starts slowly: 30 s at most
			(exec 3<>"/dev/tcp/127.0.0.1/$P_NDM") 2>/dev/null && break
			kill -0 "$PID_CG" 2>/dev/null || break
			sleep 0.1
		done
		wait_port "$P_NDM" "$PID_CG" nodown-callgrind
		# Few connections: under valgrind nodown runs ~50x slower; the
		# point is the instruction mix per request, not the rate.
		run_wrk 10 "$((SECONDS_PER * 2))" "http://127.0.0.1:$P_NDM/index.html" "$TMP/wrk-callgrind"
		read -r -a w <<<"$(wrk_parse "$TMP/wrk-callgrind")"
		stop_pid "$PID_CG"
		[ -s "$cg" ] || { cat "$TMP/nodown-callgrind.log" >&2; die "callgrind wrote no profile"; }
		# (the "|| true"s: awk and head stop reading early, which pipefail would report)
		total=$(callgrind_annotate "$cg" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' || true)
		reqs=$((w[4] > 0 ? w[4] : 1))
		section "callgrind: nodown, ${w[4]} requests (wrk -t1 -c10 for $((SECONDS_PER * 2)) s under valgrind): $total instructions, $((total / reqs)) per request (startup and shutdown included)"
		# rows: "1,234 (12.34%)  /dir/file.c:function [/dir/object]" -> per request, short names
		cg_rows() {
			awk -v reqs="$reqs" '
				/PROGRAM TOTALS/ { next }
				match($0, /^ *[0-9,]+ +\( *[0-9.]+%\) +/) {
					head = substr($0, 1, RLENGTH); rest = substr($0, RLENGTH + 1)
					n = head; sub(/^ */, "", n); sub(/ .*/, "", n); gsub(",", "", n)
					pct = head; sub(/^[^(]*\( */, "", pct); sub(/\).*/, "", pct)
					gsub(/[^ :\[]*\//, "", rest)
					printf "  %8.0f  %6s  %s\n", n / reqs, pct, rest
				}'
		}
		echo "-- top $TOP functions by own instructions (exclusive): instructions per request, share, function"
		callgrind_annotate --threshold=100 "$cg" 2>/dev/null | cg_rows | head -n "$TOP" || true
		echo "-- top $TOP functions including their callees (inclusive)"
		# (callgrind_annotate lists some functions twice here, once without
		# their object; keep the row that names it)
		callgrind_annotate --inclusive=yes --threshold=100 "$cg" 2>/dev/null | cg_rows | grep ']$' | head -n "$TOP" || true
		if [ "${KEEP_TMP:-0}" = 1 ]; then
			log "callgrind profile: $cg (callgrind_annotate --tree=both $cg for callers and callees)"
		fi
	fi
fi
