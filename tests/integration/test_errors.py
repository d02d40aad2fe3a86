"""Errors a call can get back, and that the connection goes on after each."""

import re
import unittest

from calcd_harness import (COMBOS, INT32_MAX, INT32_MIN, CalculatorService, DaemonTestCase,
                           InvalidOperation, Operation, combo_name, fresh_logid, work)

from thrift.Thrift import TApplicationException, TMessageType, TType

UNKNOWN = TApplicationException.UNKNOWN                   # 0
UNKNOWN_METHOD = TApplicationException.UNKNOWN_METHOD     # 1
PROTOCOL_ERROR = TApplicationException.PROTOCOL_ERROR     # 7


def names(word):
    """A regex matching a mention of word.  Argument names like "a" are also
    English words, so a one-letter name must be quoted or follow "argument"."""
    w = re.escape(word)
    if len(word) == 1:
        return re.compile(r"['\"`]%s['\"`]|argument %s(?![A-Za-z0-9_])" % (w, w))
    return re.compile(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % w)


class ErrorsTestCase(DaemonTestCase):

    def assertStillWorks(self, c, n=0):
        """The same connection answers another call correctly."""
        self.assertEqual(c.client.add(n, 1000), n + 1000)

    def assertAppError(self, exc, type_, *words):
        self.assertIsInstance(exc, TApplicationException)
        self.assertEqual(exc.type, type_, "type %r, message %r" % (exc.type, exc.message))
        for w in words:
            self.assertRegex(exc.message or "", names(w) if isinstance(w, str) else w)


