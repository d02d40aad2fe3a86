"""Stopping calcd (SIGTERM): the graceful stop of issue 13 and issue 11's defect 2.

On SIGTERM calcd closes its listeners at once, goes on serving the
connections it has until their clients close them, and when
shutdown_timeout runs out answers what each remaining connection has
received, shuts its sending side and reads and drops what comes until the
client closes (at most CONN_LINGER_MS, 2 s): never closing a socket with
unread input, whose RST would destroy replies the client has not read yet.

Every case uses raw sockets and strict binary `add` calls whose replies
have a fixed size, so a reply stream can be checked call by call: every
seqid in order and every sum right.  Every wait is bounded.
"""

import errno
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest

from calcd_harness import Daemon, limits_conf, log_mark, wait_log

SOCKET_TIMEOUT = 10.0
REPLY_LEN = 23     # "\x80\x01\x00\x02", len 3, "add", seqid, i32 field 0, STOP


CALL_LEN = 30      # add_call's size
REPLY_TEMPLATE = (b"\x80\x01\x00\x02\x00\x00\x00\x03add" + b"\0" * 4 + b"\x08\x00\x00"
                  + b"\0" * 4 + b"\x00")


def add_call(seqid, a, b):
    """A strict binary add(a, b) call with seqid, as raw bytes (CALL_LEN)."""
    args = (b"\x08\x00\x01" + struct.pack(">i", a) + b"\x08\x00\x02" + struct.pack(">i", b)
            + b"\x00")
    return b"\x80\x01\x00\x01" + struct.pack(">i", 3) + b"add" + struct.pack(">i", seqid) + args


def calls(count, first=1):
    """count add calls: seqid n adds n and 1."""
    template = add_call(0, 0, 1)
    out = bytearray(template * count)
    for i in range(count):
        n = first + i
        struct.pack_into(">i", out, i * CALL_LEN + 11, n)     # seqid
        struct.pack_into(">i", out, i * CALL_LEN + 18, n)     # a
    return bytes(out)


def replies(count, first=1):
    """The replies to calls(count, first), as calcd sends them."""
    out = bytearray(REPLY_TEMPLATE * count)
    for i in range(count):
        n = first + i
        struct.pack_into(">i", out, i * REPLY_LEN + 11, n)
        struct.pack_into(">i", out, i * REPLY_LEN + 18, n + 1)
    return bytes(out)


def check_replies(testcase, data, first=1):
    """data is whole replies to calls(..., first): returns how many, all checked."""
    testcase.assertEqual(len(data) % REPLY_LEN, 0, "a reply cut short: %d bytes" % len(data))
    count = len(data) // REPLY_LEN
    want = replies(count, first)
    if data != want:
        i = next(i for i in range(count)
                 if data[i * REPLY_LEN:(i + 1) * REPLY_LEN] != want[i * REPLY_LEN:(i + 1) * REPLY_LEN])
        testcase.fail("reply %d of %d is %s, want %s"
                      % (i + 1, count, data[i * REPLY_LEN:(i + 1) * REPLY_LEN].hex(),
                         want[i * REPLY_LEN:(i + 1) * REPLY_LEN].hex()))
    return count


def read_exactly(sock, n, timeout=SOCKET_TIMEOUT):
    """Read n bytes (fails on EOF, reset or timeout)."""
    deadline = time.monotonic() + timeout
    chunks, got = [], 0
    while got < n:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(min(1 << 20, n - got))
        except ConnectionResetError:
            raise AssertionError("connection reset after %d of %d bytes" % (got, n)) from None
        if not chunk:
            raise AssertionError("EOF after %d of %d bytes" % (got, n))
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_to_eof(sock, timeout=SOCKET_TIMEOUT):
    """Read until EOF: returns (data, how it ended: "eof", "reset" or "timeout")."""
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            return b"".join(chunks), "timeout"
        except ConnectionResetError:
            return b"".join(chunks), "reset"
        if not chunk:
            return b"".join(chunks), "eof"
        chunks.append(chunk)


class Sender(threading.Thread):
    """Send data in the background (calcd may stop reading for a while), a
    batch of whole calls per send as a pipelining client does: what reaches
    calcd's socket ends with a whole call more often than not."""

    BATCH = 100 * CALL_LEN

    def __init__(self, sock, data):
        super().__init__(daemon=True)
        self.sock, self.data, self.error = sock, data, None
        self.start()

    def run(self):
        view = memoryview(self.data)
        try:
            for off in range(0, len(view), self.BATCH):
                self.sock.sendall(view[off:off + self.BATCH])
        except OSError as e:
            self.error = e


