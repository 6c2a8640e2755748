"""tests/integration/test_slow_clients.py: clients too slow to be worth a connection (issue 14
item 3), over raw sockets. idle_timeout measures only silence, so a client trickling a byte
now and then used to hold its connection for ever. Now a request whose headers are not
complete header_timeout seconds after its first byte is answered 408 header-timeout, a body
below min_body_rate over a body_rate_window (or silent for a window) 408 body-too-slow, both
with Connection: close and a log line; and connections idle between requests are closed,
longest idle first, when they would leave no room under max_connections, so a new client is
served. Timeouts are configured at 1-2 s; every bound below is that plus the watchdog's
250 ms tick and generous slack for a loaded machine."""

import base64
import select
import socket
import threading
import time

import easclient as ec
from easclient import E
from harness import ServerTestCase, main

ICS = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//slow//EN\r\nBEGIN:VEVENT\r\n"
       "UID:slow-1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
       "DTEND:20260105T110000Z\r\nSUMMARY:slow upload\r\nDESCRIPTION:%s\r\n"
       "END:VEVENT\r\nEND:VCALENDAR\r\n")


def read_answer(sock, timeout):
    """(status, headers dict, body) of one answer with a Content-Length, or None when none
    came within `timeout` seconds."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            d = sock.recv(65536)
            if not d:
                return None
            data += d
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            d = sock.recv(65536)
            if not d:
                break
            rest += d
    except (socket.timeout, ConnectionResetError):
        return None
    return int(lines[0].split(" ")[1]), headers, rest[:n]


def is_closed(sock, timeout):
    """True when the server closes `sock` within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def one_is_closed(socks, timeout):
    """True when the server closes one of `socks` within `timeout` seconds. Which one is
    the server's to choose: the one it has seen idle longest, and a filler answered first
    may have been seen idle later than the next (its worker thread records the end of a
    request after the answer has left)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        readable = select.select(socks, [], [], left)[0]
        for s in readable:
            if is_closed(s, 1):
                return True


class SlowClientsTest(ServerTestCase):
    CONFIG = "header_timeout = 2\nmin_body_rate = 1000\nbody_rate_window = 1\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        assert cls.srv.request("MKCALENDAR", "/calendars/alice/slow/").status == 201

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.srv.port), timeout=30)
        self.addCleanup(sock.close)
        return sock

    def head(self, method, path, extra=""):
        token = base64.b64encode(("alice:" + self.srv.passwords["alice"]).encode()).decode()
        return ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic %s\r\n%s\r\n" % (
            method, path, token, extra)).encode()

    def trickle(self, sock, data, every, limit):
        """Sends `data` a byte every `every` seconds until the server answers or closes, or
        `limit` seconds pass. Returns the seconds it took to see an answer, or None."""
        start = time.monotonic()
        for i in range(len(data)):
            if select.select([sock], [], [], every)[0]:
                return time.monotonic() - start
            if time.monotonic() - start > limit:
                return None
            try:
                sock.sendall(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - start
        return None

    def test_trickled_headers_are_answered_408_after_header_timeout_issue_14(self):
        sock = self.connect()
        request = self.head("GET", "/calendars/alice/slow/", "X-Slow: " + "a" * 200 + "\r\n")
        took = self.trickle(sock, request, every=0.2, limit=8)
        self.assertIsNotNone(took, "a client trickling its headers is still served after 8 s")
        # header_timeout=2 from the first byte, one 250 ms tick late at most; slack for load
        self.assertGreater(took, 1.5)
        self.assertLess(took, 5)
        a = read_answer(sock, 5)
        self.assertIsNotNone(a, "no answer before the close")
        status, headers, body = a
        self.assertEqual(status, 408, a)
        self.assertEqual(headers.get("connection"), "close")
        self.assertIn(b"header-timeout", body)
        self.assertTrue(is_closed(sock, 5), "the connection is closed after the 408")
        self.assertIn("cond=header-timeout", self.srv.read_log())

    def test_headers_cut_short_are_answered_408_after_header_timeout_issue_14(self):
        # half a request sent with the connection, then silence shorter than idle_timeout:
        # the deadline runs from that first byte as well
        sock = self.connect()
        sock.sendall(b"GET /.well-known/caldav HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        start = time.monotonic()
        a = read_answer(sock, 8)
        self.assertIsNotNone(a, "half a request got no answer in 8 s")
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(a[0], 408, a)
        self.assertIn(b"header-timeout", a[2])
        self.assertTrue(is_closed(sock, 5))

    def test_trickled_body_below_min_body_rate_is_answered_408_issue_14(self):
        sock = self.connect()
        body = (ICS % ("x" * 4000)).encode()
        sock.sendall(self.head("PUT", "/calendars/alice/slow/trickle.ics",
                               "Content-Type: text/calendar\r\nContent-Length: %d\r\n" %
                               len(body)))
        # 5 bytes every 0.1 s: 50 bytes/s against min_body_rate=1000
        start = time.monotonic()
        sent = 0
        while sent < len(body) and time.monotonic() - start < 8:
            if select.select([sock], [], [], 0.1)[0]:
                break
            sock.sendall(body[sent:sent + 5])
            sent += 5
        took = time.monotonic() - start
        self.assertLess(sent, len(body), "the trickled body was read to its end")
        # the first window (1 s) is the grace; the next chunk after it is judged
        self.assertLess(took, 5)
        a = read_answer(sock, 5)
        self.assertIsNotNone(a, "no answer to a body below min_body_rate")
        status, headers, text = a
        self.assertEqual(status, 408, a)
        self.assertEqual(headers.get("connection"), "close")
        self.assertIn(b"<A:reason>body-too-slow</A:reason>", text)
        self.assertTrue(is_closed(sock, 5))
        self.assertEqual(self.req("GET", "/calendars/alice/slow/trickle.ics").status, 404)
        log = self.srv.read_log()
        self.assertIn("slow client closed", log)
        self.assertIn("cond=body-too-slow", log)

    def test_stalled_body_is_answered_408_after_a_window_issue_14(self):
        sock = self.connect()
        body = (ICS % "stalled").encode()
        sock.sendall(self.head("PUT", "/calendars/alice/slow/stalled.ics",
                               "Content-Type: text/calendar\r\nContent-Length: %d\r\n" %
                               len(body)) + body[:40])
        start = time.monotonic()
        a = read_answer(sock, 8)
        self.assertIsNotNone(a, "a body silent for 8 s got no answer")
        self.assertLess(time.monotonic() - start, 5)
        status, headers, text = a
        self.assertEqual(status, 408, a)
        self.assertIn(b"<A:reason>body-too-slow</A:reason>", text)
        self.assertTrue(is_closed(sock, 5))

    def test_slow_upload_above_min_body_rate_succeeds(self):
        # a guard against an over-eager limit: 3,000 bytes/s for about 2.5 s (two windows
        # and a half) against min_body_rate=1000 is served as usual
        sock = self.connect()
        body = (ICS % ("y" * 7000)).encode()
        sock.sendall(self.head("PUT", "/calendars/alice/slow/steady.ics",
                               "Content-Type: text/calendar\r\nContent-Length: %d\r\n" %
                               len(body)))
        for i in range(0, len(body), 300):
            sock.sendall(body[i:i + 300])
            time.sleep(0.1)
        a = read_answer(sock, 10)
        self.assertIsNotNone(a)
        self.assertEqual(a[0], 201, a)

    def test_idle_connection_outlives_header_timeout(self):
        # header_timeout counts from a request's first byte: a keep-alive connection idle
        # longer than it, then sending a whole request, is served (idle_timeout governs it)
        sock = self.connect()
        sock.sendall(self.head("GET", "/.well-known/caldav"))
        self.assertIsNotNone(read_answer(sock, 10))
        time.sleep(3)
        sock.sendall(self.head("GET", "/.well-known/caldav"))
        a = read_answer(sock, 10)
        self.assertIsNotNone(a, "the idle connection was closed")
        self.assertNotEqual(a[0], 408, a)


class IdleConnectionsTest(ServerTestCase):
    # 4 connections in all (two a worker): 4 idle keep-alive connections leave no room
    CONFIG = ("max_connections = 4\nworkers = 2\nidle_timeout = 120\n"
              "eas_ping_min_heartbeat = 1\neas_provisioning = false\n")

    def setUp(self):
        super().setUp()
        token = base64.b64encode(("alice:" + self.srv.passwords["alice"]).encode()).decode()
        self.request = ("GET /.well-known/caldav HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Authorization: Basic %s\r\n\r\n" % token).encode()

    def fill(self, n):
        """n keep-alive connections, each served once and then left idle."""
        idle = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
            self.addCleanup(s.close)
            s.sendall(self.request)
            self.assertIsNotNone(read_answer(s, 10), "a filler connection was not served")
            idle.append(s)
        return idle

    def new_client_is_served(self):
        start = time.monotonic()
        s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(self.request)
        a = read_answer(s, 8)
        self.assertIsNotNone(a, "a new client waited 8 s behind idle connections")
        # the longest idle connection goes once idle for 1 s, within a 250 ms tick
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(a[0], 301, a)
        return s

    def test_idle_keepalive_connections_make_room_for_a_new_client_issue_14(self):
        idle = self.fill(4)
        time.sleep(0.5)
        self.new_client_is_served()
        self.assertTrue(one_is_closed(idle, 5), "no idle connection was closed")
        self.assertIn("idle connection reclaimed", self.srv.read_log())

    def test_a_begun_request_is_not_reclaimed_as_idle_issue_14(self):
        # a request line sent with the connection, then nothing: not idle, but a request on
        # its way, left to header_timeout (30 s here) even as the oldest connection
        begun = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(begun.close)
        begun.sendall(b"GET /.well-known/caldav HTTP/1.1\r\n")
        time.sleep(1.5)
        idle = self.fill(3)
        time.sleep(0.5)
        self.new_client_is_served()
        self.assertTrue(one_is_closed(idle, 5), "no idle connection was closed")
        self.assertFalse(select.select([begun], [], [], 0)[0], "the begun request was closed")

    def start_ping(self, calendar, device):
        """A Ping of `calendar` (made here) sent on a raw socket, waiting for a change."""
        self.srv.cli("calendar", "add", "alice", calendar, "--displayname", calendar)
        c = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                         device)
        fid = [f["ServerId"] for f in ec.EASClient.folders_of(c.folder_sync("0"))
               if f["DisplayName"] == calendar][0]
        key = c.sync(fid, "0").only().sync_key
        self.assertEqual(c.sync(fid, key, get_changes=True).only().status, 1)
        c.close()
        body = ec.encode(E("N:Ping", E("HeartbeatInterval", "120"),
                           E("Folders", E("Folder", E("Id", fid), E("Class", "Calendar")))))
        ping = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(ping.close)
        ping.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n"
                      "MS-ASProtocolVersion: 14.1\r\n"
                      "Content-Type: application/vnd.ms-sync.wbxml\r\n"
                      "Content-Length: %d\r\n\r\n" % (c.target("Ping"), c.auth_header(),
                                                       len(body))).encode() + body)
        return ping

    def test_header_tricklers_make_room_for_a_new_client_issue_14(self):
        # The server full of connections trickling their headers (a byte every 0.3 s, far
        # inside header_timeout=30 s) and a waiting Ping, no idle connection to close: the
        # slowest trickler is answered 408 header-timeout so that a new client is served at
        # once, and the Ping, whose request is complete, is left alone.
        ping = self.start_ping("trickled", "TRICKLE1")
        time.sleep(0.5)
        stalled = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(stalled.close)
        stalled.sendall(b"GET /.well-known/caldav HTTP/1.1\r\n")  # then nothing: the slowest
        tricklers = []
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
            self.addCleanup(s.close)
            s.sendall(b"GET /.well-known/caldav HTTP/1.1\r\n")
            tricklers.append(s)
        stop = threading.Event()

        def trickle():
            while not stop.wait(0.3):
                for s in tricklers:
                    try:
                        s.sendall(b"X")
                    except OSError:
                        pass

        t = threading.Thread(target=trickle)
        t.start()
        self.addCleanup(t.join)
        self.addCleanup(stop.set)
        time.sleep(0.5)
        self.new_client_is_served()
        a = read_answer(stalled, 5)
        self.assertIsNotNone(a, "the slowest trickler was not answered")
        self.assertEqual(a[0], 408, a)
        self.assertEqual(a[1].get("connection"), "close")
        self.assertIn(b"header-timeout", a[2])
        self.assertTrue(is_closed(stalled, 5))
        for s in tricklers:
            self.assertFalse(select.select([s], [], [], 0)[0], "a faster trickler was closed")
        self.assertFalse(select.select([ping], [], [], 0)[0], "the Ping was answered or closed")
        log = self.srv.read_log()
        self.assertIn("cond=header-timeout reason=server-full", log)
        self.assertIn("addr=127.0.0.1", log)

    def test_a_waiting_ping_is_not_reclaimed_issue_14(self):
        # a suspended ActiveSync Ping is inside a request, not idle: it is never closed to
        # make room, however long it has waited
        self.srv.cli("calendar", "add", "alice", "pings", "--displayname", "Pings")
        c = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                         "SLOWPING1")
        fid = [f["ServerId"] for f in ec.EASClient.folders_of(c.folder_sync("0"))
               if f["DisplayName"] == "Pings"][0]
        key = c.sync(fid, "0").only().sync_key
        self.assertEqual(c.sync(fid, key, get_changes=True).only().status, 1)
        c.close()
        body = ec.encode(E("N:Ping", E("HeartbeatInterval", "120"),
                           E("Folders", E("Folder", E("Id", fid), E("Class", "Calendar")))))
        ping = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        self.addCleanup(ping.close)
        ping.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n"
                      "MS-ASProtocolVersion: 14.1\r\n"
                      "Content-Type: application/vnd.ms-sync.wbxml\r\n"
                      "Content-Length: %d\r\n\r\n" % (c.target("Ping"), c.auth_header(),
                                                       len(body))).encode() + body)
        time.sleep(1.5)  # the Ping is the oldest connection by far
        idle = self.fill(3)
        time.sleep(0.5)
        served = self.new_client_is_served()
        served.close()
        self.assertFalse(select.select([ping], [], [], 0)[0], "the Ping was answered or closed")
        self.assertTrue(one_is_closed(idle, 5), "no idle connection was closed")
        # the Ping still waits, and a write wakes it
        ics = ICS.replace("slow-1", "ping-wake") % "wake"
        r = self.srv.request("PUT", "/calendars/alice/pings/wake.ics", body=ics,
                             headers={"Content-Type": "text/calendar"})
        self.assertEqual(r.status, 201, r)
        a = read_answer(ping, 30)
        self.assertIsNotNone(a, "the Ping got no answer")
        self.assertEqual(a[0], 200, a)
        self.assertEqual(ec.decode(a[2]).findtext("Status"), "2")


if __name__ == "__main__":
    main()
