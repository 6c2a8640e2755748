"""tests/integration/test_caldav.py: CalDAV (RFC 4791), WebDAV Sync (RFC 6578) and extended
MKCOL (RFC 5689) on the wire against the real almanacd: discovery, calendar creation,
validation of calendar objects, multiget, sync-collection with tokens, deletions and paging,
and time-range queries through the span index."""

import re
import time
import xml.dom.minidom
import xml.etree.ElementTree as ET

from harness import ServerTestCase, main, propfind_body, responses

HOME = "/calendars/alice/"
C = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'


def event(uid, start="20260105T100000Z", end="20260105T110000Z", extra="", comp="VEVENT"):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
            "BEGIN:%s\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n%s"
            "SUMMARY:event %s\r\nEND:%s\r\nEND:VCALENDAR\r\n"
            % (comp, uid, start, end, extra, uid, comp))


ICS = {"Content-Type": "text/calendar; charset=utf-8"}


class CalDavHelpers:
    def setUp(self):
        self.cal = HOME + self._testMethodName.replace("_", "-") + "/"
        r = self.req("MKCALENDAR", self.cal)
        self.assertStatus(r, 201)

    def put(self, name, body, headers=None):
        h = dict(ICS)
        h.update(headers or {})
        return self.req("PUT", self.cal + name, body=body, headers=h)

    def report(self, path, body, depth="1"):
        return self.req("REPORT", path, body=body, headers={"Depth": depth,
                                                            "Content-Type": "application/xml"})

    def sync(self, token="", limit=None, props="<D:getetag/>"):
        lim = "<D:limit><D:nresults>%d</D:nresults></D:limit>" % limit if limit else ""
        body = ('<?xml version="1.0"?><D:sync-collection %s><D:sync-token>%s</D:sync-token>'
                '<D:sync-level>1</D:sync-level>%s<D:prop>%s</D:prop></D:sync-collection>'
                % (C, token, lim, props))
        return self.report(self.cal, body)

    @staticmethod
    def token_of(resp):
        m = re.search(r"<D:sync-token>(.*?)</D:sync-token>", resp.text)
        return m.group(1) if m else None

    @staticmethod
    def hrefs(resp, status=None):
        out = []
        for r in responses(resp.text):
            if status and ("HTTP/1.1 %d" % status) not in r:
                continue
            out.append(re.search(r"<D:href>(.*?)</D:href>", r).group(1))
        return out



