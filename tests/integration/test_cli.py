"""calcd's command line, config checking, listening, signals and exit status."""

import os
import re
import signal
import socket
import time
import unittest

from calcd_harness import CALCD_CONF, Daemon, connect, limits_conf, run_calcd, write_file

LOG_LINE_RE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z calcd\[(\d+)\]: (\w+): (.*)$")


def can_bind_v6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


class HelpAndVersion(unittest.TestCase):

    def test_version_short_and_long(self):
        for opt in ("-V", "--version"):
            with self.subTest(opt=opt):
                r = run_calcd([opt])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, r"\d+\.\d+\.\d+", "version number on stdout")
                self.assertNotIn("listening on", r.stderr)

    def test_help_short_and_long(self):
        for opt in ("-h", "--help"):
            with self.subTest(opt=opt):
                r = run_calcd([opt])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertRegex(r.stdout, re.compile(r"usage", re.I), "usage on stdout")
                for flag in ("-c", "-f", "-t", "-l", "-v", "-V", "-h"):
                    self.assertRegex(r.stdout, r"(?<![\w-])%s\b" % re.escape(flag),
                                     "help does not mention %s" % flag)
                self.assertNotIn("listening on", r.stderr)

    def test_unknown_option_exits_1(self):
        for args in (["-Z"], ["--no-such-option"], ["-f", "-c", CALCD_CONF, "--bogus"]):
            with self.subTest(args=args):
                r = run_calcd(args)
                self.assertEqual(r.returncode, 1, "stdout=%r stderr=%r" % (r.stdout, r.stderr))
                self.assertTrue(r.stderr.strip(), "no message on stderr")
                self.assertNotIn("listening on", r.stderr)

    def test_missing_option_argument_exits_1(self):
        for args in (["-c"], ["-f", "-c", CALCD_CONF, "-l"]):
            with self.subTest(args=args):
                r = run_calcd(args)
                self.assertEqual(r.returncode, 1, "stdout=%r stderr=%r" % (r.stdout, r.stderr))
                self.assertTrue(r.stderr.strip(), "no message on stderr")

    def test_bad_listen_argument_exits_1(self):
        for addr in ("127.0.0.1:99999", "127.0.0.1", "127.0.0.1:http", "[::1:0"):
            with self.subTest(listen=addr):
                r = run_calcd(["-f", "-c", CALCD_CONF, "-l", addr])
                self.assertEqual(r.returncode, 1, "stderr=%r" % r.stderr)
                self.assertTrue(r.stderr.strip(), "no message on stderr")
                self.assertNotIn("listening on", r.stderr)


