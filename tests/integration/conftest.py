"""
Fixtures for nodown's integration tests: real nginx backends, small Python
backends (helpers/backends.py) and a nodown daemon, all on 127.0.0.1 on
ports chosen at run time.

    nginx(name, ...)        start an nginx backend          -> Nginx
    pybackend(mode, ...)    start a helpers/backends.py one -> PyBackend
    nodown(config, ...)     start `nodown serve`            -> Nodown
    proxy_config(...)       a config dict for nodown()
    pg_cluster              PostgreSQL primary + streaming standby, fresh
                            for each test (helpers/pgcluster.py) -> PgCluster
    pg_cluster_ro           one such cluster shared by the session, for
                            tests that neither write nor change roles

Every process started here is stopped by its own PID at teardown. A nodown
must exit 0 after SIGTERM unless the test said otherwise (expect_exit=).
"""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from helpers import pgcluster
from helpers.pgcluster import PgCluster, PgError  # noqa: F401 (for the tests)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
NODOWN_BIN = os.environ.get("NODOWN_BIN") or str(REPO / "build" / "nodown")
NGINX_BIN = "/usr/sbin/nginx"
ECHO_MODULE = "/usr/lib/nginx/modules/ngx_http_echo_module.so"
PYTHON = "/usr/bin/python3"
# `make test SANITIZE=1`: ASan's allocator keeps freed memory (quarantine)
# and adds shadow memory, so resident-memory bounds are checked only in a
# normal build (the behaviour around them is checked in both).
SANITIZED = os.environ.get("NODOWN_SANITIZED") == "1"

MiB = 1 << 20


# ---- small utilities ------------------------------------------------------

# The minimal config, with files and ports to fill in:
# MINIMAL_CONFIG.format(tmp=DIR, port=LISTEN, be1=PORT, be2=PORT).
MINIMAL_CONFIG = """\
workers: 2
admin:
  socket: {tmp}/nodown.sock
log:
  access: {tmp}/access.log
  error: {tmp}/error.log
listeners:
  - name: web
    protocol: http
    bind: 127.0.0.1:{port}
    pool: app
pools:
  - name: app
    protocol: http
    balance: round_robin
    backends:
      - name: ap1
        address: 127.0.0.1:{be1}
      - name: ap2
        address: 127.0.0.1:{be2}
        weight: 2
"""


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(port, proc=None, timeout=10.0, what="server"):
    """Wait until 127.0.0.1:port accepts; fail early if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        if port_accepts(port):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s")


def wait_for(cond, timeout=3.0, step=0.02):
    """Poll cond() until true or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """Signal proc (by PID), wait up to timeout, then SIGKILL. Returns rc."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
            return None
    return proc.returncode


# ---- raw HTTP over a socket -------------------------------------------------

def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_until_close(sock, timeout=5.0, limit=64 * MiB):
    """Read until the peer closes. Raises socket.timeout if it does not."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    out = bytearray()
    while True:
        if time.monotonic() > deadline:
            raise socket.timeout("peer did not close the connection within %.1fs" % timeout)
        try:
            b = sock.recv(65536)
        except ConnectionResetError:
            break
        if not b:
            break
        out += b
        if len(out) > limit:
            raise AssertionError("too much data")
    return bytes(out)


def raw_exchange(port, data, timeout=5.0):
    """Send data on a new connection, return everything read until close."""
    with connect(port, timeout) as s:
        s.sendall(data)
        return recv_until_close(s, timeout)


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value), as received
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} body={len(self.body)}B>"


