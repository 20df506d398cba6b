# shellcheck shell=bash disable=SC2034,SC2015
# bench/proc.sh - processes, cleanup and ports for every bench script;
# sourced (by bench/lib.sh and bench/pg.sh), not run.
#
# Makes the temporary directory $TMP (/tmp/nodown-bench.XXXXXX, mode 755 so
# servers that drop root can enter it) and sets traps so that on any exit
# every process started with spawn (or added to PIDS) is stopped by PID,
# then the caller's on_cleanup function runs if it defined one, then $TMP
# is removed (KEEP_TMP=1 keeps it).
#
# Expects: set -euo pipefail; PYTHON set by the caller.

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

TMP=$(mktemp -d /tmp/nodown-bench.XXXXXX)
chmod 755 "$TMP"	# nginx workers, PostgreSQL and PgBouncer run unprivileged when started as root
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
	if declare -F on_cleanup >/dev/null; then
		on_cleanup || true
	fi
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
	"$PYTHON" - "$1" <<-'PY'
	import socket, sys
	socks = []
	for _ in range(int(sys.argv[1])):
	    s = socket.socket()
	    s.bind(("127.0.0.1", 0))
	    socks.append(s)
	print(" ".join(str(s.getsockname()[1]) for s in socks))
	PY
}

# watchdog SECONDS: TERM this script (so the traps clean up) if it is still
# running after SECONDS; the sleeper is itself stopped at exit.
watchdog() {
	local me=$$
	(
		sleep "$1"
		echo "bench: time limit of $1 s reached, stopping" >&2
		kill -TERM "$me"
	) &
	PIDS+=("$!")
}
