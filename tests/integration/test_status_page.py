"""
The status page: served at / by the admin API and by the read-only status
listener (`status: { bind: ... }`), loaded in headless Chromium (Debian's),
whose DOM must show each backend's state and the operations with their
steps; a screenshot at phone width is saved in the test's directory. The
status listener reaches no action.
"""
import json
import os
import re
import shutil
import subprocess
import threading

import pytest

from conftest import admin_json, free_port, http_get, run_cli, wait_for
from test_plans import web  # noqa: F401 (a fixture)
from test_redis import client, redis_config

CHROMIUM = shutil.which("chromium")


def chromium(tmp_path, url, *extra):
    """The DOM of url once its script has run (virtual time), or a screenshot."""
    if not CHROMIUM:
        pytest.skip("chromium is not installed (Debian package chromium)")
    r = subprocess.run([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                        f"--user-data-dir={tmp_path}/chromium", "--virtual-time-budget=4000", *extra, url],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def rows(dom):
    """{pool/backend: state} of the backend rows the page drew."""
    return dict(re.findall(r'<tr data-backend="([\w./-]+)" data-state="([\w-]+)"', dom))


def test_page_shows_backends_and_is_read_only(nginx, nodown, cfg, tmp_path):
    a, b = nginx("a"), nginx("b")
    status_port = free_port()
    nd = nodown(cfg([a, b], top={"status": {"bind": f"127.0.0.1:{status_port}"}}))
    assert run_cli("drain", "app/b", "--socket", nd.cfg["admin"]["socket"]).returncode == 0
    for _ in range(5):
        assert http_get(nd.port, "/small.txt").status == 200
    url = f"http://127.0.0.1:{status_port}/"
    dom = chromium(tmp_path, url, "--dump-dom")
    assert rows(dom) == {"app/a": "ready", "app/b": "drained"}, dom[-3000:]
    assert "Pools and backends" in dom and "config generation 1" in dom
    chromium(tmp_path, url, "--window-size=390,844", f"--screenshot={tmp_path}/status-page-phone.png")
    assert os.path.getsize(tmp_path / "status-page-phone.png") > 10000
    # read-only: no action is reachable, whatever the method or path
    assert http_get(status_port, "/api/status").status == 200
    for method, path, want in [("POST", "/pools/app/backends/a/drain", 404), ("POST", "/reload", 404),
                               ("GET", "/metrics", 404), ("POST", "/api/status", 405), ("POST", "/", 405),
                               ("GET", "/status", 404)]:
        assert http_get(status_port, path, method=method).status == want, (method, path)
    assert admin_json(nd)["pools"][0]["backends"][0]["state"] == "ready"
    # the admin socket serves the page too
    assert "<title>nodown status</title>" in subprocess.run(
        ["curl", "-s", "--unix-socket", nd.cfg["admin"]["socket"], "http://x/"],
        capture_output=True, text=True).stdout


def test_page_shows_operations(redis_pair, nodown, tmp_path):
    """A pause in progress, then a switchover that ended: both on the page,
    with their state and steps."""
    status_port = free_port()
    c = redis_config(tmp_path, *redis_pair)
    c["status"] = {"bind": f"127.0.0.1:{status_port}"}
    nd = nodown(c)
    assert wait_for(lambda: [x["role"] for x in admin_json(nd)["pools"][0]["backends"]] ==
                    ["primary", "standby"], 5)
    sock = nd.cfg["admin"]["socket"]
    assert run_cli("pause", "cache", "--timeout", "60s", "--socket", sock).returncode == 0
    dom = chromium(tmp_path, f"http://127.0.0.1:{status_port}/", "--dump-dom")
    assert re.search(r'data-op-kind="pause" data-op-state="running" data-op-pool="cache"', dom), dom[-3000:]
    assert 'data-role="primary"' in dom and "paused" in dom
    assert run_cli("resume", "cache", "--socket", sock).returncode == 0
    assert run_cli("switchover", "cache", "--to", "r2", "--socket", sock, timeout=60).returncode == 0
    assert client(nd).set("k", "v")
    dom = chromium(tmp_path, f"http://127.0.0.1:{status_port}/", "--dump-dom")
    op = re.search(r'data-op-kind="switchover" data-op-state="done" data-op-pool="cache".*?</ul>', dom, re.S)
    assert op and all(f'data-step="{s}"' in op.group(0) for s in ("check", "pause", "promote", "lingering"))
    assert rows(dom) == {"cache/r1": "ready", "cache/r2": "ready"}
    assert 'data-backend="cache/r2" data-state="ready" data-health="up" data-role="primary"' in dom


def test_page_shows_the_plan_and_the_last_runs(web, nodown, tmp_path):
    """A plan waiting at its approve step: its progress and every step's
    status on the page (through the read-only listener); after it ended,
    the run in the last runs."""
    from test_plans import APPROVAL, web_config

    plan_text = APPROVAL.replace("  - approve:", "  - exec: \"echo the-$(echo secret)-token\"\n  - approve:")

    w = web(("b1", "b2"))
    status_port = free_port()
    nd = nodown(web_config(tmp_path, w, top={"status": {"bind": f"127.0.0.1:{status_port}"}}))
    sock = nd.cfg["admin"]["socket"]
    plan = w.plan("gated.yml", plan_text)
    assert run_cli("run", str(plan), "--detach", "--socket", sock).returncode == 0
    assert wait_for(lambda: admin_json(nd, "/plans/current")["step"].startswith("approve"), 5)
    url = f"http://127.0.0.1:{status_port}/"
    dom = chromium(tmp_path, url, "--dump-dom")
    assert re.search(r'data-plan="gated" data-plan-state="running" data-plan-run="gated-[\d-]+" '
                     r'data-plan-done="2"', dom), dom[-4000:]
    steps = dict(re.findall(r'<tr data-plan-step="(\d+)" data-plan-status="(\w+)"', dom))
    assert steps == {"1": "done", "2": "done", "3": "running", "4": "pending"}, steps
    # what an exec printed is for the admin socket only
    assert "the-secret-token" not in dom
    assert "the-secret-token" not in http_get(status_port, "/api/operations").body.decode()
    assert "the-secret-token" in json.dumps(admin_json(nd, "/operations"))
    assert rows(dom) == {"app/b1": "drained", "app/b2": "ready"}
    chromium(tmp_path, url, "--window-size=390,844", f"--screenshot={tmp_path}/status-page-plan-phone.png")
    assert os.path.getsize(tmp_path / "status-page-plan-phone.png") > 10000
    assert run_cli("approve", "--socket", sock).returncode == 0
    assert wait_for(lambda: admin_json(nd, "/plans/current")["state"] == "done", 5)
    dom = chromium(tmp_path, url, "--dump-dom")
    assert re.search(r'<tr data-run="gated-[\d-]+" data-run-state="done">', dom), dom[-3000:]
    assert http_get(status_port, "/plans/abort", method="POST").status == 404      # no action
    assert http_get(status_port, "/api/runs").status == 200
    run = re.search(r'data-run="(gated-[\d-]+)"', dom).group(1)
    assert http_get(status_port, f"/api/runs/{run}").status == 404        # whole logs: the admin socket
