"""Request and response bodies of 0 B, 1 B and 10 MiB, Content-Length and
chunked, HEAD and bodiless statuses."""
import http.client
import os
import subprocess

import pytest
import requests

from conftest import MiB, HTTPReader, connect, parse_one, recv_until_close, sha256

SIZES = [0, 1, 10 * MiB]


@pytest.fixture
def proxy(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], workers=2))
    return nd, b


@pytest.mark.parametrize("size", SIZES, ids=["0B", "1B", "10MiB"])
def test_upload_content_length(proxy, size):
    nd, b = proxy
    data = os.urandom(size)
    r = requests.post(nd.url("/echo"), data=data, timeout=20)
    assert r.status_code == 200
    assert len(r.content) == size
    assert sha256(r.content) == sha256(data)
    seen = b.requests_seen(1)
    assert seen[-1][2] == "POST /echo HTTP/1.1" and seen[-1][3] == 200


def chunks(data, n):
    for i in range(0, len(data), n):
        yield data[i:i + n]


@pytest.mark.parametrize("size", SIZES, ids=["0B", "1B", "10MiB"])
def test_upload_chunked(proxy, size):
    nd, _ = proxy
    data = os.urandom(size)
    conn = http.client.HTTPConnection("127.0.0.1", nd.port, timeout=20)
    try:
        conn.request("POST", "/echo", body=chunks(data, 65536 + 7),
                     headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
        r = conn.getresponse()
        body = r.read()
    finally:
        conn.close()
    assert r.status == 200
    assert len(body) == size
    assert sha256(body) == sha256(data)


def test_upload_chunked_curl(proxy, tmp_path):
    nd, _ = proxy
    data = os.urandom(3 * MiB + 17)
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-H", "Transfer-Encoding: chunked",
                        "--data-binary", f"@{f}", nd.url("/echo")],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert sha256(r.stdout) == sha256(data)


def test_upload_chunked_with_extensions_and_trailer(proxy):
    nd, _ = proxy
    with connect(nd.port) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n")
        r = HTTPReader(s).read_response()
    assert r.status == 200
    assert r.body == b"hello world"


@pytest.mark.parametrize("name", ["empty.txt", "one.bin", "big.bin"])
def test_download(proxy, static_root, name):
    nd, _ = proxy
    want = static_root[1][name]
    r = requests.get(nd.url("/" + name), timeout=20)
    assert r.status_code == 200
    assert int(r.headers["Content-Length"]) == len(want)
    assert sha256(r.content) == sha256(want)


def test_download_curl(proxy, static_root):
    nd, _ = proxy
    r = subprocess.run(["curl", "-sS", "--max-time", "20", nd.url("/big.bin")],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert sha256(r.stdout) == sha256(static_root[1]["big.bin"])


def test_head_has_no_body(proxy):
    """HEAD of a 10 MiB file: the length header but no body; the next
    response on the same connection starts right after the head."""
    nd, _ = proxy
    with connect(nd.port) as s:
        rd = HTTPReader(s)
        s.sendall(b"HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        r = rd.read_response("HEAD")
        assert r.status == 200
        assert r.header("Content-Length") == str(10 * MiB)
        s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        r2 = rd.read_response()
        assert r2.status == 200 and r2.body == b"Z"
        s.sendall(b"HEAD /echo HTTP/1.1\r\nHost: t\r\n\r\n")   # chunked response to HEAD
        r3 = rd.read_response("HEAD")
        assert r3.status == 200
        s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r4 = rd.read_response()
        assert r4.body == b"Z"
        assert rd.at_eof(), "bytes after the last response: %r" % rd.buf[:100]


def test_204_has_no_body(proxy):
    nd, _ = proxy
    with connect(nd.port) as s:
        rd = HTTPReader(s)
        s.sendall(b"GET /nocontent HTTP/1.1\r\nHost: t\r\n\r\n")
        r = rd.read_response()
        assert r.status == 204
        assert r.header("Content-Length") in (None, "0")
        assert r.header("Transfer-Encoding") is None
        s.sendall(b"GET /one.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r2 = rd.read_response()
        assert r2.status == 200 and r2.body == b"Z"
        assert rd.at_eof()


def test_304_has_no_body(proxy, static_root):
    nd, _ = proxy
    etag = requests.get(nd.url("/small.txt"), timeout=5).headers["ETag"]
    with connect(nd.port) as s:
        rd = HTTPReader(s)
        s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nIf-None-Match: %s\r\n\r\n" % etag.encode())
        r = rd.read_response()
        assert r.status == 304
        assert r.header("ETag") == etag
        s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r2 = rd.read_response()
        assert r2.status == 200 and r2.body == static_root[1]["small.txt"]
        assert rd.at_eof()


def test_early_response_during_upload(nginx, nodown, cfg):
    """The backend answers (413) before the 10 MiB body is uploaded; the
    client gets that answer and the connection is closed."""
    import threading
    b = nginx("b1", locations="location /small-only { client_max_body_size 1k; echo_read_request_body; echo ok; }")
    nd = nodown(cfg([b]))
    with connect(nd.port, timeout=10) as s:
        s.sendall(b"POST /small-only HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (10 * MiB))

        def pump():
            try:
                chunk = b"u" * 65536
                for _ in range(160):
                    s.sendall(chunk)
            except OSError:
                pass

        th = threading.Thread(target=pump, daemon=True)
        th.start()
        rd = HTTPReader(s, timeout=10)
        r = rd.read_response()
        assert r.status == 413
        assert r.header("Connection", "").lower() == "close"
        th.join(10)


def test_expect_continue_refused_by_backend(nginx, nodown, cfg):
    """Expect: 100-continue to a URL that refuses the body: the final status
    comes without a 100 and without the client sending the body."""
    b = nginx("b1")
    nd = nodown(cfg([b]))
    with connect(nd.port, timeout=3) as s:
        s.sendall(b"POST /small.txt HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        rd = HTTPReader(s, timeout=3)
        r = rd.read_response(allow_interim=True)
        assert r.status == 405, r


def test_http10_post_echo(proxy):
    nd, _ = proxy
    with connect(nd.port) as s:
        s.sendall(b"POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello")
        out = recv_until_close(s, 5)
    r = parse_one(out)
    assert r.status == 200 and r.body == b"hello"
    assert r.version == "HTTP/1.1"
    assert r.header("Transfer-Encoding") is None
