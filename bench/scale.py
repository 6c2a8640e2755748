#!/usr/bin/env python3
"""bench/scale.py: one calendar of N events (1,000,000 for issue 16 item 5) on every protocol.

Loads bench/peers.py's UTC mix (70% timed singles, 15% all-day, 15% weekly series with a
moved instance, over 2025-2026) written as ONE iCalendar file and imported with
`almanac import` (the fastest honest way: the admin CLI's import validates and writes every
object through calstore, 256 per transaction). Then each operation runs against a freshly
started almanacd on the same store, after one warm-up request (PROPFIND Depth 0 of the
calendar, which pays for the argon2id password check), so that almanacd's VmHWM after the
operation covers that operation only (plus start-up and the warm-up, reported as
`base_hwm_mb`). VmRSS is also sampled every 20 ms during the operation (`max_rss_mb`), and
almanacd's CPU time (user + system) for the operation is read from /proc (`server_cpu_s`,
all runs together: the figure a loaded machine disturbs least), and the driver's own
(`client_cpu_s`: reading, scanning and, for ActiveSync, decoding the answers).

CalDAV: PROPFIND Depth 1; initial sync-collection; sync-collection paged by DAV:limit
(--page, default 1,000: every page timed); calendar-multiget of 1,000 hrefs (getetag and
calendar-data); a one-month time-range calendar-query (the answer's names checked against
the generator). ActiveSync: Provision, FolderSync, Sync key 0, then Sync with WindowSize
--window (512) following MoreAvailable to the end (every window timed; every UID must
arrive once). Replication: the initial manifest (SEARCH with an empty collblob; its
resourcetags are written to a file as they arrive). Then 10 events are changed by CalDAV
PUT and: incremental sync-collection from the initial token, incremental ActiveSync Sync
from the last key, replication SEARCH with the initial collblob and every resourcetag of
the initial manifest (N tags, the KB 842541 case: 10 `change` rows expected).

Answers are read in 64 KiB reads and scanned as they pass (bytes, rows, hrefs, tokens):
nothing whole is held in the driver. A time is to the last byte; where an operation runs
more than once (--runs), the median. os.getloadavg() is recorded before each operation.

usage: scale.py ALMANACD ALMANAC [--events N] [--runs R] [--page L] [--window W]
                [--work DIR] [--ops op,op,...]
--work DIR keeps the store in DIR (and reuses it when DIR already holds a loaded one).
Prints one JSON line per operation and a markdown table."""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ left in bench/
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import easclient  # noqa: E402  (the test phone's client and codec)
from eas_sync import USER, RssSampler, Server, cpu_s, status_kb, uid_of  # noqa: E402
from peers import D, iter_generate, month_names, sync_body  # noqa: E402
from replication import AUTH as BASIC, search_body  # noqa: E402  (bench:bench-pw, as USER)

CAL = "/calendars/%s/cal/" % USER
AUTH = {"Authorization": BASIC}
XML = {"Content-Type": "application/xml; charset=utf-8"}
TIMEOUT = 3600

# What the scan picks out of an answer, whatever the namespace prefix.
TOKENS = re.compile(rb"<(?:\w+:)?(response|href|sync-token|resourcetag|collblob|changetype)>"
                    rb"(?:([^<]*)</(?:\w+:)?\1>)?|(HTTP/1\.1 507)")


