#!/usr/bin/env python3
"""bench/sharing.py: a sharee with many shared calendars (issue 12's measurement).

One store: user `sharee` with one calendar of its own, user `owner` with --calendars
calendars; every calendar holds --events events of bench/peers.py's mix, loaded with the admin
CLI's `almanac import` (the one calendar write path, 256 objects a transaction; --jobs
imports at a time, SQLite WAL serialising their commits) — the fastest honest load: every
object is parsed, validated, expanded and indexed exactly as a PUT's would be, without HTTP.

Two phases on the same store, each on a freshly started almanacd (so VmHWM is the phase's):
  none    the sharee has no grants
  shared  `almanac share owner calNN sharee read` for every calendar (the grants timed)
In each phase a new device provisions, FolderSyncs and syncs every calendar folder to the
end (setup, not timed: 10,000 events a folder), then almanacd is restarted and measured:
  - PROPFIND Depth 1 of /calendars/sharee/ (CalDAV; the listing of shares in the home is
    another change: until it lands this lists the sharee's own members only);
  - FolderSync key 0 (the whole hierarchy; the device's state is reset each time) and
    FolderSync with the current key when nothing changed;
  - Ping over every calendar folder (1 or 1 + --calendars) when one folder already has a
    change (answered at once: the cost of looking at every folder), and the wake-up: a Ping
    waiting (registered: almanacd's "eas wait" debug line) until one CalDAV PUT into the
    last folder, timed from sending the PUT to the Ping's Status 2.
Wall times are medians of --runs runs; almanacd's CPU per call is measured over --cpu-calls
calls back to back (/proc/PID/stat). almanacd's VmRSS idle after the restart, while a Ping
waits, and its VmHWM at the end of the phase.

usage: sharing.py ALMANACD ALMANAC [--calendars 50] [--events 10000] [--runs 7] [--jobs 2]
Prints a JSON line per phase and a markdown table."""

import argparse
import base64
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import easclient  # noqa: E402
from easclient import E, EASClient  # noqa: E402
from peers import free_port, generate, wait_port  # noqa: E402

USERS = {"sharee": "sharee-pw", "owner": "owner-pw"}
ICS = "text/calendar; charset=utf-8"


def vm(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out


class Almanacd:
    def __init__(self, almanacd, data, work):
        self.port = free_port()
        self.log = os.path.join(work, "almanacd.log")
        conf = os.path.join(work, "almanac.conf")
        with open(conf, "w") as f:
            f.write("[server]\nlisten = 127.0.0.1:%d\ndata_dir = %s\nlog_level = debug\n"
                    % (self.port, data))
        self.proc = subprocess.Popen([almanacd, "--config", conf], stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"))
        wait_port(self.port, self.proc)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=60)

    def log_size(self):
        return os.path.getsize(self.log)

    def log_since(self, off):
        with open(self.log, "rb") as f:
            f.seek(off)
            return f.read().decode("utf-8", "replace")


def http_req(port, method, path, user, body=None, headers=None, conn=None):
    h = {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (user, USERS[user])).encode()).decode()}
    h.update(headers or {})
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return r.status, data


PROPFIND = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:" '
            'xmlns:CS="http://calendarserver.org/ns/" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:resourcetype/><D:displayname/>'
            '<CS:getctag/><D:sync-token/><C:supported-calendar-component-set/>'
            '</D:prop></D:propfind>')


CLK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def cpu_per_call(pid, fn, n):
    """almanacd's CPU milliseconds per call over `n` calls back to back: the figure a loaded
    machine disturbs least (the clock ticks are 10 ms, hence the many calls)."""
    c = cpu_s(pid)
    for _ in range(n):
        fn()
    return round((cpu_s(pid) - c) * 1000.0 / n, 2)


def timed(fn, runs):
    """Median of `runs` calls after one untimed (the first request of a user verifies the
    password with argon2id, then it is cached)."""
    fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), ts


def calendar_folders(resp):
    return [f for f in EASClient.folders_of(resp) if f.get("Type") in ("8", "13")]


def sync_to_end(cl, coll):
    key = cl.sync(coll, "0", options=EASClient.calendar_options(0, 1)).only().sync_key
    n, more = 0, True
    while more:
        c = cl.sync(coll, key, get_changes=True, window=512).only()
        if c.status != 1:
            raise RuntimeError("Sync %s: Status %r" % (coll, c.status))
        n += len(c.adds)
        key, more = c.sync_key, c.more_available
    return key, n


