"""Expect: 100-continue reaches the client as an interim 100 before the
body is sent."""
import os
import subprocess

import pytest

from conftest import MiB, HTTPReader, connect, sha256


@pytest.fixture
def proxy(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b]))
    return nd, b


def test_100_continue_before_body(proxy):
    nd, _ = proxy
    with connect(nd.port, timeout=3) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        rd = HTTPReader(s, timeout=3)
        interim = rd.read_response(allow_interim=True)   # body not sent yet
        assert interim.status == 100, interim
        assert interim.version == "HTTP/1.1"
        s.sendall(b"hello world")
        r = rd.read_response()
        assert r.status == 200
        assert r.body == b"hello world"
        # the connection is still usable
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        assert rd.read_response().body == b"b1\n"


def test_100_continue_chunked(proxy):
    nd, _ = proxy
    with connect(nd.port, timeout=3) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        rd = HTTPReader(s, timeout=3)
        interim = rd.read_response(allow_interim=True)
        assert interim.status == 100, interim
        s.sendall(b"5\r\nhello\r\n0\r\n\r\n")
        r = rd.read_response()
        assert r.status == 200 and r.body == b"hello"


def test_100_continue_curl_big_body(proxy, tmp_path):
    nd, _ = proxy
    data = os.urandom(2 * MiB)
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    # curl waits up to --expect100-timeout for the 100 before sending anyway
    r = subprocess.run(["curl", "-sS", "-v", "--max-time", "10", "--expect100-timeout", "5",
                        "-H", "Expect: 100-continue", "--data-binary", f"@{f}", nd.url("/echo")],
                       capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr[-500:]
    assert b"< HTTP/1.1 100 Continue" in r.stderr
    assert sha256(r.stdout) == sha256(data)