class Tally:
    """Counts what passes in an answer: bytes, <response> rows, 507 rows, changetypes; keeps
    the first `keep` hrefs (or every href's last segment with `names`), the last sync-token
    and collblob; writes each resourcetag to `tags_out`. Holds at most 64 KiB + a tail."""

    def __init__(self, keep=0, names=False, tags_out=None):
        self.bytes = self.rows = self.rows_507 = self.tags = 0
        self.keep, self.hrefs = keep, []
        self.names = set() if names else None
        self.tags_out = tags_out
        self.token = self.collblob = None
        self.changetypes = {}
        self.carry = b""

    def feed(self, chunk):
        self.bytes += len(chunk)
        w = self.carry + chunk
        end = cut = 0
        for m in TOKENS.finditer(w):
            if m.group(3):
                self.rows_507 += 1
            else:
                tag, val = m.group(1), m.group(2)
                if tag == b"response":
                    self.rows += 1
                elif val is None:  # an element with children, or cut by the read: wait
                    if m.end() > len(w) - 512:
                        cut = m.start()
                        break
                elif tag == b"href":
                    if len(self.hrefs) < self.keep:
                        self.hrefs.append(val.decode())
                    if self.names is not None:
                        self.names.add(urllib.parse.unquote(val.decode().rsplit("/", 1)[-1]))
                elif tag == b"sync-token":
                    self.token = val.decode()
                elif tag == b"collblob":
                    self.collblob = val.decode()
                elif tag == b"resourcetag":
                    self.tags += 1
                    if self.tags_out is not None:
                        self.tags_out.write(val + b"\n")
                elif tag == b"changetype":
                    k = val.decode()
                    self.changetypes[k] = self.changetypes.get(k, 0) + 1
            end = m.end()
        self.carry = w[cut:] if cut else w[max(end, len(w) - 512):]


def call(conn, method, path, body, headers, tally):
    """One request on `conn`; the answer is fed to `tally`. Returns (status, seconds to the
    last byte). A generator body is sent chunked as it is generated."""
    h = dict(AUTH)
    h.update(headers)
    t0 = time.perf_counter()
    if body is not None and not isinstance(body, (bytes, str)):
        conn.request(method, path, body=body, headers=h, encode_chunked=True)
    else:
        conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    while True:
        chunk = r.read(1 << 16)
        if not chunk:
            break
        tally.feed(chunk)
    return r.status, time.perf_counter() - t0


class Op:
    """A freshly started almanacd for one operation: warm-up, VmRSS sampler, VmHWM."""

    def __init__(self, srv, name, res):
        self.srv, self.name, self.res = srv, name, res

    def __enter__(self):
        self.srv.stop()
        self.srv.start()
        self.conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=TIMEOUT)
        st, _ = call(self.conn, "PROPFIND", CAL, '<?xml version="1.0"?><D:propfind %s>'
                     '<D:prop><D:getetag/></D:prop></D:propfind>' % D, dict(XML, Depth="0"),
                     Tally())
        if st != 207:
            raise RuntimeError("warm-up PROPFIND: %d" % st)
        pid = self.srv.proc.pid
        self.out = {"op": self.name, "loadavg": [round(x, 1) for x in os.getloadavg()],
                    "base_hwm_mb": round(status_kb(pid, "VmHWM") / 1024, 1)}
        self.sampler = RssSampler(pid)
        self.sampler.start()
        self.cpu0 = cpu_s(pid)
        self.client0 = time.process_time()
        return self

    def __exit__(self, *exc):
        self.sampler.stop.set()
        self.sampler.join()
        pid = self.srv.proc.pid
        self.out["server_cpu_s"] = round(cpu_s(pid) - self.cpu0, 2)
        self.out["client_cpu_s"] = round(time.process_time() - self.client0, 2)
        self.out["peak_rss_mb"] = round(status_kb(pid, "VmHWM") / 1024, 1)
        self.out["max_rss_mb"] = round(self.sampler.max_kb / 1024, 1)
        self.conn.close()
        self.srv.stop()
        if exc[0] is None:
            self.res.append(self.out)
            print(json.dumps(self.out), flush=True)
        return False


def check(cond, what):
    if not cond:
        raise RuntimeError(what)


def repeat(runs, fn):
    """fn() -> (seconds, tally) `runs` times: the median time and the last tally."""
    times, t = [], None
    for _ in range(runs):
        dt, t = fn()
        times.append(dt)
    return statistics.median(times), times, t


