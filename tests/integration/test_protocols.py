"""The tutorial flows over every transport x protocol combination, plain
and multiplexed, the method name each reply carries on the wire, and the
arithmetic and calculation log behind them."""

import os
import unittest

from calcd_harness import (ALL_COMBOS, COMBOS, INT32_MAX, INT32_MIN, CalculatorService, DaemonTestCase, InvalidOperation, Operation,
                           HEADER_PROTOCOL_IDS, PROTOCOLS, RawReplies, SharedService, SharedStruct,
                           combo_name, encode_call, encode_messages, frame_payload, fresh_logid,
                           message_header, raw_socket, read_reply, work)

from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport import TTransport


class TutorialFlow(DaemonTestCase):

    def _flow(self, c, InvalidOperation=InvalidOperation, Work=None, Op=Operation):
        Work = Work or (lambda a, b, op: work(a, b, op))
        client = c.client
        self.assertIsNone(client.ping())
        self.assertEqual(client.add(1, 1), 2)
        with self.assertRaises(InvalidOperation) as cm:
            client.calculate(1, Work(1, 0, Op.DIVIDE))
        self.assertEqual(cm.exception.whatOp, Op.DIVIDE)
        self.assertIn("divide by 0", cm.exception.why)
        self.assertEqual(client.calculate(1, Work(15, 10, Op.SUBTRACT)), 5)
        log = client.getStruct(1)
        self.assertEqual(log.key, 1)
        self.assertEqual(log.value, "5")
        self.assertIsNone(client.zip())
        # zip is oneway: no reply may be waiting; the next call gets its own.
        self.assertEqual(client.add(-7, 3), -4)
        client.ping()
        self.assertEqual(client.calculate(2, Work(6, 7, Op.MULTIPLY)), 42)

    def test_tutorial_flow_every_combination(self):
        for transport, protocol, mux in ALL_COMBOS:
            with self.subTest(combo=combo_name(transport, protocol, mux)):
                with self.connect(transport, protocol, mux) as c:
                    self._flow(c)

    @unittest.skipUnless(os.environ.get("CALCD_TUTORIAL_IDL"),
                         "set CALCD_TUTORIAL_IDL to the Apache tutorial's tutorial.thrift")
    def test_apache_tutorial_generated_client(self):
        # Code generated from the Apache tutorial's own tutorial.thrift + shared.thrift.
        from tutorial import Calculator as TutorialCalculator
        from tutorial.ttypes import InvalidOperation as TInvalidOperation
        from tutorial.ttypes import Operation as TOperation
        from tutorial.ttypes import Work as TWork
        for transport, protocol in COMBOS:
            for mux in (None, "Calculator"):
                with self.subTest(combo=combo_name(transport, protocol, mux)):
                    with self.connect(transport, protocol, mux, service=TutorialCalculator) as c:
                        self._flow(c, InvalidOperation=TInvalidOperation,
                                   Work=lambda a, b, op: TWork(num1=a, num2=b, op=op),
                                   Op=TOperation)

    def test_calculator_service_client(self):
        # The user's service name, as its generated client sends it.
        for transport, protocol in COMBOS:
            for mux in (None, "CalculatorService"):
                with self.subTest(combo=combo_name(transport, protocol, mux)):
                    with self.connect(transport, protocol, mux, service=CalculatorService) as c:
                        self.assertEqual(c.client.add(5, 3), 8)
                        self.assertEqual(c.client.subtract(10, 4), 6)
                        self.assertEqual(c.client.subtract(4, 10), -6)

    def test_many_calls_on_one_connection(self):
        for transport, protocol in COMBOS:
            # An unbuffered TSocket client writes each field on its own and
            # pays Nagle + delayed ACK (~40 ms) per call: fewer calls there.
            n = 20 if transport == "socket" else 500
            with self.subTest(combo=combo_name(transport, protocol)):
                with self.connect(transport, protocol) as c:
                    for i in range(n):
                        self.assertEqual(c.client.add(i, i * 3), i * 4)