class HTTPReader:
    """Reads HTTP/1.x responses one by one from a socket (pipelining-aware)."""

    def __init__(self, sock, timeout=5.0):
        self.sock = sock
        self.buf = bytearray()
        self.timeout = timeout
        self.eof = False
        sock.settimeout(timeout)

    def _fill(self):
        if self.eof:
            raise EOFError("connection closed")
        b = self.sock.recv(65536)
        if not b:
            self.eof = True
            raise EOFError("connection closed")
        self.buf += b

    def _read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            self._fill()

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_head(self):
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            self._fill()
        raw = bytes(self.buf[:i + 4])
        del self.buf[:i + 4]
        lines = raw[:-4].split(b"\r\n")
        version, _, rest = lines[0].decode("latin-1").partition(" ")
        code, _, reason = rest.partition(" ")
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.decode("latin-1").partition(":")
            headers.append((k, v.strip()))
        return version, int(code), reason, headers, raw

    def read_response(self, method="GET", allow_interim=False):
        """One response. Interim 1xx responses are skipped unless asked."""
        while True:
            version, status, reason, headers, raw = self.read_head()
            r = Response(version, status, reason, headers, b"", raw)
            if 100 <= status < 200 and status != 101 and not allow_interim:
                continue
            break
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return r
        te = (r.header("transfer-encoding") or "").lower()
        cl = r.header("content-length")
        if "chunked" in te:
            body = bytearray()
            while True:
                size = int(self._read_line().split(b";")[0], 16)
                if size == 0:
                    while self._read_line():
                        pass
                    break
                body += self._read_exact(size)
                assert self._read_exact(2) == b"\r\n"
            r.body = bytes(body)
        elif cl is not None:
            r.body = self._read_exact(int(cl))
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            r.body = bytes(self.buf)
            self.buf.clear()
        return r

    def at_eof(self, timeout=3.0):
        """True if the peer closes (with no further bytes) within timeout."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            b = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        finally:
            self.sock.settimeout(self.timeout)
        if b:
            self.buf += b
            return False
        self.eof = True
        return True


def parse_one(data, method="GET"):
    """Parse a response from bytes (as read until close)."""

    class _Fake:
        def __init__(self, d):
            self.d = d

        def settimeout(self, t):
            pass

        def recv(self, n):
            out, self.d = self.d[:n], self.d[n:]
            return out

    return HTTPReader(_Fake(data)).read_response(method)


def http_get(port, path, headers=None, timeout=5.0, method="GET", body=None):
    """One request on a new connection with Connection: close."""
    h = {"Host": "test", "Connection": "close"}
    h.update(headers or {})
    if body is not None:
        h["Content-Length"] = str(len(body))
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    with connect(port, timeout) as s:
        s.sendall(req.encode("latin-1") + (body or b""))
        return HTTPReader(s, timeout).read_response(method)


# ---- static content shared by all nginx backends ---------------------------

@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("static")
    rnd = os.urandom(10 * MiB)
    files = {
        "big.bin": rnd,
        "two.bin": rnd[:2 * MiB],
        "one.bin": b"Z",
        "empty.txt": b"",
        "small.txt": b"hello from nginx\n" * 10,
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    os.chmod(root, 0o755)
    return root, files


# ---- nginx ------------------------------------------------------------------

NGINX_CONF = """\
load_module {echo_module};
{user}
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format nd '$connection $connection_requests "$request" $status $request_length $body_bytes_sent';
    access_log {dir}/access.log nd;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 0;
    client_body_buffer_size 16m;
    keepalive_requests {keepalive_requests};
    keepalive_timeout {keepalive_timeout};
    default_type application/octet-stream;
    {http_extra}
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        root {root};
        add_header X-Backend {name} always;
        location /echo {{ echo_read_request_body; echo_request_body; }}
        location = /whoami {{ return 200 "{name}\\n"; }}
        location = /nocontent {{ return 204; }}
        location = /headers {{
            echo "xff=$http_x_forwarded_for";
            echo "xfp=$http_x_forwarded_proto";
            echo "via=$http_via";
            echo "secret=$http_x_secret";
            echo "other=$http_x_other";
            echo "connection=$http_connection";
            echo "keepalive=$http_keep_alive";
            echo "proxyconn=$http_proxy_connection";
            echo "te=$http_te";
            echo "host=$http_host";
            echo "end";
        }}
        location /limited/ {{
            alias {root}/;
            limit_rate {limit_rate};
        }}
        {locations}
    }}
}}
"""


class Nginx:
    def __init__(self, directory, name, root, port=None, locations="", http_extra="",
                 limit_rate="1m", keepalive_requests=100000, keepalive_timeout="60s"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = port or free_port()
        self.access_log = self.dir / "access.log"
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(NGINX_CONF.format(
            echo_module=ECHO_MODULE,
            user="user root;" if os.geteuid() == 0 else "",
            dir=self.dir, port=self.port, root=root, name=name,
            locations=locations, http_extra=http_extra, limit_rate=limit_rate,
            keepalive_requests=keepalive_requests, keepalive_timeout=keepalive_timeout))
        self.stderr = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [NGINX_BIN, "-c", str(self.conf), "-p", str(self.dir), "-e", str(self.dir / "error.log")],
            stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=self.stderr)
        wait_port(self.port, self.proc, what=f"nginx {name}")

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def access_lines(self):
        if not self.access_log.exists():
            return []
        return [l for l in self.access_log.read_text().splitlines() if l.strip()]

    def lines(self, n=0, timeout=3.0, settle=0.1):
        """Access-log lines once there are at least n (nginx logs a request
        just after sending its response), after `settle` more seconds."""
        wait_for(lambda: len(self.access_lines()) >= n, timeout)
        time.sleep(settle)
        return self.access_lines()

    def requests_seen(self, n=0):
        """[(connection, connection_requests, request_line, status)], at least n."""
        out = []
        for l in self.lines(n):
            conn, creq, rest = l.split(" ", 2)
            req = rest.split('"')[1]
            status = int(rest.split('"')[2].split()[0])
            out.append((int(conn), int(creq), req, status))
        return out

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT, timeout=5)
        self.stderr.close()


@pytest.fixture
def nginx(tmp_path, static_root):
    started = []

    def start(name="b1", **kw):
        ng = Nginx(tmp_path / f"nginx-{name}", name, static_root[0], **kw)
        started.append(ng)
        return ng

    yield start
    for ng in started:
        ng.stop()


# ---- Python helper backends -------------------------------------------------

class PyBackend:
    def __init__(self, directory, mode, args=(), port=None):
        self.port = port or free_port()
        self.log = open(Path(directory) / f"py-{mode}-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [PYTHON, str(HERE / "helpers" / "backends.py"), mode, str(self.port), *map(str, args)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        wait_port(self.port, self.proc, what=f"python backend {mode}")

    def stop(self):
        stop_process(self.proc, signal.SIGTERM, timeout=5)
        self.log.close()


@pytest.fixture
def pybackend(tmp_path):
    started = []

    def start(mode, *args, **kw):
        b = PyBackend(tmp_path, mode, args, **kw)
        started.append(b)
        return b

    yield start
    for b in started:
        b.stop()


# ---- nodown -----------------------------------------------------------------

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))


def to_yaml(obj, indent=0):
    """Block-style YAML for the dicts/lists/scalars of a nodown config."""
    pad = "  " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_yaml_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)):
                sub = to_yaml(item, indent + 1).split("\n")
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        lines.append(pad + _yaml_scalar(obj))
    return "\n".join(lines)


def proxy_config(tmp_path, backends, *, port=None, workers=1, listener=None, pool=None,
                 top=None, pool_name="app"):
    """A nodown config: one listener 'web' -> pool `pool_name` with backends.

    backends: list of Nginx/PyBackend objects, ports, or (name, port[, weight]).
    """
    bes = []
    for i, b in enumerate(backends):
        if isinstance(b, tuple):
            name, p, *w = b
            be = {"name": name, "address": f"127.0.0.1:{p}"}
            if w:
                be["weight"] = w[0]
        elif isinstance(b, int):
            be = {"name": f"b{i + 1}", "address": f"127.0.0.1:{b}"}
        else:
            be = {"name": getattr(b, "name", f"b{i + 1}"), "address": f"127.0.0.1:{b.port}"}
        bes.append(be)
    cfg = {
        "workers": workers,
        "admin": {"socket": str(tmp_path / "nodown-admin.sock")},
        "shutdown_timeout": "10s",
        # a stop waits this long even with no client; keep the suite quick
        "shutdown_idle_grace": "200ms",
        "log": {"access": str(tmp_path / "nodown-access.log"),
                "error": str(tmp_path / "nodown-error.log")},
        "listeners": [dict({"name": "web", "protocol": "http",
                            "bind": f"127.0.0.1:{port or free_port()}", "pool": pool_name},
                           **(listener or {}))],
        "pools": [dict({"name": pool_name, "protocol": "http", "balance": "round_robin",
                        "backends": bes}, **(pool or {}))],
    }
    cfg.update(top or {})
    return cfg


class Nodown:
    def __init__(self, directory, config, expect_exit=0, wait=True, name="nodown", port=None,
                 nofile=None):
        self.dir = Path(directory)
        self.config = self.dir / f"{name}.yml"
        if isinstance(config, dict):
            self.cfg = config
            text = to_yaml(config) + "\n"
        else:
            self.cfg = None
            text = config
        self.config.write_text(text)
        self.expect_exit = expect_exit
        self.port = port
        self.access_path = self.error_path = None
        if not self.cfg:
            m = re.search(r"^\s*bind:\s*\"?[^\s\"]*:(\d+)", text, re.M)
            if m and self.port is None:
                self.port = int(m.group(1))
            m = re.search(r"^\s*access:\s*(\S+)", text, re.M)
            self.access_path = Path(m.group(1)) if m else None
            m = re.search(r"^\s*error:\s*(\S+)", text, re.M)
            self.error_path = Path(m.group(1)) if m else None
        else:
            self.port = int(self.cfg["listeners"][0]["bind"].rsplit(":", 1)[1])
            log = self.cfg.get("log", {})
            self.access_path = Path(log["access"]) if "access" in log else None
            self.error_path = Path(log["error"]) if "error" in log else None
        self.stdout_path = self.dir / f"{name}.stdout"
        self.stderr_path = self.dir / f"{name}.stderr"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        limit = None
        if nofile:      # a descriptor limit for this nodown alone (soft = hard)
            import resource
            limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))  # noqa: E731
        self.proc = subprocess.Popen([NODOWN_BIN, "serve", "-c", str(self.config)],
                                     stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
                                     preexec_fn=limit)
        self.pid = self.proc.pid
        if wait and self.port:
            try:
                wait_port(self.port, self.proc, what="nodown")
            except RuntimeError:
                self.proc.poll()
                raise RuntimeError(f"nodown did not start: {self.stderr()} {self.error_log()}")
            # The readiness probe was a connection: wait until nodown has
            # seen it close, so no test counts it among its own.
            if self.cfg and self.cfg.get("admin", {}).get("socket"):
                wait_for(lambda: all(l["active"] == 0 for l in admin_json(self)["listeners"]), 5)

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def access_log_lines(self):
        if not self.access_path or not self.access_path.exists():
            return []
        return [l for l in self.access_path.read_text().splitlines() if l.strip()]

    def error_log(self):
        if not self.error_path or not self.error_path.exists():
            return ""
        return self.error_path.read_text()

    def stderr(self):
        if not self._err.closed:
            self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Signal by PID, wait up to timeout (then SIGKILL). Returns rc or None if killed."""
        return stop_process(self.proc, sig, timeout)

    def close_files(self):
        self._out.close()
        self._err.close()


