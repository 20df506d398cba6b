"""
The redis proxy with real redis-server primaries and replicas and real
clients (redis-py, raw sockets): every command family gives through nodown
what it gives direct; malformed RESP gets -ERR and the daemon carries on;
the primary is found by health checks; client authentication and protected
mode.
"""
import socket
import threading
import time

import pytest
import redis

from conftest import SANITIZED, admin_json, free_port, wait_for


def redis_config(tmp_path, r1, r2, pool=None, listener=None, workers=2):
    pool_cfg = {"name": "cache", "protocol": "redis",
                "health": {"interval": "200ms", "timeout": "200ms", "rise": 1, "fall": 2},
                "backends": [{"name": "r1", "address": f"127.0.0.1:{r1.port}"},
                             {"name": "r2", "address": f"127.0.0.1:{r2.port}"}]}
    pool_cfg.update(pool or {})
    lst = {"name": "cache", "protocol": "redis", "bind": f"127.0.0.1:{free_port()}", "pool": "cache"}
    lst.update(listener or {})
    return {
        "workers": workers,
        "admin": {"socket": str(tmp_path / "nd.sock")},
        "shutdown_timeout": "5s",
        "shutdown_idle_grace": "200ms",
        "log": {"access": "off", "error": str(tmp_path / "nd-error.log")},
        "listeners": [lst],
        "pools": [pool_cfg],
    }


def roles(nd):
    return {b["name"]: b["role"] for b in admin_json(nd)["pools"][0]["backends"]}


def start(nodown, tmp_path, pair, **kw):
    nd = nodown(redis_config(tmp_path, *pair, **kw))
    assert wait_for(lambda: roles(nd) == {"r1": "primary", "r2": "standby"}, timeout=5), roles(nd)
    return nd


def client(nd, **kw):
    kw.setdefault("socket_timeout", 5)
    return redis.Redis(host="127.0.0.1", port=nd.port, **kw)


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))


def raw(nd, data, timeout=3):
    """Send data on a new connection; everything read until the server
    closes or stays silent for `timeout`."""
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    s.close()
    return out


def test_primary_found_and_commands_go_to_it(redis_pair, nodown, tmp_path):
    r1, r2 = redis_pair
    nd = start(nodown, tmp_path, redis_pair)
    c = client(nd)
    assert c.set("k", "v") is True
    assert r1.client().get("k") == b"v"           # written on the primary
    assert wait_for(lambda: r2.client().get("k") == b"v", 5)
    assert c.incr("n") == 1 and c.incr("n") == 2
    st = admin_json(nd)["pools"][0]["backends"]
    assert st[0]["requests"] >= 3 and st[1]["requests"] == 0


def test_same_answers_as_direct(redis_pair, nodown, tmp_path):
    """Each command family, through nodown and direct on the same server,
    gives the same answer (differential against the real server)."""
    r1, _ = redis_pair
    nd = start(nodown, tmp_path, redis_pair)
    via, direct = client(nd), r1.client()
    script = "return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}"

    def run(c, p):
        c.flushdb()
        out = [c.set(p + "s", "x" * 100000), c.get(p + "s") == b"x" * 100000,
               c.rpush(p + "l", *range(50)), c.lrange(p + "l", 0, -1),
               c.hset(p + "h", mapping={"a": 1, "b": 2}), sorted(c.hgetall(p + "h").items()),
               c.zadd(p + "z", {"a": 1.5, "b": 2}), c.zrange(p + "z", 0, -1, withscores=True),
               c.eval(script, 1, p + "e", "arg")[1:], c.type(p + "l"), c.ttl(p + "l"),
               c.exists(p + "nothere"), c.get(p + "nothere"), c.mget([p + "s", p + "none"])[1]]
        try:
            c.lpush(p + "s", 1)
        except redis.ResponseError as e:
            out.append(str(e))
        try:
            c.execute_command("NOSUCHCOMMAND", 1)
        except redis.ResponseError as e:
            out.append(str(e).split(",")[0])
        cur, keys = 0, set()
        for k in range(200):
            c.set(f"{p}scan:{k}", k)
        while True:
            cur, ks = c.scan(cur, match=f"{p}scan:*", count=20)
            keys.update(ks)
            if cur == 0:
                break
        out.append(len(keys))
        return out

    assert run(via, "") == run(direct, "")


