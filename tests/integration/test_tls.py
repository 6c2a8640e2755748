"""tests/integration/test_tls.py: HTTPS beside plain HTTP (issue 15, item 1). The test makes
its own certificates with openssl, starts almanacd with `tls_listen`, and checks over
Python's ssl module, verifying the server against those certificates: a CalDAV PROPFIND over
HTTPS, TLS 1.1 refused while 1.2 and 1.3 work, certificate files replaced and SIGHUP sent
(a new connection gets the new certificate while a keep-alive connection opened before keeps
working), the plain listener beside it, and start-up errors that name the problem."""

import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import warnings

import easclient as ec
from easclient import E
from harness import ALMANAC, ALMANACD, ServerTestCase, main, propfind_body


def make_store(data):
    """A store with one user, made by the admin CLI (almanacd itself may refuse to create
    one), so that the failures below are the TLS ones."""
    subprocess.run([ALMANAC, "--data", data, "user", "add", "alice", "--password-stdin"],
                   input="pw-alice-secret\n", text=True, check=True, capture_output=True)


def make_cert(dirname, name, cn, key_type="rsa:2048"):
    """A self-signed certificate for localhost and 127.0.0.1; returns (cert, key) paths."""
    cert = os.path.join(dirname, name + ".crt")
    key = os.path.join(dirname, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", key_type, "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def client_context(cafiles, version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for ca in cafiles:
        ctx.load_verify_locations(ca)
    if version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version = version
            ctx.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            # OpenSSL 3 offers TLS 1.1 only at security level 0: this client really asks
            # for it (an s_server with -tls1_1 accepts it), so a refusal is the server's.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


class TlsTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="almanac-tls-")
        cls.cert_a = make_cert(cls.certdir, "a", "almanac-test-a")
        cls.cert_b = make_cert(cls.certdir, "b", "almanac-test-b")
        # The server reads the live files; the test swaps their contents.
        cls.live_cert = os.path.join(cls.certdir, "live.crt")
        cls.live_key = os.path.join(cls.certdir, "live.key")
        shutil.copy(cls.cert_a[0], cls.live_cert)
        shutil.copy(cls.cert_a[1], cls.live_key)
        cls.CONFIG = ("tls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n"
                      % (cls.live_cert, cls.live_key))
        super().setUpClass()
        cls.addClassCleanup(shutil.rmtree, cls.certdir, True)

    def https(self, version=None, cafiles=None):
        ctx = client_context(cafiles or [self.cert_a[0], self.cert_b[0]], version)
        return http.client.HTTPSConnection("localhost", self.srv.tls_port, context=ctx,
                                           timeout=30)

    def auth(self, user="alice"):
        import base64
        tok = base64.b64encode(("%s:%s" % (user, self.srv.passwords[user])).encode()).decode()
        return {"Authorization": "Basic " + tok}

    def propfind(self, conn):
        h = self.auth()
        h.update({"Depth": "0", "Content-Type": "application/xml"})
        conn.request("PROPFIND", "/", body=propfind_body("<D:resourcetype/>"), headers=h)
        r = conn.getresponse()
        return r.status, r.read().decode()

    def peer_der(self, conn):
        return conn.sock.getpeercert(binary_form=True)

    def test_01_propfind_over_https_verified(self):
        conn = self.https(cafiles=[self.cert_a[0]])  # only the served certificate trusted
        status, body = self.propfind(conn)
        self.assertEqual(status, 207, body)
        self.assertIn("<D:collection/>", body)
        self.assertEqual(self.peer_der(conn), der_of(self.cert_a[0]))
        conn.close()
        # the access line is written once the answer has gone out: wait for it
        line = re.compile(r"request id=\d+ addr=127\.0\.0\.1 tls=1 method=PROPFIND path=/ ")
        deadline = time.time() + 10
        while not line.search(self.srv.read_log()):
            self.assertLess(time.time(), deadline, "no access line with addr and tls=1")
            time.sleep(0.05)

    def test_01b_origin_is_https(self):
        conn = self.https()
        conn.request("GET", "/.well-known/caldav", headers=self.auth())
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 301)
        self.assertEqual(r.getheader("Location"), "https://localhost:%d/" % self.srv.tls_port)
        conn.close()

    def test_02_versions(self):
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            with socket.create_connection(("127.0.0.1", self.srv.tls_port), timeout=10) as s:
                ctx = client_context([self.cert_a[0], self.cert_b[0]], version)
                with ctx.wrap_socket(s, server_hostname="localhost") as t:
                    self.assertEqual(t.version(), {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                                   ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version])
        with socket.create_connection(("127.0.0.1", self.srv.tls_port), timeout=10) as s:
            ctx = client_context([self.cert_a[0]], ssl.TLSVersion.TLSv1_1)
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                with ctx.wrap_socket(s, server_hostname="localhost"):
                    pass

    def test_03_plain_listener_beside(self):
        r = self.req("PROPFIND", "/", body=propfind_body("<D:resourcetype/>"),
                     headers={"Depth": "0"})
        self.assertStatus(r, 207)
        # and plain HTTP spoken to the HTTPS port is no request at all
        c = http.client.HTTPConnection("127.0.0.1", self.srv.tls_port, timeout=10)
        with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
            c.request("GET", "/healthz")
            c.getresponse().read()
        c.close()

    def test_04_sighup_swaps_certificate_keeping_connections(self):
        old = self.https()
        status, _ = self.propfind(old)
        self.assertEqual(status, 207)
        self.assertEqual(self.peer_der(old), der_of(self.cert_a[0]))
        # replace the files as certbot does: write new ones, rename over the old
        for src, dst in ((self.cert_b[0], self.live_cert), (self.cert_b[1], self.live_key)):
            shutil.copy(src, dst + ".new")
            os.replace(dst + ".new", dst)
        n_reloads = self.srv.read_log().count("reload tls cert=")
        self.srv.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while self.srv.read_log().count("reload tls cert=") == n_reloads:
            self.assertLess(time.time(), deadline, "no reload line in the log")
            time.sleep(0.05)
        self.assertIn('subject="CN=almanac-test-b"', self.srv.read_log())
        new = self.https()
        status, _ = self.propfind(new)
        self.assertEqual(status, 207)
        self.assertEqual(self.peer_der(new), der_of(self.cert_b[0]))
        new.close()
        # the connection opened before the reload is the same socket, still served
        sock_before = old.sock
        for _ in range(3):
            status, _ = self.propfind(old)
            self.assertEqual(status, 207)
        self.assertIs(old.sock, sock_before)
        self.assertEqual(self.peer_der(old), der_of(self.cert_a[0]))
        old.close()

    def test_05_bad_files_on_reload_keep_the_old_certificate(self):
        current = self.https()
        self.propfind(current)
        served = self.peer_der(current)
        current.close()
        with open(self.live_key) as f:
            good_key = f.read()
        other = make_cert(self.certdir, "c", "almanac-test-c")
        shutil.copy(other[1], self.live_key)  # a key that is not the certificate's
        try:
            n_fail = self.srv.read_log().count("reload tls failed")
            self.srv.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while self.srv.read_log().count("reload tls failed") == n_fail:
                self.assertLess(time.time(), deadline, "no failed reload in the log")
                time.sleep(0.05)
            self.assertIn("does not match the certificate", self.srv.read_log())
            again = self.https()
            status, _ = self.propfind(again)
            self.assertEqual(status, 207)
            self.assertEqual(self.peer_der(again), served)
            again.close()
        finally:
            with open(self.live_key, "w") as f:
                f.write(good_key)


