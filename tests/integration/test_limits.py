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


class LargeObjectTest(ServerTestCase):
    """An object as large as max_resource_size lets in can be read back through every
    multistatus: its calendar-data escaped at worst (each '&' becomes five bytes) fits the
    row limit, which follows max_resource_size (issue 14: it was a fixed 4 MiB)."""

    CONFIG = "max_resource_size = 5M\n"

    def test_largest_object_comes_back_whole_in_multiget_and_propfind(self):
        import xml.etree.ElementTree as ET
        cal = "/calendars/alice/big/"
        self.assertStatus(self.req("MKCALENDAR", cal), 201)
        text = "&" * (5 * 1024 * 1024 * 74 // 77 - 2048)  # folding adds 3 bytes per 74
        # RFC 5545 §3.1: fold at 75 octets
        desc = "DESCRIPTION:" + text
        folded = "\r\n ".join(desc[i:i + 74] for i in range(0, len(desc), 74))
        body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\n"
                "UID:big\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
                + folded + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        self.assertLessEqual(len(body), 5 * 1024 * 1024)
        self.assertStatus(self.req("PUT", cal + "big.ics", body=body,
                                   headers={"Content-Type": "text/calendar"}), 201)
        mg = ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
              'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>'
              '<D:href>%sbig.ics</D:href></C:calendar-multiget>' % cal)
        ns = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav"}
        for method, path, req, depth in (("REPORT", cal, mg, "1"),
                                          ("PROPFIND", cal + "big.ics",
                                           '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
                                           'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
                                           '<C:calendar-data/></D:prop></D:propfind>', "0")):
            r = self.req(method, path, body=req, headers={"Depth": depth,
                                                          "Content-Type": "text/xml"})
            self.assertStatus(r, 207, method)
            root = ET.fromstring(r.body)
            data = root.find(".//C:calendar-data", ns)
            self.assertIsNotNone(data, method + " lost the row: " + r.text[-300:])
            self.assertEqual(data.text, body, method)


if __name__ == "__main__":
    main()
