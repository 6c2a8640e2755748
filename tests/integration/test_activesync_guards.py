"""tests/integration/test_activesync_guards.py: ActiveSync promises that one removed line of the
server would break while every other test still passed (issue 17), each tested against the
real almanacd with the scripted phone of easclient.py:
- a device whose sync state predates pruned tombstones gets Sync Status 3 (README
  "Administration"; activesync.md §3.3), the rest go on;
- a device that never provisioned is 449 even when it sends X-MS-PolicyKey: 0, as real phones
  do on first contact (activesync.md §3.1), in both query forms, and one that acknowledges
  another key than its temporary one gets Policy Status 5 and no key;
- a client Add whose UID another item of the calendar holds makes no second item and does not
  touch the holder (activesync.md §4.10: the holder's ServerId comes back); a Change that
  would give an item another item's UID is refused with Status 6 and changes nothing;
- WindowSize is capped at 512 (MS-ASCMD 2.2.3.199), per collection and per request;
- a Sync whose Change and Delete succeeded with GetChanges 0 advances the SyncKey, so the same
  request resent is a retransmission: the same answer, nothing run twice (issue 14);
- a chunked body past eas_max_body is 413."""

import base64
import datetime
import http.client
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import easclient as ec  # noqa: E402
import harness  # noqa: E402
from easclient import E  # noqa: E402

UTC = datetime.timezone.utc
BASE = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = datetime.timedelta(hours=1)
CALDAV = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
N_WINDOW = 600  # more than the 512 cap


def ics(uid, start, summary):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, ec.compact(start), ec.compact(start + HOUR),
                                                  summary))


