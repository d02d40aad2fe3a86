"""calcd as a system service: systemd notifications over a fake NOTIFY_SOCKET,
socket activation, SIGHUP reloads (good and bad, with a relative -c),
draining on SIGTERM, journal priorities, and -d: pid_file, its exit status,
reloads after it left the directory, and logging to syslog (a fake /dev/log
in a private mount namespace, where unshare(1) may).  Everything against
the real daemon on 127.0.0.1; every wait is bounded."""

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.environ["CALCD_GEN_PY"])

from thrift.protocol import TBinaryProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

from example.calculator import CalculatorService  # noqa: E402

CALCD = os.environ["CALCD"]
SOCKET_ACTIVATE = os.environ.get("SYSTEMD_SOCKET_ACTIVATE", "")
LISTEN_RE = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
# Built --without-systemd, calcd neither notifies nor takes passed sockets.
WITH_SYSTEMD = os.environ.get("CALCD_HAVE_SYSTEMD", "yes") != "no"
needs_systemd = unittest.skipUnless(WITH_SYSTEMD, "calcd was built --without-systemd")


def read_text(path):
    with open(path) as f:
        return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(port):
    sock = TSocket.TSocket("127.0.0.1", port)
    sock.setTimeout(5000)
    transport = TTransport.TBufferedTransport(sock)
    transport.open()
    return transport, CalculatorService.Client(TBinaryProtocol.TBinaryProtocol(transport))


def add_call(seqid, a, b):
    """A strict binary add call, as raw bytes."""
    args = (b"\x08\x00\x01" + struct.pack(">i", a) + b"\x08\x00\x02" + struct.pack(">i", b)
            + b"\x00")
    return b"\x80\x01\x00\x01" + struct.pack(">i", 3) + b"add" + struct.pack(">i", seqid) + args


