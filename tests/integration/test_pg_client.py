"""What a PostgreSQL client sees through nodown, and what nobody may learn
or take: cancels that land where they were aimed and only then, parameters
in the server's spelling, backend pids that are a real server's or nobody's,
a client that leaves mid-transaction, and the state an unauthenticated or
waiting client can make nodown hold."""
import os
import re
import socket
import struct
import threading
import time

import pytest

from conftest import SANITIZED, wait_for
from test_pg import _messages, _msg, _roles, _startup, dsn, pg_config, start

psycopg = pytest.importorskip("psycopg")


def _log(cluster):
    return cluster.node(cluster.primary).log.read_text(errors="replace")


# ---- cancels ------------------------------------------------------------------------

def test_cancel_while_idle_never_hits_the_next_statement(pg_cluster_ro, nodown, tmp_path):
    """Session mode: PQcancel returns only once the server acted on the
    cancel; sent while the session is idle, it is ignored there, and the
    next statement runs (it was cancelled 47 times in 50 when nodown
    answered the cancel before delivering it)."""
    nd = start(nodown, tmp_path, pg_cluster_ro, mode="session")
    with psycopg.connect(dsn(nd), autocommit=True) as conn:
        hit = 0
        for _ in range(30):
            conn.cancel()
            try:
                conn.execute("SELECT pg_sleep(0.02)")
            except psycopg.errors.QueryCanceled:
                hit += 1
        assert hit == 0


def test_cancel_never_hits_another_clients_statement(pg_cluster_ro, nodown, tmp_path):
    """Transaction mode, one server: client A cancels while idle in its
    transaction, commits, and client B's statement then runs on the same
    server. The cancel is acted on (ignored: A was idle) before PQcancel
    returns, and one that finds A gone from that server is dropped: B is
    never cancelled (39 times in 50 before)."""
    nd = start(nodown, tmp_path, pg_cluster_ro, workers=1, pool={"pool_size": 1})
    with psycopg.connect(dsn(nd)) as a, psycopg.connect(dsn(nd), autocommit=True) as b:
        hit = 0
        for _ in range(30):
            a.execute("SELECT 1")          # a transaction: A holds the server
            a.cancel()
            a.commit()                     # the server goes back; B gets it
            try:
                b.execute("SELECT pg_sleep(0.02)")
            except psycopg.errors.QueryCanceled:
                hit += 1
        assert hit == 0


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_cancel_still_cancels_a_running_query(pg_cluster_ro, nodown, tmp_path, mode):
    nd = start(nodown, tmp_path, pg_cluster_ro, mode=mode)
    with psycopg.connect(dsn(nd), autocommit=True) as conn:
        t = threading.Timer(0.3, conn.cancel)
        t.start()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(10)")
        t.join()
        assert conn.execute("SELECT 5").fetchone()[0] == 5


def test_cancel_with_a_wrong_key_is_dropped(pg_cluster_ro, nodown, tmp_path):
    nd = start(nodown, tmp_path, pg_cluster_ro, mode="session")
    with psycopg.connect(dsn(nd), autocommit=True) as conn:
        pid = conn.info.backend_pid
        for key in (0, 1, 0xdeadbeef):
            s = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
            s.sendall(struct.pack("!iiiI", 16, 80877102, pid, key))
            assert s.recv(10) == b""        # closed, nothing said
            s.close()
        assert conn.execute("SELECT pg_sleep(0.3), 1").fetchone()[1] == 1


# ---- parameters ---------------------------------------------------------------------

def test_parameters_reported_and_compared_in_the_servers_spelling(pg_cluster, nodown, tmp_path):
    """A client asking for client_encoding=utf8 is told UTF8, as PostgreSQL
    tells it; 100 transactions send the server no SET (each got `SET
    client_encoding` first when nodown compared the client's spelling)."""
    c = pg_cluster
    c.psql(c.primary, "ALTER ROLE app SET log_statement = 'all'; "
                      "ALTER ROLE app SET log_min_messages = 'log'")
    nd = start(nodown, tmp_path, c, workers=1)
    with psycopg.connect(dsn(nd) + " client_encoding=utf8", autocommit=True) as conn:
        assert conn.info.parameter_status("client_encoding") == "UTF8"
        marker = f"nodown-marker-{os.getpid()}-{time.monotonic_ns()}"
        conn.execute(f"SELECT '{marker}'")
        for i in range(100):
            assert conn.execute("SELECT %s::int", (i,)).fetchone()[0] == i
        conn.execute(f"SELECT '{marker}-end'")
    assert wait_for(lambda: f"{marker}-end" in _log(c), 5)
    log = _log(c)
    window = log[log.index(marker):log.index(f"{marker}-end")]
    statements = re.findall(r"(?:statement|execute [^:]*): (.*)", window)
    assert len(statements) >= 100
    assert not [s for s in statements if s.upper().startswith("SET ")], statements[:5]


