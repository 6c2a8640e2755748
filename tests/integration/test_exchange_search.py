"""tests/integration/test_exchange_search.py: the appointment properties of the /exchange view
(exchange-replication.md §4): urn:schemas:calendar: values of a single, an all-day and a
recurring event with an override in PROPFIND, typed with dt:dt."""

import re
import xml.dom.minidom

from harness import ServerTestCase, main

R = "http://schemas.microsoft.com/repl/"
C = "urn:schemas:calendar:"
ICS = {"Content-Type": "text/calendar"}
XML = {"Content-Type": 'text/xml; charset="utf-8"'}

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
TAIL = "END:VCALENDAR\r\n"
BERLIN = ("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"
          "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"
          "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"
          "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
          "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n")

SINGLE = (HEAD + "BEGIN:VEVENT\r\nUID:single-1\r\nDTSTAMP:20260101T000000Z\r\n"
          "DTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nSUMMARY:Team stand-up\r\n"
          "LOCATION:Room 4.12\r\nORGANIZER:mailto:bob@example.net\r\n"
          "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:r\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n"
          "END:VEVENT\r\n" + TAIL)
ALLDAY = (HEAD + "BEGIN:VEVENT\r\nUID:allday-1\r\nDTSTAMP:20260101T000000Z\r\n"
          "DTSTART;VALUE=DATE:20260106\r\nDTEND;VALUE=DATE:20260107\r\nTRANSP:TRANSPARENT\r\n"
          "SUMMARY:Holiday\r\nEND:VEVENT\r\n" + TAIL)
SERIES = (HEAD + BERLIN + "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\n"
          "DTSTART;TZID=Europe/Berlin:20260105T110000\r\n"
          "DTEND;TZID=Europe/Berlin:20260105T120000\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n"
          "SUMMARY:Weekly\r\nEND:VEVENT\r\n"
          "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\n"
          "RECURRENCE-ID;TZID=Europe/Berlin:20260112T110000\r\n"
          "DTSTART;TZID=Europe/Berlin:20260112T140000\r\n"
          "DTEND;TZID=Europe/Berlin:20260112T150000\r\nSUMMARY:moved\r\nEND:VEVENT\r\n" + TAIL)


def simple(uid, start, summary):
    return (HEAD + "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\n"
            "DURATION:PT1H\r\nSUMMARY:%s\r\nEND:VEVENT\r\n" % (uid, start, summary) + TAIL)


def search_body(sql, repl=None, ns=R):
    sql = sql.replace("&", "&amp;").replace("<", "&lt;")
    r = "" if repl is None else "<R:repl><R:collblob>%s</R:collblob></R:repl>" % repl
    return ('<?xml version="1.0" encoding="utf-8"?><D:searchrequest xmlns:D="DAV:" '
            'xmlns:R="%s">%s<D:sql>%s</D:sql></D:searchrequest>' % (ns, r, sql))


def rows(text):
    return re.findall(r"<D:response>.*?</D:response>", text, re.S)


def names(text):
    return [re.search(r"<D:href>[^<]*/([^/<]*)</D:href>", r).group(1) for r in rows(text)]


class ExchangeSearchTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ex = "/exchange/alice/work/"
        assert cls.srv.request("MKCALENDAR", "/calendars/alice/work/").status == 201
        for name, body in (("single.ics", SINGLE), ("series.ics", SERIES),
                           ("allday.ics", ALLDAY)):
            assert cls.srv.request("PUT", cls.ex + name, body=body, headers=ICS).status == 201
        for i in range(5):
            body = simple("p%d" % i, "2026020%dT090000Z" % (i + 1), "Planning %d" % i)
            assert cls.srv.request("PUT", cls.ex + "p%d.ics" % i, body=body,
                                   headers=ICS).status == 201
        later = simple("later", "20260301T090000Z", "Later")
        assert cls.srv.request("PUT", cls.ex + "later.ics", body=later, headers=ICS).status == 201

    def search(self, sql, headers=None, **kw):
        h = dict(XML)
        h.update(headers or {})
        return self.req("SEARCH", self.ex, body=search_body(sql, **kw), headers=h)

    def where(self, cond, order=""):
        r = self.search('SELECT "DAV:href" FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\') WHERE ' + cond
                        + order)
        self.assertStatus(r, 207)
        return names(r.text)

    # §4.4: values and dt:dt types -----------------------------------------------------------

    PROPS = ["dtstart", "dtend", "location", "busystatus", "alldayevent", "instancetype", "uid",
             "timezoneid", "organizer", "reminderoffset", "rrule", "duration", "transparent"]

    def propfind(self, name):
        body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="%s" '
                'xmlns:H="urn:schemas:httpmail:"><D:prop>%s<H:subject/><D:contentclass/>'
                '<D:isfolder/></D:prop></D:propfind>'
                % (C, "".join("<C:%s/>" % p for p in self.PROPS)))
        r = self.req("PROPFIND", self.ex + name, headers={"Depth": "0"}, body=body)
        self.assertStatus(r, 207)
        xml.dom.minidom.parseString(r.body)
        return r.text

    def value(self, text, local):
        m = re.search(r'<X:%s xmlns:X="[^"]*"(?: xmlns:dt="[^"]*"(?: xmlns:v="xml:")? dt:dt="([^"]*)")?>(.*?)</X:%s>'
                      % (local, local), text, re.S)
        return (m.group(1), m.group(2)) if m else None

    def test_propfind_properties_of_a_single_event(self):
        t = self.propfind("single.ics")
        self.assertEqual(self.value(t, "dtstart"), ("dateTime.tz", "2026-01-05T10:00:00.000Z"))
        self.assertEqual(self.value(t, "dtend"), ("dateTime.tz", "2026-01-05T11:00:00.000Z"))
        self.assertEqual(self.value(t, "location"), (None, "Room 4.12"))
        self.assertEqual(self.value(t, "busystatus"), (None, "BUSY"))
        self.assertEqual(self.value(t, "alldayevent"), ("boolean", "0"))
        self.assertEqual(self.value(t, "instancetype"), ("int", "0"))
        self.assertEqual(self.value(t, "uid"), (None, "single-1"))
        self.assertEqual(self.value(t, "timezoneid"), ("int", "0"))
        self.assertEqual(self.value(t, "organizer"), (None, "mailto:bob@example.net"))
        self.assertEqual(self.value(t, "reminderoffset"), ("int", "900"))
        self.assertEqual(self.value(t, "duration"), ("int", "3600"))
        self.assertEqual(self.value(t, "subject"), (None, "Team stand-up"))
        self.assertIn("<D:contentclass>urn:content-classes:appointment</D:contentclass>", t)
        self.assertRegex(t, r'<D:isfolder xmlns:dt="[^"]*" dt:dt="boolean">0</D:isfolder>')
        # no RRULE: the 404 propstat
        self.assertRegex(t, r'<X:rrule xmlns:X="urn:schemas:calendar:"/>')

    def test_propfind_properties_of_an_all_day_event(self):
        t = self.propfind("allday.ics")
        self.assertEqual(self.value(t, "dtstart"), ("dateTime.tz", "2026-01-06T00:00:00.000Z"))
        self.assertEqual(self.value(t, "dtend"), ("dateTime.tz", "2026-01-07T00:00:00.000Z"))
        self.assertEqual(self.value(t, "alldayevent"), ("boolean", "1"))
        self.assertEqual(self.value(t, "busystatus"), (None, "FREE"))
        self.assertEqual(self.value(t, "transparent"), (None, "TRANSPARENT"))
        self.assertRegex(t, r'<X:location xmlns:X="urn:schemas:calendar:"/>')
        self.assertRegex(t, r'<X:timezoneid xmlns:X="urn:schemas:calendar:"/>')

    def test_propfind_properties_of_a_series_with_an_override(self):
        t = self.propfind("series.ics")
        self.assertEqual(self.value(t, "instancetype"), ("int", "1"))
        self.assertEqual(self.value(t, "dtstart"), ("dateTime.tz", "2026-01-05T10:00:00.000Z"))
        self.assertEqual(self.value(t, "dtend"), ("dateTime.tz", "2026-01-05T11:00:00.000Z"))
        self.assertEqual(self.value(t, "timezoneid"), ("int", "4"))
        kind, inner = self.value(t, "rrule")
        self.assertEqual(kind, "mv.string")
        self.assertEqual(re.findall(r"<v:v[^>]*>([^<]*)</v:v>", inner), ["FREQ=WEEKLY;COUNT=4"])
        self.assertEqual(self.value(t, "subject"), (None, "Weekly"))

    def test_calendars_view_does_not_answer_exchange_properties(self):
        r = self.req("PROPFIND", "/calendars/alice/work/single.ics", headers={"Depth": "0"},
                     body='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="%s">'
                          '<D:prop><C:dtstart/></D:prop></D:propfind>' % C)
        self.assertIn("404 Not Found", r.text)
        self.assertNotIn("dateTime.tz", r.text)


if __name__ == "__main__":
    main()
