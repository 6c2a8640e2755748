"""tests/integration/test_caldav_client.py: python3-caldav (Debian's package, the library many
tools sync with) against the real almanacd: discovery from the server root, MKCALENDAR, saving
events including a recurring one with an overridden instance, time-range search with
expansion, fetch by UID, incremental sync by token, delete."""

import datetime
import unittest

import caldav

from harness import ServerTestCase, main

RECURRING = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Almanac tests//EN
BEGIN:VEVENT
UID:standup@almanac
DTSTAMP:20260101T000000Z
DTSTART:20260105T090000Z
DTEND:20260105T091500Z
RRULE:FREQ=DAILY;COUNT=10
SUMMARY:Standup
END:VEVENT
BEGIN:VEVENT
UID:standup@almanac
DTSTAMP:20260101T000000Z
RECURRENCE-ID:20260107T090000Z
DTSTART:20260107T100000Z
DTEND:20260107T101500Z
SUMMARY:Standup (moved)
END:VEVENT
END:VCALENDAR
"""

SINGLE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Almanac tests//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20260101T000000Z
DTSTART:{start}
DTEND:{end}
SUMMARY:{summary}
END:VEVENT
END:VCALENDAR
"""


def dt(*a):
    return datetime.datetime(*a, tzinfo=datetime.timezone.utc)


class CalDavClientTest(ServerTestCase):
    USERS = ("alice",)

    def client(self):
        return caldav.DAVClient("http://127.0.0.1:%d/" % self.srv.port, username="alice",
                                password=self.srv.passwords["alice"])

    def test_python_caldav_end_to_end(self):
        principal = self.client().principal()
        self.assertIn("/principals/alice/", str(principal.url))
        cal = principal.make_calendar(name="Team", cal_id="team")
        self.assertIn("/calendars/alice/team/", str(cal.url))
        names = [c.name for c in principal.calendars()]
        self.assertIn("Team", names)

        cal.save_event(RECURRING)
        lunch = cal.save_event(SINGLE.format(uid="lunch@almanac", start="20260106T120000Z",
                                             end="20260106T130000Z", summary="Lunch"))
        cal.save_event(SINGLE.format(uid="later@almanac", start="20260301T120000Z",
                                     end="20260301T130000Z", summary="Later"))

        # Time-range search with expansion: 9 regular instances + the moved one in range.
        found = cal.date_search(start=dt(2026, 1, 5), end=dt(2026, 1, 20), expand=True)
        # python-caldav 0.11 keeps one object per resource, with every expanded instance.
        instances = [v for e in found for v in e.vobject_instance.vevent_list]
        for v in instances:
            if "Standup" in str(v.summary.value):
                self.assertIn("recurrence-id", v.contents)
                self.assertNotIn("rrule", v.contents)
                self.assertEqual(v.dtstart.value.utcoffset(), datetime.timedelta(0))
        summaries = sorted(str(v.summary.value) for v in instances)
        self.assertEqual(summaries.count("Standup"), 9)
        self.assertEqual(summaries.count("Standup (moved)"), 1)
        self.assertIn("Lunch", summaries)
        self.assertNotIn("Later", summaries)

        # Fetch by UID.
        ev = cal.event_by_uid("lunch@almanac")
        self.assertEqual(str(ev.vobject_instance.vevent.summary.value), "Lunch")

        # Incremental sync by token.
        objs = cal.objects_by_sync_token(load_objects=True)
        self.assertEqual(len(list(objs)), 3)
        token = objs.sync_token
        lunch.vobject_instance.vevent.summary.value = "Long lunch"
        lunch.save()
        cal.event_by_uid("later@almanac").delete()
        changed = cal.objects_by_sync_token(sync_token=token, load_objects=False)
        urls = sorted(str(o.url) for o in changed)
        self.assertEqual(len(urls), 2, urls)
        again = cal.objects_by_sync_token(sync_token=changed.sync_token)
        self.assertEqual(len(list(again)), 0)

        # (python-caldav 0.11 logs a "deviation" when a resource holds a series with an
        # override, two VEVENTs: valid RFC 5545, its own one-component assumption.)
        # Delete and confirm through a fresh client.
        cal.event_by_uid("standup@almanac").delete()
        fresh = self.client().principal().calendar(cal_id="team")
        left = sorted(str(e.vobject_instance.vevent.uid.value) for e in fresh.events())
        self.assertEqual(left, ["lunch@almanac"])


if __name__ == "__main__":
    main()