def test_pipelining_answers_in_order(redis_pair, nodown, tmp_path):
    nd = start(nodown, tmp_path, redis_pair)
    c = client(nd)
    p = c.pipeline(transaction=False)
    for i in range(5000):
        p.set(f"p{i}", i)
        p.get(f"p{i}")
    out = p.execute()
    assert out[1::2] == [str(i).encode() for i in range(5000)]
    # inline commands, several in one packet, LF and CRLF
    assert raw(nd, b"PING\r\nECHO hi\nSET a 1\r\nGET a\r\nQUIT\r\n") == \
        b"+PONG\r\n$2\r\nhi\r\n+OK\r\n$1\r\n1\r\n+OK\r\n"


def test_transactions_select_and_client_state(redis_pair, nodown, tmp_path):
    nd = start(nodown, tmp_path, redis_pair)
    c = client(nd, db=3)
    c.set("indb3", 1)
    assert client(nd).get("indb3") is None and client(nd, db=3).get("indb3") == b"1"
    p = c.pipeline(transaction=True)
    p.incr("t").incr("t").get("t")
    assert p.execute() == [1, 2, b"2"]
    # WATCH aborts the transaction when another client changes the key
    c.set("w", 1)
    with c.pipeline() as p:
        p.watch("w")
        client(nd, db=3).set("w", 2)
        p.multi()
        p.set("w", 3)
        with pytest.raises(redis.WatchError):
            p.execute()
    assert c.get("w") == b"2"
    c.client_setname("me")
    assert c.client_getname() == "me"
    assert isinstance(c.client_id(), int)


def test_pubsub_and_blocking(redis_pair, nodown, tmp_path):
    nd = start(nodown, tmp_path, redis_pair)
    sub = client(nd).pubsub()
    sub.subscribe("ch")
    assert sub.get_message(timeout=2)["type"] == "subscribe"
    assert client(nd).publish("ch", "hello") == 1
    m = sub.get_message(timeout=2)
    assert m["type"] == "message" and m["data"] == b"hello"
    sub.close()
    got = []
    t = threading.Thread(target=lambda: got.append(client(nd).blpop("q", timeout=5)))
    t.start()
    time.sleep(0.2)
    client(nd).rpush("q", "x")
    t.join(5)
    assert got == [(b"q", b"x")]


def test_resp3(redis_pair, nodown, tmp_path):
    nd = start(nodown, tmp_path, redis_pair)
    out = raw(nd, b"HELLO 3\r\nSET a 1\r\nHGETALL nothere\r\nCLIENT TRACKING on\r\nGET a\r\n"
                  b"SET a 2\r\nPING\r\n", timeout=1)
    assert out.startswith(b"%7\r\n")                 # HELLO's map
    assert b"%0\r\n" in out                            # an empty map, RESP3
    assert b">2\r\n$10\r\ninvalidate\r\n" in out       # a push
    assert out.endswith(b"+PONG\r\n")


def test_big_values_use_bounded_memory(redis_pair, nodown, tmp_path):
    """A 64 MB value in and out through a worker with 1 MiB of buffers."""
    c = redis_config(tmp_path, *redis_pair, workers=1)
    c["buffers"] = {"size": "16k", "max": 64}
    nd = nodown(c)
    assert wait_for(lambda: roles(nd)["r1"] == "primary", 5)
    big = b"v" * (64 << 20)
    cl = client(nd, socket_timeout=30)
    assert cl.ping()
    before = peak_rss_kb(nd.pid)
    assert cl.set("big", big) is True
    assert cl.strlen("big") == len(big)
    assert cl.get("big") == big
    # 1 MiB of buffers and output watermarks, not 64 MB
    assert SANITIZED or peak_rss_kb(nd.pid) - before < 8 * 1024, (before, peak_rss_kb(nd.pid))


