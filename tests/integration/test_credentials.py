"""tests/integration/test_credentials.py: credentials after a change, and failed logins
(issue 14 item 8). A password changed or a user deleted with the admin CLI, another process,
is refused at the server's next request although the old credential is in its cache
(auth_cache_ttl is 300 s); a failed login is logged with the client address and the user
name (README "Failed logins"); repeated failures are answered 429 auth-throttled with
Retry-After per address, and per user name only from addresses that failed too, so the real
user still gets in from another address. 127.0.0.x are distinct loopback addresses: the
client socket is bound to one of them."""

import base64
import http.client
import re
import time

from harness import Response, ServerTestCase, main

DEPTH0 = {"Depth": "0"}


def request_from(srv, source, user, password, path=None):
    """PROPFIND Depth 0 of the user's home with Basic credentials, from address `source`."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60,
                                      source_address=(source, 0))
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    headers = dict(DEPTH0, Authorization="Basic " + token)
    conn.request("PROPFIND", path or "/calendars/%s/" % user, headers=headers)
    r = conn.getresponse()
    resp = Response(r.status, r.getheaders(), r.read())
    conn.close()
    return resp


class CredentialChangeTest(ServerTestCase):
    USERS = ("alice", "bob", "carol")

    def home(self, user, password):
        return self.req("PROPFIND", "/calendars/%s/" % user, user=user, password=password,
                        headers=DEPTH0)

    def test_passwd_refuses_the_old_password_at_once_and_takes_the_new(self):
        old = self.srv.passwords["bob"]
        for _ in range(2):  # verified once, then answered from the credential cache
            self.assertStatus(self.home("bob", old), 207)
        self.srv.cli("user", "passwd", "bob", "--password-stdin", input="bob-new-pw\n")
        self.assertCondition(self.home("bob", old), 401, "unauthenticated")
        self.assertStatus(self.home("bob", "bob-new-pw"), 207)
        self.assertStatus(self.home("bob", "bob-new-pw"), 207)
        # and back: the first new password is refused in turn
        self.srv.cli("user", "passwd", "bob", "--password-stdin", input=old + "\n")
        self.assertStatus(self.home("bob", "bob-new-pw"), 401)
        self.assertStatus(self.home("bob", old), 207)

    def test_del_refuses_the_user_at_once_and_a_new_user_of_that_name_starts_afresh(self):
        pw = self.srv.passwords["carol"]
        for _ in range(2):
            self.assertStatus(self.home("carol", pw), 207)
        self.srv.cli("user", "del", "carol")
        self.assertCondition(self.home("carol", pw), 401, "unauthenticated")
        self.srv.cli("user", "add", "carol", "--password-stdin", input="carol-2-pw\n")
        self.assertStatus(self.home("carol", pw), 401)
        self.assertStatus(self.home("carol", "carol-2-pw"), 207)
        self.assertStatus(self.home("carol", "carol-2-pw"), 207)

    def test_others_stay_cached_and_valid(self):
        pw = self.srv.passwords["alice"]
        self.assertStatus(self.home("alice", pw), 207)
        self.srv.cli("user", "passwd", "bob", "--password-stdin",
                     input=self.srv.passwords["bob"] + "\n")
        self.assertStatus(self.home("alice", pw), 207)


class FailedLoginTest(ServerTestCase):
    USERS = ("alice", "bob", "dave")
    CONFIG = ("auth_fail_window = 600\nauth_fail_addr_limit = 3\nauth_fail_user_limit = 3\n"
              "auth_fail_max_delay = 60\n")

    def assertThrottled(self, r):
        self.assertCondition(r, 429, "auth-throttled")
        retry = r.header("Retry-After")
        self.assertIsNotNone(retry, r.headers)
        self.assertRegex(retry, r"^[0-9]+$")
        self.assertTrue(1 <= int(retry) <= 60, retry)
        return int(retry)

    def wait_for_log(self, pattern):
        """The server writes its line before it answers; allow for the file's buffering."""
        for _ in range(50):
            m = re.search(pattern, self.srv.read_log(), re.M)
            if m:
                return m
            time.sleep(0.1)
        self.fail("no log line matching %r in:\n%s" % (pattern, self.srv.read_log()[-3000:]))

    def test_a_failed_login_is_logged_with_the_address_and_the_sanitized_user(self):
        r = request_from(self.srv, "127.0.0.4", "mal lory\"x", "guess", path="/calendars/")
        self.assertCondition(r, 401, "unauthenticated")
        self.wait_for_log(r"^\S+Z warn auth failed addr=127\.0\.0\.4 "
                          r"user=mal\\x20lory\\x22x$")
        r = request_from(self.srv, "127.0.0.4", "bob", "guess")
        self.assertStatus(r, 401)
        self.wait_for_log(r"^\S+Z warn auth failed addr=127\.0\.0\.4 user=bob$")
        # a request without credentials is the usual challenge, not a failed login
        self.assertStatus(self.req("PROPFIND", "/calendars/alice/", auth=False,
                                   headers=DEPTH0), 401)
        self.assertNotRegex(self.srv.read_log(), r"auth failed addr=127\.0\.0\.1 ")

    def test_an_address_that_keeps_failing_waits_while_the_user_gets_in_from_another(self):
        attacker = "127.0.0.2"
        # a different name each time: below every user's limit, at the address's
        for name in ("alice", "root", "admin"):
            self.assertStatus(request_from(self.srv, attacker, name, "guess"), 401)
        # refused unchecked, even with the right password, and for any user
        retry = self.assertThrottled(
            request_from(self.srv, attacker, "alice", self.srv.passwords["alice"]))
        self.assertThrottled(request_from(self.srv, attacker, "bob", self.srv.passwords["bob"]))
        self.wait_for_log(r"^\S+Z warn auth throttled addr=127\.0\.0\.2 user=bob "
                          r"retry_after=[0-9]+$")
        # the real alice, from an address that has not been failing, gets in at once
        self.assertStatus(request_from(self.srv, "127.0.0.1", "alice",
                                       self.srv.passwords["alice"]), 207)
        # slowed, not locked out: once Retry-After has passed, a correct password is taken
        time.sleep(retry + 0.2)
        self.assertStatus(request_from(self.srv, attacker, "alice",
                                       self.srv.passwords["alice"]), 207)

    def test_failures_on_one_user_from_many_addresses_never_lock_that_user_out(self):
        # three addresses fail on dave once each: his limit, none of theirs
        for source in ("127.0.0.5", "127.0.0.6", "127.0.0.7"):
            self.assertStatus(request_from(self.srv, source, "dave", "guess"), 401)
        # a failing address now waits before it may try dave again
        self.assertThrottled(request_from(self.srv, "127.0.0.5", "dave", "guess-2"))
        # but not for another user below that user's limit
        self.assertStatus(request_from(self.srv, "127.0.0.6", "bob", self.srv.passwords["bob"]),
                          207)
        # and dave himself, from an address without failures, is never delayed
        for source in ("127.0.0.1", "127.0.0.8"):
            self.assertStatus(request_from(self.srv, source, "dave", self.srv.passwords["dave"]),
                              207)


if __name__ == "__main__":
    main()
