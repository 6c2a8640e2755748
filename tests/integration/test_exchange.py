"""tests/integration/test_exchange.py: the /exchange/<user>/ view of the store and the
replication identities of exchange-replication.md §1.2 and §2.1-2.2: repl-uid and resourcetag
as properties (both namespace spellings) and as ResourceTag / Repl-UID headers; a change made
through one view is seen through the other; identities across edits, MOVE, COPY, DELETE."""

import re

from harness import ServerTestCase, main

R = "http://schemas.microsoft.com/repl/"
ICS = {"Content-Type": "text/calendar"}


def event(uid, summary="x"):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\n"
            "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nSUMMARY:%s\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, summary))


def repl_props(ns=R):
    return ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:R="%s"><D:prop>'
            '<R:repl-uid/><R:resourcetag/><R:contenttag/><D:getetag/></D:prop></D:propfind>' % ns)


class ExchangeTest(ServerTestCase):
    def setUp(self):
        self.name = self._testMethodName.replace("_", "-")
        self.ex = "/exchange/alice/%s/" % self.name
        self.cal = "/calendars/alice/%s/" % self.name
        self.assertStatus(self.req("MKCALENDAR", self.cal), 201)

    def tags(self, path):
        r = self.req("PROPFIND", path, headers={"Depth": "0"}, body=repl_props())
        self.assertStatus(r, 207)
        uid = re.search(r"<X:repl-uid[^>]*>(rid:[0-9a-f]{44})</X:repl-uid>", r.text)
        tag = re.search(r"<X:resourcetag[^>]*>(rt:[0-9a-f]{88})</X:resourcetag>", r.text)
        return (uid.group(1) if uid else None, tag.group(1) if tag else None, r.text)

    def test_put_through_exchange_is_seen_through_calendars(self):
        r = self.req("PUT", self.ex + "a.ics", body=event("a"), headers=ICS)
        self.assertStatus(r, 201)
        rt = r.header("ResourceTag")
        rid = r.header("Repl-UID")
        self.assertRegex(rt, r"^<rt:[0-9a-f]{88}>$")
        self.assertRegex(rid, r"^<rid:[0-9a-f]{44}>$")
        # §1.2: the tag starts with the repl-uid's bytes and ends with the ETag's
        self.assertEqual(rt[4:48], rid[5:49])
        self.assertEqual(rt[48:92], r.header("ETag").strip('"'))
        g = self.req("GET", self.cal + "a.ics")
        self.assertEqual(g.text, event("a"))
        self.assertEqual(g.header("ETag"), r.header("ETag"))
        self.assertEqual(g.header("ResourceTag"), rt)
        self.assertEqual(g.header("Repl-UID"), rid)

    def test_properties_match_headers_in_both_namespace_spellings(self):
        r = self.req("PUT", self.cal + "a.ics", body=event("a"), headers=ICS)
        uid, tag, _ = self.tags(self.ex + "a.ics")
        self.assertEqual("<%s>" % uid, r.header("Repl-UID"))
        self.assertEqual("<%s>" % tag, r.header("ResourceTag"))
        https = self.req("PROPFIND", self.ex + "a.ics", headers={"Depth": "0"},
                         body=repl_props("https://schemas.microsoft.com/repl/"))
        self.assertIn('xmlns:X="https://schemas.microsoft.com/repl/">%s<' % uid, https.text)
        coll = self.req("PROPFIND", self.ex, headers={"Depth": "0"}, body=repl_props()).text
        self.assertRegex(coll, r"<X:contenttag[^>]*>ct:[0-9a-f]{44}</X:contenttag>")

    def test_identity_survives_edits_and_moves_but_not_copies_or_recreation(self):
        self.req("PUT", self.ex + "a.ics", body=event("a"), headers=ICS)
        uid1, tag1, _ = self.tags(self.ex + "a.ics")
        r = self.req("PUT", self.ex + "a.ics", body=event("a", "edited"), headers=ICS)
        self.assertStatus(r, 204)
        uid2, tag2, _ = self.tags(self.ex + "a.ics")
        self.assertEqual(uid1, uid2)
        self.assertNotEqual(tag1, tag2)
        self.assertStatus(self.req("MOVE", self.ex + "a.ics",
                                   headers={"Destination": self.ex + "b.ics"}), 201)
        uid3, _, _ = self.tags(self.ex + "b.ics")
        self.assertEqual(uid1, uid3)
        self.req("PUT", self.cal + "other.ics", body=event("other"), headers=ICS)
        # a second object with the same UID cannot join the same calendar
        r = self.req("COPY", self.ex + "other.ics", headers={"Destination": self.ex + "copy.ics"})
        self.assertCondition(r, 409, "no-uid-conflict")
        self.assertIn("<D:href>%sother.ics</D:href>" % self.ex, r.text)
        second = "/exchange/alice/%s-2/" % self.name
        self.assertStatus(self.req("MKCALENDAR", second), 201)
        self.assertStatus(self.req("COPY", self.ex + "other.ics",
                                   headers={"Destination": second + "copy.ics"}), 201)
        self.assertNotEqual(self.tags(self.ex + "other.ics")[0], self.tags(second + "copy.ics")[0])
        d = self.req("DELETE", self.ex + "b.ics")
        self.assertStatus(d, 204)
        self.assertRegex(d.header("ResourceTag"), r"^<rt:[0-9a-f]{88}>$")
        self.assertIsNone(d.header("Repl-UID"))
        self.req("PUT", self.ex + "b.ics", body=event("a"), headers=ICS)
        self.assertNotEqual(self.tags(self.ex + "b.ics")[0], uid1)

    def test_if_header_with_rt_and_rid_tokens(self):
        r = self.req("PUT", self.ex + "a.ics", body=event("a"), headers=ICS)
        rt1 = r.header("ResourceTag")
        rid = r.header("Repl-UID")
        etag = r.header("ETag")
        self.assertStatus(self.req("GET", self.ex + "a.ics", headers={"If": "(%s)" % rt1}), 200)
        self.assertStatus(self.req("GET", self.ex + "a.ics", headers={"If": "(%s)" % rid}), 200)
        self.assertStatus(self.req("GET", self.ex + "a.ics", headers={"If": "([%s])" % etag}), 200)
        r = self.req("PUT", self.ex + "a.ics", body=event("a", "v2"),
                     headers=dict(ICS, If="(%s)" % rt1))
        self.assertStatus(r, 204)
        # the old tag no longer holds: 412 and nothing changes
        r = self.req("PUT", self.ex + "a.ics", body=event("a", "lost"),
                     headers=dict(ICS, If="(%s)" % rt1))
        self.assertCondition(r, 412, "precondition-failed")
        self.assertIn("SUMMARY:v2", self.req("GET", self.ex + "a.ics").text)
        self.assertStatus(self.req("GET", self.ex + "a.ics", headers={"If": "(Not %s)" % rt1}),
                          200)
        # lists are ORed, conditions inside a list ANDed; foreign tokens never match
        either = "(%s) (%s)" % (rt1, rid)
        self.assertStatus(self.req("GET", self.ex + "a.ics", headers={"If": either}), 200)
        both = "(%s %s)" % (rt1, rid)
        self.assertStatus(self.req("GET", self.ex + "a.ics", headers={"If": both}), 412)
        foreign = "(<rt:%s>)" % ("ab" * 44)
        self.assertStatus(self.req("GET", self.ex + "a.ics", headers={"If": foreign}), 412)
        self.assertStatus(self.req("GET", self.ex + "a.ics",
                                   headers={"If": "(<urn:uuid:whatever>)"}), 412)
        # tagged list naming the resource
        tagged = "<%sa.ics> (%s)" % (self.ex, rid)
        self.assertStatus(self.req("DELETE", self.ex + "a.ics", headers={"If": tagged}), 204)
        # SDK scenario: deleted and re-created at the same URL -> the old rid does not hold
        self.req("PUT", self.ex + "a.ics", body=event("a"), headers=ICS)
        self.assertStatus(self.req("GET", self.ex + "a.ics", headers={"If": "(%s)" % rid}), 412)
        for bad in ("garbage", "(", "()", "(<rt:x>", "(Not)"):
            self.assertCondition(self.req("GET", self.ex + "a.ics", headers={"If": bad}), 400,
                                 "bad-request")

    def test_precondition_failure_carries_the_current_tags(self):
        # exchange-replication.md §2.1: a 412 names the current state (ETag, RT, RID)
        r = self.req("PUT", self.ex + "a.ics", body=event("a"), headers=ICS)
        stale = "(<rt:%s>)" % (r.header("ResourceTag")[4:-1][:-12] + "000000000001")
        f = self.req("PUT", self.ex + "a.ics", body=event("a", "lost"),
                     headers=dict(ICS, If=stale))
        self.assertCondition(f, 412, "precondition-failed")
        self.assertEqual(f.header("ResourceTag"), r.header("ResourceTag"))
        self.assertEqual(f.header("Repl-UID"), r.header("Repl-UID"))
        self.assertEqual(f.header("ETag"), r.header("ETag"))
        # a failed If on a missing resource has no state to name
        f = self.req("PUT", self.ex + "missing.ics", body=event("m"), headers=dict(ICS, If=stale))
        self.assertStatus(f, 412)
        self.assertIsNone(f.header("ResourceTag"))

    def test_contenttag_changes_with_the_collection(self):
        before = self.req("PROPFIND", self.ex, headers={"Depth": "0"}, body=repl_props()).text
        self.req("PUT", self.ex + "a.ics", body=event("a"), headers=ICS)
        after = self.req("PROPFIND", self.ex, headers={"Depth": "0"}, body=repl_props()).text
        ct = re.compile(r"ct:[0-9a-f]{44}")
        self.assertNotEqual(ct.search(before).group(0), ct.search(after).group(0))

    def test_exchange_view_lists_the_home_and_hides_other_users(self):
        r = self.req("PROPFIND", "/exchange/", headers={"Depth": "1"})
        self.assertIn("<D:href>/exchange/alice/</D:href>", r.text)
        r = self.req("PROPFIND", "/exchange/alice/", headers={"Depth": "1"})
        self.assertIn("<D:href>%s</D:href>" % self.ex, r.text)
        self.srv.request("MKCALENDAR", "/calendars/bob/b/", user="bob")
        for m in ("PROPFIND", "GET", "DELETE"):
            self.assertStatus(self.req(m, "/exchange/bob/b/", headers={"Depth": "0"}), 404, m)


if __name__ == "__main__":
    main()