@pytest.mark.parametrize("data, reason", [
    (b"*1\r\n$-5\r\n", b"invalid bulk length"),
    (b"*1\r\n$99999999999999\r\n", b"invalid bulk length"),
    (b"*x\r\n", b"invalid multibulk length"),
    (b"*1\r\n$3\r\nGETxx", b""),
    (b"\"unbalanced\r\n", b"unbalanced"),
    (b"GET " + b"k" * 70000 + b"\r\n", b"too big inline request"),
])
def test_malformed_resp_gets_an_error_and_others_carry_on(redis_pair, nodown, tmp_path, data, reason):
    nd = start(nodown, tmp_path, redis_pair)
    other = client(nd)
    other.set("x", 1)
    out = raw(nd, b"PING\r\n" + data)
    assert out.startswith(b"+PONG\r\n-ERR Protocol error") and reason in out, out[:200]
    assert out.endswith(b"\r\n") and out.count(b"\r\n") == 2
    assert other.get("x") == b"1"                      # the other connection carries on
    assert client(nd).ping()


def test_client_password(redis_pair, nodown, tmp_path):
    nd = start(nodown, tmp_path, redis_pair, pool={"client_password": "s3cret"})
    with pytest.raises(redis.AuthenticationError):
        client(nd).get("x")
    with pytest.raises((redis.AuthenticationError, redis.ResponseError), match="WRONGPASS"):
        client(nd, password="wrong").get("x")
    c = client(nd, password="s3cret")
    assert c.set("x", 1) and c.get("x") == b"1"
    assert client(nd, username="default", password="s3cret").get("x") == b"1"
    # commands pipelined behind a failed AUTH get NOAUTH, none reaches the server
    out = raw(nd, b"AUTH nope\r\nSET y 1\r\nAUTH s3cret\r\nGET x\r\n", timeout=1)
    assert out == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n" \
                  b"-NOAUTH Authentication required.\r\n+OK\r\n$1\r\n1\r\n"
    assert redis_pair[0].client().get("y") is None


def test_server_password(tmp_path, nodown):
    from conftest import Redis
    r1 = Redis(tmp_path, "a1", password="srvpw")
    r2 = Redis(tmp_path, "a2", password="srvpw", replicaof=r1.port)
    try:
        nd = start(nodown, tmp_path, (r1, r2), pool={"password": "srvpw"})
        c = client(nd)
        assert c.set("k", 1) and c.get("k") == b"1"
    finally:
        r1.stop()
        r2.stop()


def test_a_wrong_server_password_is_a_clear_error(tmp_path, nodown):
    from conftest import Redis
    r1 = Redis(tmp_path, "b1", password="srvpw")
    try:
        c = redis_config(tmp_path, r1, r1, pool={"password": "nope",
                                                "backends": [{"name": "r1", "address": f"127.0.0.1:{r1.port}"}]})
        nd = nodown(c)
        assert wait_for(lambda: "AUTH refused: -WRONGPASS" in nd.error_log(), 5), nd.error_log()
        assert roles(nd)["r1"] == "unknown"
        assert admin_json(nd)["pools"][0]["backends"][0]["health"] == "down"
    finally:
        r1.stop()


def test_no_primary_waits_then_fails_clearly(redis_pair, nodown, tmp_path):
    r1, r2 = redis_pair
    # only the replica is configured: no primary
    nd = nodown(redis_config(tmp_path, r2, r2, pool={
        "failover_hold": "300ms", "backends": [{"name": "r2", "address": f"127.0.0.1:{r2.port}"}]}))
    assert wait_for(lambda: roles(nd)["r2"] == "standby", 5)
    out = raw(nd, b"PING\r\n")
    assert out.startswith(b"-ERR nodown: pool cache has no usable primary"), out


