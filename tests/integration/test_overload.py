"""Admission under pressure: no flood of connections locks a real client out.

calcd runs under a lowered open-file limit (prlimit --nofile=256:256), so it
can keep only a couple of hundred connections.  One peer, 127.0.0.2 (all of
127/8 is loopback on Linux), opens more connections than that and holds them:
half idle, half having sent the first bytes of a frame.  While they are held:

- a new client from 127.0.0.1 is served within a second (a liveness bound: a
  connection calcd did not accept would wait for the kernel's SYN retry);
- clients connected before the flood, calling in a loop, see no error, and an
  idle one from 127.0.0.1 is not closed: the flood's peer holds more;
- calcd uses almost no CPU while the flood is merely held;
- the log has one aggregated shed line a second at most, naming 127.0.0.2;
- once the flood closes, calcd's descriptors return to their baseline.

Twice: with max_connections = auto (derived from the limit: calcd sheds at
max_connections and accept never fails), and with max_connections set far
above what the limit allows (accept itself fails with EMFILE: calcd gives up
its reserve descriptor to accept, sheds, and must neither spin nor spam the
log nor lose its listener).
"""

import os
import re
import select
import shutil
import socket
import struct
import threading
import time
import unittest
import urllib.request

from calcd_harness import (Daemon, DaemonTestCase, connect, limits_conf, wait_fds_settled, log_mark,
                           proc_cpu_seconds, proc_fd_count, server_side_closed, wait_log)

NOFILE = 256                 # calcd's open-file limit, soft and hard
FLOOD_PEER = "127.0.0.2"
SERVED_WITHIN = 1.0          # seconds, for a new client while the flood is held
HOLD = 3.0                   # seconds the flood is held while calcd's CPU is measured
MAX_HOLD_CPU = 0.5           # seconds of CPU calcd may use meanwhile
BUSY_CLIENTS = 3
BUSY_PAUSE = 0.05            # between a busy client's calls
SETTLE_QUIET = 1.0           # the flood has settled once no socket closed for this long
SETTLE_LIMIT = 20.0          # ... or this long has passed
# The first bytes of a framed message: a 4-byte length (100), then 1 byte of it.
PARTIAL_FRAME = struct.pack(">i", 100) + b"\x80"
SHED_LINE = (r"shed (\d+) connections? in the last second to admit new ones "
             r"\((\d+) idle, (\d+) partial\)")


class BusyClient(threading.Thread):
    """A client from 127.0.0.1 calling add in a loop until stopped (bounded in
    count and time); every error is kept."""

    MAX_CALLS = 5000
    MAX_SECONDS = 120.0

    def __init__(self, daemon, index):
        super().__init__(name="busy-%d" % index, daemon=True)
        self.conn = connect(daemon, "framed", "binary")
        self.index = index
        self.stop_event = threading.Event()
        self.calls = 0
        self.errors = []

    def run(self):
        deadline = time.monotonic() + self.MAX_SECONDS
        try:
            while (not self.stop_event.is_set() and self.calls < self.MAX_CALLS
                   and time.monotonic() < deadline):
                got = self.conn.client.add(self.index, self.calls)
                if got != self.index + self.calls:
                    self.errors.append("add(%d, %d) returned %r"
                                       % (self.index, self.calls, got))
                    return
                self.calls += 1
                self.stop_event.wait(BUSY_PAUSE)
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            self.errors.append("after %d calls: %r" % (self.calls, e))

    def finish(self):
        self.stop_event.set()
        self.join(10)
        self.conn.close()


class Flood:
    """n connections from FLOOD_PEER, every other one having sent PARTIAL_FRAME;
    tracks which of them calcd has closed."""

    def __init__(self, port, n):
        self.socks = []
        self.closed = set()
        self.poller = select.poll()
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            s.bind((FLOOD_PEER, 0))
            s.connect(("127.0.0.1", port))
            self.socks.append(s)
            self.poller.register(s.fileno(), select.POLLIN)
            if i % 2:
                try:
                    s.sendall(PARTIAL_FRAME)
                except (BrokenPipeError, ConnectionResetError):
                    pass    # already shed: noticed by poll below
        self.by_fd = {s.fileno(): s for s in self.socks}

    def poll(self, timeout_ms):
        """Note the sockets calcd closed; how many are closed so far."""
        for fd, _ in self.poller.poll(timeout_ms):
            self.poller.unregister(fd)
            try:
                data = self.by_fd[fd].recv(64)
            except (ConnectionResetError, socket.timeout):
                data = b""
            if data:
                raise AssertionError("calcd sent %r to a flood connection" % data)
            self.closed.add(fd)
        return len(self.closed)

    def settle(self):
        """Wait until calcd has taken in the whole flood (no socket closed for
        SETTLE_QUIET); returns how many it closed."""
        deadline = time.monotonic() + SETTLE_LIMIT
        last_change = time.monotonic()
        count = self.poll(0)
        while time.monotonic() < deadline:
            now = self.poll(100)
            if now != count:
                count, last_change = now, time.monotonic()
            elif time.monotonic() - last_change >= SETTLE_QUIET:
                break
        return count

    def close(self):
        for s in self.socks:
            s.close()


