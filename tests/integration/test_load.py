"""`nodown load`: the built-in open-loop load verifier, against real
servers, and the rolling release it exists to prove: every backend
drained, restarted and put back under 1,000 requests/s of mixed GET and
POST, with zero errors, and every request seen exactly once by nginx."""
import json
import subprocess
import time

from conftest import NODOWN_BIN, free_port, run_cli, wait_for


def load(url, *args, timeout=60):
    return subprocess.Popen([NODOWN_BIN, "load", "http", url, "--json", "-q", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(p, timeout=60):
    out, err = p.communicate(timeout=timeout)
    return p.returncode, (json.loads(out) if out.strip() else None), err


def test_load_counts_and_percentiles(nginx):
    ng = nginx("a", locations='location = /boom { return 500; }')
    rc, r, err = result(load(f"http://127.0.0.1:{ng.port}/whoami", "--rate", "300", "--duration", "1s"))
    assert rc == 0, err
    assert r["errors"] == 0 and 295 <= r["ok"] <= 305
    assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"] <= r["latency_ms"]["max"]
    rc, r, _ = result(load(f"http://127.0.0.1:{ng.port}/boom", "--rate", "100", "--duration", "500ms",
                           "--max-errors", "0"))
    assert rc == 1 and r["error_classes"]["5xx"] == r["requests"] > 0
    rc, r, _ = result(load(f"http://127.0.0.1:{ng.port}/nope", "--rate", "100", "--duration", "300ms"))
    assert rc == 0 and r["error_classes"]["4xx"] == r["requests"] > 0


def test_load_connect_errors_and_usage(tmp_path):
    rc, r, err = result(load(f"http://127.0.0.1:{free_port()}/", "--rate", "50", "--duration", "500ms",
                             "--max-errors", "0"))
    assert rc == 1 and r["error_classes"]["connect"] == r["requests"] > 0
    assert "more than --max-errors 0" in err
    assert run_cli("load", "http", "http://127.0.0.1:1/").returncode == 2        # no rate
    assert run_cli("load", "ftp", "x", "--rate", "1", "--duration", "1s").returncode == 2
    assert run_cli("load", "--help").returncode == 0


def test_rolling_release_under_load_zero_errors(nginx, nodown, cfg):
    ngs = [nginx(f"b{i}") for i in range(3)]
    ports = [n.port for n in ngs]
    nd = nodown(cfg([(f"b{i}", p) for i, p in enumerate(ports)], workers=2,
                    pool={"health": {"interval": "200ms", "timeout": "200ms", "rise": 2, "fall": 2}}))
    sock = nd.cfg["admin"]["socket"]
    duration = "9s"
    gets = load(nd.url("/whoami"), "--rate", "600", "--duration", duration, "-c", "16")
    posts = load(nd.url("/echo"), "--rate", "400", "--duration", duration, "-c", "16",
                 "-m", "POST", "-b", "payload-1234567890")
    time.sleep(1.0)
    all_ngs = list(ngs)
    for i in range(3):
        name = f"b{i}"
        r = run_cli("drain", f"app/{name}", "--wait", "--timeout", "10s", "--socket", sock)
        assert r.returncode == 0, r.stderr
        ngs[i].stop()                                   # graceful nginx stop
        ngs[i] = nginx(f"b{i}-v2", port=ports[i])       # "the upgraded server"
        all_ngs.append(ngs[i])
        time.sleep(0.6)                                 # health checks see it up
        assert run_cli("ready", f"app/{name}", "--socket", sock).returncode == 0
        time.sleep(0.8)
    rc_g, rg, err_g = result(gets)
    rc_p, rp, err_p = result(posts)
    assert rc_g == 0 and rc_p == 0, (err_g, err_p)
    assert rg["errors"] == 0, rg
    assert rp["errors"] == 0, rp
    assert rg["ok"] >= 5000 and rp["ok"] >= 3400
    # No request lost or duplicated: nginx logged each exactly once.
    want = rg["ok"] + rp["ok"]
    assert wait_for(lambda: sum(len(n.access_lines()) for n in all_ngs) >= want, timeout=5)
    lines = [l for n in all_ngs for l in n.access_lines()]
    assert len(lines) == want, (len(lines), want)
    assert sum('"POST /echo' in l for l in lines) == rp["ok"]


def test_backend_sigkill_under_load(nginx, nodown, cfg):
    """A backend killed with SIGKILL: idempotent requests never fail (a
    refused connect is retried elsewhere at once; a GET cut before any
    response byte is resent); POSTs caught in flight may fail, and their
    count is reported and bounded."""
    a, b = nginx("a"), nginx("b")
    nd = nodown(cfg([a, b], workers=2, pool={"health": {"interval": "200ms", "fall": 2}}))
    gets = load(nd.url("/whoami"), "--rate", "400", "--duration", "4s", "-c", "16")
    posts = load(nd.url("/echo"), "--rate", "100", "--duration", "4s", "-c", "8",
                 "-m", "POST", "-b", "payload")
    time.sleep(1.5)
    a.kill()
    rc_g, rg, err_g = result(gets)
    rc_p, rp, err_p = result(posts)
    assert rc_g == 0 and rc_p == 0, (err_g, err_p)
    assert rg["errors"] == 0, rg
    assert rp["errors"] <= 8, rp                  # at most the POSTs in flight at the kill
    assert rg["ok"] >= 1500 and rp["ok"] >= 380
