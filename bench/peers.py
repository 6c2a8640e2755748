#!/usr/bin/env python3
"""bench/peers.py: almanacd side by side with other CalDAV servers from Debian (Radicale,
Xandikos), each started here on loopback with its own temporary store, on the same generated
calendar: load by concurrent PUT, PROPFIND Depth 1, initial sync-collection, sync-collection
paged by DAV:limit 500, incremental sync after 3 changes, calendar-multiget of 1,000 hrefs and
a one-month time-range calendar-query. Median of RUNS (at least FAST-RUNS for an operation
with a run faster than FAST-MS), peak RSS (VmHWM) of each server after a restart and
the query phase, and each peer's time as a multiple of almanacd's.

usage: peers.py ALMANACD ALMANAC [--events N] [--runs R] [--fast-runs N] [--fast-ms MS]
                [--servers almanac,almanac-pg,cyrus,radicale,xandikos] [--interleave]
almanac-pg: almanacd on a private PostgreSQL 15 cluster (issue #10), beside almanac on SQLite.
By default one server after the other; with --interleave all are loaded first and every
operation's runs alternate between them (A, B, A, B, ...), so that background load on the
machine falls on each alike. Prints a markdown table and one JSON line per server."""

import argparse
import base64
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import sys
import socket
import statistics
import subprocess
import tempfile
import time

D = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'


class PerfRecord:
    """`perf record -g` of process `pid` into `out` while the with-block runs; nothing when
    `out` is None (--perf FILE). Read it with `perf report -i FILE --no-children`."""
    def __init__(self, pid, out):
        self.pid, self.out, self.proc = pid, out, None

    def __enter__(self):
        if self.out and self.pid:
            self.proc = subprocess.Popen(["perf", "record", "-g", "-q", "-p", str(self.pid),
                                          "-o", self.out], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
            time.sleep(1)  # perf attaches before the first request
        return self

    def __exit__(self, *exc):
        if self.proc:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)
        return False


PERF = [None]  # --perf FILE: perf record of almanacd during the query with expand


def server_cpu_s(t):
    """almanacd's user + system CPU seconds (/proc/PID/stat), or None for the other servers
    (their work spreads over several processes): the figure a loaded machine disturbs
    least. PerfRecord's perf adds to it."""
    if t.name != "almanacd" or not t.proc:
        return None
    with open("/proc/%d/stat" % t.proc.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, proc, timeout=30):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen")


