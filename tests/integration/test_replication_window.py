"""tests/integration/test_replication_window.py: replication clients that slide a date window
(issue 16 item 6; docs/replication.md "Sliding date windows", the brief's open question A9).
A device syncing "the last two weeks and the future" sends the same WHERE every day with moved
C:dtstart/C:dtend bounds; its collblob continues instead of answering 475. Over a calendar with
events before, inside and across the edges of the window, all-day ones, recurring series (one
endless) and events changed, moved, deleted and created between syncs, each window is slid
day by day (forward, backward, by jumps) and after every slide the client's replicated set
(repl-uid -> resourcetag, built only from the rows it was sent) must equal a fresh full SEARCH
with the new window: a model check. A slide with nothing changed in between answers exactly
the items that entered ("new") and left ("delete"). Any other difference of the query is still
475 query-mismatch, and a Range that would cut a slide is 475 too."""

import random
import time

from harness import ServerTestCase, main
from test_replication import Manifest, search_body

R = "http://schemas.microsoft.com/repl/"
C = "urn:schemas:calendar:"
XML = {"Content-Type": 'text/xml; charset="utf-8"'}
ICS = {"Content-Type": "text/calendar"}
SELECT = 'SELECT "DAV:href", "%sresourcetag" FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\') ' % R
DAY = 86400
T0 = 1772323200  # 2026-03-01T00:00:00Z: day 0 of the slides


def ymd(day, cast=False):
    """Day `day` after T0 as the literal the window uses."""
    t = time.gmtime(T0 + day * DAY)
    if cast:
        return 'CAST("%04d-%02d-%02dT00:00:00Z" AS \'dateTime.tz\')' % t[:3]
    return "'%04d-%02d-%02d'" % t[:3]


