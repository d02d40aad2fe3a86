"""calcd behind a real HAProxy running the shipped etc/haproxy/calcd.cfg.

The shipped file is used as it is, except for what only fits a real
machine: its addresses become loopback ones (the frontend's bind, one
server line per calcd started here, built from the shipped line's options,
send-proxy-v2 included) and the global section loses chroot, user, group
and daemon, logs to stderr instead of syslog, holds fewer connections (an
unprivileged process cannot raise its file limit for 20000) and puts its
stats socket into the work directory.  Everything else, the health check
above all, runs exactly as shipped.  The calcd listeners are marked proxy.

test_2 is issue 13's fleet test: three calcd on loopback addresses of their
own behind HAProxy, reconnecting clients on other loopback addresses for
about 10 seconds while one instance is killed (SIGKILL), another stopped
(SIGTERM) and the first started again.  No answer may be wrong and no call
lost; a call attempt may fail only on a connection that was open on the
killed instance (HAProxy's log names each connection's server); and calcd
logs a bad request that came through HAProxy with the client's own address.

Environment (set by run.sh): CALCD, CALCD_CONF, CALCD_WORK, CALCD_GEN_PY,
HAPROXY, CALCD_HAPROXY_CFG.
"""

import csv
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time
import unittest

from calcd_harness import CalculatorService, Daemon, limits_conf, raw_socket, wait_log
from thrift.Thrift import TMessageType
from thrift.protocol import TBinaryProtocol
from thrift.transport import TSocket, TTransport

HAPROXY = os.environ.get("HAPROXY", "haproxy")
HAPROXY_CFG = os.environ.get("CALCD_HAPROXY_CFG", "")
CALCD_WORK = os.environ.get("CALCD_WORK", "")

# Waits for a server to change state.  The shipped check runs every 2s
# (500ms while changing) and needs 2 failures / 3 successes: a few seconds.
STATE_TIMEOUT = 20.0
SOCKET_TIMEOUT = 5.0
HAPROXY_START_TIMEOUT = 10.0

# The client run of test_2, and how long calcd's graceful stop may last
# there (longer than the run: the clients close their connections first).
RUN_SECONDS = 10.0
FLEET_SHUTDOWN_TIMEOUT = "20s"
V2_LOCAL = b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"


def shipped_text():
    with open(HAPROXY_CFG, encoding="utf-8") as f:
        return f.read()


def config_hex(text, directive):
    """The hex string after e.g. "tcp-check send-binary" (exactly one such line)."""
    found = re.findall(r"^\s*" + re.escape(directive) + r"\s+([0-9A-Fa-f]+)\s*$", text, re.M)
    if len(found) != 1:
        raise AssertionError("%d '%s' lines in %s, want 1" % (len(found), directive, HAPROXY_CFG))
    return bytes.fromhex(found[0])


def fleet_config(text, frontend_port, servers, stats_socket, proxy=True):
    """The shipped config for loopback: servers is [(name, host, port)];
    proxy=False drops send-proxy-v2 (for a server that takes no header)."""
    out, seen = [], {"bind": 0, "server": 0, "stats socket": 0, "log /dev/log": 0}
    options = None
    section = ""
    for line in text.splitlines():
        words = line.split()
        key = words[0] if words else ""
        if words and not line[0].isspace() and not key.startswith("#"):
            section = key
        if section == "global" and key in ("chroot", "user", "group", "daemon"):
            continue
        if section == "global" and key == "maxconn":
            line = "    maxconn 1000"
        elif line.strip().startswith("log /dev/log"):
            seen["log /dev/log"] += 1
            line = "    log stderr format raw local0 info"
        elif line.strip().startswith("stats socket "):
            seen["stats socket"] += 1
            line = "    stats socket %s mode 600 level admin" % stats_socket
        elif key == "bind":
            seen["bind"] += 1
            line = "    bind 127.0.0.1:%d" % frontend_port
        elif key == "server":
            seen["server"] += 1
            opts = words[3:]
            if options is None:
                options = opts
            elif opts != options:
                raise AssertionError("shipped server lines differ in options: %r" % (words,))
            continue
        out.append(line)
    for what, count in seen.items():
        if count < 1:
            raise AssertionError("no '%s' line in %s" % (what, HAPROXY_CFG))
    if seen["bind"] != 1:
        raise AssertionError("%d bind lines in %s, want 1" % (seen["bind"], HAPROXY_CFG))
    if "check" not in options or "send-proxy-v2" not in options:
        raise AssertionError("shipped server lines lack check or send-proxy-v2: %r" % (options,))
    if not proxy:
        options = [o for o in options if o != "send-proxy-v2"]
    # The server lines close the backend section, which ends the file.
    while out and not out[-1].strip():
        out.pop()
    for name, host, port in servers:
        out.append("    server %s %s:%d %s" % (name, host, port, " ".join(options)))
    return "\n".join(out) + "\n"


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError("connection closed after %d of %d bytes" % (len(data), n))
        data += chunk
    return data


