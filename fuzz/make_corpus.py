"""Write a seed corpus for fuzz_wire: real client messages, as Debian's
python3-thrift encodes them, for every transport x protocol calcd serves.
Usage: make_corpus.py GEN_PY_DIR OUT_DIR   (GEN_PY_DIR from thrift --gen py)."""

import os
import sys

sys.path.insert(0, sys.argv[1])
out_dir = sys.argv[2]
os.makedirs(out_dir, exist_ok=True)

from thrift.protocol import TBinaryProtocol, TCompactProtocol, THeaderProtocol  # noqa: E402
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol  # noqa: E402
from thrift.transport import TTransport  # noqa: E402

from example.calculator import Calculator  # noqa: E402
from example.calculator.ttypes import Operation, Work  # noqa: E402


class Capture(TTransport.TMemoryBuffer):
    """A memory buffer that also reads nothing back (calls only send)."""


PROTOCOLS = {
    "binary": TBinaryProtocol.TBinaryProtocol,
    "nonstrict": lambda t: TBinaryProtocol.TBinaryProtocol(t, False, False),
    "compact": TCompactProtocol.TCompactProtocol,
}
TRANSPORTS = {
    "buffered": TTransport.TBufferedTransport,
    "framed": TTransport.TFramedTransport,
}
CALLS = {
    "add": lambda c: c.send_add(5, 3),
    "subtract": lambda c: c.send_subtract(10, 4),
    "ping": lambda c: c.send_ping(),
    "calculate": lambda c: c.send_calculate(1, Work(15, 10, Operation.SUBTRACT, "comment")),
    "divide": lambda c: c.send_calculate(2, Work(1, 0, Operation.DIVIDE)),
    "getStruct": lambda c: c.send_getStruct(1),
    "zip": lambda c: c.send_zip(),
}

def header_protocol(protocol_id):
    def make(buf):
        return THeaderProtocol.THeaderProtocolFactory(
            default_protocol=protocol_id).getProtocol(buf)
    return make


# THeader carries its protocol in each frame: binary (0) and compact (2).
COMBOS = [(t, tf, p, pf) for t, tf in TRANSPORTS.items() for p, pf in PROTOCOLS.items()]
COMBOS += [("header", None, "binary", header_protocol(0)),
           ("header", None, "compact", header_protocol(2))]

for tname, tfactory, pname, pfactory in COMBOS:
    for mux in (None, "Calculator"):
        everything = b""
        for cname, call in CALLS.items():
            buf = Capture()
            proto = pfactory(tfactory(buf) if tfactory else buf)
            if mux:
                proto = TMultiplexedProtocol(proto, mux)
            call(Calculator.Client(proto))
            data = buf.getvalue()
            everything += data
            name = "%s-%s-%s%s" % (tname, pname, cname, "-mux" if mux else "")
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data)
        with open(os.path.join(out_dir, "%s-%s-pipelined%s" % (
                tname, pname, "-mux" if mux else "")), "wb") as f:
            f.write(everything)
