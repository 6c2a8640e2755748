#!/usr/bin/env python3
"""bench/near_limit.py: issue 16's bar for the streamed answers. Loads N events into one
calendar with `almanac import` (one iCalendar file, the events of bench/propfind.py), starts
almanacd, saves its answers to a Depth-1 PROPFIND and to an initial sync-collection REPORT
(both asking for DAV:getetag, as bench/peers.py does), serves the saved files with nginx
(Debian's, scripts/install-bench-deps.sh) on another loopback port, then times the four
alternately with curl, RUNS rounds: the time to the last byte (curl's time_total, median)
and almanacd's CPU per answer (user + system from /proc/PID/stat, the mean over the runs).
With --callgrind it instead runs almanacd under `valgrind --tool=callgrind` and prints the
instructions of one answer of each kind (after one warm-up answer; callgrind_control -z
before and -d after), the figure that a loaded machine does not blur. Prints one JSON line;
stops what it started by PID and removes its temporary directory. Not part of make check.

usage: near_limit.py ALMANACD ALMANAC [--items N] [--runs R] [--callgrind] [--keep-answers DIR]
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

EVENT = ("BEGIN:VEVENT\r\nUID:bench-{i}@almanac\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:2026"
         "{m:02d}{d:02d}T{h:02d}0000Z\r\nDURATION:PT1H\r\nSUMMARY:Benchmark event number {i}\r\n"
         "LOCATION:Room {r}\r\nEND:VEVENT\r\n")
USER, PASSWORD = "bench", "bench-password"
CAL = "/calendars/bench/cal/"
NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"'
REQUESTS = {
    "propfind": ("PROPFIND", "1", '<?xml version="1.0"?><D:propfind %s><D:prop><D:getetag/>'
                 '</D:prop></D:propfind>' % NS),
    "sync": ("REPORT", "0", '<?xml version="1.0"?><D:sync-collection %s><D:sync-token>'
             '</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
             '</D:sync-collection>' % NS),
}
NGINX_CONF = """worker_processes 1;
daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {d}/nginx-tmp;
    proxy_temp_path {d}/nginx-tmp;
    fastcgi_temp_path {d}/nginx-tmp;
    uwsgi_temp_path {d}/nginx-tmp;
    scgi_temp_path {d}/nginx-tmp;
    types {{ application/xml xml; }}
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
    }}
}}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


