"""tests/integration/test_scheduling.py: implicit scheduling between local users (issue 13;
RFC 6638 over iTIP, RFC 5546) through the real server, users and addresses made with the
admin CLI, mail_domain set in the configuration: an organizer's PUT over CalDAV delivers each
attendee's copy with NEEDS-ACTION and a notice in their schedule inbox; an attendee's accept
updates the organizer's copy; an attendee's other change is refused (403
allowed-attendee-scheduling-object-change); a time change resets PARTSTAT; a recurring
meeting's single-instance decline lands as an override in the organizer's copy; a removed
attendee's copy and, on delete, every copy go; Schedule-Tag and If-Schedule-Tag-Match; the
SCHEDULE-STATUS of unknown and outside addresses; the attendee limit; admin-given addresses;
and python3-caldav's scheduling calls (calendar_user_address_set, schedule_inbox,
accept_invite)."""

import re
import sys
import time
import unittest

sys.path.insert(0, __import__("os").path.dirname(__file__))
from harness import ServerTestCase, main, propfind_body, responses  # noqa: E402

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
TAIL = "END:VCALENDAR\r\n"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def event(uid, attendees, start="20270105T100000Z", end="20270105T110000Z", summary="Sync",
          rrule=None, extra=""):
    lines = ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20270101T000000Z",
             "DTSTART:" + start, "DTEND:" + end, "SUMMARY:" + summary,
             "ORGANIZER:mailto:alice@example.org",
             "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org"]
    if rrule:
        lines.append("RRULE:" + rrule)
    lines += ["ATTENDEE;PARTSTAT=NEEDS-ACTION:" + a for a in attendees]
    body = "\r\n".join(lines) + "\r\n" + extra + "END:VEVENT\r\n"
    return HEAD + body + TAIL


def attendee_line(ics, addr):
    """The unfolded ATTENDEE line of `addr` in the master (the first one found)."""
    text = ics.replace("\r\n ", "").replace("\n ", "")
    for line in text.splitlines():
        if line.startswith("ATTENDEE") and line.lower().endswith(addr.lower()):
            return line
    return None


