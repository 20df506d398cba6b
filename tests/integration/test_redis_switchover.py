"""
`nodown switchover` of a redis pool, with real redis-server primaries and
replicas and real clients (redis-py, raw RESP sockets): incident 3 replayed
(writers and a shared lock through nodown while the primary moves), session
state carried to the new primary, the pause bounded by blocked commands,
aborts that leave the old primary serving, and the clients left behind on
the old instance listed.
"""
import socket
import subprocess
import threading
import time

import pytest
import redis

from conftest import SANITIZED, admin_json, run_cli, wait_for
from test_redis import client, roles, start

UNLOCK = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


def switchover(nd, to, *extra, timeout=60):
    return run_cli("switchover", "cache", "--to", to, "--socket", nd.cfg["admin"]["socket"], *extra,
                   timeout=timeout)


def report(nd):
    return admin_json(nd, "/pools/cache/switchover")


class Worker(threading.Thread):
    """Runs step(r) against nodown until stopped, recording errors and the
    longest time one step took."""

    def __init__(self, nd, step):
        super().__init__(daemon=True)
        self.r = client(nd)
        self.step = step
        self.errors = []
        self.worst = 0.0
        self.n = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.is_set():
            t = time.monotonic()
            try:
                self.step(self.r)
                self.n += 1
            except Exception as e:      # every error counts; none is expected
                self.errors.append(repr(e))
            self.worst = max(self.worst, time.monotonic() - t)

    def stop(self):
        self.stopped.set()
        self.join(30)


def test_incident_switchover_under_writers_and_a_lock(redis_pair, nodown, tmp_path):
    """Incident 3: 4 writers (INCR, then RPUSH of the acked value) and 2
    workers sharing a lock (SET NX PX, compare-and-delete EVAL) through
    nodown while the primary moves: no client error, every acked write on
    the new primary exactly once, the lock never held by both, the old
    instance refuses writes, the stall is short, and a client left
    connected directly to the old instance is listed."""
    r1, r2 = redis_pair
    nd = start(nodown, tmp_path, redis_pair)
    acked = {w: [] for w in range(4)}
    holders, overlaps = [], []
    guard = threading.Lock()

    def writer(w):
        def step(r):
            v = r.incr(f"ctr:{w}")
            r.rpush(f"list:{w}", v)
            acked[w].append(v)
        return step

    def locker(name):
        def step(r):
            if not r.set("lock", name, nx=True, px=5000):
                return
            with guard:
                holders.append(name)
                if len(holders) > 1:
                    overlaps.append(list(holders))
            time.sleep(0.002)
            with guard:
                holders.remove(name)
            assert r.eval(UNLOCK, 1, "lock", name) == 1, "the lock was lost while held"
        return step

    workers = [Worker(nd, writer(w)) for w in range(4)] + [Worker(nd, locker(f"l{i}")) for i in range(2)]
    lingering = r1.client()
    lingering.client_setname("batch-on-old")
    for w in workers:
        w.start()
    assert wait_for(lambda: all(w.n > 20 for w in workers), 10)
    r = switchover(nd, "r2")
    assert wait_for(lambda: all(w.n > 40 for w in workers), 10)
    for w in workers:
        w.stop()
    assert r.returncode == 0, r.stdout + r.stderr
    assert [e for w in workers for e in w.errors] == []
    assert overlaps == []
    assert roles(nd) == {"r1": "standby", "r2": "primary"}
    new = r2.client()
    for w, values in acked.items():
        stored = [int(x) for x in new.lrange(f"list:{w}", 0, -1)]
        assert sorted(stored) == sorted(values) and len(set(stored)) == len(stored)
        assert int(new.get(f"ctr:{w}")) == len(values)
    with pytest.raises(redis.exceptions.ReadOnlyError):
        r1.client().set("after", "1")
    rep = report(nd)
    assert rep["state"] == "done" and [s["step"] for s in rep["steps"]] == [
        "check", "pause", "fence", "catchup", "promote", "verify", "demote", "repoint", "lingering"]
    names = [c["name"] for c in rep["lingering"]]
    assert names == ["batch-on-old"], rep["lingering"]
    assert "batch-on-old" in r.stdout and "still connected directly to the old primary r1" in r.stdout
    # nodown's own pause, and the slowest command a client saw
    if not SANITIZED:       # timing means nothing under ASan
        assert rep["stall_ms"] <= 50, rep["steps"]
    # metrics, read by a real Prometheus text parser, count it for the pool
    from test_metrics import scrape, val
    _, samples = scrape(nd)
    assert val(samples, "nodown_pool_switchovers_total", pool="cache", result="done") == 1
    assert val(samples, "nodown_pool_paused", pool="cache") == 0
    assert val(samples, "nodown_backend_role", pool="cache", backend="r2", role="primary") == 1
    assert max(w.worst for w in workers) < 2.0