class CalDavTest(CalDavHelpers, ServerTestCase):
    # Discovery -------------------------------------------------------------------------

    def test_well_known_redirects_permanently_keeping_host(self):
        r = self.req("PROPFIND", "/.well-known/caldav", headers={"Depth": "0"})
        self.assertStatus(r, 301)
        self.assertEqual(r.header("Location"), "http://127.0.0.1:%d/" % self.srv.port)

    def test_principal_names_the_calendar_home(self):
        r = self.req("PROPFIND", "/", headers={"Depth": "0"},
                     body=propfind_body("<D:current-user-principal/>"))
        self.assertIn("<D:href>/principals/alice/</D:href>", r.text)
        body = ('<?xml version="1.0"?><D:propfind %s><D:prop><C:calendar-home-set/>'
                '<C:calendar-user-address-set/></D:prop></D:propfind>' % C)
        r = self.req("PROPFIND", "/principals/alice/", headers={"Depth": "0"}, body=body)
        self.assertIn("<C:calendar-home-set><D:href>/calendars/alice/</D:href>", r.text)

    def test_options_announces_calendar_access_and_report(self):
        r = self.req("OPTIONS", self.cal)
        self.assertIn("calendar-access", r.header("DAV"))
        self.assertIn("REPORT", r.header("Allow"))
        self.assertIn("MKCALENDAR", r.header("Allow"))

    # Collections -----------------------------------------------------------------------

    def test_mkcalendar_with_initial_properties(self):
        body = ('<?xml version="1.0"?><C:mkcalendar %s><D:set><D:prop>'
                '<D:displayname>Work</D:displayname><C:calendar-description>Meetings'
                '</C:calendar-description><I:calendar-color xmlns:I="http://apple.com/ns/ical/">'
                '#ff0000</I:calendar-color></D:prop></D:set></C:mkcalendar>' % C)
        r = self.req("MKCALENDAR", HOME + "work/", body=body)
        self.assertStatus(r, 201)
        props = ('<?xml version="1.0"?><D:propfind %s><D:prop><D:displayname/><D:resourcetype/>'
                 '<C:calendar-description/><C:supported-calendar-component-set/>'
                 '<D:supported-report-set/><D:sync-token/><CS:getctag '
                 'xmlns:CS="http://calendarserver.org/ns/"/><C:max-resource-size/></D:prop>'
                 '</D:propfind>' % C)
        r = self.req("PROPFIND", HOME + "work/", headers={"Depth": "0"}, body=props)
        t = r.text
        self.assertIn("<D:displayname>Work</D:displayname>", t)
        self.assertIn("<C:calendar/>", t)
        self.assertIn("Meetings", t)
        self.assertIn('<C:comp name="VEVENT"/>', t)
        self.assertIn("<D:supported-report><D:report><C:calendar-multiget/></D:report>", t)
        self.assertIn("<D:sync-token>urn:x-almanac:sync:", t)
        self.assertIn("<CS:getctag>", t)
        self.assertNotIn("404 Not Found", t)

    def test_mkcalendar_on_existing_is_405_resource_must_be_null(self):
        self.assertCondition(self.req("MKCALENDAR", self.cal), 405, "resource-must-be-null")

    def test_mkcalendar_inside_a_calendar_is_refused(self):
        r = self.req("MKCALENDAR", self.cal + "inner/")
        self.assertCondition(r, 403, "calendar-collection-location-ok")

    def test_extended_mkcol_creates_a_calendar(self):
        body = ('<?xml version="1.0"?><D:mkcol %s><D:set><D:prop><D:resourcetype><D:collection/>'
                '<C:calendar/></D:resourcetype><D:displayname>Ext</D:displayname></D:prop>'
                '</D:set></D:mkcol>' % C)
        r = self.req("MKCOL", HOME + "ext", body=body, headers={"Content-Type": "application/xml"})
        self.assertStatus(r, 201)
        r = self.req("PROPFIND", HOME + "ext/", headers={"Depth": "0"},
                     body=propfind_body("<D:resourcetype/>", "<D:displayname/>"))
        self.assertIn("<C:calendar/>", r.text)
        self.assertIn("<D:displayname>Ext</D:displayname>", r.text)

    # RFC 4791 §5.2.3, §5.3.1: supported-calendar-component-set given at creation (issue 14)

    @staticmethod
    def comp_set(*names):
        return ("<C:supported-calendar-component-set>%s</C:supported-calendar-component-set>"
                % "".join('<C:comp name="%s"/>' % n for n in names))

    def comps_of(self, path):
        body = ('<?xml version="1.0"?><D:propfind %s><D:prop>'
                '<C:supported-calendar-component-set/></D:prop></D:propfind>' % C)
        r = self.req("PROPFIND", path, headers={"Depth": "0"}, body=body)
        self.assertStatus(r, 207)
        return re.findall(r'<C:comp name="([A-Z]+)"/>', r.text)

    def test_mkcalendar_with_a_component_set_restricts_the_calendar_issue_14(self):
        cal = HOME + "events-only/"
        body = ('<?xml version="1.0"?><C:mkcalendar %s><D:set><D:prop>'
                '<D:displayname>Events</D:displayname>%s</D:prop></D:set></C:mkcalendar>'
                % (C, self.comp_set("VEVENT")))
        self.assertStatus(self.req("MKCALENDAR", cal, body=body), 201)
        self.assertEqual(self.comps_of(cal), ["VEVENT"])
        todo = event("todo-1", comp="VTODO").replace("DTEND:", "DUE:")
        r = self.req("PUT", cal + "t.ics", body=todo, headers=ICS)
        self.assertCondition(r, 403, "supported-calendar-component")
        self.assertStatus(self.req("PUT", cal + "e.ics", body=event("ev-1"), headers=ICS), 201)
        # a COPY brings no VTODO in either (RFC 4791 §5.3.2.1)
        self.assertStatus(self.put("t.ics", todo), 201)
        r = self.req("COPY", self.cal + "t.ics", headers={"Destination": cal + "t.ics"})
        self.assertCondition(r, 403, "supported-calendar-component")
        # protected once the calendar exists
        r = self.req("PROPPATCH", cal, headers={"Content-Type": "application/xml"},
                     body='<?xml version="1.0"?><D:propertyupdate %s><D:set><D:prop>%s</D:prop>'
                          '</D:set></D:propertyupdate>' % (C, self.comp_set("VEVENT", "VTODO")))
        self.assertStatus(r, 207)
        self.assertIn("<D:cannot-modify-protected-property/>", r.text)
        self.assertEqual(self.comps_of(cal), ["VEVENT"])
        # a calendar made without the property takes all three
        self.assertEqual(self.comps_of(self.cal), ["VEVENT", "VTODO", "VJOURNAL"])
        # a copy of the calendar keeps the set, and a move keeps the collection
        r = self.req("COPY", cal, headers={"Destination": HOME + "events-copy/"})
        self.assertStatus(r, 201)
        self.assertEqual(self.comps_of(HOME + "events-copy/"), ["VEVENT"])
        r = self.req("MOVE", HOME + "events-copy/", headers={"Destination": HOME + "events-moved/"})
        self.assertStatus(r, 201)
        self.assertEqual(self.comps_of(HOME + "events-moved/"), ["VEVENT"])
        r = self.req("PUT", HOME + "events-moved/t.ics", body=todo, headers=ICS)
        self.assertCondition(r, 403, "supported-calendar-component")

    def test_extended_mkcol_with_a_component_set_issue_14(self):
        cal = HOME + "tasks-only/"
        body = ('<?xml version="1.0"?><D:mkcol %s><D:set><D:prop><D:resourcetype>'
                '<D:collection/><C:calendar/></D:resourcetype>%s</D:prop></D:set></D:mkcol>'
                % (C, self.comp_set("VTODO", "vjournal")))
        r = self.req("MKCOL", cal, body=body, headers={"Content-Type": "application/xml"})
        self.assertStatus(r, 201)
        self.assertEqual(self.comps_of(cal), ["VTODO", "VJOURNAL"])
        r = self.req("PUT", cal + "e.ics", body=event("ev-2"), headers=ICS)
        self.assertCondition(r, 403, "supported-calendar-component")
        todo = event("todo-2", comp="VTODO").replace("DTEND:", "DUE:")
        self.assertStatus(self.req("PUT", cal + "t.ics", body=todo, headers=ICS), 201)

    def test_mkcalendar_with_an_unknown_component_is_refused_issue_14(self):
        # RFC 4791 §5.3.1.1: (CALDAV:supported-calendar-component)
        for i, comps in enumerate((("VEVENT", "VFREEBUSY"), ("X-THING",), ())):
            cal = HOME + "refused-%d/" % i
            body = ('<?xml version="1.0"?><C:mkcalendar %s><D:set><D:prop>%s</D:prop></D:set>'
                    '</C:mkcalendar>' % (C, self.comp_set(*comps)))
            r = self.req("MKCALENDAR", cal, body=body)
            self.assertCondition(r, 403, "supported-calendar-component")
            self.assertStatus(self.req("PROPFIND", cal, headers={"Depth": "0"}), 404)

    # Objects ---------------------------------------------------------------------------

    def test_put_valid_event_and_read_it_back(self):
        r = self.put("a.ics", event("a@x"))
        self.assertStatus(r, 201)
        g = self.req("GET", self.cal + "a.ics")
        self.assertEqual(g.text, event("a@x"))
        self.assertEqual(g.header("ETag"), r.header("ETag"))

    def test_put_needs_text_calendar(self):
        r = self.put("a.ics", event("a"), {"Content-Type": "text/plain"})
        self.assertCondition(r, 403, "supported-calendar-data")
        self.assertIn("<P:supported-calendar-data", r.text)

    def test_put_invalid_calendar_data_is_refused_and_not_stored(self):
        for body in ("not a calendar", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                     event("a").replace("DTSTART:20260105T100000Z", "DTSTART:someday")):
            r = self.put("bad.ics", body)
            self.assertCondition(r, 403, "valid-calendar-data")
        self.assertStatus(self.req("GET", self.cal + "bad.ics"), 404)

    def test_put_two_uids_is_not_a_calendar_object_resource(self):
        two = event("a").replace("END:VCALENDAR\r\n", "") + \
            event("b").split("PRODID:-//Almanac tests//EN\r\n")[1]
        self.assertCondition(self.put("two.ics", two), 403, "valid-calendar-object-resource")

    def test_put_same_uid_elsewhere_is_no_uid_conflict(self):
        self.assertStatus(self.put("a.ics", event("dup")), 201)
        r = self.put("b.ics", event("dup"))
        self.assertCondition(r, 409, "no-uid-conflict")
        self.assertIn('<P:no-uid-conflict xmlns:P="urn:ietf:params:xml:ns:caldav"><D:href>%sa.ics'
                      '</D:href></P:no-uid-conflict>' % self.cal, r.text)
        self.assertStatus(self.put("a.ics", event("dup", end="20260105T120000Z")), 204)

    def test_getctag_and_sync_token_change_on_write(self):
        body = ('<?xml version="1.0"?><D:propfind %s><D:prop><D:sync-token/><CS:getctag '
                'xmlns:CS="http://calendarserver.org/ns/"/></D:prop></D:propfind>' % C)
        before = self.req("PROPFIND", self.cal, headers={"Depth": "0"}, body=body).text
        again = self.req("PROPFIND", self.cal, headers={"Depth": "0"}, body=body).text
        self.assertEqual(before, again)
        self.put("a.ics", event("a"))
        after = self.req("PROPFIND", self.cal, headers={"Depth": "0"}, body=body).text
        self.assertNotEqual(before, after)

    # calendar-multiget -----------------------------------------------------------------

    def test_multiget_returns_data_and_404_for_missing(self):
        for i in range(3):
            self.put("m%d.ics" % i, event("m%d" % i))
        hrefs = "".join("<D:href>%sm%d.ics</D:href>" % (self.cal, i) for i in (0, 1, 2, 9))
        body = ('<?xml version="1.0"?><C:calendar-multiget %s><D:prop><D:getetag/>'
                '<C:calendar-data/></D:prop>%s</C:calendar-multiget>' % (C, hrefs))
        r = self.report(self.cal, body)
        self.assertStatus(r, 207)
        rs = responses(r.text)
        self.assertEqual(len(rs), 4)
        self.assertIn("UID:m1", rs[1])
        self.assertIn("<C:calendar-data>BEGIN:VCALENDAR", rs[0])
        self.assertIn(self.cal + "m9.ics</D:href><D:status>HTTP/1.1 404", rs[3])

    def test_propfind_depth_1_with_calendar_data_answers_every_row(self):
        # The calendar-data getter made the request's CalDAV state in the first row's part of
        # the arena, which the stream rewinds: a later row's longer content overwrote it, and
        # the getter read its options from those bytes (a crash)
        for i in range(40):
            self.put("p%02d.ics" % i, event("p%02d" % i, extra="DESCRIPTION:%s\r\n" % ("x" * i)))
        body = ('<?xml version="1.0"?><D:propfind %s><D:prop><D:getetag/><C:calendar-data/>'
                '</D:prop></D:propfind>' % C)
        r = self.req("PROPFIND", self.cal, headers={"Depth": "1"}, body=body)
        self.assertStatus(r, 207)
        rs = [x for x in responses(r.text) if ".ics</D:href>" in x]
        self.assertEqual(len(rs), 40)
        for i, x in enumerate(rs):
            self.assertIn("<D:href>%sp%02d.ics</D:href>" % (self.cal, i), x)
            self.assertIn("<C:calendar-data>BEGIN:VCALENDAR", x)
            self.assertIn("UID:p%02d\r\n" % i, x.replace("&#13;", "\r"))

    def test_etag_listings_match_get_and_carry_dead_properties_issue_16(self):
        # A PROPFIND or sync-collection asking only for ETags (and dead properties) reads a
        # listing row (id, name, modseq) from a covering index: the same answer as before
        for i in range(5):
            self.put("l%d.ics" % i, event("l%d" % i))
        self.put("l%265.ics", event("l5"))  # "l&5.ics": its href is escaped, the others not
        pp = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:x"><D:set>'
              '<D:prop><X:color>red &amp; blue</X:color></D:prop></D:set></D:propertyupdate>')
        self.assertStatus(self.req("PROPPATCH", self.cal + "l3.ics", body=pp), 207)
        self.assertStatus(self.req("DELETE", self.cal + "l1.ics"), 204)
        etags = {n: self.req("GET", self.cal + n.replace("&amp;", "%26")).header("ETag")
                 for n in ("l0.ics", "l2.ics", "l3.ics", "l4.ics", "l&amp;5.ics")}
        body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:X="urn:x"><D:prop>'
                '<D:getetag/><X:color/></D:prop></D:propfind>')
        pf = self.req("PROPFIND", self.cal, headers={"Depth": "1"}, body=body)
        sy = self.sync(props='<D:getetag/><X:color xmlns:X="urn:x"/>')
        for r in (pf, sy):
            self.assertStatus(r, 207)
            rs = [x for x in responses(r.text) if ".ics</D:href>" in x]
            self.assertEqual(sorted(re.search(r"<D:href>.*/(l[^/]*\.ics)</D:href>", x).group(1)
                                    for x in rs), sorted(etags))
            for x in rs:
                name = re.search(r"/(l[^/]*\.ics)</D:href>", x).group(1)
                self.assertIn("<D:getetag>%s</D:getetag>" % etags[name], x)
                if name == "l3.ics":
                    self.assertIn(">red &amp; blue</X:color>", x)
                else:
                    self.assertRegex(x, r"<X:color[^>]*/></D:prop><D:status>HTTP/1.1 404")

    def test_multiget_calendar_data_keeps_crlf_through_an_xml_parser_issue_14(self):
        # RFC 5545 §3.1 lines end in CRLF; XML 1.0 §2.11 turns a literal CR into LF, so the
        # answer must carry each CR as &#13; for a client's parser to give the object back
        body = event("crlf-1", extra="DESCRIPTION:two\\nlines\r\n")
        self.assertStatus(self.put("crlf.ics", body), 201)
        stored = self.req("GET", self.cal + "crlf.ics").body
        self.assertIn(b"\r\n", stored)
        req = ('<?xml version="1.0"?><C:calendar-multiget %s><D:prop><C:calendar-data/>'
               '</D:prop><D:href>%scrlf.ics</D:href></C:calendar-multiget>' % (C, self.cal))
        r = self.report(self.cal, req)
        self.assertStatus(r, 207)
        root = ET.fromstring(r.body)
        got = root.findall(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
        self.assertEqual(len(got), 1, r.text)
        self.assertEqual(got[0].text.encode("utf-8"), stored)
        dom = xml.dom.minidom.parseString(r.body)
        node = dom.getElementsByTagNameNS("urn:ietf:params:xml:ns:caldav", "calendar-data")[0]
        self.assertEqual(node.firstChild.data.encode("utf-8"), stored)

    def test_multiget_never_reaches_another_user(self):
        self.srv.request("MKCALENDAR", "/calendars/bob/b/", user="bob")
        self.srv.request("PUT", "/calendars/bob/b/x.ics", user="bob", body=event("bx"), headers=ICS)
        body = ('<?xml version="1.0"?><C:calendar-multiget %s><D:prop><C:calendar-data/>'
                '</D:prop><D:href>/calendars/bob/b/x.ics</D:href></C:calendar-multiget>' % C)
        r = self.report(self.cal, body)
        self.assertNotIn("UID:bx", r.text)
        self.assertIn("404", r.text)

    # sync-collection -------------------------------------------------------------------

    def test_sync_initial_then_changes_then_nothing(self):
        for i in range(5):
            self.put("s%d.ics" % i, event("s%d" % i))
        r = self.sync()
        self.assertStatus(r, 207)
        self.assertEqual(sorted(self.hrefs(r)), [self.cal + "s%d.ics" % i for i in range(5)])
        t1 = self.token_of(r)
        self.put("s1.ics", event("s1", end="20260105T130000Z"))
        self.req("DELETE", self.cal + "s2.ics")
        self.put("new.ics", event("new"))
        self.put("gone.ics", event("gone"))
        self.req("DELETE", self.cal + "gone.ics")  # never seen by the client: not reported
        r = self.sync(t1)
        self.assertEqual(sorted(self.hrefs(r, 200)), [self.cal + "new.ics", self.cal + "s1.ics"])
        self.assertEqual(self.hrefs(r, 404), [self.cal + "s2.ics"])
        t2 = self.token_of(r)
        r = self.sync(t2)
        self.assertEqual(self.hrefs(r), [])
        self.assertEqual(self.token_of(r), t2)

    def test_sync_depth_1_is_accepted_like_depth_0(self):
        self.put("a.ics", event("a"))
        body = ('<?xml version="1.0"?><D:sync-collection %s><D:sync-token/><D:sync-level>1'
                '</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>' % C)
        for depth in ("0", "1"):
            r = self.report(self.cal, body, depth=depth)
            self.assertEqual(self.hrefs(r), [self.cal + "a.ics"])

    def test_sync_pages_with_limit_and_continuation_tokens(self):
        names = ["p%02d.ics" % i for i in range(7)]
        for n in names:
            self.put(n, event(n))
        seen, token, pages = [], "", 0
        while True:
            r = self.sync(token, limit=3)
            pages += 1
            page = self.hrefs(r, 200)
            seen += page
            token = self.token_of(r)
            truncated = self.cal + "</D:href><D:status>HTTP/1.1 507" in r.text
            if not truncated:
                break
            self.assertEqual(len(page), 3)
        self.assertEqual(pages, 3)
        self.assertEqual(sorted(seen), [self.cal + n for n in names])

    def test_forged_or_foreign_sync_tokens_are_403_valid_sync_token(self):
        self.put("a.ics", event("a"))
        good = self.token_of(self.sync())
        coll, epoch, modseq = good.rsplit(":", 1)[1].split("-")
        for bad in ("garbage", "urn:x-almanac:sync:1-2-3",
                    "urn:x-almanac:sync:%s-%s-%d" % (coll, epoch, int(modseq) + 100),
                    "urn:x-almanac:sync:%s-%d-%s" % (coll, int(epoch) ^ 1, modseq),
                    "urn:x-almanac:sync:%s-%s" % (coll, epoch),
                    # this collection's epoch and modseq under another collection's id
                    "urn:x-almanac:sync:%d-%s-%s" % (int(coll) + 1, epoch, modseq)):
            self.assertCondition(self.sync(bad), 403, "valid-sync-token")

    def test_pruned_history_makes_old_tokens_start_over(self):
        self.put("a.ics", event("a"))
        self.put("b.ics", event("b"))
        old = self.token_of(self.sync())
        self.req("DELETE", self.cal + "a.ics")
        current = self.token_of(self.sync(old))
        r = self.srv.cli("prune", "--days", "0")
        self.assertIn("pruned tombstones", r.stdout)
        self.assertCondition(self.sync(old), 403, "valid-sync-token")
        self.assertIn("retained history", self.sync(old).text)
        # a client that already saw the delete goes on
        self.assertStatus(self.sync(current), 207)
        self.assertEqual(self.hrefs(self.sync(current)), [])

    # calendar-query --------------------------------------------------------------------

    def query(self, comp="VEVENT", start="20260201T000000Z", end="20260301T000000Z",
              extra_filter=""):
        tr = '<C:time-range start="%s" end="%s"/>' % (start, end) if start else ""
        body = ('<?xml version="1.0"?><C:calendar-query %s><D:prop><D:getetag/></D:prop>'
                '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="%s">%s%s'
                '</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'
                % (C, comp, tr, extra_filter))
        return self.report(self.cal, body)

    def test_time_range_query_uses_spans_including_recurrences(self):
        self.put("jan.ics", event("jan", "20260110T100000Z", "20260110T110000Z"))
        self.put("feb.ics", event("feb", "20260210T100000Z", "20260210T110000Z"))
        self.put("mar.ics", event("mar", "20260310T100000Z", "20260310T110000Z"))
        # weekly from December: first instance before the range, later ones inside
        self.put("weekly.ics", event("weekly", "20251201T090000Z", "20251201T100000Z",
                                     "RRULE:FREQ=WEEKLY;COUNT=20\r\n"))
        self.put("forever.ics", event("forever", "20250210T090000Z", "20250210T100000Z",
                                      "RRULE:FREQ=YEARLY\r\n"))
        self.put("ended.ics", event("ended", "20250101T090000Z", "20250101T100000Z",
                                    "RRULE:FREQ=DAILY;COUNT=3\r\n"))
        # spans the range but every instance falls outside it (RFC 4791 §9.9 is exact)
        self.put("skips.ics", event("skips", "20260115T090000Z", "20260115T100000Z",
                                    "RRULE:FREQ=MONTHLY;INTERVAL=2;COUNT=3\r\n"))
        # the only February instance was excluded
        self.put("exdate.ics", event("exdate", "20260125T090000Z", "20260125T100000Z",
                                     "RRULE:FREQ=WEEKLY;COUNT=3\r\nEXDATE:20260201T090000Z\r\n"
                                     ).replace("COUNT=3", "UNTIL=20260201T235959Z"))
        r = self.query()
        self.assertStatus(r, 207)
        self.assertEqual(sorted(self.hrefs(r)),
                         [self.cal + n for n in ("feb.ics", "forever.ics", "weekly.ics")])

    def test_instants_match_from_the_range_start_rfc4791_9_9(self):
        # RFC 4791 §9.9: an event with neither DTEND nor DURATION matches when
        # start <= DTSTART < end, so one exactly at the range's start is in, one exactly at
        # its end is out; a series of instants likewise
        def instant(uid, at, extra=""):
            return event(uid, at, "", extra).replace("DTEND:\r\n", "")
        self.put("at-start.ics", instant("at-start", "20260201T000000Z"))
        self.put("at-end.ics", instant("at-end", "20260301T000000Z"))
        self.put("before.ics", instant("before", "20260131T235959Z"))
        self.put("daily.ics", instant("daily", "20260130T000000Z", "RRULE:FREQ=DAILY;COUNT=3\r\n"))
        r = self.query()
        self.assertStatus(r, 207)
        self.assertEqual(sorted(self.hrefs(r)), [self.cal + "at-start.ics", self.cal + "daily.ics"])
        r = self.query(start="20260301T000000Z", end="20260302T000000Z")
        self.assertEqual(self.hrefs(r), [self.cal + "at-end.ics"])

    def test_rdates_are_instances_of_the_series(self):
        # RFC 5545 §3.8.5.2: the only February instance is an RDATE (one a PERIOD)
        self.put("rdate.ics", event("rdate", "20260110T100000Z", "20260110T110000Z",
                                    "RDATE:20260214T100000Z\r\n"))
        self.put("period.ics", event("period", "20260105T100000Z", "20260105T110000Z",
                                     "RRULE:FREQ=DAILY;COUNT=2\r\n"
                                     "RDATE;VALUE=PERIOD:20260228T230000Z/PT2H\r\n"))
        self.put("excluded.ics", event("excluded", "20260110T100000Z", "20260110T110000Z",
                                       "RDATE:20260214T100000Z\r\nEXDATE:20260214T100000Z\r\n"))
        r = self.query()
        self.assertEqual(sorted(self.hrefs(r)), [self.cal + "period.ics", self.cal + "rdate.ics"])
        # the PERIOD's own end (01:00 on March 1st) counts, not DTEND's hour
        r = self.query(start="20260301T003000Z", end="20260301T010000Z")
        self.assertEqual(self.hrefs(r), [self.cal + "period.ics"])
        body = ('<?xml version="1.0"?><C:calendar-query %s><D:prop><C:calendar-data>'
                '<C:expand start="20260201T000000Z" end="20260301T000000Z"/></C:calendar-data>'
                '</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter '
                'name="VEVENT"><C:prop-filter name="UID"><C:text-match>rdate</C:text-match>'
                '</C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'
                % C)
        r = self.report(self.cal, body)
        self.assertStatus(r, 207)
        self.assertEqual(re.findall(r"RECURRENCE-ID:(\w+)", r.text), ["20260214T100000Z"])

    def test_copied_series_answer_time_ranges(self):
        self.put("s.ics", event("s", "20260105T100000Z", "20260105T110000Z",
                                "RRULE:FREQ=WEEKLY;COUNT=8\r\n"))
        other = self.cal.rstrip("/") + "-copy/"
        self.assertStatus(self.req("MKCALENDAR", other), 201)
        r = self.req("COPY", self.cal + "s.ics",
                     headers={"Destination": "http://127.0.0.1%st.ics" % other})
        self.assertCondition(r, 502, "cross-server-destination")  # port 80: not this server
        self.assertIn("another server", r.text)
        # RFC 4791 §5.3.2.1: a copy beside the original would repeat its UID (a MOVE there is
        # a rename)
        r = self.req("COPY", self.cal + "s.ics", headers={"Destination": self.cal + "u.ics"})
        self.assertCondition(r, 409, "no-uid-conflict")
        self.assertIn("<D:href>%ss.ics</D:href>" % self.cal, r.text)
        self.assertStatus(self.req("GET", self.cal + "u.ics"), 404)
        self.put("d.ics", event("dup"))
        self.assertStatus(self.req("PUT", other + "x.ics", body=event("dup"), headers=ICS), 201)
        r = self.req("MOVE", self.cal + "d.ics", headers={"Destination": other + "y.ics"})
        self.assertCondition(r, 409, "no-uid-conflict")
        self.assertIn("<D:href>%sx.ics</D:href>" % other, r.text)
        self.assertStatus(self.req("GET", self.cal + "d.ics"), 200)
        r = self.req("COPY", self.cal + "s.ics", headers={"Destination": other + "t.ics"})
        self.assertStatus(r, 201)
        self.req("DELETE", self.cal + "s.ics")
        mine, self.cal = self.cal, other
        try:
            self.assertEqual(self.hrefs(self.query()), [other + "t.ics"])
            self.assertEqual(self.hrefs(self.query(start="20260401T000000Z",
                                                   end="20260501T000000Z")), [])
        finally:
            self.cal = mine

    def test_copy_or_move_into_a_calendar_takes_calendar_objects_only(self):
        files = HOME + self._testMethodName.replace("_", "-") + "-files/"
        self.assertStatus(self.req("MKCOL", files), 201)
        self.assertStatus(self.req("PUT", files + "n.txt", body="hello",
                                   headers={"Content-Type": "text/plain"}), 201)
        self.assertStatus(self.req("MKCOL", files + "sub/"), 201)
        for method in ("COPY", "MOVE"):
            r = self.req(method, files + "n.txt", headers={"Destination": self.cal + "n.ics"})
            self.assertCondition(r, 403, "supported-calendar-data")
            r = self.req(method, files + "sub/", headers={"Destination": self.cal + "sub/"})
            self.assertCondition(r, 403, "calendar-collection-location-ok")
        self.assertStatus(self.req("GET", files + "n.txt"), 200)
        self.assertEqual(self.hrefs(self.sync()), [])  # nothing reached the calendar

    def test_query_by_component_and_uid(self):
        self.put("e.ics", event("event-1"))
        self.put("t.ics", event("task-1", comp="VTODO").replace("DTEND:", "DUE:"))
        r = self.query(comp="VTODO", start=None)
        self.assertEqual(self.hrefs(r), [self.cal + "t.ics"])
        uid = ('<C:prop-filter name="UID"><C:text-match collation="i;octet">event-1'
               '</C:text-match></C:prop-filter>')
        r = self.query(comp="VEVENT", start=None, extra_filter=uid)
        self.assertEqual(self.hrefs(r), [self.cal + "e.ics"])

    def multiget_data(self, href, cdata):
        body = ('<?xml version="1.0"?><C:calendar-multiget %s><D:prop>%s</D:prop>'
                '<D:href>%s</D:href></C:calendar-multiget>' % (C, cdata, href))
        r = self.report(self.cal, body)
        self.assertStatus(r, 207)
        m = re.search(r"<C:calendar-data>(.*?)</C:calendar-data>", r.text, re.S)
        return m.group(1).replace("&#13;", "\r") if m else ""

    def test_calendar_data_component_and_property_selection(self):
        self.put("a.ics", event("sel", extra="LOCATION:Room 7\r\nBEGIN:VALARM\r\n"
                                "ACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nDESCRIPTION:x\r\n"
                                "END:VALARM\r\n"))
        data = self.multiget_data(
            self.cal + "a.ics",
            '<C:calendar-data><C:comp name="VCALENDAR"><C:prop name="VERSION"/>'
            '<C:comp name="VEVENT"><C:prop name="UID"/><C:prop name="SUMMARY"/></C:comp>'
            '</C:comp></C:calendar-data>')
        self.assertIn("VERSION:2.0", data)
        self.assertIn("UID:sel", data)
        self.assertIn("SUMMARY:event sel", data)
        for gone in ("PRODID", "DTSTART", "LOCATION", "VALARM"):
            self.assertNotIn(gone, data)
        data = self.multiget_data(
            self.cal + "a.ics",
            '<C:calendar-data><C:comp name="VCALENDAR"><C:allprop/><C:comp name="VEVENT">'
            '<C:allprop/><C:allcomp/></C:comp></C:comp></C:calendar-data>')
        self.assertIn("LOCATION:Room 7", data)
        self.assertIn("BEGIN:VALARM", data)

    def test_limit_recurrence_set_keeps_only_overrides_in_range(self):
        series = event("lim", "20260105T090000Z", "20260105T100000Z",
                       "RRULE:FREQ=DAILY;COUNT=30\r\n")
        override = ("BEGIN:VEVENT\r\nUID:lim\r\nDTSTAMP:20260101T000000Z\r\n"
                    "RECURRENCE-ID:%s\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\n"
                    "END:VEVENT\r\n")
        series = series.replace("END:VCALENDAR", override % (
            "20260106T090000Z", "20260106T110000Z", "20260106T120000Z", "early") + override % (
            "20260120T090000Z", "20260120T110000Z", "20260120T120000Z", "late") +
            "END:VCALENDAR")
        self.assertStatus(self.put("lim.ics", series), 201)
        data = self.multiget_data(
            self.cal + "lim.ics",
            '<C:calendar-data><C:limit-recurrence-set start="20260115T000000Z" '
            'end="20260125T000000Z"/></C:calendar-data>')
        self.assertIn("RRULE:FREQ=DAILY;COUNT=30", data)
        self.assertIn("SUMMARY:late", data)
        self.assertNotIn("SUMMARY:early", data)

    def test_free_busy_query_reports_busy_instances(self):
        self.put("busy.ics", event("busy", "20260210T100000Z", "20260210T110000Z"))
        self.put("free.ics", event("free", "20260211T100000Z", "20260211T110000Z",
                                   "TRANSP:TRANSPARENT\r\n"))
        self.put("maybe.ics", event("maybe", "20260212T100000Z", "20260212T103000Z",
                                    "STATUS:TENTATIVE\r\n"))
        self.put("off.ics", event("off", "20260213T100000Z", "20260213T110000Z",
                                  "STATUS:CANCELLED\r\n"))
        self.put("daily.ics", event("daily", "20260227T080000Z", "20260227T083000Z",
                                    "RRULE:FREQ=DAILY;COUNT=5\r\n"))
        self.put("outside.ics", event("outside", "20260401T100000Z", "20260401T110000Z"))
        body = ('<?xml version="1.0"?><C:free-busy-query %s><C:time-range '
                'start="20260201T000000Z" end="20260301T000000Z"/></C:free-busy-query>' % C)
        r = self.report(self.cal, body)
        self.assertStatus(r, 200)
        self.assertIn("text/calendar", r.header("Content-Type"))
        lines = sorted(l for l in r.text.split("\r\n") if l.startswith("FREEBUSY"))
        self.assertEqual(lines, [
            "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260212T100000Z/20260212T103000Z",
            "FREEBUSY;FBTYPE=BUSY:20260210T100000Z/20260210T110000Z",
            "FREEBUSY;FBTYPE=BUSY:20260227T080000Z/20260227T083000Z",
            "FREEBUSY;FBTYPE=BUSY:20260228T080000Z/20260228T083000Z",
        ])
        self.assertIn("BEGIN:VFREEBUSY\r\n", r.text)
        self.assertIn("DTSTART:20260201T000000Z", r.text)
        self.assertTrue(r.text.endswith("END:VFREEBUSY\r\nEND:VCALENDAR\r\n"))

    def test_unsupported_report_filter_and_collation_are_403(self):
        r = self.report(self.cal, '<?xml version="1.0"?><D:expand-property xmlns:D="DAV:"/>')
        self.assertCondition(r, 403, "supported-report")
        r = self.query(extra_filter='<C:prop-filter name="SUMMARY"><C:text-match '
                                    'collation="i;unicode-casemap">x</C:text-match>'
                                    '</C:prop-filter>')
        self.assertCondition(r, 403, "supported-collation")
        r = self.query(extra_filter='<C:prop-filter name="DTSTART"><C:time-range '
                                    'start="20260101T000000Z"/></C:prop-filter>')
        self.assertCondition(r, 403, "valid-filter")

    def test_prop_param_and_nested_comp_filters(self):
        alarm = ("BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\n"
                 "END:VALARM\r\n")
        self.put("a.ics", event("a", extra="LOCATION:Room 1\r\n"
                                    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.com\r\n"))
        self.put("b.ics", event("b", extra=alarm).replace("SUMMARY:event b", "SUMMARY:Lunch"))
        self.put("c.ics", event("c", extra="ATTENDEE;PARTSTAT=DECLINED:mailto:x@example.com\r\n"))

        def names(extra):
            r = self.query(start=None, extra_filter=extra)
            self.assertStatus(r, 207)
            return sorted(h.rsplit("/", 1)[1] for h in self.hrefs(r))

        self.assertEqual(names('<C:prop-filter name="SUMMARY"><C:text-match>LUNCH'
                               '</C:text-match></C:prop-filter>'), ["b.ics"])
        self.assertEqual(names('<C:prop-filter name="SUMMARY"><C:text-match collation="i;octet">'
                               'LUNCH</C:text-match></C:prop-filter>'), [])
        self.assertEqual(names('<C:prop-filter name="SUMMARY"><C:text-match '
                               'negate-condition="yes">lunch</C:text-match></C:prop-filter>'),
                         ["a.ics", "c.ics"])
        self.assertEqual(names('<C:prop-filter name="LOCATION"><C:is-not-defined/>'
                               '</C:prop-filter>'), ["b.ics", "c.ics"])
        self.assertEqual(names('<C:prop-filter name="ATTENDEE"><C:param-filter name="PARTSTAT">'
                               '<C:text-match>ACCEPTED</C:text-match></C:param-filter>'
                               '</C:prop-filter>'), ["a.ics"])
        self.assertEqual(names('<C:comp-filter name="VALARM"/>'), ["b.ics"])
        self.assertEqual(names('<C:comp-filter name="VALARM"><C:is-not-defined/>'
                               '</C:comp-filter>'), ["a.ics", "c.ics"])
        self.assertEqual(names('<C:prop-filter name="UID"><C:text-match collation="i;octet">c'
                               '</C:text-match></C:prop-filter>'), ["c.ics"])

class DaemonPruneTest(CalDavHelpers, ServerTestCase):
    """almanacd prunes the change log by itself: tombstone_max_age, every prune_interval."""

    CONFIG = "tombstone_max_age = 2\nprune_interval = 1\n"

    def test_old_deletes_are_pruned_and_older_tokens_start_over(self):
        self.put("a.ics", event("a"))
        self.put("b.ics", event("b"))
        old = self.token_of(self.sync())
        self.req("DELETE", self.cal + "a.ics")
        r = self.sync(old)
        self.assertStatus(r, 207)  # at once: the delete is still in the log
        self.assertEqual(self.hrefs(r, 404), [self.cal + "a.ics"])
        current = self.token_of(r)
        deadline = time.time() + 20
        while time.time() < deadline:
            r = self.sync(old)
            if r.status != 207:
                break
            time.sleep(0.2)
        self.assertCondition(r, 403, "valid-sync-token")
        self.assertStatus(self.sync(current), 207)
        self.assertEqual(self.hrefs(self.sync(current)), [])
        self.assertRegex(self.srv.read_log(), r"prune collections=\d+ max_age=2 ")


if __name__ == "__main__":
    main()
