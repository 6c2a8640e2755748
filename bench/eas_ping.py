#!/usr/bin/env python3
"""bench/eas_ping.py: many concurrent idle ActiveSync Pings (issue #5 item 7).

Starts almanacd (release build) on a free loopback port with a temporary store and a config
file raising the limits a thousand long polls need: max_connections and per_ip_connections
(every Ping is its own TCP connection from 127.0.0.1; the per-address default is 256) and
eas_max_devices (all devices belong to one user, so that all watch the same calendar; the
default is 100). The open-file limit (RLIMIT_NOFILE) of almanacd and of this process is
raised to --nofile (soft limit, capped by the hard one) with resource.setrlimit.

Then --devices devices, --setup-threads at a time, each with its own DeviceId: Provision
(both steps), FolderSync, Sync key 0, one Ping (answered at once: the calendar is not synced
yet; so the device's Ping parameters are stored, as for any phone in service) and Sync with
GetChanges to the end of the calendar (--events small events), so that each has a sync
cursor with nothing left to push. Each
device then opens its own connection and sends one Ping (HeartbeatInterval --heartbeat,
the calendar folder) — all sent before any answer is awaited; one epoll loop here reads the
answers. almanacd's Threads and VmRSS (/proc/PID/status) are read before the Pings, while
the Pings are held (sampled once a second for --hold seconds, longer than idle_timeout so
that a suspended connection outliving it shows), then one CalDAV PUT of a new event to the
watched calendar, and the time from sending that PUT until every Ping has answered Status 2
with the calendar's folder id, and the figures again after all have answered.

usage: eas_ping.py ALMANACD ALMANAC [--devices 1000] [--heartbeat 300] [--hold 150]
Prints a JSON line and a markdown table."""

import argparse
import base64
import concurrent.futures
import http.client
import json
import os
import resource
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import easclient  # noqa: E402  (the test phone's client and codec, one copy)
from peers import free_port, generate, put_worker, wait_port  # noqa: E402

USER, PASSWORD = "bench", "bench-pw"
AUTH = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
CLK = os.sysconf("SC_CLK_TCK")


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Threads", "VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    out["cpu_s"] = (int(fields[11]) + int(fields[12])) / CLK  # utime + stime
    out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return out


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft == resource.RLIM_INFINITY or soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def setup_device(port, i, coll_name, heartbeat):
    cl = easclient.EASClient("127.0.0.1", port, USER, PASSWORD, "BENCHPING%05d" % i,
                             device_type="BenchPhone", timeout=600)
    cl.provision()
    fs = cl.folder_sync("0")
    cals = [f for f in easclient.EASClient.folders_of(fs) if f.get("Type") in ("8", "13")
            and f.get("DisplayName") is not None]
    if len(cals) != 1:
        raise RuntimeError("device %d: calendar folders %r" % (i, cals))
    coll = cals[0]["ServerId"]
    key = cl.sync(coll, "0", options=easclient.EASClient.calendar_options(0, 1)).only().sync_key
    # A phone in service has pinged before: its Ping parameters are stored (almanacd stores
    # new ones with the Ping's answer). Not synced yet, this Ping answers at once.
    r = cl.ping(heartbeat, [(coll, "Calendar")])
    if r.status != 200 or r.doc.findtext("Status") != "2":
        raise RuntimeError("device %d: first Ping %r" % (i, r))
    more = True
    while more:
        c = cl.sync(coll, key, get_changes=True, window=512).only()
        if c.status != 1:
            raise RuntimeError("device %d: Sync Status %r" % (i, c.status))
        key, more = c.sync_key, c.more_available
    cl.close()
    return cl, coll


def ping_bytes(cl, coll, heartbeat):
    body = easclient.encode(easclient.E("N:Ping", easclient.E("HeartbeatInterval", str(heartbeat)),
                                        easclient.E("Folders", easclient.E(
                                            "Folder", easclient.E("Id", coll),
                                            easclient.E("Class", "Calendar")))))
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: Almanac-BenchPhone/1.0\r\n"
            "Authorization: %s\r\nMS-ASProtocolVersion: %s\r\nX-MS-PolicyKey: %s\r\n"
            "Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: %d\r\n\r\n"
            % (cl.target("Ping"), cl.port, AUTH, cl.version, cl.policy_key, len(body)))
    return head.encode() + body


