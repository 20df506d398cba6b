#!/usr/bin/python3
"""
bench/pg_switchover.py - a PostgreSQL primary switchover under pgbench load,
through PgBouncer (its scripted procedure) or nodown (`nodown switchover`),
and what the clients saw. Run by bench/pg.sh.

    pg_switchover.py pgbouncer --state DIR/cluster.json --port P --ini FILE
                     --from pg1 --to pg2 --out PREFIX [load options]
    pg_switchover.py nodown --state DIR/cluster.json --port P --nodown BIN
                     --config FILE --pool main --from pg1 --to pg2 --out PREFIX

Load: pgbench TPC-B-like (-n -M simple, --clients, -j 2) for --seconds
against 127.0.0.1:P with per-transaction logs (-l --log-prefix PREFIX);
the switchover starts --at seconds in.

PgBouncer's procedure, each step timed, with connections opened in advance
so the stall is PgBouncer's and PostgreSQL's, not this script's (no psql
processes, no pg_ctl 100 ms polling):
    PAUSE (admin console; returns once every server connection is idle)
    -> wait until the standby replayed the primary's current WAL LSN
    -> fast-stop the old primary (SIGINT to its postmaster, wait for exit)
    -> SELECT pg_promote(false) on the standby, poll until
       pg_is_in_recovery() is false
    -> rewrite pgbouncer.ini's port for the database -> RELOAD -> RESUME
nodown's: `nodown switchover POOL --to NAME -c CONFIG`, timed as a whole.

Writes PREFIX.json: pgbench's exit code, transactions, failed transactions,
aborted clients and error lines; the stall seen by the clients (the longest
gap between consecutive transaction ends over all clients, from the logs,
and the longest single transaction); the control side's view: PAUSE sent ->
RESUME done ("pause_to_resume", or the nodown command's run time) and
PAUSE returned -> RESUME done ("held": no transaction can run then, so it
is a lower bound of the stall); and each step's time.
"""
import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration" / "helpers"))
import pgcluster  # noqa: E402

import psycopg  # noqa: E402

PGBENCH = pgcluster.PG_BIN / "pgbench"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def start_pgbench(a):
    prefix = a.out + ".txlog"
    cmd = [str(PGBENCH), "-h", "127.0.0.1", "-p", str(a.port), "-U", "app", "-n", "-M", "simple",
           "-c", str(a.clients), "-j", str(a.threads), "-T", str(a.seconds),
           "-l", f"--log-prefix={prefix}", "app"]
    env = dict(os.environ, PGPASSWORD=pgcluster.PASSWORDS["app"])
    for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSERVICE"):
        env.pop(k, None)
    out = open(a.out + ".pgbench.log", "wb")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env)
    return p, out, prefix


