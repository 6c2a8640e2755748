"""tests/integration/test_store_faults.py: every request path under store faults (issue #11
item 5, issue #14; an organizer's PUT that queues an iMIP message, issue 13 item 5),
against the real almanacd built with the fault seam (ALMANAC_FAULTS;
src/store/store_fault.h, src/server/faults.h).

The server runs with ALMANAC_STORE_FAULT_FILE set. For each request path that writes (CalDAV
PUT create/replace, DELETE, COPY, MOVE, MKCALENDAR, MKCOL, PROPPATCH; a sharee's PUT,
PROPFIND of their home and DELETE of the share, Apple's CS:share POST; /exchange PUT and
PROPPATCH; ActiveSync Sync Add/Change/Delete, FolderCreate, Provision and Settings) and each
main read path (PROPFIND, sync-collection and calendar-query REPORTs, calendar-multiget,
replication SEARCH, ActiveSync FolderSync and Sync download), the test writes
"stmt=N,err=io" into that file before sending the request, for N = 1, 2, ... until the
request runs without reaching its Nth statement point (the server logs each injected fault,
so the test knows whether it fired). Whenever it fired:
- the answer is the documented one for a failed store (docs/errors.md): a WebDAV 503
  `store-failed` with Retry-After and the <A:reason> element; an ActiveSync 503 with
  Retry-After and X-Almanac-Reason `eas-store-failed`, or the command's own server-error
  status inside a 200 where the protocol has one (FolderCreate Status 6); a streamed answer
  whose status line was already sent is cut off (the connection closes before the last
  chunk), never a complete-looking body;
- never a 500; the server is still up;
- the store is exactly as before: a dump of every table (ActiveSync last_seen aside, which
  almanacd stores in batches, at any moment, for the requests that wrote nothing) equals the
  dump taken before. That includes a new device's row (written with the command's first
  write, so not at all when the command fails) and a Ping's parameters (stored right before
  its answer).
The run without a fault then succeeds. A build without the seam must ignore the variable and
say so in its log, which the test checks instead."""

import http.client
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import easclient as ec  # noqa: E402
import harness  # noqa: E402
from easclient import E  # noqa: E402

R = "http://schemas.microsoft.com/repl/"
ICS = {"Content-Type": "text/calendar"}
XML = {"Content-Type": 'text/xml; charset="utf-8"'}
MAX_POINTS = 400
INJECTED = "store fault injected"
ABORTED = "aborted"


def event(uid, summary="s", start="20260105T100000Z", end="20260105T110000Z"):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, start, end, summary))


def meeting(uid, partstat):
    """A meeting alice organizes with bob invited (issue 13)."""
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
            "DTEND:20260105T110000Z\r\nSUMMARY:m\r\nORGANIZER:mailto:alice@example.org\r\n"
            "ATTENDEE;PARTSTAT=%s:mailto:bob@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            % (uid, partstat))


def proppatch_body(value):
    return ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:x-test:">'
            '<D:set><D:prop><X:color>%s</X:color></D:prop></D:set>'
            '<D:remove><D:prop><X:shade/></D:prop></D:remove></D:propertyupdate>' % value)


PROPFIND = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            '<D:displayname/><D:sync-token/><D:resourcetype/></D:prop></D:propfind>')
SYNC_REPORT = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/>'
               '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>')
QUERY_REPORT = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
                '</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                '<C:time-range start="20260101T000000Z" end="20270101T000000Z"/></C:comp-filter>'
                '</C:comp-filter></C:filter></C:calendar-query>')
MULTIGET_REPORT = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
                   'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
                   '<C:calendar-data/></D:prop><D:href>/calendars/alice/cal/a.ics</D:href>'
                   '<D:href>/calendars/alice/cal/b.ics</D:href></C:calendar-multiget>')
SEARCH = ('<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:" xmlns:R="%s"><R:repl>'
          '<R:collblob></R:collblob></R:repl><D:sql>SELECT "DAV:href", "%sresourcetag" FROM '
          'SCOPE(\'SHALLOW TRAVERSAL OF ""\')</D:sql></D:searchrequest>' % (R, R))


def dump(db_path, skip=None, keep_last_seen=False):
    """Every row of every table of the committed store, as text; ActiveSync last_seen (the
    batched stamps of src/eas/seen.c, stored at any moment) left out unless keep_last_seen,
    and the rows skip(table, row) names."""
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    try:
        out = []
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        for t in tables:
            cur = db.execute('SELECT * FROM "%s"' % t)
            cols = [d[0] for d in cur.description]
            rows = []
            for row in cur:
                if skip and skip(t, row):
                    continue
                rows.append(tuple(v for c, v in zip(cols, row)
                                  if keep_last_seen or not (t == "eas_devices" and
                                                            c == "last_seen")))
            out.append((t, sorted(rows, key=repr)))
        return out
    finally:
        db.close()


