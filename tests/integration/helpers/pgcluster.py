"""
pgcluster.py - a real PostgreSQL primary and streaming standby on 127.0.0.1,
for the integration tests (conftest.py's pg_cluster fixtures) and bench/pg.sh.

    tmpl = make_template(DIR)         initdb once: roles, database, settings
    c = PgCluster(tmpl)               a new cluster in its own directory
    c.start()                         copy tmpl -> pg1 (primary), start it,
                                      pg_basebackup -R -X stream -> pg2 (standby)
    c.primary, c.standby              their ports (the roles at start)
    c.dsn(c.primary, "app", "app")    libpq DSN over TCP, SCRAM, password
    c.psql(port, sql)                 run SQL as postgres over the Unix socket
    c.wait_streaming()                the standby streams from the primary
    c.lsn(port) / c.wait_replay(port, lsn)
    c.promote(port)                   pg_ctl promote, waits until promoted
    c.shell_command(port, "promote")  the same as a shell line (fence/promote_command)
    c.stop(port, mode) / c.kill9(port) / c.start_node(port)
    c.rejoin(port, primary)           pg_rewind an old primary, start it as
                                      a standby of `primary`
    c.is_in_recovery(port) / c.current_primary() / c.running(port)
    c.port_of("pg1"), c.node(port)    names <-> ports; Node: data dir, log, pid
    c.auth_file, c.passwords          userlist.txt: "user" "plain password"
    c.timings                         seconds per step of the last start()
    c.save_logs(dir) / c.close()      copy the server logs; stop every
                                      postmaster it started, by PID

Servers: Debian's PostgreSQL 15 from PG_BIN, never whatever is on PATH.
PostgreSQL refuses to run as root, so when we are root every server binary
(initdb, pg_ctl, pg_basebackup, pg_rewind) runs as the `postgres` user via
`runuser -u postgres --`, in directories chowned to it; clients (psql,
psycopg, pgbench) run as whoever we are. Each cluster lives in a short
nodown-pg.XXXXXX directory (a Unix socket path must stay under 108 bytes,
which pytest's tmp_path does not promise) in TMP_PARENT ($NODOWN_PG_TMP,
else /dev/shm, else /tmp) that holds the data directories, the server
logs and the Unix sockets; the servers listen on free 127.0.0.1 ports only.

Auth: TCP from 127.0.0.1 uses scram-sha-256 (what the proxy and clients
face: PASSWORDS below, also written to auth_file); the Unix socket, in a
directory only the postgres user (and root) can enter, is `trust` for the
harness itself and for replication.

Settings favour test speed (fsync=off, no data checksums) but keep
what a switchover needs: wal_level=replica, hot_standby, wal_log_hints and
full_page_writes (so pg_rewind can turn an old primary into a standby).

Run as a script for shell users (bench/pg.sh):
    pgcluster.py up DIR       template + cluster under DIR; prints shell
                              assignments (PG1_PORT=... PG_AUTH_FILE=...)
    pgcluster.py rejoin DIR NODE PRIMARY
                              pg_rewind node NODE (pg1, pg2) into a standby
                              of PRIMARY and start it
    pgcluster.py down DIR [keep]
                              stop what `up` started (state in DIR/cluster.json);
                              keep: leave the data directories and logs
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("NODOWN_PG_BIN", "/usr/lib/postgresql/15/bin"))
SERVER_USER = "postgres"            # OS user the servers run as when we are root
RUNUSER = "/usr/sbin/runuser"
PASSWORDS = {"postgres": "postgres-secret", "app": "app-secret"}


def _tmp_parent():
    # tmpfs when there is one: copying a 46 MB data directory takes ~0.1 s
    # there and 0.3-1.2 s on this machine's ext4 (mounted with discard).
    for d in (os.environ.get("NODOWN_PG_TMP"), "/dev/shm", "/tmp"):
        if d and os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
            return d
    return tempfile.gettempdir()


TMP_PARENT = _tmp_parent()          # where clusters and templates go by default
DEFAULT_DB = {"postgres": "postgres", "app": "app"}

SETTINGS = """
# ---- nodown test settings (tests/integration/helpers/pgcluster.py) ----
listen_addresses = '127.0.0.1'
max_connections = 100
password_encryption = scram-sha-256
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
wal_keep_size = 512MB               # a rejoining old primary finds its WAL
hot_standby = on
wal_log_hints = on                  # pg_rewind needs one of these two...
full_page_writes = on               # ...and this
wal_receiver_status_interval = 1s
wal_retrieve_retry_interval = 250ms # a standby reconnects to a restarted
                                    # primary in 0.25 s, not 5 s
