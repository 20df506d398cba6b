"""Request size limits: max_header_size -> 431, max_target_size -> 414,
max_body_size -> 413; nothing over a limit reaches the backend."""
import socket
import time

import pytest

from conftest import HTTPReader, connect, http_get, parse_one, recv_until_close, wait_for


def send_all_read(port, data, timeout=3.0):
    with connect(port, timeout) as s:
        s.sendall(data)
        try:
            return recv_until_close(s, timeout), True
        except socket.timeout:
            return b"", False


def expect_error(nd, b, data, status, seen_before=0):
    out, closed = send_all_read(nd.port, data)
    assert out.startswith(b"HTTP/1.1 %d " % status), f"expected {status}, got {out[:200]!r}"
    r = parse_one(out)
    assert r.header("Connection", "").lower() == "close"
    assert closed, f"connection not closed after {status}"
    assert len(b.lines(seen_before)) == seen_before, "the backend saw the refused request"
    r = http_get(nd.port, "/whoami")
    assert r.status == 200, "daemon does not answer after a refused request"
    assert len(b.lines(seen_before + 1)) == seen_before + 1
    return out


@pytest.fixture
def limited(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"max_header_size": "2k", "max_target_size": "512",
                                   "max_body_size": "1k"}))
    return nd, b


@pytest.fixture
def defaults(nginx, nodown, cfg):
    b = nginx("b1")
    return nodown(cfg([b])), b


def test_header_too_large_default_limit(defaults):
    nd, b = defaults
    big = b"X-Big: " + b"a" * 9000 + b"\r\n"
    out = expect_error(nd, b, b"GET /whoami HTTP/1.1\r\nHost: t\r\n" + big + b"\r\n", 431)
    assert b"max_header_size" in out


def test_header_just_under_default_limit(defaults):
    nd, b = defaults
    head = b"GET /whoami HTTP/1.1\r\nHost: t\r\n"
    pad = 8192 - len(head) - len(b"X-Big: \r\n\r\n") - 100
    r = http_get(nd.port, "/whoami", headers={"X-Big": "a" * pad})
    assert r.status == 200


def test_header_too_large_many_fields(limited):
    nd, b = limited
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 40) for i in range(60))
    expect_error(nd, b, b"GET /whoami HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n", 431)


def test_header_too_large_incomplete_head(limited):
    """A head that never ends but is already over the limit: 431 without
    waiting for the rest."""
    nd, b = limited
    expect_error(nd, b, b"GET /whoami HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 4000, 431)


def test_target_too_long(limited):
    nd, b = limited
    expect_error(nd, b, b"GET /" + b"a" * 1000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414)


def test_target_too_long_default_limit(defaults):
    nd, b = defaults
    expect_error(nd, b, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414)


def test_target_under_limit(limited):
    nd, b = limited
    r = http_get(nd.port, "/whoami?" + "a" * 400)
    assert r.status == 200


def test_body_too_large_content_length(limited):
    nd, b = limited
    out = expect_error(nd, b, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\n\r\n"
                       + b"x" * 2048, 413)
    assert b"max_body_size" in out


def test_body_too_large_content_length_head_only(limited):
    """413 as soon as the head announces too much, before any body byte."""
    nd, b = limited
    expect_error(nd, b, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\n\r\n", 413)


def test_body_too_large_chunked(limited):
    nd, b = limited
    body = b"".join(b"100\r\n" + b"y" * 256 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
    expect_error(nd, b, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + body, 413)


def test_body_too_large_chunked_one_chunk(limited):
    nd, b = limited
    expect_error(nd, b, b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"800\r\n" + b"y" * 2048 + b"\r\n0\r\n\r\n", 413)


def test_body_at_limit_passes(limited):
    nd, b = limited
    r = http_get(nd.port, "/echo", method="POST", body=b"k" * 1024)
    assert r.status == 200 and r.body == b"k" * 1024
    with connect(nd.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"200\r\n" + b"c" * 512 + b"\r\n200\r\n" + b"d" * 512 + b"\r\n0\r\n\r\n")
        r = HTTPReader(s).read_response()
    assert r.status == 200 and r.body == b"c" * 512 + b"d" * 512


def test_limit_errors_on_kept_alive_connection(limited):
    """The limits also answer (not just close) on a connection that already
    carried a request."""
    nd, b = limited
    for data, status in [
        (b"GET /whoami HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 1000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2048\r\n\r\n" + b"x" * 2048, 413),
    ]:
        with connect(nd.port) as s:
            rd = HTTPReader(s, timeout=3)
            s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
            assert rd.read_response().status == 200
            s.sendall(data)
            out = bytes(rd.buf) + recv_until_close(s, 3)
        assert out.startswith(b"HTTP/1.1 %d " % status), f"expected {status}, got {out[:200]!r}"


def test_header_timeout_408(nginx, nodown, cfg):
    """A head that stops arriving: 408 after header_timeout."""
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"header_timeout": "1s"}))
    with connect(nd.port) as s:
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        t0 = time.monotonic()
        out = recv_until_close(s, 5)
        took = time.monotonic() - t0
    assert out.startswith(b"HTTP/1.1 408 "), out[:200]
    assert 0.8 <= took < 5, took
    assert b.lines(0) == []


