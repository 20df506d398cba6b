"""The admin API on its Unix socket and `nodown status`."""
import json
import socket
import subprocess

from conftest import wait_for, NODOWN_BIN, http_get, run_cli


def exchange(s, request):
    """Send one request on connected socket s; (status, head, body) once it closes."""
    with s:
        s.sendall(request)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode(), body


def admin_raw(path, request, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    return exchange(s, request)


def tcp_admin(port, request, timeout=5):
    code, _, body = exchange(socket.create_connection(("127.0.0.1", port), timeout=timeout), request)
    return code, body


def status_json(nd):
    r = subprocess.run([NODOWN_BIN, "status", "--json", "-c", str(nd.config)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_status_counts_requests_per_backend(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    nd = nodown(cfg([("a", a.port, 1), ("b", b.port, 3)]))
    for _ in range(8):
        assert http_get(nd.port, "/whoami").status == 200
    assert http_get(nd.port, "/does-not-exist").status == 404
    st = status_json(nd)
    assert st["workers"] == 1 and st["stopping"] is False
    (l,) = st["listeners"]
    # the fixture's readiness probe is a connection too
    assert l["name"] == "web" and l["accepted"] >= 9 and l["refused"] == 0
    (pool,) = st["pools"]
    bes = {x["name"]: x for x in pool["backends"]}
    assert bes["a"]["weight"] == 1 and bes["b"]["weight"] == 3
    assert bes["a"]["requests"] + bes["b"]["requests"] == 9
    assert bes["b"]["requests"] > bes["a"]["requests"]
    total = {k: bes["a"]["responses"][k] + bes["b"]["responses"][k] for k in bes["a"]["responses"]}
    assert total["2xx"] == 8 and total["4xx"] == 1 and total["failed"] == 0
    assert all(x["active"] == 0 and x["state"] == "ready" for x in bes.values())


def test_status_json_is_the_api_document(nginx, nodown, cfg):
    ng = nginx("a")
    nd = nodown(cfg([ng]))
    sock = nd.cfg["admin"]["socket"]
    # The fixture's readiness probe connected to the listener: wait until
    # nodown has seen it close, so both documents describe a quiet daemon.
    assert wait_for(lambda: status_json(nd)["listeners"][0]["active"] == 0)
    code, head, body = admin_raw(sock, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 200 and "application/json" in head
    api = json.loads(body)
    cli = status_json(nd)
    api.pop("uptime_seconds"), cli.pop("uptime_seconds")
    assert api == cli


def test_status_table_for_people(nginx, nodown, cfg):
    ng = nginx("a")
    nd = nodown(cfg([ng]))
    http_get(nd.port, "/whoami")
    r = run_cli("status", "--socket", nd.cfg["admin"]["socket"])
    assert r.returncode == 0, r.stderr
    assert "LISTENER" in r.stdout and "POOL/BACKEND" in r.stdout
    assert "app/a" in r.stdout and "ready" in r.stdout


def test_status_unreachable_daemon(tmp_path):
    r = run_cli("status", "--socket", str(tmp_path / "nope.sock"))
    assert r.returncode == 1
    assert "cannot reach the daemon" in r.stderr and "--socket" in r.stderr
    r = run_cli("status", "--bogus")
    assert r.returncode == 2
    r = run_cli("status", "--help")
    assert r.returncode == 0 and "--json" in r.stdout


def test_admin_errors(nginx, nodown, cfg):
    nd = nodown(cfg([nginx("a")]))
    sock = nd.cfg["admin"]["socket"]
    code, _, body = admin_raw(sock, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 404 and "GET /status" in json.loads(body)["error"]
    code, _, _ = admin_raw(sock, b"POST /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    assert code == 405
    code, _, _ = admin_raw(sock, b"GET /status HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n")
    assert code == 400
    # The daemon carries on.
    assert status_json(nd)["workers"] == 1


def test_admin_socket_stale_replaced_live_refused(tmp_path, nginx, nodown, cfg):
    ng = nginx("a")
    config = cfg([ng])
    sock = config["admin"]["socket"]
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock)        # a socket file nobody listens on: left by a crash
    stale.close()
    nd = nodown(config)
    assert status_json(nd)["pid"] == nd.pid
    # A second daemon on the same admin socket is refused and says why.
    other = cfg([ng])
    other["admin"]["socket"] = sock
    second = nodown(other, expect_exit=1, wait=False)
    assert second.proc.wait(timeout=10) == 1
    assert "another process" in second.stderr() + second.error_log()
    # ...and the first one still answers.
    assert status_json(nd)["pid"] == nd.pid


def test_admin_socket_removed_at_stop(nginx, nodown, cfg):
    import os
    nd = nodown(cfg([nginx("a")]))
    sock = nd.cfg["admin"]["socket"]
    assert os.path.exists(sock)
    assert nd.stop() == 0
    assert not os.path.exists(sock)



def test_admin_tcp_listener_requires_a_token(tmp_path, nginx, nodown, cfg):
    from conftest import free_port, to_yaml
    ng = nginx("a")
    port = free_port()
    config = cfg([ng])
    config["admin"]["listen"] = f"127.0.0.1:{port}"
    path = tmp_path / "notoken.yml"
    path.write_text(to_yaml(config) + "\n")
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1 and "admin.listen needs admin.token" in r.stderr
    config["admin"]["token"] = "short"
    path.write_text(to_yaml(config) + "\n")
    r = run_cli("check", "-c", str(path))
    assert r.returncode == 1 and "at least 16 characters" in r.stderr
    token = "s3cret-token-0123456789"
    config["admin"]["token"] = token
    nd = nodown(config)
    code, body = tcp_admin(port, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert code == 401 and b"Bearer" in body
    code, _ = tcp_admin(port, b"GET /status HTTP/1.1\r\nHost: x\r\n"
                              b"Authorization: Bearer wrong-token-0123456789\r\n\r\n")
    assert code == 401
    code, _ = tcp_admin(port, b"POST /pools/app/backends/a/drain HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 0\r\n\r\n")
    assert code == 401
    assert status_json(nd)["pools"][0]["backends"][0]["state"] == "ready", "unauthorised drain applied"
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n"
    code, body = tcp_admin(port, b"GET /status HTTP/1.1\r\nHost: x\r\n" + auth + b"\r\n")
    assert code == 200 and json.loads(body)["pid"] == nd.pid
    # The Unix socket needs no token (its file mode guards it).
    assert status_json(nd)["pid"] == nd.pid