def test_drain_closes_idle_clients_of_the_backend(redis_pair, nodown, tmp_path):
    from conftest import run_cli
    nd = start(nodown, tmp_path, redis_pair)
    c = redis.Redis(host="127.0.0.1", port=nd.port, socket_timeout=5, single_connection_client=True)
    assert c.ping()
    r = run_cli("drain", "cache/r1", "--socket", str(tmp_path / "nd.sock"))
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: admin_json(nd)["listeners"][0]["active"] == 0, 5)
    assert wait_for(lambda: admin_json(nd)["pools"][0]["backends"][0]["state"] == "drained", 5)


def test_drain_lets_a_transaction_finish(redis_pair, nodown, tmp_path):
    """A client between MULTI and EXEC (no command in flight) is not idle:
    a drain waits for its EXEC instead of closing it."""
    from conftest import run_cli
    nd = start(nodown, tmp_path, redis_pair)
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    s.sendall(b"MULTI\r\nINCR t\r\n")
    assert wait_for(lambda: s.recv(100, socket.MSG_PEEK) == b"+OK\r\n+QUEUED\r\n", 5)
    s.recv(100)
    r = run_cli("drain", "cache/r1", "--socket", str(tmp_path / "nd.sock"))
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: admin_json(nd)["pools"][0]["backends"][0]["state"] == "draining", 5)
    s.sendall(b"EXEC\r\n")
    got = b""
    while not got.endswith(b"\r\n:1\r\n"):
        b = s.recv(100)
        assert b, got
        got += b
    assert got == b"*1\r\n:1\r\n"
    assert wait_for(lambda: admin_json(nd)["listeners"][0]["active"] == 0, 5)   # closed once idle