# VTIMEZONEs as clients write them: Apple and Thunderbird with rules from 1970 (Berlin, New
# York), Outlook with rules from 1601 (W. Europe Standard Time), and zones without DST.
VTIMEZONES = {
    "Europe/Berlin": (
        "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"
        "TZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"
        "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"),
    "America/New_York": (
        "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\n"
        "TZOFFSETTO:-0400\r\nTZNAME:EDT\r\nDTSTART:20070311T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\n"
        "TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\nDTSTART:20071104T020000\r\n"
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"),
    "W. Europe Standard Time": (
        "BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\n"
        "DTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\n"
        "DTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
        "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"),
    "Asia/Kolkata": (
        "BEGIN:VTIMEZONE\r\nTZID:Asia/Kolkata\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0530\r\n"
        "TZOFFSETTO:+0530\r\nTZNAME:IST\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\n"),
    "Asia/Tokyo": (
        "BEGIN:VTIMEZONE\r\nTZID:Asia/Tokyo\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0900\r\n"
        "TZOFFSETTO:+0900\r\nTZNAME:JST\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\n"
        "END:VTIMEZONE\r\n"),
}
ZONES = list(VTIMEZONES)


def generate_zoned(n, seed=42, zones=True):
    """Issue 19's real-world mix: every timed event in a named zone with its VTIMEZONE (the
    five of VTIMEZONES, Berlin weighted most), 80% singles, 15% weekly or daily series with
    EXDATEs and a moved instance, 5% all-day; spread over 2025-2026. With zones=False the
    same events with the same wall-clock digits in UTC and no VTIMEZONE: the baseline that
    isolates what the zones cost."""
    rnd = random.Random(seed)

    def at(tz, date, hhmm):
        return (";TZID=%s:%sT%s00" % (tz, date, hhmm)) if zones else (":%sT%s00Z" % (date, hhmm))
    out = []
    for i in range(n):
        day = rnd.randrange(730)
        y, doy = (2025, day) if day < 365 else (2026, day - 365)
        t = time.gmtime(time.mktime((y, 1, 1, 0, 0, 0, 0, 0, 0)) - time.timezone + doy * 86400)
        date = "%04d%02d%02d" % (t.tm_year, t.tm_mon, t.tm_mday)
        t2 = time.gmtime(time.mktime((y, 1, 1, 0, 0, 0, 0, 0, 0)) - time.timezone
                         + (doy + 14) * 86400)
        date2 = "%04d%02d%02d" % (t2.tm_year, t2.tm_mon, t2.tm_mday)
        hour = rnd.randrange(7, 19)
        tz = ZONES[0] if rnd.random() < 0.4 else rnd.choice(ZONES)
        kind = rnd.random()
        uid = "bench-%06d@almanac" % i
        head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n"
        vtz = VTIMEZONES[tz] if zones else ""
        if kind < 0.80:
            body = (vtz +
                    "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20250101T000000Z\r\n"
                    "DTSTART%s\r\nDTEND%s\r\n"
                    "SUMMARY:Meeting %d\r\nLOCATION:Room %d\r\nEND:VEVENT\r\n"
                    % (uid, at(tz, date, "%02d00" % hour), at(tz, date, "%02d30" % hour), i,
                       i % 40))
        elif kind < 0.95:
            freq = "WEEKLY" if rnd.random() < 0.7 else "DAILY"
            count = rnd.randrange(10, 60)
            body = (vtz +
                    "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20250101T000000Z\r\n"
                    "DTSTART%s\r\nDTEND%s\r\n"
                    "RRULE:FREQ=%s;COUNT=%d\r\nEXDATE%s\r\n"
                    "SUMMARY:Series %d\r\nEND:VEVENT\r\n"
                    "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20250101T000000Z\r\n"
                    "RECURRENCE-ID%s\r\nDTSTART%s\r\n"
                    "DTEND%s\r\nSUMMARY:Series %d (moved)\r\nEND:VEVENT\r\n"
                    % (uid, at(tz, date, "%02d00" % hour), at(tz, date, "%02d45" % hour), freq,
                       count, at(tz, date2, "%02d00" % hour), i, uid,
                       at(tz, date, "%02d00" % hour), at(tz, date, "%02d30" % hour),
                       at(tz, date, "%02d15" % (hour + 1)), i))
        else:
            body = ("BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20250101T000000Z\r\nDTSTART;VALUE=DATE:%s\r\n"
                    "SUMMARY:Holiday %d\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n" % (uid, date, i))
        out.append(("ev%06d.ics" % i, head + body + "END:VCALENDAR\r\n"))
    return out


def generate(n, seed=42, zoned=False):
    """A realistic mix: 70% timed singles, 15% all-day, 15% weekly series with a moved
    instance, spread over 2025-2026, in UTC; with `zoned` "zoned" or True,
    generate_zoned()'s mix, and with "zoned-utc" that mix in UTC."""
    if zoned:
        return generate_zoned(n, seed, zones=zoned != "zoned-utc")
    return list(iter_generate(n, seed))


def iter_generate(n, seed=42):
    """generate()'s UTC mix one (name, body) at a time (bench/scale.py writes 1,000,000 of
    them to a file without holding them)."""
    rnd = random.Random(seed)
    for i in range(n):
        day = rnd.randrange(730)
        y, doy = (2025, day) if day < 365 else (2026, day - 365)
        t = time.gmtime(time.mktime((y, 1, 1, 0, 0, 0, 0, 0, 0)) - time.timezone + doy * 86400)
        date = "%04d%02d%02d" % (t.tm_year, t.tm_mon, t.tm_mday)
        hour = rnd.randrange(7, 19)
        kind = rnd.random()
        uid = "bench-%06d@almanac" % i
        head = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n")
        if kind < 0.70:
            body = ("BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:%sT%02d0000Z\r\n"
                    "DTEND:%sT%02d3000Z\r\nSUMMARY:Meeting %d\r\nLOCATION:Room %d\r\n"
                    "END:VEVENT\r\n" % (uid, date, hour, date, hour, i, i % 40))
        elif kind < 0.85:
            body = ("BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20250101T000000Z\r\nDTSTART;VALUE=DATE:%s\r\n"
                    "SUMMARY:Holiday %d\r\nTRANSP:TRANSPARENT\r\nEND:VEVENT\r\n" % (uid, date, i))
        else:
            count = rnd.randrange(5, 30)
            body = ("BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:%sT%02d0000Z\r\n"
                    "DURATION:PT45M\r\nRRULE:FREQ=WEEKLY;COUNT=%d\r\nSUMMARY:Weekly %d\r\n"
                    "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20250101T000000Z\r\n"
                    "RECURRENCE-ID:%sT%02d0000Z\r\nDTSTART:%sT%02d3000Z\r\nDURATION:PT45M\r\n"
                    "SUMMARY:Weekly %d (moved)\r\nEND:VEVENT\r\n"
                    % (uid, date, hour, count, i, uid, date, hour, date, hour, i))
        yield ("ev%06d.ics" % i, head + body + "END:VCALENDAR\r\n")


class Target:
    """One server under test: how to start it, where its calendar is, how to authenticate."""

    def __init__(self, name, work):
        self.name = name
        self.work = work
        self.proc = None
        self.port = None
        self.auth = {}
        self.cal = None

    def request(self, method, path, body=None, headers=None, conn=None):
        """One request on `conn`, else on the target's kept-alive connection (so that a
        sub-millisecond operation does not time TCP set-up and authentication; a connection
        the server closed is opened again once)."""
        h = dict(self.auth)
        h.update(headers or {})
        for attempt in (0, 1):
            c = conn or self._keepalive()
            try:
                c.request(method, path, body=body, headers=h)
                r = c.getresponse()
                data = r.read()
                return r.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                if conn is not None or attempt == 1:
                    raise
                self._conn = None

    def _keepalive(self):
        if getattr(self, "_conn", None) is None or getattr(self, "_conn_port", None) != self.port:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                    timeout=getattr(self, "timeout", 600))
            self._conn_port = self.port
        return self._conn

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def rss_mb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0


