"""tests/integration/test_activesync_state.py: ActiveSync behaviour that the phone scenario of
test_activesync.py does not cover, against the real almanacd: device state survives a
restart (same policy key, same SyncKey, the rest of the calendar exactly once); FilterType
windows; ghosting by Supported (≤14.1) against a client without Supported; the server-wins
conflict; Sync as a long poll (HeartbeatInterval) woken by a CalDAV write and expiring
empty; 400 Pings waiting at once, more than the old store pool held, all woken by one write;
16.x behind eas_protocol_16: server-chosen UID in the Add response and the
cancellation of one occurrence by InstanceId."""

import datetime
import os
import concurrent.futures
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import easclient as ec  # noqa: E402
import harness  # noqa: E402
from easclient import E  # noqa: E402

UTC = datetime.timezone.utc


def ics(uid, start, end, summary, extra=""):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\n%s"
            "END:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, ec.compact(start), ec.compact(end),
                                                  summary, extra))


def restart(srv):
    """SIGTERM the server by PID (it must exit 0) and start it again on the same data."""
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=30) == 0, srv.read_log()[-3000:]
    port_file = os.path.join(srv.dir, "port")
    os.unlink(port_file)
    args = [harness.ALMANACD, *srv.store_args, "--listen", "127.0.0.1:0",
            "--port-file", port_file]
    conf = os.path.join(srv.dir, "almanac.conf")
    if os.path.exists(conf):
        args += ["--config", conf]
    srv.proc = subprocess.Popen(args, stderr=srv.log, stdout=srv.log)
    deadline = time.time() + 20
    while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
        assert time.time() < deadline and srv.proc.poll() is None, srv.read_log()[-3000:]
        time.sleep(0.05)
    with open(port_file) as f:
        srv.port = int(f.read().strip())