class TlsPingThroughReload(ServerTestCase):
    """An ActiveSync Ping waiting over HTTPS (a suspended TLS connection) outlives a
    certificate reload and is answered on the same connection when its calendar changes; the
    answer closes it (eas_keep_alive = false), and the next connection has the new one."""

    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.mkdtemp(prefix="almanac-tls-ping-")
        cls.cert_a = make_cert(cls.certdir, "a", "almanac-test-a")
        cls.cert_b = make_cert(cls.certdir, "b", "almanac-test-b")
        cls.CONFIG = ("eas_provisioning = false\nheader_timeout = 2\n"
                      "tls_listen = 127.0.0.1:0\ntls_cert = %s\n"
                      "tls_key = %s\n" % (os.path.join(cls.certdir, "live.crt"),
                                          os.path.join(cls.certdir, "live.key")))
        shutil.copy(cls.cert_a[0], os.path.join(cls.certdir, "live.crt"))
        shutil.copy(cls.cert_a[1], os.path.join(cls.certdir, "live.key"))
        super().setUpClass()
        cls.addClassCleanup(shutil.rmtree, cls.certdir, True)

    def test_ping_waits_through_reload(self):
        self.srv.cli("calendar", "add", "alice", "pings", "--displayname", "Pings")
        c = ec.EASClient("127.0.0.1", self.srv.port, "alice", self.srv.passwords["alice"],
                         "TLSPING1")
        fid = [f["ServerId"] for f in ec.EASClient.folders_of(c.folder_sync("0"))
               if f["DisplayName"] == "Pings"][0]
        key = c.sync(fid, "0").only().sync_key
        self.assertEqual(c.sync(fid, key, get_changes=True).only().status, 1)
        body = ec.encode(E("N:Ping", E("HeartbeatInterval", "120"),
                           E("Folders", E("Folder", E("Id", fid), E("Class", "Calendar")))))
        conn = http.client.HTTPSConnection(
            "localhost", self.srv.tls_port, timeout=60,
            context=client_context([self.cert_a[0], self.cert_b[0]]))
        conn.connect()
        self.assertEqual(conn.sock.getpeercert(binary_form=True), der_of(self.cert_a[0]))
        result = {}

        def ping():
            conn.request("POST", c.target("Ping"), body=body,
                         headers={"Authorization": c.auth_header(),
                                  "MS-ASProtocolVersion": "14.1",
                                  "Content-Type": "application/vnd.ms-sync.wbxml"})
            r = conn.getresponse()
            result["ping"] = (r.status, ec.decode(r.read()))
            result["connection"] = r.getheader("Connection")

        t = threading.Thread(target=ping)
        t.start()
        deadline = time.time() + 10
        while "almanac_activesync_pings_waiting 1" not in self.req("GET", "/metrics",
                                                                    auth=False).text:
            self.assertLess(time.time(), deadline, "the Ping did not wait")
            time.sleep(0.05)
        for src, dst in ((self.cert_b[0], "live.crt"), (self.cert_b[1], "live.key")):
            shutil.copy(src, os.path.join(self.certdir, dst))
        self.srv.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while 'subject="CN=almanac-test-b"' not in self.srv.read_log():
            self.assertLess(time.time(), deadline, "no reload")
            time.sleep(0.05)
        self.assertTrue(t.is_alive(), "the reload ended the waiting Ping")
        ics = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
               "UID:tls-wake\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
               "DTEND:20260105T110000Z\r\nSUMMARY:w\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        r = self.req("PUT", "/calendars/alice/pings/w.ics", body=ics,
                     headers={"Content-Type": "text/calendar"})
        self.assertStatus(r, 201)
        t.join(30)
        self.assertFalse(t.is_alive(), "the Ping was not answered")
        status, doc = result["ping"]
        self.assertEqual(status, 200)
        self.assertEqual(doc.findtext("Status"), "2")  # changes in the watched folder
        # the answer closes its connection (eas_keep_alive = false, so that the next Ping
        # waits on a fresh connection); the phone's next connection meets the new certificate
        self.assertEqual((result["connection"] or "").lower(), "close")
        conn.close()
        conn = http.client.HTTPSConnection(
            "localhost", self.srv.tls_port, timeout=60,
            context=client_context([self.cert_a[0], self.cert_b[0]]))
        conn.connect()
        self.assertEqual(conn.sock.getpeercert(binary_form=True), der_of(self.cert_b[0]))
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"ok\n"))
        conn.close()
        c.close()


    def test_slow_headers_closed_without_plaintext(self):
        # header_timeout = 2: the watchdog closes the connection; on plain HTTP it writes a
        # 408 first, which inside a TLS stream would be garbage to the client
        with socket.create_connection(("127.0.0.1", self.srv.tls_port), timeout=10) as s:
            ctx = client_context([self.cert_a[0], self.cert_b[0]])
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                t.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")  # no end
                start = time.monotonic()
                try:
                    data = t.recv(4096)
                except (ssl.SSLEOFError, ConnectionResetError):
                    data = b""
                self.assertEqual(data, b"")
                self.assertLess(time.monotonic() - start, 8)
        deadline = time.time() + 5
        while "slow client closed" not in self.srv.read_log():
            self.assertLess(time.time(), deadline)
            time.sleep(0.05)
        self.assertRegex(self.srv.read_log(), r"slow client closed .*status=408 "
                                              r"cond=header-timeout .*answered=0")