def expected_limits():
    """The open-file limits calcd may see under prlimit --nofile=NOFILE:
    NOFILE itself, or (CALCD_UNDER_VALGRIND=1, .ci/valgrind) what valgrind
    leaves it after keeping the top few descriptors for itself (12 in
    valgrind 3.19: 244; the kernel's limit stays NOFILE)."""
    if os.environ.get("CALCD_UNDER_VALGRIND") == "1":
        return range(NOFILE - 32, NOFILE + 1)
    return [NOFILE]


class OverloadCase(DaemonTestCase):
    """One calcd under prlimit --nofile=NOFILE:NOFILE per class (the base
    class stops it, and fails a test after which it is dead)."""

    conf = {}
    FLOOD = 400

    @classmethod
    def setUpClass(cls):
        prlimit = shutil.which("prlimit")
        if prlimit is None:
            raise AssertionError("prlimit not found: install the Debian package util-linux")
        keys = dict(workers=2, idle_timeout="120s", message_timeout="120s",
                    shutdown_timeout="2s")
        keys.update(cls.conf)
        cls.daemon = Daemon(conf=limits_conf("overload", **keys))
        cls.daemon.args = [prlimit, "--nofile=%d:%d" % (NOFILE, NOFILE)] + cls.daemon.args
        cls.daemon.start()
        # Warm up both workers before the baseline.
        for _ in range(4):
            with connect(cls.daemon) as c:
                assert c.client.add(1, 2) == 3
        # The baseline once calcd has closed them (after the client: else it counts one).
        deadline = time.monotonic() + 10
        while (server_side_closed(cls.daemon.host, cls.daemon.port) is False
               and time.monotonic() < deadline):
            time.sleep(0.02)
        time.sleep(0.3)
        cls.fd_base = proc_fd_count(cls.daemon.proc.pid)

    def fds(self):
        return proc_fd_count(self.daemon.proc.pid)

    def lines_since(self, mark):
        with self.daemon.err.cond:
            return list(self.daemon.err.lines[mark:])

    def wait_fd_base(self):
        """Back at the baseline, with every connection accepted (the flood's
        last ones may still wait in the accept queue: see wait_fds_settled)."""
        backlog, fds = wait_fds_settled(self.daemon, self.daemon.proc.pid, self.fd_base)
        self.assertFalse(backlog, "%s connection(s) calcd did not accept" % backlog)
        self.assertEqual(fds, self.fd_base, "calcd's descriptors did not return to their "
                         "baseline")

    def served(self, label):
        """A new client from 127.0.0.1 makes a call; returns how long it took."""
        t0 = time.monotonic()
        with connect(self.daemon, "buffered", "binary") as c:
            self.assertEqual(c.client.add(20, 22), 42, label)
        return time.monotonic() - t0

    def run_flood(self):
        """The whole scenario; returns (flood, closed after settling, log mark)."""
        mark = log_mark(self.daemon)
        idle = connect(self.daemon, "buffered", "compact")
        self.addCleanup(idle.close)
        self.assertEqual(idle.client.add(2, 3), 5)
        busy = [BusyClient(self.daemon, i) for i in range(BUSY_CLIENTS)]
        for b in busy:
            self.addCleanup(b.finish)
            b.start()
        t_start = time.monotonic()
        flood = Flood(self.daemon.port, self.FLOOD)
        self.addCleanup(flood.close)
        closed = flood.settle()
        self.assertGreater(closed, 0, "calcd closed none of %d flood connections" % self.FLOOD)
        self.assertLessEqual(self.fds(), NOFILE)

        # Held: calcd idles.
        cpu0 = proc_cpu_seconds(self.daemon.proc.pid)
        time.sleep(HOLD)
        cpu = proc_cpu_seconds(self.daemon.proc.pid) - cpu0
        self.assertLess(cpu, MAX_HOLD_CPU, "calcd used %.2f s of CPU in %.0f s while the flood "
                        "was merely held" % (cpu, HOLD))

        # A new client from another address is served, promptly.
        took = self.served("new client during the flood")
        self.assertLess(took, SERVED_WITHIN, "a new client took %.2f s to be served during the "
                        "flood" % took)
        # ... by closing one flood connection, not one of 127.0.0.1's.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and flood.poll(100) == closed:
            pass
        self.assertEqual(flood.poll(200), closed + 1,
                         "admitting one client did not close exactly one flood connection")
        self.assertEqual(idle.client.add(3, 4), 7, "the idle client from 127.0.0.1 was closed")
        for b in busy:
            b.finish()
            self.assertEqual(b.errors, [], "busy client %d: %s" % (b.index, b.errors))
            self.assertGreater(b.calls, 10, "busy client %d made only %d calls"
                               % (b.index, b.calls))

        # The shed log: aggregated, naming the flood's peer.
        m = wait_log(self.daemon, SHED_LINE + r".*most from 127\.0\.0\.2 \(\d+\)", 3.0, mark)
        self.assertIsNotNone(m, "no shed line naming %s; log:\n%s" % (FLOOD_PEER, self.log_tail()))
        time.sleep(1.2)     # the last second's line
        lines = [l for l in self.lines_since(mark) if re.search(SHED_LINE, l)]
        seconds = time.monotonic() - t_start
        self.assertLessEqual(len(lines), seconds + 2,
                             "%d shed lines in %.0f s:\n%s" % (len(lines), seconds,
                                                               "\n".join(lines)))
        total = sum(int(re.search(SHED_LINE, l).group(1)) for l in lines)
        self.assertEqual(total, closed + 1, "the shed lines count %d, calcd closed %d:\n%s"
                         % (total, closed + 1, "\n".join(lines)))

        # The flood ends: every descriptor it took comes back.
        flood.close()
        idle.close()
        self.wait_fd_base()
        for i in range(5):
            self.served("after the flood (%d)" % i)
        return flood, closed, mark


