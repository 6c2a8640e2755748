"""tests/integration/pgcluster.py: a private PostgreSQL 15 server from Debian's packages
(postgresql-15, installed by scripts/install-deps.sh) for the tests of the PostgreSQL store
(issue #10).

Each PgCluster is its own cluster: initdb in a temporary directory, a server listening only
on a Unix socket in that directory (listen_addresses = '', so nothing on the network) under
a port number the test picks, and a database `almanac` owned by the bootstrap superuser
`almanac`. PostgreSQL refuses to run as root and CI runs as root, so as root the cluster
runs as `nobody` (the directory is handed to it); as anyone else, as that user. The server
is started directly (no pg_ctl, no shell in between), so the PID the test holds is the
postmaster's own, and stop() stops it by that PID: SIGINT (fast shutdown), then SIGKILL
after a grace period, then removes the directory.

    with PgCluster() as pg:
        uri = pg.uri()          # postgresql://almanac@/almanac?host=DIR&port=N
        pg.psql("SELECT 1")     # through libpq (psql)
        pg.shutdown()           # fast shutdown by PID, the directory kept
        pg.start_again()        # the same data and socket, a new PID

As a program, `python3 pgcluster.py run -- CMD ARGS...` runs CMD with ALMANAC_PG_URI set to
a fresh cluster's URI and exits with CMD's status (the C tests of the engine re-execute
themselves so, tests/unit/store/test_store_pg.c).
"""

import os
import pwd
import sys
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PG_BIN = os.environ.get("ALMANAC_PG_BIN", "/usr/lib/postgresql/15/bin")
PSQL = os.path.join(PG_BIN, "psql")
RUN_AS = "nobody"  # when root: any user without a login works; nobody exists everywhere


def available():
    """True when the PostgreSQL 15 server binaries are installed."""
    return all(os.access(os.path.join(PG_BIN, b), os.X_OK) for b in ("initdb", "postgres", "psql"))


def free_port():
    """A port number no loopback listener holds now. The server listens on a Unix socket
    only, so the number only names the socket file (.s.PGSQL.N); a free TCP port keeps it
    unlike the default 5432 of a system cluster."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    def __init__(self, settings=None, port=None):
        if not available():
            raise RuntimeError("PostgreSQL 15 is not installed in %s (scripts/install-deps.sh)" % PG_BIN)
        self.settings = dict(settings or {})
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="almanac-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.proc = None
        self.pid = None
        self.user = None
        if os.geteuid() == 0:
            self.user = RUN_AS
            pw = pwd.getpwnam(RUN_AS)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)

    # -- running commands as the cluster's owner ----------------------------------------
    def _as_owner(self):
        if self.user is None:
            return {}
        pw = pwd.getpwnam(self.user)
        return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _env(self):
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": self.dir,
               "TZ": "UTC"}
        return env

    def start(self, timeout=60):
        subprocess.run(
            [os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "almanac", "-E", "UTF8",
             "--locale=C.UTF-8", "--auth=trust", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.dir,
            env=self._env(), **self._as_owner())
        self._launch(timeout)
        self.psql("CREATE DATABASE almanac", db="postgres")
        return self

    def _launch(self, timeout):
        """Starts the server on the cluster's data directory and port and waits until it
        accepts connections."""
        args = [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p", str(self.port),
                "-k", self.dir, "-c", "listen_addresses=", "-c", "fsync=off",
                "-c", "full_page_writes=off", "-c", "shared_buffers=16MB", "-c", "max_connections=100"]
        for k, v in self.settings.items():
            args += ["-c", "%s=%s" % (k, v)]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir,
                                     env=self._env(), start_new_session=True, **self._as_owner())
        log.close()
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited with %d at start:\n%s" % (self.proc.returncode, self.log()))
            r = subprocess.run([PSQL, "-X", "-q", "-h", self.dir, "-p", str(self.port), "-U", "almanac",
                                "-d", "postgres", "-tAc", "SELECT 1"],
                               capture_output=True, text=True, env=self._env())
            if r.returncode == 0 and r.stdout.strip() == "1":
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("postgres did not accept connections in %ds:\n%s" % (timeout, self.log()))
            time.sleep(0.1)

    def uri(self, db="almanac", user="almanac"):
        """The libpq URI of database `db` (what --store takes)."""
        return "postgresql://%s@/%s?host=%s&port=%d" % (user, db, self.dir, self.port)

    def psql(self, sql, db="almanac"):
        """Runs `sql` through psql (libpq) and returns its unaligned, tuples-only output;
        raises on an error."""
        r = subprocess.run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-tA", "-d", self.uri(db), "-c", sql],
                           capture_output=True, text=True, env=self._env())
        if r.returncode != 0:
            raise RuntimeError("psql failed (%d): %s" % (r.returncode, r.stderr.strip()))
        return r.stdout.rstrip("\n")

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, grace=30):
        """Fast shutdown by PID (SIGINT: clients disconnected, a clean checkpoint); SIGKILL
        after `grace` seconds. Returns the server's exit status (0: a clean stop), or None
        when it was not running. Removes the cluster's directory."""
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.pid, signal.SIGINT)
            try:
                rc = self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                rc = self.proc.wait()
        elif self.proc is not None:
            rc = self.proc.returncode
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
        return rc

    def shutdown(self, grace=30):
        """Fast shutdown by PID, as stop(), but the directory stays: start_again() serves
        the same data on the same socket (a database restarted under a running almanacd).
        Returns the server's exit status."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("postgres is not running")
        os.kill(self.pid, signal.SIGINT)
        try:
            rc = self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            rc = self.proc.wait()
        self.proc = None
        return rc

    def start_again(self, timeout=60):
        """Starts the server again after shutdown() (a new PID), on the same directory and
        port."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("postgres is running")
        self._launch(timeout)
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def main(argv):
    if len(argv) < 3 or argv[0] != "run" or argv[1] != "--":
        sys.stderr.write("usage: pgcluster.py run -- CMD [ARGS...]\n")
        return 2
    with PgCluster() as pg:
        env = dict(os.environ, ALMANAC_PG_URI=pg.uri())
        rc = subprocess.run(argv[2:], env=env).returncode
        if rc != 0:
            sys.stderr.write("pgcluster: %s exited with %d; the server's log:\n%s" % (argv[2], rc, pg.log()[-4000:]))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