def exchange(port, request, timeout=SOCKET_TIMEOUT):
    """Send request bytes, return the one frame (length prefix included) answered."""
    with raw_socket(port, timeout) as s:
        s.sendall(request)
        head = recv_exact(s, 4)
        length = int.from_bytes(head, "big")
        if length > 1 << 16:
            raise AssertionError("frame length %d in the answer" % length)
        return head + recv_exact(s, length)


def decode_framed_binary(data):
    """(name, message type, seqid) of one framed strict-binary message."""
    trans = TTransport.TFramedTransport(TTransport.TMemoryBuffer(data))
    proto = TBinaryProtocol.TBinaryProtocol(trans, strictRead=True)
    return proto.readMessageBegin()


class HAProxy:
    """One haproxy process in the foreground (-db), asked over its stats socket."""

    def __init__(self, cfg_path, stats_socket):
        self.cfg_path = cfg_path
        self.stats_socket = stats_socket
        self.proc = None
        self.log_path = cfg_path + ".log"

    def start(self):
        check = subprocess.run([HAPROXY, "-c", "-f", self.cfg_path], capture_output=True,
                               text=True, timeout=30)
        if check.returncode != 0:
            raise AssertionError("haproxy -c on the fleet config failed:\n%s%s"
                                 % (check.stdout, check.stderr))
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", self.cfg_path],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + HAPROXY_START_TIMEOUT
        while True:
            try:
                self.stats()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError("haproxy did not come up:\n" + self.log_text())
                time.sleep(0.1)

    def log_text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def command(self, line):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(SOCKET_TIMEOUT)
            s.connect(self.stats_socket)
            s.sendall(line.encode() + b"\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data.decode("utf-8", "replace")

    def stats(self):
        """{(proxy, server): row} from "show stat"."""
        text = self.command("show stat")
        lines = [l for l in text.splitlines() if l.strip()]
        if not lines or not lines[0].startswith("# "):
            raise OSError("unexpected show stat answer: %r" % text[:200])
        lines[0] = lines[0][2:]
        return {(r["pxname"], r["svname"]): r for r in csv.DictReader(lines)}

    def server(self, name):
        return self.stats()[("calcd", name)]

    def wait_state(self, name, status, check_statuses=None, timeout=STATE_TIMEOUT):
        """Wait until the server's status is status (and its last check one of
        check_statuses); returns its stats row."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.server(name)
            if row["status"] == status and (check_statuses is None or
                                            row["check_status"] in check_statuses):
                return row
            if time.monotonic() > deadline:
                raise AssertionError("server %s: status %s, check %s (%s) after %.0f s, want %s"
                                     "\nhaproxy log:\n%s"
                                     % (name, row["status"], row["check_status"],
                                        row.get("last_chk", ""), timeout, status,
                                        self.log_text()))
            time.sleep(0.1)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None and not self.log.closed:
            self.log.close()


class FakeServer(threading.Thread):
    """Answers every 21-byte ping frame with fixed bytes; counts what it got."""

    def __init__(self, answer):
        super().__init__(daemon=True)
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self.stopping = False
        self.start()

    def run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while len(data) < 21:
                        chunk = conn.recv(21 - len(data))
                        if not chunk:
                            break
                        data += chunk
                    self.received.append(data)
                    conn.sendall(self.answer)
                    conn.recv(1)     # until HAProxy closes
                except OSError:
                    pass

    def stop(self):
        self.stopping = True
        self.join(5)
        self.sock.close()


class FleetClient(threading.Thread):
    """A client of the fleet, from its own loopback address: add() calls
    with random numbers, a new connection every few dozen calls, and a call
    made again (on a new connection) when an attempt fails.  Records every
    failed attempt with the connection it was made on."""

    ATTEMPTS = 20           # per call, before the call counts as lost
    RETRY_PAUSE = 0.1

    def __init__(self, index, source, frontend, stopping):
        super().__init__(name="fleet-client-%d" % index, daemon=True)
        self.source, self.frontend, self.stopping = source, frontend, stopping
        self.random = random.Random(index)
        self.calls = self.answered = 0
        self.wrong, self.lost, self.failures = [], [], []
        self.connections = 0
        self.conn = None

    def open(self):
        sock = socket.socket()
        sock.bind((self.source, 0))
        sock.settimeout(SOCKET_TIMEOUT)
        opened = time.monotonic()      # before HAProxy can have picked a server for it
        sock.connect(("127.0.0.1", self.frontend))
        handle = TSocket.TSocket()
        handle.setHandle(sock)
        trans = TTransport.TBufferedTransport(handle)
        client = CalculatorService.Client(TBinaryProtocol.TBinaryProtocol(trans))
        self.conn = {"trans": trans, "client": client, "address": sock.getsockname()[:2],
                     "opened": opened, "left": self.random.randrange(20, 80)}
        self.connections += 1

    def close(self):
        if self.conn is not None:
            self.conn["trans"].close()
            self.conn = None

    def call(self, a, b):
        for _ in range(self.ATTEMPTS):
            try:
                if self.conn is None:
                    self.open()
                got = self.conn["client"].add(a, b)
                self.conn["left"] -= 1
                return got
            except (TTransport.TTransportException, OSError) as e:
                self.failures.append({
                    "address": self.conn["address"] if self.conn else (self.source, None),
                    "opened": self.conn["opened"] if self.conn else None,
                    "at": time.monotonic(), "error": repr(e)})
                self.close()
                time.sleep(self.RETRY_PAUSE)
        return None

    def run(self):
        try:
            while not self.stopping.is_set():
                if self.conn is not None and self.conn["left"] <= 0:
                    self.close()
                a = self.random.randrange(-1000000, 1000000)
                b = self.random.randrange(-1000000, 1000000)
                self.calls += 1
                got = self.call(a, b)
                if got is None:
                    self.lost.append((a, b))
                elif got != a + b:
                    self.wrong.append((a, b, got))
                else:
                    self.answered += 1
                time.sleep(0.002)
        finally:
            self.close()


def haproxy_sessions(log_text):
    """{(client ip, port): server name} from HAProxy's tcplog lines."""
    sessions = {}
    for m in re.finditer(r"^(\d+\.\d+\.\d+\.\d+):(\d+) \[[^\]]*\] calcd calcd/(\S+) ",
                         log_text, re.M):
        sessions[(m.group(1), int(m.group(2)))] = m.group(3)
    return sessions


class FleetTest(unittest.TestCase):
    """The tests run in name order; each starts and stops what it uses."""

    @classmethod
    def setUpClass(cls):
        cls.text = shipped_text()
        cls.send = config_hex(cls.text, "tcp-check send-binary")
        cls.expect = config_hex(cls.text, "tcp-check expect binary")

    def start_calcd(self, listen, **keys):
        conf = dict(workers=1, log_level="info", shutdown_timeout=FLEET_SHUTDOWN_TIMEOUT)
        conf.update(keys)
        d = Daemon(listen=(listen,), conf=limits_conf("fleet", **conf)).start()
        self.addCleanup(lambda: d.alive() and d.kill())
        return d

    # -- the shipped file --------------------------------------------------
    def test_0_shipped_config_passes_haproxy_check(self):
        r = subprocess.run([HAPROXY, "-c", "-f", HAPROXY_CFG], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, "haproxy -c -f %s:\n%s%s"
                         % (HAPROXY_CFG, r.stdout, r.stderr))

    def test_1_check_bytes_against_calcd(self):
        """The check's request is a framed strict-binary ping() call, and a
        real calcd answers it with exactly the bytes the check expects; on a
        proxy listener after the v2 LOCAL header HAProxy's check sends, and
        not at all without a header."""
        self.assertEqual(decode_framed_binary(self.send), ("ping", TMessageType.CALL, 1))
        self.assertEqual(decode_framed_binary(self.expect), ("ping", TMessageType.REPLY, 1))
        d = self.start_calcd("127.0.0.1:0")
        got = exchange(d.port, self.send)
        self.assertEqual(got, self.expect, "calcd answered %s" % got.hex())
        # An EXCEPTION reply (an unknown method here) does not contain the
        # pattern, so the check would fail on it.
        bad_call = self.send.replace(b"ping", b"pong")
        got = exchange(d.port, bad_call)
        self.assertEqual(decode_framed_binary(got)[1], TMessageType.EXCEPTION)
        self.assertNotIn(self.expect, got)
        d.stop()

        p = self.start_calcd("127.0.0.1:0 proxy")
        got = exchange(p.port, V2_LOCAL + self.send)
        self.assertEqual(got, self.expect, "calcd answered %s" % got.hex())
        with raw_socket(p.port) as s:
            s.sendall(self.send)
            s.settimeout(SOCKET_TIMEOUT)
            self.assertEqual(s.recv(100), b"")     # closed: no PROXY header
        p.stop()

    # -- a fleet through SIGKILL, SIGTERM and a restart ----------------------
    def test_2_fleet_through_kill_stop_and_restart(self):
        hosts = {"calcd1": "127.0.0.11", "calcd2": "127.0.0.12", "calcd3": "127.0.0.13"}
        ports = {name: free_port(host) for name, host in hosts.items()}

        def listen(name):
            return "%s:%d proxy" % (hosts[name], ports[name])

        daemons = {name: self.start_calcd(listen(name)) for name in hosts}
        frontend = free_port()
        sock = os.path.join(CALCD_WORK, "admin.sock")
        cfg = os.path.join(CALCD_WORK, "fleet.cfg")
        with open(cfg, "w") as f:
            f.write(fleet_config(self.text, frontend,
                                 [(n, hosts[n], ports[n]) for n in sorted(hosts)], sock))
        haproxy = HAProxy(cfg, sock).start()
        self.addCleanup(haproxy.stop)
        for name in hosts:
            haproxy.wait_state(name, "UP", ("L7OK",))

        # A bad request through HAProxy, from 127.0.0.9: calcd names that address.
        with socket.socket() as bad:
            bad.bind(("127.0.0.9", 0))
            bad.settimeout(SOCKET_TIMEOUT)
            bad.connect(("127.0.0.1", frontend))
            bad_name = "127.0.0.9:%d" % bad.getsockname()[1]
            bad.sendall(b"\x80\x01\x00\x07\x00\x00\x00\x03add\x00\x00\x00\x01\x00")
            self.assertEqual(bad.recv(100), b"")
        logged = None
        deadline = time.monotonic() + 5
        while logged is None and time.monotonic() < deadline:
            for name, d in daemons.items():
                m = wait_log(d, r"^.*%s: closing connection .*$" % re.escape(bad_name),
                             timeout=0.1)
                if m:
                    logged = (name, m.group(0))
        self.assertIsNotNone(logged, "no calcd logged the bad request from %s" % bad_name)
        print("\n  %s logged: %s" % logged, flush=True)

        stopping = threading.Event()
        clients = [FleetClient(i, "127.0.0.%d" % (2 + i), frontend, stopping)
                   for i in range(4)]
        started = time.monotonic()
        for c in clients:
            c.start()
        try:
            time.sleep(1.5)
            daemons["calcd1"].proc.send_signal(signal.SIGKILL)
            daemons["calcd1"].kill()               # reaps it
            # Gone, its listening socket with it: from here HAProxy's connections
            # to calcd1 are refused, and it sends them elsewhere.  (Until the
            # kernel has closed the socket, one can still be accepted there and
            # then reset: the kill is not an instant.)
            killed_at = time.monotonic()
            haproxy.wait_state("calcd1", "DOWN")

            time.sleep(0.5)
            stopped = daemons["calcd2"]
            stopped.proc.send_signal(signal.SIGTERM)
            haproxy.wait_state("calcd2", "DOWN")

            restarted = self.start_calcd(listen("calcd1"))
            haproxy.wait_state("calcd1", "UP", ("L7OK",))
            up_again = time.monotonic()
            stot_at_restart = int(haproxy.server("calcd1")["stot"])
            # Run on: 10 s in all, and a while on the restarted instance.
            time.sleep(max(RUN_SECONDS - (up_again - started), 1.5))
        finally:
            stopping.set()
            for c in clients:
                c.join(SOCKET_TIMEOUT * 2)
        self.assertFalse(any(c.is_alive() for c in clients), "a client did not stop")

        # The stopped calcd exits once the clients' connections are gone,
        # without waiting for shutdown_timeout.
        try:
            rc = stopped.proc.wait(10)     # no second SIGTERM: one as it exits would kill it
        except subprocess.TimeoutExpired:
            rc = None
        stopped.kill()                     # reaps; kills only a calcd still running
        self.assertEqual(rc, 0, stopped.stderr_text())
        self.assertNotIn("shutdown_timeout is over", stopped.stderr_text())
        restarted_sessions = int(haproxy.server("calcd1")["stot"]) - stot_at_restart
        haproxy.stop()
        sessions = haproxy_sessions(haproxy.log_text())

        calls = sum(c.calls for c in clients)
        answered = sum(c.answered for c in clients)
        failures = [f for c in clients for f in c.failures]
        print("  %d calls on %d connections, %d answered; %d failed attempts, all retried"
              % (calls, sum(c.connections for c in clients), answered, len(failures)),
              flush=True)
        self.assertEqual([w for c in clients for w in c.wrong], [], "wrong answers")
        self.assertEqual([l for c in clients for l in c.lost], [], "lost calls")
        self.assertEqual(answered, calls)
        # Each failed attempt was on a connection HAProxy had given to calcd1
        # and that was open when calcd1 was killed.
        for f in failures:
            where = sessions.get(tuple(f["address"]))
            self.assertEqual(where, "calcd1", "an attempt failed on a connection to %s, not "
                             "the killed instance: %r" % (where, f))
            self.assertIsNotNone(f["opened"], f)
            self.assertLess(f["opened"], killed_at, "failed on a connection opened after "
                            "calcd1 was gone (so on the restarted calcd1): %r" % (f,))
        # Every instance served clients, the restarted one too.
        servers = set(sessions.values())
        self.assertTrue({"calcd1", "calcd2", "calcd3"} <= servers, servers)
        self.assertGreater(restarted_sessions, 0, "no connection reached the restarted calcd1")
        restarted.stop()
        daemons["calcd3"].stop()

    def test_3_exception_reply_fails_the_check(self):
        """A server answering ping with an EXCEPTION is never taken for healthy."""
        exception = bytes.fromhex(
            "00000034 80010003 00000004 70696e67 00000001"
            " 0b0001 00000015 756e6b6e6f776e206d6574686f64202770696e6727"
            " 080002 00000001 00".replace(" ", ""))
        self.assertEqual(decode_framed_binary(exception), ("ping", TMessageType.EXCEPTION, 1))
        fake = FakeServer(exception)
        self.addCleanup(fake.stop)
        sock = os.path.join(CALCD_WORK, "admin-bad.sock")
        cfg = os.path.join(CALCD_WORK, "fleet-bad.cfg")
        with open(cfg, "w") as f:
            f.write(fleet_config(self.text, free_port(), [("fake", "127.0.0.1", fake.port)], sock,
                                 proxy=False))
        ha = HAProxy(cfg, sock).start()
        self.addCleanup(ha.stop)
        row = ha.wait_state("fake", "DOWN", ("L7TOUT", "L7RSP"))
        self.assertTrue(fake.received, "the fake server got no check")
        self.assertEqual(fake.received[0], self.send)
        print("\n  fake server answering EXCEPTION: %s, check %s"
              % (row["status"], row["check_status"]), flush=True)


if __name__ == "__main__":
    unittest.main()
