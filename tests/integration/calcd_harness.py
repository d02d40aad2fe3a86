"""Test harness for the calcd integration tests.

Starts the real daemon on 127.0.0.1 (or ::1) port 0, reads the port it got
from its log on stderr, hands out Thrift clients for every transport x
protocol combination, and stops the daemon with SIGTERM, checking that it
exits 0.  Every wait is bounded; every socket has a timeout.

Environment (set by run.sh): CALCD, CALCD_CONF, CALCD_WORK, CALCD_GEN_PY.
"""

import atexit
import itertools
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

CALCD = os.environ.get("CALCD", "")
CALCD_CONF = os.environ.get("CALCD_CONF", "")
CALCD_WORK = os.environ.get("CALCD_WORK") or tempfile.mkdtemp(prefix="calcd-itest-")
CALCD_GEN_PY = os.environ.get("CALCD_GEN_PY") or os.path.join(CALCD_WORK, "gen-py")
if CALCD_GEN_PY not in sys.path:
    sys.path.insert(0, CALCD_GEN_PY)

from thrift.Thrift import TApplicationException, TMessageType, TType  # noqa: E402
from thrift.protocol import TBinaryProtocol, TCompactProtocol  # noqa: E402
from thrift.protocol.TMultiplexedProtocol import TMultiplexedProtocol  # noqa: E402
from thrift.transport import TSocket, TTransport  # noqa: E402

from example.calculator import Calculator, CalculatorService, SharedService  # noqa: E402
from example.calculator.ttypes import (  # noqa: E402
    InvalidOperation, Operation, SharedStruct, Work)

INT32_MAX = 2**31 - 1
INT32_MIN = -2**31

START_TIMEOUT = 10.0    # for the "listening on" lines
STOP_TIMEOUT = 15.0     # from SIGTERM/SIGINT to exit (shutdown_timeout is 10 s)
SOCKET_TIMEOUT = 5.0    # every client socket
CLI_TIMEOUT = 10.0      # a calcd run that should end by itself

LISTEN_RE = re.compile(
    r"listening on (?:\[(?P<v6>[0-9A-Fa-f:.%a-z]+)\]|(?P<v4>\d{1,3}(?:\.\d{1,3}){3})):(?P<port>\d+)")


def raise_nofile(want=4096):
    """Make room for a few hundred sockets here and in the daemon (inherited)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


raise_nofile()

_live = []   # daemons not yet stopped, killed at exit whatever happens


@atexit.register
def _kill_leftovers():
    for d in list(_live):
        if d.proc.poll() is None:
            d.proc.kill()
            try:
                d.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


def write_file(name, text):
    """Write text to a fresh file under CALCD_WORK/tmp; return its path."""
    d = os.path.join(CALCD_WORK, "tmp")
    os.makedirs(d, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=name + "-", suffix=".conf", dir=d)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def run_calcd(args, timeout=CLI_TIMEOUT):
    """Run calcd to completion; returns CompletedProcess (text).  Fails on timeout."""
    try:
        return subprocess.run([CALCD] + list(args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, text=True, errors="replace")
    except subprocess.TimeoutExpired as e:
        raise AssertionError("calcd %s did not exit within %.0f s; stderr: %r"
                             % (" ".join(args), timeout, e.stderr)) from None


class _LineReader(threading.Thread):
    """Drain a pipe into a list of lines so it never fills up."""

    def __init__(self, pipe, name):
        super().__init__(name=name, daemon=True)
        self.pipe = pipe
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.start()

    def run(self):
        try:
            for raw in iter(self.pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
        finally:
            with self.cond:
                self.eof = True
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return "\n".join(self.lines)

    def wait_for(self, predicate, timeout):
        """Wait until predicate(lines) is true or EOF/timeout; returns its last value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate(self.lines)
                if value or self.eof:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    return value
                self.cond.wait(min(left, 0.2))


