#!/usr/bin/env python3
"""bench/keepalive_pool.py: what an open connection costs almanacd before and after it has
served a request (issue 16 item 4).

libmicrohttpd zeroes a connection's whole memory pool (max_header_bytes and a page) each time
it takes another request on a kept-alive connection, so a connection that has answered once
holds every page of its pool while it stays open. ActiveSync answers close their connection
(eas_keep_alive = false, the default) so that a phone's next request, a Ping most often,
comes on a fresh one.

Starts almanacd on a free loopback port with a fresh store, opens N connections and reads
VmRSS (/proc/PID/status) after each phase:
  1. open, nothing sent;
  2. one GET /healthz answered on each (kept alive);
  3. a second request's headers half sent on each (a request that waits, as a Ping does);
then, on N new connections, one ActiveSync OPTIONS each, answered and closed by the server.
Prints a JSON line and a markdown table of KB per connection beyond the idle server.

usage: keepalive_pool.py ALMANACD ALMANAC [--connections 2000] [--config KEY=VALUE ...]"""

import argparse
import base64
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

USER = "bench"
PASSWORD = "bench-password"


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def read_head(s):
    """Reads one answer's head and body (Content-Length) off s; returns (head, closed)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("closed before an answer")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(rest) < n:
        rest += s.recv(65536)
    return head.decode("latin-1")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--connections", type=int, default=2000)
    ap.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args()
    n = a.connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n * 2 + 100
    resource.setrlimit(resource.RLIMIT_NOFILE, (want if hard == resource.RLIM_INFINITY
                                                else min(want, hard), hard))
    work = tempfile.mkdtemp(prefix="bench-keepalive-")
    proc = None
    socks = []
    try:
        data = os.path.join(work, "data")
        subprocess.run([a.almanac, "--data", data, "user", "add", USER, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, check=True, capture_output=True)
        conf = os.path.join(work, "almanac.conf")
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:0\ndata_dir = %s\nlog_level = warn\n"
                    "max_connections = %d\nper_ip_connections = %d\n" % (data, want, want))
            for c in a.config:
                f.write(c + "\n")
        port_file = os.path.join(work, "port")
        # almanacd inherits the open-file limit raised above
        proc = subprocess.Popen([a.almanacd, "--config", conf, "--port-file", port_file],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            if os.path.exists(port_file) and os.path.getsize(port_file):
                break
            time.sleep(0.05)
        with open(port_file) as f:
            port = int(f.read())
        time.sleep(0.5)
        res = {"connections": n, "config": a.config, "idle_kb": rss_kb(proc.pid)}

        def settle():
            time.sleep(1.0)
            return rss_kb(proc.pid)

        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", port)))
        res["open_kb"] = settle()
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n")
        for s in socks:
            read_head(s)
        res["answered_kb"] = settle()
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")
        res["waiting_kb"] = settle()
        for s in socks:
            s.close()
        socks = []
        res["closed_kb"] = settle()

        auth = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        req = ("OPTIONS /Microsoft-Server-ActiveSync HTTP/1.1\r\nHost: bench\r\n"
               "Authorization: Basic %s\r\n\r\n" % auth).encode()
        closed = 0
        statuses = {}
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", port)))
        for s in socks:
            s.sendall(req)
        for s in socks:
            head = read_head(s)
            code = head.split(" ", 2)[1]
            statuses[code] = statuses.get(code, 0) + 1
            if "connection: close" in head.lower():
                s.settimeout(5)
                closed += s.recv(1) == b""
        res["eas_closed_by_server"] = closed
        res["eas_statuses"] = statuses
        res["eas_answered_kb"] = settle()
        for s in socks:
            s.close()
        socks = []
        print(json.dumps(res))

        def per(k):
            return (res[k] - res["idle_kb"]) / n

        print("\n| %d connections | VmRSS | per connection beyond the idle server |" % n)
        print("| --- | ---: | ---: |")
        print("| idle server | %.1f MB | |" % (res["idle_kb"] / 1024))
        for k, label in (("open_kb", "open, nothing sent"),
                         ("answered_kb", "one GET /healthz answered each, kept alive"),
                         ("waiting_kb", "then a second request half sent on each"),
                         ("closed_kb", "all closed"),
                         ("eas_answered_kb", "one ActiveSync OPTIONS answered each (%d closed "
                                             "by the server)" % closed)):
            print("| %s | %.1f MB | %.1f KB |" % (label, res[k] / 1024, per(k)))
    finally:
        for s in socks:
            s.close()
        if proc and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
