"""tests/integration/test_server.py: almanacd's command line and signals: --print-config,
bad flags and config files refused with a message, SIGHUP reloads and keeps serving, SIGTERM
drains an in-flight request and exits 0 (the harness asserts the exit)."""

import os
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import ALMANACD, Server, main


def wait_for(predicate, timeout=10.0):
    """Polls instead of sleeping a fixed time: CI machines are slow and busy."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def run(*args):
    return subprocess.run([ALMANACD, *args], capture_output=True, text=True, timeout=30)


class CommandLineTest(unittest.TestCase):
    def test_print_config_lists_every_key_with_its_doc(self):
        r = run("--print-config", "--workers", "3")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("workers = 3  # ", r.stdout)
        for key in ("listen", "data_dir", "xml_max_body", "max_resource_size",
                    "xml_max_depth", "auth_cache_ttl"):
            self.assertRegex(r.stdout, r"(?m)^%s = " % key)

    def test_config_file_values_and_flag_override(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("# comment\n[limits]\nxml_max_depth = 32\nworkers = 7\n")
        try:
            r = run("--config", f.name, "--workers", "2", "--print-config")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("xml_max_depth = 32", r.stdout)
            self.assertIn("workers = 2", r.stdout)
        finally:
            os.unlink(f.name)

    def test_bad_config_key_names_file_and_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write("workers = 2\nno_such_key = 1\n")
        try:
            r = run("--config", f.name, "--print-config")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(":2:", r.stderr)
            self.assertIn("no_such_key", r.stderr)
        finally:
            os.unlink(f.name)

    def test_out_of_bounds_value_is_refused(self):
        r = run("--workers", "0", "--print-config")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("workers", r.stderr)

    def test_bad_listen_address_fails_to_start(self):
        d = tempfile.mkdtemp()
        r = run("--listen", "nonsense", "--data", d)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("listen", r.stderr)

    def test_unknown_flag_is_a_usage_error(self):
        r = run("--frobnicate", "1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage", r.stderr)


class SignalTest(unittest.TestCase):
    def test_sighup_reloads_and_keeps_serving(self):
        srv = Server(users=("alice",))
        try:
            srv.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: "reload" in srv.read_log()))
            r = srv.request("PROPFIND", "/calendars/alice/", headers={"Depth": "0"})
            self.assertEqual(r.status, 207)
        finally:
            srv.stop()

    def test_sigterm_lets_an_in_flight_upload_finish(self):
        srv = Server(users=("alice",))
        result = {}

        def slow_put():
            def body():
                for _ in range(10):
                    yield b"x" * 1000
                    time.sleep(0.1)
            result["r"] = srv.request("PUT", "/calendars/alice/slow.bin", body=body())

        t = threading.Thread(target=slow_put)
        try:
            t.start()
            time.sleep(0.3)
            srv.proc.send_signal(signal.SIGTERM)
            t.join(timeout=30)
            self.assertEqual(srv.proc.wait(timeout=30), 0)
            self.assertEqual(result["r"].status, 201)
        finally:
            srv.stop()  # also when an assertion failed: never leave a server behind

    def test_request_log_has_one_line_per_request(self):
        srv = Server(users=("alice",))
        try:
            srv.request("PROPFIND", "/calendars/alice/", headers={"Depth": "0"})
            srv.request("GET", "/calendars/alice/none")

            def lines():
                return [l for l in srv.read_log().splitlines() if " request id=" in l]
            self.assertTrue(wait_for(lambda: len(lines()) >= 2))
            lines = lines()
            self.assertEqual(len(lines), 2)
            # each request logs at completion, so two quick ones may log in either order
            text = "\n".join(lines)
            self.assertRegex(text, r"method=PROPFIND path=/calendars/alice/ user=alice "
                                   r"status=207 .*bytes_out=\d+ ms=[\d.]+")
            self.assertRegex(text, r"method=GET path=/calendars/alice/none .*status=404 "
                                   r"cond=not-found")
            self.assertNotIn("pw-alice", srv.read_log())
        finally:
            srv.stop()


if __name__ == "__main__":
    main()
