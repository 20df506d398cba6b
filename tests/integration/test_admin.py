"""The admin API as an attacker and a careless operator would use it: any
request target, a token after reloads, idle connections piling up. No
request, however malformed, may stop the daemon or reach an endpoint it
does not name."""
import json
import socket

import pytest

from conftest import free_port, http_get, run_cli, wait_for

TOKEN = "s3cret-token-0123456789"


def unix_request(path, request, timeout=5):
    """Send raw request bytes on the admin socket; (status, body)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return _exchange(s, request)


def tcp_request(port, request, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return _exchange(s, request)


def _exchange(s, request):
    with s:
        s.sendall(request)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
    if not out:
        return None, b""
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def get(path, target, method=b"GET"):
    return unix_request(path, method + b" " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")


@pytest.fixture
def admin_proxy(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b]))
    return nd, nd.cfg["admin"]["socket"]


def test_token_survives_reloads(tmp_path, nginx, nodown, cfg):
    """The TCP admin listener keeps its own copy of the token: after three
    reloads (each frees the config it came from) the right token is still
    200 and a wrong or empty one still 401 (also under SANITIZE=1, where a
    read of freed memory would abort)."""
    b = nginx("b1")
    port = free_port()
    config = cfg([b])
    config["admin"].update({"listen": f"127.0.0.1:{port}", "token": TOKEN})
    nd = nodown(config)
    sock = config["admin"]["socket"]
    wait_for(lambda: _can_connect(port))
    for i in range(3):
        st, body = unix_request(sock, b"POST /reload HTTP/1.1\r\nHost: x\r\n\r\n")
        assert st == 200 and json.loads(body)["generation"] == i + 2, body
    ok = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    st, body = tcp_request(port, b"GET /status HTTP/1.1\r\nHost: x\r\n" + ok + b"\r\n")
    assert st == 200 and json.loads(body)["generation"] == 4
    for bad in (b"Authorization: Bearer wrong-token-0123456789\r\n",
                b"Authorization: Bearer \r\n", b"Authorization: Bearer " + TOKEN[:-1].encode() + b"\r\n",
                b"Authorization: Bearer " + TOKEN.encode() + b"x\r\n", b""):
        st, _ = tcp_request(port, b"GET /status HTTP/1.1\r\nHost: x\r\n" + bad + b"\r\n")
        assert st == 401, bad


def _can_connect(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


# (method, target, expected status): every malformed or unknown admin path
# we could think of. None of them may change a backend or stop the daemon.
MALFORMED = [
    (b"GET", b"/pools/switchover", 404),
    (b"POST", b"/pools/switchover", 404),
    (b"GET", b"/pools/switchover?to=b1", 404),
    (b"POST", b"/pools/switchover?to=b1", 404),
    (b"GET", b"/switchover", 404),
    (b"GET", b"/pools", 404),
    (b"GET", b"/pools/", 400),
    (b"GET", b"/pools/app", 404),
    (b"GET", b"/pools/app/", 400),
    (b"POST", b"/pools/app/backends", 404),
    (b"POST", b"/pools/app/backends/b1", 405),             # GET only
    (b"POST", b"/pools/app/backends/b1/", 400),
    (b"POST", b"/pools/app/backends//drain", 400),
    (b"POST", b"/pools//backends/b1/drain", 400),
    (b"POST", b"/pools/app/backends/b1/drain/more", 404),
    (b"POST", b"/pools/app/backends/b1/explode", 404),
    (b"POST", b"/pools/nope/backends/b1/drain", 404),
    (b"POST", b"/pools/app/backends/nope/drain", 404),
    (b"POST", b"/pools/app/backends/b1/weight", 400),
    (b"POST", b"/pools/app/backends/b1/weight?value=", 400),
    (b"POST", b"/pools/app/backends/b1/weight?value=abc", 400),
    (b"POST", b"/pools/app/backends/b1/weight?value=1001", 400),
    (b"POST", b"/pools/app/backends/b1/weight?value=-1", 400),
    (b"POST", b"/pools/app/backends/b1/weight?value=5&x=1", 400),
    (b"POST", b"/pools/app/backends/b1/weight?value=5&", 400),
    (b"POST", b"/pools/app/backends/b1/weight?value=%35", 400),
    (b"POST", b"/pools/app/backends/b1/drain?x=1", 400),
    # app is an http pool: it pauses (then resumes), it has no switchover
    (b"POST", b"/pools/app/pause?timeout=soon", 400),
    (b"POST", b"/pools/app/pause?wait=1s", 400),
    (b"POST", b"/pools/app/resume", 409),       # not paused
    (b"POST", b"/pools/app/pause?timeout=5s", 200),
    (b"POST", b"/pools/app/pause", 409),        # already
    (b"POST", b"/pools/app/resume?x=1", 400),
    (b"POST", b"/pools/app/resume", 200),
    (b"GET", b"/pools/app/pause", 405),
    (b"POST", b"/pools/nope/pause", 404),
    (b"POST", b"/pools/app/switchover", 404),
    (b"POST", b"/pools/app/switchover?to=", 404),
    (b"POST", b"/pools/app/switchover?to=b1&pause_timeout=soon", 404),
    (b"POST", b"/pools/app/switchover?from=b1", 404),
    (b"POST", b"/pools/app/switchover?to=b1", 404),
    (b"GET", b"/pools/app/switchover", 404),
    (b"GET", b"/pools/nope/switchover", 404),
    (b"GET", b"/pools/app/switchover/x", 404),
    (b"GET", b"//status", 400),
    (b"GET", b"/status/", 400),
    (b"GET", b"/status?x=1", 400),
    (b"GET", b"/./status", 400),
    (b"GET", b"/../status", 400),
    (b"GET", b"/%73tatus", 400),
    (b"GET", b"/pools/a%2fb/backends/b1/drain", 400),
    (b"GET", b"/pools/app/backends/b1/drain", 405),
    (b"POST", b"/status", 405),
    (b"PUT", b"/reload", 405),
    (b"GET", b"/reload", 405),
    (b"DELETE", b"/pools/app/backends/b1/drain", 405),
    (b"HEAD", b"/status", 405),
    (b"OPTIONS", b"*", 400),
    (b"GET", b"http://x/status", 400),
    (b"GET", b"/" + b"a/" * 40 + b"b", 400),
    (b"GET", b"/" + b"x" * 200, 400),
    (b"GET", b"/status?" + b"q" * 600, 400),
    (b"GET", b"/pools/" + b"p" * 129 + b"/switchover", 400),
    (b"GET", b"/st\x80tus", 400),
    (b"GET", b"/", 200),              # the status page
    (b"GET", b"/metrics/", 400),
]


def test_malformed_admin_paths_never_crash(admin_proxy):
    nd, sock = admin_proxy
    problems = []
    for method, target, want in MALFORMED:
        st, body = get(sock, target, method)
        if st != want:
            problems.append((method, target[:60], want, st, body[:120]))
        assert nd.proc.poll() is None, f"nodown died on {method} {target[:60]!r}"
    assert not problems, problems
    # a malformed head at all: 400; a bare request with no Host; garbage
    for raw in (b"GET /status\r\n\r\n", b"\x00\x01\x02\r\n\r\n", b"GET /status HTTP/1.1\r\n\r\n",
                b"GET  /status HTTP/1.1\r\nHost: x\r\n\r\n"):
        st, _ = unix_request(sock, raw)
        assert st in (400, 505), (raw, st)
    st, body = get(sock, b"/status")
    assert st == 200
    b1 = json.loads(body)["pools"][0]["backends"][0]
    assert b1["state"] == "ready" and b1["weight"] == 1, b1
    assert http_get(nd.port, "/whoami").status == 200


def test_backend_named_like_an_endpoint(nginx, nodown, cfg):
    """Routing is by exact segments: a backend called switchover-1 is just
    a backend (substring matching once sent this to the switchover code)."""
    b = nginx("b1")
    nd = nodown(cfg([("switchover-1", b.port), ("switchover", b.port)]))
    sock = nd.cfg["admin"]["socket"]
    r = run_cli("drain", "app/switchover-1", "--socket", sock)
    assert r.returncode == 0, r.stderr
    r = run_cli("maint", "app/switchover", "--socket", sock)
    assert r.returncode == 0, r.stderr
    st = json.loads(get(sock, b"/status")[1])
    states = {x["name"]: x["state"] for x in st["pools"][0]["backends"]}
    assert states["switchover-1"] in ("draining", "drained") and states["switchover"] == "maint"


def test_admin_connections_are_bounded(tmp_path, nginx, nodown, cfg):
    """Idle connections to the admin listeners: beyond admin.max_connections
    they are closed at once, and each closes after admin.timeout; the
    proxy and the other admin socket keep working meanwhile."""
    b = nginx("b1")
    port = free_port()
    config = cfg([b])
    config["admin"].update({"listen": f"127.0.0.1:{port}", "token": TOKEN,
                            "max_connections": 4, "timeout": "1s"})
    nd = nodown(config)
    wait_for(lambda: _can_connect(port))
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
    # the limit is counted once the daemon has accepted them
    extra = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra.append(s)
    closed_at_once = 0
    for s in extra:
        s.settimeout(3)
        try:
            closed_at_once += s.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            closed_at_once += 1
    assert closed_at_once == 3
    # the Unix socket has its own limit: it still answers
    st, _ = get(config["admin"]["socket"], b"/status")
    assert st == 200
    assert http_get(nd.port, "/whoami").status == 200
    # the held ones are closed by admin.timeout (1s; recv waits up to 5s)
    for s in held:
        s.settimeout(5)
        try:
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
    # and room is made again
    ok = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
    st, _ = tcp_request(port, b"GET /status HTTP/1.1\r\nHost: x\r\n" + ok + b"\r\n")
    assert st == 200
    for s in held + extra:
        s.close()
    assert "admin listener: 4 connections open" in nd.error_log()
