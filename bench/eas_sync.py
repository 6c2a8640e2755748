#!/usr/bin/env python3
"""bench/eas_sync.py: initial ActiveSync download of a large calendar (issue #5 item 7).

For each N of --events: a fresh almanacd (release build) on a free loopback port with its own
temporary store; the admin CLI creates the user and a calendar; N events of bench/peers.py's
mix (70% timed, 15% all-day, 15% weekly series with a moved instance) are loaded by CalDAV PUT
over --procs concurrent keep-alive connections; almanacd is restarted so that its peak RSS
covers only the ActiveSync part. Then one device: Provision (both steps), FolderSync, Sync
key 0 (FilterType 0, BodyPreference plain text), then Sync with GetChanges and WindowSize
--window, following MoreAvailable to the end. Every Add must carry a Calendar:UID, and every
UID must arrive exactly once (no duplicates, none missing, no Change/Delete).

A window's time is from sending the Sync to the last byte of its answer (WBXML decoding in
Python is timed apart and left out). VmHWM is read after the last window; VmRSS is sampled
every 20 ms by a thread while the windows run (and after each window), since the argon2id
verification of the first request (m = 19 MiB) sets VmHWM and hides anything smaller.

almanacd's CPU time (user + system, /proc/PID/stat) is read around the PUT load and around
the windows: CPU per PUT and per synced event.

usage: eas_sync.py ALMANACD ALMANAC [--events 10000,100000] [--window 512] [--procs 8]
                   [--data utc|zoned] [--perf FILE]
Prints one JSON line per run and a markdown table."""

import argparse
import json
import multiprocessing
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
import easclient  # noqa: E402  (the test phone's client and codec, one copy)
from peers import PerfRecord, free_port, generate, put_worker, wait_port  # noqa: E402

