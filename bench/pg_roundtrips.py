#!/usr/bin/env python3
"""bench/pg_roundtrips.py: statements the PostgreSQL engine sends per operation (issue #10).

A private PostgreSQL 15 cluster (tests/integration/pgcluster.py) with log_statement = all;
the admin CLI makes a user and a calendar on it; almanacd serves it on a free loopback port.
Each operation below is repeated --reps times between two marker statements sent by psql,
and the server log lines of almanacd's connections in between (`statement:` for the simple
protocol, `execute` for the extended one, prepared or not) are counted and divided by the
repetitions: the statements per operation. The round trips are counted in almanacd itself by
bench/pg_rtcount.c (LD_PRELOAD; built here with cc): every libpq call that waits for an answer
and every PQpipelineSync, so a pipeline of several statements counts once.

Operations: PUT of a new event, PUT replacing it, GET, PROPFIND Depth 1 of the calendar
(--reps events in it), initial and incremental (one change) sync-collection REPORT, DELETE,
and an ActiveSync Sync with GetChanges and nothing new (after Provision, FolderSync, Sync
key 0 and the initial download), a calendar-multiget of the --reps events and a
free-busy-query of the month they are in.

usage: pg_roundtrips.py ALMANACD ALMANAC [--reps 20] [--show OP]
Prints a markdown table and one JSON line."""

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import easclient  # noqa: E402
from pgcluster import PgCluster  # noqa: E402
from peers import free_port, wait_port  # noqa: E402

USER, PASSWORD = "bench", "bench-pw"
AUTH = {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()}
CAL = "/calendars/%s/cal/" % USER
D = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
LINE = re.compile(r"^(\d+)\|\S* *LOG:  (statement|execute [^:]*): (.*)$")


def event(uid, summary="x"):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260310T100000Z\r\n"
            "DTEND:20260310T110000Z\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            % (uid, summary))


