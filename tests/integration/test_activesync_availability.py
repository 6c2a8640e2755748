"""tests/integration/test_activesync_availability.py: ActiveSync's ResolveRecipients with
Availability (MS-ASCMD 2.2.1.15; issue 13 item 2) against the real almanacd: a scripted phone
of alice's asks who bob is and when he is busy, bob's calendar written over plain CalDAV.

  - bob resolves by SMTP address and by user name, as a GAL entry with his mail_domain
    address; unknown names and outside addresses are Status 4 with no recipient;
  - MergedFreeBusy has one digit per 30 minutes of the span: busy 2, tentative 1, free 0, a
    period that covers part of a slot marks the slot, transparent and cancelled events and
    another user's calendar block nothing, a daily series marks each day, an override moved
    out of the span frees its original time;
  - 12.1 answers without Availability; a span under 30 minutes or over 42 days, a missing
    StartTime, no To, more than 1,000 To are Status 5; more than 100 To with Availability
    get Availability Status 160 and no data."""

import datetime

from easclient import E, EASClient
from harness import ServerTestCase, main

ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def event(uid, start, end, extra=""):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac availability tests//EN\r\n"
            "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n"
            "SUMMARY:private\r\n%sEND:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, start, end, extra))


class AvailabilityTest(ServerTestCase):
    CONFIG = "mail_domain = example.org\neas_provisioning = false\n"
    USERS = ("alice", "bob", "carol")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        srv = cls.srv
        for user in ("bob", "carol"):
            r = srv.request("MKCALENDAR", "/calendars/%s/work/" % user, user=user)
            assert r.status == 201, r
        puts = {
            "busy": event("busy", "20260302T100000Z", "20260302T110000Z"),
            "maybe": event("maybe", "20260302T130000Z", "20260302T131000Z",
                           "STATUS:TENTATIVE\r\n"),
            "overlap": event("overlap", "20260302T130500Z", "20260302T133000Z"),
            "free": event("free", "20260302T150000Z", "20260302T160000Z",
                          "TRANSP:TRANSPARENT\r\n"),
            "off": event("off", "20260302T170000Z", "20260302T180000Z", "STATUS:CANCELLED\r\n"),
            "outside": event("outside", "20260305T100000Z", "20260305T110000Z"),
        }
        daily = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac availability tests//EN\r\n"
                 "BEGIN:VEVENT\r\nUID:daily\r\nDTSTAMP:20260101T000000Z\r\n"
                 "DTSTART:20260301T080000Z\r\nDTEND:20260301T081500Z\r\n"
                 "RRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT\r\n"
                 "BEGIN:VEVENT\r\nUID:daily\r\nDTSTAMP:20260101T000000Z\r\n"
                 "RECURRENCE-ID:20260302T080000Z\r\nDTSTART:20260310T080000Z\r\n"
                 "DTEND:20260310T081500Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        puts["daily"] = daily
        for name, body in puts.items():
            r = srv.request("PUT", "/calendars/bob/work/%s.ics" % name, user="bob", body=body,
                            headers=ICS)
            assert r.status == 201, (name, r)
        r = srv.request("PUT", "/calendars/carol/work/c.ics", user="carol",
                        body=event("carol", "20260302T200000Z", "20260302T210000Z"), headers=ICS)
        assert r.status == 201, r

    def phone(self, version="14.1"):
        c = EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                      "AVAIL" + version.replace(".", ""), version=version)
        self.addCleanup(c.close)
        return c

    def resolve(self, c, tos, start=None, end=None, availability=True):
        opts = []
        if availability:
            av = []
            if start:
                av.append(E("StartTime", start))
            if end:
                av.append(E("EndTime", end))
            opts.append(E("Options", E("Availability", *av)))
        body = E("R:ResolveRecipients", *([E("To", t) for t in tos] + opts))
        r = c.request("ResolveRecipients", body)
        self.assertEqual(r.status, 200, r)
        return r.doc

    def expected_day(self):
        """2026-03-02, 48 half hours from 00:00Z."""
        slots = ["0"] * 48
        slots[16] = "2"                  # 08:00-08:15 daily (the 02 instance is moved: see below)
        slots[20] = slots[21] = "2"      # 10:00-11:00 busy
        slots[26] = "2"                  # 13:00-13:10 tentative, 13:05-13:30 busy: busy wins
        return slots

    def test_busy_digits_per_half_hour(self):
        doc = self.resolve(self.phone(), ["bob@example.org"], "2026-03-02T00:00:00.000Z",
                           "2026-03-03T00:00:00.000Z")
        self.assertEqual(doc.findtext("Status"), "1")
        resp = doc.find("Response")
        self.assertEqual(resp.findtext("To"), "bob@example.org")
        self.assertEqual(resp.findtext("Status"), "1")
        self.assertEqual(resp.findtext("RecipientCount"), "1")
        rec = resp.find("Recipient")
        self.assertEqual(rec.findtext("Type"), "1")
        self.assertEqual(rec.findtext("DisplayName"), "bob")
        self.assertEqual(rec.findtext("EmailAddress"), "bob@example.org")
        self.assertEqual(rec.findtext("Availability/Status"), "1")
        want = self.expected_day()
        want[16] = "0"  # the 03-02 08:00 instance was moved to 03-10
        self.assertEqual(rec.findtext("Availability/MergedFreeBusy"), "".join(want))

    def test_tentative_alone_and_a_series(self):
        # 12:30 to 14:30 on 03-02 (4 slots) then the 03-01 and 03-03 daily instances over
        # three days from 03-01 08:00 (the moved one comes back on 03-10)
        doc = self.resolve(self.phone(), ["bob"], "2026-03-02T12:30:00.000Z",
                           "2026-03-02T14:30:00.000Z")
        self.assertEqual(doc.findtext("Response/Recipient/Availability/MergedFreeBusy"), "0200")
        maybe = event("maybe2", "20260304T090000Z", "20260304T094500Z", "STATUS:TENTATIVE\r\n")
        r = self.srv.request("PUT", "/calendars/bob/work/maybe2.ics", user="bob", body=maybe,
                             headers=ICS)
        self.assertEqual(r.status, 201, r)
        self.addCleanup(self.srv.request, "DELETE", "/calendars/bob/work/maybe2.ics", user="bob")
        doc = self.resolve(self.phone(), ["bob@example.org"], "2026-03-04T08:00:00Z",
                           "2026-03-04T10:30:00Z")
        # 08:00 daily (03-03 was the last: COUNT=3 from 03-01) -> free; 09:00-09:45 tentative
        self.assertEqual(doc.findtext("Response/Recipient/Availability/MergedFreeBusy"), "00110")
        doc = self.resolve(self.phone(), ["bob"], "2026-03-01T08:00:00Z", "2026-03-01T09:00:00Z")
        self.assertEqual(doc.findtext("Response/Recipient/Availability/MergedFreeBusy"), "20")
        doc = self.resolve(self.phone(), ["bob"], "2026-03-10T08:00:00Z", "2026-03-10T09:00:00Z")
        self.assertEqual(doc.findtext("Response/Recipient/Availability/MergedFreeBusy"), "20")

    def test_names_that_are_nobody(self):
        doc = self.resolve(self.phone(), ["nobody@example.org", "bob@elsewhere.test", "zed",
                                          "carol@example.org"], "2026-03-02T00:00:00Z",
                           "2026-03-03T00:00:00Z")
        self.assertEqual(doc.findtext("Status"), "1")
        resps = doc.findall("Response")
        self.assertEqual([r.findtext("To") for r in resps],
                         ["nobody@example.org", "bob@elsewhere.test", "zed", "carol@example.org"])
        self.assertEqual([r.findtext("Status") for r in resps], ["4", "4", "4", "1"])
        self.assertEqual([r.findtext("RecipientCount") for r in resps], ["0", "0", "0", "1"])
        self.assertEqual([r.find("Recipient") is None for r in resps], [True, True, True, False])
        carol = "0" * 40 + "22" + "0" * 6  # 20:00-21:00; bob's events are not carol's
        self.assertEqual(resps[3].findtext("Recipient/Availability/MergedFreeBusy"), carol)

    def test_without_availability_and_before_14(self):
        doc = self.resolve(self.phone(), ["bob"], availability=False)
        rec = doc.find("Response/Recipient")
        self.assertEqual(rec.findtext("EmailAddress"), "bob@example.org")
        self.assertIsNone(rec.find("Availability"))
        doc = self.resolve(self.phone("12.1"), ["bob"], "2026-03-02T00:00:00Z",
                           "2026-03-03T00:00:00Z")
        self.assertEqual(doc.findtext("Status"), "1")
        self.assertIsNone(doc.find("Response/Recipient/Availability"))

    def test_bad_spans_and_counts(self):
        c = self.phone()
        for start, end in (("2026-03-02T00:00:00Z", "2026-03-02T00:20:00Z"),   # < 30 min
                           ("2026-03-02T00:00:00Z", "2026-04-14T00:00:01Z"),   # > 42 days
                           (None, "2026-03-03T00:00:00Z"),                     # no StartTime
                           ("tomorrow", "2026-03-03T00:00:00Z")):
            doc = self.resolve(c, ["bob"], start, end)
            self.assertEqual(doc.findtext("Status"), "5", (start, end))
            self.assertIsNone(doc.find("Response"))
        # a To of 256 characters is a name looked up (nobody), 257 is refused
        doc = self.resolve(c, ["x" * 256], availability=False)
        self.assertEqual(doc.findtext("Response/Status"), "4")
        doc = self.resolve(c, ["x" * 257], availability=False)
        self.assertEqual(doc.findtext("Status"), "5")
        doc = self.resolve(c, [], "2026-03-02T00:00:00Z")
        self.assertEqual(doc.findtext("Status"), "5")
        doc = self.resolve(c, ["bob"] * 1001, availability=False)
        self.assertEqual(doc.findtext("Status"), "5")
        # no EndTime: seven days of half hours
        doc = self.resolve(c, ["bob"], "2026-03-02T00:00:00Z")
        self.assertEqual(len(doc.findtext("Response/Recipient/Availability/MergedFreeBusy")),
                         7 * 48)
        doc = self.resolve(c, ["bob"] * 101, "2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z")
        resps = doc.findall("Response")
        self.assertEqual(len(resps), 101)
        self.assertEqual(resps[0].findtext("Recipient/Availability/Status"), "160")
        self.assertIsNone(resps[0].find("Recipient/Availability/MergedFreeBusy"))


if __name__ == "__main__":
    main()