def stamp(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def vevent(uid, start, end=None, summary="ev", extra="", allday=False):
    if allday:
        d0 = time.strftime("%Y%m%d", time.gmtime(start))
        d1 = time.strftime("%Y%m%d", time.gmtime(end))
        times = "DTSTART;VALUE=DATE:%s\r\nDTEND;VALUE=DATE:%s\r\n" % (d0, d1)
    elif end is None:
        times = "DTSTART:%s\r\nDURATION:PT45M\r\n" % stamp(start)
    else:
        times = "DTSTART:%s\r\nDTEND:%s\r\n" % (stamp(start), stamp(end))
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\n"
            "DTSTAMP:20260101T000000Z\r\n%s%sSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            % (uid, times, extra, summary))


# The windows: (name, WHERE for day d). Each qualifies (docs/replication.md): its date
# conditions are conjuncts of the top-level AND, comparing C:dtstart/C:dtend with < <= > >=.
WINDOWS = [
    # "the last two weeks and the future", in the CAST form of the SDK samples
    ("past-two-weeks", lambda d: '"%sdtend" >= %s' % (C, ymd(d - 14, cast=True))),
    # containment (§3.8's SDK form) beside conditions that fold or read the object
    ("containment", lambda d: ('"DAV:isfolder" = false AND "%sdtstart" >= %s AND '
                               '"urn:schemas:httpmail:subject" LIKE \'ev%%\' AND '
                               '"%sdtend" <= %s' % (C, ymd(d - 7), C, ymd(d + 7)))),
    # overlap, masters of series left out by a condition on the object
    ("overlap", lambda d: ('"%sdtstart" < %s AND "%sdtend" > %s AND NOT "%sinstancetype" = 1'
                           % (C, ymd(d + 10), C, ymd(d - 3), C))),
]


class ReplicationWindowTest(ServerTestCase):
    def search(self, path, where, collblob="", headers=None):
        h = dict(XML)
        h.update(headers or {})
        return self.req("SEARCH", path, body=search_body(collblob=collblob,
                                                         sql=SELECT + "WHERE " + where),
                        headers=h)

    def manifest(self, path, where, collblob=""):
        r = self.search(path, where, collblob)
        self.assertStatus(r, 207)
        return Manifest(r)

    def fresh(self, path, where):
        """What a client starting over with this window holds: repl-uid -> resourcetag."""
        m = self.manifest(path, where)
        self.assertEqual({r[1] for r in m.rows} - {"new"}, set())
        return {r[2]: r[3] for r in m.rows}

    def apply(self, held, m):
        """The client's processing of a manifest (§1.4); each item is in one row at most."""
        uids = [r[2] for r in m.rows]
        self.assertEqual(len(uids), len(set(uids)), "an item twice in one manifest")
        for name, ct, uid, tag in m.rows:
            if ct == "delete":
                held.pop(uid, None)
            else:
                self.assertIsNotNone(tag)
                held[uid] = tag
        return held

    def populate(self, cal, rnd):
        """About 170 objects from 60 days before day 0 to 60 after, and far outside."""
        self.assertStatus(self.req("MKCALENDAR", cal), 201)
        names = []

        def put(name, body):
            r = self.req("PUT", cal + name, body=body, headers=ICS)
            self.assertIn(r.status, (201, 204), r.body[:300])
            names.append(name)

        for i in range(140):
            start = T0 + rnd.randrange(-60 * DAY, 60 * DAY, 1800)
            dur = rnd.choice([1800, 3600, 4 * 3600, DAY, 3 * DAY, 10 * DAY, 20 * DAY])
            put("e%03d.ics" % i, vevent("e%03d" % i, start, start + dur))
        for i in range(6):  # all-day, some across the edges of the windows
            start = T0 + rnd.randrange(-20, 20) * DAY
            put("a%d.ics" % i, vevent("a%d" % i, start, start + rnd.choice([1, 2, 5]) * DAY,
                                      allday=True))
        for i in range(4):  # no DTEND: a DURATION
            put("d%d.ics" % i, vevent("d%d" % i, T0 + rnd.randrange(-15, 15) * DAY + 3600))
        # exactly the containment window of day k (midnight to midnight): in the strips of
        # both its edges when it slides, yet one row
        for k in (0, 3, 8, 15):
            put("x%d.ics" % k, vevent("x%d" % k, T0 + (k - 7) * DAY, T0 + (k + 7) * DAY))
        # far outside every window
        put("old.ics", vevent("old", T0 - 3000 * DAY, T0 - 3000 * DAY + 3600))
        put("far.ics", vevent("far", T0 + 3000 * DAY, T0 + 3000 * DAY + 3600))
        # recurring series: by their span (§3.8: first start, last end, endless = +inf)
        put("r-daily.ics", vevent("r-daily", T0 - 2 * DAY + 9 * 3600, T0 - 2 * DAY + 10 * 3600,
                                  extra="RRULE:FREQ=DAILY;COUNT=5\r\n"))
        put("r-weekly-endless.ics", vevent("r-weekly-endless", T0 - 400 * DAY,
                                           T0 - 400 * DAY + 3600,
                                           extra="RRULE:FREQ=WEEKLY\r\n"))
        put("r-until.ics", vevent("r-until", T0 - 30 * DAY, T0 - 30 * DAY + 3600,
                                  extra="RRULE:FREQ=DAILY;UNTIL=%s\r\n" % stamp(T0 - 6 * DAY)))
        put("r-later.ics", vevent("r-later", T0 + 9 * DAY, T0 + 9 * DAY + 3600,
                                  extra="RRULE:FREQ=DAILY;COUNT=4\r\nEXDATE:%s\r\n"
                                  % stamp(T0 + 10 * DAY)))
        return names

    def churn(self, cal, names, rnd, step):
        """Between two syncs: moves, edits in place, deletes and creations."""
        live = [n for n in names if n.startswith("e")]
        for n in rnd.sample(live, 3):  # moved, maybe across an edge
            start = T0 + rnd.randrange(-30 * DAY, 30 * DAY, 3600)
            self.req("PUT", cal + n, body=vevent(n[:-4], start, start + 7200, "ev moved"),
                     headers=ICS)
        n = rnd.choice(live)  # edited where it is: a new tag only
        r = self.req("GET", cal + n)
        self.req("PUT", cal + n, body=r.text.replace("SUMMARY:ev", "SUMMARY:ev edited"),
                 headers=ICS)
        for n in rnd.sample(live, 2):
            self.assertStatus(self.req("DELETE", cal + n), 204)
            names.remove(n)
        for k in range(2):
            n = "n%02d%d.ics" % (step, k)
            start = T0 + rnd.randrange(-20 * DAY, 20 * DAY, 3600)
            self.req("PUT", cal + n, body=vevent(n[:-4], start, start + 5400), headers=ICS)
            names.append(n)
        if step % 3 == 0:  # a series grows into the future
            self.req("PUT", cal + "r-daily.ics",
                     body=vevent("r-daily", T0 - 2 * DAY + 9 * 3600, T0 - 2 * DAY + 10 * 3600,
                                 extra="RRULE:FREQ=DAILY;COUNT=%d\r\n" % (5 + 3 * step)),
                     headers=ICS)

    def slide(self, cal, rnd, window, days, changes):
        ex = cal.replace("/calendars/", "/exchange/")
        names = self.populate(cal, rnd)
        day = days[0]
        m0 = self.manifest(ex, window(day))
        self.assertEqual(len(m0.collblob), 168)  # version 2: carries the bounds
        held = self.apply({}, m0)
        blob = m0.collblob
        for step, nxt in enumerate(days[1:], 1):
            before = self.fresh(ex, window(day)) if not changes else None
            if changes:
                self.churn(cal, names, rnd, step)
            m = self.manifest(ex, window(nxt), blob)
            self.assertIsNotNone(m.collblob, "a slide always gives a new collblob")
            self.apply(held, m)
            want = self.fresh(ex, window(nxt))
            self.assertEqual(held, want, "day %d -> %d" % (day, nxt))
            if not changes:
                # exactly what entered and what left, nothing else
                got = sorted((r[2], r[1]) for r in m.rows)
                self.assertEqual(got, sorted([(u, "new") for u in want if u not in before] +
                                             [(u, "delete") for u in before if u not in want]))
            day, blob = nxt, m.collblob
        # the same window again with nothing changed: <R:repl/>
        m = self.manifest(ex, window(day), blob)
        self.assertTrue(m.empty)
        self.assertEqual(m.rows, [])

    # docs/replication.md "Sliding date windows": the model check ---------------------------

    def test_slide_day_by_day_with_changes_matches_a_fresh_search(self):
        for k, (name, window) in enumerate(WINDOWS):
            with self.subTest(window=name):
                days = [0, 1, 2, 3, 4, 5, 6, 7, 9, 8, 15, 14, 16]
                self.slide("/calendars/alice/chg-%s/" % name, random.Random(16 + k), window,
                           days, changes=True)

    def test_slide_without_changes_answers_exactly_what_entered_and_left(self):
        for k, (name, window) in enumerate(WINDOWS):
            with self.subTest(window=name):
                days = [0, 1, 2, 3, 4, 5, 6, 7, 6, 20, -40, -39]
                self.slide("/calendars/alice/still-%s/" % name, random.Random(60 + k), window,
                           days, changes=False)

    def test_old_and_new_bounds_read_only_the_strips(self):
        # a calendar of 300 events a day apart: one day's slide of a two-week window answers
        # one row in and one out, not the calendar (the strips, not the change log)
        cal = "/calendars/alice/strips/"
        ex = "/exchange/alice/strips/"
        self.assertStatus(self.req("MKCALENDAR", cal), 201)
        for i in range(300):
            t = T0 + (i - 150) * DAY + 12 * 3600
            self.req("PUT", cal + "s%03d.ics" % i, body=vevent("s%03d" % i, t, t + 3600),
                     headers=ICS)

        def win(d):
            return '"%sdtstart" >= %s AND "%sdtstart" < %s' % (C, ymd(d), C, ymd(d + 14))

        m0 = self.manifest(ex, win(0))
        self.assertEqual(len(m0.rows), 14)
        m1 = self.manifest(ex, win(1), m0.collblob)
        self.assertEqual(sorted((r[0], r[1]) for r in m1.rows),
                         [("s150.ics", "delete"), ("s164.ics", "new")])

    # everything else is still 475 -------------------------------------------------------

    def test_any_other_difference_is_still_475_query_mismatch(self):
        cal = "/calendars/alice/other/"
        ex = "/exchange/alice/other/"
        self.assertStatus(self.req("MKCALENDAR", cal), 201)
        self.req("PUT", cal + "x.ics", body=vevent("x", T0, T0 + 3600), headers=ICS)
        base = ('"%sdtstart" >= %s AND "%sdtend" < %s AND "urn:schemas:httpmail:subject" = '
                "'ev'" % (C, ymd(0), C, ymd(14)))
        blob = self.manifest(ex, base).collblob
        others = [
            # another operator, another property, a bound added or dropped
            base.replace('dtend" <', 'dtend" <='),
            base.replace('"%sdtend"' % C, '"%sdtstart"' % C),
            base + ' AND "%sdtend" > %s' % (C, ymd(-3)),
            base.replace('"%sdtstart" >= %s AND ' % (C, ymd(0)), ""),
            # a moved bound together with any other change
            base.replace(ymd(0), ymd(1)).replace("'ev'", "'ew'"),
            base.replace(ymd(0), ymd(1)) + ' AND "%slocation" IS NULL' % C,
            # a date condition that is not a top-level conjunct does not slide
            base.replace('"%sdtstart" >= %s' % (C, ymd(0)),
                         '("%sdtstart" >= %s OR "%slocation" = \'x\')' % (C, ymd(0), C)),
            # equality is not a window bound
            base.replace('"%sdtstart" >= %s' % (C, ymd(0)), '"%sdtstart" = %s' % (C, ymd(0))),
        ]
        for where in others:
            with self.subTest(where=where):
                r = self.search(ex, where, blob)
                self.assertCondition(r, 475, "invalid-collblob")
                self.assertIn("query-mismatch", r.text)
        # those with a bound under OR or =: their own collblobs do not slide either
        for where, moved in ((others[6], others[6].replace(ymd(0), ymd(1))),
                             (others[7], others[7].replace(ymd(0), ymd(1)))):
            b = self.manifest(ex, where).collblob
            r = self.search(ex, moved, b)
            self.assertCondition(r, 475, "invalid-collblob")
            self.assertIn("query-mismatch", r.text)
        # another depth with moved bounds
        r = self.req("SEARCH", ex, body=search_body(
            collblob=blob, sql=SELECT.replace("SHALLOW", "DEEP") + "WHERE " +
            base.replace(ymd(0), ymd(1))), headers=XML)
        self.assertCondition(r, 475, "invalid-collblob")
        # the bounds moved and nothing else: 207
        self.assertStatus(self.search(ex, base.replace(ymd(0), ymd(1)), blob), 207)

    def test_queries_without_bounds_keep_the_version_1_collblob(self):
        self.assertStatus(self.req("MKCALENDAR", "/calendars/alice/v1/"), 201)
        self.req("PUT", "/calendars/alice/v1/x.ics", body=vevent("x", T0, T0 + 3600),
                 headers=ICS)
        m = self.manifest("/exchange/alice/v1/", '"DAV:isfolder" = false')
        self.assertEqual(len(m.collblob), 124)  # exchange-replication.md §1.3, unchanged
        self.assertTrue(self.manifest("/exchange/alice/v1/", '"DAV:isfolder" = false',
                                      m.collblob).empty)

    def test_range_serves_a_slide_whole_or_not_at_all(self):
        cal = "/calendars/alice/rng/"
        ex = "/exchange/alice/rng/"
        self.assertStatus(self.req("MKCALENDAR", cal), 201)
        for i in range(40):
            t = T0 + (i - 20) * DAY + 3600
            self.req("PUT", cal + "g%02d.ics" % i, body=vevent("g%02d" % i, t, t + 3600),
                     headers=ICS)

        def win(d):
            return '"%sdtend" > %s AND "%sdtstart" < %s' % (C, ymd(d), C, ymd(d + 7))

        blob = self.manifest(ex, win(0)).collblob
        # three days: three rows out, three in; a Range that cuts them is 475
        r = self.search(ex, win(3), blob, headers={"Range": "rows=0-2"})
        self.assertCondition(r, 475, "invalid-collblob")
        self.assertIn("query-mismatch", r.text)
        r = self.search(ex, win(3), blob, headers={"Range": "rows=2-"})
        self.assertCondition(r, 475, "invalid-collblob")
        # a Range that holds the whole slide: served, with Content-Range
        r = self.search(ex, win(3), blob, headers={"Range": "rows=0-99"})
        self.assertStatus(r, 207)
        self.assertEqual(r.header("Content-Range"), "rows 0-5; total=6")
        m = Manifest(r)
        self.assertEqual(sorted((x[0], x[1]) for x in m.rows),
                         [("g%02d.ics" % i, "delete") for i in (20, 21, 22)] +
                         [("g%02d.ics" % i, "new") for i in (27, 28, 29)])
        # rows=-0 fast-forwards the slide: no rows, and the new window's collblob
        r = self.search(ex, win(4), m.collblob, headers={"Range": "rows=-0"})
        self.assertStatus(r, 207)
        ff = Manifest(r)
        self.assertEqual(ff.rows, [])
        self.assertTrue(self.manifest(ex, win(4), ff.collblob).empty)


if __name__ == "__main__":
    main()
