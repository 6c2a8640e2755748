"""tests/integration/test_pgcluster.py: the PostgreSQL test harness (pgcluster.py) starts a
private PostgreSQL 15 as a non-root user, accepts a libpq connection on the socket it picked,
and stops by its PID cleanly, leaving nothing behind. The PostgreSQL store's tests (issue
#10) stand on it."""

import ctypes
import ctypes.util
import os
import pwd
import unittest

import pgcluster


class PgClusterTest(unittest.TestCase):
    def test_starts_accepts_a_libpq_connection_and_stops_by_pid(self):
        pg = pgcluster.PgCluster()
        try:
            pg.start()
            pid = pg.pid
            # the postmaster itself, not a wrapper: its PID is postmaster.pid's first line
            with open(os.path.join(pg.data, "postmaster.pid")) as f:
                self.assertEqual(int(f.readline()), pid)
            # never root, whoever runs the test
            owner = os.stat(pg.data).st_uid
            self.assertNotEqual(owner, 0)
            if os.geteuid() == 0:
                self.assertEqual(pwd.getpwuid(owner).pw_name, pgcluster.RUN_AS)
            with open("/proc/%d/status" % pid) as f:
                uids = [l for l in f if l.startswith("Uid:")][0].split()[1:]
            self.assertTrue(all(int(u) != 0 for u in uids), uids)

            # a libpq connection through the URI the store will be given
            lib = ctypes.CDLL(ctypes.util.find_library("pq") or "libpq.so.5")
            lib.PQconnectdb.restype = ctypes.c_void_p
            lib.PQconnectdb.argtypes = [ctypes.c_char_p]
            lib.PQstatus.argtypes = [ctypes.c_void_p]
            lib.PQserverVersion.argtypes = [ctypes.c_void_p]
            lib.PQparameterStatus.restype = ctypes.c_char_p
            lib.PQparameterStatus.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.PQerrorMessage.restype = ctypes.c_char_p
            lib.PQerrorMessage.argtypes = [ctypes.c_void_p]
            lib.PQfinish.argtypes = [ctypes.c_void_p]
            conn = lib.PQconnectdb(pg.uri().encode())
            try:
                self.assertEqual(lib.PQstatus(conn), 0, lib.PQerrorMessage(conn))  # CONNECTION_OK
                self.assertEqual(lib.PQserverVersion(conn) // 10000, 15)
                self.assertEqual(lib.PQparameterStatus(conn, b"session_authorization"), b"almanac")
            finally:
                lib.PQfinish(conn)
            # and SQL through psql: the database exists, nothing listens on TCP
            self.assertEqual(pg.psql("SELECT current_database()"), "almanac")
            self.assertEqual(pg.psql("SHOW listen_addresses"), "")
            self.assertEqual(pg.psql("SHOW synchronous_commit"), "on")
            self.assertEqual(pg.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1); "
                                     "SELECT sum(x) FROM t"), "42")
            socket_path = os.path.join(pg.dir, ".s.PGSQL.%d" % pg.port)
            self.assertTrue(os.path.exists(socket_path))
            cluster_dir = pg.dir
        finally:
            rc = pg.stop()
        self.assertEqual(rc, 0, "postgres did not shut down cleanly")
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)
        self.assertFalse(os.path.exists(cluster_dir))
        self.assertIsNone(pg.stop())  # twice is harmless

    def test_two_clusters_run_side_by_side(self):
        with pgcluster.PgCluster() as a, pgcluster.PgCluster() as b:
            self.assertNotEqual(a.port, b.port)
            a.psql("CREATE TABLE only_in_a (x int)")
            self.assertEqual(a.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"), "1")
            self.assertEqual(b.psql("SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"), "0")


if __name__ == "__main__":
    unittest.main()
