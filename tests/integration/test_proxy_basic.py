"""The spec's minimal config proxies to real nginx backends and spreads
requests by weight."""
import collections
import time

import requests

from conftest import MINIMAL_CONFIG, free_port, http_get, wait_for


def minimal_config(tmp_path, port, ap1, ap2):
    # The spec's minimal config, with ports and files chosen for this run.
    return MINIMAL_CONFIG.format(tmp=tmp_path, port=port, be1=ap1.port, be2=ap2.port)


def test_minimal_config_spreads_by_weight(tmp_path, nginx, nodown):
    ap1, ap2 = nginx("ap1"), nginx("ap2")
    port = free_port()
    nd = nodown(minimal_config(tmp_path, port, ap1, ap2))
    assert nd.port == port

    seen = collections.Counter()
    n = 90
    for _ in range(n):
        # a new connection each time, so both workers take part
        r = requests.get(f"http://127.0.0.1:{port}/whoami", timeout=5)
        assert r.status_code == 200
        assert r.headers["X-Backend"] == r.text.strip()
        seen[r.text.strip()] += 1
    assert set(seen) == {"ap1", "ap2"}
    assert sum(seen.values()) == n
    # weights 1:2 -> 30:60; each worker keeps its own smooth round robin
    assert 24 <= seen["ap1"] <= 36, seen
    assert 54 <= seen["ap2"] <= 66, seen
    # the backends' own logs agree
    assert len(ap1.lines(seen["ap1"])) == seen["ap1"]
    assert len(ap2.lines(seen["ap2"])) == seen["ap2"]

    # nodown's access log names listener, pool and backend for each request
    def logged():
        return [l for l in nd.access_log_lines() if "/whoami" in l]
    wait_for(lambda: len(logged()) == n)
    lines = logged()
    assert len(lines) == n, lines[:3]
    assert all(" web " in l and ("app/ap1" in l or "app/ap2" in l) and " 200 " in l
               for l in lines), lines[:3]


def test_get_through_proxy_matches_backend(nginx, nodown, cfg, static_root):
    b = nginx("b1")
    nd = nodown(cfg([b]))
    files = static_root[1]
    for name in ("small.txt", "one.bin", "empty.txt"):
        r = requests.get(nd.url("/" + name), timeout=5)
        assert r.status_code == 200
        assert r.content == files[name]
        assert r.headers["Via"] == "1.1 nodown"
    r = requests.get(nd.url("/no-such-file"), timeout=5)
    assert r.status_code == 404


def test_query_string_and_method_pass_through(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b]))
    r = http_get(nd.port, "/whoami?a=1&b=%20x")
    assert r.status == 200
    r = http_get(nd.port, "/echo", method="PUT", body=b"put-body")
    assert r.status == 200 and r.body == b"put-body"
    reqs = [x[2] for x in b.requests_seen(2)]
    assert reqs == ["GET /whoami?a=1&b=%20x HTTP/1.1", "PUT /echo HTTP/1.1"]


def test_least_conn_uses_all_backends(nginx, nodown, cfg):
    b1, b2 = nginx("b1"), nginx("b2")
    nd = nodown(cfg([b1, b2], pool={"balance": "least_conn"}))
    seen = collections.Counter()
    for _ in range(20):
        seen[http_get(nd.port, "/whoami").body] += 1
    assert seen[b"b1\n"] >= 5 and seen[b"b2\n"] >= 5, seen


def test_least_conn_prefers_idle_backend(nginx, nodown, cfg):
    """While b1 is busy with a long download, new requests go to b2."""
    import threading
    from conftest import connect, recv_until_close
    slow, fast = nginx("slow", limit_rate="512k"), nginx("fast", limit_rate="512k")
    nd = nodown(cfg([slow, fast], pool={"balance": "least_conn"}))
    holders = []

    def hold():
        with connect(nd.port, timeout=10) as s:
            s.sendall(b"GET /limited/two.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            holders.append(len(recv_until_close(s, 10)))

    th = threading.Thread(target=hold)
    th.start()
    time.sleep(0.3)
    busy = [l for l in slow.lines(0, settle=0) + fast.lines(0, settle=0)]
    assert busy == []     # the download is still running, not logged yet
    got = collections.Counter(http_get(nd.port, "/whoami").body for _ in range(6))
    th.join(10)
    # the backend serving the download got none of the six
    assert len(got) == 1, got
