"""tests/integration/test_sharing_eas.py: shared calendars over Exchange ActiveSync (issue 12),
against the real almanacd, with grants made by the real admin CLI and the owner writing over
plain CalDAV. A scripted phone (easclient) plays each user:

  - a grant becomes a type-13 folder at the next FolderSync, an access change shows nothing,
    a revoke is a Delete; Sync, GetItemEstimate and ItemOperations read the owner's items;
  - the owner's CalDAV PUT wakes the sharee's Ping, and the next Sync has it once;
  - a read-only sharee's Add, Change and Delete are refused per item (Status 6, 7, 7; the
    refused Change and Delete come back as the server's Change / Add in the same answer), the
    owner's calendar is untouched, a resend gets the same answer and nothing more follows;
  - a read-write sharee's writes reach the owner's CalDAV view and the owner's own phone;
    folder commands on the shared folder are refused (Status 3);
  - a stranger gets for the owner's real collection ids exactly what a missing folder gets."""

import datetime
import os
import re
import threading
import time

import easclient as eas
from easclient import E, EASClient
from harness import ServerTestCase, main

UTC = datetime.timezone.utc
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
CALDAV = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
BASE = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TEAM_NAME = "Team rota"


def ical(t):
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def event(uid, summary, start):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac sharing tests//EN\r\n"
            "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n"
            "SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            % (uid, ical(start), ical(start + datetime.timedelta(hours=1)), summary))


