#!/usr/bin/env bash
# bench/pg.sh - PostgreSQL pooling benchmark: nodown vs PgBouncer vs direct,
# and the primary switchover stall each one makes clients see.
#
# Usage: bench/pg.sh            (or: make bench-pg)
#
# Environment:
#   BENCH_SECONDS=10  seconds per pgbench run
#   RUNS=3            rounds; each round runs every mode on every target, interleaved
#   CLIENTS=16 THREADS=2   pgbench -c / -j for the throughput runs
#   SCALE=10          pgbench scale factor (pgbench -i -s)
#   SW_CLIENTS=8      pgbench -c during a switchover
#   SW_SECONDS=15 SW_AT=5  switchover run length, and when the switchover starts
#   SW_RUNS=3         switchovers through each proxy (alternating pg1 <-> pg2)
#   ND_WORKERS=1      nodown worker threads (PgBouncer has one)
#   NODOWN=build/nodown
#
# Setup (tests/integration/helpers/pgcluster.py): Debian's PostgreSQL 15, a
# primary pg1 and a streaming standby pg2 (pg_basebackup), run as the
# postgres user when we are root; fsync=off (synchronous_commit on), so the
# disk does not hide the proxies' cost. pgbench -i -s SCALE. PgBouncer
# (/usr/sbin/pgbouncer, as postgres when root): pool_mode=transaction,
# default_pool_size=20, auth_type=scram-sha-256 with an auth_file of plain
# passwords, admin console user postgres. nodown: listener `db` with
# protocol pg -> pool `main` (transaction pooling, 20 server connections)
# over pg1 and pg2, run only if `nodown check` accepts that config, else
# reported as n/a. Everything listens on free 127.0.0.1 ports.
#
# Throughput: pgbench -S (select only) and the TPC-B-like default, -n -M
# simple -c CLIENTS -j THREADS -T BENCH_SECONDS, against pg1 directly (the
# limit), PgBouncer and nodown; RUNS interleaved rounds; medians of tps and
# average latency, ratios nodown/direct, pgbouncer/direct, nodown/pgbouncer.
# Before each TPC-B run pgbench's own preparation (vacuum of branches and
# tellers, truncate history) is done directly on the primary, untimed.
#
# Switchover: pgbench TPC-B -c SW_CLIENTS -M simple through PgBouncer while
# bench/pg_switchover.py performs PgBouncer's scripted switchover from the
# primary to the standby (PAUSE, wait for the standby to replay the
# primary's LSN, fast stop of the primary, pg_promote() on the standby and
# wait until out of recovery, rewrite pgbouncer.ini, RELOAD, RESUME); then
# the old primary is pg_rewound into a standby of the new one and the next
# run switches back: SW_RUNS times. Reported per run and as medians:
# pgbench errors and aborted clients, the stall (longest gap between
# consecutive transaction ends over all clients, from pgbench's
# per-transaction logs) and PAUSE returned -> RESUME done (a lower bound of
# it). If nodown supports it, `nodown switchover main --to STANDBY` (nodown
# restarted first) runs SW_RUNS times under the same load, measured alike.
#
# Bounded: every pgbench has a timeout, and a watchdog stops the script
# after a limit computed from the settings. Every process started here is
# stopped by PID on exit (PostgreSQL through pgcluster.py down, which
# signals the postmasters by PID); all files live in one temporary
# directory (KEEP_TMP=1 keeps it).
# shellcheck disable=SC2015
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-10}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-16}
THREADS=${THREADS:-2}
SCALE=${SCALE:-10}
SW_CLIENTS=${SW_CLIENTS:-8}
SW_SECONDS=${SW_SECONDS:-15}
SW_AT=${SW_AT:-5}
SW_RUNS=${SW_RUNS:-3}
ND_WORKERS=${ND_WORKERS:-1}
PYTHON=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
NODOWN=${NODOWN:-$ROOT/build/nodown}
PGC=$ROOT/tests/integration/helpers/pgcluster.py
PG_BIN=/usr/lib/postgresql/15/bin
PGBENCH=$PG_BIN/pgbench
PSQL=$PG_BIN/psql
PGBOUNCER=/usr/sbin/pgbouncer