class Almanac(Target):
    def __init__(self, work, almanacd, almanac, name="almanacd", store=None):
        super().__init__(name, work)
        self.bin = almanacd
        self.store_args = ["--store", store] if store else ["--data", os.path.join(work, "data")]
        subprocess.run([almanac, *self.store_args, "user", "add", "bench", "--password-stdin"],
                       input="bench-pw\n", text=True, check=True, capture_output=True)
        subprocess.run([almanac, *self.store_args, "calendar", "add", "bench", "cal"], check=True)
        self.cal = "/calendars/bench/cal/"
        self.auth = {"Authorization": "Basic " + base64.b64encode(b"bench:bench-pw").decode()}

    def start(self):
        self.port = free_port()
        self.proc = subprocess.Popen([self.bin, *self.store_args, "--listen",
                                      "127.0.0.1:%d" % self.port, "--log-level", "warn"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)


class AlmanacPg(Almanac):
    """almanacd on the PostgreSQL store (issue #10): a private PostgreSQL 15 cluster of
    tests/integration/pgcluster.py on a Unix socket, started here and kept across almanacd's
    restarts, with fsync and full_page_writes on (the test cluster turns them off) so that a
    PUT is as durable as on SQLite (the engine sets synchronous_commit = on). Its peak RSS is
    almanacd's alone (the database's processes are not counted)."""
    def __init__(self, work, almanacd, almanac):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "tests", "integration"))
        from pgcluster import PgCluster
        self.pg = PgCluster(settings={"fsync": "on", "full_page_writes": "on",
                                      "shared_buffers": "128MB"}).start()
        try:
            super().__init__(work, almanacd, almanac, name="almanacd-pg", store=self.pg.uri())
        except BaseException:
            self.pg.stop()
            raise

    def close(self):
        self.pg.stop()


