"""calcctl, the command-line client: every command over each transport
(buffered, framed, THeader) and protocol against the real daemon, plain and
multiplexed; the exit status and message of each error; the checks it makes
of a reply, against a fake server that answers with bytes written here; and
its bad usage.

Environment: CALCCTL, the built calcctl (default: beside CALCD).
"""

import itertools
import os
import re
import socket
import subprocess
import struct
import threading
import time
import unittest

from calcd_harness import (CALCD, INT32_MAX, INT32_MIN, Calculator, Daemon, DaemonTestCase,
                           Operation, encode_call, encode_messages, fresh_logid, work)

from thrift.Thrift import TMessageType, TType
from thrift.protocol import THeaderProtocol
from thrift.transport import THeaderTransport, TSocket, TTransport

CALCCTL = os.environ.get("CALCCTL") or os.path.join(os.path.dirname(CALCD), "calcctl")

RUN_TIMEOUT = 30.0      # any calcctl run; its own -T is far shorter
EX_USAGE = 64

TRANSPORTS = ("buffered", "framed", "header")
PROTOCOLS = ("binary", "compact")
MUXES = (None, "CalculatorService", "Calculator")
COMBOS = list(itertools.product(TRANSPORTS, PROTOCOLS))


def setUpModule():
    if not (os.path.isfile(CALCCTL) and os.access(CALCCTL, os.X_OK)):
        raise AssertionError("CALCCTL=%s is not an executable file; build calcctl first"
                             % CALCCTL)


def run_calcctl(args, timeout=RUN_TIMEOUT):
    """Run calcctl to completion; returns CompletedProcess (text)."""
    try:
        return subprocess.run([CALCCTL] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, text=True, errors="replace")
    except subprocess.TimeoutExpired as e:
        raise AssertionError("calcctl %s did not exit within %.0f s; stderr: %r"
                             % (" ".join(map(str, args)), timeout, e.stderr)) from None


def combo_args(transport="buffered", protocol="binary", mux=None):
    args = ["-t", transport, "-P", protocol]
    return args + ["-s", mux] if mux else args


def combo_name(transport, protocol, mux=None):
    return "%s/%s%s" % (transport, protocol, "/mux:" + mux if mux else "")


def closed_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port nothing listens on (just released by the kernel)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def can_bind(family, host, port=0):
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, port))
        return True
    except OSError:
        return False


def v6_loopback():
    return socket.has_ipv6 and can_bind(socket.AF_INET6, "::1")


# THeader protocol ids (doc/specs/HeaderFormat.md in Apache Thrift).
HEADER_PROTOCOL_IDS = {"binary": THeaderTransport.THeaderSubprotocolID.BINARY,
                       "compact": THeaderTransport.THeaderSubprotocolID.COMPACT}


def header_protocol(trans, protocol):
    return THeaderProtocol.THeaderProtocol(trans, [THeaderTransport.THeaderClientType.HEADERS],
                                           HEADER_PROTOCOL_IDS[protocol])


def message(transport, protocol, name, fields, seqid=1, mtype=TMessageType.REPLY,
            info_headers=None):
    """The bytes of one message, as python3-thrift writes it; "header" is
    THeaderTransport's frame, with info_headers ({bytes: bytes}) if given."""
    if transport == "header":
        mem = TTransport.TMemoryBuffer()
        proto = header_protocol(mem, protocol)
        for key, value in (info_headers or {}).items():
            proto.set_header(key, value)
        encode_call(proto, proto.trans.flush, name, fields, seqid, mtype)
        return mem.getvalue()
    return encode_messages(transport, protocol,
                           lambda p, flush: encode_call(p, flush, name, fields, seqid, mtype))


def header_frame(payload, header=b"\x00\x00", seqid=1, magic=0x0FFF, header_words=None):
    """A THeader frame written by hand: header (protocol id, transform count,
    ...) is padded to 4-byte words; header_words overrides its stated size."""
    header += b"\x00" * (-len(header) % 4)
    words = len(header) // 4 if header_words is None else header_words
    body = struct.pack(">HHiH", magic, 0, seqid, words) + header + payload
    return struct.pack(">I", len(body)) + body


def app_exception(transport, protocol, name, text, type_, seqid=1):
    return message(transport, protocol, name,
                   [(1, TType.STRING, text), (2, TType.I32, type_)], seqid,
                   TMessageType.EXCEPTION)


HEX_LINE_RE = re.compile(r"^([<>]) [0-9a-f]{4}  ((?:[0-9a-f]{2} |   ){15}(?:[0-9a-f]{2}|  ))"
                         r"  \|[ -~]{1,16}\|$")


def dumped_bytes(stderr, direction):
    """The bytes -v printed in the lines starting with direction (">" or "<")."""
    data = b""
    for line in stderr.splitlines():
        m = HEX_LINE_RE.match(line)
        if m and m.group(1) == direction:
            data += bytes.fromhex(m.group(2).replace(" ", ""))
    return data