class TlsStartErrors(unittest.TestCase):
    """almanacd refuses to start, exit 1, with a message naming the problem."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="almanac-tls-err-")
        self.cert, self.key = make_cert(self.dir, "a", "almanac-test-a")
        self.other = make_cert(self.dir, "b", "almanac-test-b")
        make_store(os.path.join(self.dir, "data"))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, config):
        path = os.path.join(self.dir, "almanac.conf")
        with open(path, "w") as f:
            f.write(config)
        r = subprocess.run([ALMANACD, "--data", os.path.join(self.dir, "data"), "--listen",
                            "127.0.0.1:0", "--config", path], capture_output=True, text=True,
                           timeout=30)
        return r.returncode, r.stderr

    def test_missing_cert(self):
        missing = os.path.join(self.dir, "nope.crt")
        rc, err = self.start("tls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n"
                             % (missing, self.key))
        self.assertEqual(rc, 1, err)
        self.assertIn("tls_cert %s: cannot open: No such file or directory" % missing, err)

    def test_key_not_matching(self):
        rc, err = self.start("tls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n"
                             % (self.cert, self.other[1]))
        self.assertEqual(rc, 1, err)
        self.assertIn("tls_key %s does not match the certificate in tls_cert %s"
                      % (self.other[1], self.cert), err)

    def test_not_pem(self):
        junk = os.path.join(self.dir, "junk.crt")
        with open(junk, "w") as f:
            f.write("not a certificate\n")
        rc, err = self.start("tls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n"
                             % (junk, self.key))
        self.assertEqual(rc, 1, err)
        self.assertIn("tls_cert %s: no PEM certificate in it" % junk, err)

    def test_unreadable_key(self):
        if os.geteuid() == 0:
            # root reads any file: make the key a directory instead, which no one reads
            bad = os.path.join(self.dir, "dir.key")
            os.mkdir(bad)
        else:
            bad = os.path.join(self.dir, "locked.key")
            shutil.copy(self.key, bad)
            os.chmod(bad, 0)
        rc, err = self.start("tls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n"
                             % (self.cert, bad))
        self.assertEqual(rc, 1, err)
        self.assertRegex(err, r"tls_key %s: cannot (open|read): " % bad)

    def test_cert_without_listener(self):
        rc, err = self.start("tls_cert = %s\ntls_key = %s\n" % (self.cert, self.key))
        self.assertEqual(rc, 1, err)
        self.assertIn("tls_cert/tls_key are set but tls_listen is not", err)

    def test_listener_without_cert(self):
        rc, err = self.start("tls_listen = 127.0.0.1:0\n")
        self.assertEqual(rc, 1, err)
        self.assertIn("tls_listen=127.0.0.1:0 needs tls_cert and tls_key", err)


class TlsOnly(unittest.TestCase):
    """HTTPS alone (`listen` empty), with an ECDSA key: the port file says 0 for plain HTTP."""

    def test_tls_only_ecdsa(self):
        d = tempfile.mkdtemp(prefix="almanac-tls-only-")
        self.addCleanup(shutil.rmtree, d, True)
        cert, key = os.path.join(d, "ec.crt"), os.path.join(d, "ec.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=almanac-test-ec",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        make_store(os.path.join(d, "data"))
        conf = os.path.join(d, "almanac.conf")
        with open(conf, "w") as f:
            f.write("listen =\ntls_listen = 127.0.0.1:0\ntls_cert = %s\ntls_key = %s\n"
                    % (cert, key))
        port_file = os.path.join(d, "port")
        log = open(os.path.join(d, "log"), "w")
        self.addCleanup(log.close)
        proc = subprocess.Popen([ALMANACD, "--data", os.path.join(d, "data"), "--config", conf,
                                 "--port-file", port_file], stdout=log, stderr=log)
        try:
            deadline = time.time() + 20
            while not (os.path.exists(port_file) and os.path.getsize(port_file) > 0):
                self.assertIsNone(proc.poll(), "almanacd exited")
                self.assertLess(time.time(), deadline)
                time.sleep(0.05)
            with open(port_file) as f:
                plain, tls = [int(x) for x in f.read().split()]
            self.assertEqual(plain, 0)
            ctx = client_context([cert])
            c = http.client.HTTPSConnection("localhost", tls, context=ctx, timeout=30)
            c.request("GET", "/healthz")
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, b"ok\n"))
            self.assertEqual(c.sock.version() in ("TLSv1.2", "TLSv1.3"), True)
            c.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=30), 0)


if __name__ == "__main__":
    main()
