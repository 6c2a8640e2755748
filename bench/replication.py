#!/usr/bin/env python3
"""bench/replication.py: the KB 842541 load on almanacd's replication SEARCH.
1. loads N items (default 100,000) into one calendar with concurrent PUTs;
2. restarts the server and takes the initial manifest (time to last byte, rows, peak RSS);
3. changes the first C items (default 50,000) through CalDAV;
4. restarts and sends one SEARCH with the initial collblob and T resourcetags (default
   1,000,000): the current tags of the first C/2 changed items (folded), the initial tags of
   the other C/2 (stale: 'change' rows), and the rest well-formed tags of items that do not
   exist; checks the manifest has exactly C/2 'change' rows; time to last byte, peak RSS.
Prints one JSON line. usage: replication.py ALMANACD ALMANAC [--items N] [--changes C] [--tags T]
[--store sqlite|postgresql]
--incremental: the incremental manifest after 3 changes, whatever N.
--window: a sliding date window (issue 16 item 6, docs/replication.md): N events (default
100,000, every 100th a weekly series of 10) imported over ~10 years; a client holding the
collblob of a 2-week window (and, separately, of "the last two weeks and the future") with 3
changes made since slides it by one day; median time and rows of the continuing SEARCH vs a
fresh one (empty collblob) with the new window and vs the same collblob with the window not
moved (the changes alone), the window in the middle and at the end of the history."""

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

R = "http://schemas.microsoft.com/repl/"
SQL = ('SELECT "DAV:href", "%sresourcetag" FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\') WHERE '
       '"DAV:contentclass" = \'urn:content-classes:appointment\'' % R)
AUTH = "Basic " + base64.b64encode(b"bench:bench-pw").decode()


def event(i, summary):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//b//EN\r\nBEGIN:VEVENT\r\nUID:r%d\r\n"
            "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDURATION:PT1H\r\n"
            "SUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (i, summary)).encode()


def put_range(args):
    port, lo, hi, summary = args
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    tags = {}
    for i in range(lo, hi):
        c.request("PUT", "/calendars/bench/cal/r%07d.ics" % i, body=event(i, summary),
                  headers={"Authorization": AUTH, "Content-Type": "text/calendar"})
        r = c.getresponse()
        r.read()
        if r.status not in (201, 204):
            raise RuntimeError("PUT %d: %d" % (i, r.status))
        tags[i] = r.getheader("ResourceTag").strip("<>")
    c.close()
    return tags


def parallel_put(port, lo, hi, summary, procs=8):
    step = (hi - lo + procs - 1) // procs
    parts = [(port, a, min(hi, a + step), summary) for a in range(lo, hi, step)]
    tags = {}
    with multiprocessing.Pool(len(parts)) as p:
        for t in p.map(put_range, parts):
            tags.update(t)
    return tags


class Server:
    """almanacd on `store`: the argument list naming its store (["--data", DIR] or
    ["--store", URI])."""
    def __init__(self, almanacd, store, work):
        self.almanacd, self.store, self.work = almanacd, store, work

    def start(self):
        pf = os.path.join(self.work, "port")
        if os.path.exists(pf):
            os.unlink(pf)
        self.proc = subprocess.Popen([self.almanacd] + self.store + ["--listen",
                                      "127.0.0.1:0", "--port-file", pf, "--log-level", "warn"],
                                     stderr=subprocess.DEVNULL)
        for _ in range(400):
            if os.path.exists(pf) and os.path.getsize(pf):
                break
            time.sleep(0.05)
        with open(pf) as f:
            self.port = int(f.read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=120)

    def rss_mb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0


def search_body(collblob, tags):
    """The SEARCH body, generated as it is sent (tags are never joined whole)."""
    yield ('<?xml version="1.0" encoding="utf-8"?><D:searchrequest xmlns:D="DAV:" xmlns:R="%s">'
           '<R:repl><R:collblob>%s</R:collblob><R:resourcetaglist>' % (R, collblob)).encode()
    chunk = []
    for t in tags:
        chunk.append("<R:resourcetag>%s</R:resourcetag>" % t)
        if len(chunk) == 10000:
            yield "".join(chunk).encode()
            chunk = []
    if chunk:
        yield "".join(chunk).encode()
    yield ('</R:resourcetaglist></R:repl><D:sql>%s</D:sql></D:searchrequest>'
           % SQL.replace("<", "&lt;")).encode()


