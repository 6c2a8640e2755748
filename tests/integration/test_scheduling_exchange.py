"""tests/integration/test_scheduling_exchange.py: meetings over the /exchange tree (issue 13;
exchange-replication.md §4.4 and docs/scheduling.md), through the real almanacd: the meeting
properties of an appointment read for each user (H:to, H:cc, C:organizer, C:isorganizer,
C:responsestatus); a PROPPATCH of H:to by the organizer invites (the attendee's copy
appears, over CalDAV), a removal cancels; an attendee's PROPPATCH of C:responsestatus
answers (the organizer's copy shows it); an appointment created by PROPPATCH with H:to gets
its creator as organizer and schedules."""

import re
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from harness import ServerTestCase, main  # noqa: E402

C = "urn:schemas:calendar:"
XML = {"Content-Type": "text/xml; charset=utf-8"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def update(sets="", removes=""):
    body = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="%s" '
            'xmlns:H="urn:schemas:httpmail:" '
            'xmlns:dt="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/">' % C)
    if sets:
        body += "<D:set><D:prop>%s</D:prop></D:set>" % sets
    if removes:
        body += "<D:remove><D:prop>%s</D:prop></D:remove>" % removes
    return body + "</D:propertyupdate>"


def meeting(uid, attendees):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", "UID:" + uid,
             "DTSTAMP:20270101T000000Z", "DTSTART:20270105T100000Z",
             "DTEND:20270105T110000Z", "SUMMARY:Review",
             "ORGANIZER;CN=Alice:mailto:alice@example.org",
             "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org"]
    lines += ["ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:%s@example.org" % a for a in attendees]
    return "\r\n".join(lines + ["END:VEVENT", "END:VCALENDAR", ""])


def unfold(t):
    return t.replace("\r\n ", "").replace("\n ", "")


def attendee_line(ics, addr):
    for line in unfold(ics).splitlines():
        if line.startswith("ATTENDEE") and line.lower().endswith(addr.lower()):
            return line
    return None


def prop(xml, local):
    m = re.search(r"<[A-Za-z]+:%s(?: [^>]*)?>(.*?)</[A-Za-z]+:%s>" % (local, local), xml, re.S)
    return m.group(1) if m else None


