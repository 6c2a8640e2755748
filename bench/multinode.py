#!/usr/bin/env python3
"""bench/multinode.py: almanacd nodes on one PostgreSQL database (issue #10, "Measure").

Starts a private PostgreSQL 15 cluster (tests/integration/pgcluster.py: initdb in a
temporary directory, a Unix socket only, stopped by its PID), makes the store with the
`almanac` CLI (--store URI), then runs one of:

  mixed  For 1, 2 and 3 nodes (--nodes-list), --clients threads for --seconds each: every
         client is pinned to node (client % nodes) and loops over a mix of operations on its
         own calendar: PUT of a new event (--put-share), an incremental sync-collection
         REPORT from the client's last token, and a GET of an event it wrote. Beside them,
         --pingers ActiveSync devices (spread over the nodes the same way) loop Ping ->
         answered by a PUT of the clients writing to calendar c0 -> Sync -> Ping. Reported per
         node count: requests per second by kind, p50/p99 latency, and the CPU each request
         costs (utime + stime of every almanacd and of the PostgreSQL server's processes over
         the run, divided by the requests answered).

  pings  --devices ActiveSync devices, spread over --nodes nodes, each holding one Ping on
         the same calendar; one CalDAV PUT through node 1 wakes them: the time until the
         last answer (Status 2 with the folder), and each node's VmRSS while they wait.

PostgreSQL runs with fsync and full_page_writes on (the tests' clusters turn them off).
Each node gets --workers worker threads. The figures are for this machine (see `nproc`):
several nodes on one 2-core machine share those cores with PostgreSQL and with this
driver, so more nodes cannot give more throughput here; what the table shows is the cost
of spreading (the CPU per request) and that the answers stay correct.

usage: multinode.py ALMANACD ALMANAC mixed [--nodes-list 1,2,3] [--seconds 20] [--clients 8]
       multinode.py ALMANACD ALMANAC pings [--nodes 3] [--devices 10000]
Prints a JSON line per run and a markdown table."""

import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import random
import re
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import easclient  # noqa: E402
from eas_ping import Reply, ping_bytes, raise_nofile, status  # noqa: E402
from peers import free_port, generate, sync_body, token_of, wait_port  # noqa: E402
from pgcluster import PgCluster  # noqa: E402

USER, PASSWORD = "bench", "bench-pw"
AUTH = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
CLK = os.sysconf("SC_CLK_TCK")


def cpu_of(pids):
    """utime + stime in seconds of the given processes (those gone count 0)."""
    total = 0.0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK
        except OSError:
            pass
    return total


