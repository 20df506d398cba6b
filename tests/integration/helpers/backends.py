"""
Small real backends for behaviours nginx cannot produce.

    backends.py ws PORT          WebSocket echo server (websockets), path any;
                                 a text message "close" makes it close 1000
    backends.py silent PORT      accepts and reads, never answers
    backends.py partial PORT N   answers every request with Content-Length N,
                                 sends N/2 bytes, then exits at once
    backends.py raw PORT HEX     answers every request head with the bytes
                                 HEX (hex-encoded, or @FILE), then closes the connection
    backends.py rawhold PORT HEX the same, but keeps the connection open
    backends.py record PORT DIR [HEX]
                                 reads every request with helpers/strict_http.py
                                 (an independent strict RFC 9112 reader) and
                                 answers each with 200 and a JSON summary; keeps
                                 the exact bytes of each connection in
                                 DIR/conn-N.bin and what it read in
                                 DIR/log.jsonl (one line per request, or per
                                 refusal). With HEX, a request for /evil is
                                 answered with those bytes instead; a request
                                 for /evil/NAME with the bytes of DIR/evil/NAME,
                                 then the connection is closed.

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


def raw(port, data, hold=False):
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
            if hold:
                while c.recv(65536):
                    pass
                return
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


def record(port, directory, evil=None):
    import hashlib
    import json
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import strict_http

    s = listen(port)
    lock = threading.Lock()
    counter = [0]

    def log(entry):
        with lock, open(os.path.join(directory, "log.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")

    def serve(c, n):
        buf = b""
        seq = 0
        raw = open(os.path.join(directory, f"conn-{n}.bin"), "ab")
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    if buf:
                        log({"conn": n, "event": "closed-mid-message", "rest": len(buf)})
                    return
                raw.write(d)
                raw.flush()
                buf += d
                try:
                    msgs, buf = strict_http.read_requests(buf)
                except strict_http.StrictError as e:
                    log({"conn": n, "event": "refused", "why": str(e), "head": buf[:200].hex()})
                    c.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
                    return
                for m in msgs:
                    seq += 1
                    entry = {"conn": n, "seq": seq, "event": "request",
                             "method": m.method.decode("latin-1"),
                             "target": m.target.decode("latin-1"),
                             "version": m.version.decode(),
                             "host": (m.header("host") or b"").decode("latin-1"),
                             "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in m.headers],
                             "body_len": len(m.body),
                             "body_sha": hashlib.sha256(m.body).hexdigest(),
                             "trailers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in m.trailers]}
                    log(entry)
                    if evil is not None and m.target == b"/evil":
                        c.sendall(evil)
                        continue
                    if m.target.startswith(b"/evil/"):
                        name = os.path.basename(m.target[6:].decode("latin-1"))
                        with open(os.path.join(directory, "evil", name), "rb") as f:
                            c.sendall(f.read())
                        c.shutdown(socket.SHUT_WR)
                        return
                    body = json.dumps(entry).encode()
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              b"X-Seen: %d-%d\r\nContent-Length: %d\r\n\r\n%s"
                              % (n, seq, len(body), body))
                    if (m.header("connection") or b"").lower() == b"close":
                        return
        except OSError:
            pass
        finally:
            raw.close()
            c.close()

    while True:
        c, _ = s.accept()
        with lock:
            counter[0] += 1
            n = counter[0]
        threading.Thread(target=serve, args=(c, n), daemon=True).start()


def hexarg(a):
    """HEX, or @FILE holding the raw bytes (for data too long for argv)."""
    if a.startswith("@"):
        with open(a[1:], "rb") as f:
            return f.read()
    return bytes.fromhex(a)


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
        raw(port, hexarg(sys.argv[3]))
    elif mode == "rawhold":
        raw(port, hexarg(sys.argv[3]), hold=True)
    elif mode == "record":
        record(port, sys.argv[3], hexarg(sys.argv[4]) if len(sys.argv) > 4 else None)
    else:
        sys.exit(f"unknown mode {mode}")
