"""tests/integration/test_if_header.py: the If request header (RFC 4918 §10.4) on every method
the server allows. A false If is 412 precondition-failed and changes nothing; a true one lets
the method answer as it would without it. Entity tags in lists are compared with the
resource's current ETag (a wrong tag is false, not "some ETag exists"), and a tagged list
(`<url> (...)`) is evaluated against the resource it names, not the Request-URI (issue 17)."""

import itertools
import re

from harness import ServerTestCase, main

ICS = {"Content-Type": "text/calendar"}
XML = {"Content-Type": "application/xml; charset=utf-8"}
CAL = "/calendars/alice/ifcal/"
EX = "/exchange/alice/ifcal/"

# false for every resource: no lock tokens exist, and no ETag is "wrong"
FALSE_IFS = ('(["wrong"])', "(<urn:uuid:no-such-lock>)")
TRUE_IF = '(Not ["wrong"])'


def event(uid, summary="Event"):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\n"
            "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\n"
            "SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, summary))


PROPFIND = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            '</D:prop></D:propfind>')
PROPPATCH = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x-test:">'
             '<D:set><D:prop><Z:note>%s</Z:note></D:prop></D:set></D:propertyupdate>')
MULTIGET = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
            '<D:href>%sa.ics</D:href></C:calendar-multiget>' % CAL)
SEARCH = ('<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:"><D:sql>SELECT "DAV:href" '
          'FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\')</D:sql></D:searchrequest>')


class IfHeaderTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        assert cls.srv.request("MKCALENDAR", CAL).status == 201
        for name in ("a", "b"):
            r = cls.srv.request("PUT", CAL + name + ".ics", body=event(name, "v1"), headers=ICS)
            assert r.status == 201, r
        cls.fresh = itertools.count()

    def etag(self, path):
        r = self.req("HEAD", path)
        self.assertStatus(r, 200)
        return r.header("ETag")

    def exists(self, path):
        r = self.req("PROPFIND", path, headers={"Depth": "0"}, body=PROPFIND)
        self.assertIn(r.status, (207, 404), r)
        return r.status == 207

    def new_item(self):
        name = "t%d.ics" % next(self.fresh)
        self.assertStatus(self.req("PUT", CAL + name, body=event("u-" + name), headers=ICS), 201)
        return CAL + name

    # One entry per method: (method, set-up returning (path, body, headers, check)) where check
    # (ran, path) asserts the method's effect happened when ran, and did not otherwise.

    def case_options(self):
        return CAL, None, {}, 200, None

    def case_get_collection(self):
        return CAL, None, {}, 200, None

    def case_get(self):
        return CAL + "a.ics", None, {}, 200, None

    def case_head(self):
        return CAL + "a.ics", None, {}, 200, None

    def case_propfind(self):
        return CAL, PROPFIND, {"Depth": "1"}, 207, None

    def case_propfind_item(self):
        return CAL + "a.ics", PROPFIND, {"Depth": "0"}, 207, None

    def case_report(self):
        return CAL, MULTIGET, dict(XML, Depth="1"), 207, None

    def case_search(self):
        return EX, SEARCH, XML, 207, None

    def case_mkcol(self):
        path = "/calendars/alice/col%d/" % next(self.fresh)
        return path, None, {}, 201, lambda ran: self.assertEqual(self.exists(path), ran)

    def case_mkcalendar(self):
        path = "/calendars/alice/cal%d/" % next(self.fresh)
        return path, None, {}, 201, lambda ran: self.assertEqual(self.exists(path), ran)

    def case_proppatch(self):
        path = self.new_item()
        before = self.etag(path)
        return (path, PROPPATCH % "x", XML, 207,
                lambda ran: self.assertEqual(self.etag(path) != before, ran))

    def case_put(self):
        path = self.new_item()
        before = self.etag(path)
        return (path, event("u-" + path.rsplit("/", 1)[1], "v2"), ICS, 204,
                lambda ran: self.assertEqual(self.etag(path) != before, ran))

    def case_delete(self):
        path = self.new_item()
        return path, None, {}, 204, lambda ran: self.assertEqual(self.exists(path), not ran)

    def case_copy(self):
        src = self.new_item()
        dst = CAL + "copy%d.ics" % next(self.fresh)
        # a copy in the same calendar would clash on the UID: copy into another calendar
        dst = dst.replace("/ifcal/", "/ifcopy/")
        self.srv.request("MKCALENDAR", "/calendars/alice/ifcopy/")
        return (src, None, {"Destination": dst}, 201,
                lambda ran: self.assertEqual(self.exists(dst), ran))

    def case_move(self):
        src = self.new_item()
        dst = CAL + "moved%d.ics" % next(self.fresh)
        return (src, None, {"Destination": dst}, 201,
                lambda ran: (self.assertEqual(self.exists(dst), ran),
                             self.assertEqual(self.exists(src), not ran)))

    def case_post(self):
        # Apple's CS:share (issue 12): a fresh calendar each time, shared with bob
        n = next(self.fresh)
        cal = "/calendars/alice/shared%d/" % n
        self.assertStatus(self.req("MKCALENDAR", cal), 201)
        body = ('<?xml version="1.0"?><CS:share xmlns:D="DAV:" '
                'xmlns:CS="http://calendarserver.org/ns/"><CS:set><D:href>/principals/bob/'
                '</D:href><CS:read/></CS:set></CS:share>')

        def shared(ran):
            r = self.req("PROPFIND", "/calendars/bob/alice-shared%d/" % n, user="bob",
                         headers={"Depth": "0"}, body=PROPFIND)
            self.assertEqual(r.status == 207, ran, r)
        return cal, body, XML, 200, shared

    CASES = {"OPTIONS": ["options"], "POST": ["post"], "GET": ["get", "get_collection"], "HEAD": ["head"],
             "PROPFIND": ["propfind", "propfind_item"], "REPORT": ["report"],
             "SEARCH": ["search"], "MKCOL": ["mkcol"], "MKCALENDAR": ["mkcalendar"],
             "PROPPATCH": ["proppatch"], "PUT": ["put"], "DELETE": ["delete"],
             "COPY": ["copy"], "MOVE": ["move"]}

    def assert412(self, method, r):
        if method == "HEAD":
            self.assertStatus(r, 412)  # no body to carry the condition
        else:
            self.assertCondition(r, 412, "precondition-failed")

    def run_case(self, method, case, if_value):
        path, body, headers, ok, check = getattr(self, "case_" + case)()
        h = dict(headers)
        if if_value is not None:
            h["If"] = if_value
        r = self.req(method, path, body=body, headers=h)
        return r, ok, check

    def test_every_allowed_method_is_covered(self):
        r = self.req("OPTIONS", CAL)
        allow = {m.strip() for m in r.header("Allow").split(",")}
        self.assertEqual(allow - set(self.CASES), set(), "methods without an If test")

    def test_false_if_is_412_on_every_method_and_changes_nothing(self):
        # RFC 4918 §10.4: "If" applies to every method
        for method, cases in self.CASES.items():
            for case in cases:
                for if_value in FALSE_IFS:
                    with self.subTest(method=method, case=case, If=if_value):
                        r, _, check = self.run_case(method, case, if_value)
                        self.assert412(method, r)
                        if check:
                            check(False)

    def test_true_if_lets_every_method_run(self):
        for method, cases in self.CASES.items():
            for case in cases:
                with self.subTest(method=method, case=case):
                    r, ok, check = self.run_case(method, case, TRUE_IF)
                    self.assertStatus(r, ok)
                    if check:
                        check(True)

    def test_a_false_tagged_list_naming_another_resource_is_412_on_every_method(self):
        b_etag = self.etag(CAL + "b.ics")
        for method, cases in self.CASES.items():
            for case in cases:
                with self.subTest(method=method, case=case):
                    r, _, check = self.run_case(method, case,
                                                "<%sb.ics> ([\"wrong\"])" % CAL)
                    self.assert412(method, r)
                    if check:
                        check(False)
                with self.subTest(method=method, case=case, tagged="true"):
                    r, ok, check = self.run_case(method, case,
                                                 "<%sb.ics> ([%s])" % (CAL, b_etag))
                    self.assertStatus(r, ok)
                    if check:
                        check(True)

    # Entity tags ----------------------------------------------------------------------------

    def test_put_with_a_wrong_entity_tag_is_412_and_keeps_the_content(self):
        path = self.new_item()
        etag = self.etag(path)
        for bad in ('(["wrong"])', '(["%s"])' % etag.strip('"')[:-1],
                    "([W/%s])" % etag, '(Not [%s])' % etag):
            with self.subTest(If=bad):
                r = self.req("PUT", path, body=event("u-x", "overwritten"),
                             headers=dict(ICS, If=bad))
                self.assertCondition(r, 412, "precondition-failed")
                self.assertEqual(r.header("ETag"), etag, "a 412 names the current ETag")
                self.assertEqual(self.etag(path), etag)
                self.assertNotIn("overwritten", self.req("GET", path).text)
        r = self.req("PUT", path, body=event("u-" + path.rsplit("/", 1)[1], "v2"),
                     headers=dict(ICS, If="([%s])" % etag))
        self.assertStatus(r, 204)
        self.assertIn("SUMMARY:v2", self.req("GET", path).text)

    def test_tagged_list_is_evaluated_against_the_resource_it_names(self):
        path = self.new_item()
        name = path.rsplit("/", 1)[1]
        other = CAL + "b.ics"
        other_abs = "http://127.0.0.1:%d%s" % (self.srv.port, other)
        mine, theirs = self.etag(path), self.etag(other)
        self.assertNotEqual(mine, theirs)
        false = ["<%s> ([%s])" % (other, mine),          # the request's own tag, wrong resource
                 "<%s> ([\"wrong\"])" % other,
                 "<%s> ([%s])" % (path, theirs),          # the other's tag on the request URL
                 "<%s> ([%s])" % (other_abs, mine)]
        for bad in false:
            with self.subTest(If=bad):
                r = self.req("PUT", path, body=event("u-" + name, "lost"),
                             headers=dict(ICS, If=bad))
                self.assertCondition(r, 412, "precondition-failed")
                self.assertEqual(self.etag(path), mine)
        true = [lambda: "<%s> ([%s])" % (other, theirs),
                lambda: "<%s> ([%s])" % (other_abs, theirs),
                lambda: "<%s> ([\"wrong\"]) <%s> ([%s])" % (other, path, mine),
                # any true list makes the header true, the last one or not
                lambda: "([%s]) ([\"wrong\"])" % mine,
                lambda: "<%s> ([%s]) <%s> ([\"wrong\"])" % (path, mine, other)]
        for i, make in enumerate(true):
            good = make()
            with self.subTest(If=good):
                r = self.req("PUT", path, body=event("u-" + name, "v%d" % (i + 2)),
                             headers=dict(ICS, If=good))
                self.assertStatus(r, 204)
                self.assertIn("SUMMARY:v%d" % (i + 2), self.req("GET", path).text)
                mine = r.header("ETag")
        # the other resource was never written
        self.assertEqual(self.etag(other), theirs)
        self.assertTrue(re.fullmatch(r'"[0-9a-f]+"', theirs), theirs)


if __name__ == "__main__":
    main()
