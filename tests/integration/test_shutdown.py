"""Graceful stop on SIGTERM: in-flight responses finish, listeners close,
kept-alive clients are told Connection: close, the process exits 0 within
shutdown_timeout."""
import os
import signal
import threading
import time

from conftest import (HTTPReader, connect, port_accepts, recv_until_close, sha256,
                      wait_for)


def download(port, path, result, timeout=15):
    try:
        with connect(port, timeout) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path)
            rd = HTTPReader(s, timeout)
            r = rd.read_response()
            result["response"] = r
            result["closed_after"] = rd.at_eof(timeout=5)
    except Exception as e:   # reported by the test
        result["error"] = repr(e)


def test_sigterm_during_long_response(nginx, nodown, cfg, static_root):
    b = nginx("b1", limit_rate="1m")     # 2 MiB in about 2 s
    nd = nodown(cfg([b], workers=2, top={"shutdown_timeout": "10s",
                                         "shutdown_idle_grace": "1s"}))
    result = {}
    th = threading.Thread(target=download, args=(nd.port, b"/limited/two.bin", result))
    th.start()
    time.sleep(0.3)
    t_sig = time.monotonic()
    os.kill(nd.pid, signal.SIGTERM)
    # listeners close at once: new connections are refused
    assert wait_for(lambda: not port_accepts(nd.port), timeout=1.0), \
        "still accepting connections after SIGTERM"
    th.join(15)
    assert not th.is_alive()
    assert "error" not in result, result.get("error")
    r = result["response"]
    assert r.status == 200
    assert sha256(r.body) == sha256(static_root[1]["two.bin"])
    assert time.monotonic() - t_sig > 1.0, "the download did not outlast the signal"
    assert result["closed_after"], "connection not closed after the in-flight response"
    rc = nd.proc.wait(timeout=10)
    assert rc == 0
    assert time.monotonic() - t_sig < 10
    assert not port_accepts(nd.port)
    assert "graceful stop" in nd.error_log()


def test_idle_keepalive_client_gets_connection_close_during_grace(nginx, nodown, cfg):
    b = nginx("b1")
    # A grace long enough that the request below is in it however busy the
    # machine is; nodown still exits as soon as the client has gone.
    nd = nodown(cfg([b], top={"shutdown_idle_grace": "20s", "shutdown_timeout": "30s"}))
    with connect(nd.port) as s:
        rd = HTTPReader(s)
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        r = rd.read_response()
        assert r.status == 200 and r.header("Connection", "").lower() != "close"
        t_sig = time.monotonic()
        os.kill(nd.pid, signal.SIGTERM)
        time.sleep(0.3)
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        r = rd.read_response()
        assert r.status == 200 and r.body == b"b1\n"
        assert r.header("Connection", "").lower() == "close"
        assert rd.at_eof(timeout=2), "connection not closed after 'Connection: close'"
    rc = nd.proc.wait(timeout=10)
    assert rc == 0
    assert time.monotonic() - t_sig < 15     # well before the grace ended


def test_idle_client_closed_after_grace(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b], top={"shutdown_idle_grace": "1s", "shutdown_timeout": "10s"}))
    with connect(nd.port) as s:
        rd = HTTPReader(s)
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        assert rd.read_response().status == 200
        t_sig = time.monotonic()
        os.kill(nd.pid, signal.SIGTERM)
        assert rd.at_eof(timeout=5), "idle client not closed"
        took = time.monotonic() - t_sig
    assert 0.7 <= took < 5, f"idle client closed {took:.2f}s after SIGTERM (grace 1s)"
    assert nd.proc.wait(timeout=5) == 0


def test_shutdown_timeout_bounds_a_stuck_request(pybackend, nodown, cfg):
    silent = pybackend("silent")
    nd = nodown(cfg([silent], pool={"response_timeout": "60s"},
                    top={"shutdown_timeout": "1500ms", "shutdown_idle_grace": "500ms"}))
    with connect(nd.port) as s:
        s.sendall(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.2)
        t_sig = time.monotonic()
        os.kill(nd.pid, signal.SIGTERM)
        recv_until_close(s, timeout=5)      # closed, not left hanging
    rc = nd.proc.wait(timeout=5)
    took = time.monotonic() - t_sig
    assert rc == 0
    assert 1.2 <= took < 6, f"exited {took:.2f}s after SIGTERM (shutdown_timeout 1.5s)"


def test_second_signal_exits_at_once(pybackend, nodown, cfg):
    silent = pybackend("silent")
    nd = nodown(cfg([silent], top={"shutdown_timeout": "30s"}), expect_exit=1)
    with connect(nd.port) as s:
        s.sendall(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.2)
        os.kill(nd.pid, signal.SIGTERM)
        time.sleep(0.2)
        assert nd.proc.poll() is None
        t0 = time.monotonic()
        os.kill(nd.pid, signal.SIGTERM)
        rc = nd.proc.wait(timeout=5)
    assert rc == 1
    assert time.monotonic() - t0 < 3


def test_sigint_is_graceful_too(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b]))
    with connect(nd.port) as s:
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert recv_until_close(s).startswith(b"HTTP/1.1 200")
    os.kill(nd.pid, signal.SIGINT)
    assert nd.proc.wait(timeout=5) == 0


def test_pid_file(nginx, nodown, cfg, tmp_path):
    b = nginx("b1")
    pid_file = tmp_path / "nodown.pid"
    nd = nodown(cfg([b], top={"pid_file": str(pid_file)}))
    assert pid_file.read_text().strip() == str(nd.pid)
    assert nd.stop() == 0
    assert not pid_file.exists()


def test_sighup_does_not_stop(nginx, nodown, cfg):
    b = nginx("b1")
    nd = nodown(cfg([b]))
    os.kill(nd.pid, signal.SIGHUP)
    time.sleep(0.3)
    assert nd.proc.poll() is None
    with connect(nd.port) as s:
        s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert recv_until_close(s).startswith(b"HTTP/1.1 200")


def test_port_in_use_exits_1(nodown, cfg):
    import socket
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        nd = nodown(cfg([("x", 9)], port=port), wait=False, expect_exit=1)
        assert nd.proc.wait(timeout=5) == 1
        assert "cannot listen" in nd.error_log() + nd.stderr()
    finally:
        holder.close()
