"""`nodown check` and `nodown serve` on valid and invalid configurations,
and the CLI's help and exit codes."""
import re

import pytest

from conftest import MINIMAL_CONFIG, free_port, run_cli

BASE = MINIMAL_CONFIG

SECOND_LISTENER = """\
  - name: {name}
    protocol: http
    bind: 127.0.0.1:{bind}
    pool: app
"""

SECOND_POOL = """\
  - name: {name}
    protocol: http
    backends:
      - name: other
        address: 127.0.0.1:9
"""


def add_listener(text, name, bind):
    return text.replace("pools:\n", SECOND_LISTENER.format(name=name, bind=bind) + "pools:\n")


def pos(text, line_has, token, nth=1):
    """(line, col), 1-based, of `token` in the nth line containing line_has."""
    k = 0
    for i, line in enumerate(text.split("\n"), 1):
        if line_has in line:
            k += 1
            if k == nth:
                return i, line.index(token, line.index(line_has)) + 1
    raise AssertionError(f"{line_has!r} x{nth} not in config")


# Each case: (id, edit(text, ports) -> text, where(text) -> (line, col), message regex)
CASES = [
    ("status-bind-clash",
     lambda t, p: t.replace("listeners:\n", f"status:\n  bind: 127.0.0.1:{p['port']}\nlisteners:\n"),
     lambda t: pos(t, "  bind: 127", "bind"),
     r"status.bind 127.0.0.1:\d+ is also the address of listener 'web'"),
    ("status-unknown-key",
     lambda t, p: t.replace("listeners:\n", f"status:\n  bind: 127.0.0.1:{p['other']}\n  port: 8404\nlisteners:\n"),
     lambda t: pos(t, "port: 8404", "port"),
     r"unknown key 'port' in status"),

    ("unknown-key",
     lambda t, p: t.replace("    pool: app\n", "    pool: app\n    colour: blue\n"),
     lambda t: pos(t, "colour: blue", "colour"),
     r"unknown key 'colour' in listener"),
    ("wrong-type-int",
     lambda t, p: t.replace("workers: 2", "workers: abc"),
     lambda t: pos(t, "workers: abc", "abc"),
     r"'workers' must be a whole number, not 'abc'"),
    ("int-out-of-range",
     lambda t, p: t.replace("workers: 2", "workers: 0"),
     lambda t: pos(t, "workers: 0", "0"),
     r"'workers' must be between 1 and"),
    ("wrong-type-mapping-for-scalar",
     lambda t, p: t.replace("    pool: app\n", "    pool:\n      - app\n"),
     lambda t: pos(t, "- app", "-"),
     r"'pool' must be a name, not a list"),
    ("bad-enum",
     lambda t, p: t.replace("balance: round_robin", "balance: random"),
     lambda t: pos(t, "balance: random", "random"),
     r"'balance' must be one of round_robin, least_conn, not 'random'"),
    ("duplicate-pool-name",
     lambda t, p: t + SECOND_POOL.format(name="app"),
     lambda t: pos(t, "  - name: app", "app", nth=2),
     r"duplicate pool name 'app' \(first defined at line 13\)"),
    ("duplicate-listener-name",
     lambda t, p: add_listener(t, "web", p["other"]),
     lambda t: pos(t, "  - name: web", "web", nth=2),
     r"duplicate listener name 'web' \(first defined at line 8\)"),
    ("duplicate-backend-name",
     lambda t, p: t.replace("- name: ap2", "- name: ap1"),
     lambda t: pos(t, "- name: ap1", "ap1", nth=2),
     r"duplicate backend name 'ap1' in pool 'app' \(first defined at line 17\)"),
    ("undefined-pool",
     lambda t, p: t.replace("    pool: app\n", "    pool: nope\n"),
     lambda t: pos(t, "pool: nope", "nope"),
     r"listener 'web' refers to pool 'nope', which is not defined under 'pools'"),
    ("two-listeners-one-address",
     lambda t, p: add_listener(t, "web2", p["port"]),
     lambda t: pos(t, "    bind: 127.0.0.1:", "127.0.0.1", nth=2),
     r"listeners 'web' and 'web2' both bind 127\.0\.0\.1:\d+"),
    ("missing-required-key",
     lambda t, p: t.replace("    pool: app\n", ""),
     lambda t: pos(t, "  - name: web", "name"),
     r"listener is missing required key 'pool'"),
    ("missing-top-level-key",
     lambda t, p: t[:t.index("listeners:")] + t[t.index("pools:"):],
     lambda t: (1, 1),
     r"the top level is missing required key 'listeners'"),
    ("yaml-syntax-error",
     lambda t, p: t.replace("    protocol: http\n    bind", "    protocol: http: x\n    bind"),
     lambda t: pos(t, "protocol: http: x", ": x"),
     r"YAML syntax error: mapping values are not allowed"),
    ("yaml-unclosed-quote",
     lambda t, p: t.replace("balance: round_robin", 'balance: "round_robin'),
     None,
     r"YAML syntax error"),
    ("bad-duration-unit",
     lambda t, p: t.replace("    balance: round_robin\n",
                            "    balance: round_robin\n    response_timeout: 5x\n"),
     lambda t: pos(t, "response_timeout: 5x", "5x"),
     r"'response_timeout' must be a duration such as 500ms, 10s, 2m or 1h, not '5x'"),
    ("duration-without-unit",
     lambda t, p: "shutdown_timeout: 10\n" + t,
     lambda t: pos(t, "shutdown_timeout: 10", "10"),
     r"'shutdown_timeout' must be a duration"),
    ("bad-size",
     lambda t, p: t.replace("    pool: app\n", "    pool: app\n    max_body_size: 12q\n"),
     lambda t: pos(t, "max_body_size: 12q", "12q"),
     r"'max_body_size' must be a size such as 8192, 16k or 10MiB, not '12q'"),
    ("size-out-of-range",
     lambda t, p: t.replace("    pool: app\n", "    pool: app\n    max_header_size: 100\n"),
     lambda t: pos(t, "max_header_size: 100", "100"),
     r"'max_header_size' must be between 256 and"),
    ("bad-port",
     lambda t, p: t.replace(f"address: 127.0.0.1:{p['be2']}", "address: 127.0.0.1:99999"),
     lambda t: pos(t, "address: 127.0.0.1:99999", "127"),
     r"'address': invalid address '127\.0\.0\.1:99999': port must be a number from 1 to 65535"),
    ("bad-bool",
     lambda t, p: t.replace("    pool: app\n", "    pool: app\n    via: maybe\n"),
     lambda t: pos(t, "via: maybe", "maybe"),
     r"'via' must be true or false, not 'maybe'"),
]


