"""tests/integration/test_migrate_store.py: `almanac migrate-store` (issue #10 item 4) moves a
store that clients use from SQLite to PostgreSQL without any of them resyncing.

A SQLite store is built through the real CLI and almanacd: users, a calendar with plain and
recurring events, deletions (tombstones), dead properties (PROPPATCH), a share, a
subscription URL, a calendar user address, an ActiveSync device halfway through a windowed
sync. The clients' state is noted: a WebDAV sync token, an Exchange replication collblob, the
ActiveSync SyncKey and policy key, every item's body and ETag, a time-range query's answer.
almanacd stops; the store is migrated into a private PostgreSQL 15 (pgcluster.py); almanacd
starts on the postgresql:// URI. Then: the same items with the same ETags, the old sync token
and collblob continue (only later changes, no 403/475), the SyncKey continues (the rest of
the calendar, each item once, no 449 for the policy key), the same passwords sign in, the
share, subscription, address and device are there; the verification counts were printed and
equal; a second migration into the now non-empty database is refused (exit 2) and changes
nothing."""

import datetime
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import easclient as ec  # noqa: E402
import harness  # noqa: E402
import pgcluster  # noqa: E402

C = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
R = "http://schemas.microsoft.com/repl/"
ICS = {"Content-Type": "text/calendar"}
UTC = datetime.timezone.utc
CAL = "/calendars/alice/work/"


def ics(uid, start, end, summary, extra=""):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\n%s"
            "END:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, ec.compact(start), ec.compact(end),
                                                  summary, extra))


def start_almanacd(srv, store_args):
    """Starts almanacd for `srv` (a harness.Server whose process has stopped) on the store
    `store_args` names, on a fresh port file; srv.proc and srv.port follow."""
    port_file = os.path.join(srv.dir, "port")
    if os.path.exists(port_file):
        os.unlink(port_file)
    args = [harness.ALMANACD, *store_args, "--listen", "127.0.0.1:0", "--port-file", port_file]
    srv.proc = subprocess.Popen(args, stderr=srv.log, stdout=srv.log)
    deadline = time.time() + 30
    while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
        if srv.proc.poll() is not None or time.time() > deadline:
            raise AssertionError("almanacd did not start: " + srv.read_log()[-3000:])
        time.sleep(0.05)
    srv._read_ports(port_file)


def stop_almanacd(srv):
    srv.proc.send_signal(signal.SIGTERM)
    rc = srv.proc.wait(timeout=30)
    if rc != 0:
        raise AssertionError("almanacd exited %d: %s" % (rc, srv.read_log()[-3000:]))


def migrate(uri, data):
    return subprocess.run([harness.ALMANAC, "migrate-store", "--from", "sqlite:" + data,
                           "--to", uri], capture_output=True, text=True, timeout=300)


def counts_of(stdout):
    """{table: (source, target)} from the verification lines."""
    out = {}
    for line in stdout.splitlines():
        f = line.split("\t")
        if len(f) >= 3 and f[1].isdigit() and f[2].isdigit():
            out[f[0]] = (int(f[1]), int(f[2]))
    return out