class ConfigCheck(unittest.TestCase):
    """-t: parse only, every error as FILE:LINE: message, exit 0 or 1."""

    def test_shipped_config_is_good(self):
        for opt in ("-t", "--test-config"):
            with self.subTest(opt=opt):
                t0 = time.monotonic()
                r = run_calcd([opt, "-c", CALCD_CONF])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertNotIn("listening on", r.stderr)
                self.assertNotRegex(r.stderr, r"%s:\d+:" % re.escape(CALCD_CONF))
                self.assertLess(time.monotonic() - t0, 5.0)

    def test_long_config_option(self):
        r = run_calcd(["--test-config", "--config", CALCD_CONF])
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_minimal_good_config(self):
        path = write_file("good", "# a comment\n\nlisten = 127.0.0.1:0\nworkers = 2\n"
                                  "log_level = info\n")
        r = run_calcd(["-t", "-c", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("listening on", r.stderr)

    def test_unknown_key(self):
        path = write_file("unknown-key", "# test config\n\nxyz = 1\n")
        r = run_calcd(["-t", "-c", path])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:3: unknown key 'xyz'" % path, r.stderr)
        self.assertNotIn("listening on", r.stderr)

    def test_every_error_is_reported_with_its_line(self):
        path = write_file("errors", "listen = 127.0.0.1:0\n"
                                    "xyz = 1\n"
                                    "# fine\n"
                                    "workers = banana\n"
                                    "abc = 2\n"
                                    "this line has no equals sign\n")
        r = run_calcd(["-t", "-c", path])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:2: unknown key 'xyz'" % path, r.stderr)
        self.assertRegex(r.stderr, r"(?m)^%s:4: .*workers" % re.escape(path))
        self.assertIn("%s:5: unknown key 'abc'" % path, r.stderr)
        self.assertRegex(r.stderr, r"(?m)^%s:6: \S" % re.escape(path))
        self.assertNotRegex(r.stderr, r"(?m)^%s:[13]:" % re.escape(path))

    def test_bad_values(self):
        cases = [("listen = nowhere", "listen"),
                 ("max_connections = -5", "max_connections"),
                 ("idle_timeout = soon", "idle_timeout"),
                 ("log_level = chatty", "log_level")]
        for line, key in cases:
            with self.subTest(line=line):
                path = write_file("bad-value", "# c\n%s\n" % line)
                r = run_calcd(["-t", "-c", path])
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertRegex(r.stderr, r"(?m)^%s:2: .*%s" % (re.escape(path), key))

    def test_missing_config_file(self):
        path = os.path.join(os.path.dirname(write_file("dir", "")), "does-not-exist.conf")
        r = run_calcd(["-t", "-c", path])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(path, r.stderr)

    def test_bad_config_refuses_to_start(self):
        path = write_file("bad-start", "listen = 127.0.0.1:0\nxyz = 1\n")
        r = run_calcd(["-f", "-c", path])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("%s:2: unknown key 'xyz'" % path, r.stderr)
        self.assertNotIn("listening on", r.stderr)


class Listening(unittest.TestCase):

    def test_log_line_format(self):
        with Daemon() as d:
            lines = [l for l in d.err.lines if "listening on" in l]
            self.assertEqual(len(lines), 1, d.stderr_text())
            m = LOG_LINE_RE.match(lines[0])
            self.assertTrue(m, "log line %r does not look like "
                               "'YYYY-MM-DDTHH:MM:SS.mmmZ calcd[PID]: notice: ...'" % lines[0])
            self.assertEqual(int(m.group(1)), d.proc.pid)
            self.assertEqual(m.group(2), "notice")
            self.assertEqual(m.group(3), "listening on 127.0.0.1:%d" % d.port)
            self.assertNotEqual(d.port, 0)

    def test_listen_option_overrides_config(self):
        # The shipped config listens on some address of its own; -l replaces it.
        with Daemon() as d:
            d.assert_alive(self)
            time.sleep(0.3)
            found = [l for l in d.err.lines if "listening on" in l]
            self.assertEqual(found, ["%s" % l for l in found if "127.0.0.1:%d" % d.port in l],
                             d.stderr_text())
            self.assertEqual(len(found), 1, d.stderr_text())

    def test_listen_option_repeatable(self):
        with Daemon(listen=["127.0.0.1:0", "127.0.0.1:0"]) as d:
            self.assertEqual(len(d.addresses), 2)
            ports = {a[2] for a in d.addresses}
            self.assertEqual(len(ports), 2, d.addresses)
            for port in ports:
                with connect(d, port=port) as c:
                    self.assertEqual(c.client.add(port, 1), port + 1)

    def test_config_file_listen(self):
        path = write_file("listen", "listen = 127.0.0.1:0\nworkers = 2\n")
        with Daemon(listen=None, conf=path, expect=1) as d:
            self.assertEqual(d.host, "127.0.0.1")
            d.assert_alive(self)

    def test_verbose_still_serves(self):
        for opt in ("-v", "--verbose"):
            with self.subTest(opt=opt):
                with Daemon(extra_args=[opt]) as d:
                    d.assert_alive(self)

    def test_long_options_start(self):
        d = Daemon(argv=["--foreground", "--config", CALCD_CONF, "--listen", "127.0.0.1:0"],
                   expect=1)
        with d:
            d.assert_alive(self)

    @unittest.skipUnless(can_bind_v6_loopback(), "cannot bind a socket to ::1 on this machine")
    def test_ipv6_loopback(self):
        with Daemon(listen=["[::1]:0"]) as d:
            self.assertEqual(d.family, socket.AF_INET6)
            self.assertEqual(d.host, "::1")
            self.assertIn("listening on [::1]:%d" % d.port, d.stderr_text())
            with connect(d, protocol="compact", transport="framed") as c:
                c.client.ping()
                self.assertEqual(c.client.add(40, 2), 42)
            d.assert_alive(self)

    @unittest.skipUnless(can_bind_v6_loopback(), "cannot bind a socket to ::1 on this machine")
    def test_ipv4_and_ipv6_together(self):
        with Daemon(listen=["127.0.0.1:0", "[::1]:0"]) as d:
            families = sorted(a[0] for a in d.addresses)
            self.assertEqual(families, sorted([socket.AF_INET, socket.AF_INET6]))
            for family, host, port in d.addresses:
                with connect(d, host=host, port=port, family=family) as c:
                    self.assertEqual(c.client.subtract(port, 1), port - 1)


class ExitStatus(unittest.TestCase):

    def _held_port(self):
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        return holder.getsockname()[1]

    def test_port_taken_exits_2(self):
        port = self._held_port()
        r = run_calcd(["-f", "-c", CALCD_CONF, "-l", "127.0.0.1:%d" % port])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(str(port), r.stderr, "the error should name the address")
        self.assertNotIn("listening on 127.0.0.1:%d" % port, r.stderr)

    def test_second_listener_taken_exits_2(self):
        port = self._held_port()
        r = run_calcd(["-f", "-c", CALCD_CONF, "-l", "127.0.0.1:0",
                       "-l", "127.0.0.1:%d" % port])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(str(port), r.stderr)

    def test_sigterm_exits_0(self):
        d = Daemon().start()
        d.assert_alive(self)
        self.assertEqual(d.signal_and_wait(signal.SIGTERM), 0, d.stderr_text())
        self._assert_port_closed(d.port)

    def test_repeated_sigterm_while_stopping_exits_0(self):
        # An impatient operator (or a script) sends SIGTERM again and again:
        # calcd's exit must stay clean, including the last moments, after
        # its signal handling is torn down.  Each round is a fresh calcd;
        # before the fix about half of them died of the signal (-15).
        for attempt in range(10):
            d = Daemon().start()
            self.addCleanup(d.kill)
            d.assert_alive(self)
            deadline = time.monotonic() + 10
            while d.proc.poll() is None and time.monotonic() < deadline:
                try:
                    d.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    break
                time.sleep(0.0005)
            status = d.proc.wait(timeout=10)
            self.assertEqual(status, 0, "round %d: exit status %s; stderr:\n%s"
                             % (attempt, status, d.stderr_text()))

    def test_sigint_exits_0(self):
        d = Daemon().start()
        d.assert_alive(self)
        self.assertEqual(d.signal_and_wait(signal.SIGINT), 0, d.stderr_text())
        self._assert_port_closed(d.port)

    def test_sigterm_with_open_connections_exits_0(self):
        # Open connections are served until shutdown_timeout (test_drain has
        # the details): a short one, so this does not wait 10 s.
        d = Daemon(conf=limits_conf("sigterm-open", shutdown_timeout="1s")).start()
        try:
            idle = connect(d)
            busy = connect(d, transport="framed", protocol="compact")
            self.addCleanup(idle.close)
            self.addCleanup(busy.close)
            idle.client.ping()
            self.assertEqual(busy.client.add(1, 2), 3)
            t0 = time.monotonic()
            rc = d.signal_and_wait(signal.SIGTERM)
            self.assertEqual(rc, 0, d.stderr_text())
            self.assertLess(time.monotonic() - t0, 10.0)
        finally:
            d.kill()

    def test_exit_0_without_any_call(self):
        d = Daemon().start()
        self.assertEqual(d.signal_and_wait(signal.SIGTERM), 0, d.stderr_text())

    def _assert_port_closed(self, port):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            with self.assertRaises(OSError):
                s.connect(("127.0.0.1", port))


if __name__ == "__main__":
    unittest.main(verbosity=2)
