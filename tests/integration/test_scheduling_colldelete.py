"""tests/integration/test_scheduling_colldelete.py: a deleted calendar schedules its meetings
as their own deletes would (RFC 6638 §3.2.1.3 and §3.2.2.3; docs/scheduling.md): the
organizer's calendar deleted over CalDAV (DELETE, an overwriting MOVE onto it) or ActiveSync
(FolderDelete) takes each attendee's copy away; an attendee's calendar deleted answers
DECLINED to the organizer. And COPY and MOVE of a meeting (RFC 6638 §3.2.4.1): a COPY that
would make a second scheduling object of the UID in the home is 403
unique-scheduling-object-resource; a MOVE within the home sends nothing and keeps the
meeting scheduling."""

import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import easclient as eas  # noqa: E402
from easclient import E, EASClient  # noqa: E402
from harness import ServerTestCase, main  # noqa: E402
from test_scheduling import ICS, attendee_line, event  # noqa: E402

BOB = "mailto:bob@example.org"
CAROL = "mailto:carol@example.org"
DAVE = "mailto:dave@example.org"


class CollDeleteSchedulingTest(ServerTestCase):
    USERS = ("alice", "bob", "carol", "dave")
    CONFIG = "mail_domain = example.org\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for u in cls.USERS:
            cls.srv.cli("calendar", "add", u, "cal")
        for c in ("work", "moved", "empty", "phone", "other"):
            cls.srv.cli("calendar", "add", "alice", c)

    def invite(self, cal, uid, attendees):
        r = self.req("PUT", "/calendars/alice/%s/%s.ics" % (cal, uid), user="alice",
                     body=event(uid, attendees), headers=ICS)
        self.assertStatus(r, 201)
        for who in attendees:
            user = who.split(":")[1].split("@")[0]
            self.assertStatus(self.req("GET", "/calendars/%s/cal/%s.ics" % (user, uid),
                                       user=user), 200)

    # RFC 6638 §3.2.1.3: the organizer's delete cancels for each attendee
    def test_organizer_calendar_deleted_cancels_meetings(self):
        self.invite("work", "cd1", [BOB, CAROL])
        self.invite("work", "cd2", [BOB])
        # an item without ORGANIZER is deleted with the calendar, nothing else
        plain = event("cd3", []).replace("ORGANIZER:mailto:alice@example.org\r\n", "")
        plain = plain.replace("ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n", "")
        self.assertStatus(self.req("PUT", "/calendars/alice/work/cd3.ics", user="alice",
                                   body=plain, headers=ICS), 201)
        self.assertStatus(self.req("DELETE", "/calendars/alice/work/", user="alice"), 204)
        self.assertStatus(self.req("GET", "/calendars/alice/work/", user="alice"), 404)
        for user, uid in (("bob", "cd1"), ("carol", "cd1"), ("bob", "cd2")):
            self.assertStatus(self.req("GET", "/calendars/%s/cal/%s.ics" % (user, uid),
                                       user=user), 404)

    # an overwriting MOVE deletes the target calendar first (RFC 4918 §9.9.3)
    def test_calendar_overwritten_by_move_cancels_meetings(self):
        self.invite("moved", "cd4", [BOB])
        r = self.req("MOVE", "/calendars/alice/empty/", user="alice",
                     headers={"Destination": "/calendars/alice/moved/", "Overwrite": "T"})
        self.assertStatus(r, 204)
        self.assertStatus(self.req("GET", "/calendars/bob/cal/cd4.ics", user="bob"), 404)

    # RFC 6638 §3.2.2.3: the attendee's delete answers DECLINED
    def test_attendee_calendar_deleted_declines(self):
        self.invite("cal", "cd5", [DAVE])
        org = self.req("GET", "/calendars/alice/cal/cd5.ics", user="alice").text
        self.assertIn("PARTSTAT=NEEDS-ACTION", attendee_line(org, DAVE))
        self.assertStatus(self.req("DELETE", "/calendars/dave/cal/", user="dave"), 204)
        org = self.req("GET", "/calendars/alice/cal/cd5.ics", user="alice")
        self.assertStatus(org, 200)
        self.assertIn("PARTSTAT=DECLINED", attendee_line(org.text, DAVE))

    # the same through ActiveSync's FolderDelete
    def test_activesync_folder_delete_cancels_meetings(self):
        self.invite("phone", "cd6", [BOB])
        c = EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                      "colldeldev1", oracle=True)
        self.addCleanup(c.close)
        c.provision()
        r = c.folder_sync("0")
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        sid = [f["ServerId"] for f in EASClient.folders_of(r) if f["DisplayName"] == "phone"]
        self.assertEqual(len(sid), 1, EASClient.folders_of(r))
        r = c.request("FolderDelete", E("F:FolderDelete", E("SyncKey", r.doc.findtext("SyncKey")),
                                         E("ServerId", sid[0])))
        self.assertEqual(r.doc.findtext("Status"), "1", r.doc)
        self.assertStatus(self.req("GET", "/calendars/alice/phone/", user="alice"), 404)
        self.assertStatus(self.req("GET", "/calendars/bob/cal/cd6.ics", user="bob"), 404)


    # RFC 6638 §3.2.4.1: a COPY may not make a second scheduling object of a UID in the home;
    # a MOVE within the home keeps the one there is, its scheduling state, and sends nothing
    def test_copy_and_move_of_a_meeting(self):
        self.invite("cal", "cd7", [BOB])
        bob_before = self.req("GET", "/calendars/bob/cal/cd7.ics", user="bob")
        r = self.req("COPY", "/calendars/alice/cal/cd7.ics", user="alice",
                     headers={"Destination": "/calendars/alice/other/cd7.ics"})
        self.assertStatus(r, 403)
        self.assertIn("unique-scheduling-object-resource", r.text)
        self.assertStatus(self.req("GET", "/calendars/alice/other/cd7.ics", user="alice"), 404)
        # an event that is no meeting copies as before
        plain = event("cd8", []).replace("ORGANIZER:mailto:alice@example.org\r\n", "")
        plain = plain.replace("ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n", "")
        self.assertStatus(self.req("PUT", "/calendars/alice/cal/cd8.ics", user="alice",
                                   body=plain, headers=ICS), 201)
        r = self.req("COPY", "/calendars/alice/cal/cd8.ics", user="alice",
                     headers={"Destination": "/calendars/alice/other/cd8.ics"})
        self.assertStatus(r, 201)
        # MOVE to another calendar of the home: allowed, bob's copy untouched
        r = self.req("MOVE", "/calendars/alice/cal/cd7.ics", user="alice",
                     headers={"Destination": "/calendars/alice/other/cd7.ics"})
        self.assertStatus(r, 201)
        bob_after = self.req("GET", "/calendars/bob/cal/cd7.ics", user="bob")
        self.assertEqual(bob_after.header("ETag"), bob_before.header("ETag"))
        # and the moved meeting still schedules: a change reaches bob
        moved = self.req("GET", "/calendars/alice/other/cd7.ics", user="alice").text
        r = self.req("PUT", "/calendars/alice/other/cd7.ics", user="alice",
                     body=moved.replace("SUMMARY:Sync", "SUMMARY:Moved"), headers=ICS)
        self.assertStatus(r, 204)
        self.assertIn("SUMMARY:Moved",
                      self.req("GET", "/calendars/bob/cal/cd7.ics", user="bob").text)

    # more meetings than one transaction may schedule: refused whole, nothing deleted
    def test_calendar_with_too_many_meetings_is_refused_whole(self):
        self.srv.cli("calendar", "add", "alice", "many")
        outside = "mailto:someone@elsewhere.test"  # a scheduling object, nobody to deliver to
        for i in range(501):
            r = self.req("PUT", "/calendars/alice/many/m%d.ics" % i, user="alice",
                         body=event("many-%d" % i, [outside]), headers=ICS)
            self.assertStatus(r, 201)
        r = self.req("DELETE", "/calendars/alice/many/", user="alice")
        self.assertCondition(r, 403, "too-many-meetings")
        self.assertStatus(self.req("GET", "/calendars/alice/many/m0.ics", user="alice"), 200)
        self.assertStatus(self.req("GET", "/calendars/alice/many/m500.ics", user="alice"), 200)
        # 500 is the most: one meeting fewer and the calendar goes
        self.assertStatus(self.req("DELETE", "/calendars/alice/many/m0.ics", user="alice"), 204)
        self.assertStatus(self.req("DELETE", "/calendars/alice/many/", user="alice"), 204)
        self.assertStatus(self.req("GET", "/calendars/alice/many/m1.ics", user="alice"), 404)


assert eas  # imported for its namespaces
if __name__ == "__main__":
    main()