class UnknownMethod(ErrorsTestCase):

    def test_generated_client_with_extra_method(self):
        from itest.extra import CalculatorService as Extra
        for transport, protocol in COMBOS:
            for mux in (None, "CalculatorService", "Calculator"):
                with self.subTest(combo=combo_name(transport, protocol, mux)):
                    with self.connect(transport, protocol, mux, service=Extra) as c:
                        self.assertEqual(c.client.add(2, 3), 5)
                        with self.assertRaises(TApplicationException) as cm:
                            c.client.multiply(6, 7)
                        self.assertAppError(cm.exception, UNKNOWN_METHOD, "multiply")
                        self.assertEqual(c.client.add(4, 5), 9)
                        with self.assertRaises(TApplicationException) as cm:
                            c.client.multiply(1, 1)
                        self.assertEqual(cm.exception.type, UNKNOWN_METHOD)
                        self.assertEqual(c.client.add(-4, -5), -9)

    def test_hand_written_unknown_method(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                c = self.connect(transport, protocol)
                c.send_call("frobnicate", [(1, TType.I32, 7), (2, TType.STRING, "x"),
                                           (3, TType.STRUCT, [(1, TType.I32, 1)])], seqid=4242)
                name, mtype, seqid, exc = c.read_reply()
                self.assertEqual(mtype, TMessageType.EXCEPTION)
                self.assertEqual(seqid, 4242)
                self.assertAppError(exc, UNKNOWN_METHOD, "frobnicate")
                self.assertStillWorks(c)


    def test_long_utf8_method_name(self):
        # 300 bytes of multi-byte characters: the message quotes as much of
        # the name as fits, cut between characters, so the client decodes
        # the exception rather than failing with UnicodeDecodeError.
        for prefix in ("", "x", "xx"):
            name = prefix + "\u20ac" * ((300 - len(prefix)) // 3)
            for transport, protocol in COMBOS:
                with self.subTest(prefix=prefix, combo=combo_name(transport, protocol)):
                    with self.connect(transport, protocol) as c:
                        c.send_call(name, [(1, TType.I32, 1)], seqid=99)
                        rname, mtype, seqid, exc = c.read_reply()
                        self.assertEqual((rname, mtype, seqid),
                                         (name, TMessageType.EXCEPTION, 99))
                        self.assertAppError(exc, UNKNOWN_METHOD)
                        quoted = re.search(r"'([^']*)\.\.\.'", exc.message)
                        self.assertIsNotNone(quoted, exc.message)
                        self.assertTrue(name.startswith(quoted.group(1)), exc.message)
                        self.assertGreater(len(quoted.group(1)), 50)
                        self.assertStillWorks(c)

    def test_unknown_service_prefix(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                c = self.connect(transport, protocol)
                c.send_call("Foo:add", [(1, TType.I32, 1), (2, TType.I32, 2)], seqid=77)
                name, mtype, seqid, exc = c.read_reply()
                self.assertEqual((mtype, seqid), (TMessageType.EXCEPTION, 77))
                self.assertAppError(exc, UNKNOWN_METHOD, "Foo")
                self.assertStillWorks(c)

    def test_shared_service_prefix(self):
        # SharedService (the IDL's base service) has getStruct and nothing else.
        logid = fresh_logid()
        c = self.connect("framed", "binary", "SharedService")
        with self.connect() as setup:
            self.assertEqual(setup.client.calculate(logid, work(3, 4, Operation.ADD)), 7)
        self.assertEqual(c.client.getStruct(logid).value, "7")
        c.send_call("add", [(1, TType.I32, 1), (2, TType.I32, 2)], seqid=3)
        name, mtype, seqid, exc = c.read_reply()
        self.assertEqual((mtype, seqid), (TMessageType.EXCEPTION, 3))
        self.assertAppError(exc, UNKNOWN_METHOD, "add")
        self.assertEqual(c.client.getStruct(logid).key, logid)


class WrongMessageType(ErrorsTestCase):

    def test_reply_and_exception_messages_are_refused(self):
        for transport, protocol in COMBOS:
            for mtype in (TMessageType.REPLY, TMessageType.EXCEPTION):
                with self.subTest(combo=combo_name(transport, protocol), mtype=mtype):
                    c = self.connect(transport, protocol)
                    c.send_call("add", [(0, TType.I32, 5)], seqid=31, mtype=mtype)
                    name, got_type, seqid, exc = c.read_reply()
                    self.assertEqual((got_type, seqid), (TMessageType.EXCEPTION, 31))
                    self.assertAppError(exc, TApplicationException.INVALID_MESSAGE_TYPE)
                    self.assertStillWorks(c)


class Overflow(ErrorsTestCase):

    def test_add_subtract_overflow(self):
        cases = [("add", INT32_MAX, 1), ("add", INT32_MIN, -1), ("add", INT32_MAX, INT32_MAX),
                 ("add", INT32_MIN, INT32_MIN), ("subtract", INT32_MIN, 1),
                 ("subtract", INT32_MAX, -1), ("subtract", 0, INT32_MIN),
                 ("subtract", -2, INT32_MAX)]
        for transport, protocol in COMBOS:
            c = self.connect(transport, protocol)
            for method, a, b in cases:
                with self.subTest(combo=combo_name(transport, protocol), call=(method, a, b)):
                    with self.assertRaises(TApplicationException) as cm:
                        getattr(c.client, method)(a, b)
                    self.assertAppError(cm.exception, UNKNOWN, re.compile("overflow", re.I))
                    self.assertStillWorks(c, a % 1000)

    def test_calculate_overflow(self):
        cases = [(INT32_MAX, 1, Operation.ADD), (INT32_MIN, -1, Operation.ADD),
                 (INT32_MIN, 1, Operation.SUBTRACT), (INT32_MAX, -1, Operation.SUBTRACT),
                 (INT32_MIN, -1, Operation.DIVIDE), (65536, 65536, Operation.MULTIPLY),
                 (46341, 46341, Operation.MULTIPLY), (INT32_MIN, -1, Operation.MULTIPLY),
                 (-65536, 32769, Operation.MULTIPLY), (INT32_MAX, INT32_MAX, Operation.MULTIPLY)]
        for transport, protocol in COMBOS:
            c = self.connect(transport, protocol)
            for a, b, op in cases:
                with self.subTest(combo=combo_name(transport, protocol), work=(a, b, op)):
                    with self.assertRaises(InvalidOperation) as cm:
                        c.client.calculate(fresh_logid(), work(a, b, op))
                    self.assertEqual(cm.exception.whatOp, op)
                    self.assertRegex(cm.exception.why or "", re.compile("overflow", re.I))
                    self.assertStillWorks(c)


class CalculateErrors(ErrorsTestCase):

    def test_divide_by_zero(self):
        for transport, protocol in COMBOS:
            c = self.connect(transport, protocol)
            for a in (1, 0, -5, INT32_MIN, INT32_MAX):
                with self.subTest(combo=combo_name(transport, protocol), num1=a):
                    with self.assertRaises(InvalidOperation) as cm:
                        c.client.calculate(fresh_logid(), work(a, 0, Operation.DIVIDE))
                    self.assertEqual(cm.exception.whatOp, 4)
                    self.assertIn("divide by 0", cm.exception.why)
                    self.assertStillWorks(c)

    def test_unknown_operation(self):
        c = self.connect()
        for op in (0, 5, 99, -1):
            with self.subTest(op=op):
                with self.assertRaises(InvalidOperation) as cm:
                    c.client.calculate(fresh_logid(), work(1, 2, op))
                self.assertEqual(cm.exception.whatOp, op)
                self.assertTrue(cm.exception.why)
                self.assertStillWorks(c)

    def test_get_struct_unknown_key(self):
        for transport, protocol in COMBOS:
            c = self.connect(transport, protocol)
            for key in (987654321, -424242):
                with self.subTest(combo=combo_name(transport, protocol), key=key):
                    with self.assertRaises(TApplicationException) as cm:
                        c.client.getStruct(key)
                    self.assertAppError(cm.exception, UNKNOWN, str(key))
                    self.assertStillWorks(c)


class BadArguments(ErrorsTestCase):
    """Hand-written calls whose arguments are missing or of the wrong type."""

    CASES = [
        # (method, fields, the argument the message must name)
        ("add", [(1, TType.I32, 1)], "b"),
        ("add", [(2, TType.I32, 1)], "a"),
        ("add", [], "a"),
        ("add", [(1, TType.STRING, "one"), (2, TType.I32, 2)], "a"),
        ("add", [(1, TType.I32, 1), (2, TType.I64, 2)], "b"),
        ("subtract", [(1, TType.I32, 1)], "b"),
        ("subtract", [(1, TType.I32, 1), (2, TType.STRUCT, [(1, TType.I32, 1)])], "b"),
        ("calculate", [(1, TType.I32, 1)], "w"),
        ("calculate", [(2, TType.STRUCT, [(1, TType.I32, 1), (2, TType.I32, 2),
                                          (3, TType.I32, 1)])], "logid"),
        ("calculate", [(1, TType.I32, 1), (2, TType.I32, 2)], "w"),
        ("calculate", [(1, TType.STRING, "x"),
                       (2, TType.STRUCT, [(1, TType.I32, 1), (2, TType.I32, 2),
                                          (3, TType.I32, 1)])], "logid"),
        ("getStruct", [], "key"),
        ("getStruct", [(1, TType.STRING, "1")], "key"),
    ]

    def test_missing_or_mistyped_arguments(self):
        for transport, protocol in COMBOS:
            c = self.connect(transport, protocol)
            for i, (method, fields, arg) in enumerate(self.CASES):
                with self.subTest(combo=combo_name(transport, protocol), method=method,
                                  fields=fields):
                    c.send_call(method, fields, seqid=100 + i)
                    name, mtype, seqid, exc = c.read_reply()
                    self.assertEqual(mtype, TMessageType.EXCEPTION)
                    self.assertEqual(seqid, 100 + i)
                    self.assertAppError(exc, PROTOCOL_ERROR, arg)
                    self.assertStillWorks(c, i)

    def test_multiplexed_missing_argument(self):
        for mux in ("CalculatorService", "Calculator"):
            with self.subTest(mux=mux):
                c = self.connect("framed", "compact", mux)
                c.send_call("add", [(1, TType.I32, 1)], seqid=9)
                name, mtype, seqid, exc = c.read_reply()
                self.assertEqual((mtype, seqid), (TMessageType.EXCEPTION, 9))
                self.assertAppError(exc, PROTOCOL_ERROR, "b")
                self.assertStillWorks(c)

    def test_unknown_fields_are_skipped(self):
        extra = [
            (3, TType.LIST, (TType.STRING, ["x", "yy", "zzz"])),
            (4, TType.STRUCT, [(1, TType.STRUCT, [(1, TType.I64, 2**40)]),
                               (2, TType.DOUBLE, 1.5), (3, TType.BOOL, True)]),
            (-7, TType.BYTE, 3),
            (99, TType.I16, -2),
            (100, TType.BOOL, False),
        ]
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                c = self.connect(transport, protocol)
                c.send_call("add", [(1, TType.I32, 20)] + extra + [(2, TType.I32, 22)], seqid=5)
                name, mtype, seqid, res = c.read_reply(CalculatorService.add_result)
                self.assertEqual((mtype, seqid), (TMessageType.REPLY, 5),
                                 "got %r" % (res,))
                self.assertEqual(res.success, 42)
                # ... and inside Work.
                logid = fresh_logid()
                c.send_call("calculate", [
                    (1, TType.I32, logid),
                    (2, TType.STRUCT, [(1, TType.I32, 6), (9, TType.STRING, "ignored"),
                                       (2, TType.I32, 7), (3, TType.I32, Operation.MULTIPLY),
                                       (4, TType.STRING, "comment"),
                                       (10, TType.LIST, (TType.I32, [1, 2, 3]))]),
                    (3, TType.BOOL, True)], seqid=6)
                name, mtype, seqid, res = c.read_reply(CalculatorService.calculate_result)
                self.assertEqual((mtype, seqid), (TMessageType.REPLY, 6), "got %r" % (res,))
                self.assertEqual(res.success, 42)
                self.assertStillWorks(c)

    def test_seqid_is_echoed(self):
        for transport, protocol in COMBOS:
            c = self.connect(transport, protocol)
            for seq in (0, 1, 0x7fffffff, -1, -2**31, 123456):
                with self.subTest(combo=combo_name(transport, protocol), seqid=seq):
                    c.send_call("add", [(1, TType.I32, seq & 0xff), (2, TType.I32, 1)],
                                seqid=seq)
                    name, mtype, seqid, res = c.read_reply(CalculatorService.add_result)
                    self.assertEqual((name, mtype, seqid), ("add", TMessageType.REPLY, seq))
                    self.assertEqual(res.success, (seq & 0xff) + 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
