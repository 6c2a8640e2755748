"""tests/integration/test_activesync.py: a scripted phone (easclient.EASClient, with its own
WBXML codec) against the real almanacd over Exchange ActiveSync (issue 5 item 6,
shared/spec/activesync.md): first contact in both query forms, the initial sync of a
20,000-event calendar in windows of 100, changes made through CalDAV and the /exchange view
reaching the phone, the phone's own writes seen through CalDAV, retransmission, Ping,
documented error statuses, isolation between users, and device state across a restart.
Every WBXML answer is also decoded by Debian's wbxml2xml and must read the same (§6.2)."""

import base64
import datetime
import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
import zoneinfo

import easclient as eas
from easclient import E, EASClient
import harness
from harness import Server, ServerTestCase, main

UTC = datetime.timezone.utc
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
CALDAV = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
ORACLE = True  # decode every server answer with libwbxml too

# On PostgreSQL a PUT costs several times a SQLite one (issue #10: about 9 round trips
# to the server), so make check PUTs 4,000 events there, not 20,000: 40 windows of 100
# instead of 200, with the same assertions over every kind of event (big_event's kinds
# repeat every 1,000).
N_BIG = 4000 if harness.ENGINE == "postgresql" else 20000
WINDOW = 100
PUT_THREADS = 4

# alice's calendars, in creation order: the first is her default calendar (type 8)
BIG = "big"
BIG_NAME = "Big calendar"
SMALL = ("changes", "phone", "retx", "ping", "misc", "restart")
BOB_CAL = "bobcal"
BOB_NAME = "Bob's calendar"
DUMMIES = {("2", "Inbox"), ("3", "Drafts"), ("4", "Deleted Items"), ("5", "Sent Items"),
           ("6", "Outbox"), ("9", "Contacts"), ("7", "Tasks")}
COMMANDS = {"Sync", "FolderSync", "GetItemEstimate", "Ping", "Provision", "Settings",
            "ItemOperations"}
KEY_RE = re.compile(r"[0-9]{1,64}")

VTIMEZONE_BERLIN = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
    "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
    "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
    "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
    "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
    "END:VTIMEZONE\r\n")
WEEKDAY_BIT = {0: 2, 1: 4, 2: 8, 3: 16, 4: 32, 5: 64, 6: 1}  # Python weekday -> DayOfWeek bit
BYDAY = {0: "MO", 1: "TU", 2: "WE", 3: "TH", 4: "FR", 5: "SA", 6: "SU"}


def ical(t):
    return t.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def vcalendar(*parts, tz=""):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac EAS tests//EN\r\n%s%s"
            "END:VCALENDAR\r\n" % (tz, "".join(parts)))


def vevent(uid, summary, start, end, extra=""):
    return ("BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n"
            "SUMMARY:%s\r\n%sEND:VEVENT\r\n" % (uid, ical(start), ical(end), summary, extra))


def simple_event(uid, summary, start, hours=1, extra=""):
    return vcalendar(vevent(uid, summary, start, start + datetime.timedelta(hours=hours), extra))


# --------------------------------------------------------------------------------------------
# The 20,000-event calendar: what is PUT and what the phone must see

BASE = datetime.datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def big_event(i):
    """(name, iCalendar text, expectation) of event i of the big calendar. Kinds: all-day
    (i % 250 == 3), weekly series with one moved and one cancelled instance (i % 500 == 7),
    Europe/Berlin local times (i % 1000 == 11), else UTC. Some carry LOCATION / DESCRIPTION."""
    uid = "big-%05d@almanac.test" % i
    summary = "Event %05d" % i
    start = BASE + datetime.timedelta(hours=3 * i)
    exp = {"uid": uid, "subject": summary, "kind": "utc"}
    extra = ""
    if i % 7 == 0:
        exp["location"] = "Room %d" % (i % 50)
        extra += "LOCATION:%s\r\n" % exp["location"]
    if i % 11 == 0:
        exp["body"] = "Notes for event %05d" % i
        extra += "DESCRIPTION:%s\r\n" % exp["body"]
    name = "big-%05d.ics" % i
    if i % 250 == 3:
        day = start.date()
        exp.update(kind="allday", date=day)
        text = vcalendar("BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\n"
                         "DTSTART;VALUE=DATE:%s\r\nDTEND;VALUE=DATE:%s\r\nSUMMARY:%s\r\n%s"
                         "END:VEVENT\r\n" % (uid, day.strftime("%Y%m%d"),
                                             (day + datetime.timedelta(days=1)).strftime("%Y%m%d"),
                                             summary, extra))
        return name, text, exp
    if i % 1000 == 11:
        local = datetime.datetime.combine(start.date(), datetime.time(10, 30))
        exp.update(kind="berlin", local=local,
                   start=local.replace(tzinfo=BERLIN).astimezone(UTC),
                   end=(local + datetime.timedelta(hours=1)).replace(tzinfo=BERLIN).astimezone(UTC))
        text = vcalendar("BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\n"
                         "DTSTART;TZID=Europe/Berlin:%s\r\nDTEND;TZID=Europe/Berlin:%s\r\n"
                         "SUMMARY:%s\r\n%sEND:VEVENT\r\n"
                         % (uid, local.strftime("%Y%m%dT%H%M%S"),
                            (local + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%S"),
                            summary, extra), tz=VTIMEZONE_BERLIN)
        return name, text, exp
    end = start + datetime.timedelta(hours=1)
    exp.update(start=start, end=end)
    if i % 500 == 7:
        week = datetime.timedelta(weeks=1)
        moved = start + week
        exp.update(kind="series", moved=moved, cancelled=start + 2 * week,
                   moved_subject=summary + " (moved)")
        rule = "RRULE:FREQ=WEEKLY;COUNT=10;BYDAY=%s\r\nEXDATE:%s\r\n" % (
            BYDAY[start.weekday()], ical(start + 2 * week))
        override = ("BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:%s\r\n"
                    "DTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\nEND:VEVENT\r\n"
                    % (uid, ical(moved), ical(moved + datetime.timedelta(hours=2)),
                       ical(moved + datetime.timedelta(hours=3)), exp["moved_subject"]))
        return name, vcalendar(vevent(uid, summary, start, end, extra + rule), override), exp
    return name, simple_event(uid, summary, start, extra=extra), exp


# --------------------------------------------------------------------------------------------
# Reading iCalendar back (what CalDAV shows of the phone's writes)


def unfold(text):
    return re.sub(r"\r?\n[ \t]", "", text).replace("\r\n", "\n").split("\n")


def components(lines, name):
    out, cur = [], None
    for line in lines:
        if line == "BEGIN:" + name and cur is None:
            cur = []
            continue
        if line == "END:" + name and cur is not None:
            out.append(cur)
            cur = None
            continue
        if cur is not None:
            cur.append(line)
    return out


def prop(lines, name):
    """(params dict, value) of the first property NAME at this component's own level."""
    depth = 0
    for line in lines:
        if line.startswith("BEGIN:"):
            depth += 1
        elif line.startswith("END:"):
            depth -= 1
        elif depth == 0:
            head, _, value = line.partition(":")
            pname, *params = head.split(";")
            if pname.upper() == name:
                return dict(p.split("=", 1) for p in params if "=" in p), value
    return None


def _rule_onset(year, rrule, dtstart):
    parts = dict(p.split("=", 1) for p in rrule.split(";"))
    month = int(parts["BYMONTH"])
    m = re.fullmatch(r"([+-]?\d)?([A-Z]{2})", parts["BYDAY"])
    n, wd = int(m.group(1) or 1), list(BYDAY.values()).index(m.group(2))
    if n > 0:
        d = datetime.date(year, month, 1)
        d += datetime.timedelta(days=(wd - d.weekday()) % 7 + 7 * (n - 1))
    else:
        nxt = datetime.date(year + (month == 12), month % 12 + 1, 1)
        d = nxt - datetime.timedelta(days=1)
        d -= datetime.timedelta(days=(d.weekday() - wd) % 7 + 7 * (-n - 1))
    return datetime.datetime.combine(d, dtstart.time())


def _offset(s):
    sign = -1 if s[0] == "-" else 1
    return sign * datetime.timedelta(hours=int(s[1:3]), minutes=int(s[3:5]))


def vtimezone_to_utc(lines, tzid, local):
    """UTC instant of a local time in a VTIMEZONE of the object (for TZIDs the system zone
    database does not know, such as a server-made EAS-<hash> zone)."""
    for tz in components(lines, "VTIMEZONE"):
        if prop(tz, "TZID")[1] != tzid:
            continue
        onsets = []
        for kind in ("STANDARD", "DAYLIGHT"):
            for sub in components(tz, kind):
                start = datetime.datetime.strptime(prop(sub, "DTSTART")[1], "%Y%m%dT%H%M%S")
                rr = prop(sub, "RRULE")
                to = _offset(prop(sub, "TZOFFSETTO")[1])
                if rr is None:
                    onsets.append((start, to))
                else:
                    for y in (local.year - 1, local.year):
                        onsets.append((_rule_onset(y, rr[1], start), to))
        onsets = sorted(o for o in onsets if o[0] <= local)
        if not onsets:
            raise AssertionError("VTIMEZONE %s has no onset before %s" % (tzid, local))
        return (local - onsets[-1][1]).replace(tzinfo=UTC)
    raise AssertionError("TZID %s neither known nor defined in the object" % tzid)


def duration(value):
    m = re.fullmatch(r"([+-])?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?",
                     value)
    if not m:
        raise AssertionError("bad DURATION " + value)
    w, d, h, mi, s = (int(x or 0) for x in m.groups()[1:])
    sign = -1 if m.group(1) == "-" else 1
    return sign * datetime.timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=s)