def diff(before, after):
    lines = []
    for (t, a), (_, b) in zip(before, after):
        if a != b:
            lines.append("table %s:\n  before %r\n  after  %r" % (t, a, b))
    return "\n".join(lines)[:4000]


PG_REASON = ("the fault points (src/store/store_fault.h) are the SQLite engine's statement "
             "points and WAL fsyncs; the PostgreSQL engine has none, its faults (a lost "
             "connection, a statement timeout) are tested on their own (issue #10 item 5)")


class FaultServer:
    """The harness's server, started with the per-request fault file."""

    def __init__(self, config=None, process_plan=None):
        self.tmp = tempfile.mkdtemp(prefix="almanac-faults-")
        self.fault_file = os.path.join(self.tmp, "fault")
        env = {"ALMANAC_STORE_FAULT_FILE": self.fault_file}
        if process_plan:
            env["ALMANAC_STORE_FAULT"] = process_plan
        os.environ.update(env)
        try:
            self.srv = harness.Server(config=config)
        finally:
            for k in env:
                del os.environ[k]
        self.db = os.path.join(self.srv.data, "almanac.db")
        self.log_pos = 0

    def seam_built_in(self):
        log = self.srv.read_log()
        return "store faults armed per request" in log

    def new_log(self):
        with open(self.srv.log_path) as f:
            f.seek(self.log_pos)
            text = f.read()
            self.log_pos = f.tell()
        return text

    def arm(self, spec):
        tmp = self.fault_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(spec)
        os.rename(tmp, self.fault_file)

    def stop(self):
        self.srv.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def http_request(srv, method, path, body=None, headers=None, user="alice", auth=True):
    """One request; ABORTED when the server cut the answer off (a streamed body after its
    status line), else a harness.Response."""
    try:
        return srv.request(method, path, user=user, body=body, headers=headers, auth=auth)
    except (http.client.IncompleteRead, http.client.RemoteDisconnected, ConnectionResetError,
            http.client.BadStatusLine):
        return ABORTED


