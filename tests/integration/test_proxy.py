"""PROXY protocol listeners (issue 13): "listen = ADDRESS proxy" and
-l 'ADDRESS proxy'.

On such a listener every connection must start with a PROXY header, v1 or
v2 (HAProxy's doc/proxy-protocol.txt); calcd then names the header's source
address as the peer, and serves the Thrift bytes after it.  A v2 LOCAL
header (HAProxy's health check) keeps the connection's own address.  A
missing, malformed, oversized or slow header closes only that connection,
with one log line.  Raw sockets on 127.0.0.1; every wait is bounded.
"""

import os
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from calcd_harness import (Daemon, connect, encode_call, encode_messages, limits_conf,
                           log_mark, peer_name, raw_socket, reply_reader, wait_closed,
                           wait_log, write_file)

from thrift.Thrift import TMessageType, TType

from example.calculator import CalculatorService

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
MESSAGE_TIMEOUT = 1.0
SOCKET_ACTIVATE = os.environ.get("SYSTEMD_SOCKET_ACTIVATE", "")
WITH_SYSTEMD = os.environ.get("CALCD_HAVE_SYSTEMD", "yes") != "no"


def v1(src="203.0.113.7", sport=40000, dst="127.0.0.1", dport=9090, family="TCP4"):
    return ("PROXY %s %s %s %d %d\r\n" % (family, src, dst, sport, dport)).encode()


def v2(src="203.0.113.9", sport=41000, dst="127.0.0.1", dport=9090, command=1, tlvs=b""):
    """A v2 header; command 1 = PROXY, 0 = LOCAL (no addresses)."""
    if command == 0:
        return V2_SIGNATURE + bytes([0x20, 0x00]) + struct.pack(">H", len(tlvs)) + tlvs
    if ":" in src:
        family, addrs = 0x21, (socket.inet_pton(socket.AF_INET6, src)
                               + socket.inet_pton(socket.AF_INET6, dst))
    else:
        family, addrs = 0x11, socket.inet_aton(src) + socket.inet_aton(dst)
    body = addrs + struct.pack(">HH", sport, dport) + tlvs
    return V2_SIGNATURE + bytes([0x21, family]) + struct.pack(">H", len(body)) + body


def add_calls(transport, protocol, pairs):
    """Bytes of add(a, b) calls, seqid 1 on."""
    def writer(proto, flush):
        for i, (a, b) in enumerate(pairs):
            encode_call(proto, flush, "add", [(1, TType.I32, a), (2, TType.I32, b)], i + 1)
    return encode_messages(transport, protocol, writer)


def ping_call(transport="buffered", protocol="binary"):
    return encode_messages(transport, protocol,
                           lambda proto, flush: encode_call(proto, flush, "ping", [], 1))


def read_adds(sock, transport, protocol, count):
    """Read count add replies; returns [(seqid, value)]."""
    proto = reply_reader(sock, transport, protocol)
    out = []
    for _ in range(count):
        name, mtype, seqid = proto.readMessageBegin()
        if mtype != TMessageType.REPLY or name != "add":
            raise AssertionError("got %s type %d, want an add REPLY" % (name, mtype))
        result = CalculatorService.add_result()
        result.read(proto)
        proto.readMessageEnd()
        out.append((seqid, result.success))
    return out


def log_lines_naming(daemon, text, start=0):
    with daemon.err.cond:
        return [l for l in daemon.err.lines[start:] if text in l]


