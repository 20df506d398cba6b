"""
The PostgreSQL fixtures themselves (helpers/pgcluster.py): a writable
primary, a read-only standby that streams from it, SCRAM over TCP with the
passwords of the auth_file, promotion, an old primary stopped, rejoined as
a standby with pg_rewind, or crashed and restarted, and a close() that
leaves no process behind.
"""
import os
import re

import pytest

from conftest import PgCluster, PgError, port_accepts, wait_for
from helpers.pgcluster import lsn_int, lsn_text

psycopg = pytest.importorskip("psycopg")


def connect(c, port, user="app", db=None, **kw):
    return psycopg.connect(c.dsn(port, user, db), autocommit=True, **kw)


def test_primary_writable_standby_read_only(pg_cluster):
    c = pg_cluster
    assert not c.is_in_recovery(c.primary)
    assert c.is_in_recovery(c.standby)
    assert c.current_primary() == c.primary
    with connect(c, c.primary) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t VALUES (1, 'one')")
    with connect(c, c.standby) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE u (id int)")
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True


def test_standby_streams_and_replays_a_row(pg_cluster):
    c = pg_cluster
    c.wait_streaming()
    row = c.psql(c.primary, "SELECT application_name, state, sync_state FROM pg_stat_replication")
    assert row == "pg2|streaming|async"
    assert c.psql(c.standby, "SELECT status FROM pg_stat_wal_receiver") == "streaming"
    with connect(c, c.primary) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t VALUES (42, 'replicated')")
    lsn = c.lsn(c.primary)
    assert c.wait_replay(c.standby, lsn) >= lsn
    with connect(c, c.standby) as conn:
        assert conn.execute("SELECT v FROM t WHERE id = 42").fetchone() == ("replicated",)