fsync = off                         # test data: speed over durability, but
                                    # synchronous_commit stays on: a kill -9
                                    # of the postmaster must not lose an
                                    # acknowledged commit (that would look
                                    # like a proxy bug); without fsync it
                                    # costs one write() per commit
logging_collector = off
log_line_prefix = '%m [%p] %q%a %u@%d '
log_min_messages = warning
include_if_exists = 'node.conf'     # port, socket dir, cluster_name: per node
"""

HBA = """\
# nodown tests: the harness over the private Unix socket, everyone else
# over TCP with a SCRAM password.
local   all             all                     trust
local   replication     all                     trust
host    all             all     127.0.0.1/32    scram-sha-256
host    replication     all     127.0.0.1/32    scram-sha-256
"""


class PgError(RuntimeError):
    pass


def as_root():
    return os.geteuid() == 0


def unavailable():
    """Why PostgreSQL clusters cannot be run here, or None if they can."""
    for b in ("initdb", "pg_ctl", "postgres", "pg_basebackup", "pg_rewind", "psql"):
        if not os.access(PG_BIN / b, os.X_OK):
            return f"{PG_BIN / b} not found (Debian packages postgresql postgresql-contrib; scripts/deps test)"
    if as_root():
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root but there is no '{SERVER_USER}' user to run PostgreSQL as"
        if not os.access(RUNUSER, os.X_OK):
            return f"running as root but {RUNUSER} is missing"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lsn_int(text):
    """'16/B374D848' -> int, for comparing LSNs."""
    hi, lo = text.strip().split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def lsn_text(n):
    return f"{n >> 32:X}/{n & 0xFFFFFFFF:X}"


def _clean_env():
    """Our environment without libpq's PG* variables (PGHOST and friends
    would redirect every client and tool)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _server_cmd(args):
    args = [str(a) for a in args]
    return [RUNUSER, "-u", SERVER_USER, "--", *args] if as_root() else args


