"""tests/integration/test_pg_faults.py: almanacd on PostgreSQL when the database goes away
(issue #10 item 5), against the real almanacd on its own private PostgreSQL 15 cluster
(pgcluster.py).

- The database restarted under load: CalDAV PUTs and GETs, /exchange PUTs and replication
  SEARCHes, CalDAV PROPFINDs and ActiveSync Sync Adds run in threads while the cluster is
  stopped by its PID (fast shutdown: every session terminated) and started again on the same
  data. Every answer is a success or a 503 with Retry-After and the machine-readable reason
  store-unavailable (<A:reason> in a WebDAV error body, X-Almanac-Reason from ActiveSync);
  never a 500, never another reason; a streamed read (PROPFIND, SEARCH) may be cut off
  instead when the database went away after its status line. /healthz answers 503 while the
  database is away and 200 after. almanacd is never restarted: every worker succeeds again
  once the database is back, and nothing acknowledged (201/204, ActiveSync Status 1) before,
  during or after the outage is lost.
- The statement timeout (store_statement_timeout = 1): a psql session holds the calendar's
  row lock; a PUT into it and an ActiveSync Sync Add wait for the lock, are cancelled after
  about a second and answered 503 store-busy / eas-busy with Retry-After; the same writes go
  through once the lock is free.
- The connection lost at each statement of a request, through the fault seam
  (ALMANAC_STORE_FAULT_FILE with stmt=N,err=lost: the socket is shut down before the Nth
  statement goes, store_fault.h): a CalDAV PUT replace, an /exchange PUT, a PROPFIND, a
  replication SEARCH and an ActiveSync Sync Add each answer 503 store-unavailable with
  Retry-After (a streamed read may be cut off instead) at every point, leave every table as
  it was, and succeed when unfaulted, on the same almanacd.
Skipped when PostgreSQL 15 is not installed (scripts/install-deps.sh installs it)."""

import datetime
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import easclient as ec  # noqa: E402
import harness  # noqa: E402
import pgcluster  # noqa: E402
from easclient import E  # noqa: E402

ICS = {"Content-Type": "text/calendar"}
XML = {"Content-Type": 'text/xml; charset="utf-8"'}
R = "http://schemas.microsoft.com/repl/"
ABORTED = "aborted"
UTC = datetime.timezone.utc
# a request cut off leaves its socket to the garbage collector: not this test's subject
warnings.simplefilter("ignore", ResourceWarning)
PROPFIND = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            '<D:displayname/></D:prop></D:propfind>')
SEARCH = ('<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:" xmlns:R="%s"><R:repl>'
          '<R:collblob></R:collblob></R:repl><D:sql>SELECT "DAV:href", "%sresourcetag" FROM '
          'SCOPE(\'SHALLOW TRAVERSAL OF ""\')</D:sql></D:searchrequest>' % (R, R))
QUERY = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
         'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
         '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>')


def event(uid, summary):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
            "DTEND:20260105T110000Z\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            % (uid, summary))


