"""Release plans (docs/plans.md): run inside the daemon against real nginx
backends that a plan really restarts, under `nodown load`; the red button,
--resume, the automatic halt, approvals, the run log and its procedure
sheet; the linter's rules, each with a failing and a passing fixture."""
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import NGINX_BIN, NODOWN_BIN, REPO, admin_json, free_port, run_cli, to_yaml, wait_for

EXAMPLE = REPO / "examples" / "web-release"

BACKEND_CONF = """\
{user}
pid {dir}/nginx.pid;
error_log {dir}/error.log;
worker_processes 1;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "{name}\\n"; }}
        location = /fail {{ return 500; }}
    }}
}}
"""


class Web:
    """The example plan's directory copied to tmp, with an nginx (daemon,
    pid file) per backend under backends/NAME, started by the example's
    own restart.sh."""

    def __init__(self, tmp_path, names):
        self.dir = tmp_path / "plan"
        shutil.copytree(EXAMPLE, self.dir)
        self.ports = {}
        for n in names:
            d = self.dir / "backends" / n
            d.mkdir(parents=True)
            self.ports[n] = free_port()
            (d / "nginx.conf").write_text(BACKEND_CONF.format(
                user="user root;" if os.geteuid() == 0 else "", dir=d, port=self.ports[n], name=n))
            self.restart(n)

    def restart(self, name):
        r = subprocess.run(["./restart.sh", name], cwd=self.dir, capture_output=True, text=True,
                           timeout=30, env=dict(os.environ, NGINX_BIN=NGINX_BIN))
        assert r.returncode == 0, r.stdout + r.stderr

    def pid(self, name):
        p = self.dir / "backends" / name / "nginx.pid"
        return int(p.read_text()) if p.exists() and p.read_text().strip() else None

    def stop(self):
        for n in self.ports:
            pid = self.pid(n)
            if pid:
                try:
                    os.kill(pid, signal.SIGQUIT)
                except ProcessLookupError:
                    continue
                wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10)

    def plan(self, name, text):
        p = self.dir / name
        p.write_text(text)
        return p


@pytest.fixture
def web(tmp_path, monkeypatch):
    monkeypatch.setenv("NGINX_BIN", NGINX_BIN)      # for restart.sh, run by nodown
    made = []

    def make(names=("b1", "b2", "b3")):
        w = Web(tmp_path, names)
        made.append(w)
        return w
    yield make
    for w in made:
        w.stop()


def web_config(tmp_path, w, pool=None, top=None):
    pool_cfg = {"name": "app", "protocol": "http",
                "health": {"interval": "100ms", "timeout": "500ms", "rise": 1, "fall": 1},
                "backends": [{"name": n, "address": f"127.0.0.1:{p}"} for n, p in w.ports.items()]}
    pool_cfg.update(pool or {})
    cfg = {"workers": 2,
           "admin": {"socket": str(tmp_path / "nd.sock")},
           "runs_dir": str(tmp_path / "runs"),
           "shutdown_timeout": "5s", "shutdown_idle_grace": "200ms",
           "log": {"access": "off", "error": str(tmp_path / "nd-error.log")},
           "listeners": [{"name": "web", "protocol": "http", "bind": f"127.0.0.1:{free_port()}",
                          "pool": "app"}],
           "pools": [pool_cfg]}
    cfg.update(top or {})
    return cfg


def group_alive(pgid):
    """Is a process of process group pgid still there (zombies left out)?"""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def sock(nd):
    return nd.cfg["admin"]["socket"]


def plan_cli(nd, *args, timeout=120):
    return run_cli(*args, "--socket", sock(nd), timeout=timeout)