def search(port, collblob, tags):
    """Streams the request body (search_body) and reads the answer."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("SEARCH", "/exchange/bench/cal/", body=search_body(collblob, tags),
              encode_chunked=True,
              headers={"Authorization": AUTH, "Content-Type": "text/xml"})
    r = c.getresponse()
    data = r.read()
    dt = time.perf_counter() - t0
    c.close()
    if r.status != 207:
        raise RuntimeError("SEARCH: %d %s" % (r.status, data[:300]))
    blob = re.search(rb"<R:collblob>([^<]*)</R:collblob>", data)
    return dt, data, blob.group(1).decode() if blob else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--items", type=int, default=100000)
    ap.add_argument("--changes", type=int, default=50000)
    ap.add_argument("--tags", type=int, default=1000000)
    ap.add_argument("--incremental", action="store_true",
                    help="only: N items, initial manifest, 3 changes, median of --runs "
                         "incremental SEARCHes after one warm-up (O(changes), whatever N)")
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--store", default="sqlite", choices=("sqlite", "postgresql"),
                    help="the main run's store: SQLite in a temporary directory, or a private "
                    "PostgreSQL 15 cluster (issue #10)")
    ap.add_argument("--window", action="store_true", help="the sliding window (see above)")
    a = ap.parse_args()
    if a.incremental:
        return incremental(a)
    if a.window:
        return window(a)
    work = tempfile.mkdtemp(prefix="almanac-repl-")
    store = ["--data", os.path.join(work, "data")]
    out = {"items": a.items, "changes": a.changes, "tags": a.tags, "store": a.store}
    pg = None
    try:
        if a.store == "postgresql":
            # a private cluster, durable as SQLite is (the test cluster turns fsync off)
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                            "tests", "integration"))
            from pgcluster import PgCluster
            pg = PgCluster(settings={"fsync": "on", "full_page_writes": "on",
                                     "shared_buffers": "128MB"}).start()
            store = ["--store", pg.uri()]
        subprocess.run([a.almanac] + store + ["user", "add", "bench", "--password-stdin"],
                       input="bench-pw\n", text=True, check=True)
        subprocess.run([a.almanac] + store + ["calendar", "add", "bench", "cal"], check=True)
        srv = Server(a.almanacd, store, work)
        srv.start()
        t0 = time.perf_counter()
        first = parallel_put(srv.port, 0, a.items, "v1")
        out["load_put_per_s"] = round(a.items / (time.perf_counter() - t0))
        srv.stop()

        srv.start()
        dt, body, c0 = search(srv.port, "", [])
        rows = body.count(b"<D:response>")
        if rows != a.items:
            raise RuntimeError("initial manifest has %d rows" % rows)
        out["initial_manifest_s"] = round(dt, 2)
        out["initial_manifest_mb"] = round(len(body) / 1e6, 1)
        out["initial_rss_mb"] = round(srv.rss_mb(), 1)
        changed = parallel_put(srv.port, 0, a.changes, "v2")
        srv.stop()

        half = a.changes // 2
        guid_hex = first[0][3:35]
        unknown = a.tags - a.changes

        def taglist():
            for i in range(half):
                yield changed[i]            # current: folded
            for i in range(half, a.changes):
                yield first[i]              # stale: a 'change' row
            for k in range(unknown):        # ours, but no such item
                yield "rt:%s%012x%s%012x" % (guid_hex, 2 ** 46 + k, "00" * 16, 1)

        srv.start()
        dt, body, c1 = search(srv.port, c0, taglist())
        changes = body.count(b"<R:changetype>change</R:changetype>")
        rows = body.count(b"<D:response>")
        if rows != a.changes - half or changes != rows:
            raise RuntimeError("tag manifest has %d rows (%d change), want %d"
                               % (rows, changes, a.changes - half))
        out["tags_search_s"] = round(dt, 2)
        out["tags_search_rows"] = rows
        out["tags_search_rss_mb"] = round(srv.rss_mb(), 1)
        srv.stop()
        print(json.dumps(out), flush=True)
    finally:
        if pg:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)


def incremental(a):
    work = tempfile.mkdtemp(prefix="almanac-repl-")
    data = os.path.join(work, "data")
    try:
        subprocess.run([a.almanac, "--data", data, "user", "add", "bench", "--password-stdin"],
                       input="bench-pw\n", text=True, check=True)
        subprocess.run([a.almanac, "--data", data, "calendar", "add", "bench", "cal"], check=True)
        srv = Server(a.almanacd, ["--data", data], work)
        srv.start()
        parallel_put(srv.port, 0, a.items, "v1")
        _, _, c0 = search(srv.port, "", [])
        parallel_put(srv.port, 0, 3, "v2", procs=1)
        srv.stop()
        srv.start()
        times = []
        for i in range(a.runs + 1):
            dt, body, _ = search(srv.port, c0, [])
            if body.count(b"<R:changetype>change</R:changetype>") != 3:
                raise RuntimeError("incremental manifest is not the 3 changes")
            if i > 0:  # the first pays for the cold page cache and the password hash
                times.append(dt)
        srv.stop()
        times.sort()
        print(json.dumps({"items": a.items, "runs": a.runs,
                          "incremental_ms": round(times[len(times) // 2] * 1000, 2),
                          "min_ms": round(times[0] * 1000, 2),
                          "max_ms": round(times[-1] * 1000, 2)}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


C = "urn:schemas:calendar:"
WIN_T0 = 1609459200  # 2021-01-01T00:00:00Z: the first event; ~10 years follow
DAY = 86400


def ymd(t):
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def window_calendar(path, items):
    """One iCalendar file of `items` events, ~52 minutes apart over ~10 years, 30 min to 3 h
    long; every 100th a weekly series of 10."""
    step = 3650 * DAY // items
    with open(path, "w") as f:
        f.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//b//EN\r\n")
        for i in range(items):
            t = WIN_T0 + i * step
            rr = "RRULE:FREQ=WEEKLY;COUNT=10\r\n" if i % 100 == 0 else ""
            f.write("BEGIN:VEVENT\r\nUID:w%d\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\n"
                    "DURATION:PT%dM\r\n%sSUMMARY:event %d\r\nEND:VEVENT\r\n"
                    % (i, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t)), 30 + (i % 6) * 30,
                       rr, i))
        f.write("END:VCALENDAR\r\n")


def search_sql(port, collblob, where):
    sql = ('SELECT "DAV:href", "%sresourcetag" FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\') WHERE %s'
           % (R, where))
    body = ('<?xml version="1.0" encoding="utf-8"?><D:searchrequest xmlns:D="DAV:" xmlns:R="%s">'
            '<R:repl><R:collblob>%s</R:collblob></R:repl><D:sql>%s</D:sql></D:searchrequest>'
            % (R, collblob, sql.replace("&", "&amp;").replace("<", "&lt;"))).encode()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("SEARCH", "/exchange/bench/cal/", body=body,
              headers={"Authorization": AUTH, "Content-Type": "text/xml"})
    r = c.getresponse()
    data = r.read()
    dt = time.perf_counter() - t0
    c.close()
    if r.status != 207:
        raise RuntimeError("SEARCH: %d %s" % (r.status, data[:300]))
    blob = re.search(rb"<R:collblob>([^<]*)</R:collblob>", data)
    return dt, data.count(b"<D:response>"), blob.group(1).decode() if blob else None


def window(a):
    work = tempfile.mkdtemp(prefix="almanac-slide-")
    data = os.path.join(work, "data")
    ics = os.path.join(work, "cal.ics")
    out = {"items": a.items, "runs": a.runs}
    shapes = {
        "two_weeks": lambda d: '"%sdtend" > \'%s\' AND "%sdtstart" < \'%s\''
                               % (C, ymd(d - 7 * DAY), C, ymd(d + 7 * DAY)),
        "past_two_weeks_and_future": lambda d: '"%sdtend" >= CAST("%sT00:00:00Z" AS '
                                               '\'dateTime.tz\')' % (C, ymd(d - 14 * DAY)),
    }
    try:
        subprocess.run([a.almanac, "--data", data, "user", "add", "bench", "--password-stdin"],
                       input="bench-pw\n", text=True, check=True)
        subprocess.run([a.almanac, "--data", data, "calendar", "add", "bench", "cal"], check=True)
        window_calendar(ics, a.items)
        t0 = time.perf_counter()
        subprocess.run([a.almanac, "--data", data, "import", "bench", "cal", ics], check=True,
                       stdout=subprocess.DEVNULL)
        out["import_s"] = round(time.perf_counter() - t0, 1)
        srv = Server(a.almanacd, ["--data", data], work)
        srv.start()
        for where_name, day in (("middle", WIN_T0 + 1825 * DAY), ("end", WIN_T0 + 3640 * DAY)):
            for shape, win in shapes.items():
                _, rows0, blob = search_sql(srv.port, "", win(day))
                # 3 writes since the collblob (dated 2026-01-05: in the middle window)
                parallel_put(srv.port, 0, 3, "v2-%s-%s" % (where_name, shape), procs=1)
                cont, fresh, same = [], [], []
                for i in range(a.runs + 1):
                    dt, rows_c, _ = search_sql(srv.port, blob, win(day + DAY))
                    dt2, rows_f, _ = search_sql(srv.port, "", win(day + DAY))
                    dt3, rows_s, _ = search_sql(srv.port, blob, win(day))  # not slid
                    if i > 0:
                        cont.append(dt)
                        fresh.append(dt2)
                        same.append(dt3)
                for t in (cont, fresh, same):
                    t.sort()
                out["%s_%s" % (where_name, shape)] = {
                    "initial_rows": rows0,
                    "continuing_ms": round(cont[len(cont) // 2] * 1000, 2),
                    "continuing_rows": rows_c,
                    "fresh_ms": round(fresh[len(fresh) // 2] * 1000, 2),
                    "fresh_rows": rows_f,
                    "unmoved_ms": round(same[len(same) // 2] * 1000, 2),
                    "unmoved_rows": rows_s,
                }
                print(json.dumps({where_name + "_" + shape: out["%s_%s" % (where_name, shape)]}),
                      flush=True)
        out["rss_mb"] = round(srv.rss_mb(), 1)
        srv.stop()
        print(json.dumps(out), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