class SharingActiveSyncTest(ServerTestCase):
    # log_level debug: almanacd logs "eas wait" once a Ping is registered with the hub
    CONFIG = "eas_ping_min_heartbeat = 1\nlog_level = debug\n"
    USERS = ("alice", "bob", "carol", "mallory")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        srv = cls.srv
        body = ('<?xml version="1.0"?><C:mkcalendar %s><D:set><D:prop><D:displayname>%s'
                '</D:displayname></D:prop></D:set></C:mkcalendar>' % (CALDAV, TEAM_NAME))
        cls._check(srv.request("MKCALENDAR", "/calendars/alice/team/", body=body), 201)
        for cal in ("desk", "gone", "ro"):
            cls._check(srv.request("MKCALENDAR", "/calendars/alice/%s/" % cal), 201)
        for cal in ("team", "desk", "gone", "ro"):
            for i in range(4):
                cls._check(srv.request(
                    "PUT", "/calendars/alice/%s/%s-%d.ics" % (cal, cal, i),
                    body=event("%s-%d@share.test" % (cal, i), "%s event %d" % (cal, i),
                               BASE + datetime.timedelta(days=i)), headers=ICS), 201)

    @staticmethod
    def _check(resp, *statuses):
        if resp.status not in statuses:
            raise AssertionError("expected %s, got %d: %s" % (statuses, resp.status,
                                                              resp.body[:300]))
        return resp

    # helpers ---------------------------------------------------------------------------

    def phone(self, device_id, user):
        c = EASClient("127.0.0.1", self.srv.port, user, self.srv.passwords[user], device_id,
                      oracle=True)
        self.addCleanup(c.close)
        c.provision()
        r = c.folder_sync("0")
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        c.folder_key = r.doc.findtext("SyncKey")
        c.folders = EASClient.folders_of(r)
        return c

    def folder_changes(self, c):
        """FolderSync from the device's key: (adds, updates, deletes); the key moves on."""
        r = c.folder_sync(c.folder_key)
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        c.folder_key = r.doc.findtext("SyncKey")
        adds = [{g.name: g.text for g in a.children} for a in r.doc.findall("Changes/Add")]
        updates = [{g.name: g.text for g in a.children}
                   for a in r.doc.findall("Changes/Update")]
        deletes = [d.findtext("ServerId") for d in r.doc.findall("Changes/Delete")]
        self.assertEqual(int(r.doc.findtext("Changes/Count")),
                         len(adds) + len(updates) + len(deletes), r.doc)
        return adds, updates, deletes

    def share(self, owner, cal, user, access):
        self.srv.cli("share", owner, cal, user, access)

    def coll_id(self, owner, cal):
        """The collection's folder id, as its owner's phone sees it."""
        c = self.phone("OWN%s%s" % (owner[:3].upper(), cal[:4].upper()), owner)
        names = {f["DisplayName"]: f["ServerId"] for f in c.folders}
        return names[TEAM_NAME if cal == "team" else cal]

    def sync(self, c, coll, key, **kw):
        kw.setdefault("options", EASClient.calendar_options())
        res = c.sync(coll, key, get_changes=kw.pop("get_changes", True), **kw)
        self.assertEqual(res.http_status, 200, res.resp)
        return res

    def initial(self, c, coll):
        """Key 0, then the whole calendar: (key, {UID: (ServerId, fields)})."""
        col = self.sync(c, coll, "0").collections[coll]
        self.assertEqual(col.status, 1, col.node)
        key, items = col.sync_key, {}
        while True:
            res = self.sync(c, coll, key, window=100)
            if res.empty:
                return key, items
            col = res.collections[coll]
            self.assertEqual(col.status, 1, col.node)
            key = col.sync_key
            for sid, data in col.adds:
                f = eas.calendar_fields(data)
                self.assertNotIn(f["UID"], items)
                items[f["UID"]] = (sid, f)
            self.assertEqual(col.changes + col.deletes, [])
            if not col.more_available:
                return key, items

    def quiet(self, c, coll, key):
        res = self.sync(c, coll, key)
        if not res.empty:
            col = res.collections[coll]
            self.assertEqual(col.status, 1, col.node)
            self.assertFalse(col.commands, "unexpected commands: %r" % col.node)

    def caldav_view(self, owner, cal):
        """{href: etag} of the owner's calendar over CalDAV (PROPFIND Depth 1)."""
        r = self._check(self.srv.request(
            "PROPFIND", "/calendars/%s/%s/" % (owner, cal), user=owner,
            headers={"Depth": "1", "Content-Type": "application/xml"},
            body='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
                 '</D:prop></D:propfind>'), 207)
        out = {}
        for resp in re.findall(r"<D:response>.*?</D:response>", r.text, re.S):
            href = re.search(r"<D:href>([^<]*)</D:href>", resp).group(1)
            etag = re.search(r"<D:getetag>([^<]*)</D:getetag>", resp)
            if etag:
                out[href] = etag.group(1)
        return out

    def caldav_summaries(self, owner, cal):
        out = {}
        for href in self.caldav_view(owner, cal):
            r = self._check(self.srv.request("GET", href, user=owner), 200)
            uid = re.search(r"^UID:(.*?)\r?$", r.text, re.M).group(1)
            out[uid] = re.search(r"^SUMMARY:(.*?)\r?$", r.text, re.M).group(1)
        return out

    def log_since(self, offset):
        with open(self.srv.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    # 1. FolderSync, reads ------------------------------------------------------------

    def test_1_grant_is_a_folder_and_reads_work(self):
        team = self.coll_id("alice", "team")
        b = self.phone("BOBREAD1", "bob")
        self.assertNotIn(team, [f["ServerId"] for f in b.folders])
        self.share("alice", "team", "bob", "read")
        adds, updates, deletes = self.folder_changes(b)
        self.assertEqual(adds, [{"ServerId": team, "ParentId": "0", "DisplayName": TEAM_NAME,
                                 "Type": "13"}])
        self.assertEqual((updates, deletes), ([], []))
        # nothing new: the same key, no changes
        key = b.folder_key
        self.assertEqual(self.folder_changes(b), ([], [], []))
        self.assertEqual(b.folder_key, key)

        key, items = self.initial(b, team)
        self.assertEqual(sorted(items), ["team-%d@share.test" % i for i in range(4)])
        self.assertEqual(items["team-2@share.test"][1]["Subject"], "team event 2")
        # GetItemEstimate and ItemOperations on the shared folder
        r = b.get_item_estimate(team, key)
        self.assertEqual(r.doc.findtext("Response/Status"), "1", r.doc)
        self.assertEqual(r.doc.findtext("Response/Collection/Estimate"), "0", r.doc)
        sid = items["team-1@share.test"][0]
        r = b.fetch(team, sid)
        self.assertEqual(r.doc.findtext("Response/Fetch/Status"), "1", r.doc)
        self.assertEqual(r.doc.findtext("Response/Fetch/Properties/Subject"), "team event 1")
        # a default DisplayName: the share's name when the calendar has no displayname
        self.share("alice", "ro", "bob", "read")
        adds, _, _ = self.folder_changes(b)
        self.assertEqual([(a["DisplayName"], a["Type"], a["ParentId"]) for a in adds],
                         [("alice-ro", "13", "0")])

    # 2. Ping wakes on the owner's write ------------------------------------------------

    def test_2_owners_caldav_write_wakes_the_sharees_ping(self):
        self.share("alice", "team", "bob", "read")
        team = self.coll_id("alice", "team")
        b = self.phone("BOBPING1", "bob")
        key, items = self.initial(b, team)
        written = {}
        offset = os.path.getsize(self.srv.log_path)

        def writer():
            deadline = time.time() + 120
            while " eas wait " not in self.log_since(offset):
                if time.time() > deadline:
                    return
                time.sleep(0.05)
            written["waiting"] = True
            self._check(self.srv.request(
                "PUT", "/calendars/alice/team/woken.ics", body=event(
                    "woken@share.test", "Wake the sharee", BASE), headers=ICS), 201)
            written["at"] = time.time()

        th = threading.Thread(target=writer)
        th.start()
        try:
            r = b.ping(600, [(team, "Calendar")], timeout=300)
        finally:
            th.join()
        self.assertIn("waiting", written, "the Ping never waited")
        self.assertEqual(r.doc.findtext("Status"), "2", r.doc)
        self.assertEqual([f.text for f in r.doc.findall("Folders/Folder")], [team])
        self.assertLess(time.time() - written["at"], 120)
        res = self.sync(b, team, key)
        col = res.collections[team]
        self.assertEqual([eas.calendar_fields(d)["UID"] for _, d in col.adds],
                         ["woken@share.test"])
        self.assertEqual(col.changes + col.deletes, [])
        self.quiet(b, team, col.sync_key)  # no duplicate

    # 3. read-only: writes refused, corrected, store untouched --------------------------

    def test_3_read_only_sharee_writes_are_refused_and_corrected(self):
        self.share("alice", "ro", "bob", "read")
        ro = self.coll_id("alice", "ro")
        b = self.phone("BOBRO001", "bob")
        key, items = self.initial(b, ro)
        before = self.caldav_view("alice", "ro")
        self.assertEqual(len(before), 4)
        changed, deleted = items["ro-1@share.test"][0], items["ro-2@share.test"][0]
        start = BASE + datetime.timedelta(days=1)
        commands = [
            E("Add", E("ClientId", "new-1"), eas.calendar_appdata(
                "Phone add", BASE, BASE + datetime.timedelta(hours=1))),
            E("Change", E("ServerId", changed), eas.calendar_appdata(
                "Edited on the phone", start, start + datetime.timedelta(hours=1))),
            E("Delete", E("ServerId", deleted)),
        ]
        res = self.sync(b, ro, key, commands=commands)
        col = res.collections[ro]
        self.assertEqual(col.status, 1, col.node)
        self.assertNotEqual(col.sync_key, key)
        got = {(r["kind"], r["ClientId"] or r["ServerId"]): r["Status"] for r in col.responses}
        self.assertEqual(got, {("Add", "new-1"): 6, ("Change", changed): 7,
                               ("Delete", deleted): 7})
        add_resp = [r for r in col.responses if r["kind"] == "Add"][0]
        self.assertIsNone(add_resp["ServerId"])
        # the server's versions come back: the edited one as a Change, the deleted as an Add
        self.assertEqual([(sid, eas.calendar_fields(d)["Subject"]) for sid, d in col.changes],
                         [(changed, "ro event 1")])
        self.assertEqual([(sid, eas.calendar_fields(d)["Subject"]) for sid, d in col.adds],
                         [(deleted, "ro event 2")])
        self.assertEqual(col.deletes, [])
        # the owner's calendar is untouched
        self.assertEqual(self.caldav_view("alice", "ro"), before)
        # a resend of the same request (the device lost the answer) gets the same answer
        again = self.sync(b, ro, key, commands=commands).collections[ro]
        self.assertEqual(again.node, col.node)
        self.assertEqual(self.caldav_view("alice", "ro"), before)
        # and nothing follows: no duplicate of what was sent back
        self.quiet(b, ro, col.sync_key)
        # GetChanges 0: the refused Change's correction still comes with the answer
        res = self.sync(b, ro, col.sync_key, get_changes=0, commands=[
            E("Change", E("ServerId", changed), eas.calendar_appdata(
                "Edited again", start, start + datetime.timedelta(hours=1)))])
        col2 = res.collections[ro]
        self.assertEqual([r["Status"] for r in col2.responses], [7])
        self.assertEqual([(sid, eas.calendar_fields(d)["Subject"]) for sid, d in col2.changes],
                         [(changed, "ro event 1")])
        self.assertEqual(self.caldav_view("alice", "ro"), before)
        # the folder itself: FolderDelete and FolderUpdate refused with Status 3, FolderCreate
        # inside it too; the calendar is still there for its owner
        r = b.request("FolderDelete", E("F:FolderDelete", E("SyncKey", b.folder_key),
                                         E("ServerId", ro)))
        self.assertEqual(r.doc.findtext("Status"), "3", r.doc)
        r = b.request("FolderUpdate", E("F:FolderUpdate", E("SyncKey", b.folder_key),
                                         E("ServerId", ro), E("ParentId", "0"),
                                         E("DisplayName", "Mine now")))
        self.assertEqual(r.doc.findtext("Status"), "3", r.doc)
        r = b.request("FolderCreate", E("F:FolderCreate", E("SyncKey", b.folder_key),
                                         E("ParentId", ro), E("DisplayName", "Inside"),
                                         E("Type", "13")))
        self.assertEqual(r.doc.findtext("Status"), "3", r.doc)
        # an own calendar moved under the shared one: refused alike, and nothing changed
        r = b.request("FolderCreate", E("F:FolderCreate", E("SyncKey", b.folder_key),
                                         E("ParentId", "0"), E("DisplayName", "Bob's own"),
                                         E("Type", "13")))
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        b.folder_key, own = r.doc.findtext("SyncKey"), r.doc.findtext("ServerId")
        r = b.request("FolderUpdate", E("F:FolderUpdate", E("SyncKey", b.folder_key),
                                         E("ServerId", own), E("ParentId", ro),
                                         E("DisplayName", "Bob's own, moved")))
        self.assertEqual(r.doc.findtext("Status"), "3", r.doc)
        self.assertEqual(self.caldav_view("alice", "ro"), before)
        self.assertEqual(self.folder_changes(b), ([], [], []))

    # 4. read-write: writes reach the owner ---------------------------------------------

    def test_4_read_write_sharee_writes_reach_the_owner(self):
        desk = self.coll_id("alice", "desk")
        c = self.phone("CAROLRW1", "carol")
        self.share("alice", "desk", "carol", "read")
        adds, _, _ = self.folder_changes(c)
        self.assertEqual([a["ServerId"] for a in adds], [desk])
        # an access change is nothing the device sees
        self.share("alice", "desk", "carol", "read-write")
        self.assertEqual(self.folder_changes(c), ([], [], []))

        a = self.phone("ALICERW1", "alice")
        akey, aitems = self.initial(a, desk)
        key, items = self.initial(c, desk)
        start = BASE + datetime.timedelta(days=10)
        res = self.sync(c, desk, key, commands=[
            E("Add", E("ClientId", "c-1"), eas.calendar_appdata(
                "Carol's add", start, start + datetime.timedelta(hours=1),
                uid="carol-add@share.test")),
            E("Change", E("ServerId", items["desk-0@share.test"][0]), eas.calendar_appdata(
                "Changed by Carol", BASE, BASE + datetime.timedelta(hours=1))),
            E("Delete", E("ServerId", items["desk-3@share.test"][0]))])
        col = res.collections[desk]
        self.assertEqual([(r["kind"], r["Status"]) for r in col.responses], [("Add", 1)])
        self.assertTrue(col.responses[0]["ServerId"])
        self.quiet(c, desk, col.sync_key)
        # the owner over CalDAV
        self.assertEqual(self.caldav_summaries("alice", "desk"), {
            "desk-0@share.test": "Changed by Carol", "desk-1@share.test": "desk event 1",
            "desk-2@share.test": "desk event 2", "carol-add@share.test": "Carol's add"})
        # the owner's own phone
        res = self.sync(a, desk, akey)
        acol = res.collections[desk]
        self.assertEqual([eas.calendar_fields(d)["UID"] for _, d in acol.adds],
                         ["carol-add@share.test"])
        self.assertEqual([(s, eas.calendar_fields(d)["Subject"]) for s, d in acol.changes],
                         [(aitems["desk-0@share.test"][0], "Changed by Carol")])
        self.assertEqual(acol.deletes, [aitems["desk-3@share.test"][0]])
        # writing items is not owning the folder: FolderDelete refused, the calendar stays
        r = c.request("FolderDelete", E("F:FolderDelete", E("SyncKey", c.folder_key),
                                         E("ServerId", desk)))
        self.assertEqual(r.doc.findtext("Status"), "3", r.doc)
        self.assertEqual(len(self.caldav_view("alice", "desk")), 4)

    # 5. revoke ---------------------------------------------------------------------------

    def test_5_revoke_is_a_delete_and_the_folder_is_gone(self):
        gone = self.coll_id("alice", "gone")
        b = self.phone("BOBGONE1", "bob")
        self.share("alice", "gone", "bob", "read-write")
        adds, _, _ = self.folder_changes(b)
        self.assertIn(gone, [x["ServerId"] for x in adds])
        key, items = self.initial(b, gone)
        self.assertEqual(len(items), 4)
        self.srv.cli("unshare", "alice", "gone", "bob")
        self.assertEqual(self.folder_changes(b), ([], [], [gone]))
        res = self.sync(b, gone, key)
        self.assertEqual(res.collections[gone].status, 12, res.resp)
        r = b.ping(60, [(gone, "Calendar")])
        self.assertEqual(r.doc.findtext("Status"), "7", r.doc)
        r = b.get_item_estimate(gone, key)
        self.assertEqual(r.doc.findtext("Response/Status"), "2", r.doc)
        r = b.fetch(gone, items["gone-0@share.test"][0])
        self.assertEqual(r.doc.findtext("Response/Fetch/Status"), "6", r.doc)
        # a write through the old folder id reaches nothing
        res = self.sync(b, gone, key, commands=[E("Delete", E("ServerId",
                                                               items["gone-1@share.test"][0]))])
        self.assertEqual(res.collections[gone].status, 12, res.resp)
        self.assertEqual(len(self.caldav_view("alice", "gone")), 4)

    # 6. a stranger -----------------------------------------------------------------------

    def test_6_stranger_gets_what_a_missing_folder_gets(self):
        real = self.coll_id("alice", "team")
        c = self.phone("MALLORY1", "mallory")
        self.assertEqual([f for f in c.folders if f["Type"] in ("8", "13")], [])
        missing = "c%d" % (int(real[1:]) + 100000)
        sid = "%s:1" % real[1:]

        def answers(coll):
            out = []
            for key in ("0", "123000000000001"):
                res = self.sync(c, coll, key)
                out.append(("Sync", key, res.collections[coll].status))
            res = self.sync(c, coll, "123000000000001", commands=[
                E("Delete", E("ServerId", sid))])
            out.append(("Sync Delete", res.collections[coll].status))
            r = c.get_item_estimate(coll, "123000000000001")
            out.append(("GIE", r.doc.findtext("Response/Status")))
            r = c.ping(60, [(coll, "Calendar")])
            out.append(("Ping", r.doc.findtext("Status")))
            r = c.fetch(coll, sid)
            out.append(("Fetch", r.doc.findtext("Response/Fetch/Status")))
            for cmd, extra in (("FolderDelete", ()),
                               ("FolderUpdate", (E("ParentId", "0"),
                                                 E("DisplayName", "Taken")))):
                r = c.request(cmd, E("F:" + cmd, E("SyncKey", c.folder_key),
                                     E("ServerId", coll), *extra))
                out.append((cmd, r.doc.findtext("Status")))
            return out

        before = self.caldav_view("alice", "team")
        got_real, got_missing = answers(real), answers(missing)
        self.assertEqual(got_real, got_missing)
        self.assertEqual(got_real, [("Sync", "0", 12), ("Sync", "123000000000001", 12),
                                    ("Sync Delete", 12), ("GIE", "2"), ("Ping", "7"),
                                    ("Fetch", "6"), ("FolderDelete", "4"),
                                    ("FolderUpdate", "4")])
        self.assertEqual(self.caldav_view("alice", "team"), before)


if __name__ == "__main__":
    main()
