"""tests/integration/test_export.py: a calendar collection as one iCalendar file (issue 15,
item 3) over HTTP, against the real almanacd:
- GET with `Accept: text/calendar` answers 200 text/calendar: one VCALENDAR holding every
  stored component byte for byte (a zoned weekly series with its override, all-day events,
  events in three zones, a to-do), each VTIMEZONE once, and the calendar's ETag;
- If-None-Match with that ETag is 304 until the calendar changes, then 200 with a new ETag
  and the change in the file; HEAD answers the headers without a body;
- `?export` adds Content-Disposition for a browser's download;
- a GET without either, of an item, of a home, and of another user's calendar answers as
  before (the text of a collection, the item, the collection text, 404);
- 1,500 events stream out complete and in name order;
- a subscription URL (`almanac subscription add`) serves the same file without credentials
  (and ignores any), with the ETag and 304; only GET and HEAD; a wrong, malformed or revoked
  token, or one whose calendar was deleted, is 404; `subscription list` shows the owner's."""

import re

from harness import ServerTestCase, main

CAL = "/calendars/alice/work/"

ZONES = {
    "Europe/Berlin": (
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"
        "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"
        "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"),
    "America/New_York": (
        "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\n"
        "TZOFFSETTO:-0400\r\nTZNAME:EDT\r\nDTSTART:19700308T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"
        "TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\nDTSTART:19701101T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"),
    "Asia/Kolkata": (
        "BEGIN:VTIMEZONE\r\nTZID:Asia/Kolkata\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0530\r\n"
        "TZOFFSETTO:+0530\r\nTZNAME:IST\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\n"),
}


def obj(components, zones=()):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
            + "".join(ZONES[z] for z in zones) + "".join(components) + "END:VCALENDAR\r\n")


def vevent(uid, lines):
    return "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\n%sEND:VEVENT\r\n" % (uid, lines)


SERIES = vevent("series@t", "DTSTART;TZID=Europe/Berlin:20260105T100000\r\nDURATION:PT1H\r\n"
                "RRULE:FREQ=WEEKLY;COUNT=10\r\nEXDATE;TZID=Europe/Berlin:20260119T100000\r\n"
                "SUMMARY:Weekly\r\n")
OVERRIDE = vevent("series@t", "RECURRENCE-ID;TZID=Europe/Berlin:20260112T100000\r\n"
                  "DTSTART;TZID=Europe/Berlin:20260112T150000\r\nDURATION:PT1H\r\n"
                  "SUMMARY:Moved\r\n")
OBJECTS = {
    "a-series.ics": obj([SERIES, OVERRIDE], ["Europe/Berlin"]),
    "b-ny.ics": obj([vevent("ny@t", "DTSTART;TZID=America/New_York:20260301T090000\r\n"
                            "DTEND;TZID=America/New_York:20260301T100000\r\nSUMMARY:NY, "
                            "with a comma\\; and more\r\n")], ["America/New_York"]),
    "c-kolkata.ics": obj([vevent("in@t", "DTSTART;TZID=Asia/Kolkata:20260302T090000\r\n"
                                 "DURATION:PT30M\r\nSUMMARY:Stand-up\r\n")], ["Asia/Kolkata"]),
    "d-berlin.ics": obj([vevent("be@t", "DTSTART;TZID=Europe/Berlin:20260401T080000\r\n"
                                "DURATION:PT2H\r\nSUMMARY:Second Berlin event\r\n")],
                        ["Europe/Berlin"]),
    "e-allday.ics": obj([vevent("day@t", "DTSTART;VALUE=DATE:20260410\r\n"
                                "DTEND;VALUE=DATE:20260411\r\nSUMMARY:Holiday\r\n")]),
    "f-todo.ics": obj(["BEGIN:VTODO\r\nUID:todo@t\r\nDTSTAMP:20260101T000000Z\r\n"
                       "SUMMARY:File taxes\r\nDUE:20260415T170000Z\r\nEND:VTODO\r\n"]),
}


def components(text):
    """The top-level components of a VCALENDAR text, in order, as exact strings."""
    out = []
    depth = 0
    cur = None
    for line in text.split("\r\n"):
        if line.upper().startswith("BEGIN:"):
            depth += 1
            if depth == 2:
                cur = []
        if cur is not None:
            cur.append(line)
        if line.upper().startswith("END:"):
            depth -= 1
            if depth == 1 and cur is not None:
                out.append("\r\n".join(cur) + "\r\n")
                cur = None
    return out


class ExportTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        assert cls.srv.request("MKCALENDAR", CAL).status == 201
        for name, text in OBJECTS.items():
            r = cls.srv.request("PUT", CAL + name, body=text,
                                headers={"Content-Type": "text/calendar"})
            assert r.status == 201, r

    def export(self, path=CAL, **headers):
        h = {"Accept": "text/calendar"}
        h.update(headers)
        return self.req("GET", path, headers=h)

    def test_export_holds_every_component_and_each_zone_once(self):
        r = self.export()
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Type"), "text/calendar; charset=utf-8")
        self.assertIsNone(r.header("Content-Disposition"))
        text = r.text
        self.assertTrue(text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"))
        self.assertIn("\r\nX-WR-CALNAME:work\r\n", text)
        self.assertTrue(text.endswith("END:VCALENDAR\r\n"))
        self.assertEqual(text.count("BEGIN:VCALENDAR"), 1)
        got = components(text)
        want = []
        seen = set()
        for name in sorted(OBJECTS):
            for c in components(OBJECTS[name]):
                if c.startswith("BEGIN:VTIMEZONE"):
                    tzid = re.search(r"TZID:([^\r]*)", c).group(1)
                    if tzid in seen:
                        continue
                    seen.add(tzid)
                want.append(c)
        self.assertEqual(got, want)
        self.assertEqual(text.count("TZID:Europe/Berlin\r\n"), 1)
        self.assertEqual(text.count("BEGIN:VTIMEZONE"), 3)

    def test_etag_not_modified_and_change(self):
        r = self.export()
        etag = r.header("ETag")
        self.assertTrue(etag)
        # the collection's getctag-like ETag answers a subscriber's poll with 304
        r2 = self.export(**{"If-None-Match": etag})
        self.assertStatus(r2, 304)
        self.assertEqual(r2.body, b"")
        self.assertEqual(r2.header("ETag"), etag)
        h = self.req("HEAD", CAL, headers={"Accept": "text/calendar"})
        self.assertStatus(h, 200)
        self.assertEqual(h.body, b"")
        self.assertEqual(h.header("ETag"), etag)
        extra = obj([vevent("late@t", "DTSTART:20260501T100000Z\r\nSUMMARY:Late\r\n")])
        self.assertStatus(self.req("PUT", CAL + "z-late.ics", body=extra,
                                   headers={"Content-Type": "text/calendar"}), 201)
        try:
            r3 = self.export(**{"If-None-Match": etag})
            self.assertStatus(r3, 200)
            self.assertNotEqual(r3.header("ETag"), etag)
            self.assertIn("UID:late@t\r\n", r3.text)
        finally:
            self.assertStatus(self.req("DELETE", CAL + "z-late.ics"), 204)

    def test_download_link(self):
        r = self.req("GET", CAL + "?export")
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Type"), "text/calendar; charset=utf-8")
        self.assertEqual(r.header("Content-Disposition"), 'attachment; filename="work.ics"')
        self.assertEqual(r.text, self.export().text)
        r = self.req("GET", CAL + "?a=1&export=1")
        self.assertStatus(r, 200)
        self.assertIn("UID:todo@t", r.text)

    def test_other_gets_unchanged(self):
        r = self.req("GET", CAL)
        self.assertStatus(r, 200)
        self.assertEqual(r.text, "Almanac collection %s\n" % CAL)
        # q=0 refuses text/calendar
        r = self.req("GET", CAL, headers={"Accept": "text/calendar;q=0, text/html"})
        self.assertEqual(r.text, "Almanac collection %s\n" % CAL)
        r = self.export(CAL + "b-ny.ics")
        self.assertStatus(r, 200)
        self.assertEqual(r.text, OBJECTS["b-ny.ics"])
        r = self.export("/calendars/alice/")
        self.assertStatus(r, 200)
        self.assertEqual(r.text, "Almanac collection /calendars/alice/\n")
        r = self.req("GET", CAL, user="bob", headers={"Accept": "text/calendar"})
        self.assertStatus(r, 404)
        self.assertStatus(self.export("/calendars/alice/nothing/"), 404)


class SubscriptionTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        assert cls.srv.request("MKCALENDAR", CAL).status == 201
        for name in ("a-series.ics", "b-ny.ics", "e-allday.ics"):
            r = cls.srv.request("PUT", CAL + name, body=OBJECTS[name],
                                headers={"Content-Type": "text/calendar"})
            assert r.status == 201, r

    def add(self, user="alice", cal="work"):
        path = self.srv.cli("subscription", "add", user, cal).stdout.strip()
        self.assertRegex(path, r"^/subscribe/[A-Za-z0-9_-]{32}\.ics$")
        return path

    def test_subscription_serves_without_credentials(self):
        path = self.add()
        r = self.srv.request("GET", path, auth=False)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("Content-Type"), "text/calendar; charset=utf-8")
        full = self.req("GET", CAL, headers={"Accept": "text/calendar"})
        self.assertEqual(r.text, full.text)
        self.assertEqual(r.header("ETag"), full.header("ETag"))
        # credentials, even wrong ones, change nothing: the token is the capability
        self.assertStatus(self.srv.request("GET", path, password="wrong"), 200)
        # the path without .ics names the same
        self.assertStatus(self.srv.request("GET", path[:-4], auth=False), 200)
        r2 = self.srv.request("GET", path, auth=False, headers={"If-None-Match": r.header("ETag")})
        self.assertStatus(r2, 304)
        h = self.srv.request("HEAD", path, auth=False)
        self.assertStatus(h, 200)
        self.assertEqual(h.body, b"")
        for m in ("PUT", "DELETE", "PROPFIND", "POST"):
            x = self.srv.request(m, path, auth=False, body="x")
            self.assertStatus(x, 405)
            self.assertEqual(x.header("Allow"), "GET, HEAD")

    def test_wrong_and_revoked_tokens(self):
        path = self.add()
        wrong = path[:11] + ("A" if path[11] != "A" else "B") + path[12:]
        for p in (wrong, "/subscribe/", "/subscribe/short.ics", "/subscribe/" + "A" * 300,
                  path + "/x"):
            self.assertStatus(self.srv.request("GET", p, auth=False), 404)
        listed = self.srv.cli("subscription", "list", "alice").stdout
        self.assertIn("work\t%s\t" % path, listed)
        self.assertEqual(self.srv.cli("subscription", "list", "bob").stdout, "")
        self.srv.cli("subscription", "del", "alice", "work")
        self.assertStatus(self.srv.request("GET", path, auth=False), 404)
        r = self.srv.cli("subscription", "del", "alice", "work", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("has no subscription URL", r.stderr)
        r = self.srv.cli("subscription", "add", "alice", "nothing", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("calendar 'nothing' of user 'alice' not found", r.stderr)

    def test_token_dies_with_its_calendar(self):
        other = "/calendars/alice/gone/"
        self.assertStatus(self.req("MKCALENDAR", other), 201)
        path = self.add(cal="gone")
        self.assertStatus(self.srv.request("GET", path, auth=False), 200)
        self.assertStatus(self.req("DELETE", other), 204)
        self.assertStatus(self.srv.request("GET", path, auth=False), 404)


class ExportManyTest(ServerTestCase):
    N = 1500

    def test_many_events_stream_in_name_order(self):
        path = "/calendars/alice/many/"
        self.assertStatus(self.req("MKCALENDAR", path), 201)
        for i in range(self.N):
            zone = ["Europe/Berlin", "America/New_York", "Asia/Kolkata"][i % 3]
            text = obj([vevent("m%05d@t" % i, "DTSTART;TZID=%s:20260105T%02d0000\r\n"
                               "DURATION:PT1H\r\nSUMMARY:Event %d\r\n" % (zone, i % 24, i))],
                       [zone])
            r = self.req("PUT", path + "m%05d.ics" % i, body=text,
                         headers={"Content-Type": "text/calendar"})
            self.assertStatus(r, 201)
        text = self.req("GET", path, headers={"Accept": "text/calendar"}).text
        uids = re.findall(r"\r\nUID:(m\d{5})@t\r\n", text)
        self.assertEqual(uids, ["m%05d" % i for i in range(self.N)])
        self.assertEqual(text.count("BEGIN:VTIMEZONE"), 3)
        self.assertEqual(text.count("BEGIN:VEVENT"), self.N)


if __name__ == "__main__":
    main()
