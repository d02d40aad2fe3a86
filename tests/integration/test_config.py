"""Config keys that change what a running calcd does (etc/calcd.conf
documents each), and the config file's syntax."""

import re
import time
import unittest

from calcd_harness import (PROTOCOLS, CalculatorService, Daemon, Operation, SharedStruct, connect,
                           encode_call, encode_messages, fresh_logid, proc_fd_count, raw_socket,
                           read_reply, reply_reader, run_calcd, wait_closed, work, write_file)

from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport import TTransport


def daemon_with(text, expect=1):
    """A running calcd whose whole config is text (listen lines included)."""
    return Daemon(listen=None, conf=write_file("limits", text), expect=expect)


class Syntax(unittest.TestCase):

    def test_comments_and_spacing(self):
        path = write_file("syntax", "   # indented comment\n"
                                    "workers = 2  # two\n"
                                    "\tlisten\t=\t127.0.0.1:0\t\n"
                                    "max_message_size = 64K\n"
                                    "idle_timeout = 5m\n"
                                    "\n")
        r = run_calcd(["-t", "-c", path])
        self.assertEqual(r.returncode, 0, r.stderr)
        with Daemon(listen=None, conf=path) as d:
            d.assert_alive(self)

    def test_duplicate_key(self):
        path = write_file("dup", "workers = 2\nworkers = 3\n")
        r = run_calcd(["-t", "-c", path])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"(?m)^%s:2: .*workers" % re.escape(path))

    def test_listen_repeated(self):
        with daemon_with("listen = 127.0.0.1:0\nlisten = 127.0.0.1:0\n", expect=2) as d:
            self.assertEqual(len({a[2] for a in d.addresses}), 2, d.addresses)
            for _, host, port in d.addresses:
                with connect(d, host=host, port=port) as c:
                    self.assertEqual(c.client.add(port, -port), 0)


