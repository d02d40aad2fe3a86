"""calcd interop client: ThriftPy (Debian python3-thriftpy).

usage: thriftpy_client.py IDL HOST PORT TRANSPORT PROTOCOL LOGID [MODE]
  TRANSPORT  buffered | framed
  PROTOCOL   binary | compact (pure Python) | binary-accel (Cython:
             TCyBinaryProtocol over TCyBufferedTransport / TCyFramedTransport) |
             compact-patched (compact with its one call that Python 3.9 removed,
             array.tostring(), mapped to tobytes(); the codec is otherwise the library's)
  MODE       plain (the default): one Calculator client makes every call
             multiplexed: TMultiplexedProtocol, a CalculatorService client for
               the calls, a SharedService one for getStruct and a Calculator one
               for the calls after zip, all on the one connection
             unknown-service: a client multiplexed as "Nope" must get
               TApplicationException UNKNOWN_METHOD, and the connection go on
ThriftPy generates no code: it parses calcd's IDL (IDL) itself at run time.
Exit status 0 when every answer is right, 1 (with a FAIL line) otherwise.
"""

import sys

IDL, HOST, PORT, TRANSPORT, PROTOCOL, LOGID = sys.argv[1:7]
MODE = sys.argv[7] if len(sys.argv) > 7 else "plain"
PORT = int(PORT)
LOGID = int(LOGID)

import thriftpy  # noqa: E402
from thriftpy.protocol.binary import TBinaryProtocol  # noqa: E402 - the pure-Python one
from thriftpy.protocol.compact import TCompactProtocol  # noqa: E402
from thriftpy.protocol.multiplex import TMultiplexedProtocol  # noqa: E402
from thriftpy.thrift import TApplicationException, TClient  # noqa: E402
from thriftpy.transport import TSocket  # noqa: E402
from thriftpy.transport.buffered import TBufferedTransport  # noqa: E402
from thriftpy.transport.framed import TFramedTransport  # noqa: E402

TIMEOUT_MS = 5000
# What calcd answers a call to a service it does not serve.
UNKNOWN_SERVICE = (TApplicationException.UNKNOWN_METHOD,
                   "unknown service 'Nope' (calcd serves CalculatorService, Calculator and SharedService)")
checks = 0


def check(what, got, want):
    global checks
    checks += 1
    if got != want:
        print("FAIL: %s: expected %r, got %r" % (what, want, got))
        sys.exit(1)


calc = thriftpy.load(IDL, module_name="calculator_thrift")
sock = TSocket(HOST, PORT, socket_timeout=TIMEOUT_MS, connect_timeout=TIMEOUT_MS)
if PROTOCOL == "binary-accel":
    from thriftpy.protocol.cybin import TCyBinaryProtocol
    from thriftpy.transport.buffered.cybuffered import TCyBufferedTransport
    from thriftpy.transport.framed.cyframed import TCyFramedTransport
    trans = {"buffered": TCyBufferedTransport, "framed": TCyFramedTransport}[TRANSPORT](sock)
    proto = TCyBinaryProtocol(trans)
else:
    if PROTOCOL == "compact-patched":
        import array
        import types
        import thriftpy.protocol.compact as compact_module

        class _Array(array.array):
            def tostring(self):
                return self.tobytes()

        compact_module.array = types.SimpleNamespace(array=_Array)
    trans = {"buffered": TBufferedTransport, "framed": TFramedTransport}[TRANSPORT](sock)
    proto = {"binary": TBinaryProtocol, "compact": TCompactProtocol,
             "compact-patched": TCompactProtocol}[PROTOCOL](trans)
Work, Operation, SharedStruct = calc.Work, calc.Operation, calc.SharedStruct
InvalidOperation = calc.InvalidOperation
if MODE not in ("plain", "multiplexed", "unknown-service"):
    print("FAIL: unknown mode %r" % MODE)
    sys.exit(2)


def mux(service, name):
    """A client of service multiplexed as name."""
    return TClient(service, TMultiplexedProtocol(proto, name))


def struct(s):
    return None if s is None else (type(s).__name__, s.key, s.value)


