"""tests/integration/harness.py: starts the real almanacd on a free loopback port with a
temporary data directory (users made with the real admin CLI), drives it over HTTP, and
stops it by PID with SIGTERM, asserting a clean exit and no sanitizer report in its log.
The h2o spawn_h2o / Redis start_server pattern of STYLE.md §3.10, in the standard library.

The store engine: SQLite (`--data DIR`) unless ALMANAC_TEST_STORE=postgresql, then each
Server gets a fresh database (almanac_N) in one private PostgreSQL cluster per test
process (pgcluster.py, started at the first Server, stopped by PID at exit), passed as
`--store URI` to almanacd and to the CLI. ENGINE names the engine in use; Server.sql() and
Server.dump() read (and write) the store on either engine, for the assertions that are
about the store itself."""

import atexit
import base64
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster  # noqa: E402

ALMANACD = os.environ.get("ALMANACD", "build/almanacd")
ALMANAC = os.environ.get("ALMANAC", "build/almanac")
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|runtime error:|LeakSanitizer|WARNING: ThreadSanitizer")

ENGINE = os.environ.get("ALMANAC_TEST_STORE") or "sqlite"
if ENGINE not in ("sqlite", "postgresql"):
    raise SystemExit("ALMANAC_TEST_STORE=%s: sqlite or postgresql" % ENGINE)
# the reason of a test that does not apply to this engine (see main())
NOT_THIS_ENGINE = "not on %s: " % ENGINE
SKIP_MODULE = 77  # the exit status of a module that does not apply (tests/CMakeLists.txt)

_pg = None  # this process's PgCluster, started by the first Server on PostgreSQL
_pg_databases = 0

# Stops the cluster if the test process dies without running its atexit handlers (a ctest
# timeout's SIGKILL, a crash): reads its stdin, a pipe only the test process holds, to EOF;
# unless the test process wrote "stopped" there first (it stopped the cluster itself), then
# stops the postmaster by PID (SIGINT, SIGKILL after 30 s) and removes the directory.
_PG_WATCHDOG = """
import os, shutil, signal, sys, time
if sys.stdin.buffer.read() == b"stopped":
    sys.exit(0)
pid, where = int(sys.argv[1]), sys.argv[2]
try:
    os.kill(pid, signal.SIGINT)
    for _ in range(300):
        time.sleep(0.1)
        os.kill(pid, 0)
    os.kill(pid, signal.SIGKILL)
except ProcessLookupError:
    pass
shutil.rmtree(where, ignore_errors=True)
"""


def _stop_pg():
    global _pg
    if _pg is not None:
        _pg.stop()
        _pg = None
        os.write(pg_cluster.watchdog_fd, b"stopped")  # its PID may be another's by now
        os.close(pg_cluster.watchdog_fd)
        pg_cluster.watchdog.wait(60)


def pg_cluster():
    """This test process's private PostgreSQL cluster, started at the first call."""
    global _pg
    if _pg is None:
        pg = pgcluster.PgCluster()
        pg.start()
        _pg = pg
        atexit.register(_stop_pg)
        r, w = os.pipe()  # w stays open (not inherited) until this process ends
        pg_cluster.watchdog = subprocess.Popen(
            [sys.executable, "-c", _PG_WATCHDOG, str(pg.pid), pg.dir], stdin=r,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(r)
        pg_cluster.watchdog_fd = w
    return _pg


def sql_str(s):
    """A string literal both engines read."""
    return "'" + s.replace("'", "''") + "'"


def sql_blob(b):
    """A blob (bytea) literal of the engine in use."""
    if ENGINE == "postgresql":
        return "'\\x%s'::bytea" % b.hex()
    return "X'%s'" % b.hex()


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:300])