def _resp(s, want, timeout=5):
    got = b""
    deadline = time.monotonic() + timeout
    while want not in got:
        assert time.monotonic() < deadline, got
        s.settimeout(max(0.01, deadline - time.monotonic()))
        got += s.recv(65536)
    return got


def test_sessions_follow_the_new_primary(redis_pair, nodown, tmp_path):
    """Database, client name, RESP3 and subscriptions are restored on the
    new primary: a client sees the same session after the move, and a
    subscriber gets messages published after it."""
    nd = start(nodown, tmp_path, redis_pair)
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    s.sendall(b"HELLO 3\r\nSELECT 4\r\nCLIENT SETNAME app-7\r\nSET k v\r\n")
    _resp(s, b"+OK\r\n+OK\r\n+OK\r\n")
    sub = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    sub.sendall(b"SUBSCRIBE news\r\nPSUBSCRIBE ev.*\r\nSUBSCRIBE gone\r\nUNSUBSCRIBE gone\r\n")
    _resp(sub, b"unsubscribe\r\n$4\r\ngone\r\n:2\r\n")
    r = switchover(nd, "r2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert report(nd)["moved_clients"] >= 2
    s.sendall(b"GET k\r\nCLIENT GETNAME\r\nHELLO\r\n")
    got = _resp(s, b"proto\r\n:3")
    assert got.startswith(b"$1\r\nv\r\n$5\r\napp-7\r\n%"), got
    publisher = client(nd)
    assert publisher.publish("news", "hello") == 1
    assert publisher.publish("ev.x", "world") == 1
    assert publisher.publish("gone", "no") == 0
    got = _resp(sub, b"world\r\n")
    assert b"message\r\n$4\r\nnews\r\n$5\r\nhello" in got and b"pmessage" in got and b"gone" not in got
    assert roles(nd)["r2"] == "primary"


def test_a_transaction_in_flight_finishes_first(redis_pair, nodown, tmp_path):
    """The pause lets a MULTI block in flight finish (its EXEC succeeds on
    the old primary), then the switchover goes on."""
    nd = start(nodown, tmp_path, redis_pair)
    c = client(nd)
    pipe_conn = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    pipe_conn.sendall(b"MULTI\r\nINCR tx\r\n")
    _resp(pipe_conn, b"+OK\r\n+QUEUED\r\n")
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", switchover(nd, "r2")))
    t.start()
    assert wait_for(lambda: report(nd).get("step") == "pause", 5)
    time.sleep(0.2)       # the switchover holds while the transaction is open
    assert report(nd)["state"] == "running"
    pipe_conn.sendall(b"INCR tx\r\nEXEC\r\n")
    assert _resp(pipe_conn, b"*2\r\n:1\r\n:2\r\n")
    t.join(30)
    assert out["r"].returncode == 0, out["r"].stdout + out["r"].stderr
    assert c.get("tx") == b"2"
    assert roles(nd)["r2"] == "primary"


def test_a_blocked_command_aborts_it_and_is_named(redis_pair, nodown, tmp_path):
    """A BLPOP in flight past pause_timeout aborts the switchover, naming
    it; clients go on on the old primary with no error."""
    r1, r2 = redis_pair
    nd = start(nodown, tmp_path, redis_pair)
    blocked = client(nd)
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("v", blocked.blpop("jobs", 3)))
    t.start()
    assert wait_for(lambda: any(c.get("cmd") == "blpop" for c in r1.client().client_list()), 5)
    r = switchover(nd, "r2", "--timeout", "300ms")
    assert r.returncode == 1
    assert "aborted" in r.stderr and "cmd=blpop" in r.stderr and "flags=b" in r.stderr, r.stderr
    other = client(nd)
    other.rpush("jobs", "x")
    t.join(10)
    assert res["v"] == (b"jobs", b"x")
    assert roles(nd) == {"r1": "primary", "r2": "standby"}
    assert other.set("still", "writable")
    assert r1.client().info("replication")["role"] == "master"
    assert report(nd)["state"] == "aborted"


