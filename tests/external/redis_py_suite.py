#!/usr/bin/python3
"""
redis_py_suite.py - run a client library's own test suite (redis-py's)
against redis-server directly and through nodown's redis proxy, and compare.

    tests/external/redis_py_suite.py CHECKOUT [--modes direct,nodown]
                                     [--pytest-args="-x -k pubsub"] [--keep DIR]
                                     [--timeout 1200]

CHECKOUT is a checkout of redis-py's repository at the tag of the installed
python3-redis (Debian 12: 4.3.4), for example:

    git clone https://github.com/redis/redis-py && git -C redis-py checkout v4.3.4

Only CHECKOUT/tests and CHECKOUT/tox.ini (its [pytest] section: markers,
addopts) are used; they are copied to DIR/suite so that the library under
test is the installed one (/usr/lib/python3/dist-packages/redis), not the
checkout's redis/ (which would shadow it, tests/ being a package).

For each mode the script starts a fresh redis-server primary and a replica
of it (/usr/bin/redis-server, no persistence, DEBUG and MODULE enabled when
that redis accepts the options) on free 127.0.0.1 ports; for `nodown` it
also starts `nodown serve` (workers 2) with a redis listener and a pool of
the two. It runs `python3 -m pytest tests` with --redis-url pointing at the
primary (`direct`) or at nodown (`nodown`), database 9 as redis-py's CI,
and prints the counts per mode and the tests that fail through nodown but
pass directly. Everything it starts is stopped by PID on exit.

Left out, for want of the infrastructure they need (the same in every mode):
  --ignore  tests/test_cluster.py, tests/test_asyncio/test_cluster.py
            (a Redis Cluster), tests/test_sentinel.py,
            tests/test_asyncio/test_sentinel.py (Sentinels; they mostly mock,
            but are about sentinel discovery, not a proxy), tests/test_ssl.py
            (stunnel with redis-py's keys)
  -m        not onlycluster (cluster-only tests), not redismod (RedisJSON,
            RediSearch, RedisBloom, RedisTimeSeries, RedisGraph modules,
            which Debian does not ship), not replica (they connect to a
            replica on the fixed port 6380), not ssl
  no --uvloop (python3-uvloop is not used); hiredis tests skip themselves
  when python3-hiredis is not installed.
Test modules whose imports fail here (a missing Python package) are found
by a collection pass and ignored, and listed.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PYTHON = "/usr/bin/python3"
REDIS_SERVER = "/usr/bin/redis-server"

IGNORE = ["tests/test_cluster.py", "tests/test_asyncio/test_cluster.py",
          "tests/test_sentinel.py", "tests/test_asyncio/test_sentinel.py",
          "tests/test_ssl.py"]
MARKS = "not onlycluster and not redismod and not replica and not ssl"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port, timeout=1.0):
    """True when something on 127.0.0.1:port answers a RESP PING with +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def command(port, *args, timeout=2.0):
    """One command to 127.0.0.1:port; the raw reply (enough for INFO)."""
    msg = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args))
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(msg)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if data.startswith(b"$"):
                n = int(data[1:data.index(b"\r\n")])
                if n < 0 or len(data) >= data.index(b"\r\n") + 2 + n + 2:
                    break
            elif data.endswith(b"\r\n"):
                break
        return data.decode(errors="replace")


