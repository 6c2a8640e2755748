"""tests/integration/test_sharing.py: shared calendars (issue 12) over CalDAV and /exchange,
against the real almanacd and the real admin CLI.

alice owns the calendars; bob holds read grants, carol read-write grants, dave none (the
stranger). An access matrix sends every CalDAV and /exchange method as each of them and
asserts the status, the RFC 3744 need-privileges body naming the resource and the privilege,
and that the store (a dump of every table) is untouched after each refusal. The stranger's
answers for the owner's paths and for guessed share names are compared with those for
paths that do not exist: same status, same body (request id aside). python3-caldav discovers
the shared calendar from the sharee's home; grants made and revoked with the CLI and with
Apple's CS:share POST show in PROPFIND at once; sync tokens carry over between owner and
sharee.

Without the access rule (calstore_access_allows true for READ) test_access_matrix fails at
bob's PUT (201, not 403 write-content); without the share resolution in dav_resolve every
sharee path is 404."""

import re
import unittest

import caldav

from harness import ServerTestCase, main, propfind_body, responses

ICS = {"Content-Type": "text/calendar"}
XML = {"Content-Type": "application/xml; charset=utf-8"}
CS = "http://calendarserver.org/ns/"
R = "http://schemas.microsoft.com/repl/"


def event(uid, summary="Event", start="20260105T100000Z"):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDURATION:PT1H\r\n"
            "SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, start, summary))


def proppatch(prop='<X:color xmlns:X="urn:x-test:">red</X:color>'):
    return ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>%s</D:prop>'
            '</D:set></D:propertyupdate>' % prop)


EX_PROPPATCH = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
                'xmlns:C="urn:schemas:calendar:"><D:set><D:prop><C:location>Room 7</C:location>'
                '</D:prop></D:set></D:propertyupdate>')
MULTIGET = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/>'
            '</D:prop><D:href>%sa.ics</D:href></C:calendar-multiget>')
QUERY = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
         'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter>'
         '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter>'
         '</C:filter></C:calendar-query>')
SYNC = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>%s'
        '</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
        '</D:sync-collection>')
SEARCH = ('<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:" xmlns:R="%s"><R:repl>'
          '<R:collblob>%%s</R:collblob></R:repl><D:sql>SELECT "DAV:href", "%sresourcetag" '
          'FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\')</D:sql></D:searchrequest>' % (R, R))
FOLDERS = ('<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:"><D:sql>SELECT "DAV:href", '
           '"DAV:displayname", "DAV:isreadonly" FROM SCOPE(\'HIERARCHICAL TRAVERSAL OF "%s"\')'
           '</D:sql></D:searchrequest>')


def share_body(sets=(), removes=()):
    body = ('<?xml version="1.0"?><CS:share xmlns:D="DAV:" xmlns:CS="%s">' % CS)
    for href, rw in sets:
        body += ("<CS:set><D:href>%s</D:href><CS:common-name>x</CS:common-name>%s</CS:set>"
                 % (href, "<CS:read-write/>" if rw else "<CS:read/>"))
    for href in removes:
        body += "<CS:remove><D:href>%s</D:href></CS:remove>" % href
    return body + "</CS:share>"


def cs(name):
    return '<CS:%s xmlns:CS="%s"/>' % (name, CS)


def hrefs(xml):
    return re.findall(r"<D:href>([^<]*)</D:href>", xml)


def response_hrefs(xml):
    return [re.search(r"<D:href>([^<]*)</D:href>", r).group(1) for r in responses(xml)]


def without_request_id(text):
    return re.sub(r"<A:request-id>\d+</A:request-id>", "", text)