def instant(all_lines, event, name):
    """DTSTART/DTEND of an event as an aware UTC datetime, or a date for VALUE=DATE. A
    missing DTEND is DTSTART + DURATION."""
    p = prop(event, name)
    if p is None and name == "DTEND" and prop(event, "DURATION") is not None:
        return instant(all_lines, event, "DTSTART") + duration(prop(event, "DURATION")[1])
    if p is None:
        return None
    params, value = p
    if params.get("VALUE") == "DATE" or re.fullmatch(r"\d{8}", value):
        return datetime.datetime.strptime(value, "%Y%m%d").date()
    if value.endswith("Z"):
        return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    local = datetime.datetime.strptime(value, "%Y%m%dT%H%M%S")
    tzid = params.get("TZID")
    if tzid is None:
        raise AssertionError("%s is a floating time: %s" % (name, value))
    tzid = tzid.strip('"')
    try:
        return local.replace(tzinfo=zoneinfo.ZoneInfo(tzid)).astimezone(UTC)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return vtimezone_to_utc(all_lines, tzid, local)


def master(ics):
    lines = unfold(ics)
    events = [e for e in components(lines, "VEVENT") if prop(e, "RECURRENCE-ID") is None]
    if len(events) != 1:
        raise AssertionError("expected one master VEVENT in:\n" + ics)
    return lines, events[0]


# --------------------------------------------------------------------------------------------