class Daemon:
    """One calcd process.

    listen: list of -l arguments (default one, 127.0.0.1:0); None to use
    only the config file's listen lines.  expect: how many "listening on"
    lines to wait for (default: len(listen)).  argv replaces the whole
    argument list.
    """

    def __init__(self, listen=("127.0.0.1:0",), conf=None, extra_args=(), expect=None,
                 argv=None):
        self.conf = conf or CALCD_CONF
        self.listen = list(listen) if listen is not None else []
        if argv is None:
            argv = ["-f", "-c", self.conf]
            for addr in self.listen:
                argv += ["-l", addr]
            argv += list(extra_args)
        self.args = [CALCD] + list(argv)
        self.expect = expect if expect is not None else max(1, len(self.listen))
        self.proc = None
        self.addresses = []   # [(family, host, port)]
        self.returncode = None

    # -- lifecycle --------------------------------------------------------
    def start(self, timeout=START_TIMEOUT):
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _live.append(self)
        self.err = _LineReader(self.proc.stderr, "calcd-stderr")
        self.out = _LineReader(self.proc.stdout, "calcd-stdout")

        def listeners(lines):
            found = [m for m in (LISTEN_RE.search(l) for l in lines) if m]
            return found if len(found) >= self.expect else None

        found = self.err.wait_for(listeners, timeout)
        if not found:
            rc = self.proc.poll()
            self.kill()
            raise AssertionError(
                "calcd did not log %d 'listening on' line(s) within %.0f s (exit status %s)\n"
                "command: %s\nstderr:\n%s" % (self.expect, timeout, rc, " ".join(self.args),
                                              self.err.text()))
        for m in found:
            if m.group("v6"):
                self.addresses.append((socket.AF_INET6, m.group("v6"), int(m.group("port"))))
            else:
                self.addresses.append((socket.AF_INET, m.group("v4"), int(m.group("port"))))
        return self

    @property
    def port(self):
        return self.addresses[0][2]

    @property
    def host(self):
        return self.addresses[0][1]

    @property
    def family(self):
        return self.addresses[0][0]

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        return self.err.text() if self.proc else ""

    def assert_alive(self, testcase=None):
        """The process runs and answers ping and add on a new connection."""
        msg = None
        if not self.alive():
            msg = "calcd died (exit status %s); stderr:\n%s" % (self.proc.poll(),
                                                                self.stderr_text())
        else:
            try:
                with connect(self) as c:
                    c.client.ping()
                    got = c.client.add(20, 22)
                if got != 42:
                    msg = "liveness check: add(20, 22) returned %r" % (got,)
            except Exception as e:  # noqa: BLE001 - anything here means not alive
                msg = "liveness check failed: %r; stderr:\n%s" % (e, self.stderr_text())
        if msg:
            if testcase:
                testcase.fail(msg)
            raise AssertionError(msg)

    def signal_and_wait(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Send sig, wait for exit; returns the exit status (None on timeout: killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.returncode = None
        self._reap()
        return self.returncode

    def _reap(self):
        """After exit: let the readers reach EOF, close the pipes."""
        for reader in (self.err, self.out):
            reader.wait_for(lambda lines: False, 2)
            reader.join(1)
            reader.pipe.close()
        if self in _live:
            _live.remove(self)

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stop with sig and insist on a clean exit 0."""
        if self.proc is None:
            return
        rc = self.signal_and_wait(sig, timeout)
        if rc is None:
            raise AssertionError("calcd did not exit within %.0f s of %s; stderr:\n%s"
                                 % (timeout, signal.Signals(sig).name, self.stderr_text()))
        if rc != 0:
            raise AssertionError("calcd exited %s after %s, expected 0; stderr:\n%s"
                                 % (rc, signal.Signals(sig).name, self.stderr_text()))

    def kill(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self._reap()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
        else:
            self.kill()


# -- client side ---------------------------------------------------------

TRANSPORTS = {
    "socket": lambda sock: sock,                    # bare TSocket, unbuffered
    "buffered": TTransport.TBufferedTransport,
    "framed": TTransport.TFramedTransport,
}

PROTOCOLS = {
    "binary": lambda t: TBinaryProtocol.TBinaryProtocol(t),
    "binary-nonstrict": lambda t: TBinaryProtocol.TBinaryProtocol(
        t, strictRead=False, strictWrite=False),
    "binary-accel": lambda t: TBinaryProtocol.TBinaryProtocolAccelerated(t),
    "compact": lambda t: TCompactProtocol.TCompactProtocol(t),
    "compact-accel": lambda t: TCompactProtocol.TCompactProtocolAccelerated(t),
}

SERVICE_NAMES = ("CalculatorService", "Calculator")
MUXES = (None,) + SERVICE_NAMES

# Every transport x protocol.
COMBOS = list(itertools.product(TRANSPORTS, PROTOCOLS))
# ... and each of them plain and multiplexed under both service names.
ALL_COMBOS = list(itertools.product(TRANSPORTS, PROTOCOLS, MUXES))


def combo_name(transport, protocol, mux=None):
    return "%s/%s%s" % (transport, protocol, "/mux:" + mux if mux else "")


class Conn:
    """One open client connection: .client, .proto (for hand-written
    messages), .trans (the outermost transport), .sock (the TSocket)."""

    def __init__(self, sock, trans, proto, client):
        self.sock, self.trans, self.proto, self.client = sock, trans, proto, client

    def close(self):
        self.trans.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Hand-written calls -------------------------------------------------
    def send_call(self, name, fields, seqid=1, mtype=TMessageType.CALL):
        """Write one message whose args struct holds fields (see write_fields)."""
        p = self.proto
        p.writeMessageBegin(name, mtype, seqid)
        p.writeStructBegin("args")
        write_fields(p, fields)
        p.writeFieldStop()
        p.writeStructEnd()
        p.writeMessageEnd()
        self.trans.flush()

    def read_reply(self, result_cls=None):
        """Read one reply: returns (name, mtype, seqid, value) where value is a
        TApplicationException for EXCEPTION, else a result_cls instance (or
        the skipped struct's absence when result_cls is None)."""
        return read_reply(self.proto, result_cls)


def connect(target, transport="buffered", protocol="binary", mux=None, service=Calculator,
            host=None, port=None, family=None, timeout=SOCKET_TIMEOUT):
    """Open a client to a Daemon (or port number) over the given combination."""
    if isinstance(target, Daemon):
        family = family or target.family
        host = host or target.host
        port = port or target.port
    else:
        port = port or target
        host = host or "127.0.0.1"
        family = family or socket.AF_INET
    sock = TSocket.TSocket(host, port, socket_family=family)
    sock.setTimeout(int(timeout * 1000))
    trans = TRANSPORTS[transport](sock)
    proto = PROTOCOLS[protocol](trans)
    if mux:
        proto = TMultiplexedProtocol(proto, mux)
    client = service.Client(proto)
    trans.open()
    return Conn(sock, trans, proto, client)


def write_fields(p, fields):
    """fields: [(id, ttype, value)]; value is an int, str/bytes, or for
    TType.STRUCT a nested field list, for TType.LIST (elem_type, [values])."""
    for fid, ftype, value in fields:
        p.writeFieldBegin("f%d" % fid, ftype, fid)
        write_value(p, ftype, value)
        p.writeFieldEnd()


def write_value(p, ftype, value):
    if ftype == TType.I32:
        p.writeI32(value)
    elif ftype == TType.I64:
        p.writeI64(value)
    elif ftype == TType.I16:
        p.writeI16(value)
    elif ftype == TType.BYTE:
        p.writeByte(value)
    elif ftype == TType.BOOL:
        p.writeBool(value)
    elif ftype == TType.DOUBLE:
        p.writeDouble(value)
    elif ftype == TType.STRING:
        if isinstance(value, bytes):
            p.writeBinary(value)
        else:
            p.writeString(value)
    elif ftype == TType.STRUCT:
        p.writeStructBegin("s")
        write_fields(p, value)
        p.writeFieldStop()
        p.writeStructEnd()
    elif ftype == TType.LIST:
        etype, items = value
        p.writeListBegin(etype, len(items))
        for item in items:
            write_value(p, etype, item)
        p.writeListEnd()
    else:
        raise ValueError("write_value: type %d not supported" % ftype)


def read_reply(p, result_cls=None):
    name, mtype, seqid = p.readMessageBegin()
    if mtype == TMessageType.EXCEPTION:
        value = TApplicationException()
        value.read(p)
    elif result_cls is not None:
        value = result_cls()
        value.read(p)
    else:
        p.skip(TType.STRUCT)
        value = None
    p.readMessageEnd()
    return name, mtype, seqid, value


def work(num1, num2, op, comment=None):
    return Work(num1=num1, num2=num2, op=op, comment=comment)


# -- raw bytes -------------------------------------------------------------

def encode_messages(transport, protocol, writer, mux=None):
    """Bytes of the messages writer(proto, flush) writes, through the given
    transport kind over a memory buffer; writer must call flush() after
    each message (which frames it for "framed")."""
    mem = TTransport.TMemoryBuffer()
    trans = TTransport.TFramedTransport(mem) if transport == "framed" else mem
    proto = PROTOCOLS[protocol](trans)
    if mux:
        proto = TMultiplexedProtocol(proto, mux)
    writer(proto, trans.flush)
    return mem.getvalue()


def encode_call(proto, flush, name, fields, seqid, mtype=TMessageType.CALL):
    proto.writeMessageBegin(name, mtype, seqid)
    proto.writeStructBegin("args")
    write_fields(proto, fields)
    proto.writeFieldStop()
    proto.writeStructEnd()
    proto.writeMessageEnd()
    flush()


def raw_socket(target, timeout=SOCKET_TIMEOUT):
    if isinstance(target, Daemon):
        family, host, port = target.addresses[0]
    else:
        family, host, port = socket.AF_INET, "127.0.0.1", target
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((host, port))
    return s


def reply_reader(sock, transport, protocol):
    """A protocol reading replies from an already connected socket.socket."""
    ts = TSocket.TSocket()
    ts.setHandle(sock)
    trans = TRANSPORTS[transport](ts)
    return PROTOCOLS[protocol](trans)


def wait_closed(sock, timeout=5.0, max_bytes=1 << 20):
    """Read until the peer closes (EOF or reset).  Returns (closed, data)."""
    deadline = time.monotonic() + timeout
    data = b""
    while time.monotonic() < deadline and len(data) < max_bytes:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, BrokenPipeError):
            return True, data
        if not chunk:
            return True, data
        data += chunk
    return False, data


# THeader's protocol ids for the protocols inside a frame.
HEADER_PROTOCOL_IDS = {"binary": 0, "compact": 2}


def message_header(protocol, name, mtype, seqid):
    """The bytes a message begins with: its type, name and seqid in protocol
    (strict binary, or compact), as any Thrift library writes them."""
    mem = TTransport.TMemoryBuffer()
    PROTOCOLS[protocol](mem).writeMessageBegin(name, mtype, seqid)
    return mem.getvalue()


def frame_payload(transport, protocol, payload, seqid=0):
    """payload (one or more whole messages) as transport sends it: as is
    (buffered), after a 4-byte length (framed), or in one THeader frame with
    protocol's id, no transforms and no info headers, sequence number seqid."""
    if transport == "buffered":
        return payload
    if transport == "framed":
        return struct.pack(">i", len(payload)) + payload
    if transport == "header":
        header = bytes([HEADER_PROTOCOL_IDS[protocol], 0])   # protocol id, 0 transforms
        header += b"\0" * (-len(header) % 4)
        frame = struct.pack(">HHiH", 0x0FFF, 0, seqid, len(header) // 4) + header + payload
        return struct.pack(">i", len(frame)) + frame
    raise ValueError("frame_payload: transport %r" % transport)


class RawReplies:
    """Reads whole replies off a raw socket.socket speaking transport x protocol
    (transport buffered, framed or header), as bytes.  next() returns
    (payload, header): payload is the reply message's bytes, unframed; header
    is None, or for THeader (protocol id, sequence number) of its frame."""

    def __init__(self, sock, transport, protocol, timeout=SOCKET_TIMEOUT, max_bytes=1 << 20):
        self.sock, self.transport, self.protocol = sock, transport, protocol
        self.timeout, self.max_bytes = timeout, max_bytes
        self.buf = b""

    def _more(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or len(self.buf) >= self.max_bytes:
            raise AssertionError("no whole reply within %.1f s (%d bytes: %r)"
                                 % (self.timeout, len(self.buf), self.buf[:64]))
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed after %d bytes of a reply: %r"
                                 % (len(self.buf), self.buf[:64]))
        self.buf += chunk

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._more(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def _message_length(self):
        """Length of the whole message at the start of buf, None if not all here."""
        mem = TTransport.TMemoryBuffer(self.buf)
        p = PROTOCOLS[self.protocol](mem)
        try:
            p.readMessageBegin()
            p.skip(TType.STRUCT)
            p.readMessageEnd()
        except EOFError:
            return None
        return mem.cstringio_buf.tell()

    def next(self):
        deadline = time.monotonic() + self.timeout
        if self.transport == "buffered":
            while True:
                n = self._message_length() if self.buf else None
                if n is not None:
                    return self._take(n, deadline), None
                self._more(deadline)
        length = struct.unpack(">i", self._take(4, deadline))[0]
        if not 0 < length <= self.max_bytes:
            raise AssertionError("frame length %d" % length)
        frame = self._take(length, deadline)
        if self.transport == "framed":
            return frame, None
        magic, _flags, seqid, words = struct.unpack(">HHiH", frame[:10])
        if magic != 0x0FFF:
            raise AssertionError("not a THeader frame: %r" % frame[:16])
        header = frame[10:10 + 4 * words]
        return frame[10 + 4 * words:], (header[0], seqid)


class DaemonTestCase(unittest.TestCase):
    """One daemon (default config, 127.0.0.1:0) per test class; each test
    checks afterwards that it is still alive; tearDownClass insists on a
    clean SIGTERM exit."""

    daemon_args = {}

    @classmethod
    def setUpClass(cls):
        cls.daemon = Daemon(**cls.daemon_args).start()

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def tearDown(self):
        if self.daemon.alive():
            return
        self.fail("calcd died during %s (exit status %s); stderr ends:\n%s"
                  % (self.id(), self.daemon.proc.poll(), self.log_tail()))

    def log_tail(self, n=40):
        """The last n lines calcd wrote to stderr."""
        return "\n".join(self.daemon.err.lines[-n:])

    def connect(self, *args, **kwargs):
        c = connect(self.daemon, *args, **kwargs)
        self.addCleanup(c.close)
        return c


# -- the daemon seen from /proc, limit configs, log lines (test_hostile, test_soak) --

def proc_rss_kib(pid):
    """VmRSS of pid in KiB (None if /proc does not say)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_fd_count(pid):
    """Open descriptors of pid (None if /proc/PID/fd is not readable)."""
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def proc_fds(pid):
    """{fd: what it is} for pid's open descriptors ({} if /proc/PID/fd is
    not readable): readlink's target, and for a TCP socket its endpoints
    and state from /proc/net/tcp{,6}, e.g. "socket:[123] 127.0.0.1:40000 ->
    127.0.0.1:51234 CLOSE_WAIT"."""
    fds = {}
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return fds
    for name in names:
        try:
            fds[int(name)] = os.readlink("/proc/%d/fd/%s" % (pid, name))
        except OSError:
            pass    # closed meanwhile
    tcp = _tcp_sockets(pid)
    for fd, target in fds.items():
        m = re.match(r"socket:\[(\d+)\]$", target)
        if m and m.group(1) in tcp:
            fds[fd] = "%s %s" % (target, tcp[m.group(1)])
    return fds


_TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
               6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
               11: "CLOSING"}


def _tcp_address(hexaddr):
    """/proc/net/tcp{,6}'s "0100007F:1F90" as "127.0.0.1:8080" (or "[::1]:8080")."""
    addr, port = hexaddr.split(":")
    raw = bytes.fromhex(addr)
    # The kernel prints each 32-bit word in host order (little-endian here).
    raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if len(raw) == 4:
        return "%s:%d" % (socket.inet_ntop(socket.AF_INET, raw), int(port, 16))
    return "[%s]:%d" % (socket.inet_ntop(socket.AF_INET6, raw), int(port, 16))


def _tcp_sockets(pid):
    """{inode: "local -> remote STATE"} of the TCP sockets in pid's network namespace."""
    out = {}
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if len(fields) < 10:
                        continue
                    out[fields[9]] = "%s -> %s %s" % (
                        _tcp_address(fields[1]), _tcp_address(fields[2]),
                        _TCP_STATES.get(int(fields[3], 16), fields[3]))
        except (OSError, ValueError, StopIteration):
            pass
    return out


def _tcp_rows(host, port):
    """(state, rx_queue) of each TCP socket whose local address is host:port
    (any host for a wildcard one; a wildcard listener's too), from
    /proc/net/tcp and tcp6; None if neither is readable."""
    wildcards = ("0.0.0.0", "::")
    want = ":%04X" % port
    hosts = None if host in wildcards else {
        "%s:%d" % (h, port) if ":" not in h else "[%s]:%d" % (h, port)
        for h in (host,) + wildcards}
    rows, seen = [], False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                seen = True
                for line in f:
                    fields = line.split()
                    if len(fields) < 5 or not fields[1].endswith(want):
                        continue
                    if hosts is None or _tcp_address(fields[1]) in hosts:
                        rows.append((int(fields[3], 16), int(fields[4].split(":")[1], 16)))
        except (OSError, ValueError, StopIteration):
            pass
    return rows if seen else None


def listen_backlog(host, port):
    """Connections to local TCP host:port no process has accepted yet: the
    listening sockets' accept queues (a listener's rx_queue in
    /proc/net/tcp{,6}) plus handshakes still in SYN_RECV.  The kernel
    completes a client's connect() before the server accepts, so a client
    may have connected, sent and closed while its connection still waits
    here.  None if /proc/net/tcp is not readable."""
    rows = _tcp_rows(host, port)
    if rows is None:
        return None
    return sum(rx if state == 10 else 1 for state, rx in rows if state in (3, 10))


def wait_fds_settled(daemon, pid, base, seconds=15, step=0.05):
    """Wait, at most seconds, until no connection to daemon waits to be
    accepted and process pid has base descriptors again.  The count alone
    is not enough: a client's connect() completes in the kernel before
    calcd accepts, so the last connections made (and closed) may still
    wait in the accept queue while the count reads base, and be accepted
    (the count one more) just after.  Returns (backlog, fds) as last seen;
    the caller asserts on them.  The bound is generous (slow ASan builds,
    busy machines); a real leak stays."""
    deadline = time.monotonic() + seconds
    while True:
        backlog = listen_backlog(daemon.host, daemon.port)
        fds = proc_fd_count(pid)
        if (not backlog and fds == base) or time.monotonic() > deadline:
            return backlog, fds
        time.sleep(step)


def server_side_closed(host, port):
    """True once no connection to local TCP host:port waits to be accepted and
    the server has closed its side of every one (none is in SYN_RECV,
    ESTABLISHED or CLOSE_WAIT), as /proc/net/tcp{,6} show it; None if
    they are not readable.  A connection the client reset may leave the
    table before the server closes its descriptor: count descriptors too."""
    rows = _tcp_rows(host, port)
    if rows is None:
        return None
    return (not any(state in (1, 3, 8) for state, rx in rows)
            and listen_backlog(host, port) == 0)


def describe_fds(now, base):
    """The difference between two proc_fds() maps, for a failure message."""
    lines = ["  fd %d: %s (new)" % (fd, now[fd]) for fd in sorted(set(now) - set(base))]
    lines += ["  fd %d: %s (gone)" % (fd, base[fd]) for fd in sorted(set(base) - set(now))]
    lines += ["  fd %d: %s (was %s)" % (fd, now[fd], base[fd])
              for fd in sorted(set(now) & set(base)) if now[fd] != base[fd]
              and not (now[fd].startswith("socket:") and base[fd].startswith("socket:"))]
    return "\n".join(lines) or "  (no difference in the descriptor table)"


def proc_cpu_seconds(pid):
    """User + system CPU time pid has used, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def limits_conf(name, **keys):
    """A config file holding exactly keys (key = value lines); listen comes from -l."""
    return write_file(name, "".join("%s = %s\n" % kv for kv in keys.items()))


def peer_name(sock):
    """How calcd names the peer of sock in its log: "127.0.0.1:PORT"."""
    host, port = sock.getsockname()[:2]
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def wait_log(daemon, pattern, timeout=2.0, start=0):
    """The first match of regex pattern in the daemon's log lines from index
    start on, waiting up to timeout seconds; None if none came."""
    rx = re.compile(pattern)

    def find(lines):
        for line in lines[start:]:
            m = rx.search(line)
            if m:
                return m
        return None
    return daemon.err.wait_for(find, timeout)


def log_mark(daemon):
    """Index of the next log line, for wait_log(start=...)."""
    with daemon.err.cond:
        return len(daemon.err.lines)


_logid = itertools.count(1000 + (os.getpid() % 1000) * 1000)
_logid_lock = threading.Lock()


def fresh_logid():
    """A calculate logid no other test uses against the same daemon."""
    with _logid_lock:
        return next(_logid)


# Re-exported for the test modules: the generated client code they share.
__all__ = [
    "ALL_COMBOS", "CALCD", "CALCD_CONF", "CALCD_GEN_PY", "CALCD_WORK", "COMBOS", "Calculator",
    "CalculatorService", "Conn", "Daemon", "DaemonTestCase", "INT32_MAX", "INT32_MIN",
    "InvalidOperation", "LISTEN_RE", "MUXES", "Operation", "PROTOCOLS", "SERVICE_NAMES",
    "SharedService", "SharedStruct", "TRANSPORTS", "Work", "combo_name", "connect",
    "encode_call", "encode_messages", "fresh_logid", "raw_socket", "read_reply",
    "HEADER_PROTOCOL_IDS", "RawReplies", "frame_payload", "message_header",
    "reply_reader", "run_calcd", "wait_closed", "work", "write_file",
    "describe_fds", "limits_conf", "listen_backlog", "log_mark", "peer_name",
    "proc_cpu_seconds", "proc_fd_count", "proc_fds", "proc_rss_kib", "raise_nofile",
    "server_side_closed", "wait_fds_settled", "wait_log",
]