class GuardTest(harness.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for cal in ("pruned", "dupes", "window", "resend"):
            cls.srv.cli("calendar", "add", "alice", cal, "--displayname", cal.capitalize())
        cls._put_window()

    @classmethod
    def _put_window(cls):
        """N_WINDOW events from a few threads on kept-alive connections."""
        auth = "Basic " + base64.b64encode(
            b"alice:" + cls.srv.passwords["alice"].encode()).decode()
        errors = []

        def worker(k):
            conn = http.client.HTTPConnection("127.0.0.1", cls.srv.port, timeout=60)
            try:
                for i in range(k, N_WINDOW, 4):
                    conn.request("PUT", "/calendars/alice/window/w%04d.ics" % i,
                                 body=ics("w-%04d" % i, BASE + i * HOUR, "W %d" % i),
                                 headers={"Authorization": auth,
                                          "Content-Type": "text/calendar"})
                    r = conn.getresponse()
                    r.read()
                    if r.status != 201:
                        errors.append((i, r.status))
            finally:
                conn.close()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise AssertionError("PUT of the window calendar: %r" % errors[:5])

    # helpers ---------------------------------------------------------------------------

    def put(self, cal, name, body):
        r = self.req("PUT", "/calendars/alice/%s/%s" % (cal, name), body=body,
                     headers={"Content-Type": "text/calendar"})
        self.assertIn(r.status, (201, 204), r)

    def device(self, dev, form="plain", provision=True):
        c = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"], dev,
                         form=form)
        self.addCleanup(c.close)
        if provision:
            c.provision()
        return c

    def folder(self, c, name):
        r = c.folder_sync("0")
        self.assertEqual(r.status, 200, r)
        for f in ec.EASClient.folders_of(r):
            if f["DisplayName"] == name:
                return f["ServerId"]
        self.fail("no folder %s" % name)

    def start(self, c, fid):
        col = c.sync(fid, "0").only()
        self.assertEqual(col.status, 1, col.node)
        return col.sync_key

    def drain(self, c, fid, key):
        """Follows MoreAvailable; returns (key, {UID: ServerId}, [deleted ServerIds])."""
        items, deletes = {}, []
        while True:
            res = c.sync(fid, key, get_changes=True, window=100)
            if res.empty:
                return key, items, deletes
            col = res.only()
            self.assertEqual(col.status, 1, col.node)
            for sid, data in col.adds + col.changes:
                items[ec.calendar_fields(data)["UID"]] = sid
            deletes += col.deletes
            key = col.sync_key
            if not col.more_available:
                return key, items, deletes

    def caldav_uids(self, cal):
        """{href: (UID, SUMMARY)} of every object of the calendar, read through CalDAV."""
        body = ('<?xml version="1.0"?><C:calendar-query %s><D:prop><C:calendar-data/></D:prop>'
                '<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>'
                % CALDAV)
        r = self.req("REPORT", "/calendars/alice/%s/" % cal, body=body, headers={"Depth": "1"})
        self.assertStatus(r, 207)
        out = {}
        for resp in harness.responses(r.text):
            href = resp.split("<D:href>")[1].split("</D:href>")[0]
            # calendar-data keeps its CRs as &#13; (an XML parser would turn CRLF into LF)
            text = resp.replace("&#13;", "\r").replace("\r\n ", "")
            uid = text.split("UID:")[1].split("\r\n")[0].split("\n")[0]
            summary = text.split("SUMMARY:")[1].split("\r\n")[0].split("\n")[0]
            out[href] = (uid, summary)
        return out

    # pruning ---------------------------------------------------------------------------

    def test_state_older_than_pruned_tombstones_is_status_3(self):
        # README: "ActiveSync devices Sync Status 3" once their state predates pruned deletes
        for i in range(3):
            self.put("pruned", "p%d.ics" % i, ics("p-%d" % i, BASE + i * HOUR, "P %d" % i))
        old = self.device("PRUNEOLD1")
        fid = self.folder(old, "Pruned")
        old_key, items, _ = self.drain(old, fid, self.start(old, fid))
        self.assertEqual(set(items), {"p-0", "p-1", "p-2"})
        seen = self.device("PRUNESEEN1")
        seen_key, _, _ = self.drain(seen, fid, self.start(seen, fid))
        self.assertStatus(self.req("DELETE", "/calendars/alice/pruned/p1.ics"), 204)
        seen_key, _, deletes = self.drain(seen, fid, seen_key)
        self.assertEqual(deletes, [items["p-1"]], "the second device saw the delete")
        r = self.srv.cli("prune", "--days", "0")
        self.assertIn("pruned tombstones", r.stdout)

        res = old.sync(fid, old_key, get_changes=True)
        self.assertEqual(res.http_status, 200, res.resp)
        col = res.only()
        self.assertEqual(col.status, 3, "a cursor below the tombstone horizon starts over: %r"
                         % col.node)
        self.assertFalse(col.has_commands)
        # the device that saw the delete goes on
        res = seen.sync(fid, seen_key, get_changes=True)
        self.assertTrue(res.empty or res.only().status == 1, res.resp)
        # and the old one recovers with key 0: the two events that remain
        _, items, _ = self.drain(old, fid, self.start(old, fid))
        self.assertEqual(set(items), {"p-0", "p-2"})

    # policy key 0 ----------------------------------------------------------------------

    def test_policy_key_0_from_a_never_provisioned_device_is_449(self):
        # activesync.md §3.1: real phones send X-MS-PolicyKey: 0 before their first Provision
        fs = E("F:FolderSync", E("SyncKey", "0"))
        for form in ("plain", "base64"):
            with self.subTest(form=form):
                c = self.device("NEWPHONE0" + form.upper(), form=form, provision=False)
                r = c.request("FolderSync", fs, policy_key="0")
                self.assertEqual(r.status, 449, r)
                r = c.request("Sync", c.sync_request([{"key": "0", "id": "1"}]), policy_key="0")
                self.assertEqual(r.status, 449, r)
                r = c.request("FolderSync", fs, policy_key=None)
                self.assertEqual(r.status, 449, r)
                # the device provisions and is let in with the key it was given
                c.provision()
                self.assertNotEqual(c.policy_key, "0")
                self.assertEqual(c.request("FolderSync", fs).status, 200)
                self.assertEqual(c.request("FolderSync", fs, policy_key="0").status, 449)

    def test_acknowledging_another_key_than_the_temporary_one_gets_no_policy_key(self):
        # activesync.md §3.1: only the temporary key of step 2, acknowledged, earns the final
        # key; any other key is Policy Status 5 and leaves the device unprovisioned
        fs = E("F:FolderSync", E("SyncKey", "0"))
        c = self.device("WRONGACK01", provision=False)
        first = c.request("Provision", c.provision_request(), policy_key=None)
        self.assertEqual(first.status, 200, first)
        temp = first.doc.findtext("Policies/Policy/PolicyKey")
        self.assertTrue(temp and temp != "0", first.doc)
        wrong = str(int(temp) % (2 ** 32 - 1) + 1)
        ack = c.request("Provision", c.provision_request(wrong, 1), policy_key=wrong)
        self.assertEqual(ack.status, 200, ack)
        self.assertEqual(ack.doc.findtext("Policies/Policy/Status"), "5", ack.doc)
        self.assertIsNone(ack.doc.findtext("Policies/Policy/PolicyKey"), ack.doc)
        for key in (wrong, temp):
            self.assertEqual(c.request("FolderSync", fs, policy_key=key).status, 449, key)
        # the right acknowledgement still works afterwards
        ack = c.request("Provision", c.provision_request(temp, 1), policy_key=temp)
        self.assertEqual(ack.doc.findtext("Policies/Policy/Status"), "1", ack.doc)
        final = ack.doc.findtext("Policies/Policy/PolicyKey")
        self.assertEqual(c.request("FolderSync", fs, policy_key=final).status, 200)

    # duplicate UIDs from a phone -------------------------------------------------------

    def test_add_with_a_uid_the_calendar_holds_makes_no_second_item(self):
        self.put("dupes", "held.ics", ics("held-uid", BASE, "Held by CalDAV"))
        before = self.caldav_uids("dupes")
        c = self.device("DUPEADD1")
        fid = self.folder(c, "Dupes")
        key, items, _ = self.drain(c, fid, self.start(c, fid))
        holder = items["held-uid"]
        add = E("A:Add", E("ClientId", "dupe-1"), ec.calendar_appdata(
            "Phone copy", BASE + 5 * HOUR, BASE + 6 * HOUR, uid="held-uid"))
        col = c.sync(fid, key, get_changes="0", commands=[add]).only()
        self.assertEqual(col.status, 1, col.node)
        self.assertEqual(len(col.responses), 1, col.node)
        resp = col.responses[0]
        self.assertEqual((resp["kind"], resp["ClientId"]), ("Add", "dupe-1"))
        # activesync.md §4.10: no duplicate event; the holder's ServerId comes back
        self.assertEqual(resp["Status"], 1, col.node)
        self.assertEqual(resp["ServerId"], holder, col.node)
        self.assertEqual(self.caldav_uids("dupes"), before, "the store is untouched")

    def test_change_to_a_uid_another_item_holds_is_status_6(self):
        self.put("dupes", "one.ics", ics("one-uid", BASE, "One"))
        self.put("dupes", "two.ics", ics("two-uid", BASE + HOUR, "Two"))
        c = self.device("DUPECHG1")
        fid = self.folder(c, "Dupes")
        key, items, _ = self.drain(c, fid, self.start(c, fid))
        before = self.caldav_uids("dupes")
        change = E("A:Change", E("ServerId", items["two-uid"]), ec.calendar_appdata(
            "Two renamed", BASE + HOUR, BASE + 2 * HOUR, uid="one-uid"))
        col = c.sync(fid, key, get_changes="0", commands=[change]).only()
        self.assertEqual(col.status, 1, col.node)
        got = [(r["kind"], r["ServerId"], r["Status"]) for r in col.responses]
        # the store's UID check (no-uid-conflict through CalDAV) maps to Status 6
        self.assertEqual(got, [("Change", items["two-uid"], 6)], col.node)
        self.assertEqual(self.caldav_uids("dupes"), before, "the store is untouched")

    # a resent Sync whose commands changed the store -----------------------------------

    def etag(self, cal, name):
        r = self.req("GET", "/calendars/alice/%s/%s" % (cal, name))
        self.assertStatus(r, 200)
        return r.header("ETag")

    def test_resent_change_and_delete_with_get_changes_0_run_once_issue_14(self):
        # activesync.md §3.3.3: client commands that changed the store advance the SyncKey, so
        # a device that lost the answer and sends the same request again gets that answer again
        self.put("resend", "keep.ics", ics("keep-uid", BASE, "Keep"))
        self.put("resend", "gone.ics", ics("gone-uid", BASE + HOUR, "Gone"))
        c = self.device("RESEND1")
        fid = self.folder(c, "Resend")
        key, items, _ = self.drain(c, fid, self.start(c, fid))
        self.assertEqual(set(items), {"keep-uid", "gone-uid"})
        change = E("A:Change", E("ServerId", items["keep-uid"]), ec.calendar_appdata(
            "Keep renamed", BASE + 2 * HOUR, BASE + 3 * HOUR, uid="keep-uid"))
        delete = E("A:Delete", E("ServerId", items["gone-uid"]))
        body = c.sync_request([{"key": key, "id": fid, "get_changes": "0",
                                "commands": [change, delete]}])
        first = ec.SyncResult(c.request("Sync", body)).only()
        self.assertEqual(first.status, 1, first.node)
        self.assertNotEqual(first.sync_key, key, "commands that changed the store advance the key")
        self.assertEqual(first.responses, [], "a Change or Delete that succeeded has no Response")
        self.assertFalse(first.has_commands, "GetChanges 0 sends no server changes")
        want = {"/calendars/alice/resend/keep.ics": ("keep-uid", "Keep renamed")}
        self.assertEqual(self.caldav_uids("resend"), want)
        etag = self.etag("resend", "keep.ics")

        # the answer is lost: the phone sends the very same request again
        again = ec.SyncResult(c.request("Sync", body))
        self.assertEqual(again.http_status, 200, again.resp)
        self.assertEqual(again.only().node, first.node, "the resend gets the same answer")
        self.assertEqual(again.only().sync_key, first.sync_key)
        self.assertEqual(again.only().responses, [], "no Delete answered Status 8")
        self.assertEqual(self.caldav_uids("resend"), want)
        self.assertEqual(self.etag("resend", "keep.ics"), etag, "the Change ran once")

        # the next request with the new key proceeds: the device's own writes are not sent
        # back, a change made elsewhere is
        self.put("resend", "new.ics", ics("new-uid", BASE + 4 * HOUR, "New"))
        col = c.sync(fid, first.sync_key, get_changes=True).only()
        self.assertEqual(col.status, 1, col.node)
        self.assertNotEqual(col.sync_key, first.sync_key)
        self.assertEqual([ec.calendar_fields(d)["UID"] for _, d in col.adds], ["new-uid"])
        self.assertEqual((col.changes, col.deletes, col.responses), ([], [], []), col.node)
        # and the first key is now neither the current nor the previous one
        res = c.sync(fid, key, get_changes="0", commands=[change, delete])
        self.assertEqual(res.only().status, 3, res.resp)
        self.assertEqual(self.caldav_uids("resend"), {
            "/calendars/alice/resend/keep.ics": ("keep-uid", "Keep renamed"),
            "/calendars/alice/resend/new.ics": ("new-uid", "New")})

    # WindowSize cap --------------------------------------------------------------------

    def window_of(self, c, fid, key, per_collection):
        if per_collection:
            body = c.sync_request([{"key": key, "id": fid, "get_changes": True,
                                    "window": 1000}])
        else:
            body = c.sync_request([{"key": key, "id": fid, "get_changes": True}], window=1000)
        res = ec.SyncResult(c.request("Sync", body))
        col = res.only()
        self.assertEqual(col.status, 1, res.resp)
        return col

    def test_window_size_1000_gets_at_most_512_and_more_available(self):
        # MS-ASCMD 2.2.3.199: WindowSize is 1..512; README "windows of up to 512 items"
        for per_collection in (True, False):
            with self.subTest(per_collection=per_collection):
                c = self.device("WINDOW%d" % per_collection)
                fid = self.folder(c, "Window")
                key = self.start(c, fid)
                col = self.window_of(c, fid, key, per_collection)
                self.assertEqual(len(col.adds), 512)
                self.assertTrue(col.more_available)
                uids = {ec.calendar_fields(d)["UID"] for _, d in col.adds}
                col2 = self.window_of(c, fid, col.sync_key, per_collection)
                self.assertEqual(len(col2.adds), N_WINDOW - 512)
                self.assertFalse(col2.more_available)
                uids |= {ec.calendar_fields(d)["UID"] for _, d in col2.adds}
                self.assertEqual(uids, {"w-%04d" % i for i in range(N_WINDOW)})