@pytest.fixture
def ports():
    return {"port": free_port(), "be1": free_port(), "be2": free_port(), "other": free_port()}


@pytest.fixture
def base(tmp_path, ports):
    return BASE.format(tmp=tmp_path, **ports)


def error_lines(output, path):
    return [l for l in output.splitlines() if l.startswith(f"{path}:")]


def test_check_valid(tmp_path, base):
    f = tmp_path / "ok.yml"
    f.write_text(base)
    r = run_cli("check", "-c", str(f))
    assert r.returncode == 0, r.stderr
    assert f"{f}: ok" in r.stdout
    assert "1 listener, 1 pool, 2 workers" in r.stdout


def test_check_valid_long_option(tmp_path, base):
    f = tmp_path / "ok.yml"
    f.write_text(base)
    r = run_cli("check", "--config", str(f))
    assert r.returncode == 0 and "ok" in r.stdout


@pytest.mark.parametrize("edit,where,msg", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_reports_error(tmp_path, base, ports, edit, where, msg):
    text = edit(base, ports)
    assert text != base
    f = tmp_path / "bad.yml"
    f.write_text(text)
    r = run_cli("check", "-c", str(f))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "ok" not in r.stdout
    lines = error_lines(r.stderr, f)
    assert len(lines) == 1, r.stderr
    m = re.match(re.escape(str(f)) + r":(\d+):(\d+): (.*)$", lines[0])
    assert m, lines[0]
    assert re.search(msg, m.group(3)), lines[0]
    if where is not None:
        assert (int(m.group(1)), int(m.group(2))) == where(text), \
            f"{lines[0]!r} should point at line:col {where(text)}\n{text}"
    assert re.search(r"nodown: 1 error in ", r.stderr)


@pytest.mark.parametrize("edit,where,msg", [c[1:] for c in CASES if c[0] in (
    "unknown-key", "wrong-type-int", "duplicate-pool-name", "undefined-pool",
    "two-listeners-one-address", "missing-required-key", "yaml-syntax-error", "bad-duration-unit")],
    ids=["unknown-key", "wrong-type-int", "duplicate-pool-name", "undefined-pool",
         "two-listeners-one-address", "missing-required-key", "yaml-syntax-error",
         "bad-duration-unit"])
def test_serve_refuses_bad_config(tmp_path, base, ports, edit, where, msg):
    text = edit(base, ports)
    f = tmp_path / "bad.yml"
    f.write_text(text)
    check = run_cli("check", "-c", str(f))
    r = run_cli("serve", "-c", str(f))
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert error_lines(r.stderr, f) == error_lines(check.stderr, f)
    assert len(error_lines(r.stderr, f)) == 1
    assert not (tmp_path / "error.log").exists() or "serving" not in (tmp_path / "error.log").read_text()


def test_all_errors_reported_at_once(tmp_path, base):
    text = base.replace("workers: 2", "workers: abc").replace(
        "    pool: app\n", "    pool: app\n    colour: blue\n    max_body_size: 12q\n")
    f = tmp_path / "bad.yml"
    f.write_text(text)
    r = run_cli("check", "-c", str(f))
    assert r.returncode == 1
    lines = error_lines(r.stderr, f)
    assert len(lines) == 3, r.stderr
    assert any(":1:10: 'workers'" in l for l in lines)
    assert any("unknown key 'colour'" in l for l in lines)
    assert any("'max_body_size'" in l for l in lines)
    assert "nodown: 3 errors in" in r.stderr


def test_check_missing_file(tmp_path):
    r = run_cli("check", "-c", str(tmp_path / "nope.yml"))
    assert r.returncode == 1
    assert "cannot open config file" in r.stderr


def test_check_empty_file(tmp_path):
    f = tmp_path / "empty.yml"
    f.write_text("")
    r = run_cli("check", "-c", str(f))
    assert r.returncode == 1
    assert f"{f}:1:1:" in r.stderr


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], ["serve", "--help"],
                                  ["check", "--help"], ["serve", "-h"], ["check", "-h"]])
