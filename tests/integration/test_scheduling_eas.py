"""tests/integration/test_scheduling_eas.py: meetings between a CalDAV user and an ActiveSync
user of the same server (issue 13; docs/scheduling.md), through the real almanacd and a
scripted phone (easclient):

  - alice organizes over CalDAV; bob's phone syncs the invitation with the meeting fields
    (MeetingStatus 3, OrganizerEmail, Attendees, ResponseType 5 not responded,
    ResponseRequested) and answers with MeetingResponse: accept (CalendarId = the item,
    alice's copy says PARTSTAT=ACCEPTED), tentative, decline (bob's copy is gone, no
    CalendarId, alice's copy DECLINED);
  - one instance of a recurring meeting declined by InstanceId (14.1): bob's copy gets an
    EXDATE, alice's copy an override with DECLINED, the master untouched; InstanceId of a
    meeting that does not recur is Status 146, and from a 14.0 phone Status 2;
  - MeetingResponse on an item bob organizes, on an unknown item, on the Inbox: Status 2;
  - the reverse: bob's phone Adds an event with Attendees (no organizer: the server makes
    bob the organizer), alice gets it over CalDAV, answers there, and bob's phone reads her
    AttendeeStatus;
  - an attendee deleting their copy (CalDAV DELETE, or a phone's Sync Delete) replies
    DECLINED to the organizer (RFC 6638 §3.2.2.3);
  - the inbox and outbox say schedule-inbox / schedule-outbox (RFC 6638 §2.2, §2.1), and a
    GET of a scheduling object carries its Schedule-Tag (§3.2.10)."""

import datetime
import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import easclient as eas  # noqa: E402
from easclient import E, EASClient  # noqa: E402
from harness import ServerTestCase, main, propfind_body  # noqa: E402

UTC = datetime.timezone.utc
HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
TAIL = "END:VCALENDAR\r\n"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def meeting(uid, organizer, attendees, start="20270105T100000Z", end="20270105T110000Z",
            rrule=None, summary="Planning"):
    lines = ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20270101T000000Z", "DTSTART:" + start,
             "DTEND:" + end, "SUMMARY:" + summary, "ORGANIZER:mailto:%s@example.org" % organizer,
             "ATTENDEE;PARTSTAT=ACCEPTED:mailto:%s@example.org" % organizer]
    if rrule:
        lines.append("RRULE:" + rrule)
    lines += ["ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:%s@example.org" % a
              for a in attendees]
    return HEAD + "\r\n".join(lines) + "\r\nEND:VEVENT\r\n" + TAIL


def unfold(ics):
    return ics.replace("\r\n ", "").replace("\n ", "")


def attendee_line(ics, addr, part=None):
    for line in unfold(part if part is not None else ics).splitlines():
        if line.startswith("ATTENDEE") and line.lower().endswith(addr.lower()):
            return line
    return None


def components(ics):
    return unfold(ics).split("BEGIN:VEVENT")[1:]