def test_header_timeout_silent_connection_closed(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"header_timeout": "1s"}))
    with connect(nd.port) as s:
        t0 = time.monotonic()
        out = recv_until_close(s, 5)
    assert out == b""
    assert 0.8 <= time.monotonic() - t0 < 5


def test_max_connections(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], workers=2, listener={"max_connections": 2}))
    held = [connect(nd.port), connect(nd.port)]
    try:
        for s in held:
            s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
            assert HTTPReader(s).read_response().status == 200
        with connect(nd.port) as s3:
            try:
                s3.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
            except OSError:
                pass
            try:
                out = recv_until_close(s3, 3)
            except ConnectionResetError:
                out = b""
            assert not out.startswith(b"HTTP/1.1 200"), "a third connection was served"
        held.pop().close()
        # the freed slot can be used again (closing is noticed asynchronously)
        def served():
            try:
                return http_get(nd.port, "/whoami", timeout=2).status == 200
            except (OSError, EOFError):
                return False
        assert wait_for(served, timeout=3)
    finally:
        for s in held:
            s.close()


def test_slow_upload_within_client_timeout(nginx, nodown, cfg):
    """A body trickling in (each pause shorter than client_timeout) is fine."""
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"client_timeout": "1s"}))
    with connect(nd.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n")
        for ch in b"0123456789":
            time.sleep(0.2)
            s.sendall(bytes([ch]))
        r = HTTPReader(s).read_response()
    assert r.status == 200 and r.body == b"0123456789"


def test_upload_stalled_past_client_timeout(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"client_timeout": "1s"}))
    with connect(nd.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234")
        t0 = time.monotonic()
        out = recv_until_close(s, 5)
        took = time.monotonic() - t0
    assert 0.8 <= took < 5, took
    assert not out.startswith(b"HTTP/1.1 200")
    assert http_get(nd.port, "/whoami").status == 200


def test_out_of_descriptors_refuses_cleanly_and_keeps_serving(nginx, nodown, cfg):
    """nodown with 64 descriptors, flooded with idle connections: new
    clients are refused (closed), the condition is logged at most once a
    second, and a kept-alive client still gets its request through a fresh
    backend connection (the backend closes after each response): the
    descriptor reserve is lent to that connect. Once the flood leaves, new
    clients are served again."""
    import os
    import socket
    import time
    from conftest import HTTPReader, connect, http_get, wait_for

    b = nginx("b1", keepalive_timeout="0")
    nd = nodown(cfg([b], workers=1), nofile=64)
    c1 = connect(nd.port)
    rd = HTTPReader(c1)
    c1.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
    assert rd.read_response().body == b"b1\n"
    t0 = time.monotonic()
    flood = []
    for _ in range(80):
        try:
            flood.append(socket.create_connection(("127.0.0.1", nd.port), timeout=2))
        except OSError:
            break
    # nodown has run out: its descriptor count is at the limit
    assert wait_for(lambda: len(os.listdir(f"/proc/{nd.pid}/fd")) >= 60, 5)
    c1.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
    r = rd.read_response()
    assert r.status == 200 and r.body == b"b1\n", r
    # a new client is closed, not left hanging
    s = socket.create_connection(("127.0.0.1", nd.port), timeout=5)
    s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
    try:
        assert s.recv(100) == b""
    except ConnectionResetError:
        pass
    s.close()
    elapsed = time.monotonic() - t0
    lines = [l for l in nd.error_log().splitlines() if "out of file descriptors" in l]
    assert 1 <= len(lines) <= elapsed + 2, lines
    for f in flood:
        f.close()
    c1.close()
    def serves():       # the flood's descriptors come back as nodown sees them close
        try:
            return http_get(nd.port, "/whoami", timeout=2).status == 200
        except (OSError, EOFError):
            return False
    assert wait_for(serves, 10)