def phase(a, name, data, work, cals):
    """Setup (device synced), restart, measurements. cals: (owner user, calendar name) of
    every calendar folder the sharee's phone must see, the last one gets the PUTs."""
    srv = Almanacd(a.almanacd, data, work)
    dev = "BENCHSHARE%s" % name.upper()
    cl = EASClient("127.0.0.1", srv.port, "sharee", USERS["sharee"], dev, timeout=900)
    cl.provision()
    fs = cl.folder_sync("0")
    folders = calendar_folders(fs)
    if len(folders) != len(cals):
        raise RuntimeError("%s: %d calendar folders, expected %d" % (name, len(folders),
                                                                     len(cals)))
    t0 = time.time()
    keys, total = {}, 0
    for f in folders:
        keys[f["ServerId"]], n = sync_to_end(cl, f["ServerId"])
        if n < a.events:  # the own calendar has the PUTs of an earlier phase too
            raise RuntimeError("%s: folder %s had %d items" % (name, f["ServerId"], n))
        total += n
    setup_s = time.time() - t0
    cl.close()
    srv.stop()

    srv = Almanacd(a.almanacd, data, work)
    time.sleep(1)
    out = {"phase": name, "folders": len(folders), "items_synced": total,
           "initial_sync_s": round(setup_s, 1), "idle": vm(srv.proc.pid)}
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=600)

    def propfind():
        st, body = http_req(srv.port, "PROPFIND", "/calendars/sharee/", "sharee",
                            body=PROPFIND, headers={"Depth": "1",
                                                    "Content-Type": "application/xml"},
                            conn=conn)
        if st != 207:
            raise RuntimeError("PROPFIND %d" % st)
        out["propfind_responses"] = body.count(b"<D:response>")
    out["propfind_ms"], _ = timed(propfind, a.runs)
    out["propfind_cpu_ms"] = cpu_per_call(srv.proc.pid, propfind, a.cpu_calls)

    cl = EASClient("127.0.0.1", srv.port, "sharee", USERS["sharee"], dev, timeout=900)
    cl.provision()

    def fs0():
        r = cl.folder_sync("0")
        if len(calendar_folders(r)) != len(cals):
            raise RuntimeError("FolderSync lost folders")
        cl.folder_key = r.doc.findtext("SyncKey")
    out["foldersync0_ms"], _ = timed(fs0, a.runs)
    out["foldersync0_cpu_ms"] = cpu_per_call(srv.proc.pid, fs0, a.cpu_calls)

    def fs_same():
        r = cl.folder_sync(cl.folder_key)
        if r.doc.findtext("Changes/Count") != "0":
            raise RuntimeError("FolderSync found changes")
    out["foldersync_nothing_ms"], _ = timed(fs_same, a.runs)
    out["foldersync_nothing_cpu_ms"] = cpu_per_call(srv.proc.pid, fs_same, a.cpu_calls)

    ping_folders = [(f["ServerId"], "Calendar") for f in folders]
    last = folders[-1]["ServerId"]
    owner, cal = cals[-1]
    counter = [0]

    def put_last():
        counter[0] += 1
        st, _ = http_req(srv.port, "PUT", "/calendars/%s/%s/bench-%s-%d.ics"
                         % (owner, cal, name, counter[0]), owner,
                         body=("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n"
                               "BEGIN:VEVENT\r\nUID:bench-%s-%d@sharing\r\n"
                               "DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T090000Z\r\n"
                               "DTEND:20260301T100000Z\r\nSUMMARY:Wake\r\nEND:VEVENT\r\n"
                               "END:VCALENDAR\r\n" % (name, counter[0])),
                         headers={"Content-Type": ICS})
        if st != 201:
            raise RuntimeError("PUT %d" % st)

    def catch_up():
        c = cl.sync(last, keys[last], get_changes=True, window=512).only()
        if c.status != 1 or len(c.adds) != 1:
            raise RuntimeError("catch-up Sync: %r" % c.node)
        keys[last] = c.sync_key

    # a change already there: the Ping looks at every folder and answers at once
    pending = []
    for _ in range(a.runs):
        put_last()
        t = time.perf_counter()
        r = cl.ping(600, ping_folders)
        pending.append(time.perf_counter() - t)
        if r.doc.findtext("Status") != "2":
            raise RuntimeError("Ping: %r" % r.doc)
        catch_up()
    out["ping_pending_ms"] = statistics.median(pending)
    # the same, back to back: a change left unsynced makes every Ping answer at once
    put_last()

    def ping_now():
        if cl.ping(600, ping_folders).doc.findtext("Status") != "2":
            raise RuntimeError("Ping did not answer 2")
    out["ping_pending_cpu_ms"] = cpu_per_call(srv.proc.pid, ping_now, a.cpu_calls)
    catch_up()

    # the wake-up: a waiting Ping, one PUT into the last folder
    wakes, rss_wait = [], []
    for _ in range(a.runs):
        off = srv.log_size()
        res = {}

        def pinger():
            res["r"] = cl.ping(600, ping_folders, timeout=900)
            res["t"] = time.perf_counter()
        th = threading.Thread(target=pinger)
        th.start()
        deadline = time.time() + 120
        while " eas wait " not in srv.log_since(off):
            if time.time() > deadline:
                raise RuntimeError("the Ping never waited")
            time.sleep(0.01)
        time.sleep(0.2)
        rss_wait.append(vm(srv.proc.pid)["VmRSS"])
        t = time.perf_counter()
        put_last()
        th.join()
        if res["r"].doc.findtext("Status") != "2":
            raise RuntimeError("Ping: %r" % res["r"].doc)
        wakes.append(res["t"] - t)
        catch_up()
    out["ping_wake_ms"] = statistics.median(wakes)
    out["rss_ping_waiting"] = max(rss_wait)
    out["end"] = vm(srv.proc.pid)
    for k in ("propfind_ms", "foldersync0_ms", "foldersync_nothing_ms", "ping_pending_ms",
              "ping_wake_ms"):
        out[k] = round(out[k] * 1000, 2)
    cl.close()
    conn.close()
    srv.stop()
    return out


