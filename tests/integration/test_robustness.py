"""Malformed input, pipelining, partial writes, many concurrent clients."""

import os
import random
import socket
import struct
import threading
import time
import unittest

from calcd_harness import (COMBOS, INT32_MAX, MUXES, PROTOCOLS, CalculatorService,
                           DaemonTestCase, InvalidOperation, Operation, SharedService,
                           SharedStruct,
                           combo_name, connect, encode_call, encode_messages, fresh_logid,
                           raw_socket, read_reply, reply_reader, wait_closed, work)

from thrift.Thrift import TApplicationException, TMessageType, TType


def strict_binary_call_header(name, seqid=1):
    return struct.pack(">iI", -0x7fff0000 | TMessageType.CALL, len(name)) + name + \
        struct.pack(">i", seqid)


GARBAGE = {
    "random": b"\xde\xad\xbe\xef" + random.Random(20261126).randbytes(4096),
    "http-get": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: itest\r\n"
                 b"Accept: */*\r\n\r\n"),
    "http-post": (b"POST /calculator HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/x-thrift\r\nContent-Length: 4\r\n\r\nabcd"),
    "tls-client-hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),
    "binary-bad-version": b"\x80\x02\x00\x01\x00\x00\x00\x03add\x00\x00\x00\x01\x00",
    "compact-bad-version": b"\x82\x27\x01\x03add\x00",
    "binary-bad-field-type": strict_binary_call_header(b"add") + b"\x55\x00\x01" + b"\x00" * 16,
    "binary-negative-name-length": b"\x80\x01\x00\x01\xff\xff\xff\xf0add" + b"\x00" * 16,
    # A complete frame holding a strict binary call with an invalid field type.
    "framed-bad-field-type": struct.pack(">i", 64) + (
        strict_binary_call_header(b"add") + b"\x55\x00\x01").ljust(64, b"\x00"),
    "framed-negative-length": b"\xff\xff\xff\xf0" + b"\x80\x01\x00\x01" + b"\x00" * 32,
}

# Declared lengths far beyond any message limit: nothing to wait for.
OVERSIZED = {
    "frame-2GiB": b"\x7f\xff\xff\xff\x80\x01\x00\x01\x00\x00\x00\x03add",
    "method-name-1GiB": b"\x80\x01\x00\x01\x40\x00\x00\x00add",
    "string-arg-1GiB": strict_binary_call_header(b"add") + b"\x0b\x00\x01\x40\x00\x00\x00abc",
    "list-arg-2G-elements": strict_binary_call_header(b"add") +
    b"\x0f\x00\x03\x08\x7f\xff\xff\xff\x00\x00\x00\x01",
}