class LargeItemTest(harness.ServerTestCase):
    """An event as large as max_resource_size lets in reaches the phone whole: an ActiveSync
    answer has room for a window plus one such item (it was a fixed 8 MiB, below the 10 MiB
    default of max_resource_size; issue 14, item 9)."""

    def test_largest_event_syncs_whole(self):
        self.srv.cli("calendar", "add", "alice", "big")
        text = "x" * (9 * 1024 * 1024)
        desc = "DESCRIPTION:" + text
        folded = "\r\n ".join(desc[i:i + 74] for i in range(0, len(desc), 74))
        body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\n"
                "UID:big-eas\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
                "DTEND:20260105T110000Z\r\nSUMMARY:Big\r\n" + folded
                + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        self.assertLess(len(body), 10 * 1024 * 1024)
        r = self.req("PUT", "/calendars/alice/big/big.ics", body=body,
                     headers={"Content-Type": "text/calendar"})
        self.assertEqual(r.status, 201, r)
        c = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                         "BIGITEM1")
        self.addCleanup(c.close)
        c.provision()
        fid = None
        for f in ec.EASClient.folders_of(c.folder_sync("0")):
            if f["DisplayName"] == "big":
                fid = f["ServerId"]
        self.assertIsNotNone(fid)
        key = c.sync(fid, "0").only().sync_key
        col = c.sync(fid, key, get_changes=True, window=10,
                     options=ec.EASClient.calendar_options()).only()
        self.assertEqual(col.status, 1, col.node)
        self.assertEqual(len(col.adds), 1)
        fields = ec.calendar_fields(col.adds[0][1])
        self.assertEqual(fields["UID"], "big-eas")
        self.assertEqual(fields["Body"]["Data"].replace("\r\n", "\n"), text)