def wait_until(predicate, timeout=5.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def scratch_dir(test, prefix):
    """A new directory under /tmp, removed with what is in it when the test
    ends (after the daemons the test started are killed: cleanups run last
    first)."""
    path = tempfile.mkdtemp(prefix=prefix)
    test.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


class Daemon:
    """calcd with stderr in a file and, optionally, a fake NOTIFY_SOCKET."""

    def __init__(self, testcase, conf_text, args=(), env=None, notify=False, relative=False):
        """relative: run in the config's directory with "-c calcd.conf"."""
        self.dir = scratch_dir(testcase, "calcd-svc-")
        self.conf = os.path.join(self.dir, "calcd.conf")
        self.write_conf(conf_text)
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.notify = None
        full_env = dict(os.environ)
        for var in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                    "LISTEN_PID", "JOURNAL_STREAM"):
            full_env.pop(var, None)
        if notify:
            path = os.path.join(self.dir, "notify")
            self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.notify.bind(path)
            self.notify.settimeout(5)
            full_env["NOTIFY_SOCKET"] = path
        full_env.update(env or {})
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([CALCD, "-c", "calcd.conf" if relative else self.conf,
                                      *args], env=full_env, cwd=self.dir if relative else None,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log)
        testcase.addCleanup(self.cleanup)
        self.messages = []

    def write_conf(self, text):
        with open(self.conf, "w") as f:
            f.write(text)

    def stderr(self):
        return read_text(self.log_path)

    def ports(self, timeout=10):
        wait_until(lambda: LISTEN_RE.search(self.stderr()) or self.proc.poll() is not None,
                   timeout)
        return [int(p) for p in LISTEN_RE.findall(self.stderr())]

    def recv(self, timeout=5.0):
        """The next notify datagram, or None after timeout."""
        self.notify.settimeout(timeout)
        try:
            msg = self.notify.recv(4096).decode()
        except socket.timeout:
            return None
        self.messages.append(msg)
        return msg

    def recv_until(self, wanted, timeout=5.0):
        """Datagrams up to and including the first one that is exactly wanted."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if msg is None:
                break
            seen.append(msg)
            if msg == wanted:
                return seen
        raise AssertionError("no %r among %r" % (wanted, seen))

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=10):
        return self.proc.wait(timeout)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()
        if self.notify is not None:
            self.notify.close()


BASE_CONF = "listen = 127.0.0.1:0\nworkers = 2\n"


@needs_systemd
class NotifyTest(unittest.TestCase):
    def test_ready_only_once_listening_then_status(self):
        d = Daemon(self, BASE_CONF, notify=True)
        self.assertEqual(d.recv(10), "READY=1")
        # READY=1 means the port answers now, not later.
        port = d.ports(0.5)[0]
        transport, c = client(port)
        self.assertEqual(c.add(2, 3), 5)
        transport.close()
        status = d.recv(5)
        self.assertTrue(status.startswith("STATUS="), status)
        self.assertIn("127.0.0.1:%d" % port, status)
        d.signal(signal.SIGTERM)
        self.assertIn("STOPPING=1", d.recv_until("STOPPING=1"))
        self.assertEqual(d.wait(), 0)

    def test_reloading_then_ready_around_sighup(self):
        d = Daemon(self, BASE_CONF, notify=True)
        d.recv_until("READY=1", 10)
        d.signal(signal.SIGHUP)
        seen = d.recv_until("READY=1")
        reloading = [m for m in seen if m.startswith("RELOADING=1")]
        self.assertEqual(len(reloading), 1, seen)
        self.assertRegex(reloading[0], r"^RELOADING=1\nMONOTONIC_USEC=\d+$")
        self.assertLess(seen.index(reloading[0]), seen.index("READY=1"))
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)

    def test_watchdog_pings_when_asked(self):
        d = Daemon(self, BASE_CONF, notify=True, env={"WATCHDOG_USEC": "200000"})
        d.recv_until("READY=1", 10)
        pings = 0
        deadline = time.monotonic() + 3
        while pings < 3 and time.monotonic() < deadline:
            if d.recv(1) == "WATCHDOG=1":
                pings += 1
        self.assertGreaterEqual(pings, 3)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)

    def test_no_watchdog_pings_unless_asked(self):
        d = Daemon(self, BASE_CONF, notify=True)
        d.recv_until("READY=1", 10)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            d.recv(0.2)
        self.assertNotIn("WATCHDOG=1", d.messages)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)


@unittest.skipIf(WITH_SYSTEMD, "calcd was built with libsystemd (NotifyTest covers it)")
class WithoutSystemdTest(unittest.TestCase):
    def test_notify_socket_is_ignored_and_calcd_serves(self):
        d = Daemon(self, BASE_CONF, notify=True, env={"WATCHDOG_USEC": "200000"})
        port = d.ports()[0]
        transport, c = client(port)
        self.assertEqual(c.add(2, 3), 5)
        transport.close()
        self.assertIsNone(d.recv(1.0))
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)
        self.assertIsNone(d.recv(0.2))


@needs_systemd
class SocketActivationTest(unittest.TestCase):
    def test_serves_the_socket_systemd_passes(self):
        self.assertTrue(SOCKET_ACTIVATE and os.access(SOCKET_ACTIVATE, os.X_OK),
                        "systemd-socket-activate not found (Debian package systemd)")
        port = free_port()
        conf = os.path.join(scratch_dir(self, "calcd-sa-"), "calcd.conf")
        with open(conf, "w") as f:
            # The configured address must be ignored in favour of the passed socket.
            f.write("listen = 127.0.0.1:1\nworkers = 1\n")
        log = tempfile.TemporaryFile(mode="w+")
        self.addCleanup(log.close)
        proc = subprocess.Popen([SOCKET_ACTIVATE, "-l", "127.0.0.1:%d" % port, CALCD,
                                 "-c", conf], stderr=log, stdout=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(5)))
        transport = None
        deadline = time.monotonic() + 10
        while transport is None and time.monotonic() < deadline:
            try:
                transport, c = client(port)
            except TTransport.TTransportException:
                time.sleep(0.05)
        self.assertIsNotNone(transport, "nothing answers on the activated port")
        self.assertEqual(c.add(40, 2), 42)
        self.assertEqual(c.subtract(40, 2), 38)
        transport.close()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        log.seek(0)
        self.assertIn("listening on 127.0.0.1:%d (from systemd)" % port, log.read())


class ReloadTest(unittest.TestCase):
    def test_bad_config_is_logged_and_the_old_one_stays(self):
        d = Daemon(self, BASE_CONF + "log_level = notice\n")
        port = d.ports()[0]
        transport, c = client(port)
        self.assertEqual(c.add(1, 1), 2)
        d.write_conf(BASE_CONF + "log_level = debug\nbogus_key = 1\n")
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "reload failed" in d.stderr()))
        self.assertIn("%s:4: unknown key 'bogus_key'" % d.conf, d.stderr())
        # Still serving, old connection and new, and log_level stayed notice.
        self.assertEqual(c.add(2, 2), 4)
        transport2, c2 = client(port)
        self.assertEqual(c2.subtract(9, 2), 7)
        transport.close()
        transport2.close()
        self.assertNotIn(": debug: ", d.stderr())
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)

    def test_listen_and_log_level_change_without_dropping_connections(self):
        d = Daemon(self, BASE_CONF)
        old_port = d.ports()[0]
        transport, c = client(old_port)
        self.assertEqual(c.add(1, 2), 3)
        new_port = free_port()
        d.write_conf("listen = 127.0.0.1:0\nlisten = 127.0.0.1:%d\nworkers = 2\n"
                     "log_level = debug\n" % new_port)
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "listening on 127.0.0.1:%d" % new_port
                                   in d.stderr()))
        t2, c2 = client(new_port)
        self.assertEqual(c2.add(5, 5), 10)
        self.assertTrue(wait_until(lambda: ": debug: " in d.stderr()))
        # Drop the first address: it stops answering, its open connection does not.
        d.write_conf("listen = 127.0.0.1:%d\nworkers = 2\n" % new_port)
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "no longer listening on 127.0.0.1:%d" % old_port
                                   in d.stderr()))
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", old_port), timeout=2).close()
        self.assertEqual(c.add(3, 4), 7)
        self.assertEqual(c2.add(3, 5), 8)
        transport.close()
        t2.close()
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)

    def test_unreadable_file_is_logged_by_its_absolute_path(self):
        # Started as "-c calcd.conf" in its directory; the reload names the whole path.
        d = Daemon(self, BASE_CONF, relative=True)
        port = d.ports()[0]
        os.rename(d.conf, d.conf + ".moved")
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "reload failed" in d.stderr()))
        self.assertRegex(d.stderr(), r"(?m)^\S+ calcd\[\d+\]: error: %s: cannot open: No such "
                                     r"file or directory$" % re.escape(d.conf))
        transport, c = client(port)
        self.assertEqual(c.add(2, 2), 4)
        transport.close()
        # Back in place, a relative path still finds it.
        new_port = free_port()
        d.write_conf(BASE_CONF + "listen = 127.0.0.1:%d\n" % new_port)
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "listening on 127.0.0.1:%d" % new_port in d.stderr()))
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)

    def test_limits_apply_to_new_messages(self):
        d = Daemon(self, BASE_CONF)
        port = d.ports()[0]
        d.write_conf(BASE_CONF + "max_message_size = 64\n")
        d.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "configuration reloaded" in d.stderr()))
        time.sleep(0.2)
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        big = b"\x80\x01\x00\x01" + struct.pack(">i", 100) + b"x" * 100
        s.sendall(big)
        self.assertEqual(s.recv(100), b"")   # closed: the string passes 64 bytes
        s.close()
        self.assertTrue(wait_until(lambda: "exceeds max_message_size" in d.stderr()))
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)


class ShutdownTest(unittest.TestCase):
    def test_sigterm_answers_every_request_already_sent(self):
        d = Daemon(self, BASE_CONF + "shutdown_timeout = 5s\n")
        port = d.ports()[0]
        socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(10)]
        time.sleep(0.2)
        for i, s in enumerate(socks):
            s.sendall(b"".join(add_call(k, k, i) for k in range(300)))
        late = socket.create_connection(("127.0.0.1", port), timeout=5)
        call = add_call(9, 20, 22)
        late.sendall(call[:9])           # half a message before the signal ...
        time.sleep(0.2)
        d.signal(signal.SIGTERM)
        time.sleep(0.1)
        late.sendall(call[9:])           # ... and the rest after it
        # calcd serves them on until the clients close (or shutdown_timeout):
        # read the 300 replies (23 bytes each), then close.
        for i, s in enumerate(socks):
            data = b""
            while len(data) < 300 * 23:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertEqual(data.count(b"\x80\x01\x00\x02\x00\x00\x00\x03add"), 300,
                             "connection %d lost replies" % i)
            s.close()
        reply = late.recv(100)
        # ... the reply's last bytes: i32 field 0 = 42, then the struct's stop.
        self.assertEqual(struct.unpack(">i", reply[-5:-1])[0], 42)
        late.close()
        self.assertEqual(d.wait(), 0)
        # calcd exited when the last client closed, not at shutdown_timeout.
        self.assertNotIn("shutdown_timeout is over", d.stderr())

    def test_shutdown_timeout_bounds_a_peer_that_never_finishes(self):
        d = Daemon(self, BASE_CONF + "shutdown_timeout = 500ms\n")
        port = d.ports()[0]
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(add_call(1, 1, 1)[:7])
        time.sleep(0.2)
        started = time.monotonic()
        d.signal(signal.SIGINT)
        self.assertEqual(d.wait(), 0)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("shutdown_timeout", d.stderr())
        s.close()


class LoggingTest(unittest.TestCase):
    def test_journal_lines_carry_priorities(self):
        tmp = scratch_dir(self, "calcd-journal-")
        log_path = os.path.join(tmp, "stderr")
        conf = os.path.join(tmp, "calcd.conf")
        with open(conf, "w") as f:
            f.write(BASE_CONF)
        with open(log_path, "w") as log:
            st = os.fstat(log.fileno())
            env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
            proc = subprocess.Popen([CALCD, "-c", conf], stderr=log, env=env)
            self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(5)))
            self.assertTrue(wait_until(lambda: "listening on" in read_text(log_path), 10))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(10), 0)
        lines = read_text(log_path).splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[0-7]>[a-z]+: ")
        self.assertTrue(any(re.match(r"^<5>notice: listening on 127\.0\.0\.1:\d+$", l)
                            for l in lines), lines)

    def test_plain_stderr_lines_have_timestamps(self):
        d = Daemon(self, BASE_CONF)
        d.ports()
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)
        for line in d.stderr().splitlines():
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z calcd\[\d+\]: "
                             r"(error|warning|notice|info|debug): ")


class DaemonizeTest(unittest.TestCase):
    def test_daemonize_writes_and_removes_pid_file(self):
        tmp = scratch_dir(self, "calcd-daemon-")
        pid_file = os.path.join(tmp, "calcd.pid")
        port = free_port()
        conf = os.path.join(tmp, "calcd.conf")
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:%d\nworkers = 1\npid_file = %s\n" % (port, pid_file))
        result = subprocess.run([CALCD, "-d", "-c", conf], timeout=10,
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        pid = int(read_text(pid_file))
        self.addCleanup(lambda: _kill_quietly(pid))
        os.kill(pid, 0)
        transport, c = client(port)          # listening before the parent returned
        self.assertEqual(c.add(20, 22), 42)
        transport.close()
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_until(lambda: not os.path.exists(pid_file), 10))

    def test_daemonize_reports_a_listen_failure(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            tmp = scratch_dir(self, "calcd-daemon-")
            conf = os.path.join(tmp, "calcd.conf")
            with open(conf, "w") as f:
                f.write("listen = 127.0.0.1:%d\n" % port)
            result = subprocess.run([CALCD, "-d", "-c", conf], timeout=10,
                                    capture_output=True, text=True)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("cannot listen", result.stderr)


SYSLOG_NOTICE = ("calcd: -d closes standard error once calcd is running: logging to syslog "
                 "instead (log_target = syslog says so and silences this)\n")


def answers(port):
    """True if calcd on 127.0.0.1:port adds."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except OSError:
        return False
    transport, c = client(port)
    try:
        return c.add(20, 22) == 42
    finally:
        transport.close()