class StreamSender(threading.Thread):
    """Sends calls, seqid 1 on, in batches of 100 (at most ~100,000 a second)
    until stopped or refused; .sent counts the calls sent."""

    def __init__(self, sock, limit=2000000):
        super().__init__(daemon=True)
        self.sock, self.limit, self.sent = sock, limit, 0
        self.stopping = threading.Event()
        self.start()

    def run(self):
        try:
            while self.sent < self.limit and not self.stopping.is_set():
                self.sock.sendall(calls(100, first=self.sent + 1))
                self.sent += 100
                time.sleep(0.001)
        except OSError:
            pass

    def stop(self):
        self.stopping.set()
        self.join(10)


def connect(daemon, rcvbuf=None):
    """A raw connection; rcvbuf: a small receive buffer (set before connecting,
    so the window stays small and calcd soon finds the client not reading)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(SOCKET_TIMEOUT)
    s.connect((daemon.host, daemon.port))
    return s


def wait_exit(daemon, timeout=15.0):
    """Wait for calcd, already sent SIGTERM, to exit by itself; its exit status
    (None after timeout, then it is killed).  Not a second SIGTERM: one that
    came as calcd exits, its handlers gone, would kill it."""
    try:
        rc = daemon.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        rc = None
    daemon.kill()          # reaps; kills only a calcd still running
    return rc


def wait_refused(daemon, timeout=5.0):
    """Once SIGTERM is handled the port refuses connections: True when it does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((daemon.host, daemon.port), timeout=1).close()
        except ConnectionRefusedError:
            return True
        except OSError as e:
            if e.errno == errno.ECONNREFUSED:
                return True
        time.sleep(0.02)
    return False