@pytest.fixture
def nodown(tmp_path):
    """nodown(config, expect_exit=0, wait=True, nofile=None) -> Nodown.

    At teardown each is sent SIGTERM; it must exit within 10 s with
    expect_exit (0 by default; None: do not check)."""
    started = []

    def start(config, **kw):
        nd = Nodown(tmp_path, config, name=f"nodown{len(started) or ''}", **kw)
        started.append(nd)
        return nd

    yield start
    problems = []
    for nd in started:
        already = nd.proc.poll() is not None
        t0 = time.monotonic()
        rc = nd.stop()
        took = time.monotonic() - t0
        nd.close_files()
        if nd.expect_exit is None:
            continue
        if rc is None:
            problems.append(f"nodown pid {nd.pid} did not exit within 10s of SIGTERM (killed)")
        elif rc != nd.expect_exit:
            problems.append(f"nodown pid {nd.pid} exited {rc} (expected {nd.expect_exit})"
                            f"{' before teardown' if already else f' {took:.1f}s after SIGTERM'}; "
                            f"stderr: {nd.stderr()[-2000:]} error log: {nd.error_log()[-2000:]}")
    assert not problems, "; ".join(problems)


@pytest.fixture
def cfg(tmp_path):
    """cfg(backends, **kw) -> config dict (see proxy_config)."""
    def make(backends, **kw):
        return proxy_config(tmp_path, backends, **kw)
    return make


