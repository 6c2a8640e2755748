"""tests/integration/test_exchange_search.py: the appointment properties of the /exchange view
and plain SEARCH (exchange-replication.md §3.3-3.7, §4): urn:schemas:calendar: values of a
single, an all-day and a recurring event with an override, in PROPFIND and in SEARCH select
lists, typed with dt:dt; WHERE time ranges and typed comparisons returning exactly the right
hrefs; ORDER BY; Range: rows paging with exact Content-Range; both repl namespace spellings."""

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

    def test_depth_one_propfind_gives_each_item_its_own_values(self):
        body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="%s" '
                'xmlns:H="urn:schemas:httpmail:"><D:prop><H:subject/><C:uid/><C:instancetype/>'
                '</D:prop></D:propfind>' % C)
        r = self.req("PROPFIND", self.ex, headers={"Depth": "1"}, body=body)
        self.assertStatus(r, 207)
        got = {}
        for row in rows(r.text):
            href = re.search(r"<D:href>([^<]*)</D:href>", row).group(1)
            if href.endswith(".ics"):
                got[href.rsplit("/", 1)[1]] = (self.value(row, "subject")[1],
                                               self.value(row, "uid")[1],
                                               self.value(row, "instancetype")[1])
        self.assertEqual(got["single.ics"], ("Team stand-up", "single-1", "0"))
        self.assertEqual(got["series.ics"], ("Weekly", "series-1", "1"))
        self.assertEqual(got["allday.ics"], ("Holiday", "allday-1", "0"))
        self.assertEqual(got["p3.ics"], ("Planning 3", "p3", "0"))
        self.assertEqual(len(got), 9)

    def test_calendars_view_does_not_answer_exchange_properties(self):
        r = self.req("PROPFIND", "/calendars/alice/work/single.ics", headers={"Depth": "0"},
                     body='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="%s">'
                          '<D:prop><C:dtstart/></D:prop></D:propfind>' % C)
        self.assertIn("404 Not Found", r.text)
        self.assertNotIn("dateTime.tz", r.text)

    # SEARCH select lists --------------------------------------------------------------------

    def test_search_select_list_values_and_404_propstats(self):
        sql = ('SELECT "DAV:href", "urn:schemas:httpmail:subject", "%sdtstart", "%sdtend", '
               '"%slocation", "%sinstancetype", "%salldayevent", "DAV:contentclass", '
               '"DAV:isfolder", "urn:x-nope:thing" FROM "" WHERE "%suid" = \'series-1\''
               % ((C,) * 6))
        r = self.search(sql)
        self.assertStatus(r, 207)
        xml.dom.minidom.parseString(r.body)
        self.assertEqual(r.header("Accept-Ranges"), "rows")
        self.assertEqual(names(r.text), ["series.ics"])
        row = rows(r.text)[0]
        ok = row.split("HTTP/1.1 200 OK")[0]
        self.assertIn("<H:subject>Weekly</H:subject>", ok)
        self.assertIn('<C:dtstart dt:dt="dateTime.tz">2026-01-05T10:00:00.000Z</C:dtstart>', ok)
        self.assertIn('<C:dtend dt:dt="dateTime.tz">2026-01-05T11:00:00.000Z</C:dtend>', ok)
        self.assertIn('<C:instancetype dt:dt="int">1</C:instancetype>', ok)
        self.assertIn('<C:alldayevent dt:dt="boolean">0</C:alldayevent>', ok)
        self.assertIn("<D:contentclass>urn:content-classes:appointment</D:contentclass>", ok)
        self.assertIn('<D:isfolder dt:dt="boolean">0</D:isfolder>', ok)
        missing = row.split("HTTP/1.1 200 OK")[1]
        self.assertIn("<C:location/>", missing)
        self.assertIn('<X:thing xmlns:X="urn:x-nope:"/>', missing)
        self.assertIn("HTTP/1.1 404 Not Found", missing)
        self.assertNotIn("R:changetype", r.text)  # plain SEARCH: never

    def test_search_alias_and_https_spelling(self):
        sql = ('SELECT "urn:schemas:httpmail:subject" AS subject, '
               '"https://schemas.microsoft.com/repl/resourcetag" FROM "" '
               'WHERE "DAV:displayname" = \'single.ics\'')
        r = self.search(sql, ns="https://schemas.microsoft.com/repl/")
        self.assertStatus(r, 207)
        self.assertIn('xmlns:R="https://schemas.microsoft.com/repl/"', r.text)
        self.assertIn("<subject>Team stand-up</subject>", r.text)
        self.assertRegex(r.text, r"<R:resourcetag>rt:[0-9a-f]{88}</R:resourcetag>")
        r = self.search('SELECT "DAV:href" AS "not a name" FROM ""')
        self.assertCondition(r, 400, "bad-request")

    # §3.3 WHERE ----------------------------------------------------------------------------

    def test_where_time_range_containment_and_overlap(self):
        # containment (the SDK's form) is an expansion query (§3.8): what lies inside Jan 5-8,
        # the series master (its own first instance is inside) and its Jan 5 occurrence
        self.assertEqual(self.where(
            '"%sdtstart" >= CAST("2026-01-05T00:00:00Z" AS \'dateTime.tz\') AND '
            '"%sdtend" <= CAST("2026-01-08T00:00:00Z" AS \'dateTime.tz\')' % (C, C)),
            ["single.ics", "series.ics", "series.ics?instance=20260105T100000Z", "allday.ics"])
        # overlap with Jan 12: only the moved occurrence (the master's own times are Jan 5)
        self.assertEqual(self.where('"%sdtstart" < \'2026-01-13\' AND "%sdtend" > \'2026-01-12\''
                                    % (C, C)), ["series.ics?instance=20260112T100000Z"])
        # without an upper bound it is no expansion query: the series is tested by its span
        self.assertEqual(self.where('"%sdtend" > \'2026-01-20\' AND "%sdtstart" < '
                                    '\'2026-01-20\' OR "%sdtend" > \'2026-01-20\' AND '
                                    '"%sdtstart" < \'2026-01-21\'' % (C, C, C, C)), ["series.ics"])
        self.assertEqual(sorted(self.where('"%sdtstart" >= \'2026/02/01 00:00:00\' AND '
                                           '"DAV:isfolder" = false' % C)),
                         ["later.ics", "p0.ics", "p1.ics", "p2.ics", "p3.ics", "p4.ics"])
        self.assertEqual(self.where('"%sdtend" > \'2026-03-01T10:30:00+01:00\'' % C),
                         ["later.ics"])
        self.assertEqual(self.where('"%sdtstart" > \'2027-01-01\'' % C), [])

    def test_where_typed_comparisons_and_null(self):
        self.assertEqual(self.where('"%sinstancetype" = 1' % C), ["series.ics"])
        self.assertEqual(sorted(self.where('NOT "%sinstancetype" = 1 AND "%salldayevent" = 1'
                                           % (C, C))), ["allday.ics"])
        self.assertEqual(self.where('"%sbusystatus" = \'free\'' % C), ["allday.ics"])
        self.assertEqual(self.where('"%slocation" LIKE \'%%4._2\'' % C), ["single.ics"])
        self.assertEqual(self.where('"%slocation" IS NOT NULL' % C), ["single.ics"])
        self.assertEqual(len(self.where('"%slocation" IS NULL' % C)), 8)
        # NULL location: the comparison is UNKNOWN, so NOT does not select them (§3.3)
        self.assertEqual(self.where('NOT "%slocation" = \'x\'' % C), ["single.ics"])
        self.assertEqual(sorted(self.where('"urn:schemas:httpmail:subject" LIKE \'planning%%\' '
                                           'AND "%sdtstart" < \'2026-02-03\'' % C)),
                         ["p0.ics", "p1.ics"])
        r = self.search('SELECT "DAV:href" FROM "" WHERE "%sdtstart" > 5' % C)
        self.assertCondition(r, 422, "sql-type")

    # §3.7 ORDER BY, §3.6 Range ----------------------------------------------------------------

    def test_order_by_dtstart_desc_ties_by_id(self):
        got = self.where('"DAV:isfolder" = false', ' ORDER BY "%sdtstart" DESC' % C)
        self.assertEqual(got, ["later.ics", "p4.ics", "p3.ics", "p2.ics", "p1.ics", "p0.ics",
                               "allday.ics", "single.ics", "series.ics"])
        got = self.where('"%sdtstart" < \'2026-02-01\'' % C,
                         ' ORDER BY "urn:schemas:calendar:uid" ASC')
        self.assertEqual(got, ["allday.ics", "series.ics", "single.ics"])
        r = self.search('SELECT "DAV:href" FROM "" ORDER BY "%slocation"' % C)
        self.assertCondition(r, 422, "sql-unsupported")

    def page(self, rng, order=' ORDER BY "DAV:displayname"'):
        return self.search('SELECT "DAV:displayname" FROM ""' + order, headers={"Range": rng})

    def test_range_pages_with_exact_content_range(self):
        for order in (' ORDER BY "DAV:displayname"', ""):  # the sort, and the store's name order
            r = self.page("rows=0-3", order)
            self.assertStatus(r, 207)
            self.assertEqual(r.header("Content-Range"), "rows 0-3; total=9")
            self.assertEqual(names(r.text), ["allday.ics", "later.ics", "p0.ics", "p1.ics"])
            r = self.page("rows=4-7", order)
            self.assertEqual(r.header("Content-Range"), "rows 4-7; total=9")
            self.assertEqual(names(r.text), ["p2.ics", "p3.ics", "p4.ics", "series.ics"])
            r = self.page("rows=8-20, 0-1", order)
            self.assertEqual(r.header("Content-Range"), "rows 8-8; total=9")
            self.assertEqual(names(r.text), ["single.ics"])
            r = self.page("rows=-2", order)
            self.assertEqual(r.header("Content-Range"), "rows 7-8; total=9")
            self.assertEqual(names(r.text), ["series.ics", "single.ics"])
            r = self.page("rows=-0", order)
            self.assertStatus(r, 207)
            self.assertEqual(r.header("Content-Range"), "total=9")
            self.assertEqual(names(r.text), [])
            r = self.page("rows=9-", order)
            self.assertCondition(r, 416, "range-not-satisfiable")
            self.assertEqual(r.header("Content-Range"), "total=9")
        r = self.page("bytes=0-1")  # other units are ignored
        self.assertStatus(r, 207)
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(len(names(r.text)), 9)
        for bad in ("rows=abc", "rows=5-2", "rows=", "rows=1-x"):
            self.assertCondition(self.page(bad), 400, "bad-range")

    def test_range_on_an_empty_result(self):
        r = self.search('SELECT "DAV:href" FROM "" WHERE "%suid" = \'none\'' % C,
                        headers={"Range": "rows=0-9"})
        self.assertStatus(r, 207)
        self.assertEqual(r.header("Content-Range"), "total=0")
        self.assertEqual(names(r.text), [])

    def test_order_by_on_an_empty_result_issue_14(self):
        # §3.7: a sorted plain SEARCH that matches no row sorts nothing (qsort(NULL, 0, ...)
        # is undefined behaviour and aborted the sanitizer build)
        got = self.where('"%suid" = \'none\'' % C, ' ORDER BY "%sdtstart" DESC' % C)
        self.assertEqual(got, [])
        r = self.search('SELECT "DAV:displayname" FROM "" WHERE "%suid" = \'none\''
                        ' ORDER BY "DAV:displayname"' % C, headers={"Range": "rows=0-9"})
        self.assertStatus(r, 207)
        self.assertEqual(r.header("Content-Range"), "total=0")
        self.assertEqual(names(r.text), [])

    # §1.3, §3.9: a replication SEARCH with a WHERE --------------------------------------------

    def test_replication_where_window_tracks_only_matching_items(self):
        ex = "/exchange/alice/window/"
        self.assertStatus(self.req("MKCALENDAR", ex), 201)
        for i in range(4):
            self.req("PUT", ex + "w%d.ics" % i, body=simple("w%d" % i, "2026020%dT090000Z" % (i + 1),
                                                            "w"), headers=ICS)
        sql = ('SELECT "DAV:href" FROM "" WHERE "%sdtstart" >= \'2026-02-01\' AND "%sdtstart" <'
               ' \'2026-02-04\'' % (C, C))
        r = self.req("SEARCH", ex, body=search_body(sql, repl=""), headers=XML)
        self.assertStatus(r, 207)
        self.assertEqual(sorted(names(r.text)), ["w0.ics", "w1.ics", "w2.ics"])
        blob = re.search(r"<R:collblob>([^<]*)</R:collblob>", r.text).group(1)
        # §3.9: w1 moves out of the window (a delete for the client), w2 is edited inside it
        # (a change); w3 never matched and w4 is created outside it: no rows
        self.req("PUT", ex + "w1.ics", body=simple("w1", "20260401T090000Z", "out"), headers=ICS)
        self.req("PUT", ex + "w2.ics", body=simple("w2", "20260203T100000Z", "in"), headers=ICS)
        self.req("PUT", ex + "w4.ics", body=simple("w4", "20260501T100000Z", "x"), headers=ICS)
        r = self.req("SEARCH", ex, body=search_body(sql, repl=blob), headers=XML)
        self.assertStatus(r, 207)
        got = [(n, ct) for n, ct in zip(names(r.text),
                                        re.findall(r"<R:changetype>([a-z]+)<", r.text))]
        self.assertEqual(got, [("w1.ics", "delete"), ("w2.ics", "change")])
        # another WHERE with the same collblob: 475 query-mismatch (§1.3); moving a bound
        # of the window continues instead (docs/replication.md, test_replication_window.py)
        r = self.req("SEARCH", ex, body=search_body(sql.replace("< '", "<= '"), repl=blob),
                     headers=XML)
        self.assertStatus(r, 475)
        self.assertIn("query-mismatch", r.text)

    # §3.6: Range on a manifest -----------------------------------------------------------------

    def manifest(self, ex, blob, rng):
        r = self.req("SEARCH", ex, body=search_body('SELECT "DAV:href" FROM ""', repl=blob),
                     headers=dict(XML, Range=rng))
        m = re.search(r"<R:collblob>([^<]*)</R:collblob>", r.text)
        return r, (m.group(1) if m else None), names(r.text)

    def test_manifest_pages_never_skip_a_row(self):
        ex = "/exchange/alice/pages/"
        self.assertStatus(self.req("MKCALENDAR", ex), 201)
        items = ["m%d.ics" % i for i in range(10)]
        for n in items:
            self.req("PUT", ex + n, body=simple(n, "20260210T090000Z", n), headers=ICS)
        r, c1, got = self.manifest(ex, "", "rows=0-3")
        self.assertStatus(r, 207)
        self.assertEqual(r.header("Content-Range"), "rows 0-3; total=10")
        self.assertEqual(got, items[0:4])
        # an item already returned changes between pages: it comes back at the end
        self.req("PUT", ex + "m0.ics", body=simple("m0.ics", "20260211T090000Z", "m0"),
                 headers=ICS)
        # the client keeps counting from the page hint (§5.7)
        r, c2, got = self.manifest(ex, c1, "rows=4-7")
        self.assertEqual(r.header("Content-Range"), "rows 4-7; total=11")
        self.assertEqual(got, items[4:8])
        # ... or restarts at 0 with the new collblob: the same rows, numbered from 0
        r, _, got = self.manifest(ex, c1, "rows=0-3")
        self.assertEqual(r.header("Content-Range"), "rows 0-3; total=7")
        self.assertEqual(got, items[4:8])
        r, c3, got = self.manifest(ex, c2, "rows=0-9")
        self.assertEqual(r.header("Content-Range"), "rows 0-2; total=3")
        self.assertEqual(got, ["m8.ics", "m9.ics", "m0.ics"])
        self.assertIn("<R:changetype>change</R:changetype>", rows(r.text)[2])
        # the last page covers everything: nothing is left
        r, _, got = self.manifest(ex, c3, "rows=0-9")
        self.assertIn("<R:repl/>", r.text)
        self.assertEqual(r.header("Content-Range"), "total=0")
        self.assertEqual(got, [])

    def test_manifest_offsets_keep_the_input_state_and_minus_zero_fast_forwards(self):
        ex = "/exchange/alice/offsets/"
        self.assertStatus(self.req("MKCALENDAR", ex), 201)
        items = ["o%d.ics" % i for i in range(6)]
        for n in items:
            self.req("PUT", ex + n, body=simple(n, "20260210T090000Z", n), headers=ICS)
        # a > 0 without a page hint: those rows, and a collblob that does not advance
        r, c, got = self.manifest(ex, "", "rows=2-3")
        self.assertEqual(r.header("Content-Range"), "rows 2-3; total=6")
        self.assertEqual(got, items[2:4])
        r, _, got = self.manifest(ex, c, "rows=0-")
        self.assertEqual(r.header("Content-Range"), "rows 0-5; total=6")
        self.assertEqual(got, items)
        # the last 2 rows skip the first 4: the state does not advance either
        r, c, got = self.manifest(ex, "", "rows=-2")
        self.assertEqual(r.header("Content-Range"), "rows 4-5; total=6")
        self.assertEqual(got, items[4:])
        self.assertEqual(len(self.manifest(ex, c, "rows=0-")[2]), 6)
        # -0: no rows and a collblob at the snapshot (§3.5)
        r, c, got = self.manifest(ex, "", "rows=-0")
        self.assertEqual((r.status, r.header("Content-Range"), got), (207, "total=6", []))
        self.assertIn("<R:repl/>", self.manifest(ex, c, "rows=0-9")[0].text)
        r, _, _ = self.manifest(ex, "", "rows=6-")
        self.assertCondition(r, 416, "range-not-satisfiable")
        self.assertEqual(r.header("Content-Range"), "total=6")

    # §3.3 scopes and folder discovery --------------------------------------------------------

    def bob_search(self, path, sql, repl=None):
        return self.req("SEARCH", path, user="bob", body=search_body(sql, repl=repl), headers=XML)

    def test_scopes_below_the_request_uri_and_folder_discovery(self):
        for cal in ("cal-a", "cal-b"):
            self.assertStatus(self.req("MKCALENDAR", "/exchange/bob/%s/" % cal, user="bob"), 201)
        self.assertStatus(self.req("MKCOL", "/exchange/bob/notes/", user="bob"), 201)
        self.req("PUT", "/exchange/bob/cal-a/x.ics", user="bob", body=SINGLE, headers=ICS)
        root = "/exchange/bob/"
        folders = ('SELECT "DAV:href", "DAV:displayname", "DAV:contentclass", '
                   '"http://schemas.microsoft.com/exchange/outlookfolderclass", "DAV:isfolder" '
                   'FROM SCOPE(\'HIERARCHICAL TRAVERSAL OF "%s"\')' % root)
        r = self.bob_search(root, folders)
        self.assertStatus(r, 207)
        self.assertEqual(re.findall(r"<D:displayname>([^<]*)<", r.text),
                         ["cal-a", "cal-b", "notes"])
        self.assertRegex(r.text, r"<D:href>http://[^<]*/exchange/bob/cal-a/</D:href>")
        self.assertIn("<D:contentclass>urn:content-classes:calendarfolder</D:contentclass>"
                      "<E:outlookfolderclass>IPF.Appointment</E:outlookfolderclass>"
                      '<D:isfolder dt:dt="boolean">1</D:isfolder>', r.text)
        self.assertIn("<D:contentclass>urn:content-classes:folder</D:contentclass>", r.text)
        # on folder rows "isfolder = false" is not a constant: nothing matches it
        r = self.bob_search(root, folders + ' WHERE "DAV:isfolder" = false')
        self.assertEqual(rows(r.text), [])
        r = self.bob_search(root, folders + ' WHERE "DAV:contentclass" = '
                                            '\'urn:content-classes:calendarfolder\'')
        self.assertEqual(re.findall(r"<D:displayname>([^<]*)<", r.text), ["cal-a", "cal-b"])
        # the mailbox root: shallow has no rows, deep is not served yet
        sql = 'SELECT "DAV:href" FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\')'
        self.assertEqual(rows(self.bob_search(root, sql).text), [])
        sql = 'SELECT "DAV:href" FROM SCOPE(\'DEEP TRAVERSAL OF ""\')'
        self.assertCondition(self.bob_search(root, sql), 422, "sql-unsupported")
        # a calendar below the Request-URI, named three ways
        origin = re.search(r"<D:href>(http://[^/<]*)/", self.bob_search(root, folders).text)
        for scope in ("cal-a/", "/exchange/bob/cal-a/", origin.group(1) + "/exchange/bob/cal-a/"):
            sql = 'SELECT "DAV:href" FROM SCOPE(\'SHALLOW TRAVERSAL OF "%s"\')' % scope
            r = self.bob_search(root, sql)
            self.assertStatus(r, 207, scope)
            self.assertEqual(names(r.text), ["x.ics"], scope)
        # a manifest of that calendar, asked at the root: its collblob is the calendar's
        sql = 'SELECT "DAV:href" FROM "cal-a/"'
        r = self.bob_search(root, sql, repl="")
        self.assertEqual(names(r.text), ["x.ics"])
        blob = re.search(r"<R:collblob>([^<]*)</R:collblob>", r.text).group(1)
        self.assertIn("<R:repl/>", self.bob_search(root, sql, repl=blob).text)
        r = self.bob_search("/exchange/bob/cal-a/", 'SELECT "DAV:href" FROM ""', repl=blob)
        self.assertIn("<R:repl/>", r.text)
        self.assertCondition(self.bob_search(root, 'SELECT "DAV:href" FROM ""', repl=""), 422,
                             "sql-unsupported")
        # outside the Request-URI: 409 DAV:search-scope-valid (RFC 5323)
        for scope in ("/exchange/bob/cal-b/", "/exchange/alice/work/", "../",
                      "http://elsewhere.example/exchange/bob/cal-a/", "missing/"):
            sql = 'SELECT "DAV:href" FROM "%s"' % scope
            self.assertCondition(self.bob_search("/exchange/bob/cal-a/", sql), 409,
                                 "search-scope-valid")

    # §3.8 expansion queries --------------------------------------------------------------------

    def test_expansion_rows_have_their_own_values(self):
        sql = ('SELECT "DAV:href", "%sinstancetype", "%sdtstart", "%srecurrenceid", '
               '"urn:schemas:httpmail:subject", "http://schemas.microsoft.com/repl/repl-uid" '
               'FROM "" WHERE "%sdtstart" >= \'2026-01-01\' AND "%sdtend" <= \'2026-02-01\' AND '
               'NOT "%sinstancetype" = 1' % ((C,) * 6))
        r = self.search(sql)
        self.assertStatus(r, 207)
        xml.dom.minidom.parseString(r.body)
        got = [(n, re.search(r'instancetype dt:dt="int">(\d)<', row).group(1),
                re.search(r"<C:dtstart[^>]*>([^<]*)<", row).group(1),
                re.search(r"<H:subject>([^<]*)<", row).group(1))
               for n, row in zip(names(r.text), rows(r.text))]
        self.assertEqual(got, [
            ("single.ics", "0", "2026-01-05T10:00:00.000Z", "Team stand-up"),
            ("series.ics?instance=20260105T100000Z", "2", "2026-01-05T10:00:00.000Z", "Weekly"),
            ("series.ics?instance=20260112T100000Z", "3", "2026-01-12T13:00:00.000Z", "moved"),
            ("series.ics?instance=20260119T100000Z", "2", "2026-01-19T10:00:00.000Z", "Weekly"),
            ("series.ics?instance=20260126T100000Z", "2", "2026-01-26T10:00:00.000Z", "Weekly"),
            ("allday.ics", "0", "2026-01-06T00:00:00.000Z", "Holiday")])
        occ = rows(r.text)[2]
        self.assertIn('<C:recurrenceid dt:dt="dateTime.tz">2026-01-12T10:00:00.000Z<', occ)
        # occurrences carry the master's identity (§3.8)
        uids = set(re.findall(r"<R:repl-uid>(rid:[0-9a-f]+)<", "".join(rows(r.text)[1:5])))
        self.assertEqual(len(uids), 1)
        # Range counts expansion rows
        r = self.search(sql, headers={"Range": "rows=2-3"})
        self.assertEqual(r.header("Content-Range"), "rows 2-3; total=6")
        self.assertEqual(names(r.text), ["series.ics?instance=20260112T100000Z",
                                         "series.ics?instance=20260119T100000Z"])
        # occurrences only: drop masters and singles
        self.assertEqual(self.where('"%sdtstart" >= \'2026-01-10\' AND "%sdtstart" < '
                                    '\'2026-01-20\' AND "%sinstancetype" >= 2' % (C, C, C)),
                         ["series.ics?instance=20260112T100000Z",
                          "series.ics?instance=20260119T100000Z"])

    def test_expansion_window_and_order_by_limits(self):
        r = self.search('SELECT "DAV:href" FROM "" WHERE "%sdtstart" >= \'2020-01-01\' AND '
                        '"%sdtend" <= \'2031-01-01\'' % (C, C))
        self.assertCondition(r, 422, "limit")
        self.assertIn("search_max_expansion_days=3660", r.text)
        r = self.search('SELECT "DAV:href" FROM "" WHERE "%sdtstart" >= \'2026-01-01\' AND '
                        '"%sdtend" <= \'2026-02-01\' ORDER BY "%sdtstart"' % (C, C, C))
        self.assertCondition(r, 422, "sql-unsupported")


if __name__ == "__main__":
    main()
