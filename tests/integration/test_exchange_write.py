"""tests/integration/test_exchange_write.py: writes on the /exchange tree beyond a text/calendar
PUT (exchange-replication.md §2.5, §4.4, §4.7): PROPPATCH of appointment properties edits the
stored iCalendar (seen through /calendars/ and in the next manifest), atomically, with
ResourceTag and Repl-UID; PROPPATCH on an unmapped URL creates an appointment; PUT of a
message/rfc822 body stores the calendar it carries."""

import base64
import re

from harness import ServerTestCase, main

R = "http://schemas.microsoft.com/repl/"
C = "urn:schemas:calendar:"
ICS = {"Content-Type": "text/calendar"}
XML = {"Content-Type": 'text/xml; charset="utf-8"'}
SQL = ('SELECT "DAV:href", "%sresourcetag" FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\')' % R)

BERLIN = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n"
          "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
          "END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\n"
          "TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
          "END:VTIMEZONE\r\n")


def event(uid, extra="DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n", tz=""):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n%sBEGIN:VEVENT\r\nUID:%s\r\n"
            "DTSTAMP:20260101T000000Z\r\n%sSUMMARY:old\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            % (tz, uid, extra))


def update(sets="", removes=""):
    body = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="%s" '
            'xmlns:H="urn:schemas:httpmail:" xmlns:X="urn:x-test:" '
            'xmlns:dt="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/" xmlns:v="xml:">' % C)
    if sets:
        body += "<D:set><D:prop>%s</D:prop></D:set>" % sets
    if removes:
        body += "<D:remove><D:prop>%s</D:prop></D:remove>" % removes
    return body + "</D:propertyupdate>"


def propstat_status(xml, name):
    """The status of the propstat holding the empty element of `name` (prefix:local; the
    answer may use any prefix)."""
    local = name.split(":", 1)[1]
    for ps in re.findall(r"<D:propstat>.*?</D:propstat>", xml, re.S):
        prop_xml = re.search(r"<D:prop>(.*?)</D:prop>", ps, re.S).group(1)
        if re.search(r"<[A-Za-z]+:%s[ />]" % re.escape(local), prop_xml):
            return int(re.search(r"<D:status>HTTP/1.1 (\d+)", ps).group(1))
    return None


def ical_lines(text):
    """The unfolded content lines of an iCalendar text."""
    return re.sub(r"\r\n[ \t]", "", text).split("\r\n")


def prop(text, name):
    """Every content line of property `name` (with its parameters) in the VEVENT."""
    lines = ical_lines(text)
    ev = lines[lines.index("BEGIN:VEVENT"):lines.index("END:VEVENT")]
    return [l for l in ev if re.match(r"%s[;:]" % name, l)]