class Counter:
    """Markers through psql (a connection of its own, whose lines are left out) and the
    statements of every other connection between two markers."""

    def __init__(self, pg):
        self.pg = pg
        self.n = 0

    def mark(self):
        self.n += 1
        tag = "almanac-mark-%d" % self.n
        self.pg.psql("SELECT '%s'" % tag)
        return tag

    def between(self, a, b):
        text = self.pg.log()
        lines = text.splitlines()
        start = next(i for i, l in enumerate(lines) if "'%s'" % a in l)
        end = next(i for i, l in enumerate(lines) if "'%s'" % b in l)
        mark_pids = set()
        for l in (lines[start], lines[end]):
            m = LINE.match(l)
            if m:
                mark_pids.add(m.group(1))
        out = []
        for l in lines[start + 1:end]:
            m = LINE.match(l)
            if m and m.group(1) not in mark_pids and "almanac-mark-" not in l:
                out.append(m.group(3))
        return out


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = dict(AUTH)
    h.update(headers or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--show", default=None, help="print the statements of one repetition of the operations whose name starts with "
                    "OP (all: every operation)")
    a = ap.parse_args()
    settings = {"log_statement": "all", "log_line_prefix": "%p|"}
    results = {}
    shown = {}
    work = tempfile.mkdtemp(prefix="bench-pgrt-")
    shim = os.path.join(work, "pg_rtcount.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, os.path.join(HERE, "pg_rtcount.c"),
                    "-ldl"], check=True)
    count_file = os.path.join(work, "rtcount")
    with open(count_file, "wb") as f:
        f.write(bytes(8))

    def round_trips():
        with open(count_file, "rb") as f:
            return int.from_bytes(f.read(8), sys.byteorder)
    env = dict(os.environ, LD_PRELOAD=shim, ALMANAC_RTCOUNT_FILE=count_file,
               ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
    trips = {}
    with PgCluster(settings=settings) as pg:
        uri = pg.uri()
        subprocess.run([a.almanac, "--store", uri, "user", "add", USER, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        subprocess.run([a.almanac, "--store", uri, "calendar", "add", USER, "cal"], check=True,
                       capture_output=True)
        port = free_port()
        proc = subprocess.Popen([a.almanacd, "--store", uri, "--listen", "127.0.0.1:%d" % port,
                                 "--log-level", "warn"], env=env, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(work, "almanacd.log"), "ab"))
        try:
            wait_port(port, proc)
            cnt = Counter(pg)
            # warm up: the first request of a connection verifies the password, opens pool
            # connections (and prepares statements); not counted
            uids = [str(uuid.uuid4()) for _ in range(a.reps)]
            st, _ = request(port, "PUT", CAL + "warm.ics", event("warm"),
                            {"Content-Type": "text/calendar"})
            assert st in (201, 204), st
            request(port, "GET", CAL + "warm.ics")
            request(port, "PROPFIND", CAL, '<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
                    '</D:prop></D:propfind>', {"Depth": "1"})

            def measure(name, fn, reps=a.reps):
                m0 = cnt.mark()
                t0 = round_trips()
                for i in range(reps):
                    fn(i)
                trips[name] = round((round_trips() - t0) / reps, 2)
                m1 = cnt.mark()
                stmts = cnt.between(m0, m1)
                results[name] = round(len(stmts) / reps, 2)
                if a.show and (a.show == "all" or name.startswith(a.show)):
                    shown[name] = stmts[:len(stmts) // reps or len(stmts)]

            def put_new(i):
                st, _ = request(port, "PUT", CAL + "e%d.ics" % i, event(uids[i]),
                                {"Content-Type": "text/calendar", "If-None-Match": "*"})
                assert st == 201, st
            measure("PUT new event", put_new)

            def put_replace(i):
                st, _ = request(port, "PUT", CAL + "e%d.ics" % i, event(uids[i], "changed"),
                                {"Content-Type": "text/calendar"})
                assert st == 204, st
            measure("PUT replacing an event", put_replace)

            def get(i):
                st, _ = request(port, "GET", CAL + "e%d.ics" % i)
                assert st == 200, st
            measure("GET of an event", get)

            pf = ('<?xml version="1.0"?><D:propfind %s><D:prop><D:getetag/></D:prop>'
                  '</D:propfind>' % D)

            def propfind(i):
                st, _ = request(port, "PROPFIND", CAL, pf, {"Depth": "1"})
                assert st == 207, st
            measure("PROPFIND Depth 1 (%d events)" % (a.reps + 1), propfind)

            hrefs = "".join("<D:href>%se%d.ics</D:href>" % (CAL, i) for i in range(a.reps))
            mg = ('<?xml version="1.0"?><C:calendar-multiget %s><D:prop><D:getetag/>'
                  '<C:calendar-data/></D:prop>%s</C:calendar-multiget>' % (D, hrefs))

            def multiget(i):
                st, data = request(port, "REPORT", CAL, mg, {"Depth": "1"})
                assert st == 207 and data.count(b"BEGIN:VEVENT") == a.reps, st
            measure("calendar-multiget of %d events" % a.reps, multiget)

            fb = ('<?xml version="1.0"?><C:free-busy-query %s><C:time-range '
                  'start="20260301T000000Z" end="20260401T000000Z"/></C:free-busy-query>' % D)

            def freebusy(i):
                st, data = request(port, "REPORT", CAL, fb, {"Depth": "1"})
                assert st == 200 and b"FREEBUSY" in data, st
            measure("free-busy-query of a month (%d events in it)" % (a.reps + 1), freebusy)

            def sync_body(token=""):
                return ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>'
                        '%s</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/>'
                        '</D:prop></D:sync-collection>' % token)
            tokens = []

            def sync_initial(i):
                st, data = request(port, "REPORT", CAL, sync_body(), {"Depth": "1"})
                assert st == 207, st
                tokens.append(re.search(rb"<[^>]*sync-token>([^<]*)<", data).group(1).decode())
            measure("sync-collection, initial", sync_initial)
            request(port, "PUT", CAL + "e0.ics", event(uids[0], "again"),
                    {"Content-Type": "text/calendar"})

            def sync_incr(i):
                st, data = request(port, "REPORT", CAL, sync_body(tokens[-1]), {"Depth": "1"})
                assert st == 207 and data.count(b"e0.ics") == 1, (st, data[:300])
            measure("sync-collection, incremental (1 change)", sync_incr)

            cl = easclient.EASClient("127.0.0.1", port, USER, PASSWORD, "BENCHRT0001",
                                     device_type="BenchPhone", timeout=60)
            cl.provision()
            fs = cl.folder_sync("0")
            coll = [f for f in easclient.EASClient.folders_of(fs)
                    if f.get("Type") in ("8", "13")][0]["ServerId"]
            first = cl.sync(coll, "0", options=easclient.EASClient.calendar_options(0, 1)).only()
            key = [first.sync_key]

            def eas_initial(i):
                c = cl.sync(coll, key[0], get_changes=True, window=100).only()
                assert c.status == 1 and len(c.adds) == a.reps + 1, (c.status, len(c.adds))
                key[0] = c.sync_key
            measure("ActiveSync Sync, initial download (%d events)" % (a.reps + 1),
                    eas_initial, reps=1)

            def eas_empty(i):
                c = cl.sync(coll, key[0], get_changes=True).only()
                assert c.status == 1 and not c.adds, (c.status, len(c.adds))
                key[0] = c.sync_key
            measure("ActiveSync Sync, nothing new", eas_empty)
            cl.close()

            def delete(i):
                st, _ = request(port, "DELETE", CAL + "e%d.ics" % i)
                assert st == 204, st
            measure("DELETE of an event", delete)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print("| operation | round trips | statements |")
    print("| --- | --- | --- |")
    for k, v in results.items():
        print("| %s | %g | %g |" % (k, trips[k], v))
    for k, v in shown.items():
        print("\n%s:\n  %s" % (k, "\n  ".join(s[:200] for s in v)))
    print(json.dumps({"round_trips": trips, "statements": results}))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