class ProxyListenerTest(unittest.TestCase):
    """One calcd with a proxy listener (first) and a plain one (second)."""

    @classmethod
    def setUpClass(cls):
        conf = limits_conf("proxy", workers=2, log_level="info",
                           message_timeout="%dms" % (MESSAGE_TIMEOUT * 1000))
        cls.daemon = Daemon(listen=("127.0.0.1:0 proxy", "127.0.0.1:0"), conf=conf).start()
        cls.proxy_port = cls.daemon.addresses[0][2]
        cls.plain_port = cls.daemon.addresses[1][2]

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def tearDown(self):
        self.assertTrue(self.daemon.alive(), "calcd died:\n" + self.daemon.stderr_text())

    def proxy_socket(self):
        s = raw_socket(self.proxy_port)
        self.addCleanup(s.close)
        return s

    def test_listening_line_says_proxy(self):
        self.assertIn("listening on 127.0.0.1:%d (PROXY protocol)" % self.proxy_port,
                      self.daemon.stderr_text())
        self.assertRegex(self.daemon.stderr_text(),
                         r"listening on 127\.0\.0\.1:%d\n" % self.plain_port)

    def test_v1_header_then_calls(self):
        for transport, protocol in (("buffered", "binary"), ("framed", "compact")):
            s = self.proxy_socket()
            pairs = [(i, 1000) for i in range(20)]
            s.sendall(v1() + add_calls(transport, protocol, pairs))
            self.assertEqual(read_adds(s, transport, protocol, 20),
                             [(i + 1, a + b) for i, (a, b) in enumerate(pairs)])

    def test_v1_tcp6_header_split_across_writes(self):
        s = self.proxy_socket()
        data = v1(src="2001:db8::7", dst="::1", family="TCP6") + add_calls(
            "buffered", "binary", [(2, 3)])
        for i in range(0, len(data), 7):      # 7 bytes at a time
            s.sendall(data[i:i + 7])
            time.sleep(0.005)
        self.assertEqual(read_adds(s, "buffered", "binary", 1), [(1, 5)])

    def test_v2_header_then_calls(self):
        for src in ("203.0.113.9", "2001:db8::9"):
            s = self.proxy_socket()
            # A TLV (type 0x04, NOOP) is skipped.
            s.sendall(v2(src=src, dst="::1" if ":" in src else "127.0.0.1",
                         tlvs=b"\x04\x00\x03abc") + add_calls("buffered", "binary",
                                                               [(40, 2), (1, 1)]))
            self.assertEqual(read_adds(s, "buffered", "binary", 2), [(1, 42), (2, 2)])
            # A second round on the same connection: the header came once.
            s.sendall(add_calls("buffered", "binary", [(5, 5)]))
            self.assertEqual(read_adds(s, "buffered", "binary", 1), [(1, 10)])

    def test_v2_local_then_ping(self):
        """HAProxy's health check: a v2 LOCAL header, then ping()."""
        s = self.proxy_socket()
        s.sendall(v2(command=0) + ping_call("framed", "binary"))
        proto = reply_reader(s, "framed", "binary")
        self.assertEqual(proto.readMessageBegin(), ("ping", TMessageType.REPLY, 1))

    def test_bad_request_is_logged_with_the_headers_address(self):
        for header, peer in ((v1(src="198.51.100.23", sport=50123), "198.51.100.23:50123"),
                             (v2(src="2001:db8::23", dst="::1", sport=50124),
                              "[2001:db8::23]:50124")):
            mark = log_mark(self.daemon)
            s = self.proxy_socket()
            # A call with a message type calcd does not take.
            s.sendall(header + b"\x80\x01\x00\x07\x00\x00\x00\x03add\x00\x00\x00\x01\x00")
            self.assertTrue(wait_closed(s)[0])
            m = wait_log(self.daemon, r"(\S+): closing connection \(", start=mark)
            self.assertIsNotNone(m, self.daemon.stderr_text())
            self.assertEqual(m.group(1), peer)
            # The balancer's (here: this socket's) address is not the peer named.
            self.assertEqual(log_lines_naming(self.daemon, peer_name(s), mark), [])

    def test_plain_thrift_client_is_refused_with_one_line(self):
        mark = log_mark(self.daemon)
        c = connect(self.proxy_port)
        self.addCleanup(c.close)
        name = peer_name(c.sock.handle)
        with self.assertRaises(Exception):
            c.client.add(1, 2)
        self.assertTrue(wait_log(self.daemon, r"%s: closing connection: bad PROXY protocol "
                                 r"header: expected a PROXY protocol header"
                                 % name.replace(".", r"\."), start=mark))
        time.sleep(0.2)
        self.assertEqual(len(log_lines_naming(self.daemon, name, mark)), 1,
                         self.daemon.stderr_text())
        # The plain listener beside it serves the same client.
        with connect(self.plain_port) as c2:
            self.assertEqual(c2.client.add(1, 2), 3)

    def test_malformed_and_oversized_headers_are_refused(self):
        cases = (
            (b"PROXY TCP4 300.0.0.1 127.0.0.1 1 2\r\n", "v1 with a bad address"),
            (b"PROXY TCP4 " + b"1" * 200 + b"\r\n", "v1 past 107 bytes"),
            (V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack(">H", 4000), "v2 of 4000 bytes"),
            (V2_SIGNATURE + bytes([0x31, 0x11, 0, 12]) + b"\0" * 12, "v2 with version 3"),
        )
        for header, what in cases:
            mark = log_mark(self.daemon)
            s = self.proxy_socket()
            s.sendall(header)
            closed, data = wait_closed(s)
            self.assertTrue(closed, what)
            self.assertEqual(data, b"", what)
            name = peer_name(s)
            self.assertTrue(wait_log(self.daemon, r"%s: closing connection: bad PROXY protocol "
                                     r"header: " % name.replace(".", r"\."), start=mark),
                            "%s: %s" % (what, self.daemon.stderr_text()))
            self.assertEqual(len(log_lines_naming(self.daemon, name, mark)), 1, what)
            time.sleep(0.15)   # calcd logs at most 10 bad-input lines a second

    def test_slow_header_is_closed(self):
        """Half a header, or nothing at all: closed at message_timeout."""
        for first in (v2()[:20], b""):
            mark = log_mark(self.daemon)
            s = self.proxy_socket()
            s.sendall(first)
            closed, _ = wait_closed(s, timeout=MESSAGE_TIMEOUT + 5)
            self.assertTrue(closed)
            m = wait_log(self.daemon, r"%s: closing connection: no whole PROXY protocol header "
                         r"within message_timeout \((\d+) bytes of it arrived\)"
                         % peer_name(s).replace(".", r"\."), start=mark)
            self.assertIsNotNone(m, self.daemon.stderr_text())
            self.assertEqual(int(m.group(1)), len(first))

    def test_header_on_a_plain_listener_is_bad_thrift(self):
        s = raw_socket(self.plain_port)
        self.addCleanup(s.close)
        s.sendall(v1() + add_calls("buffered", "binary", [(1, 1)]))
        self.assertTrue(wait_closed(s)[0])