class FloodAtMaxConnections(OverloadCase):
    """max_connections = auto: derived from the limit, so accept never fails."""

    def test_flood_from_one_peer(self):
        m = wait_log(self.daemon, r"max_connections = auto: (\d+) \(the open-file limit, "
                     r"(\d+), less (\d+) descriptors", 0.1)
        self.assertIsNotNone(m, "no max_connections = auto line; log:\n" + self.log_tail())
        capacity, limit, reserved = int(m.group(1)), int(m.group(2)), int(m.group(3))
        self.assertIn(limit, expected_limits())
        self.assertEqual(capacity + reserved, limit)
        self.assertEqual(reserved, 137 + 5 * 2, "calcd.conf(5) says 137 + 5 x workers")
        self.assertGreater(self.FLOOD, capacity)
        flood, closed, mark = self.run_flood()
        # calcd held exactly max_connections: the flood's, the busy and the idle clients.
        held = self.FLOOD - closed + BUSY_CLIENTS + 1
        self.assertEqual(held, capacity, "calcd held %d connections, max_connections is %d"
                         % (held, capacity))
        self.assertEqual([l for l in self.lines_since(mark) if "accept" in l], [],
                         "accept failed although max_connections fits the limit")


# Not under valgrind: there, an accept that runs out of descriptors loses the
# connection, which the kernel never does; calcd cannot see or undo it.
# Valgrind keeps the top N_RESERVED_FDS (12) descriptors of the real limit for
# itself: under prlimit --nofile=256:256 the kernel's limit stays 256
# (/proc/PID/limits), calcd's getrlimit says 244, and valgrind's own files
# (its log, its pipes) sit at 244-255.  Once calcd holds 0-243, the kernel's
# accept4 does not fail: it takes the connection off the backlog and returns
# a free descriptor of valgrind's band (e.g. 251).  Valgrind's wrapper
# (ML_(generic_POST_sys_accept): fd_allowed() refuses a new fd at or above its
# limit) then closes it, which resets the client, and returns EMFILE; its log
# says "Warning: invalid file descriptor 251 in syscall accept()" each time.
# Without valgrind accept4 fails with EMFILE and leaves the connection queued,
# and calcd's reserve descriptor takes it.  So under valgrind any connection
# arriving while calcd is full (the new client here, a flood one) may be reset
# before calcd knew of it.  Seen 2026-11-30: 117 such warnings in one run,
# the new client reset.  FloodAtMaxConnections (accept never fails) does run
# under valgrind.
@unittest.skipIf(os.environ.get("CALCD_UNDER_VALGRIND") == "1",
                 "valgrind closes a connection accept4 took into a descriptor of its own "
                 "reserved band and fakes EMFILE (the kernel leaves it queued): clients are "
                 "reset before calcd sees them; see the comment above the class")