class Limits(unittest.TestCase):

    def test_max_connections(self):
        # At max_connections a new connection still gets in: the worker it goes
        # to closes one of its idle connections (calcd.conf(5), "Admission when
        # full"); which one depends on the worker, so any one of the three.
        with daemon_with("listen = 127.0.0.1:0\nmax_connections = 3\nworkers = 2\n") as d:
            conns = [connect(d, "framed", "compact") for _ in range(3)]
            try:
                for i, c in enumerate(conns):
                    self.assertEqual(c.client.add(i, 1), i + 1)
                base = proc_fd_count(d.proc.pid)
                extra = connect(d)
                conns.append(extra)
                self.assertEqual(extra.client.add(2, 2), 4)
                # Its place was made before its call was read: one of the three is closed.
                survivors = []
                for i, c in enumerate(conns[:3]):
                    try:
                        self.assertEqual(c.client.subtract(i, 1), i - 1)
                        survivors.append(c)
                    except TTransport.TTransportException:
                        pass
                self.assertEqual(len(survivors), 2, "a 4th connection with max_connections = 3 "
                                 "closed %d of the first three" % (3 - len(survivors)))
                self.assertEqual(proc_fd_count(d.proc.pid), base)
                # A connection that goes frees its place: the next takes it, closing none.
                survivors[0].close()
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and proc_fd_count(d.proc.pid) >= base:
                    time.sleep(0.02)
                with connect(d) as c:
                    self.assertEqual(c.client.add(3, 3), 6)
                    for other in (survivors[1], extra):
                        self.assertEqual(other.client.add(1, 1), 2)
            finally:
                for c in conns:
                    c.close()

    def test_idle_timeout(self):
        with daemon_with("listen = 127.0.0.1:0\nidle_timeout = 1s\n") as d:
            idle = connect(d)
            busy = connect(d, "framed", "compact")
            try:
                idle.client.ping()
                t0 = time.monotonic()
                for i in range(20):                 # 2 s of activity, 100 ms apart
                    self.assertEqual(busy.client.add(i, i), 2 * i)
                    time.sleep(0.1)
                closed, _ = wait_closed(idle.sock.handle, 5.0)
                self.assertTrue(closed, "idle connection still open after idle_timeout")
                self.assertGreater(time.monotonic() - t0, 0.8)
                self.assertEqual(busy.client.add(1, 1), 2)
            finally:
                idle.close()
                busy.close()

    def test_max_message_size(self):
        with daemon_with("listen = 127.0.0.1:0\nmax_message_size = 1K\n") as d:
            for transport, protocol in (("buffered", "binary"), ("framed", "compact")):
                with self.subTest(transport=transport, protocol=protocol):
                    c = connect(d, transport, protocol)
                    try:
                        logid = fresh_logid()
                        self.assertEqual(c.client.calculate(
                            logid, work(2, 3, Operation.ADD, comment="x" * 500)), 5)
                        c.send_call("calculate", [
                            (1, TType.I32, logid),
                            (2, TType.STRUCT, [(1, TType.I32, 1), (2, TType.I32, 1),
                                               (3, TType.I32, Operation.ADD),
                                               (4, TType.STRING, "y" * 2000)])], seqid=2)
                        closed, data = wait_closed(c.sock.handle, 5.0)
                        self.assertTrue(closed, "a 2 KB message was not refused")
                        if transport == "framed":
                            # Refused from the frame length alone: nothing to answer.
                            self.assertEqual(data, b"", "no reply expected to a refused frame")
                        else:
                            # The call was named before the string passed the limit:
                            # it gets a PROTOCOL_ERROR, then the close.
                            p = PROTOCOLS[protocol](TTransport.TMemoryBuffer(data))
                            name, mtype, seqid = p.readMessageBegin()
                            x = TApplicationException()
                            x.read(p)
                            self.assertEqual((name, mtype, seqid),
                                             ("calculate", TMessageType.EXCEPTION, 2))
                            self.assertEqual(x.type, TApplicationException.PROTOCOL_ERROR)
                            self.assertIn("max_message_size", x.message)
                    finally:
                        c.close()
            d.assert_alive(self)

    def test_calculation_log_size(self):
        with daemon_with("listen = 127.0.0.1:0\ncalculation_log_size = 4\n") as d:
            with connect(d) as c:
                logids = [fresh_logid() for _ in range(6)]
                for n, logid in enumerate(logids):
                    self.assertEqual(c.client.calculate(logid, work(n, 10, Operation.MULTIPLY)),
                                     n * 10)
                for n, logid in enumerate(logids):
                    if n < 2:
                        with self.assertRaises(TApplicationException, msg="logid #%d" % n):
                            c.client.getStruct(logid)
                    else:
                        self.assertEqual(c.client.getStruct(logid),
                                         SharedStruct(key=logid, value=str(n * 10)))

    def test_calculation_log_million(self):
        # The largest log: getStruct is answered (it no longer scans the log).
        with daemon_with("listen = 127.0.0.1:0\ncalculation_log_size = 1000000\n") as d:
            for transport, protocol in (("buffered", "binary"), ("framed", "compact")):
                with connect(d, transport, protocol) as c:
                    logids = [fresh_logid() for _ in range(1000)]
                    for n, logid in enumerate(logids):
                        self.assertEqual(c.client.calculate(logid, work(n, 3, Operation.ADD)),
                                         n + 3)
                    self.assertEqual(c.client.calculate(logids[0], work(7, 6,
                                                                        Operation.MULTIPLY)), 42)
                    for n, logid in enumerate(logids):
                        self.assertEqual(c.client.getStruct(logid),
                                         SharedStruct(key=logid, value=str(42 if n == 0
                                                                             else n + 3)))
                    with self.assertRaises(TApplicationException):
                        c.client.getStruct(fresh_logid())
            d.assert_alive(self)

    def test_max_nesting_depth_one(self):
        # The limit is for what calcd skips: the arguments and Work don't count.
        with daemon_with("listen = 127.0.0.1:0\nmax_nesting_depth = 1\n") as d:
            for transport, protocol in (("buffered", "binary"), ("framed", "binary"),
                                        ("buffered", "compact"), ("framed", "compact")):
                with self.subTest(transport=transport, protocol=protocol):
                    with connect(d, transport, protocol) as c:
                        logid = fresh_logid()
                        self.assertEqual(c.client.calculate(logid, work(6, 7,
                                                                        Operation.MULTIPLY)), 42)
                        self.assertEqual(c.client.getStruct(logid).value, "42")
                        # An unknown field one level deep, in the arguments and in Work.
                        c.send_call("calculate", [
                            (1, TType.I32, logid),
                            (2, TType.STRUCT, [(1, TType.I32, 5), (2, TType.I32, 4),
                                               (3, TType.I32, Operation.SUBTRACT),
                                               (9, TType.STRUCT, [(1, TType.I32, 1)])]),
                            (3, TType.LIST, (TType.I32, [1, 2, 3]))], seqid=5)
                        name, mtype, seqid, res = c.read_reply(
                            CalculatorService.calculate_result)
                        self.assertEqual((mtype, seqid, res.success), (TMessageType.REPLY, 5, 1))
                        # Two levels: refused, the call named, the connection closed.
                        c.send_call("add", [(1, TType.I32, 1), (2, TType.I32, 2),
                                            (3, TType.STRUCT, [(1, TType.STRUCT,
                                                                [(1, TType.I32, 1)])])], seqid=6)
                        name, mtype, seqid, x = c.read_reply()
                        self.assertEqual((mtype, seqid), (TMessageType.EXCEPTION, 6))
                        self.assertEqual(x.type, TApplicationException.PROTOCOL_ERROR)
                        self.assertIn("nesting too deep", x.message)
                        closed, _ = wait_closed(c.sock.handle, timeout=5.0)
                        self.assertTrue(closed, "connection still open")
            d.assert_alive(self)

    def test_slow_reader_does_not_block_others(self):
        # A client pipelines far more replies than max_output_buffer and
        # reads none; calcd must keep serving everyone else.
        with daemon_with("listen = 127.0.0.1:0\nmax_output_buffer = 4K\n") as d:
            data = encode_messages("buffered", "binary", lambda p, flush: [
                encode_call(p, flush, "add", [(1, TType.I32, i), (2, TType.I32, 1)], i)
                for i in range(5000)])
            hog = raw_socket(d)
            try:
                hog.settimeout(0.5)
                sent = 0
                deadline = time.monotonic() + 5
                while sent < len(data) and time.monotonic() < deadline:
                    try:
                        sent += hog.send(data[sent:sent + 65536])
                    except OSError:
                        break
                with connect(d, "framed", "compact") as c:
                    for i in range(20):
                        self.assertEqual(c.client.add(i, 1), i + 1)
                # The hog gets every reply, in order, once it reads: calcd
                # "stops reading from that client until it drains", then goes on.
                hog.settimeout(10)
                proto = reply_reader(hog, "buffered", "binary")
                calls_sent = sent // (len(data) // 5000)    # binary calls: all one length
                self.assertGreater(calls_sent, 1000)
                for i in range(calls_sent):
                    try:
                        name, mtype, seqid, r = read_reply(proto, CalculatorService.add_result)
                    except Exception as e:  # noqa: BLE001
                        self.fail("reply %d of %d never came (%r)" % (i, calls_sent, e))
                    self.assertEqual((mtype, seqid, r.success), (TMessageType.REPLY, i, i + 1))
            finally:
                hog.close()
            d.assert_alive(self)

    def test_pipeline_past_max_output_buffer(self):
        # A client that pipelines more replies' worth of calls than
        # max_output_buffer, and reads as it goes, gets every reply.
        with daemon_with("listen = 127.0.0.1:0\nmax_output_buffer = 4K\n") as d:
            for transport, protocol in (("buffered", "binary"), ("framed", "compact")):
                with self.subTest(transport=transport, protocol=protocol):
                    n = 2000
                    data = encode_messages(transport, protocol, lambda p, flush: [
                        encode_call(p, flush, "add", [(1, TType.I32, i), (2, TType.I32, 7)], i)
                        for i in range(n)])
                    s = raw_socket(d, timeout=5)
                    try:
                        s.sendall(data)
                        proto = reply_reader(s, transport, protocol)
                        for i in range(n):
                            try:
                                name, mtype, seqid, r = read_reply(
                                    proto, CalculatorService.add_result)
                            except Exception as e:  # noqa: BLE001
                                self.fail("reply %d of %d never came (%r)" % (i, n, e))
                            self.assertEqual((mtype, seqid, r.success),
                                             (TMessageType.REPLY, i, i + 7))
                    finally:
                        s.close()
            d.assert_alive(self)

    def test_message_timeout(self):
        with daemon_with("listen = 127.0.0.1:0\nmessage_timeout = 2s\nidle_timeout = 300s\n") as d:
            call = encode_messages("buffered", "binary", lambda p, flush: encode_call(
                p, flush, "add", [(1, TType.I32, 20), (2, TType.I32, 22)], 1))
            # A message arriving in pieces within the limit is answered.
            s = raw_socket(d)
            self.addCleanup(s.close)
            for i in range(0, len(call), 5):
                s.sendall(call[i:i + 5])
                time.sleep(0.03)
            name, mtype, seqid, r = read_reply(reply_reader(s, "buffered", "binary"),
                                               CalculatorService.add_result)
            self.assertEqual(r.success, 42)
            # Half a message, then nothing: closed after about two seconds.
            t0 = time.monotonic()
            s.sendall(call[:9])
            closed, _ = wait_closed(s, 8.0)
            self.assertTrue(closed, "half a message held the connection open for 8 s")
            self.assertGreater(time.monotonic() - t0, 1.5)
            d.assert_alive(self)


if __name__ == "__main__":
    unittest.main(verbosity=2)