def test_help_exits_0(args):
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert "usage: nodown" in r.stdout


def test_version():
    r = run_cli("version")
    assert r.returncode == 0 and r.stdout.startswith("nodown ")


@pytest.mark.parametrize("args", [["frobnicate"], [], ["check", "--bogus"], ["serve", "extra-arg"]])
def test_usage_errors_exit_2(args):
    r = run_cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "usage: nodown" in r.stderr


# ---- a configuration directory (conf.d/) ------------------------------------------------

def conf_dir(tmp_path, ports):
    """The minimal config split over three files: settings, a listener, a pool."""
    d = tmp_path / "conf.d"
    d.mkdir()
    text = BASE.format(tmp=tmp_path, **ports)
    head, rest = text.split("listeners:\n")
    listeners, pools = rest.split("pools:\n")
    (d / "00-settings.yml").write_text(head)
    (d / "10-web.yml").write_text("listeners:\n" + listeners)
    (d / "20-app.yml").write_text("pools:\n" + pools)
    (d / "README.txt").write_text("not yaml: ignored\n")
    return d


def test_check_a_directory(tmp_path, ports):
    d = conf_dir(tmp_path, ports)
    r = run_cli("check", str(d))
    assert r.returncode == 0 and f"{d}: ok (1 listener, 1 pool, 2 workers)" in r.stdout, r.stdout + r.stderr


def test_a_directory_names_both_places(tmp_path, ports):
    """A pool defined in two files, and a top-level setting given twice: each
    message names both files and lines; --json says the same for CI."""
    d = conf_dir(tmp_path, ports)
    (d / "30-dup.yml").write_text(
        "workers: 4\n"
        "pools:\n"
        "  - name: app\n"
        "    protocol: http\n"
        "    backends:\n"
        "      - { name: x, address: 127.0.0.1:9 }\n")
    r = run_cli("check", str(d))
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert f"{d}/30-dup.yml:3:11: duplicate pool name 'app' (first defined at {d}/20-app.yml:2); pool " \
           "names must be unique" in lines, r.stderr
    assert any(l.startswith(f"{d}/30-dup.yml:1:1: 'workers' is also set in {d}/00-settings.yml:1")
               for l in lines), r.stderr
    import json
    j = json.loads(run_cli("check", str(d), "--json").stdout)
    assert j["ok"] is False and {(e["file"], e["line"]) for e in j["errors"]} == {
        (f"{d}/30-dup.yml", 3), (f"{d}/30-dup.yml", 1)}
    assert all(e["severity"] == "error" for e in j["errors"])