def load(a, work, srv):
    """Writes the .ics file and imports it; returns the load's figures."""
    path = os.path.join(work, "events.ics")
    t0 = time.perf_counter()
    with open(path, "w", newline="") as f:
        f.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n")
        head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n"
        for _, body in iter_generate(a.events):
            f.write(body[len(head):-len("END:VCALENDAR\r\n")])
        f.write("END:VCALENDAR\r\n")
    gen_s = time.perf_counter() - t0
    out = {"op": "load", "loadavg": [round(x, 1) for x in os.getloadavg()],
           "file_bytes": os.path.getsize(path), "generate_s": round(gen_s, 1)}
    t0 = time.perf_counter()
    p = subprocess.Popen([a.almanac, "--data", srv.data, "import", USER, "cal", path],
                         stdout=subprocess.DEVNULL, stderr=open(srv.log, "ab"))
    _, status, ru = os.wait4(p.pid, 0)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    check(os.waitstatus_to_exitcode(status) == 0, "almanac import failed (see %s)" % srv.log)
    out["events_per_s"] = round(a.events / out["seconds"])
    out["cli_peak_rss_mb"] = round(ru.ru_maxrss / 1024, 1)
    os.unlink(path)
    print(json.dumps(out), flush=True)
    return out


def propfind_body():
    return ('<?xml version="1.0"?><D:propfind %s><D:prop><D:getetag/></D:prop></D:propfind>'
            % D)


def eas_client(srv):
    return easclient.EASClient("127.0.0.1", srv.port, USER, "bench-pw", "BENCHSCALE001",
                               device_type="BenchPhone", timeout=TIMEOUT)


