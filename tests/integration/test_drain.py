"""Operator actions through the admin API: drain (with --wait), ready,
maint and weight. A drained backend gets no new request, its idle pooled
connections close at once, and what is in flight finishes."""
import concurrent.futures
import threading
import time

from conftest import backend_status, http_get, run_cli, sha256, wait_for
from test_shutdown import download


def established_to(port):
    """TCP connections in ESTABLISHED state whose remote port is `port`."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            rport = int(parts[2].split(":")[1], 16)
            if rport == port and parts[3] == "01":
                n += 1
    return n


def cli(nd, *args, timeout=20):
    return run_cli(*args, "--socket", nd.cfg["admin"]["socket"], timeout=timeout)


def backend_of(nd, path="/whoami"):
    r = http_get(nd.port, path)
    assert r.status == 200
    return r.header("X-Backend")


def test_drain_wait_lets_inflight_finish_and_sends_nothing_new(nginx, nodown, cfg, static_root):
    a, b = nginx("a", limit_rate="1m"), nginx("b")
    nd = nodown(cfg([a, b]))
    result = {}
    # With equal weights the first request of a fresh worker goes to 'a'.
    th = threading.Thread(target=download, args=(nd.port, b"/limited/two.bin", result))
    th.start()
    assert wait_for(lambda: backend_status(nd, "a")["active"] == 1, 5)
    t0 = time.monotonic()
    r = cli(nd, "drain", "app/a", "--wait", "--timeout", "10s")
    assert r.returncode == 0, r.stderr
    assert "state draining" in r.stdout and "nothing in flight" in r.stdout
    assert time.monotonic() - t0 > 1.0, "drain --wait returned before the download ended"
    th.join(10)
    assert result["response"].status == 200
    assert result["response"].header("X-Backend") == "a"
    assert sha256(result["response"].body) == sha256(static_root[1]["two.bin"])
    seen = len(a.lines(1))
    assert {backend_of(nd) for _ in range(20)} == {"b"}
    assert len(a.access_lines()) == seen, "a drained backend got a new request"
    st = cli(nd, "status", "--json")
    assert '"state": "drained"' in st.stdout
    r = cli(nd, "ready", "app/a")
    assert r.returncode == 0 and "state ready" in r.stdout
    assert "a" in {backend_of(nd) for _ in range(10)}


def test_drain_closes_idle_pooled_connections_at_once(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    nd = nodown(cfg([a, b]))
    for _ in range(6):
        backend_of(nd)
    assert wait_for(lambda: established_to(a.port) >= 1, timeout=2), "no pooled connection to a"
    assert cli(nd, "drain", "app/a").returncode == 0
    assert wait_for(lambda: established_to(a.port) == 0, timeout=2), \
        "idle pooled connections to a drained backend stayed open"


def test_drain_wait_timeout_says_what_is_open(nginx, nodown, cfg):
    a, b = nginx("a", limit_rate="200k"), nginx("b")
    nd = nodown(cfg([a, b]))
    result = {}
    th = threading.Thread(target=download, args=(nd.port, b"/limited/two.bin", result, 30))
    th.start()
    assert wait_for(lambda: backend_status(nd, "a")["active"] == 1, 5)
    r = cli(nd, "drain", "app/a", "--wait", "--timeout", "500ms")
    assert r.returncode == 1
    assert "app/a still has 1 request in flight after 0.5s" in r.stderr
    # The download is not harmed by the timeout; undo and let it finish.
    assert cli(nd, "ready", "app/a").returncode == 0
    th.join(30)
    assert result["response"].status == 200


def test_maint_and_ready(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    nd = nodown(cfg([a, b]))
    r = cli(nd, "maint", "app/b", "--wait")
    assert r.returncode == 0 and "state maint" in r.stdout
    assert {backend_of(nd) for _ in range(10)} == {"a"}
    assert "maint" in cli(nd, "status").stdout
    assert cli(nd, "ready", "app/b").returncode == 0
    assert {backend_of(nd) for _ in range(10)} == {"a", "b"}


def test_weight_shifts_traffic(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    nd = nodown(cfg([a, b]))
    r = cli(nd, "weight", "app/a", "0")
    assert r.returncode == 0 and "weight 0" in r.stdout
    assert {backend_of(nd) for _ in range(10)} == {"b"}
    assert cli(nd, "weight", "app/a", "3").returncode == 0
    got = [backend_of(nd) for _ in range(40)]
    assert got.count("a") == 30 and got.count("b") == 10, got


def test_all_drained_gives_503_naming_the_pool(nginx, nodown, cfg):
    a = nginx("a")
    nd = nodown(cfg([a]))
    assert cli(nd, "drain", "app/a").returncode == 0
    r = http_get(nd.port, "/whoami")
    assert r.status == 503 and b"pool 'app'" in r.body
    assert cli(nd, "ready", "app/a").returncode == 0
    assert http_get(nd.port, "/whoami").status == 200


def test_unknown_names_and_bad_arguments(nginx, nodown, cfg):
    nd = nodown(cfg([nginx("a")]))
    r = cli(nd, "drain", "app/zz")
    assert r.returncode == 1 and "no backend 'zz' in pool 'app' (backends: a)" in r.stderr
    r = cli(nd, "drain", "nope/a")
    assert r.returncode == 1 and "no pool 'nope' (pools: app)" in r.stderr
    r = cli(nd, "weight", "app/a", "1001")
    assert r.returncode == 2 and "from 0 to 1000" in r.stderr
    assert cli(nd, "weight", "app/a", "abc").returncode == 2
    assert cli(nd, "ready", "app/a", "--wait").returncode == 2
    assert cli(nd, "drain", "app").returncode == 2
    assert cli(nd, "drain", "app/a", "--timeout", "soon").returncode == 2
    assert cli(nd, "weight", "app/a").returncode == 2
    for cmd in ("drain", "ready", "maint", "weight"):
        assert run_cli(cmd, "--help").returncode == 0


def test_drain_and_ready_under_load_zero_errors(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    nd = nodown(cfg([a, b], workers=2))
    stop = time.monotonic() + 3.0
    errors, counts = [], {"a": 0, "b": 0}
    lock = threading.Lock()

    def client(i):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", nd.port, timeout=5)
        while time.monotonic() < stop:
            try:
                if i % 2:
                    conn.request("POST", "/echo", body=b"x" * 100)
                else:
                    conn.request("GET", "/whoami")
                resp = conn.getresponse()
                body = resp.read()
                with lock:
                    if resp.status != 200:
                        errors.append((resp.status, body[:100]))
                    else:
                        counts[resp.getheader("X-Backend")] += 1
            except Exception as e:
                with lock:
                    errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", nd.port, timeout=5)
        conn.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
        futs = [ex.submit(client, i) for i in range(4)]
        time.sleep(0.5)
        assert cli(nd, "drain", "app/a", "--wait", "--timeout", "5s").returncode == 0
        time.sleep(1.0)
        assert cli(nd, "ready", "app/a").returncode == 0
        for f in futs:
            f.result()
    assert errors == []
    assert counts["a"] > 0 and counts["b"] > 0