class FloodOutOfDescriptors(OverloadCase):
    """max_connections far above what the limit allows: accept fails (EMFILE)."""

    conf = dict(max_connections=5000)

    def test_flood_from_one_peer(self):
        m = wait_log(self.daemon, r"max_connections is 5000 but the open-file limit is (\d+)",
                     0.1)
        self.assertIsNotNone(m, "no warning at start; log:\n" + self.log_tail())
        self.assertIn(int(m.group(1)), expected_limits())
        t_start = time.monotonic()
        flood, closed, mark = self.run_flood()
        seconds = time.monotonic() - t_start
        accept_lines = [l for l in self.lines_since(mark) if "accept" in l]
        self.assertTrue(any("Too many open files" in l for l in accept_lines),
                        "accept never failed: the limit was not reached; log:\n"
                        + self.log_tail())
        self.assertLessEqual(len(accept_lines), seconds + 1,
                             "%d accept lines in %.0f s:\n%s"
                             % (len(accept_lines), seconds, "\n".join(accept_lines)))


def add_call(seqid, a, b):
    """A strict binary add(a, b), unframed."""
    return (struct.pack(">iI", -0x7fff0000 | 1, 3) + b"add" + struct.pack(">i", seqid)
            + struct.pack(">bhi", 8, 1, a) + struct.pack(">bhi", 8, 2, b) + b"\x00")


class AllBusy(unittest.TestCase):
    """When every connection is busy (its replies not taken), nothing may be
    closed: a new connection is refused, once every worker has looked."""

    def stuck_reader(self, port):
        """A connection that sends calls and reads no reply, until calcd stops
        reading from it (its replies fill max_output_buffer and the sockets)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.connect(("127.0.0.1", port))
        self.addCleanup(s.close)
        s.setblocking(False)
        chunk = b"".join(add_call(i, i, 1) for i in range(2000))
        sent, last_progress, deadline = 0, time.monotonic(), time.monotonic() + 30
        while time.monotonic() - last_progress < 1.0 and time.monotonic() < deadline:
            off = sent % len(chunk)     # whole calls only: go on where the last send stopped
            try:
                n = s.send(chunk[off:])
            except BlockingIOError:
                select.select([], [s], [], 0.1)
                continue
            sent += n
            last_progress = time.monotonic()
        self.assertLess(time.monotonic(), deadline, "calcd kept reading %d bytes of calls "
                        "with no reply taken" % sent)
        return s

    def test_refused_when_every_connection_is_busy(self):
        conf = limits_conf("busy", workers=2, max_connections=2, max_output_buffer="4K",
                           idle_timeout="60s", message_timeout="60s", shutdown_timeout="1s",
                           metrics_listen="127.0.0.1:0")
        with Daemon(conf=conf) as d:
            stuck = [self.stuck_reader(d.port) for _ in range(2)]
            mark = log_mark(d)
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
            self.addCleanup(s.close)
            try:
                s.sendall(add_call(1, 2, 3))
                data = s.recv(64)
            except ConnectionResetError:
                data = b""
            self.assertEqual(data, b"", "a third connection was served with max_connections = 2 "
                             "and both connections busy")
            self.assertIsNotNone(
                wait_log(d, r"refused 1 new connection in the last second: calcd is full and "
                         r"every connection was busy; most from 127\.0\.0\.1 \(1\)", 3.0, mark),
                "no refusal line; log:\n" + d.stderr_text())
            self.assertIsNone(wait_log(d, r"shed \d", 0.1, mark), "a busy connection was shed")
            # Once one has taken its replies it may be closed (idle, or partial: the
            # last call it sent may be cut short), and a new connection gets in.
            reader = stuck[0]
            reader.setblocking(True)
            reader.settimeout(0.5)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if not reader.recv(1 << 20):
                        break
                except socket.timeout:
                    break
            with connect(d) as c:
                self.assertEqual(c.client.add(20, 22), 42)
            self.assertIsNotNone(wait_log(d, r"shed 1 connection in the last second to admit "
                                          r"new ones \([01] idle, [01] partial\)", 3.0, mark),
                                 "no shed line; log:\n" + d.stderr_text())
            # The metrics say the same: one closed as refused (limit), one shed.
            m = wait_log(d, r"serving metrics on http://([0-9.]+:\d+)/metrics", 0.1)
            self.assertIsNotNone(m, "no metrics endpoint; log:\n" + d.stderr_text())
            with urllib.request.urlopen("http://%s/metrics" % m.group(1), timeout=5) as r:
                text = r.read().decode()
            for reason in ("limit", "shed"):
                self.assertRegex(text, r'(?m)^calcd_connections_closed_total\{reason="%s"\} 1$'
                                 % reason)
            self.assertRegex(text, r"(?m)^calcd_connections_accepted_total 4$")


if __name__ == "__main__":
    unittest.main()
