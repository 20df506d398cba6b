"""
Small real backends for behaviours nginx cannot produce.

    backends.py ws PORT          WebSocket echo server (websockets), path any;
                                 a text message "close" makes it close 1000
    backends.py silent PORT      accepts and reads, never answers
    backends.py partial PORT N   answers every request with Content-Length N,
                                 sends N/2 bytes, then exits at once
    backends.py raw PORT HEX     answers every request head with the bytes
                                 HEX (hex-encoded), then closes the connection

Stops on SIGTERM.
"""
import asyncio
import os
import signal
import socket
import sys
import threading
import time


def ws(port):
    import websockets

    async def echo(conn, path=None):
        try:
            async for msg in conn:
                if msg == "close":
                    await conn.close(1000, "bye")
                    return
                await conn.send(msg)
        except websockets.ConnectionClosed:
            pass

    async def main():
        stop = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
        async with websockets.serve(echo, "127.0.0.1", port, max_size=None):
            await stop

    asyncio.run(main())


def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(64)
    return s


def silent(port):
    s = listen(port)
    held = []

    def drain(c):
        try:
            while c.recv(65536):
                pass
        except OSError:
            pass

    while True:
        c, _ = s.accept()
        held.append(c)
        threading.Thread(target=drain, args=(c,), daemon=True).start()


def partial(port, n):
    s = listen(port)
    while True:     # skip connections that send nothing (readiness probes)
        c, _ = s.accept()
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                break
            buf += d
        if b"\r\n\r\n" in buf:
            break
        c.close()
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Length: %d\r\n\r\n" % n)
    c.sendall(b"x" * (n // 2))
    time.sleep(0.2)
    os._exit(0)


def raw(port, data):
    s = listen(port)

    def serve(c):
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(65536)
                if not d:
                    return
                buf += d
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)
            c.settimeout(2)
            while c.recv(65536):
                pass
        except OSError:
            pass
        finally:
            c.close()

    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "ws":
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        ws(port)
    elif mode == "silent":
        silent(port)
    elif mode == "partial":
        partial(port, int(sys.argv[3]))
    elif mode == "raw":
        raw(port, bytes.fromhex(sys.argv[3]))
    else:
        sys.exit(f"unknown mode {mode}")
