"""tests/integration/test_activesync_writes.py: ActiveSync requests that change nothing write
nothing, and refused ones leave no trace (issue 16 item 3).

- A Ping (with its body, or empty, reusing the parameters the store holds), a GetItemEstimate,
  a FolderSync whose key is current with no folder change and a Sync with nothing new make no
  write transaction: /metrics counts no commit and no log fsync across each of them, and a
  dump of every table, last_seen included, is the same after as before.
- last_seen of such requests is kept in memory and stored in one transaction later: at the
  latest when almanacd stops (a SIGTERM here), never by the request.
- A refused request leaves the store as it was: a Ping naming an unknown folder (Status 7)
  or asking a heartbeat out of bounds (Status 5) with parameters the store does not hold,
  and the first request of a new device refused by provisioning (449), which used to create
  the device's row before the command ran.
The store-fault side (a new device's Provision that fails at any statement, a Ping that
fails) is in test_store_faults.py."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import easclient as ec  # noqa: E402
import harness  # noqa: E402
from test_metrics import parse_metrics  # noqa: E402
from test_store_faults import diff, event  # noqa: E402

ICS = {"Content-Type": "text/calendar"}
COMMITS = "almanac_store_commit_duration_seconds_count"
FSYNCS = "almanac_store_fsync_duration_seconds_count"


class NoWriteTest(harness.ServerTestCase):
    CONFIG = "eas_ping_min_heartbeat = 1\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.srv
        assert s.request("MKCALENDAR", "/calendars/alice/cal/").status == 201
        for name in ("a", "b"):
            assert s.request("PUT", "/calendars/alice/cal/%s.ics" % name, body=event(name),
                             headers=ICS).status == 201
        cls.phone = ec.EASClient("127.0.0.1", s.port, "alice", s.passwords["alice"], "QUIET1")
        cls.phone.provision()
        fs = cls.phone.folder_sync("0")
        cls.folder_key = fs.doc.findtext("SyncKey")
        cls.fid = next(f["ServerId"] for f in ec.EASClient.folders_of(fs)
                       if f["DisplayName"] == "cal")
        key = cls.phone.sync(cls.fid, "0").only().sync_key
        r = cls.phone.sync(cls.fid, key, get_changes=True, window=100).only()
        assert r.status == 1 and len(r.adds) == 2, r
        cls.sync_key = r.sync_key
        # the parameters a later Ping repeats or leaves out, stored once
        r = cls.phone.ping(1, [(cls.fid, "Calendar")])
        assert r.doc.findtext("Status") == "1", r

    @classmethod
    def tearDownClass(cls):
        cls.phone.close()
        super().tearDownClass()

    def counters(self):
        r = self.req("GET", "/metrics", auth=False)
        self.assertStatus(r, 200)
        m, _ = parse_metrics(r.text)
        return m[(COMMITS, frozenset())], m[(FSYNCS, frozenset())]

    def assert_no_write(self, name, send, check):
        """send() makes the request; check(answer) its answer. No commit, no fsync, and every
        table the same, last_seen included."""
        before_db = self.srv.dump()
        before = self.counters()
        self.phone.close()
        answer = send()
        check(answer)
        after = self.counters()
        self.assertEqual(after, before, "%s: commits and fsyncs before %r, after %r"
                         % (name, before, after))
        after_db = self.srv.dump()
        self.assertEqual(before_db, after_db, "%s wrote:\n%s" % (name, diff(before_db, after_db)))

    def status_is(self, value):
        def check(answer):
            self.assertEqual(answer.status, 200, answer)
            self.assertEqual(answer.doc.findtext("Status"), value, answer)
        return check

    def test_ping_with_the_stored_parameters(self):
        self.assert_no_write("Ping with a body", lambda: self.phone.ping(
            1, [(self.fid, "Calendar")]), self.status_is("1"))

    def test_ping_without_a_body(self):
        self.assert_no_write("empty Ping", lambda: self.phone.request("Ping"),
                             self.status_is("1"))

    def test_get_item_estimate(self):
        def check(answer):
            self.assertEqual(answer.status, 200, answer)
            self.assertEqual(answer.doc.findtext("Response/Status"), "1", answer)
            self.assertEqual(answer.doc.findtext("Response/Collection/Estimate"), "0", answer)
        self.assert_no_write("GetItemEstimate", lambda: self.phone.get_item_estimate(
            self.fid, self.sync_key), check)

    def test_folder_sync_with_no_change(self):
        def check(answer):
            self.status_is("1")(answer)
            self.assertEqual(answer.doc.findtext("SyncKey"), self.folder_key, answer)
            self.assertEqual(answer.doc.findtext("Changes/Count"), "0", answer)
        self.assert_no_write("FolderSync", lambda: self.phone.folder_sync(self.folder_key),
                             check)

    def test_sync_with_nothing_new(self):
        def check(r):
            c = r.only()
            self.assertEqual((c.status, c.sync_key, c.adds), (1, self.sync_key, []), r.resp)
        self.assert_no_write("Sync", lambda: self.phone.sync(
            self.fid, self.sync_key, get_changes=True, window=100), check)
        # the same again without a body: the request the store remembers
        self.assert_no_write("empty Sync", lambda: ec.SyncResult(self.phone.request("Sync")),
                             check)

    def test_z_last_seen_is_stored_when_almanacd_stops(self):
        """Runs last: it restarts the server. The Ping's stamp reaches the store at the stop,
        not before."""
        before = last_seen(self.srv, "QUIET1")
        t0 = int(time.time())
        self.assertGreater(t0, before, "the test needs a second to pass since the last write")
        self.phone.close()
        self.status_is("1")(self.phone.request("Ping"))
        self.assertEqual(last_seen(self.srv, "QUIET1"), before, "the Ping stamped last_seen")
        self.srv.restart()
        self.phone.port = self.srv.port
        self.assertGreaterEqual(last_seen(self.srv, "QUIET1"), t0)


class RefusedTest(harness.ServerTestCase):
    CONFIG = "eas_ping_min_heartbeat = 1\neas_ping_max_heartbeat = 3000\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        s = cls.srv
        assert s.request("MKCALENDAR", "/calendars/alice/cal/").status == 201
        cls.phone = ec.EASClient("127.0.0.1", s.port, "alice", s.passwords["alice"], "REFUSED1")
        cls.phone.provision()
        fs = cls.phone.folder_sync("0")
        cls.fid = next(f["ServerId"] for f in ec.EASClient.folders_of(fs)
                       if f["DisplayName"] == "cal")
        assert cls.phone.ping(1, [(cls.fid, "Calendar")]).doc.findtext("Status") == "1"

    @classmethod
    def tearDownClass(cls):
        cls.phone.close()
        super().tearDownClass()

    def assert_untouched(self, name, send, check):
        before = self.srv.dump()
        send_answer = send()
        check(send_answer)
        after = self.srv.dump()
        self.assertEqual(before, after, "%s changed the store:\n%s" % (name, diff(before, after)))

    def test_ping_naming_an_unknown_folder(self):
        def check(answer):
            self.assertEqual(answer.doc.findtext("Status"), "7", answer)  # folder hierarchy
        self.assert_untouched("Ping of an unknown folder", lambda: self.phone.ping(
            1, [(self.fid, "Calendar"), ("c999999", "Calendar")]), check)

    def test_ping_with_a_heartbeat_out_of_bounds(self):
        def check(answer):
            self.assertEqual(answer.doc.findtext("Status"), "5", answer)
            self.assertEqual(answer.doc.findtext("HeartbeatInterval"), "3000", answer)
        self.assert_untouched("Ping of a heartbeat too long", lambda: self.phone.ping(
            4000, [(self.fid, "Calendar")]), check)

    def test_new_device_refused_by_provisioning(self):
        other = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                             "NEWPHONE2")
        try:
            def check(answer):
                self.assertEqual(answer.status, 449, answer)
            self.assert_untouched("a new device's FolderSync", lambda: other.folder_sync("0"),
                                  check)
        finally:
            other.close()
        self.assertIsNone(last_seen(self.srv, "NEWPHONE2"))


def last_seen(srv, device_key):
    rows = srv.sql("SELECT last_seen FROM eas_devices WHERE device_key = %s"
                   % harness.sql_str(device_key))
    return int(rows[0][0]) if rows and rows[0][0] is not None else None


if __name__ == "__main__":
    harness.main()