class ReplyNames(DaemonTestCase):
    """The name in a reply, read off the wire: always the bare method, as
    Apache Thrift's TMultiplexedProcessor answers "Service:method" (generated
    C++ clients skip a reply named otherwise, Go's and C GLib's fail it; some
    clients never look, so only the bytes tell)."""

    WORK = (TType.STRUCT, [(1, TType.I32, 6), (2, TType.I32, 7), (3, TType.I32, Operation.MULTIPLY)])
    DIVIDE_BY_ZERO = (TType.STRUCT, [(1, TType.I32, 1), (2, TType.I32, 0),
                                     (3, TType.I32, Operation.DIVIDE)])

    def cases(self, logid):
        """(name sent, args, reply name, reply type, result class, check of the value)."""
        def result(want):
            return lambda v: self.assertEqual(v.success, want)

        def app_error(type_, message):
            return lambda v: self.assertEqual((v.type, v.message), (type_, message))

        def ouch(v):
            self.assertIsNone(v.success)
            self.assertEqual((v.ouch.whatOp, v.ouch.why), (Operation.DIVIDE, "Cannot divide by 0"))

        ab = [(1, TType.I32, 5), (2, TType.I32, 3)]
        reply, exc = TMessageType.REPLY, TMessageType.EXCEPTION
        return [
            ("CalculatorService:add", ab, "add", reply, CalculatorService.add_result, result(8)),
            ("Calculator:add", ab, "add", reply, CalculatorService.add_result, result(8)),
            ("add", ab, "add", reply, CalculatorService.add_result, result(8)),
            ("Calculator:calculate", [(1, TType.I32, logid), (2,) + self.WORK], "calculate", reply,
             CalculatorService.calculate_result, result(42)),
            ("SharedService:getStruct", [(1, TType.I32, logid)], "getStruct", reply,
             SharedService.getStruct_result, result(SharedStruct(key=logid, value="42"))),
            ("CalculatorService:ping", [], "ping", reply, CalculatorService.ping_result,
             lambda v: None),
            ("Calculator:calculate", [(1, TType.I32, logid + 1), (2,) + self.DIVIDE_BY_ZERO],
             "calculate", reply, CalculatorService.calculate_result, ouch),
            ("CalculatorService:add", [(1, TType.I32, INT32_MAX), (2, TType.I32, 1)], "add", exc,
             None, app_error(TApplicationException.UNKNOWN, "add: 2147483647 + 1 overflows i32")),
            ("Nope:add", ab, "add", exc, None,
             app_error(TApplicationException.UNKNOWN_METHOD,
                       "unknown service 'Nope' (calcd serves CalculatorService, Calculator and "
                       "SharedService)")),
            ("Calculator:add", [(1, TType.I32, 40), (2, TType.I32, 2)], "add", reply,
             CalculatorService.add_result, result(42)),
        ]

    def test_reply_names_the_bare_method(self):
        for transport in ("buffered", "framed", "header"):
            for protocol in ("binary", "compact"):
                with self.subTest(combo=combo_name(transport, protocol)):
                    self._one_connection(transport, protocol)

    def _one_connection(self, transport, protocol):
        s = raw_socket(self.daemon)
        self.addCleanup(s.close)
        replies = RawReplies(s, transport, protocol)
        logid = fresh_logid()
        for i, (name, fields, want_name, want_type, result_cls, check) in enumerate(self.cases(logid)):
            seqid = (-1) ** i * (1000 + i)  # negative ones too: every seqid is echoed
            with self.subTest(call=name, seqid=seqid):
                payload = encode_messages("buffered", protocol, lambda p, flush: encode_call(
                    p, flush, name, fields, seqid))
                s.sendall(frame_payload(transport, protocol, payload, seqid=7 + i))
                got, header = replies.next()
                # The name field itself, byte for byte: the bare method.
                want = message_header(protocol, want_name, want_type, seqid)
                self.assertEqual(got[:len(want)], want, "reply begins %r" % got[:48])
                if transport == "header":
                    self.assertEqual(header, (HEADER_PROTOCOL_IDS[protocol], 7 + i))
                rname, mtype, rseqid, value = read_reply(
                    PROTOCOLS[protocol](TTransport.TMemoryBuffer(got)), result_cls)
                self.assertEqual((rname, mtype, rseqid), (want_name, want_type, seqid))
                check(value)
        # A oneway call gets no reply; the connection still answers after it all.
        zip_call = encode_messages("buffered", protocol, lambda p, flush: encode_call(
            p, flush, "CalculatorService:zip", [], 1, TMessageType.ONEWAY))
        add_call = encode_messages("buffered", protocol, lambda p, flush: encode_call(
            p, flush, "CalculatorService:add", [(1, TType.I32, 2), (2, TType.I32, 2)], 2))
        s.sendall(frame_payload(transport, protocol, zip_call, seqid=98) +
                  frame_payload(transport, protocol, add_call, seqid=99))
        got, header = replies.next()
        want = message_header(protocol, "add", TMessageType.REPLY, 2)
        self.assertEqual(got[:len(want)], want, "reply begins %r" % got[:48])
        self.assertEqual(read_reply(PROTOCOLS[protocol](TTransport.TMemoryBuffer(got)),
                                    CalculatorService.add_result)[3].success, 4)
        self.assertEqual(replies.buf, b"", "bytes after the last reply")