class ProxyShedTest(unittest.TestCase):
    def test_a_full_calcd_counts_connections_by_the_headers_address(self):
        """When calcd is full it closes a connection of the peer holding the
        most: behind a balancer, that peer is the client the header names,
        not the balancer (whose address every connection shares)."""
        conf = limits_conf("proxy-shed", workers=1, max_connections=4, log_level="debug")
        d = Daemon(listen=("127.0.0.1:0 proxy",), conf=conf).start()
        self.addCleanup(lambda: d.alive() and d.kill())
        held = []
        for src, sport in (("198.51.100.1", 1001), ("198.51.100.1", 1002),
                           ("198.51.100.1", 1003), ("198.51.100.2", 2001)):
            s = raw_socket(d.port)
            self.addCleanup(s.close)
            s.sendall(v1(src=src, sport=sport) + add_calls("buffered", "binary", [(1, 1)]))
            self.assertEqual(read_adds(s, "buffered", "binary", 1), [(1, 2)])
            held.append(s)
        mark = log_mark(d)
        s = raw_socket(d.port)
        self.addCleanup(s.close)
        s.sendall(v1(src="198.51.100.3", sport=3001) + add_calls("buffered", "binary", [(2, 2)]))
        self.assertEqual(read_adds(s, "buffered", "binary", 1), [(1, 4)])
        m = wait_log(d, r"(\S+): closed to admit a new connection \(idle, (\d+) from its "
                        r"address here\)", start=mark, timeout=5)
        self.assertIsNotNone(m, d.stderr_text())
        self.assertRegex(m.group(1), r"^198\.51\.100\.1:100[123]$")
        self.assertEqual(m.group(2), "3")
        for c in held + [s]:
            c.close()
        d.stop()