class Malformed(DaemonTestCase):

    def _check_closed_and_others_served(self, payload, label):
        bystander = self.connect("framed", "compact")
        self.assertEqual(bystander.client.add(1, 2), 3)
        s = raw_socket(self.daemon)
        self.addCleanup(s.close)
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass    # closed while we were still writing: fine
        closed, data = wait_closed(s, timeout=5.0)
        self.assertTrue(closed, "%s: calcd kept the connection open for 5 s (got %r)"
                        % (label, data[:100]))
        # The others go on: an open connection and a new one.
        self.assertEqual(bystander.client.subtract(10, 4), 6)
        self.daemon.assert_alive(self)

    def test_garbage_closes_connection(self):
        for label, payload in GARBAGE.items():
            with self.subTest(garbage=label):
                self._check_closed_and_others_served(payload, label)

    def test_oversized_lengths_close_connection(self):
        for label, payload in OVERSIZED.items():
            with self.subTest(payload=label):
                self._check_closed_and_others_served(payload, label)

    def test_garbage_after_good_calls(self):
        # A connection that has been speaking proper Thrift, then sends junk.
        for transport, protocol in (("buffered", "binary"), ("framed", "compact")):
            with self.subTest(combo=combo_name(transport, protocol)):
                c = self.connect(transport, protocol)
                self.assertEqual(c.client.add(2, 2), 4)
                c.sock.handle.sendall(b"\xff" * 64)
                closed, _ = wait_closed(c.sock.handle, timeout=5.0)
                self.assertTrue(closed, "connection not closed after junk")
                self.daemon.assert_alive(self)

    def test_deep_nesting_closes_connection(self):
        # An unknown argument nested 200 structs deep, past max_nesting_depth
        # (32 in the shipped config): calcd closes rather than recurse.
        body = [(1, TType.I32, 1)]
        for _ in range(200):
            body = [(1, TType.STRUCT, body)]
        payload = encode_messages("buffered", "binary", lambda p, flush: encode_call(
            p, flush, "add", [(1, TType.I32, 1), (2, TType.I32, 2), (3, TType.STRUCT, body)], 1))
        s = raw_socket(self.daemon)
        self.addCleanup(s.close)
        s.sendall(payload)
        closed, data = wait_closed(s, timeout=5.0)
        self.assertTrue(closed, "still open after 5 s; got %r" % data[:100])
        self.daemon.assert_alive(self)
        # Within the limit, unknown nested fields are skipped.
        body = [(1, TType.I32, 1)]
        for _ in range(20):
            body = [(1, TType.STRUCT, body)]
        c = self.connect()
        c.send_call("add", [(1, TType.I32, 1), (3, TType.STRUCT, body), (2, TType.I32, 2)], 3)
        name, mtype, seqid, res = c.read_reply(CalculatorService.add_result)
        self.assertEqual((mtype, seqid, res.success), (TMessageType.REPLY, 3, 3))

    def test_abrupt_disconnects(self):
        full = encode_messages("buffered", "binary", lambda p, flush: encode_call(
            p, flush, "add", [(1, TType.I32, 1), (2, TType.I32, 2)], 1))
        for cut in (1, 3, 5, len(full) // 2, len(full) - 1, len(full)):
            with self.subTest(bytes_sent=cut):
                s = raw_socket(self.daemon)
                s.sendall(full[:cut])
                s.close()
        # A client that pipelines many calls and leaves without reading.
        s = raw_socket(self.daemon)
        s.sendall(full * 500)
        s.close()
        # ... and one that resets the connection (RST) mid-message.
        s = raw_socket(self.daemon)
        s.sendall(full[:7])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        self.daemon.assert_alive(self)


class Pipelining(DaemonTestCase):

    def _batch(self, transport, protocol, mux):
        l1, l2 = fresh_logid(), fresh_logid()
        # (seqid, method, fields, mtype)
        calls = [
            (1, "add", [(1, TType.I32, 1), (2, TType.I32, 2)], TMessageType.CALL),
            (2, "subtract", [(1, TType.I32, 10), (2, TType.I32, 4)], TMessageType.CALL),
            (3, "zip", [], TMessageType.ONEWAY),
            (4, "calculate", [(1, TType.I32, l1), (2, TType.STRUCT, [
                (1, TType.I32, 1), (2, TType.I32, 0), (3, TType.I32, Operation.DIVIDE)])],
             TMessageType.CALL),
            (5, "multiply", [(1, TType.I32, 6), (2, TType.I32, 7)], TMessageType.CALL),
            (6, "calculate", [(1, TType.I32, l2), (2, TType.STRUCT, [
                (1, TType.I32, 6), (2, TType.I32, 7), (3, TType.I32, Operation.MULTIPLY)])],
             TMessageType.CALL),
            (7, "getStruct", [(1, TType.I32, l2)], TMessageType.CALL),
            (8, "ping", [], TMessageType.CALL),
            (9, "add", [(1, TType.I32, INT32_MAX), (2, TType.I32, 1)], TMessageType.CALL),
            (10, "add", [(1, TType.I32, 1)], TMessageType.CALL),
            (11, "zip", [], TMessageType.ONEWAY),
            (12, "add", [(1, TType.I32, -5), (2, TType.I32, 3)], TMessageType.CALL),
        ]

        def writer(p, flush):
            for seqid, name, fields, mtype in calls:
                encode_call(p, flush, name, fields, seqid, mtype)

        data = encode_messages(transport, protocol, writer, mux)
        R = CalculatorService
        expect = [  # (seqid, mtype, result class, check)
            (1, TMessageType.REPLY, R.add_result, lambda r: r.success == 3),
            (2, TMessageType.REPLY, R.subtract_result, lambda r: r.success == 6),
            (4, TMessageType.REPLY, R.calculate_result,
             lambda r: r.success is None and isinstance(r.ouch, InvalidOperation)
             and r.ouch.whatOp == 4),
            (5, TMessageType.EXCEPTION, None,
             lambda e: e.type == TApplicationException.UNKNOWN_METHOD),
            (6, TMessageType.REPLY, R.calculate_result, lambda r: r.success == 42),
            (7, TMessageType.REPLY, SharedService.getStruct_result,
             lambda r: r.success == SharedStruct(key=l2, value="42")),
            (8, TMessageType.REPLY, R.ping_result, lambda r: True),
            (9, TMessageType.EXCEPTION, None, lambda e: e.type == TApplicationException.UNKNOWN),
            (10, TMessageType.EXCEPTION, None,
             lambda e: e.type == TApplicationException.PROTOCOL_ERROR),
            (12, TMessageType.REPLY, R.add_result, lambda r: r.success == -2),
        ]
        return data, expect

    def _read_expected(self, proto, expect):
        for seq, mtype, cls, check in expect:
            name, got_type, got_seq, value = read_reply(
                proto, cls if mtype == TMessageType.REPLY else None)
            self.assertEqual((got_seq, got_type), (seq, mtype), "reply %r" % (value,))
            self.assertTrue(check(value), "seqid %d: unexpected %r" % (seq, value))

    def test_pipelined_mixed_calls(self):
        for transport in ("buffered", "framed"):
            for protocol in PROTOCOLS:
                for mux in (None, "Calculator"):
                    with self.subTest(combo=combo_name(transport, protocol, mux)):
                        data, expect = self._batch(transport, protocol, mux)
                        s = raw_socket(self.daemon)
                        self.addCleanup(s.close)
                        s.sendall(data)
                        self._read_expected(reply_reader(s, transport, protocol), expect)
                        # Nothing more may come: the oneway calls got no reply.
                        s.settimeout(0.3)
                        with self.assertRaises(socket.timeout):
                            extra = s.recv(1)
                            self.fail("unexpected extra bytes %r" % extra)

    def test_half_close_gets_every_reply(self):
        # A client that sends its calls and shuts down its sending side
        # (like "nc -N") still gets every reply, then EOF.
        for transport, protocol in (("buffered", "binary"), ("framed", "compact")):
            with self.subTest(combo=combo_name(transport, protocol)):
                data = encode_messages(transport, protocol, lambda p, flush: [
                    encode_call(p, flush, "add", [(1, TType.I32, i), (2, TType.I32, i)], i)
                    for i in range(50)])
                s = raw_socket(self.daemon)
                self.addCleanup(s.close)
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
                proto = reply_reader(s, transport, protocol)
                for i in range(50):
                    name, mtype, seqid, r = read_reply(proto, CalculatorService.add_result)
                    self.assertEqual((mtype, seqid, r.success), (TMessageType.REPLY, i, 2 * i))
                closed, extra = wait_closed(s, 5.0)
                self.assertTrue(closed, "not closed after the replies to a half-closed client")
                self.assertEqual(extra, b"")

    def test_thousand_pipelined_adds(self):
        n = 1000
        for transport, protocol in (("buffered", "binary"), ("framed", "compact"),
                                    ("buffered", "compact"), ("framed", "binary-nonstrict")):
            with self.subTest(combo=combo_name(transport, protocol)):
                def writer(p, flush):
                    for i in range(n):
                        encode_call(p, flush, "add", [(1, TType.I32, i), (2, TType.I32, -2 * i)], i)
                data = encode_messages(transport, protocol, writer)
                s = raw_socket(self.daemon, timeout=10)
                self.addCleanup(s.close)
                s.sendall(data)
                proto = reply_reader(s, transport, protocol)
                for i in range(n):
                    name, mtype, seqid, r = read_reply(proto, CalculatorService.add_result)
                    self.assertEqual((mtype, seqid), (TMessageType.REPLY, i))
                    self.assertEqual(r.success, -i)

    def test_split_writes(self):
        # Messages arriving a byte at a time, and in odd-sized chunks.
        for transport in ("buffered", "framed"):
            for protocol in ("binary", "binary-nonstrict", "compact"):
                with self.subTest(combo=combo_name(transport, protocol)):
                    data, expect = self._batch(transport, protocol, None)
                    s = raw_socket(self.daemon)
                    self.addCleanup(s.close)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    first = 40
                    for i in range(first):          # the first bytes one by one
                        s.sendall(data[i:i + 1])
                        time.sleep(0.002)
                    rng = random.Random(len(data))
                    pos = first
                    while pos < len(data):
                        step = rng.randint(1, 13)
                        s.sendall(data[pos:pos + step])
                        pos += step
                        time.sleep(0.001)
                    self._read_expected(reply_reader(s, transport, protocol), expect)


class Concurrency(DaemonTestCase):
    N = 200
    CALLS = 15

    def test_200_concurrent_connections(self):
        n = self.N
        barrier = threading.Barrier(n + 1)
        errors = []
        finished = []
        lock = threading.Lock()

        def record(i, what):
            with lock:
                errors.append("client %d: %s" % (i, what))

        def client_thread(i):
            transport, protocol = COMBOS[i % len(COMBOS)]
            mux = MUXES[(i // len(COMBOS)) % len(MUXES)]
            c = None
            try:
                c = connect(self.daemon, transport, protocol, mux, timeout=30)
                c.client.ping()
            except Exception as e:  # noqa: BLE001
                record(i, "connect/ping: %r" % e)
            try:
                barrier.wait(60)          # all n connections open at once
            except threading.BrokenBarrierError:
                record(i, "barrier broken")
            if c is None:
                return
            try:
                logid = 5000000 + i
                for k in range(self.CALLS):
                    a, b = i * 1000 + k, k - i
                    if c.client.add(a, b) != a + b:
                        record(i, "add(%d, %d) wrong" % (a, b))
                    if c.client.subtract(a, b) != a - b:
                        record(i, "subtract(%d, %d) wrong" % (a, b))
                    got = c.client.calculate(logid, work(i, k + 1, Operation.MULTIPLY))
                    if got != i * (k + 1):
                        record(i, "calculate %d * %d = %r" % (i, k + 1, got))
                    s = c.client.getStruct(logid)
                    if s.key != logid or s.value != str(i * (k + 1)):
                        record(i, "getStruct(%d) = %r" % (logid, s))
                with lock:
                    finished.append(i)
            except Exception as e:  # noqa: BLE001
                record(i, "calls: %r" % e)
            finally:
                c.close()

        threads = [threading.Thread(target=client_thread, args=(i,), daemon=True)
                   for i in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        try:
            barrier.wait(90)
        except threading.BrokenBarrierError:
            errors.append("main: barrier broken")
        open_at_once = self._count_fds()
        for t in threads:
            t.join(max(1.0, 180 - (time.monotonic() - t0)))
        self.assertFalse([t for t in threads if t.is_alive()], "client threads still running")
        self.assertEqual(errors[:20], [], "%d errors" % len(errors))
        self.assertEqual(len(finished), n)
        if open_at_once is not None:
            self.assertGreaterEqual(open_at_once, n, "calcd did not hold %d sockets open at once"
                                    % n)
        self.daemon.assert_alive(self)

    def _count_fds(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.daemon.proc.pid))
        except OSError:
            return None

    def test_no_descriptor_leak(self):
        if self._count_fds() is None:
            self.skipTest("/proc/PID/fd is not readable here")
        self.daemon.assert_alive(self)
        base = self._count_fds()
        full = encode_messages("framed", "compact", lambda p, flush: encode_call(
            p, flush, "add", [(1, TType.I32, 1), (2, TType.I32, 2)], 1))
        for i in range(300):
            kind = i % 4
            if kind == 0:
                with connect(self.daemon, *COMBOS[i % len(COMBOS)]) as c:
                    c.client.add(i, 1)
            elif kind == 1:
                s = raw_socket(self.daemon)
                s.sendall(GARBAGE["http-get"])
                wait_closed(s, 5.0)
                s.close()
            elif kind == 2:
                s = raw_socket(self.daemon)
                s.sendall(full[: 1 + i % (len(full) - 1)])
                s.close()
            else:
                socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5).close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._count_fds() > base + 2:
            time.sleep(0.1)
        self.assertLessEqual(self._count_fds(), base + 2,
                             "calcd holds %d descriptors, %d before 300 short connections"
                             % (self._count_fds(), base))
        self.daemon.assert_alive(self)


if __name__ == "__main__":
    unittest.main(verbosity=2)