class CalcctlTestCase(unittest.TestCase):

    def assertExit(self, r, status, stdout=None):
        self.assertEqual(r.returncode, status, "exit status %s, expected %s; stdout=%r stderr=%r"
                         % (r.returncode, status, r.stdout, r.stderr))
        if stdout is not None:
            self.assertEqual(r.stdout, stdout, "stderr=%r" % r.stderr)

    def assertOK(self, r, stdout):
        self.assertExit(r, 0, stdout)
        self.assertEqual(r.stderr, "")

    def assertServerError(self, r, line):
        """Exit 1 with exactly this line on stderr and nothing on stdout."""
        self.assertExit(r, 1, "")
        self.assertEqual(r.stderr, line + "\n")

    def assertFailure(self, r, where, *patterns):
        """Exit 2: one line on stderr naming host:port and matching each pattern."""
        self.assertExit(r, 2, "")
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertTrue(r.stderr.startswith("calcctl: %s: " % where), r.stderr)
        for p in patterns:
            self.assertRegex(r.stderr, p)


class DaemonCalcctlTestCase(DaemonTestCase, CalcctlTestCase):

    def calcctl(self, *args, transport="buffered", protocol="binary", mux=None, options=()):
        return run_calcctl(["-H", self.daemon.host, "-p", self.daemon.port]
                           + combo_args(transport, protocol, mux) + list(options) + list(args))

    def python_client(self, transport, protocol):
        """A python3-thrift Calculator client over transport ("header": THeaderProtocol)."""
        if transport != "header":
            return self.connect(transport, protocol).client
        sock = TSocket.TSocket(self.daemon.host, self.daemon.port)
        sock.setTimeout(10000)
        sock.open()
        self.addCleanup(sock.close)
        return Calculator.Client(header_protocol(sock, protocol))