class MeetingsActiveSyncTest(ServerTestCase):
    USERS = ("alice", "bob", "carol")
    CONFIG = "mail_domain = example.org\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for u in cls.USERS:
            cls.srv.cli("calendar", "add", u, "cal")

    # helpers ---------------------------------------------------------------------------

    def phone(self, user, device_id, version="14.1"):
        c = EASClient("127.0.0.1", self.srv.port, user, self.srv.passwords[user], device_id,
                      version=version, oracle=True)
        self.addCleanup(c.close)
        c.provision()
        r = c.folder_sync("0")
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        c.cal = [f["ServerId"] for f in EASClient.folders_of(r) if f["DisplayName"] == "cal"][0]
        col = c.sync(c.cal, "0", options=EASClient.calendar_options()).collections[c.cal]
        c.key = col.sync_key
        return c

    def changes(self, c):
        """Syncs the phone's calendar: {UID: (ServerId, fields)} of the Adds and Changes."""
        out = {}
        while True:
            res = c.sync(c.cal, c.key, get_changes=True, window=100,
                         options=EASClient.calendar_options())
            self.assertEqual(res.http_status, 200, res.resp)
            if res.empty:
                return out
            col = res.collections[c.cal]
            self.assertEqual(col.status, 1, col.node)
            c.key = col.sync_key
            for kind in ("Add", "Change"):
                for n in col.node.findall("Commands/" + kind):
                    f = eas.calendar_fields(n.find("ApplicationData"))
                    out[f.get("UID")] = (n.findtext("ServerId"), f)
            if not col.node.has("MoreAvailable"):
                return out

    def put(self, user, name, body, status=(201, 204)):
        r = self.req("PUT", "/calendars/%s/cal/%s" % (user, name), user=user, body=body,
                     headers=ICS)
        self.assertIn(r.status, status, r.text)
        return r

    def get(self, user, name):
        return self.req("GET", "/calendars/%s/cal/%s" % (user, name), user=user)

    # CalDAV organizer, ActiveSync attendee ----------------------------------------------

    def test_invitation_on_phone_and_accept(self):
        bob = self.phone("bob", "BOBPHONE1")
        self.put("alice", "acc.ics", meeting("acc", "alice", ["bob", "carol"]))
        items = self.changes(bob)
        sid, f = items["acc"]
        self.assertEqual(f["MeetingStatus"], "3", f)  # a meeting received
        self.assertEqual(f["OrganizerEmail"], "alice@example.org", f)
        self.assertEqual(f["ResponseType"], "5", f)  # not responded
        self.assertEqual(f["ResponseRequested"], "1", f)
        emails = {a["Email"]: a for a in f["Attendees"]}
        self.assertEqual(set(emails), {"alice@example.org", "bob@example.org",
                                       "carol@example.org"})
        self.assertEqual(emails["alice@example.org"].get("AttendeeStatus"), "3")  # accepted
        self.assertEqual(emails["bob@example.org"].get("AttendeeType"), "1")  # required
        resp, results = bob.meeting_response([{"response": 1, "collection": bob.cal,
                                               "request": sid}])
        self.assertEqual(resp.status, 200)
        self.assertEqual(results, [{"RequestId": sid, "Status": "1", "CalendarId": sid}])
        org = self.get("alice", "acc.ics").text
        line = attendee_line(org, "mailto:bob@example.org")
        self.assertIn("PARTSTAT=ACCEPTED", line)
        self.assertIn("SCHEDULE-STATUS=2.0", line)
        self.assertIn("PARTSTAT=NEEDS-ACTION", attendee_line(org, "mailto:carol@example.org"))
        # bob's copy and his phone say accepted
        self.assertIn("PARTSTAT=ACCEPTED",
                      attendee_line(self.get("bob", "acc.ics").text, "mailto:bob@example.org"))
        _, f = self.changes(bob)["acc"]
        self.assertEqual(f["ResponseType"], "3", f)
        # the organizer's notice: a REPLY in alice's inbox
        inbox = self.req("PROPFIND", "/calendars/alice/inbox/", user="alice",
                         body=propfind_body("<D:getetag/>"), headers={"Depth": "1"})
        hrefs = re.findall(r"<D:href>([^<]*\.ics)</D:href>", inbox.text)
        notices = [self.req("GET", h, user="alice").text for h in hrefs]
        self.assertTrue(any("METHOD:REPLY" in n and "UID:acc" in n for n in notices), notices)

    def test_tentative_then_decline_removes_copy(self):
        bob = self.phone("bob", "BOBPHONE2")
        self.put("alice", "dec.ics", meeting("dec", "alice", ["bob"]))
        sid, _ = self.changes(bob)["dec"]
        _, results = bob.meeting_response([{"response": 2, "collection": bob.cal,
                                            "request": sid}])
        self.assertEqual(results[0]["Status"], "1", results)
        self.assertIn("PARTSTAT=TENTATIVE", attendee_line(self.get("alice", "dec.ics").text,
                                                          "mailto:bob@example.org"))
        _, results = bob.meeting_response([{"response": 3, "collection": bob.cal,
                                            "request": sid}])
        self.assertEqual(results, [{"RequestId": sid, "Status": "1"}])  # no CalendarId
        self.assertEqual(self.get("bob", "dec.ics").status, 404)
        self.assertIn("PARTSTAT=DECLINED", attendee_line(self.get("alice", "dec.ics").text,
                                                         "mailto:bob@example.org"))
        # the phone learns the item is gone
        res = bob.sync(bob.cal, bob.key, get_changes=True, options=EASClient.calendar_options())
        col = res.collections[bob.cal]
        self.assertEqual([n.findtext("ServerId") for n in col.node.findall("Commands/Delete")],
                         [sid])
        bob.key = col.sync_key

    def test_decline_one_instance_by_instance_id(self):
        bob = self.phone("bob", "BOBPHONE3")
        self.put("alice", "rec.ics", meeting("rec", "alice", ["bob"], rrule="FREQ=WEEKLY;COUNT=4"))
        sid, _ = self.changes(bob)["rec"]
        _, results = bob.meeting_response([{"response": 3, "collection": bob.cal,
                                            "request": sid,
                                            "instance": "2027-01-12T10:00:00.000Z"}])
        self.assertEqual(results, [{"RequestId": sid, "Status": "1", "CalendarId": sid}])
        copy = self.get("bob", "rec.ics").text
        self.assertIn("EXDATE:20270112T100000Z", unfold(copy))
        parts = components(self.get("alice", "rec.ics").text)
        self.assertEqual(len(parts), 2, parts)
        inst = [p for p in parts if "RECURRENCE-ID:20270112T100000Z" in p]
        self.assertEqual(len(inst), 1, parts)
        self.assertIn("PARTSTAT=DECLINED", attendee_line("", "mailto:bob@example.org", inst[0]))
        master = [p for p in parts if "RRULE" in p][0]
        self.assertIn("PARTSTAT=NEEDS-ACTION",
                      attendee_line("", "mailto:bob@example.org", master))
        # the phone sees the instance as a deleted exception
        _, f = self.changes(bob)["rec"]
        self.assertTrue(any(x.get("Deleted") == "1" for x in f.get("Exceptions", [])), f)
        # accepting another instance makes an override in bob's copy, ACCEPTED there only
        _, results = bob.meeting_response([{"response": 1, "collection": bob.cal,
                                            "request": sid,
                                            "instance": "20270119T100000Z"}])
        self.assertEqual(results[0]["Status"], "1", results)
        parts = components(self.get("alice", "rec.ics").text)
        inst = [p for p in parts if "RECURRENCE-ID:20270119T100000Z" in p]
        self.assertIn("PARTSTAT=ACCEPTED", attendee_line("", "mailto:bob@example.org", inst[0]))
        # no such instance; not recurring (146); a bad date-time (104)
        _, results = bob.meeting_response([
            {"response": 1, "collection": bob.cal, "request": sid,
             "instance": "2027-01-13T10:00:00.000Z"},
            {"response": 1, "collection": bob.cal, "request": sid, "instance": "yesterday"}])
        self.assertEqual([r["Status"] for r in results], ["2", "104"], results)
        self.put("alice", "one.ics", meeting("one", "alice", ["bob"]))
        osid, _ = self.changes(bob)["one"]
        _, results = bob.meeting_response([{"response": 3, "collection": bob.cal,
                                            "request": osid,
                                            "instance": "2027-01-05T10:00:00.000Z"}])
        self.assertEqual(results[0]["Status"], "146", results)
        self.assertEqual(self.get("bob", "one.ics").status, 200)  # nothing written

    def test_instance_id_needs_14_1(self):
        bob = self.phone("bob", "BOBPHONE140", version="14.0")
        self.put("alice", "v140.ics", meeting("v140", "alice", ["bob"],
                                              rrule="FREQ=DAILY;COUNT=3"))
        sid, _ = self.changes(bob)["v140"]
        _, results = bob.meeting_response([{"response": 3, "collection": bob.cal,
                                            "request": sid,
                                            "instance": "2027-01-06T10:00:00.000Z"}])
        self.assertEqual(results[0]["Status"], "2", results)
        self.assertNotIn("EXDATE", self.get("bob", "v140.ics").text)

    def test_refused_requests(self):
        bob = self.phone("bob", "BOBPHONE4")
        self.put("bob", "mine.ics", meeting("mine", "bob", ["alice"]))
        self.put("bob", "plain.ics", HEAD + "BEGIN:VEVENT\r\nUID:plain\r\nDTSTAMP:20270101T000000Z"
                 "\r\nDTSTART:20270105T100000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\n" + TAIL)
        items = self.changes(bob)
        mine, plain = items["mine"][0], items["plain"][0]
        self.assertEqual(items["mine"][1]["MeetingStatus"], "1")  # bob organizes it
        before = self.get("alice", "mine.ics").text
        _, results = bob.meeting_response([
            {"response": 1, "collection": bob.cal, "request": mine},
            {"response": 1, "collection": bob.cal, "request": plain},
            {"response": 1, "collection": bob.cal, "request": bob.cal[1:] + ":999999"},
            {"response": 1, "collection": "inbox", "request": "inbox:1"},
            {"response": 7, "collection": bob.cal, "request": mine}])
        self.assertEqual([r["Status"] for r in results], ["2"] * 5, results)
        self.assertEqual(self.get("alice", "mine.ics").text, before)
        # a MeetingResponse with no Request is a bad request (EAS Status 103)
        r = bob.request("MeetingResponse", E("M:MeetingResponse"))
        self.assertEqual(r.status, 400)

    # ActiveSync organizer, CalDAV attendee ----------------------------------------------

    def test_phone_add_with_attendees_schedules(self):
        bob = self.phone("bob", "BOBPHONE5")
        start = datetime.datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
        data = eas.calendar_appdata("Phone meeting", start, start + datetime.timedelta(hours=1),
                                    uid="fromphone")
        data.children.insert(len(data.children) - 1, E("C:Attendees", E("C:Attendee",
                             E("C:Email", "alice@example.org"), E("C:Name", "Alice"),
                             E("C:AttendeeType", "1"))))
        res = bob.sync(bob.cal, bob.key, commands=[E("A:Add", E("ClientId", "c1"), data)],
                       options=EASClient.calendar_options())
        col = res.collections[bob.cal]
        self.assertEqual(col.node.findtext("Responses/Add/Status"), "1", col.node)
        bob.key = col.sync_key
        sid = col.node.findtext("Responses/Add/ServerId")
        # alice has the invitation over CalDAV
        r = self.get("alice", "fromphone.ics")
        self.assertEqual(r.status, 200, r.text)
        self.assertIn("ORGANIZER", r.text)
        self.assertIn("mailto:bob@example.org", unfold(r.text))
        self.assertIn("PARTSTAT=NEEDS-ACTION", attendee_line(r.text, "mailto:alice@example.org"))
        # she accepts over CalDAV; bob's phone reads her answer
        self.put("alice", "fromphone.ics",
                 r.text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED", 1), status=(204,))
        items = self.changes(bob)
        self.assertEqual(items["fromphone"][0], sid)
        f = items["fromphone"][1]
        self.assertEqual(f["MeetingStatus"], "1", f)  # bob organizes it
        self.assertEqual(f["ResponseType"], "1", f)
        alice = [a for a in f["Attendees"] if a["Email"] == "alice@example.org"][0]
        self.assertEqual(alice.get("AttendeeStatus"), "3", f)

    # An attendee deleting their copy (RFC 6638 §3.2.2.3) --------------------------------

    def test_attendee_delete_replies_declined(self):
        self.put("alice", "del.ics", meeting("del", "alice", ["bob", "carol"]))
        r = self.req("DELETE", "/calendars/carol/cal/del.ics", user="carol")
        self.assertEqual(r.status, 204, r.text)
        org = self.get("alice", "del.ics").text
        line = attendee_line(org, "mailto:carol@example.org")
        self.assertIn("PARTSTAT=DECLINED", line)
        self.assertIn("SCHEDULE-STATUS=2.0", line)
        self.assertIn("PARTSTAT=NEEDS-ACTION", attendee_line(org, "mailto:bob@example.org"))
        # and from a phone: a Sync Delete of the copy
        bob = self.phone("bob", "BOBPHONE6")
        sid, _ = self.changes(bob)["del"]
        res = bob.sync(bob.cal, bob.key, commands=[E("A:Delete", E("ServerId", sid))],
                       options=EASClient.calendar_options())
        self.assertEqual(res.collections[bob.cal].status, 1)
        self.assertIn("PARTSTAT=DECLINED", attendee_line(self.get("alice", "del.ics").text,
                                                         "mailto:bob@example.org"))

    # RFC 6638 §2.2, §2.1, §3.2.10 ------------------------------------------------------

    def test_inbox_outbox_resourcetype_and_get_schedule_tag(self):
        r = self.put("alice", "tag.ics", meeting("tag", "alice", ["bob"]))
        tag = r.header("Schedule-Tag")
        self.assertTrue(tag)
        g = self.get("alice", "tag.ics")
        self.assertEqual(g.header("Schedule-Tag"), tag)
        h = self.req("HEAD", "/calendars/bob/cal/tag.ics", user="bob")
        self.assertTrue(h.header("Schedule-Tag"), h.headers)
        plain = HEAD + ("BEGIN:VEVENT\r\nUID:notag\r\nDTSTAMP:20270101T000000Z\r\n"
                        "DTSTART:20270105T100000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\n") + TAIL
        self.put("alice", "notag.ics", plain)
        self.assertIsNone(self.get("alice", "notag.ics").header("Schedule-Tag"))
        for box, kind in (("inbox", "schedule-inbox"), ("outbox", "schedule-outbox")):
            p = self.req("PROPFIND", "/calendars/bob/%s/" % box, user="bob",
                         body=propfind_body("<D:resourcetype/>"), headers={"Depth": "0"})
            self.assertStatus(p, 207)
            rt = re.search(r"<D:resourcetype>(.*?)</D:resourcetype>", p.text, re.S).group(1)
            self.assertIn("<D:collection/>", rt)
            self.assertIn("<C:%s/>" % kind, rt)
        p = self.req("PROPFIND", "/calendars/bob/cal/", user="bob",
                     body=propfind_body("<D:resourcetype/>"), headers={"Depth": "0"})
        self.assertNotIn("schedule-inbox", p.text)


if __name__ == "__main__":
    main()