class Server:
    """One almanacd with its own store (a data directory, or a database; see above)."""

    def __init__(self, users=("alice", "bob"), config=None):
        global _pg_databases
        self.dir = tempfile.mkdtemp(prefix="almanac-it-")
        self.data = os.path.join(self.dir, "data")  # SQLite's; unused on PostgreSQL
        self.engine = ENGINE
        self.database = None
        if ENGINE == "postgresql":
            _pg_databases += 1
            self.database = "almanac_%d" % _pg_databases
            pg_cluster().psql("CREATE DATABASE %s" % self.database, db="postgres")
            self.store_args = ["--store", pg_cluster().uri(self.database)]
        else:
            self.store_args = ["--data", self.data]
        self.passwords = {}
        for u in users:
            pw = "pw-" + u + "-secret"
            self.cli("user", "add", u, "--password-stdin", input=pw + "\n")
            self.passwords[u] = pw
        args = [ALMANACD, *self.store_args, "--listen", "127.0.0.1:0",
                "--port-file", os.path.join(self.dir, "port")]
        if config is not None:
            path = os.path.join(self.dir, "almanac.conf")
            with open(path, "w") as f:
                f.write(config)
            args += ["--config", path]
        self.log_path = os.path.join(self.dir, "almanacd.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stderr=self.log, stdout=self.log)
        port_file = os.path.join(self.dir, "port")
        deadline = time.time() + 20
        while time.time() < deadline:
            if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                break
            if self.proc.poll() is not None:
                raise RuntimeError("almanacd exited: " + self.read_log())
            time.sleep(0.05)
        else:
            raise RuntimeError("almanacd did not write its port file")
        self._read_ports(port_file)

    def _read_ports(self, port_file):
        """The port file: the plain HTTP port, then the HTTPS port when tls_listen is set."""
        with open(port_file) as f:
            ports = [int(x) for x in f.read().split()]
        self.port = ports[0]
        self.tls_port = ports[1] if len(ports) > 1 else None

    def restart(self, config=None):
        """SIGTERM by PID (the server must exit 0) and start it again on the same data
        directory and port file, with `config` as its configuration file when given."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        if rc != 0:
            raise AssertionError("almanacd exited %d before the restart" % rc)
        args = list(self.proc.args)
        if config is not None:
            path = os.path.join(self.dir, "almanac.conf")
            with open(path, "w") as f:
                f.write(config)
            if "--config" not in args:
                args += ["--config", path]
        port_file = os.path.join(self.dir, "port")
        os.remove(port_file)
        self.proc = subprocess.Popen(args, stderr=self.log, stdout=self.log)
        deadline = time.time() + 20
        while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("almanacd did not restart: " + self.read_log()[-2000:])
            time.sleep(0.05)
        self._read_ports(port_file)

    def drop_database(self):
        """On PostgreSQL, drops this server's database (its almanacd has stopped)."""
        if self.database is not None and _pg is not None:
            _pg.psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.database, db="postgres")
            self.database = None

    def cli(self, *args, input=None, check=True):
        r = subprocess.run([ALMANAC, *self.store_args, *args], input=input,
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            raise RuntimeError("almanac %s failed: %s" % (args, r.stderr))
        return r

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    # -- the store itself, on either engine ----------------------------------------------
    def sql(self, query):
        """Runs one SQL statement on the store, committed at once, and returns its rows as
        tuples of text (None for NULL, a blob as PostgreSQL prints bytea: \\x and its hex
        digits) on either engine; a statement that changes rows returns them with
        RETURNING. For assertions about the store itself (what a request
        must or must not have written) and for rows a test plants as an older almanacd (or
        another tool) would have stored them."""
        if ENGINE == "postgresql":
            return self._pg_rows(query)
        db = sqlite3.connect(os.path.join(self.data, "almanac.db"), timeout=30,
                             isolation_level=None)
        try:
            rows = db.execute(query).fetchall()
        finally:
            db.close()
        return [tuple(None if v is None else "\\x" + v.hex() if isinstance(v, bytes) else str(v)
                      for v in row) for row in rows]

    def _pg_rows(self, query):
        # psql's unaligned output with separators no value of the store holds, NULL printed
        # as another; the statement on stdin (no limit on its length, as an argument has)
        r = subprocess.run(
            [pgcluster.PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-F", "\x1f",
             "-R", "\x1e", "-P", "null=\x1d", "-d", pg_cluster().uri(self.database)],
            input=query.rstrip().rstrip(";") + ";\n", capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql failed (%d): %s" % (r.returncode, r.stderr.strip()))
        out = r.stdout
        if out.endswith("\n"):
            out = out[:-1]
        return [tuple(None if v == "\x1d" else v for v in rec.split("\x1f"))
                for rec in out.split("\x1e") if rec != ""]

    def dump(self, drop=()):
        """Every row of every table of the committed store, sorted, as [(table, rows)]; a
        row is a tuple of (column, value); the columns named "table.column" in drop are left
        out. Equal dumps: the store is as it was (compare dumps of one engine only)."""
        if ENGINE == "postgresql":
            tables = [t for (t,) in self.sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name")]
            rows = {t: [] for t in tables}
            if tables:
                union = " UNION ALL ".join(
                    "SELECT %s, row_to_json(x)::text FROM \"%s\" x" % (sql_str(t), t)
                    for t in tables)
                for t, js in self.sql(union):
                    rows[t].append(tuple(json.loads(js).items()))
        else:
            db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.data, "almanac.db"),
                                 uri=True, timeout=30)
            try:
                tables = [r[0] for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
                rows = {}
                for t in tables:
                    cur = db.execute('SELECT * FROM "%s"' % t)
                    cols = [d[0] for d in cur.description]
                    rows[t] = [tuple(zip(cols, row)) for row in cur]
            finally:
                db.close()
        return [(t, sorted((tuple((c, v) for c, v in row if "%s.%s" % (t, c) not in drop)
                            for row in rows[t]), key=repr)) for t in tables]

    def request(self, method, path, user="alice", body=None, headers=None, password=None,
                auth=True):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(headers or {})
        if auth and user is not None:
            pw = password if password is not None else self.passwords[user]
            token = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
            h["Authorization"] = "Basic " + token
        if isinstance(body, str):
            body = body.encode("utf-8")
        chunked = body is not None and not isinstance(body, (bytes, bytearray))
        conn.request(method, path, body=body, headers=h, encode_chunked=chunked)
        r = conn.getresponse()
        data = r.read()
        resp = Response(r.status, r.getheaders(), data)
        conn.close()
        return resp

    def stop(self):
        """SIGTERM by PID; the server must drain and exit 0 with a clean sanitizer log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise AssertionError("almanacd did not stop within 30 s of SIGTERM")
        else:
            rc = self.proc.returncode
        self.log.close()
        log = self.read_log()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.drop_database()
        if rc != 0:
            raise AssertionError("almanacd exited %d:\n%s" % (rc, log[-4000:]))
        m = SANITIZER_RE.search(log)
        if m:
            raise AssertionError("sanitizer report in almanacd log:\n" + log[-8000:])


class ServerTestCase(unittest.TestCase):
    """One server per test class; CONFIG may set limits."""

    CONFIG = None
    USERS = ("alice", "bob")

    @classmethod
    def setUpClass(cls):
        cls.srv = Server(users=cls.USERS, config=cls.CONFIG)
        # stop the server even when a later setUpClass step or the class fails
        cls.addClassCleanup(cls._stop_quietly)

    @classmethod
    def _stop_quietly(cls):
        if cls.srv.proc.poll() is None:
            cls.srv.proc.kill()
            cls.srv.proc.wait()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def req(self, *args, **kwargs):
        return self.srv.request(*args, **kwargs)

    def assertStatus(self, resp, status, msg=None):
        if resp.status != status:
            self.fail("expected %d, got %d%s: %s" % (status, resp.status,
                                                     " (" + msg + ")" if msg else "",
                                                     resp.body[:600]))

    def assertCondition(self, resp, status, condition):
        """Status and the machine-readable reason naming the condition."""
        self.assertStatus(resp, status)
        self.assertIn("<A:reason>%s</A:reason>" % condition, resp.text)


def propfind_body(*props):
    inner = "".join(props)
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<D:propfind xmlns:D="DAV:"><D:prop>%s</D:prop></D:propfind>' % inner)


def responses(xml):
    """The <D:response> elements of a multistatus, as strings (enough for assertions)."""
    return re.findall(r"<D:response>.*?</D:response>", xml, re.S)


def not_on(engine, reason):
    """Decorates a test (or a class) that does not apply to `engine` ("sqlite" or
    "postgresql") by design, with the reason: skipped there, printed by main() and counted
    apart, neither passed nor failed (any other skip is a failure)."""
    return unittest.skipIf(ENGINE == engine, NOT_THIS_ENGINE + reason)


def main():
    """Runs the module's tests; prints the closing line CI reads. A skipped test counts as a
    failure: ctest would report it as passed, and a test that did not run proves nothing (a
    missing real client must fail, issue 17). The exception: a test not_on() this engine,
    listed with its reason; a module none of whose tests applies exits SKIP_MODULE."""
    prog = unittest.main(exit=False, verbosity=2)
    res = prog.result
    by_design = 0
    for test, reason in res.skipped:
        if reason.startswith(NOT_THIS_ENGINE):
            by_design += 1
            print("NOT RUN on %s (by design): %s: %s"
                  % (ENGINE, test, reason[len(NOT_THIS_ENGINE):]))
        else:
            print("SKIPPED (counted as a failure): %s: %s" % (test, reason))
    failed = len(res.failures) + len(res.errors) + len(res.skipped) - by_design
    print("%d passed, %d failed%s (store: %s)"
          % (res.testsRun - failed - by_design, failed,
             ", %d not run on this engine" % by_design if by_design else "", ENGINE))
    if not failed and res.testsRun and res.testsRun == by_design:
        sys.exit(SKIP_MODULE)  # ctest: "Skipped" (SKIP_RETURN_CODE), not passed
    sys.exit(1 if failed or not res.testsRun else 0)