@harness.not_on("postgresql", PG_REASON)
class StoreFaultsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # imip_from without a relay: messages to outside addresses are queued, never sent
        cls.fs = FaultServer(config="eas_ping_min_heartbeat = 1\nmail_domain = example.org\n"
                                    "imip_from = calendar@example.org\n")
        cls.srv = cls.fs.srv
        cls.addClassCleanup(cls._kill)
        if not cls.fs.seam_built_in():
            return
        s = cls.srv
        for path in ("/calendars/alice/cal/", "/calendars/alice/cal2/"):
            cls._ok(s.request("MKCALENDAR", path), 201)
        cls._ok(s.request("MKCOL", "/calendars/alice/dir/"), 201)
        for name in ("a", "b", "gone"):
            cls._ok(s.request("PUT", "/calendars/alice/cal/%s.ics" % name, body=event(name),
                              headers=ICS), 201)
        cls._ok(s.request("DELETE", "/calendars/alice/cal/gone.ics"), 204)
        cls._ok(s.request("PROPPATCH", "/calendars/alice/cal/a.ics", body=proppatch_body("red"),
                          headers=XML), 207)
        # issue 12: bob holds a read-write grant on "cal", seen as /calendars/bob/alice-cal/
        s.cli("share", "alice", "cal", "bob", "read-write")
        # a phone with a sync state in "cal"
        cls.phone = ec.EASClient("127.0.0.1", s.port, "alice", s.passwords["alice"], "FAULTS1")
        cls.phone.provision()
        folders = ec.EASClient.folders_of(cls.phone.folder_sync("0"))
        cls.folder_key = None
        cls.fid = next(f["ServerId"] for f in folders if f["DisplayName"] == "cal")
        r = ec.SyncResult(cls.phone.request("Sync", cls.phone.sync_request(
            [{"key": "0", "id": cls.fid}])))
        key = r.only().sync_key
        r = cls.phone.sync(cls.fid, key, get_changes=True, window=100)
        assert r.only().status == 1 and len(r.only().adds) == 2, r.resp
        cls.sync_key = r.only().sync_key
        fs = cls.phone.folder_sync("0")
        cls.folder_key = fs.doc.findtext("SyncKey")

    @classmethod
    def _kill(cls):
        if cls.srv.proc.poll() is None:
            cls.srv.proc.kill()
            cls.srv.proc.wait()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "phone", None):
            cls.phone.close()
        cls.fs.stop()

    @staticmethod
    def _ok(resp, status):
        if resp.status != status:
            raise AssertionError("setup: expected %d, got %r" % (status, resp))

    def setUp(self):
        if not self.fs.seam_built_in() and self._testMethodName != "test_0_release_build_ignores":
            self.skipTest("almanacd has no fault seam")

    # the loop ------------------------------------------------------------------------------

    def run_faults(self, name, send, failed_ok, done_ok, undo=None, err="io", keep=None):
        """Sends the request with fault N armed for N = 1.. (see the file comment). `send()`
        returns the answer; failed_ok(answer) checks the answer of a failed request and
        done_ok(answer) the one that ran without a fault; `undo()` puts back what the
        successful run changed, so a later test starts from the same store; `keep(table,
        row)` true leaves a row out of the comparison. Returns the number of faulted runs."""
        self.fs.new_log()
        before = dump(self.fs.db, keep)
        for n in range(1, MAX_POINTS):
            self.fs.arm("stmt=%d,err=%s" % (n, err))
            answer = send()
            self.assertFalse(os.path.exists(self.fs.fault_file),
                             "%s: the request did not take the fault file" % name)
            log = self.fs.new_log()
            self.assertIsNone(self.srv.proc.poll(), "%s: almanacd died at fault %d:\n%s"
                              % (name, n, log[-3000:]))
            harness_check = harness.SANITIZER_RE.search(log)
            self.assertIsNone(harness_check, "%s: sanitizer report at fault %d:\n%s"
                              % (name, n, log[-6000:]))
            if INJECTED not in log:
                done_ok(answer)
                # BEGIN, at least one statement and COMMIT or the read's end failed once each
                self.assertGreaterEqual(n - 1, 3, "%s: only %d fault points" % (name, n - 1))
                sys.stderr.write("  %s: %d fault points\n" % (name, n - 1))
                if undo:
                    undo()
                return n - 1
            if answer is not ABORTED:
                self.assertNotEqual(answer.status, 500, "%s: fault %d answered 500: %r\n%s"
                                    % (name, n, answer, log[-2000:]))
            try:
                failed_ok(answer)
            except AssertionError as e:
                raise AssertionError("%s: fault %d: %s\n%s" % (name, n, e, log[-2500:])) from None
            after = dump(self.fs.db, keep)
            self.assertEqual(before, after, "%s: fault %d left a partial write:\n%s\n%s"
                             % (name, n, diff(before, after), log[-2500:]))
        self.fail("%s: still faulting after %d points" % (name, MAX_POINTS))

    # answers -------------------------------------------------------------------------------

    def dav_failed(self, answer, streamed=False):
        if answer is ABORTED:
            self.assertTrue(streamed, "the connection was cut on a non-streamed answer")
            return
        self.assertEqual(answer.status, 503, answer)
        self.assertTrue(answer.header("Retry-After"), "no Retry-After: %r" % answer)
        self.assertIn("<A:reason>store-failed</A:reason>", answer.text)
        self.assertNotIn("injected", answer.text)  # the detail stays in the log

    def dav_streamed_failed(self, answer):
        self.dav_failed(answer, streamed=True)

    def status_is(self, *statuses):
        def check(answer):
            self.assertIsNot(answer, ABORTED)
            self.assertIn(answer.status, statuses, answer)
        return check

    def eas_failed(self, answer, inner=None):
        """503 + Retry-After + reason, or (inner = (path, status)) that status in a 200."""
        self.assertIsNot(answer, ABORTED)
        if answer.status == 200 and inner is not None:
            self.assertEqual(answer.doc.findtext(inner[0]), str(inner[1]), answer)
            return
        self.assertEqual(answer.status, 503, answer)
        self.assertTrue(answer.header("Retry-After"), answer)
        self.assertEqual(answer.header("X-Almanac-Reason"), "eas-store-failed", answer)

    # WebDAV / CalDAV writes ----------------------------------------------------------------

    def dav(self, method, path, body=None, headers=None):
        return lambda: http_request(self.srv, method, path, body=body, headers=headers)

    def test_caldav_put_create(self):
        self.run_faults("PUT create", self.dav("PUT", "/calendars/alice/cal/new.ics",
                                                event("new"), ICS),
                        self.dav_failed, self.status_is(201),
                        undo=self.dav("DELETE", "/calendars/alice/cal/new.ics"))

    def test_caldav_put_replace(self):
        self.run_faults("PUT replace", self.dav("PUT", "/calendars/alice/cal/b.ics",
                                                 event("b", "changed"), ICS),
                        self.dav_failed, self.status_is(204))

    def test_caldav_delete(self):
        self.run_faults("DELETE", self.dav("DELETE", "/calendars/alice/cal/b.ics"),
                        self.dav_failed, self.status_is(204),
                        undo=self.dav("PUT", "/calendars/alice/cal/b.ics", event("b"), ICS))

    def test_caldav_copy(self):
        self.run_faults("COPY", self.dav("COPY", "/calendars/alice/cal/a.ics", headers={
            "Destination": "/calendars/alice/cal2/a.ics"}),
            self.dav_failed, self.status_is(201),
            undo=self.dav("DELETE", "/calendars/alice/cal2/a.ics"))

    def test_caldav_move(self):
        self.run_faults("MOVE", self.dav("MOVE", "/calendars/alice/cal/b.ics", headers={
            "Destination": "/calendars/alice/cal2/b.ics"}),
            self.dav_failed, self.status_is(201),
            undo=self.dav("MOVE", "/calendars/alice/cal2/b.ics", headers={
                "Destination": "/calendars/alice/cal/b.ics"}))

    def test_caldav_put_meeting_delivers_atomically(self):
        """Issue 13: the organizer's PUT and bob's copy (with his calendar, inbox and outbox
        made on the way) commit together or not at all."""
        self.run_faults("PUT meeting", self.dav("PUT", "/calendars/alice/cal/meet.ics",
                                                 meeting("meet", "NEEDS-ACTION"), ICS),
                        self.dav_failed, self.status_is(201),
                        undo=self.dav("DELETE", "/calendars/alice/cal/meet.ics"))

    def test_caldav_put_meeting_queues_imip_atomically(self):
        """Issue 13 item 5: the organizer's PUT and the iMIP message for an outside attendee
        (its row in imip_queue) commit together or not at all."""
        body = meeting("meet-ext", "NEEDS-ACTION").replace("mailto:bob@example.org",
                                                            "mailto:ext@outside.test")
        self.run_faults("PUT meeting to outside", self.dav("PUT",
                                                            "/calendars/alice/cal/meet-ext.ics",
                                                            body, ICS),
                        self.dav_failed, self.status_is(201),
                        undo=self.dav("DELETE", "/calendars/alice/cal/meet-ext.ics"))
        db = sqlite3.connect(self.fs.db)
        try:
            rows = db.execute("SELECT method, rcpt_to FROM imip_queue WHERE uid = 'meet-ext' "
                              "ORDER BY id").fetchall()
        finally:
            db.close()
        self.assertEqual(rows, [("REQUEST", "ext@outside.test"), ("CANCEL", "ext@outside.test")])

    def test_caldav_put_reply_updates_organizer_atomically(self):
        self._ok(http_request(self.srv, "PUT", "/calendars/alice/cal/meet2.ics",
                              body=meeting("meet2", "NEEDS-ACTION"), headers=ICS), 201)
        copy = http_request(self.srv, "GET", "/calendars/bob/calendar/meet2.ics", user="bob")
        self._ok(copy, 200)
        accepted = copy.text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
        self.run_faults("PUT reply", lambda: http_request(
            self.srv, "PUT", "/calendars/bob/calendar/meet2.ics", body=accepted, headers=ICS,
            user="bob"), self.dav_failed, self.status_is(204))
        org = http_request(self.srv, "GET", "/calendars/alice/cal/meet2.ics")
        self.assertIn("PARTSTAT=ACCEPTED", org.text.replace("\r\n ", ""))
        self._ok(http_request(self.srv, "DELETE", "/calendars/alice/cal/meet2.ics"), 204)

    def test_caldav_mkcalendar(self):
        self.run_faults("MKCALENDAR", self.dav("MKCALENDAR", "/calendars/alice/new/"),
                        self.dav_failed, self.status_is(201),
                        undo=self.dav("DELETE", "/calendars/alice/new/"))

    def test_webdav_mkcol(self):
        self.run_faults("MKCOL", self.dav("MKCOL", "/calendars/alice/dir/sub/"),
                        self.dav_failed, self.status_is(201),
                        undo=self.dav("DELETE", "/calendars/alice/dir/sub/"))

    def test_caldav_proppatch(self):
        self.run_faults("PROPPATCH", self.dav("PROPPATCH", "/calendars/alice/cal/a.ics",
                                              proppatch_body("blue"), XML),
                        self.dav_failed, self.status_is(207))

    def test_caldav_delete_collection(self):
        self.assertEqual(self.srv.request("MKCALENDAR", "/calendars/alice/tmp/").status, 201)
        self.assertEqual(self.srv.request("PUT", "/calendars/alice/tmp/x.ics", body=event("x"),
                                          headers=ICS).status, 201)
        self.run_faults("DELETE collection", self.dav("DELETE", "/calendars/alice/tmp/"),
                        self.dav_failed, self.status_is(204))

    # shared calendars (issue 12) -----------------------------------------------------------

    def as_bob(self, method, path, body=None, headers=None):
        return lambda: http_request(self.srv, method, path, body=body, headers=headers,
                                    user="bob")

    def test_sharee_put(self):
        self.run_faults("sharee PUT", self.as_bob("PUT", "/calendars/bob/alice-cal/s.ics",
                                                  event("s"), ICS),
                        self.dav_failed, self.status_is(201),
                        undo=self.dav("DELETE", "/calendars/alice/cal/s.ics"))

    def test_sharee_propfind_home(self):
        self.run_faults("sharee PROPFIND home", self.as_bob("PROPFIND", "/calendars/bob/",
                                                            PROPFIND, dict(XML, Depth="1")),
                        self.dav_streamed_failed, self.status_is(207))

    def test_sharee_leaves_share(self):
        self.run_faults("sharee DELETE of the share", self.as_bob("DELETE",
                                                                  "/calendars/bob/alice-cal/"),
                        self.dav_failed, self.status_is(204),
                        undo=lambda: self.srv.cli("share", "alice", "cal", "bob", "read-write"))

    def test_cs_share_post(self):
        body = ('<?xml version="1.0"?><CS:share xmlns:D="DAV:" '
                'xmlns:CS="http://calendarserver.org/ns/"><CS:set><D:href>mailto:bob@example.org'
                '</D:href><CS:read/></CS:set></CS:share>')
        self.run_faults("CS:share POST", self.dav("POST", "/calendars/alice/cal2/", body, XML),
                        self.dav_failed, self.status_is(200),
                        undo=lambda: self.srv.cli("unshare", "alice", "cal2", "bob"))

    # /exchange writes ----------------------------------------------------------------------

    def test_exchange_put(self):
        self.run_faults("/exchange PUT", self.dav("PUT", "/exchange/alice/cal/ex.ics",
                                                  event("ex"), ICS),
                        self.dav_failed, self.status_is(201),
                        undo=self.dav("DELETE", "/calendars/alice/cal/ex.ics"))

    def test_exchange_proppatch(self):
        body = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
                'xmlns:C="urn:schemas:calendar:" xmlns:H="urn:schemas:httpmail:"><D:set><D:prop>'
                '<H:subject>edited</H:subject><C:location>here</C:location></D:prop></D:set>'
                '</D:propertyupdate>')
        self.run_faults("/exchange PROPPATCH", self.dav("PROPPATCH", "/exchange/alice/cal/a.ics",
                                                        body, XML),
                        self.dav_failed, self.status_is(207))

    # reads ---------------------------------------------------------------------------------

    def test_propfind(self):
        self.run_faults("PROPFIND", self.dav("PROPFIND", "/calendars/alice/cal/", PROPFIND,
                                             dict(XML, Depth="1")),
                        self.dav_streamed_failed, self.status_is(207))

    def test_report_sync_collection(self):
        self.run_faults("REPORT sync-collection",
                        self.dav("REPORT", "/calendars/alice/cal/", SYNC_REPORT, XML),
                        self.dav_streamed_failed, self.status_is(207))

    def test_report_calendar_query(self):
        self.run_faults("REPORT calendar-query",
                        self.dav("REPORT", "/calendars/alice/cal/", QUERY_REPORT,
                                 dict(XML, Depth="1")),
                        self.dav_streamed_failed, self.status_is(207))

    def test_report_calendar_multiget(self):
        self.run_faults("REPORT calendar-multiget",
                        self.dav("REPORT", "/calendars/alice/cal/", MULTIGET_REPORT, XML),
                        self.dav_streamed_failed, self.status_is(207))

    def test_get(self):
        self.run_faults("GET", self.dav("GET", "/calendars/alice/cal/a.ics"),
                        self.dav_failed, self.status_is(200))

    def test_calendar_export(self):
        self.run_faults("GET calendar as one file",
                        self.dav("GET", "/calendars/alice/cal/", headers={"Accept": "text/calendar"}),
                        self.dav_streamed_failed, self.status_is(200))

    def test_subscription(self):
        path = self.srv.cli("subscription", "add", "alice", "cal").stdout.strip()

        def failed(answer):
            if answer is ABORTED:
                return  # the body was streaming
            self.assertEqual(answer.status, 503, answer)
            self.assertTrue(answer.header("Retry-After"), answer)
            self.assertTrue(answer.text.startswith("service-unavailable: "), answer)
            self.assertNotIn("injected", answer.text)
        try:
            self.run_faults("GET subscription",
                            lambda: http_request(self.srv, "GET", path, auth=False),
                            failed, self.status_is(200))
        finally:
            self.srv.cli("subscription", "del", "alice", "cal")

    def test_replication_search(self):
        self.run_faults("SEARCH", self.dav("SEARCH", "/exchange/alice/cal/", SEARCH, XML),
                        self.dav_streamed_failed, self.status_is(207))

    # ActiveSync ----------------------------------------------------------------------------

    def eas(self, cmd, body_fn):
        def send():
            self.phone.close()
            return self.phone.request(cmd, body_fn())
        return send

    def eas_ok(self, answer):
        self.assertIsNot(answer, ABORTED)
        self.assertEqual(answer.status, 200, answer)

    def sync_ok(self, answer):
        self.eas_ok(answer)
        r = ec.SyncResult(answer)
        self.assertEqual(r.only().status, 1, answer)
        for resp in r.only().responses:
            self.assertEqual(resp["Status"], 1, answer)
        type(self).sync_key = r.only().sync_key

    def sync_body(self, commands=None, get_changes=None):
        return lambda: self.phone.sync_request([{"key": self.sync_key, "id": self.fid,
                                                 "commands": commands,
                                                 "get_changes": get_changes}])

    def phone_item(self, name):
        """Puts `name` through CalDAV and syncs it down to the phone (no fault): its ServerId."""
        self.assertEqual(self.srv.request("PUT", "/calendars/alice/cal/%s" % name,
                                          body=event(name, name), headers=ICS).status, 201)
        self.fs.new_log()
        r = self.phone.sync(self.fid, self.sync_key, get_changes=True, window=100)
        self.assertEqual(r.only().status, 1, r.resp)
        type(self).sync_key = r.only().sync_key
        sids = [sid for sid, data in r.only().adds
                if data is not None and data.findtext("Subject") == name]
        self.assertEqual(len(sids), 1, r.resp)
        return sids[0]

    def test_eas_sync_add(self):
        add = E("Add", E("ClientId", "c1"),
                ec.calendar_appdata("phone event", ec.parse_compact("20260210T100000Z"),
                                    ec.parse_compact("20260210T110000Z"), uid="phone-uid-1"))
        self.run_faults("Sync Add", self.eas("Sync", self.sync_body([add])), self.eas_failed,
                        self.sync_ok)

    def test_eas_sync_change(self):
        sid = self.phone_item("chg.ics")
        change = E("Change", E("ServerId", sid),
                   ec.calendar_appdata("changed on the phone",
                                       ec.parse_compact("20260105T120000Z"),
                                       ec.parse_compact("20260105T130000Z")))
        self.run_faults("Sync Change", self.eas("Sync", self.sync_body([change])),
                        self.eas_failed, self.sync_ok)

    def test_eas_sync_delete(self):
        sid = self.phone_item("del.ics")
        self.run_faults("Sync Delete",
                        self.eas("Sync", self.sync_body([E("Delete", E("ServerId", sid))])),
                        self.eas_failed, self.sync_ok)

    def test_eas_meeting_response(self):
        """Issue 13: alice's accept from her phone (her copy) and bob's copy updated by the
        reply commit together or not at all."""
        self.srv.request("MKCALENDAR", "/calendars/bob/mr/", user="bob")
        body = meeting("mresp", "NEEDS-ACTION").replace("alice@", "carol@").replace(
            "bob@", "alice@").replace("carol@", "bob@")
        self._ok(http_request(self.srv, "PUT", "/calendars/bob/mr/mresp.ics", body=body,
                              headers=ICS, user="bob"), 201)
        self.assertEqual(self.srv.request("GET", "/calendars/alice/cal/mresp.ics").status, 200)
        self.fs.new_log()
        r = self.phone.sync(self.fid, self.sync_key, get_changes=True, window=100)
        type(self).sync_key = r.only().sync_key
        sid = next(s for s, data in r.only().adds
                   if data is not None and data.findtext("UID") == "mresp")

        def accepted(answer):
            self.eas_ok(answer)
            self.assertEqual(answer.doc.findtext("Result/Status"), "1", answer)
            org = http_request(self.srv, "GET", "/calendars/bob/mr/mresp.ics", user="bob")
            self.assertIn("PARTSTAT=ACCEPTED", org.text)

        self.run_faults("MeetingResponse", self.eas("MeetingResponse", lambda: E(
            "M:MeetingResponse", E("Request", E("UserResponse", "1"),
                                   E("CollectionId", self.fid), E("RequestId", sid)))),
            self.eas_failed, accepted)
        # the phone takes the accepted copy, so later tests start with nothing pending
        self.fs.new_log()
        r = self.phone.sync(self.fid, self.sync_key, get_changes=True, window=100)
        type(self).sync_key = r.only().sync_key

    def test_eas_sync_download(self):
        self.assertEqual(self.srv.request("PUT", "/calendars/alice/cal/dl.ics", body=event("dl"),
                                          headers=ICS).status, 201)
        self.run_faults("Sync download", self.eas("Sync", self.sync_body(get_changes=True)),
                        self.eas_failed, self.sync_ok)

    def test_eas_folder_sync(self):
        self.run_faults("FolderSync", self.eas("FolderSync", lambda: E(
            "F:FolderSync", E("SyncKey", self.folder_key))),
            lambda a: self.eas_failed(a, ("Status", 6)), self.eas_ok)

    def test_eas_folder_create(self):
        def created(answer):
            self.eas_ok(answer)
            self.assertEqual(answer.doc.findtext("Status"), "1", answer)
            type(self).folder_key = answer.doc.findtext("SyncKey")
        self.run_faults("FolderCreate", self.eas("FolderCreate", lambda: E(
            "F:FolderCreate", E("SyncKey", self.folder_key), E("ParentId", "0"),
            E("DisplayName", "from the phone"), E("Type", "13"))),
            lambda a: self.eas_failed(a, ("Status", 6)), created)

    def test_eas_folder_update(self):
        fid = next(f["ServerId"] for f in ec.EASClient.folders_of(self.phone.folder_sync("0"))
                   if f["DisplayName"] == "cal2")
        type(self).folder_key = self.phone.folder_sync("0").doc.findtext("SyncKey")

        def renamed(answer):
            self.eas_ok(answer)
            self.assertEqual(answer.doc.findtext("Status"), "1", answer)
            type(self).folder_key = answer.doc.findtext("SyncKey")
        self.run_faults("FolderUpdate", self.eas("FolderUpdate", lambda: E(
            "F:FolderUpdate", E("SyncKey", self.folder_key), E("ServerId", fid),
            E("ParentId", "0"), E("DisplayName", "renamed"))),
            lambda a: self.eas_failed(a, ("Status", 6)), renamed)

    def test_eas_get_item_estimate(self):
        self.run_faults("GetItemEstimate", lambda: (self.phone.close(), self.phone.get_item_estimate(
            self.fid, self.sync_key))[1], self.eas_failed, self.eas_ok)

    def test_eas_item_operations_fetch(self):
        sid = self.phone_item("fetch.ics")

        def fetched(answer):
            self.eas_ok(answer)
            self.assertEqual(answer.doc.findtext("Response/Fetch/Status"), "1", answer)
        self.run_faults("ItemOperations Fetch", lambda: (self.phone.close(), self.phone.fetch(
            self.fid, sid))[1], self.eas_failed, fetched)

    def test_eas_ping(self):
        """Ping keeps its parameters (heartbeat, folders: the blob "ping") for a later empty
        Ping in a write of their own right before its answer, and only when they are new: a
        Ping that fails anywhere, that write included, leaves nothing (issue 16)."""
        def expired(answer):
            self.eas_ok(answer)
            self.assertEqual(answer.doc.findtext("Status"), "1", answer)  # heartbeat expired
        heartbeat = [1]

        def send():
            # parameters the store does not hold yet, each time: the write happens
            self.phone.close()
            return self.phone.ping(heartbeat[0], [(self.fid, "Calendar")])

        def undo():
            heartbeat[0] += 1
        self.run_faults("Ping", send, self.eas_failed, expired, undo=undo)
        heartbeat[0] = 1
        # the same parameters again, now stored: no write to fail
        self.run_faults("Ping (stored parameters)", send, self.eas_failed, expired)

    # other error classes -------------------------------------------------------------------

    def test_caldav_put_busy(self):
        """A busy store (SQLITE_BUSY past the timeout) is store-busy; a statement that cannot
        be prepared is store-failed whatever the cause."""
        def failed(answer):
            self.assertIsNot(answer, ABORTED)
            self.assertEqual(answer.status, 503, answer)
            self.assertTrue(answer.header("Retry-After"), answer)
            self.assertRegex(answer.text, "<A:reason>store-(busy|failed)</A:reason>")
        self.run_faults("PUT busy", self.dav("PUT", "/calendars/alice/cal/busy.ics",
                                              event("busy"), ICS),
                        failed, self.status_is(201), err="busy",
                        undo=self.dav("DELETE", "/calendars/alice/cal/busy.ics"))

    def test_eas_sync_add_full_disk(self):
        add = E("Add", E("ClientId", "c2"),
                ec.calendar_appdata("full disk", ec.parse_compact("20260211T100000Z"),
                                    ec.parse_compact("20260211T110000Z"), uid="phone-uid-2"))
        self.run_faults("Sync Add (full disk)", self.eas("Sync", self.sync_body([add])),
                        self.eas_failed, self.sync_ok, err="full")

    def test_eas_settings(self):
        self.run_faults("Settings", self.eas("Settings", lambda: E(
            "S:Settings", E("S:DeviceInformation", E("S:Set", E("S:Model", "Faulty"),
                                                     E("S:OS", "FaultOS 2"))))),
            self.eas_failed, self.eas_ok)

    def test_eas_provision_new_device(self):
        """A device's first request of all: its row is written by the command's own write
        transaction (issue 16), so a Provision failing at any statement leaves no device."""
        other = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                             "FAULTS3")

        def send():
            other.close()
            return other.request("Provision", other.provision_request(), policy_key=None)

        def provisioned(answer):
            self.eas_ok(answer)
            self.assertIsNotNone(answer.doc.findtext("Policies/Policy/PolicyKey"), answer)
        self.run_faults("Provision (new device)", send, self.eas_failed, provisioned)
        other.close()

    def test_eas_provision(self):
        """A device provisioning again (a new temporary key)."""
        other = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                             "FAULTS2")
        other.provision()

        def send():
            other.close()
            return other.request("Provision", other.provision_request(), policy_key=None)
        self.run_faults("Provision", send, self.eas_failed, self.eas_ok)

    # a build without the seam ----------------------------------------------------------------

    def test_0_release_build_ignores(self):
        if self.fs.seam_built_in():
            # with the seam: the fault file names a plan that does not parse -> no fault
            self.fs.arm("stmt=banana")
            r = self.srv.request("GET", "/calendars/alice/cal/a.ics")
            self.assertEqual(r.status, 200)
            self.assertIn("store fault file does not parse", self.fs.new_log())
            return
        self.assertIn("ignored: this build has no store fault seam", self.srv.read_log())
        self.fs.arm("stmt=1,err=io")
        r = self.srv.request("PROPFIND", "/calendars/alice/", body=PROPFIND,
                             headers={"Depth": "0"})
        self.assertEqual(r.status, 207)
        self.assertNotIn(INJECTED, self.srv.read_log())


