"""TLS listeners (issue 17): "listen = ADDRESS tls", "ADDRESS proxy tls".

Against the real calcd with a throw-away PKI that tests/tls/make-certs.sh
makes at test time: every transport and protocol inside TLS (Python's ssl
module and python3-thrift's TSSLSocket); client certificates required
(tls_client_ca); a PROXY header before the handshake, with the ClientHello
in the same segment; a plain client on a TLS port and a TLS client on a
plain port; handshakes that never finish, alone and in a flood; a
certificate rotated by SIGHUP while a client calls on, and a bad new one
that leaves the old in force; replies queued at SIGTERM still delivered
over TLS; a reply that must wait for the rest of a KeyUpdate split over two
records (records the test seals itself), without calcd spinning meanwhile.
127.0.0.1 only; every loop and wait is bounded.
"""

import ctypes
import ctypes.util
import hashlib
import hmac
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import unittest
import urllib.request

from calcd_harness import (CALCD_WORK, Daemon, encode_call, encode_messages, log_mark,
                           peer_name, proc_cpu_seconds, raw_socket, reply_reader, wait_closed,
                           wait_log, write_file)

from thrift.Thrift import TType
from thrift.protocol import TBinaryProtocol, TCompactProtocol, THeaderProtocol
from thrift.transport import TSocket, TSSLSocket, TTransport

from example.calculator import Calculator, CalculatorService

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_CERTS = os.path.join(os.environ.get("CALCD_TEST_DIR", os.path.dirname(HERE)),
                          "tls", "make-certs.sh")
PKI = os.path.join(CALCD_WORK, "tls-pki")
HANDSHAKE_TIMEOUT = "1s"
METRICS_RE = re.compile(r"serving metrics on http://127\.0\.0\.1:(?P<port>\d+)/metrics")

_pki_made = False


def pki(name):
    return os.path.join(PKI, name)


def make_pki():
    """The test PKI, once per run of this module."""
    global _pki_made
    if not _pki_made:
        shutil.rmtree(PKI, ignore_errors=True)
        subprocess.run(["sh", MAKE_CERTS, PKI], check=True, timeout=120,
                       stdout=subprocess.DEVNULL)
        _pki_made = True


def client_context(cert=None, key=None):
    """Trusts the test CA and checks calcd's name (127.0.0.1 is in its SAN)."""
    ctx = ssl.create_default_context(cafile=pki("ca.pem"))
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def tls_client(port, transport="buffered", protocol="binary", ctx=None):
    """(transport, client) of a Thrift client over TLS to 127.0.0.1:port."""
    sock = TSSLSocket.TSSLSocket("127.0.0.1", port, ssl_context=ctx or client_context(),
                                 server_hostname="127.0.0.1")
    sock.setTimeout(5000)
    if protocol == "header":
        proto = THeaderProtocol.THeaderProtocolFactory().getProtocol(sock)
        trans = sock
    else:
        trans = (TTransport.TFramedTransport(sock) if transport == "framed"
                 else TTransport.TBufferedTransport(sock))
        proto = (TCompactProtocol.TCompactProtocol(trans) if protocol == "compact"
                 else TBinaryProtocol.TBinaryProtocol(trans))
    client = (CalculatorService.Client if protocol == "header" else Calculator.Client)(proto)
    trans.open()
    return trans, client


def peer_serial(port):
    """The serial number of the certificate calcd shows a new connection."""
    ctx = client_context()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert()["serialNumber"].upper().lstrip("0")


def file_serial(path):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", path], check=True,
                         capture_output=True, text=True, timeout=30).stdout
    return out.strip().split("=", 1)[1].upper().lstrip("0")


def add_bytes(pairs, transport="buffered", protocol="binary"):
    def writer(proto, flush):
        for i, (a, b) in enumerate(pairs):
            encode_call(proto, flush, "add", [(1, TType.I32, a), (2, TType.I32, b)], i + 1)
    return encode_messages(transport, protocol, writer)


