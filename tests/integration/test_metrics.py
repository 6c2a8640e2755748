"""tests/integration/test_metrics.py: watching a running almanacd (issue 15, item 5). /metrics
counts exactly the requests made (by protocol, method and status code), its histograms are
well formed and agree with the counters, it is refused to clients outside metrics_allow or
without metrics_token, and a forged X-Forwarded-For from a peer that is not a trusted proxy
changes nothing; /healthz answers without credentials; every access log line carries the
client address."""

import re
import threading
import time

import easclient as ec
import harness
from harness import ServerTestCase, main, propfind_body

SAMPLE = re.compile(r'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$')


def parse_metrics(text):
    """{(name, frozenset(labels)): value}, checking each line's syntax and the # TYPE lines."""
    out = {}
    types = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
            continue
        if line.startswith("# HELP ") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(re.findall(r'([a-z_]+)="([^"]*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out, types


def event(uid):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
            "DTEND:20260105T110000Z\r\nSUMMARY:m\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % uid)


class MetricsBase(ServerTestCase):
    sent = 0  # requests this class sent; each ends with one access line

    def req(self, *args, **kwargs):
        type(self).sent += 1
        return super().req(*args, **kwargs)

    def settle(self, timeout=10):
        """Waits until every request sent has been counted: the server counts a request, then
        writes its access line, once the answer is out, which may be after the client has
        read it and moved on."""
        deadline = time.time() + timeout
        while self.srv.read_log().count(" info request id=") < self.sent:
            self.assertLess(time.time(), deadline, "requests sent but never logged")
            time.sleep(0.02)

    def metrics(self, headers=None, expect=200):
        self.settle()
        r = self.req("GET", "/metrics", auth=False, headers=headers)
        self.assertStatus(r, expect)
        if expect != 200:
            return r
        self.assertEqual(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        samples, types = parse_metrics(r.text)
        return samples, types

    def wait_log(self, pattern, timeout=10):
        """The access line is written once the answer is out: wait for it."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = rx.search(self.srv.read_log())
            if m:
                return m
            time.sleep(0.05)
        self.fail("no log line matching %r in:\n%s" % (pattern, self.srv.read_log()[-3000:]))


def requests_total(samples, protocol, method, code):
    key = ("almanac_http_requests_total",
           frozenset({("protocol", protocol), ("method", method), ("code", code)}))
    return samples.get(key, 0.0)


def histogram(samples, name, **labels):
    """[(le, cumulative count)], sum, count of one histogram series."""
    base = frozenset(labels.items())
    buckets = []
    for (n, ls), v in samples.items():
        if n == name + "_bucket" and base <= ls:
            le = dict(ls)["le"]
            buckets.append((float("inf") if le == "+Inf" else float(le), v))
    buckets.sort()
    return (buckets, samples[(name + "_sum", base)], samples[(name + "_count", base)])


class MetricsTest(MetricsBase):
    def test_exact_increments_by_protocol_method_and_code(self):
        before, types = self.metrics()
        self.assertEqual(types["almanac_http_requests_total"], "counter")
        self.assertEqual(types["almanac_http_request_duration_seconds"], "histogram")
        for _ in range(3):
            r = self.req("PROPFIND", "/calendars/alice/", headers={"Depth": "0"},
                         body=propfind_body("<D:resourcetype/>"))
            self.assertStatus(r, 207)
        self.assertStatus(self.req("GET", "/calendars/alice/no-such.ics"), 404)
        self.assertStatus(self.req("PROPFIND", "/exchange/alice/", headers={"Depth": "0"},
                                   body=propfind_body("<D:resourcetype/>")), 207)
        self.assertStatus(self.req("PROPFIND", "/calendars/alice/", password="wrong",
                                   headers={"Depth": "0"}), 401)
        after, _ = self.metrics()

        def delta(*key):
            return requests_total(after, *key) - requests_total(before, *key)

        self.assertEqual(delta("caldav", "PROPFIND", "207"), 3)
        self.assertEqual(delta("caldav", "GET", "404"), 1)
        self.assertEqual(delta("exchange", "PROPFIND", "207"), 1)
        self.assertEqual(delta("caldav", "PROPFIND", "401"), 1)
        self.assertEqual(delta("other", "GET", "200"), 1)  # the first scrape
        self.assertEqual(after[("almanac_auth_failures_total", frozenset())] -
                         before[("almanac_auth_failures_total", frozenset())], 1)
        # the caldav histogram counted exactly the caldav requests, in monotone buckets
        b0, s0, c0 = histogram(before, "almanac_http_request_duration_seconds",
                               protocol="caldav")
        b1, s1, c1 = histogram(after, "almanac_http_request_duration_seconds",
                               protocol="caldav")
        self.assertEqual(c1 - c0, 5)
        caldav_total = sum(v for (n, ls), v in after.items()
                           if n == "almanac_http_requests_total" and
                           ("protocol", "caldav") in ls)
        self.assertEqual(c1, caldav_total)
        counts = [v for _, v in b1]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(b1[-1], (float("inf"), c1))
        self.assertGreater(s1, s0)

    def test_store_and_activesync_families(self):
        before, types = self.metrics()
        self.assertStatus(self.req("MKCALENDAR", "/calendars/alice/m/"), 201)
        for i in range(2):
            self.assertStatus(self.req("PUT", "/calendars/alice/m/%d.ics" % i, body=event(
                "metrics-%d" % i), headers={"Content-Type": "text/calendar"}), 201)
        after, _ = self.metrics()
        _, _, commits0 = histogram(before, "almanac_store_commit_duration_seconds")
        buckets, _, commits1 = histogram(after, "almanac_store_commit_duration_seconds")
        self.assertGreaterEqual(commits1 - commits0, 3)  # MKCALENDAR and two PUTs wrote
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(buckets[-1][1], commits1)
        _, _, fsyncs = histogram(after, "almanac_store_fsync_duration_seconds")
        if harness.ENGINE == "postgresql":
            # the engine makes no log fsync of its own: the server's log is durable when
            # COMMIT returns (synchronous_commit = on), and the commit timings include it
            self.assertEqual(fsyncs, 0)
        else:
            self.assertGreaterEqual(fsyncs, 1)
            self.assertLessEqual(fsyncs, commits1)
        self.assertEqual(types["almanac_activesync_pings_waiting"], "gauge")
        self.assertEqual(after[("almanac_activesync_pings_waiting", frozenset())], 0)
        conns = {dict(ls)["state"]: v for (n, ls), v in after.items()
                 if n == "almanac_store_connections"}
        self.assertGreaterEqual(conns["max"], conns["open"])
        self.assertGreaterEqual(conns["open"], conns["in_use"])
        self.assertEqual(after[("almanac_store_fsync_failed", frozenset())], 0)
        # nothing lost, nothing failed to open, on a database that stayed (test_pg_faults
        # shows them counting)
        for name in ("almanac_store_connections_lost_total",
                     "almanac_store_connect_failures_total"):
            self.assertEqual(types[name], "counter")
            self.assertEqual(after[(name, frozenset())], 0)
        # pages the writes read past the writer's cache: counted on SQLite (the first writes
        # of a fresh store read the schema and the tables' pages), never on PostgreSQL
        reads = after[("almanac_store_write_page_reads_total", frozenset())]
        self.assertEqual(types["almanac_store_write_page_reads_total"], "counter")
        if harness.ENGINE == "postgresql":
            self.assertEqual(reads, 0)
        else:
            self.assertGreaterEqual(reads, before[("almanac_store_write_page_reads_total",
                                                   frozenset())])

    def test_healthz_without_credentials(self):
        r = self.req("GET", "/healthz", auth=False)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"ok\n")
        self.assertEqual(r.header("Cache-Control"), "no-store")
        r = self.req("POST", "/healthz", auth=False, body="x")
        self.assertStatus(r, 405)

    def test_access_log_carries_client_address(self):
        r = self.req("PROPFIND", "/calendars/alice/", headers={"Depth": "0", "X-Forwarded-For":
                                                                "203.0.113.9"})
        self.assertStatus(r, 207)
        # no trusted_proxies: the forged header is not the address
        self.wait_log(r"request id=\d+ addr=127\.0\.0\.1 method=PROPFIND "
                      r"path=/calendars/alice/ user=alice status=207")
        self.assertNotIn("addr=203.0.113.9", self.srv.read_log())
        for line in self.srv.read_log().splitlines():
            if " info request id=" in line:
                self.assertRegex(line, r" request id=\d+ addr=\S+ ")


    def test_forwarded_proto_from_untrusted_peer_is_ignored(self):
        r = self.req("GET", "/.well-known/caldav", headers={"X-Forwarded-Proto": "https",
                                                            "Host": "cal.example.org"})
        self.assertStatus(r, 301)
        self.assertEqual(r.header("Location"), "http://cal.example.org/")


class MetricsPing(MetricsBase):
    CONFIG = "eas_provisioning = false\n"

    def test_waiting_ping_is_counted_while_it_waits(self):
        self.srv.cli("calendar", "add", "alice", "pings", "--displayname", "Pings")
        c = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                         "METRICSPING1")
        fid = [f["ServerId"] for f in ec.EASClient.folders_of(c.folder_sync("0"))
               if f["DisplayName"] == "Pings"][0]
        key = c.sync(fid, "0").only().sync_key
        self.assertEqual(c.sync(fid, key, get_changes=True).only().status, 1)
        c.close()
        answers = []

        def ping():
            p = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                             "METRICSPING1")
            answers.append(p.ping(120, [(fid, "Calendar")], timeout=60))
            p.close()

        t = threading.Thread(target=ping)
        t.start()
        gauge = ("almanac_activesync_pings_waiting", frozenset())
        deadline = time.time() + 10
        while True:
            r = super().req("GET", "/metrics", auth=False)  # not settle(): the Ping is open
            samples, _ = parse_metrics(r.text)
            type(self).sent += 1
            if samples[gauge] == 1:
                break
            self.assertLess(time.time(), deadline, "the waiting Ping was never counted")
            time.sleep(0.1)
        in_flight = samples[("almanac_http_requests_in_flight", frozenset())]
        self.assertGreaterEqual(in_flight, 2)  # the Ping and this scrape
        r = self.req("PUT", "/calendars/alice/pings/wake.ics", body=event("ping-wake"),
                     headers={"Content-Type": "text/calendar"})
        self.assertStatus(r, 201)
        t.join(30)
        self.assertFalse(t.is_alive(), "the Ping was not answered")
        self.assertEqual(answers[0].status, 200)
        # the ActiveSync client's requests went around self.req: count what the log has
        # once it stops growing
        n = -1
        while n != self.srv.read_log().count(" info request id="):
            n = self.srv.read_log().count(" info request id=")
            time.sleep(0.3)
        type(self).sent = n
        after, _ = self.metrics()
        self.assertEqual(after[gauge], 0)
        self.assertGreaterEqual(requests_total(after, "activesync", "POST", "200"), 4)


class MetricsRestricted(MetricsBase):
    CONFIG = "metrics_allow = 192.0.2.0/24\n"

    def test_address_outside_allow_is_forbidden(self):
        r = self.metrics(expect=403)
        self.assertIn("metrics-forbidden", r.text)

    def test_forged_forwarded_for_from_untrusted_peer_is_ignored(self):
        r = self.metrics(headers={"X-Forwarded-For": "192.0.2.7"}, expect=403)
        self.assertIn("metrics-forbidden", r.text)
        self.wait_log(r"addr=127\.0\.0\.1 method=GET path=/metrics user=- status=403")


class MetricsToken(MetricsBase):
    CONFIG = "metrics_allow =\nmetrics_token = s3cret-token\n"

    def test_bearer_token(self):
        self.metrics(expect=403)
        self.metrics(headers={"Authorization": "Bearer wrong"}, expect=403)
        self.metrics(headers={"Authorization": "Basic czNjcmV0LXRva2Vu"}, expect=403)
        samples, _ = self.metrics(headers={"Authorization": "Bearer s3cret-token"})
        self.assertIn(("almanac_auth_failures_total", frozenset()), samples)


class MetricsOff(MetricsBase):
    CONFIG = "metrics_allow =\n"

    def test_off_is_not_found(self):
        self.metrics(expect=404)
        self.assertStatus(self.req("GET", "/healthz", auth=False), 200)


class TrustedProxy(MetricsBase):
    CONFIG = ("trusted_proxies = 127.0.0.0/8, 10.0.0.1\nmetrics_allow = 192.0.2.0/24\n"
              "auth_fail_addr_limit = 1\n")

    def test_forwarded_address_from_trusted_proxy(self):
        self.metrics(headers={"X-Forwarded-For": "192.0.2.7"})
        self.wait_log(r"addr=192\.0\.2\.7 method=GET path=/metrics user=- status=200")
        # the right-most untrusted hop counts; trusted hops right of it are skipped
        self.metrics(headers={"X-Forwarded-For": "10.9.9.9, 192.0.2.8, 10.0.0.1"})
        self.wait_log(r"addr=192\.0\.2\.8 method=GET path=/metrics user=- status=200")
        # a client cannot prepend its way in: the right-most untrusted hop is its own
        self.metrics(headers={"X-Forwarded-For": "192.0.2.9, 198.51.100.4"}, expect=403)
        self.wait_log(r"addr=198\.51\.100\.4 method=GET path=/metrics user=- status=403")

    def test_forwarded_proto_https_from_trusted_proxy(self):
        r = self.req("GET", "/.well-known/caldav", headers={"X-Forwarded-Proto": "https",
                                                            "Host": "cal.example.org"})
        self.assertStatus(r, 301)
        self.assertEqual(r.header("Location"), "https://cal.example.org/")

    def test_throttle_keys_on_forwarded_address(self):
        # two failures from one forwarded client: the second waits (auth_fail_addr_limit=1)
        for _ in range(2):
            self.req("PROPFIND", "/calendars/alice/", password="wrong",
                     headers={"Depth": "0", "X-Forwarded-For": "198.51.100.77"})
        r = self.req("PROPFIND", "/calendars/alice/", password="wrong",
                     headers={"Depth": "0", "X-Forwarded-For": "198.51.100.77"})
        self.assertStatus(r, 429)
        # another client behind the same proxy is not delayed
        r = self.req("PROPFIND", "/calendars/alice/", headers={"Depth": "0",
                                                               "X-Forwarded-For": "198.51.100.78"})
        self.assertStatus(r, 207)
        self.assertIn("auth failed addr=198.51.100.77", self.srv.read_log())


if __name__ == "__main__":
    main()