class SharingTest(ServerTestCase):
    USERS = ("alice", "bob", "carol", "dave")

    # --- helpers --------------------------------------------------------------------------

    def calendar(self, name, grants=(("bob", "read"), ("carol", "read-write")), items=("a", "b")):
        """alice's calendar `name` with items, shared by the CLI; its path for each user."""
        own = "/calendars/alice/%s/" % name
        self.assertStatus(self.req("MKCALENDAR", own), 201)
        for i in items:
            self.assertStatus(self.req("PUT", own + i + ".ics", body=event("%s-%s" % (name, i)),
                                       headers=ICS), 201)
        for user, access in grants:
            r = self.srv.cli("share", "alice", name, user, access)
            self.assertIn("/calendars/%s/alice-%s/" % (user, name), r.stdout)
        paths = {"alice": own}
        for user in ("bob", "carol", "dave"):
            paths[user] = "/calendars/%s/alice-%s/" % (user, name)
        return paths

    def dump(self):
        return self.srv.dump()

    def assertNeedPrivileges(self, r, href, privilege):
        self.assertCondition(r, 403, "need-privileges")
        self.assertIn("<D:need-privileges><D:resource><D:href>%s</D:href><D:privilege><D:%s/>"
                      "</D:privilege></D:resource></D:need-privileges>" % (href, privilege),
                      r.text)

    def refused(self, user, method, path, href, privilege, body=None, headers=None):
        """`method` as `user` is 403 need-privileges naming href and privilege, and the store
        is exactly as before."""
        before = self.dump()
        r = self.req(method, path, user=user, body=body, headers=headers)
        self.assertNeedPrivileges(r, href, privilege)
        self.assertEqual(self.dump(), before, "%s %s as %s changed the store" %
                         (method, path, user))

    def propfind(self, path, user, props, depth="0"):
        return self.req("PROPFIND", path, user=user, headers={"Depth": depth},
                        body=propfind_body(*props))

    def sync_token(self, path, user):
        r = self.propfind(path, user, ["<D:sync-token/>"])
        self.assertStatus(r, 207)
        return re.search(r"<D:sync-token>([^<]*)</D:sync-token>", r.text).group(1)

    # --- discovery ------------------------------------------------------------------------

    def test_home_lists_shares_with_owner_and_privileges(self):
        p = self.calendar("disc")
        for user, privs in (("bob", ["read", "read-current-user-privilege-set"]),
                            ("carol", ["read", "read-current-user-privilege-set",
                                       "write-content", "bind", "unbind"])):
            for root in ("/calendars/%s/" % user, "/exchange/%s/" % user):
                r = self.propfind(root, user, ["<D:resourcetype/>", "<D:owner/>",
                                               "<D:current-user-privilege-set/>"], depth="1")
                self.assertStatus(r, 207)
                share = root + "alice-disc/"
                self.assertIn(share, response_hrefs(r.text))
                row = [x for x in responses(r.text) if "<D:href>%s</D:href>" % share in x][0]
                self.assertIn("<C:calendar/><CS:shared/>", row)
                self.assertIn("<D:owner><D:href>/principals/alice/</D:href></D:owner>", row)
                self.assertEqual(re.findall(r"<D:privilege><D:([a-z-]+)/>", row), privs)
                home = responses(r.text)[0]
                self.assertIn("<D:owner><D:href>/principals/%s/</D:href></D:owner>" % user, home)
                self.assertIn("<D:privilege><D:all/></D:privilege>", home)
        # the owner's listing: the calendar once, under its own name, marked shared-owner
        r = self.propfind("/calendars/alice/", "alice", ["<D:resourcetype/>"], depth="1")
        self.assertIn("/calendars/alice/disc/", response_hrefs(r.text))
        self.assertFalse([h for h in response_hrefs(r.text) if "alice-disc" in h])
        self.assertIn("<CS:shared-owner/>", [x for x in responses(r.text) if "/disc/" in x][0])
        # the owner's principal answers a sharee (whose calendar it is), not its home
        r = self.propfind("/principals/alice/", "bob",
                          ["<D:displayname/>", "<D:principal-URL/>",
                           '<C:calendar-home-set xmlns:C="urn:ietf:params:xml:ns:caldav"/>'])
        self.assertStatus(r, 207)
        self.assertIn("<D:displayname>alice</D:displayname>", r.text)
        self.assertIn("<D:principal-URL><D:href>/principals/alice/</D:href>", r.text)
        self.assertRegex(r.text, r"<C:calendar-home-set/></D:prop><D:status>HTTP/1.1 404")
        # dave holds no grant: nothing of alice's in his home
        r = self.propfind("/calendars/dave/", "dave", ["<D:resourcetype/>"], depth="1")
        self.assertEqual(response_hrefs(r.text), ["/calendars/dave/"])

    def test_acl_views(self):
        p = self.calendar("acl")
        r = self.propfind(p["alice"], "alice", ["<D:acl/>", "<D:supported-privilege-set/>"])
        self.assertStatus(r, 207)
        acl = re.search(r"<D:acl>(.*)</D:acl>", r.text).group(1)
        self.assertEqual(re.findall(r"<D:principal><D:href>([^<]*)<", acl),
                         ["/principals/alice/", "/principals/bob/", "/principals/carol/"])
        self.assertIn("<D:supported-privilege><D:privilege><D:all/>", r.text)
        # bob learns the owner and his own entry, not carol's
        r = self.propfind(p["bob"], "bob", ["<D:acl/>"])
        acl = re.search(r"<D:acl>(.*)</D:acl>", r.text).group(1)
        self.assertEqual(re.findall(r"<D:principal><D:href>([^<]*)<", acl),
                         ["/principals/alice/", "/principals/bob/"])
        self.assertNotIn("carol", r.text)
        # items carry the item privileges of their calendar
        r = self.propfind(p["carol"] + "a.ics", "carol", ["<D:current-user-privilege-set/>"])
        self.assertEqual(re.findall(r"<D:privilege><D:([a-z-]+)/>", r.text),
                         ["read", "read-current-user-privilege-set", "write",
                          "write-properties", "write-content"])
        opts = self.req("OPTIONS", p["bob"], user="bob")
        self.assertIn("access-control", opts.header("DAV"))
        self.assertIn("calendarserver-sharing", opts.header("DAV"))

    # --- the access matrix ------------------------------------------------------------------

    def test_access_matrix(self):
        p = self.calendar("matrix")
        mine = {}
        for user in ("alice", "bob", "carol"):
            mine[user] = "/calendars/%s/own-matrix/" % user
            self.assertStatus(self.req("MKCALENDAR", mine[user], user=user), 201)
            self.assertStatus(self.req("PUT", mine[user] + "m.ics", user=user, headers=ICS,
                                       body=event("mine-" + user)), 201)

        # reads: everyone with a grant
        for user in ("alice", "bob", "carol"):
            c = p[user]
            self.assertStatus(self.propfind(c, user, ["<D:getetag/>"], depth="1"), 207)
            self.assertEqual(len(responses(self.propfind(c, user, ["<D:getetag/>"], "1").text)), 3)
            r = self.req("GET", c + "a.ics", user=user)
            self.assertStatus(r, 200)
            self.assertIn("UID:matrix-a", r.text)
            self.assertStatus(self.req("HEAD", c + "a.ics", user=user), 200)
            r = self.req("REPORT", c, user=user, body=MULTIGET % c, headers=dict(XML, Depth="1"))
            self.assertStatus(r, 207)
            self.assertIn("UID:matrix-a", r.text)
            r = self.req("REPORT", c, user=user, body=QUERY, headers=dict(XML, Depth="1"))
            self.assertEqual(sorted(response_hrefs(r.text)), [c + "a.ics", c + "b.ics"])
            r = self.req("REPORT", c, user=user, body=SYNC % "", headers=XML)
            self.assertEqual(sorted(response_hrefs(r.text)), [c + "a.ics", c + "b.ics"])
            r = self.req("GET", c, user=user, headers={"Accept": "text/calendar"})
            self.assertStatus(r, 200)
            # a copy out of the share into one's own calendar is a read of the share
            self.assertStatus(self.req("COPY", c + "b.ics", user=user,
                                       headers={"Destination": mine[user] + "b-copy.ics"}), 201)

        # bob (read): every write is 403 naming the privilege, and nothing changes
        b = p["bob"]
        self.refused("bob", "PUT", b + "new.ics", b + "new.ics", "write-content",
                     body=event("bob-new"), headers=ICS)
        self.refused("bob", "PUT", b + "a.ics", b + "a.ics", "write-content",
                     body=event("matrix-a", "changed"), headers=ICS)
        self.refused("bob", "DELETE", b + "a.ics", b, "unbind")
        self.refused("bob", "PROPPATCH", b + "a.ics", b + "a.ics", "write-properties",
                     body=proppatch(), headers=XML)
        self.refused("bob", "PROPPATCH", b, b, "write-properties", body=proppatch(), headers=XML)
        self.refused("bob", "MKCALENDAR", b + "inner/", b, "bind")
        self.refused("bob", "MKCOL", b + "inner/", b, "bind")
        self.refused("bob", "COPY", b + "a.ics", b, "bind", headers={"Destination": b + "c.ics"})
        self.refused("bob", "MOVE", b + "a.ics", b, "unbind", headers={"Destination": b + "c.ics"})
        self.refused("bob", "COPY", mine["bob"] + "m.ics", b, "bind",
                     headers={"Destination": b + "m.ics"})
        self.refused("bob", "MOVE", mine["bob"] + "m.ics", b, "bind",
                     headers={"Destination": b + "m.ics"})
        self.refused("bob", "MOVE", b, b, "unbind",
                     headers={"Destination": "/calendars/bob/renamed/"})
        self.refused("bob", "COPY", mine["bob"], b, "unbind", headers={"Destination": b})
        self.refused("bob", "POST", b, b, "write-acl", headers=XML,
                     body=share_body(sets=[("/principals/dave/", True)]))
        ex = b.replace("/calendars/", "/exchange/")
        self.refused("bob", "PROPPATCH", ex + "a.ics", ex + "a.ics", "write-properties",
                     body=EX_PROPPATCH, headers=XML)
        self.refused("bob", "PUT", ex + "x.ics", ex + "x.ics", "write-content",
                     body=event("bob-ex"), headers=ICS)
        self.refused("bob", "DELETE", ex + "b.ics", ex, "unbind")
        # LOCK is not served to anyone (class 2 is not claimed)
        self.assertCondition(self.req("LOCK", b + "a.ics", user="bob"), 405, "method-not-allowed")

        # carol (read-write): members yes, the collection itself no
        c = p["carol"]
        self.assertStatus(self.req("PUT", c + "c1.ics", user="carol", body=event("carol-1"),
                                   headers=ICS), 201)
        self.assertStatus(self.req("PUT", c + "c1.ics", user="carol",
                                   body=event("carol-1", "v2"), headers=ICS), 204)
        self.assertStatus(self.req("PROPPATCH", c + "c1.ics", user="carol", body=proppatch(),
                                   headers=XML), 207)
        self.assertStatus(self.req("COPY", mine["carol"] + "m.ics", user="carol",
                                   headers={"Destination": c + "m.ics"}), 201)
        self.assertStatus(self.req("MOVE", c + "c1.ics", user="carol",
                                   headers={"Destination": c + "c2.ics"}), 201)
        self.assertStatus(self.req("DELETE", c + "c2.ics", user="carol"), 204)
        cx = c.replace("/calendars/", "/exchange/")
        r = self.req("PROPPATCH", cx + "a.ics", user="carol", body=EX_PROPPATCH, headers=XML)
        self.assertStatus(r, 207)
        self.assertIn("LOCATION:Room 7", self.req("GET", p["alice"] + "a.ics").text)
        self.refused("carol", "PROPPATCH", c, c, "write-properties", body=proppatch(),
                     headers=XML)
        self.refused("carol", "MKCALENDAR", c + "inner/", c, "bind")
        self.refused("carol", "MKCOL", c + "inner/", c, "bind")
        self.refused("carol", "MOVE", c, c, "unbind",
                     headers={"Destination": "/calendars/carol/renamed/"})
        self.refused("carol", "POST", c, c, "write-acl", headers=XML,
                     body=share_body(sets=[("/principals/dave/", True)]))
        # what carol wrote, the owner sees, under the owner's names
        r = self.propfind(p["alice"], "alice", ["<D:getetag/>"], depth="1")
        self.assertEqual(sorted(response_hrefs(r.text)),
                         [p["alice"]] + [p["alice"] + n for n in ("a.ics", "b.ics", "m.ics")])

        # the owner: everything, as before sharing
        a = p["alice"]
        self.assertStatus(self.req("PROPPATCH", a, body=proppatch(), headers=XML), 207)
        self.assertStatus(self.req("PUT", a + "o.ics", body=event("own-o"), headers=ICS), 201)
        self.assertStatus(self.req("DELETE", a + "o.ics"), 204)

    def test_stranger_learns_nothing(self):
        p = self.calendar("secret")
        cases = [
            ("PROPFIND", "", propfind_body("<D:getetag/>"), {"Depth": "0"}),
            ("PROPFIND", "a.ics", propfind_body("<D:getetag/>"), {"Depth": "0"}),
            ("GET", "a.ics", None, {}),
            ("GET", "", None, {}),
            ("REPORT", "", QUERY, dict(XML, Depth="1")),
            ("REPORT", "", SYNC % "", XML),
            ("PUT", "n.ics", event("dave-n"), ICS),
            ("PUT", "a.ics", event("secret-a"), ICS),
            ("DELETE", "a.ics", None, {}),
            ("DELETE", "", None, {}),
            ("PROPPATCH", "a.ics", proppatch(), XML),
            ("PROPPATCH", "", proppatch(), XML),
            ("MKCALENDAR", "inner/", None, {}),
            ("MKCOL", "inner/", None, {}),
            ("COPY", "a.ics", None, {"Destination": "/calendars/dave/x.ics"}),
            ("MOVE", "a.ics", None, {"Destination": "/calendars/dave/x.ics"}),
            ("POST", "", share_body(sets=[("/principals/dave/", True)]), XML),
            ("SEARCH", "", SEARCH % "", XML),
        ]
        # the owner's paths against a calendar alice does not have; dave's guessed share
        # name against a name nothing holds; bob's share as dave sees it (bob's tree)
        pairs = [(p["alice"], "/calendars/alice/no-such-cal/"),
                 (p["alice"].replace("/calendars/", "/exchange/"), "/exchange/alice/nothing/"),
                 (p["dave"], "/calendars/dave/alice-nothing/"),
                 (p["dave"].replace("/calendars/", "/exchange/"), "/exchange/dave/alice-nada/"),
                 (p["bob"], "/calendars/bob/no-such-share/")]
        before = self.dump()
        # nor whether alice exists: her principal is as missing as nobody's
        r1 = self.propfind("/principals/alice/", "dave", ["<D:displayname/>"])
        r2 = self.propfind("/principals/nobody/", "dave", ["<D:displayname/>"])
        self.assertEqual((r1.status, without_request_id(r1.text)),
                         (r2.status, without_request_id(r2.text)))
        self.assertCondition(r1, 404, "not-found")
        for real, fake in pairs:
            for method, tail, body, headers in cases:
                if method == "SEARCH" and not real.startswith("/exchange/"):
                    continue
                r1 = self.req(method, real + tail, user="dave", body=body, headers=headers)
                r2 = self.req(method, fake + tail, user="dave", body=body, headers=headers)
                what = "%s %s vs %s" % (method, real + tail, fake + tail)
                self.assertEqual(r1.status, r2.status, what)
                self.assertIn(r1.status, (403, 404, 405, 409), what)
                self.assertEqual(without_request_id(r1.text.replace(real, fake)),
                                 without_request_id(r2.text), what)
        self.assertEqual(self.dump(), before)

    # --- /exchange --------------------------------------------------------------------------

    def test_exchange_folders_and_replication_search(self):
        p = self.calendar("exch")
        for user, readonly in (("bob", "1"), ("carol", "0")):
            # own folders on both sides of the share's name: the listing merges them by name
            for own in ("aaa-%s" % user, "zzz-%s" % user):
                self.assertStatus(self.req("MKCALENDAR", "/calendars/%s/%s/" % (user, own),
                                           user=user), 201)
            root = "/exchange/%s/" % user
            r = self.req("SEARCH", root, user=user, body=FOLDERS % root, headers=XML)
            self.assertStatus(r, 207)
            names = re.findall(r"<D:displayname>([^<]*)<", r.text)
            self.assertIn("alice-exch", names)
            self.assertIn("aaa-" + user, names)
            self.assertIn("zzz-" + user, names)
            self.assertEqual(names, sorted(names))
            # a Range over the merged rows counts the shares too
            ranged = self.req("SEARCH", root, user=user, body=FOLDERS % root,
                              headers=dict(XML, Range="rows=0-0"))
            self.assertEqual(re.findall(r"<D:displayname>([^<]*)<", ranged.text), names[:1])
            self.assertEqual(ranged.header("Content-Range"),
                             "rows 0-0; total=%d" % len(names))
            row = [x for x in responses(r.text) if "alice-exch" in x][0]
            self.assertRegex(row, r"<D:href>http://[^<]*/exchange/%s/alice-exch/</D:href>" % user)
            self.assertRegex(row, r"<D:isreadonly[^>]*>%s</D:isreadonly>" % readonly)
        # the owner's own folder rows are unchanged
        r = self.req("SEARCH", "/exchange/alice/", body=FOLDERS % "/exchange/alice/", headers=XML)
        self.assertIn("exch", re.findall(r"<D:displayname>([^<]*)<", r.text))
        self.assertNotIn("alice-exch", r.text)
        # replication SEARCH on the share: rows, then only what changed
        ex = p["bob"].replace("/calendars/", "/exchange/")
        r = self.req("SEARCH", ex, user="bob", body=SEARCH % "", headers=XML)
        self.assertStatus(r, 207)
        self.assertEqual(len(re.findall(r"resourcetag>", r.text)) // 2, 2)
        blob = re.search(r"<R:collblob>([^<]*)</R:collblob>", r.text).group(1)
        self.assertStatus(self.req("PUT", p["alice"] + "new.ics", body=event("exch-new"),
                                   headers=ICS), 201)
        r = self.req("SEARCH", ex, user="bob", body=SEARCH % blob, headers=XML)
        self.assertStatus(r, 207)
        self.assertEqual([h.rsplit("/", 1)[1] for h in response_hrefs(r.text)], ["new.ics"])
        # the sharee's collblob is theirs: the owner's request with it is refused (475)
        r = self.req("SEARCH", p["alice"].replace("/calendars/", "/exchange/"),
                     body=SEARCH % blob, headers=XML)
        self.assertCondition(r, 475, "invalid-collblob")

    # --- sync tokens ------------------------------------------------------------------------

    def test_sync_tokens_work_for_owner_and_sharee(self):
        p = self.calendar("sync")
        t_alice = self.sync_token(p["alice"], "alice")
        t_carol = self.sync_token(p["carol"], "carol")
        self.assertEqual(t_alice, t_carol)  # one collection, one change log
        # the owner writes: the sharee's sync sees it, under the sharee's href
        self.assertStatus(self.req("PUT", p["alice"] + "o.ics", body=event("sync-o"),
                                   headers=ICS), 201)
        r = self.req("REPORT", p["carol"], user="carol", body=SYNC % t_carol, headers=XML)
        self.assertStatus(r, 207)
        self.assertEqual(response_hrefs(r.text), [p["carol"] + "o.ics"])
        t_carol = re.search(r"<D:sync-token>([^<]*)<", r.text).group(1)
        # the sharee writes and deletes: the owner's sync sees both
        self.assertStatus(self.req("PUT", p["carol"] + "c.ics", user="carol",
                                   body=event("sync-c"), headers=ICS), 201)
        self.assertStatus(self.req("DELETE", p["carol"] + "a.ics", user="carol"), 204)
        r = self.req("REPORT", p["alice"], body=SYNC % t_alice, headers=XML)
        self.assertEqual(sorted(response_hrefs(r.text)),
                         [p["alice"] + n for n in ("a.ics", "c.ics", "o.ics")])
        self.assertIn("<D:href>%sa.ics</D:href><D:status>HTTP/1.1 404" % p["alice"], r.text)
        # and the read sharee's token, taken before, is good too
        r = self.req("REPORT", p["bob"], user="bob", body=SYNC % t_carol, headers=XML)
        self.assertEqual(sorted(response_hrefs(r.text)), [p["bob"] + "a.ics", p["bob"] + "c.ics"])
        # a token of another collection is refused as before
        r = self.req("REPORT", "/calendars/bob/", user="bob", body=SYNC % t_carol, headers=XML)
        self.assertCondition(r, 403, "valid-sync-token")

    # --- grant, use, revoke -----------------------------------------------------------------

    def test_cli_grant_use_revoke(self):
        p = self.calendar("cli", grants=(("bob", "read"),))
        self.assertStatus(self.propfind(p["bob"], "bob", ["<D:getetag/>"]), 207)
        # upgrade to read-write: bob's PUT goes through at once
        self.srv.cli("share", "alice", "cli", "bob", "read-write")
        self.assertStatus(self.req("PUT", p["bob"] + "x.ics", user="bob", body=event("cli-x"),
                                   headers=ICS), 201)
        listing = self.srv.cli("share", "list", "alice").stdout
        self.assertIn("out\tcli\tbob\tread-write\t/calendars/bob/alice-cli/", listing)
        self.assertIn("in\talice/cli\tbob\tread-write\t/calendars/bob/alice-cli/",
                      self.srv.cli("share", "list", "bob").stdout)
        # revoke: gone from bob's home and his paths are 404 like any missing resource
        self.srv.cli("unshare", "alice", "cli", "bob")
        r = self.propfind("/calendars/bob/", "bob", ["<D:resourcetype/>"], depth="1")
        self.assertNotIn("alice-cli", r.text)
        r = self.req("GET", p["bob"] + "a.ics", user="bob")
        r2 = self.req("GET", "/calendars/bob/nothing/a.ics", user="bob")
        self.assertCondition(r, 404, "not-found")
        self.assertEqual(without_request_id(r.text), without_request_id(r2.text))
        # the owner's calendar kept everything, bob's write included
        self.assertStatus(self.req("GET", p["alice"] + "x.ics"), 200)

    def test_sharee_delete_of_the_share_leaves_their_home_only(self):
        p = self.calendar("leave")
        before = self.req("GET", p["alice"] + "a.ics").text
        self.assertStatus(self.req("DELETE", p["bob"], user="bob"), 204)
        self.assertNotIn("alice-leave", self.propfind("/calendars/bob/", "bob",
                                                      ["<D:resourcetype/>"], "1").text)
        self.assertEqual(self.req("GET", p["alice"] + "a.ics").text, before)
        self.assertStatus(self.propfind(p["carol"], "carol", ["<D:getetag/>"]), 207)
        self.assertNotIn("/principals/bob/", self.propfind(p["alice"], "alice",
                                                           ["<D:acl/>"]).text)

    def test_apple_cs_share_post(self):
        own = "/calendars/alice/apple/"
        self.assertStatus(self.req("MKCALENDAR", own), 201)
        self.assertStatus(self.req("PUT", own + "a.ics", body=event("apple-a"), headers=ICS),
                          201)
        r = self.propfind(own, "alice", [cs("allowed-sharing-modes"), cs("invite")])
        self.assertIn("<CS:allowed-sharing-modes><CS:can-be-shared/>", r.text)
        self.assertRegex(r.text, r"404 Not Found</D:status>")  # not shared: no CS:invite
        # an unknown sharee: refused, nothing written
        before = self.dump()
        r = self.req("POST", own, headers=XML,
                     body=share_body(sets=[("mailto:nobody@example.com", False)]))
        self.assertCondition(r, 403, "valid-share-request")
        self.assertEqual(self.dump(), before)
        # dave by mailto (the user part), bob by principal URL
        r = self.req("POST", own, headers=XML,
                     body=share_body(sets=[("mailto:dave@example.com", True),
                                           ("http://127.0.0.1:%d/principals/bob/" % self.srv.port,
                                            False)]))
        self.assertStatus(r, 200)
        r = self.propfind(own, "alice", [cs("invite"), "<D:resourcetype/>"])
        invite = re.search(r"<CS:invite>(.*)</CS:invite>", r.text).group(1)
        self.assertIn("<CS:organizer><D:href>/principals/alice/</D:href>", invite)
        self.assertIn("<CS:user><D:href>/principals/bob/</D:href><CS:common-name>bob"
                      "</CS:common-name><CS:invite-accepted/><CS:access><CS:read/>", invite)
        self.assertIn("<CS:user><D:href>/principals/dave/</D:href><CS:common-name>dave"
                      "</CS:common-name><CS:invite-accepted/><CS:access><CS:read-write/>", invite)
        self.assertIn("<CS:shared-owner/>", r.text)
        # a scheduling address an admin gave (docs/scheduling.md) names its user, whatever
        # its part before '@': carol as mailto:chief@corp.example
        self.srv.cli("user", "address", "add", "carol", "mailto:chief@corp.example")
        r = self.req("POST", own, headers=XML,
                     body=share_body(sets=[("mailto:chief@corp.example", False)]))
        self.assertStatus(r, 200)
        self.assertIn("in\talice/apple\tcarol\tread\t",
                      self.srv.cli("share", "list", "carol").stdout)
        self.assertStatus(self.req("POST", own, headers=XML,
                                   body=share_body(removes=["mailto:chief@corp.example"])), 200)
        self.assertNotIn("alice/apple", self.srv.cli("share", "list", "carol").stdout)
        # dave finds it in his home at once, and writes
        r = self.propfind("/calendars/dave/", "dave",
                          ["<D:resourcetype/>", cs("shared-url"), cs("invite")], "1")
        row = [x for x in responses(r.text) if "/calendars/dave/alice-apple/" in x][0]
        self.assertIn("<CS:shared-url><D:href>/calendars/alice/apple/</D:href>", row)
        self.assertIn("<CS:shared/>", row)
        self.assertStatus(self.req("PUT", "/calendars/dave/alice-apple/d.ics", user="dave",
                                   body=event("apple-d"), headers=ICS), 201)
        # invite-reply: accepted names where it is; declined leaves
        reply = ('<?xml version="1.0"?><CS:invite-reply xmlns:D="DAV:" xmlns:CS="%s">'
                 '<D:href>/principals/bob/</D:href><CS:invite-%s/><CS:hosturl><D:href>'
                 '/calendars/alice/apple/</D:href></CS:hosturl><CS:in-reply-to>x'
                 '</CS:in-reply-to></CS:invite-reply>')
        r = self.req("POST", "/calendars/bob/", user="bob", body=reply % (CS, "accepted"),
                     headers=XML)
        self.assertStatus(r, 200)
        self.assertIn("<CS:shared-as", r.text)
        self.assertIn("<D:href>/calendars/bob/alice-apple/</D:href>", r.text)
        r = self.req("POST", "/calendars/bob/", user="bob", body=reply % (CS, "declined"),
                     headers=XML)
        self.assertStatus(r, 200)
        self.assertStatus(self.propfind("/calendars/bob/alice-apple/", "bob",
                                        ["<D:getetag/>"]), 404)
        # a calendar below a plain collection: its shared-url is its full path, and an
        # invite-reply naming that path (absolute URL) finds it
        self.assertStatus(self.req("MKCOL", "/calendars/alice/dir/"), 201)
        self.assertStatus(self.req("MKCALENDAR", "/calendars/alice/dir/apple/"), 201)
        self.assertStatus(self.req("POST", "/calendars/alice/dir/apple/", headers=XML,
                                   body=share_body(sets=[("/principals/bob/", False)])), 200)
        r = self.propfind("/calendars/bob/", "bob", [cs("shared-url")], "1")
        rows = [x for x in responses(r.text)
                if "<CS:shared-url><D:href>/calendars/alice/dir/apple/</D:href>" in x]
        self.assertEqual(len(rows), 1)
        nested = response_hrefs(rows[0])
        reply_nested = reply.replace("<D:href>/calendars/alice/apple/</D:href>",
                                     "<D:href>http://127.0.0.1:%d/calendars/alice/dir/apple"
                                     "</D:href>" % self.srv.port)
        r = self.req("POST", "/calendars/bob/", user="bob", body=reply_nested % (CS, "accepted"),
                     headers=XML)
        self.assertStatus(r, 200)
        self.assertIn("<D:href>%s</D:href>" % nested[0], r.text)
        # remove dave: gone from his home
        r = self.req("POST", own, headers=XML, body=share_body(removes=["mailto:dave@x.org"]))
        self.assertStatus(r, 200)
        self.assertNotIn("alice-apple", self.propfind("/calendars/dave/", "dave",
                                                      ["<D:resourcetype/>"], "1").text)
        # the owner's calendar kept dave's event
        self.assertStatus(self.req("GET", own + "d.ics"), 200)

    def test_python_caldav_as_sharee(self):
        p = self.calendar("client", items=("a",))

        def client(user):
            return caldav.DAVClient("http://127.0.0.1:%d/" % self.srv.port, username=user,
                                    password=self.srv.passwords[user])

        for user in ("bob", "carol"):
            cals = client(user).principal().calendars()
            urls = [str(c.url) for c in cals]
            shared = [c for c in cals if str(c.url).endswith(p[user])]
            self.assertEqual(len(shared), 1, urls)
            events = shared[0].events()
            self.assertEqual(["client-a"], [str(e.vobject_instance.vevent.uid.value)
                                            for e in events])
        carol = [c for c in client("carol").principal().calendars()
                 if str(c.url).endswith(p["carol"])][0]
        carol.save_event(event("client-carol", "From carol"))
        self.assertIn("From carol", self.req("REPORT", p["alice"],
                                             body=QUERY.replace("<D:getetag/>",
                                                                "<C:calendar-data/>"),
                                             headers=dict(XML, Depth="1")).text)
        bob = [c for c in client("bob").principal().calendars()
               if str(c.url).endswith(p["bob"])][0]
        before = self.dump()
        with self.assertRaises(caldav.lib.error.AuthorizationError) as cm:
            bob.save_event(event("client-bob", "From bob"))
        self.assertIn("Forbidden", str(cm.exception))  # 403: python-caldav's words for it
        self.assertEqual(self.dump(), before)


if __name__ == "__main__":
    main()