def test_an_operator_abort_resumes_on_the_old_primary(redis_pair, nodown, tmp_path):
    """`nodown switchover --abort` during the pause: clients held go on, on
    the old primary, with no error."""
    nd = start(nodown, tmp_path, redis_pair)
    tx = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    tx.sendall(b"WATCH w\r\n")       # holds the pause open
    _resp(tx, b"+OK\r\n")
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", switchover(nd, "r2", "--timeout", "30s")))
    t.start()
    assert wait_for(lambda: report(nd).get("step") == "pause", 5)
    held = Worker(nd, lambda r: r.incr("held"))
    held.start()
    a = run_cli("switchover", "cache", "--abort", "--socket", nd.cfg["admin"]["socket"], timeout=30)
    t.join(30)
    held.stop()
    assert a.returncode == 0, a.stdout + a.stderr
    assert out["r"].returncode == 1 and "aborted by an operator" in out["r"].stderr
    assert held.errors == [] and held.n > 0
    assert roles(nd) == {"r1": "primary", "r2": "standby"}
    tx.sendall(b"UNWATCH\r\n")
    _resp(tx, b"+OK\r\n")


def test_refusals(redis_pair, nodown, tmp_path):
    """Refused before anything happens: the primary as target, an unknown
    backend or pool; a pool of another protocol has no switchover."""
    nd = start(nodown, tmp_path, redis_pair)
    for args, why in [(("cache", "--to", "r1"), "already the primary"),
                      (("cache", "--to", "r9"), "no such backend"),
                      (("nope", "--to", "r2"), "no pool 'nope'")]:
        r = run_cli("switchover", *args, "--socket", nd.cfg["admin"]["socket"])
        assert r.returncode == 1 and why in r.stderr, r.stderr
    assert admin_json(nd)["pools"][0]["paused"] is False


def test_the_target_must_replicate_the_primary(redis_pair, nodown, tmp_path):
    """A target whose replication link is down is refused at the check
    step, which says what it found; nothing was paused."""
    r1, r2 = redis_pair
    nd = start(nodown, tmp_path, redis_pair)
    r2.client().config_set("masterauth", "wrong")   # harmless while the link is up...
    r2.client().execute_command("REPLICAOF", "127.0.0.1", "1")   # ...now it points nowhere
    assert wait_for(lambda: r2.client().info("replication")["master_link_status"] == "down", 5)
    r = switchover(nd, "r2")
    assert r.returncode == 1 and "is not a replica of r1 with its link up" in r.stderr, r.stderr
    assert "master_port:1" in r.stderr
    rep = report(nd)
    assert rep["state"] == "aborted" and rep["stall_ms"] == 0
    assert client(nd).set("ok", "1")


# ---- sessions and pauses at their edges (found by review, against real servers) ----

def _read_for(s, secs):
    """Everything s receives within secs; b"<EOF>" appended if it closed."""
    got = b""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            return got + b"<EOF>"
        got += b
    return got


def _switch_while_held(nd, tx, *extra):
    """Start a switchover while tx holds the pause open with a WATCH;
    returns (thread, result dict)."""
    tx.sendall(b"WATCH w\r\n")
    _resp(tx, b"+OK\r\n")
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", switchover(nd, "r2", "--timeout", "30s", *extra)))
    t.start()
    assert wait_for(lambda: report(nd).get("step") == "pause", 5)
    return t, out


