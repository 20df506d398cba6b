"""Live reload (`nodown reload`, SIGHUP): a valid config applies at once
without a failed request; an invalid one is refused with file:line errors
while the old one keeps serving; backends that stay keep their state,
counters and pooled connections; removed ones finish what is in flight."""
import json
import os
import signal
import subprocess
import time

from conftest import (NODOWN_BIN, HTTPReader, connect, free_port, http_get, port_accepts, run_cli,
                      to_yaml, wait_for)


def load(url, *args):
    return subprocess.Popen([NODOWN_BIN, "load", "http", url, "--json", "-q", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err
    return json.loads(out)


def reload(nd, config=None):
    """Write config (a dict) over nd's file, if given, and run `nodown reload`."""
    if config is not None:
        nd.config.write_text(to_yaml(config) + "\n")
    return run_cli("reload", "--socket", nd.cfg["admin"]["socket"])


def status(nd):
    r = run_cli("status", "--json", "--socket", nd.cfg["admin"]["socket"])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def backends(nd, pool="app"):
    return {b["name"]: b for p in status(nd)["pools"] if p["name"] == pool for b in p["backends"]}


def backend(name, port, **kw):
    return dict({"name": name, "address": f"127.0.0.1:{port}"}, **kw)


def test_reloads_under_load_fail_nothing(nginx, nodown, cfg):
    ngs = {n: nginx(n) for n in ("b0", "b1", "b2")}
    c = cfg([("b0", ngs["b0"].port), ("b1", ngs["b1"].port)], workers=2)
    nd = nodown(c)
    gets = load(nd.url("/whoami"), "--rate", "600", "--duration", "6s", "-c", "16")
    posts = load(nd.url("/echo"), "--rate", "400", "--duration", "6s", "-c", "16",
                 "-m", "POST", "-b", "payload-1234567890")
    time.sleep(1.0)
    # 1: add b2, give b0 more weight
    c["pools"][0]["backends"] = [backend("b0", ngs["b0"].port, weight=3),
                                 backend("b1", ngs["b1"].port), backend("b2", ngs["b2"].port)]
    r = reload(nd, c)
    assert r.returncode == 0, r.stderr
    assert "generation 2" in r.stdout and "1 new" in r.stdout
    time.sleep(1.5)
    # 2: remove b1
    c["pools"][0]["backends"] = [backend("b0", ngs["b0"].port, weight=3),
                                 backend("b2", ngs["b2"].port)]
    r = reload(nd, c)
    assert r.returncode == 0, r.stderr
    assert "1 removed" in r.stdout
    time.sleep(0.5)
    b1_after_removal = len(ngs["b1"].access_lines())
    time.sleep(1.0)
    # 3: listener and pool settings
    c["listeners"][0]["idle_timeout"] = "30s"
    c["pools"][0]["max_idle"] = 8
    assert reload(nd, c).returncode == 0
    rg, rp = result(gets), result(posts)
    assert rg["errors"] == 0, rg
    assert rp["errors"] == 0, rp
    want = rg["ok"] + rp["ok"]
    assert wait_for(lambda: sum(len(n.access_lines()) for n in ngs.values()) >= want, timeout=5)
    assert sum(len(n.access_lines()) for n in ngs.values()) == want     # none lost, none twice
    assert len(ngs["b1"].access_lines()) == b1_after_removal            # b1 got nothing more
    assert len(ngs["b2"].access_lines()) > 200
    st = status(nd)
    assert st["generation"] == 4
    assert sorted(backends(nd)) == ["b0", "b2"]
    assert "config reloaded" in nd.error_log()


def test_invalid_config_refused_with_positions_while_serving(nginx, nodown, cfg):
    ng = nginx("b0")
    c = cfg([ng])
    nd = nodown(c)
    good = nd.config.read_text()
    gets = load(nd.url("/whoami"), "--rate", "300", "--duration", "2s", "-c", "8")
    time.sleep(0.5)
    nd.config.write_text(good.replace('balance: "round_robin"', 'balance: "round_robin"\n    retriez: 2'))
    assert "retriez" in nd.config.read_text()
    r = reload(nd)
    assert r.returncode == 1
    assert "reload refused" in r.stderr
    assert f"{nd.config}:" in r.stderr and "retriez" in r.stderr, r.stderr
    line = [l for l in r.stderr.splitlines() if "retriez" in l][0]
    assert line.split(":")[1].isdigit(), line                   # file:line:col
    nd.config.write_text("listeners: [\n")                     # not even YAML
    r = reload(nd)
    assert r.returncode == 1 and "YAML syntax error" in r.stderr
    # SIGHUP: same check, errors in the log
    os.kill(nd.pid, signal.SIGHUP)
    assert wait_for(lambda: "reload refused" in nd.error_log(), timeout=3)
    rg = result(gets)
    assert rg["errors"] == 0 and rg["ok"] >= 550, rg
    assert status(nd)["generation"] == 1
    assert http_get(nd.port, "/whoami").status == 200
    r = run_cli("reload", "--socket", nd.cfg["admin"]["socket"], "--bogus")
    assert r.returncode == 2


def test_restart_only_settings_refused(nginx, nodown, cfg):
    ng = nginx("b0")
    c = cfg([ng], workers=1)
    nd = nodown(c)
    c2 = json.loads(json.dumps(c))
    c2["workers"] = 2
    c2["log"]["access"] = c2["log"]["access"] + ".new"
    r = reload(nd, c2)
    assert r.returncode == 1
    assert "'workers' changed" in r.stderr and "'log.access' changed" in r.stderr, r.stderr
    assert status(nd)["generation"] == 1 and status(nd)["workers"] == 1


def test_sighup_applies_a_valid_config(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    c = cfg([a])
    nd = nodown(c)
    c["pools"][0]["backends"] = [backend("b", b.port)]
    nd.config.write_text(to_yaml(c) + "\n")
    os.kill(nd.pid, signal.SIGHUP)
    assert wait_for(lambda: status(nd)["generation"] == 2, timeout=3)
    assert http_get(nd.port, "/whoami").body == b"b\n"


def test_operator_state_counters_and_metrics_survive(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    c = cfg([("a", a.port), ("b", b.port)])
    nd = nodown(c)
    sock = nd.cfg["admin"]["socket"]
    for _ in range(10):
        assert http_get(nd.port, "/whoami").status == 200
    assert run_cli("drain", "app/b", "--socket", sock).returncode == 0
    assert run_cli("weight", "app/a", "7", "--socket", sock).returncode == 0
    before = backends(nd)
    c["pools"][0]["backends"] = [backend("a", a.port, weight=2), backend("b", b.port, weight=5)]
    c["pools"][0]["retries"] = 2
    assert reload(nd, c).returncode == 0
    after = backends(nd)
    assert after["b"]["state"] in ("draining", "drained") and after["b"]["state_source"] == "operator"
    assert after["a"]["weight"] == 7 and after["a"]["state_source"] == "operator"
    assert after["b"]["config_weight"] == 5 and after["b"]["weight"] == 5   # only drained
    assert after["a"]["requests"] == before["a"]["requests"] >= 5     # counters go on
    for _ in range(5):
        assert http_get(nd.port, "/whoami").body == b"a\n"             # b stays out
    metrics = run_cli("status", "--socket", sock)  # the table still renders
    assert metrics.returncode == 0
    text = subprocess.run(["curl", "-s", "--unix-socket", sock, "http://x/metrics"],
                          capture_output=True, text=True).stdout
    assert "nodown_config_generation 2" in text
    assert 'nodown_config_reloads_total{result="applied"} 1' in text
    # ... and across a restart too: the state file was rewritten by the reload
    assert json.loads(open(os.path.join(os.path.dirname(sock), "nodown.state")).read())


def test_keepalive_connection_moves_to_the_new_config(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    c = cfg([a])
    nd = nodown(c)
    s = connect(nd.port)
    rd = HTTPReader(s)
    s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
    assert rd.read_response().body == b"a\n"
    c["pools"].append({"name": "other", "protocol": "http", "backends": [backend("b", b.port)]})
    c["listeners"][0]["pool"] = "other"
    assert reload(nd, c).returncode == 0
    s.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
    r = rd.read_response()
    assert r.body == b"b\n" and r.header("connection") != "close"
    s.close()


def test_removed_backend_finishes_in_flight(nginx, nodown, cfg):
    a, b = nginx("a"), nginx("b")
    c = cfg([("a", a.port), ("b", b.port)])
    nd = nodown(c)
    slow = []
    for _ in range(2):      # round robin: one download on each backend
        # 2 MiB at nginx's limit_rate of 1 MiB/s: in flight for ~2 s
        s = connect(nd.port, timeout=10)
        s.sendall(b"GET /limited/two.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        slow.append(s)
    time.sleep(0.3)
    c["pools"][0]["backends"] = [backend("a", a.port)]
    assert reload(nd, c).returncode == 0
    for _ in range(4):
        assert http_get(nd.port, "/whoami").body == b"a\n"
    for s in slow:
        r = HTTPReader(s, timeout=10).read_response()
        assert r.status == 200 and len(r.body) == 2 << 20
        s.close()
    assert len(b.access_lines()) == 1       # only its download
    assert "b: removed from the config" in nd.error_log()


def test_pooled_connections_carry_over(nginx, nodown, cfg):
    a = nginx("a")
    c = cfg([a])
    nd = nodown(c)
    assert http_get(nd.port, "/whoami").status == 200
    c["pools"][0]["retries"] = 3
    c["listeners"][0]["header_timeout"] = "5s"
    assert reload(nd, c).returncode == 0
    assert http_get(nd.port, "/whoami").status == 200
    conns = [l.split()[0] for l in a.lines(2)]
    assert conns[0] == conns[1], a.access_lines()   # same backend connection


def test_listeners_added_and_removed(nginx, nodown, cfg):
    ng = nginx("b0")
    c = cfg([ng])
    nd = nodown(c)
    old_port, new_port = nd.port, free_port()
    idle = connect(old_port)
    idle_rd = HTTPReader(idle)
    idle.sendall(b"GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
    assert idle_rd.read_response().status == 200
    busy = connect(old_port, timeout=10)
    busy.sendall(b"GET /limited/two.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    time.sleep(0.2)
    c["listeners"] = [{"name": "web2", "protocol": "http", "bind": f"127.0.0.1:{new_port}",
                       "pool": "app"}]
    r = reload(nd, c)
    assert r.returncode == 0 and "1 new, 1 removed" in r.stdout, r.stdout
    assert http_get(new_port, "/whoami").status == 200
    assert wait_for(lambda: not port_accepts(old_port), timeout=3)
    assert idle_rd.at_eof(timeout=3)                    # idle client closed
    busy_rd = HTTPReader(busy, timeout=10)
    r = busy_rd.read_response()                         # in-flight one finishes...
    assert r.status == 200 and len(r.body) == 2 << 20
    assert busy_rd.at_eof(timeout=3)                    # ... then it is closed
    busy.close()
    idle.close()
    assert [l["name"] for l in status(nd)["listeners"]] == ["web2"]


def test_listener_rebound_port_in_use_is_refused(nginx, nodown, cfg):
    ng = nginx("b0")
    c = cfg([ng])
    nd = nodown(c)
    c["listeners"].append({"name": "clash", "protocol": "http",
                           "bind": f"127.0.0.1:{ng.port}", "pool": "app"})
    r = reload(nd, c)
    assert r.returncode == 1 and "cannot listen on" in r.stderr and "clash" in r.stderr
    assert status(nd)["generation"] == 1
    assert http_get(nd.port, "/whoami").status == 200


def test_many_reloads_in_a_row_under_load(nginx, nodown, cfg):
    """Generations come and go while requests are in flight on each."""
    a, b = nginx("a"), nginx("b")
    c = cfg([("a", a.port)], workers=2)
    nd = nodown(c)
    extra = free_port()
    gets = load(nd.url("/whoami"), "--rate", "500", "--duration", "4s", "-c", "16")
    posts = load(nd.url("/echo"), "--rate", "200", "--duration", "4s", "-c", "8",
                 "-m", "POST", "-b", "x" * 3000)
    time.sleep(0.3)
    for i in range(20):
        bes = [backend("a", a.port)] + ([backend("b", b.port)] if i % 2 == 0 else [])
        c["pools"][0]["backends"] = bes
        c["listeners"] = c["listeners"][:1] + ([{"name": "extra", "protocol": "http",
                                                  "bind": f"127.0.0.1:{extra}", "pool": "app"}]
                                                if i % 3 == 0 else [])
        r = reload(nd, c)
        assert r.returncode == 0, r.stderr
        time.sleep(0.15)
    rg, rp = result(gets), result(posts)
    assert rg["errors"] == 0, rg
    assert rp["errors"] == 0, rp
    assert status(nd)["generation"] == 21