class Reply:
    """Accumulates one HTTP/1.1 response (Content-Length or chunked)."""

    def __init__(self):
        self.buf = bytearray()
        self.status = None
        self.body = None
        self.t = None

    def feed(self, data):
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        self.status = int(head[0].split()[1])
        hdr = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        rest = bytes(self.buf[end + 4:])
        if "content-length" in hdr:
            n = int(hdr["content-length"])
            if len(rest) < n:
                return False
            self.body = rest[:n]
            return True
        if hdr.get("transfer-encoding", "").lower() == "chunked":
            out, pos = bytearray(), 0
            while True:
                eol = rest.find(b"\r\n", pos)
                if eol < 0:
                    return False
                size = int(rest[pos:eol].split(b";")[0], 16)
                if size == 0:
                    self.body = bytes(out)
                    return True
                if len(rest) < eol + 2 + size + 2:
                    return False
                out += rest[eol + 2:eol + 2 + size]
                pos = eol + 2 + size + 2
        return False  # read to close


def start_server(almanacd, data, work, nofile, devices, heartbeat, log_level, idle_timeout,
                 extra=()):
    port = free_port()
    conf = os.path.join(work, "almanac.conf")
    limit = max(2 * devices + 64, 1024)
    with open(conf, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1:%d\ndata_dir = %s\nlog_level = %s\n"
                "[limits]\nmax_connections = %d\nper_ip_connections = %d\n"
                "[activesync]\neas_max_devices = %d\n"
                % (port, data, log_level, limit, limit, devices + 10))
        if idle_timeout:
            f.write("[limits]\nidle_timeout = %d\n" % idle_timeout)
        if heartbeat < 60:
            f.write("eas_ping_min_heartbeat = %d\n" % heartbeat)
        for line in extra:
            f.write(line + "\n")

    def limits():
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))

    proc = subprocess.Popen([almanacd, "--config", conf], preexec_fn=limits,
                            stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(work, "almanacd.log"), "ab"))
    wait_port(port, proc)
    with open("/proc/%d/limits" % proc.pid) as f:
        nofile_srv = [ln for ln in f if ln.startswith("Max open files")][0].split()[3]
    return proc, port, conf, nofile_srv


def settle(pid, quiet=1.0, timeout=60, must=True):
    """Waits until almanacd has used no CPU for `quiet` seconds; False after `timeout` when
    not `must` (else an error)."""
    t0 = time.time()
    last = status(pid)["cpu_s"]
    still = time.time()
    while time.time() - t0 < timeout:
        time.sleep(0.25)
        now = status(pid)["cpu_s"]
        if now != last:
            last, still = now, time.time()
        elif time.time() - still >= quiet:
            return True
    if not must:
        return False
    raise RuntimeError("almanacd did not go quiet")