def test_a_login_during_the_pause_is_answered(redis_pair, nodown, tmp_path):
    """With client_password, a client that connects during the pause gets
    its AUTH answered at once (nodown answers it; nothing is held), and
    goes on once the switchover is over."""
    nd = start(nodown, tmp_path, redis_pair, pool={"client_password": "s3cret"})
    tx = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    tx.sendall(b"AUTH s3cret\r\n")
    _resp(tx, b"+OK\r\n")
    t, out = _switch_while_held(nd, tx)
    late = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    late.sendall(b"AUTH s3cret\r\nSET late 1\r\n")
    _resp(late, b"+OK\r\n")
    tx.sendall(b"UNWATCH\r\n")
    _resp(tx, b"+OK\r\n")
    t.join(30)
    assert out["r"].returncode == 0, out["r"].stdout + out["r"].stderr
    assert _resp(late, b"+OK\r\n")        # the SET, once the pause is over
    assert redis_pair[1].client().get("late") == b"1"


def test_a_resp3_subscriber_counts_its_commands(redis_pair, nodown, tmp_path):
    """A RESP3 subscriber may send any command: those are in flight like
    anyone's (a BLPOP holds the pause until it returns, writes do not slip
    past it), and their replies reach it, before and after the move."""
    nd = start(nodown, tmp_path, redis_pair)
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    s.sendall(b"HELLO 3\r\nSUBSCRIBE ch\r\n")
    _resp(s, b"subscribe\r\n$2\r\nch\r\n:1\r\n")
    s.sendall(b"BLPOP q 1\r\n")
    r1 = redis_pair[0].client()
    assert wait_for(lambda: any(c.get("cmd") == "blpop" for c in r1.client_list()), 5)
    r = switchover(nd, "r2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert report(nd)["steps"][1]["ms"] >= 500       # the pause waited for the BLPOP
    assert b"_\r\n" in _resp(s, b"_\r\n")
    writes, errors = 0, []
    w = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    w.sendall(b"HELLO 3\r\nSUBSCRIBE ch\r\n")
    _resp(w, b"subscribe\r\n$2\r\nch\r\n:1\r\n")
    done = threading.Event()

    def incr_loop():
        nonlocal writes
        buf = b""
        while not done.is_set():
            w.sendall(b"INCR c\r\n")
            while b"\r\n" not in buf:
                b = w.recv(4096)
                if not b:
                    errors.append("EOF")
                    return
                buf += b
            line, buf = buf.split(b"\r\n", 1)
            if not line.startswith(b":"):
                errors.append(line)
                return
            writes += 1
    t = threading.Thread(target=incr_loop, daemon=True)
    t.start()
    assert wait_for(lambda: writes > 50, 10)
    r = switchover(nd, "r1")
    assert wait_for(lambda: writes > 100 or errors, 10)
    done.set()
    t.join(10)
    assert r.returncode == 0 and errors == [], (r.stdout + r.stderr, errors)
    assert int(redis_pair[0].client().get("c")) == writes


def test_subscriptions_after_reset_and_refused_ones(redis_pair, nodown, tmp_path):
    """What is replayed is what the server holds: a SUBSCRIBE sent right
    after RESET survives it; one the server refused (ACL) is replayed but
    its error is not, so replies stay in order."""
    r1, r2 = redis_pair
    for r in (r1, r2):      # ACL users are not replicated
        r.client().execute_command("ACL", "SETUSER", "app", "on", ">pw", "~*", "resetchannels", "&ok*", "+@all")
    nd = start(nodown, tmp_path, redis_pair)
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    s.sendall(b"SUBSCRIBE a\r\n")
    _resp(s, b"subscribe\r\n$1\r\na\r\n:1\r\n")
    s.sendall(b"RESET\r\nSUBSCRIBE b\r\n")
    _resp(s, b"subscribe\r\n$1\r\nb\r\n:1\r\n")
    acl = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    acl.sendall(b"HELLO 3 AUTH app pw\r\nSUBSCRIBE ok1\r\nSUBSCRIBE bad\r\n")
    _resp(acl, b"NOPERM")
    r = switchover(nd, "r2")
    assert r.returncode == 0, r.stdout + r.stderr
    pub = client(nd)
    assert pub.publish("b", "after") == 1 and pub.publish("a", "x") == 0
    assert b"after" in _resp(s, b"after")
    acl.sendall(b"ECHO mine\r\n")
    assert _read_for(acl, 1).startswith(b"$4\r\nmine\r\n")
    assert pub.publish("ok1", "hi") == 1
    assert b"hi" in _resp(acl, b"hi\r\n")


def test_sessions_nodown_cannot_restore_are_closed(redis_pair, nodown, tmp_path):
    """MONITOR, CLIENT TRACKING and a SUBSCRIBE queued in a MULTI are not
    restored: such a client is closed at the move (it reconnects, as after
    a restart of Redis), never left silent or wrongly subscribed; the
    error log says why."""
    nd = start(nodown, tmp_path, redis_pair)
    client(nd).set("k", "v")
    mon = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    mon.sendall(b"MONITOR\r\n")
    _resp(mon, b"+OK\r\n")
    trk = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    trk.sendall(b"HELLO 3\r\nCLIENT TRACKING ON\r\nGET k\r\n")
    _resp(trk, b"+OK\r\n$1\r\nv\r\n")
    tx = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    tx.sendall(b"MULTI\r\nSUBSCRIBE x\r\nDISCARD\r\nGET k\r\n")
    _resp(tx, b"$1\r\nv\r\n")
    r = switchover(nd, "r2")
    assert r.returncode == 0, r.stdout + r.stderr
    for s in (mon, trk, tx):
        assert _read_for(s, 3).endswith(b"<EOF>")
    log = nd.error_log()
    assert "it ran MONITOR" in log and "CLIENT TRACKING" in log and "subscribed inside MULTI" in log
    assert client(nd).get("k") == b"v"


def test_stopping_during_a_slow_check_is_clean(tmp_path, nodown):
    """nodown stops while the switchover's connection to the target is
    still opening (its accept queue full): the switchover's connections
    are closed safely (this was a use-after-free under ASan) and nodown
    exits 0."""
    import os
    import signal
    from conftest import Redis
    from test_redis import redis_config
    r1 = Redis(tmp_path, "r1")
    r2 = Redis(tmp_path, "r2", replicaof=r1.port, extra=["--tcp-backlog", "1"])
    hold = []
    try:
        assert wait_for(lambda: r2.client().info("replication").get("master_link_status") == "up", 10)
        c = redis_config(tmp_path, r1, r2, pool={"health": {"interval": "60s", "timeout": "1s", "rise": 1,
                                                            "fall": 2}})
        nd = nodown(c)
        assert wait_for(lambda: roles(nd) == {"r1": "primary", "r2": "standby"}, timeout=5), roles(nd)
        os.kill(r2.proc.pid, signal.SIGSTOP)
        for _ in range(8):      # fill r2's accept queue: later SYNs are dropped
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", r2.port))
            except BlockingIOError:
                pass
            hold.append(s)
        assert admin_json(nd, "/pools/cache/switchover?to=r2", method="POST")["step"] == "check"
        assert nd.stop() == 0
        assert "AddressSanitizer" not in nd.stderr()
    finally:
        os.kill(r2.proc.pid, signal.SIGCONT)
        for s in hold:
            s.close()
        r2.stop()
        r1.stop()


# ---- nodown pause / resume ---------------------------------------------------------

def test_pause_holds_commands_and_resume_releases_them(redis_pair, nodown, tmp_path):
    """`nodown pause cache` holds new commands (the client stalls, no
    error) while a MULTI in flight finishes; `--wait` returns once nothing
    is in flight; `nodown resume` lets the held ones go on; a switchover is
    refused meanwhile, and a pause times out by itself."""
    nd = start(nodown, tmp_path, redis_pair)
    sock = nd.cfg["admin"]["socket"]
    tx = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    tx.sendall(b"MULTI\r\nINCR p\r\n")
    _resp(tx, b"+OK\r\n+QUEUED\r\n")
    p = run_cli("pause", "cache", "--timeout", "20s", "--socket", sock)
    assert p.returncode == 0 and "cache paused for at most 20.0s; 1 in flight" in p.stdout, p.stdout + p.stderr
    held = client(nd)
    res = {}
    t = threading.Thread(target=lambda: res.setdefault("v", held.incr("p")))
    t.start()
    w = {}
    tw = threading.Thread(target=lambda: w.setdefault("r", run_cli("pause", "cache", "--wait", "--socket", sock)))
    tw.start()
    tx.sendall(b"EXEC\r\n")                    # the transaction in flight finishes
    assert _resp(tx, b"*1\r\n:1\r\n")
    assert wait_for(lambda: admin_json(nd)["pools"][0]["pause"]["held_clients"] >= 1, 5)
    assert "v" not in res                      # held, not failed
    st = admin_json(nd)["pools"][0]
    assert st["paused"] is True and st["pause"]["kind"] == "pause"
    r = switchover(nd, "r2")
    assert r.returncode == 1 and "paused by an operator" in r.stderr
    tw.join(10)
    assert w["r"].returncode == 1 and "already paused" in w["r"].stderr
    q = run_cli("resume", "cache", "--socket", sock)
    t.join(10)
    assert q.returncode == 0 and "1 clients were held" in q.stdout, q.stdout + q.stderr
    assert res["v"] == 2
    assert run_cli("resume", "cache", "--socket", sock).returncode == 1
    p = run_cli("pause", "cache", "--timeout", "200ms", "--wait", "--socket", sock)
    assert p.returncode == 0 and "nothing in flight" in p.stdout, p.stdout + p.stderr
    assert wait_for(lambda: admin_json(nd)["pools"][0]["paused"] is False, 5)
    ops = [o for o in admin_json(nd, "/operations")["operations"] if o["kind"] == "pause"]
    assert ops[0]["state"] == "failed" and "timed out" in ops[0]["error"]
    assert client(nd).incr("p") == 3


def test_pause_is_refused_where_it_means_nothing(redis_pair, nodown, tmp_path):
    """An unknown pool, a bad timeout: refused with the reason; usage errors
    exit 2."""
    nd = start(nodown, tmp_path, redis_pair)
    sock = nd.cfg["admin"]["socket"]
    r = run_cli("pause", "nope", "--socket", sock)
    assert r.returncode == 1 and "no pool 'nope'" in r.stderr
    assert run_cli("pause", "cache", "--timeout", "0s", "--socket", sock).returncode == 2
    assert run_cli("resume", "cache", "--wait", "--socket", sock).returncode == 2
    assert admin_json(nd, "/pools/cache/pause?timeout=soon", method="POST")["error"].startswith("POST /pools")


# ---- clients nodown did not write ---------------------------------------------------

def test_redis_benchmark_through_a_switchover(redis_pair, nodown, tmp_path):
    """redis-benchmark (20 connections, pipelines of 8) INCRs one counter
    through nodown while the primary moves: it exits 0 and the counter on
    the new primary is exactly the number of INCRs it sent, so no write
    was lost or applied twice."""
    r1, r2 = redis_pair
    nd = start(nodown, tmp_path, redis_pair)
    n = 1000000         # seconds of work: the move happens in the middle
    bench = subprocess.Popen(["redis-benchmark", "-h", "127.0.0.1", "-p", str(nd.port), "-c", "20", "-P", "8",
                              "-n", str(n), "-t", "incr", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert wait_for(lambda: int(r1.client().get("counter:__rand_int__") or 0) > 20000, 30)
    assert bench.poll() is None
    r = switchover(nd, "r2")
    out, _ = bench.communicate(timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert bench.returncode == 0 and "INCR" in out and "rror" not in out, out
    assert int(r2.client().get("counter:__rand_int__")) == n
    assert report(nd)["moved_clients"] >= 1


def test_redis_cli_pipe_and_commands(redis_pair, nodown, tmp_path):
    """redis-cli's mass insertion (--pipe: RESP written blind, replies
    counted by redis-cli) and ordinary commands through nodown."""
    nd = start(nodown, tmp_path, redis_pair)
    data = "".join(f"*3\r\n$3\r\nSET\r\n${len(f'k{i}')}\r\nk{i}\r\n${len(str(i))}\r\n{i}\r\n" for i in range(5000))
    p = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(nd.port), "--pipe"], input=data,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "errors: 0, replies: 5000" in p.stdout, p.stdout + p.stderr
    cli = ["redis-cli", "-h", "127.0.0.1", "-p", str(nd.port)]
    assert subprocess.run(cli + ["GET", "k4999"], capture_output=True, text=True).stdout == "4999\n"
    assert subprocess.run(cli + ["DBSIZE"], capture_output=True, text=True).stdout == "5000\n"
    out = subprocess.run(cli + ["-n", "3", "--no-raw", "CLIENT", "SETNAME", "x"], capture_output=True,
                         text=True).stdout
    assert out == "OK\n"
