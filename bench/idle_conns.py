#!/usr/bin/python3
"""idle_conns.py - hold N idle keep-alive HTTP/1.1 connections to a proxy.

Usage: idle_conns.py HOST PORT N READY_FILE RELEASE_FILE [TIMEOUT_S]

Opens N connections (at most 256 connecting at a time), sends one
`GET /index.html` on each and reads the full response (Content-Length
framed), then leaves every connection open and idle. Writes
"OK FAILED ELAPSED_S" to READY_FILE, waits until RELEASE_FILE exists
(or TIMEOUT_S passes), then closes everything. Exit 0 if all N succeeded.
"""
import asyncio
import os
import sys
import time

REQ = b"GET /index.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: idle-conns\r\n\r\n"


async def one(host, port, sem, held, deadline):
    async with sem:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(host, port), left)
            w.write(REQ)
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), left)
            if not head.startswith(b"HTTP/1.1 200"):
                w.close()
                return False
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":", 1)[1])
            if n:
                await asyncio.wait_for(r.readexactly(n), left)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError):
            return False
        held.append((r, w))
        return True


async def main():
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    ready, release = sys.argv[4], sys.argv[5]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 120.0
    sem = asyncio.Semaphore(256)
    held = []
    t0 = time.monotonic()
    deadline = t0 + timeout / 2
    res = await asyncio.gather(*(one(host, port, sem, held, deadline) for _ in range(n)))
    ok = sum(res)
    elapsed = time.monotonic() - t0
    # Let the proxy settle (finish closing upstream bookkeeping) before RSS is read.
    await asyncio.sleep(0.5)
    # Check the connections are still open: none should have been closed by the peer.
    alive = sum(1 for r, _ in held if not r.at_eof())
    with open(ready + ".tmp", "w") as f:
        f.write(f"{ok} {n - ok} {elapsed:.2f} {alive}\n")
    os.rename(ready + ".tmp", ready)
    end = t0 + timeout
    while not os.path.exists(release) and time.monotonic() < end:
        await asyncio.sleep(0.1)
    for _, w in held:
        w.close()
    return 0 if ok == n else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
