"""Active health checks (TCP and HTTP), passive detection from traffic,
and slow start. Checks run on the control thread; a down backend gets no
new request and no client sees an error for it."""
import json
import socket
import threading
import time

from conftest import free_port, http_get, run_cli, wait_for


def status(nd):
    r = run_cli("status", "--json", "--socket", nd.cfg["admin"]["socket"])
    assert r.returncode == 0, r.stderr
    return {b["name"]: b for b in json.loads(r.stdout)["pools"][0]["backends"]}


def state_is(nd, name, state):
    return lambda: status(nd)[name]["state"] == state


FAST = {"interval": "100ms", "timeout": "200ms", "rise": 2, "fall": 2}


def test_tcp_check_down_then_up(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    nd = nodown(cfg([a, b], pool={"health": FAST}))
    assert status(nd)["a"]["health"] == "up"
    port = a.port
    a.kill()
    assert wait_for(state_is(nd, "a", "down"), timeout=5), status(nd)["a"]
    assert "up -> down" in nd.error_log()
    # No client error while it is down: every request goes to b.
    assert {http_get(nd.port, "/whoami").header("X-Backend") for _ in range(10)} == {"b"}
    nginx("a2", port=port)
    assert wait_for(state_is(nd, "a", "ready"), timeout=5), status(nd)["a"]
    assert "down -> up" in nd.error_log()
    assert "a2" in {http_get(nd.port, "/whoami").header("X-Backend") for _ in range(10)}


def test_http_check_status_range(tmp_path, nginx, nodown, cfg):
    flag = tmp_path / "a-is-sick"
    loc = 'location = /healthz { if (-f %s) { return 503; } return 200 "ok\\n"; }'
    a = nginx("a", locations=loc % flag)
    b = nginx("b", locations=loc % (tmp_path / "b-is-never-sick"))
    nd = nodown(cfg([a, b], pool={"health": dict(FAST, path="/healthz", expect="2xx")}))
    assert wait_for(lambda: any("nodown-health" in l or "/healthz" in l for l in a.access_lines()), 5)
    assert status(nd)["a"]["state"] == "ready"
    flag.write_text("x")
    assert wait_for(state_is(nd, "a", "down"), timeout=5)
    assert "HTTP 503" in nd.error_log()
    assert {http_get(nd.port, "/whoami").header("X-Backend") for _ in range(10)} == {"b"}
    flag.unlink()
    assert wait_for(state_is(nd, "a", "ready"), timeout=5)


def test_passive_marks_down_before_any_check(nginx, nodown, cfg):
    b = nginx("b")
    dead = free_port()                      # nothing listens there
    nd = nodown(cfg([("dead", dead), b], pool={
        "passive_fall": 2, "health": {"interval": "1h", "rise": 1, "fall": 5}}))
    for _ in range(10):                     # refused connects are retried on b
        r = http_get(nd.port, "/whoami")
        assert r.status == 200 and r.header("X-Backend") == "b"
    st = status(nd)
    assert st["dead"]["state"] == "down", st["dead"]
    assert st["dead"]["connect_errors"] == 2, "a down backend was still tried"
    assert "after 2 consecutive failures seen by traffic" in nd.error_log()


def test_all_down_gives_503(nginx, nodown, cfg):
    a = nginx("a")
    nd = nodown(cfg([a], pool={"health": FAST}))
    a.kill()
    assert wait_for(state_is(nd, "a", "down"), timeout=5)
    r = http_get(nd.port, "/whoami")
    assert r.status == 503 and b"no backend available" in r.body


def test_slowstart_ramps_a_returning_backend(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    nd = nodown(cfg([("a", a.port, 10), ("b", b.port, 10)], pool={"slowstart": "3s"}))
    sock = nd.cfg["admin"]["socket"]
    assert run_cli("drain", "app/a", "--socket", sock).returncode == 0
    assert run_cli("ready", "app/a", "--socket", sock).returncode == 0
    early = [http_get(nd.port, "/whoami").header("X-Backend") for _ in range(20)]
    time.sleep(3.2)
    late = [http_get(nd.port, "/whoami").header("X-Backend") for _ in range(20)]
    assert early.count("a") <= 6, early        # ramping from weight 1 of 10
    assert late.count("a") == 10, late         # full weight: one in two


# ---- one driver for every protocol: progress survives reloads -----------------------

class Relay:
    """A TCP relay on a fixed port to `target`: refused (bound, not
    listening) until open(), so a backend at this address can be down and
    then come back without any change to the config."""

    def __init__(self, target):
        self.target = target
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = False

    def open(self):
        self.sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopped = True
        self.sock.close()


def _comes_up_while_reloading(nd, pool_index, name, timeout=10):
    """Reload every 300 ms until backend `name` is up: with rise 4 and
    checks every 200 ms, only checks whose progress survives each reload
    can get there."""
    sock = nd.cfg["admin"]["socket"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = run_cli("reload", "--socket", sock)
        assert r.returncode == 0, r.stderr
        st = json.loads(run_cli("status", "--json", "--socket", sock).stdout)
        if {b["name"]: b for b in st["pools"][pool_index]["backends"]}[name]["health"] == "up":
            return True
        time.sleep(0.3)
    return False


RISE4 = {"interval": "200ms", "timeout": "500ms", "rise": 4, "fall": 1}


def test_http_check_progress_survives_reloads(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    relay = Relay(a.port)
    try:
        nd = nodown(cfg([("a", relay.port), b], pool={"health": RISE4}))
        assert wait_for(lambda: status(nd)["a"]["health"] == "down", timeout=5)
        relay.open()
        assert _comes_up_while_reloading(nd, 0, "a")
    finally:
        relay.close()


def test_pg_check_progress_survives_reloads(pg_cluster_ro, nodown, tmp_path):
    """The pg probe runs under the same driver: its progress survives a
    reload (it restarted at every reload before), and so do its roles."""
    from test_pg import pg_config
    relay = Relay(pg_cluster_ro.port_of("pg2"))
    try:
        c = pg_config(tmp_path, pg_cluster_ro, pool={"health": RISE4})
        c["pools"][0]["backends"][1]["address"] = f"127.0.0.1:{relay.port}"
        nd = nodown(c)
        sock = nd.cfg["admin"]["socket"]

        def pg2():
            st = json.loads(run_cli("status", "--json", "--socket", sock).stdout)
            return st["pools"][0]["backends"][1]
        assert wait_for(lambda: pg2()["health"] == "down", timeout=5)
        relay.open()
        assert _comes_up_while_reloading(nd, 0, "pg2"), pg2()
        assert wait_for(lambda: pg2()["role"] == "standby", timeout=5)
    finally:
        relay.close()
