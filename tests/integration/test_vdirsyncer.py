"""tests/integration/test_vdirsyncer.py: Debian's vdirsyncer keeps a local directory of 1,000
events and an almanacd calendar in two-way sync: the first sync uploads everything; then
changes on both sides (edits, deletions, additions) meet in the next sync; a third sync has
nothing to do. Both sides are compared item by item."""

import os
import re
import shutil
import subprocess

from harness import ServerTestCase, main

N = 1000
CAL = "/calendars/alice/sync/"


def event(uid, summary):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
            "DURATION:PT1H\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, summary))


def summary_of(text):
    return re.search(r"SUMMARY:(.*?)\r?\n", text).group(1)


def uid_of(text):
    return re.search(r"UID:(.*?)\r?\n", text).group(1)


class VdirsyncerTest(ServerTestCase):
    USERS = ("alice",)

    @classmethod
    def setUpClass(cls):
        # a real client that is missing is a failure, never a skip (issue 17)
        if not shutil.which("vdirsyncer"):
            raise AssertionError("vdirsyncer is not installed (scripts/install-deps.sh "
                                 "installs Debian's package)")
        super().setUpClass()

    def setUp(self):
        self.assertEqual(self.req("MKCALENDAR", CAL).status, 201)
        self.work = os.path.join(self.srv.dir, "vdir")
        self.local = os.path.join(self.work, "local")
        os.makedirs(self.local)
        self.conf = os.path.join(self.work, "config")
        with open(self.conf, "w") as f:
            f.write("""[general]
status_path = "%s/status/"

[pair cal]
a = "local"
b = "remote"
collections = null
conflict_resolution = "a wins"

[storage local]
type = "filesystem"
path = "%s"
fileext = ".ics"

[storage remote]
type = "caldav"
url = "http://127.0.0.1:%d%s"
username = "alice"
password = "%s"
""" % (self.work, self.local, self.srv.port, CAL, self.srv.passwords["alice"]))

    def vdirsyncer(self, *args):
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8")
        r = subprocess.run(["vdirsyncer", "-c", self.conf, *args], capture_output=True,
                           text=True, timeout=600, env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r.stdout + r.stderr

    def local_items(self):
        out = {}
        for name in os.listdir(self.local):
            with open(os.path.join(self.local, name), encoding="utf-8") as f:
                text = f.read()
            out[uid_of(text)] = summary_of(text)
        return out

    def server_items(self):
        hrefs = re.findall(r"<D:href>(%s[^<]+\.ics)</D:href>" % re.escape(CAL),
                           self.req("PROPFIND", CAL, headers={"Depth": "1"}).text)
        out = {}
        for h in hrefs:
            text = self.req("GET", h).text
            out[uid_of(text)] = summary_of(text)
        return out, hrefs

    def test_two_way_sync_of_1000_events(self):
        for i in range(N):
            with open(os.path.join(self.local, "ev%04d.ics" % i), "w") as f:
                f.write(event("ev%04d@almanac" % i, "original %d" % i))
        self.vdirsyncer("discover")
        self.vdirsyncer("sync")
        server, hrefs = self.server_items()
        self.assertEqual(len(server), N)
        self.assertEqual(server, self.local_items())

        # Server side: 10 edits, 5 deletions, 5 additions.
        by_uid = {}
        for h in hrefs:
            by_uid[uid_of(self.req("GET", h).text)] = h
        for i in range(10):
            uid = "ev%04d@almanac" % i
            r = self.req("PUT", by_uid[uid], body=event(uid, "server edit %d" % i),
                         headers={"Content-Type": "text/calendar"})
            self.assertEqual(r.status, 204)
        for i in range(10, 15):
            self.assertEqual(self.req("DELETE", by_uid["ev%04d@almanac" % i]).status, 204)
        for i in range(5):
            uid = "srv%d@almanac" % i
            r = self.req("PUT", CAL + "srv%d.ics" % i, body=event(uid, "server new %d" % i),
                         headers={"Content-Type": "text/calendar"})
            self.assertEqual(r.status, 201)
        # Local side: 10 other edits, 5 other deletions, 5 additions.
        for i in range(100, 110):
            with open(os.path.join(self.local, self.local_file("ev%04d@almanac" % i)), "w") as f:
                f.write(event("ev%04d@almanac" % i, "local edit %d" % i))
        for i in range(110, 115):
            os.unlink(os.path.join(self.local, self.local_file("ev%04d@almanac" % i)))
        for i in range(5):
            with open(os.path.join(self.local, "loc%d.ics" % i), "w") as f:
                f.write(event("loc%d@almanac" % i, "local new %d" % i))

        self.vdirsyncer("sync")
        server, _ = self.server_items()
        local = self.local_items()
        self.assertEqual(server, local)
        self.assertEqual(len(server), N - 10 + 10)
        for i in range(10):
            self.assertEqual(server["ev%04d@almanac" % i], "server edit %d" % i)
        for i in range(100, 110):
            self.assertEqual(server["ev%04d@almanac" % i], "local edit %d" % i)
        for i in list(range(10, 15)) + list(range(110, 115)):
            self.assertNotIn("ev%04d@almanac" % i, server)
        for i in range(5):
            self.assertEqual(server["srv%d@almanac" % i], "server new %d" % i)
            self.assertEqual(server["loc%d@almanac" % i], "local new %d" % i)

        # Idle sync: ETags are stable, so nothing moves.
        log_before = self.srv.read_log().count("method=PUT")
        self.vdirsyncer("sync")
        self.assertEqual(self.srv.read_log().count("method=PUT"), log_before)
        self.assertEqual(self.server_items()[0], local)

    def local_file(self, uid):
        for name in os.listdir(self.local):
            with open(os.path.join(self.local, name), encoding="utf-8") as f:
                if "UID:%s\n" % uid in f.read().replace("\r\n", "\n"):
                    return name
        raise AssertionError("no local file for " + uid)


if __name__ == "__main__":
    main()