def v1_header(src="203.0.113.7", sport=40000):
    return ("PROXY TCP4 %s 127.0.0.1 %d 9090\r\n" % (src, sport)).encode()


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


class MemoryTLS:
    """A TLS client over a connected socket through memory BIOs, so the
    test decides which bytes go out in which segment; socket-like enough
    for TSocket (recv, send, sendall, close, settimeout)."""

    def __init__(self, sock, ctx=None):
        self.sock = sock
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = (ctx or client_context()).wrap_bio(self.incoming, self.outgoing,
                                                      server_hostname="127.0.0.1")

    def client_hello(self):
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.outgoing.read()

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _fill(self):
        data = self.sock.recv(65536)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()
        return bool(data)

    def handshake(self):
        for _ in range(100):
            try:
                self.obj.do_handshake()
                self._flush()
                return
            except ssl.SSLWantReadError:
                self._flush()
                if not self._fill():
                    raise ConnectionError("closed during the handshake")
        raise AssertionError("handshake did not finish in 100 rounds")

    def send(self, data):
        self.obj.write(data)
        self._flush()
        return len(data)

    sendall = send

    def recv(self, n):
        for _ in range(1000):
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                if not self._fill():
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
        raise AssertionError("no plaintext in 1000 reads")

    def settimeout(self, t):
        self.sock.settimeout(t)

    def close(self):
        self.sock.close()


def client_hello():
    """The bytes of a real ClientHello, for handshakes that stop part way."""
    with socket.socket() as unused:
        return MemoryTLS(unused).client_hello()


def read_adds(sock, count, transport="buffered", protocol="binary"):
    """The results of count add replies read from sock, in order."""
    proto = reply_reader(sock, transport, protocol)
    out = []
    for _ in range(count):
        _, _, seqid, value = proto_read(proto)
        out.append((seqid, value))
    return out


def proto_read(proto):
    from calcd_harness import read_reply
    return read_reply(proto, CalculatorService.add_result)


# -- TLS 1.3 records sealed by the test itself -------------------------------------------

def _libcrypto():
    """OpenSSL's libcrypto, for AEAD sealing (the stdlib has no AES)."""
    lib = ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3")
    vp, cp, i, ip = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)
    for name, res, args in (("EVP_get_cipherbyname", vp, [cp]),
                            ("EVP_CIPHER_CTX_new", vp, []),
                            ("EVP_CIPHER_CTX_free", None, [vp]),
                            ("EVP_CIPHER_CTX_ctrl", i, [vp, i, i, vp]),
                            ("EVP_EncryptInit_ex", i, [vp, vp, vp, cp, cp]),
                            ("EVP_EncryptUpdate", i, [vp, vp, ip, cp, i]),
                            ("EVP_EncryptFinal_ex", i, [vp, vp, ip])):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def hkdf_expand_label(hash_name, secret, label, length):
    """HKDF-Expand-Label of RFC 8446 7.1, with an empty context."""
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([i]), hash_name).digest()
        out += block
        i += 1
    return out[:length]