def admin_json(nd, path="/status", method="GET", timeout=5):
    """The JSON answer of the admin API of nd (its Unix socket) to path."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(nd.cfg["admin"]["socket"])
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    finally:
        s.close()
    return json.loads(out.partition(b"\r\n\r\n")[2])


def backend_status(nd, name, pool=0):
    """The status document of backend `name` of the pool at index pool."""
    return next(b for b in admin_json(nd)["pools"][pool]["backends"] if b["name"] == name)


def run_cli(*args, timeout=10):
    return subprocess.run([NODOWN_BIN, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


# ---- PostgreSQL ---------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_template():
    """initdb once per session; every cluster copies this data directory."""
    why = pgcluster.unavailable()
    if why:
        pytest.skip(f"PostgreSQL cannot run here: {why}")
    d = tempfile.mkdtemp(prefix="nodown-pgtmpl.", dir=pgcluster.TMP_PARENT)
    try:
        yield pgcluster.make_template(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _pg_cluster(template, logs):
    c = PgCluster(template)
    try:
        c.start()
        yield c
    finally:
        c.save_logs(logs)
        c.close()


@pytest.fixture
def pg_cluster(pg_template, tmp_path):
    """A running primary (pg_cluster.primary) and streaming standby
    (pg_cluster.standby) of its own: a test may promote, stop or kill them.
    Their server logs are copied to tmp_path/pg-logs at teardown."""
    yield from _pg_cluster(pg_template, tmp_path / "pg-logs")


@pytest.fixture(scope="session")
def pg_cluster_ro(pg_template, tmp_path_factory):
    """One primary + standby for the whole session: read it, never change
    its roles or stop its nodes (use pg_cluster for that)."""
    yield from _pg_cluster(pg_template, tmp_path_factory.mktemp("pg-ro-logs"))


# ---- Redis --------------------------------------------------------------------

REDIS_BIN = "/usr/bin/redis-server"


class Redis:
    """A redis-server on 127.0.0.1 (no persistence), optionally a replica
    of another: Redis(dir, name, replicaof=port, password=...)."""

    def __init__(self, directory, name, replicaof=None, password=None, extra=()):
        self.dir = Path(directory) / f"redis-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.port = free_port()
        self.password = password
        args = [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.dir), "--protected-mode", "no",
                "--logfile", str(self.dir / "redis.log"),
                "--repl-diskless-sync-delay", "0", "--shutdown-timeout", "0"]
        if password:
            args += ["--requirepass", password, "--masterauth", password]
        if replicaof:
            args += ["--replicaof", "127.0.0.1", str(replicaof)]
        self.proc = subprocess.Popen(args + list(extra), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc, what=f"redis {name}")

    def client(self, **kw):
        import redis
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password,
                           socket_timeout=5, **kw)

    def stop(self):
        stop_process(self.proc, signal.SIGTERM, timeout=5)


@pytest.fixture
def redis_pair(tmp_path):
    """A redis primary (r1) and its replica (r2), linked: -> (r1, r2)."""
    if not os.path.exists(REDIS_BIN):
        pytest.skip("redis-server is not installed")
    started = [Redis(tmp_path, "r1")]
    try:
        started.append(Redis(tmp_path, "r2", replicaof=started[0].port))
        r1, r2 = started[0].client(), started[1].client()
        assert wait_for(lambda: r2.info("replication").get("master_link_status") == "up", 10)
        # and streaming: after a diskless sync the primary sends writes to
        # the replica only once the replica's first ACK came (up to a
        # second later)
        r1.set("nodown-test-fixture", "1")
        assert wait_for(lambda: r2.get("nodown-test-fixture") == b"1", 10)
        r1.delete("nodown-test-fixture")
        assert wait_for(lambda: r2.get("nodown-test-fixture") is None, 10)
        for c in (r1, r2):      # no client of the fixture's left on the servers
            c.connection_pool.disconnect()
        yield started[0], started[1]
    finally:
        for r in reversed(started):
            r.stop()
