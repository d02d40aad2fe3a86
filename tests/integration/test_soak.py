"""A bounded soak: many clients calling, pipelining and leaving abruptly at once.

SOAK_CLIENTS threads each loop over sessions until the soak's time is up: a
random transport x protocol (buffered/framed x binary/compact), then either
calls through the generated client, or bursts of pipelined calls on a raw
socket whose replies are read and checked in order, or a burst abandoned part
way (unread replies, a message cut in the middle) by a FIN or an RST.  A
checker thread calls all the while and verifies every answer.

At the end: no wrong answer, no reply lost on a connection that stayed open
(every client that read its replies got all of them, in order, with matching
seqids), calcd's descriptors back to their count before the soak, and its
VmRSS within SOAK_RSS_SLACK of the most it reached in the warm-up.  No
assertion depends on how fast the machine is.

CALCD_SOAK_SECONDS sets the length of the load (default 60 s).  The load
lasts at least that long and until enough work is done, however slow the
machine: the warm-up ends once SOAK_WARMUP_FRACTION of the time has passed
and every client has finished WARMUP_SESSIONS sessions; then the load goes
on until the time is up and, since the warm-up, the clients have had
MIN_VERIFIED replies checked and the checker MIN_CHECKED.  SOAK_MAX_EXTRA
seconds past the time bound it all (a calcd that slow fails the counts).
"""

import os
import random
import socket
import struct
import threading
import time
import unittest

from calcd_harness import (INT32_MAX, INT32_MIN, CalculatorService, Daemon, InvalidOperation,
                           Operation, connect, describe_fds, encode_call, encode_messages,
                           limits_conf, wait_fds_settled, proc_fd_count, proc_fds, proc_rss_kib,
                           raw_socket, read_reply, reply_reader, server_side_closed, work)

from thrift.Thrift import TApplicationException, TMessageType, TType

MiB = 1024 * 1024

SOAK_SECONDS = float(os.environ.get("CALCD_SOAK_SECONDS") or 60)
SOAK_CLIENTS = 40
SOAK_WARMUP_FRACTION = 0.15
WARMUP_SESSIONS = 3          # per client: every kind of session has had its turn
MIN_VERIFIED = 1000          # replies the clients check after the warm-up, at least
MIN_CHECKED = 100            # ... and the checker
SOAK_MAX_EXTRA = 120.0       # seconds the load may run past SOAK_SECONDS to do that
# After the clients leave, calcd holds no connection buffers, so its VmRSS
# should be back near the most it reached in the warm-up (under full load).
# 8 MiB allows malloc's per-thread arenas to keep some freed blocks, while a
# leak of ~30 bytes per call or ~800 bytes per connection over a 60 s soak
# (a few hundred thousand calls, ten thousand connections) would pass it.
SOAK_RSS_SLACK = 8 * MiB
# Under AddressSanitizer RSS is mostly its own bookkeeping (see test_hostile).
RSS_CHECKS = os.environ.get("CALCD_RSS_CHECKS", "1") != "0"

SOAK_CONF = dict(
    workers=2,
    max_connections=1024,
    max_message_size="1M",
    max_output_buffer="256K",
    max_nesting_depth=32,
    # Long timeouts: descriptors must come back because calcd notices the
    # clients leaving, not because a timer reaps them.
    message_timeout="60s",
    idle_timeout="120s",
    calculation_log_size=100000,
    shutdown_timeout="5s",
    log_level="notice",
)

COMBOS4 = [("buffered", "binary"), ("buffered", "compact"),
           ("framed", "binary"), ("framed", "compact")]
READ_TIMEOUT = 30.0          # a reply slower than this (a stalled calcd) counts as lost


