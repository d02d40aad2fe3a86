"""calcd behind a real HAProxy running the shipped etc/haproxy/calcd.cfg.

The shipped file is used as it is, except for what only fits a real
machine: its addresses become loopback ones (the frontend's bind, one
server line per calcd started here, built from the shipped line's options)
and the global section loses chroot, user, group and daemon, logs to stderr
instead of syslog, holds fewer connections (an unprivileged process cannot
raise its file limit for 20000) and puts its stats socket into the work
directory.  Everything else, the
health check above all, runs exactly as shipped.

Phase 1 (now): calcd does not take PROXY headers yet, so send-proxy-v2 is
dropped from the server lines.  CALCD_FLEET_PROXY=1 keeps it and marks the
calcd listeners "proxy" (phase 2, once calcd parses the header).

Environment (set by run.sh): CALCD, CALCD_CONF, CALCD_WORK, CALCD_GEN_PY,
HAPROXY, CALCD_HAPROXY_CFG, CALCD_FLEET_PROXY.
"""

import csv
import os
import re
import socket
import subprocess
import threading
import time
import unittest

from calcd_harness import Daemon, connect, raw_socket
from thrift.Thrift import TMessageType
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

HAPROXY = os.environ.get("HAPROXY", "haproxy")
HAPROXY_CFG = os.environ.get("CALCD_HAPROXY_CFG", "")
CALCD_WORK = os.environ.get("CALCD_WORK", "")
FLEET_PROXY = os.environ.get("CALCD_FLEET_PROXY", "0") == "1"

# Waits for a server to change state.  The shipped check runs every 2s
# (500ms while changing) and needs 2 failures / 3 successes: a few seconds.
STATE_TIMEOUT = 20.0
SOCKET_TIMEOUT = 5.0
HAPROXY_START_TIMEOUT = 10.0

# Listen lines for calcd: with "proxy" once calcd takes PROXY headers.
LISTEN = "127.0.0.1:0" + (" proxy" if FLEET_PROXY else "")


def shipped_text():
    with open(HAPROXY_CFG, encoding="utf-8") as f:
        return f.read()


def config_hex(text, directive):
    """The hex string after e.g. "tcp-check send-binary" (exactly one such line)."""
    found = re.findall(r"^\s*" + re.escape(directive) + r"\s+([0-9A-Fa-f]+)\s*$", text, re.M)
    if len(found) != 1:
        raise AssertionError("%d '%s' lines in %s, want 1" % (len(found), directive, HAPROXY_CFG))
    return bytes.fromhex(found[0])


def fleet_config(text, frontend_port, servers, stats_socket, proxy):
    """The shipped config for loopback: servers is [(name, port)]."""
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
    for name, port in servers:
        out.append("    server %s 127.0.0.1:%d %s" % (name, port, " ".join(options)))
    return "\n".join(out) + "\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
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