class SchedulingTest(ServerTestCase):
    USERS = ("alice", "bob", "carol")
    CONFIG = "mail_domain = example.org\nsched_max_attendees = 20\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for u in cls.USERS:
            cls.srv.cli("calendar", "add", u, "cal")

    def put(self, user, path, body, headers=None, status=None):
        h = dict(ICS)
        h.update(headers or {})
        r = self.req("PUT", path, user=user, body=body, headers=h)
        if status is not None:
            self.assertStatus(r, status)
        return r

    def get(self, user, path):
        return self.req("GET", path, user=user)

    def invite(self, uid, attendees, **kw):
        r = self.put("alice", "/calendars/alice/cal/%s.ics" % uid, event(uid, attendees, **kw))
        self.assertIn(r.status, (201, 204), r.text)
        return r

    # RFC 6638 §3.2.1, §4.1
    def test_invitation_reaches_each_attendee_with_needs_action_and_inbox_notice(self):
        self.invite("m1", ["mailto:bob@example.org", "mailto:Carol@Example.org"])
        for user, addr in (("bob", "mailto:bob@example.org"), ("carol", "mailto:carol@example.org")):
            r = self.get(user, "/calendars/%s/cal/m1.ics" % user)
            self.assertStatus(r, 200)
            self.assertIn("SUMMARY:Sync", r.text)
            self.assertIn("PARTSTAT=NEEDS-ACTION", attendee_line(r.text, addr))
            self.assertNotIn("METHOD", r.text)
            inbox = self.req("PROPFIND", "/calendars/%s/inbox/" % user, user=user,
                             body=propfind_body('<D:getetag/>'), headers={"Depth": "1"})
            self.assertStatus(inbox, 207)
            hrefs = re.findall(r"<D:href>([^<]*\.ics)</D:href>", inbox.text)
            self.assertTrue(hrefs, inbox.text)
            notices = [self.get(user, h).text for h in hrefs]
            self.assertTrue(any("METHOD:REQUEST" in n and "UID:m1" in n for n in notices))
            outbox = self.req("PROPFIND", "/calendars/%s/outbox/" % user, user=user,
                              body=propfind_body('<D:resourcetype/>'), headers={"Depth": "0"})
            self.assertStatus(outbox, 207)
        org = self.get("alice", "/calendars/alice/cal/m1.ics").text
        self.assertIn("SCHEDULE-STATUS=1.2", attendee_line(org, "mailto:bob@example.org"))

    # RFC 6638 §3.2.2 (reply), §3.2.10 (the organizer's tag stays)
    def test_accept_updates_organizer_copy(self):
        r = self.invite("m2", ["mailto:bob@example.org"])
        tag = r.header("Schedule-Tag")
        self.assertTrue(tag and tag.startswith('"'), r.headers)
        # RFC 4791 §5.3.4: the server stored SCHEDULE-STATUS, so no ETag of the body sent
        self.assertIsNone(r.header("ETag"))
        copy = self.get("bob", "/calendars/bob/cal/m2.ics").text
        accepted = copy.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED", 1)
        self.assertNotEqual(copy, accepted)
        r = self.put("bob", "/calendars/bob/cal/m2.ics", accepted, status=204)
        self.assertTrue(r.header("ETag"))  # stored as sent
        org = self.get("alice", "/calendars/alice/cal/m2.ics")
        line = attendee_line(org.text, "mailto:bob@example.org")
        self.assertIn("PARTSTAT=ACCEPTED", line)
        self.assertIn("SCHEDULE-STATUS=2.0", line)
        # the reply left the organizer's Schedule-Tag alone: a matching write succeeds
        body = org.text.replace("SUMMARY:Sync", "SUMMARY:Sync 2")
        self.put("alice", "/calendars/alice/cal/m2.ics", body,
                 headers={"If-Schedule-Tag-Match": tag}, status=204)

    # RFC 6638 §3.2.2.1
    def test_attendee_cannot_change_summary(self):
        self.invite("m3", ["mailto:bob@example.org"])
        copy = self.get("bob", "/calendars/bob/cal/m3.ics").text
        r = self.put("bob", "/calendars/bob/cal/m3.ics",
                     copy.replace("SUMMARY:Sync", "SUMMARY:Mine now"))
        self.assertCondition(r, 403, "allowed-attendee-scheduling-object-change")
        self.assertIn("allowed-attendee-scheduling-object-change", r.text)
        self.assertIn("SUMMARY:Sync", self.get("bob", "/calendars/bob/cal/m3.ics").text)

    # RFC 6638 §3.2.8
    def test_time_change_resets_partstat(self):
        self.invite("m4", ["mailto:bob@example.org"])
        copy = self.get("bob", "/calendars/bob/cal/m4.ics").text
        self.put("bob", "/calendars/bob/cal/m4.ics",
                 copy.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED", 1), status=204)
        self.assertIn("PARTSTAT=ACCEPTED", attendee_line(
            self.get("bob", "/calendars/bob/cal/m4.ics").text, "mailto:bob@example.org"))
        # a new summary keeps bob's answer
        self.invite("m4", ["mailto:bob@example.org"], summary="Sync renamed")
        copy = self.get("bob", "/calendars/bob/cal/m4.ics").text
        self.assertIn("SUMMARY:Sync renamed", copy)
        self.assertIn("PARTSTAT=ACCEPTED", attendee_line(copy, "mailto:bob@example.org"))
        # a new time resets it
        self.invite("m4", ["mailto:bob@example.org"], start="20270105T140000Z",
                    end="20270105T150000Z", summary="Sync renamed")
        copy = self.get("bob", "/calendars/bob/cal/m4.ics").text
        self.assertIn("DTSTART:20270105T140000Z", copy)
        self.assertIn("PARTSTAT=NEEDS-ACTION", attendee_line(copy, "mailto:bob@example.org"))

    # RFC 6638 §3.2.6, RFC 5546 §3.2.3: a decline of one instance
    def test_recurring_decline_of_one_instance(self):
        self.invite("m5", ["mailto:bob@example.org"], rrule="FREQ=WEEKLY;COUNT=4")
        copy = self.get("bob", "/calendars/bob/cal/m5.ics").text
        override = ("BEGIN:VEVENT\r\nUID:m5\r\nDTSTAMP:20270101T000000Z\r\n"
                    "RECURRENCE-ID:20270112T100000Z\r\nDTSTART:20270112T100000Z\r\n"
                    "DTEND:20270112T110000Z\r\nSUMMARY:Sync\r\n"
                    "ORGANIZER:mailto:alice@example.org\r\n"
                    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"
                    "ATTENDEE;PARTSTAT=DECLINED:mailto:bob@example.org\r\nEND:VEVENT\r\n")
        declined = copy.replace(TAIL, override + TAIL)
        self.put("bob", "/calendars/bob/cal/m5.ics", declined, status=204)
        org = self.get("alice", "/calendars/alice/cal/m5.ics").text
        parts = org.split("BEGIN:VEVENT")
        self.assertEqual(len(parts), 3, org)
        inst = [p for p in parts if "RECURRENCE-ID:20270112T100000Z" in p]
        self.assertEqual(len(inst), 1, org)
        self.assertIn("PARTSTAT=DECLINED", attendee_line(inst[0], "mailto:bob@example.org"))
        master = [p for p in parts[1:] if "RRULE" in p][0]
        self.assertIn("PARTSTAT=NEEDS-ACTION", attendee_line(master, "mailto:bob@example.org"))

    # RFC 5546 §3.2.5
    def test_removed_attendee_and_deleted_meeting_lose_their_copies(self):
        self.invite("m6", ["mailto:bob@example.org", "mailto:carol@example.org"])
        self.assertStatus(self.get("carol", "/calendars/carol/cal/m6.ics"), 200)
        self.invite("m6", ["mailto:bob@example.org"])
        self.assertStatus(self.get("carol", "/calendars/carol/cal/m6.ics"), 404)
        self.assertStatus(self.get("bob", "/calendars/bob/cal/m6.ics"), 200)
        self.assertStatus(self.req("DELETE", "/calendars/alice/cal/m6.ics", user="alice"), 204)
        self.assertStatus(self.get("bob", "/calendars/bob/cal/m6.ics"), 404)

    def test_invitation_never_replaces_an_event_of_another_organizer(self):
        """An organizer who picks the UID of an attendee's own event cannot overwrite it."""
        own = (HEAD + "BEGIN:VEVENT\r\nUID:bobs-own\r\nDTSTAMP:20270101T000000Z\r\n"
               "DTSTART:20270201T100000Z\r\nDTEND:20270201T110000Z\r\nSUMMARY:Dentist\r\n"
               "END:VEVENT\r\n" + TAIL)
        self.put("bob", "/calendars/bob/cal/bobs-own.ics", own, status=201)
        self.invite("bobs-own", ["mailto:bob@example.org"], summary="Hijack")
        self.assertEqual(self.get("bob", "/calendars/bob/cal/bobs-own.ics").text, own)
        self.assertStatus(self.req("DELETE", "/calendars/alice/cal/bobs-own.ics", user="alice"),
                          204)
        self.assertEqual(self.get("bob", "/calendars/bob/cal/bobs-own.ics").text, own)
        # a name of bob's (his own UID) that a new invitation's UID would take
        named = own.replace("UID:bobs-own", "UID:something-else")
        self.put("bob", "/calendars/bob/cal/m-name.ics", named, status=201)
        self.invite("m-name", ["mailto:bob@example.org"])
        self.assertEqual(self.get("bob", "/calendars/bob/cal/m-name.ics").text, named)
        r = self.req("REPORT", "/calendars/bob/cal/", user="bob", headers={"Depth": "1"},
                     body='<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                          '<D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter '
                          'name="VCALENDAR"/></C:filter></C:calendar-query>')
        self.assertIn("UID:m-name", r.text)

    # RFC 6638 §3.2.10, §8.3
    def test_schedule_tag_and_if_schedule_tag_match(self):
        self.invite("m7", ["mailto:bob@example.org"])
        r = self.req("PROPFIND", "/calendars/bob/cal/m7.ics", user="bob",
                     body=propfind_body('<C:schedule-tag xmlns:C="urn:ietf:params:xml:ns:caldav"/>'),
                     headers={"Depth": "0"})
        self.assertStatus(r, 207)
        tag = re.search(r"schedule-tag[^>]*>([^<]+)<", r.text).group(1).replace("&quot;", '"')
        copy = self.get("bob", "/calendars/bob/cal/m7.ics").text
        accepted = copy.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=TENTATIVE", 1)
        r = self.put("bob", "/calendars/bob/cal/m7.ics", accepted,
                     headers={"If-Schedule-Tag-Match": '"s1"'})
        self.assertCondition(r, 412, "schedule-tag-mismatch")
        r = self.put("bob", "/calendars/bob/cal/m7.ics", accepted,
                     headers={"If-Schedule-Tag-Match": tag}, status=204)
        # the organizer changes it: bob's old tag no longer matches a DELETE
        new_tag = r.header("Schedule-Tag")
        self.invite("m7", ["mailto:bob@example.org"], summary="Moved on")
        r = self.req("DELETE", "/calendars/bob/cal/m7.ics", user="bob",
                     headers={"If-Schedule-Tag-Match": new_tag})
        self.assertCondition(r, 412, "schedule-tag-mismatch")

    # RFC 6638 §3.2.9
    def test_schedule_status_of_unknown_and_outside_addresses(self):
        self.invite("m8", ["mailto:dave@example.org", "mailto:someone@elsewhere.example"])
        org = self.get("alice", "/calendars/alice/cal/m8.ics").text
        self.assertIn("SCHEDULE-STATUS=3.7", attendee_line(org, "mailto:dave@example.org"))
        self.assertNotIn("SCHEDULE-STATUS",
                         attendee_line(org, "mailto:someone@elsewhere.example"))

    # RFC 4791 §5.3.2.1 max-attendees-per-instance
    def test_attendee_limit(self):
        many = ["mailto:p%d@elsewhere.example" % i for i in range(20)]
        r = self.put("alice", "/calendars/alice/cal/m9.ics", event("m9", many))
        self.assertCondition(r, 403, "max-attendees-per-instance")
        self.assertStatus(self.get("alice", "/calendars/alice/cal/m9.ics"), 404)

    def test_admin_given_address_and_principal_properties(self):
        self.srv.cli("user", "address", "add", "carol", "mailto:Boss@Corp.example")
        r = self.srv.cli("user", "address", "add", "bob", "mailto:boss@corp.example",
                         check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(self.srv.cli("user", "address", "list", "carol").stdout,
                         "mailto:boss@corp.example\n")
        self.invite("m10", ["mailto:boss@corp.example"])
        self.assertStatus(self.get("carol", "/calendars/carol/cal/m10.ics"), 200)
        r = self.req("PROPFIND", "/principals/carol/", user="carol", headers={"Depth": "0"},
                     body=propfind_body(
                         '<C:calendar-user-address-set xmlns:C="urn:ietf:params:xml:ns:caldav"/>'
                         '<C:schedule-inbox-URL xmlns:C="urn:ietf:params:xml:ns:caldav"/>'
                         '<C:schedule-outbox-URL xmlns:C="urn:ietf:params:xml:ns:caldav"/>'
                         '<C:schedule-default-calendar-URL '
                         'xmlns:C="urn:ietf:params:xml:ns:caldav"/>'))
        self.assertStatus(r, 207)
        for href in ("mailto:carol@example.org", "mailto:boss@corp.example",
                     "/principals/carol/", "/calendars/carol/inbox/", "/calendars/carol/outbox/",
                     "/calendars/carol/cal/"):
            self.assertIn("<D:href>%s</D:href>" % href, r.text)
        self.assertNotIn("404", r.text)
        opts = self.req("OPTIONS", "/calendars/carol/", user="carol")
        self.assertIn("calendar-auto-schedule", opts.header("DAV"))

    # RFC 6638 §3.3: free-busy of local users, busy times only
    def test_freebusy_request_to_outbox(self):
        def own(uid, start, end, extra=""):
            body = (HEAD + "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20270101T000000Z\r\n"
                    "DTSTART:%s\r\nDTEND:%s\r\nSUMMARY:Secret %s\r\n%sEND:VEVENT\r\n"
                    % (uid, start, end, uid, extra) + TAIL)
            self.put("carol", "/calendars/carol/cal/%s.ics" % uid, body, status=201)
        own("fb-busy", "20280301T090000Z", "20280301T100000Z")
        own("fb-transp", "20280301T110000Z", "20280301T120000Z", "TRANSP:TRANSPARENT\r\n")
        own("fb-cancel", "20280301T130000Z", "20280301T140000Z", "STATUS:CANCELLED\r\n")
        own("fb-later", "20280310T090000Z", "20280310T100000Z")
        req = (HEAD + "METHOD:REQUEST\r\nBEGIN:VFREEBUSY\r\nUID:fb1\r\n"
               "DTSTAMP:20280101T000000Z\r\nDTSTART:20280301T000000Z\r\n"
               "DTEND:20280302T000000Z\r\nORGANIZER:mailto:alice@example.org\r\n"
               "ATTENDEE:mailto:carol@example.org\r\nATTENDEE:mailto:dave@example.org\r\n"
               "ATTENDEE:mailto:x@elsewhere.example\r\nEND:VFREEBUSY\r\n" + TAIL)
        r = self.req("POST", "/calendars/alice/outbox/", user="alice", body=req, headers=ICS)
        self.assertStatus(r, 200)
        parts = re.findall(r"<C:response>.*?</C:response>", r.text, re.S)
        self.assertEqual(len(parts), 3, r.text)
        carol = parts[0]
        self.assertIn("mailto:carol@example.org", carol)
        self.assertIn("2.0;Success", carol)
        self.assertIn("FREEBUSY;FBTYPE=BUSY:20280301T090000Z/20280301T100000Z", carol)
        self.assertEqual(carol.count("FREEBUSY;"), 1, carol)
        self.assertNotIn("Secret", carol)
        self.assertIn("METHOD:REPLY", carol)
        self.assertIn("3.7;", parts[1])
        self.assertIn("5.3;", parts[2])
        # as someone else, or elsewhere
        bad = req.replace("ORGANIZER:mailto:alice@", "ORGANIZER:mailto:bob@")
        r = self.req("POST", "/calendars/alice/outbox/", user="alice", body=bad, headers=ICS)
        self.assertCondition(r, 403, "organizer-allowed")
        r = self.req("POST", "/calendars/alice/outbox/", user="alice",
                     body=req.replace("METHOD:REQUEST", "METHOD:PUBLISH"), headers=ICS)
        self.assertCondition(r, 403, "valid-scheduling-message")
        r = self.req("POST", "/calendars/alice/cal/", user="alice", body=req, headers=ICS)
        self.assertStatus(r, 405)

    def test_python_caldav_scheduling_calls(self):
        import caldav
        self.invite("m11", ["mailto:bob@example.org"])
        client = caldav.DAVClient("http://127.0.0.1:%d/" % self.srv.port, username="bob",
                                  password=self.srv.passwords["bob"])
        principal = client.principal()
        self.assertIn("mailto:bob@example.org", principal.calendar_user_address_set())
        inbox = principal.schedule_inbox()
        invites = [i for i in inbox.get_items() if "UID:m11" in i.data]
        self.assertEqual(len(invites), 1)
        invites[0].load()
        self.assertTrue(invites[0].is_invite_request())
        invites[0].accept_invite(calendar=principal.calendar(cal_id="cal"))
        org = self.get("alice", "/calendars/alice/cal/m11.ics").text
        self.assertIn("PARTSTAT=ACCEPTED", attendee_line(org, "mailto:bob@example.org"))
        # free-busy through the outbox: python3-caldav does not parse a schedule-response
        # (it returns {None: {}}), so the server's own access line shows the answer
        import datetime
        principal.freebusy_request(datetime.datetime(2028, 3, 1), datetime.datetime(2028, 3, 2),
                                   ["mailto:carol@example.org"])
        # the access line is written once the answer is sent: wait for it
        want = re.compile(r"method=POST path=/calendars/bob/outbox/ user=bob status=(\d+) ")
        deadline = time.time() + 10
        while not want.search(self.srv.read_log()) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(want.search(self.srv.read_log()).group(1), "200")


if __name__ == "__main__":
    main()
