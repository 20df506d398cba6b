"""A differential test of nodown's HTTP framing against an independent,
strict RFC 9112 reader (helpers/strict_http.py, which shares no code with
nodown). Each case of data/requests.txt is sent by a client, followed on
the same connection by a benign request; a recording backend keeps the
exact bytes it receives and reads them strictly. For every case, either
nodown refused it (the status the table names, the connection closed, and
no complete request reached the backend), or it forwarded it in exactly
one form the strict reader accepts, with request boundaries identical to
what nodown answered for (response k carries the backend's id of request
k). Each case of data/responses.txt is a backend's answer to GET /evil/NAME:
nodown passes on one clean response (read by the same strict reader) or
answers 502, or cuts a response it had started, and the connection goes on
only when what it passed on was clean.

The tables are data, one line per case, so they grow without code; the
cases are also seeds of fuzz/corpus/http_head.
"""
import json
import re
import socket
import time
from pathlib import Path

import pytest

from conftest import wait_for
from helpers import strict_http

HERE = Path(__file__).resolve().parent
BENIGN = b"GET /benign HTTP/1.1\r\nHost: t\r\n\r\n"


def unescape(s):
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("latin-1")
            i += 1
            continue
        n = s[i + 1]
        if n == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
            continue
        out += {"r": b"\r", "n": b"\n", "t": b"\t", "\\": b"\\"}[n]
        i += 2
    return bytes(out)


def load(name):
    cases = []
    for line in (HERE / "data" / name).read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        n, expect, data = line.split(" | ", 2)
        opts = dict(kv.split("=", 1) for kv in expect.split()[1:])
        cases.append((n, expect.split()[0], opts, unescape(data)))
    return cases


REQUESTS = load("requests.txt")
RESPONSES = load("responses.txt")


def read_until(sock, want_finals, methods=(), timeout=5.0, until_eof=False):
    """Read nodown's responses until want_finals final ones (and EOF too,
    with until_eof) or EOF: (messages, rest, eof)."""
    sock.settimeout(0.2)
    buf, eof = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs, rest = strict_http.read_responses(buf, methods, until_close=eof)
        if eof or (sum(m.status >= 200 for m in msgs) >= want_finals and not until_eof):
            return msgs, rest, eof
        try:
            b = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            b = b""
        if not b:
            eof = True
        buf += b
    msgs, rest = strict_http.read_responses(buf, methods, until_close=eof)
    return msgs, rest, eof


class Recorder:
    def __init__(self, directory):
        self.dir = directory

    def log(self):
        p = self.dir / "log.jsonl"
        if not p.exists():
            return []
        return [json.loads(l) for l in p.read_text().splitlines() if l.strip()]

    def raw(self):
        return b"".join(p.read_bytes() for p in sorted(self.dir.glob("conn-*.bin")))


@pytest.fixture
def stack(pybackend, nodown, cfg, tmp_path):
    rec_dir = tmp_path / "rec"
    (rec_dir / "evil").mkdir(parents=True)
    be = pybackend("record", rec_dir)
    nd = nodown(cfg([("rec", be.port)], listener={"header_timeout": "5s"}))
    return nd, Recorder(rec_dir)


def expected_target(data):
    t = data.lstrip(b"\r\n").split(b" ", 2)[1]
    m = re.match(rb"(?i)^https?://[^/?]*(.*)$", t)
    if m:
        t = m.group(1) or b"/"
        if t.startswith(b"?"):
            t = b"/" + t
    return t.decode("latin-1")


def check_request(nd, rec, name, expect, opts, data):
    before = len(rec.log())
    with socket.create_connection(("127.0.0.1", nd.port), timeout=5) as s:
        s.sendall(data + BENIGN)
        once = "once" in opts
        msgs, rest, eof = read_until(s, 2 if expect == "fwd" and not once else 1,
                                     until_eof=expect != "fwd" or once)
    new = rec.log()[before:]
    reqs = [e for e in new if e["event"] == "request"]
    if any(e["event"] == "refused" for e in new):
        return f"the strict reader refused what nodown sent: {new}"
    finals = [m for m in msgs if m.status >= 200]
    if expect != "fwd":
        if not finals or finals[0].status != int(expect):
            return f"expected {expect}, got {[m.status for m in msgs]} rest={rest[:80]!r}"
        if len(finals) != 1 or not eof or rest:
            return f"after {expect}: more responses or no close ({len(finals)}, eof={eof}, rest={rest[:80]!r})"
        if reqs:
            return f"refused ({expect}) but the backend read {reqs}"
        return None
    n = 1 if once else 2
    if [m.status for m in finals] != [200] * n or rest or (once and not eof):
        return f"expected {n} 200s, got {[m.status for m in msgs]} rest={rest[:80]!r} eof={eof}"
    if len(reqs) != n:
        return f"the backend read {len(reqs)} requests: {reqs}"
    seen = [m.header("x-seen").decode() for m in finals]
    if seen != [f"{r['conn']}-{r['seq']}" for r in reqs]:
        return f"responses {seen} do not answer the requests read {[(r['conn'], r['seq']) for r in reqs]}"
    first = reqs[0]
    if not once and reqs[1]["target"] != "/benign":
        return f"second request read as {reqs[1]['target']}"
    want_target = opts.get("target", expected_target(data))
    if first["target"] != want_target:
        return f"target {first['target']!r}, expected {want_target!r}"
    headers = {k: v for k, v in first["headers"]}
    if "body" in opts and first["body_len"] != int(opts["body"]):
        return f"body of {first['body_len']} bytes, expected {opts['body']}"
    if "cl" in opts and headers.get("content-length") != opts["cl"]:
        return f"Content-Length {headers.get('content-length')!r}, expected {opts['cl']}"
    if "host" in opts and first["host"] != opts["host"]:
        return f"Host {first['host']!r}, expected {opts['host']!r}"
    if "no" in opts and opts["no"] in headers:
        return f"field {opts['no']} was forwarded"
    if "trailer" in opts and opts["trailer"] not in [k for k, _ in first["trailers"]]:
        return f"trailer {opts['trailer']} missing: {first['trailers']}"
    return None