def _own(path, recursive=False):
    """Give path to the server user when we are root (no-op otherwise)."""
    if not as_root():
        return
    pw = pwd.getpwnam(SERVER_USER)
    os.chown(path, pw.pw_uid, pw.pw_gid)
    if recursive:
        for root, dirs, files in os.walk(path):
            for n in dirs + files:
                os.chown(os.path.join(root, n), pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def _run(args, what, timeout=60, cwd=None, server=True, input=None):
    cmd = _server_cmd(args) if server else [str(a) for a in args]
    try:
        r = subprocess.run(cmd, cwd=cwd, env=_clean_env(), input=input, capture_output=True,
                           text=True, timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise PgError(f"{what}: timed out after {timeout}s: {' '.join(cmd)}\n{e.stdout or ''}{e.stderr or ''}")
    if r.returncode != 0:
        raise PgError(f"{what} failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return r.stdout


# ---- processes --------------------------------------------------------------

def _proc_state(pid):
    """The /proc state letter of pid, or None if there is no such process.
    PID 1 here may not reap orphans, so a dead postmaster can linger as a
    zombie ('Z'): callers treat that as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _alive(pid):
    return _proc_state(pid) not in (None, "Z")


def _children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid:
            kids.append(int(d))
    return kids


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _kill_tree(pid):
    """SIGKILL a postmaster and its children (found before it dies, since
    they are reparented after). Waits up to 5 s for all to be gone."""
    victims = [pid] + _children(pid)
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in victims) and time.monotonic() < deadline:
        time.sleep(0.01)


def _kill_leftover(data):
    """SIGKILL the postmaster of data (and its children) if one still runs."""
    try:
        pid = int((Path(data) / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return
    if _alive(pid) and str(data) in _cmdline(pid):
        _kill_tree(pid)


# ---- template ---------------------------------------------------------------

def make_template(directory):
    """initdb a cluster into DIRECTORY/data with the roles, database and
    settings every test cluster starts from, and shut it down cleanly.
    Returns the data directory; PgCluster copies it (cp -a), which takes a
    fraction of initdb's time."""
    base = Path(directory)
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    _own(base)
    data = base / "data"
    pwfile = base / "pwfile"
    pwfile.write_text(PASSWORDS["postgres"] + "\n")
    os.chmod(pwfile, 0o600)
    _own(pwfile)
    _run([PG_BIN / "initdb", "-D", data, "-U", "postgres", f"--pwfile={pwfile}",
          "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C",
          "--no-sync"], "initdb", timeout=120, cwd=base)
    pwfile.unlink()
    with open(data / "postgresql.conf", "a") as f:
        f.write(SETTINGS)
    (data / "pg_hba.conf").write_text(HBA)
    _own(data / "pg_hba.conf")
    port = free_port()
    _write_node_conf(data, port, base, "template")
    log = base / "template.log"
    ok = False
    try:
        _run([PG_BIN / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "start"],
             "start the template", timeout=90, cwd=base)
        _run([PG_BIN / "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", base, "-p", port,
              "-U", "postgres", "-d", "postgres",
              "-c", f"CREATE ROLE app LOGIN PASSWORD '{PASSWORDS['app']}'",
              "-c", "CREATE DATABASE app OWNER app"], "create role app", server=False)
        ok = True
    finally:
        try:
            _run([PG_BIN / "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop"],
                 "stop the template", timeout=90, cwd=base)
        except PgError:
            if ok:
                raise
        finally:
            _kill_leftover(data)
    (data / "node.conf").unlink()
    return data


def _write_node_conf(data, port, sockdir, name):
    p = Path(data) / "node.conf"
    p.write_text(f"port = {port}\n"
                 f"unix_socket_directories = '{sockdir}'\n"
                 f"cluster_name = '{name}'\n")
    _own(p)


# ---- cluster ----------------------------------------------------------------

class Node:
    def __init__(self, name, port, data, log):
        self.name = name            # pg1, pg2: also cluster_name / application_name
        self.port = port
        self.data = data            # data directory
        self.log = log              # server log (pg_ctl -l)
        self.pid = None             # postmaster PID while we believe it runs

    def __repr__(self):
        return f"<Node {self.name} :{self.port} pid={self.pid}>"


class PgCluster:
    """A primary (pg1) and a streaming standby (pg2), see the module comment.

    Nodes are addressed by port. `primary` and `standby` are the ports of the
    roles at start(); after promote() ask is_in_recovery() / current_primary().
    Every method raises PgError (with the tool's output) on failure."""

    def __init__(self, template, parent=None, base=None, keep=False):
        self.template = Path(template)
        if base is None:
            base = tempfile.mkdtemp(prefix="nodown-pg.", dir=parent or TMP_PARENT)
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        os.chmod(self.base, 0o700)
        _own(self.base)
        self.keep = keep
        self.nodes = {}             # port -> Node
        self.primary = self.standby = None
        self.auth_file = self.base / "userlist.txt"
        self.passwords = dict(PASSWORDS)
        self.timings = {}           # step -> seconds, of the last start()

    # -- lifecycle --

    def _add(self, name):
        port = free_port()
        n = Node(name, port, self.base / name, self.base / f"{name}.log")
        self.nodes[port] = n
        return n

    def start(self):
        """Primary from the template, standby by pg_basebackup; both running
        and streaming when this returns."""
        t = time.monotonic()
        t0 = t

        def lap(step):
            nonlocal t
            now = time.monotonic()
            self.timings[step] = now - t
            t = now

        p = self._add("pg1")
        _run(["cp", "-a", self.template, p.data], "copy the template", server=False)
        _write_node_conf(p.data, p.port, self.base, p.name)
        lap("copy")
        self._pg_ctl_start(p)
        self.primary = p.port
        lap("start primary")
        s = self._add("pg2")
        _run([PG_BIN / "pg_basebackup", "-D", s.data, "-R", "-X", "stream", "-c", "fast",
              "--no-sync", "-h", self.base, "-p", p.port, "-U", "postgres"],
             "pg_basebackup", timeout=120, cwd=self.base)
        _write_node_conf(s.data, s.port, self.base, s.name)
        lap("basebackup")
        self._pg_ctl_start(s)
        self.standby = s.port
        lap("start standby")
        self.wait_streaming(s.port, p.port)
        lap("streaming")
        self.write_auth_file()
        self.timings["total"] = time.monotonic() - t0
        return self

    def write_auth_file(self, path=None):
        """PgBouncer's userlist.txt format with plain passwords (a proxy
        needs the plain secret to log into a server with SCRAM)."""
        path = Path(path or self.auth_file)
        path.write_text("".join(f'"{u}" "{pw}"\n' for u, pw in self.passwords.items()))
        os.chmod(path, 0o600)
        _own(path)
        return path

    def close(self):
        """Stop every postmaster this object started (immediate shutdown,
        then SIGKILL to it and its children), then remove the directory
        unless keep. Safe to call twice and after a failed start()."""
        errors = []
        for n in self.nodes.values():
            try:
                self._ensure_stopped(n)
            except Exception as e:   # keep going: every node must be stopped
                errors.append(f"{n.name}: {e}")
        if not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)
        if errors:
            raise PgError("; ".join(errors))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def save_logs(self, dest):
        """Copy the server logs to dest (a test's tmp_path) for post-mortems."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        for n in self.nodes.values():
            if n.log.exists():
                shutil.copy(n.log, dest / n.log.name)

    # -- node control --

    def port_of(self, name):
        """The port of node `name` (pg1, pg2)."""
        for n in self.nodes.values():
            if n.name == name:
                return n.port
        raise PgError(f"no node named {name}")

    def node(self, port):
        try:
            return self.nodes[port]
        except KeyError:
            raise PgError(f"no node on port {port} (have {sorted(self.nodes)})") from None

    def _read_pid(self, n):
        try:
            return int((n.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def _ours(self, n, pid):
        """pid is alive and is the postmaster of n (not a reused PID)."""
        return pid is not None and _alive(pid) and str(n.data) in _cmdline(pid)

    def _pg_ctl_start(self, n):
        # After kill9() the postmaster.pid names a dead postmaster that PID 1
        # may not have reaped yet; PostgreSQL's kill(pid, 0) sees the zombie
        # and refuses to start ("lock file ... already exists"); the socket's
        # lock file says the same. A dead PID's lock file is stale by
        # definition, as after a host crash: drop them.
        for lock in (n.data / "postmaster.pid", self.base / f".s.PGSQL.{n.port}.lock"):
            try:
                pid = int(lock.read_text().split("\n", 1)[0])
            except (FileNotFoundError, ValueError):
                continue
            if not _alive(pid):
                lock.unlink(missing_ok=True)
        try:
            _run([PG_BIN / "pg_ctl", "-D", n.data, "-l", n.log, "-w", "-t", "60", "start"],
                 f"start {n.name}", timeout=90, cwd=self.base)
        finally:
            # Even a failed start may have left a postmaster behind.
            pid = self._read_pid(n)
            if self._ours(n, pid):
                n.pid = pid
        if n.pid is None:
            raise PgError(f"{n.name} started but no postmaster found: {self.log_tail(n.port)}")

    def _ensure_stopped(self, n):
        if not self._ours(n, n.pid):
            n.pid = None
            return
        # SIGQUIT is what `pg_ctl stop -m immediate` sends; signalling the
        # PID ourselves saves pg_ctl's 100 ms polling steps at every teardown.
        try:
            os.kill(n.pid, signal.SIGQUIT)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while self._ours(n, n.pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        if self._ours(n, n.pid):
            _kill_tree(n.pid)
        n.pid = None

    def start_node(self, port):
        """Start a stopped node again (after stop(), kill9() or rejoin)."""
        n = self.node(port)
        if self._ours(n, n.pid):
            raise PgError(f"{n.name} is running (pid {n.pid})")
        self._pg_ctl_start(n)

    def stop(self, port, mode="fast", timeout=30):
        """pg_ctl stop -m MODE (smart, fast, immediate), waiting for it."""
        n = self.node(port)
        if not self._ours(n, n.pid):
            raise PgError(f"{n.name} is not running")
        _run([PG_BIN / "pg_ctl", "-D", n.data, "-m", mode, "-w", "-t", str(timeout), "stop"],
             f"stop {n.name} ({mode})", timeout=timeout + 10, cwd=self.base)
        n.pid = None

    def kill9(self, port):
        """Crash a node as a dying host would: SIGKILL to the postmaster and
        all its processes at once (postmaster.pid stays behind)."""
        n = self.node(port)
        if not self._ours(n, n.pid):
            raise PgError(f"{n.name} is not running")
        _kill_tree(n.pid)
        n.pid = None

    def running(self, port):
        n = self.node(port)
        return self._ours(n, n.pid)

    def promote(self, port, timeout=30):
        """Promote a standby; returns once it accepts writes."""
        n = self.node(port)
        _run([PG_BIN / "pg_ctl", "-D", n.data, "-w", "-t", str(timeout), "promote"],
             f"promote {n.name}", timeout=timeout + 10, cwd=self.base)
        if self.is_in_recovery(port):
            raise PgError(f"{n.name} still in recovery after pg_ctl promote")

    def shell_command(self, port, action):
        """A /bin/sh command line that runs pg_ctl `action` ("stop -m fast",
        "promote") on the node at port as the server user, for nodown's
        fence_command and promote_command."""
        n = self.node(port)
        cmd = [str(PG_BIN / "pg_ctl"), "-D", str(n.data), "-w", "-t", "30", *action.split()]
        return " ".join(_server_cmd(cmd)) + " >/dev/null 2>&1"

    def rejoin(self, port, primary, timeout=60):
        """Make the (old primary) node on `port` a streaming standby of
        `primary`: stop it if it runs, pg_rewind it from `primary` (which
        writes standby.signal and primary_conninfo), start it and wait until
        it streams."""
        n = self.node(port)
        src = self.node(primary)
        if self._ours(n, n.pid):
            self.stop(port, "fast")
        # pg_rewind (15) takes the source's timeline from its control file,
        # which a just-promoted server updates only at its first checkpoint
        # after promotion (a spread one, seconds later); without this the
        # rewound node fails with "requested timeline N does not contain
        # minimum recovery point".
        self.psql(primary, "CHECKPOINT")
        _run([PG_BIN / "pg_rewind", "-D", n.data, "-R", "--no-sync",
              f"--source-server=host={self.base} port={src.port} user=postgres dbname=postgres"],
             f"pg_rewind {n.name} from {src.name}", timeout=timeout, cwd=self.base)
        # pg_rewind copied the source's files, node.conf (its port) included.
        _write_node_conf(n.data, n.port, self.base, n.name)
        self._pg_ctl_start(n)
        self.wait_streaming(port, primary, timeout=timeout)

    # -- SQL --

    def psql(self, port, sql, user="postgres", db="postgres", timeout=30):
        """Run sql (one string, or a list run in order) with psql over the
        Unix socket; returns its unaligned, tuples-only output, stripped."""
        cmds = [sql] if isinstance(sql, str) else list(sql)
        args = [PG_BIN / "psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", self.base, "-p", port, "-U", user, "-d", db]
        for c in cmds:
            args += ["-c", c]
        return _run(args, f"psql on {self.node(port).name}", timeout=timeout, server=False).strip()

    def dsn(self, port, user="app", db=None):
        """A libpq DSN for 127.0.0.1:port over TCP with user's password."""
        return (f"host=127.0.0.1 port={port} user={user} password={self.passwords[user]} "
                f"dbname={db or DEFAULT_DB.get(user, user)} connect_timeout=10")

    def is_in_recovery(self, port):
        return self.psql(port, "SELECT pg_is_in_recovery()") == "t"

    def current_primary(self):
        """The port of the one running node not in recovery (PgError if
        there is none or more than one)."""
        prim = [p for p in self.nodes if self.running(p) and not self.is_in_recovery(p)]
        if len(prim) != 1:
            raise PgError(f"expected one primary, found {prim}")
        return prim[0]

    def lsn(self, port=None):
        """As an int: the current WAL insert position on a primary, the
        last replayed position on a standby. Default: the initial primary."""
        port = port or self.primary
        return lsn_int(self.psql(port, "SELECT CASE WHEN pg_is_in_recovery() "
                                       "THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END"))

    def wait_replay(self, port, lsn, timeout=15):
        """Wait until the standby on port has replayed WAL up to lsn (int)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.lsn(port)
            if got >= lsn:
                return got
            if time.monotonic() > deadline:
                raise PgError(f"{self.node(port).name} replayed {lsn_text(got)}, not {lsn_text(lsn)}, "
                              f"within {timeout}s")
            time.sleep(0.01)

    def wait_streaming(self, standby=None, primary=None, timeout=20):
        """Wait until pg_stat_replication on primary shows standby (default:
        the initial roles) in state 'streaming'."""
        standby = standby or self.standby
        primary = primary or self.primary
        name = self.node(standby).name
        sql = f"SELECT state FROM pg_stat_replication WHERE application_name = '{name}'"
        deadline = time.monotonic() + timeout
        while True:
            state = self.psql(primary, sql)
            if "streaming" in state.split():
                return
            if time.monotonic() > deadline:
                raise PgError(f"{name} not streaming from {self.node(primary).name} within {timeout}s "
                              f"(state {state!r}); log: {self.log_tail(standby)}")
            time.sleep(0.02)

    def log_tail(self, port, n=20):
        try:
            return "\n".join(self.node(port).log.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return "(no log)"

    # -- state for the command line --

    def save(self, path):
        Path(path).write_text(json.dumps({
            "base": str(self.base), "template": str(self.template), "keep": self.keep,
            "primary": self.primary, "standby": self.standby,
            "nodes": [{"name": n.name, "port": n.port, "pid": n.pid} for n in self.nodes.values()],
        }, indent=1))

    @classmethod
    def load(cls, path):
        st = json.loads(Path(path).read_text())
        c = cls.__new__(cls)
        c.template = Path(st["template"])
        c.base = Path(st["base"])
        c.keep = st["keep"]
        c.primary, c.standby = st["primary"], st["standby"]
        c.auth_file = c.base / "userlist.txt"
        c.passwords = dict(PASSWORDS)
        c.timings = {}
        c.nodes = {}
        for d in st["nodes"]:
            n = Node(d["name"], d["port"], c.base / d["name"], c.base / f"{d['name']}.log")
            n.pid = d["pid"]
            c.nodes[n.port] = n
        # A node started since save() has a newer PID in its postmaster.pid.
        for n in c.nodes.values():
            pid = c._read_pid(n)
            if c._ours(n, pid):
                n.pid = pid
        return c


def _main(argv):
    nargs = {"up": (2,), "down": (2, 3), "rejoin": (4,)}
    if not argv or len(argv) not in nargs.get(argv[0], ()):
        print(__doc__.split("Run as a script")[1], file=sys.stderr)
        return 2
    cmd, d = argv[0], Path(argv[1])
    state = d / "cluster.json"
    if cmd == "down":
        if state.exists():
            c = PgCluster.load(state)
            c.keep = argv[2:] == ["keep"]
            c.close()
        return 0
    if cmd == "rejoin":
        c = PgCluster.load(state)
        c.rejoin(c.port_of(argv[2]), c.port_of(argv[3]))
        c.save(state)
        return 0
    why = unavailable()
    if why:
        print(f"pgcluster: {why}", file=sys.stderr)
        return 1
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    tmpl = make_template(d / "template")
    t_tmpl = time.monotonic() - t0
    c = PgCluster(tmpl, base=d / "c")
    try:
        c.start()
    except BaseException:
        c.close()
        raise
    c.save(state)
    p, s = c.node(c.primary), c.node(c.standby)
    out = {
        "PG_BIN": PG_BIN, "PG_SOCKDIR": c.base, "PG_AUTH_FILE": c.auth_file,
        "PG1_PORT": p.port, "PG1_PID": p.pid, "PG1_DATA": p.data,
        "PG2_PORT": s.port, "PG2_PID": s.pid, "PG2_DATA": s.data,
        "PG_APP_PASSWORD": PASSWORDS["app"], "PG_SUPER_PASSWORD": PASSWORDS["postgres"],
        "PG_SETUP_SECONDS": f"{t_tmpl + c.timings['total']:.2f}",
    }
    for k, v in out.items():
        print(f"{k}={v}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