def run(a):
    nofile_me = raise_nofile(a.nofile)
    work = tempfile.mkdtemp(prefix="bench-eas-ping-")
    data = os.path.join(work, "data")
    subprocess.run([a.almanac, "--data", data, "user", "add", USER, "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True)
    subprocess.run([a.almanac, "--data", data, "calendar", "add", USER, "cal"], check=True,
                   capture_output=True)
    proc, port, conf, nofile_srv = start_server(a.almanacd, data, work, a.nofile, a.devices,
                                                a.heartbeat, a.log_level, a.idle_timeout,
                                                a.config)
    res = {"devices": a.devices, "heartbeat_s": a.heartbeat, "nofile_bench": nofile_me,
           "nofile_almanacd": nofile_srv,
           "workers": next((c.split("=", 1)[1].strip() for c in a.config
                            if c.split("=", 1)[0].strip() == "workers"), "default")}
    socks = []
    try:
        pid = proc.pid
        res["idle"] = status(pid)
        put_worker((port, {"Authorization": AUTH}, "/calendars/%s/cal/" % USER,
                    generate(a.events)))
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(a.setup_threads) as ex:
            devs = list(ex.map(lambda i: setup_device(port, i, "cal", a.heartbeat), range(a.devices)))
        res["setup_s"] = time.perf_counter() - t0
        colls = {c for _, c in devs}
        if len(colls) != 1:
            raise RuntimeError("devices see different folder ids: %r" % colls)
        coll = colls.pop()
        settle(pid)
        res["before"] = status(pid)

        sel = selectors.DefaultSelector()
        replies = {}
        t_send = time.perf_counter()
        for cl, _ in devs:
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(ping_bytes(cl, coll, a.heartbeat))
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)
            replies[s] = Reply()
        res["send_s"] = time.perf_counter() - t_send

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
                if not chunk:
                    r.t = r.t or time.perf_counter()
                    r.status = r.status or "closed"
                    done[s] = r
                    sel.unregister(s)
                    continue
                if r.feed(chunk):
                    r.t = time.perf_counter()
                    done[s] = r
                    sel.unregister(s)

        # hold: nothing may answer while nothing changes
        settle(pid)
        res["waiting"] = status(pid)
        samples = []
        t_hold = time.time()
        while time.time() - t_hold < a.hold:
            pump(1.0)
            samples.append(status(pid))
        if done:
            early = [(r.status, r.body) for r in list(done.values())[:3]]
            raise RuntimeError("%d Pings answered before any change: %r" % (len(done), early))
        res["hold_s"] = a.hold
        res["hold_threads"] = sorted({s["Threads"] for s in samples})
        res["hold_rss_kb"] = [min(s["VmRSS"] for s in samples), max(s["VmRSS"] for s in samples)]
        res["hold_cpu_s"] = samples[-1]["cpu_s"] - res["waiting"]["cpu_s"]
        res["held"] = status(pid)

        ev = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\nBEGIN:VEVENT\r\n"
              "UID:ping-wake@almanac\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20260310T100000Z\r\n"
              "DTEND:20260310T110000Z\r\nSUMMARY:wake up\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=a.put_timeout)
        t_put = time.perf_counter()
        try:
            c.request("PUT", "/calendars/%s/cal/ping-wake.ics" % USER, body=ev.encode(),
                      headers={"Authorization": AUTH, "Content-Type": "text/calendar"})
            r = c.getresponse()
            r.read()
        except OSError as e:
            # almanacd no longer answers: keep the evidence (state, threads' stacks)
            res["put_error"] = "%s after %.1f s" % (type(e).__name__, time.perf_counter() - t_put)
            res["hung"] = status(pid)
            if a.gdb:
                bt = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex",
                                     "thread apply all bt 12"], capture_output=True, text=True,
                                    timeout=120)
                with open(a.gdb, "w") as f:
                    f.write(bt.stdout + bt.stderr)
                res["gdb"] = a.gdb
            return res
        res["put_ms"] = (time.perf_counter() - t_put) * 1000
        if r.status not in (201, 204):
            raise RuntimeError("wake PUT: %d" % r.status)
        c.close()
        deadline = time.time() + 120
        while len(done) < len(socks) and time.time() < deadline:
            pump(1.0)
        lat = sorted((r.t - t_put) * 1000 for r in done.values())
        ok = 0
        bad = []
        for r in done.values():
            if r.status == 200 and r.body:
                doc = easclient.decode(r.body)
                if doc.findtext("Status") == "2" and \
                        [f.text for f in doc.findall("Folders/Folder")] == [coll]:
                    ok += 1
                    continue
                bad.append(repr(doc))
            else:
                bad.append("HTTP %r %r" % (r.status, (r.body or b"")[:100]))
        res["answered"] = len(done)
        res["status2"] = ok
        res["bad"] = bad[:3]
        if lat:
            res["wake_first_ms"] = lat[0]
            res["wake_median_ms"] = statistics.median(lat)
            res["wake_p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            res["wake_all_ms"] = lat[-1]
        # almanacd gives the answered crowd's heap back 2 s after it was woken
        # (EAS_TRIM_DELAY_MS, src/eas/push.c): measured after that
        time.sleep(3.0)
        res["after_quiet"] = settle(pid, must=False)
        res["after"] = status(pid)
        for s in socks:
            s.close()
        socks = []
        time.sleep(1.0)
        res["closed_quiet"] = settle(pid, must=False)
        res["closed"] = status(pid)
        if ok != a.devices:
            raise RuntimeError("%d of %d Pings answered Status 2: %r" % (ok, a.devices, bad[:3]))
        return res
    finally:
        for s in socks:
            s.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with open(os.path.join(work, "almanacd.log"), errors="replace") as f:
            tail = f.read()[-2000:]
        if tail.strip():
            print("almanacd log (tail):\n" + tail, file=sys.stderr)
        if os.environ.get("BENCH_KEEP"):
            print("kept " + work, file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def table(r):
    def row(label, s, extra=""):
        return "| %s | %d | %.1f MB | %d | %s |" % (label, s["Threads"], s["VmRSS"] / 1024,
                                                     s["fds"], extra)
    lines = ["| almanacd | Threads | VmRSS | open fds | note |",
             "| --- | ---: | ---: | ---: | --- |",
             row("idle after start", r["idle"]),
             row("%d devices synced, no Ping" % r["devices"], r["before"]),
             row("%d Pings waiting" % r["devices"], r["waiting"],
                 "just after the last was sent and almanacd went quiet"),
             row("%d Pings waiting, %d s later" % (r["devices"], r["hold_s"]), r["held"],
                 "Threads seen while held: %s; VmRSS %.1f-%.1f MB; %.2f s CPU used"
                 % (",".join(map(str, r["hold_threads"])), r["hold_rss_kb"][0] / 1024,
                    r["hold_rss_kb"][1] / 1024, r["hold_cpu_s"])),
             row("all answered", r["after"], "3 s later; the connections still open (those "
                 "almanacd closed after answering, with eas_keep_alive = false, are gone)%s"
                 % ("" if r.get("after_quiet", True) else "; almanacd still busy")),
             row("connections closed", r["closed"], "VmHWM %.1f MB%s" % (
                 r["closed"]["VmHWM"] / 1024,
                 "" if r.get("closed_quiet", True) else "; almanacd still busy"))]
    n = r["devices"]
    lines.append("")
    lines.append("| per waiting Ping | VmRSS |")
    lines.append("| --- | ---: |")
    lines.append("| beyond the idle server | %.1f KB |" % ((r["waiting"]["VmRSS"] - r["idle"]["VmRSS"]) / n))
    lines.append("| beyond the synced devices before the Pings | %.1f KB |"
                 % ((r["waiting"]["VmRSS"] - r["before"]["VmRSS"]) / n))
    lines.append("")
    lines.append("| wake-up after one CalDAV PUT | |")
    lines.append("| --- | ---: |")
    lines.append("| PUT answered | %.1f ms |" % r["put_ms"])
    lines.append("| first Ping answered Status 2 | %.1f ms |" % r["wake_first_ms"])
    lines.append("| median | %.1f ms |" % r["wake_median_ms"])
    lines.append("| p99 | %.1f ms |" % r["wake_p99_ms"])
    lines.append("| all %d answered Status 2 | %.1f ms |" % (r["status2"], r["wake_all_ms"]))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanacd")
    ap.add_argument("almanac")
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--heartbeat", type=int, default=300)
    ap.add_argument("--hold", type=int, default=150)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--setup-threads", type=int, default=8)
    ap.add_argument("--nofile", type=int, default=8192)
    ap.add_argument("--log-level", default="warn")
    ap.add_argument("--put-timeout", type=float, default=60)
    ap.add_argument("--idle-timeout", type=int, help="almanacd idle_timeout (default: its own, 120)")
    ap.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                    help="one more line of almanacd's configuration (repeatable)")
    ap.add_argument("--gdb", help="on a hang, write every almanacd thread's stack here")
    a = ap.parse_args()
    r = run(a)
    print(json.dumps(r), flush=True)
    print()
    if "put_error" in r:
        print("almanacd did not answer the wake-up PUT: %s" % r["put_error"])
        return 1
    print(table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