def run(a):
    work = tempfile.mkdtemp(prefix="bench-sharing-")
    data = os.path.join(work, "data")
    cli = [a.almanac, "--data", data]
    for u, pw in USERS.items():
        subprocess.run(cli + ["user", "add", u, "--password-stdin"], input=pw + "\n",
                       text=True, check=True, capture_output=True)
    ics = os.path.join(work, "events.ics")
    with open(ics, "w") as f:
        for _, body in generate(a.events):
            f.write(body)
    owned = [("owner", "cal%02d" % i) for i in range(a.calendars)]
    targets = [("sharee", "own")] + owned
    for u, c in targets:
        subprocess.run(cli + ["calendar", "add", u, c, "--displayname",
                              "%s's %s" % (u, c)], check=True, capture_output=True)
    t0 = time.time()
    procs = []
    for u, c in targets:
        while len(procs) >= a.jobs:
            p = procs.pop(0)
            if p.wait() != 0:
                raise RuntimeError("import failed: %s" % p.stderr.read())
        procs.append(subprocess.Popen(cli + ["import", u, c, ics], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True))
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError("import failed: %s" % p.stderr.read())
    load_s = time.time() - t0
    print("loaded %d events in %.1f s (%.0f/s)" % (len(targets) * a.events, load_s,
                                                    len(targets) * a.events / load_s),
          file=sys.stderr)
    results = [phase(a, "none", data, work, [("sharee", "own")])]
    t0 = time.time()
    for u, c in owned:
        subprocess.run(cli + ["share", u, c, "sharee", "read"], check=True,
                       capture_output=True)
    grant_s = time.time() - t0
    results.append(phase(a, "shared", data, work, [("sharee", "own")] + owned))
    results[1]["grants_s"] = round(grant_s, 2)
    results[0]["load_s"] = round(load_s, 1)
    for r in results:
        print(json.dumps(r))
    print("| sharee | calendar folders | PROPFIND Depth 1 of the home | FolderSync key 0 | "
          "FolderSync, nothing new | Ping, a change pending | Ping wake-up after a PUT | "
          "VmRSS idle | VmRSS, Ping waiting | VmHWM |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print("| %s | %d | %.2f ms / %.2f ms CPU (%d responses) | %.2f / %.2f ms | "
              "%.2f / %.2f ms | %.2f / %.2f ms | %.2f ms | %.1f MB | %.1f MB | %.1f MB |"
              % ("no shares" if r["phase"] == "none" else "%d shares" % a.calendars,
                 r["folders"], r["propfind_ms"], r["propfind_cpu_ms"], r["propfind_responses"],
                 r["foldersync0_ms"], r["foldersync0_cpu_ms"], r["foldersync_nothing_ms"],
                 r["foldersync_nothing_cpu_ms"], r["ping_pending_ms"], r["ping_pending_cpu_ms"],
                 r["ping_wake_ms"], r["idle"]["VmRSS"], r["rss_ping_waiting"],
                 r["end"]["VmHWM"]))
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("store kept in %s" % work, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--calendars", type=int, default=50)
    ap.add_argument("--events", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cpu-calls", type=int, default=50)
    ap.add_argument("--keep", action="store_true")
    run(ap.parse_args())


if __name__ == "__main__":
    main()