class Arithmetic(DaemonTestCase):

    def test_add_subtract_edges(self):
        c = self.connect("framed", "compact")
        cases = [
            (c.client.add, 0, 0, 0),
            (c.client.add, INT32_MAX, 0, INT32_MAX),
            (c.client.add, INT32_MIN, 0, INT32_MIN),
            (c.client.add, INT32_MAX, INT32_MIN, -1),
            (c.client.add, INT32_MAX - 1, 1, INT32_MAX),
            (c.client.add, INT32_MIN + 1, -1, INT32_MIN),
            (c.client.subtract, -1, INT32_MAX, INT32_MIN),
            (c.client.subtract, INT32_MIN, INT32_MIN, 0),
            (c.client.subtract, 0, INT32_MAX, -INT32_MAX),
            (c.client.subtract, 123456789, -987654321, 1111111110),
        ]
        for fn, a, b, want in cases:
            with self.subTest(op=fn.__name__, a=a, b=b):
                self.assertEqual(fn(a, b), want)

    def test_calculate_operations(self):
        cases = [
            (6, 7, Operation.ADD, 13),
            (6, 7, Operation.SUBTRACT, -1),
            (6, 7, Operation.MULTIPLY, 42),
            (-6, 7, Operation.MULTIPLY, -42),
            (46340, 46340, Operation.MULTIPLY, 2147395600),
            (INT32_MIN, 1, Operation.MULTIPLY, INT32_MIN),
            (-65536, 32768, Operation.MULTIPLY, INT32_MIN),
            (42, 6, Operation.DIVIDE, 7),
            (7, 2, Operation.DIVIDE, 3),
            (-7, 2, Operation.DIVIDE, -3),      # truncates toward zero, as i32 division does
            (7, -2, Operation.DIVIDE, -3),
            (INT32_MIN, 1, Operation.DIVIDE, INT32_MIN),
            (INT32_MIN, 2, Operation.DIVIDE, -2**30),
            (0, 5, Operation.DIVIDE, 0),
            (INT32_MAX, INT32_MIN + 1, Operation.ADD, 0),
            (INT32_MIN, INT32_MIN, Operation.SUBTRACT, 0),
        ]
        for transport, protocol in (("buffered", "binary"), ("framed", "compact")):
            c = self.connect(transport, protocol)
            for a, b, op, want in cases:
                with self.subTest(combo=combo_name(transport, protocol), a=a, b=b, op=op):
                    logid = fresh_logid()
                    self.assertEqual(c.client.calculate(logid, work(a, b, op)), want)
                    self.assertEqual(c.client.getStruct(logid),
                                     SharedStruct(key=logid, value=str(want)))

    def test_work_with_comment(self):
        c = self.connect()
        logid = fresh_logid()
        self.assertEqual(c.client.calculate(logid, work(2, 3, Operation.MULTIPLY,
                                                        comment="über " * 100)), 6)
        self.assertEqual(c.client.getStruct(logid).value, "6")

    def test_work_num1_default(self):
        # Work.num1 defaults to 0 in the IDL; a generated client sends it.
        c = self.connect()
        logid = fresh_logid()
        from example.calculator.ttypes import Work
        self.assertEqual(c.client.calculate(logid, Work(num2=5, op=Operation.SUBTRACT)), -5)
        self.assertEqual(c.client.getStruct(logid).value, "-5")


class CalculationLog(DaemonTestCase):

    def test_get_struct_returns_the_newest_success(self):
        c = self.connect()
        logid = fresh_logid()
        self.assertEqual(c.client.calculate(logid, work(6, 7, Operation.MULTIPLY)), 42)
        self.assertEqual(c.client.getStruct(logid).value, "42")
        self.assertEqual(c.client.calculate(logid, work(1, 2, Operation.SUBTRACT)), -1)
        self.assertEqual(c.client.getStruct(logid), SharedStruct(key=logid, value="-1"))

    def test_failed_calculate_is_not_logged(self):
        c = self.connect()
        logid = fresh_logid()
        self.assertEqual(c.client.calculate(logid, work(40, 2, Operation.ADD)), 42)
        with self.assertRaises(InvalidOperation):
            c.client.calculate(logid, work(1, 0, Operation.DIVIDE))
        with self.assertRaises(InvalidOperation):
            c.client.calculate(logid, work(INT32_MAX, 1, Operation.ADD))
        self.assertEqual(c.client.getStruct(logid).value, "42")

    def test_log_is_shared_between_connections_and_protocols(self):
        logid = fresh_logid()
        with self.connect("buffered", "binary") as a:
            self.assertEqual(a.client.calculate(logid, work(INT32_MIN, 0, Operation.ADD)),
                             INT32_MIN)
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                with self.connect(transport, protocol, "Calculator") as b:
                    self.assertEqual(b.client.getStruct(logid),
                                     SharedStruct(key=logid, value=str(INT32_MIN)))

    def test_negative_and_zero_logids(self):
        c = self.connect("framed", "compact-accel")
        for logid in (0, -1, INT32_MIN, INT32_MAX):
            with self.subTest(logid=logid):
                want = (logid % 1000) - 500
                self.assertEqual(c.client.calculate(logid, work(want, 0, Operation.ADD)), want)
                self.assertEqual(c.client.getStruct(logid),
                                 SharedStruct(key=logid, value=str(want)))

    def test_unknown_key_after_use(self):
        c = self.connect()
        logid = fresh_logid()
        with self.assertRaises(TApplicationException):
            c.client.getStruct(logid)
        self.assertEqual(c.client.calculate(logid, work(1, 1, Operation.ADD)), 2)
        self.assertEqual(c.client.getStruct(logid).value, "2")


if __name__ == "__main__":
    unittest.main(verbosity=2)