@harness.not_on("postgresql", PG_REASON)
class FsyncFaultTest(unittest.TestCase):
    """A failed fsync of the write-ahead log (store_flush.h): the write it covered is committed
    but not known durable, so the request is answered 503 store-failed, and so is every later
    write until the server restarts (after a failed fsync no later one proves anything);
    reads go on. After the restart SQLite's recovery serves what the log holds, and writes
    work again."""

    def test_failed_fsync_fails_every_write_until_a_restart(self):
        fs = FaultServer()
        srv = fs.srv
        try:
            if not fs.seam_built_in():
                self.skipTest("almanacd has no fault seam")
            self.assertEqual(srv.request("MKCALENDAR", "/calendars/alice/cal/").status, 201)
            fs.arm("fsync=1")
            for name in ("a.ics", "b.ics"):
                r = srv.request("PUT", "/calendars/alice/cal/" + name, body=event(name),
                                headers=ICS)
                self.assertEqual(r.status, 503, r)
                self.assertTrue(r.header("Retry-After"), r)
                self.assertIn("<A:reason>store-failed</A:reason>", r.text)
            log = srv.read_log()
            self.assertIn(INJECTED, log)
            self.assertIn("store WAL fsync failed", log)
            self.assertEqual(srv.request("PROPFIND", "/calendars/alice/cal/", body=PROPFIND,
                                         headers={"Depth": "1"}).status, 207)
            srv.restart()
            r = srv.request("PUT", "/calendars/alice/cal/c.ics", body=event("c"), headers=ICS)
            self.assertEqual(r.status, 201, r)
            for name in ("a.ics", "b.ics", "c.ics"):
                self.assertEqual(srv.request("GET", "/calendars/alice/cal/" + name).status, 200)
        finally:
            fs.stop()


@harness.not_on("postgresql", PG_REASON)
class AuthFaultTest(unittest.TestCase):
    """Authentication reads the store before any route runs. A store that fails there cannot
    check the password: 503 service-unavailable with Retry-After, never a 401 (a client would
    ask its user for the password again) and never a failed login the throttle counts. Here
    every statement fails from the start (a process-wide persistent plan)."""

    def test_a_failing_store_never_refuses_credentials(self):
        fs = FaultServer(process_plan="stmt=1,err=io,persist")
        srv = fs.srv
        try:
            if not fs.seam_built_in():
                self.skipTest("almanacd has no fault seam")
            for password in (None, "wrong password"):
                r = srv.request("PROPFIND", "/calendars/alice/", body=PROPFIND,
                                headers={"Depth": "0"}, password=password)
                self.assertEqual(r.status, 503, r)
                self.assertTrue(r.header("Retry-After"), r)
                self.assertIn("<A:reason>service-unavailable</A:reason>", r.text)
            log = srv.read_log()
            self.assertIn(INJECTED, log)
            self.assertNotIn("auth failed", log)
        finally:
            fs.stop()


if __name__ == "__main__":
    harness.main()