def test_an_empty_or_broken_directory(tmp_path):
    d = tmp_path / "empty.d"
    d.mkdir()
    r = run_cli("check", str(d))
    assert r.returncode == 1 and f"{d}: no *.yml or *.yaml file" in r.stderr
    (d / "a.yml").write_text("- not a mapping\n")
    (d / "b.yaml").write_text("pools: [\n")
    r = run_cli("check", str(d))
    assert f"{d}/a.yml:1:1: a file of a configuration directory holds a mapping" in r.stderr
    assert f"{d}/b.yaml:" in r.stderr and "YAML syntax error" in r.stderr


def test_serve_and_reload_a_directory(tmp_path, ports):
    """nodown serve -c DIR runs on the merged files; a new file is picked up
    by a reload, and a reload that check would refuse is refused with the
    same file:line message, the running config staying."""
    import subprocess
    from conftest import NODOWN_BIN, admin_json, stop_process, wait_port
    d = conf_dir(tmp_path, ports)
    proc = subprocess.Popen([NODOWN_BIN, "serve", "-c", str(d)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nd = type("ND", (), {"cfg": {"admin": {"socket": f"{tmp_path}/nodown.sock"}}})()
    try:
        wait_port(ports["port"], proc, what="nodown")
        port2 = free_port()
        (d / "40-api.yml").write_text(
            "listeners:\n"
            f"  - {{ name: api, protocol: http, bind: 127.0.0.1:{port2}, pool: api }}\n"
            "pools:\n"
            "  - name: api\n"
            "    protocol: http\n"
            "    backends:\n"
            f"      - {{ name: a1, address: 127.0.0.1:{ports['other']} }}\n")
        r = admin_json(nd, "/reload", method="POST")
        assert r.get("reloaded") is True or "error" not in r, r
        st = admin_json(nd)
        assert [l["name"] for l in st["listeners"]] == ["web", "api"] and st["config"] == str(d)
        wait_port(port2, proc, what="the new listener")
        (d / "50-bad.yml").write_text("pools:\n  - name: api\n    protocol: http\n    backends: []\n")
        r = admin_json(nd, "/reload", method="POST")
        assert any(f"{d}/50-bad.yml:2:11: duplicate pool name 'api' (first defined at {d}/40-api.yml:4)" in e
                   for e in r["errors"]), r
        assert len(admin_json(nd)["pools"]) == 2
    finally:
        assert stop_process(proc) == 0


def test_one_server_under_two_names_is_a_warning(tmp_path, base, ports):
    """A backend address in two pools under different names: a warning
    (file:line:col: warning: ...), exit 0; the same name is fine; --json
    gives it severity warning."""
    text = base + SECOND_POOL.format(name="other").replace("127.0.0.1:9", f"127.0.0.1:{ports['be1']}")
    text += SECOND_POOL.format(name="same").replace("name: other", "name: ap2").replace(
        "127.0.0.1:9", f"127.0.0.1:{ports['be2']}")      # app's ap2, same name: fine
    f = tmp_path / "warn.yml"
    f.write_text(text)
    r = run_cli("check", str(f))
    assert r.returncode == 0 and "ok" in r.stdout, r.stdout + r.stderr
    warnings = [l for l in r.stderr.splitlines() if ": warning: " in l]
    assert len(warnings) == 1, r.stderr
    line, col = pos(text, f"address: 127.0.0.1:{ports['be1']}", "127", nth=2)
    assert warnings[0].startswith(f"{f}:{line}:{col}: warning: backend 'other' of pool 'other' has the "
                                  f"address of backend 'ap1' of pool 'app' (line "), warnings[0]
    import json
    j = json.loads(run_cli("check", str(f), "--json").stdout)
    assert j["ok"] is True and [e["severity"] for e in j["errors"]] == ["warning"]
