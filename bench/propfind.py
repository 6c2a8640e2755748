#!/usr/bin/env python3
"""bench/propfind.py: loads N items into one collection with concurrent keep-alive PUTs,
restarts almanacd (so peak RSS reflects only what follows), then measures Depth-1 PROPFINDs
of the collection: time to last byte and almanacd's peak RSS (VmHWM). Prints one JSON line.

usage: propfind.py ALMANACD ALMANAC N [--procs P] [--runs R]"""

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\nBEGIN:VEVENT\r\n"
         "UID:bench-{i}@almanac\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:2026{m:02d}{d:02d}T"
         "{h:02d}0000Z\r\nDURATION:PT1H\r\nSUMMARY:Benchmark event number {i}\r\n"
         "LOCATION:Room {r}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
AUTH = "Basic " + base64.b64encode(b"bench:bench-password").decode()


def start(almanacd, data, port_file):
    if os.path.exists(port_file):
        os.unlink(port_file)
    log = open(os.path.join(os.path.dirname(port_file), "almanacd.log"), "a")
    p = subprocess.Popen([almanacd, "--data", data, "--listen", "127.0.0.1:0", "--port-file",
                          port_file, "--log-level", "warn"], stderr=log, stdout=log)
    for _ in range(200):
        if os.path.exists(port_file) and os.path.getsize(port_file):
            break
        time.sleep(0.05)
    with open(port_file) as f:
        return p, int(f.read())


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=60)


def loader(args):
    port, lo, hi = args
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for i in range(lo, hi):
        body = EVENT.format(i=i, m=1 + i % 12, d=1 + i % 28, h=i % 24, r=i % 100).encode()
        c.request("PUT", "/calendars/bench/cal/ev%07d.ics" % i, body=body,
                  headers={"Authorization": AUTH, "Content-Type": "text/calendar"})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            raise RuntimeError("PUT %d: %d" % (i, r.status))
    c.close()
    return hi - lo


def vmhwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def propfind(port):
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            '<D:getcontenttype/><D:resourcetype/></D:prop></D:propfind>').encode()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("PROPFIND", "/calendars/bench/cal/", body=body,
              headers={"Authorization": AUTH, "Depth": "1", "Content-Type": "application/xml"})
    r = c.getresponse()
    n = 0
    rows = 0
    tail = b""
    while True:
        chunk = r.read(1 << 16)
        if not chunk:
            break
        n += len(chunk)
        window = tail + chunk  # a tag may straddle two reads
        rows += window.count(b"<D:response>") - tail.count(b"<D:response>")
        tail = window[-16:]
    dt = time.perf_counter() - t0
    c.close()
    if r.status != 207:
        raise RuntimeError("PROPFIND: %d" % r.status)
    return dt, n, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("n", type=int)
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="almanac-bench-")
    data = os.path.join(d, "data")
    port_file = os.path.join(d, "port")
    try:
        subprocess.run([a.almanac, "--data", data, "user", "add", "bench", "--password-stdin"],
                       input="bench-password\n", text=True, check=True)
        subprocess.run([a.almanac, "--data", data, "calendar", "add", "bench", "cal"], check=True)
        p, port = start(a.almanacd, data, port_file)
        step = (a.n + a.procs - 1) // a.procs
        parts = [(port, lo, min(a.n, lo + step)) for lo in range(0, a.n, step)]
        t0 = time.perf_counter()
        with multiprocessing.Pool(len(parts)) as pool:
            loaded = sum(pool.map(loader, parts))
        load_s = time.perf_counter() - t0
        stop(p)
        p, port = start(a.almanacd, data, port_file)
        try:
            rss_idle = vmhwm_kb(p.pid)
            times = []
            for _ in range(a.runs):
                dt, nbytes, rows = propfind(port)
                if rows != a.n + 1:
                    raise RuntimeError("PROPFIND returned %d rows, want %d" % (rows, a.n + 1))
                times.append(dt)
            rss = vmhwm_kb(p.pid)
        finally:
            stop(p)
        print(json.dumps({
            "items": a.n, "put_per_s": round(loaded / load_s), "load_s": round(load_s, 1),
            "propfind_median_ms": round(statistics.median(times) * 1000, 1),
            "propfind_min_ms": round(min(times) * 1000, 1), "response_bytes": nbytes,
            "peak_rss_mb": round(rss / 1024, 1), "idle_rss_mb": round(rss_idle / 1024, 1),
            "load_procs": a.procs}))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