class ExchangeWriteTest(ServerTestCase):
    def setUp(self):
        self.name = self._testMethodName.replace("_", "-")
        self.ex = "/exchange/alice/%s/" % self.name
        self.cal = "/calendars/alice/%s/" % self.name
        self.assertStatus(self.req("MKCALENDAR", self.cal), 201)

    def put(self, name, body):
        r = self.req("PUT", self.cal + name, body=body, headers=ICS)
        self.assertStatus(r, 201)
        return r

    def get(self, name):
        r = self.req("GET", self.cal + name)
        self.assertStatus(r, 200)
        return r.text

    def proppatch(self, path, sets="", removes="", headers=None):
        h = dict(XML)
        h.update(headers or {})
        return self.req("PROPPATCH", path, body=update(sets, removes), headers=h)

    def modseq(self):
        r = self.req("PROPFIND", self.ex, headers={"Depth": "0"},
                     body='<D:propfind xmlns:D="DAV:" xmlns:R="%s"><D:prop><R:contenttag/>'
                          '</D:prop></D:propfind>' % R)
        return int(re.search(r"ct:[0-9a-f]{32}([0-9a-f]{12})", r.text).group(1), 16)

    def manifest(self, collblob=""):
        body = ('<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:" xmlns:R="%s"><R:repl>'
                '<R:collblob>%s</R:collblob></R:repl><D:sql>%s</D:sql></D:searchrequest>'
                % (R, collblob, SQL))
        r = self.req("SEARCH", self.ex, body=body, headers=XML)
        self.assertStatus(r, 207)
        blob = re.search(r"<R:collblob>([^<]*)</R:collblob>", r.text).group(1)
        rows = []
        for row in re.findall(r"<D:response>.*?</D:response>", r.text, re.S):
            href = re.search(r"<D:href>([^<]*)</D:href>", row).group(1)
            ct = re.search(r"<R:changetype>([a-z]+)</R:changetype>", row).group(1)
            tag = re.search(r"<R:resourcetag>(rt:[0-9a-f]{88})</R:resourcetag>", row)
            rows.append((href.rsplit("/", 1)[1], ct, tag.group(1) if tag else None))
        return blob, rows

    # §4.7 on an existing appointment

    def test_proppatch_edits_the_master_vevent_and_shows_in_calendars_and_manifest(self):
        self.put("a.ics", event("a"))
        blob, _ = self.manifest()
        before = self.modseq()
        r = self.proppatch(
            self.ex + "a.ics",
            sets='<C:dtstart dt:dt="dateTime.tz">2026-02-01T09:00:00.000Z</C:dtstart>'
                 '<C:dtend>2026-02-01T10:30:00Z</C:dtend><C:location>Room 1 &amp; 2</C:location>'
                 '<C:busystatus>free</C:busystatus><C:alldayevent dt:dt="boolean">1'
                 '</C:alldayevent><H:subject>new subject</H:subject>'
                 '<H:textdescription>line one</H:textdescription><X:mine>kept</X:mine>')
        self.assertStatus(r, 207)
        for p in ("C:dtstart", "C:dtend", "C:location", "C:busystatus", "C:alldayevent",
                  "H:subject", "H:textdescription", "X:mine"):
            self.assertEqual(propstat_status(r.text, p), 200, p + ": " + r.text)
        # §2.2: RT and RID on the answer, and they name the new state
        self.assertRegex(r.header("ResourceTag"), r"^<rt:[0-9a-f]{88}>$")
        self.assertRegex(r.header("Repl-UID"), r"^<rid:[0-9a-f]{44}>$")
        self.assertEqual(self.modseq(), before + 1)  # one bump per request
        ics = self.get("a.ics")
        self.assertEqual(prop(ics, "DTSTART"), ["DTSTART:20260201T090000Z"])
        self.assertEqual(prop(ics, "DTEND"), ["DTEND:20260201T103000Z"])
        self.assertEqual(prop(ics, "LOCATION"), ["LOCATION:Room 1 & 2"])
        self.assertEqual(prop(ics, "X-MICROSOFT-CDO-BUSYSTATUS"), ["X-MICROSOFT-CDO-BUSYSTATUS:FREE"])
        self.assertEqual(prop(ics, "TRANSP"), ["TRANSP:TRANSPARENT"])
        self.assertEqual(prop(ics, "X-MICROSOFT-CDO-ALLDAYEVENT"),
                         ["X-MICROSOFT-CDO-ALLDAYEVENT:TRUE"])
        self.assertEqual(prop(ics, "SUMMARY"), ["SUMMARY:new subject"])
        self.assertEqual(prop(ics, "DESCRIPTION"), ["DESCRIPTION:line one"])
        self.assertEqual(prop(ics, "UID"), ["UID:a"])
        g = self.req("GET", self.ex + "a.ics")
        self.assertEqual(g.header("ResourceTag"), r.header("ResourceTag"))
        # the edit is one change in the next incremental manifest, with the answer's tag
        _, rows = self.manifest(blob)
        self.assertEqual(rows, [("a.ics", "change", r.header("ResourceTag")[1:-1])])
        # the other namespace stays a dead property
        pf = self.req("PROPFIND", self.ex + "a.ics", headers={"Depth": "0"},
                      body='<D:propfind xmlns:D="DAV:" xmlns:X="urn:x-test:"><D:prop><X:mine/>'
                           '<C:location xmlns:C="%s"/></D:prop></D:propfind>' % C)
        self.assertIn(">kept<", pf.text)
        self.assertIn(">Room 1 &amp; 2<", pf.text)

    def test_proppatch_keeps_the_tzid_of_dtstart(self):
        self.put("tz.ics", event("tz", "DTSTART;TZID=Europe/Berlin:20260105T100000\r\n"
                                       "DURATION:PT1H\r\n", BERLIN))
        r = self.proppatch(self.ex + "tz.ics",
                           sets="<C:dtstart>2026-07-01T08:00:00Z</C:dtstart>"
                                "<C:dtend>2026-07-01T09:00:00Z</C:dtend>")
        self.assertStatus(r, 207)
        ics = self.get("tz.ics")
        # §4.4: the value converted into the zone (CEST, UTC+2), TZID kept
        self.assertEqual(prop(ics, "DTSTART"), ["DTSTART;TZID=Europe/Berlin:20260701T100000"])
        self.assertEqual(prop(ics, "DTEND"), ["DTEND;TZID=Europe/Berlin:20260701T110000"])
        self.assertEqual(prop(ics, "DURATION"), [])

    def test_proppatch_remove_and_duration(self):
        self.put("b.ics", event("b", "DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
                                     "LOCATION:gone\r\n"))
        r = self.proppatch(self.ex + "b.ics", sets="<C:duration>5400</C:duration>",
                           removes="<C:location/><H:subject/>")
        self.assertStatus(r, 207)
        ics = self.get("b.ics")
        self.assertEqual(prop(ics, "DTEND"), ["DTEND:20260105T113000Z"])
        self.assertEqual(prop(ics, "LOCATION"), [])
        self.assertEqual(prop(ics, "SUMMARY"), [])

    def test_proppatch_multivalued_properties(self):
        self.put("m.ics", event("m"))
        r = self.proppatch(
            self.ex + "m.ics",
            sets='<C:rrule dt:dt="mv.string"><v:v>FREQ=DAILY;COUNT=3</v:v></C:rrule>'
                 '<C:exdate dt:dt="mv.dateTime.tz"><v:v>2026-01-06T10:00:00Z</v:v></C:exdate>'
                 '<O:Keywords xmlns:O="urn:schemas-microsoft-com:office:office"><v:v>a</v:v>'
                 '<v:v>b</v:v></O:Keywords><C:reminderoffset>900</C:reminderoffset>')
        self.assertStatus(r, 207)
        ics = self.get("m.ics")
        self.assertEqual(prop(ics, "RRULE"), ["RRULE:FREQ=DAILY;COUNT=3"])
        self.assertEqual(prop(ics, "EXDATE"), ["EXDATE:20260106T100000Z"])
        self.assertEqual(sorted(prop(ics, "CATEGORIES")), ["CATEGORIES:a", "CATEGORIES:b"])
        self.assertEqual(prop(ics, "TRIGGER"), ["TRIGGER:-PT15M"])

    def test_proppatch_is_atomic_failed_instruction_and_424_for_the_rest(self):
        self.put("c.ics", event("c"))
        before_ics = self.get("c.ics")
        before = self.modseq()
        cases = [
            # (set, the failing property, its status, its reason)
            ("<C:instancetype>1</C:instancetype>", "C:instancetype", 403,
             "cannot-modify-protected-property"),
            ("<D:getetag>x</D:getetag>", "D:getetag", 403, None),
            ("<C:uid>other</C:uid>", "C:uid", 403, "cannot-modify-protected-property"),
            ("<C:dtstart>yesterday</C:dtstart>", "C:dtstart", 422, "property-value"),
            ('<C:location dt:dt="int">x</C:location>', "C:location", 422, "property-value"),
            ("<C:busystatus>asleep</C:busystatus>", "C:busystatus", 422, "property-value"),
            ("<C:dtend>2025-01-01T00:00:00Z</C:dtend>", "C:dtend", 409,
             "appointment-conflict"),
        ]
        for bad, name, status, reason in cases:
            r = self.proppatch(self.ex + "c.ics",
                               sets="<C:location>not stored</C:location>%s"
                                    "<X:dead>no</X:dead>" % bad)
            self.assertStatus(r, 207)
            self.assertEqual(propstat_status(r.text, name), status, r.text)
            if reason:
                self.assertIn("<A:reason>%s</A:reason>" % reason, r.text)
            if name != "C:location":
                self.assertEqual(propstat_status(r.text, "C:location"), 424, r.text)
            self.assertEqual(propstat_status(r.text, "X:dead"), 424, r.text)
        r = self.proppatch(self.ex + "c.ics", removes="<C:dtstart/>")
        self.assertEqual(propstat_status(r.text, "C:dtstart"), 409, r.text)
        self.assertEqual(self.get("c.ics"), before_ics)
        self.assertEqual(self.modseq(), before)
        pf = self.req("PROPFIND", self.ex + "c.ics", headers={"Depth": "0"},
                      body='<D:propfind xmlns:D="DAV:" xmlns:X="urn:x-test:"><D:prop><X:dead/>'
                           '</D:prop></D:propfind>')
        self.assertIn("404 Not Found", pf.text)

    def test_proppatch_on_a_task_fails_its_appointment_properties(self):
        todo = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:t\r\n"
                "DTSTAMP:20260101T000000Z\r\nSUMMARY:task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
        self.put("t.ics", todo)
        r = self.proppatch(self.ex + "t.ics", sets="<H:subject>x</H:subject><X:d>1</X:d>")
        self.assertStatus(r, 207)
        self.assertEqual(propstat_status(r.text, "H:subject"), 403, r.text)
        self.assertIn("<A:reason>valid-calendar-object-resource</A:reason>", r.text)
        self.assertEqual(propstat_status(r.text, "X:d"), 424, r.text)
        self.assertEqual(self.get("t.ics"), todo)

    def test_odd_values_never_get_a_5xx(self):
        self.put("w.ics", event("w"))
        odd = [
            "<C:dtstart>0001-01-01T00:00:00Z</C:dtstart>",
            "<C:dtstart>9999-12-31T23:59:59Z</C:dtstart>",  # libical cannot write it: 422
            "<C:dtstart>2026-02-30T00:00:00Z</C:dtstart>",
            "<C:dtend>1969-12-31T23:59:59Z</C:dtend>",
            "<C:duration>99999999999999999999</C:duration>",
            "<C:duration>-1</C:duration>",
            "<C:priority>-9223372036854775808</C:priority>",
            "<C:rrule><v:v>FREQ=SECONDLY;BYMONTH=2</v:v></C:rrule>",
            "<C:rrule><v:v>FREQ=DAILY</v:v><v:v>FREQ=WEEKLY</v:v><v:v>FREQ=MONTHLY</v:v>"
            "<v:v>FREQ=YEARLY</v:v><v:v>FREQ=HOURLY;COUNT=2</v:v></C:rrule>",
            "<C:rrule><v:v>;;;</v:v></C:rrule>",
            "<C:exdate><v:v>not a date</v:v></C:exdate>",
            "<C:rdate><v:v><x>nested</x></v:v></C:rdate>",
            "<C:location><b>markup</b> text</C:location>",
            "<C:organizer>not a uri</C:organizer>",
            "<C:timezoneid>-3</C:timezoneid>",
            "<C:alldayevent>maybe</C:alldayevent>",
            "<C:reminderoffset>99999999999</C:reminderoffset>",
            "<H:subject>%s</H:subject>" % ("\u00e9" * 5000),
            '<C:busystatus dt:dt="mv.string"><v:v>FREE</v:v></C:busystatus>',
        ]
        for sets in odd:
            r = self.proppatch(self.ex + "w.ics", sets=sets)
            self.assertStatus(r, 207, sets)
            self.assertNotIn("500 Internal", r.text, sets)
            self.assertStatus(self.req("GET", self.cal + "w.ics"), 200)

    def test_calendars_tree_keeps_calendar_properties_read_only(self):
        self.put("d.ics", event("d"))
        r = self.proppatch(self.cal + "d.ics", sets="<C:location>x</C:location>")
        self.assertStatus(r, 207)
        self.assertEqual(propstat_status(r.text, "C:location"), 403)
        self.assertEqual(prop(self.get("d.ics"), "LOCATION"), [])

    def test_proppatch_if_header_guards_the_edit(self):
        r = self.put("e.ics", event("e"))
        stale = r.header("ResourceTag")
        self.proppatch(self.ex + "e.ics", sets="<C:location>one</C:location>")
        r = self.proppatch(self.ex + "e.ics", sets="<C:location>two</C:location>",
                           headers={"If": "(%s)" % stale})
        self.assertStatus(r, 412)
        self.assertEqual(prop(self.get("e.ics"), "LOCATION"), ["LOCATION:one"])

    # §4.7 create by PROPPATCH

    def test_proppatch_on_an_unmapped_url_creates_an_appointment(self):
        blob, _ = self.manifest()
        r = self.proppatch(self.ex + "new.eml",
                           sets="<D:contentclass>urn:content-classes:appointment</D:contentclass>"
                                "<H:subject>created</H:subject>"
                                "<C:dtstart>2026-03-01T12:00:00Z</C:dtstart>"
                                "<C:location>here</C:location><X:note>dead</X:note>")
        self.assertStatus(r, 207)
        self.assertEqual(propstat_status(r.text, "H:subject"), 200, r.text)
        self.assertRegex(r.header("ResourceTag"), r"^<rt:[0-9a-f]{88}>$")
        self.assertRegex(r.header("Repl-UID"), r"^<rid:[0-9a-f]{44}>$")
        ics = self.get("new.eml")
        self.assertEqual(prop(ics, "DTSTART"), ["DTSTART:20260301T120000Z"])
        self.assertEqual(prop(ics, "DTEND"), ["DTEND:20260301T120000Z"])  # defaults to DTSTART
        self.assertEqual(prop(ics, "SUMMARY"), ["SUMMARY:created"])
        self.assertRegex(prop(ics, "UID")[0], r"^UID:[0-9a-f]{32}$")
        self.assertEqual(len(prop(ics, "DTSTAMP")), 1)
        _, rows = self.manifest(blob)
        self.assertEqual(rows, [("new.eml", "new", r.header("ResourceTag")[1:-1])])
        pf = self.req("PROPFIND", self.ex + "new.eml", headers={"Depth": "0"},
                      body='<D:propfind xmlns:D="DAV:" xmlns:X="urn:x-test:"><D:prop><X:note/>'
                           '</D:prop></D:propfind>')
        self.assertIn(">dead<", pf.text)

    def test_create_by_proppatch_with_a_uid_and_without_dtstart(self):
        r = self.proppatch(self.ex + "u.eml",
                           sets="<C:uid>given-uid</C:uid><C:dtstart>2026-03-01</C:dtstart>"
                                "<C:dtend>2026-03-02</C:dtend>")
        self.assertStatus(r, 207)
        self.assertEqual(prop(self.get("u.eml"), "UID"), ["UID:given-uid"])
        r = self.proppatch(self.ex + "nostart.eml", sets="<H:subject>x</H:subject>")
        self.assertCondition(r, 409, "dtstart-required")
        self.assertIn("<A:message>", r.text)
        self.assertStatus(self.req("GET", self.cal + "nostart.eml"), 404)
        # the same UID cannot join the calendar twice
        r = self.proppatch(self.ex + "dup.eml",
                           sets="<C:uid>given-uid</C:uid><C:dtstart>2026-03-01</C:dtstart>")
        self.assertEqual(propstat_status(r.text, "C:uid"), 409, r.text)
        self.assertStatus(self.req("GET", self.cal + "dup.eml"), 404)
        # outside a calendar, or in a missing one: nothing to create
        self.assertStatus(self.proppatch("/exchange/alice/nocal/x.eml",
                                         sets="<C:dtstart>2026-03-01</C:dtstart>"), 404)

    # §2.5 PUT of message/rfc822

    def put_mime(self, name, msg, ctype="message/rfc822"):
        return self.req("PUT", self.ex + name, body=msg.encode() if isinstance(msg, str) else msg,
                        headers={"Content-Type": ctype})

    def test_put_of_a_message_whose_body_is_the_calendar(self):
        ics = event("m1")
        msg = ("content-class: urn:content-classes:appointment\r\nSubject: old\r\n"
               "Content-Type: text/calendar;\r\n method=PUBLISH; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n" + ics)
        r = self.put_mime("m1.eml", msg)
        self.assertStatus(r, 201)
        self.assertRegex(r.header("ResourceTag"), r"^<rt:[0-9a-f]{88}>$")
        self.assertRegex(r.header("Repl-UID"), r"^<rid:[0-9a-f]{44}>$")
        g = self.req("GET", self.cal + "m1.eml")
        self.assertEqual(g.text, ics)
        self.assertTrue(g.header("Content-Type").startswith("text/calendar"))

    def test_put_of_a_multipart_message_takes_the_first_calendar_part(self):
        ics = event("m2")
        b64 = base64.encodebytes(ics.encode()).decode().replace("\n", "\r\n")
        msg = ("MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n"
               '\tboundary="----=_b1"\r\n\r\npreamble\r\n------=_b1\r\n'
               "Content-Type: text/plain\r\n\r\nnot this\r\n------=_b1\r\n"
               "Content-Type: multipart/related; boundary=inner\r\n\r\n--inner\r\n"
               "Content-Type: TEXT/CALENDAR; charset=utf-8\r\n"
               "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--inner--\r\n"
               "------=_b1\r\nContent-Type: text/calendar\r\n\r\n" + event("second") +
               "\r\n------=_b1--\r\n")
        self.assertStatus(self.put_mime("m2.eml", msg), 201)
        self.assertEqual(self.get("m2.eml"), ics)

    def test_put_of_a_quoted_printable_calendar(self):
        ics = event("m3").replace("SUMMARY:old", "SUMMARY:caf\u00e9 = ok")
        qp = ics.replace("=", "=3D").replace("\u00e9", "=C3=A9")
        qp = qp.replace("PRODID:-//t//EN", "PRODID:-//t=\r\n//EN")  # a soft line break
        msg = ("Content-Type: text/calendar\r\nContent-Transfer-Encoding: quoted-printable"
               "\r\n\r\n" + qp)
        self.assertStatus(self.put_mime("m3.eml", msg), 201)
        self.assertEqual(self.get("m3.eml"), ics)

    def test_put_refuses_other_types_and_messages_without_a_calendar(self):
        r = self.put_mime("x.eml", event("x"), ctype="text/plain")
        self.assertCondition(r, 415, "unsupported-calendar-type")
        r = self.req("PUT", self.ex + "x.eml", body=event("x"))
        self.assertCondition(r, 415, "unsupported-calendar-type")
        r = self.put_mime("x.eml", "Content-Type: text/plain\r\n\r\nhello\r\n")
        self.assertCondition(r, 415, "no-calendar-in-message")
        r = self.put_mime("x.eml", "Content-Type: text/calendar\r\n"
                                   "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644\r\n")
        self.assertCondition(r, 415, "no-calendar-in-message")
        r = self.put_mime("x.eml", "Content-Type: text/calendar\r\n"
                                   "Content-Transfer-Encoding: base64\r\n\r\n%%%%\r\n")
        self.assertCondition(r, 400, "malformed-mime")
        r = self.put_mime("x.eml", "Content-Type: multipart/mixed\r\n\r\n--x\r\n")
        self.assertCondition(r, 400, "malformed-mime")
        r = self.put_mime("x.eml", "Content-Type: text/calendar")
        self.assertCondition(r, 400, "malformed-mime")
        # the calendar inside is validated like any other
        r = self.put_mime("x.eml", "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n")
        self.assertCondition(r, 403, "valid-calendar-data")
        self.assertStatus(self.req("GET", self.cal + "x.eml"), 404)
        # the /calendars tree is unchanged: CalDAV takes text/calendar only
        r = self.req("PUT", self.cal + "y.ics", body="Content-Type: text/calendar\r\n\r\n" +
                     event("y"), headers={"Content-Type": "message/rfc822"})
        self.assertCondition(r, 403, "supported-calendar-data")

    # §2.2 210 Content Different

    def test_put_that_needed_a_uid_or_dtstamp_answers_210(self):
        no_stamp = event("s").replace("DTSTAMP:20260101T000000Z\r\n", "")
        r = self.req("PUT", self.ex + "s.ics", body=no_stamp, headers=ICS)
        self.assertStatus(r, 210)
        self.assertRegex(r.header("ResourceTag"), r"^<rt:[0-9a-f]{88}>$")
        self.assertRegex(r.header("Repl-UID"), r"^<rid:[0-9a-f]{44}>$")
        self.assertIn("<A:dtstamp-added/>", r.text)
        self.assertNotIn("uid-added", r.text)
        ics = self.get("s.ics")
        self.assertRegex(prop(ics, "DTSTAMP")[0], r"^DTSTAMP:\d{8}T\d{6}Z$")
        self.assertEqual(ics.replace(prop(ics, "DTSTAMP")[0] + "\r\n", ""), no_stamp)
        # a replacement that needs nothing is a plain 204
        self.assertStatus(self.req("PUT", self.ex + "s.ics", body=event("s"), headers=ICS), 204)
        no_uid = event("u").replace("UID:u\r\n", "")
        msg = "Content-Type: text/calendar\r\n\r\n" + no_uid
        r = self.put_mime("u.eml", msg)
        self.assertStatus(r, 210)
        uid = re.search(r"<A:uid-added>([0-9a-f]{32})</A:uid-added>", r.text).group(1)
        self.assertEqual(prop(self.get("u.eml"), "UID"), ["UID:" + uid])
        # the CalDAV tree stores as sent or refuses
        r = self.req("PUT", self.cal + "v.ics", body=event("v").replace("UID:v\r\n", ""),
                     headers=ICS)
        self.assertCondition(r, 403, "valid-calendar-object-resource")


class ExchangeWriteLimitTest(ServerTestCase):
    """§2.5 under a small max_resource_size: the message, not the calendar, is bounded."""

    CONFIG = "max_resource_size = 4096\n"

    def test_a_message_over_max_resource_size_is_413(self):
        self.assertStatus(self.req("MKCALENDAR", "/calendars/alice/lim/"), 201)
        ics = event("big")
        pad = "X-Pad: " + "p" * 60 + "\r\n"
        msg = "Content-Type: text/calendar\r\n" + pad * 80 + "\r\n" + ics
        self.assertGreater(len(msg), 4096)
        r = self.req("PUT", "/exchange/alice/lim/big.eml", body=msg,
                     headers={"Content-Type": "message/rfc822"})
        self.assertCondition(r, 413, "max-resource-size")
        self.assertStatus(self.req("GET", "/calendars/alice/lim/big.eml"), 404)
        small = "Content-Type: text/calendar\r\n\r\n" + ics
        r = self.req("PUT", "/exchange/alice/lim/small.eml", body=small,
                     headers={"Content-Type": "message/rfc822"})
        self.assertStatus(r, 201)


if __name__ == "__main__":
    main()