class FleetTest(unittest.TestCase):
    """Two calcd instances behind one HAProxy.  The tests run in name order
    and build on each other (test_2 starts what test_3 stops)."""

    @classmethod
    def setUpClass(cls):
        cls.text = shipped_text()
        cls.send = config_hex(cls.text, "tcp-check send-binary")
        cls.expect = config_hex(cls.text, "tcp-check expect binary")
        cls.daemons = {}
        cls.haproxy = None
        cls.frontend = free_port()

    @classmethod
    def tearDownClass(cls):
        if cls.haproxy:
            cls.haproxy.stop()
        for d in cls.daemons.values():
            if d.alive():
                d.stop()

    def start_calcd(self, name, listen=LISTEN):
        d = Daemon(listen=(listen,)).start()
        self.daemons[name] = d
        return d

    def through_haproxy(self):
        c = connect(self.frontend)
        self.addCleanup(c.close)
        return c

    # -- the shipped file --------------------------------------------------
    def test_0_shipped_config_passes_haproxy_check(self):
        r = subprocess.run([HAPROXY, "-c", "-f", HAPROXY_CFG], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, "haproxy -c -f %s:\n%s%s"
                         % (HAPROXY_CFG, r.stdout, r.stderr))

    def test_1_check_bytes_against_calcd(self):
        """The check's request is a framed strict-binary ping() call, and a
        real calcd answers it with exactly the bytes the check expects."""
        self.assertEqual(decode_framed_binary(self.send), ("ping", TMessageType.CALL, 1))
        self.assertEqual(decode_framed_binary(self.expect), ("ping", TMessageType.REPLY, 1))
        d = self.start_calcd("probe", "127.0.0.1:0")
        try:
            got = exchange(d.port, self.send)
            self.assertEqual(got, self.expect, "calcd answered %s" % got.hex())
            # An EXCEPTION reply (an unknown method here) does not contain the
            # pattern, so the check would fail on it.
            bad_call = self.send.replace(b"ping", b"pong")
            got = exchange(d.port, bad_call)
            self.assertEqual(decode_framed_binary(got)[1], TMessageType.EXCEPTION)
            self.assertNotIn(self.expect, got)
        finally:
            d.stop()
            del self.daemons["probe"]

    # -- a running fleet ---------------------------------------------------
    def test_2_servers_up_and_balanced(self):
        a = self.start_calcd("calcd1")
        b = self.start_calcd("calcd2")
        cfg = os.path.join(CALCD_WORK, "fleet.cfg")
        with open(cfg, "w") as f:
            f.write(fleet_config(self.text, self.frontend, [("calcd1", a.port),
                                                            ("calcd2", b.port)],
                                 os.path.join(CALCD_WORK, "admin.sock"), FLEET_PROXY))
        type(self).haproxy = HAProxy(cfg, os.path.join(CALCD_WORK, "admin.sock")).start()
        for name in ("calcd1", "calcd2"):
            self.haproxy.wait_state(name, "UP", ("L7OK",))

        # Six connections held open: leastconn puts three on each.
        conns = [self.through_haproxy() for _ in range(6)]
        for i, c in enumerate(conns):
            c.client.ping()
            self.assertEqual(c.client.add(i, 100), i + 100)
        cur = {n: int(self.haproxy.server(n)["scur"]) for n in ("calcd1", "calcd2")}
        self.assertEqual(cur, {"calcd1": 3, "calcd2": 3})
        for c in conns:
            c.close()

    def test_3_stopped_instance_goes_down_and_comes_back(self):
        self.assertIsNotNone(self.haproxy, "test_2 did not start the fleet")
        b = self.daemons["calcd2"]
        port_b = b.port
        b.stop()
        # New connections right after the stop: refused by calcd2 until its
        # check fails, retried on calcd1 (option redispatch 1).  None fails.
        for i in range(20):
            with connect(self.frontend) as c:
                self.assertEqual(c.client.add(i, 1), i + 1)
        row = self.haproxy.wait_state("calcd2", "DOWN", ("L4CON",))
        self.assertEqual(self.haproxy.server("calcd1")["status"], "UP")
        print("\n  calcd2 DOWN (%s); retries %s, redispatches %s"
              % (row["check_status"], row["wretr"], row["wredis"]), flush=True)

        # Back on the same port: UP again, and new connections reach it.
        self.start_calcd("calcd2", "127.0.0.1:%d%s" % (port_b, " proxy" if FLEET_PROXY else ""))
        self.haproxy.wait_state("calcd2", "UP", ("L7OK",))
        before = int(self.haproxy.server("calcd2")["stot"])
        conns = [self.through_haproxy() for _ in range(2)]
        for c in conns:
            c.client.ping()
        self.assertGreater(int(self.haproxy.server("calcd2")["stot"]), before)

    def test_4_exception_reply_fails_the_check(self):
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
            f.write(fleet_config(self.text, free_port(), [("fake", fake.port)], sock, False))
        ha = HAProxy(cfg, sock).start()
        self.addCleanup(ha.stop)
        row = ha.wait_state("fake", "DOWN", ("L7TOUT", "L7RSP"))
        self.assertTrue(fake.received, "the fake server got no check")
        self.assertEqual(fake.received[0], self.send)
        print("\n  fake server answering EXCEPTION: %s, check %s"
              % (row["status"], row["check_status"]), flush=True)


if __name__ == "__main__":
    unittest.main()