@unittest.skipUnless(pgcluster.available(), "PostgreSQL 15 is not installed")
class MigrateStoreTest(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Server(users=("alice", "bob"))
        self.pg = None

    def tearDown(self):
        try:
            self.srv.stop()
        finally:
            if self.pg:
                self.pg.stop()

    def req(self, method, path, **kw):
        return self.srv.request(method, path, **kw)

    def put(self, name, body):
        r = self.req("PUT", CAL + name, body=body, headers=ICS)
        self.assertIn(r.status, (201, 204), r)

    def sync(self, token):
        body = ('<?xml version="1.0"?><D:sync-collection %s><D:sync-token>%s</D:sync-token>'
                '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
                '</D:sync-collection>' % (C, token))
        return self.req("REPORT", CAL, body=body, headers={"Depth": "1",
                                                           "Content-Type": "application/xml"})

    @staticmethod
    def token_of(resp):
        return re.search(r"<D:sync-token>(.*?)</D:sync-token>", resp.text).group(1)

    @staticmethod
    def names_in(resp):
        return sorted(h.rstrip("/").rsplit("/", 1)[1]
                      for h in re.findall(r"<D:href>(.*?)</D:href>", resp.text)
                      if h.rstrip("/") != CAL.rstrip("/"))

    def query(self, start, end):
        body = ('<?xml version="1.0"?><C:calendar-query %s><D:prop><D:getetag/></D:prop>'
                '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                '<C:time-range start="%s" end="%s"/></C:comp-filter></C:comp-filter>'
                '</C:filter></C:calendar-query>' % (C, ec.compact(start), ec.compact(end)))
        r = self.req("REPORT", CAL, body=body, headers={"Depth": "1",
                                                        "Content-Type": "application/xml"})
        self.assertEqual(r.status, 207, r)
        return self.names_in(r)

    def search(self, collblob):
        sql = ('SELECT "DAV:href", "%sresourcetag" FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\') '
               'WHERE "DAV:contentclass" = \'urn:content-classes:appointment\' AND '
               '"DAV:isfolder" = false' % R)
        body = ('<?xml version="1.0" encoding="utf-8"?><D:searchrequest xmlns:D="DAV:" '
                'xmlns:R="%s"><R:repl><R:collblob>%s</R:collblob></R:repl><D:sql>%s</D:sql>'
                '</D:searchrequest>' % (R, collblob, sql.replace("&", "&amp;")
                                        .replace("<", "&lt;")))
        return self.req("SEARCH", "/exchange/alice/work/", body=body,
                        headers={"Content-Type": 'text/xml; charset="utf-8"'})

    def dead_prop(self, path):
        body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z"><D:prop>'
                '<Z:color/></D:prop></D:propfind>')
        r = self.req("PROPFIND", path, body=body, headers={"Depth": "0"})
        self.assertEqual(r.status, 207, r)
        m = re.search(r"<(\w+):color\b[^>]*>(.*?)</\1:color>", r.text, re.S)
        return m.group(2) if m else r.text

    def snapshot(self, names):
        out = {}
        for n in names:
            r = self.req("GET", CAL + n)
            self.assertEqual(r.status, 200, (n, r))
            out[n] = (r.header("ETag"), r.body)
        return out

    def test_migrated_store_serves_every_client_without_a_resync(self):
        srv = self.srv
        now = datetime.datetime.now(UTC).replace(microsecond=0, second=0, minute=0)
        day = datetime.timedelta(days=1)
        hour = datetime.timedelta(hours=1)

        # --- a store in use, on SQLite -----------------------------------------------------
        self.assertEqual(self.req("MKCALENDAR", CAL).status, 201)
        for i in range(12):
            s = now + (i + 1) * day
            self.put("e%02d.ics" % i, ics("e-%d" % i, s, s + hour, "Event %d" % i))
        weekly = now + 2 * day + 3 * hour
        self.put("weekly.ics", ics("weekly", weekly, weekly + hour, "Weekly",
                                   "RRULE:FREQ=WEEKLY;COUNT=30\r\n"))
        for i in range(3):  # deleted: tombstones
            self.put("gone%d.ics" % i, ics("gone-%d" % i, now + day, now + day + hour, "Gone"))
        for i in range(3):
            self.assertEqual(self.req("DELETE", CAL + "gone%d.ics" % i).status, 204)
        pp = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set>'
              '<D:prop><Z:color>teal &amp; <Z:b>bold</Z:b></Z:color></D:prop></D:set>'
              '</D:propertyupdate>')
        for path in (CAL, CAL + "e00.ics"):
            self.assertEqual(self.req("PROPPATCH", path, body=pp).status, 207)
        srv.cli("share", "alice", "work", "bob", "read-write")
        sub = srv.cli("subscription", "add", "alice", "work").stdout
        sub_path = re.search(r"/subscribe/\S+", sub).group(0)
        srv.cli("user", "address", "add", "alice", "mailto:alice.smith@example.org")

        # the clients' state
        token = self.token_of(self.sync(""))
        r = self.search("")
        self.assertEqual(r.status, 207, r)
        collblob = re.search(r"<R:collblob>([^<]*)</R:collblob>", r.text).group(1)
        phone = ec.EASClient("127.0.0.1", srv.port, "alice", srv.passwords["alice"], "MOVER1")
        phone.provision()
        policy_key = phone.policy_key
        fid = [f["ServerId"] for f in ec.EASClient.folders_of(phone.folder_sync("0"))
               if f["DisplayName"] == "work"][0]
        col = ec.SyncResult(phone.request("Sync", phone.sync_request(
            [{"key": "0", "id": fid}]))).only()
        self.assertEqual(col.status, 1)
        col = phone.sync(fid, col.sync_key, get_changes=True, window=5).only()
        self.assertEqual(len(col.adds), 5)
        self.assertTrue(col.more_available)
        first = {ec.calendar_fields(d)["UID"] for _, d in col.adds}
        sync_key = col.sync_key
        # a change after the sync token and collblob were taken: theirs to report later
        self.put("late.ics", ics("late", now + 20 * day, now + 20 * day + hour, "Late"))
        names = ["e%02d.ics" % i for i in range(12)] + ["weekly.ics", "late.ics"]
        before = self.snapshot(names)
        # the fourth week of the series: only weekly.ics, by its instance boxes
        wk4 = weekly + datetime.timedelta(weeks=3)
        in_range = self.query(wk4 - hour, wk4 + 2 * hour)
        self.assertEqual(in_range, ["weekly.ics"])
        phone.close()
        stop_almanacd(srv)

        # --- the move --------------------------------------------------------------------
        self.pg = pgcluster.PgCluster().start()
        uri = self.pg.uri()
        m = migrate(uri, srv.data)
        self.assertEqual(m.returncode, 0, m.stderr)
        counts = counts_of(m.stdout)
        for t in ("principals", "collections", "items", "item_content", "item_instances",
                  "tombstones", "props", "eas_devices", "eas_blobs", "eas_sync", "eas_members",
                  "subscriptions", "shares", "sched_addrs", "imip_queue", "item_spans", "meta"):
            self.assertIn(t, counts, m.stdout)
            self.assertEqual(counts[t][0], counts[t][1], (t, m.stdout))
        self.assertEqual(counts["items"][0], len(names))
        self.assertEqual(counts["principals"][0], 2)
        self.assertGreaterEqual(counts["tombstones"][0], 3)
        self.assertEqual(counts["props"][0], 2)
        self.assertEqual(counts["shares"][0], 1)
        self.assertEqual(counts["eas_devices"][0], 1)
        self.assertGreater(counts["item_spans"][0], counts["items"][0])  # instance boxes
        self.assertIn("verified equal", m.stdout)
        self.assertIn("migrate-store: items: %d rows copied" % len(names), m.stderr)
        self.assertNotIn("\r", m.stderr)  # not a terminal: lines, no bar
        guid = self.pg.psql("SELECT encode(value, 'hex') FROM meta WHERE key = 'guid'")

        # --- the same clients, now on PostgreSQL -----------------------------------------
        start_almanacd(srv, ["--store", uri])
        self.assertEqual(self.snapshot(names), before)
        self.assertEqual(self.query(wk4 - hour, wk4 + 2 * hour), in_range)
        self.assertEqual(self.req("GET", CAL + "gone0.ics").status, 404)
        self.assertIn("teal", self.dead_prop(CAL))
        self.assertIn("teal", self.dead_prop(CAL + "e00.ics"))
        # the same passwords; a wrong one still refused
        self.assertEqual(self.req("PROPFIND", "/calendars/bob/", user="bob",
                                  headers={"Depth": "0"}).status, 207)
        self.assertEqual(self.req("GET", CAL + "e01.ics", password="wrong").status, 401)
        # bob's share, the subscription URL, the address, the device
        r = self.req("PROPFIND", "/calendars/bob/", user="bob", headers={"Depth": "1"})
        self.assertIn("/calendars/bob/alice-work/", r.text)
        self.assertEqual(self.req("GET", "/calendars/bob/alice-work/e02.ics",
                                  user="bob").body, before["e02.ics"][1])
        r = self.req("GET", sub_path, auth=False)
        self.assertEqual(r.status, 200, r)
        self.assertIn("UID:weekly", r.text)
        cli = subprocess.run([harness.ALMANAC, "--store", uri, "user", "address", "list",
                              "alice"], capture_output=True, text=True)
        self.assertIn("mailto:alice.smith@example.org", cli.stdout)

        # new writes after the move: new ids, later modseqs
        self.put("new.ics", ics("new", now + 30 * day, now + 30 * day + hour, "New"))
        self.assertEqual(self.req("DELETE", CAL + "e11.ics").status, 204)
        # the old sync token goes on: only what changed since it, not the whole calendar
        r = self.sync(token)
        self.assertEqual(r.status, 207, r)
        self.assertEqual(self.names_in(r), ["e11.ics", "late.ics", "new.ics"])
        # the old collblob goes on too (a foreign or unkeyed one would be 475)
        r = self.search(collblob)
        self.assertEqual(r.status, 207, r)
        self.assertEqual(sorted(set(re.findall(r"work/([a-z0-9]+\.ics)</D:href>", r.text))),
                         ["e11.ics", "late.ics", "new.ics"])

        # the phone goes on with its SyncKey and policy key: the rest, each once
        phone.host, phone.port, phone.conn = "127.0.0.1", srv.port, None
        self.assertEqual(phone.policy_key, policy_key)
        rest = set()
        while True:
            col = phone.sync(fid, sync_key, get_changes=True, window=5).only()
            self.assertEqual(col.status, 1)  # 3 would be "invalid SyncKey": a resync
            for _, d in col.adds + col.changes:
                uid = ec.calendar_fields(d)["UID"]
                self.assertNotIn(uid, rest)
                rest.add(uid)
            sync_key = col.sync_key
            if not col.more_available:
                break
        phone.close()
        self.assertFalse(first & rest, (first, rest))
        want = {"e-%d" % i for i in range(11)} | {"weekly", "late", "new"}
        self.assertEqual(first | rest, want)
        out = subprocess.run([harness.ALMANAC, "--store", uri, "device", "list", "alice"],
                             capture_output=True, text=True).stdout
        self.assertIn("MOVER1", out.upper())

        # --- a second move into the database now in use: refused, nothing changed -------
        items = self.pg.psql("SELECT count(*) FROM items")
        m2 = migrate(uri, srv.data)
        self.assertEqual(m2.returncode, 2, m2.stdout + m2.stderr)
        self.assertIn("not empty", m2.stderr)
        self.assertEqual(m2.stdout, "")
        self.assertEqual(self.pg.psql("SELECT count(*) FROM items"), items)
        self.assertEqual(
            self.pg.psql("SELECT encode(value, 'hex') FROM meta WHERE key = 'guid'"), guid)
        self.assertEqual(self.req("GET", CAL + "new.ics").status, 200)


class MigrateStoreUsageTest(unittest.TestCase):
    """The command line is checked before anything is opened: exit 1 with the reason."""

    def test_usage_errors_exit_1_and_a_missing_source_exit_2(self):
        pg = "postgresql://nobody@/none?host=/nonexistent"
        for args in ([], ["--from", "sqlite:/nonexistent"], ["--to", pg],
                     ["--from", pg, "--to", pg], ["--from", "sqlite:/a", "--to", "sqlite:/b"],
                     ["--from", "sqlite:/a", "--to", pg, "extra"],
                     ["--data", "/nonexistent", "--from", "sqlite:/a", "--to", pg],
                     ["--from", "sqlite:/a", "--to", pg, "--force"]):
            r = subprocess.run([harness.ALMANAC, "migrate-store", *args], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 1, (args, r.stderr))
            self.assertTrue(r.stderr.startswith("almanac: "), (args, r.stderr))
            self.assertIn("migrate-store --from sqlite:DIR --to postgresql://", r.stderr)
        r = subprocess.run([harness.ALMANAC, "migrate-store", "--from", "sqlite:/nonexistent",
                            "--to", pg], capture_output=True, text=True)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no store in /nonexistent", r.stderr)
        self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
