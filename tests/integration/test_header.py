"""THeader (THeaderTransport + THeaderProtocol) against the real daemon:
binary and compact inside, info headers, replies echoing the client's
protocol, and a transform calcd lacks answered with a clear error."""

import socket
import struct
import unittest

from calcd_harness import (CalculatorService, DaemonTestCase, InvalidOperation, Operation,
                           fresh_logid, work)

from thrift.Thrift import TApplicationException
from thrift.protocol import THeaderProtocol
from thrift.transport import THeaderTransport, TSocket

PROTOCOLS = {"binary": THeaderTransport.THeaderSubprotocolID.BINARY,
             "compact": THeaderTransport.THeaderSubprotocolID.COMPACT}


class Header(DaemonTestCase):

    def header_client(self, protocol_id, service=CalculatorService):
        sock = TSocket.TSocket(self.daemon.host, self.daemon.port)
        sock.setTimeout(5000)
        proto = THeaderProtocol.THeaderProtocolFactory(
            default_protocol=protocol_id).getProtocol(sock)
        sock.open()
        self.addCleanup(sock.close)
        return proto, service.Client(proto)

    def test_calls_over_binary_and_compact(self):
        for name, pid in PROTOCOLS.items():
            with self.subTest(protocol=name):
                proto, c = self.header_client(pid)
                self.assertEqual(c.add(5, 3), 8)
                self.assertEqual(c.subtract(10, 4), 6)
                self.assertIsNone(c.ping())
                with self.assertRaises(InvalidOperation) as cm:
                    c.calculate(1, work(1, 0, Operation.DIVIDE))
                self.assertEqual(cm.exception.whatOp, Operation.DIVIDE)
                logid = fresh_logid()
                self.assertEqual(c.calculate(logid, work(6, 7, Operation.MULTIPLY)), 42)
                self.assertEqual(c.getStruct(logid).value, "42")
                c.zip()
                with self.assertRaises(TApplicationException) as cm:
                    c.add(2**31 - 1, 1)
                self.assertIn("overflow", cm.exception.message)
                self.assertEqual(c.add(1, 1), 2)
                # The reply came back in the protocol the request used.
                self.assertEqual(proto.trans.protocol_id, pid)

    def test_info_headers_are_ignored(self):
        proto, c = self.header_client(PROTOCOLS["compact"])
        proto.trans.set_header(b"trace-id", b"x" * 300)
        proto.trans.set_header(b"client", b"test_header")
        self.assertEqual(c.add(20, 22), 42)
        self.assertEqual(c.add(1, 2), 3)

    def test_unsupported_transform_is_an_error_not_a_hang(self):
        proto, c = self.header_client(PROTOCOLS["binary"])
        proto.trans.add_transform(THeaderTransport.THeaderTransformID.ZLIB)
        with self.assertRaises(TApplicationException) as cm:
            c.add(1, 2)
        self.assertEqual(cm.exception.type, TApplicationException.INVALID_TRANSFORM)
        self.assertIn("transform", cm.exception.message)
        # The stream stays in step: without the transform the next call works.
        proto.trans._write_transforms = []
        self.assertEqual(c.add(1, 2), 3)

    def test_unknown_protocol_id_is_an_error(self):
        # THeader with protocol id 1 (JSON), which calcd does not speak.
        payload = b"[1,\"add\",1,0,{}]"
        header = bytes([1, 0, 0, 0])
        frame = (struct.pack(">HHiH", 0x0FFF, 0, 3, len(header) // 4) + header + payload)
        s = socket.create_connection((self.daemon.host, self.daemon.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(struct.pack(">i", len(frame)) + frame)
        length = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
        reply = s.recv(length, socket.MSG_WAITALL)
        self.assertEqual(reply[:2], b"\x0f\xff")
        self.assertEqual(reply[4:8], struct.pack(">i", 3))       # sequence number echoed
        self.assertEqual(reply[10], 0)                           # answered in binary
        self.assertEqual(struct.unpack(">i", reply[-5:-1])[0],
                         TApplicationException.INVALID_PROTOCOL)


if __name__ == "__main__":
    unittest.main()
