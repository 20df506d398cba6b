"""Request smuggling and malformed framing: answered 400, connection closed,
never forwarded; the daemon carries on."""
import socket

import pytest

from conftest import HTTPReader, connect, http_get, parse_one, recv_until_close

H = b"Host: t\r\n"

BAD = [
    ("cl-and-te",
     b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n"),
    ("te-and-cl",
     b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
     b"0\r\n\r\n"),
    ("two-cl-same",
     b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ("two-cl-different",
     b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("cl-list",
     b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: 1, 1\r\n\r\nx"),
    ("cl-negative",
     b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n"),
    ("cl-plus",
     b"POST /echo HTTP/1.1\r\n" + H + b"Content-Length: +5\r\n\r\nhello"),
    ("invalid-chunk-size",
     b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("chunk-size-overflow",
     b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n"
     b"fffffffffffffffff1\r\nhello\r\n0\r\n\r\n"),
    ("obs-fold",
     b"GET /whoami HTTP/1.1\r\n" + H + b"X-A: one\r\n two\r\n\r\n"),
    ("obs-fold-tab",
     b"GET /whoami HTTP/1.1\r\n" + H + b"X-A: one\r\n\ttwo\r\n\r\n"),
    ("bare-cr-in-header",
     b"GET /whoami HTTP/1.1\r\n" + H + b"X-A: one\rtwo\r\n\r\n"),
    ("bare-cr-line-ending",
     b"GET /whoami HTTP/1.1\r\n" + H + b"X-A: one\r\r\n\r\n"),
    ("space-before-colon",
     b"GET /whoami HTTP/1.1\r\nHost : t\r\n\r\n"),
    ("space-before-colon-te",
     b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
    ("invalid-header-name",
     b"GET /whoami HTTP/1.1\r\n" + H + b"X(A): b\r\n\r\n"),
    ("header-name-with-space",
     b"GET /whoami HTTP/1.1\r\n" + H + b"X A: b\r\n\r\n"),
    ("nul-in-header",
     b"GET /whoami HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n"),
    ("http11-without-host",
     b"GET /whoami HTTP/1.1\r\nX-A: b\r\n\r\n"),
    ("two-hosts",
     b"GET /whoami HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("te-chunked-then-gzip",
     b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
    ("te-chunked-twice",
     b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"),
    ("te-in-http10",
     b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("bad-request-line",
     b"GET  /whoami HTTP/1.1\r\n" + H + b"\r\n"),
    ("lowercase-version",
     b"GET /whoami http/1.1\r\n" + H + b"\r\n"),
]


@pytest.fixture
def proxy(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], listener={"header_timeout": "5s"}))
    return nd, b


def send_bad(port, data, timeout=3.0):
    """Send data in one write; return (response bytes, closed?)."""
    with connect(port, timeout) as s:
        s.sendall(data)
        try:
            out = recv_until_close(s, timeout)
            return out, True
        except socket.timeout:
            return b"", False


@pytest.mark.parametrize("data", [c[1] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_request_rejected(proxy, data):
    nd, b = proxy
    out, closed = send_bad(nd.port, data)
    assert out.startswith(b"HTTP/1.1 400 "), f"expected 400, got {out[:200]!r} (closed={closed})"
    r = parse_one(out)
    assert r.header("Connection", "").lower() == "close"
    assert closed, "connection not closed after 400"
    assert b.access_lines() == [], "the backend saw the bad request"
    # the daemon carries on
    r = http_get(nd.port, "/whoami")
    assert r.status == 200 and r.body == b"b1\n"
    lines = b.lines(1)
    assert len(lines) == 1 and "GET /whoami" in lines[0], lines
    assert nd.proc.poll() is None


def test_bad_request_after_good_one_on_same_connection(proxy):
    """A malformed second request on a kept-alive connection: the first is
    answered, the second gets 400 and the connection closes."""
    nd, b = proxy
    with connect(nd.port) as s:
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"
                  b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        out = recv_until_close(s, 3)
    first = parse_one(out)
    assert first.status == 200 and first.body == b"b1\n"
    assert b"HTTP/1.1 400 " in out[out.index(b"b1\n"):]
    assert len(b.lines(1)) == 1


@pytest.mark.parametrize("data", [c[1] for c in BAD if c[0] in (
    "cl-and-te", "two-cl-different", "invalid-chunk-size", "http11-without-host", "te-chunked-twice")],
    ids=["cl-and-te", "two-cl-different", "invalid-chunk-size", "http11-without-host", "te-chunked-twice"])
def test_bad_request_on_kept_alive_connection(proxy, data):
    """The first request is answered and read; a malformed second one on the
    same connection still gets its 400 (not a silent close)."""
    nd, b = proxy
    with connect(nd.port) as s:
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = HTTPReader(s, timeout=3)
        assert rd.read_response().body == b"b1\n"
        s.sendall(data)
        out = bytes(rd.buf) + recv_until_close(s, 3)
    assert out.startswith(b"HTTP/1.1 400 "), f"expected 400, got {out[:200]!r}"
    assert len(b.lines(1)) == 1


def test_smuggled_request_in_body_is_just_body(proxy):
    """A request hidden in a Content-Length body is echoed as data, and
    only one request reaches the backend."""
    nd, b = proxy
    hidden = b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"
    r = http_get(nd.port, "/echo", method="POST", body=hidden)
    assert r.status == 200 and r.body == hidden
    assert len(b.lines(1)) == 1


@pytest.mark.parametrize("te", [b"gzip", b"gzip, chunked", b"identity, chunked", b"chunked;x=1"])
def test_unknown_transfer_coding_is_501(proxy, te):
    """A transfer coding nodown does not implement: 501, as nginx and
    HAProxy answer; never forwarded."""
    nd, b = proxy
    out, closed = send_bad(nd.port, b"POST /echo HTTP/1.1\r\n" + H + b"Transfer-Encoding: " + te +
                           b"\r\n\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 501 "), out[:200]
    assert closed and b.access_lines() == []


def test_unsupported_version(proxy):
    nd, b = proxy
    out, closed = send_bad(nd.port, b"GET /whoami HTTP/2.0\r\nHost: t\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 505 ")
    assert closed and b.lines(0) == []