case "$BENCH_SECONDS$RUNS$CLIENTS$THREADS$SCALE$SW_CLIENTS$SW_SECONDS$SW_AT$SW_RUNS$ND_WORKERS" in
*[!0-9]*) echo "bench: BENCH_SECONDS, RUNS, CLIENTS, THREADS, SCALE, SW_* and ND_WORKERS must be whole numbers" >&2; exit 2 ;;
esac
[ "$RUNS" -ge 1 ] && [ "$BENCH_SECONDS" -ge 1 ] && [ "$SW_SECONDS" -gt $((SW_AT + 2)) ] ||
	{ echo "bench: need RUNS >= 1, BENCH_SECONDS >= 1, SW_SECONDS > SW_AT + 2" >&2; exit 2; }

# shellcheck source=bench/proc.sh
. "$HERE/proc.sh"

# ---- tools ------------------------------------------------------------------

missing=""
for t in "$PGBENCH" "$PSQL" "$PG_BIN/pg_ctl" "$PGBOUNCER" "$PYTHON"; do
	[ -x "$t" ] || missing="$missing $t"
done
[ -z "$missing" ] || die "missing tools:$missing (install with: scripts/deps bench)"
"$PYTHON" -c 'import psycopg' 2>/dev/null || die "python3-psycopg is missing (scripts/deps bench)"
[ -x "$NODOWN" ] || die "$NODOWN not found or not executable; build it first with 'make'"
if [ "$(id -u)" = 0 ]; then
	id postgres >/dev/null 2>&1 || die "running as root, but there is no 'postgres' user to run PostgreSQL and PgBouncer as"
fi

# Everything below is bounded; this is the backstop.
watchdog $((180 + RUNS * 2 * 3 * (BENCH_SECONDS + 20) + 2 * SW_RUNS * (SW_SECONDS + 120) + SCALE * 10))

# ---- PostgreSQL ---------------------------------------------------------------

on_cleanup() {	# after the proxies and pgbench are stopped
	local keep=()
	[ "${KEEP_TMP:-0}" = 1 ] && keep=(keep)
	"$PYTHON" "$PGC" down "$TMP/pg" "${keep[@]}" || log "pgcluster.py down failed; postmasters were pids ${PG1_PID:-?} ${PG2_PID:-?}"
}

log "starting PostgreSQL 15 primary pg1 + streaming standby pg2"
out=$("$PYTHON" "$PGC" up "$TMP/pg") || die "could not start PostgreSQL (output above)"
eval "$out"	# PG1_PORT PG2_PORT PG_SOCKDIR PG_AUTH_FILE PG_APP_PASSWORD ...
log "PostgreSQL ready in ${PG_SETUP_SECONDS}s (initdb + copy + pg_basebackup): pg1 :$PG1_PORT, pg2 :$PG2_PORT"

# pg_sql PORT SQL [DB]: run SQL as postgres on the Unix socket, print the result
pg_sql() {
	PGCONNECT_TIMEOUT=10 "$PSQL" -X -A -t -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p "$1" -U postgres -d "${3:-postgres}" -c "$2"
}

# prepare_tpcb [PORT]: what pgbench does before a TPC-B run unless -n,
# done directly on the primary (pg1 by default) and untimed, so every
# target starts alike
prepare_tpcb() {
	local sql
	for sql in "VACUUM pgbench_branches" "VACUUM pgbench_tellers" "TRUNCATE pgbench_history"; do
		pg_sql "${1:-$PG1_PORT}" "$sql" app >/dev/null
	done
}