class StateTest(harness.ServerTestCase):
    CONFIG = "eas_ping_min_heartbeat = 1\neas_protocol_16 = 1\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.now = datetime.datetime.now(UTC).replace(microsecond=0)

    def put(self, cal, name, body, user="alice"):
        r = self.srv.request("PUT", "/calendars/%s/%s/%s" % (user, cal, name), user=user,
                             body=body, headers={"Content-Type": "text/calendar"})
        self.assertIn(r.status, (201, 204), r)

    def get(self, cal, name):
        return self.srv.request("GET", "/calendars/alice/%s/%s" % (cal, name))

    def device(self, dev, version="14.1"):
        c = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"], dev,
                         version=version)
        c.provision()
        return c

    def calendar(self, client, name):
        for f in ec.EASClient.folders_of(client.folder_sync("0")):
            if f["DisplayName"] == name:
                return f["ServerId"]
        self.fail("no folder %s" % name)

    def start(self, client, fid, options=None, supported=None):
        body = client.sync_request([{"key": "0", "id": fid, "options": options,
                                     "supported": supported}])
        col = ec.SyncResult(client.request("Sync", body)).only()
        self.assertEqual(col.status, 1)
        return col.sync_key

    def drain(self, client, fid, key, window=100, options=None):
        """Follows MoreAvailable to the end; returns (key, {uid: (server_id, fields)})."""
        items = {}
        while True:
            col = client.sync(fid, key, get_changes=True, window=window, options=options).only()
            self.assertEqual(col.status, 1)
            for sid, data in col.adds + col.changes:
                f = ec.calendar_fields(data)
                items[f["UID"]] = (sid, f)
            key = col.sync_key
            if not col.more_available:
                return key, items

    def test_restart_keeps_every_device_state(self):
        self.srv.cli("calendar", "add", "alice", "restart", "--displayname", "Restart")
        for i in range(12):
            s = self.now + datetime.timedelta(days=i + 1)
            self.put("restart", "r%d.ics" % i, ics("r-%d" % i, s, s + datetime.timedelta(hours=1),
                                                  "R %d" % i))
        c = self.device("RESTART1")
        fid = self.calendar(c, "Restart")
        key = self.start(c, fid)
        col = c.sync(fid, key, get_changes=True, window=5).only()
        self.assertEqual(len(col.adds), 5)
        self.assertTrue(col.more_available)
        first = {ec.calendar_fields(d)["UID"] for _, d in col.adds}
        key = col.sync_key
        restart(self.srv)
        c.host, c.port, c.conn = "127.0.0.1", self.srv.port, None
        # Same policy key (no 449), same SyncKey: the other 7, each once.
        key, rest = self.drain(c, fid, key, window=5)
        self.assertEqual(len(rest), 7)
        self.assertEqual(first | set(rest), {"r-%d" % i for i in range(12)})
        self.assertFalse(first & set(rest))
        out = self.srv.cli("device", "list", "alice").stdout
        self.assertIn("RESTART1", out.upper())
        self.assertIn("provisioned", out)

    def test_filter_type_window(self):
        self.srv.cli("calendar", "add", "alice", "filter", "--displayname", "Filter")
        old = self.now - datetime.timedelta(days=60)
        recent = self.now - datetime.timedelta(days=3)
        future = self.now + datetime.timedelta(days=30)
        for uid, s in (("old", old), ("recent", recent), ("future", future)):
            self.put("filter", uid + ".ics", ics(uid, s, s + datetime.timedelta(hours=1), uid))
        c = self.device("FILTER1")
        fid = self.calendar(c, "Filter")
        opts = ec.EASClient.calendar_options(filter_type=4)  # two weeks
        key = self.start(c, fid, options=opts)
        key, items = self.drain(c, fid, key, options=opts)
        self.assertEqual(set(items), {"recent", "future"})
        # A change that moves an event out of the window is a SoftDelete.
        moved = self.now - datetime.timedelta(days=40)
        self.put("filter", "recent.ics", ics("recent", moved, moved + datetime.timedelta(hours=1),
                                             "recent"))
        col = c.sync(fid, key, get_changes=True).only()
        self.assertEqual(col.soft_deletes, [items["recent"][0]])
        self.assertEqual(col.adds + col.changes, [])
        # FilterType 0 on a new device: all three.
        c2 = self.device("FILTER2")
        key2 = self.start(c2, fid)
        _, all_items = self.drain(c2, fid, key2)
        self.assertEqual(set(all_items), {"old", "recent", "future"})

    def change_subject_only(self, c, fid, key, sid):
        cmd = E("Change", E("ServerId", sid), E("ApplicationData", E("C:Subject", "Renamed")))
        col = c.sync(fid, key, commands=[cmd]).only()
        self.assertEqual(col.status, 1)
        self.assertEqual([r for r in col.responses if r["kind"] == "Change"], [])
        return col.sync_key

    def test_ghosting_by_supported(self):
        self.srv.cli("calendar", "add", "alice", "ghost", "--displayname", "Ghost")
        s = self.now + datetime.timedelta(days=2)
        extra = "LOCATION:Room 7\r\nDESCRIPTION:Agenda\r\n"
        self.put("ghost", "g1.ics", ics("g-1", s, s + datetime.timedelta(hours=1), "G1", extra))
        self.put("ghost", "g2.ics", ics("g-2", s, s + datetime.timedelta(hours=1), "G2", extra))
        # A device that manages only Subject/StartTime/EndTime: everything else is ghosted.
        c = self.device("GHOST1")
        fid = self.calendar(c, "Ghost")
        sup = E("A:Supported", E("C:Subject"), E("C:StartTime"), E("C:EndTime"))
        key = self.start(c, fid, supported=sup)
        key, items = self.drain(c, fid, key)
        key = self.change_subject_only(c, fid, key, items["g-1"][0])
        body = self.get("ghost", "g1.ics").text
        self.assertIn("SUMMARY:Renamed", body)
        self.assertIn("LOCATION:Room 7", body)
        self.assertIn("DESCRIPTION:Agenda", body)
        # Without Supported nothing is ghosted: what the Change leaves out is removed.
        c2 = self.device("GHOST2")
        key2 = self.start(c2, fid)
        key2, items2 = self.drain(c2, fid, key2)
        self.change_subject_only(c2, fid, key2, items2["g-2"][0])
        body = self.get("ghost", "g2.ics").text
        self.assertIn("SUMMARY:Renamed", body)
        self.assertNotIn("LOCATION", body)
        self.assertNotIn("Agenda", body)

    def test_server_wins_conflict(self):
        self.srv.cli("calendar", "add", "alice", "conflict", "--displayname", "Conflict")
        s = self.now + datetime.timedelta(days=3)
        self.put("conflict", "c1.ics", ics("c-1", s, s + datetime.timedelta(hours=1), "Before"))
        c = self.device("CONFLICT1")
        fid = self.calendar(c, "Conflict")
        key = self.start(c, fid)
        key, items = self.drain(c, fid, key)
        sid = items["c-1"][0]
        self.put("conflict", "c1.ics", ics("c-1", s, s + datetime.timedelta(hours=1), "Server"))
        cmd = E("Change", E("ServerId", sid), E("ApplicationData", E("C:Subject", "Phone")))
        col = c.sync(fid, key, commands=[cmd], get_changes=True).only()
        self.assertEqual([(r["ServerId"], r["Status"]) for r in col.responses], [(sid, 7)])
        self.assertEqual([ec.calendar_fields(d)["Subject"] for _, d in col.changes], ["Server"])
        self.assertIn("SUMMARY:Server", self.get("conflict", "c1.ics").text)

    def test_sync_heartbeat_long_poll(self):
        self.srv.cli("calendar", "add", "alice", "poll", "--displayname", "Poll")
        c = self.device("POLL1")
        fid = self.calendar(c, "Poll")
        key = self.start(c, fid)
        key, items = self.drain(c, fid, key)
        self.assertEqual(items, {})
        # Expiry with nothing new: the same key, no Commands, after about the heartbeat.
        body = c.sync_request([{"key": key, "id": fid, "get_changes": True}], heartbeat=2)
        t0 = time.time()
        col = ec.SyncResult(c.request("Sync", body)).only()
        took = time.time() - t0
        self.assertGreaterEqual(took, 1.8)
        self.assertEqual(col.sync_key, key)
        self.assertFalse(col.has_commands)
        # A CalDAV write wakes it early with the new event.
        s = self.now + datetime.timedelta(days=1)
        timer = threading.Timer(1.0, self.put, ("poll", "p1.ics",
                                                ics("p-1", s, s + datetime.timedelta(hours=1),
                                                    "Woke")))
        timer.start()
        body = c.sync_request([{"key": key, "id": fid, "get_changes": True}], heartbeat=30)
        t0 = time.time()
        col = ec.SyncResult(c.request("Sync", body)).only()
        timer.join()
        self.assertLess(time.time() - t0, 15)
        self.assertEqual([ec.calendar_fields(d)["Subject"] for _, d in col.adds], ["Woke"])

    def test_empty_and_partial_sync_reuse_the_last_request(self):
        for name in ("px", "py"):
            self.srv.cli("calendar", "add", "alice", name, "--displayname", name.upper())
        c = self.device("PARTIAL1")
        fx, fy = self.calendar(c, "PX"), self.calendar(c, "PY")
        kx, ky = self.start(c, fx), self.start(c, fy)
        # A full request of both calendars; nothing there yet.
        body = c.sync_request([{"key": kx, "id": fx, "get_changes": True},
                               {"key": ky, "id": fy, "get_changes": True}])
        res = ec.SyncResult(c.request("Sync", body))
        self.assertEqual(set(res.collections), {fx, fy})
        kx, ky = res.collections[fx].sync_key, res.collections[fy].sync_key
        s = self.now + datetime.timedelta(days=4)
        self.put("py", "y1.ics", ics("y-1", s, s + datetime.timedelta(hours=1), "Y one"))
        # An empty Sync stands for the last full request: both calendars, Y has the event.
        res = ec.SyncResult(c.request("Sync", None))
        self.assertEqual(set(res.collections), {fx, fy})
        self.assertEqual([ec.calendar_fields(d)["Subject"] for _, d in
                          res.collections[fy].adds], ["Y one"])
        self.assertEqual(res.collections[fx].adds, [])
        ky = res.collections[fy].sync_key
        self.put("py", "y2.ics", ics("y-2", s, s + datetime.timedelta(hours=2), "Y two"))
        # Partial with X only: merged with the cached request, so Y is answered too.
        body = c.sync_request([{"key": kx, "id": fx, "get_changes": True}])
        body.children.append(E("A:Partial"))
        res = ec.SyncResult(c.request("Sync", body))
        self.assertEqual(set(res.collections), {fx, fy})
        self.assertEqual([ec.calendar_fields(d)["Subject"] for _, d in
                          res.collections[fy].adds], ["Y two"])
        # A device that never sent a full Sync gets Status 13 for an empty one.
        c2 = self.device("PARTIAL2")
        self.assertEqual(ec.SyncResult(c2.request("Sync", None)).status, 13)

    def test_mutated_requests_never_fail_the_server(self):
        """Mutants of valid bodies of every command: a 200 with a status, or a 4xx with a
        reason, never a 5xx, and the device goes on syncing afterwards."""
        import random
        self.srv.cli("calendar", "add", "alice", "fuzz", "--displayname", "Fuzz")
        s = self.now + datetime.timedelta(days=1)
        self.put("fuzz", "f1.ics", ics("f-1", s, s + datetime.timedelta(hours=1), "F"))
        c = self.device("FUZZ1")
        fid = self.calendar(c, "Fuzz")
        key = self.start(c, fid)
        key, items = self.drain(c, fid, key)
        sid = items["f-1"][0]
        data = ec.calendar_appdata("Fz", s, s + datetime.timedelta(hours=1), location="L",
                                   recurrence=E("C:Recurrence", E("C:Type", "1"),
                                                E("C:DayOfWeek", "2")))
        seeds = [
            ("Sync", c.sync_request([{"key": key, "id": fid, "get_changes": True, "window": 5,
                                      "options": ec.EASClient.calendar_options(4),
                                      "commands": [E("Add", E("ClientId", "9"), data),
                                                   E("Change", E("ServerId", sid), data),
                                                   E("Fetch", E("ServerId", sid))]}])),
            ("Ping", E("N:Ping", E("HeartbeatInterval", "1"),
                       E("Folders", E("Folder", E("Id", fid), E("Class", "Calendar"))))),
            ("FolderSync", E("F:FolderSync", E("SyncKey", "0"))),
            ("GetItemEstimate", E("G:GetItemEstimate", E("Collections", E(
                "Collection", E("A:SyncKey", key), E("G:CollectionId", fid),
                E("A:Options", E("FilterType", "0")))))),
            ("ItemOperations", E("I:ItemOperations", E("Fetch", E("Store", "Mailbox"),
                                                     E("A:CollectionId", fid),
                                                     E("A:ServerId", sid)))),
            ("Settings", E("S:Settings", E("S:DeviceInformation", E("S:Set",
                                                                    E("S:Model", "X"))))),
        ]
        rnd = random.Random(842541)
        statuses = {}
        for i in range(240):
            cmd, node = seeds[i % len(seeds)]
            body = bytearray(ec.encode(node))
            for _ in range(rnd.randint(1, 3)):
                at = rnd.randrange(len(body))
                op = rnd.randrange(3)
                if op == 0:
                    body[at] ^= 1 << rnd.randrange(8)
                elif op == 1:
                    del body[at]
                else:
                    body.insert(at, rnd.randrange(256))
            r = c.request(cmd, bytes(body), raw=True, timeout=40 if cmd == "Ping" else None)
            statuses[r.status] = statuses.get(r.status, 0) + 1
            self.assertIn(r.status, (200, 400, 413), (cmd, bytes(body).hex(), r))
            if r.status != 200:
                self.assertTrue(r.header("X-Almanac-Reason"), r)
        self.assertGreater(statuses.get(400, 0), 0)
        self.assertGreater(statuses.get(200, 0), 0)
        # Still serving, and the device's state is intact (the mutated Syncs may have moved it
        # on: start over and find the event).
        key = self.start(c, fid)
        key, items = self.drain(c, fid, key)
        self.assertIn("f-1", items)

    def test_16_server_uid_and_instance_delete(self):
        r = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                         "V16A", version="16.1").options()
        self.assertIn("16.1", r.header("MS-ASProtocolVersions"))
        self.srv.cli("calendar", "add", "alice", "v16", "--displayname", "V16")
        c = self.device("V16A", version="16.1")
        fid = self.calendar(c, "V16")
        key = self.start(c, fid)
        s = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
        data = ec.calendar_appdata("Daily", s, s + datetime.timedelta(minutes=30),
                                   recurrence=E("C:Recurrence", E("C:Type", "0"),
                                                E("C:Interval", "1"),
                                                E("C:Occurrences", "5")))
        add = E("Add", E("ClientId", "c-16"), data)
        col = c.sync(fid, key, commands=[add]).only()
        resp = [r for r in col.responses if r["kind"] == "Add"]
        self.assertEqual(len(resp), 1)
        self.assertEqual(resp[0]["Status"], 1)
        uid = resp[0]["node"].findtext("ApplicationData/UID")
        self.assertTrue(uid)
        key = col.sync_key
        rep = self.srv.request(
            "REPORT", "/calendars/alice/v16/", headers={"Depth": "1", "Content-Type": "text/xml"},
            body='<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
                 'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
                 '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>')
        self.assertIn("UID:" + uid, rep.text)
        # ClientUid (16.x) names the UID; the same ClientUid again is the same event.
        once = ec.calendar_appdata("Once", s, s + datetime.timedelta(hours=1))
        once.children.append(E("C:ClientUid", "0123456789abcdef0123456789abcdef"))
        col = c.sync(fid, key, commands=[E("Add", E("ClientId", "c-a"), once)]).only()
        first = [r for r in col.responses if r["kind"] == "Add"][0]
        self.assertEqual(first["node"].findtext("ApplicationData/UID"),
                         "0123456789abcdef0123456789abcdef")
        key = col.sync_key
        col = c.sync(fid, key, commands=[E("Add", E("ClientId", "c-b"), once)]).only()
        again = [r for r in col.responses if r["kind"] == "Add"][0]
        self.assertEqual((again["ServerId"], again["Status"]), (first["ServerId"], 1))
        key = col.sync_key
        rep2 = self.srv.request(
            "REPORT", "/calendars/alice/v16/", headers={"Depth": "1", "Content-Type": "text/xml"},
            body='<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
                 'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
                 '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>')
        self.assertEqual(rep2.text.count("<D:response>"), 2)
        # Cancel the third occurrence by InstanceId: an EXDATE, seen through CalDAV.
        third = ec.compact(s + datetime.timedelta(days=2))
        delete = E("Delete", E("ServerId", resp[0]["ServerId"]), E("B:InstanceId", third))
        col = c.sync(fid, key, commands=[delete]).only()
        self.assertEqual([r for r in col.responses if r["kind"] == "Delete"], [])
        href = re.search(r"<D:href>([^<]+)</D:href>", rep.text).group(1)
        body = self.srv.request("GET", href).text
        self.assertRegex(body, r"EXDATE[^\r\n]*20270303T090000Z")

    def test_16_location_fields_reach_the_phone_and_back(self):
        """A 16.1 phone's full B:Location is stored (LOCATION, LOCATION;ALTREP, GEO and
        X-EAS-LOCATION) and comes back field by field to another 16.1 phone; a 14.1 phone gets
        the plain C:Location string."""
        self.srv.cli("calendar", "add", "alice", "where", "--displayname", "Where")
        fields = {"Annotation": "Ring twice", "Street": "1 Main St \"North\"",
                  "City": "Zürich", "State": "ZH", "Country": "Switzerland",
                  "PostalCode": "8001", "Accuracy": "12.5", "Altitude": "408",
                  "AltitudeAccuracy": "3"}
        c = self.device("LOC16A", version="16.1")
        fid = self.calendar(c, "Where")
        key = self.start(c, fid)
        s = datetime.datetime(2027, 5, 3, 9, 0, tzinfo=UTC)
        data = ec.calendar_appdata("Visit", s, s + datetime.timedelta(hours=1))
        data.children.append(E("B:Location", E("B:DisplayName", "Head office"),
                               *[E("B:" + k, fields[k]) for k in
                                 ("Annotation", "Street", "City", "State", "Country",
                                  "PostalCode")],
                               E("B:Latitude", "47.376887"), E("B:Longitude", "8.541694"),
                               *[E("B:" + k, fields[k]) for k in
                                 ("Accuracy", "Altitude", "AltitudeAccuracy")],
                               E("B:LocationUri", "https://example.com/office")))
        col = c.sync(fid, key, commands=[E("Add", E("ClientId", "loc-1"), data)]).only()
        resp = [r for r in col.responses if r["kind"] == "Add"]
        self.assertEqual([r["Status"] for r in resp], [1])
        uid = resp[0]["node"].findtext("ApplicationData/UID")
        # Stored: what CalDAV clients see.
        rep = self.srv.request(
            "REPORT", "/calendars/alice/where/", headers={"Depth": "1", "Content-Type": "text/xml"},
            body='<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
                 'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
                 '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>')
        href = re.search(r"<D:href>([^<]+)</D:href>", rep.text).group(1)
        body = self.get("where", href.rsplit("/", 1)[1]).text.replace("\r\n ", "")
        self.assertIn("UID:" + uid, body)
        self.assertRegex(body, r'LOCATION;ALTREP="https://example.com/office":Head office')
        self.assertRegex(body, r"GEO:47\.376887;8\.541694")
        self.assertIn("X-EAS-LOCATION:", body)
        self.assertIn("Zürich", body)
        # Another 16.1 phone gets every field back.
        d = self.device("LOC16B", version="16.1")
        _, items = self.drain(d, fid, self.start(d, fid))
        loc = items[uid][1]["Location"]
        got = {n.name: n.text for n in loc.children}
        self.assertEqual(loc.ns, "AirSyncBase")
        self.assertEqual(got.pop("DisplayName"), "Head office")
        self.assertEqual(got.pop("LocationUri"), "https://example.com/office")
        self.assertAlmostEqual(float(got.pop("Latitude")), 47.376887, places=6)
        self.assertAlmostEqual(float(got.pop("Longitude")), 8.541694, places=6)
        self.assertEqual(got, fields)
        self.assertEqual([n.name for n in loc.children],
                         ["DisplayName", "Annotation", "Street", "City", "State", "Country",
                          "PostalCode", "Latitude", "Longitude", "Accuracy", "Altitude",
                          "AltitudeAccuracy", "LocationUri"])
        # A 14.1 phone gets the display name as C:Location.
        old = self.device("LOC14", version="14.1")
        _, items = self.drain(old, fid, self.start(old, fid))
        self.assertEqual(items[uid][1]["Location"], "Head office")
        # A Change from the 16.1 phone with only a DisplayName clears the rest.
        key = col.sync_key
        change = ec.calendar_appdata("Visit", s, s + datetime.timedelta(hours=1))
        change.children.append(E("B:Location", E("B:DisplayName", "Annex")))
        col = c.sync(fid, key, commands=[E("Change", E("ServerId", resp[0]["ServerId"]),
                                           change)]).only()
        self.assertEqual(col.status, 1)
        body = self.get("where", href.rsplit("/", 1)[1]).text.replace("\r\n ", "")
        self.assertIn("LOCATION:Annex", body)
        self.assertNotIn("GEO:", body)
        self.assertNotIn("X-EAS-LOCATION", body)
        # A Location child that is not a number is refused.
        bad = ec.calendar_appdata("Bad", s, s + datetime.timedelta(hours=1))
        bad.children.append(E("B:Location", E("B:DisplayName", "X"), E("B:Altitude", "high")))
        col = c.sync(fid, col.sync_key,
                     commands=[E("Add", E("ClientId", "loc-2"), bad)]).only()
        self.assertEqual([r["Status"] for r in col.responses if r["kind"] == "Add"], [6])