USER, PASSWORD = "bench", "bench-pw"


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Server:
    def __init__(self, almanacd, almanac, work):
        self.bin = almanacd
        self.data = os.path.join(work, "data")
        self.log = os.path.join(work, "almanacd.log")
        self.proc = None
        self.port = None
        subprocess.run([almanac, "--data", self.data, "user", "add", USER, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        subprocess.run([almanac, "--data", self.data, "calendar", "add", USER, "cal"],
                       check=True, capture_output=True)

    def start(self):
        self.port = free_port()
        self.proc = subprocess.Popen([self.bin, "--data", self.data, "--listen",
                                      "127.0.0.1:%d" % self.port, "--log-level", "warn"],
                                     stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        wait_port(self.port, self.proc)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RssSampler(threading.Thread):
    def __init__(self, pid, every=0.02):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.max_kb = 0
        self.samples = 0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                self.max_kb = max(self.max_kb, status_kb(self.pid, "VmRSS"))
                self.samples += 1
            except OSError:
                return
            self.stop.wait(self.every)


def load(port, events, procs):
    import base64
    auth = {"Authorization": "Basic " + base64.b64encode(
        ("%s:%s" % (USER, PASSWORD)).encode()).decode()}
    chunks = [events[i::procs] for i in range(procs)]
    t0 = time.perf_counter()
    with multiprocessing.Pool(procs) as pool:
        n = sum(pool.map(put_worker, [(port, auth, "/calendars/%s/cal/" % USER, c)
                                      for c in chunks]))
    return n, time.perf_counter() - t0


def uid_of(appdata):
    for c in appdata.children:
        if c.name == "UID" and c.ns == "Calendar":
            return c.text
    return None


def device_session(port, pid, expect_uids, window):
    cl = easclient.EASClient("127.0.0.1", port, USER, PASSWORD, "BENCHSYNC0001",
                             device_type="BenchPhone", timeout=600)
    res = {}
    rss = RssSampler(pid)
    rss.start()
    t_all = time.perf_counter()
    cl.provision()
    fs = cl.folder_sync("0")
    cals = [f for f in easclient.EASClient.folders_of(fs) if f.get("Type") in ("8", "13")]
    if len(cals) != 1:
        raise RuntimeError("expected one calendar folder, got %r" % cals)
    coll = cals[0]["ServerId"]
    first = cl.sync(coll, "0", options=easclient.EASClient.calendar_options(0, 1)).only()
    if first.status != 1 or first.adds:
        raise RuntimeError("Sync key 0: status %r, %d adds" % (first.status, len(first.adds)))
    key = first.sync_key
    seen = set()
    times, counts = [], []
    wbxml_bytes = 0
    decode_s = 0.0
    more = True
    rss_key0 = status_kb(pid, "VmRSS")
    rss.max_kb = 0  # from here on: the windows only (the argon2id peak is behind us)
    rss_windows = []
    t_sync = time.perf_counter()
    while more:
        body = cl.sync_request([{"key": key, "id": coll, "get_changes": True,
                                 "window": window}])
        t0 = time.perf_counter()
        resp = cl.request("Sync", body, raw=True)
        times.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise RuntimeError("Sync window %d: HTTP %d %r" % (len(times), resp.status,
                                                                resp.body[:300]))
        wbxml_bytes += len(resp.body)
        t1 = time.perf_counter()
        resp.doc = easclient.decode(resp.body)
        c = easclient.SyncResult(resp).only()
        decode_s += time.perf_counter() - t1
        if c.status != 1:
            raise RuntimeError("Sync window %d: Status %r" % (len(times), c.status))
        if c.changes or c.deletes or c.soft_deletes:
            raise RuntimeError("window %d: unexpected Change/Delete" % len(times))
        if len(c.adds) > window:
            raise RuntimeError("window %d: %d adds > WindowSize" % (len(times), len(c.adds)))
        for sid, data in c.adds:
            uid = uid_of(data) if data is not None else None
            if uid is None:
                raise RuntimeError("Add %s without Calendar:UID" % sid)
            if uid in seen:
                raise RuntimeError("UID %s sent twice" % uid)
            if uid not in expect_uids:
                raise RuntimeError("UID %s was never PUT" % uid)
            seen.add(uid)
        counts.append(len(c.adds))
        rss_windows.append(status_kb(pid, "VmRSS"))
        more = c.more_available
        key = c.sync_key
    res["sync_s"] = time.perf_counter() - t_sync
    res["session_s"] = time.perf_counter() - t_all
    rss.stop.set()
    rss.join()
    missing = len(expect_uids) - len(seen)
    if missing:
        raise RuntimeError("%d UIDs never arrived" % missing)
    srt = sorted(times)
    res.update({
        "windows": len(times),
        "windows_sum_s": sum(times),
        "items": len(seen),
        "first_ms": times[0] * 1000,
        "last_full_ms": [t for t, n in zip(times, counts) if n == window][-1] * 1000
        if any(n == window for n in counts) else None,
        "last_ms": times[-1] * 1000,
        "last_items": counts[-1],
        "median_ms": statistics.median(times) * 1000,
        "p99_ms": srt[min(len(srt) - 1, int(len(srt) * 0.99))] * 1000,
        "max_ms": srt[-1] * 1000,
        "first10_median_ms": statistics.median(times[:10]) * 1000,
        "last10_median_ms": statistics.median(times[-10:]) * 1000,
        "wbxml_bytes": wbxml_bytes,
        "decode_s": decode_s,
        "max_vmrss_mb": rss.max_kb / 1024,
        "vmrss_before_windows_mb": rss_key0 / 1024,
        "vmrss_after_first_mb": rss_windows[0] / 1024,
        "vmrss_after_last_mb": rss_windows[-1] / 1024,
        "rss_samples": rss.samples,
        "vmhwm_mb": status_kb(pid, "VmHWM") / 1024,
    })
    cl.close()
    return res


def cpu_s(pid):
    """User + system CPU seconds the process has used (/proc/PID/stat fields 14 and 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(almanacd, almanac, n, window, procs, data="utc", perf=None):
    work = tempfile.mkdtemp(prefix="bench-eas-sync-")
    srv = Server(almanacd, almanac, work)
    try:
        events = generate(n, zoned=data if data != "utc" else False)
        uids = {"bench-%06d@almanac" % i for i in range(n)}
        srv.start()
        cpu0 = cpu_s(srv.proc.pid)
        loaded, load_s = load(srv.port, events, procs)
        put_cpu = cpu_s(srv.proc.pid) - cpu0
        srv.stop()
        srv.start()
        idle_kb = status_kb(srv.proc.pid, "VmRSS")
        r = {"events": n, "window": window, "data": data,
             "put_per_s": round(loaded / load_s),
             "put_cpu_ms": round(put_cpu * 1000 / max(loaded, 1), 3),
             "idle_rss_mb": idle_kb / 1024}
        cpu0 = cpu_s(srv.proc.pid)
        with PerfRecord(srv.proc.pid, perf):
            r.update(device_session(srv.port, srv.proc.pid, uids, window))
        r["sync_cpu_s"] = round(cpu_s(srv.proc.pid) - cpu0, 2)
        r["sync_cpu_ms_per_event"] = round(r["sync_cpu_s"] * 1000 / n, 3)
        r["threads"] = status_kb(srv.proc.pid, "Threads")
        srv.stop()
        with open(srv.log, errors="replace") as f:
            r["server_log_lines"] = sum(1 for _ in f)
        return r
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


def table(results):
    lines = ["| data | events | WindowSize | windows | total (all windows) | almanacd CPU per "
             "event | first window | last full "
             "window | last window (items) | median | p99 | WBXML received | almanacd VmHWM "
             "| largest VmRSS during the windows | PUT load | almanacd CPU per PUT |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | ---: | ---: | ---: |"]
    for r in results:
        lf = "%.1f ms" % r["last_full_ms"] if r["last_full_ms"] is not None else "-"
        lines.append("| {} | {:,} | {} | {:,} | {:.2f} s | {:.3f} ms | {:.1f} ms | {} | "
                     "{:.1f} ms ({}) | {:.1f} ms | {:.1f} ms | {:.1f} MB | {:.1f} MB | {:.1f} MB "
                     "| {:,} PUT/s | {:.3f} ms |"
                     .format(r["data"], r["events"], r["window"], r["windows"], r["sync_s"],
                             r["sync_cpu_ms_per_event"], r["first_ms"], lf, r["last_ms"],
                             r["last_items"], r["median_ms"], r["p99_ms"],
                             r["wbxml_bytes"] / 1e6, r["vmhwm_mb"], r["max_vmrss_mb"],
                             r["put_per_s"], r["put_cpu_ms"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--events", default="10000,100000")
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--data", default="utc", choices=("utc", "zoned", "zoned-utc"),
                    help="zoned: peers.generate_zoned's mix of named zones with VTIMEZONEs; "
                    "zoned-utc: the same events in UTC")
    ap.add_argument("--perf", default=None, metavar="FILE",
                    help="perf record -g of almanacd during the windows into FILE")
    a = ap.parse_args()
    results = []
    for n in [int(x) for x in a.events.split(",")]:
        r = run(a.almanacd, a.almanac, n, a.window, a.procs, a.data, a.perf)
        print(json.dumps(r), flush=True)
        results.append(r)
    print()
    print(table(results))


if __name__ == "__main__":
    main()