class ActiveSyncPhoneTest(ServerTestCase):
    # log_level debug: almanacd logs "eas wait" when a Ping is registered with the hub, the
    # condition test 6 waits for before it writes
    CONFIG = "eas_ping_min_heartbeat = 1\nlog_level = debug\n"
    USERS = ("alice", "bob")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        t0 = time.time()
        srv = cls.srv
        body = ('<?xml version="1.0"?><C:mkcalendar %s><D:set><D:prop><D:displayname>%s'
                '</D:displayname></D:prop></D:set></C:mkcalendar>' % (CALDAV, BIG_NAME))
        cls._check(srv.request("MKCALENDAR", "/calendars/alice/%s/" % BIG, body=body), 201)
        for name in SMALL:
            cls._check(srv.request("MKCALENDAR", "/calendars/alice/%s/" % name), 201)
        body = body.replace(BIG_NAME, BOB_NAME.replace("'", "&apos;"))
        cls._check(srv.request("MKCALENDAR", "/calendars/bob/%s/" % BOB_CAL, user="bob",
                               body=body), 201)
        cls._check(srv.request("PUT", "/calendars/bob/%s/bob-1.ics" % BOB_CAL, user="bob",
                               body=simple_event("bob-only-1@almanac.test", "Bob's secret",
                                                 BASE), headers=ICS), 201)
        for i in range(6):
            cls.caldav_put("changes", "ch-%d.ics" % i,
                           simple_event("ch-%d@almanac.test" % i, "Change me %d" % i,
                                        BASE + datetime.timedelta(days=i)))
        cls.caldav_put("ping", "p-0.ics", simple_event("p-0@almanac.test", "Ping seed", BASE))
        for i in range(3):
            cls.caldav_put("restart", "r-%d.ics" % i, simple_event("r-%d@almanac.test" % i,
                                                                  "Before %d" % i, BASE))
        for i in range(10):
            cls.caldav_put("misc", "m-%d.ics" % i,
                           simple_event("m-%d@almanac.test" % i, "Misc %d" % i,
                                        BASE + datetime.timedelta(days=i),
                                        extra="LOCATION:Desk %d\r\nDESCRIPTION:notes for m-%d"
                                              "\r\n" % (i, i)))
        cls.expected = {}
        cls._put_big()
        print("\nsetup: %d events PUT in %.1f s" % (N_BIG, time.time() - t0), file=sys.stderr)

    @staticmethod
    def _check(resp, *statuses):
        if resp.status not in statuses:
            raise AssertionError("expected %s, got %d: %s" % (statuses, resp.status,
                                                              resp.body[:300]))
        return resp

    @classmethod
    def caldav_put(cls, cal, name, text, user="alice", view="calendars"):
        return cls._check(cls.srv.request("PUT", "/%s/%s/%s/%s" % (view, user, cal, name),
                                          user=user, body=text, headers=ICS), 201, 204)

    @classmethod
    def _put_big(cls):
        """N_BIG PUTs from a few threads on kept-alive connections."""
        auth = "Basic " + base64.b64encode(b"alice:" + cls.srv.passwords["alice"].encode()).decode()
        errors = []
        requests = []
        for i in range(N_BIG):
            name, text, exp = big_event(i)
            cls.expected[exp["uid"]] = exp
            requests.append(("/calendars/alice/%s/%s" % (BIG, name), text.encode()))
        headers = dict(ICS, Authorization=auth)

        def worker(k):
            conn = None
            try:
                for path, body in requests[k::PUT_THREADS]:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", cls.srv.port, timeout=60)
                    conn.request("PUT", path, body=body, headers=headers)
                    r = conn.getresponse()
                    r.read()
                    if r.status != 201:
                        errors.append((path, r.status))
                        return
                    if r.will_close:
                        conn.close()
                        conn = None
            except Exception as e:  # reported below, in the main thread
                errors.append(("thread %d" % k, repr(e)))
            finally:
                if conn is not None:
                    conn.close()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(PUT_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise AssertionError("PUT of the big calendar failed: %r" % errors[:5])

    # helpers ---------------------------------------------------------------------------

    def log_since(self, offset):
        """almanacd's log from byte `offset` on."""
        with open(self.srv.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def phone(self, device_id, user="alice", form="plain", provision=True, folders=True):
        """A device; provisioned and with its folder list unless told otherwise."""
        c = EASClient("127.0.0.1", self.srv.port, user, self.srv.passwords[user], device_id,
                      device_type="TestPhone", form=form, oracle=ORACLE)
        self.addCleanup(c.close)
        if provision:
            c.provision()
        if folders:
            r = c.folder_sync("0")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.doc.findtext("Status"), "1", r)
            c.folder_key = r.doc.findtext("SyncKey")
            c.folders = {f["DisplayName"]: f for f in EASClient.folders_of(r)}
        return c

    def cid(self, c, display_name):
        self.assertIn(display_name, c.folders, "FolderSync of %s: %r" % (c.user, c.folders))
        return c.folders[display_name]["ServerId"]

    def assertKey(self, key):
        self.assertIsNotNone(key, "no SyncKey")
        self.assertRegex(key, KEY_RE, "SyncKeys are digit strings of at most 64 characters")

    def sync(self, c, coll, key, **kw):
        """One Sync of one collection with GetChanges and the calendar Options; checks the
        answer is a 200 with that collection at Status 1 and returns the SyncCollection (None
        for the 14.0+ empty answer to 'nothing changed')."""
        kw.setdefault("options", EASClient.calendar_options())
        res = c.sync(coll, key, get_changes=kw.pop("get_changes", True), **kw)
        self.assertEqual(res.http_status, 200, res.resp)
        if res.empty:
            return None
        self.assertIsNone(res.status, "request-wide Status in %r" % res.resp)
        self.assertIn(coll, res.collections, res.resp)
        col = res.collections[coll]
        self.assertEqual(col.status, 1, res.resp)
        self.assertKey(col.sync_key)
        return col

    def first_sync(self, c, coll):
        """Sync with key 0: Status 1, a new key, no Commands (§3.3.3)."""
        res = c.sync(coll, "0", options=EASClient.calendar_options())
        self.assertEqual(res.http_status, 200, res.resp)
        col = res.collections.get(coll)
        self.assertIsNotNone(col, res.resp)
        self.assertEqual(col.status, 1, res.resp)
        self.assertKey(col.sync_key)
        self.assertNotEqual(col.sync_key, "0")
        self.assertFalse(col.has_commands, "key 0 is only a handshake: %r" % res.resp)
        self.assertFalse(col.more_available)
        return col.sync_key

    def sync_all(self, c, coll, key, window=WINDOW, stats=None):
        """Follows MoreAvailable to the end. Returns (last key, list of SyncCollections)."""
        pages = []
        while True:
            t = time.time()
            col = self.sync(c, coll, key, window=window)
            if stats is not None:
                stats.append(time.time() - t)
            if col is None:
                return key, pages
            pages.append(col)
            self.assertLessEqual(len(col.commands), window)
            key = col.sync_key
            if not col.more_available:
                return key, pages
            self.assertTrue(col.commands, "MoreAvailable with an empty window")

    def initial(self, c, coll):
        """Key 0 and the full download: (key, {UID: (ServerId, fields)})."""
        key = self.first_sync(c, coll)
        key, pages = self.sync_all(c, coll, key)
        items = {}
        for p in pages:
            self.assertEqual(p.changes + p.deletes + p.soft_deletes, [])
            for sid, data in p.adds:
                f = eas.calendar_fields(data)
                self.assertNotIn(f.get("UID"), items)
                items[f["UID"]] = (sid, f)
        return key, items

    def assertQuiet(self, c, coll, key):
        """A Sync that has nothing to say: no Commands (an empty 14.0+ answer counts)."""
        col = self.sync(c, coll, key)
        if col is not None:
            self.assertFalse(col.commands, "unexpected commands: %r" % col.node)
            self.assertFalse(col.more_available)
            return col.sync_key
        return key

    def caldav_by_uid(self, cal, uid, user="alice"):
        """[(href, iCalendar text)] of the objects of a calendar with this exact UID."""
        body = ('<?xml version="1.0"?><C:calendar-query %s><D:prop><D:getetag/>'
                '<C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
                '<C:comp-filter name="VEVENT"><C:prop-filter name="UID"><C:text-match '
                'collation="i;octet">%s</C:text-match></C:prop-filter></C:comp-filter>'
                '</C:comp-filter></C:filter></C:calendar-query>' % (CALDAV, uid))
        r = self.req("REPORT", "/calendars/%s/%s/" % (user, cal), user=user, body=body,
                     headers={"Depth": "1", "Content-Type": "application/xml"})
        self.assertStatus(r, 207)
        out = []
        for resp in ET.fromstring(r.body).iter("{DAV:}response"):
            data = resp.find(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
            if data is None or not data.text:
                continue
            _, ev = master(data.text)
            if prop(ev, "UID")[1] == uid:
                out.append((resp.findtext("{DAV:}href"), data.text))
        return out

    def caldav_count(self, cal, user="alice"):
        r = self.req("PROPFIND", "/calendars/%s/%s/" % (user, cal), user=user,
                     headers={"Depth": "1"})
        self.assertStatus(r, 207)
        hrefs = [h.text for h in ET.fromstring(r.body).iter("{DAV:}href")]
        return len([h for h in hrefs if not h.endswith("/")])

    def assertItem(self, fields, subject, start, end, uid=None):
        self.assertEqual(fields.get("Subject"), subject)
        self.assertEqual(fields.get("StartTime"), eas.compact(start))
        self.assertEqual(fields.get("EndTime"), eas.compact(end))
        if uid is not None:
            self.assertEqual(fields.get("UID"), uid)

    # 1. first contact ------------------------------------------------------------------

    def test_1_first_contact_in_both_query_forms(self):
        probe = EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                          "PROBE0")
        self.addCleanup(probe.close)
        anon = probe.options(auth=False)
        self.assertEqual(anon.status, 401)
        self.assertRegex(anon.header("WWW-Authenticate") or "", r"^Basic realm=")
        self.assertEqual(anon.header("MS-ASProtocolVersions"), "12.1,14.0,14.1")
        r = probe.options()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("MS-ASProtocolVersions"), "12.1,14.0,14.1",
                         "16.x only with eas_protocol_16 = true")
        commands = {x.strip() for x in (r.header("MS-ASProtocolCommands") or "").split(",")}
        self.assertLessEqual(COMMANDS, commands)
        self.assertIsNotNone(r.header("MS-Server-ActiveSync"))
        # eas_keep_alive = false (the default): every answer closes its connection, so that a
        # Ping never waits on a connection whose whole memory pool libmicrohttpd has zeroed
        # by serving it before (issue 16 item 4); refusals too
        self.assertEqual((r.header("Connection") or "").lower(), "close")
        self.assertEqual((anon.header("Connection") or "").lower(), "close")
        self.assertEqual(probe.request("FolderSync", E("F:FolderSync", E("SyncKey", "0")),
                                       password="wrong").status, 401)

        seen = {}
        for form, device in (("plain", "FIRSTPLAIN01"), ("base64", "FIRSTB64DEV02")):
            with self.subTest(form):
                c = self.phone(device, form=form, provision=False, folders=False)
                r = c.folder_sync("0", policy_key=None)
                self.assertEqual(r.status, 449, "FolderSync before Provision")
                first, ack = c.provision()
                d = first.doc
                self.assertEqual(d.findtext("Status"), "1", d)
                self.assertEqual(d.findtext("Policies/Policy/PolicyType"),
                                 "MS-EAS-Provisioning-WBXML")
                self.assertEqual(d.findtext("Policies/Policy/Status"), "1", d)
                self.assertTrue(d.has("Policies/Policy/Data/EASProvisionDoc"), d)
                self.assertEqual(d.findtext("DeviceInformation/Status"), "1",
                                 "14.1 Provision carried DeviceInformation: %r" % d)
                temp = d.findtext("Policies/Policy/PolicyKey")
                final = ack.doc.findtext("Policies/Policy/PolicyKey")
                for key in (temp, final):
                    self.assertRegex(key, r"^[0-9]{1,10}$")
                    self.assertTrue(0 < int(key) < 2 ** 32, key)
                self.assertEqual(ack.doc.findtext("Status"), "1", ack.doc)
                self.assertEqual(ack.doc.findtext("Policies/Policy/Status"), "1", ack.doc)
                self.assertFalse(ack.doc.has("Policies/Policy/Data"), ack.doc)
                if temp != final:
                    r = c.folder_sync("0", policy_key=temp)
                    self.assertEqual(r.status, 449, "the temporary key is not a policy key")
                s = c.settings()
                self.assertEqual(s.status, 200, s)
                self.assertEqual(s.doc.findtext("Status"), "1", s.doc)
                self.assertEqual(s.doc.findtext("DeviceInformation/Status"), "1", s.doc)

                r = c.folder_sync("0")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
                key = r.doc.findtext("SyncKey")
                self.assertTrue(key and key != "0", r.doc)
                folders = EASClient.folders_of(r)
                self.assertEqual(r.doc.findtext("Changes/Count"), str(len(folders)))
                ids = [f["ServerId"] for f in folders]
                self.assertEqual(len(set(ids)), len(ids), "ServerIds are unique")
                for sid in ids:
                    self.assertTrue(sid and len(sid) <= 64, sid)
                cals = {f["DisplayName"]: f for f in folders if f.get("Type") in ("8", "13")}
                want = {BIG_NAME: "8"}
                want.update({n: "13" for n in SMALL})
                self.assertEqual({n: f["Type"] for n, f in cals.items()}, want)
                for f in cals.values():
                    self.assertEqual(f.get("ParentId"), "0", f)
                others = {(f["Type"], f["DisplayName"]) for f in folders
                          if f.get("Type") not in ("8", "13")}
                self.assertEqual(others, DUMMIES)
                self.assertEqual(len(folders), len(want) + len(DUMMIES))
                seen[form] = {f["DisplayName"]: f["ServerId"] for f in folders}

                r = c.folder_sync(key)
                self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
                self.assertEqual(EASClient.folders_of(r), [], "nothing changed since")
                self.assertIn(r.doc.findtext("Changes/Count"), (None, "0"))
        self.assertEqual(seen["plain"], seen["base64"], "folder ServerIds are stable")
        out = self.srv.cli("device", "list", "alice").stdout.upper()
        self.assertIn("FIRSTPLAIN01", out)
        self.assertIn("FIRSTB64DEV02", out)

        # 16.0 and 16.1 are offered only behind their setting; eas_keep_alive = true keeps
        # the connection open: the second OPTIONS comes on the same socket
        other = Server(users=("alice",), config="eas_protocol_16 = true\neas_keep_alive = true\n")
        try:
            p = EASClient("127.0.0.1", other.port, "alice", other.passwords["alice"], "V16")
            r = p.options()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.header("MS-ASProtocolVersions"), "12.1,14.0,14.1,16.0,16.1")
            self.assertIsNone(r.header("Connection"))
            kept = p.conn
            self.assertIsNotNone(kept, "the connection was kept open")
            self.assertEqual(p.options().status, 200)
            self.assertIs(p.conn, kept)
            p.close()
        finally:
            other.stop()

    def test_1b_every_advertised_version_syncs(self):
        for version in ("12.1", "14.0", "14.1"):
            for form in ("plain", "base64"):
                with self.subTest(version=version, form=form):
                    c = EASClient("127.0.0.1", self.srv.port, "alice",
                                  self.srv.passwords["alice"],
                                  "V%sX%s" % (version.replace(".", ""), form.upper()),
                                  version=version, form=form, oracle=ORACLE)
                    self.addCleanup(c.close)
                    first, _ = c.provision()
                    self.assertEqual(first.doc.findtext("Status"), "1", first.doc)
                    self.assertEqual(c.settings().doc.findtext("Status"), "1")
                    r = c.folder_sync("0")
                    self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
                    c.folders = {f["DisplayName"]: f for f in EASClient.folders_of(r)}
                    coll = self.cid(c, "misc")
                    key, items = self.initial(c, coll)
                    self.assertEqual(len(items), self.caldav_count("misc"))
                    sid, f = items["m-5@almanac.test"]
                    self.assertItem(f, "Misc 5", BASE + datetime.timedelta(days=5),
                                    BASE + datetime.timedelta(days=5, hours=1))
                    r = c.get_item_estimate(coll, key)
                    self.assertEqual(r.doc.findtext("Response/Status"), "1", r.doc)
                    self.assertEqual(r.doc.findtext("Response/Collection/Estimate"), "0")

    # 2. the initial sync of 20,000 events ----------------------------------------------

    def test_2_initial_sync_of_20000_events_in_windows_of_100(self):
        c = self.phone("BIGSYNC01")
        coll = self.cid(c, BIG_NAME)
        key = self.first_sync(c, coll)
        t0 = time.time()
        stats = []
        key, pages = self.sync_all(c, coll, key, stats=stats)
        elapsed = time.time() - t0
        print("\ninitial sync: %d windows in %.1f s (first %.3f s, last %.3f s)"
              % (len(pages), elapsed, stats[0], stats[-1]), file=sys.stderr)
        self.assertGreaterEqual(len(pages), N_BIG // WINDOW)
        self.assertFalse(pages[-1].more_available)
        for p in pages[:-1]:
            self.assertTrue(p.more_available)
        seen, sids = {}, set()
        for p in pages:
            self.assertEqual([k for k, _, _ in p.commands], ["Add"] * len(p.commands),
                             "an initial download is only Adds")
            for sid, data in p.adds:
                self.assertTrue(sid and len(sid) <= 64, sid)
                self.assertNotIn(sid, sids, "ServerId twice")
                sids.add(sid)
                f = eas.calendar_fields(data)
                uid = f.get("UID")
                self.assertIn(uid, self.expected, "an item nobody PUT")
                self.assertNotIn(uid, seen, "UID twice: " + uid)
                seen[uid] = f
        self.assertEqual(set(seen), set(self.expected))
        for uid, f in seen.items():
            with self.subTest(uid):
                self.check_big_item(self.expected[uid], f)
        self.assertQuiet(c, coll, key)

    def check_big_item(self, exp, f):
        self.assertEqual(f.get("Subject"), exp["subject"])
        if "location" in exp:
            self.assertEqual(f.get("Location"), exp["location"])
        if "body" in exp:
            self.assertEqual(f.get("Body", {}).get("Type"), "1", f)
            self.assertEqual(f["Body"].get("Data"), exp["body"])
        if exp["kind"] == "allday":
            self.assertEqual(f.get("AllDayEvent"), "1")
            self.assertIn("Timezone", f, "≤14.1 all-day items carry the zone of their midnights")
            start = eas.parse_compact(f["StartTime"])
            end = eas.parse_compact(f["EndTime"])
            day = datetime.datetime.combine(exp["date"], datetime.time())
            self.assertEqual(eas.blob_utc_to_local(start, f["Timezone"]), day)
            self.assertEqual(eas.blob_utc_to_local(end, f["Timezone"]),
                             day + datetime.timedelta(days=1))
            return
        self.assertIn(f.get("AllDayEvent"), (None, "0"))
        self.assertEqual(f.get("StartTime"), eas.compact(exp["start"]))
        self.assertEqual(f.get("EndTime"), eas.compact(exp["end"]))
        if exp["kind"] == "berlin":
            self.assertIn("Timezone", f)
            self.assertEqual(eas.blob_utc_to_local(exp["start"], f["Timezone"]), exp["local"],
                             "the Timezone blob describes Europe/Berlin")
        if exp["kind"] == "series":
            rec = f.get("Recurrence")
            self.assertIsNotNone(rec, f)
            self.assertEqual(rec.get("Type"), "1")
            self.assertEqual(rec.get("Occurrences"), "10")
            self.assertIn(rec.get("Interval"), (None, "1"))
            self.assertEqual(rec.get("DayOfWeek"), str(WEEKDAY_BIT[exp["start"].weekday()]))
            self.assertNotIn("Until", rec)
            exc = f.get("Exceptions") or []
            deleted = [e for e in exc if e.get("Deleted") == "1"]
            moved = [e for e in exc if e.get("Deleted") != "1"]
            self.assertEqual([e.get("ExceptionStartTime") for e in deleted],
                             [eas.compact(exp["cancelled"])])
            self.assertEqual(len(moved), 1, exc)
            m = moved[0]
            self.assertEqual(m.get("ExceptionStartTime"), eas.compact(exp["moved"]))
            self.assertEqual(m.get("StartTime"),
                             eas.compact(exp["moved"] + datetime.timedelta(hours=2)))
            self.assertEqual(m.get("EndTime"),
                             eas.compact(exp["moved"] + datetime.timedelta(hours=3)))
            self.assertEqual(m.get("Subject"), exp["moved_subject"])
        else:
            self.assertNotIn("Recurrence", f)

    # 3. changes from CalDAV and the /exchange view -------------------------------------

    def test_3_caldav_and_exchange_changes_arrive_as_add_change_delete(self):
        c = self.phone("CHANGES01")
        coll = self.cid(c, "changes")
        key, items = self.initial(c, coll)
        self.assertEqual(set(items), {"ch-%d@almanac.test" % i for i in range(6)})
        key = self.assertQuiet(c, coll, key)
        sid = {uid.split("@")[0]: s for uid, (s, _) in items.items()}
        t_new = BASE + datetime.timedelta(days=30, hours=1)
        t_mod = BASE + datetime.timedelta(days=40, hours=2)
        self.caldav_put("changes", "ch-new.ics", simple_event("ch-new@almanac.test",
                                                             "New via CalDAV", t_new))
        self.caldav_put("changes", "ch-1.ics", simple_event("ch-1@almanac.test",
                                                           "Changed via CalDAV", t_mod))
        self.assertStatus(self.req("DELETE", "/calendars/alice/changes/ch-2.ics"), 204)
        # created and deleted between two syncs: the phone never hears of it
        self.caldav_put("changes", "ch-gone.ics", simple_event("ch-gone@almanac.test", "Gone",
                                                              t_new))
        self.assertStatus(self.req("DELETE", "/calendars/alice/changes/ch-gone.ics"), 204)
        self.caldav_put("changes", "ex-new.ics", simple_event("ex-new@almanac.test",
                                                             "New via Exchange", t_new,
                                                             hours=2), view="exchange")
        self.caldav_put("changes", "ch-3.ics", simple_event("ch-3@almanac.test",
                                                           "Changed via Exchange", t_mod,
                                                           hours=3), view="exchange")
        self.assertStatus(self.req("DELETE", "/exchange/alice/changes/ch-4.ics"), 204)

        key, pages = self.sync_all(c, coll, key)
        adds = {eas.calendar_fields(d)["UID"]: (s, eas.calendar_fields(d))
                for p in pages for s, d in p.adds}
        changes = {s: eas.calendar_fields(d) for p in pages for s, d in p.changes}
        deletes = [s for p in pages for s in p.deletes]
        self.assertEqual(sum(len(p.changes) for p in pages), len(changes), "a Change twice")
        self.assertEqual(set(adds), {"ch-new@almanac.test", "ex-new@almanac.test"})
        self.assertItem(adds["ch-new@almanac.test"][1], "New via CalDAV", t_new,
                        t_new + datetime.timedelta(hours=1))
        self.assertItem(adds["ex-new@almanac.test"][1], "New via Exchange", t_new,
                        t_new + datetime.timedelta(hours=2))
        for s, _ in adds.values():
            self.assertNotIn(s, sid.values(), "a new item reuses a ServerId")
        self.assertEqual(set(changes), {sid["ch-1"], sid["ch-3"]})
        self.assertItem(changes[sid["ch-1"]], "Changed via CalDAV", t_mod,
                        t_mod + datetime.timedelta(hours=1), "ch-1@almanac.test")
        self.assertItem(changes[sid["ch-3"]], "Changed via Exchange", t_mod,
                        t_mod + datetime.timedelta(hours=3), "ch-3@almanac.test")
        self.assertEqual(sorted(deletes), sorted([sid["ch-2"], sid["ch-4"]]))
        self.assertEqual([s for p in pages for s in p.soft_deletes], [])
        self.assertQuiet(c, coll, key)

    # 4. the phone's own writes ---------------------------------------------------------

    def test_4_phone_add_change_delete_seen_through_caldav_and_not_echoed(self):
        c = self.phone("PHONEW01")
        coll = self.cid(c, "phone")
        key, items = self.initial(c, coll)
        self.assertEqual(items, {})
        s1 = datetime.datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
        s2 = datetime.datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 12:00 in Berlin (CEST)
        add1 = E("A:Add", E("ClientId", "c-1"), eas.calendar_appdata(
            "Dentist", s1, s1 + datetime.timedelta(hours=1), uid="phone-add-one@device",
            location="Clinic", body="bring the card", reminder=15))
        add2 = E("A:Add", E("ClientId", "c-2"), eas.calendar_appdata(
            "Lunch", s2, s2 + datetime.timedelta(minutes=90), uid="phone-add-two@device",
            tz=eas.TZ_BERLIN))
        col = self.sync(c, coll, key, commands=[add1, add2])
        self.assertIsNotNone(col, "an answer to client Adds")
        self.assertFalse(col.commands, "the phone's own Adds are not echoed: %r" % col.node)
        resp = {r["ClientId"]: r for r in col.responses if r["kind"] == "Add"}
        self.assertEqual(set(resp), {"c-1", "c-2"}, col.node)
        for r in resp.values():
            self.assertEqual(r["Status"], 1, col.node)
            self.assertTrue(r["ServerId"] and len(r["ServerId"]) <= 64, r)
        sid1, sid2 = resp["c-1"]["ServerId"], resp["c-2"]["ServerId"]
        self.assertNotEqual(sid1, sid2)
        key = col.sync_key

        (href1, ics1), = self.caldav_by_uid("phone", "phone-add-one@device")
        lines, ev = master(ics1)
        self.assertEqual(prop(ev, "SUMMARY")[1], "Dentist")
        self.assertEqual(prop(ev, "LOCATION")[1], "Clinic")
        self.assertEqual(prop(ev, "DESCRIPTION")[1], "bring the card")
        self.assertEqual(instant(lines, ev, "DTSTART"), s1)
        self.assertEqual(instant(lines, ev, "DTEND"), s1 + datetime.timedelta(hours=1))
        alarms = components(lines, "VALARM")
        self.assertTrue(alarms, "Reminder 15 is a VALARM")
        params, trigger = prop(alarms[0], "TRIGGER")
        self.assertEqual(duration(trigger), -datetime.timedelta(minutes=15))
        self.assertIn(params.get("RELATED", "START"), ("START",))
        (href2, ics2), = self.caldav_by_uid("phone", "phone-add-two@device")
        lines, ev = master(ics2)
        self.assertEqual(prop(ev, "SUMMARY")[1], "Lunch")
        self.assertEqual(instant(lines, ev, "DTSTART"), s2)
        self.assertEqual(instant(lines, ev, "DTEND"), s2 + datetime.timedelta(minutes=90))

        s1b = datetime.datetime(2026, 3, 11, 14, 0, tzinfo=UTC)
        change = E("A:Change", E("ServerId", sid1), eas.calendar_appdata(
            "Dentist (moved)", s1b, s1b + datetime.timedelta(hours=1),
            uid="phone-add-one@device", location="Clinic", body="bring the card",
            reminder=15))
        delete = E("A:Delete", E("ServerId", sid2))
        col = self.sync(c, coll, key, commands=[change, delete])
        self.assertIsNotNone(col)
        self.assertFalse(col.commands, "the phone's own Change/Delete are not echoed")
        for r in col.responses:
            self.assertEqual(r["Status"], 1, "Change/Delete answer only on failure: %r"
                             % col.node)
        key = col.sync_key
        (href, ics), = self.caldav_by_uid("phone", "phone-add-one@device")
        self.assertEqual(href, href1, "a Change keeps the resource")
        lines, ev = master(ics)
        self.assertEqual(prop(ev, "SUMMARY")[1], "Dentist (moved)")
        self.assertEqual(instant(lines, ev, "DTSTART"), s1b)
        self.assertEqual(instant(lines, ev, "DTEND"), s1b + datetime.timedelta(hours=1))
        self.assertEqual(self.caldav_by_uid("phone", "phone-add-two@device"), [])
        self.assertStatus(self.req("GET", href2), 404)
        self.assertEqual(self.caldav_count("phone"), 1)
        self.assertQuiet(c, coll, key)

        # another device of the same user sees the result of the phone's writes
        other = self.phone("PHONEW02")
        _, items = self.initial(other, coll)
        self.assertEqual(set(items), {"phone-add-one@device"})
        _, f = items["phone-add-one@device"]
        self.assertItem(f, "Dentist (moved)", s1b, s1b + datetime.timedelta(hours=1))

    # 5. retransmission -----------------------------------------------------------------

    def test_5_resent_key_gets_the_same_answer_and_no_duplicate(self):
        c = self.phone("RETX01")
        coll = self.cid(c, "retx")
        k1, items = self.initial(c, coll)
        self.assertEqual(items, {})
        t = BASE + datetime.timedelta(days=3)
        self.caldav_put("retx", "server-1.ics", simple_event("retx-server-1@almanac.test",
                                                            "From the server", t))
        add = E("A:Add", E("ClientId", "r-1"), eas.calendar_appdata(
            "Retransmitted", t, t + datetime.timedelta(hours=1), uid="retx-phone-1@device"))

        def answer(col):
            return (col.sync_key, col.more_available,
                    sorted((r["kind"], r["ClientId"], r["ServerId"], r["Status"])
                           for r in col.responses),
                    {(k, s): d for k, s, d in col.commands})

        a = self.sync(c, coll, k1, commands=[add])
        self.assertIsNotNone(a)
        self.assertEqual([eas.calendar_fields(d)["UID"] for _, d in a.adds],
                         ["retx-server-1@almanac.test"])
        self.assertEqual([(r["kind"], r["ClientId"], r["Status"]) for r in a.responses],
                         [("Add", "r-1", 1)])
        # the answer is lost; the phone sends the same request again
        b = self.sync(c, coll, k1, commands=[add])
        self.assertIsNotNone(b)
        self.assertEqual(answer(b), answer(a), "a resent key gets the same answer")
        self.assertEqual(len(self.caldav_by_uid("retx", "retx-phone-1@device")), 1,
                         "the resent Add created no duplicate")
        self.assertEqual(self.caldav_count("retx"), 2)
        k2 = a.sync_key
        k2 = self.assertQuiet(c, coll, k2)
        # move on by one real window: k1 is now neither the current nor the previous key
        self.caldav_put("retx", "server-2.ics", simple_event("retx-server-2@almanac.test",
                                                            "Second", t))
        col = self.sync(c, coll, k2)
        self.assertIsNotNone(col)
        self.assertEqual([eas.calendar_fields(d)["UID"] for _, d in col.adds],
                         ["retx-server-2@almanac.test"])
        res = c.sync(coll, k1, get_changes=True)
        self.assertEqual(res.collections[coll].status, 3, res.resp)
        self.assertEqual(self.caldav_count("retx"), 3)

    # 6. Ping ---------------------------------------------------------------------------

    def test_6_ping_wakes_on_a_write_expires_and_checks_its_heartbeat(self):
        c = self.phone("PING01")
        coll = self.cid(c, "ping")
        key, items = self.initial(c, coll)
        self.assertEqual(set(items), {"p-0@almanac.test"})
        folders = [(coll, "Calendar")]
        for bad in (3541, 100000):
            r = c.ping(bad, folders)
            self.assertEqual(r.doc.findtext("Status"), "5", r.doc)
            self.assertEqual(r.doc.findtext("HeartbeatInterval"), "3540", r.doc)

        # another client writes through CalDAV while the Ping waits: the writer waits for
        # almanacd to log that the Ping is registered with the hub (a real condition, not a
        # sleep). The heartbeat (600 s) is far longer than the generous bound on the answer
        # (120 s), so Status 2 in time can only come from the write waking the Ping.
        written = {}
        offset = os.path.getsize(self.srv.log_path)

        def writer():
            deadline = time.time() + 120
            while " eas wait " not in self.log_since(offset):
                if time.time() > deadline:
                    return
                time.sleep(0.05)
            written["waiting"] = True
            self.caldav_put("ping", "p-1.ics", simple_event("p-1@almanac.test", "Wake up",
                                                           BASE))
            written["at"] = time.time()

        th = threading.Thread(target=writer)
        th.start()
        try:
            r = c.ping(600, folders, timeout=300)
        finally:
            th.join()
        self.assertIn("waiting", written, "the Ping never waited (no 'eas wait' log line)")
        self.assertIn("at", written)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.doc.findtext("Status"), "2", r.doc)
        self.assertEqual([f.text for f in r.doc.findall("Folders/Folder")], [coll])
        self.assertLess(time.time() - written["at"], 120, "Ping returns after the write")

        # a change already waiting: Status 2 without waiting out the heartbeat
        self.caldav_put("ping", "p-2.ics", simple_event("p-2@almanac.test", "Waiting", BASE))
        t0 = time.time()
        r = c.ping(600, folders, timeout=300)
        self.assertEqual(r.doc.findtext("Status"), "2", r.doc)
        self.assertLess(time.time() - t0, 120)

        key, pages = self.sync_all(c, coll, key)
        self.assertEqual(sorted(eas.calendar_fields(d)["UID"] for p in pages for _, d in p.adds),
                         ["p-1@almanac.test", "p-2@almanac.test"])
        # nothing changes: the heartbeat expires
        t0 = time.time()
        r = c.ping(2, folders, timeout=120)
        took = time.time() - t0
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        self.assertGreater(took, 1.5)
        self.assertLess(took, 120)
        # a Ping without a body reuses the cached interval and folders (§3.5)
        t0 = time.time()
        r = c.request("Ping", None, timeout=120)
        took = time.time() - t0
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        self.assertGreater(took, 1.5)
        self.assertLess(took, 120)

    # 7. documented errors --------------------------------------------------------------

    def test_7a_invalid_sync_keys(self):
        c = self.phone("BADKEY01")
        coll = self.cid(c, "misc")
        k1 = self.first_sync(c, coll)
        for bad in ("999999999999999999", "garbage", "-1", k1 + "0", "1" * 64):
            if bad == k1:
                continue
            with self.subTest(bad):
                res = c.sync(coll, bad, get_changes=True)
                self.assertEqual(res.http_status, 200, res.resp)
                self.assertEqual(res.collections[coll].status, 3, res.resp)
        for bad in ("garbage", "98765432109876"):
            with self.subTest(folder_key=bad):
                r = c.folder_sync(bad)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.doc.findtext("Status"), "9", r.doc)
        # the device starts over with 0 and goes on
        _, items = self.initial(c, coll)
        self.assertTrue(items)

    def test_7b_malformed_and_truncated_wbxml_is_400(self):
        c = self.phone("MALFORMED01")
        coll = self.cid(c, "misc")
        key = self.first_sync(c, coll)
        good_sync = eas.encode(c.sync_request([{
            "key": key, "id": coll, "get_changes": True, "window": 5,
            "options": EASClient.calendar_options(),
            "commands": [E("A:Add", E("ClientId", "x"), eas.calendar_appdata(
                "Never stored", BASE, BASE + datetime.timedelta(hours=1),
                uid="truncated-add@device"))]}]))
        bad = [
            ("Sync", b"this is not WBXML"),
            ("Sync", b"\x03\x01\x04\x00" + good_sync[4:]),           # charset not UTF-8
            ("Sync", b"\x03\x01\x6a\x02\x41\x42" + good_sync[4:]),   # a string table
            ("Sync", good_sync[:4] + b"\xc5\x01"),                   # attributes
            ("Sync", good_sync[:4] + b"\x00\x1a\x45\x01"),           # code page 26
            ("Sync", good_sync[:4] + b"\x45\x02\x01"),               # ENTITY
            ("Sync", good_sync + b"\x01\x01"),                       # END after the root
            ("FolderSync", b"\x03\x01\x6a\x00\x00\x07\x56\x52\x03\x30\x01\x01"),  # no NUL
            ("Ping", b"\x03\x01\x6a\x00\x00\x0d\x45\x48\xc3\x80\x80\x80\x80\x10"),  # OPAQUE len
            ("FolderSync", eas.encode(E("A:Sync", E("Collections")))),  # wrong root
        ]
        for cmd, data in bad:
            with self.subTest(cmd=cmd, data=data.hex()):
                r = c.request(cmd, data, raw=True)
                self.assertEqual(r.status, 400, r)
        docs = {
            "Sync": good_sync,
            "FolderSync": eas.encode(E("F:FolderSync", E("SyncKey", c.folder_key))),
            "Ping": eas.encode(E("N:Ping", E("HeartbeatInterval", "3541"), E(
                "Folders", E("Folder", E("Id", coll), E("Class", "Calendar"))))),
            "GetItemEstimate": eas.encode(E("G:GetItemEstimate", E("Collections", E(
                "Collection", E("A:SyncKey", key), E("G:CollectionId", coll),
                E("A:Options", E("FilterType", "0")))))),
            "ItemOperations": eas.encode(E("I:ItemOperations", E("Fetch", E("Store", "Mailbox"),
                                                                 E("A:CollectionId", coll),
                                                                 E("A:ServerId", "x")))),
            "Settings": eas.encode(E("S:Settings", c.device_information())),
            "Provision": eas.encode(c.provision_request()),
        }
        for cmd, data in docs.items():
            cuts = range(1, len(data)) if cmd == "Sync" else sorted(
                {1, 3, 4, 5, len(data) // 2, len(data) - 2, len(data) - 1})
            for n in cuts:
                with self.subTest(cmd=cmd, cut=n):
                    r = c.request(cmd, data[:n], raw=True)
                    self.assertEqual(r.status, 400, "%s cut at %d of %d: %r"
                                     % (cmd, n, len(data), r))
        self.assertEqual(self.caldav_by_uid("misc", "truncated-add@device"), [])
        # the server is unharmed and the device's state untouched
        col = self.sync(c, coll, key, window=5)
        self.assertIsNotNone(col)
        self.assertEqual(len(col.adds), 5)

    def test_7c_unknown_folder_is_12_7_and_2(self):
        c = self.phone("UNKNOWN01")
        for key in ("0", "1000000000001"):
            res = c.sync("no-such-folder", key, get_changes=key != "0")
            self.assertEqual(res.http_status, 200, res.resp)
            self.assertEqual(res.only().status, 12, res.resp)
        r = c.ping(60, [("no-such-folder", "Calendar")])
        self.assertEqual(r.doc.findtext("Status"), "7", r.doc)
        r = c.get_item_estimate("no-such-folder", "1000000000001")
        self.assertEqual(r.doc.findtext("Response/Status"), "2", r.doc)

    def test_7c2_device_information_over_the_store_limit_is_status_5_issue_14(self):
        # MS-ASCMD 2.2.3.177.15: a DeviceInformation value the server cannot keep is Status 5
        # (Invalid arguments), never a 500 (the store keeps 1 KiB per field); a Provision
        # carrying it (MS-ASPROV 2.2.2.53) still hands out its policy
        c = self.phone("DEVINFOBIG01", provision=False, folders=False)
        big = "X" * 4096

        def info(*fields):
            return E("S:DeviceInformation", E("S:Set", *[E("S:" + f, v) for f, v in fields]))

        first = c.request("Provision", E("P:Provision", info(("Model", "AlmanacPhone1"),
                                                              ("OS", big)),
                                         E("P:Policies", E("P:Policy", E(
                                             "P:PolicyType", "MS-EAS-Provisioning-WBXML")))),
                          policy_key=None)
        self.assertEqual(first.status, 200, first)
        self.assertEqual(first.doc.findtext("DeviceInformation/Status"), "5", first.doc)
        self.assertEqual(first.doc.findtext("Status"), "1", first.doc)
        self.assertEqual(first.doc.findtext("Policies/Policy/Status"), "1", first.doc)
        self.assertTrue(first.doc.findtext("Policies/Policy/PolicyKey"), first.doc)
        c.provision()
        for field in ("Model", "FriendlyName", "OS", "OSLanguage", "MobileOperator"):
            s = c.request("Settings", E("S:Settings", info((field, big))))
            self.assertEqual(s.status, 200, (field, s))
            self.assertEqual(s.doc.findtext("Status"), "1", s.doc)
            self.assertEqual(s.doc.findtext("DeviceInformation/Status"), "5", (field, s.doc))
        s = c.request("Settings", E("S:Settings", info(("Model", "M" * 1024))))
        self.assertEqual(s.status, 200, s)
        self.assertEqual(s.doc.findtext("DeviceInformation/Status"), "1", s.doc)
        listing = self.srv.cli("device", "list", "alice").stdout
        line = [x for x in listing.splitlines() if "DEVINFOBIG01" in x]
        self.assertEqual(len(line), 1, listing)
        self.assertIn("M" * 1024, line[0])
        self.assertNotIn("XXXX", line[0])

    def test_7c3_a_long_user_agent_is_shortened_not_refused_issue_14(self):
        # the registry keeps 1 KiB of User-Agent; a longer one used to make the store's limit
        # answer read as the device cap (403 eas-device-limit) on every request
        c = self.phone("LONGUA01", folders=False)
        r = c.folder_sync("0", headers={"User-Agent": "Almanac-" + "U" * 4096})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        r = c.folder_sync("0")
        self.assertEqual(r.status, 200, r)

    def test_7c4_device_text_not_utf8_lists_as_question_marks_issue_14(self):
        # a Model of bytes that are not UTF-8, with a C1 control (CSI) inside: the device list
        # stays decodable and shows neither (test_activesync_state's mutated Settings hit the
        # first intermittently)
        c = self.phone("BADTEXT01", folders=False)
        body = eas.encode(E("S:Settings", E("S:DeviceInformation", E("S:Set",
                                                                      E("S:Model", "ZZZZZZ")))))
        body = body.replace(b"ZZZZZZ", b"Bad\xc7(\xc2\x9b[31m")
        s = c.request("Settings", body, raw=True)
        self.assertEqual(s.status, 200, s)
        listing = self.srv.cli("device", "list", "alice").stdout  # decodes as UTF-8, strictly
        line = [x for x in listing.splitlines() if "BADTEXT01" in x]
        self.assertEqual(len(line), 1, listing)
        self.assertIn("\tBad?(?[31m", line[0])

    def test_7c5_folder_name_not_utf8_is_status_10_issue_10(self):
        # a folder's DisplayName is kept as the calendar's displayname, which is text: bytes
        # that are not UTF-8 are a malformed request (Status 10), on every engine (PostgreSQL's
        # text refused them with a 503; SQLite kept a property that is no XML)
        c = self.phone("BADNAME01")
        body = eas.encode(E("F:FolderCreate", E("SyncKey", c.folder_key), E("ParentId", "0"),
                            E("DisplayName", "ZZZZ"), E("Type", "13")))
        r = c.request("FolderCreate", body.replace(b"ZZZZ", b"Caf\xe9"), raw=True)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(eas.decode(r.body).findtext("Status"), "10")
        r = c.request("FolderCreate", E("F:FolderCreate", E("SyncKey", c.folder_key),
                                         E("ParentId", "0"), E("DisplayName", "Caf\u00e9"),
                                         E("Type", "13")))
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        c.folder_key, fid = r.doc.findtext("SyncKey"), r.doc.findtext("ServerId")
        body = eas.encode(E("F:FolderUpdate", E("SyncKey", c.folder_key), E("ServerId", fid),
                            E("ParentId", "0"), E("DisplayName", "ZZZZ")))
        r = c.request("FolderUpdate", body.replace(b"ZZZZ", b"\xff\xfe"), raw=True)
        self.assertEqual(eas.decode(r.body).findtext("Status"), "10")
        names = [f["DisplayName"] for f in EASClient.folders_of(c.folder_sync("0"))]
        self.assertIn("Caf\u00e9", names)
        self.assertEqual([n for n in names if "\ufffd" in n or n.startswith("Caf") and
                          n != "Caf\u00e9"], [])

    def test_7d_bad_or_missing_policy_key_is_449(self):
        c = self.phone("POLICY01")
        coll = self.cid(c, "misc")
        wrong = str(int(c.policy_key) % (2 ** 32 - 1) + 1)
        fs = E("F:FolderSync", E("SyncKey", "0"))
        for key in (wrong, None, "0"):
            with self.subTest(key=key):
                self.assertEqual(c.request("FolderSync", fs, policy_key=key).status, 449)
                self.assertEqual(c.sync(coll, "0", policy_key=key).http_status, 449)
                self.assertEqual(c.request("GetItemEstimate", eas.encode(E(
                    "G:GetItemEstimate", E("Collections", E("Collection",
                                                            E("A:SyncKey", "0"),
                                                            E("G:CollectionId", coll))))),
                                           policy_key=key).status, 449)
                self.assertEqual(c.request("ItemOperations", E(
                    "I:ItemOperations", E("Fetch", E("Store", "Mailbox"),
                                          E("A:CollectionId", coll), E("A:ServerId", "x"))),
                                           policy_key=key).status, 449)
        # exempt: Settings with DeviceInformation and Ping
        s = c.request("Settings", E("S:Settings", c.device_information()), policy_key=None)
        self.assertEqual(s.status, 200, s)
        self.assertEqual(s.doc.findtext("Status"), "1", s.doc)
        p = c.request("Ping", E("N:Ping", E("HeartbeatInterval", "3541"), E(
            "Folders", E("Folder", E("Id", coll), E("Class", "Calendar")))), policy_key=None)
        self.assertEqual(p.status, 200, p)
        # the same in the base64 form, where the key travels inside the query
        b = self.phone("POLICYB6401", form="base64")
        b_wrong = str(int(b.policy_key) % (2 ** 32 - 1) + 1)
        self.assertEqual(b.request("FolderSync", fs, policy_key=b_wrong).status, 449)
        self.assertEqual(b.request("FolderSync", fs, policy_key=None).status, 449)
        self.assertEqual(b.request("FolderSync", fs).status, 200)
        # and the right key still works, whatever the case of the DeviceId (§1.1)
        self.assertEqual(c.request("FolderSync", fs).status, 200)
        c.device_id = c.device_id.lower()
        self.assertEqual(c.request("FolderSync", fs).status, 200)

    def test_7e_item_estimate_counts_exactly_and_keeps_the_key(self):
        c = self.phone("ESTIMATE01")
        coll = self.cid(c, "misc")
        key, items = self.initial(c, coll)

        def estimate(k):
            r = c.get_item_estimate(coll, k)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.doc.findtext("Response/Status"), "1", r.doc)
            self.assertEqual(r.doc.findtext("Response/Collection/CollectionId"), coll)
            return int(r.doc.findtext("Response/Collection/Estimate"))

        self.assertEqual(estimate(key), 0)
        t = BASE + datetime.timedelta(days=50)
        for i in range(3):
            self.caldav_put("misc", "est-%d.ics" % i, simple_event("est-%d@almanac.test" % i,
                                                                  "Estimated %d" % i, t))
        self.caldav_put("misc", "m-1.ics", simple_event("m-1@almanac.test", "Misc 1 changed", t))
        self.assertStatus(self.req("DELETE", "/calendars/alice/misc/m-2.ics"), 204)
        self.assertEqual(estimate(key), 5)
        self.assertEqual(estimate(key), 5, "GetItemEstimate does not advance the key")
        r = c.get_item_estimate(coll, "999999999999999999")
        self.assertEqual(r.doc.findtext("Response/Status"), "4", r.doc)
        key2, pages = self.sync_all(c, coll, key)
        self.assertEqual(sum(len(p.adds) for p in pages), 3)
        self.assertEqual([s for p in pages for s, _ in p.changes], [items["m-1@almanac.test"][0]])
        self.assertEqual([s for p in pages for s in p.deletes], [items["m-2@almanac.test"][0]])
        self.assertEqual(estimate(key2), 0)

    def test_7f_itemoperations_fetch_returns_the_item(self):
        c = self.phone("FETCH01")
        coll = self.cid(c, "misc")
        _, items = self.initial(c, coll)
        sid, f = items["m-5@almanac.test"]
        r = c.fetch(coll, sid)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        fetch = r.doc.find("Response/Fetch")
        self.assertIsNotNone(fetch, r.doc)
        self.assertEqual(fetch.findtext("Status"), "1", r.doc)
        self.assertEqual(fetch.findtext("ServerId"), sid)
        self.assertEqual(fetch.findtext("CollectionId"), coll)
        p = eas.calendar_fields(fetch.find("Properties"))
        for name in ("Subject", "UID", "StartTime", "EndTime", "Location"):
            self.assertEqual(p.get(name), f.get(name), name)
        self.assertEqual(p["Subject"], "Misc 5")
        self.assertEqual(p["Location"], "Desk 5")
        self.assertEqual(p.get("Body", {}).get("Data"), "notes for m-5")
        r = c.fetch(coll, "no-such-item")
        self.assertEqual(r.status, 200, r)
        statuses = [r.doc.findtext("Status"), r.doc.findtext("Response/Fetch/Status")]
        self.assertIn("6", statuses, r.doc)
        self.assertIsNone(r.doc.find("Response/Fetch/Properties"))

    def test_7g_change_or_delete_of_an_unknown_item_is_8(self):
        c = self.phone("UNKNOWNITEM01")
        coll = self.cid(c, "misc")
        key = self.first_sync(c, coll)
        before = self.caldav_count("misc")
        change = E("A:Change", E("ServerId", "no-such-item-1"), eas.calendar_appdata(
            "Ghost", BASE, BASE + datetime.timedelta(hours=1)))
        delete = E("A:Delete", E("ServerId", "no-such-item-2"))
        res = c.sync(coll, key, get_changes="0", commands=[change, delete],
                     options=EASClient.calendar_options())
        col = res.collections[coll]
        self.assertEqual(col.status, 1, res.resp)
        got = sorted((r["kind"], r["ServerId"], r["Status"]) for r in col.responses)
        self.assertEqual(got, [("Change", "no-such-item-1", 8), ("Delete", "no-such-item-2", 8)])
        self.assertEqual(self.caldav_count("misc"), before, "nothing was created or deleted")

    def test_7h_sync_wait_and_heartbeat_out_of_range_is_14(self):
        c = self.phone("LIMITS01")
        coll = self.cid(c, "misc")
        key = self.first_sync(c, coll)
        for kw, limit in (({"heartbeat": 3541}, "3540"), ({"wait": 60}, "59")):
            with self.subTest(kw=kw):
                body = c.sync_request([{"key": key, "id": coll, "get_changes": True}], **kw)
                r = c.request("Sync", body)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.doc.findtext("Status"), "14", r.doc)
                self.assertEqual(r.doc.findtext("Limit"), limit, r.doc)

    # 8. isolation ----------------------------------------------------------------------

    def test_8_bob_never_sees_alice(self):
        alice = self.phone("ALICEISO01")
        alice_cals = {n: f["ServerId"] for n, f in alice.folders.items()
                      if f["Type"] in ("8", "13")}
        _, alice_items = self.initial(alice, alice_cals["misc"])
        bob = self.phone("BOBISO01", user="bob")
        cals = {n: f for n, f in bob.folders.items() if f["Type"] in ("8", "13")}
        self.assertEqual({n: f["Type"] for n, f in cals.items()}, {BOB_NAME: "8"})
        self.assertEqual({(f["Type"], n) for n, f in bob.folders.items()
                          if f["Type"] not in ("8", "13")}, DUMMIES)
        for name in alice_cals:
            self.assertNotIn(name, bob.folders)
        bob_ids = {f["ServerId"] for f in bob.folders.values()}
        foreign = [sid for sid in alice_cals.values() if sid not in bob_ids]
        self.assertTrue(foreign, "alice's folder ids all coincide with bob's")
        for sid in foreign:
            with self.subTest(sid):
                res = bob.sync(sid, "0", options=EASClient.calendar_options())
                self.assertEqual(res.only().status, 12, res.resp)
                r = bob.get_item_estimate(sid, "1000000000001")
                self.assertEqual(r.doc.findtext("Response/Status"), "2", r.doc)
        r = bob.ping(60, [(sid, "Calendar") for sid in foreign])
        self.assertEqual(r.doc.findtext("Status"), "7", r.doc)
        misc = alice_cals["misc"]
        if misc in foreign:
            sid, _ = alice_items["m-3@almanac.test"]
            r = bob.fetch(misc, sid)
            self.assertEqual(r.status, 200, r)
            self.assertNotIn(b"Misc 3", r.body)
            self.assertIsNone(r.doc.find("Response/Fetch/Properties"), r.doc)
            self.assertNotEqual(r.doc.findtext("Response/Fetch/Status"), "1", r.doc)
        # bob's own calendar holds only bob's item
        _, items = self.initial(bob, cals[BOB_NAME]["ServerId"])
        self.assertEqual(set(items), {"bob-only-1@almanac.test"})
        # the query's User names alice, the credentials are bob's: still bob's view
        spoof = self.phone("BOBISO02", user="bob", provision=False, folders=False)
        spoof.query_user = "alice"
        r = spoof.folder_sync("0", policy_key=None)
        if r.status == 449:
            try:
                spoof.provision()
            except eas.ProtocolError:
                pass  # refusing a User= that is not the authenticated one is fine too
            r = spoof.folder_sync("0")
        if r.status == 200 and r.doc is not None:
            names = {f["DisplayName"] for f in EASClient.folders_of(r)}
            self.assertFalse(names & set(alice_cals), names)
        self.assertNotIn(BIG_NAME.encode(), r.body)

    # 9. device state lives in the store ------------------------------------------------

    def restart_server(self):
        """SIGTERM almanacd (it must exit 0) and start it again on the same data directory."""
        srv = self.srv
        srv.proc.send_signal(signal.SIGTERM)
        self.assertEqual(srv.proc.wait(timeout=30), 0, "almanacd exits cleanly on SIGTERM")
        port_file = os.path.join(srv.dir, "port")
        os.remove(port_file)
        srv.proc = subprocess.Popen(srv.proc.args, stderr=srv.log, stdout=srv.log)
        deadline = time.time() + 20
        while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
            if srv.proc.poll() is not None or time.time() > deadline:
                self.fail("almanacd did not come back: " + srv.read_log()[-2000:])
            time.sleep(0.05)
        with open(port_file) as f:
            srv.port = int(f.read().strip())

    def test_9_a_restart_loses_no_device_state(self):
        c = self.phone("RESTART01")
        coll = self.cid(c, "restart")
        key, items = self.initial(c, coll)
        self.assertEqual(len(items), 3)
        self.caldav_put("restart", "r-new.ics", simple_event("r-new@almanac.test", "After",
                                                            BASE))
        self.restart_server()
        c.close()
        c.port = self.srv.port
        r = c.folder_sync(c.folder_key)
        self.assertEqual(r.status, 200, "the policy key survived: %r" % r)
        self.assertEqual(r.doc.findtext("Status"), "1", "the folder key survived: %r" % r.doc)
        key, pages = self.sync_all(c, coll, key)
        got = [(k, eas.calendar_fields(d)["UID"] if d is not None else s)
               for p in pages for k, s, d in p.commands]
        self.assertEqual(got, [("Add", "r-new@almanac.test")],
                         "the sync key, cursor and membership survived")
        self.assertQuiet(c, coll, key)


if __name__ == "__main__":
    main()