class ClientRecords:
    """The client's side of a TLS 1.3 connection after its handshake, sealed
    here from its application traffic secret (out of the keylog file Python's
    ssl writes), so the test can send what no TLS library would: a
    KeyUpdate split over two records.  Valid while the client's own TLS
    object sends nothing more."""

    SUITES = {  # name: (EVP cipher, key length, hash)
        "TLS_AES_128_GCM_SHA256": (b"aes-128-gcm", 16, "sha256"),
        "TLS_AES_256_GCM_SHA384": (b"aes-256-gcm", 32, "sha384"),
        "TLS_CHACHA20_POLY1305_SHA256": (b"chacha20-poly1305", 32, "sha256"),
    }
    EVP_CTRL_AEAD_SET_IVLEN, EVP_CTRL_AEAD_GET_TAG = 0x9, 0x10

    def __init__(self, suite, secret):
        self.cipher, self.key_len, self.hash = self.SUITES[suite]
        self.lib = _libcrypto()
        self._use(secret)

    def _use(self, secret):
        self.secret = secret
        self.key = hkdf_expand_label(self.hash, secret, b"key", self.key_len)
        self.iv = hkdf_expand_label(self.hash, secret, b"iv", 12)
        self.seq = 0

    def update(self):
        """The next traffic secret, once a KeyUpdate has gone (RFC 8446 7.2)."""
        self._use(hkdf_expand_label(self.hash, self.secret, b"traffic upd",
                                    hashlib.new(self.hash).digest_size))

    def seal(self, content_type, data):
        """One record: data of content_type, sealed with the next sequence number."""
        assert len(data) <= 16384, "more than one record holds"
        inner = data + bytes([content_type])
        header = struct.pack("!BHH", 23, 0x0303, len(inner) + 16)
        nonce = bytes(a ^ b for a, b in zip(self.iv, self.seq.to_bytes(12, "big")))
        self.seq += 1
        lib, n = self.lib, ctypes.c_int(0)
        out, tag = ctypes.create_string_buffer(len(inner) + 32), ctypes.create_string_buffer(16)
        ctx = lib.EVP_CIPHER_CTX_new()
        try:
            ok = (lib.EVP_EncryptInit_ex(ctx, lib.EVP_get_cipherbyname(self.cipher), None,
                                         None, None) == 1 and
                  lib.EVP_CIPHER_CTX_ctrl(ctx, self.EVP_CTRL_AEAD_SET_IVLEN, 12, None) == 1 and
                  lib.EVP_EncryptInit_ex(ctx, None, None, self.key, nonce) == 1 and
                  lib.EVP_EncryptUpdate(ctx, None, ctypes.byref(n), header, len(header)) == 1 and
                  lib.EVP_EncryptUpdate(ctx, out, ctypes.byref(n), inner, len(inner)) == 1)
            sealed = n.value
            ok = ok and (lib.EVP_EncryptFinal_ex(ctx, ctypes.byref(out, sealed),
                                                 ctypes.byref(n)) == 1 and
                         lib.EVP_CIPHER_CTX_ctrl(ctx, self.EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1)
        finally:
            lib.EVP_CIPHER_CTX_free(ctx)
        assert ok and sealed + n.value == len(inner), "libcrypto would not seal a record"
        return header + out.raw[:len(inner)] + tag.raw


def client_traffic_secret(keylog):
    """CLIENT_TRAFFIC_SECRET_0 of the one connection logged in keylog."""
    with open(keylog) as f:
        found = [line.split()[2] for line in f if line.startswith("CLIENT_TRAFFIC_SECRET_0 ")]
    assert len(found) == 1, "keylog %s: %d client traffic secrets" % (keylog, len(found))
    return bytes.fromhex(found[0])


class TlsListeners(unittest.TestCase):
    """One calcd: a tls line, a plain line and a proxy tls line, and metrics."""

    @classmethod
    def setUpClass(cls):
        make_pki()
        cls.conf = write_file("tls", (
            "listen = 127.0.0.1:0 tls\n"
            "listen = 127.0.0.1:0\n"
            "listen = 127.0.0.1:0 proxy tls\n"
            "metrics_listen = 127.0.0.1:0\n"
            "workers = 2\n"
            "tls_certificate = %s\n"
            "tls_key = %s\n"
            "tls_handshake_timeout = %s\n"
            "shutdown_timeout = 2s\n") % (pki("server.pem"), pki("server.key"),
                                         HANDSHAKE_TIMEOUT))
        cls.daemon = Daemon(conf=cls.conf, listen=None, expect=3).start()
        cls.tls_port = cls.daemon.addresses[0][2]
        cls.plain_port = cls.daemon.addresses[1][2]
        cls.proxy_port = cls.daemon.addresses[2][2]
        m = wait_log(cls.daemon, METRICS_RE.pattern, timeout=5)
        assert m, cls.daemon.stderr_text()
        cls.metrics_port = int(m.group("port"))

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def assert_tls_works(self):
        trans, client = tls_client(self.tls_port)
        try:
            self.assertEqual(client.add(20, 22), 42)
        finally:
            trans.close()

    def test_listening_lines_say_tls(self):
        text = self.daemon.stderr_text()
        self.assertIn("listening on 127.0.0.1:%d (TLS)" % self.tls_port, text)
        self.assertIn("listening on 127.0.0.1:%d (PROXY protocol, TLS)" % self.proxy_port, text)
        self.assertRegex(text, r"TLS: certificate CN=calcd-test-server")

    def test_every_transport_and_protocol_inside_tls(self):
        for transport, protocol in (("buffered", "binary"), ("buffered", "compact"),
                                    ("framed", "binary"), ("framed", "compact"),
                                    ("header", "header")):
            with self.subTest(transport=transport, protocol=protocol):
                trans, client = tls_client(self.tls_port, transport, protocol)
                try:
                    client.ping()
                    self.assertEqual(client.add(2, 3), 5)
                    self.assertEqual(client.add(-7, 7), 0)
                finally:
                    trans.close()

    def test_pipelined_calls_and_a_big_batch(self):
        """Many calls in one write: several TLS records, plaintext buffered in
        OpenSSL past what one read takes; every reply comes, in order."""
        n = 3000
        ctx = client_context()
        with socket.create_connection(("127.0.0.1", self.tls_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(add_bytes([(i, 1) for i in range(n)]))
                got = read_adds(s, n)
        self.assertEqual([v.success for _, v in got], [i + 1 for i in range(n)])

    def test_proxy_header_then_tls_in_one_segment(self):
        """The header and the ClientHello in one send: the bytes read past the
        header start the TLS stream.  calcd names the header's address."""
        for sport, request in ((40017, add_bytes([(40, 2)])), (40018, b"hello, calcd\r\n")):
            mark = log_mark(self.daemon)
            with raw_socket(self.proxy_port) as raw:
                tls = MemoryTLS(raw)
                raw.sendall(v1_header(sport=sport) + tls.client_hello())
                tls.handshake()
                tls.sendall(request)
                if sport == 40017:
                    (_, value), = read_adds(tls, 1)
                    self.assertEqual(value.success, 42)
                    continue
                # Not Thrift inside TLS: the log line names the PROXY header's client.
                self.assertEqual(tls.recv(1), b"")
                self.assertTrue(wait_log(self.daemon, r"203\.0\.113\.7:40018: closing "
                                         r"connection", timeout=5, start=mark),
                                self.daemon.stderr_text())

    def test_proxy_header_then_tls_in_separate_segments(self):
        raw = raw_socket(self.proxy_port)
        raw.sendall(v1_header(sport=40019))
        time.sleep(0.05)  # a separate segment; correctness does not depend on it
        with client_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(add_bytes([(1, 2)], "framed", "compact"))
            (_, value), = read_adds(s, 1, "framed", "compact")
            self.assertEqual(value.success, 3)

    def test_plain_client_on_the_tls_port(self):
        before = metrics(self.metrics_port)
        mark = log_mark(self.daemon)
        with raw_socket(self.tls_port) as s:
            s.sendall(add_bytes([(1, 1)], "framed", "binary"))
            closed, data = wait_closed(s)
            self.assertTrue(closed)
            self.assertEqual(data, b"")
            line = wait_log(self.daemon, re.escape(peer_name(s)) +
                            r": closing connection: TLS handshake failed \(not_tls\): "
                            r"a plain Thrift client \(framed\) on a TLS port",
                            timeout=5, start=mark)
        self.assertTrue(line, self.daemon.stderr_text())
        self.assert_tls_works()
        after = metrics(self.metrics_port)
        key = 'calcd_tls_handshake_failures_total{reason="not_tls"}'
        self.assertGreaterEqual(after[key] - before[key], 1)

    def test_tls_client_on_the_plain_port(self):
        mark = log_mark(self.daemon)
        raw = raw_socket(self.plain_port)
        name = peer_name(raw)
        with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
            with client_context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.recv(1)
        raw.close()
        self.assertTrue(wait_log(self.daemon, re.escape(name) + r": closing connection .*"
                                 r"a TLS handshake on a port without TLS",
                                 timeout=5, start=mark), self.daemon.stderr_text())
        self.assert_tls_works()

    def test_handshake_that_never_finishes_is_closed(self):
        mark = log_mark(self.daemon)
        hello = client_hello()
        with raw_socket(self.tls_port) as half, raw_socket(self.tls_port) as silent:
            half.sendall(hello[:len(hello) // 2])
            for s in (half, silent):
                closed, _ = wait_closed(s, timeout=10)
                self.assertTrue(closed, "still open well past tls_handshake_timeout")
                self.assertTrue(wait_log(self.daemon, re.escape(peer_name(s)) +
                                         r": closing connection: TLS handshake failed "
                                         r"\(timeout\): not finished within "
                                         r"tls_handshake_timeout", timeout=5, start=mark),
                                self.daemon.stderr_text())
        self.assert_tls_works()

    def test_flood_of_unfinished_handshakes(self):
        """200 connections that start a handshake and stop: a client that
        connects meanwhile is served; each flood connection is closed."""
        before = metrics(self.metrics_port)
        hello = client_hello()
        flood = []
        try:
            for _ in range(200):
                s = raw_socket(self.tls_port)
                s.sendall(hello[:20])
                flood.append(s)
            for _ in range(5):
                self.assert_tls_works()
            for s in flood:
                closed, _ = wait_closed(s, timeout=10)
                self.assertTrue(closed)
        finally:
            for s in flood:
                s.close()
        after = metrics(self.metrics_port)
        key = 'calcd_tls_handshake_failures_total{reason="timeout"}'
        self.assertGreaterEqual(after[key] - before[key], 200)
        self.assertGreater(after["calcd_tls_handshakes_total"],
                           before["calcd_tls_handshakes_total"])
        self.assert_tls_works()

    def test_metrics_name_every_failure_reason(self):
        m = metrics(self.metrics_port)
        for reason in ("not_tls", "version", "cipher", "no_certificate", "bad_certificate",
                       "alert", "protocol", "eof", "io", "timeout", "internal"):
            self.assertIn('calcd_tls_handshake_failures_total{reason="%s"}' % reason, m)
        self.assertIn('calcd_connections_closed_total{reason="tls_handshake"}', m)
        self.assertIn("calcd_tls_handshakes_total", m)


class ClientCertificates(unittest.TestCase):
    """tls_client_ca: only clients with a certificate from that CA are served."""

    @classmethod
    def setUpClass(cls):
        make_pki()
        conf = write_file("mtls", (
            "listen = 127.0.0.1:0 tls\n"
            "tls_certificate = %s\n"
            "tls_key = %s\n"
            "tls_client_ca = %s\n") % (pki("server.pem"), pki("server.key"), pki("ca.pem")))
        cls.daemon = Daemon(conf=conf, listen=None).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def call(self, ctx):
        trans, client = tls_client(self.daemon.port, ctx=ctx)
        try:
            return client.add(20, 22)
        finally:
            trans.close()

    def test_the_right_client_certificate_is_served(self):
        self.assertEqual(self.call(client_context(pki("client.pem"), pki("client.key"))), 42)

    def refused(self, ctx, reason):
        mark = log_mark(self.daemon)
        # TLS 1.3: the client's handshake ends before calcd checks its certificate,
        # so the refusal shows at the first call.
        with self.assertRaises(Exception):
            self.call(ctx)
        self.assertTrue(wait_log(self.daemon, r"127\.0\.0\.1:\d+: closing connection: TLS "
                                 r"handshake failed \(%s\)" % reason, timeout=5, start=mark),
                        self.daemon.stderr_text())

    def test_no_client_certificate_is_refused(self):
        self.refused(client_context(), "no_certificate")

    def test_a_certificate_from_another_ca_is_refused(self):
        self.refused(client_context(pki("other-client.pem"), pki("other-client.key")),
                     "bad_certificate")


class Rotation(unittest.TestCase):
    """SIGHUP reads the certificate and key again."""

    def setUp(self):
        make_pki()
        self.dir = os.path.join(CALCD_WORK, "tls-live")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.cert, self.key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        self.install("server")
        self.conf = write_file("rotate", (
            "listen = 127.0.0.1:0 tls\n"
            "tls_certificate = %s\n"
            "tls_key = %s\n") % (self.cert, self.key))
        self.daemon = Daemon(conf=self.conf, listen=None).start()

    def tearDown(self):
        self.daemon.stop()

    def install(self, name):
        for src, dst in ((pki(name + ".pem"), self.cert), (pki(name + ".key"), self.key)):
            shutil.copyfile(src, dst + ".new")
            os.chmod(dst + ".new", 0o600)
            os.replace(dst + ".new", dst)

    def reload(self, expect):
        mark = log_mark(self.daemon)
        self.daemon.proc.send_signal(signal.SIGHUP)
        m = wait_log(self.daemon, expect, timeout=10, start=mark)
        self.assertTrue(m, self.daemon.stderr_text())

    def test_rotation_under_load_then_a_bad_certificate(self):
        port = self.daemon.port
        self.assertEqual(peer_serial(port), file_serial(pki("server.pem")))
        stop = threading.Event()
        results = {"persistent": 0, "fresh": 0, "errors": []}

        def persistent():
            trans, client = tls_client(port)
            try:
                for i in range(100000):
                    if stop.is_set():
                        break
                    if client.add(i, 1) != i + 1:
                        results["errors"].append("wrong sum at %d" % i)
                    results["persistent"] += 1
            except Exception as e:  # noqa: BLE001
                results["errors"].append("persistent: %r" % e)
            finally:
                trans.close()

        def fresh():
            try:
                for i in range(2000):
                    if stop.is_set():
                        break
                    trans, client = tls_client(port)
                    try:
                        if client.add(i, 2) != i + 2:
                            results["errors"].append("wrong sum on a new connection")
                        results["fresh"] += 1
                    finally:
                        trans.close()
            except Exception as e:  # noqa: BLE001
                results["errors"].append("fresh: %r" % e)

        threads = [threading.Thread(target=persistent), threading.Thread(target=fresh)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.3)
            self.install("server2")
            self.reload(r"TLS from now on: certificate CN=calcd-test-server-2")
            self.assertTrue(wait_log(self.daemon, r"configuration reloaded", timeout=5))
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertEqual(results["errors"], [])
        self.assertGreater(results["persistent"], 0)
        self.assertGreater(results["fresh"], 0)
        self.assertEqual(peer_serial(port), file_serial(pki("server2.pem")))

        # A bad new certificate: the reload fails with FILE:LINE, the old one stays.
        with open(self.cert, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        self.reload(re.escape(self.conf) + r":2: tls_certificate: ")
        self.assertTrue(wait_log(self.daemon, r"reload failed: the configuration in force stays",
                                 timeout=5))
        self.assertEqual(peer_serial(port), file_serial(pki("server2.pem")))


class Drain(unittest.TestCase):
    """SIGTERM: replies queued for a TLS client that is not reading yet are
    still delivered, then the connection ends cleanly."""

    def test_queued_replies_are_flushed_over_tls(self):
        make_pki()
        conf = write_file("tls-drain", (
            "listen = 127.0.0.1:0 tls\n"
            "tls_certificate = %s\n"
            "tls_key = %s\n"
            "shutdown_timeout = 1s\n") % (pki("server.pem"), pki("server.key")))
        daemon = Daemon(conf=conf, listen=None).start()
        n = 20000
        try:
            raw = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
            s = client_context().wrap_socket(raw, server_hostname="127.0.0.1")
            s.sendall(add_bytes([(i, 2) for i in range(n)]))
            time.sleep(0.3)
            daemon.proc.send_signal(signal.SIGTERM)
            got = read_adds(s, n)
            self.assertEqual([v.success for _, v in got], [i + 2 for i in range(n)])
            closed, rest = wait_closed(s, timeout=10)
            self.assertTrue(closed)
            self.assertEqual(rest, b"")
            s.close()
            self.assertEqual(daemon.signal_and_wait(signal.SIGTERM), 0)
        finally:
            daemon.kill()


class SplitKeyUpdate(unittest.TestCase):
    """A reply that must wait for a read.  The client sends calls, then a
    TLS 1.3 KeyUpdate split over two records, and holds the second back:
    OpenSSL will not write (SSL_write says WANT_READ) until it has read the
    whole message.  calcd waits for the socket to be readable, not writable
    (that would spin: the socket is writable all along), then writes the
    replies, and reads what follows with the client's new key.  Also with
    more replies than max_output_buffer, where calcd has stopped reading
    calls but must still read the rest of the KeyUpdate."""

    HOLD = 1.5          # seconds the second record is held back
    CPU_BOUND = 0.5     # CPU seconds calcd may use meanwhile: a spin takes about HOLD

    @classmethod
    def setUpClass(cls):
        make_pki()
        conf = write_file("tls-keyupdate", (
            "listen = 127.0.0.1:0 tls\n"
            "workers = 1\n"
            "log_level = debug\n"
            "max_output_buffer = 4K\n"
            "tls_certificate = %s\n"
            "tls_key = %s\n") % (pki("server.pem"), pki("server.key")))
        cls.daemon = Daemon(conf=conf, listen=None).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def test_replies_wait_for_the_rest_of_a_key_update(self):
        # 400 calls: 13 KB, one record (read with the KeyUpdate's first, so OpenSSL has
        # begun the KeyUpdate before calcd answers any); 10 KB of replies.
        for calls in (1, 400):
            with self.subTest(calls=calls):
                self.split_key_update(calls)
        trans, client = tls_client(self.daemon.port)
        try:
            self.assertEqual(client.add(20, 22), 42)
        finally:
            trans.close()

    def split_key_update(self, calls):
        keylog = os.path.join(CALCD_WORK, "tls-keyupdate.keylog")
        if os.path.exists(keylog):
            os.unlink(keylog)
        ctx = client_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        ctx.keylog_filename = keylog
        pid = self.daemon.proc.pid
        with raw_socket(self.daemon.port) as raw:
            tls = MemoryTLS(raw, ctx)
            tls.handshake()
            records = ClientRecords(tls.obj.cipher()[0], client_traffic_secret(keylog))
            mark = log_mark(self.daemon)
            # The calls, and the KeyUpdate's 4-byte header (update_not_requested follows).
            raw.sendall(records.seal(23, add_bytes([(i, 2) for i in range(calls)])) +
                        records.seal(22, b"\x18\x00\x00\x01"))
            waiting = wait_log(self.daemon, re.escape(peer_name(raw)) +
                               r": TLS: the reply waits for the client", timeout=5, start=mark)
            cpu = proc_cpu_seconds(pid)
            time.sleep(self.HOLD)
            spent = proc_cpu_seconds(pid) - cpu
            self.assertLess(spent, self.CPU_BOUND,
                            "calcd used %.2f s of CPU in %.1f s while its reply waited "
                            "for a read" % (spent, self.HOLD))
            self.assertTrue(waiting, self.daemon.stderr_text())
            # The KeyUpdate's last byte: every reply comes, and the new key is in force.
            raw.sendall(records.seal(22, b"\x00"))
            records.update()
            got = read_adds(tls, calls)
            self.assertEqual([(seqid, v.success) for seqid, v in got],
                             [(i + 1, i + 2) for i in range(calls)])
            raw.sendall(records.seal(23, add_bytes([(5, 6)])))
            (seqid, value), = read_adds(tls, 1)
            self.assertEqual((seqid, value.success), (1, 11))


if __name__ == "__main__":
    unittest.main()