class PgServer(harness.Server):
    """harness.Server's almanacd, on `pg`'s database (--store URI) instead of a data
    directory; its users made with the admin CLI on the same URI."""

    def __init__(self, pg, users=("alice",), config=None):
        self.uri = pg.uri()
        self.store_args = ["--store", self.uri]  # as harness.Server's, for its cli() and restart
        self.database = None  # pg's own database: not one harness.Server made and drops
        self.engine = "postgresql"
        self.dir = tempfile.mkdtemp(prefix="almanac-pgfaults-")
        self.passwords = {}
        for u in users:
            pw = "pw-" + u + "-secret"
            self.cli("user", "add", u, "--password-stdin", input=pw + "\n")
            self.passwords[u] = pw
        port_file = os.path.join(self.dir, "port")
        args = [harness.ALMANACD, "--store", self.uri, "--listen", "127.0.0.1:0",
                "--port-file", port_file]
        if config is not None:
            path = os.path.join(self.dir, "almanac.conf")
            with open(path, "w") as f:
                f.write(config)
            args += ["--config", path]
        self.log_path = os.path.join(self.dir, "almanacd.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stderr=self.log, stdout=self.log)
        deadline = time.time() + 30
        while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("almanacd did not start: " + self.read_log()[-3000:])
            time.sleep(0.05)
        self._read_ports(port_file)


def reason(resp):
    """The machine-readable reason of an error answer: <A:reason> of a WebDAV error body,
    else ActiveSync's X-Almanac-Reason header."""
    m = re.search(r"<A:reason>([^<]*)</A:reason>", resp.body.decode("utf-8", "replace"))
    return m.group(1) if m else resp.header("X-Almanac-Reason")


class Load:
    """Workers that each repeat one kind of request until stopped, recording every answer."""

    def __init__(self):
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.answers = []  # (worker, method, status or ABORTED, reason, retry_after, t)
        self.bad = []  # descriptions of answers that break the rules
        self.acked = []  # (kind, key, summary) of acknowledged writes
        self.last_ok = {}  # worker -> time of its last success
        self.threads = []
        self.errors = []

    def record(self, worker, method, resp, ok_statuses, streamed=False):
        """Records an answer; True for a success. After a failure the worker pauses 50 ms
        (a client would wait Retry-After; the test wants many answers in the outage)."""
        ok = self._record(worker, method, resp, ok_statuses, streamed)
        if not ok:
            time.sleep(0.05)
        return ok

    def _record(self, worker, method, resp, ok_statuses, streamed):
        now = time.monotonic()
        with self.lock:
            if resp is ABORTED:
                self.answers.append((worker, method, ABORTED, None, None, now))
                if not streamed:
                    self.bad.append("%s %s: connection cut off" % (worker, method))
                return False
            why = reason(resp) if resp.status >= 400 else None
            retry = resp.header("Retry-After")
            self.answers.append((worker, method, resp.status, why, retry, now))
            if resp.status in ok_statuses:
                self.last_ok[worker] = now
                return True
            if resp.status != 503 or why != "store-unavailable" or not retry:
                self.bad.append("%s %s: %d reason=%s Retry-After=%s %r" % (
                    worker, method, resp.status, why, retry, resp.body[:300]))
            return False

    def spawn(self, name, fn):
        def run():
            try:
                fn(name)
            except BaseException as e:  # a worker's crash fails the test, with its cause
                with self.lock:
                    self.errors.append("%s: %r" % (name, e))
        t = threading.Thread(target=run, name=name, daemon=True)
        t.start()
        self.threads.append(t)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(120)

    def count(self, status):
        with self.lock:
            return sum(1 for a in self.answers if a[2] == status)


def http_request(srv, method, path, body=None, headers=None):
    try:
        return srv.request(method, path, body=body, headers=headers)
    except (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionResetError,
            http.client.BadStatusLine):
        return ABORTED


@unittest.skipUnless(pgcluster.available(), "PostgreSQL 15 is not installed")
class PgFaultsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = pgcluster.PgCluster()
        cls.pg.start()
        cls.addClassCleanup(cls.pg.stop)
        # the fault seam's file (store_fault.h): read at each request's start, absent but in
        # test_3
        cls.fault_dir = tempfile.mkdtemp(prefix="almanac-pgfaults-seam-")
        cls.addClassCleanup(shutil.rmtree, cls.fault_dir, True)
        cls.fault_file = os.path.join(cls.fault_dir, "fault")
        os.environ["ALMANAC_STORE_FAULT_FILE"] = cls.fault_file
        try:
            cls.srv = PgServer(cls.pg, config="store_statement_timeout = 1\n")
        finally:
            del os.environ["ALMANAC_STORE_FAULT_FILE"]
        cls.addClassCleanup(cls._kill)
        s = cls.srv
        for path in ("/calendars/alice/cal/", "/calendars/alice/locked/"):
            r = s.request("MKCALENDAR", path)
            assert r.status == 201, r
        r = s.request("PUT", "/calendars/alice/cal/seed.ics", body=event("seed", "seed"),
                      headers=ICS)
        assert r.status == 201, r

    @classmethod
    def _kill(cls):
        if cls.srv.proc.poll() is None:
            cls.srv.proc.kill()
            cls.srv.proc.wait()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()  # exit 0, no sanitizer report

    def phone(self, device_id, folder):
        """A provisioned ActiveSync device with a sync state in calendar `folder`: (client,
        folder id, SyncKey)."""
        c = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                         device_id)
        c.provision()
        folders = ec.EASClient.folders_of(c.folder_sync("0"))
        fid = next(f["ServerId"] for f in folders if f["DisplayName"] == folder)
        key = ec.SyncResult(c.request("Sync", c.sync_request([{"key": "0", "id": fid}])))
        key = key.only().sync_key
        r = c.sync(fid, key, get_changes=True, window=500)
        self.assertEqual(r.only().status, 1, r.resp)
        return c, fid, r.only().sync_key

    # -- workers ------------------------------------------------------------------------

    def caldav_writer(self, load, name):
        n = 0
        while not load.stop_flag.is_set():
            n += 1
            path = "/calendars/alice/cal/%s-%d.ics" % (name, n)
            summary = "%s number %d" % (name, n)
            r = http_request(self.srv, "PUT", path, event("%s-%d" % (name, n), summary), ICS)
            if load.record(name, "PUT", r, (201, 204)):
                with load.lock:
                    load.acked.append(("dav", path, summary))
            r = http_request(self.srv, "GET", "/calendars/alice/cal/seed.ics")
            load.record(name, "GET", r, (200,))

    def exchange_worker(self, load, name):
        n = 0
        while not load.stop_flag.is_set():
            n += 1
            path = "/exchange/alice/cal/%s-%d.ics" % (name, n)
            summary = "%s number %d" % (name, n)
            r = http_request(self.srv, "PUT", path, event("%s-%d" % (name, n), summary), ICS)
            if load.record(name, "PUT /exchange", r, (201, 204)):
                with load.lock:
                    load.acked.append(("dav", path.replace("/exchange/", "/calendars/"), summary))
            r = http_request(self.srv, "SEARCH", "/exchange/alice/cal/", SEARCH, XML)
            load.record(name, "SEARCH", r, (207,), streamed=True)

    def reader(self, load, name):
        while not load.stop_flag.is_set():
            r = http_request(self.srv, "PROPFIND", "/calendars/alice/cal/", PROPFIND,
                             dict(XML, Depth="1"))
            load.record(name, "PROPFIND", r, (207,), streamed=True)

    def eas_writer(self, load, name, client, fid, key):
        n = 0
        start = datetime.datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
        while not load.stop_flag.is_set():
            n += 1
            subject = "%s number %d" % (name, n)
            add = E("Add", E("ClientId", "%s-%d" % (name, n)),
                    ec.calendar_appdata(subject, start, start + datetime.timedelta(hours=1)))
            try:
                resp = client.request("Sync", client.sync_request(
                    [{"key": key, "id": fid, "commands": [add]}]))
            except (http.client.IncompleteRead, http.client.RemoteDisconnected,
                    ConnectionResetError, http.client.BadStatusLine):
                load.record(name, "Sync", ABORTED, ())
                client.close()
                continue
            if not load.record(name, "Sync", resp, (200,)):
                continue
            col = ec.SyncResult(resp).only()
            adds = [x for x in col.responses if x["kind"] == "Add"]
            if col.status != 1 or len(adds) != 1 or adds[0]["Status"] != 1:
                with load.lock:
                    load.bad.append("%s Sync: 200 without the Add: %r" % (name, resp))
                continue
            key = col.sync_key
            with load.lock:
                load.acked.append(("eas", adds[0]["ServerId"], subject))

    # -- tests --------------------------------------------------------------------------

    def healthz(self):
        try:
            return self.srv.request("GET", "/healthz", auth=False).status
        except (ConnectionError, http.client.HTTPException) as e:
            return repr(e)

    def test_1_database_restart_under_load(self):
        phone, fid, key = self.phone("PGFAULT1", "cal")
        load = Load()
        for i in range(2):
            load.spawn("dav%d" % i, lambda n: self.caldav_writer(load, n))
        load.spawn("exchange", lambda n: self.exchange_worker(load, n))
        load.spawn("reader", lambda n: self.reader(load, n))
        load.spawn("eas", lambda n: self.eas_writer(load, n, phone, fid, key))
        workers = ["dav0", "dav1", "exchange", "reader", "eas"]
        try:
            time.sleep(2)
            self.assertEqual(load.count(503), 0, load.bad[:5])
            self.assertEqual(sorted(load.last_ok), sorted(workers), load.errors)
            self.assertEqual(self.healthz(), 200)

            self.assertEqual(self.pg.shutdown(), 0)
            down = time.monotonic()
            health_down = self.healthz()
            time.sleep(2)
            self.assertIsNone(self.srv.proc.poll(), "almanacd died with the database")

            self.pg.start_again()
            up = time.monotonic()
            deadline = up + 30
            while time.monotonic() < deadline:
                with load.lock:
                    recovered = [w for w in workers if load.last_ok.get(w, 0) > up]
                if len(recovered) == len(workers):
                    break
                time.sleep(0.1)
            recovery = time.monotonic() - up
            time.sleep(1)
        finally:
            load.stop()
            phone.close()
        self.assertEqual(load.errors, [])
        self.assertEqual(load.bad, [], "\n".join(load.bad[:10]))
        self.assertEqual(sorted(recovered), sorted(workers),
                         "not every worker succeeded again within 30 s of the restart")
        during = [a for a in load.answers if down <= a[5] <= up]
        self.assertTrue(any(a[2] == 503 for a in during), "no 503 while the database was away")
        self.assertEqual(health_down, 503)
        self.assertEqual(self.healthz(), 200)
        self.assertIsNone(self.srv.proc.poll())
        print("restart: %d answers, %d 503 store-unavailable, %d streams cut; every worker "
              "succeeded again %.2f s after the database was back" % (
                  len(load.answers), load.count(503), load.count(ABORTED), recovery))

        # nothing acknowledged is lost
        dav = [a for a in load.acked if a[0] == "dav"]
        eas = [a for a in load.acked if a[0] == "eas"]
        self.assertTrue(dav and eas)
        for _, path, summary in dav:
            r = self.srv.request("GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertIn("SUMMARY:" + summary, r.text)
        rep = self.srv.request("REPORT", "/calendars/alice/cal/", body=QUERY,
                               headers=dict(XML, Depth="1"))
        self.assertEqual(rep.status, 207)
        lost = [(sid, summary) for _, sid, summary in eas
                if "SUMMARY:%s&#13;" % summary not in rep.text]
        self.assertEqual(lost, [], "acknowledged ActiveSync Adds missing")
        log = self.srv.read_log()
        self.assertIn("store connection lost", log)
        self.assertNotIn("status=500", log)
        # every request of the outage failed to open a connection, but the log says so at most
        # once a second per kind of line, with the count of those it did not write
        # /metrics counts the connections the outage cost
        m = self.srv.request("GET", "/metrics", auth=False)
        self.assertEqual(m.status, 200)
        lost = re.search(r"^almanac_store_connections_lost_total (\d+)$", m.text, re.M)
        failed = re.search(r"^almanac_store_connect_failures_total (\d+)$", m.text, re.M)
        self.assertTrue(lost and failed, m.text[-600:])
        self.assertGreater(int(lost.group(1)), 0)
        self.assertGreater(int(failed.group(1)), 0)
        opens = re.findall(r"store pool cannot open a connection .*not_logged=(\d+)", log)
        outage = up - down
        self.assertGreater(len(opens), 0)
        self.assertLessEqual(len(opens), outage + 3, "one line a second at most")
        self.assertGreater(sum(int(n) for n in opens) + len(opens), len(opens),
                           "the lines not written are counted")

    def test_2_statement_timeout_answers_busy(self):
        phone, fid, key = self.phone("PGFAULT2", "locked")
        coll = self.pg.psql("SELECT c.id FROM collections c JOIN principals p ON p.id = c.owner "
                            "WHERE p.name = 'alice' AND c.name = 'locked'")
        self.assertTrue(coll.isdigit(), coll)
        holder = subprocess.Popen(
            [pgcluster.PSQL, "-X", "-q", "-d", self.pg.uri(), "-c",
             "BEGIN; SELECT 1 FROM collections WHERE id = %s FOR UPDATE; SELECT pg_sleep(6); "
             "COMMIT;" % coll],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.pg._env())
        try:
            deadline = time.monotonic() + 10
            while self.pg.psql("SELECT count(*) FROM pg_stat_activity "
                               "WHERE query LIKE '%pg_sleep(6)%' AND state = 'active' "
                               "AND pid <> pg_backend_pid()") != "1":
                self.assertLess(time.monotonic(), deadline, "the lock holder did not start")
                time.sleep(0.05)
            t0 = time.monotonic()
            r = self.srv.request("PUT", "/calendars/alice/locked/x.ics", body=event("x", "x"),
                                 headers=ICS)
            waited = time.monotonic() - t0
            self.assertEqual(r.status, 503, r)
            self.assertEqual(reason(r), "store-busy")
            self.assertTrue(r.header("Retry-After"), r)
            self.assertGreater(waited, 0.8)
            self.assertLess(waited, 4.5)

            start = datetime.datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
            add = E("Add", E("ClientId", "t-1"),
                    ec.calendar_appdata("t", start, start + datetime.timedelta(hours=1)))
            resp = phone.request("Sync", phone.sync_request(
                [{"key": key, "id": fid, "commands": [add]}]))
            self.assertEqual(resp.status, 503, resp)
            self.assertEqual(resp.header("X-Almanac-Reason"), "eas-busy")
            self.assertTrue(resp.header("Retry-After"), resp)
        finally:
            holder.wait(30)
        r = self.srv.request("PUT", "/calendars/alice/locked/x.ics", body=event("x", "x"),
                             headers=ICS)
        self.assertEqual(r.status, 201, r)
        col = phone.sync(fid, key, commands=[add]).only()
        self.assertEqual(col.status, 1)
        self.assertEqual([x["Status"] for x in col.responses if x["kind"] == "Add"], [1])
        phone.close()
        self.assertIn("store statement cancelled", self.srv.read_log())


    # -- the connection lost at each statement of a request (the fault seam) -------------

    def fingerprint(self):
        """A digest of every row of every table (ActiveSync last_seen, stamped in batches at
        any moment, left out), read with psql."""
        tables = self.pg.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                              "ORDER BY tablename").split()
        parts = ["SELECT '%s:' || md5(coalesce(string_agg((to_jsonb(x) - 'last_seen')::text, "
                 "'|' ORDER BY (to_jsonb(x) - 'last_seen')::text), '')) FROM %s x" % (t, t)
                 for t in tables]
        return self.pg.psql(" UNION ALL ".join(parts))

    def lose_at_each_point(self, name, send, done_ok, streamed=False):
        """Sends the request with its Nth statement point losing the connection (stmt=N,
        err=lost), N = 1, 2, ... until it runs without reaching point N; checks each faulted
        answer (503 store-unavailable with Retry-After, or a streamed answer cut off), that
        the store is as before and almanacd up; the unfaulted run must pass done_ok."""
        before = self.fingerprint()
        log_pos = len(self.srv.read_log())
        for n in range(1, 200):
            with open(self.fault_file + ".tmp", "w") as f:
                f.write("stmt=%d,err=lost" % n)
            os.rename(self.fault_file + ".tmp", self.fault_file)
            answer = send()
            self.assertFalse(os.path.exists(self.fault_file), name)
            log = self.srv.read_log()[log_pos:]
            log_pos += len(log)
            self.assertIsNone(self.srv.proc.poll(), "%s: almanacd died at point %d" % (name, n))
            self.assertIsNone(harness.SANITIZER_RE.search(log), log[-4000:])
            if "store fault injected" not in log:
                done_ok(answer)
                self.assertGreaterEqual(n - 1, 3, name)
                sys.stderr.write("  %s: %d statement points\n" % (name, n - 1))
                return
            self.assertIn("store connection lost", log)
            if answer is ABORTED:
                self.assertTrue(streamed, "%s: point %d: cut off" % (name, n))
            else:
                self.assertEqual(answer.status, 503, "%s: point %d: %r" % (name, n, answer))
                self.assertEqual(reason(answer), "store-unavailable", "%s: point %d" % (name, n))
                self.assertTrue(answer.header("Retry-After"))
            self.assertEqual(self.fingerprint(), before,
                             "%s: point %d left a partial write" % (name, n))
        self.fail("%s: still faulting after 200 points" % name)

    def test_3_connection_lost_at_each_statement(self):
        s = self.srv
        # a calendar of its own: the points of a listing grow with its items (a PROPFIND
        # reads each item's dead properties), and test_1 fills "cal"
        self.assertEqual(s.request("MKCALENDAR", "/calendars/alice/small/").status, 201)
        r = s.request("PUT", "/calendars/alice/small/lost.ics", body=event("lost", "v1"),
                      headers=ICS)
        self.assertEqual(r.status, 201, r)

        def done(*statuses):
            def check(answer):
                self.assertIsNot(answer, ABORTED)
                self.assertIn(answer.status, statuses, answer)
            return check
        self.lose_at_each_point(
            "PUT replace", lambda: http_request(s, "PUT", "/calendars/alice/small/lost.ics",
                                                event("lost", "v2"), ICS), done(204))
        self.assertIn("SUMMARY:v2", s.request("GET", "/calendars/alice/small/lost.ics").text)
        self.lose_at_each_point(
            "/exchange PUT", lambda: http_request(s, "PUT", "/exchange/alice/small/lost2.ics",
                                                  event("lost2", "x"), ICS), done(201))
        self.lose_at_each_point(
            "PROPFIND", lambda: http_request(s, "PROPFIND", "/calendars/alice/small/", PROPFIND,
                                             dict(XML, Depth="1")), done(207), streamed=True)
        self.lose_at_each_point(
            "SEARCH", lambda: http_request(s, "SEARCH", "/exchange/alice/small/", SEARCH, XML),
            done(207), streamed=True)

        phone, fid, key = self.phone("PGFAULT3", "small")
        start = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
        add = E("Add", E("ClientId", "l-1"),
                ec.calendar_appdata("lost eas", start, start + datetime.timedelta(hours=1)))

        def sync_add():
            return phone.request("Sync", phone.sync_request(
                [{"key": key, "id": fid, "commands": [add]}]))

        def synced(answer):
            self.assertEqual(answer.status, 200, answer)
            col = ec.SyncResult(answer).only()
            self.assertEqual(col.status, 1)
            self.assertEqual([x["Status"] for x in col.responses if x["kind"] == "Add"], [1])
        self.lose_at_each_point("ActiveSync Sync Add", sync_add, synced)
        phone.close()


if __name__ == "__main__":
    harness.main()
