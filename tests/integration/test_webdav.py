"""tests/integration/test_webdav.py: every WebDAV method and precondition of RFC 4918 and
RFC 9110 §13 that almanacd serves, against the real server. One test per behaviour."""

import re

from harness import ServerTestCase, main, propfind_body, responses

HOME = "/calendars/alice/"


class WebDavTest(ServerTestCase):
    def setUp(self):
        # Each test works in its own collection below alice's home.
        self.base = HOME + self._testMethodName + "/"
        self.assertStatus(self.req("MKCOL", self.base), 201)

    def put(self, name, body="hello", headers=None):
        return self.req("PUT", self.base + name, body=body, headers=headers)

    # OPTIONS ---------------------------------------------------------------------------

    def test_options_announces_class_1_and_3_without_locking(self):
        r = self.req("OPTIONS", HOME)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("DAV"),
                         "1, 3, access-control, calendar-access, calendar-auto-schedule, "
                         "calendarserver-sharing")
        for m in ("PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "PUT", "DELETE"):
            self.assertIn(m, r.header("Allow"))
        self.assertNotIn("LOCK", r.header("Allow"))

    def test_lock_is_refused_as_not_supported(self):
        r = self.req("LOCK", self.base, body="<x/>")
        self.assertCondition(r, 405, "method-not-allowed")

    def test_unknown_method_is_not_implemented(self):
        self.assertCondition(self.req("FROBNICATE", self.base), 501, "not-implemented")

    # PUT / GET / HEAD ------------------------------------------------------------------

    def test_put_creates_with_201_and_strong_etag(self):
        r = self.put("a.txt", "one", {"Content-Type": "text/plain"})
        self.assertStatus(r, 201)
        etag = r.header("ETag")
        self.assertRegex(etag, r'^"[0-9a-f]{44}"$')
        g = self.req("GET", self.base + "a.txt")
        self.assertStatus(g, 200)
        self.assertEqual(g.body, b"one")
        self.assertEqual(g.header("ETag"), etag)
        self.assertEqual(g.header("Content-Type"), "text/plain")
        self.assertIsNotNone(g.header("Last-Modified"))

    def test_put_content_type_is_kept_only_when_it_is_a_media_type(self):
        # kept with the resource and sent back on GET: printable ASCII "type/subtype", at most
        # 255 bytes (a byte that is not UTF-8 made PostgreSQL's text answer 503, issue #10)
        for ctype in (b"text/pl\xe9in", b"textplain", b"text/" + b"x" * 300):
            r = self.put("ct.txt", "one", {"Content-Type": ctype})
            self.assertCondition(r, 415, "unsupported-media-type")
            self.assertStatus(self.req("GET", self.base + "ct.txt"), 404)
        r = self.put("ct.txt", "one", {"Content-Type": "application/x-thing; charset=us-ascii"})
        self.assertStatus(r, 201)
        g = self.req("GET", self.base + "ct.txt")
        self.assertEqual(g.header("Content-Type"), "application/x-thing; charset=us-ascii")

    def test_put_replaces_with_204_and_a_new_etag(self):
        e1 = self.put("a.txt", "one").header("ETag")
        r = self.put("a.txt", "two")
        self.assertStatus(r, 204)
        self.assertNotEqual(r.header("ETag"), e1)
        self.assertEqual(self.req("GET", self.base + "a.txt").body, b"two")

    def test_etag_is_stable_across_reads(self):
        etag = self.put("a.txt").header("ETag")
        for _ in range(3):
            self.assertEqual(self.req("GET", self.base + "a.txt").header("ETag"), etag)
        pf = self.req("PROPFIND", self.base + "a.txt", body=propfind_body("<D:getetag/>"),
                      headers={"Depth": "0"})
        self.assertIn("<D:getetag>%s</D:getetag>" % etag, pf.text)

    def test_head_has_headers_and_no_body(self):
        self.put("a.txt", "12345")
        r = self.req("HEAD", self.base + "a.txt")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("Content-Length"), "5")

    def test_get_if_none_match_current_etag_is_304(self):
        etag = self.put("a.txt").header("ETag")
        r = self.req("GET", self.base + "a.txt", headers={"If-None-Match": etag})
        self.assertStatus(r, 304)
        self.assertEqual(r.header("ETag"), etag)

    def test_put_if_match_mismatch_is_412_and_keeps_content(self):
        self.put("a.txt", "keep")
        r = self.put("a.txt", "lost", {"If-Match": '"0000"'})
        self.assertCondition(r, 412, "precondition-failed")
        self.assertEqual(self.req("GET", self.base + "a.txt").body, b"keep")

    def test_put_if_match_current_etag_succeeds(self):
        etag = self.put("a.txt", "v1").header("ETag")
        self.assertStatus(self.put("a.txt", "v2", {"If-Match": etag}), 204)

    def test_put_if_match_on_missing_resource_is_412(self):
        self.assertStatus(self.put("new.txt", "x", {"If-Match": "*"}), 412)
        self.assertStatus(self.req("GET", self.base + "new.txt"), 404)

    def test_put_if_none_match_star_on_existing_is_412(self):
        self.put("a.txt", "keep")
        self.assertStatus(self.put("a.txt", "lost", {"If-None-Match": "*"}), 412)
        self.assertEqual(self.req("GET", self.base + "a.txt").body, b"keep")

    def test_put_if_none_match_star_creates_when_absent(self):
        self.assertStatus(self.put("a.txt", "x", {"If-None-Match": "*"}), 201)

    def test_put_to_missing_parent_is_409(self):
        self.assertCondition(self.put("nowhere/a.txt"), 409, "parent-missing")

    def test_put_to_a_collection_is_405(self):
        self.req("MKCOL", self.base + "sub/")
        self.assertStatus(self.req("PUT", self.base + "sub", body="x"), 405)

    def test_get_missing_is_404(self):
        self.assertCondition(self.req("GET", self.base + "none.txt"), 404, "not-found")

    def test_names_with_spaces_and_utf8_round_trip_encoded(self):
        self.assertStatus(self.req("PUT", self.base + "a%20b%C3%A9.txt", body="x"), 201)
        pf = self.req("PROPFIND", self.base, headers={"Depth": "1"},
                      body=propfind_body("<D:getetag/>"))
        self.assertIn(self.base + "a%20b%C3%A9.txt</D:href>", pf.text)
        self.assertEqual(self.req("GET", self.base + "a%20b%c3%a9.txt").body, b"x")

    # MKCOL -----------------------------------------------------------------------------

    def test_mkcol_existing_is_405(self):
        # RFC 5689 §3: DAV:resource-must-be-null
        self.assertCondition(self.req("MKCOL", self.base), 405, "resource-must-be-null")

    def test_mkcol_missing_parent_is_409(self):
        self.assertStatus(self.req("MKCOL", self.base + "a/b/"), 409)

    def test_mkcol_with_body_is_415(self):
        r = self.req("MKCOL", self.base + "c/", body="<x/>",
                     headers={"Content-Type": "application/xml"})
        self.assertCondition(r, 415, "unsupported-media-type")
        self.assertStatus(self.req("PROPFIND", self.base + "c/", headers={"Depth": "0"}), 404)

    def test_mkcol_over_a_file_is_405(self):
        self.put("f")
        self.assertStatus(self.req("MKCOL", self.base + "f"), 405)

    def test_mkcol_outside_the_home_is_refused(self):
        self.assertIn(self.req("MKCOL", "/elsewhere/").status, (403, 405, 409))
        self.assertIn(self.req("MKCOL", "/calendars/x/").status, (403, 404, 405, 409))

    # DELETE ----------------------------------------------------------------------------

    def test_delete_item_then_404(self):
        self.put("a.txt")
        self.assertStatus(self.req("DELETE", self.base + "a.txt"), 204)
        self.assertStatus(self.req("GET", self.base + "a.txt"), 404)
        self.assertStatus(self.req("DELETE", self.base + "a.txt"), 404)

    def test_delete_collection_is_recursive(self):
        self.req("MKCOL", self.base + "sub/")
        self.req("MKCOL", self.base + "sub/deeper/")
        self.req("PUT", self.base + "sub/deeper/x", body="x")
        self.assertStatus(self.req("DELETE", self.base + "sub/"), 204)
        self.assertStatus(self.req("GET", self.base + "sub/deeper/x"), 404)
        self.assertStatus(self.req("PROPFIND", self.base + "sub/", headers={"Depth": "0"}), 404)

    def test_delete_if_match_mismatch_is_412(self):
        self.put("a.txt")
        self.assertStatus(self.req("DELETE", self.base + "a.txt",
                                   headers={"If-Match": '"nope"'}), 412)
        self.assertStatus(self.req("GET", self.base + "a.txt"), 200)

    def test_delete_home_is_forbidden(self):
        self.assertCondition(self.req("DELETE", HOME), 403, "forbidden")

    # PROPFIND --------------------------------------------------------------------------

    def test_propfind_depth_1_lists_every_member(self):
        for i in range(50):
            self.assertStatus(self.put("m%02d.txt" % i, "x%d" % i), 201)
        self.req("MKCOL", self.base + "sub/")
        r = self.req("PROPFIND", self.base, headers={"Depth": "1"},
                     body=propfind_body("<D:getetag/>", "<D:resourcetype/>"))
        self.assertStatus(r, 207)
        self.assertIn("application/xml", r.header("Content-Type"))
        rs = responses(r.text)
        self.assertEqual(len(rs), 52)
        hrefs = [re.search(r"<D:href>(.*?)</D:href>", x).group(1) for x in rs]
        self.assertEqual(hrefs[0], self.base)
        self.assertEqual(hrefs[1], self.base + "sub/")
        self.assertEqual(hrefs[2:], [self.base + "m%02d.txt" % i for i in range(50)])
        self.assertIn("<D:collection/>", rs[1])
        self.assertRegex(rs[2], r'<D:getetag>"[0-9a-f]{44}"</D:getetag>')

    def test_propfind_depth_0_answers_only_the_resource(self):
        self.put("a.txt")
        r = self.req("PROPFIND", self.base, headers={"Depth": "0"})
        self.assertStatus(r, 207)
        self.assertEqual(len(responses(r.text)), 1)

    def test_propfind_depth_infinity_is_refused(self):
        r = self.req("PROPFIND", self.base, headers={"Depth": "infinity"})
        self.assertCondition(r, 403, "propfind-finite-depth")
        self.assertIn("<D:propfind-finite-depth/>", r.text)

    def test_propfind_without_depth_means_infinity_and_is_refused(self):
        self.assertCondition(self.req("PROPFIND", self.base), 403, "propfind-finite-depth")

    def test_propfind_bad_depth_is_400(self):
        self.assertStatus(self.req("PROPFIND", self.base, headers={"Depth": "2"}), 400)

    def test_propfind_empty_body_is_allprop(self):
        self.put("a.txt", "abc", {"Content-Type": "text/plain"})
        r = self.req("PROPFIND", self.base + "a.txt", headers={"Depth": "0"})
        for p in ("getetag", "getcontentlength>3<", "getcontenttype>text/plain<",
                  "getlastmodified", "resourcetype"):
            self.assertIn(p, r.text)

    def test_propfind_propname_lists_names_without_values(self):
        self.put("a.txt", "abc")
        body = '<?xml version="1.0"?><propfind xmlns="DAV:"><propname/></propfind>'
        r = self.req("PROPFIND", self.base + "a.txt", headers={"Depth": "0"}, body=body)
        self.assertStatus(r, 207)
        self.assertIn("<D:getcontentlength/>", r.text)
        self.assertNotIn(">3<", r.text)

    def test_propfind_unknown_property_is_a_404_propstat(self):
        r = self.req("PROPFIND", self.base, headers={"Depth": "0"},
                     body=propfind_body('<Z:nothing xmlns:Z="urn:z"/>'))
        self.assertStatus(r, 207)
        self.assertRegex(r.text, r'<X:nothing xmlns:X="urn:z"/></D:prop><D:status>HTTP/1.1 404')

    def test_propfind_current_user_principal(self):
        r = self.req("PROPFIND", "/", headers={"Depth": "0"},
                     body=propfind_body("<D:current-user-principal/>"))
        self.assertIn("<D:current-user-principal><D:href>/principals/alice/</D:href>", r.text)
        r = self.req("PROPFIND", "/principals/alice/", headers={"Depth": "0"},
                     body=propfind_body("<D:resourcetype/>", "<D:displayname/>"))
        self.assertIn("<D:principal/>", r.text)
        self.assertIn("<D:displayname>alice</D:displayname>", r.text)

    def test_propfind_not_a_propfind_body_is_400(self):
        r = self.req("PROPFIND", self.base, headers={"Depth": "0"},
                     body='<?xml version="1.0"?><x xmlns="DAV:"/>')
        self.assertCondition(r, 400, "bad-request")

    def test_propfind_missing_resource_is_404(self):
        self.assertStatus(self.req("PROPFIND", self.base + "none/", headers={"Depth": "0"}),
                          404)

    # PROPPATCH -------------------------------------------------------------------------

    def proppatch(self, path, inner):
        body = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">%s'
                '</D:propertyupdate>' % inner)
        return self.req("PROPPATCH", path, body=body)

    def get_prop(self, path, prop):
        return self.req("PROPFIND", path, headers={"Depth": "0"},
                        body=propfind_body(prop)).text

    def test_proppatch_sets_and_removes_dead_properties(self):
        self.put("a.txt")
        r = self.proppatch(self.base + "a.txt",
                           "<D:set><D:prop><Z:color>blue &amp; <Z:b>bold</Z:b></Z:color>"
                           "</D:prop></D:set>")
        self.assertStatus(r, 207)
        self.assertIn("HTTP/1.1 200 OK", r.text)
        got = self.get_prop(self.base + "a.txt", '<Z:color xmlns:Z="urn:z"/>')
        self.assertIn('blue &amp; <V:b xmlns:V="urn:z">bold</V:b>', got)
        self.proppatch(self.base + "a.txt", "<D:remove><D:prop><Z:color/></D:prop></D:remove>")
        got = self.get_prop(self.base + "a.txt", '<Z:color xmlns:Z="urn:z"/>')
        self.assertIn("404 Not Found", got)

    def test_proppatch_changes_the_etag(self):
        etag = self.put("a.txt").header("ETag")
        self.proppatch(self.base + "a.txt", "<D:set><D:prop><Z:p>1</Z:p></D:prop></D:set>")
        self.assertNotEqual(self.req("GET", self.base + "a.txt").header("ETag"), etag)

    def test_proppatch_protected_property_fails_all_atomically(self):
        self.put("a.txt")
        r = self.proppatch(self.base + "a.txt",
                           "<D:set><D:prop><Z:ok>1</Z:ok><D:getetag>x</D:getetag></D:prop>"
                           "</D:set>")
        self.assertStatus(r, 207)
        self.assertIn("403 Forbidden", r.text)
        self.assertIn("<D:cannot-modify-protected-property/>", r.text)
        self.assertIn("424 Failed Dependency", r.text)
        got = self.get_prop(self.base + "a.txt", '<Z:ok xmlns:Z="urn:z"/>')
        self.assertIn("404 Not Found", got)

    def test_proppatch_on_collection_and_displayname(self):
        self.proppatch(self.base, "<D:set><D:prop><D:displayname>My files</D:displayname>"
                                  "</D:prop></D:set>")
        got = self.get_prop(self.base, "<D:displayname/>")
        self.assertIn("<D:displayname>My files</D:displayname>", got)

    def test_proppatch_missing_resource_is_404(self):
        r = self.proppatch(self.base + "none", "<D:set><D:prop><Z:a>1</Z:a></D:prop></D:set>")
        self.assertStatus(r, 404)

    # COPY / MOVE -----------------------------------------------------------------------

    def test_copy_item_creates_201_with_dead_properties(self):
        self.put("a.txt", "data")
        self.proppatch(self.base + "a.txt", "<D:set><D:prop><Z:p>v</Z:p></D:prop></D:set>")
        r = self.req("COPY", self.base + "a.txt", headers={"Destination": self.base + "b.txt"})
        self.assertStatus(r, 201)
        self.assertEqual(self.req("GET", self.base + "b.txt").body, b"data")
        self.assertEqual(self.req("GET", self.base + "a.txt").body, b"data")
        self.assertIn(">v</X:p>", self.get_prop(self.base + "b.txt", '<Z:p xmlns:Z="urn:z"/>'))

    def test_copy_overwrite_f_on_existing_is_412(self):
        self.put("a.txt", "a")
        self.put("b.txt", "b")
        r = self.req("COPY", self.base + "a.txt",
                     headers={"Destination": self.base + "b.txt", "Overwrite": "F"})
        self.assertStatus(r, 412)
        self.assertEqual(self.req("GET", self.base + "b.txt").body, b"b")

    def test_copy_overwrite_t_replaces_with_204(self):
        self.put("a.txt", "a")
        self.put("b.txt", "b")
        r = self.req("COPY", self.base + "a.txt", headers={"Destination": self.base + "b.txt"})
        self.assertStatus(r, 204)
        self.assertEqual(self.req("GET", self.base + "b.txt").body, b"a")

    def test_copy_with_absolute_destination_uri(self):
        self.put("a.txt", "a")
        dest = "http://127.0.0.1:%d%sc.txt" % (self.srv.port, self.base)
        self.assertStatus(self.req("COPY", self.base + "a.txt",
                                   headers={"Destination": dest}), 201)

    def test_copy_to_another_server_is_502(self):
        self.put("a.txt", "a")
        r = self.req("COPY", self.base + "a.txt",
                     headers={"Destination": "http://elsewhere.example" + self.base + "c"})
        self.assertStatus(r, 502)

    def test_copy_without_destination_is_400(self):
        self.put("a.txt")
        self.assertCondition(self.req("COPY", self.base + "a.txt"), 400, "bad-destination")

    def test_copy_to_missing_parent_is_409(self):
        self.put("a.txt")
        r = self.req("COPY", self.base + "a.txt", headers={"Destination": self.base + "x/y"})
        self.assertStatus(r, 409)

    def test_copy_onto_itself_is_403(self):
        self.put("a.txt")
        r = self.req("COPY", self.base + "a.txt", headers={"Destination": self.base + "a.txt"})
        self.assertCondition(r, 403, "source-is-destination")

    def test_copy_collection_depth_infinity_copies_members(self):
        self.req("MKCOL", self.base + "src/")
        self.req("MKCOL", self.base + "src/sub/")
        self.req("PUT", self.base + "src/sub/x", body="deep")
        self.req("PUT", self.base + "src/y", body="top")
        r = self.req("COPY", self.base + "src/", headers={"Destination": self.base + "dst/"})
        self.assertStatus(r, 201)
        self.assertEqual(self.req("GET", self.base + "dst/sub/x").body, b"deep")
        self.assertEqual(self.req("GET", self.base + "dst/y").body, b"top")

    def test_copy_collection_depth_0_copies_only_the_collection(self):
        self.req("MKCOL", self.base + "src/")
        self.req("PUT", self.base + "src/y", body="top")
        r = self.req("COPY", self.base + "src/",
                     headers={"Destination": self.base + "dst/", "Depth": "0"})
        self.assertStatus(r, 201)
        pf = self.req("PROPFIND", self.base + "dst/", headers={"Depth": "1"})
        self.assertEqual(len(responses(pf.text)), 1)

    def test_copy_collection_into_itself_is_403(self):
        self.req("MKCOL", self.base + "src/")
        r = self.req("COPY", self.base + "src/", headers={"Destination": self.base + "src/in/"})
        self.assertStatus(r, 403)

    def test_move_item_keeps_content_and_properties(self):
        self.put("a.txt", "data")
        self.proppatch(self.base + "a.txt", "<D:set><D:prop><Z:p>v</Z:p></D:prop></D:set>")
        r = self.req("MOVE", self.base + "a.txt", headers={"Destination": self.base + "b.txt"})
        self.assertStatus(r, 201)
        self.assertStatus(self.req("GET", self.base + "a.txt"), 404)
        self.assertEqual(self.req("GET", self.base + "b.txt").body, b"data")
        self.assertIn(">v</X:p>", self.get_prop(self.base + "b.txt", '<Z:p xmlns:Z="urn:z"/>'))

    def test_move_collection_with_members(self):
        self.req("MKCOL", self.base + "src/")
        self.req("PUT", self.base + "src/y", body="top")
        r = self.req("MOVE", self.base + "src/", headers={"Destination": self.base + "moved/"})
        self.assertStatus(r, 201)
        self.assertEqual(self.req("GET", self.base + "moved/y").body, b"top")
        self.assertStatus(self.req("GET", self.base + "src/y"), 404)

    def test_move_overwrite_f_is_412(self):
        self.put("a.txt", "a")
        self.put("b.txt", "b")
        r = self.req("MOVE", self.base + "a.txt",
                     headers={"Destination": self.base + "b.txt", "Overwrite": "F"})
        self.assertStatus(r, 412)
        self.assertEqual(self.req("GET", self.base + "a.txt").body, b"a")

    def test_move_depth_0_is_400(self):
        self.put("a.txt")
        r = self.req("MOVE", self.base + "a.txt",
                     headers={"Destination": self.base + "b.txt", "Depth": "0"})
        self.assertStatus(r, 400)


if __name__ == "__main__":
    main()