def test_invalid_startup_setting_is_refused_like_postgres_does(pg_cluster_ro, nodown, tmp_path):
    nd = start(nodown, tmp_path, pg_cluster_ro)
    with pytest.raises(psycopg.OperationalError, match="client_encoding"):
        psycopg.connect(dsn(nd) + " client_encoding=nonsense")


# ---- pids -----------------------------------------------------------------------------

def test_session_mode_reports_the_real_backend_pid(pg_cluster_ro, nodown, tmp_path):
    nd = start(nodown, tmp_path, pg_cluster_ro, mode="session")
    with psycopg.connect(dsn(nd), autocommit=True) as conn:
        assert conn.info.backend_pid == conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        got = []
        conn.add_notify_handler(got.append)
        conn.execute("LISTEN ch")
        conn.execute("NOTIFY ch, 'hello'")     # delivered before its ReadyForQuery
        assert got and got[0].pid == conn.info.backend_pid and got[0].payload == "hello"


def test_transaction_mode_pids_belong_to_no_backend(pg_cluster_ro, nodown, tmp_path):
    """A pid above the kernel's pid_max: pg_terminate_backend() of it kills
    nothing; a notification the client's own server sent carries it."""
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    nd = start(nodown, tmp_path, pg_cluster_ro)
    with psycopg.connect(dsn(nd)) as conn:
        pid = conn.info.backend_pid
        assert pid_max < pid < 2 ** 31
        conn.autocommit = True
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0] is False
        conn.autocommit = False
        got = []
        conn.add_notify_handler(got.append)
        with conn.transaction():
            conn.execute("LISTEN ch")
            conn.execute("NOTIFY ch, 'self'")
        assert got and got[0].pid == pid and got[0].payload == "self"
    with psycopg.connect(dsn(nd)) as other:
        assert other.info.backend_pid != pid


# ---- a client that leaves ------------------------------------------------------------

def _leave_mid_transaction(nd, sql):
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    s.sendall(_startup())
    _messages(s)
    s.sendall(_msg(b"Q", sql + b"\0"))
    time.sleep(0.05)        # the query reached the server
    s.close()


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_client_leaving_mid_transaction_is_rolled_back_cleanly(pg_cluster, nodown, tmp_path, mode):
    """Between statements of an open transaction: rolled back, the server
    kept (pool_size 1: the next client gets it); with a statement running:
    the server is told to Terminate. PostgreSQL logs no "unexpected EOF on
    client connection with an open transaction", and nothing is committed."""
    c = pg_cluster
    c.psql(c.primary, "CREATE TABLE left_behind (i int); GRANT ALL ON left_behind TO app", db="app")
    nd = start(nodown, tmp_path, c, mode=mode, workers=1,
               pool={"pool_size": 1, "auth_type": "trust"})
    with psycopg.connect(dsn(nd), autocommit=True) as conn:
        before = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    _leave_mid_transaction(nd, b"BEGIN; INSERT INTO left_behind VALUES (1)")
    with psycopg.connect(dsn(nd), autocommit=True) as conn:
        after = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert conn.execute("SELECT count(*) FROM left_behind").fetchone()[0] == 0
    assert after == before, "the server was not kept after a rollback"
    _leave_mid_transaction(nd, b"BEGIN; INSERT INTO left_behind VALUES (2); SELECT pg_sleep(0.5)")
    with psycopg.connect(dsn(nd), autocommit=True) as conn:
        assert wait_for(lambda: conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(0.5)%' "
            "AND pid <> pg_backend_pid()").fetchone()[0] == 0, 10)
        assert conn.execute("SELECT count(*) FROM left_behind").fetchone()[0] == 0
    assert "unexpected EOF on client connection" not in _log(c)


