"""tests/integration/test_imip.py: external attendees by iMIP (issue 13 item 5, RFC 6047)
through the real almanacd and a real SMTP server on loopback: Debian's python3-aiosmtpd
(`python3 -m aiosmtpd` with its Maildir handler, which records each message with its
envelope in X-MailFrom and X-RcptTo), started and stopped by PID. Asserts what the relay
received (envelope, headers, the MIME structure, METHOD, the VEVENT's UID and SEQUENCE) for
an invitation, an update and a cancellation; the organizer's SCHEDULE-STATUS 1.1; a reply
coming in through `almanac imip-deliver` updating the organizer's copy; a forged sender
refused with the store untouched; an outside organizer's REQUEST reaching a local attendee,
whose accept goes back by mail; a relay that is down (retry with back-off, then sent once it
is up); a message given up (failed, SCHEDULE-STATUS 5.1) and `almanac imip retry`; STARTTLS
required of a relay that has none; and a submission relay (smtp_relay.py, aiosmtpd's
Controller) that requires STARTTLS and AUTH, reached with imip_smtp_cafile and the password
from imip_smtp_password_file."""

import email
import email.policy
import mailbox
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import ALMANAC, ServerTestCase, main  # noqa: E402

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
TAIL = "END:VCALENDAR\r\n"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
PYTHON = "/usr/bin/python3"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay:
    """python3-aiosmtpd on 127.0.0.1:port, storing what it receives in a Maildir."""

    def __init__(self, port):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="almanac-smtp-")
        self.maildir = os.path.join(self.dir, "mail")
        self.proc = None
        self.command = [PYTHON, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:%d" % port,
                        "-c", "aiosmtpd.handlers.Mailbox", self.maildir]

    def start(self):
        self.log = open(os.path.join(self.dir, "smtpd.log"), "w")
        self.proc = subprocess.Popen(self.command, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("aiosmtpd exited")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("aiosmtpd did not listen")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def messages(self):
        if not os.path.isdir(self.maildir):
            return []
        box = mailbox.Maildir(self.maildir, factory=None, create=False)
        out = []
        for key in box.keys():
            with open(os.path.join(self.maildir, box._lookup(key)), "rb") as f:
                out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return out

    def wait_for(self, pred, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = [m for m in self.messages() if pred(m)]
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError("the relay received no such message; it has: %s" %
                             [(m["X-RcptTo"], m["Subject"]) for m in self.messages()])


def event(uid, attendees, seq=0, summary="Planning", organizer="mailto:alice@example.org"):
    lines = ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20270101T000000Z", "SEQUENCE:%d" % seq,
             "DTSTART:20270105T100000Z", "DTEND:20270105T110000Z", "SUMMARY:" + summary,
             "ORGANIZER:" + organizer]
    lines += ["ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:" + a for a in attendees]
    return HEAD + "\r\n".join(lines) + "\r\nEND:VEVENT\r\n" + TAIL


def unfold(text):
    return text.replace("\r\n ", "").replace("\n ", "")


def attendee_line(ics, addr):
    for line in unfold(ics).splitlines():
        if line.startswith("ATTENDEE") and line.lower().endswith(addr.lower()):
            return line
    return None


def calendar_part(msg):
    """(the text/calendar part, the text/plain part) of a message, asserting RFC 6047's
    multipart/alternative of the two."""
    assert msg.get_content_type() == "multipart/alternative", msg.get_content_type()
    parts = list(msg.iter_parts())
    types = [p.get_content_type() for p in parts]
    assert types == ["text/plain", "text/calendar"], types
    return parts[1], parts[0]


def imip_message(sender, ics, method, to="alice@example.org"):
    """An iMIP message as an outside client sends it (quoted-printable calendar part)."""
    import quopri
    body = quopri.encodestring(ics.encode()).decode()
    return ("From: Someone <%s>\r\nTo: <%s>\r\nSubject: reply\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            "--b1\r\nContent-Type: text/calendar; charset=utf-8; method=%s\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n%s\r\n--b1--\r\n"
            % (sender, to, method, body))


class ImipTestBase(ServerTestCase):
    USERS = ("alice", "bob")
    RELAY_UP = True
    EXTRA = ""

    @classmethod
    def make_relay(cls):
        return Relay(free_port())

    @classmethod
    def setUpClass(cls):
        cls.relay = cls.make_relay()
        cls.addClassCleanup(cls.relay.cleanup)
        if cls.RELAY_UP:
            cls.relay.start()
        cls.CONFIG = ("mail_domain = example.org\nimip_from = calendar@example.org\n"
                      "imip_smtp_host = 127.0.0.1\nimip_smtp_port = %d\n"
                      "imip_smtp_starttls = off\n%s" % (cls.relay.port, cls.EXTRA))
        super().setUpClass()
        for u in cls.USERS:
            cls.srv.cli("calendar", "add", u, "cal")

    def put(self, user, path, body, status=None):
        r = self.req("PUT", path, user=user, body=body, headers=ICS)
        if status is not None:
            self.assertIn(r.status, status, r.text)
        return r

    def get(self, user, path):
        r = self.req("GET", path, user=user)
        self.assertStatus(r, 200)
        return r

    def queue(self):
        """`almanac imip queue` as rows of dicts."""
        r = self.srv.cli("imip", "queue")
        lines = r.stdout.splitlines()
        head = lines[0].split("\t")
        self.assertEqual(head, ["id", "recipient", "method", "attempts", "next_try", "state",
                                "last_error"])
        return [dict(zip(head, ln.split("\t"))) for ln in lines[1:]]

    def dump(self):
        """Every row of every table of the store (the store is untouched when equal)."""
        return [(t, rows) for t, rows in self.srv.dump() if not t.startswith("sqlite_")]

    def deliver(self, message):
        return subprocess.run([ALMANAC, *self.srv.store_args, "--config",
                               os.path.join(self.srv.dir, "almanac.conf"), "imip-deliver"],
                              input=message.encode(), capture_output=True)


class ImipTest(ImipTestBase):
    EXTRA = "sched_max_attendees = 5\n"

    # RFC 6047 §2.4, §3; RFC 6638 §3.2.9
    def test_invitation_update_and_cancel_are_mailed_to_outside_attendee(self):
        uid = "imip-1@example.org"
        path = "/calendars/alice/cal/imip-1.ics"
        self.put("alice", path, event(uid, ["mailto:bob@example.org", "mailto:Ext@Outside.test"]),
                 status=(201, 204))
        # the organizer's copy: 1.1 (sent) for the outside address, 1.2 for bob
        org = self.get("alice", path).text
        self.assertIn("SCHEDULE-STATUS=1.1", attendee_line(org, "mailto:Ext@Outside.test"))
        self.assertIn("SCHEDULE-STATUS=1.2", attendee_line(org, "mailto:bob@example.org"))
        # bob is local: nothing goes to the relay for him
        msg = self.relay.wait_for(lambda m: uid in str(m))[0]
        self.assertEqual(msg["X-RcptTo"], "Ext@Outside.test")
        self.assertEqual(msg["X-MailFrom"], "calendar@example.org")
        self.assertEqual(msg["From"].addresses[0].addr_spec, "alice@example.org")
        self.assertEqual(msg["Sender"].addresses[0].addr_spec, "calendar@example.org")
        self.assertEqual(msg["To"].addresses[0].addr_spec, "Ext@Outside.test")
        self.assertEqual(msg["Subject"], "Invitation: Planning")
        self.assertTrue(msg["Message-ID"].endswith("@example.org>"))
        cal, text = calendar_part(msg)
        self.assertEqual(cal.get_param("method"), "REQUEST")
        self.assertEqual(cal.get_param("charset").upper(), "UTF-8")
        ics = cal.get_content()
        self.assertIn("METHOD:REQUEST", ics)
        self.assertIn("UID:" + uid, ics)
        self.assertIn("SEQUENCE:0", ics)
        self.assertNotIn("SCHEDULE-STATUS", ics)
        self.assertIn("Planning", text.get_content())
        self.assertEqual(len([m for m in self.relay.messages() if uid in str(m)]), 1)
        # an update: SEQUENCE 1, subject says so
        self.put("alice", path, event(uid, ["mailto:Ext@Outside.test"], seq=1,
                                      summary="Planning (moved)"), status=(204,))
        upd = self.relay.wait_for(lambda m: "SEQUENCE:1" in str(m) and uid in str(m))[0]
        self.assertEqual(calendar_part(upd)[0].get_param("method"), "REQUEST")
        self.assertEqual(upd["Subject"], "Updated invitation: Planning (moved)")
        # the attendee removed: a CANCEL
        self.put("alice", path, event(uid, ["mailto:bob@example.org"], seq=2), status=(204,))
        can = self.relay.wait_for(
            lambda m: uid in str(m) and calendar_part(m)[0].get_param("method") == "CANCEL")[0]
        self.assertEqual(can["X-RcptTo"], "Ext@Outside.test")
        ics = calendar_part(can)[0].get_content()
        self.assertIn("METHOD:CANCEL", ics)
        self.assertIn("UID:" + uid, ics)
        rows = [q for q in self.queue() if q["recipient"] == "Ext@Outside.test"]
        self.assertEqual([(q["method"], q["state"]) for q in rows],
                         [("REQUEST", "sent"), ("REQUEST", "sent"), ("CANCEL", "sent")])

    def test_non_ascii_summary_is_encoded(self):
        uid = "imip-utf8@example.org"
        self.put("alice", "/calendars/alice/cal/utf8.ics",
                 event(uid, ["mailto:ext2@outside.test"], summary="Réunion à Zürich"),
                 status=(201,))
        msg = self.relay.wait_for(lambda m: m["X-RcptTo"] == "ext2@outside.test")[0]
        self.assertEqual(msg["Subject"], "Invitation: Réunion à Zürich")
        cal, _ = calendar_part(msg)
        self.assertEqual(cal["Content-Transfer-Encoding"], "base64")
        self.assertIn("SUMMARY:Réunion à Zürich", unfold(cal.get_content()))

    # RFC 6047 §3.1 (the receiver checks the sender), RFC 5546 §3.2.3
    def test_reply_by_mail_updates_organizer_and_forged_sender_is_refused(self):
        uid = "imip-2@example.org"
        path = "/calendars/alice/cal/imip-2.ics"
        self.put("alice", path, event(uid, ["mailto:carol@outside.test"]), status=(201,))
        self.relay.wait_for(lambda m: uid in str(m))
        before = self.get("alice", path)
        reply = (HEAD + "METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20270102T000000Z\r\n"
                 "SEQUENCE:0\r\nORGANIZER:mailto:alice@example.org\r\n"
                 "ATTENDEE;PARTSTAT=ACCEPTED:mailto:carol@outside.test\r\nEND:VEVENT\r\n" % uid
                 + TAIL)
        store = self.dump()
        forged = self.deliver(imip_message("mallory@evil.test", reply, "REPLY"))
        self.assertEqual(forged.returncode, 77, forged.stderr)
        self.assertIn(b"imip-sender-mismatch", forged.stderr)
        self.assertEqual(self.dump(), store)
        after = self.get("alice", path)
        self.assertEqual(after.header("ETag"), before.header("ETag"))
        self.assertEqual(after.body, before.body)
        ok = self.deliver(imip_message("Carol@Outside.test", reply, "REPLY"))
        self.assertEqual(ok.returncode, 0, ok.stderr)
        line = attendee_line(self.get("alice", path).text, "mailto:carol@outside.test")
        self.assertIn("PARTSTAT=ACCEPTED", line)
        self.assertIn("SCHEDULE-STATUS=2.0", line)

    def test_not_a_calendar_message_is_a_data_error(self):
        r = self.deliver("From: <x@outside.test>\r\nSubject: hi\r\n\r\nhello\r\n")
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn(b"imip-bad-message", r.stderr)
        r = self.deliver(imip_message("x@outside.test", event("u", []).replace(
            "BEGIN:VEVENT", "METHOD:PUBLISH\r\nBEGIN:VEVENT"), "PUBLISH"))
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn(b"METHOD:PUBLISH", r.stderr)

    # RFC 6047 §2.2: an outside organizer's invitation reaches the local attendee like a
    # local one; their accept goes back by mail
    def test_outside_organizer_request_reaches_local_attendee_and_reply_is_mailed(self):
        uid = "ext-org-1@outside.test"
        req = event(uid, ["mailto:bob@example.org"], organizer="mailto:dave@outside.test")
        req = req.replace("BEGIN:VEVENT", "METHOD:REQUEST\r\nBEGIN:VEVENT", 1)
        spoofed = self.deliver(imip_message("eve@outside.test", req, "REQUEST",
                                            to="bob@example.org"))
        self.assertEqual(spoofed.returncode, 77, spoofed.stderr)
        self.assertEqual(self.req("GET", "/calendars/bob/cal/%s.ics" % uid, user="bob").status,
                         404)
        r = self.deliver(imip_message("dave@outside.test", req, "REQUEST", to="bob@example.org"))
        self.assertEqual(r.returncode, 0, r.stderr)
        copy = self.get("bob", "/calendars/bob/cal/%s.ics" % uid).text
        self.assertIn("PARTSTAT=NEEDS-ACTION", attendee_line(copy, "mailto:bob@example.org"))
        accepted = copy.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
        self.put("bob", "/calendars/bob/cal/%s.ics" % uid, accepted, status=(204,))
        msg = self.relay.wait_for(lambda m: m["X-RcptTo"] == "dave@outside.test")[0]
        self.assertEqual(msg["From"].addresses[0].addr_spec, "bob@example.org")
        self.assertEqual(msg["Subject"], "Accepted: Planning")
        cal, _ = calendar_part(msg)
        self.assertEqual(cal.get_param("method"), "REPLY")
        ics = unfold(cal.get_content())
        self.assertIn("UID:" + uid, ics)
        self.assertRegex(ics, r"ATTENDEE;[^\r\n]*PARTSTAT=ACCEPTED[^\r\n]*:mailto:bob@example.org")
        # and the outside organizer's CANCEL deletes bob's copy
        can = req.replace("METHOD:REQUEST", "METHOD:CANCEL").replace("SEQUENCE:0", "SEQUENCE:1")
        r = self.deliver(imip_message("dave@outside.test", can, "CANCEL", to="bob@example.org"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.req("GET", "/calendars/bob/cal/%s.ics" % uid, user="bob").status,
                         404)

    # RFC 4791 §5.3.2.1: a message by mail is bounded as a local organizer's write is
    def test_outside_request_with_too_many_attendees_is_refused(self):
        uid = "ext-org-big@outside.test"
        many = ["mailto:bob@example.org"] + ["mailto:p%d@outside.test" % i for i in range(6)]
        req = event(uid, many, organizer="mailto:dave@outside.test")
        req = req.replace("BEGIN:VEVENT", "METHOD:REQUEST\r\nBEGIN:VEVENT", 1)
        r = self.deliver(imip_message("dave@outside.test", req, "REQUEST", to="bob@example.org"))
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn(b"max-attendees-per-instance", r.stderr)
        self.assertEqual(self.req("GET", "/calendars/bob/cal/%s.ics" % uid, user="bob").status,
                         404)

    # RFC 6638 §3.2.9 3.7: an unknown user of our own mail domain is nobody to mail
    def test_reply_to_unknown_organizer_of_our_domain_is_not_mailed(self):
        uid = "ghost-org@example.org"
        path = "/calendars/bob/cal/ghost.ics"
        self.put("bob", path, event(uid, ["mailto:bob@example.org"],
                                    organizer="mailto:ghost@example.org"), status=(201,))
        copy = self.get("bob", path).text
        self.put("bob", path, copy.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"),
                 status=(204,))
        self.assertEqual([q for q in self.queue() if q["recipient"] == "ghost@example.org"], [])

    # sysexits.h EX_TEMPFAIL: the MTA keeps the message and tries again
    @harness.not_on("postgresql", "a SQLite store has one writer at a time, held here by "
                    "BEGIN IMMEDIATE on the file; PostgreSQL has no store-wide write lock (a "
                    "row lock wait ends by the statement timeout, issue #10 item 5)")
    def test_busy_store_is_a_temporary_failure(self):
        uid = "imip-busy@example.org"
        self.put("alice", "/calendars/alice/cal/busy.ics", event(uid, ["mailto:kim@outside.test"]),
                 status=(201,))
        reply = (HEAD + "METHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20270102T000000Z\r\n"
                 "ORGANIZER:mailto:alice@example.org\r\n"
                 "ATTENDEE;PARTSTAT=DECLINED:mailto:kim@outside.test\r\nEND:VEVENT\r\n" % uid
                 + TAIL)
        import sqlite3
        db = sqlite3.connect(os.path.join(self.srv.data, "almanac.db"), isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")  # another writer holds the store
            r = self.deliver(imip_message("kim@outside.test", reply, "REPLY"))
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertRegex(r.stderr, rb"locked|busy")
        r = self.deliver(imip_message("kim@outside.test", reply, "REPLY"))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_queue_and_retry_usage(self):
        r = self.srv.cli("imip", "retry", "999999", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no imip message 999999", r.stderr)
        r = self.srv.cli("imip", "retry", "x", check=False)
        self.assertEqual(r.returncode, 1)


class ImipRelayDownTest(ImipTestBase):
    """The relay is down at first: the message is retried with back-off, then sent."""
    RELAY_UP = False
    EXTRA = "imip_retry_base = 1\nimip_retry_max = 2\n"

    def test_relay_down_then_up_retries_then_sends(self):
        uid = "imip-down@example.org"
        self.put("alice", "/calendars/alice/cal/down.ics",
                 event(uid, ["mailto:frank@outside.test"]), status=(201,))
        deadline = time.time() + 20
        while time.time() < deadline:
            rows = self.queue()
            if rows and int(rows[0]["attempts"]) >= 2:
                break
            time.sleep(0.2)
        row = self.queue()[0]
        self.assertEqual(row["state"], "queued")
        self.assertGreaterEqual(int(row["attempts"]), 2)
        self.assertRegex(row["last_error"], r"(?i)connect")
        self.relay.start()
        msg = self.relay.wait_for(lambda m: uid in str(m))[0]
        self.assertEqual(msg["X-RcptTo"], "frank@outside.test")
        deadline = time.time() + 10
        while self.queue()[0]["state"] != "sent" and time.time() < deadline:
            time.sleep(0.1)
        self.assertEqual(self.queue()[0]["state"], "sent")


class ImipGiveUpTest(ImipTestBase):
    """A relay that stays down: the message fails after imip_max_age and the organizer's
    copy says 5.1 for that attendee (RFC 6638 §3.2.9, RFC 5546 §3.6); `imip retry` queues it
    again, and it goes once the relay is up."""
    RELAY_UP = False
    EXTRA = "imip_retry_base = 1\nimip_retry_max = 1\nimip_max_age = 2\n"

    def test_given_up_message_marks_5_1_and_admin_retry_sends_it(self):
        uid = "imip-fail@example.org"
        path = "/calendars/alice/cal/fail.ics"
        self.put("alice", path, event(uid, ["mailto:gina@outside.test"]), status=(201,))
        deadline = time.time() + 20
        while time.time() < deadline and self.queue()[0]["state"] != "failed":
            time.sleep(0.2)
        row = self.queue()[0]
        self.assertEqual(row["state"], "failed")
        line = attendee_line(self.get("alice", path).text, "mailto:gina@outside.test")
        self.assertIn("SCHEDULE-STATUS=5.1", line)
        self.relay.start()
        r = self.srv.cli("imip", "retry", row["id"])
        self.assertIn("queued", r.stdout)
        msg = self.relay.wait_for(lambda m: uid in str(m))[0]
        self.assertEqual(msg["X-RcptTo"], "gina@outside.test")


class ImipStarttlsRequiredTest(ImipTestBase):
    """imip_smtp_starttls = required and a relay without STARTTLS: nothing is sent in the
    clear; the queue says why."""
    EXTRA = "imip_smtp_starttls = required\n"

    def test_starttls_required_refuses_a_plain_relay(self):
        self.put("alice", "/calendars/alice/cal/tls.ics",
                 event("imip-tls@example.org", ["mailto:hank@outside.test"]), status=(201,))
        deadline = time.time() + 20
        while time.time() < deadline and not self.queue()[0]["last_error"].strip("-"):
            time.sleep(0.2)
        row = self.queue()[0]
        self.assertEqual(row["state"], "queued")
        self.assertRegex(row["last_error"], r"(?i)ssl|tls")
        self.assertEqual(self.relay.messages(), [])


class ImipStarttlsAuthTest(ImipTestBase):
    """A submission relay: STARTTLS required (a certificate of a CA given by
    imip_smtp_cafile) and SMTP AUTH with the password from imip_smtp_password_file."""

    @classmethod
    def make_relay(cls):
        relay = Relay(free_port())
        cert, key = (os.path.join(relay.dir, n) for n in ("relay.pem", "relay.key"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        pwfile = os.path.join(relay.dir, "password")
        with open(pwfile, "w") as f:
            f.write("s3cret-relay-pw\n")
        relay.command = [PYTHON, os.path.join(os.path.dirname(__file__), "smtp_relay.py"),
                         str(relay.port), relay.maildir, cert, key, "almanac", pwfile]
        cls.EXTRA = ("imip_smtp_starttls = required\nimip_smtp_cafile = %s\n"
                     "imip_smtp_user = almanac\nimip_smtp_password_file = %s\n" % (cert, pwfile))
        return relay

    def test_starttls_and_auth_with_password_file(self):
        uid = "imip-auth@example.org"
        self.put("alice", "/calendars/alice/cal/auth.ics",
                 event(uid, ["mailto:ivy@outside.test"]), status=(201,))
        msg = self.relay.wait_for(lambda m: uid in str(m))[0]
        self.assertEqual(msg["X-RcptTo"], "ivy@outside.test")
        self.assertEqual(msg["X-MailFrom"], "calendar@example.org")
        with open(os.path.join(self.relay.dir, "auth.log")) as f:
            self.assertEqual(f.read().split(), ["ok", "PLAIN", "almanac"])
        self.assertNotIn("s3cret-relay-pw", self.srv.read_log())
        self.assertEqual([q["state"] for q in self.queue()], ["sent"])


if __name__ == "__main__":
    main()