def pg_pids(pg):
    """The postmaster and its children (backends, writers): the database's whole CPU."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pg.proc.pid)], capture_output=True,
                         text=True).stdout.split()
    return [pg.proc.pid] + [int(p) for p in out]


class Nodes:
    """K almanacd processes on one database URI."""

    def __init__(self, almanacd, uri, work, k, workers, limit, devices=0, extra=()):
        self.procs, self.ports = [], []
        for i in range(k):
            port = free_port()
            conf = os.path.join(work, "node%d.conf" % i)
            with open(conf, "w") as f:
                f.write("[server]\nlisten = 127.0.0.1:%d\nstore = %s\nworkers = %d\n"
                        "log_level = warn\n[limits]\nmax_connections = %d\n"
                        "per_ip_connections = %d\n[activesync]\neas_max_devices = %d\n"
                        % (port, uri, workers, limit, limit, max(limit, devices + 10)))
                for line in extra:
                    f.write(line + "\n")
            log = open(os.path.join(work, "node%d.log" % i), "ab")
            proc = subprocess.Popen([almanacd, "--config", conf], stdout=subprocess.DEVNULL,
                                    stderr=log)
            wait_port(port, proc)
            self.procs.append(proc)
            self.ports.append(port)

    def pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def event(uid):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260311T100000Z\r\n"
            "DURATION:PT1H\r\nSUMMARY:wake up\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % uid).encode()


def request(conn, method, path, body=None, headers=None):
    h = {"Authorization": AUTH}
    h.update(headers or {})
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    return r.status, r.read()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.lat = {}
        self.errors = []

    def add(self, kind, ms):
        with self.lock:
            self.lat.setdefault(kind, []).append(ms)

    def error(self, msg):
        with self.lock:
            self.errors.append(msg)


def client_loop(port, cal, run, stop, stats, put_share, seed):
    """One CalDAV client on its own calendar until `stop` is set."""
    rnd = random.Random(seed)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    token, written, i = "", [], 0
    st, body = request(c, "REPORT", cal, sync_body(""), {"Depth": "1",
                                                          "Content-Type": "application/xml"})
    token = token_of(body)
    while not stop.is_set():
        x = rnd.random()
        t0 = time.perf_counter()
        if x < put_share or not written:
            name = "%s-%d-%06d.ics" % (run, seed, i)
            ev = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n"
                  "BEGIN:VEVENT\r\nUID:%s@mixed\r\nDTSTAMP:20260101T000000Z\r\n"
                  "DTSTART:20260310T%02d0000Z\r\nDURATION:PT30M\r\nSUMMARY:mixed %d\r\n"
                  "END:VEVENT\r\nEND:VCALENDAR\r\n" % (name, 8 + i % 10, i))
            st, _ = request(c, "PUT", cal + name, ev.encode(), {"Content-Type": "text/calendar"})
            kind, ok = "PUT", st == 201
            written.append(name)
            i += 1
        elif x < put_share + (1 - put_share) / 2:
            st, body = request(c, "REPORT", cal, sync_body(token),
                               {"Depth": "1", "Content-Type": "application/xml"})
            kind, ok = "sync", st == 207 and bool(token_of(body))
            token = token_of(body) or token
        else:
            st, body = request(c, "GET", cal + rnd.choice(written))
            kind, ok = "GET", st == 200 and b"BEGIN:VEVENT" in body
        ms = (time.perf_counter() - t0) * 1000
        if not ok:
            stats.error("%s on port %d: %d" % (kind, port, st))
        stats.add(kind, ms)
    c.close()


def setup_device(port, i):
    cl = easclient.EASClient("127.0.0.1", port, USER, PASSWORD, "MN%05d" % i,
                             device_type="BenchPhone", timeout=600)
    cl.provision()
    fs = cl.folder_sync("0")
    cals = [f for f in easclient.EASClient.folders_of(fs)
            if f.get("Type") in ("8", "13") and f.get("DisplayName") == "c0"]
    if len(cals) != 1:
        raise RuntimeError("device %d: calendar folders %r" % (i, cals))
    coll = cals[0]["ServerId"]
    key = cl.sync(coll, "0", options=easclient.EASClient.calendar_options(0, 1)).only().sync_key
    r = cl.ping(300, [(coll, "Calendar")])  # stores the Ping's parameters; answered at once
    if r.status != 200:
        raise RuntimeError("device %d: first Ping %r" % (i, r))
    more = True
    while more:
        s = cl.sync(coll, key, get_changes=True, window=512).only()
        key, more = s.sync_key, s.more_available
    cl.close()
    return cl, coll, key


def pinger_loop(port, i, stop, stats):
    """A device that holds a Ping, syncs when it answers, and pings again."""
    cl, coll, key = setup_device(port, 1000 + i)
    while not stop.is_set():
        t0 = time.perf_counter()
        r = cl.ping(60, [(coll, "Calendar")], timeout=120)
        if r.status != 200:
            stats.error("Ping on port %d: %d" % (port, r.status))
            continue
        if r.doc.findtext("Status") == "2":
            stats.add("Ping wake", (time.perf_counter() - t0) * 1000)
            more = True
            while more:
                t1 = time.perf_counter()
                s = cl.sync(coll, key, get_changes=True, window=100).only()
                stats.add("EAS Sync", (time.perf_counter() - t1) * 1000)
                if s.status != 1:
                    stats.error("Sync on port %d: Status %r" % (port, s.status))
                    break
                key, more = s.sync_key, s.more_available
    cl.close()


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * q))]


def run_mixed(a, pg, uri, work, k):
    limit = 4 * (a.clients + a.pingers) + 64
    nodes = Nodes(a.almanacd, uri, work, k, a.workers, limit)
    stats = Stats()
    stop = threading.Event()
    try:
        cpu0 = cpu_of(nodes.pids()), cpu_of(pg_pids(pg))
        with concurrent.futures.ThreadPoolExecutor(a.clients + a.pingers) as ex:
            pingers = [ex.submit(pinger_loop, nodes.ports[i % k], i, stop, stats)
                       for i in range(a.pingers)]
            time.sleep(0.5 * a.pingers / 4 + 1)  # devices set up before the load
            cpu0 = cpu_of(nodes.pids()), cpu_of(pg_pids(pg))
            t0 = time.perf_counter()
            clients = [ex.submit(client_loop, nodes.ports[i % k],
                                 "/calendars/%s/c%d/" % (USER, i % a.calendars), "k%d" % k, stop, stats,
                                 a.put_share, i) for i in range(a.clients)]
            time.sleep(a.seconds)
            stop.set()
            wall = time.perf_counter() - t0
            # a Ping that waits now is answered by a last PUT to the watched calendar, one
            # through each node (the Pings' own node wakes them even if a NOTIFY were lost)
            for i, port in enumerate(nodes.ports):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                request(c, "PUT", "/calendars/%s/c0/last-k%d-%d.ics" % (USER, k, i),
                        event("last-k%d-%d@mixed" % (k, i)), {"Content-Type": "text/calendar"})
                c.close()
            for f in clients + pingers:
                f.result()
        cpu1 = cpu_of(nodes.pids()), cpu_of(pg_pids(pg))
    finally:
        nodes.stop()
    n = sum(len(v) for k_, v in stats.lat.items() if k_ in ("PUT", "sync", "GET"))
    res = {"mode": "mixed", "nodes": k, "clients": a.clients, "pingers": a.pingers,
           "seconds": round(wall, 1), "errors": stats.errors[:5], "n_errors": len(stats.errors),
           "requests": n, "req_per_s": n / wall,
           "almanacd_cpu_ms_per_req": (cpu1[0] - cpu0[0]) * 1000 / max(n, 1),
           "postgres_cpu_ms_per_req": (cpu1[1] - cpu0[1]) * 1000 / max(n, 1), "ops": {}}
    for kind, v in sorted(stats.lat.items()):
        res["ops"][kind] = {"n": len(v), "per_s": len(v) / wall, "p50_ms": statistics.median(v),
                            "p99_ms": pct(v, 0.99)}
    return res


def run_pings(a, pg, uri, work):
    raise_nofile(a.nofile)
    k = a.nodes
    # every device is the one user's: eas_max_devices counts them all
    nodes = Nodes(a.almanacd, uri, work, k, a.workers, 2 * a.devices // k + 256, a.devices)
    socks = []
    try:
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(a.setup_threads) as ex:
            devs = list(ex.map(lambda i: (i % k,) + setup_device(nodes.ports[i % k], i),
                               range(a.devices)))
        res = {"mode": "pings", "nodes": k, "devices": a.devices,
               "setup_s": time.perf_counter() - t0}
        coll = devs[0][2]
        sel = selectors.DefaultSelector()
        replies = {}
        for node, cl, coll_i, _ in devs:
            port = nodes.ports[node]
            cl.port = port
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(ping_bytes(cl, coll_i, 300))
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)
            replies[s] = Reply()
        time.sleep(a.hold)
        res["waiting_rss_mb"] = [status(p)["VmRSS"] / 1024 for p in nodes.pids()]
        done = {}

        def pump(timeout):
            for key, _ in sel.select(timeout):
                s = key.fileobj
                try:
                    chunk = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionError:
                    chunk = b""
                r = replies[s]
                if not chunk or r.feed(chunk):
                    r.t = time.perf_counter()
                    r.status = r.status or "closed"
                    done[s] = r
                    sel.unregister(s)

        pump(0)
        if done:
            raise RuntimeError("%d Pings answered before any change" % len(done))
        c = http.client.HTTPConnection("127.0.0.1", nodes.ports[0], timeout=60)
        t_put = time.perf_counter()
        st, _ = request(c, "PUT", "/calendars/%s/c0/wake.ics" % USER, event("wake@pings"),
                        {"Content-Type": "text/calendar"})
        res["put_ms"] = (time.perf_counter() - t_put) * 1000
        if st != 201:
            raise RuntimeError("wake PUT: %d" % st)
        deadline = time.time() + 120
        while len(done) < len(socks) and time.time() < deadline:
            pump(1.0)
        ok = sum(1 for r in done.values() if r.status == 200 and r.body
                 and easclient.decode(r.body).findtext("Status") == "2")
        lat = sorted((r.t - t_put) * 1000 for r in done.values())
        res.update({"answered": len(done), "status2": ok, "folder": coll})
        if lat:
            res.update({"wake_median_ms": statistics.median(lat), "wake_p99_ms": pct(lat, 0.99),
                        "wake_all_ms": lat[-1]})
        by_node = {}
        for (node, _, _, _), s in zip(devs, socks):
            r = replies[s]
            if r.t:
                by_node.setdefault(node, []).append((r.t - t_put) * 1000)
        res["wake_all_ms_by_node"] = {n: max(v) for n, v in sorted(by_node.items())}
        if ok != a.devices:
            raise RuntimeError("%d of %d Pings answered Status 2" % (ok, a.devices))
        return res
    finally:
        for s in socks:
            s.close()
        nodes.stop()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("almanacd")
    p.add_argument("almanac")
    p.add_argument("mode", choices=("mixed", "pings"))
    p.add_argument("--nodes-list", default="1,2,3")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--calendars", type=int, default=4)
    p.add_argument("--pingers", type=int, default=4)
    p.add_argument("--put-share", type=float, default=0.3)
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--setup-threads", type=int, default=8)
    p.add_argument("--hold", type=float, default=5)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--nofile", type=int, default=65536)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="bench-multinode-")
    # a kill (timeout(1), ^C) still stops the cluster and the nodes, by the with blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # durable as a deployment is: fsync and full-page writes on (the tests' clusters run
    # without), and room for every node's pool
    settings = {"fsync": "on", "full_page_writes": "on", "shared_buffers": "128MB",
                "max_connections": "400"}
    with PgCluster(settings=settings) as pg:
        uri = pg.uri()

        def cli(*args, **kw):
            subprocess.run([a.almanac, "--store", uri] + list(args), check=True,
                           capture_output=True, text=True, **kw)

        cli("user", "add", USER, "--password-stdin", input=PASSWORD + "\n")
        for i in range(a.calendars):
            cli("calendar", "add", USER, "c%d" % i)
        # c0 holds events before the devices sync it: their first Ping (which stores its
        # parameters, as a phone in service has) then answers at once
        head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n"
        tail = "END:VCALENDAR\r\n"
        cli("import", USER, "c0", "-", input=head + "".join(
            body[len(head):-len(tail)] for _, body in generate(20)) + tail)
        results = []
        if a.mode == "mixed":
            for k in [int(x) for x in a.nodes_list.split(",")]:
                r = run_mixed(a, pg, uri, work, k)
                print(json.dumps(r), flush=True)
                results.append(r)
            print("\n| nodes | requests/s | PUT p50 / p99 | sync p50 / p99 | GET p50 / p99 "
                  "| Ping wakes | almanacd CPU / request | PostgreSQL CPU / request | errors |")
            print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
            for r in results:
                o = r["ops"]

                def pp(kind):
                    x = o.get(kind)
                    return "%.1f / %.1f ms" % (x["p50_ms"], x["p99_ms"]) if x else "-"

                print("| %d | %.0f | %s | %s | %s | %d | %.2f ms | %.2f ms | %d |"
                      % (r["nodes"], r["req_per_s"], pp("PUT"), pp("sync"), pp("GET"),
                         o.get("Ping wake", {}).get("n", 0), r["almanacd_cpu_ms_per_req"],
                         r["postgres_cpu_ms_per_req"], r["n_errors"]))
        else:
            r = run_pings(a, pg, uri, work)
            print(json.dumps(r), flush=True)
            print("\n| nodes | Pings | PUT | median answer | p99 | last answer | VmRSS per node |")
            print("| ---: | ---: | ---: | ---: | ---: | ---: | --- |")
            print("| %d | %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %s |"
                  % (r["nodes"], r["devices"], r["put_ms"], r["wake_median_ms"],
                     r["wake_p99_ms"], r["wake_all_ms"],
                     ", ".join("%.1f MB" % x for x in r["waiting_rss_mb"])))


if __name__ == "__main__":
    main()
