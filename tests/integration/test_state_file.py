"""Operator state (drain, maint, weight) survives a restart through the
state file; an unreadable state file stops the start instead of being
ignored."""
import json
from pathlib import Path

from conftest import http_get, run_cli


def cli(nd, *args):
    return run_cli(*args, "--socket", nd.cfg["admin"]["socket"])


def backends(nd):
    r = cli(nd, "status", "--json")
    assert r.returncode == 0, r.stderr
    return {b["name"]: b for b in json.loads(r.stdout)["pools"][0]["backends"]}


def test_operator_state_survives_restart(nginx, nodown, cfg):
    a, b, c = nginx("a"), nginx("b"), nginx("c")
    config = cfg([a, b, c])
    nd = nodown(config)
    assert cli(nd, "drain", "app/a").returncode == 0
    assert cli(nd, "weight", "app/b", "5").returncode == 0
    assert cli(nd, "maint", "app/c").returncode == 0
    st = backends(nd)
    assert st["a"]["state_source"] == "operator" and st["c"]["state"] == "maint"
    state_file = Path(config["admin"]["socket"]).parent / "nodown.state"
    saved = json.loads(state_file.read_text())
    assert {e["backend"] for e in saved["backends"]} == {"a", "b", "c"}
    assert nd.stop() == 0
    nd2 = nodown(config)
    st = backends(nd2)
    assert st["a"]["state"] in ("draining", "drained") and st["a"]["state_source"] == "operator"
    assert st["b"]["weight"] == 5 and st["b"]["state"] == "ready"
    assert st["c"]["state"] == "maint"
    assert {http_get(nd2.port, "/whoami").header("X-Backend") for _ in range(10)} == {"b"}
    assert "from the state file" in nd2.error_log()
    # Back to the config's state: the entries leave the file.
    for cmd in (("ready", "app/a"), ("weight", "app/b", "1"), ("ready", "app/c")):
        assert cli(nd2, *cmd).returncode == 0
    assert json.loads(state_file.read_text())["backends"] == []
    assert backends(nd2)["a"]["state_source"] == "config"


def test_unreadable_state_file_refuses_to_start(nginx, nodown, cfg):
    config = cfg([nginx("a")])
    state_file = Path(config["admin"]["socket"]).parent / "nodown.state"
    state_file.write_text("{ not json")
    nd = nodown(config, expect_exit=1, wait=False)
    assert nd.proc.wait(timeout=10) == 1
    assert "will not guess" in nd.stderr() + nd.error_log()


def test_state_file_names_unknown_backend(nginx, nodown, cfg):
    config = cfg([nginx("a")])
    state_file = Path(config["admin"]["socket"]).parent / "nodown.state"
    state_file.write_text(json.dumps({"version": 1, "backends": [
        {"pool": "app", "backend": "gone", "state": "drained", "weight": 1}]}))
    nd = nodown(config)
    assert backends(nd)["a"]["state"] == "ready"
    assert "which the config does not have; ignored" in nd.error_log()


def test_state_and_pid_files_are_replaced_never_written_through_links(tmp_path, nginx, nodown, cfg):
    """Links planted where nodown writes (the state file, the old fixed
    temporary name, the pid file) are replaced, not followed: their
    targets are untouched. The state file is private (0600), the pid file
    holds the pid, and no temporary file is left behind."""
    import os
    a = nginx("a")
    config = cfg([a])
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    state = tmp_path / "nodown.state"
    pid_file = tmp_path / "nodown.pid"
    (tmp_path / "nodown.state.tmp").symlink_to(victim)
    pid_file.symlink_to(victim)
    config["pid_file"] = str(pid_file)
    nd = nodown(config)
    assert cli(nd, "drain", "app/a").returncode == 0
    assert victim.read_text() == "precious\n"
    assert not pid_file.is_symlink() and pid_file.read_text() == f"{nd.pid}\n"
    assert json.loads(state.read_text())["backends"][0]["backend"] == "a"
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    state.unlink()
    state.symlink_to(victim)
    assert cli(nd, "ready", "app/a").returncode == 0
    assert victim.read_text() == "precious\n"
    assert not state.is_symlink()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith("nodown.state.")]
    assert leftovers == ["nodown.state.tmp"], leftovers
    assert os.readlink(tmp_path / "nodown.state.tmp") == str(victim)
