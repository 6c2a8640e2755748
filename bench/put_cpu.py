#!/usr/bin/env python3
"""bench/put_cpu.py: almanacd's cost of one durable CalDAV PUT (issue 16). Starts almanacd on
a fresh store, sends WARMUP then N PUTs of bench/put.lua's event one after the other on one
keep-alive connection, and prints almanacd's CPU per PUT over the N (user + system from
/proc/PID/stat). With --callgrind it runs almanacd under `valgrind --tool=callgrind`, zeroes
the counters after the warm-up (callgrind_control -z), dumps after the N and prints the
user-space instructions per PUT instead; --keep DIR keeps the profile for callgrind_annotate.
Sequential PUTs get no batching from the group commit: each waits for its own fdatasync.
Prints one JSON line; stops what it started by PID. Not part of make check.

usage: put_cpu.py ALMANACD ALMANAC [--puts N] [--warmup W] [--callgrind] [--keep DIR]
"""

import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

USER, PASSWORD = "bench", "bench-pw"
BODY = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\nBEGIN:VEVENT\r\n"
        "UID:wrk-0-{i}@almanac\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\n"
        "DURATION:PT1H\r\nSUMMARY:wrk {i}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def puts(port, lo, hi):
    auth = "Basic " + base64.b64encode((USER + ":" + PASSWORD).encode()).decode()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for i in range(lo, hi):
        c.request("PUT", "/calendars/bench/cal/w0-%d.ics" % i, body=BODY.format(i=i).encode(),
                  headers={"Authorization": auth,
                           "Content-Type": "text/calendar; charset=utf-8"})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            raise RuntimeError("PUT %d: HTTP %d" % (i, r.status))
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--puts", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--keep", metavar="DIR")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="almanac-putcpu-")
    p = None
    try:
        data = os.path.join(d, "data")
        subprocess.run([a.almanac, "--data", data, "user", "add", USER, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        subprocess.run([a.almanac, "--data", data, "calendar", "add", USER, "cal"], check=True,
                       capture_output=True)
        out = os.path.join(d, "callgrind.out")
        wrap = (["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out + ".%p"]
                if a.callgrind else [])
        port_file = os.path.join(d, "port")
        log = open(os.path.join(d, "almanacd.log"), "a")
        p = subprocess.Popen(wrap + [a.almanacd, "--data", data, "--listen", "127.0.0.1:0",
                                     "--port-file", port_file, "--log-level", "warn"],
                             stdout=log, stderr=log)
        for _ in range(1200):
            if os.path.exists(port_file) and os.path.getsize(port_file):
                break
            time.sleep(0.05)
        with open(port_file) as f:
            port = int(f.read())
        res = {"puts": a.puts, "loadavg": os.getloadavg()[0]}
        puts(port, 0, a.warmup)
        if a.callgrind:
            subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True,
                           capture_output=True)
        c0, t0 = cpu_s(p.pid), time.perf_counter()
        puts(port, a.warmup, a.warmup + a.puts)
        c1, t1 = cpu_s(p.pid), time.perf_counter()
        if a.callgrind:
            subprocess.run(["callgrind_control", "--dump=puts", str(p.pid)], check=True,
                           capture_output=True)
            dump = sorted(f for f in os.listdir(d) if f.startswith("callgrind.out.") and
                          f.count(".") == 3)[-1]
            with open(os.path.join(d, dump)) as f:
                ir = next(int(l.split()[1]) for l in f if l.startswith("summary:"))
            res["instructions_per_put"] = round(ir / a.puts)
            if a.keep:
                shutil.copy(os.path.join(d, dump), os.path.join(a.keep, "callgrind-put.out"))
        else:
            res["cpu_ms_per_put"] = round((c1 - c0) / a.puts * 1000, 3)
            res["wall_ms_per_put"] = round((t1 - t0) / a.puts * 1000, 3)
        res["loadavg_after"] = os.getloadavg()[0]
        print(json.dumps(res))
    finally:
        if p:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=120)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
