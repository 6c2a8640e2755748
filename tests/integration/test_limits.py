"""tests/integration/test_limits.py: malformed and oversized input gets a 4xx naming the
condition, and the store is left untouched. The server runs with small limits."""

from harness import ServerTestCase, main, propfind_body

BASE = "/calendars/alice/"

CONFIG = """# small limits for tests
xml_max_body = 65536
max_resource_size = 65536
xml_max_depth = 16
xml_max_elements = 1000
xml_max_text = 4096
"""

MALFORMED = [
    "<D:propfind xmlns:D=\"DAV:\"><D:prop>",                    # truncated
    "<D:propfind xmlns:D=\"DAV:\"></D:wrong>",                  # mismatched tags
    "<propfind xmlns=\"DAV:\"><prop><x:y/></prop></propfind>",  # unbound prefix
    "not xml at all",
    "<a></a><b></b>",                                           # two roots
    "<?xml version=\"1.0\"?>",                                  # no root
    "<a attr=\"1\" attr=\"2\"/>",                               # duplicate attribute
    "<a>\x01</a>",                                              # control character
    "<a>&undefined;</a>",                                       # undeclared entity
    "\xff\xfe<a/>",                                             # bad encoding
]


class LimitsTest(ServerTestCase):
    CONFIG = CONFIG

    def setUp(self):
        self.base = BASE + self._testMethodName + "/"
        self.assertStatus(self.req("MKCOL", self.base), 201)
        self.assertStatus(self.req("PUT", self.base + "keep.txt", body="keep"), 201)

    def assertUntouched(self):
        r = self.req("PROPFIND", self.base, headers={"Depth": "1"},
                     body=propfind_body('<Z:p xmlns:Z="urn:z"/>'))
        self.assertEqual(r.text.count("<D:response>"), 2, r.text)
        self.assertNotIn("evil", r.text)
        self.assertEqual(self.req("GET", self.base + "keep.txt").body, b"keep")

    def proppatch(self, body, **kw):
        return self.req("PROPPATCH", self.base, body=body, **kw)

    def test_malformed_xml_is_400_for_propfind_and_proppatch(self):
        for body in MALFORMED:
            raw = body.encode("latin-1")
            for r in (self.req("PROPFIND", self.base, headers={"Depth": "0"}, body=raw),
                      self.proppatch(raw)):
                self.assertStatus(r, 400, body)
                # A well-formed start with the wrong root is named as such.
                self.assertRegex(r.text, "<A:reason>(malformed-xml|bad-request)</A:reason>")
        r = self.req("PROPFIND", self.base, headers={"Depth": "0"}, body=MALFORMED[0])
        self.assertCondition(r, 400, "malformed-xml")
        self.assertUntouched()

    def test_doctype_and_entities_are_refused(self):
        bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
                '<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><p xmlns="urn:z">&lol2;evil'
                '</p></D:prop></D:set></D:propertyupdate>')
        self.assertCondition(self.proppatch(bomb), 400, "doctype-not-allowed")
        ext = ('<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>')
        r = self.req("PROPFIND", self.base, headers={"Depth": "0"}, body=ext)
        self.assertCondition(r, 400, "doctype-not-allowed")
        self.assertUntouched()

    def test_body_over_xml_max_body_is_413(self):
        body = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
                '<p xmlns="urn:z">' + "evil" * 20000 + '</p></D:prop></D:set>'
                '</D:propertyupdate>')
        r = self.proppatch(body)
        self.assertCondition(r, 413, "xml-body-too-large")
        self.assertUntouched()

    def test_chunked_body_over_xml_max_body_is_413(self):
        def chunks():
            yield b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
            for _ in range(100):
                yield b" " * 1000 + b"<D:getetag/>"
            yield b"</D:prop></D:propfind>"
        r = self.req("PROPFIND", self.base, headers={"Depth": "0",
                                                     "Transfer-Encoding": "chunked"},
                     body=chunks())
        self.assertCondition(r, 413, "xml-body-too-large")

    def test_deep_nesting_is_413(self):
        body = ('<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><p xmlns="urn:z">' +
                "<a>" * 40 + "evil" + "</a>" * 40 + "</p></D:prop></D:set></D:propertyupdate>")
        self.assertCondition(self.proppatch(body), 413, "xml-too-deep")
        self.assertUntouched()

    def test_too_many_elements_is_413(self):
        body = ('<D:propfind xmlns:D="DAV:"><D:prop>' + "<D:getetag/>" * 2000 +
                '</D:prop></D:propfind>')
        r = self.req("PROPFIND", self.base, headers={"Depth": "0"}, body=body)
        self.assertCondition(r, 413, "xml-too-many-elements")

    def test_long_text_is_413(self):
        body = ('<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><p xmlns="urn:z">' +
                "e" * 5000 + "</p></D:prop></D:set></D:propertyupdate>")
        self.assertCondition(self.proppatch(body), 413, "xml-text-too-long")
        self.assertUntouched()

    def test_put_over_max_resource_size_is_413_and_stores_nothing(self):
        r = self.req("PUT", self.base + "big.bin", body=b"x" * 70000)
        self.assertCondition(r, 413, "max-resource-size")
        self.assertStatus(self.req("GET", self.base + "big.bin"), 404)
        self.assertUntouched()

    def test_chunked_put_over_max_resource_size_is_413(self):
        def chunks():
            for _ in range(20):
                yield b"y" * 8192
        r = self.req("PUT", self.base + "big2.bin", body=chunks())
        self.assertCondition(r, 413, "max-resource-size")
        self.assertStatus(self.req("GET", self.base + "big2.bin"), 404)

    def test_put_at_the_limit_is_accepted(self):
        r = self.req("PUT", self.base + "edge.bin", body=b"z" * 65536)
        self.assertStatus(r, 201)
        self.assertEqual(len(self.req("GET", self.base + "edge.bin").body), 65536)

    def test_server_still_serves_after_bad_input(self):
        for body in MALFORMED:
            self.req("PROPFIND", self.base, headers={"Depth": "0"}, body=body.encode("latin-1"))
        r = self.req("PROPFIND", self.base, headers={"Depth": "0"})
        self.assertStatus(r, 207)


if __name__ == "__main__":
    main()