def postmaster_pid(c, port):
    n = c.node(port)
    try:
        pid = int((n.data / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None
    return pid if pgcluster._alive(pid) else None


def sock_conn(c, port):
    return psycopg.connect(host=str(c.base), port=port, user="postgres", dbname="postgres",
                           autocommit=True, connect_timeout=10)


def rewrite_ini(path, old_port, new_port):
    text = Path(path).read_text()
    new, n = re.subn(rf"(^\s*\w+\s*=.*\bport=){old_port}\b", rf"\g<1>{new_port}", text, flags=re.M)
    if n == 0:
        raise RuntimeError(f"no 'port={old_port}' in the [databases] of {path}")
    tmp = Path(str(path) + ".new")
    tmp.write_text(new)
    st = os.stat(path)
    os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, path)   # atomic: PgBouncer never reads half a file


def switch_pgbouncer(a, c, steps):
    """PgBouncer's scripted switchover; returns (t_pause_sent, t_resumed) in epoch seconds."""
    old, new = c.port_of(a.from_), c.port_of(a.to)
    admin = psycopg.connect(host="127.0.0.1", port=a.admin_port or a.port, user="postgres",
                            password=pgcluster.PASSWORDS["postgres"], dbname="pgbouncer",
                            autocommit=True, cursor_factory=psycopg.ClientCursor)
    prim, stby = sock_conn(c, old), sock_conn(c, new)
    pid = postmaster_pid(c, old)
    if pid is None:
        raise RuntimeError(f"{a.from_} is not running")
    m = time.monotonic

    def step(name, t):
        steps[name] = round(m() - t, 4)
        return m()

    t_pause = time.time()
    t = t0 = m()
    admin.execute("PAUSE")
    t = t_paused = step("pause", t)
    lsn = prim.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    prim.close()
    while True:
        if stby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
            break
        if m() - t > 30:
            raise RuntimeError(f"standby did not replay {lsn} within 30 s")
        time.sleep(0.001)
    t = step("standby_caught_up", t)
    os.kill(pid, signal.SIGINT)         # fast shutdown, as pg_ctl stop -m fast
    while pgcluster._alive(pid):
        if m() - t > 30:
            raise RuntimeError(f"{a.from_} did not stop within 30 s")
        time.sleep(0.001)
    t = step("old_primary_stopped", t)
    stby.execute("SELECT pg_promote(false)")
    while stby.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
        if m() - t > 30:
            raise RuntimeError(f"{a.to} still in recovery 30 s after pg_promote()")
        time.sleep(0.001)
    t = step("promoted", t)
    rewrite_ini(a.ini, old, new)
    admin.execute("RELOAD")
    t = step("reload", t)
    admin.execute("RESUME")
    t = step("resume", t)
    t_resumed = time.time()
    steps["pause_to_resume"] = round(m() - t0, 4)
    # From PAUSE's reply on no transaction runs until RESUME: a lower
    # bound of the stall every client sees.
    steps["held"] = round(m() - t_paused, 4)
    admin.close()
    stby.close()
    return t_pause, t_resumed


def switch_nodown(a, c, steps):
    t_start = time.time()
    t0 = time.monotonic()
    r = subprocess.run([a.nodown, "switchover", a.pool, "--to", a.to, "-c", a.config],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    steps["switchover_command"] = round(time.monotonic() - t0, 4)
    steps["pause_to_resume"] = steps["switchover_command"]
    steps["command_exit"] = r.returncode
    steps["command_output"] = (r.stdout + r.stderr)[-2000:]
    for line in r.stdout.splitlines():          # "  catchup      3 ms": the step times
        m = re.match(r"^\s+([a-z]+)\s+(\d+) ms$", line)
        if m:
            steps[m.group(1)] = int(m.group(2)) / 1000
    if r.returncode != 0:
        raise RuntimeError(f"nodown switchover exited {r.returncode}: {(r.stdout + r.stderr)[-500:]}")
    return t_start, time.time()


def parse_txlogs(prefix):
    """All transaction end times (epoch s) and latencies (s), sorted by end;
    plus the count of logged transactions that did not succeed."""
    ends, lat, bad = [], [], 0
    for f in glob.glob(glob.escape(prefix) + ".*"):
        with open(f) as fh:
            for line in fh:
                p = line.split()
                if len(p) < 6:
                    continue
                if not p[2].isdigit():      # "failed", "skipped"
                    bad += 1
                    continue
                ends.append(int(p[4]) + int(p[5]) / 1e6)
                lat.append(int(p[2]) / 1e6)
    order = sorted(range(len(ends)), key=ends.__getitem__)
    return [ends[i] for i in order], [lat[i] for i in order], bad


def parse_pgbench(text):
    def num(pat, cast=float, default=None):
        m = re.search(pat, text)
        return cast(m.group(1)) if m else default
    return {
        "processed": num(r"number of transactions actually processed: (\d+)", int, 0),
        "failed": num(r"number of failed transactions: (\d+)", int, 0),
        "tps": num(r"tps = ([\d.]+)"),
        "latency_ms": num(r"latency average = ([\d.]+) ms"),
        "aborted_clients": len(re.findall(r"client \d+ aborted", text)),
        "error_lines": [l for l in text.splitlines()
                        if re.search(r"error|abort|fatal|FATAL|ERROR", l)][:20],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("via", choices=["pgbouncer", "nodown"])
    ap.add_argument("--state", required=True)
    ap.add_argument("--port", type=int, required=True, help="the proxy port pgbench connects to")
    ap.add_argument("--admin-port", type=int, help="PgBouncer admin console port (default --port)")
    ap.add_argument("--ini", help="pgbouncer.ini to rewrite")
    ap.add_argument("--nodown")
    ap.add_argument("--config")
    ap.add_argument("--pool", default="main")
    ap.add_argument("--from", dest="from_", default="pg1")
    ap.add_argument("--to", default="pg2")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--at", type=float, default=5)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    c = pgcluster.PgCluster.load(a.state)
    res = {"via": a.via, "from": a.from_, "to": a.to, "clients": a.clients, "seconds": a.seconds}
    steps = {}
    pb, out, prefix = start_pgbench(a)

    def stop_pgbench(*_):
        if pb.poll() is None:
            pb.kill()
        sys.exit(143)
    signal.signal(signal.SIGTERM, stop_pgbench)

    err = None
    try:
        time.sleep(a.at)
        if pb.poll() is not None:
            raise RuntimeError(f"pgbench exited early ({pb.returncode})")
        log(f"{a.via}: switchover {a.from_} -> {a.to} under pgbench -c {a.clients}")
        if a.via == "pgbouncer":
            t_pause, t_resume = switch_pgbouncer(a, c, steps)
        else:
            t_pause, t_resume = switch_nodown(a, c, steps)
    except Exception as e:      # report what we have; pgbench still runs out
        err = f"{type(e).__name__}: {e}"
        log(f"{a.via}: switchover failed: {err}")
        t_pause = t_resume = None
    try:
        rc = pb.wait(timeout=a.seconds + 60)
    except subprocess.TimeoutExpired:
        pb.kill()
        rc = pb.wait()
    out.close()
    text = Path(a.out + ".pgbench.log").read_text(errors="replace")
    res.update(parse_pgbench(text))
    res["pgbench_exit"] = rc
    res["steps"] = steps
    res["error"] = err
    ends, lat, bad = parse_txlogs(prefix)
    res["logged_transactions"] = len(ends)
    res["logged_failures"] = bad
    if len(ends) > 1:
        gaps = [(ends[i + 1] - ends[i], ends[i]) for i in range(len(ends) - 1)]
        gap, at = max(gaps)
        res["max_gap_s"] = round(gap, 4)
        res["max_gap_starts_after_pause_s"] = round(at - t_pause, 4) if t_pause else None
        res["max_latency_s"] = round(max(lat), 4)
        if t_pause:
            # The longest gap overlapping the switchover (PAUSE sent ->
            # RESUME done): what the clients saw of this switchover.
            over = [g for g, s in gaps if s <= t_resume and s + g >= t_pause]
            if over:
                res["switchover_gap_s"] = round(max(over), 4)
    for f in glob.glob(glob.escape(prefix) + ".*"):
        os.unlink(f)            # can be large; the numbers are in the JSON
    Path(a.out + ".json").write_text(json.dumps(res, indent=1))
    return 0 if err is None else 1


if __name__ == "__main__":
    sys.exit(main())