def test_notification_to_an_idle_server_is_dropped_not_fatal(pg_cluster_ro, nodown, tmp_path):
    """Transaction mode: a LISTEN leaves its server listening when it goes
    back to the pool; a NOTIFY then reaches an idle server. nodown drops
    it and keeps the server (docs/postgresql.md says LISTEN notifications
    go nowhere in transaction mode)."""
    c = pg_cluster_ro
    nd = start(nodown, tmp_path, c, workers=1, pool={"pool_size": 1})
    with psycopg.connect(dsn(nd), autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        conn.execute("LISTEN stray")
        with psycopg.connect(c.dsn(c.primary), autocommit=True) as direct:
            for _ in range(5):
                direct.execute("NOTIFY stray, 'x'")
        time.sleep(0.3)     # the notifications reach the idle server (nothing to poll)
        assert conn.execute("SELECT pg_backend_pid()").fetchone()[0] == pid
    assert "while idle" not in nd.error_log()


# ---- what an unauthenticated or waiting client can make nodown hold -------------------

def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def _sasl_start(port, user):
    """Startup as user; the first authentication request: (code, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(_startup(user=user))
    m = _messages(s, until=b"R")[-1]
    return s, struct.unpack("!i", m[1][:4])[0], m[1]


def test_failed_logins_leave_no_state(pg_cluster_ro, nodown, tmp_path):
    """Per-user state is made only after a login succeeds: thousands of
    logins as distinct unknown users leave nodown's memory where it was
    (20,000 of them kept 5 MB before)."""
    nd = start(nodown, tmp_path, pg_cluster_ro, workers=1)
    for i in range(300):
        s, _, _ = _sasl_start(nd.port, f"warm{i}")
        s.close()
    base = _rss_kb(nd.pid)
    for i in range(6000):
        s, _, _ = _sasl_start(nd.port, f"ghost{i}-{'x' * 40}")
        s.close()
    assert SANITIZED or _rss_kb(nd.pid) - base < 1024, (base, _rss_kb(nd.pid))


def test_unknown_users_look_like_wrong_passwords(pg_cluster_ro, nodown, tmp_path):
    """An unknown user gets the same SCRAM challenge a real one does (a
    salt that stays the same for the name, 4096 iterations) and the same
    failure at the proof: user names cannot be enumerated."""
    nd = start(nodown, tmp_path, pg_cluster_ro)

    def challenge(user):
        s, code, body = _sasl_start(nd.port, user)
        assert code == 10 and b"SCRAM-SHA-256" in body
        first = b"n,,n=,r=abcdefghijklmnop"
        s.sendall(_msg(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
        m = _messages(s, until=b"R")[-1]
        assert struct.unpack("!i", m[1][:4])[0] == 11
        fields = dict(kv.split("=", 1) for kv in m[1][4:].decode().split(","))
        proof = "c=biws,r=" + fields["r"] + ",p=" + "A" * 43 + "="
        s.sendall(_msg(b"p", proof.encode()))
        err = _messages(s, until=b"E")[-1][1]
        s.close()
        return fields["s"], fields["i"], err

    salt1, it1, err1 = challenge("nobody-here")
    salt2, it2, err2 = challenge("nobody-here")
    _, it3, err3 = challenge("app")
    assert salt1 == salt2 and it1 == it3 == "4096"
    assert b"28P01" in err1 and b"28P01" in err3
    assert err1.replace(b"nobody-here", b"USER") == err3.replace(b"app", b"USER")


def test_a_waiting_client_is_not_read(pg_cluster_ro, nodown, tmp_path):
    """A client waiting for a server (here: its login, while the only
    server is held by another client's transaction) is not read: what it
    sends meanwhile stays in the kernel, not in nodown's memory."""
    nd = start(nodown, tmp_path, pg_cluster_ro, workers=1,
               pool={"pool_size": 1, "auth_type": "trust", "query_wait_timeout": "30s"})
    holder = socket.create_connection(("127.0.0.1", nd.port), timeout=10)
    holder.sendall(_startup())
    _messages(holder)
    holder.sendall(_msg(b"Q", b"BEGIN\0"))
    _messages(holder)
    base = _rss_kb(nd.pid)
    waiter = socket.create_connection(("127.0.0.1", nd.port), timeout=10)
    waiter.sendall(_startup())
    _messages(waiter, until=b"R")           # AuthenticationOk; then it waits for a server
    big = _msg(b"Q", b"SELECT '" + b"x" * (24 << 20) + b"'\0")
    waiter.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 5
    while sent < len(big) and time.monotonic() < deadline:
        try:
            sent += waiter.send(big[sent:sent + (1 << 20)])
        except BlockingIOError:
            time.sleep(0.05)
    assert sent < len(big), "nodown read all of it"
    assert SANITIZED or _rss_kb(nd.pid) - base < 8 * 1024
    holder.sendall(_msg(b"Q", b"COMMIT\0"))
    _messages(holder)
    holder.close()
    waiter.close()


# ---- logging into servers ------------------------------------------------------------

def test_server_auth_refuses_a_method_it_does_not_list(pg_cluster_ro, nodown, tmp_path):
    """The servers ask for SCRAM; a pool whose server_auth lists only md5
    refuses to answer, and the log says which method and which key. The
    health checks log in the same way, so no primary is found and a client
    is refused rather than served by a server nodown never authenticated."""
    nd = nodown(pg_config(tmp_path, pg_cluster_ro,
                          pool={"server_auth": ["md5"], "failover_hold": "0"}))
    why = "asked for SCRAM, which server_auth does not allow"
    assert wait_for(lambda: why in nd.error_log(), timeout=10), nd.error_log()
    with pytest.raises(psycopg.OperationalError) as e:
        psycopg.connect(dsn(nd), connect_timeout=10)
    assert "08006" in str(e.value) or "primary" in str(e.value), str(e.value)


def test_server_auth_listing_the_method_logs_in(pg_cluster_ro, nodown, tmp_path):
    nd = start(nodown, tmp_path, pg_cluster_ro, pool={"server_auth": "scram-sha-256"})
    with psycopg.connect(dsn(nd), connect_timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


# ---- bounded memory -------------------------------------------------------------------

def test_a_client_that_does_not_read_is_bounded(pg_cluster_ro, nodown, tmp_path):
    """A client pipelines 100 MB of queries and reads none of the results:
    nodown stops reading it once the buffers it may use are full, and its
    memory stays within `buffers` (here 256 x 16 KiB = 4 MiB per process)."""
    c = pg_config(tmp_path, pg_cluster_ro, workers=1, pool={"auth_type": "trust"})
    c["buffers"] = {"size": "16k", "max": 256}
    nd = nodown(c)
    assert wait_for(lambda: _roles(nd) == {"pg1": "primary", "pg2": "standby"}, timeout=5)
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=10)
    s.sendall(_startup())
    _messages(s)                                    # logged in: ReadyForQuery
    base = _rss_kb(nd.pid)
    q = _msg(b"Q", b"SELECT repeat('x', 1000), generate_series(1, 10)\0") * 1000
    sent, peak, rest = 0, base, b""
    s.setblocking(False)
    deadline = time.monotonic() + 15
    while sent < 100 << 20 and time.monotonic() < deadline:
        rest = rest or q
        try:
            n = s.send(rest)
            sent, rest = sent + n, rest[n:]
        except BlockingIOError:
            time.sleep(0.01)
        peak = max(peak, _rss_kb(nd.pid))
    s.close()
    print(f"sent {sent >> 20} MB; RSS {base} KB -> peak {peak} KB")
    assert sent < 100 << 20, "nodown read it all"
    assert SANITIZED or peak - base < 12 * 1024, (base, peak)


def test_clients_wait_for_buffers_and_lose_nothing(pg_cluster_ro, nodown, tmp_path):
    """With few buffers (64 x 16 KiB for the one worker), 30 clients each
    pipeline 300 queries before reading a byte: the answers they have not
    read fill the buffers, reading waits for room instead of growing, and
    every client gets every answer, in order. A message half read is
    finished whatever the pool says (clients holding parts of messages
    must not wait on each other)."""
    c = pg_config(tmp_path, pg_cluster_ro, workers=1, pool={"auth_type": "trust"})
    c["buffers"] = {"size": "16k", "max": 64}
    nd = nodown(c)
    assert wait_for(lambda: _roles(nd) == {"pg1": "primary", "pg2": "standby"}, timeout=5)
    base, peak, errors, got = _rss_kb(nd.pid), [0], [], {}
    n_q = 300
    NCLIENTS = 30

    def client(i):
        try:
            s = socket.create_connection(("127.0.0.1", nd.port), timeout=30)
            s.sendall(_startup())
            _messages(s)
            s.sendall(b"".join(_msg(b"Q", f"SELECT {i * 1000 + k}, repeat('x', 1000) "
                                           f"FROM generate_series(1, 10)\0".encode())
                               for k in range(n_q)))
            time.sleep(1)                           # read nothing for a while
            firsts, rows, buf, zs, first = [], 0, b"", 0, True
            while zs < n_q:
                data = s.recv(65536)
                assert data, "closed"
                buf += data
                while len(buf) >= 5 and len(buf) > struct.unpack("!i", buf[1:5])[0]:
                    n = 1 + struct.unpack("!i", buf[1:5])[0]
                    t, m, buf = buf[:1], buf[5:n], buf[n:]
                    if t == b"D":
                        rows += 1
                        if first:
                            firsts.append(int(m[6:6 + struct.unpack("!i", m[2:6])[0]]))
                        first = False
                    elif t == b"Z":
                        zs, first = zs + 1, True
            got[i] = (rows, firsts)
            s.close()
        except Exception as e:                     # noqa: BLE001
            errors.append(repr(e))

    ts = [threading.Thread(target=client, args=(i,)) for i in range(NCLIENTS)]
    for t in ts:
        t.start()
    while any(t.is_alive() for t in ts):
        peak[0] = max(peak[0], _rss_kb(nd.pid))
        time.sleep(0.05)
    assert not errors, errors[:3]
    for i in range(NCLIENTS):
        assert got[i] == (n_q * 10, [i * 1000 + k for k in range(n_q)]), i
    # 1 MiB of buffers, and what is half read: about 1.5 MiB here (9 MiB
    # when pg memory was not counted in `buffers`)
    assert SANITIZED or peak[0] - base < 5 * 1024, (base, peak[0])