class DetachedTest(unittest.TestCase):
    """calcd -d: the start-up status and text, reloads after the chdir to /."""

    def start(self, conf_text, cwd=None, conf=None):
        """Run calcd -d -c conf in cwd; the daemon is killed at cleanup."""
        tmp = cwd or scratch_dir(self, "calcd-daemon-")
        pid_file = os.path.join(tmp, "calcd.pid")
        path = os.path.join(tmp, "calcd.conf")
        with open(path, "w") as f:
            f.write(conf_text + "pid_file = %s\n" % pid_file)
        result = subprocess.run([CALCD, "-d", "-c", conf or path], cwd=tmp, timeout=10,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if result.returncode == 0:
            pid = int(read_text(pid_file))
            self.addCleanup(_kill_quietly, pid)
        else:
            pid = None
        return result, pid, path

    def test_relative_config_is_reloaded_after_leaving_the_directory(self):
        port, new_port = free_port(), free_port()
        result, pid, path = self.start("listen = 127.0.0.1:%d\nworkers = 1\n" % port,
                                       conf="calcd.conf")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertTrue(answers(port))
        self.assertFalse(answers(new_port))
        with open(path, "w") as f:
            f.write("listen = 127.0.0.1:%d\nworkers = 1\npid_file = %s\n"
                    % (new_port, os.path.join(os.path.dirname(path), "calcd.pid")))
        os.kill(pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: answers(new_port), 10),
                        "the reload did not open 127.0.0.1:%d" % new_port)
        self.assertTrue(wait_until(lambda: not answers(port), 10))

    def test_log_target_stderr_becomes_syslog_and_says_so_once(self):
        for text, notice in (("", True), ("log_target = stderr\n", True),
                             ("log_target = syslog\n", False)):
            with self.subTest(conf=text):
                port = free_port()
                result, pid, _ = self.start("listen = 127.0.0.1:%d\nworkers = 1\n%s"
                                            % (port, text))
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(result.stderr.count(SYSLOG_NOTICE), 1 if notice else 0,
                                 result.stderr)
                self.assertTrue(answers(port))
                os.kill(pid, signal.SIGTERM)

    def test_start_up_failures_still_reach_stderr(self):
        # Before calcd is up, stderr is still the starter's: it says why, and exits 2.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            result, _, _ = self.start("listen = 127.0.0.1:%d\n" % taken.getsockname()[1])
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn(SYSLOG_NOTICE, result.stderr)
        self.assertRegex(result.stderr, r"calcd\[\d+\]: error: cannot listen, exiting")

    def test_pid_file_failure_exits_1(self):
        missing = os.path.join(scratch_dir(self, "calcd-daemon-"), "no", "calcd.pid")
        tmp = scratch_dir(self, "calcd-daemon-")
        conf = os.path.join(tmp, "calcd.conf")
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:0\nworkers = 1\npid_file = %s\n" % missing)
        result = subprocess.run([CALCD, "-d", "-c", conf], timeout=10, stdin=subprocess.DEVNULL,
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("error: pid_file %s: No such file or directory" % missing, result.stderr)


def private_dev_log_command(sock_path):
    """A command prefix that runs what follows with sock_path as /dev/log, in
    a private mount namespace; None where this cannot be done here."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return None
    target = os.path.realpath("/dev/log")
    cover = os.path.dirname(target)
    while not os.path.isdir(cover):
        cover = os.path.dirname(cover)
    if not os.path.exists(target) and cover in ("/", "/dev", "/proc", "/sys", "/tmp"):
        return None     # a tmpfs there would hide what calcd or the test needs
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    if probe.returncode != 0:
        return None
    script = ('set -e\n'
              'if [ ! -e "$1" ]; then mount -t tmpfs calcd-test "$2"; mkdir -p "${1%/*}";'
              ' : > "$1"; fi\n'
              'mount --bind "$3" "$1"\n'
              'shift 3\n'
              'exec "$@"\n')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            target, cover, sock_path]


class SyslogTest(unittest.TestCase):
    def test_detached_calcd_logs_to_syslog(self):
        tmp = scratch_dir(self, "calcd-syslog-")
        sock_path = os.path.join(tmp, "dev-log")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(sock_path)
        sock.settimeout(0.2)
        prefix = private_dev_log_command(sock_path)
        if prefix is None:
            self.skipTest("no private mount namespace here (needs root and unshare)")
        pid_file = os.path.join(tmp, "calcd.pid")
        conf = os.path.join(tmp, "calcd.conf")
        port = free_port()
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:%d\nworkers = 1\npid_file = %s\n" % (port, pid_file))
        result = subprocess.run(prefix + [CALCD, "-d", "-c", "calcd.conf"], cwd=tmp, timeout=10,
                                stdin=subprocess.DEVNULL, capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(SYSLOG_NOTICE, result.stderr)
        pid = int(read_text(pid_file))
        self.addCleanup(_kill_quietly, pid)
        self.assertTrue(answers(port))

        lines = []

        def logged(pattern):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if any(re.search(pattern, l) for l in lines):
                    return True
                try:
                    lines.append(sock.recv(4096).decode(errors="replace"))
                except socket.timeout:
                    pass
            return False

        # The file is gone: the reload's error names it by its absolute path.
        os.rename(conf, conf + ".moved")
        os.kill(pid, signal.SIGHUP)
        self.assertTrue(logged(r"reload failed"), lines)
        # <27>: facility daemon (3), priority error (3).
        self.assertTrue(any(re.match(r"^<27>.*calcd\[%d\]: error: %s: cannot open: No such "
                                     r"file or directory$" % (pid, re.escape(conf)), l)
                            for l in lines), lines)
        self.assertTrue(any(re.match(r"^<29>.*calcd\[%d\]: notice: received SIGHUP" % pid, l)
                            for l in lines), lines)
        self.assertTrue(answers(port))
        os.kill(pid, signal.SIGTERM)
        self.assertTrue(logged(r"notice: received SIGTERM"), lines)
        self.assertTrue(wait_until(lambda: not os.path.exists(pid_file), 10))


def _kill_quietly(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    unittest.main()
