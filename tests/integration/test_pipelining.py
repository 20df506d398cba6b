"""Pipelined requests: several in one write, answered complete and in order."""
import pytest

from conftest import MiB, HTTPReader, connect, sha256


@pytest.fixture
def proxy(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b]))
    return nd, b


def test_pipelined_requests_in_one_write(proxy, static_root):
    nd, b = proxy
    files = static_root[1]
    reqs = [
        ("GET", b"GET /one.bin HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("GET", b"GET /small.txt HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("POST", b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"),
        ("HEAD", b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("POST", b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"3\r\nabc\r\n0\r\n\r\n"),
        ("GET", b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("GET", b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("GET", b"GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n"),
        ("GET", b"GET /one.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
    ]
    with connect(nd.port, timeout=10) as s:
        s.sendall(b"".join(r for _, r in reqs))
        rd = HTTPReader(s, timeout=10)
        got = [rd.read_response(m) for m, _ in reqs]
        assert rd.at_eof(), "connection not closed after 'Connection: close'"
    assert [r.status for r in got] == [200, 200, 200, 200, 200, 200, 200, 204, 200]
    assert got[0].body == b"Z"
    assert got[1].body == files["small.txt"]
    assert got[2].body == b"hello world"
    assert got[3].body == b"" and got[3].header("Content-Length") == str(10 * MiB)
    assert got[4].body == b"abc"
    assert got[5].body == b"b1\n"
    assert sha256(got[6].body) == sha256(files["big.bin"])
    assert got[8].body == b"Z"
    # the backend saw them in the same order
    assert [r[2].split()[1] for r in b.requests_seen(9)] == [
        "/one.bin", "/small.txt", "/echo", "/big.bin", "/echo", "/whoami", "/big.bin",
        "/nocontent", "/one.bin"]


def test_pipelined_many_small(proxy):
    nd, _ = proxy
    n = 50
    with connect(nd.port, timeout=10) as s:
        s.sendall(b"".join(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
                           % (len(b"req-%d" % i), b"req-%d" % i) for i in range(n)))
        rd = HTTPReader(s, timeout=10)
        for i in range(n):
            r = rd.read_response()
            assert r.status == 200
            assert r.body == b"req-%d" % i


def test_pipelined_request_split_across_writes(proxy):
    """The second request's head starts in the same segment as the end of
    the first request's body and finishes later."""
    nd, _ = proxy
    with connect(nd.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /whoami HT")
        rd = HTTPReader(s)
        r = rd.read_response()
        assert r.body == b"abc"
        s.sendall(b"TP/1.1\r\nHost: t\r\n\r\n")
        r = rd.read_response()
        assert r.status == 200 and r.body == b"b1\n"


def test_nothing_after_connection_close(proxy):
    """Requests pipelined after one with Connection: close are not served."""
    nd, b = proxy
    with connect(nd.port) as s:
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                  b"GET /one.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = HTTPReader(s)
        r = rd.read_response()
        assert r.body == b"b1\n"
        assert rd.at_eof(), "more data after the Connection: close response"
    assert [x[2] for x in b.requests_seen(1)] == ["GET /whoami HTTP/1.1"]


def test_pipelined_after_big_upload(proxy):
    nd, _ = proxy
    body = bytes(range(256)) * 4096     # 1 MiB
    with connect(nd.port, timeout=10) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
                  + body + b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = HTTPReader(s, timeout=10)
        assert rd.read_response().body == body
        assert rd.read_response().body == b"b1\n"
