"""tests/integration/test_security.py: authentication, and two users isolated from each
other by every method: another user's tree answers 404 (its existence is not revealed) and
nothing is written there; path traversal and encoding tricks never cross homes. Only Basic
credentials, without NUL bytes, are accepted, and a cached credential expires."""

import base64
import time

from harness import ServerTestCase, main, propfind_body

ALICE = "/calendars/alice/"


class SecurityTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        r = cls.srv.request("MKCOL", ALICE + "private/")
        assert r.status == 201, r
        r = cls.srv.request("PUT", ALICE + "private/secret.txt", body="alice only")
        assert r.status == 201, r

    def assertAliceUntouched(self):
        r = self.req("GET", ALICE + "private/secret.txt")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"alice only")
        r = self.req("PROPFIND", ALICE + "private/", headers={"Depth": "1"})
        self.assertEqual(r.text.count("<D:response>"), 2, r.text)

    # Authentication --------------------------------------------------------------------

    def test_no_credentials_is_401_with_a_realm(self):
        r = self.req("PROPFIND", ALICE, auth=False, headers={"Depth": "0"})
        self.assertCondition(r, 401, "unauthenticated")
        self.assertRegex(r.header("WWW-Authenticate"), r'^Basic realm="[^"]+"')

    def test_wrong_password_is_401(self):
        r = self.req("GET", ALICE + "private/secret.txt", password="wrong")
        self.assertStatus(r, 401)

    def test_unknown_user_is_401(self):
        r = self.req("GET", ALICE, user="mallory", password="x")
        self.assertStatus(r, 401)

    def test_malformed_authorization_is_401(self):
        for h in ("Basic", "Basic !!!notbase64", "Bearer abc", "Basic " + "QQ==" * 600):
            r = self.req("GET", ALICE, auth=False, headers={"Authorization": h})
            self.assertStatus(r, 401, h[:20])

    def test_another_scheme_with_basic_credentials_is_401(self):
        # Basic's payload (alice's right password) under other six-letter schemes
        creds = base64.b64encode(b"alice:" + self.srv.passwords["alice"].encode()).decode()
        for scheme in ("Bearer", "Digest", "Basics"):
            r = self.req("GET", ALICE + "private/secret.txt", auth=False,
                         headers={"Authorization": "%s %s" % (scheme, creds)})
            self.assertStatus(r, 401, scheme)
            self.assertNotIn(b"alice only", r.body)

    def test_credentials_with_a_nul_byte_are_401(self):
        # the right password followed by a NUL and more: not the password
        pw = self.srv.passwords["alice"].encode()
        for raw in (b"alice:" + pw + b"\0junk", b"alice\0x:" + pw):
            h = "Basic " + base64.b64encode(raw).decode()
            r = self.req("GET", ALICE + "private/secret.txt", auth=False,
                         headers={"Authorization": h})
            self.assertStatus(r, 401, repr(raw))

    def test_every_method_needs_authentication(self):
        for m in ("OPTIONS", "GET", "PUT", "DELETE", "PROPFIND", "PROPPATCH", "MKCOL", "COPY",
                  "MOVE"):
            self.assertStatus(self.req(m, ALICE + "x", auth=False), 401, m)
        self.assertAliceUntouched()

    # Isolation -------------------------------------------------------------------------

    def test_bob_cannot_read_alice_by_any_method(self):
        for m, path, hdrs in (("GET", ALICE + "private/secret.txt", {}),
                              ("HEAD", ALICE + "private/secret.txt", {}),
                              ("PROPFIND", ALICE, {"Depth": "0"}),
                              ("PROPFIND", ALICE + "private/", {"Depth": "1"}),
                              ("PROPFIND", "/principals/alice/", {"Depth": "0"})):
            r = self.req(m, path, user="bob", headers=hdrs)
            self.assertStatus(r, 404, m + " " + path)
            self.assertNotIn(b"alice only", r.body)

    def test_bob_cannot_write_alice_by_any_method(self):
        attempts = [
            ("PUT", ALICE + "private/secret.txt", {}, "bob was here"),
            ("PUT", ALICE + "private/new.txt", {}, "bob was here"),
            ("DELETE", ALICE + "private/secret.txt", {}, None),
            ("DELETE", ALICE + "private/", {}, None),
            ("MKCOL", ALICE + "private/bobdir/", {}, None),
            ("PROPPATCH", ALICE + "private/", {},
             '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
             '<D:displayname>pwned</D:displayname></D:prop></D:set></D:propertyupdate>'),
            ("COPY", ALICE + "private/secret.txt",
             {"Destination": "/calendars/bob/stolen.txt"}, None),
            ("MOVE", ALICE + "private/secret.txt",
             {"Destination": "/calendars/bob/stolen.txt"}, None),
        ]
        for m, path, hdrs, body in attempts:
            r = self.req(m, path, user="bob", headers=hdrs, body=body)
            self.assertStatus(r, 404, m + " " + path)
        self.assertStatus(self.req("GET", "/calendars/bob/stolen.txt", user="bob"), 404)
        self.assertAliceUntouched()
        r = self.req("PROPFIND", ALICE + "private/", headers={"Depth": "0"},
                     body=propfind_body("<D:displayname/>"))
        self.assertNotIn("pwned", r.text)

    def test_bob_cannot_copy_or_move_into_alice(self):
        self.assertStatus(self.req("PUT", "/calendars/bob/mine.txt", user="bob", body="b"), 201)
        for m in ("COPY", "MOVE"):
            r = self.req(m, "/calendars/bob/mine.txt", user="bob",
                         headers={"Destination": ALICE + "private/planted.txt"})
            self.assertIn(r.status, (403, 404), m)
        self.assertStatus(self.req("GET", ALICE + "private/planted.txt"), 404)
        self.assertStatus(self.req("GET", "/calendars/bob/mine.txt", user="bob"), 200)

    def test_alice_home_listing_shows_only_her_own_tree(self):
        r = self.req("PROPFIND", "/calendars/", headers={"Depth": "1"}, user="bob")
        self.assertStatus(r, 207)
        self.assertIn("/calendars/bob/", r.text)
        self.assertNotIn("alice", r.text)

    # Paths -----------------------------------------------------------------------------

    def test_traversal_never_reaches_another_home(self):
        for path in ("/calendars/bob/../alice/private/secret.txt",
                     "/calendars/bob/%2e%2e/alice/private/secret.txt",
                     "/calendars/bob/./../alice/private/secret.txt",
                     "/calendars/bob/x/../../alice/private/secret.txt"):
            r = self.req("GET", path, user="bob")
            self.assertStatus(r, 404, path)
            self.assertNotIn(b"alice only", r.body)

    def test_bad_paths_are_400(self):
        for path in ("/../etc/passwd", "/calendars/bob/%00x", "/calendars/bob/a%2Fb",
                     "/calendars/bob/%zz", "/calendars/bob/%", "/calendars/bob/x#frag"):
            r = self.req("GET", path, user="bob")
            self.assertCondition(r, 400, "bad-path")

    def test_names_that_are_not_utf8_are_400_on_every_engine(self):
        # %FF is no UTF-8 (nor is an overlong or a surrogate): a name is text, so every method
        # refuses it before the store (PostgreSQL's text would refuse it, SQLite keep it)
        for method, path, headers in (
                ("PUT", ALICE + "private/%FF.ics", {}),
                ("PUT", ALICE + "private/%C0%AF.txt", {}),
                ("PUT", ALICE + "private/%ED%A0%80.txt", {}),
                ("MKCALENDAR", ALICE + "%FE/", {}),
                ("MKCOL", ALICE + "private/caf%E9/", {}),
                ("COPY", ALICE + "private/secret.txt",
                 {"Destination": ALICE + "private/%FF.txt"}),
                ("MOVE", ALICE + "private/secret.txt",
                 {"Destination": ALICE + "private/%FF.txt"})):
            r = self.req(method, path, body="x" if method == "PUT" else None, headers=headers)
            self.assertCondition(r, 400, "bad-destination" if headers else "bad-path")
            self.assertIn("not UTF-8", r.text, path)
        self.assertAliceUntouched()
        r = self.req("PROPFIND", ALICE, headers={"Depth": "1"})
        self.assertStatus(r, 207)
        self.assertNotIn("%FE", r.text.upper().replace("%25", ""))
        # a UTF-8 name is fine, and comes back percent-encoded
        r = self.req("PUT", ALICE + "private/caf%C3%A9.txt", body="ok")
        self.assertStatus(r, 201)
        r = self.req("PROPFIND", ALICE + "private/", headers={"Depth": "1"})
        self.assertIn("caf%C3%A9.txt", r.text)
        self.assertStatus(self.req("DELETE", ALICE + "private/caf%C3%A9.txt"), 204)

    def test_a_user_name_that_is_not_utf8_is_401(self):
        # the name goes to the store's lookup: refused there as no such user, never a 503
        creds = base64.b64encode(b"\xffalice:" + self.srv.passwords["alice"].encode()).decode()
        r = self.req("PROPFIND", ALICE, auth=False,
                     headers={"Depth": "0", "Authorization": "Basic " + creds})
        self.assertCondition(r, 401, "unauthenticated")

    def test_too_long_path_is_414(self):
        r = self.req("GET", "/calendars/bob/" + "a" * 5000, user="bob")
        self.assertIn(r.status, (414, 431), r)



class CredentialCacheTest(ServerTestCase):
    """Verified credentials are remembered for auth_cache_ttl seconds, and no longer: a
    password changed with the admin CLI stops working once its cache entry has expired."""

    CONFIG = "auth_cache_ttl = 1\n"

    def test_a_changed_password_stops_working_after_the_ttl(self):
        old = self.srv.passwords["alice"]
        self.assertStatus(self.req("PROPFIND", ALICE, headers={"Depth": "0"}), 207)
        self.srv.cli("user", "passwd", "alice", "--password-stdin", input="new-secret\n")
        time.sleep(2.2)  # the entry was made at most 1 s ago, with a 1 s lifetime
        r = self.req("PROPFIND", ALICE, headers={"Depth": "0"}, password=old)
        self.assertStatus(r, 401)
        r = self.req("PROPFIND", ALICE, headers={"Depth": "0"}, password="new-secret")
        self.assertStatus(r, 207)


if __name__ == "__main__":
    main()
