"""WebSocket through nodown to a real websockets echo server."""
import asyncio
import base64
import os

import pytest
import websockets

from conftest import HTTPReader, connect


@pytest.fixture
def proxy(pybackend, nodown, cfg):
    ws = pybackend("ws")
    nd = nodown(cfg([ws]))
    return nd, ws


def run(coro, timeout=15):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_websocket_echo_both_ways(proxy):
    nd, _ = proxy

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{nd.port}/chat", max_size=None,
                                      open_timeout=5, close_timeout=5) as ws:
            got = []
            for i in range(20):
                await ws.send(f"message {i}")
                got.append(await ws.recv())
            assert got == [f"message {i}" for i in range(20)]
            blob = os.urandom(1 << 20)
            await ws.send(blob)
            assert await ws.recv() == blob
            # several in flight at once
            for i in range(10):
                await ws.send(b"b%d" % i)
            assert [await ws.recv() for _ in range(10)] == [b"b%d" % i for i in range(10)]
            await ws.ping()
        return True

    assert run(go())


def test_websocket_server_close(proxy):
    nd, _ = proxy

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{nd.port}/", open_timeout=5,
                                      close_timeout=5) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            await ws.send("close")
            with pytest.raises(websockets.ConnectionClosedOK):
                await ws.recv()
            return ws.close_code

    assert run(go()) == 1000


def test_websocket_raw_handshake(proxy):
    nd, _ = proxy
    key = base64.b64encode(os.urandom(16))
    with connect(nd.port) as s:
        s.sendall(b"GET /raw HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
        rd = HTTPReader(s)
        version, status, _, headers, _ = rd.read_head()
        h = {k.lower(): v for k, v in headers}
        assert status == 101
        assert h["upgrade"].lower() == "websocket"
        assert h["connection"].lower() == "upgrade"
        assert "sec-websocket-accept" in h
        # one masked text frame "ping!" -> unmasked echo
        mask = os.urandom(4)
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(b"ping!"))
        s.sendall(bytes([0x81, 0x80 | 5]) + mask + payload)
        while len(rd.buf) < 7:
            rd._fill()
        assert bytes(rd.buf[:7]) == b"\x81\x05ping!"


def test_websocket_twice(proxy):
    """Two WebSocket sessions one after the other on the same proxy."""
    nd, _ = proxy

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{nd.port}/", open_timeout=5,
                                      close_timeout=5) as ws:
            await ws.send("a")
            return await ws.recv()

    assert run(go()) == "a"
    assert run(go()) == "a"


def test_websocket_frame_in_same_write_as_handshake(proxy):
    """Bytes sent right behind the upgrade request are delivered after the
    switch, not lost or parsed as HTTP."""
    nd, _ = proxy
    key = base64.b64encode(os.urandom(16))
    mask = os.urandom(4)
    payload = bytes(c ^ mask[i % 4] for i, c in enumerate(b"early"))
    with connect(nd.port) as s:
        s.sendall(b"GET /raw HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
                  + bytes([0x81, 0x80 | 5]) + mask + payload)
        rd = HTTPReader(s)
        _, status, _, _, _ = rd.read_head()
        assert status == 101
        while len(rd.buf) < 7:
            rd._fill()
        assert bytes(rd.buf[:7]) == b"\x81\x05early"


def test_drain_closes_tunnels_after_drain_tunnel_timeout(pybackend, nodown, cfg):
    """A WebSocket to a drained backend keeps working until the pool's
    drain_tunnel_timeout, then closes, so `drain --wait` ends."""
    import time
    from conftest import run_cli
    ws_backend = pybackend("ws")
    nd = nodown(cfg([ws_backend], pool={"drain_tunnel_timeout": "1s"}))
    sock = nd.cfg["admin"]["socket"]

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{nd.port}/chat", open_timeout=5,
                                      close_timeout=2) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            loop = asyncio.get_running_loop()
            t0 = time.monotonic()
            r = await loop.run_in_executor(None, lambda: run_cli(
                "drain", "app/b1", "--wait", "--timeout", "5s", "--socket", sock))
            took = time.monotonic() - t0
            assert r.returncode == 0, r.stderr
            assert 0.8 < took < 4, took
            with pytest.raises(websockets.ConnectionClosed):
                await ws.send("after")
                await ws.recv()
        return True

    assert run(go())
    assert "drain_tunnel_timeout" in nd.error_log()
