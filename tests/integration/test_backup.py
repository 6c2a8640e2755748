"""tests/integration/test_backup.py: `almanac backup` while almanacd takes a steady PUT load,
and `almanac restore` (issue 15 item 4, docs/backup.md).

A backup must be one consistent snapshot: each writer thread PUTs its items one after the
other, so every state the store ever was in holds, per thread, exactly the items 0..n-1 with
n between what that thread had acknowledged when the backup started and what it had sent when
the backup ended. A copy that mixed pages from before and after a commit would show a hole, a
missing or extra item, or fail the integrity check; the test restores each backup, checks it
with `almanac check` (store_check), counts it with `almanac calendar list`, and serves one
with almanacd to read back every item's name and body."""

import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import unittest

import harness
from harness import Server, main

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
C = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
WRITERS = 3
FILLER = "X" * 16000  # a DESCRIPTION that makes the store a few MB, so a copy takes a while


def event(uid):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
            "DTEND:20260105T110000Z\r\nSUMMARY:event %s\r\nDESCRIPTION:%s\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n" % (uid, uid, FILLER))


def cli(data, *args, check=True, input=None):
    r = subprocess.run([harness.ALMANAC, "--data", data, *args], capture_output=True,
                       text=True, input=input)
    if check and r.returncode != 0:
        raise AssertionError("almanac %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))
    return r


def items_of(data, user, calendar):
    out = cli(data, "calendar", "list", user).stdout
    m = re.search(r"^%s\tcalendar\tmodseq=\d+\titems=(\d+)$" % re.escape(calendar), out, re.M)
    if not m:
        raise AssertionError("no calendar %s in: %r" % (calendar, out))
    return int(m.group(1))


class Writer(threading.Thread):
    """PUTs t<k>-<i>.ics for i = 0, 1, ... one at a time until stopped."""

    def __init__(self, srv, k):
        super().__init__(daemon=True)
        self.srv, self.k = srv, k
        self.sent = 0   # PUTs started
        self.acked = 0  # PUTs answered 201
        self.error = None
        self.stop = threading.Event()

    def run(self):
        try:
            while not self.stop.is_set():
                i = self.sent
                self.sent += 1
                uid = "t%d-%d" % (self.k, i)
                r = self.srv.request("PUT", "/calendars/alice/cal/%s.ics" % uid,
                                     body=event(uid), headers=ICS)
                if r.status != 201:
                    raise AssertionError("PUT %s: %d %r" % (uid, r.status, r.body[:200]))
                self.acked += 1
        except Exception as e:  # reported by the test thread
            self.error = e


class BackupTest(unittest.TestCase):
    def setUp(self):
        self.srv = Server(users=("alice",))
        self.addCleanup(self.stop_server)
        self.work = tempfile.mkdtemp(prefix="almanac-backup-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.srv.cli("calendar", "add", "alice", "cal")

    def stop_server(self):
        if not self.srv.log.closed:
            self.srv.stop()

    def start_writers(self):
        writers = [Writer(self.srv, k) for k in range(WRITERS)]
        for w in writers:
            w.start()
        return writers

    def stop_writers(self, writers):
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(60)
            self.assertIsNone(w.error)

    @harness.not_on("sqlite", "a SQLite store is backed up by almanac backup (the tests below)")
    def test_postgresql_store_refuses_backup_and_restore(self):
        """A PostgreSQL store is the database's to back up and restore (pg_dump, pg_restore,
        point-in-time recovery; docs/backup.md): `almanac backup` and `restore` refuse it,
        exit 2 with the reason, write no file and leave the store serving as it was."""
        r = self.srv.request("PUT", "/calendars/alice/cal/e0.ics", body=event("e0"), headers=ICS)
        self.assertEqual(r.status, 201)
        dest = os.path.join(self.work, "b.db")
        r = self.srv.cli("backup", dest, check=False)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("a PostgreSQL store is backed up with pg_dump or PostgreSQL's "
                      "point-in-time recovery, not by almanac backup", r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertFalse(os.path.exists(dest), "a refused backup wrote its file")
        sqlite_store = os.path.join(self.work, "s")  # a real backup, to restore
        cli(sqlite_store, "user", "add", "zoe", "--password-stdin", input="zoe-secret-pw\n")
        cli(sqlite_store, "backup", dest)
        for extra in ([], ["--force"]):
            r = self.srv.cli("restore", dest, *extra, check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("a PostgreSQL store is restored with pg_restore or point-in-time "
                          "recovery (docs/deploy-postgresql.md)", r.stderr)
            self.assertNotIn("restored", r.stdout)
        r = self.srv.request("GET", "/calendars/alice/cal/e0.ics")
        self.assertEqual(r.status, 200)
        self.assertIn("UID:e0", r.text)
        self.assertEqual(self.srv.cli("calendar", "list", "alice").stdout.count("items=1"), 1)

    @harness.not_on("postgresql", "almanac backup writes a SQLite file; a PostgreSQL store "
                    "refuses it (test_postgresql_store_refuses_backup_and_restore)")
    def test_backup_under_load_is_a_consistent_snapshot(self):
        writers = self.start_writers()
        # a store of a few MB before the backups start, so a copy overlaps commits
        deadline = time.time() + 60
        while sum(w.acked for w in writers) < 150 and time.time() < deadline:
            time.sleep(0.05)
        backups = []
        try:
            for n in range(40):
                before = [w.acked for w in writers]
                dest = os.path.join(self.work, "b%d.db" % n)
                cli(self.srv.data, "backup", dest)
                after = [w.sent for w in writers]
                acked_after = [w.acked for w in writers]
                backups.append((dest, before, after))
                # enough once one backup saw commits land while it ran, and a few more
                if sum(acked_after) > sum(before) + WRITERS and len(backups) >= 5:
                    break
        finally:
            self.stop_writers(writers)
        overlapped = [b for b in backups if sum(b[2]) > sum(b[1]) + WRITERS]
        print("backups: %d, of which %d overlapped acknowledged PUTs; items %d..%d"
              % (len(backups), len(overlapped), sum(backups[0][1]), sum(backups[-1][2])))
        self.assertTrue(overlapped, "no backup ran while PUTs were acknowledged: %r" % backups)
        for dest, before, after in backups:
            mode = stat.S_IMODE(os.stat(dest).st_mode)
            self.assertEqual(mode, 0o600, "a backup holds password hashes: mode %o" % mode)
            restored = os.path.join(self.work, os.path.basename(dest) + ".d")
            r = cli(restored, "restore", dest)
            self.assertIn("sync clients start over", r.stdout)
            self.assertEqual(cli(restored, "check").stdout.strip(), "store in %s: ok" % restored)
            n = items_of(restored, "alice", "cal")
            self.assertTrue(sum(before) <= n <= sum(after),
                            "backup %s holds %d items, outside [%d, %d]"
                            % (dest, n, sum(before), sum(after)))
        # Serve the first backup that overlapped commits and read each item back: per writer
        # exactly t<k>-0 .. t<k>-(n-1), each whole.
        dest, before, after = overlapped[0]
        self.serve_and_verify(os.path.join(self.work, os.path.basename(dest) + ".d"),
                              before, after)

    def serve_and_verify(self, data, before, after):
        port_file = os.path.join(self.work, "port2")
        log = open(os.path.join(self.work, "restored.log"), "w")
        proc = subprocess.Popen([harness.ALMANACD, "--data", data, "--listen", "127.0.0.1:0",
                                 "--port-file", port_file], stdout=log, stderr=log)
        try:
            deadline = time.time() + 20
            while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
                self.assertIsNone(proc.poll(), "almanacd on the restored store exited")
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            restored = Server.__new__(Server)  # the same request helper, on the restored store
            with open(port_file) as f:
                restored.port = int(f.read())
            restored.passwords = self.srv.passwords
            body = ('<?xml version="1.0"?><C:calendar-query %s><D:prop><C:calendar-data/>'
                    '</D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter>'
                    '</C:calendar-query>' % C)
            r = restored.request("REPORT", "/calendars/alice/cal/", body=body,
                                 headers={"Depth": "1", "Content-Type": "application/xml"})
            self.assertEqual(r.status, 207, r.text[:500])
            names = re.findall(r"<D:href>/calendars/alice/cal/(t\d+-\d+)\.ics</D:href>", r.text)
            uids = re.findall(r"UID:(t\d+-\d+)\r?\n", r.text.replace("&#13;", "\r"))
            self.assertEqual(sorted(names), sorted(uids), "each item whole, under its own name")
            for k in range(WRITERS):
                got = sorted(int(x.split("-")[1]) for x in names if x.startswith("t%d-" % k))
                n = len(got)
                self.assertEqual(got, list(range(n)), "writer %d's items have a hole" % k)
                self.assertTrue(before[k] <= n <= after[k],
                                "writer %d: %d items, outside [%d, %d]"
                                % (k, n, before[k], after[k]))
            self.assertEqual(r.text.count(FILLER), len(names), "every body complete")
        finally:
            proc.terminate()
            self.assertEqual(proc.wait(30), 0)
            log.close()

    @harness.not_on("postgresql", "almanac restore reads a SQLite backup into a data "
                    "directory; a PostgreSQL store refuses it "
                    "(test_postgresql_store_refuses_backup_and_restore)")
    def test_restore_refusals_and_history_cut(self):
        for i in range(3):
            r = self.srv.request("PUT", "/calendars/alice/cal/e%d.ics" % i, body=event("e%d" % i),
                                 headers=ICS)
            self.assertEqual(r.status, 201)
        dest = os.path.join(self.work, "b.db")
        cli(self.srv.data, "backup", dest)
        # a backup never replaces a file
        with open(dest, "rb") as f:
            before = f.read()
        r = cli(self.srv.data, "backup", dest, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("exists", r.stderr)
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), before)
        # a token taken after the backup, from a later state
        r = self.srv.request("PUT", "/calendars/alice/cal/late.ics", body=event("late"),
                             headers=ICS)
        self.assertEqual(r.status, 201)
        token = self.sync_token(self.srv)
        # refused while almanacd runs, even with --force; the store is untouched
        for extra in ([], ["--force"]):
            r = cli(self.srv.data, "restore", dest, *extra, check=False)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("in use by another process (stop almanacd first)", r.stderr)
        self.assertEqual(self.srv.request("GET", "/calendars/alice/cal/late.ics").status, 200)
        self.srv.proc.send_signal(signal.SIGTERM)  # stop() would remove the data directory
        self.assertEqual(self.srv.proc.wait(30), 0)
        # refused into a store with users unless --force
        r = cli(self.srv.data, "restore", dest, check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("holds a store with users (--force replaces it)", r.stderr)
        self.assertEqual(items_of(self.srv.data, "alice", "cal"), 4)
        # not a backup at all
        junk = os.path.join(self.work, "junk.db")
        with open(junk, "w") as f:
            f.write("not a database\n" * 100)
        r = cli(self.srv.data, "restore", junk, "--force", check=False)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(items_of(self.srv.data, "alice", "cal"), 4)
        r = cli(self.srv.data, "restore", dest, "--force")
        self.assertEqual(items_of(self.srv.data, "alice", "cal"), 3)
        # an empty store (`init`) takes a restore without --force
        empty = os.path.join(self.work, "empty")
        cli(empty, "init")
        cli(empty, "restore", dest)
        self.assertEqual(items_of(empty, "alice", "cal"), 3)
        # the restored store serves, and the token of the later history is refused
        self.srv.restart()
        r = self.srv.request("GET", "/calendars/alice/cal/e1.ics")
        self.assertEqual(r.status, 200)
        self.assertIn("UID:e1", r.text)
        self.assertEqual(self.srv.request("GET", "/calendars/alice/cal/late.ics").status, 404)
        # new writes take the collection's modseq past the token's: without the history cut,
        # the token would look valid and its client would miss what changed
        for i in range(3):
            r = self.srv.request("PUT", "/calendars/alice/cal/new%d.ics" % i,
                                 body=event("new%d" % i), headers=ICS)
            self.assertEqual(r.status, 201)
        body = ('<?xml version="1.0"?><D:sync-collection %s><D:sync-token>%s</D:sync-token>'
                '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
                '</D:sync-collection>' % (C, token))
        r = self.srv.request("REPORT", "/calendars/alice/cal/", body=body,
                             headers={"Depth": "1", "Content-Type": "application/xml"})
        self.assertEqual(r.status, 403, r.text[:300])
        self.assertIn("valid-sync-token", r.text)

    def sync_token(self, srv):
        body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:sync-token/>'
                '</D:prop></D:propfind>')
        r = srv.request("PROPFIND", "/calendars/alice/cal/", body=body, headers={"Depth": "0"})
        self.assertEqual(r.status, 207)
        return re.search(r"<D:sync-token>(.*?)</D:sync-token>", r.text).group(1)


if __name__ == "__main__":
    main()