def calls(calc, shared, after):
    """The calls every cell makes: calc for the calculator's methods, shared
    for getStruct, after for the ping and add after the oneway zip."""
    client = calc
    check("ping()", client.ping(), None)
    check("add(5, 3)", client.add(5, 3), 8)
    check("add(-20, 7)", client.add(-20, 7), -13)
    check("add(2147483646, 1)", client.add(2147483646, 1), 2147483647)
    check("subtract(10, 4)", client.subtract(10, 4), 6)
    check("subtract(-5, 10)", client.subtract(-5, 10), -15)
    check("subtract(-2147483647, 1)", client.subtract(-2147483647, 1), -2147483648)
    try:
        got = client.add(2147483647, 1)
        check("add(2147483647, 1)", "returned %r" % (got,), "TApplicationException")
    except TApplicationException as e:
        check("add(2147483647, 1) TApplicationException",
              (e.type, e.message), (TApplicationException.UNKNOWN, "add: 2147483647 + 1 overflows i32"))
    check("calculate(ADD 1 + 1)",
          client.calculate(LOGID, Work(num1=1, num2=1, op=Operation.ADD)), 2)
    check("calculate(SUBTRACT 15 - 10)",
          client.calculate(LOGID + 1, Work(num1=15, num2=10, op=Operation.SUBTRACT)), 5)
    check("calculate(MULTIPLY 6 * 7)",
          client.calculate(LOGID + 2, Work(num1=6, num2=7, op=Operation.MULTIPLY,
                                           comment="interop")), 42)
    check("calculate(DIVIDE 100 / 7)",
          client.calculate(LOGID + 3, Work(num1=100, num2=7, op=Operation.DIVIDE)), 14)
    check("calculate(DIVIDE -100 / 7)",
          client.calculate(LOGID + 4, Work(num1=-100, num2=7, op=Operation.DIVIDE)), -14)
    try:
        got = client.calculate(LOGID + 5, Work(num1=1, num2=0, op=Operation.DIVIDE))
        check("calculate(DIVIDE 1 / 0)", "returned %r" % (got,), "InvalidOperation")
    except InvalidOperation as e:
        check("calculate(DIVIDE 1 / 0) InvalidOperation.whatOp", e.whatOp, Operation.DIVIDE)
        check("calculate(DIVIDE 1 / 0) InvalidOperation.why", e.why, "Cannot divide by 0")
    check("getStruct(%d)" % (LOGID + 1), struct(shared.getStruct(LOGID + 1)),
          ("SharedStruct", LOGID + 1, "5"))
    check("getStruct(%d)" % (LOGID + 2), struct(shared.getStruct(LOGID + 2)),
          ("SharedStruct", LOGID + 2, "42"))
    check("zip()", client.zip(), None)
    # The oneway zip gets no reply: the connection must carry on.
    check("ping() after zip()", after.ping(), None)
    check("add(2, 2) after zip()", after.add(2, 2), 4)


def unknown_service(calc, nope):
    """A service calcd does not serve: an error, and the connection goes on."""
    check("ping()", calc.ping(), None)
    check("add(5, 3)", calc.add(5, 3), 8)
    for what, call in (("Nope:add(1, 2)", lambda: nope.add(1, 2)), ("Nope:ping()", nope.ping)):
        try:
            got = call()
            check(what, "returned %r" % (got,), "TApplicationException")
        except TApplicationException as e:
            check(what + " TApplicationException", (e.type, e.message), UNKNOWN_SERVICE)
        check("add(2, 2) after " + what, calc.add(2, 2), 4)
    check("ping() at the end", calc.ping(), None)


def run():
    trans.open()
    if MODE == "plain":
        client = TClient(calc.Calculator, proto)
        calls(client, client, client)
    elif MODE == "multiplexed":
        calls(mux(calc.CalculatorService, "CalculatorService"),
              mux(calc.SharedService, "SharedService"), mux(calc.Calculator, "Calculator"))
    else:
        unknown_service(mux(calc.CalculatorService, "CalculatorService"),
                        mux(calc.CalculatorService, "Nope"))
    trans.close()


try:
    run()
except SystemExit:
    raise
except Exception as e:  # noqa: BLE001 - any error is this cell's failure
    print("FAIL: after %d checks: %s: %s" % (checks, type(e).__name__, e))
    sys.exit(1)
print("ok: %d checks" % checks)