class ProxyConfigTest(unittest.TestCase):
    def free_port(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def test_reload_turns_proxy_on_and_off_for_new_connections(self):
        port = self.free_port()
        conf = write_file("proxy-reload", "listen = 127.0.0.1:%d\nworkers = 1\n" % port)
        d = Daemon(listen=None, conf=conf).start()
        self.addCleanup(lambda: d.alive() and d.kill())
        old = connect(port)
        self.assertEqual(old.client.add(1, 1), 2)

        mark = log_mark(d)
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:%d proxy\nworkers = 1\n" % port)
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(d, r"127\.0\.0\.1:%d: PROXY protocol headers required from "
                                 r"now on" % port, start=mark, timeout=5))
        self.assertTrue(wait_log(d, r"configuration reloaded", start=mark, timeout=5))
        s = raw_socket(port)
        s.sendall(v1() + add_calls("buffered", "binary", [(3, 4)]))
        self.assertEqual(read_adds(s, "buffered", "binary", 1), [(1, 7)])
        s.close()
        # The connection from before keeps going without a header.
        self.assertEqual(old.client.add(2, 2), 4)

        mark = log_mark(d)
        with open(conf, "w") as f:
            f.write("listen = 127.0.0.1:%d\nworkers = 1\n" % port)
        d.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_log(d, r"no PROXY protocol header expected from now on",
                                 start=mark, timeout=5))
        self.assertTrue(wait_log(d, r"configuration reloaded", start=mark, timeout=5))
        with connect(port) as c:
            self.assertEqual(c.client.add(5, 5), 10)
        old.close()
        d.stop()

    def test_bad_word_after_the_address(self):
        from calcd_harness import run_calcd
        r = run_calcd(["-t", "-c", limits_conf("proxy-bad", workers=1), "-l",
                       "127.0.0.1:0 prox"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("-l 127.0.0.1:0 prox: unknown word after the address (the options "
                      "are 'proxy' and 'tls')", r.stderr)

    @unittest.skipUnless(WITH_SYSTEMD, "calcd was built --without-systemd")
    def test_socket_from_systemd_takes_the_flag_of_its_listen_line(self):
        self.assertTrue(SOCKET_ACTIVATE and os.access(SOCKET_ACTIVATE, os.X_OK),
                        "systemd-socket-activate not found (Debian package systemd)")
        port = self.free_port()
        conf = write_file("proxy-sa", "listen = 127.0.0.1:%d proxy\nworkers = 1\n" % port)
        log = tempfile.TemporaryFile(mode="w+")
        self.addCleanup(log.close)
        env = dict(os.environ)
        for var in ("LISTEN_FDS", "LISTEN_PID", "NOTIFY_SOCKET"):
            env.pop(var, None)
        proc = subprocess.Popen([SOCKET_ACTIVATE, "-l", "127.0.0.1:%d" % port,
                                 os.environ["CALCD"], "-c", conf], stderr=log,
                                stdout=subprocess.DEVNULL, env=env)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(5)))
        s = None
        deadline = time.monotonic() + 10
        while s is None and time.monotonic() < deadline:
            try:
                s = raw_socket(port)
            except OSError:
                time.sleep(0.05)
        self.assertIsNotNone(s, "nothing answers on the activated port")
        s.sendall(v2() + add_calls("buffered", "binary", [(20, 22)]))
        self.assertEqual(read_adds(s, "buffered", "binary", 1), [(1, 42)])
        s.close()
        # A plain client is refused there.
        s = raw_socket(port)
        s.sendall(add_calls("buffered", "binary", [(1, 1)]))
        self.assertTrue(wait_closed(s)[0])
        s.close()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(15), 0)
        log.seek(0)
        text = log.read()
        self.assertIn("listening on 127.0.0.1:%d (from systemd, PROXY protocol)" % port, text)
        self.assertIn("expected a PROXY protocol header", text)


if __name__ == "__main__":
    unittest.main()