class MeetingsExchangeTest(ServerTestCase):
    USERS = ("alice", "bob", "carol")
    CONFIG = "mail_domain = example.org\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for u in cls.USERS:
            cls.srv.cli("calendar", "add", u, "cal")

    def props(self, user, path):
        body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="%s" '
                'xmlns:H="urn:schemas:httpmail:"><D:prop><H:to/><H:cc/><C:organizer/>'
                '<C:isorganizer/><C:responsestatus/></D:prop></D:propfind>' % C)
        r = self.req("PROPFIND", path, user=user, body=body,
                     headers={"Depth": "0", **XML})
        self.assertStatus(r, 207)
        return r.text

    def proppatch(self, user, path, sets="", removes=""):
        r = self.req("PROPPATCH", path, user=user, body=update(sets, removes), headers=XML)
        self.assertStatus(r, 207)
        self.assertNotRegex(r.text, r"HTTP/1.1 (4|5)\d\d", r.text)
        return r

    def get(self, user, name):
        return self.req("GET", "/calendars/%s/cal/%s" % (user, name), user=user)

    def test_meeting_properties_read_for_each_user(self):
        r = self.req("PUT", "/calendars/alice/cal/rd.ics", user="alice",
                     body=meeting("rd", ["bob"]), headers=ICS)
        self.assertIn(r.status, (201, 204))
        a = self.props("alice", "/exchange/alice/cal/rd.ics")
        self.assertEqual(prop(a, "to"), "bob@example.org")
        self.assertEqual(prop(a, "organizer"), "mailto:alice@example.org")
        self.assertEqual(prop(a, "isorganizer"), "1")
        self.assertEqual(prop(a, "responsestatus"), "1")  # organized
        b = self.props("bob", "/exchange/bob/cal/rd.ics")
        self.assertEqual(prop(b, "isorganizer"), "0")
        self.assertEqual(prop(b, "responsestatus"), "5")  # not responded
        # bob answers over /exchange: the reply reaches alice's copy
        self.proppatch("bob", "/exchange/bob/cal/rd.ics",
                       '<C:responsestatus dt:dt="int">3</C:responsestatus>')
        self.assertEqual(prop(self.props("bob", "/exchange/bob/cal/rd.ics"), "responsestatus"),
                         "3")
        line = attendee_line(self.get("alice", "rd.ics").text, "mailto:bob@example.org")
        self.assertIn("PARTSTAT=ACCEPTED", line)
        self.assertIn("SCHEDULE-STATUS=2.0", line)
        # SEARCH rows carry the same values, the WHERE clause too
        sql = ('SELECT "DAV:href", "%sresponsestatus", "%sisorganizer", '
               '"urn:schemas:httpmail:to" FROM "" WHERE "%sresponsestatus" = 3' % (C, C, C))
        body = ('<?xml version="1.0" encoding="utf-8"?><D:searchrequest xmlns:D="DAV:">'
                '<D:sql>%s</D:sql></D:searchrequest>' % sql.replace("<", "&lt;"))
        r = self.req("SEARCH", "/exchange/bob/cal/", user="bob", body=body, headers=XML)
        self.assertStatus(r, 207)
        found = re.findall(r"<D:response>.*?</D:response>", r.text, re.S)
        self.assertEqual(len(found), 1, r.text)
        self.assertIn("rd.ics", found[0])
        self.assertEqual(prop(found[0], "isorganizer"), "0")
        self.assertEqual(prop(found[0], "to"), "bob@example.org")
        # the organizer has no answer to give
        r = self.req("PROPPATCH", "/exchange/alice/cal/rd.ics", user="alice",
                     body=update('<C:responsestatus dt:dt="int">4</C:responsestatus>'),
                     headers=XML)
        self.assertRegex(r.text, r"HTTP/1.1 422")

    def test_organizer_writes_attendees_and_it_schedules(self):
        r = self.req("PUT", "/calendars/alice/cal/wr.ics", user="alice",
                     body=meeting("wr", ["bob"]), headers=ICS)
        self.assertIn(r.status, (201, 204))
        self.assertEqual(self.get("carol", "wr.ics").status, 404)
        # carol invited as optional, by /exchange
        self.proppatch("alice", "/exchange/alice/cal/wr.ics",
                       "<H:cc>\"Carol C.\" &lt;carol@example.org&gt;</H:cc>")
        copy = self.get("carol", "wr.ics")
        self.assertEqual(copy.status, 200, copy.text)
        line = attendee_line(copy.text, "mailto:carol@example.org")
        self.assertIn("PARTSTAT=NEEDS-ACTION", line)
        self.assertIn("ROLE=OPT-PARTICIPANT", line)
        a = self.props("alice", "/exchange/alice/cal/wr.ics")
        self.assertEqual(prop(a, "cc"), "\"Carol C.\" &lt;carol@example.org&gt;")
        self.assertEqual(prop(a, "to"), "bob@example.org")
        # bob taken off the required attendees: his copy is cancelled (deleted)
        self.proppatch("alice", "/exchange/alice/cal/wr.ics", removes="<H:to/>")
        self.assertEqual(self.get("bob", "wr.ics").status, 404)
        self.assertEqual(self.get("carol", "wr.ics").status, 200)

    def test_create_by_proppatch_with_attendees(self):
        self.proppatch("alice", "/exchange/alice/cal/new-meeting.eml",
                       '<C:uid>newm</C:uid>'
                       '<C:dtstart dt:dt="dateTime.tz">2027-03-01T09:00:00Z</C:dtstart>'
                       '<C:dtend dt:dt="dateTime.tz">2027-03-01T10:00:00Z</C:dtend>'
                       '<H:subject>Kick-off</H:subject><H:to>bob@example.org</H:to>')
        r = self.req("GET", "/exchange/alice/cal/new-meeting.eml", user="alice")
        self.assertIn("ORGANIZER:mailto:alice@example.org", unfold(r.text))
        copy = self.get("bob", "newm.ics")
        self.assertEqual(copy.status, 200, copy.text)
        self.assertIn("SUMMARY:Kick-off", copy.text)


if __name__ == "__main__":
    main()
