#!/usr/bin/python3
"""
psycopg_suite.py - run a client library's own test suite (psycopg's) against
PostgreSQL directly and through nodown, and compare.

    tests/external/psycopg_suite.py CHECKOUT [--modes direct,session,transaction]
                                    [--pytest-args "-x -k copy"] [--keep DIR]

CHECKOUT is a checkout of psycopg's repository at the tag of the installed
psycopg (Debian 12: 3.1.7), whole (tests/, psycopg_pool/, pyproject.toml),
for example:

    git clone https://github.com/psycopg/psycopg && git -C psycopg checkout 3.1.7

Nothing of psycopg is in this repository. The script starts a PostgreSQL
primary and standby on 127.0.0.1 (tests/integration/helpers/pgcluster.py),
one nodown per pool mode in front of them (workers 2, pool_size 20), runs
`pytest CHECKOUT/tests` with --test-dsn pointing at each target in turn (as
the superuser postgres, as psycopg's suite expects), and prints the counts
per target and the tests that fail through nodown but pass directly. It
needs python3-pytest-asyncio for the async tests (it says so if missing).
Everything it starts is stopped by PID on exit.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
from helpers import pgcluster  # noqa: E402

PYTHON = "/usr/bin/python3"


def have_module(name):
    return subprocess.run([PYTHON, "-c", f"import {name}"], capture_output=True).returncode == 0


def free_port():
    return pgcluster.free_port()


def nodown_config(tmp, cluster, mode):
    return {
        "workers": 2,
        "admin": {"socket": str(tmp / f"nd-{mode}.sock")},
        "shutdown_timeout": "5s",
        "log": {"access": "off", "error": str(tmp / f"nd-{mode}.log")},
        "listeners": [{"name": "db", "protocol": "pg", "bind": f"127.0.0.1:{free_port()}",
                       "pool": "main"}],
        "pools": [{"name": "main", "protocol": "pg", "pool_mode": mode, "pool_size": 20,
                   "auth_file": str(cluster.auth_file), "monitor_user": "postgres",
                   "health": {"interval": "200ms", "timeout": "1s"},
                   "backends": [{"name": "pg1", "address": f"127.0.0.1:{cluster.port_of('pg1')}"},
                                {"name": "pg2", "address": f"127.0.0.1:{cluster.port_of('pg2')}"}]}],
    }


def start_nodown(binary, tmp, cluster, mode):
    cfg = nodown_config(tmp, cluster, mode)
    path = tmp / f"nd-{mode}.yml"
    path.write_text(json.dumps(cfg))        # YAML is a superset of JSON
    port = int(cfg["listeners"][0]["bind"].rsplit(":", 1)[1])
    proc = subprocess.Popen([binary, "serve", "-c", str(path)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            subprocess.run([PYTHON, "-c", f"import psycopg; psycopg.connect("
                            f"'host=127.0.0.1 port={port} user=postgres dbname=postgres "
                            f"password={cluster.passwords['postgres']} connect_timeout=2').close()"],
                           check=True, capture_output=True, timeout=5)
            return proc, port
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            time.sleep(0.2)
    proc.kill()
    sys.exit(f"nodown ({mode}) did not come up; see {tmp}/nd-{mode}.log")


def run_suite(checkout, dsn, extra, log_path):
    # asyncio_mode=auto is what psycopg's pyproject.toml sets; the pool
    # package is imported from the checkout (Debian 12 does not ship it);
    # the typing tests run mypy, which is skipped when it is not installed.
    cmd = [PYTHON, "-m", "pytest", "-o", f"cache_dir={log_path.parent / 'pytest-cache'}",
           "-o", "asyncio_mode=auto", "-q", "-rfE", "--test-dsn", dsn, "tests", *extra]
    if not have_module("mypy"):
        cmd += ["--ignore", "tests/test_typing.py", "--ignore", "tests/crdb/test_typing.py"]
    path = [str(checkout), str(checkout / "psycopg_pool")]
    with open(log_path, "w") as log:
        p = subprocess.run(cmd, cwd=checkout, stdout=log, stderr=subprocess.STDOUT,
                           env=dict(os.environ, PYTHONPATH=":".join(path)))
    text = Path(log_path).read_text(errors="replace")
    counts = {k: 0 for k in ("passed", "failed", "skipped", "error", "xfailed", "xpassed")}
    tail = [l for l in text.splitlines() if re.search(r"\d+ (passed|failed)", l)]
    if tail:
        for n, what in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", tail[-1]):
            counts["error" if what.startswith("error") else what] = int(n)
    failing = sorted(set(re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.M)))
    if not tail:
        sys.exit(f"pytest ended with status {p.returncode} and no summary: see {log_path}")
    return p.returncode, counts, failing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout")
    ap.add_argument("--modes", default="direct,session,transaction")
    ap.add_argument("--pytest-args", default="")
    ap.add_argument("--nodown", default=str(REPO / "build" / "nodown"))
    ap.add_argument("--keep", help="keep logs in this directory")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))   # clean up below
    checkout = Path(a.checkout).resolve()
    if not (checkout / "tests" / "conftest.py").exists():
        sys.exit(f"{checkout} has no tests/conftest.py: give a checkout of psycopg's repository")
    try:
        import pytest_asyncio  # noqa: F401
    except ImportError:
        sys.exit("psycopg's async tests need pytest-asyncio: apt-get install python3-pytest-asyncio")
    why = pgcluster.unavailable()
    if why:
        sys.exit(f"PostgreSQL cannot run here: {why}")
    tmp = Path(a.keep or tempfile.mkdtemp(prefix="nodown-psycopg."))
    tmp.mkdir(parents=True, exist_ok=True)
    tmpl_dir = tempfile.mkdtemp(prefix="nodown-pgtmpl.", dir=pgcluster.TMP_PARENT)
    procs, results = [], {}
    cluster = None
    try:
        cluster = pgcluster.PgCluster(pgcluster.make_template(tmpl_dir))
        cluster.start()
        pw = cluster.passwords["postgres"]
        for mode in a.modes.split(","):
            if mode == "direct":
                port = cluster.primary
            else:
                proc, port = start_nodown(a.nodown, tmp, cluster, mode)
                procs.append(proc)
            dsn = f"host=127.0.0.1 port={port} user=postgres dbname=postgres password={pw}"
            t0 = time.monotonic()
            rc, counts, failing = run_suite(checkout, dsn, shlex.split(a.pytest_args), tmp / f"pytest-{mode}.log")
            results[mode] = (counts, failing, time.monotonic() - t0)
            print(f"{mode:12s} " + "  ".join(f"{k} {v}" for k, v in counts.items()) +
                  f"  ({results[mode][2]:.0f}s, log {tmp}/pytest-{mode}.log)", flush=True)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if cluster:
            cluster.save_logs(tmp / "pg-logs")
            cluster.close()
        shutil.rmtree(tmpl_dir, ignore_errors=True)
    direct = set(results.get("direct", ({}, [], 0))[1])
    for mode, (counts, failing, _) in results.items():
        if mode == "direct":
            continue
        only = [t for t in failing if t not in direct]
        print(f"\n{mode}: {len(only)} fail through nodown but not directly:")
        for t in only:
            print(f"  {t}")
    print(f"\nlogs in {tmp}")


if __name__ == "__main__":
    main()