class BodyLimitTest(harness.ServerTestCase):
    """eas_max_body bounds a request body however it arrives: a chunked body (no
    Content-Length) is refused with 413 eas-body-too-large once it passes the limit."""

    CONFIG = "eas_max_body = 1K\n"

    def test_chunked_body_over_eas_max_body_is_413(self):
        self.srv.cli("calendar", "add", "alice", "big")
        c = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                         "BIGBODY01")
        self.addCleanup(c.close)
        c.provision()
        fid = [f["ServerId"] for f in ec.EASClient.folders_of(c.folder_sync("0"))
               if f["DisplayName"] == "big"][0]
        col = c.sync(fid, "0").only()
        self.assertEqual(col.status, 1, col.node)
        add = E("A:Add", E("ClientId", "big-1"), ec.calendar_appdata(
            "x" * 3000, BASE, BASE + HOUR, uid="big-uid"))
        data = ec.encode(c.sync_request([{"key": col.sync_key, "id": fid,
                                          "commands": [add]}]))
        self.assertGreater(len(data), 2048)
        headers = {"MS-ASProtocolVersion": c.version, "X-MS-PolicyKey": c.policy_key,
                   "Content-Type": "application/vnd.ms-sync.wbxml"}
        chunks = (data[i:i + 256] for i in range(0, len(data), 256))
        r = self.req("POST", c.target("Sync"), body=chunks, headers=headers)
        self.assertStatus(r, 413)
        # nothing was added, and the device goes on with its key
        res = c.sync(fid, col.sync_key, get_changes=True)
        self.assertTrue(res.empty or not res.only().adds, res.resp)


if __name__ == "__main__":
    harness.main()