def test_request_table(stack):
    nd, rec = stack
    assert len(REQUESTS) >= 150
    failures = []
    for name, expect, opts, data in REQUESTS:
        why = check_request(nd, rec, name, expect, opts, data)
        if why:
            failures.append(f"{name}: {why}")
        assert nd.proc.poll() is None, f"nodown exited at case {name}"
    assert not failures, "\n".join(failures)
    # Nothing arrived late: every complete request the backend read was
    # one nodown answered for, two per forwarded case.
    fwd = sum((1 if "once" in o else 2) for _, e, o, _ in REQUESTS if e == "fwd")
    assert wait_for(lambda: len([e for e in rec.log() if e["event"] == "request"]) == fwd, 2)


def check_response(nd, rec, name, expect, opts, data):
    (rec.dir / "evil" / name).write_bytes(data)
    before = len(rec.log())
    with socket.create_connection(("127.0.0.1", nd.port), timeout=5) as s:
        s.sendall(b"GET /evil/%s HTTP/1.1\r\nHost: t\r\n\r\n" % name.encode())
        msgs, rest, eof = read_until(s, 1, until_eof=expect in ("502", "broken", "close"))
        finals = [m for m in msgs if m.status >= 200]
        interims = [m for m in msgs if m.status < 200]
        if int(opts.get("interim", 0)) != len(interims):
            return f"{len(interims)} interim responses, expected {opts.get('interim', 0)}"
        if expect == "502":
            if [m.status for m in finals] != [502] or not eof or rest:
                return f"expected 502 and close, got {[m.status for m in msgs]} eof={eof} rest={rest[:80]!r}"
            return None
        if expect == "broken":
            if not eof or (finals and ([m.status for m in finals] != [502] or rest)) or \
                    (not finals and rest.count(b"HTTP/1.1 ") != 1):
                return f"expected 502 or a cut response, got {[m.status for m in msgs]} rest={rest[:120]!r}"
            return None
        if len(finals) != 1 or rest:
            return f"expected one clean response, got {[m.status for m in msgs]} rest={rest[:120]!r}"
        r = finals[0]
        if "body" in opts and len(r.body) != int(opts["body"]):
            return f"body {len(r.body)} bytes, expected {opts['body']}"
        if "trailer" in opts and opts["trailer"].encode() not in [k for k, _ in r.trailers]:
            return f"trailer {opts['trailer']} missing: {r.trailers}"
        if any(k in (b"content-length", b"transfer-encoding") for k, _ in r.trailers):
            return f"framing field in trailers: {r.trailers}"
        if expect == "close":
            return None if eof else "the response was not delimited by a close"
        if eof:
            return "the connection closed after a clean response"
        s.sendall(BENIGN)
        msgs, rest, eof = read_until(s, 1)
        if [m.status for m in msgs] != [200] or rest:
            return f"benign request after it: {[m.status for m in msgs]} rest={rest[:80]!r}"
        last = [e for e in rec.log()[before:] if e["event"] == "request"][-1]
        if last["target"] != "/benign" or msgs[0].header("x-seen").decode() != f"{last['conn']}-{last['seq']}":
            return f"the benign response does not answer the benign request: {last}"
    return None


def test_response_table(stack):
    nd, rec = stack
    assert len(RESPONSES) >= 50
    failures = []
    for name, expect, opts, data in RESPONSES:
        why = check_response(nd, rec, name, expect, opts, data)
        if why:
            failures.append(f"{name}: {why}")
        assert nd.proc.poll() is None, f"nodown exited at case {name}"
    assert not failures, "\n".join(failures)