def eas_windows(cl, key, coll, window, seen, res):
    """Sync with GetChanges from `key` following MoreAvailable: per-window times, adds
    checked against the bitmap `seen` (index of bench-NNNNNN@almanac). Returns the last key."""
    times, counts, nbytes = [], [], 0
    more = True
    while more:
        body = cl.sync_request([{"key": key, "id": coll, "get_changes": True,
                                 "window": window}])
        t0 = time.perf_counter()
        resp = cl.request("Sync", body, raw=True)
        times.append(time.perf_counter() - t0)
        check(resp.status == 200, "Sync window %d: HTTP %d" % (len(times), resp.status))
        nbytes += len(resp.body)
        resp.doc = easclient.decode(resp.body)
        c = easclient.SyncResult(resp).only()
        check(c.status == 1, "Sync window %d: Status %r" % (len(times), c.status))
        check(not (c.changes or c.deletes or c.soft_deletes), "window %d: not Adds" % len(times))
        check(len(c.adds) <= window, "window %d: more than WindowSize" % len(times))
        for sid, data in c.adds:
            uid = uid_of(data) if data is not None else None
            m = re.fullmatch(r"bench-(\d+)@almanac", uid or "")
            check(m is not None, "Add %s: UID %r" % (sid, uid))
            i = int(m.group(1))
            check(i < len(seen) and not seen[i], "UID %s twice or never PUT" % uid)
            seen[i] = 1
        counts.append(len(c.adds))
        more = c.more_available
        key = c.sync_key
    full = [t for t, n in zip(times, counts) if n == window]
    res.update({"windows": len(times), "seconds": round(sum(times), 2), "bytes": nbytes,
                "first_ms": round(times[0] * 1000, 1),
                "middle_ms": round(times[len(times) // 2] * 1000, 1),
                "last_full_ms": round(full[-1] * 1000, 1) if full else None,
                "last_ms": round(times[-1] * 1000, 1), "last_items": counts[-1],
                "median_ms": round(statistics.median(times) * 1000, 1),
                "first10_median_ms": round(statistics.median(times[:10]) * 1000, 1),
                "last10_median_ms": round(statistics.median(times[-10:]) * 1000, 1),
                "max_ms": round(max(times) * 1000, 1)})
    return key


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--changes", type=int, default=10)
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    n = a.events
    work = a.work or tempfile.mkdtemp(prefix="almanac-scale-")
    os.makedirs(work, exist_ok=True)
    state_path = os.path.join(work, "state.json")
    res = []
    try:
        if os.path.exists(state_path):  # a store loaded by an earlier run
            state = json.load(open(state_path))
            check(state["events"] == n, "the store in %s holds %d events" % (work, state["events"]))
            srv = Server.__new__(Server)
            srv.bin, srv.data = a.almanacd, os.path.join(work, "data")
            srv.log, srv.proc, srv.port = os.path.join(work, "almanacd.log"), None, None
        else:
            srv = Server(a.almanacd, a.almanac, work)
            state = {"events": n, "load": load(a, work, srv)}
            json.dump(state, open(state_path, "w"))
        res.append(state["load"])

        # CalDAV, before any change
        with Op(srv, "propfind", res) as op:
            def pf():
                t = Tally(keep=1001)
                st, dt = call(op.conn, "PROPFIND", CAL, propfind_body(), dict(XML, Depth="1"), t)
                check(st == 207 and t.rows == n + 1, "PROPFIND: %d, %d rows" % (st, t.rows))
                return dt, t
            med, times, t = repeat(a.runs, pf)
            op.out.update(seconds=round(med, 2), runs=[round(x, 2) for x in times],
                          bytes=t.bytes, rows=t.rows)
            hrefs = t.hrefs[1:]  # the first 1,000 rows after the collection's own
            check(len(hrefs) == min(1000, n), "only %d hrefs for the multiget" % len(hrefs))
            changed = hrefs[:a.changes]

        with Op(srv, "sync_initial", res) as op:
            def si():
                t = Tally()
                st, dt = call(op.conn, "REPORT", CAL, sync_body(), dict(XML, Depth="1"), t)
                check(st == 207 and t.rows == n, "sync: %d, %d rows" % (st, t.rows))
                return dt, t
            med, times, t = repeat(a.runs, si)
            op.out.update(seconds=round(med, 2), runs=[round(x, 2) for x in times],
                          bytes=t.bytes, rows=t.rows)
            token0 = t.token

        with Op(srv, "sync_paged", res) as op:
            tok, rows, times, counts, nbytes = "", 0, [], [], 0
            while True:
                t = Tally()
                st, dt = call(op.conn, "REPORT", CAL, sync_body(tok, a.page),
                              dict(XML, Depth="1"), t)
                check(st == 207, "page %d: %d" % (len(times) + 1, st))
                times.append(dt)
                rows += t.rows - t.rows_507
                counts.append(t.rows - t.rows_507)
                nbytes += t.bytes
                if not t.rows_507 or not t.token or t.token == tok:
                    break
                tok = t.token
                check(len(times) <= n // a.page + 2, "more pages than %d / %d" % (n, a.page))
            check(rows == n, "paged sync: %d rows in %d pages, want %d" % (rows, len(times), n))
            full = [x for x, c in zip(times, counts) if c == a.page]
            op.out.update(seconds=round(sum(times), 2), bytes=nbytes, pages=len(times),
                          page=a.page, first_ms=round(times[0] * 1000, 1),
                          middle_ms=round(times[len(times) // 2] * 1000, 1),
                          last_ms=round(times[-1] * 1000, 1),
                          last_full_ms=round(full[-1] * 1000, 1) if full else None,
                          last_rows=counts[-1],
                          median_ms=round(statistics.median(times) * 1000, 1),
                          first10_median_ms=round(statistics.median(times[:10]) * 1000, 1),
                          last10_median_ms=round(statistics.median(times[-10:]) * 1000, 1),
                          max_ms=round(max(times) * 1000, 1))

        with Op(srv, "multiget", res) as op:
            body = ('<?xml version="1.0"?><C:calendar-multiget %s><D:prop><D:getetag/>'
                    '<C:calendar-data/></D:prop>%s</C:calendar-multiget>'
                    % (D, "".join("<D:href>%s</D:href>" % h for h in hrefs)))

            def mg():
                t = Tally()
                st, dt = call(op.conn, "REPORT", CAL, body, dict(XML, Depth="1"), t)
                check(st == 207 and t.rows == len(hrefs), "multiget: %d, %d rows" % (st, t.rows))
                return dt, t
            med, times, t = repeat(a.runs, mg)
            op.out.update(seconds=round(med, 3), runs=[round(x, 3) for x in times],
                          bytes=t.bytes, rows=t.rows)

        want = set()
        chunk = []
        for ev in iter_generate(n):
            chunk.append(ev)
            if len(chunk) == 10000:
                want |= month_names(chunk)
                chunk = []
        want |= month_names(chunk)
        want = {"bench-%s@almanac.ics" % x[2:8] for x in want}
        q = ('<?xml version="1.0"?><C:calendar-query %s><D:prop><D:getetag/></D:prop><C:filter>'
             '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range '
             'start="20260301T000000Z" end="20260401T000000Z"/></C:comp-filter></C:comp-filter>'
             '</C:filter></C:calendar-query>' % D)
        with Op(srv, "query_month", res) as op:
            def qm():
                t = Tally(names=True)
                st, dt = call(op.conn, "REPORT", CAL, q, dict(XML, Depth="1"), t)
                check(st == 207 and t.names == want,
                      "query: %d, %d names, want %d" % (st, len(t.names), len(want)))
                return dt, t
            med, times, t = repeat(a.runs, qm)
            op.out.update(seconds=round(med, 3), runs=[round(x, 3) for x in times],
                          bytes=t.bytes, rows=t.rows)

        # ActiveSync, initial
        with Op(srv, "eas_initial", res) as op:
            cl = eas_client(srv)
            cl.provision()
            fs = cl.folder_sync("0")
            cals = [f for f in easclient.EASClient.folders_of(fs) if f.get("Type") in ("8", "13")]
            check(len(cals) == 1, "calendar folders: %r" % cals)
            coll = cals[0]["ServerId"]
            first = cl.sync(coll, "0", options=easclient.EASClient.calendar_options(0, 1)).only()
            check(first.status == 1, "Sync key 0: %r" % first.status)
            op.sampler.max_kb = 0  # the windows only
            seen = bytearray(n)
            eas_key = eas_windows(cl, first.sync_key, coll, a.window, seen, op.out)
            policy = cl.policy_key
            check(all(seen), "%d UIDs never arrived" % (n - sum(seen)))
            cl.close()

        # Replication, initial manifest: its tags go to a file for the tags SEARCH
        tags_path = os.path.join(work, "tags.txt")
        with Op(srv, "repl_initial", res) as op, open(tags_path, "wb") as tf:
            t = Tally(tags_out=tf)
            st, dt = call(op.conn, "SEARCH", "/exchange/%s/cal/" % USER, search_body("", []),
                          {"Content-Type": "text/xml"}, t)
            check(st == 207 and t.rows == n and t.tags == n,
                  "manifest: %d, %d rows, %d tags" % (st, t.rows, t.tags))
            op.out.update(seconds=round(dt, 2), bytes=t.bytes, rows=t.rows)
            collblob0 = t.collblob

        # 10 changes by CalDAV PUT (a fresh server; not measured)
        srv.stop()
        srv.start()
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=TIMEOUT)
        for h in changed[:a.changes]:
            c.request("GET", h, headers=AUTH)
            r = c.getresponse()
            ics = r.read().decode()
            check(r.status == 200, "GET %s: %d" % (h, r.status))
            c.request("PUT", h, body=ics.replace("SUMMARY:", "SUMMARY:changed ").encode(),
                      headers=dict(AUTH, **{"Content-Type": "text/calendar; charset=utf-8"}))
            r = c.getresponse()
            r.read()
            check(r.status in (201, 204), "PUT %s: %d" % (h, r.status))
        c.close()

        with Op(srv, "sync_incremental", res) as op:
            def inc():
                t = Tally()
                st, dt = call(op.conn, "REPORT", CAL, sync_body(token0), dict(XML, Depth="1"), t)
                check(st == 207 and t.rows == a.changes, "incremental: %d, %d rows" % (st, t.rows))
                return dt, t
            med, times, t = repeat(max(a.runs, 5), inc)
            op.out.update(seconds=round(med, 4), runs=[round(x, 4) for x in times],
                          bytes=t.bytes, rows=t.rows)

        with Op(srv, "eas_incremental", res) as op:
            cl = eas_client(srv)
            cl.policy_key = policy  # the same device, provisioned in eas_initial
            body = cl.sync_request([{"key": eas_key, "id": coll, "get_changes": True,
                                     "window": a.window}])
            t0 = time.perf_counter()
            resp = cl.request("Sync", body, raw=True)
            dt = time.perf_counter() - t0
            check(resp.status == 200, "incremental Sync: HTTP %d" % resp.status)
            resp.doc = easclient.decode(resp.body)
            r = easclient.SyncResult(resp).only()
            check(r.status == 1 and len(r.changes) == a.changes and not r.adds,
                  "incremental Sync: Status %r, %d changes, %d adds"
                  % (r.status, len(r.changes), len(r.adds)))
            op.out.update(seconds=round(dt, 4), bytes=len(resp.body), rows=len(r.changes))
            cl.close()

        with Op(srv, "repl_tags", res) as op, open(tags_path, "rb") as tf:
            t = Tally()
            st, dt = call(op.conn, "SEARCH", "/exchange/%s/cal/" % USER,
                          search_body(collblob0, (ln.rstrip(b"\n").decode() for ln in tf)),
                          {"Content-Type": "text/xml"}, t)
            check(st == 207 and t.rows == a.changes and
                  t.changetypes.get("change") == a.changes,
                  "tags SEARCH: %d, %d rows, %r" % (st, t.rows, t.changetypes))
            op.out.update(seconds=round(dt, 2), bytes=t.bytes, rows=t.rows, tags_sent=n,
                          request_bytes=os.path.getsize(tags_path))
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(res, n))


def table(res, n):
    lines = ["| operation | time (median) | almanacd CPU (per run) | bytes | peak RSS (VmHWM) | largest VmRSS during "
             "| load avg |", "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in res:
        if r["op"] == "load":
            lines.append("| load: `almanac import` of one %.0f MB .ics file | %.1f s (%s "
                         "events/s) | - | - | CLI %.1f MB | - | %s |"
                         % (r["file_bytes"] / 1e6, r["seconds"], r["events_per_s"],
                            r["cli_peak_rss_mb"], r["loadavg"]))
            continue
        t = ("%.2f s" % r["seconds"]) if r["seconds"] >= 1 else "%.1f ms" % (r["seconds"] * 1000)
        for k in ("first_ms", "middle_ms", "last_full_ms", "last_ms"):
            if k in r:
                t += ", %s %s ms" % (k[:-3].replace("_", " "), r[k])
        what = ("%s pages" % r["pages"] if "pages" in r else "%s windows" % r["windows"]
                if "windows" in r else "%s rows" % r["rows"])
        cpu = ("%.2f s" % (r["server_cpu_s"] / len(r.get("runs", [0])))
               if "server_cpu_s" in r else "-")  # per run
        lines.append("| %s (%s) | %s | %s | %.1f MB | %.1f MB | %.1f MB | %s |"
                     % (r["op"], what, t, cpu, r["bytes"] / 1e6,
                        r["peak_rss_mb"], r["max_rss_mb"], r["loadavg"]))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
