"""Keep-alive on both sides: client connections carry many requests,
backend connections are pooled and reused; HTTP/1.0 rules."""
import http.client
import socket
import time

import pytest
import requests

from conftest import HTTPReader, connect, http_get, parse_one, recv_until_close, wait_for


@pytest.fixture
def proxy(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], workers=1))
    return nd, b


def test_many_requests_one_client_connection(proxy, static_root):
    nd, b = proxy
    conn = http.client.HTTPConnection("127.0.0.1", nd.port, timeout=5)
    try:
        conn.connect()
        first = conn.sock
        local = first.getsockname()
        for i in range(200):
            if i % 2:
                conn.request("POST", "/echo", body=b"x%d" % i)
                r = conn.getresponse()
                assert r.status == 200 and r.read() == b"x%d" % i
            else:
                conn.request("GET", "/small.txt")
                r = conn.getresponse()
                assert r.status == 200 and r.read() == static_root[1]["small.txt"]
            assert r.getheader("Connection", "").lower() != "close"
            assert conn.sock is first and conn.sock.getsockname() == local, \
                f"client connection was replaced after {i} requests"
    finally:
        conn.close()
    def logged():
        return [l for l in nd.access_log_lines() if "/small.txt" in l or "/echo" in l]
    assert len(wait_for(lambda: len(logged()) == 200) and logged()) == 200, len(logged())


def test_backend_connections_reused_one_client(proxy):
    nd, b = proxy
    with requests.Session() as s:
        for _ in range(50):
            assert s.get(nd.url("/whoami"), timeout=5).status_code == 200
    seen = b.requests_seen(50)
    assert len(seen) == 50
    conns = {c for c, _, _, _ in seen}
    assert len(conns) <= 2, f"nginx saw {len(conns)} connections for 50 sequential requests"
    assert max(n for _, n, _, _ in seen) >= 25


def test_backend_connections_reused_across_clients(proxy):
    """The backend pool outlives client connections: 30 clients one after
    the other (each its own connection) share backend connections."""
    nd, b = proxy
    for _ in range(30):
        r = requests.get(nd.url("/whoami"), headers={"Connection": "close"}, timeout=5)
        assert r.status_code == 200
    seen = b.requests_seen(30)
    assert len(seen) == 30
    conns = {c for c, _, _, _ in seen}
    assert len(conns) <= 3, f"nginx saw {len(conns)} connections for 30 sequential requests"


def test_backend_reuse_with_bodies(proxy):
    """Reuse is also safe after request and response bodies of both framings."""
    nd, b = proxy
    conn = http.client.HTTPConnection("127.0.0.1", nd.port, timeout=5)
    try:
        for i in range(20):
            body = b"y" * (i * 1000)
            if i % 2:
                conn.request("POST", "/echo", body=iter([body]), encode_chunked=True,
                             headers={"Transfer-Encoding": "chunked"})
            else:
                conn.request("POST", "/echo", body=body)
            r = conn.getresponse()
            assert r.status == 200 and r.read() == body
    finally:
        conn.close()
    conns = {c for c, _, _, _ in b.requests_seen(20)}
    assert len(conns) <= 2


def test_http10_without_keepalive_gets_close(proxy, static_root):
    nd, _ = proxy
    with connect(nd.port) as s:
        s.sendall(b"GET /small.txt HTTP/1.0\r\nHost: t\r\n\r\n")
        rd = HTTPReader(s)
        r = rd.read_response()
        assert r.status == 200
        assert r.body == static_root[1]["small.txt"]
        assert r.header("Connection", "").lower() == "close"
        assert rd.at_eof(), "connection not closed after an HTTP/1.0 response"


def test_http10_keepalive_kept(proxy, static_root):
    nd, _ = proxy
    with connect(nd.port) as s:
        rd = HTTPReader(s)
        for _ in range(3):
            s.sendall(b"GET /small.txt HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n")
            r = rd.read_response()
            assert r.status == 200
            assert r.body == static_root[1]["small.txt"]
            assert r.header("Connection", "").lower() == "keep-alive"
        s.sendall(b"GET /one.bin HTTP/1.0\r\n\r\n")
        r = rd.read_response()
        assert r.body == b"Z"
        assert r.header("Connection", "").lower() == "close"
        assert rd.at_eof()


def test_http11_connection_close(proxy):
    nd, _ = proxy
    with connect(nd.port) as s:
        rd = HTTPReader(s)
        s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r = rd.read_response()
        assert r.status == 200 and r.body == b"Z"
        assert r.header("Connection", "").lower() == "close"
        assert rd.at_eof()