class Commands(DaemonCalcctlTestCase):

    def test_every_command_over_every_transport_protocol_and_service_name(self):
        for transport, protocol, mux in itertools.product(TRANSPORTS, PROTOCOLS, MUXES):
            with self.subTest(combo=combo_name(transport, protocol, mux)):
                kw = dict(transport=transport, protocol=protocol, mux=mux)
                logid = fresh_logid()
                self.assertOK(self.calcctl("add", 5, 3, **kw), "8\n")
                self.assertOK(self.calcctl("subtract", 10, 4, **kw), "6\n")
                self.assertOK(self.calcctl("ping", **kw), "pong\n")
                self.assertOK(self.calcctl("calculate", logid, 6, "x", 7, **kw), "42\n")
                self.assertOK(self.calcctl("getstruct", logid, **kw),
                              "key=%d value=42\n" % logid)
                self.assertOK(self.calcctl("zip", **kw), "")
                self.daemon.assert_alive(self)

    def test_operations_by_word_and_symbol(self):
        cases = [("add", "+", 12), ("subtract", "-", 2), ("multiply", "x", 35),
                 ("divide", "/", 1)]
        for transport, protocol in COMBOS:
            for word, symbol, want in cases:
                for op in (word, symbol):
                    with self.subTest(combo=combo_name(transport, protocol), op=op):
                        r = self.calcctl("calculate", fresh_logid(), 7, op, 5,
                                         transport=transport, protocol=protocol)
                        self.assertOK(r, "%d\n" % want)

    def test_negative_and_extreme_numbers(self):
        cases = [(("add", -5, 3), -2), (("add", INT32_MAX, 0), INT32_MAX),
                 (("add", INT32_MIN, 0), INT32_MIN), (("subtract", INT32_MIN, -1), INT32_MIN + 1),
                 (("add", INT32_MAX, INT32_MIN), -1), (("subtract", -1, INT32_MAX), INT32_MIN),
                 (("calculate", -1, -6, "x", 7), -42), (("calculate", -2, -7, "/", 2), -3)]
        for transport, protocol in COMBOS:
            for args, want in cases:
                with self.subTest(combo=combo_name(transport, protocol), args=args):
                    self.assertOK(self.calcctl(*args, transport=transport, protocol=protocol),
                                  "%d\n" % want)

    def test_getstruct_sees_a_python_clients_calculation(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                logid = fresh_logid()
                c = self.python_client(transport, protocol)
                self.assertEqual(c.calculate(logid, work(9, 4, Operation.SUBTRACT)), 5)
                self.assertOK(self.calcctl("getstruct", logid, transport=transport,
                                           protocol=protocol), "key=%d value=5\n" % logid)

    def test_python_client_sees_calcctls_calculation(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                logid = fresh_logid()
                self.assertOK(self.calcctl("calculate", logid, 100, "divide", 7,
                                           transport=transport, protocol=protocol), "14\n")
                got = self.python_client(transport, protocol).getStruct(logid)
                self.assertEqual((got.key, got.value), (logid, "14"))

    def test_getstruct_through_shared_service(self):
        logid = fresh_logid()
        self.assertOK(self.calcctl("calculate", logid, 2, "+", 2), "4\n")
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                self.assertOK(self.calcctl("getstruct", logid, transport=transport,
                                           protocol=protocol, mux="SharedService"),
                              "key=%d value=4\n" % logid)
                # SharedService has getStruct and nothing else.
                self.assertServerError(
                    self.calcctl("add", 1, 2, transport=transport, protocol=protocol,
                                 mux="SharedService"),
                    "calcctl: add: unknown method 'SharedService:add' "
                    "(TApplicationException type 1)")

    def test_method_name_is_accepted_as_command(self):
        logid = fresh_logid()
        self.assertOK(self.calcctl("calculate", logid, 3, "x", 3), "9\n")
        self.assertOK(self.calcctl("getStruct", logid), "key=%d value=9\n" % logid)

    def test_long_options(self):
        r = run_calcctl(["--host", self.daemon.host, "--port", self.daemon.port,
                         "--transport", "framed", "--protocol", "compact",
                         "--service", "Calculator", "--timeout", "3", "add", 20, 22])
        self.assertOK(r, "42\n")

    def test_options_after_the_command_are_arguments(self):
        # "+" in getopt: after the command, "-5" is a number, "-v" an extra argument.
        self.assertOK(self.calcctl("subtract", -5, -7), "2\n")
        r = self.calcctl("ping", "-v")
        self.assertExit(r, EX_USAGE, "")

    def test_double_dash_ends_options(self):
        # Before the command, or the first one among its arguments: dropped.
        cases = [(("add", "--", -5, 3), "-2\n"), (("--", "add", -5, 3), "-2\n"),
                 (("add", -5, "--", 3), "-2\n"), (("subtract", "--", -5, -7), "2\n"),
                 (("ping", "--"), "pong\n"), (("--", "ping", "--"), "pong\n")]
        for args, want in cases:
            with self.subTest(args=args):
                self.assertOK(self.calcctl(*args), want)

    def test_verbose_dumps_the_bytes_sent_and_received(self):
        for transport, protocol, mux in itertools.product(TRANSPORTS, PROTOCOLS, MUXES):
            with self.subTest(combo=combo_name(transport, protocol, mux)):
                name = "%s:add" % mux if mux else "add"
                r = self.calcctl("add", 5, 3, transport=transport, protocol=protocol, mux=mux,
                                 options=["-v"])
                self.assertExit(r, 0, "8\n")
                sent = message(transport, protocol, name,
                               [(1, TType.I32, 5), (2, TType.I32, 3)], 1, TMessageType.CALL)
                self.assertEqual(dumped_bytes(r.stderr, ">"), sent, r.stderr)
                # The reply names the bare method, as TMultiplexedProcessor's do.
                self.assertEqual(dumped_bytes(r.stderr, "<"),
                                 message(transport, protocol, "add", [(0, TType.I32, 8)]),
                                 r.stderr)
                self.assertIn("connected to", r.stderr)
                self.assertIn("sending %d bytes" % len(sent), r.stderr)

    def test_calculate_and_zip_on_the_wire(self):
        logid = fresh_logid()
        r = self.calcctl("calculate", logid, 6, "x", 7, options=["-v"])
        self.assertExit(r, 0, "42\n")
        self.assertEqual(dumped_bytes(r.stderr, ">"),
                         message("buffered", "binary", "calculate",
                                 [(1, TType.I32, logid),
                                  (2, TType.STRUCT, [(1, TType.I32, 6), (2, TType.I32, 7),
                                                     (3, TType.I32, Operation.MULTIPLY)])],
                                 1, TMessageType.CALL))
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                r = self.calcctl("zip", transport=transport, protocol=protocol, options=["-v"])
                self.assertExit(r, 0, "")
                self.assertEqual(dumped_bytes(r.stderr, ">"),
                                 message(transport, protocol, "zip", [], 1,
                                         TMessageType.ONEWAY))
                self.assertEqual(dumped_bytes(r.stderr, "<"), b"")


class ServerErrors(DaemonCalcctlTestCase):
    """The server's exceptions: exit 1, its message on stderr, nothing on stdout."""

    def test_divide_by_zero(self):
        for transport, protocol, mux in itertools.product(TRANSPORTS, PROTOCOLS, MUXES):
            with self.subTest(combo=combo_name(transport, protocol, mux)):
                logid = fresh_logid()
                r = self.calcctl("calculate", logid, 1, "/", 0, transport=transport,
                                 protocol=protocol, mux=mux)
                self.assertServerError(
                    r, "calcctl: calculate: Cannot divide by 0 (InvalidOperation, whatOp 4)")
                # Nothing was logged under logid.
                r = self.calcctl("getstruct", logid, transport=transport, protocol=protocol)
                self.assertExit(r, 1, "")

    def test_calculate_overflow(self):
        overflow = "integer overflow: the result does not fit in an i32"
        cases = [((INT32_MAX, "+", 1), 1), ((INT32_MIN, "-", 1), 2), ((65536, "x", 65536), 3),
                 ((INT32_MIN, "/", -1), 4)]
        for transport, protocol in COMBOS:
            for (a, op, b), what_op in cases:
                with self.subTest(combo=combo_name(transport, protocol), op=op):
                    r = self.calcctl("calculate", fresh_logid(), a, op, b,
                                     transport=transport, protocol=protocol)
                    self.assertServerError(r, "calcctl: calculate: %s (InvalidOperation, "
                                              "whatOp %d)" % (overflow, what_op))

    def test_add_and_subtract_overflow(self):
        for transport, protocol, mux in itertools.product(TRANSPORTS, PROTOCOLS, MUXES):
            with self.subTest(combo=combo_name(transport, protocol, mux)):
                kw = dict(transport=transport, protocol=protocol, mux=mux)
                # calcd's message starts "add: "; calcctl does not say it twice.
                self.assertServerError(
                    self.calcctl("add", INT32_MAX, 1, **kw),
                    "calcctl: add: 2147483647 + 1 overflows i32 "
                    "(TApplicationException type 0)")
                self.assertServerError(
                    self.calcctl("subtract", INT32_MIN, 1, **kw),
                    "calcctl: subtract: -2147483648 - 1 overflows i32 "
                    "(TApplicationException type 0)")

    def test_unknown_getstruct_key(self):
        for transport, protocol, mux in itertools.product(TRANSPORTS, PROTOCOLS, MUXES):
            with self.subTest(combo=combo_name(transport, protocol, mux)):
                key = fresh_logid()
                r = self.calcctl("getstruct", key, transport=transport, protocol=protocol,
                                 mux=mux)
                self.assertServerError(
                    r, "calcctl: getStruct: no calculation logged with key %d "
                       "(TApplicationException type 0)" % key)

    def test_unknown_service(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                r = self.calcctl("add", 1, 2, transport=transport, protocol=protocol, mux="Foo")
                self.assertServerError(
                    r, "calcctl: add: unknown service 'Foo' (calcd serves CalculatorService, Calculator "
                       "and SharedService) (TApplicationException type 1)")


class Addresses(CalcctlTestCase):

    def test_ipv6_address_with_and_without_brackets(self):
        if not v6_loopback():
            self.skipTest("no IPv6 loopback here")
        with Daemon(listen=("[::1]:0",)) as d:
            for host in ("::1", "[::1]"):
                with self.subTest(host=host):
                    self.assertOK(run_calcctl(["-H", host, "-p", d.port, "add", 1, 2]), "3\n")

    def test_localhost_tries_each_address(self):
        # Whatever localhost resolves to here (::1 first, usually), the
        # IPv4-only daemon is found.
        with Daemon(listen=("127.0.0.1:0",)) as d:
            r = run_calcctl(["-H", "localhost", "-p", d.port, "-v", "ping"])
            self.assertExit(r, 0, "pong\n")
            self.assertIn("connected to 127.0.0.1 port %d" % d.port, r.stderr)

    def test_defaults_are_localhost_9090_buffered_binary(self):
        if not can_bind(socket.AF_INET, "127.0.0.1", 9090):
            self.skipTest("127.0.0.1:9090 is in use")
        if v6_loopback() and not can_bind(socket.AF_INET6, "::1", 9090):
            self.skipTest("[::1]:9090 is in use")
        with Daemon(listen=("127.0.0.1:9090",)):
            r = run_calcctl(["-v", "add", 5, 3])
            self.assertExit(r, 0, "8\n")
            self.assertIn("localhost:9090 (buffered, binary)", r.stderr)


class ConnectionFailures(CalcctlTestCase):
    """No usable answer: exit 2, one line naming host:port."""

    def test_connection_refused(self):
        port = closed_port()
        for args in (["ping"], ["add", 1, 2], ["zip"], ["-t", "framed", "getstruct", 1]):
            with self.subTest(args=args):
                r = run_calcctl(["-H", "127.0.0.1", "-p", port] + args)
                self.assertFailure(r, "127.0.0.1:%d" % port, r"(?i)refused")

    def test_connection_refused_ipv6(self):
        if not v6_loopback():
            self.skipTest("no IPv6 loopback here")
        port = closed_port(socket.AF_INET6, "::1")
        r = run_calcctl(["-H", "::1", "-p", port, "ping"])
        self.assertFailure(r, r"[::1]:%d" % port, r"(?i)refused")

    def test_timeout_against_a_listener_that_never_accepts(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            s.listen(8)
            port = s.getsockname()[1]
            for args in (["add", 1, 2], ["-t", "framed", "-P", "compact", "ping"], ["zip"]):
                with self.subTest(args=args):
                    t0 = time.monotonic()
                    r = run_calcctl(["-H", "127.0.0.1", "-p", port, "-T", "0.3"] + args)
                    took = time.monotonic() - t0
                    self.assertFailure(r, "127.0.0.1:%d" % port, r"timed out after 0\.3 s")
                    self.assertGreaterEqual(took, 0.25)
                    self.assertLess(took, 5.0)

    def test_timeout_mid_reply(self):
        reply = message("buffered", "binary", "add", [(0, TType.I32, 8)])
        with FakeServer(reply[:7], hold=True) as f:
            r = run_calcctl(["-H", "127.0.0.1", "-p", f.port, "-T", "0.3", "add", 5, 3])
        self.assertFailure(r, "127.0.0.1:%d" % f.port, r"add: timed out after 0\.3 s",
                           r"7 bytes received")

    def test_closed_without_a_reply(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                with FakeServer(b"") as f:
                    r = run_calcctl(["-p", f.port, "-H", "127.0.0.1"]
                                    + combo_args(transport, protocol) + ["ping"])
                self.assertFailure(r, "127.0.0.1:%d" % f.port, r"ping: .*closed the "
                                   r"connection without a reply")

    def test_closed_mid_reply(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                reply = message(transport, protocol, "add", [(0, TType.I32, 8)])
                with FakeServer(reply[:-1]) as f:
                    r = run_calcctl(["-p", f.port, "-H", "127.0.0.1"]
                                    + combo_args(transport, protocol) + ["add", 5, 3])
                self.assertFailure(r, "127.0.0.1:%d" % f.port,
                                   r"closed the connection after %d bytes" % (len(reply) - 1))


class FakeServer:
    """Accepts one connection on 127.0.0.1, reads the call, sends reply,
    then closes (or, with hold, keeps the connection open until closed)."""

    def __init__(self, reply, hold=False):
        self.reply = reply
        self.hold = hold
        self.request = b""
        self.done = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(RUN_TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, name="fake-server", daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(5)
            try:
                self.request = conn.recv(65536)
                if self.reply:
                    conn.sendall(self.reply)
            except OSError:
                return
            if self.hold:
                self.done.wait(RUN_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.sock.close()
        self.thread.join(10)


class Replies(CalcctlTestCase):
    """What calcctl makes of a reply it did not get from calcd."""

    def answer(self, reply, args, transport="buffered", protocol="binary", mux=None):
        with FakeServer(reply) as f:
            r = run_calcctl(["-H", "127.0.0.1", "-p", f.port, "-T", "5"]
                            + combo_args(transport, protocol, mux) + list(args))
        return r, "127.0.0.1:%d" % f.port

    def assertMalformed(self, reply, args, pattern, **kw):
        r, where = self.answer(reply, args, **kw)
        method = "getStruct" if args[0] == "getstruct" else args[0]
        self.assertFailure(r, where, r"^calcctl: \S+: %s: malformed reply: " % method, pattern)

    def test_a_good_reply_from_another_server(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                r, _ = self.answer(message(transport, protocol, "add", [(0, TType.I32, 8)]),
                                   ["add", 5, 3], transport, protocol)
                self.assertOK(r, "8\n")

    def test_unknown_fields_are_skipped(self):
        fields = [(5, TType.STRING, "x"), (0, TType.I32, 8),
                  (9, TType.STRUCT, [(1, TType.LIST, (TType.I64, [1, 2]))])]
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                r, _ = self.answer(message(transport, protocol, "add", fields), ["add", 5, 3],
                                   transport, protocol)
                self.assertOK(r, "8\n")

    def test_multiplexed_reply_with_bare_method_name(self):
        # What Apache Thrift's TMultiplexedProcessor sends back.
        for name in ("Calculator:add", "add"):
            with self.subTest(name=name):
                r, _ = self.answer(message("buffered", "binary", name, [(0, TType.I32, 8)]),
                                   ["add", 5, 3], mux="Calculator")
                self.assertOK(r, "8\n")

    def test_wrong_seqid(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                self.assertMalformed(message(transport, protocol, "add", [(0, TType.I32, 8)],
                                             seqid=2),
                                     ["add", 5, 3], r"seqid 2, expected 1",
                                     transport=transport, protocol=protocol)

    def test_wrong_name(self):
        cases = [("subtract", None), ("Calculator:add", None), ("CalculatorService:add",
                                                                "Calculator")]
        for name, mux in cases:
            with self.subTest(name=name, mux=mux):
                want = "%s:add" % mux if mux else "add"
                self.assertMalformed(message("buffered", "compact", name, [(0, TType.I32, 8)]),
                                     ["add", 5, 3], r"named '%s', expected '%s'"
                                     % (re.escape(name), re.escape(want)),
                                     protocol="compact", mux=mux)

    def test_wrong_message_type(self):
        for mtype in (TMessageType.CALL, TMessageType.ONEWAY):
            with self.subTest(mtype=mtype):
                self.assertMalformed(message("buffered", "binary", "add", [(0, TType.I32, 8)],
                                             mtype=mtype),
                                     ["add", 5, 3], r"message type %d, expected a reply" % mtype)

    def test_wrong_result_types(self):
        cases = [
            (["add", 1, 2], "add", [(0, TType.STRING, "3")],
             r"add result field 0 \(success\) is string, expected i32"),
            (["calculate", 1, 1, "+", 2], "calculate", [(1, TType.I32, 4)],
             r"calculate result field 1 \(ouch\) is i32, expected struct"),
            (["calculate", 1, 1, "/", 0], "calculate",
             [(1, TType.STRUCT, [(1, TType.STRING, "4"), (2, TType.STRING, "why")])],
             r"InvalidOperation field 1 \(whatOp\) is string, expected i32"),
            (["getstruct", 1], "getStruct", [(0, TType.I32, 1)],
             r"getStruct result field 0 \(success\) is i32, expected struct"),
            (["getstruct", 1], "getStruct",
             [(0, TType.STRUCT, [(1, TType.I32, 1), (2, TType.I64, 42)])],
             r"SharedStruct field 2 \(value\) is i64, expected string"),
        ]
        for transport, protocol in COMBOS:
            for args, name, fields, pattern in cases:
                with self.subTest(combo=combo_name(transport, protocol), args=args):
                    self.assertMalformed(message(transport, protocol, name, fields), args,
                                         pattern, transport=transport, protocol=protocol)

    def test_exception_field_types(self):
        reply = message("buffered", "binary", "add", [(1, TType.STRING, "oops"),
                                                      (2, TType.STRING, "7")],
                        mtype=TMessageType.EXCEPTION)
        self.assertMalformed(reply, ["add", 1, 2],
                             r"TApplicationException field 2 \(type\) is string, expected i32")

    def test_missing_or_conflicting_results(self):
        cases = [
            (["add", 1, 2], "add", [], r"add result has no result \(field 0\)"),
            (["getstruct", 3], "getStruct", [(0, TType.STRUCT, [(1, TType.I32, 3)])],
             r"SharedStruct without its value"),
            (["calculate", 1, 1, "/", 0], "calculate",
             [(0, TType.I32, 1), (1, TType.STRUCT, [(1, TType.I32, 4)])],
             r"both a result and an exception"),
        ]
        for args, name, fields, pattern in cases:
            with self.subTest(args=args):
                self.assertMalformed(message("buffered", "binary", name, fields), args, pattern)

    def test_not_thrift_at_all(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                r, where = self.answer(b"HTTP/1.1 400 Bad Request\r\n\r\n", ["ping"],
                                       transport, protocol)
                self.assertFailure(r, where, r"ping: malformed reply: ")

    def test_frame_problems(self):
        good = message("buffered", "binary", "add", [(0, TType.I32, 8)])
        cases = [
            (b"\x7f\xff\xff\xff" + good, r"frame length 2147483647 is over the 16 MiB limit"),
            (b"\x80\x01\x00\x02" + good, r"frame length 2147549186 is over the 16 MiB limit"),
            (b"\x00\x00\x00\x00", r"frame length 0 is zero"),
            # The frame ends before the result struct's stop byte.
            ((len(good) - 1).to_bytes(4, "big") + good[:-1],
             r"runs past the end of its %d-byte frame" % (len(good) - 1)),
            ((len(good) + 3).to_bytes(4, "big") + good + b"abc",
             r"3 bytes after the message in its frame"),
        ]
        for reply, pattern in cases:
            with self.subTest(pattern=pattern):
                self.assertMalformed(reply, ["add", 5, 3], pattern, transport="framed")

    def test_bytes_after_the_reply(self):
        for transport, protocol in COMBOS:
            with self.subTest(combo=combo_name(transport, protocol)):
                reply = message(transport, protocol, "add", [(0, TType.I32, 8)])
                self.assertMalformed(reply + reply, ["add", 5, 3],
                                     r"%d unexpected bytes after the reply" % len(reply),
                                     transport=transport, protocol=protocol)

    def test_huge_length_in_a_buffered_reply(self):
        reply = b"\x80\x01\x00\x02\x7f\xff\xff\xff"
        self.assertMalformed(reply, ["add", 5, 3], r"over the 16 MiB limit")

    def test_server_text_is_printed_safely(self):
        r, _ = self.answer(app_exception("buffered", "binary", "add", "bad\nline\x1b[31m", 6),
                           ["add", 1, 2])
        self.assertServerError(r, r"calcctl: add: bad\x0aline\x1b[31m "
                                  "(TApplicationException type 6)")
        r, _ = self.answer(message("buffered", "binary", "getStruct",
                                   [(0, TType.STRUCT, [(1, TType.I32, 3),
                                                       (2, TType.STRING, "a\tb")])]),
                           ["getstruct", 3])
        self.assertOK(r, "key=3 value=a\\x09b\n")

    def test_server_prefix_is_dropped_only_when_it_names_the_method(self):
        cases = [  # (text the server sends, -s service, what calcctl prints after "add: ")
            ("add: 1 + 2 failed", None, "1 + 2 failed"),
            ("Calculator:add: 1 + 2 failed", "Calculator", "1 + 2 failed"),
            ("add: 1 + 2 failed", "Calculator", "1 + 2 failed"),
            ("subtract: no", None, "subtract: no"),
            ("addition: no", None, "addition: no"),
            ("add:no space", None, "add:no space"),
            ("add: ", None, "add: "),
        ]
        for text, mux, want in cases:
            with self.subTest(text=text, mux=mux):
                r, _ = self.answer(app_exception("buffered", "binary", "add", text, 0),
                                   ["add", 1, 2], mux=mux)
                self.assertServerError(r, "calcctl: add: %s (TApplicationException type 0)"
                                       % want)
        r, _ = self.answer(message("buffered", "binary", "calculate",
                                   [(1, TType.STRUCT, [(1, TType.I32, 4),
                                                       (2, TType.STRING, "calculate: why")])]),
                           ["calculate", 1, 1, "/", 0])
        self.assertServerError(r, "calcctl: calculate: why (InvalidOperation, whatOp 4)")

    def test_header_reply_with_info_headers(self):
        for protocol in PROTOCOLS:
            with self.subTest(protocol=protocol):
                reply = message("header", protocol, "add", [(0, TType.I32, 8)],
                                info_headers={b"trace-id": b"x" * 100, b"server": b"fake"})
                r, _ = self.answer(reply, ["add", 5, 3], "header", protocol)
                self.assertOK(r, "8\n")

    def test_header_call_on_the_wire(self):
        # What calcctl sends is what python3-thrift's THeaderTransport writes.
        for protocol, mux in itertools.product(PROTOCOLS, MUXES):
            with self.subTest(protocol=protocol, mux=mux):
                with FakeServer(b"") as f:
                    run_calcctl(["-H", "127.0.0.1", "-p", f.port]
                                + combo_args("header", protocol, mux) + ["add", 5, 3])
                name = "%s:add" % mux if mux else "add"
                self.assertEqual(f.request, message("header", protocol, name,
                                                    [(1, TType.I32, 5), (2, TType.I32, 3)],
                                                    1, TMessageType.CALL))
                self.assertEqual(f.request[4:6], b"\x0f\xff")
                self.assertEqual(f.request[14], HEADER_PROTOCOL_IDS[protocol])

    def test_header_problems(self):
        good = message("buffered", "binary", "add", [(0, TType.I32, 8)])
        compact = message("buffered", "compact", "add", [(0, TType.I32, 8)])
        cases = [
            (message("framed", "binary", "add", [(0, TType.I32, 8)]),
             r"not a THeader frame: magic 0x8001, expected 0x0fff"),
            (header_frame(good, magic=0x0FFE), r"not a THeader frame: magic 0x0ffe"),
            (header_frame(compact, header=b"\x02\x00"),
             r"THeader reply in protocol 2 \(compact\), expected 0 \(binary\)"),
            (header_frame(b"[1]", header=b"\x01\x00"),
             r"THeader reply in protocol 1 \(JSON\), expected 0 \(binary\)"),
            (header_frame(good, header=b"\x00\x01\x01"),
             r"THeader reply with 1 transform, which calcctl does not undo"),
            (header_frame(good, header_words=200),
             r"THeader header of 800 bytes runs past the end of its %d-byte frame"
             % (10 + 4 + len(good))),
            (header_frame(good, header=b""), r"THeader header without a protocol id"),
            (header_frame(good, header=b"\x80\x80\x80\x80"),
             r"THeader header without a protocol id"),
            (b"\x00\x00\x00\x05\x0f\xff\x00\x00\x00",
             r"THeader frame length 5 is shorter than the 10 bytes"),
            (b"\x7f\xff\xff\xff\x0f\xff" + good,
             r"THeader frame length 2147483647 is over the 16 MiB limit"),
            # The frame ends before the result struct's stop byte.
            (header_frame(good[:-1]),
             r"the message runs past the end of its %d-byte THeader frame"
             % (10 + 4 + len(good) - 1)),
            (header_frame(good + b"abc"), r"3 bytes after the message in its THeader frame"),
        ]
        for reply, pattern in cases:
            with self.subTest(pattern=pattern):
                self.assertMalformed(reply, ["add", 5, 3], pattern, transport="header")

    def test_an_answer_to_a_oneway_call(self):
        r, where = self.answer(b"x", ["zip"])
        self.assertFailure(r, where, r"zip: the server sent 1 bytes in answer to a oneway call")

    def test_the_call_arrives_whole(self):
        with FakeServer(b"") as f:
            run_calcctl(["-H", "127.0.0.1", "-p", f.port, "-t", "framed", "-P", "compact",
                         "-s", "Calculator", "calculate", 7, 6, "x", 7])
        self.assertEqual(f.request, message("framed", "compact", "Calculator:calculate",
                                            [(1, TType.I32, 7),
                                             (2, TType.STRUCT, [(1, TType.I32, 6),
                                                                (2, TType.I32, 7),
                                                                (3, TType.I32, 3)])],
                                            1, TMessageType.CALL))


class Usage(CalcctlTestCase):
    """Bad usage: exit 64 and the usage on stderr, before any connection
    (the port is closed: trying it would exit 2)."""

    BAD = [
        ([], r"no command"),
        (["frobnicate"], r"unknown command 'frobnicate'"),
        (["add"], r"add takes 2 arguments"),
        (["add", "1"], r"add takes 2 arguments"),
        (["add", "1", "2", "3"], r"add takes 2 arguments"),
        (["ping", "1"], r"ping takes 0 arguments"),
        (["zip", "now"], r"zip takes 0 arguments"),
        (["getstruct"], r"getstruct takes 1 argument"),
        (["calculate", "1", "2", "+"], r"calculate takes 4 arguments"),
        (["add", "x", "1"], r"'x' is not an i32"),
        (["add", "1", "2x"], r"'2x' is not an i32"),
        (["add", "", "1"], r"'' is not an i32"),
        (["add", " 1", "2"], r"' 1' is not an i32"),
        (["add", "1.5", "2"], r"'1.5' is not an i32"),
        (["add", "0x10", "1"], r"'0x10' is not an i32"),
        (["add", "2147483648", "1"], r"'2147483648' is not an i32"),
        (["subtract", "1", "-2147483649"], r"'-2147483649' is not an i32"),
        (["add", "99999999999999999999", "1"], r"'99999999999999999999' is not an i32"),
        (["getstruct", "k"], r"'k' is not an i32"),
        (["calculate", "1", "2", "%", "3"], r"unknown operation '%'"),
        (["calculate", "1", "2", "plus", "3"], r"unknown operation 'plus'"),
        (["calculate", "x", "2", "+", "3"], r"'x' is not an i32"),
        (["-t", "http", "ping"], r"unknown transport 'http' \(buffered, framed or header\)"),
        (["-t", "THeader", "ping"], r"unknown transport 'THeader'"),
        (["-P", "json", "ping"], r"unknown protocol 'json'"),
        (["-p", "0", "ping"], r"'0' is not a port"),
        (["-p", "65536", "ping"], r"'65536' is not a port"),
        (["-p", "http", "ping"], r"'http' is not a port"),
        (["-T", "0", "ping"], r"'0' is not a timeout"),
        (["-T", "-1", "ping"], r"'-1' is not a timeout"),
        (["-T", "soon", "ping"], r"'soon' is not a timeout"),
        (["-T", "nan", "ping"], r"'nan' is not a timeout"),
        (["-T", "1s", "ping"], r"'1s' is not a timeout"),
        (["-s", "", "ping"], r"'' is not a service name"),
        (["-s", "A:B", "ping"], r"'A:B' is not a service name"),
        (["-H", "", "ping"], r"empty host"),
        (["-Z", "ping"], r"unknown option -Z"),
        (["--bogus", "ping"], r"unknown option --bogus"),
        (["ping", "-T"], r"ping takes 0 arguments"),
        (["add", "--", "1"], r"add takes 2 arguments: A B, not 1"),
        (["add", "--", "--", "1"], r"'--' is not an i32"),
        (["ping", "--", "--"], r"ping takes 0 arguments"),
        (["-T"], r"option -T needs an argument"),
        (["--host"], r"option --host needs an argument"),
    ]

    def test_bad_usage_exits_64_before_connecting(self):
        port = closed_port()
        for args, pattern in self.BAD:
            with self.subTest(args=args):
                # -p first: a later -p in args wins.
                r = run_calcctl(["-H", "127.0.0.1", "-p", port] + args)
                self.assertExit(r, EX_USAGE, "")
                self.assertRegex(r.stderr, r"^calcctl: (?:\S+: )?" + pattern)
                self.assertRegex(r.stderr, r"(?m)^usage: calcctl ")

    def test_help(self):
        for opt in ("-h", "--help"):
            with self.subTest(opt=opt):
                r = run_calcctl([opt])
                self.assertOK(r, r.stdout)
                self.assertRegex(r.stdout, r"^usage: calcctl ")
                for word in ("-H", "-p", "-t", "-P", "-s", "-T", "-v", "-h", "-V", "add",
                             "subtract", "ping", "calculate", "getstruct", "zip",
                             "buffered", "framed", "header", "binary", "compact"):
                    self.assertRegex(r.stdout, r"(?<![\w-])%s\b" % re.escape(word),
                                     "help does not mention %s" % word)

    def test_version(self):
        for opt in ("-V", "--version"):
            with self.subTest(opt=opt):
                r = run_calcctl([opt])
                self.assertOK(r, r.stdout)
                self.assertRegex(r.stdout, r"^calcctl \d+\.\d+\.\d+\n$")


if __name__ == "__main__":
    unittest.main(verbosity=2)