def cpu_s(pid):
    """user + system seconds of process pid (all threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def curl(url, kind=None, out="/dev/null"):
    """One request; returns (seconds to the last byte, bytes)."""
    cmd = ["curl", "-s", "-o", out, "-w", "%{http_code} %{size_download} %{time_total}", url]
    if kind:
        method, depth, body = REQUESTS[kind]
        cmd += ["-X", method, "-H", "Depth: " + depth, "-H", "Content-Type: application/xml",
                "-u", USER + ":" + PASSWORD, "--data-binary", body]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    status, size, total = r.stdout.split()
    if status not in ("200", "207"):
        raise RuntimeError("%s: HTTP %s" % (url, status))
    return float(total), int(size)


def start_almanacd(a, d, wrapper=()):
    port_file = os.path.join(d, "port")
    log = open(os.path.join(d, "almanacd.log"), "a")
    p = subprocess.Popen(list(wrapper) + [a.almanacd, "--data", os.path.join(d, "data"),
                                          "--listen", "127.0.0.1:0", "--port-file", port_file,
                                          "--log-level", "warn"], stdout=log, stderr=log)
    for _ in range(1200):
        if os.path.exists(port_file) and os.path.getsize(port_file):
            break
        time.sleep(0.05)
    with open(port_file) as f:
        return p, int(f.read())


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)


def callgrind(a, d):
    out = os.path.join(d, "callgrind.out")
    p, port = start_almanacd(a, d, ["valgrind", "--tool=callgrind",
                                    "--callgrind-out-file=" + out + ".%p"])
    res = {}
    try:
        url = "http://127.0.0.1:%d%s" % (port, CAL)
        for kind in ("propfind", "sync"):
            curl(url, kind)  # warm-up: statements prepared, pages cached
            subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True,
                           capture_output=True)
            _, size = curl(url, kind)
            subprocess.run(["callgrind_control", "--dump=" + kind, str(p.pid)], check=True,
                           capture_output=True)
            dumps = sorted(f for f in os.listdir(d) if f.startswith("callgrind.out.") and
                           not f.endswith(".0") and f.count(".") == 3)
            with open(os.path.join(d, dumps[-1])) as f:
                ir = next(int(l.split()[1]) for l in f if l.startswith("summary:"))
            res[kind + "_bytes"] = size
            res[kind + "_instructions"] = ir
            if a.keep_answers:
                shutil.copy(os.path.join(d, dumps[-1]),
                            os.path.join(a.keep_answers, "callgrind-" + kind + ".out"))
            for f in dumps:
                os.unlink(os.path.join(d, f))
    finally:
        stop(p)
    return res


def wall(a, d):
    p, port = start_almanacd(a, d)
    www = os.path.join(d, "www")
    os.makedirs(www)
    os.makedirs(os.path.join(d, "nginx-tmp"))
    ng = None
    try:
        url = "http://127.0.0.1:%d%s" % (port, CAL)
        sizes = {}
        for kind in REQUESTS:
            _, sizes[kind] = curl(url, kind, os.path.join(www, kind + ".xml"))
            if a.keep_answers:
                shutil.copy(os.path.join(www, kind + ".xml"), a.keep_answers)
        nport = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=d, port=nport))
        ng = subprocess.Popen(["nginx", "-p", d, "-c", conf],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(nport)
        t = {k: [] for k in ("propfind", "sync", "nginx_propfind", "nginx_sync")}
        cpu = {"propfind": 0.0, "sync": 0.0}
        for _ in range(a.runs):
            for kind in REQUESTS:
                c0 = cpu_s(p.pid)
                dt, size = curl(url, kind)
                cpu[kind] += cpu_s(p.pid) - c0
                if size != sizes[kind]:
                    raise RuntimeError("%s: %d bytes, then %d" % (kind, sizes[kind], size))
                t[kind].append(dt)
                dt, size = curl("http://127.0.0.1:%d/%s.xml" % (nport, kind))
                if size != sizes[kind]:
                    raise RuntimeError("nginx %s: %d bytes, not %d" % (kind, size, sizes[kind]))
                t["nginx_" + kind].append(dt)
        res = {}
        for kind in REQUESTS:
            res[kind + "_bytes"] = sizes[kind]
            res[kind + "_ms"] = round(statistics.median(t[kind]) * 1000, 1)
            res["nginx_" + kind + "_ms"] = round(statistics.median(t["nginx_" + kind]) * 1000, 1)
            res[kind + "_ratio"] = round(res[kind + "_ms"] / res["nginx_" + kind + "_ms"], 2)
            res[kind + "_cpu_ms"] = round(cpu[kind] / a.runs * 1000, 1)
        return res
    finally:
        if ng:
            stop(ng)
        stop(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--items", type=int, default=100000)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--callgrind", action="store_true")
    ap.add_argument("--keep-answers", metavar="DIR", help="also copy the answers (and profiles) here")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="almanac-near-")
    try:
        data = os.path.join(d, "data")
        ics = os.path.join(d, "cal.ics")
        with open(ics, "w", newline="") as f:
            f.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n")
            for i in range(a.items):
                f.write(EVENT.format(i=i, m=1 + i % 12, d=1 + i % 28, h=i % 24, r=i % 100))
            f.write("END:VCALENDAR\r\n")
        subprocess.run([a.almanac, "--data", data, "user", "add", USER, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        subprocess.run([a.almanac, "--data", data, "import", USER, "cal", ics], check=True,
                       capture_output=True)
        res = {"items": a.items, "loadavg": os.getloadavg()[0]}
        res.update(callgrind(a, d) if a.callgrind else wall(a, d))
        if not a.callgrind:
            res["runs"] = a.runs
        res["loadavg_after"] = os.getloadavg()[0]
        print(json.dumps(res))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