def test_http11_default_keepalive(proxy):
    nd, _ = proxy
    with connect(nd.port) as s:
        rd = HTTPReader(s)
        s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        r = rd.read_response()
        assert r.status == 200 and r.body == b"Z"
        assert r.header("Connection", "").lower() != "close"
        assert not rd.at_eof(timeout=0.3)
        s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        assert rd.read_response().body == b"Z"


def test_idle_client_closed_after_idle_timeout(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"idle_timeout": "500ms"}))
    with connect(nd.port) as s:
        rd = HTTPReader(s)
        s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        assert rd.read_response().body == b"Z"
        assert rd.at_eof(timeout=3.0), "idle keep-alive client not closed after idle_timeout"


def test_backend_keepalive_requests_limit(nginx, nodown, cfg):
    """nginx closes a backend connection after 3 requests (Connection:
    close); nodown must not reuse it, and no client request may fail."""
    b = nginx("b1", keepalive_requests=3)
    nd = nodown(cfg([b]))
    conn = http.client.HTTPConnection("127.0.0.1", nd.port, timeout=5)
    try:
        for i in range(30):
            if i % 3 == 2:
                conn.request("POST", "/echo", body=b"p%d" % i)
                r = conn.getresponse()
                assert r.status == 200 and r.read() == b"p%d" % i
            else:
                conn.request("GET", "/whoami")
                r = conn.getresponse()
                assert r.status == 200 and r.read() == b"b1\n"
    finally:
        conn.close()
    seen = b.requests_seen(30)
    assert len(seen) == 30
    assert max(n for _, n, _, _ in seen) <= 3


def test_backend_idle_close_then_reuse(nginx, nodown, cfg):
    """nginx drops idle keep-alive connections after 1 s; the next
    requests (GET and POST) must open a new one, not fail."""
    b = nginx("b1", keepalive_timeout="1s")
    nd = nodown(cfg([b]))
    with requests.Session() as s:
        assert s.get(nd.url("/whoami"), timeout=5).status_code == 200
        time.sleep(1.5)
        assert s.get(nd.url("/whoami"), timeout=5).status_code == 200
        time.sleep(1.5)
        r = s.post(nd.url("/echo"), data=b"after idle", timeout=5)
        assert r.status_code == 200 and r.content == b"after idle"


def test_pool_idle_timeout_opens_new_connection(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], pool={"idle_timeout": "300ms"}))
    with requests.Session() as s:
        assert s.get(nd.url("/whoami"), timeout=5).status_code == 200
        assert s.get(nd.url("/whoami"), timeout=5).status_code == 200
        time.sleep(0.6)
        assert s.get(nd.url("/whoami"), timeout=5).status_code == 200
    seen = b.requests_seen(3)
    assert seen[0][0] == seen[1][0], "second request did not reuse the connection"
    assert seen[2][0] != seen[1][0], "a connection idle past idle_timeout was reused"


def test_max_idle_zero_never_reuses(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], pool={"max_idle": 0}))
    with requests.Session() as s:
        for _ in range(5):
            assert s.get(nd.url("/whoami"), timeout=5).status_code == 200
    seen = b.requests_seen(5)
    assert len({c for c, _, _, _ in seen}) == 5


def test_half_closed_client_still_gets_response(proxy, static_root):
    """A client that sends its request and shuts down its sending side still
    gets the whole response."""
    nd, _ = proxy
    with connect(nd.port) as s:
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        out = recv_until_close(s, 10)
    r = parse_one(out)
    assert r.status == 200
    assert r.body == static_root[1]["big.bin"]


def test_client_gone_mid_download_daemon_fine(proxy):
    nd, b = proxy
    for _ in range(5):
        s = connect(nd.port)
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        s.recv(65536)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()    # RST
    r = http_get(nd.port, "/whoami")
    assert r.status == 200 and r.body == b"b1\n"


def test_backend_keepalive_timeout_announced_is_honoured(nginx, nodown, cfg):
    """nginx announces 'Keep-Alive: timeout=3' (but keeps connections 10 s,
    so the test sees nodown's choice, not nginx closing); nodown (pool
    idle_timeout 30 s) must not reuse a connection past the announced bound
    less a second."""
    import time
    from conftest import http_get
    ng = nginx("a", keepalive_timeout="10s 3s")
    nd = nodown(cfg([ng], pool={"idle_timeout": "30s"}))
    assert http_get(nd.port, "/whoami").status == 200
    time.sleep(1.0)
    assert http_get(nd.port, "/whoami").status == 200      # reused: within 2 s
    time.sleep(2.3)
    assert http_get(nd.port, "/whoami").status == 200      # fresh: past 2 s
    seen = ng.requests_seen(3)
    conns = [c for c, _, _, _ in seen]
    assert conns[0] == conns[1], seen
    assert conns[2] != conns[1], seen
