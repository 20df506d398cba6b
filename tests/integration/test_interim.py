"""Interim (1xx) responses: relayed however many come, never followed by a
resend of the request once one reached the client, and never a reason for
a connection to outlive its timeouts or its client."""
import json
import os
import socket

import pytest

from conftest import HTTPReader, connect, recv_until_close, wait_for
from helpers import strict_http

EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
FINAL = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal"


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def recorded(directory):
    """What the recording backend logged: one dict per request or refusal."""
    path = directory / "log.jsonl"
    if not path.exists():
        return []
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def raw_bytes(directory):
    return b"".join(p.read_bytes() for p in sorted(directory.glob("conn-*.bin")))


INTERIM_THEN_CLOSE = [
    ("100-continue", b"HTTP/1.1 100 Continue\r\n\r\n"),
    ("103-with-headers", EARLY_HINTS),
    # an interim head larger than the request: its bytes would outlast
    # the request head in the buffer a resend reuses
    ("103-large", b"HTTP/1.1 103 Early Hints\r\n" +
     b"".join(b"Link: </static/asset-%04d.css>; rel=preload; as=style\r\n" % i for i in range(60)) +
     b"\r\n"),
]


@pytest.mark.parametrize("interim", [c[1] for c in INTERIM_THEN_CLOSE],
                         ids=[c[0] for c in INTERIM_THEN_CLOSE])
def test_interim_then_close_is_never_resent(pybackend, nodown, cfg, tmp_path, interim):
    """A backend sends a 1xx and closes. The request (a GET, which nodown
    would otherwise resend after a close before any response byte) is not
    sent again: the other backend never sees bytes starting with HTTP/, and
    the client gets exactly one final response, a 502."""
    rec_dir = tmp_path / "rec"
    rec_dir.mkdir()
    bad = pybackend("raw", interim.hex())
    good = pybackend("record", rec_dir)
    nd = nodown(cfg([("bad", bad.port), ("good", good.port)]))
    outcomes = []
    for i in range(6):      # round robin: both backends get some
        with connect(nd.port) as s:
            s.sendall(b"GET /r%d HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: %s\r\n\r\n"
                      % (i, b"p" * 40))
            out = recv_until_close(s, 5)
        msgs, rest = strict_http.read_responses(out)
        finals = [m for m in msgs if m.status >= 200]
        assert len(finals) == 1 and rest == b"", (out[:300], msgs, rest)
        outcomes.append(finals[0].status)
        if finals[0].status == 502:
            assert [m.status for m in msgs[:-1]] == [int(interim[9:12])], msgs
    assert 502 in outcomes and 200 in outcomes, outcomes
    # The good backend saw only requests, each once, none starting with HTTP/.
    for conn in rec_dir.glob("conn-*.bin"):
        data = conn.read_bytes()
        assert b"HTTP/1.1 1" not in data, data[:300]
        msgs, rest = strict_http.read_requests(data)
        assert rest == b"" and all(m.target.startswith(b"/r") for m in msgs), (msgs, rest)
    assert all(e["event"] == "request" for e in recorded(rec_dir))
    assert len(recorded(rec_dir)) == outcomes.count(200)
    assert wait_for(lambda: nd.access_log_lines() and
                    sum("backend-closed-after-interim" in l for l in nd.access_log_lines())
                    == outcomes.count(502)), nd.access_log_lines()


def test_thousand_interim_responses_then_final(pybackend, nodown, cfg):
    """1,000 interim heads (far more than a buffer) then the final one: all
    relayed, the final response arrives, and no descriptor is left over."""
    be = pybackend("raw", (EARLY_HINTS * 1000 + FINAL).hex())
    nd = nodown(cfg([be]))
    base = fd_count(nd.pid)
    with connect(nd.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        rd = HTTPReader(s, timeout=10)
        interims = 0
        while True:
            r = rd.read_response(allow_interim=True)
            if r.status != 103:
                break
            interims += 1
        assert interims == 1000
        assert r.status == 200 and r.body == b"final"
    assert wait_for(lambda: fd_count(nd.pid) <= base, 5), (fd_count(nd.pid), base)


def test_interim_flood_then_silence_times_out(pybackend, nodown, cfg):
    """1,000 interim heads, then nothing: response_timeout still fires (504)
    and both connections are freed."""
    be = pybackend("rawhold", (EARLY_HINTS * 1000).hex())
    nd = nodown(cfg([be], pool={"response_timeout": "1s"}))
    base = fd_count(nd.pid)
    with connect(nd.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        out = recv_until_close(s, 10)
    msgs, rest = strict_http.read_responses(out)
    assert [m.status for m in msgs].count(103) == 1000
    assert msgs[-1].status == 504 and rest == b""
    assert wait_for(lambda: fd_count(nd.pid) <= base, 5), (fd_count(nd.pid), base)


def test_client_leaving_during_interim_flood_frees_both_sides(pybackend, nodown, cfg):
    """The client reads a little of an endless stream of 1xx heads and
    closes: nodown drops the backend connection too, at once."""
    be = pybackend("rawhold", "@" + _flood_file())
    nd = nodown(cfg([be], pool={"response_timeout": "60s"}))
    base = fd_count(nd.pid)
    s = connect(nd.port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    assert s.recv(1000).startswith(b"HTTP/1.1 103")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    assert wait_for(lambda: fd_count(nd.pid) <= base, 5), (fd_count(nd.pid), base)


def _flood_file(_cache={}):
    """A file of 20,000 interim heads (too long for a command line)."""
    if "p" not in _cache:
        import tempfile
        f = tempfile.NamedTemporaryFile(prefix="nodown-flood-", delete=False)
        f.write(EARLY_HINTS * 20000)
        f.close()
        _cache["p"] = f.name
    return _cache["p"]


def test_too_many_interim_responses(pybackend, nodown, cfg):
    """Past max_interim_responses, nodown gives up: 502, connection closed,
    the access log says why."""
    be = pybackend("raw", (EARLY_HINTS * 11 + FINAL).hex())
    nd = nodown(cfg([be], pool={"max_interim_responses": 10}))
    with connect(nd.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        out = recv_until_close(s, 5)
    msgs, rest = strict_http.read_responses(out)
    assert [m.status for m in msgs] == [103] * 10 + [502], msgs
    assert wait_for(lambda: any("too-many-interim-responses" in l for l in nd.access_log_lines()))
    # exactly at the limit: fine
    assert nd.stop() == 0
    be2 = pybackend("raw", (EARLY_HINTS * 10 + FINAL).hex())
    nd2 = nodown(cfg([be2], pool={"max_interim_responses": 10}))
    with connect(nd2.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        out = recv_until_close(s, 5)
    msgs, rest = strict_http.read_responses(out)
    assert [m.status for m in msgs] == [103] * 10 + [200]
    assert msgs[-1].body == b"final"