def test_scram_over_tcp_with_auth_file_passwords(pg_cluster):
    c = pg_cluster
    lines = c.auth_file.read_text().splitlines()
    assert '"app" "app-secret"' in lines and '"postgres" "postgres-secret"' in lines
    secrets = dict(re.fullmatch(r'"([^"]+)" "([^"]*)"', l).groups() for l in lines)
    for port in (c.primary, c.standby):
        for user, password in secrets.items():
            with psycopg.connect(host="127.0.0.1", port=port, user=user, password=password,
                                 dbname="app" if user == "app" else "postgres") as conn:
                assert conn.execute("SELECT current_user").fetchone()[0] == user
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(host="127.0.0.1", port=port, user="app", password="wrong", dbname="app")
    assert c.psql(c.primary, "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                             "WHERE rolname = 'app'") == "t"
    assert c.psql(c.primary, "SELECT DISTINCT auth_method FROM pg_hba_file_rules "
                             "WHERE type = 'host'") == "scram-sha-256"
    # TCP listens on 127.0.0.1 only; the Unix sockets stay in the cluster dir.
    assert c.psql(c.primary, "SHOW listen_addresses") == "127.0.0.1"
    assert c.psql(c.primary, "SHOW unix_socket_directories") == str(c.base)
    assert c.psql(c.primary, "SHOW wal_log_hints") == "on"


def test_promote_standby_and_stop_old_primary(pg_cluster):
    c = pg_cluster
    old, new = c.primary, c.standby
    with connect(c, old) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn.execute("INSERT INTO t SELECT generate_series(1, 1000)")
    lsn = c.lsn(old)
    c.wait_replay(new, lsn)
    c.stop(old, "fast")
    assert not c.running(old)
    assert not port_accepts(old)
    c.promote(new)
    assert not c.is_in_recovery(new)
    assert c.current_primary() == new
    with connect(c, new) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 1000
        conn.execute("INSERT INTO t VALUES (1001)")
    # a new timeline: WAL files of timeline 2
    assert c.psql(new, "SELECT pg_walfile_name(pg_current_wal_lsn())").startswith("00000002")


def test_old_primary_rejoins_as_standby_of_the_new_one(pg_cluster):
    c = pg_cluster
    old, new = c.primary, c.standby
    c.psql(old, "CREATE TABLE t (id int PRIMARY KEY)")
    c.wait_replay(new, c.lsn(old))
    c.stop(old, "fast")
    c.promote(new)
    c.psql(new, "INSERT INTO t VALUES (1)")
    # A write the old primary never saw while it was down, then rejoin.
    c.rejoin(old, new)
    assert c.is_in_recovery(old)
    c.psql(new, "INSERT INTO t VALUES (2)")
    c.wait_replay(old, c.lsn(new))
    assert c.psql(old, "SELECT string_agg(id::text, ',' ORDER BY id) FROM t") == "1,2"
    # ...and the way back, twice over: each rejoin right after a promotion
    # (pg_rewind must see the new primary's new timeline).
    for a, b in ((new, old), (old, new)):
        c.psql(a, f"INSERT INTO t VALUES ({a})")
        c.wait_replay(b, c.lsn(a))
        c.stop(a, "fast")
        c.promote(b)
        assert c.current_primary() == b
        c.rejoin(a, b)
        assert c.is_in_recovery(a)
    c.psql(new, "INSERT INTO t VALUES (3)")
    c.wait_replay(old, c.lsn(new))
    assert c.psql(old, "SELECT count(*) FROM t") == "5"


def test_kill9_and_restart_keeps_committed_rows(pg_cluster):
    c = pg_cluster
    p = c.primary
    pid = c.node(p).pid
    children = _children(pid)
    assert children, "a postmaster has background processes"
    c.psql(p, ["CREATE TABLE t (id int)", "INSERT INTO t VALUES (7)"])
    c.kill9(p)
    assert not c.running(p)
    assert wait_for(lambda: not any(_running(k) for k in [pid] + children), 5)
    assert not port_accepts(p)
    c.start_node(p)
    assert c.psql(p, "SELECT id FROM t") == "7"
    assert c.node(p).pid != pid
    c.wait_streaming()


def test_close_stops_everything_and_removes_the_directory(pg_template, tmp_path):
    c = PgCluster(pg_template)
    try:
        c.start()
        pids = [n.pid for n in c.nodes.values()]
        kids = [k for pid in pids for k in _children(pid)]
        assert len(pids) == 2 and kids
        c.kill9(c.standby)                  # a crashed node is fine too
    finally:
        c.close()
    assert wait_for(lambda: not any(_running(p) for p in pids + kids), 5)
    assert not c.base.exists()
    c.close()                               # twice is harmless


def test_failed_start_leaves_nothing_running(pg_template, tmp_path):
    c = PgCluster(tmp_path / "no-such-template")
    with pytest.raises(PgError, match="copy the template"):
        try:
            c.start()
        finally:
            c.close()
    assert not c.base.exists()


def test_session_cluster_is_usable(pg_cluster_ro):
    c = pg_cluster_ro
    assert c.current_primary() == c.primary
    with connect(c, c.standby, "postgres") as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
    assert c.lsn(c.standby) <= c.lsn(c.primary)


def test_fresh_cluster_is_quick(pg_cluster):
    # Copying the session's template instead of running initdb each time
    # keeps a fresh primary + standby well under a few seconds (about 0.6 s
    # on a quiet 2-core machine); a generous bound for a noisy one.
    t = pg_cluster.timings
    print("pg_cluster start: " + ", ".join(f"{k} {v:.3f}s" for k, v in t.items()))
    assert t["total"] < 20


# ---- /proc helpers ------------------------------------------------------------

def _stat(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _ppid(pid):
    st = _stat(pid)
    return int(st[1]) if st else None


def _running(pid):
    st = _stat(pid)
    return st is not None and st[0] != "Z"


def _children(pid):
    return [int(x) for x in os.listdir("/proc") if x.isdigit() and _ppid(int(x)) == pid]


def test_lsn_text_round_trip():
    assert lsn_int("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert lsn_text(lsn_int("0/3000060")) == "0/3000060"