# wait_replayed [PRIMARY_PORT STANDBY_PORT]: the standby (pg2) has replayed
# everything the primary (pg1) wrote so far
wait_replayed() {
	local p=${1:-$PG1_PORT} s=${2:-$PG2_PORT} lsn i
	lsn=$(pg_sql "$p" "SELECT pg_current_wal_lsn()")
	for ((i = 0; i < 600; i++)); do
		[ "$(pg_sql "$s" "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && return 0
		sleep 0.1
	done
	die "the standby on port $s did not replay up to $lsn within 60 s"
}

log "pgbench -i -s $SCALE"
timeout -k 5 $((60 + SCALE * 10)) "$PGBENCH" -i -q -s "$SCALE" -h "$PG_SOCKDIR" -p "$PG1_PORT" -U app app \
	>"$TMP/pgbench-init.log" 2>&1 || { cat "$TMP/pgbench-init.log" >&2; die "pgbench -i failed"; }
pg_sql "$PG1_PORT" "CHECKPOINT" >/dev/null
wait_replayed

read -r P_PGB P_ND <<<"$(free_ports 2)"

# ---- PgBouncer ----------------------------------------------------------------

mkdir -p "$TMP/pgbouncer"
cp "$PG_AUTH_FILE" "$TMP/pgbouncer/userlist.txt"
cat >"$TMP/pgbouncer/pgbouncer.ini" <<EOF
[databases]
app = host=127.0.0.1 port=$PG1_PORT dbname=app

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $P_PGB
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $TMP/pgbouncer/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = 20
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
EOF
PGB_AS=()
if [ "$(id -u)" = 0 ]; then
	chown -R postgres: "$TMP/pgbouncer"
	PGB_AS=(-u postgres)	# PgBouncer refuses to run as root; -u drops to postgres in the same process
fi
spawn pgbouncer "$PGBOUNCER" "${PGB_AS[@]}" "$TMP/pgbouncer/pgbouncer.ini"
PID_PGB=$LASTPID
wait_port "$P_PGB" "$PID_PGB" pgbouncer

# ---- nodown -------------------------------------------------------------------

mkdir -p "$TMP/nodown"
cp "$PG_AUTH_FILE" "$TMP/nodown/userlist.txt"
cat >"$TMP/nodown/nodown.yml" <<EOF
workers: $ND_WORKERS
pid_file: $TMP/nodown/nodown.pid
admin: { socket: "$TMP/nodown/admin.sock" }
log: { access: "off", error: "stderr" }
listeners:
  - { name: db, protocol: pg, bind: "127.0.0.1:$P_ND", pool: main }
pools:
  - name: main
    protocol: pg
    pool_mode: transaction
    pool_size: 20
    auth_file: $TMP/nodown/userlist.txt
    monitor_user: postgres
    backends:
      - { name: pg1, address: "127.0.0.1:$PG1_PORT" }
      - { name: pg2, address: "127.0.0.1:$PG2_PORT" }
EOF
ND_OK=0
ND_SWITCHOVER=0
PID_ND=
if "$NODOWN" check -c "$TMP/nodown/nodown.yml" >"$TMP/nodown-check.log" 2>&1; then
	ND_OK=1
	"$NODOWN" switchover --help >/dev/null 2>&1 && ND_SWITCHOVER=1
	spawn nodown "$NODOWN" serve -c "$TMP/nodown/nodown.yml"
	PID_ND=$LASTPID
	wait_port "$P_ND" "$PID_ND" nodown
else
	echo "nodown: n/a (protocol pg not supported by this build)"
	log "nodown check said: $(head -n 1 "$TMP/nodown-check.log")"
fi

TARGETS=(direct pgbouncer)
[ "$ND_OK" = 1 ] && TARGETS+=(nodown)
declare -A PORT=([direct]=$PG1_PORT [pgbouncer]=$P_PGB [nodown]=$P_ND)

# Every target must answer a query as app over TCP with SCRAM before anything is timed.
for t in "${TARGETS[@]}"; do
	got=$(PGPASSWORD=$PG_APP_PASSWORD PGCONNECT_TIMEOUT=10 "$PSQL" -X -A -t -h 127.0.0.1 -p "${PORT[$t]}" -U app -d app \
		-c "SELECT count(*) FROM pgbench_branches" 2>&1) || die "$t: query failed: $got"
	[ "$got" = "$SCALE" ] || die "$t: expected $SCALE branches, got: $got"
done

# ---- throughput -----------------------------------------------------------------

RESULTS=$TMP/results.tsv
: >"$RESULTS"

# measure TARGET MODE ROUND SECONDS: one pgbench run; appends to $RESULTS
# target mode round tps latency_ms processed failed aborted exit
measure() {
	local t=$1 mode=$2 round=$3 secs=$4 out="$TMP/pgbench-$1-$2-$3" rc=0 flags=()
	if [ "$mode" = select ]; then
		flags=(-S)
	else
		prepare_tpcb
	fi
	PGPASSWORD=$PG_APP_PASSWORD timeout -k 5 $((secs + 60)) "$PGBENCH" -h 127.0.0.1 -p "${PORT[$t]}" -U app \
		-n -M simple -c "$CLIENTS" -j "$THREADS" -T "$secs" "${flags[@]}" app >"$out" 2>&1 || rc=$?
	awk -v t="$t" -v m="$mode" -v r="$round" -v rc="$rc" '
	/^tps = / { tps = $3 }
	/^latency average = / { lat = $4 }
	/number of transactions actually processed:/ { n = $6 }
	/number of failed transactions:/ { f = $5 }
	/client [0-9]+ aborted/ { ab++ }
	END { printf "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", t, m, r, tps == "" ? 0 : tps, lat == "" ? -1 : lat, n, f, ab, rc }
	' "$out" >>"$RESULTS"
	[ "$round" = 0 ] && return 0
	tail -n 1 "$RESULTS" | awk -F'\t' '{
		printf "bench:   %-9s %-6s round %s: %9.0f tps  latency %7.3f ms  failed %s  aborted %s%s\n",
			$1, $2, $3, $4, $5, $7, $8, ($9 != 0 ? "  exit " $9 : "") }' >&2
	if [ "$rc" != 0 ] || ! grep -q '^tps = ' "$out"; then
		log "$t $mode: pgbench exited $rc; its output:"
		tail -n 20 "$out" >&2
	fi
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "$("$PGBENCH" --version), PgBouncer $("$PGBOUNCER" --version 2>/dev/null | awk 'NR == 1 { print $2 }'), nodown $("$NODOWN" version 2>/dev/null | awk '{ print $2 }')"
log "$(nproc) CPUs, load average $LOAD_START; scale $SCALE; pgbench -n -M simple -c $CLIENTS -j $THREADS -T $BENCH_SECONDS"
log "$RUNS interleaved rounds of: select-only (-S) and TPC-B-like on ${TARGETS[*]}"
log "warm-up (2 s each, select-only, not counted)"
for t in "${TARGETS[@]}"; do
	measure "$t" select 0 2
done
: >"$RESULTS"
for ((r = 1; r <= RUNS; r++)); do
	log "round $r/$RUNS"
	for mode in select tpcb; do
		for t in "${TARGETS[@]}"; do
			measure "$t" "$mode" "$r" "$BENCH_SECONDS"
		done
	done
done

# ---- switchover under load --------------------------------------------------------

declare -A PGPORT=([pg1]=$PG1_PORT [pg2]=$PG2_PORT)
PRIMARY=pg1
STANDBY=pg2

# switchover VIA N PORT ARGS...: run N through VIA (proxy port PORT) from
# $PRIMARY to $STANDBY under load (bench/pg_switchover.py, bounded), then
# swap the roles and pg_rewind the old primary into a standby of the new
# one for the next run. Dies if the cluster is left without a primary.
switchover() {
	local via=$1 n=$2 port=$3 old=$PRIMARY new=$STANDBY
	shift 3
	prepare_tpcb "${PGPORT[$old]}"
	wait_replayed "${PGPORT[$old]}" "${PGPORT[$new]}"
	log "$via switchover $n/$SW_RUNS: $old -> $new at ${SW_AT}s of a ${SW_SECONDS}s pgbench TPC-B -c $SW_CLIENTS -M simple"
	timeout -k 5 $((SW_SECONDS + 90)) "$PYTHON" "$HERE/pg_switchover.py" "$via" --state "$TMP/pg/cluster.json" \
		--port "$port" --from "$old" --to "$new" --clients "$SW_CLIENTS" --seconds "$SW_SECONDS" --at "$SW_AT" \
		--out "$TMP/switchover-$via-$n" "$@" || log "$via switchover $n reported a failure (see the report)"
	[ "$(pg_sql "${PGPORT[$new]}" "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ] ||
		die "$new was not promoted by the $via switchover; stopping here"
	PRIMARY=$new
	STANDBY=$old
	# The old primary is stopped (or whatever the proxy left it as):
	# rejoin stops it if it runs, rewinds it and starts it as a standby.
	timeout -k 5 120 "$PYTHON" "$PGC" rejoin "$TMP/pg" "$old" "$new" >"$TMP/rejoin.log" 2>&1 ||
		{ cat "$TMP/rejoin.log" >&2; die "could not rejoin $old as a standby of $new"; }
}

for ((n = 1; n <= SW_RUNS; n++)); do
	switchover pgbouncer "$n" "$P_PGB" --ini "$TMP/pgbouncer/pgbouncer.ini"
done

if [ "$ND_OK" = 1 ] && [ "$ND_SWITCHOVER" = 1 ]; then
	# Restarted so that nodown starts from the roles PgBouncer's runs left.
	stop_pid "$PID_ND"
	spawn nodown-2 "$NODOWN" serve -c "$TMP/nodown/nodown.yml"
	PID_ND=$LASTPID
	wait_port "$P_ND" "$PID_ND" nodown-2
	for ((n = 1; n <= SW_RUNS; n++)); do
		switchover nodown "$n" "$P_ND" --nodown "$NODOWN" --config "$TMP/nodown/nodown.yml" --pool main
	done
elif [ "$ND_OK" = 1 ]; then
	echo "nodown switchover: n/a (this build has no 'nodown switchover')"
else
	echo "nodown switchover: n/a (protocol pg not supported by this build)"
fi

# ---- report ---------------------------------------------------------------------

"$PYTHON" - "$RESULTS" "$TMP" "$BENCH_SECONDS" "$RUNS" "$CLIENTS" "$THREADS" "$SCALE" "$(nproc)" \
	"$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" "$ND_OK" <<-'EOF'
import json, os, statistics, sys

res, tmp, secs, runs, clients, threads, scale, ncpu, load0, load1, nd_ok = sys.argv[1:12]
order = ["direct", "pgbouncer", "nodown"]
modes = {"select": "select-only (-S)", "tpcb": "TPC-B-like"}
rows = {}
for line in open(res):
    t, m, r, tps, lat, n, failed, aborted, rc = line.rstrip("\n").split("\t")
    rows.setdefault((t, m), []).append((float(tps), float(lat), int(failed), int(aborted), int(rc)))

med = {}
for (t, m), r in rows.items():
    med[t, m] = dict(tps=statistics.median(x[0] for x in r), lat=statistics.median(x[1] for x in r),
                     lo=min(x[0] for x in r), hi=max(x[0] for x in r),
                     failed=sum(x[2] for x in r), aborted=sum(x[3] for x in r),
                     bad_exit=sum(1 for x in r if x[4] != 0))

print()
print(f"== pgbench -n -M simple -c {clients} -j {threads} -T {secs}, scale {scale}, "
      f"{runs} interleaved runs, medians ==")
print(f"({ncpu} CPUs shared by pgbench, the proxy, the primary and the streaming standby; "
      f"load average {load0} at start, {load1} at end)")
print(f"{'mode':<17} {'target':<10} {'tps':>9} {'min..max tps':>15} {'latency ms':>11} {'vs direct':>10} "
      f"{'failed':>7} {'aborted':>8}")
for m in modes:
    d = med.get(("direct", m))
    for t in order:
        if (t, m) not in med:
            continue
        x = med[t, m]
        vs = f"{x['tps'] / d['tps']:.2f}x" if d and d["tps"] else "-"
        print(f"{modes[m]:<17} {t:<10} {x['tps']:>9.0f} {x['lo']:>7.0f}..{x['hi']:<7.0f} {x['lat']:>11.3f} "
              f"{vs:>10} {x['failed']:>7} {x['aborted']:>8}" + (f"  ({x['bad_exit']} runs exited non-zero)" if x["bad_exit"] else ""))
if nd_ok != "1":
    print("nodown     n/a (protocol pg not supported by this build)")

import glob

def ms(v):
    return f"{1000 * v:.0f}" if isinstance(v, (int, float)) else "-"

sw = {}
for via in ("pgbouncer", "nodown"):
    files = sorted(glob.glob(os.path.join(tmp, f"switchover-{via}-*.json")),
                   key=lambda f: int(f.rsplit("-", 1)[1].split(".")[0]))
    if files:
        sw[via] = [json.load(open(f)) for f in files]
print()
print("== switchover under pgbench TPC-B -M simple (per-transaction logs) ==")
print(f"{'via':<10} {'run':>3} {'from->to':<9} {'stall ms':>9} {'held ms':>8} {'pause->resume ms':>17} "
      f"{'max tx ms':>10} {'tx':>7} {'failed':>7} {'aborted':>8} {'exit':>5}")
for via, runs_ in sw.items():
    for i, s in enumerate(runs_, 1):
        st = s["steps"]
        print(f"{via:<10} {i:>3} {s['from'] + '->' + s['to']:<9} {ms(s.get('switchover_gap_s')):>9} "
              f"{ms(st.get('held')):>8} {ms(st.get('pause_to_resume')):>17} {ms(s.get('max_latency_s')):>10} "
              f"{s['processed']:>7} {s['failed']:>7} {s['aborted_clients']:>8} {s['pgbench_exit']:>5}")
        if s.get("error"):
            print(f"               switchover error: {s['error']}")
        for l in s["error_lines"][:5]:
            print(f"               pgbench: {l}")
        print("               steps (ms): " + ", ".join(
            f"{k} {ms(v)}" for k, v in st.items()
            if k not in ("pause_to_resume", "held", "switchover_command", "command_exit", "command_output")))
print("(stall: the longest gap between consecutive transaction ends over all clients that overlaps")
print(" the switchover; held: PAUSE returned -> RESUME done, when no transaction can run, a lower")
print(" bound of the stall; pause->resume: PAUSE sent -> RESUME done, or the run time of")
print(" `nodown switchover`; max tx: the longest single transaction of the run)")
if "nodown" not in sw:
    print("nodown     n/a" + (" (protocol pg not supported by this build)" if nd_ok != "1"
                             else " (no 'nodown switchover' in this build)"))


def median_of(runs_, get):
    v = [x for x in map(get, runs_) if isinstance(x, (int, float))]
    return statistics.median(v) if v else None

print()
print("== summary ==")
for m in modes:
    d, b, n = med.get(("direct", m)), med.get(("pgbouncer", m)), med.get(("nodown", m))
    parts = []
    if n and d:
        parts.append(f"nodown/direct {n['tps'] / d['tps']:.2f}")
    if b and d:
        parts.append(f"pgbouncer/direct {b['tps'] / d['tps']:.2f}")
    if n and b:
        parts.append(f"nodown/pgbouncer {n['tps'] / b['tps']:.2f}")
    if not n:
        parts.append("nodown n/a")
    print(f"{modes[m]:<17} tps ratios: " + ", ".join(parts))
for via, runs_ in sw.items():
    held = median_of(runs_, lambda s: s["steps"].get("held"))
    print(f"{via} switchover ({len(runs_)} runs, medians): "
          f"stall {ms(median_of(runs_, lambda s: s.get('switchover_gap_s')))} ms"
          + (f", held {ms(held)} ms" if held is not None else "")
          + f", pause->resume {ms(median_of(runs_, lambda s: s['steps'].get('pause_to_resume')))} ms; "
          f"in all runs {sum(s['failed'] for s in runs_)} failed transactions, "
          f"{sum(s['aborted_clients'] for s in runs_)} aborted clients, "
          f"{sum(1 for s in runs_ if s['pgbench_exit'] != 0)} pgbench runs exited non-zero, "
          f"{sum(1 for s in runs_ if s.get('error'))} switchover errors")
total = sum(x["failed"] + x["aborted"] for x in med.values())
if total:
    print(f"WARNING: {total} failed transactions or aborted clients in the throughput runs")
EOF
