"""tests/integration/test_credentials.py: credentials after a change (issue 14 item 8). A
password changed or a user deleted with the admin CLI, another process, is refused at the
server's next request although the old credential is in its cache (auth_cache_ttl is
300 s)."""

from harness import ServerTestCase, main

DEPTH0 = {"Depth": "0"}


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


if __name__ == "__main__":
    main()