class Radicale(Target):
    def __init__(self, work):
        super().__init__("radicale", work)
        self.cal = "/bench/cal/"
        # auth "none" takes any Basic credentials; the user name owns /bench/
        self.auth = {"Authorization": "Basic " + base64.b64encode(b"bench:x").decode()}

    def start(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            ["radicale", "--server-hosts", "127.0.0.1:%d" % self.port,
             "--storage-filesystem-folder", os.path.join(self.work, "collections"),
             "--auth-type", "none", "--rights-type", "owner_only", "--logging-level",
             "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)
        if not os.path.exists(os.path.join(self.work, "collections", "collection-root",
                                           "bench", "cal")):
            st, body = self.request("MKCALENDAR", self.cal)
            if st != 201:
                raise RuntimeError("radicale MKCALENDAR: %d %s" % (st, body[:200]))

    def seed(self, items):
        """Writes objects straight into the stopped server's storage: one .ics file per
        object in the collection's folder, which is Radicale's own layout (its caches are
        rebuilt from the files on first access)."""
        d = os.path.join(self.work, "collections", "collection-root", "bench", "cal")
        for name, body in items:
            with open(os.path.join(d, name), "w", newline="") as f:
                f.write(body)


class Xandikos(Target):
    def __init__(self, work):
        super().__init__("xandikos", work)
        self.cal = "/user/calendars/calendar/"

    def start(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["xandikos", "-d", self.work, "-p", str(self.port), "-l",
                                      "127.0.0.1", "--defaults"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def seed(self, items):
        """Writes objects straight into the stopped server's storage: files in the
        calendar's git working tree, added and committed in one commit (Xandikos's tree
        store keeps one file per object in a git repository)."""
        d = os.path.join(self.work, "user", "calendars", "calendar")
        for name, body in items:
            with open(os.path.join(d, name), "w", newline="") as f:
                f.write(body)
        subprocess.run(["git", "-C", d, "add", "-A"], check=True)
        subprocess.run(["git", "-C", d, "-c", "user.name=bench", "-c", "user.email=bench@localhost",
                        "commit", "-q", "-m", "seed %d objects" % len(items)], check=True)


CYRUS_BIN = "/usr/lib/cyrus/bin"


class Cyrus(Target):
    """Cyrus IMAP 3.6 with its CalDAV module (Debian cyrus-imapd + cyrus-caldav), run as its
    own configuration in `work`: an imapd.conf and cyrus.conf of ours (config directory,
    partition, locks, sockets all below `work`), `master` listening on loopback only (httpd
    for CalDAV, imapd to create the user's mailbox), users in a sasldb of ours (plaintext
    passwords, auxprop). Started by `master -C imapd.conf -M cyrus.conf -p PIDFILE` in the
    foreground; stopped by SIGTERM to that PID, which stops its children. Runs as the current
    user, or as Debian's `cyrus` user when the bench runs as root (Cyrus drops root)."""

    def __init__(self, work):
        super().__init__("cyrus", work)
        self.cal = "/dav/calendars/user/bench/cal/"
        self.auth = {"Authorization": "Basic " + base64.b64encode(b"bench:bench-pw").decode()}
        self.port = free_port()
        self.imap_port = free_port()
        import pwd
        self.user = "cyrus" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        for d in ("conf", "spool", "proc", "lock", "socket"):
            os.makedirs(os.path.join(work, d))
        self.conf = os.path.join(work, "imapd.conf")
        opts = [
            ("configdirectory", os.path.join(work, "conf")),
            ("defaultpartition", "default"),
            ("partition-default", os.path.join(work, "spool")),
            ("proc_path", os.path.join(work, "proc")),
            ("mboxname_lockpath", os.path.join(work, "lock")),
            ("lmtpsocket", os.path.join(work, "socket", "lmtp")),
            ("idlesocket", os.path.join(work, "socket", "idle")),
            ("notifysocket", os.path.join(work, "socket", "notify")),
            ("cyrus_user", self.user),
            ("admins", "admin"),
            ("allowplaintext", "yes"),
            ("sasl_pwcheck_method", "auxprop"),
            ("sasl_auxprop_plugin", "sasldb"),
            ("sasl_sasldb_path", os.path.join(work, "sasldb2")),
            ("sasl_mech_list", "PLAIN LOGIN"),
            ("httpmodules", "caldav"),
            ("httpallowcompress", "no"),
            ("caldav_allowcalendaradmin", "yes"),
            ("syslog_prefix", "bench-cyrus"),
        ]
        with open(self.conf, "w") as f:
            f.writelines("%s: %s\n" % kv for kv in opts)
        c = "-C " + self.conf
        with open(os.path.join(work, "cyrus.conf"), "w") as f:
            f.write('START {\n  recover cmd="%s/ctl_cyrusdb %s -r"\n}\n'
                    'SERVICES {\n'
                    '  imap cmd="%s/imapd %s" listen="127.0.0.1:%d" prefork=0\n'
                    '  http cmd="%s/httpd %s" listen="127.0.0.1:%d" prefork=0\n'
                    '}\nEVENTS {\n}\nDAEMON {\n}\n'
                    % (CYRUS_BIN, c, CYRUS_BIN, c, self.imap_port, CYRUS_BIN, c, self.port))
        for user, pw in (("bench", "bench-pw"), ("admin", "admin-pw")):
            subprocess.run(["saslpasswd2", "-f", os.path.join(work, "sasldb2"), "-p", "-c",
                            user], input=pw + "\n", text=True, check=True)
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", self.user, work], check=True)
        self.provisioned = False

    def start(self):
        self.proc = subprocess.Popen(
            [CYRUS_BIN + "/master", "-C", self.conf, "-M", os.path.join(self.work, "cyrus.conf"),
             "-p", os.path.join(self.work, "master.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port, self.proc)
        wait_port(self.imap_port, self.proc)
        if not self.provisioned:
            import imaplib
            m = imaplib.IMAP4("127.0.0.1", self.imap_port)
            m.login("admin", "admin-pw")
            typ, data = m.create("user/bench")  # unixhierarchysep (3.x default)
            m.logout()
            if typ != "OK":
                raise RuntimeError("cyrus CREATE user/bench: %s" % data)
            st, body = self.request("MKCALENDAR", self.cal)
            if st != 201:
                raise RuntimeError("cyrus MKCALENDAR: %d %s" % (st, body[:200]))
            self.provisioned = True

    def rss_mb(self):
        """Cyrus forks a process per connection: the proportional set size (Pss of
        /proc/PID/smaps_rollup) summed over master and every live descendant, so that pages
        the processes share (the binary, libraries, copy-on-write memory after fork) count
        once, not once per process as a sum of their peaks did. Taken when called (after
        each timed operation), not a peak."""
        kids = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    kids.setdefault(ppid, []).append(int(d))
                except (OSError, ValueError, IndexError):
                    pass
        total, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            todo.extend(kids.get(pid, []))
            try:
                with open("/proc/%d/smaps_rollup" % pid) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024


def put_worker_init():
    """A PUT worker of multiprocessing.Pool dies of SIGTERM at once, as by default: the main
    process's handler (a KeyboardInterrupt for its cleanup), inherited at the fork, would only
    run once the worker's blocking call returned, and Pool.terminate() then waited forever for
    a worker blocked on the pool's queue lock (seen at the end of a 100,000-event load)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def put_worker(args):
    port, auth, cal, items = args
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for name, body in items:
        h = dict(auth)
        h["Content-Type"] = "text/calendar; charset=utf-8"
        c.request("PUT", cal + name, body=body.encode(), headers=h)
        r = c.getresponse()
        r.read()
        if r.status not in (201, 204):
            raise RuntimeError("PUT %s: %d" % (name, r.status))
    c.close()
    return len(items)


BUDGET = [None]  # seconds one operation may use for its repetitions (--budget)


class WrongAnswer(Exception):
    """A timed request did not answer what the operation must (a fast error is no result)."""


FAST = [31, 5.0]  # --fast-runs N, --fast-ms MS: an operation with a run faster than MS ms
                  # makes at least N runs (N = 0: no such rule)


class Op:
    """One operation's repetitions on one loaded target: step() makes one run of `fn` (timed)
    and judges its answer with `check` (untimed; a message is a wrong answer); finished()
    says whether it has made the runs it wants; outcome() records KEY_runs (and, for a fast
    operation, KEY_min, KEY_p25, KEY_p75 in ms) in `res` and returns the median in ms with
    the last answer, or None when the operation has no figure. It wants `runs` runs, at
    least FAST[0] once one of them took less than FAST[1] ms (the fastest run, not the
    first: the first request after the restart also pays the argon2id credential check),
    fewer with --budget once its runs took that long (at least one). A wrong answer is
    recorded as KEY_error; a request that outlived the client timeout (--op-timeout) as
    KEY_over_s (the operation is longer than that), and the server is restarted so that the
    work it may still be doing does not slow the next operation. Either ends the operation
    without a figure. An Op without `fn` is an operation that does not run on this target
    (no figure, nothing recorded)."""

    def __init__(self, t, res, key, fn, runs, check=None):
        self.t, self.res, self.key, self.fn, self.runs, self.check = t, res, key, fn, runs, check
        self.times, self.result, self.failed = [], None, fn is None

    def fast(self):
        return bool(FAST[0]) and bool(self.times) and min(self.times) * 1000 < FAST[1]

    def want(self):
        """The runs this operation asks for, as its runs so far tell (it only grows)."""
        return max(self.runs, FAST[0]) if self.fast() else self.runs

    def finished(self, want=None):
        """True once no more runs are to be made: failed, out of --budget, or `want` runs
        made (default: its own want())."""
        if self.failed:
            return True
        if not self.times:
            return False
        if BUDGET[0] is not None and sum(self.times) >= BUDGET[0]:
            return True
        return len(self.times) >= (want if want is not None else self.want())

    def step(self):
        t, res, key = self.t, self.res, self.key
        try:
            t0 = time.perf_counter()
            result = self.fn()
            self.times.append(time.perf_counter() - t0)
            self.result = result
            why = self.check(result) if self.check else None
            if why:
                raise WrongAnswer(why)
        except WrongAnswer as e:
            res[key + "_error"] = str(e)
            print("%s: %s: %s" % (t.name, key, e), file=sys.stderr, flush=True)
            self.failed = True
        except (socket.timeout, TimeoutError):
            res[key + "_over_s"] = getattr(t, "timeout", 600)
            res["_rss"] = max(res.get("_rss", 0), t.rss_mb())
            t.stop()
            t.start()
            self.failed = True

    def outcome(self):
        if self.failed:
            return None
        ms = [x * 1000 for x in self.times]
        self.res[self.key + "_runs"] = len(ms)
        if len(ms) >= 2 and (self.fast() or len(ms) > self.runs):  # (interleaved: the others')
            q = statistics.quantiles(ms, n=4, method="inclusive")
            self.res[self.key + "_min"] = round(min(ms), 2)
            self.res[self.key + "_p25"] = round(q[0], 2)
            self.res[self.key + "_p75"] = round(q[2], 2)
        return statistics.median(ms), self.result


def run_sequential(ops):
    """Runs the operations of one target's operations() generator one after the other,
    each its runs in a row."""
    try:
        op = next(ops)
        while True:
            while not op.finished():
                op.step()
            op = ops.send(op.outcome())
    except StopIteration:
        pass


def run_interleaved(gens):
    """Runs the operations() generators of several loaded targets side by side: operation
    by operation (the same on every target), one run on each target in turn (A, B, A, B,
    ...) until every target has made the runs the operation wants (the most any target
    wants, so that all make as many unless one fails or runs out of --budget), so that the
    machine's background load falls on every target alike."""
    pairs = []
    for g in gens:
        try:
            pairs.append((g, next(g)))
        except StopIteration:
            pass
    while pairs:
        keys = {op.key for g, op in pairs}
        if len(keys) != 1:
            raise RuntimeError("targets out of step: %s" % sorted(keys))
        while True:
            want = max([op.want() for g, op in pairs if not op.failed] or [0])
            todo = [op for g, op in pairs if not op.finished(want)]
            if not todo:
                break
            for op in todo:
                op.step()
        nxt = []
        for g, op in pairs:
            try:
                nxt.append((g, g.send(op.outcome())))
            except StopIteration:
                pass
        pairs = nxt


def count_responses(data):
    return data.count(b"<D:response>") + data.count(b"<response>") + \
        len(re.findall(rb"<[a-zA-Z0-9]+:response>", data)) - data.count(b"<D:response>")


def month_names(events, start=(2026, 3, 1), end=(2026, 4, 1)):
    """The names of the UTC events (generate()'s mix and generate_zoned()'s zoned-utc mix)
    with an instance overlapping [start, end): the exact set a one-month time-range query
    must answer (RFC 4791 §9.9), computed here independently of any server. None for the
    zoned mix (its zones are not modelled)."""
    import datetime as dt
    lo, hi = dt.datetime(*start), dt.datetime(*end)

    def when(v):
        return dt.datetime.strptime(v, "%Y%m%dT%H%M%SZ")

    def span(block):
        """The start and end of a VEVENT block's own instance."""
        s0 = when(re.search(r"\nDTSTART:(\S+)", block).group(1))
        e = re.search(r"\nDTEND:(\S+)", block)
        d = re.search(r"\nDURATION:PT(\d+)M", block)
        return s0, (when(e.group(1)) if e else s0 + dt.timedelta(minutes=int(d.group(1))))

    names = set()
    for name, body in events:
        if "TZID=" in body:
            return None
        blocks = body.split("BEGIN:VEVENT")[1:]
        t = re.search(r"DTSTART;VALUE=DATE:(\d{8})", body)
        if t:  # all-day: the whole day
            day = dt.datetime.strptime(t.group(1), "%Y%m%d")
            spans = [(day, day + dt.timedelta(days=1))]
        elif "RRULE" in body:
            master = [b for b in blocks if "RECURRENCE-ID" not in b][0]
            s0, e0 = span(master)
            count = int(re.search(r"COUNT=(\d+)", master).group(1))
            step = dt.timedelta(days=1) if "FREQ=DAILY" in master else dt.timedelta(weeks=1)
            exdates = {when(v) for v in re.findall(r"\nEXDATE:(\S+)", master)}
            moved = {}
            for b in blocks:
                r = re.search(r"\nRECURRENCE-ID:(\S+)", b)
                if r:
                    moved[when(r.group(1))] = span(b)
            spans = []
            for k in range(count):
                s = s0 + k * step
                if s in exdates:
                    continue
                spans.append(moved.get(s, (s, s + (e0 - s0))))
        else:
            spans = [span(blocks[0])]
        if any(a < hi and b > lo for a, b in spans):
            names.add(name)
    return names


def expect_names(names):
    """A check for an Op: a 207 whose hrefs end with exactly `names`."""
    def check(result):
        st, data = result
        if st != 207:
            return "HTTP %d, not 207" % st
        got = {h.rsplit(b"/", 1)[-1].decode() for h in
               re.findall(rb"<(?:[a-zA-Z0-9]+:)?href>([^<]*)</", data)}
        got.discard("")
        if got != names:
            return "%d names, want %d: %d missing (e.g. %s), %d extra (e.g. %s)" % (
                len(got), len(names), len(names - got), sorted(names - got)[:2],
                len(got - names), sorted(got - names)[:2])
        return None
    return check


def token_of(data):
    m = re.search(rb"<(?:[a-zA-Z0-9]+:)?sync-token>([^<]*)</", data)
    return m.group(1).decode() if m else ""


def sync_body(token="", limit=None):
    lim = "<D:limit><D:nresults>%d</D:nresults></D:limit>" % limit if limit else ""
    return ('<?xml version="1.0"?><D:sync-collection %s><D:sync-token>%s</D:sync-token>'
            '<D:sync-level>1</D:sync-level>%s<D:prop><D:getetag/></D:prop></D:sync-collection>'
            % (D, token, lim))


def expect(status, rows=None, same=None, contains=None):
    """A check for an Op: the HTTP status, and the multistatus row count (exactly `rows`,
    or the same in every run when `same` is a list to remember them in), or a byte string
    the body must hold."""
    def check(result):
        st, data = result
        if st != status:
            return "HTTP %d, not %d: %r" % (st, status, data[:200])
        n = count_responses(data)
        if rows is not None and n != rows:
            return "%d rows, not %d" % (n, rows)
        if same is not None:
            same.append(n)
            if len(set(same)) > 1:
                return "rows differ between runs: %r" % same
        if contains is not None and contains not in data:
            return "the answer lacks %r" % contains
        return None
    return check


def load_target(t, events, procs, put_tail=None):
    """Starts `t` and loads `events` by PUT, or with `put_tail` and a target that can seed:
    all but the last `put_tail` written on disk while the server is stopped, then the tail by
    PUT (so the PUT rate is the rate at the full collection size). Then restarts the server
    (peak RSS covers the operations only) and returns its result so far."""
    res = {"server": t.name, "events": len(events)}
    t.start()
    load = events
    if put_tail is not None and hasattr(t, "seed") and put_tail < len(events):
        t.stop()
        t.seed(events[:-put_tail])
        t.start()
        load = events[-put_tail:]
        res["seeded"] = len(events) - put_tail
    chunks = [load[i::procs] for i in range(procs)]
    t0 = time.perf_counter()
    with multiprocessing.Pool(procs, initializer=put_worker_init) as pool:
        loaded = sum(pool.map(put_worker, [(t.port, t.auth, t.cal, c) for c in chunks]))
    rate = loaded / (time.perf_counter() - t0)
    res["put_per_s"] = round(rate) if rate >= 10 else round(rate, 2)
    t.stop()
    t.start()
    return res


def operations(t, res, events, runs):
    """The timed operations on loaded target `t`, a generator: it yields one Op per
    operation, the same keys in the same order on every target (an Op without fn where one
    cannot run), and is sent back the Op's outcome ((median ms, last answer), or None), which
    it records in `res`. What lies between two yields (the 3 changes before the incremental
    sync, the perf and CPU readings) runs untimed at that operation's turn; the last step
    reads the peak RSS and stops the server. run_sequential() or run_interleaved() drive it."""
    xml = {"Content-Type": "application/xml; charset=utf-8"}

    def propfind():
        return t.request("PROPFIND", t.cal, ('<?xml version="1.0"?><D:propfind %s><D:prop>'
                                              '<D:getetag/></D:prop></D:propfind>' % D),
                         dict(xml, Depth="1"))
    r_ = yield Op(t, res, "propfind_ms", propfind, runs,
                  expect(207, rows=len(events) + 1))
    if r_ is not None:
        ms, (st, data) = r_
        res["propfind_ms"], res["propfind_rows"] = round(ms, 1), count_responses(data)

    def initial():
        return t.request("REPORT", t.cal, sync_body(), dict(xml, Depth="1"))
    r_ = yield Op(t, res, "sync_initial_ms", initial, runs, expect(207, rows=len(events)))
    if r_ is not None:
        ms, (st, data) = r_
        res["sync_initial_ms"], res["sync_rows"] = round(ms, 1), count_responses(data)
    token = token_of(data) if r_ is not None else ""

    def paged():
        tok, rows, pages = "", 0, 0
        while pages < 1000:
            st, d = t.request("REPORT", t.cal, sync_body(tok, 500), dict(xml, Depth="1"))
            pages += 1
            rows += count_responses(d)
            new = token_of(d)
            if b"HTTP/1.1 507" not in d or new == tok or not new:
                break
            tok = new
        return rows, pages
    def paged_check(result):
        # every page but the last ends with the collection's own 507 row (RFC 6578 §3.6)
        rows, pages = result
        want = len(events) + pages - 1
        return None if rows == want else "%d rows in %d pages, not %d" % (rows, pages, want)
    r_ = yield Op(t, res, "sync_paged_ms", paged, max(1, runs // 2), paged_check)
    if r_ is not None:
        ms, (rows, pages) = r_
        res["sync_paged_ms"], res["sync_paged_pages"] = round(ms, 1), pages

    for name, body in events[:3]:
        t.request("PUT", t.cal + name, body.replace("SUMMARY:", "SUMMARY:changed ").encode(),
                  {"Content-Type": "text/calendar; charset=utf-8"})

    def incremental():
        return t.request("REPORT", t.cal, sync_body(token), dict(xml, Depth="1"))
    r_ = yield Op(t, res, "sync_incremental_ms", incremental if token else None, runs,
                  expect(207, rows=3))
    if r_ is not None:
        ms, (st, data) = r_
        res["sync_incremental_ms"] = round(ms, 2)  # sub-millisecond: two decimals
        res["sync_incremental_rows"] = count_responses(data)

    hrefs = "".join("<D:href>%s%s</D:href>" % (t.cal, n) for n, _ in events[:1000])
    mg = ('<?xml version="1.0"?><C:calendar-multiget %s><D:prop><D:getetag/><C:calendar-data/>'
          '</D:prop>%s</C:calendar-multiget>' % (D, hrefs))

    def multiget():
        return t.request("REPORT", t.cal, mg, dict(xml, Depth="1"))
    r_ = yield Op(t, res, "multiget_ms", multiget, runs, expect(207, rows=1000))
    if r_ is not None:
        ms, (st, data) = r_
        res["multiget_ms"], res["multiget_rows"] = round(ms, 1), count_responses(data)

    q = ('<?xml version="1.0"?><C:calendar-query %s><D:prop><D:getetag/></D:prop><C:filter>'
         '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range '
         'start="20260301T000000Z" end="20260401T000000Z"/></C:comp-filter></C:comp-filter>'
         '</C:filter></C:calendar-query>' % D)

    def query():
        return t.request("REPORT", t.cal, q, dict(xml, Depth="1"))
    want = month_names(events)  # the exact set, for the UTC mix
    r_ = yield Op(t, res, "query_month_ms", query, runs,
                  expect(207, same=[]) if want is None else expect_names(want))
    if r_ is not None:
        ms, (st, data) = r_
        res["query_month_ms"], res["query_month_rows"] = round(ms, 1), count_responses(data)

    qx = ('<?xml version="1.0"?><C:calendar-query %s><D:prop><D:getetag/><C:calendar-data>'
          '<C:expand start="20260301T000000Z" end="20260401T000000Z"/></C:calendar-data>'
          '</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
          '<C:time-range start="20260301T000000Z" end="20260401T000000Z"/></C:comp-filter>'
          '</C:comp-filter></C:filter></C:calendar-query>' % D)

    def query_expand():
        return t.request("REPORT", t.cal, qx, dict(xml, Depth="1"))
    with PerfRecord(t.proc.pid if t.name == "almanacd" else None, PERF[0]):
        cpu0 = server_cpu_s(t)
        r_ = yield Op(t, res, "query_expand_ms", query_expand, runs, expect(207, same=[]))
    if r_ is not None:
        ms, (st, data) = r_
        res["query_expand_ms"], res["query_expand_rows"] = round(ms, 1), count_responses(data)
        if cpu0 is not None:
            res["query_expand_cpu_ms"] = round((server_cpu_s(t) - cpu0) * 1000
                                               / res["query_expand_ms_runs"], 1)

    fb = ('<?xml version="1.0"?><C:free-busy-query %s><C:time-range start="20260301T000000Z" '
          'end="20260401T000000Z"/></C:free-busy-query>' % D)

    def freebusy():
        return t.request("REPORT", t.cal, fb, dict(xml, Depth="1"))
    cpu0 = server_cpu_s(t)
    r_ = yield Op(t, res, "freebusy_month_ms", freebusy, runs,
                  expect(200, contains=b"END:VFREEBUSY"))
    if r_ is not None:
        ms, (st, data) = r_
        res["freebusy_month_ms"] = round(ms, 1)
        if cpu0 is not None:
            res["freebusy_month_cpu_ms"] = round((server_cpu_s(t) - cpu0) * 1000
                                                 / res["freebusy_month_ms_runs"], 1)
        res["freebusy_month_periods"] = data.count(b"FREEBUSY")
    res["peak_rss_mb"] = round(max(t.rss_mb(), res.pop("_rss", 0)), 1)
    t.stop()
    return res


OPS = [("put_per_s", "load (PUT/s, higher is better)"),
       ("propfind_ms", "PROPFIND Depth 1"),
       ("sync_initial_ms", "initial sync-collection"),
       ("sync_paged_ms", "sync-collection paged by 500"),
       ("sync_incremental_ms", "incremental sync after 3 changes"),
       ("multiget_ms", "calendar-multiget of 1,000"),
       ("query_month_ms", "one-month time-range query"),
       ("query_expand_ms", "one-month query with expand"),
       ("freebusy_month_ms", "one-month free-busy-query"),
       ("peak_rss_mb", "peak RSS (MB)")]


def table(results):
    base = results[0]
    head = "| operation | " + " | ".join(r["server"] for r in results) + " |"
    lines = [head, "|" + " --- |" * (len(results) + 1)]
    for key, label in OPS:
        cells = []
        for r in results:
            v = r.get(key)
            if v is None and not r.get(key + "_over_s") and not r.get(key + "_error"):
                cells.append("-")
                continue
            if v is None and r.get(key + "_over_s"):
                cells.append("> %d s (timed out)" % r[key + "_over_s"])
                continue
            if v is None and r.get(key + "_error"):
                cells.append("wrong answer (%s)" % r[key + "_error"][:60])
                continue
            cell = ("%g" % v) + ("" if key == "put_per_s" else (" MB" if "rss" in key else " ms"))
            if r is not base and key != "peak_rss_mb" and base.get(key) and v:
                ratio = base[key] / v if key == "put_per_s" else v / base[key]
                cell += " (%.1fx)" % ratio
            cells.append(cell)
        lines.append("| %s | %s |" % (label, " | ".join(cells)))
    return "\n".join(lines)


TARGETS = {
    "almanac": lambda work, a: Almanac(work, a.almanacd, a.almanac),
    "almanac-pg": lambda work, a: AlmanacPg(work, a.almanacd, a.almanac),
    "radicale": lambda work, a: Radicale(work),
    "xandikos": lambda work, a: Xandikos(work),
    "cyrus": lambda work, a: Cyrus(work),
}


def open_target(stack, name, a):
    """Server `name` in a temporary work directory, not started; `stack` (an ExitStack)
    stops it by its PID, closes what it holds (almanac-pg's cluster) and removes the
    directory on leaving, also on an error or Ctrl-C."""
    work = tempfile.mkdtemp(prefix="bench-%s-" % name)
    stack.callback(shutil.rmtree, work, ignore_errors=True)
    t = TARGETS[name](work, a)
    if hasattr(t, "close"):
        stack.callback(t.close)
    stack.callback(t.stop)
    t.timeout = a.op_timeout
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--servers", default="almanac,cyrus,radicale,xandikos")
    ap.add_argument("--seed-peers", type=int, default=None, metavar="TAIL",
                    help="seed Radicale and Xandikos on disk with all but the last TAIL "
                    "events, then PUT those TAIL (their PUT/s is the rate at full size)")
    ap.add_argument("--budget", type=float, default=None, metavar="S",
                    help="an operation stops repeating once its runs took S seconds (at least "
                    "one run; the runs made are in the JSON as KEY_runs)")
    ap.add_argument("--op-timeout", type=float, default=600, metavar="S",
                    help="a request that takes longer is reported as '> S s (timed out)'")
    ap.add_argument("--data", default="utc", choices=("utc", "zoned", "zoned-utc"),
                    help="zoned: generate_zoned's mix of named zones with their VTIMEZONEs; "
                    "zoned-utc: the same events in UTC")
    ap.add_argument("--perf", default=None, metavar="FILE",
                    help="perf record -g of almanacd during the query with expand into FILE")
    ap.add_argument("--interleave", action="store_true",
                    help="load every named server first (each keeps running on its own port "
                    "and store), then run each operation on them in turn, one run each (A, B, "
                    "A, B, ...), so that the machine's background load falls on all alike; "
                    "default: one server after the other, each its runs in a row")
    ap.add_argument("--fast-runs", type=int, default=31, metavar="N",
                    help="an operation with a run faster than --fast-ms makes at least "
                    "N runs (still within --budget) and reports KEY_min, KEY_p25, KEY_p75 "
                    "in the JSON beside its median; 0: --runs for every operation (default 31)")
    ap.add_argument("--fast-ms", type=float, default=5.0, metavar="MS",
                    help="the run time below which --fast-runs applies (default 5)")
    a = ap.parse_args()
    BUDGET[0] = a.budget
    PERF[0] = a.perf
    FAST[0], FAST[1] = max(0, a.fast_runs), a.fast_ms
    events = generate(a.events, zoned=a.data if a.data != "utc" else False)
    names = a.servers.split(",")
    for name in names:
        if name not in TARGETS:
            raise SystemExit("unknown server " + name)
    main_pid = os.getpid()

    def on_sigterm(signum, frame):
        if os.getpid() != main_pid:  # not reached: put_worker_init restores the default
            os._exit(128 + signum)
        raise KeyboardInterrupt("SIGTERM")  # the cleanup of the with-blocks below runs
    signal.signal(signal.SIGTERM, on_sigterm)
    results = []
    if not a.interleave:
        for name in names:
            with contextlib.ExitStack() as stack:
                t = open_target(stack, name, a)
                res = load_target(t, events, a.procs, a.seed_peers)
                gen = stack.enter_context(contextlib.closing(operations(t, res, events, a.runs)))
                run_sequential(gen)
            print(json.dumps(res), flush=True)
            results.append(res)
    else:
        with contextlib.ExitStack() as stack:
            targets = [open_target(stack, name, a) for name in names]
            results = [load_target(t, events, a.procs, a.seed_peers) for t in targets]
            gens = [stack.enter_context(contextlib.closing(operations(t, res, events, a.runs)))
                    for t, res in zip(targets, results)]
            run_interleaved(gens)
        for res in results:
            print(json.dumps(res), flush=True)
    print()
    print(table(results))
    if FAST[0]:
        print("\n(An operation with a run faster than %g ms: at least %d runs; the "
              "runs made and their spread are in the JSON as KEY_runs, KEY_min, KEY_p25, "
              "KEY_p75.%s)" % (FAST[1], FAST[0], " Servers interleaved run by run."
                               if a.interleave else ""))

if __name__ == "__main__":
    main()
