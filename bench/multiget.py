#!/usr/bin/env python3
"""bench/multiget.py: one calendar-multiget of H hrefs against a calendar of N items (issue 14,
item 4). Loads N items by PUT, restarts almanacd, then sends one REPORT whose hrefs are the N
items followed by H - N names that do not exist (all distinct), asking for DAV:getetag. Reports
the time to the last byte, the answer's size and row count, and almanacd's peak RSS (VmHWM)
after it. --max-hrefs sets max_multiget_hrefs (a binary that does not know the key must be run
without it). Prints one JSON line.

usage: multiget.py ALMANACD ALMANAC HREFS [--items N] [--max-hrefs M]"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ left in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from propfind import AUTH, loader, stop, vmhwm_kb  # noqa: E402

CAL = "/calendars/bench/cal/"


def start(almanacd, data, port_file, config):
    """almanacd on a free loopback port, with `config` (a file path, or None)."""
    if os.path.exists(port_file):
        os.unlink(port_file)
    log = open(os.path.join(os.path.dirname(port_file), "almanacd.log"), "a")
    args = [almanacd, "--data", data, "--listen", "127.0.0.1:0", "--port-file", port_file,
            "--log-level", "warn"]
    if config:
        args += ["--config", config]
    p = subprocess.Popen(args, stderr=log, stdout=log)
    for _ in range(200):
        if os.path.exists(port_file) and os.path.getsize(port_file):
            break
        if p.poll() is not None:
            raise RuntimeError("almanacd exited %d" % p.returncode)
        time.sleep(0.05)
    with open(port_file) as f:
        return p, int(f.read())


def body_chunks(n_items, n_hrefs):
    """The request body, generated as it is sent (a million hrefs are ~45 MB)."""
    yield (b'<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" '
           b'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>')
    batch = []
    for i in range(n_hrefs):
        name = "ev%07d.ics" % i if i < n_items else "missing%08d.ics" % i
        batch.append("<D:href>%s%s</D:href>" % (CAL, name))
        if len(batch) == 4096:
            yield "".join(batch).encode()
            batch = []
    yield "".join(batch).encode()
    yield b"</C:calendar-multiget>"


def multiget(port, n_items, n_hrefs):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    t0 = time.perf_counter()
    c.request("REPORT", CAL, body=body_chunks(n_items, n_hrefs), encode_chunked=True,
              headers={"Authorization": AUTH, "Depth": "0", "Content-Type": "application/xml",
                       "Transfer-Encoding": "chunked"})
    r = c.getresponse()
    nbytes = rows = 0
    tail = b""
    while True:
        chunk = r.read(1 << 16)
        if not chunk:
            break
        nbytes += len(chunk)
        window = tail + chunk
        rows += window.count(b"<D:response>") - tail.count(b"<D:response>")
        tail = window[-16:]
    dt = time.perf_counter() - t0
    c.close()
    return r.status, dt, nbytes, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("hrefs", type=int)
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--max-hrefs", type=int)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="almanac-bench-")
    data = os.path.join(d, "data")
    port_file = os.path.join(d, "port")
    config = None
    if a.max_hrefs is not None:
        config = os.path.join(d, "almanac.conf")
        with open(config, "w") as f:
            f.write("max_multiget_hrefs = %d\n" % a.max_hrefs)
    try:
        subprocess.run([a.almanac, "--data", data, "user", "add", "bench", "--password-stdin"],
                       input="bench-password\n", text=True, check=True)
        subprocess.run([a.almanac, "--data", data, "calendar", "add", "bench", "cal"], check=True)
        p, port = start(a.almanacd, data, port_file, config)
        loader((port, 0, a.items))
        stop(p)
        p, port = start(a.almanacd, data, port_file, config)
        try:
            rss_idle = vmhwm_kb(p.pid)
            status, dt, nbytes, rows = multiget(port, a.items, a.hrefs)
            rss = vmhwm_kb(p.pid)
        finally:
            stop(p)
        print(json.dumps({
            "hrefs": a.hrefs, "items": a.items, "max_hrefs": a.max_hrefs, "status": status,
            "seconds": round(dt, 2), "rows": rows, "response_bytes": nbytes,
            "peak_rss_mb": round(rss / 1024, 1), "idle_rss_mb": round(rss_idle / 1024, 1)}))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
