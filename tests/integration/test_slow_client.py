"""A client that reads slowly gets the whole response, and does not stall
anybody else (backpressure, not buffering, and not blocking the loop)."""
import socket
import threading
import time

import pytest

from conftest import MiB, HTTPReader, admin_json, http_get, sha256


@pytest.fixture
def proxy(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], workers=1))   # one loop: a blocked loop would show
    return nd, b


def test_slow_reader_gets_everything_and_others_are_served(proxy, static_root):
    nd, _ = proxy
    want = static_root[1]["big.bin"]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.settimeout(10)
    s.connect(("127.0.0.1", nd.port))
    try:
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        got = bytearray()
        others = []
        stop = threading.Event()

        def other_clients():
            while not stop.is_set():
                t0 = time.monotonic()
                r = http_get(nd.port, "/whoami", timeout=3)
                others.append((r.status, time.monotonic() - t0))
                time.sleep(0.05)

        th = threading.Thread(target=other_clients, daemon=True)
        th.start()
        # slowly: 1 MiB in 4 KiB reads with pauses (~1.3 s)
        t_end = time.monotonic() + 8
        while len(got) < 1 * MiB and time.monotonic() < t_end:
            b = s.recv(4096)
            if not b:
                break
            got += b
            time.sleep(0.005)
        stop.set()
        th.join(5)
        # then the rest as fast as possible
        while True:
            b = s.recv(1 << 20)
            if not b:
                break
            got += b
    finally:
        s.close()
    head, _, body = bytes(got).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert len(body) == len(want)
    assert sha256(body) == sha256(want)
    assert len(others) >= 5, others
    assert all(st == 200 for st, _ in others), others
    assert max(t for _, t in others) < 1.5, f"other clients waited: {others}"


def test_slow_reader_on_kept_alive_connection(proxy, static_root):
    """After a slowly read response, the same connection serves the next one."""
    nd, _ = proxy
    want = static_root[1]["two.bin"]
    with socket.socket() as s:
        # before connect: shrinking the window of a live connection makes
        # any proxy crawl (kernel zero-window probing), nodown or nginx
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.settimeout(10)
        s.connect(("127.0.0.1", nd.port))
        s.sendall(b"GET /two.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = HTTPReader(s, timeout=10)
        version, status, _, headers, _ = rd.read_head()
        assert status == 200
        n = int(dict((k.lower(), v) for k, v in headers)["content-length"])
        body = bytearray(rd.buf)
        rd.buf.clear()
        i = 0
        while len(body) < n:
            body += s.recv(min(8192, n - len(body)))
            i += 1
            if i % 16 == 0:
                time.sleep(0.01)
        assert sha256(bytes(body)) == sha256(want)
        s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        assert rd.read_response().body == b"Z"


def test_client_stalled_past_client_timeout_is_closed(nginx, nodown, cfg, static_root):
    """A client that stops reading entirely is dropped after client_timeout
    (and the daemon keeps serving)."""
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"client_timeout": "1s"}))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.settimeout(10)
    s.connect(("127.0.0.1", nd.port))
    try:
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(2.5)     # never read: nodown's writes stall
        total = 0
        t_end = time.monotonic() + 5
        closed = False
        while time.monotonic() < t_end:
            try:
                d = s.recv(1 << 20)
            except ConnectionResetError:
                closed = True
                break
            if not d:
                closed = True
                break
            total += len(d)
        assert closed, "stalled client was not closed"
        assert total < 10 * MiB, "stalled client got the whole body anyway"
    finally:
        s.close()
    assert http_get(nd.port, "/whoami").status == 200


def test_slow_clients_cannot_stop_service(nginx, nodown, cfg):
    """One worker with 16 buffers: 5 POSTs whose body comes a byte now and
    then (3 buffers each) and 16 connections that sent one byte of a head
    hold every buffer, with every timeout far away. A complete GET is
    still answered at once: unfinished heads, then the slowest bodies,
    give their buffers up (408) for it."""
    from conftest import wait_for
    b = nginx("b1")
    nd = nodown(cfg([b], workers=1, top={"buffers": {"max": 16}},
                    listener={"header_timeout": "60s", "client_timeout": "60s",
                              "request_rate_grace": "60s"}))
    stop = threading.Event()
    posts, heads = [], []
    try:
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", nd.port), timeout=10)
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nx")
            posts.append(s)

        def trickle():
            while not stop.wait(0.5):
                for s in posts:
                    try:
                        s.sendall(b"x")
                    except OSError:
                        pass

        th = threading.Thread(target=trickle, daemon=True)
        th.start()
        assert wait_for(lambda: admin_json(nd)["pools"][0]["backends"][0]["active"] == 5, 10)
        for _ in range(16):
            s = socket.create_connection(("127.0.0.1", nd.port), timeout=10)
            s.sendall(b"G")
            heads.append(s)
        assert wait_for(lambda: admin_json(nd)["listeners"][0]["active"] == 21, 10)
        t0 = time.monotonic()
        r = http_get(nd.port, "/whoami", timeout=5)
        took = time.monotonic() - t0
        assert r.status == 200 and r.body == b"b1\n"
        # it did not wait for a timeout: everything here is 60 s away
        assert took < 5
        assert admin_json(nd)["listeners"][0]["reclaimed"] >= 1
        # the evicted got a clean 408
        answered = 0
        for s in heads + posts:
            s.settimeout(0.2)
            try:
                data = s.recv(4096)
                if data.startswith(b"HTTP/1.1 408 "):
                    answered += 1
            except (socket.timeout, ConnectionResetError):
                pass
        assert answered >= 1
    finally:
        stop.set()
        for s in posts + heads:
            s.close()


def test_body_slower_than_min_rate_gets_408(nginx, nodown, cfg):
    """A body that keeps trickling (client_timeout never fires) is cut at
    request_min_rate once request_rate_grace is over: 408, and the
    backend connection goes too."""
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"client_timeout": "60s", "request_min_rate": 1000,
                                   "request_rate_grace": "1s"}))
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=10)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
    got = b""
    deadline = time.monotonic() + 10
    s.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            s.sendall(b"x")
        except OSError:
            break
        try:
            got += s.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if got:
            break
    s.close()
    assert got.startswith(b"HTTP/1.1 408 "), got[:200]
    assert b"request_min_rate" in got


def test_head_slower_than_min_rate_gets_408(nginx, nodown, cfg):
    """A head that trickles in below request_min_rate is answered 408 after
    the grace, well before header_timeout."""
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"header_timeout": "60s", "request_min_rate": 1000,
                                   "request_rate_grace": "1s"}))
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=10)
    s.sendall(b"GET /whoami HTTP/1.1\r\n")
    got = b""
    deadline = time.monotonic() + 10
    s.settimeout(0.2)
    while time.monotonic() < deadline and not got:
        try:
            s.sendall(b"X-A: b\r\n")
            got = s.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            break
    s.close()
    assert got.startswith(b"HTTP/1.1 408 "), got[:200]
    assert b"request_min_rate" in got