def c_div(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def fits(v):
    return INT32_MIN <= v <= INT32_MAX


def random_i32(rng):
    r = rng.random()
    if r < 0.7:
        return rng.randint(-1000, 1000)
    if r < 0.9:
        return rng.randint(INT32_MIN, INT32_MAX)
    return rng.choice((INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX))


class Call:
    """One random call and what calcd must answer to it.

    expect: ("ok", value) for a result (None for ping), ("app", type) for a
    TApplicationException, ("invalid", whatOp) for calculate's InvalidOperation,
    None for a oneway call (no reply at all)."""

    def __init__(self, rng, seqid):
        self.seqid = seqid
        r = rng.random()
        a, b = random_i32(rng), random_i32(rng)
        if r < 0.35:
            self.method, self.args = "add", (a, b)
            v = a + b
            self.expect = ("ok", v) if fits(v) else ("app", TApplicationException.UNKNOWN)
        elif r < 0.7:
            self.method, self.args = "subtract", (a, b)
            v = a - b
            self.expect = ("ok", v) if fits(v) else ("app", TApplicationException.UNKNOWN)
        elif r < 0.95:
            op = rng.choice((1, 2, 3, 4, 4, 4)) if rng.random() < 0.97 else rng.randint(5, 9)
            if op == 4 and rng.random() < 0.2:
                b = 0
            self.method, self.args = "calculate", (rng.randint(1, 10**9), a, b, op)
            if op == 1:
                v = a + b
            elif op == 2:
                v = a - b
            elif op == 3:
                v = a * b
            elif op == 4:
                v = c_div(a, b) if b != 0 else None
            else:
                v = None
            self.expect = ("ok", v) if v is not None and fits(v) else ("invalid", op)
        elif r < 0.98:
            self.method, self.args, self.expect = "ping", (), ("ok", None)
        else:
            self.method, self.args, self.expect = "zip", (), None

    # -- as raw bytes ---------------------------------------------------------
    def write(self, proto, flush):
        if self.method in ("add", "subtract"):
            fields = [(1, TType.I32, self.args[0]), (2, TType.I32, self.args[1])]
        elif self.method == "calculate":
            logid, a, b, op = self.args
            fields = [(1, TType.I32, logid),
                      (2, TType.STRUCT, [(1, TType.I32, a), (2, TType.I32, b), (3, TType.I32, op)])]
        else:
            fields = []
        mtype = TMessageType.ONEWAY if self.method == "zip" else TMessageType.CALL
        encode_call(proto, flush, self.method, fields, self.seqid, mtype)

    def result_cls(self):
        return getattr(CalculatorService, self.method + "_result")

    def check_reply(self, mtype, seqid, value):
        """None if the reply is right, else what is wrong with it."""
        if seqid != self.seqid:
            return "seqid %d, expected %d" % (seqid, self.seqid)
        kind, want = self.expect
        if kind == "app":
            if mtype != TMessageType.EXCEPTION or value.type != want:
                return "%s%r: got %r, expected TApplicationException %d" % (
                    self.method, self.args, value, want)
            return None
        if mtype != TMessageType.REPLY:
            return "%s%r: got %r" % (self.method, self.args, value)
        if kind == "invalid":
            if value.ouch is None or value.ouch.whatOp != want or value.success is not None:
                return "%s%r: got %r, expected InvalidOperation(%d)" % (
                    self.method, self.args, value, want)
            return None
        if self.method == "ping":
            return None
        if value.success != want:
            return "%s%r: got %r, expected %r" % (self.method, self.args, value.success, want)
        return None

    # -- through the generated client -------------------------------------------
    def call_client(self, client):
        """Call through the generated client; None if right, else the problem."""
        if self.expect is None:
            client.zip()
            return None
        kind, want = self.expect
        try:
            if self.method == "add":
                got = client.add(*self.args)
            elif self.method == "subtract":
                got = client.subtract(*self.args)
            elif self.method == "calculate":
                logid, a, b, op = self.args
                got = client.calculate(logid, work(a, b, op))
            else:
                got = client.ping()
        except TApplicationException as e:
            if kind == "app" and e.type == want:
                return None
            return "%s%r raised %r" % (self.method, self.args, e)
        except InvalidOperation as e:
            if kind == "invalid" and e.whatOp == want:
                return None
            return "%s%r raised %r" % (self.method, self.args, e)
        if kind != "ok" or got != want:
            return "%s%r returned %r, expected %r" % (self.method, self.args, got, self.expect)
        return None


class Stats:
    def __init__(self):
        self.calls = 0          # calls sent
        self.verified = 0       # replies read and checked
        self.connections = 0
        self.sessions = 0       # finished
        self.abrupt = 0         # connections left with a FIN/RST mid-stream
        self.wrong = 0
        self.lost = 0
        self.errors = []

    def error(self, what):
        if len(self.errors) < 20:
            self.errors.append(what)

    def add(self, other):
        for k in ("calls", "verified", "connections", "sessions", "abrupt", "wrong", "lost"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.errors += other.errors[:20 - len(self.errors)]


def rst_close(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Soak(unittest.TestCase):

    def test_soak(self):
        daemon = Daemon(conf=limits_conf("soak", **SOAK_CONF)).start()
        try:
            self._soak(daemon)
        except BaseException:
            daemon.kill()
            raise
        daemon.stop()

    def _soak(self, daemon):
        pid = daemon.proc.pid
        daemon.assert_alive(self)
        # The count before, once calcd has closed assert_alive's connection.
        limit = time.monotonic() + 10
        while server_side_closed(daemon.host, daemon.port) is False and time.monotonic() < limit:
            time.sleep(0.02)
        time.sleep(0.2)
        fds_before = proc_fd_count(pid)
        fd_map = proc_fds(pid)
        rss_start = proc_rss_kib(pid) * 1024
        t_start = time.monotonic()
        hard_end = t_start + SOAK_SECONDS + SOAK_MAX_EXTRA
        stop = threading.Event()
        stats = [Stats() for _ in range(SOAK_CLIENTS)]
        checker_stats = Stats()

        def client_thread(i):
            rng = random.Random(1000 + i)
            st = stats[i]
            while not stop.is_set() and time.monotonic() < hard_end:
                try:
                    self._session(daemon, rng, st)
                except Exception as e:  # noqa: BLE001 - a session that breaks is a finding
                    st.error("client %d: %r" % (i, e))
                    st.lost += 1
                st.sessions += 1

        threads = [threading.Thread(target=client_thread, args=(i,), daemon=True,
                                    name="soak-%d" % i) for i in range(SOAK_CLIENTS)]
        checker = threading.Thread(target=self._checker, args=(daemon, hard_end, stop,
                                                               checker_stats), daemon=True)
        for t in threads:
            t.start()
        checker.start()
        # Warm-up (a time and a number of sessions), then the reference
        # VmRSS: the most it reached in the warm-up, under full load.  Then
        # the load until the time is up and enough was checked since.
        rss_max = rss_warm = 0
        warm_at = t_start + SOAK_SECONDS * SOAK_WARMUP_FRACTION
        warm = None         # (clients' verified, checker's verified) when the warm-up ended
        while time.monotonic() < hard_end and daemon.alive():
            rss = proc_rss_kib(pid) * 1024
            rss_max = max(rss_max, rss)
            now = time.monotonic()
            if warm is None:
                rss_warm = rss_max
                if now >= warm_at and min(st.sessions for st in stats) >= WARMUP_SESSIONS:
                    warm = (sum(st.verified for st in stats), checker_stats.verified)
            elif (now >= t_start + SOAK_SECONDS
                  and sum(st.verified for st in stats) - warm[0] >= MIN_VERIFIED
                  and checker_stats.verified - warm[1] >= MIN_CHECKED):
                break
            time.sleep(0.25)
        stop.set()
        for t in threads + [checker]:
            t.join(max(1.0, hard_end + 2 * READ_TIMEOUT - time.monotonic()))
        stuck = [t.name for t in threads + [checker] if t.is_alive()]
        self.assertEqual(stuck, [], "client threads still running %.0f s after the soak's "
                         "bound" % (2 * READ_TIMEOUT))
        self.assertTrue(daemon.alive(), "calcd died during the soak; log:\n%s"
                        % daemon.stderr_text()[-3000:])
        total = Stats()
        for st in stats:
            total.add(st)
        # The clients are gone: calcd's descriptors come back to where they
        # were, every connection accepted (the last ones, closed by their
        # clients, may still wait in the accept queue while the count
        # already reads the number before).
        backlog, fds_after = wait_fds_settled(daemon, pid, fds_before, seconds=30, step=0.1)
        rss_end = proc_rss_kib(pid) * 1024
        summary = ("soak: %.0f s, %d clients: %d calls issued (%d replies checked), %d connections "
                   "(%d left abruptly), wrong %d, lost %d; checker %d calls, wrong %d, lost %d; "
                   "warm-up %s; VmRSS start %.1f, warm-up max %.1f, max %.1f, end %.1f MiB; "
                   "fds before %d, after %d"
                   % (time.monotonic() - t_start, SOAK_CLIENTS, total.calls + checker_stats.calls,
                      total.verified + checker_stats.verified, total.connections,
                      total.abrupt, total.wrong, total.lost, checker_stats.calls,
                      checker_stats.wrong, checker_stats.lost,
                      "not finished" if warm is None else
                      "to %d + %d replies checked" % warm,
                      rss_start / MiB, rss_warm / MiB, rss_max / MiB, rss_end / MiB,
                      fds_before, fds_after))
        print("\n" + summary)
        problems = total.errors + checker_stats.errors
        self.assertEqual((total.wrong, checker_stats.wrong), (0, 0),
                         "wrong answers:\n" + "\n".join(problems))
        self.assertEqual((total.lost, checker_stats.lost), (0, 0),
                         "lost replies:\n" + "\n".join(problems))
        # Only if calcd was too slow to do the work in SOAK_MAX_EXTRA more seconds.
        self.assertIsNotNone(warm, "the warm-up did not end: " + summary)
        self.assertGreaterEqual(total.verified - warm[0], MIN_VERIFIED,
                                "the soak hardly ran: " + summary)
        self.assertGreaterEqual(checker_stats.verified - warm[1], MIN_CHECKED,
                                "the checker hardly ran: " + summary)
        self.assertFalse(backlog, "%s connection(s) calcd did not accept: %s" % (backlog, summary))
        self.assertEqual(fds_after, fds_before, "calcd's descriptors did not return to their "
                         "count before the soak: %s\n%s"
                         % (summary, describe_fds(proc_fds(pid), fd_map)))
        self.assertLessEqual(rss_end if RSS_CHECKS else 0, rss_warm + SOAK_RSS_SLACK,
                             "VmRSS grew past its warm-up maximum + %d MiB: %s"
                             % (SOAK_RSS_SLACK // MiB, summary))
        daemon.assert_alive(self)

    # -- the load -------------------------------------------------------------
    def _session(self, daemon, rng, st):
        transport, protocol = rng.choice(COMBOS4)
        kind = rng.random()
        st.connections += 1
        if kind < 0.3:
            self._client_session(daemon, rng, st, transport, protocol)
        elif kind < 0.8:
            self._burst_session(daemon, rng, st, transport, protocol)
        else:
            self._abandon_session(daemon, rng, st, transport, protocol)

    def _client_session(self, daemon, rng, st, transport, protocol):
        c = connect(daemon, transport, protocol, timeout=READ_TIMEOUT)
        try:
            for _ in range(rng.randint(1, 30)):
                call = Call(rng, 0)
                st.calls += 1
                problem = call.call_client(c.client)
                if problem:
                    st.wrong += 1
                    st.error("%s/%s client: %s" % (transport, protocol, problem))
                elif call.expect is not None:
                    st.verified += 1
        finally:
            if rng.random() < 0.3:
                st.abrupt += 1
                rst_close(c.sock.handle)
            else:
                c.close()

    @staticmethod
    def _encode(transport, protocol, calls):
        def writer(p, flush):
            for call in calls:
                call.write(p, flush)
        return encode_messages(transport, protocol, writer)

    def _read_replies(self, proto, calls, st, label):
        """Read the replies to calls, in order; False once one is missing."""
        for call in calls:
            if call.expect is None:
                continue
            try:
                name, mtype, seqid, value = read_reply(proto, call.result_cls())
            except Exception as e:  # noqa: BLE001 - EOF, timeout, reset: lost
                st.lost += 1
                st.error("%s: reply to seqid %d lost: %r" % (label, call.seqid, e))
                return False
            problem = call.check_reply(mtype, seqid, value)
            if problem:
                if seqid != call.seqid:
                    st.lost += 1
                else:
                    st.wrong += 1
                st.error("%s: %s" % (label, problem))
                return False
            st.verified += 1
        return True

    def _burst_session(self, daemon, rng, st, transport, protocol):
        label = "%s/%s bursts" % (transport, protocol)
        s = raw_socket(daemon, timeout=READ_TIMEOUT)
        try:
            proto = reply_reader(s, transport, protocol)
            seqid = rng.randint(0, INT32_MAX - 10000)
            for _ in range(rng.randint(1, 4)):
                calls = []
                for _ in range(rng.randint(1, 200)):
                    calls.append(Call(rng, seqid))
                    seqid += 1
                s.sendall(self._encode(transport, protocol, calls))
                st.calls += len(calls)
                if not self._read_replies(proto, calls, st, label):
                    return
            # Nothing more may come (the oneway calls got no reply).
            s.settimeout(0.05)
            try:
                extra = s.recv(1)
            except socket.timeout:
                extra = None
            if extra is not None:
                st.wrong += 1
                st.error("%s: unexpected bytes after the replies: %r" % (label, extra))
        finally:
            if rng.random() < 0.3:
                st.abrupt += 1
                rst_close(s)
            else:
                s.close()

    def _abandon_session(self, daemon, rng, st, transport, protocol):
        """Pipeline a burst, read only some of the replies (checking them),
        maybe cut a message in the middle, and go: FIN or RST."""
        label = "%s/%s abandoned" % (transport, protocol)
        s = raw_socket(daemon, timeout=READ_TIMEOUT)
        st.abrupt += 1
        try:
            calls = [Call(rng, i) for i in range(rng.randint(1, 300))]
            data = self._encode(transport, protocol, calls)
            if rng.random() < 0.5:
                data = data[:rng.randint(1, len(data))]     # mid-message, mid-burst
            s.sendall(data)
            st.calls += len(calls)
            if rng.random() < 0.5:
                # Read a few replies (of calls complete in what was sent).
                answered = [c for c in calls[:rng.randint(0, 5)]]
                whole = self._encode(transport, protocol, answered)
                if data.startswith(whole):
                    self._read_replies(reply_reader(s, transport, protocol), answered, st, label)
        finally:
            if rng.random() < 0.5:
                rst_close(s)
            else:
                s.close()

    def _checker(self, daemon, hard_end, stop, st):
        rng = random.Random(4242)
        logid = 2000000000
        while not stop.is_set() and time.monotonic() < hard_end:
            transport, protocol = rng.choice(COMBOS4)
            try:
                with connect(daemon, transport, protocol, timeout=READ_TIMEOUT) as c:
                    st.connections += 1
                    for _ in range(200):
                        if stop.is_set():
                            break
                        call = Call(rng, 0)
                        st.calls += 1
                        problem = call.call_client(c.client)
                        if problem:
                            st.wrong += 1
                            st.error("checker %s/%s: %s" % (transport, protocol, problem))
                        elif call.expect is not None:
                            st.verified += 1
                        # A calculation the checker logs is read back at once.
                        logid += 1
                        a, b = rng.randint(-10**4, 10**4), rng.randint(-10**4, 10**4)
                        st.calls += 2
                        got = c.client.calculate(logid, work(a, b, Operation.MULTIPLY))
                        shared = c.client.getStruct(logid)
                        if got != a * b or (shared.key, shared.value) != (logid, str(a * b)):
                            st.wrong += 1
                            st.error("checker: calculate/getStruct %d * %d: %r, %r"
                                     % (a, b, got, shared))
                        else:
                            st.verified += 2
            except Exception as e:  # noqa: BLE001 - the checker must never fail
                st.lost += 1
                st.error("checker %s/%s: %r" % (transport, protocol, e))


if __name__ == "__main__":
    unittest.main(verbosity=2)
