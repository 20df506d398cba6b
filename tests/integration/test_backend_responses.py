"""Responses nginx would not send: close-delimited bodies, interim
responses, and malformed or ambiguous heads (which must become a 502, not
be passed on)."""
import pytest

from conftest import HTTPReader, connect, parse_one, recv_until_close
from helpers import strict_http


def proxied(pybackend, nodown, cfg, response):
    be = pybackend("raw", response.hex())
    return nodown(cfg([be], pool_name="rawpool"))


def get(nd, path=b"/"):
    with connect(nd.port) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
        return recv_until_close(s, 5)


def test_close_delimited_body(pybackend, nodown, cfg):
    nd = proxied(pybackend, nodown, cfg,
                 b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"until-close " * 1000)
    out = get(nd)
    r = parse_one(out)
    assert r.status == 200
    assert r.header("Connection", "").lower() == "close"
    assert r.body == b"until-close " * 1000


def test_close_delimited_body_http10_backend(pybackend, nodown, cfg):
    nd = proxied(pybackend, nodown, cfg, b"HTTP/1.0 200 OK\r\n\r\nold style")
    r = parse_one(get(nd))
    assert r.status == 200 and r.body == b"old style"


def test_interim_response_passed_before_final(pybackend, nodown, cfg):
    nd = proxied(pybackend, nodown, cfg,
                 b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                 b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    with connect(nd.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = HTTPReader(s)
        first = rd.read_response(allow_interim=True)
        assert first.status == 103
        assert first.header("Link") == "</s.css>; rel=preload"
        final = rd.read_response()
        assert final.status == 200 and final.body == b"ok"


BAD_RESPONSES = [
    ("two-content-lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("cl-and-te", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\n0\r\n\r\n"),
    ("bare-cr-head", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\r\n\r\nok"),
    ("different-content-lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok"),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok"),
    ("space-before-colon", b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok"),
    ("garbage", b"this is not http at all\r\n\r\n"),
    ("bad-status", b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok"),
    ("http2-version", b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ("101-unasked", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\n\r\n"),
    ("nothing", b""),
]


@pytest.mark.parametrize("response", [c[1] for c in BAD_RESPONSES],
                         ids=[c[0] for c in BAD_RESPONSES])
def test_malformed_response_becomes_502(pybackend, nodown, cfg, response):
    nd = proxied(pybackend, nodown, cfg, response)
    out = get(nd)
    assert out.startswith(b"HTTP/1.1 502 "), out[:200]
    r = parse_one(out)
    assert b"rawpool" in r.body
    assert r.header("Connection", "").lower() == "close"


# Forms a backend may send that a lenient reader accepts: nodown accepts
# them too and sends the response on in one strict form.
LENIENT_RESPONSES = [
    ("bare-lf-head", b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: b\n\nok", b"ok"),
    ("same-cl-twice", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    ("same-cl-list", b"HTTP/1.1 200 OK\r\nContent-Length: 2, 02\r\n\r\nok", b"ok"),
    ("cl-leading-zeros", b"HTTP/1.1 200 OK\r\nContent-Length: 0002\r\n\r\nok", b"ok"),
    ("http-1.2", b"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    ("lf-chunk-lines", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
     b"hello"),
    ("space-after-chunk-size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5  \r\nhello\r\n3\t\r\n!!!\r\n0 \r\n\r\n", b"hello!!!"),
    ("chunk-extensions", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5 ; a = \"b;c\"\r\nhello\r\n0;x\r\n\r\n", b"hello"),
    ("framing-in-trailers", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\nContent-Length: 99\r\nX-Sum: 1\r\nTransfer-Encoding: gzip\r\n\r\n",
     b"hello"),
    ("empty-te-elements", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
     b"hello"),
]


@pytest.mark.parametrize("response,body", [c[1:] for c in LENIENT_RESPONSES],
                         ids=[c[0] for c in LENIENT_RESPONSES])
def test_lenient_response_reframed(pybackend, nodown, cfg, response, body):
    """Accepted (no 502) and re-serialised: a strict reader reads exactly
    one response, HTTP/1.1, with canonical framing and the same payload."""
    nd = proxied(pybackend, nodown, cfg, response)
    with connect(nd.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        out = recv_until_close(s, 5)
    msgs, rest = strict_http.read_responses(out, until_close=False)
    assert len(msgs) == 1 and rest == b"", out
    r = msgs[0]
    assert r.status == 200 and r.version == b"HTTP/1.1" and r.body == body, out
    assert all(k not in (b"content-length", b"transfer-encoding") for k, _ in r.trailers)
    if b"Trailer" in response or b"X-Sum" in response:
        assert r.trailers == [(b"x-sum", b"1")]


def test_invalid_chunked_response_body_cuts_connection(pybackend, nodown, cfg):
    """Bad chunk framing after the head was passed on: the client's
    connection is closed (no second status line)."""
    nd = proxied(pybackend, nodown, cfg,
                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n")
    out = get(nd)
    assert out.startswith(b"HTTP/1.1 200 ") or out.startswith(b"HTTP/1.1 502 "), out[:200]
    assert out.count(b"HTTP/1.1 ") == 1, out


def test_response_head_too_large(pybackend, nodown, cfg):
    nd = proxied(pybackend, nodown, cfg,
                 b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 40000 + b"\r\nContent-Length: 2\r\n\r\nok")
    out = get(nd)
    assert out.startswith(b"HTTP/1.1 502 "), out[:200]