def _load(*args, timeout=60):
    import json
    import subprocess
    from conftest import NODOWN_BIN
    p = subprocess.run([NODOWN_BIN, "load", "redis", *args, "--json", "-q"], capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr


def test_load_redis_counts_and_classes(redis_pair, nodown, tmp_path):
    """`nodown load redis`: every command answered through nodown; writes
    sent straight to the replica are counted as readonly errors."""
    r1, r2 = redis_pair
    nd = start(nodown, tmp_path, redis_pair)
    rc, r, err = _load(f"127.0.0.1:{nd.port}", "--rate", "500", "--duration", "1s", "--mix",
                       "set=1,get=1,incr=1,del=1,ping=1", "--keys", "50", "--max-errors", "0")
    assert rc == 0, err
    assert r["errors"] == 0 and 490 <= r["ok"] <= 510
    assert 0 < r1.client().dbsize() <= 50
    rc, r, _ = _load(f"127.0.0.1:{r2.port}", "--rate", "200", "--duration", "500ms", "--mix", "set=1,get=1",
                     "--max-errors", "0")
    assert rc == 1 and r["error_classes"]["readonly"] == r["requests"] // 2 and r["ok"] == r["requests"] // 2
    rc, r, _ = _load(f"127.0.0.1:{free_port()}", "--rate", "50", "--duration", "300ms")
    assert rc == 0 and r["error_classes"]["connect"] == r["requests"] > 0
    c = redis_config(tmp_path, r1, r2, pool={"client_password": "pw"})
    c["listeners"][0]["bind"] = f"127.0.0.1:{free_port()}"
    c["admin"]["socket"] = str(tmp_path / "nd2.sock")
    nd2 = nodown(c)
    assert wait_for(lambda: roles(nd2)["r1"] == "primary", 5)
    rc, r, err = _load(f"127.0.0.1:{nd2.port}", "-a", "pw", "--rate", "200", "--duration", "300ms",
                       "--max-errors", "0")
    assert rc == 0 and r["ok"] == r["requests"] > 0, err
    rc, r, _ = _load(f"127.0.0.1:{nd2.port}", "--rate", "100", "--duration", "300ms")
    assert r["error_classes"]["err"] == r["requests"] > 0          # NOAUTH
    from conftest import run_cli
    assert run_cli("load", "redis", "nothere", "--rate", "1", "--duration", "1s").returncode == 1
    assert run_cli("load", "redis", "127.0.0.1:1", "--rate", "1", "--duration", "1s",
                   "--mix", "flushall=1").returncode == 2


def test_subscribers_have_nothing_in_flight(redis_pair, nodown, tmp_path):
    """Pub/sub replies come unasked (RESP3 pushes, several confirmations per
    command, messages): a subscriber counts nothing in flight, so `active`
    goes back to 0; an AUTH held behind the HELLO before it waits for
    HELLO's reply."""
    nd = start(nodown, tmp_path, redis_pair, pool={"client_password": "pw"})
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    s.sendall(b"AUTH pw\r\nHELLO 3\r\nSUBSCRIBE a b\r\nAUTH pw\r\nUNSUBSCRIBE\r\nPING\r\n")
    got = b""
    while not got.endswith(b"+PONG\r\n"):
        b = s.recv(65536)
        assert b, got
        got += b
    assert got.count(b"subscribe") == 4
    assert got.index(b"%7\r\n") < got.index(b"+OK\r\n", 5)      # HELLO's map before the 2nd AUTH's OK
    assert wait_for(lambda: admin_json(nd)["pools"][0]["backends"][0]["active"] == 0, 5)
    s.close()


def test_a_client_that_does_not_read_is_bounded_before_auth(redis_pair, nodown, tmp_path):
    """Commands nodown answers itself (NOAUTH before AUTH) stop being read
    at the output watermark: 30 MB of pipelined PINGs from a client that
    never reads grow nothing, and other clients are served."""
    c = redis_config(tmp_path, *redis_pair, pool={"client_password": "pw"}, workers=1)
    nd = nodown(c)
    assert wait_for(lambda: roles(nd)["r1"] == "primary", 5)
    before = peak_rss_kb(nd.pid)
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    s.setblocking(False)
    sent, chunk = 0, b"P\r\n" * 100000
    deadline = time.monotonic() + 5
    while sent < 30 << 20 and time.monotonic() < deadline:
        try:
            sent += s.send(chunk)
        except BlockingIOError:
            time.sleep(0.01)
    assert sent < 30 << 20, "nodown read all of it"
    assert client(nd, password="pw").ping()
    assert SANITIZED or peak_rss_kb(nd.pid) - before < 8 * 1024, (before, peak_rss_kb(nd.pid))
    s.close()


def test_client_reply_off_is_refused(redis_pair, nodown, tmp_path):
    """CLIENT REPLY OFF and SKIP would break the matching of replies to
    commands that drain, stop and switchover rely on: refused with a clear
    -ERR, in order with the other replies; CLIENT REPLY ON and other CLIENT
    subcommands pass."""
    nd = start(nodown, tmp_path, redis_pair)
    got = raw(nd, b"PING\r\nCLIENT REPLY OFF\r\n*3\r\n$6\r\nclient\r\n$5\r\nreply\r\n$4\r\nskip\r\n"
                  b"CLIENT REPLY ON\r\nCLIENT GETNAME\r\nQUIT\r\n")
    assert got == (b"+PONG\r\n-ERR nodown: CLIENT REPLY OFF and SKIP cannot be honoured through nodown, "
                   b"which matches every reply to its command\r\n" * 1 +
                   b"-ERR nodown: CLIENT REPLY OFF and SKIP cannot be honoured through nodown, "
                   b"which matches every reply to its command\r\n+OK\r\n$-1\r\n+OK\r\n"), got