def history(nd, run=None, *extra):
    r = plan_cli(nd, "history", *([run] if run else []), "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def current(nd):
    return admin_json(nd, "/plans/current")


def start_load(nd, seconds, rate=200, path="/"):
    return subprocess.Popen([NODOWN_BIN, "load", "http", nd.url(path), "--rate", str(rate),
                             "--duration", f"{seconds}s", "--json", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def load_result(p):
    out, err = p.communicate(timeout=120)
    assert p.returncode in (0, 1), err
    return json.loads(out)


class OutWatch:
    """Samples the pool every 10 ms: the most backends out of rotation at once."""

    def __init__(self, nd):
        self.nd, self.most, self.stop = nd, 0, threading.Event()
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.stop.is_set():
            bs = admin_json(self.nd)["pools"][0]["backends"]
            self.most = max(self.most, sum(b["state"] != "ready" or b["health"] != "up" for b in bs))
            time.sleep(0.01)

    def end(self):
        self.stop.set()
        self.t.join(10)
        return self.most


def test_example_plan_rolls_the_pool_under_load(web, nodown, tmp_path):
    """examples/web-release/plan.yml as written: every backend restarted,
    never more than one out of rotation, zero errors, a complete run log."""
    w = web()
    nd = nodown(web_config(tmp_path, w))
    assert wait_for(lambda: all(b["health"] == "up" for b in admin_json(nd)["pools"][0]["backends"]), 5)
    pids = {n: w.pid(n) for n in w.ports}
    load = start_load(nd, 12)
    watch = OutWatch(nd)
    time.sleep(1)
    r = plan_cli(nd, "run", str(w.dir / "plan.yml"))
    most = watch.end()
    res = load_result(load)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "plan web-release done" in r.stdout
    assert res["errors"] == 0 and res["requests"] > 1000, res
    assert most == 1, most                                  # max_unavailable: 1
    assert all(w.pid(n) != pids[n] for n in w.ports)         # each really restarted
    runs = history(nd)["runs"]
    assert len(runs) == 1 and runs[0]["state"] == "done" and runs[0]["steps_done"] == runs[0]["steps"] == 19
    log = history(nd, runs[0]["id"])
    assert log["owner"] == "ops-team" and log["plan"] == "web-release" and log["ended"]
    for s in log["steps"]:
        assert s["status"] == "done" and s["started"] and s["ended"] and "ms" in s, s
    execs = [s for s in log["steps"] if s["kind"] == "exec"]
    assert [s["text"] for s in execs] == [f"exec ./restart.sh {n}" for n in ("b1", "b2", "b3")]
    assert all("started nginx" in s["output"] for s in execs), execs
    assert log["steps"][-1]["detail"].startswith("pool app: 0 errors in ")
    # the log on disk is the same, and the procedure sheet has its status column
    on_disk = json.loads((tmp_path / "runs" / f"{runs[0]['id']}.json").read_text())
    assert on_disk["state"] == "done" and len(on_disk["steps"]) == 19
    md = plan_cli(nd, "history", runs[0]["id"], "--markdown").stdout
    assert "| # | Action | Start | End | Duration | Details | Output | Owner | Status |" in md
    assert md.count("| ops-team | done |") == 19, md


def test_dry_run_resolves_every_step_and_changes_nothing(web, nodown, tmp_path):
    w = web()
    nd = nodown(web_config(tmp_path, w))
    r = plan_cli(nd, "run", str(w.dir / "plan.yml"), "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = [l.split(None, 1)[1].rsplit(" line ", 1)[0].strip() for l in r.stdout.splitlines()
             if l.strip()[:1].isdigit()]
    assert lines[:6] == ["batch 1/3 of app: b1", "drain app/b1", "wait_drained app/b1 (at most 30s)",
                         "exec ./restart.sh b1", "wait_healthy app/b1 (at most 60s)", "ready app/b1"]
    assert len(lines) == 19 and lines[-1] == "verify app errors <= 0 since the plan began"
    assert all(b["state"] == "ready" for b in admin_json(nd)["pools"][0]["backends"])
    assert history(nd)["runs"] == []


FAILING = """\
name: fails-on-b2
owner: ops-team
scope: [app]
steps:
  - rolling:
      pool: app
      do:
        - drain: "{backend}"
        - wait_drained: "{backend}"
        - exec: { run: "echo checking {backend}; test {backend} != b2 || { echo boom >&2; exit 3; }" }
        - ready: "{backend}"
"""


def test_a_failing_exec_halts_and_leaves_backends_as_they_are(web, nodown, tmp_path):
    w = web()
    nd = nodown(web_config(tmp_path, w))
    p = w.plan("fails.yml", FAILING)
    load = start_load(nd, 3)
    r = plan_cli(nd, "run", str(p))
    res = load_result(load)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "plan fails-on-b2 failed at step 9/15: exec echo checking b2;" in r.stdout, r.stdout
    assert "exit 3" in r.stdout and "boom" in r.stdout
    assert f"resume with: nodown run {p} --resume" in r.stdout
    states = {b["name"]: b["state"] for b in admin_json(nd)["pools"][0]["backends"]}
    assert states == {"b1": "ready", "b2": "drained", "b3": "ready"}, states
    assert res["errors"] == 0, res
    log = history(nd, history(nd)["runs"][0]["id"])
    assert log["state"] == "failed" and "step 9" in log["error"]
    assert [s["status"] for s in log["steps"]] == ["done"] * 8 + ["failed"] + ["pending"] * 6
    assert "boom" in log["steps"][8]["output"] and log["steps"][8]["detail"] == "exit 3"
    # --resume starts the stopped batch over at its gate (b2 is checked and drained again)
    r = plan_cli(nd, "run", str(p), "--resume", "--dry-run")
    assert r.returncode == 0 and "--resume starts at step 6" in r.stdout, r.stdout + r.stderr


LONG_EXEC = """\
name: long
owner: ops-team
scope: [app]
abort_grace: 1s
steps:
  - drain: b1
  - exec: "echo $$ > exec.pid; trap '' TERM; sleep 60 & wait; sleep 60"
  - ready: b1
"""


def test_abort_during_a_long_exec_stops_within_the_grace(web, nodown, tmp_path):
    """The exec ignores SIGTERM: it is killed (its whole process group)
    once abort_grace has passed; b1 stays drained; --resume continues."""
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    p = w.plan("long.yml", LONG_EXEC)
    r = plan_cli(nd, "run", str(p), "--detach")
    assert r.returncode == 0 and "run long-" in r.stdout, r.stdout + r.stderr
    pidfile = w.dir / "exec.pid"
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10)
    shell = int(pidfile.read_text())
    t0 = time.monotonic()
    r = plan_cli(nd, "abort")
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    assert took < 6, took
    assert "plan long aborted at step 2/3: exec echo" in r.stdout, r.stdout
    assert "app/b1: drained" in r.stdout and "app/b2: ready" in r.stdout
    assert f"resume with: nodown run {p} --resume" in r.stdout
    assert wait_for(lambda: not os.path.exists(f"/proc/{shell}"), 5)
    # nor any child of it: the whole process group was killed
    assert wait_for(lambda: not group_alive(shell), 5)
    log = history(nd, history(nd)["runs"][0]["id"])
    assert log["state"] == "aborted" and log["steps"][1]["status"] == "stopped"
    assert "SIGKILL" in log["steps"][1]["detail"], log["steps"][1]
    # resume: the plan now passes at step 2 and ends with b1 ready
    p.write_text(LONG_EXEC.replace("echo $$ > exec.pid; trap '' TERM; sleep 60 & wait; sleep 60", "true"))
    r = plan_cli(nd, "run", str(p), "--resume")
    assert "the plan changed since run" in r.stderr and r.returncode == 1, r.stdout + r.stderr
    p.write_text(LONG_EXEC)
    pidfile.unlink()
    r = plan_cli(nd, "run", str(p), "--resume", "--detach")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10)
    assert plan_cli(nd, "abort").returncode == 0
    runs = history(nd)["runs"]
    assert len(runs) == 2 and runs[0]["resumed_from"] == runs[1]["id"], runs
    first = history(nd, runs[0]["id"])["steps"][0]
    assert first["status"] == "done" and first["in_run"] == runs[1]["id"]   # drain was not run again


RESUMABLE = """\
name: resumable
owner: ops-team
scope: [app]
steps:
  - exec: "echo once >> ran.txt"
  - drain: b1
  - exec: "test -e go || { echo 'no go file yet'; exit 1; }"
  - ready: b1
  - exec: "echo after >> ran.txt"
"""


def test_resume_continues_from_the_step_that_stopped(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    p = w.plan("resumable.yml", RESUMABLE)
    r = plan_cli(nd, "run", str(p))
    assert r.returncode == 1 and "failed at step 3/5" in r.stdout, r.stdout + r.stderr
    (w.dir / "go").write_text("")
    r = plan_cli(nd, "run", str(p), "--resume", "--dry-run")
    assert r.returncode == 0 and "--resume starts at step 3" in r.stdout, r.stdout + r.stderr
    r = plan_cli(nd, "run", str(p), "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (w.dir / "ran.txt").read_text() == "once\nafter\n"     # steps 1-2 did not run again
    assert admin_json(nd)["pools"][0]["backends"][0]["state"] == "ready"
    r = plan_cli(nd, "run", str(p), "--resume")
    assert r.returncode == 1 and "finished every step; nothing to resume" in r.stderr


HALTING = """\
name: halting
owner: ops-team
scope: [app]
auto_halt: { max_errors: 5 }
steps:
  - drain: b1
  - sleep: 30s
  - ready: b1
  - drain: b2
"""


def test_auto_halt_stops_the_plan_on_injected_errors(web, nodown, tmp_path):
    w = web(("b1", "b2", "b3"))
    nd = nodown(web_config(tmp_path, w))
    p = w.plan("halting.yml", HALTING)
    assert plan_cli(nd, "run", str(p), "--detach").returncode == 0
    assert wait_for(lambda: current(nd)["step"] == "sleep 30000ms", 5)
    bad = start_load(nd, 1, rate=50, path="/fail")              # 500s from the backends
    load_result(bad)
    assert wait_for(lambda: not current(nd)["running"], 5), current(nd)
    op = current(nd)
    assert op["state"] == "failed" and "failed: auto-halt: " in op["error"], op
    states = {b["name"]: b["state"] for b in admin_json(nd)["pools"][0]["backends"]}
    assert states == {"b1": "drained", "b2": "ready", "b3": "ready"}, states   # b2 never went
    assert [s["status"] for s in op["run"]["steps"]] == ["done", "stopped", "pending", "pending"]


APPROVAL = """\
name: gated
owner: ops-team
scope: [app]
steps:
  - drain: b1
  - approve: "b1 is out: check the dashboards"
  - ready: b1
"""


def test_an_approve_step_waits_for_nodown_approve(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    assert plan_cli(nd, "approve").returncode == 1                  # nothing waits
    p = w.plan("gated.yml", APPROVAL)
    assert plan_cli(nd, "run", str(p), "--detach").returncode == 0
    assert wait_for(lambda: current(nd)["step"].startswith("approve: b1 is out"), 5)
    r = plan_cli(nd, "run", str(p))
    assert r.returncode == 1 and "one plan runs at a time" in r.stderr
    r = plan_cli(nd, "approve")
    assert r.returncode == 0 and "approved" in r.stdout, r.stderr
    assert wait_for(lambda: current(nd)["state"] == "done", 5)
    assert admin_json(nd)["pools"][0]["backends"][0]["state"] == "ready"


def test_a_reload_that_pulls_a_backend_from_under_the_plan_is_refused(web, nodown, tmp_path):
    w = web(("b1", "b2", "b3"))
    cfg = web_config(tmp_path, w)
    nd = nodown(cfg)
    p = w.plan("gated.yml", APPROVAL.replace("  - ready: b1\n", "  - ready: b1\n  - drain: b3\n  - ready: b3\n"))
    assert plan_cli(nd, "run", str(p), "--detach").returncode == 0
    assert wait_for(lambda: current(nd)["step"].startswith("approve"), 5)
    cfg["pools"][0]["backends"] = cfg["pools"][0]["backends"][:2]
    nd.config.write_text(to_yaml(cfg) + "\n")
    r = plan_cli(nd, "reload")
    assert r.returncode == 1 and "step 4 (drain app/b3) needs backend 'app/b3'" in r.stderr, r.stderr
    assert plan_cli(nd, "approve").returncode == 0
    assert wait_for(lambda: current(nd)["state"] == "done", 5)
    assert plan_cli(nd, "reload").returncode == 0                  # once the plan is over


# ---- the linter ---------------------------------------------------------------------

TWO_POOLS = {"workers": 1, "admin": {"socket": "/tmp/nodown-lint.sock"},
             "listeners": [{"name": "web", "protocol": "http", "bind": "127.0.0.1:1", "pool": "app"},
                           {"name": "web2", "protocol": "http", "bind": "127.0.0.1:2", "pool": "other"}],
             "pools": [{"name": "app", "protocol": "http",
                        "backends": [{"name": "b1", "address": "127.0.0.1:11"},
                                     {"name": "b2", "address": "127.0.0.1:12"},
                                     {"name": "b3", "address": "127.0.0.1:13"}]},
                       {"name": "other", "protocol": "http",
                        "backends": [{"name": "o1", "address": "127.0.0.1:21"}]}]}

HEAD = "name: lint\nowner: ops\nscope: [app]\nsteps:\n"

# (what is wrong, the plan, where, the message) and the plan made right
LINT = [
    ("unknown key", HEAD + "  - drain: { target: b1, tagret: b2 }\n", "5:26",
     "unknown key 'tagret' in step 'drain'", HEAD + "  - drain: { target: b1 }\n"),
    ("unknown top-level key", "name: lint\nowner: ops\nscope: [app]\nsteos: []\nsteps:\n  - drain: b1\n", "4:1",
     "unknown key 'steos' in a plan", HEAD + "  - drain: b1\n"),
    ("unknown step", HEAD + "  - restart: b1\n", "5:5", "unknown step 'restart'", HEAD + "  - maint: b1\n"),
    ("wrong type", HEAD + "  - exec: { run: ./x, timeout: soon }\n", "5:32",
     "'timeout' must be a duration", HEAD + "  - exec: { run: ./x, timeout: 5s }\n"),
    ("weight range", HEAD + "  - weight: { target: b1, value: 5000 }\n", "5:34",
     "'value' must be between 0 and 1000", HEAD + "  - weight: { target: b1, value: 50 }\n"),
    ("outside the scope", HEAD + "  - drain: other/o1\n", "5:5",
     "this step names pool 'other', outside the plan's scope",
     "name: lint\nowner: ops\nscope: [app, other]\nsteps:\n  - drain: other/o1\n"),
    ("dangling pool in scope", "name: lint\nowner: ops\nscope: [app, nope]\nsteps:\n  - drain: b1\n", "3:14",
     "the scope names pool 'nope', which the config does not have", HEAD + "  - drain: b1\n"),
    ("dangling backend", HEAD + "  - drain: b9\n", "5:5", "pool 'app' has no backend 'b9'", HEAD + "  - drain: b3\n"),
    ("dangling backend in a list", HEAD + "  - rolling: { pool: app, backends: [b1, b7], do: [drain: \"{backend}\"] }\n",
     "5:42", "pool 'app' has no backend 'b7'",
     HEAD + "  - rolling: { pool: app, backends: [b1, b3], do: [drain: \"{backend}\"] }\n"),
    ("{backend} outside rolling", HEAD + "  - exec: \"./restart.sh {backend}\"\n", "5:5",
     "'{backend}' is only known inside a rolling block's 'do'", HEAD + "  - exec: \"./restart.sh b1\"\n"),
    ("switchover of an http pool", HEAD + "  - switchover: { pool: app, to: b2 }\n", "5:5",
     "pool 'app' speaks http, which has no switchover", HEAD + "  - wait_healthy: b2\n"),
    ("pause outside the scope", HEAD + "  - pause: other\n", "5:5",
     "this step names pool 'other', outside the plan's scope", HEAD + "  - pause: { pool: app, timeout: 5s }\n"),
    ("batch above max_unavailable", HEAD + "  - rolling: { pool: app, batch: 2, max_unavailable: 1, do: [drain: \"{backend}\"] }\n",
     "5:5", "a batch of 2 takes 2 backends out at once, more than max_unavailable (1)",
     HEAD + "  - rolling: { pool: app, batch: 2, max_unavailable: 2, do: [drain: \"{backend}\"] }\n"),
    ("no ready backend left", HEAD + "  - rolling: { pool: app, batch: 3, do: [drain: \"{backend}\"] }\n",
     "5:5", "max_unavailable 3 of pool 'app''s 3 backends could leave it no ready backend; at most 2",
     HEAD + "  - rolling: { pool: app, batch: 1, do: [drain: \"{backend}\"] }\n"),
    ("verify with nothing to check", HEAD + "  - verify: { pool: app }\n", "5:5", "verify checks something",
     HEAD + "  - verify: { pool: app, max_error_rate: 0.5% }\n"),
    ("duplicate in scope", "name: lint\nowner: ops\nscope: [app, app]\nsteps:\n  - drain: b1\n", "3:14",
     "pool 'app' is in the scope twice", HEAD + "  - drain: b1\n"),
]


@pytest.fixture(scope="module")
def lint_config(tmp_path_factory):
    p = tmp_path_factory.mktemp("lint") / "nodown.yml"
    p.write_text(to_yaml(TWO_POOLS) + "\n")
    return p


@pytest.mark.parametrize("what,bad,where,message,good", LINT, ids=[x[0] for x in LINT])
def test_the_linter_rejects_and_accepts(lint_config, tmp_path, what, bad, where, message, good):
    bp, gp = tmp_path / "bad.yml", tmp_path / "good.yml"
    bp.write_text(bad)
    gp.write_text(good)
    r = run_cli("check", str(lint_config), str(bp))
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{bp}:{where}: {message}" in r.stderr, r.stderr
    r = run_cli("check", str(lint_config), str(gp))
    assert r.returncode == 0 and f"{gp}: ok (plan lint" in r.stdout, r.stdout + r.stderr
    j = json.loads(run_cli("check", str(lint_config), str(bp), "--json").stdout)
    assert not j["ok"] and j["plans"] == [{"path": str(bp), "ok": False, "name": None, "steps": 0}]
    line, col = map(int, where.split(":"))
    assert {"file": str(bp), "line": line, "col": col, "severity": "error"}.items() <= j["errors"][0].items()


def test_the_linter_passes_the_example_and_needs_a_config(lint_config, tmp_path):
    r = run_cli("check", str(lint_config), str(EXAMPLE / "plan.yml"))
    assert r.returncode == 0 and "ok (plan web-release, owner ops-team, 19 steps" in r.stdout, r.stderr
    r = run_cli("check", str(EXAMPLE / "plan.yml"))
    assert r.returncode == 2 and "is a plan" in r.stderr


def test_the_daemon_refuses_a_plan_check_would_reject(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    p = w.plan("bad.yml", HEAD + "  - drain: b9\n  - switchover: { to: b2 }\n")
    r = plan_cli(nd, "run", str(p))
    assert r.returncode == 1, r.stdout
    assert f"{p}:5:5: pool 'app' has no backend 'b9'" in r.stderr
    assert f"{p}:6:5: pool 'app' speaks http, which has no switchover" in r.stderr
    assert "the plan has 2 problems; nothing was started" in r.stderr
    assert history(nd)["runs"] == []


# ---- a whole release: web, PostgreSQL and Redis ---------------------------------------

FULL_RELEASE = """\
name: full-release
owner: ops-team
scope: [app, main, cache]
steps:
  - rolling:
      pool: app
      do:
        - drain: "{backend}"
        - wait_drained: { target: "{backend}", timeout: 30s }
        - exec: { run: "./restart.sh {backend}", timeout: 60s }
        - wait_healthy: { target: "{backend}", timeout: 60s }
        - ready: "{backend}"
  - switchover: { pool: main, to: pg2 }
  - switchover: { pool: cache, to: r2 }
  - verify: { pool: app, max_errors: 0 }
"""


def test_one_plan_releases_web_pg_and_redis_under_load(web, nodown, tmp_path, pg_cluster, redis_pair):
    """A rolling restart of the web pool, then the PostgreSQL primary moves
    to pg2 and the Redis primary to r2, in one plan, while nodown load
    drives the web and redis pools and 4 psycopg writers commit through
    the pg pool: zero errors anywhere, every commit on pg2."""
    import types

    from test_pg import make_tables, pg_config, writers
    from test_redis import redis_config

    w = web(("b1", "b2"))
    c = pg_cluster
    make_tables(c)
    r1, r2 = redis_pair
    cfg = web_config(tmp_path, w)
    pg, rd = pg_config(tmp_path, c), redis_config(tmp_path, r1, r2)
    cfg["listeners"] += pg["listeners"] + rd["listeners"]
    cfg["pools"] += pg["pools"] + rd["pools"]
    nd = nodown(cfg)

    def roles():
        return {b["name"]: b["role"] for p in admin_json(nd)["pools"][1:] for b in p["backends"]}
    assert wait_for(lambda: roles() == {"pg1": "primary", "pg2": "standby", "r1": "primary", "r2": "standby"}, 10)
    db = types.SimpleNamespace(port=int(pg["listeners"][0]["bind"].rsplit(":", 1)[1]))
    cache = rd["listeners"][0]["bind"]
    plan = w.plan("full.yml", FULL_RELEASE)
    assert run_cli("check", str(nd.config), str(plan)).returncode == 0

    http_load = start_load(nd, 20)
    redis_load = subprocess.Popen([NODOWN_BIN, "load", "redis", cache, "--rate", "300", "--duration", "20s",
                                   "--mix", "set=1,get=1", "--json", "-q"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, pg_errors, committed = threading.Event(), [], []
    ts = writers(db, 4, stop, pg_errors, committed)
    time.sleep(1)
    r = plan_cli(nd, "run", str(plan), timeout=180)
    stop.set()
    for t in ts:
        t.join(20)
    http, redis_res = load_result(http_load), load_result(redis_load)
    print(f"web: {http['requests']} requests, {http['errors']} errors; redis: {redis_res['requests']} "
          f"commands, {redis_res['errors']} errors; pg: {len(committed)} commits, {len(pg_errors)} errors")

    assert r.returncode == 0, r.stdout + r.stderr
    assert "switchover main to pg2" in r.stdout and "pg2 is the primary" in r.stdout
    assert "switchover cache to r2" in r.stdout and "r2 is the primary" in r.stdout
    assert http["errors"] == 0 and http["requests"] > 2000, http
    assert redis_res["errors"] == 0 and redis_res["requests"] > 2000, redis_res
    assert not pg_errors, pg_errors[:3]
    # (the old pg primary is left for the operator to rejoin: docs/postgresql.md)
    assert {k: v for k, v in roles().items() if k != "pg1"} == {"pg2": "primary", "r1": "standby", "r2": "primary"}
    assert roles()["pg1"] != "primary"
    new = c.port_of("pg2")
    rows = {tuple(map(int, l.split("|"))) for l in c.psql(new, "SELECT client, k FROM w", db="app").split()}
    assert set(committed) <= rows and len(committed) >= 4, (len(committed), len(rows))
    log = history(nd, history(nd)["runs"][0]["id"])
    assert log["state"] == "done" and all(s["status"] == "done" for s in log["steps"])


# ---- pause and resume of an http pool -------------------------------------------------

def test_pause_holds_http_requests_and_resume_releases_them(web, nodown, tmp_path):
    """`nodown pause app`: a new request waits before it goes to a backend
    (no error), a request in flight finishes; resume sends it on."""
    import urllib.request

    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    r = plan_cli(nd, "pause", "app", "--timeout", "30s", "--wait")
    assert r.returncode == 0 and "nothing in flight" in r.stdout, r.stdout + r.stderr
    got = []
    t = threading.Thread(target=lambda: got.append(urllib.request.urlopen(nd.url("/"), timeout=20).status))
    t.start()
    pool = lambda: admin_json(nd)["pools"][0]                  # noqa: E731
    assert wait_for(lambda: pool()["pause"] and pool()["pause"]["held_clients"] == 1, 5), pool()
    assert not got and pool()["paused"]
    assert plan_cli(nd, "resume", "app").returncode == 0
    t.join(10)
    assert got == [200]
    assert not pool()["paused"]
    # the client has its response a moment before nodown ends the exchange
    assert wait_for(lambda: pool()["in_flight"] == 0, 5), pool()


PAUSING = """\
name: pausing
owner: ops-team
scope: [app]
steps:
  - pause: { pool: app, timeout: 10s }
  - sleep: 300ms
  - resume: app
"""


def test_a_plan_pauses_an_http_pool_under_load_with_no_error(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    load = start_load(nd, 3)
    time.sleep(0.5)
    r = plan_cli(nd, "run", str(w.plan("pausing.yml", PAUSING)))
    res = load_result(load)
    assert r.returncode == 0, r.stdout + r.stderr
    assert res["errors"] == 0, res
    assert res["latency_ms"]["max"] >= 200, res      # held for the sleep, not refused
    pause = [o for o in admin_json(nd, "/operations")["operations"] if o["kind"] == "pause"][0]
    assert pause["state"] == "done" and pause["held_clients"] > 10, pause


# ---- rollback steps, a verify by nodown load, a stop of nodown -----------------------

ROLLBACK = """\
name: rolls-back
owner: ops-team
scope: [app]
steps:
  - drain: b1
  - exec: "echo deploy failed >&2; exit 1"
  - ready: b1
on_failure:
  - ready: b1
  - exec: "echo rolled back > rolled-back.txt"
"""


def test_on_failure_steps_run_after_a_failed_step(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    r = plan_cli(nd, "run", str(w.plan("rb.yml", ROLLBACK)))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "rollback [ 1/2] done" in r.stdout and "rollback [ 2/2] done" in r.stdout, r.stdout
    assert (w.dir / "rolled-back.txt").read_text() == "rolled back\n"
    assert admin_json(nd)["pools"][0]["backends"][0]["state"] == "ready"
    log = history(nd, history(nd)["runs"][0]["id"])
    assert log["state"] == "failed" and "the on_failure steps ran" in log["error"], log["error"]
    assert [s["status"] for s in log["steps"]] == ["done", "failed", "pending"]
    assert [s["status"] for s in log["rollback"]] == ["done", "done"]
    md = plan_cli(nd, "history", log["id"], "--markdown").stdout
    assert "| R1 | ready app/b1 |" in md and "| ops-team | failed |" in md


def test_verify_by_a_nodown_load_run(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    plan = """\
name: verified
owner: ops-team
scope: [app]
steps:
  - verify: { load: "http URL --rate 50 --duration 1s --max-errors 0 -q", timeout: 30s }
"""
    r = plan_cli(nd, "run", str(w.plan("ok.yml", plan.replace("URL", nd.url("/")))))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "exit 0" in r.stdout and "ok 50, errors 0" in r.stdout, r.stdout
    r = plan_cli(nd, "run", str(w.plan("bad.yml", plan.replace("URL", nd.url("/fail")))))
    assert r.returncode == 1 and "exit 1" in r.stdout, r.stdout + r.stderr


def test_a_plan_stopped_by_nodown_stopping_resumes_after_a_restart(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    cfg = web_config(tmp_path, w)
    nd = nodown(cfg)
    p = w.plan("gated.yml", APPROVAL)
    assert plan_cli(nd, "run", str(p), "--detach").returncode == 0
    assert wait_for(lambda: current(nd)["step"].startswith("approve"), 5)
    assert nd.stop() == 0
    nd2 = nodown(cfg)
    runs = history(nd2)["runs"]
    assert runs[0]["state"] == "aborted" and "nodown stopped" in runs[0]["error"], runs
    assert admin_json(nd2)["pools"][0]["backends"][0]["state"] == "drained"   # the state file kept it
    assert plan_cli(nd2, "run", str(p), "--resume", "--detach").returncode == 0
    assert wait_for(lambda: current(nd2)["step"].startswith("approve"), 5)
    assert plan_cli(nd2, "approve").returncode == 0
    assert wait_for(lambda: current(nd2)["state"] == "done", 5)
    assert admin_json(nd2)["pools"][0]["backends"][0]["state"] == "ready"


def _raw(sock_path, data, timeout=5):
    import socket as s
    c = s.socket(s.AF_UNIX, s.SOCK_STREAM)
    c.settimeout(timeout)
    c.connect(sock_path)
    try:
        c.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass                    # answered (413) and closed before the body was all sent
    out = b""
    while True:
        try:
            got = c.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            break
        if not got:
            break
        out += got
    c.close()
    return out


def test_bad_submissions_get_a_clear_error_and_change_nothing(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    s = sock(nd)

    def post(body, extra=b""):
        head = b"POST /plans HTTP/1.1\r\nHost: x\r\n" + extra
        if body is not None:
            head += b"Content-Length: %d\r\n" % len(body)
        return _raw(s, head + b"\r\n" + (body or b""))

    usage = b"POST /plans takes a JSON body"
    for body in (None, b"not json", b"[]", b'{"file": "relative.yml"}', b'{"file": 3}',
                 b'{"file": "/x.yml", "resume": 3}'):
        r = post(body)
        assert r.startswith(b"HTTP/1.1 400 ") and usage in r, (body, r[:300])
    r = post(b'{"file": "/nonexistent/plan.yml"}')
    assert r.startswith(b"HTTP/1.1 400 ") and b"cannot open plan: No such file or directory" in r, r
    r = post(b"x" * 70000)
    assert r.startswith(b"HTTP/1.1 413 "), r[:200]
    r = _raw(s, b"POST /plans HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 400 "), r[:200]
    assert history(nd)["runs"] == [] and admin_json(nd)["pools"][0]["backends"][0]["state"] == "ready"


# ---- found by an outside review --------------------------------------------------------

def test_two_thousand_steps_that_end_at_once(web, nodown, tmp_path):
    """Steps that end at once do not nest (a stack overflow killed the
    daemon at step 954), and the run log is not rewritten for each."""
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    p = w.plan("many.yml", HEAD.replace("name: lint", "name: many") + "  - ready: b1\n" * 2000)
    r = plan_cli(nd, "run", str(p), "--detach")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: current(nd)["state"] == "done", 30), current(nd)["state"]
    assert history(nd)["runs"][0]["steps_done"] == 2000


HALT_THEN_ROLLBACK = """\
name: halt-rollback
owner: ops-team
scope: [app]
auto_halt: { max_errors: 0 }
steps:
  - drain: b1
  - sleep: 30s
on_failure:
  - exec: "sleep 0.5; echo rolling back"
  - ready: b1
"""


def test_the_automatic_halt_runs_on_failure_and_does_not_halt_it(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    assert plan_cli(nd, "run", str(w.plan("hr.yml", HALT_THEN_ROLLBACK)), "--detach").returncode == 0
    assert wait_for(lambda: current(nd)["step"] == "sleep 30000ms", 5)
    load_result(start_load(nd, 1, rate=20, path="/fail"))     # errors before and during the rollback
    assert wait_for(lambda: not current(nd)["running"], 10)
    run = current(nd)["run"]
    assert run["state"] == "failed" and "auto-halt" in run["error"], run["error"]
    assert [s["status"] for s in run["rollback"]] == ["done", "done"], run["rollback"]
    assert run["stopped_at"] == {"n": 2, "text": "sleep 30000ms", "rollback": True}
    assert admin_json(nd)["pools"][0]["backends"][0]["state"] == "ready"


def test_abort_kills_what_is_left_of_the_exec_group(web, nodown, tmp_path):
    """The shell ends on SIGTERM but leaves a child that ignores it: that
    child gets SIGKILL once abort_grace has passed."""
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    p = w.plan("orphan.yml", LONG_EXEC.replace(
        "echo $$ > exec.pid; trap '' TERM; sleep 60 & wait; sleep 60",
        "echo $$ > exec.pid; (trap '' TERM; exec sleep 301) & sleep 302"))
    assert plan_cli(nd, "run", str(p), "--detach").returncode == 0
    pidfile = w.dir / "exec.pid"
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10)
    group = int(pidfile.read_text())
    assert wait_for(lambda: sum(1 for d in Path("/proc").iterdir() if d.name.isdigit() and
                                (d / "cmdline").exists() and b"sleep\x00301" in (d / "cmdline").read_bytes())
                    >= 1, 5)
    r = plan_cli(nd, "abort")
    assert r.returncode == 0 and "SIGKILL" in history(nd, history(nd)["runs"][0]["id"])["steps"][1]["detail"]
    assert wait_for(lambda: not group_alive(group), 5)


def test_nodown_stopping_stops_the_exec(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    p = w.plan("long.yml", LONG_EXEC)
    assert plan_cli(nd, "run", str(p), "--detach").returncode == 0
    pidfile = w.dir / "exec.pid"
    assert wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10)
    group = int(pidfile.read_text())
    assert nd.stop() == 0
    assert wait_for(lambda: not group_alive(group), 5)
    step = json.loads(next((tmp_path / "runs").glob("long-*.json")).read_text())["steps"][1]
    assert step["status"] == "stopped" and step["ended"] and "SIGKILL" in step["detail"], step


def test_a_reload_removing_a_busy_backend_halts_nothing(web, nodown, tmp_path):
    """The removed backend's counts leave the pool's sums: no wrap-around
    into a bogus automatic halt."""
    w = web(("b1", "b2", "b3"))
    cfg = web_config(tmp_path, w)
    nd = nodown(cfg)
    for b in ("b1", "b2"):
        assert plan_cli(nd, "drain", f"app/{b}").returncode == 0
    load_result(start_load(nd, 1, rate=20, path="/fail"))     # 20 errors, all on b3
    for b in ("b1", "b2"):
        assert plan_cli(nd, "ready", f"app/{b}").returncode == 0
    p = w.plan("s.yml", HEAD.replace("name: lint", "name: s") + "  - sleep: 2s\n  - verify: { pool: app, max_errors: 0 }\n")
    assert plan_cli(nd, "run", str(p), "--detach").returncode == 0
    cfg["pools"][0]["backends"] = cfg["pools"][0]["backends"][:2]
    nd.config.write_text(to_yaml(cfg) + "\n")
    assert plan_cli(nd, "reload").returncode == 0
    assert wait_for(lambda: not current(nd)["running"], 10)
    assert current(nd)["state"] == "done", current(nd)["error"]


def test_output_that_is_not_utf8_is_kept(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    p = w.plan("u.yml", HEAD.replace("name: lint", "name: u") +
               "  - exec: \"printf 'bad \\\\377 byte\\\\n'; echo more\"\n")
    assert plan_cli(nd, "run", str(p)).returncode == 0
    step = history(nd, history(nd)["runs"][0]["id"])["steps"][0]
    assert step["output"] == "bad ? byte\nmore\n" and step["output_bytes"] == 16, step


def test_a_fifo_is_not_a_plan(web, nodown, tmp_path):
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    fifo = w.dir / "fifo.yml"
    os.mkfifo(fifo)
    r = plan_cli(nd, "run", str(fifo))
    assert r.returncode == 1 and "cannot open plan: not a regular file" in r.stderr, r.stderr
    assert admin_json(nd)["pools"]          # the control thread answers


ENV_PLAN = """\
name: envs
owner: ops-team
scope: [app]
steps:
  - rolling:
      pool: app
      backends: [b1]
      do:
        - exec:
            run: 'echo "$NODOWN_PLAN $NODOWN_POOL $NODOWN_BACKEND $TARGET $(pwd)"; test -z "$NODOWN_SECRET"'
            env: { TARGET: "{address}" }
  - maint: b2
  - weight: { target: b1, value: 7 }
"""


def test_exec_gets_its_environment_and_directory(web, nodown, tmp_path, monkeypatch):
    """exec runs in the plan's directory with NODOWN_PLAN/POOL/BACKEND and
    its env (values filled in); the daemon's own NODOWN_* do not leak in.
    maint and weight steps change the backends."""
    monkeypatch.setenv("NODOWN_SECRET", "daemon's own")     # nodown inherits it
    w = web(("b1", "b2"))
    nd = nodown(web_config(tmp_path, w))
    r = plan_cli(nd, "run", str(w.plan("env.yml", ENV_PLAN)))
    assert r.returncode == 0, r.stdout + r.stderr
    out = history(nd, history(nd)["runs"][0]["id"])["steps"][1]["output"]
    assert out == f"envs app b1 127.0.0.1:{w.ports['b1']} {w.dir}\n", out
    bs = {b["name"]: b for b in admin_json(nd)["pools"][0]["backends"]}
    assert bs["b2"]["state"] == "maint" and bs["b1"]["weight"] == 7, bs


def test_the_gate_refuses_a_batch_when_others_are_out(web, nodown, tmp_path):
    """b2 already out (maint): taking b1 out too would exceed max_unavailable
    1, so the batch's gate fails before b1 is touched."""
    w = web(("b1", "b2", "b3"))
    nd = nodown(web_config(tmp_path, w))
    assert plan_cli(nd, "maint", "app/b2").returncode == 0
    r = plan_cli(nd, "run", str(w.plan("g.yml", HEAD.replace("name: lint", "name: g") +
                                        "  - rolling: { pool: app, backends: [b1], do: [drain: \"{backend}\"] }\n")))
    assert r.returncode == 1, r.stdout
    assert ("1 other backend of app is out of rotation already: b2 (maint); taking 1 more out would exceed "
            "max_unavailable 1") in r.stdout, r.stdout
    states = {b["name"]: b["state"] for b in admin_json(nd)["pools"][0]["backends"]}
    assert states == {"b1": "ready", "b2": "maint", "b3": "ready"}, states
