#!/usr/bin/env python3
"""bench/range.py: time ranges in O(matches) (issue 16, item 2). Two calendars of one store
with the same density of events per week: "year" holds N_SMALL one-hour events over one year
(2026), "century" N_LARGE over 100 years (1976-2075), both centred on mid-2026. The same
one-week CalDAV calendar-query (VEVENT time-range, getetag) in the middle of both is timed
over HTTP against almanacd, several repeats, medians.

The store is loaded once, the fastest honest way: `almanac import` of one generated iCalendar
file per calendar (every object parsed, validated and indexed by calstore, 256 per
transaction), by the OLD build. With --new, the same store is copied and opened by the NEW
almanacd, whose migrations bring it up to date (010 fills the interval index from the
existing rows; the time it takes is reported); then both servers run side by side and the
queries alternate between builds and calendars, so a loaded machine hits both alike.

usage: range.py ALMANACD_OLD ALMANAC_OLD [--new ALMANACD_NEW] [--small N] [--large N]
                [--runs R] [--keep DIR] [--keep-new DIR] [--store sqlite|postgresql]"""

import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

AUTH = "Basic " + base64.b64encode(b"bench:bench-password").decode()
WEEK = 7 * 86400
MID = 1782864000  # 2026-07-01T00:00:00Z, the middle of both calendars
QUERY_START = MID
QUERY_END = MID + WEEK


def ical_utc(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def write_ics(path, n, first, last):
    """n one-hour events spread evenly over [first, last), starting on the minute."""
    step = (last - first) / n
    with open(path, "w") as f:
        f.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n")
        for i in range(n):
            t = first + int(i * step) // 60 * 60
            f.write("BEGIN:VEVENT\r\nUID:range-%d@almanac\r\nDTSTAMP:20260101T000000Z\r\n"
                    "DTSTART:%s\r\nDURATION:PT1H\r\nSUMMARY:Range event %d\r\n"
                    "END:VEVENT\r\n" % (i, ical_utc(t), i))
        f.write("END:VCALENDAR\r\n")


def start(almanacd, store, d, tag):
    port_file = os.path.join(d, "port-" + tag)
    if os.path.exists(port_file):
        os.unlink(port_file)
    log = open(os.path.join(d, "almanacd-%s.log" % tag), "a")
    t0 = time.perf_counter()
    p = subprocess.Popen([almanacd] + store + ["--listen", "127.0.0.1:0", "--port-file",
                                               port_file, "--log-level", "warn"],
                         stderr=log, stdout=log)
    for _ in range(36000):
        if os.path.exists(port_file) and os.path.getsize(port_file):
            break
        if p.poll() is not None:
            raise RuntimeError("almanacd %s exited %d" % (tag, p.returncode))
        time.sleep(0.05)
    with open(port_file) as f:
        return p, int(f.read()), time.perf_counter() - t0


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)


def query(port, cal):
    body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
            '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            '<C:time-range start="%s" end="%s"/></C:comp-filter></C:comp-filter></C:filter>'
            '</C:calendar-query>' % (ical_utc(QUERY_START), ical_utc(QUERY_END))).encode()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("REPORT", "/calendars/bench/%s/" % cal, body=body,
              headers={"Authorization": AUTH, "Depth": "1", "Content-Type": "application/xml"})
    r = c.getresponse()
    data = r.read()
    dt = time.perf_counter() - t0
    c.close()
    if r.status != 207:
        raise RuntimeError("REPORT %s: %d" % (cal, r.status))
    return dt, data.count(b"<D:response>")


def load(almanac, store, d, small, large):
    subprocess.run([almanac] + store + ["user", "add", "bench", "--password-stdin"],
                   input="bench-password\n", text=True, check=True, stdout=subprocess.DEVNULL)
    out = {}
    for cal, n, first, last in (("year", small, MID - 182 * 86400, MID + 183 * 86400),
                                ("century", large, MID - 18262 * 86400, MID + 18262 * 86400)):
        ics = os.path.join(d, cal + ".ics")
        write_ics(ics, n, first, last)
        t0 = time.perf_counter()
        subprocess.run([almanac] + store + ["import", "bench", cal, ics], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out["import_%s_s" % cal] = round(time.perf_counter() - t0, 1)
        os.unlink(ics)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--new", help="almanacd of the build to compare, run on a copy")
    ap.add_argument("--small", type=int, default=10000)
    ap.add_argument("--large", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--keep", help="a loaded store to reuse (made there when absent)")
    ap.add_argument("--keep-new", help="the new build's copy of it to reuse (made there from "
                    "--keep when absent; migrated by the new build's first start)")
    ap.add_argument("--store", default="sqlite", choices=("sqlite", "postgresql"),
                    help="postgresql: a private PostgreSQL 15 cluster (issue #10), loaded by "
                    "the old build's almanac; with --new both builds serve the same database "
                    "(the queries only read); --keep does not apply")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="almanac-range-")
    res = {"small": a.small, "large": a.large, "runs": a.runs, "store": a.store,
           "query": [ical_utc(QUERY_START), ical_utc(QUERY_END)]}
    procs = []
    pg = None
    try:
        if a.store == "postgresql":
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                            "tests", "integration"))
            from pgcluster import PgCluster
            pg = PgCluster(settings={"shared_buffers": "128MB"}).start()
            store = ["--store", pg.uri()]
            res.update(load(a.almanac, store, d, a.small, a.large))
            pg.psql("VACUUM ANALYZE")
            builds = [("old", a.almanacd, store)]
            if a.new:
                builds.append(("new", a.new, store))
        else:
            data = a.keep or os.path.join(d, "data")
            if not os.path.exists(os.path.join(data, "almanac.db")):
                res.update(load(a.almanac, ["--data", data], d, a.small, a.large))
            builds = [("old", a.almanacd, ["--data", data])]
            if a.new:
                copy = a.keep_new or os.path.join(d, "data-new")
                if not os.path.exists(os.path.join(copy, "almanac.db")):
                    shutil.copytree(data, copy, dirs_exist_ok=True)
                builds.append(("new", a.new, ["--data", copy]))
        ports = {}
        for tag, exe, dd in builds:
            p, port, started = start(exe, dd, d, tag)
            procs.append(p)
            ports[tag] = port
            res["start_%s_s" % tag] = round(started, 1)  # the new build's includes migrating
        times = {}
        for tag in ports:  # warm the page cache and the statement caches
            for cal in ("year", "century"):
                query(ports[tag], cal)
        for i in range(a.runs):
            order = [(tag, cal) for tag in ports for cal in ("year", "century")]
            if i % 2:
                order.reverse()
            for tag, cal in order:
                dt, rows = query(ports[tag], cal)
                times.setdefault("%s_%s" % (tag, cal), []).append(dt)
                res["rows_%s_%s" % (tag, cal)] = rows
        for k, v in times.items():
            res[k + "_median_ms"] = round(statistics.median(v) * 1000, 2)
            res[k + "_min_ms"] = round(min(v) * 1000, 2)
        for tag in ports:
            res["ratio_%s" % tag] = round(res["%s_century_median_ms" % tag] /
                                          res["%s_year_median_ms" % tag], 2)
        res["loadavg"] = os.getloadavg()[0]
        print(json.dumps(res))
    finally:
        for p in procs:
            stop(p)
        if pg:
            pg.stop()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