def stop(proc, sig=signal.SIGTERM, timeout=10):
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RedisServer:
    """A redis-server on 127.0.0.1 with no persistence, optionally a replica."""

    def __init__(self, directory, name, replicaof=None):
        self.dir = Path(directory) / f"redis-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        base = [REDIS_SERVER, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--protected-mode", "no",
                "--logfile", str(self.dir / "redis.log"),
                "--repl-diskless-sync-delay", "0"]
        if replicaof:
            base += ["--replicaof", "127.0.0.1", str(replicaof)]
        # 7.0 refuses DEBUG and MODULE by default; older servers refuse the options
        for extra in (["--enable-debug-command", "yes", "--enable-module-command", "yes"], []):
            self.port = free_port()
            self.proc = subprocess.Popen(base + ["--port", str(self.port)] + extra,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            self.extra = extra
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                if ping(self.port):
                    return
                time.sleep(0.05)
            stop(self.proc)
        sys.exit(f"redis-server {name} did not start; see {self.dir}/redis.log")

    def stop(self):
        stop(self.proc)


def start_pair(tmp):
    r1 = RedisServer(tmp, "r1")
    try:
        r2 = RedisServer(tmp, "r2", replicaof=r1.port)
    except SystemExit:
        r1.stop()
        raise
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if "master_link_status:up" in command(r2.port, "INFO", "replication"):
            return r1, r2
        time.sleep(0.1)
    r2.stop()
    r1.stop()
    sys.exit(f"the replica did not link to the primary; see {tmp}/redis-r2/redis.log")


def nodown_config(tmp, r1, r2, port):
    return {
        "workers": 2,
        "admin": {"socket": str(tmp / "nd.sock")},
        "shutdown_timeout": "5s",
        "log": {"access": "off", "error": str(tmp / "nd-error.log")},
        "listeners": [{"name": "cache", "protocol": "redis", "bind": f"127.0.0.1:{port}",
                       "pool": "cache"}],
        "pools": [{"name": "cache", "protocol": "redis",
                   "health": {"interval": "200ms", "timeout": "200ms", "rise": 1, "fall": 2},
                   "backends": [{"name": "r1", "address": f"127.0.0.1:{r1.port}"},
                                {"name": "r2", "address": f"127.0.0.1:{r2.port}"}]}],
    }


def start_nodown(binary, tmp, r1, r2):
    port = free_port()
    path = tmp / "nd.yml"
    path.write_text(json.dumps(nodown_config(tmp, r1, r2, port), indent=1))   # YAML ⊃ JSON
    proc = subprocess.Popen([binary, "serve", "-c", str(path)], stdin=subprocess.DEVNULL,
                            stdout=open(tmp / "nd-stdout.log", "w"), stderr=subprocess.STDOUT)
    # PONG through nodown means it found the primary
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        if ping(port, timeout=2):
            return proc, port
        time.sleep(0.1)
    stop(proc)
    sys.exit(f"nodown did not come up; see {tmp}/nd-error.log and {tmp}/nd-stdout.log")


def prepare_suite(checkout, tmp):
    """Copy tests/ and tox.ini (pytest's config) out of the checkout so that
    `import redis` finds the installed library."""
    suite = tmp / "suite"
    shutil.rmtree(suite, ignore_errors=True)
    suite.mkdir(parents=True)
    shutil.copytree(checkout / "tests", suite / "tests",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(checkout / "tox.ini", suite / "tox.ini")
    return suite


def pytest_cmd(url, extra, ignore):
    cmd = [PYTHON, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE",
           "--redis-url", url, "--redismod-url", url.rsplit("/", 1)[0] + "/0",
           "--redis-unstable-url", url, "-m", MARKS]
    for path in ignore:
        cmd += ["--ignore", path]
    return cmd + ["tests", *extra]


def uncollectable(suite, url, ignore):
    """Test modules that cannot be imported here (a missing package)."""
    cmd = pytest_cmd(url, ["--collect-only"], ignore)
    p = subprocess.run(cmd, cwd=suite, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    bad = sorted(set(re.findall(r"^ERROR collecting (\S+)", p.stdout, re.M)))
    why = {}
    for path in bad:
        m = re.search(r"(ModuleNotFoundError|ImportError): (.*)", p.stdout.split(f"ERROR collecting {path}", 1)[1])
        why[path] = m.group(0) if m else "collection error"
    return why


def run_suite(suite, url, extra, ignore, log_path, timeout):
    cmd = ["timeout", "-k", "10", str(timeout)] + pytest_cmd(url, extra, ignore)
    with open(log_path, "w") as log:
        log.write("$ " + shlex.join(cmd) + "\n")
        log.flush()
        p = subprocess.run(cmd, cwd=suite, stdout=log, stderr=subprocess.STDOUT,
                           env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    text = Path(log_path).read_text(errors="replace")
    counts = {k: 0 for k in ("passed", "failed", "skipped", "deselected", "error",
                             "xfailed", "xpassed")}
    tail = [l for l in text.splitlines()
            if re.search(r"\d+ (passed|failed|errors?|skipped)", l) and " in " in l]
    if tail:
        for n, what in re.findall(r"(\d+) (passed|failed|skipped|deselected|errors?|xfailed|xpassed)",
                                  tail[-1]):
            counts["error" if what.startswith("error") else what] = int(n)
    failing = sorted(set(re.findall(r"^(?:FAILED|ERROR) (\S+)", text, re.M)))
    status = "timed out" if p.returncode in (124, 137) else f"exit {p.returncode}"
    if not tail:
        status += ", no summary"
    return status, counts, failing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout")
    ap.add_argument("--modes", default="direct,nodown")
    ap.add_argument("--pytest-args", default="", help="more pytest arguments, e.g. '-x -k pubsub'")
    ap.add_argument("--nodown", default=str(REPO / "build" / "nodown"))
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per pytest run")
    ap.add_argument("--db", type=int, default=9)
    ap.add_argument("--keep", help="keep logs in this directory")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))   # clean up below
    checkout = Path(a.checkout).resolve()
    if not (checkout / "tests" / "conftest.py").exists() or not (checkout / "tox.ini").exists():
        sys.exit(f"{checkout} has no tests/conftest.py or tox.ini: give a checkout of redis-py")
    if not os.access(REDIS_SERVER, os.X_OK):
        sys.exit(f"{REDIS_SERVER} is missing: apt-get install redis-server")
    modes = a.modes.split(",")
    if "nodown" in modes and not os.access(a.nodown, os.X_OK):
        sys.exit(f"{a.nodown} is missing: make")
    lib = subprocess.run([PYTHON, "-c", "import redis, pytest_asyncio; print(redis.__version__, "
                          "redis.__file__)"], capture_output=True, text=True, cwd="/")
    if lib.returncode:
        sys.exit("needs python3-redis and python3-pytest-asyncio:\n" + lib.stderr)
    tmp = Path(a.keep or tempfile.mkdtemp(prefix="nodown-redis-py."))
    tmp.mkdir(parents=True, exist_ok=True)
    suite = prepare_suite(checkout, tmp)
    redis_version = subprocess.run([REDIS_SERVER, "--version"], capture_output=True,
                                   text=True).stdout.strip()
    print(f"redis-py {lib.stdout.strip()}\n{redis_version}\nsuite from {checkout}", flush=True)
    ignore = list(IGNORE)
    extra = shlex.split(a.pytest_args)
    results, unimportable = {}, None
    for mode in modes:
        if mode not in ("direct", "nodown"):
            sys.exit(f"unknown mode {mode}: direct or nodown")
        mdir = tmp / mode
        shutil.rmtree(mdir, ignore_errors=True)
        mdir.mkdir()
        started = []
        try:
            r1, r2 = start_pair(mdir)
            started += [r2, r1]
            if mode == "direct":
                port = r1.port
            else:
                nd, port = start_nodown(a.nodown, mdir, r1, r2)
                started.insert(0, nd)
            url = f"redis://127.0.0.1:{port}/{a.db}"
            if unimportable is None:
                unimportable = uncollectable(suite, url, ignore)
                for path, why in unimportable.items():
                    print(f"ignored (cannot import): {path}: {why}", flush=True)
                ignore += list(unimportable)
            print(f"{mode}: primary 127.0.0.1:{r1.port}, replica 127.0.0.1:{r2.port}"
                  + (f", nodown 127.0.0.1:{port}" if mode != "direct" else "")
                  + ("" if r1.extra else " (no --enable-debug-command)"), flush=True)
            t0 = time.monotonic()
            status, counts, failing = run_suite(suite, url, extra, ignore, tmp / f"pytest-{mode}.log",
                                                a.timeout)
            results[mode] = (counts, failing, time.monotonic() - t0)
            print(f"{mode:8s} " + "  ".join(f"{k} {v}" for k, v in counts.items()) +
                  f"  ({results[mode][2]:.0f}s, {status}, log {tmp}/pytest-{mode}.log)", flush=True)
        finally:
            for p in started:
                p.stop() if isinstance(p, RedisServer) else stop(p)
    direct = set(results.get("direct", ({}, [], 0))[1])
    for mode, (counts, failing, _) in results.items():
        if mode == "direct":
            continue
        if "direct" not in results:
            print(f"\n{mode}: {len(failing)} fail (no direct run to compare with):")
            for t in failing:
                print(f"  {t}")
            continue
        only = [t for t in failing if t not in direct]
        print(f"\n{mode}: {len(only)} fail through nodown but not directly:")
        for t in only:
            print(f"  {t}")
        fixed = [t for t in sorted(direct) if t not in failing]
        if fixed:
            print(f"{mode}: {len(fixed)} fail directly but not through nodown:")
            for t in fixed:
                print(f"  {t}")
    print(f"\nlogs in {tmp}")


if __name__ == "__main__":
    main()