class DrainTest(unittest.TestCase):
    def start(self, **keys):
        conf = dict(workers=2, log_level="info")
        conf.update(keys)
        d = Daemon(conf=limits_conf("drain", **conf)).start()
        self.addCleanup(lambda: d.alive() and d.kill())
        return d

    def test_pipelining_late_reader_gets_every_reply(self):
        """Issue 11 defect 2: a client pipelines its calls and reads late, so
        calcd has paused it on max_output_buffer when SIGTERM comes, with
        calls waiting in its socket.  Every call gets its reply, and the
        connection ends without a reset."""
        d = self.start()                       # shutdown_timeout 10s
        # Before the fix calcd closed such a connection as soon as it had
        # answered every whole call it had read and sent the replies (once a
        # read ended with a whole call: Sender sends whole calls), though
        # more were on their way.  The client sent 200,000; here
        # the socket buffers (4 MiB to send, more to receive) hold that many,
        # all read before calcd catches up, so more are needed.
        total = 600000
        s = connect(d, rcvbuf=64 * 1024)
        sender = Sender(s, calls(total))
        time.sleep(0.5)
        d.proc.send_signal(signal.SIGTERM)
        self.assertTrue(wait_refused(d), "calcd still accepts after SIGTERM")
        time.sleep(0.5)                        # and reads only now
        data = read_exactly(s, total * REPLY_LEN, timeout=60)
        sender.join(10)
        self.assertIsNone(sender.error)
        self.assertEqual(check_replies(self, data), total)
        s.close()
        self.assertEqual(wait_exit(d, 10), 0, d.stderr_text())
        self.assertNotIn("shutdown_timeout is over", d.stderr_text())

    def test_open_connections_are_served_until_the_client_closes(self):
        """After SIGTERM new connections are refused at once, an idle one
        that was open is served on, and calcd exits as soon as the last
        client closes (well before shutdown_timeout, 30 s here)."""
        d = self.start(shutdown_timeout="30s")
        idle = connect(d)
        busy = connect(d)
        busy.sendall(calls(10))
        self.assertEqual(check_replies(self, read_exactly(busy, 10 * REPLY_LEN)), 10)
        mark = log_mark(d)
        d.proc.send_signal(signal.SIGTERM)
        # Logged once the listeners are closed (before any probe of wait_refused).
        self.assertTrue(wait_log(d, r"not listening any more; serving 2 open connections until "
                                    r"their clients have closed", start=mark, timeout=10),
                        d.stderr_text())
        self.assertTrue(wait_refused(d), "calcd still accepts after SIGTERM")
        # Both are served on, calls made after SIGTERM included.
        time.sleep(0.3)
        for s in (idle, busy):
            s.sendall(calls(100, first=1))
            self.assertEqual(check_replies(self, read_exactly(s, 100 * REPLY_LEN)), 100)
        self.assertTrue(d.alive())
        busy.close()
        idle.sendall(add_call(7, 7, 1))
        self.assertEqual(check_replies(self, read_exactly(idle, REPLY_LEN), first=7), 1)
        idle.close()
        # "As soon as": within 10 s, so not at the 30 s shutdown_timeout.
        self.assertEqual(wait_exit(d, 10), 0, d.stderr_text())
        self.assertNotIn("shutdown_timeout is over", d.stderr_text())

    def test_connections_waiting_in_the_backlog_are_served(self):
        """Connections the kernel completed but calcd had not accepted when
        SIGTERM came are served too, not reset as their listener closes (a
        balancer would already have sent them a client's call)."""
        d = self.start(shutdown_timeout="10s")
        d.proc.send_signal(signal.SIGSTOP)
        try:
            waiting = [connect(d) for _ in range(20)]   # the kernel accepts them meanwhile
            for i, s in enumerate(waiting):
                s.sendall(add_call(i + 1, i + 1, 1))
            d.proc.send_signal(signal.SIGTERM)
        finally:
            d.proc.send_signal(signal.SIGCONT)
        for i, s in enumerate(waiting):
            self.assertEqual(check_replies(self, read_exactly(s, REPLY_LEN), first=i + 1), 1,
                             "connection %d" % i)
            s.close()
        self.assertEqual(wait_exit(d, 10), 0, d.stderr_text())

    def test_shutdown_timeout_ends_an_idle_connection_with_eof(self):
        """An idle client that keeps its connection past shutdown_timeout
        reads EOF, not a reset; a call it sends then gets no answer and no
        reset either; calcd exits once it closes."""
        d = self.start(shutdown_timeout="1s")
        s = connect(d)
        s.sendall(add_call(1, 1, 1))
        self.assertEqual(check_replies(self, read_exactly(s, REPLY_LEN)), 1)
        d.proc.send_signal(signal.SIGTERM)
        data, end = read_to_eof(s, timeout=10)
        self.assertEqual((data, end), (b"", "eof"))
        # Sent after calcd shut its side: read and dropped, no RST.
        s.sendall(add_call(2, 2, 1))
        data, end = read_to_eof(s, timeout=5)
        self.assertEqual((data, end), (b"", "eof"))
        s.close()
        self.assertEqual(wait_exit(d, 10), 0, d.stderr_text())
        self.assertIn("shutdown_timeout is over with 1 connection open", d.stderr_text())
        self.assertNotIn("not done", d.stderr_text())

    def test_shutdown_timeout_answers_what_was_received(self):
        """A client sending and reading all along when shutdown_timeout runs
        out: it gets a gapless run of right replies from its first call on,
        every call it had sent by the SIGTERM among them, then EOF (never a
        reset), though it goes on sending."""
        d = self.start(shutdown_timeout="1s")
        s = connect(d)
        sender = StreamSender(s)
        time.sleep(0.5)
        sent_before_stop = sender.sent
        d.proc.send_signal(signal.SIGTERM)
        data, end = read_to_eof(s, timeout=20)
        sender.stop()
        self.assertEqual(end, "eof", "the connection ended with %s after %d bytes"
                         % (end, len(data)))
        answered = check_replies(self, data)
        self.assertGreaterEqual(answered, sent_before_stop)
        s.close()
        self.assertEqual(wait_exit(d, 10), 0, d.stderr_text())
        self.assertIn("shutdown_timeout is over with 1 connection open", d.stderr_text())
        self.assertNotIn("not done", d.stderr_text())
        print("\n  %d calls sent by SIGTERM, %d answered, %d sent in all"
              % (sent_before_stop, answered, sender.sent), flush=True)

    def test_unfinished_message_at_shutdown_timeout(self):
        """Half a message when shutdown_timeout runs out: logged, the
        connection ends with EOF, calcd exits 0."""
        d = self.start(shutdown_timeout="500ms")
        s = connect(d)
        s.sendall(add_call(1, 1, 1)[:9])
        time.sleep(0.2)
        d.proc.send_signal(signal.SIGTERM)
        data, end = read_to_eof(s, timeout=10)
        self.assertEqual((data, end), (b"", "eof"))
        self.assertTrue(wait_log(d, r"closed with 9 bytes of an unfinished message"))
        s.close()
        self.assertEqual(wait_exit(d, 10), 0, d.stderr_text())

    def test_client_that_never_reads_is_closed_after_the_linger_bound(self):
        """A client that neither reads nor closes cannot hold calcd: it exits
        about 2 s after shutdown_timeout, saying why."""
        d = self.start(shutdown_timeout="500ms", max_output_buffer="64K")
        s = connect(d, rcvbuf=4096)
        sender = Sender(s, calls(100000))
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(wait_exit(d, 15), 0, d.stderr_text())
        self.assertIn("1 connection not done 2000 ms after shutdown_timeout",
                      d.stderr_text())
        s.close()
        sender.join(5)


if __name__ == "__main__":
    unittest.main()