class PingCrowdTest(harness.ServerTestCase):
    """More waiting Pings than the store pool once had connections (256): every Ping whose
    answer is on its way must have given its store connection back, or the next resumed
    Ping waits for one on a worker thread and the server stalls."""

    DEVICES = 400
    CONFIG = ("eas_ping_min_heartbeat = 1\neas_provisioning = false\n"
              "per_ip_connections = 1024\neas_max_devices = 400\n")

    def test_400_waiting_pings_all_wake_on_one_write(self):
        self.srv.cli("calendar", "add", "alice", "crowd", "--displayname", "Crowd")
        pw = self.srv.passwords["alice"]
        first = ec.EASClient("127.0.0.1", self.srv.port, "alice", pw, "CROWD000")
        fid = [f["ServerId"] for f in ec.EASClient.folders_of(first.folder_sync("0"))
               if f["DisplayName"] == "Crowd"][0]
        first.close()

        def synced(i):
            c = ec.EASClient("127.0.0.1", self.srv.port, "alice", pw, "CROWD%03d" % i)
            key = c.sync(fid, "0").only().sync_key
            col = c.sync(fid, key, get_changes=True).only()
            assert col.status == 1 and not col.adds, col
            c.close()
            return c

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            devices = list(ex.map(synced, range(self.DEVICES)))
        body = ec.encode(E("N:Ping", E("HeartbeatInterval", "120"),
                           E("Folders", E("Folder", E("Id", fid), E("Class", "Calendar")))))
        sel = selectors.DefaultSelector()
        got = {}
        for c in devices:
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
            s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n"
                       "MS-ASProtocolVersion: 14.1\r\n"
                       "Content-Type: application/vnd.ms-sync.wbxml\r\n"
                       "Content-Length: %d\r\n\r\n" % (c.target("Ping"), c.auth_header(),
                                                         len(body))).encode() + body)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            got[s] = b""

        def pump(until):
            while time.time() < until and sel.get_map():
                for key, _ in sel.select(0.2):
                    chunk = key.fileobj.recv(65536)
                    got[key.fileobj] += chunk
                    head, sep, rest = got[key.fileobj].partition(b"\r\n\r\n")
                    m = re.search(rb"(?i)content-length: *(\d+)", head)
                    if not chunk or (sep and m and len(rest) >= int(m.group(1))):
                        sel.unregister(key.fileobj)

        try:
            pump(time.time() + 2)
            early = [v[:60] for v in got.values() if v]
            self.assertEqual(early, [], "Pings answered before any change")
            t = self.now_put()
            pump(time.time() + 60)
            statuses = []
            for v in got.values():
                head, _, rest = v.partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    statuses.append(head[:40])
                    continue
                doc = ec.decode(rest)
                statuses.append((doc.findtext("Status"),
                                 [f.text for f in doc.findall("Folders/Folder")]))
            self.assertEqual(statuses, [("2", [fid])] * self.DEVICES)
            self.assertLess(time.time() - t, 60)
        finally:
            for s in got:
                s.close()

    def now_put(self):
        t = time.time()
        r = self.srv.request("PUT", "/calendars/alice/crowd/wake.ics", body=ics(
            "wake", datetime.datetime(2026, 3, 10, 10, tzinfo=UTC),
            datetime.datetime(2026, 3, 10, 11, tzinfo=UTC), "Wake"),
            headers={"Content-Type": "text/calendar"})
        self.assertEqual(r.status, 201)
        return t


if __name__ == "__main__":
    harness.main()
