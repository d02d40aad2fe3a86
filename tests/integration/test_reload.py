"""SIGHUP and the listen lines: after a reload calcd serves every address
the new file names and no address it dropped; an address it cannot open
is logged as an error, the socket it would have replaced stays open, and
the reload does not claim plain success.  Real connections on 127.0.0.1
and ::1 (the IPv6 cases skip where ::1 is unavailable)."""

import errno
import re
import signal
import socket
import unittest

from calcd_harness import Daemon, connect, log_mark, run_calcd, wait_log, write_file

RELOAD_TIMEOUT = 10.0
ERROR_RE = re.compile(r": error: ")


def _can_bind(family, host):
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


HAVE_V6_LOOPBACK = _can_bind(socket.AF_INET6, "::1")
# calcd opens "*" as an IPv4 and an IPv6 socket wherever the kernel has IPv6.
STAR_SOCKETS = 2 if _can_bind(socket.AF_INET6, "::") else 1
needs_v6 = unittest.skipUnless(HAVE_V6_LOOPBACK, "::1 is not available here")


def free_ports(count):
    """count distinct ports free on 0.0.0.0 and (where there is IPv6) on ::."""
    ports, held = [], []
    try:
        for _ in range(count * 20):
            if len(ports) == count:
                break
            s4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s4)
            s4.bind(("0.0.0.0", 0))
            port = s4.getsockname()[1]
            if STAR_SOCKETS == 2:
                s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                held.append(s6)
                s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    s6.bind(("::", port))
                except OSError:
                    continue
            ports.append(port)
    finally:
        for s in held:
            s.close()
    if len(ports) < count:
        raise AssertionError("could not find %d free ports" % count)
    return ports


def localhost_addresses():
    """(family, address) for each address calcd's 'localhost' resolves to."""
    found = []
    for family, _, _, _, sa in socket.getaddrinfo("localhost", 1, socket.AF_UNSPEC,
                                                  socket.SOCK_STREAM, 0, socket.AI_PASSIVE):
        if (family, sa[0]) not in found:
            found.append((family, sa[0]))
    return found


def refused(family, host, port):
    """True if nothing accepts on host:port (the connection is refused)."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, port))
    except ConnectionRefusedError:
        return True
    except OSError as e:
        return e.errno == errno.ECONNREFUSED
    finally:
        s.close()
    return False


class ReloadListen(unittest.TestCase):

    def start(self, lines, expect):
        self.path = write_file("reload", "workers = 2\n" + "".join(
            "listen = %s\n" % line for line in lines))
        d = Daemon(listen=None, conf=self.path, expect=expect)
        d.start()
        self.addCleanup(d.kill)
        return d

    def reload(self, d, lines, keys="workers = 2\n"):
        """Rewrite the file (keys, then the listen lines), SIGHUP, wait for the
        reload's last line; the lines it logged."""
        with open(self.path, "w") as f:
            f.write(keys + "".join("listen = %s\n" % line for line in lines))
        mark = log_mark(d)
        d.proc.send_signal(signal.SIGHUP)
        done = wait_log(d, r"configuration reloaded|reload failed", RELOAD_TIMEOUT, mark)
        self.assertIsNotNone(done, "no end of the reload in the log:\n" + d.stderr_text())
        with d.err.cond:
            return d.err.lines[mark:]

    def assertReloadedCleanly(self, d, lines):
        errors = [line for line in lines if ERROR_RE.search(line)]
        self.assertEqual(errors, [], d.stderr_text())
        self.assertTrue(any(line.endswith(": notice: configuration reloaded") for line in lines),
                        d.stderr_text())

    def assertServes(self, d, family, host, port):
        with connect(d, host=host, port=port, family=family) as c:
            self.assertEqual(c.client.add(port, 1), port + 1,
                             "%s:%d does not answer" % (host, port))

    def assertRefused(self, d, family, host, port):
        self.assertTrue(refused(family, host, port),
                        "%s:%d still accepts after the reload\n%s"
                        % (host, port, d.stderr_text()))

    # -- one line, same port, another host ------------------------------------
    def test_loopback_to_star(self):
        port, = free_ports(1)
        d = self.start(["127.0.0.1:%d" % port], 1)
        self.assertServes(d, socket.AF_INET, "127.0.0.1", port)
        self.assertReloadedCleanly(d, self.reload(d, ["*:%d" % port]))
        self.assertServes(d, socket.AF_INET, "127.0.0.1", port)
        if HAVE_V6_LOOPBACK:
            self.assertServes(d, socket.AF_INET6, "::1", port)
        d.stop()

    def test_star_to_loopback(self):
        port, = free_ports(1)
        d = self.start(["*:%d" % port], STAR_SOCKETS)
        self.assertServes(d, socket.AF_INET, "127.0.0.1", port)
        self.assertReloadedCleanly(d, self.reload(d, ["127.0.0.1:%d" % port]))
        self.assertServes(d, socket.AF_INET, "127.0.0.1", port)
        if HAVE_V6_LOOPBACK:
            self.assertRefused(d, socket.AF_INET6, "::1", port)
        d.stop()

    def test_localhost_to_loopback(self):
        port, = free_ports(1)
        names = localhost_addresses()
        self.assertIn((socket.AF_INET, "127.0.0.1"), names)
        d = self.start(["localhost:%d" % port], len(names))
        for family, host in names:
            if family == socket.AF_INET or HAVE_V6_LOOPBACK:
                self.assertServes(d, family, host, port)
        self.assertReloadedCleanly(d, self.reload(d, ["127.0.0.1:%d" % port]))
        self.assertServes(d, socket.AF_INET, "127.0.0.1", port)
        for family, host in names:
            if host != "127.0.0.1" and (family == socket.AF_INET or HAVE_V6_LOOPBACK):
                self.assertRefused(d, family, host, port)
        d.stop()

    @needs_v6
    def test_v6_loopback_to_star_and_back(self):
        port, = free_ports(1)
        d = self.start(["[::1]:%d" % port], 1)
        self.assertServes(d, socket.AF_INET6, "::1", port)
        self.assertReloadedCleanly(d, self.reload(d, ["*:%d" % port]))
        self.assertServes(d, socket.AF_INET6, "::1", port)
        self.assertServes(d, socket.AF_INET, "127.0.0.1", port)
        self.assertReloadedCleanly(d, self.reload(d, ["[::1]:%d" % port]))
        self.assertServes(d, socket.AF_INET6, "::1", port)
        self.assertRefused(d, socket.AF_INET, "127.0.0.1", port)
        d.stop()

    # -- the most listen lines there may be -------------------------------------
    def test_sixteen_star_lines_change_one(self):
        ports = free_ports(18)
        lines = ["*:%d" % p for p in ports[:16]]
        d = self.start(lines, 16 * STAR_SOCKETS)
        # The last line changes host on the same port.
        lines[15] = "127.0.0.1:%d" % ports[15]
        self.assertReloadedCleanly(d, self.reload(d, lines))
        for p in ports[:16]:
            self.assertServes(d, socket.AF_INET, "127.0.0.1", p)
        for p in ports[:15]:
            if HAVE_V6_LOOPBACK:
                self.assertServes(d, socket.AF_INET6, "::1", p)
        if HAVE_V6_LOOPBACK:
            self.assertRefused(d, socket.AF_INET6, "::1", ports[15])
        # The first line moves to a new port: the old one closes.
        lines[0] = "*:%d" % ports[16]
        self.assertReloadedCleanly(d, self.reload(d, lines))
        self.assertRefused(d, socket.AF_INET, "127.0.0.1", ports[0])
        for p in ports[1:17]:
            self.assertServes(d, socket.AF_INET, "127.0.0.1", p)
        # Every line moves host or port at once.
        lines = ["127.0.0.1:%d" % p for p in ports[:15]] + ["*:%d" % ports[17]]
        self.assertReloadedCleanly(d, self.reload(d, lines))
        for p in ports[:15] + [ports[17]]:
            self.assertServes(d, socket.AF_INET, "127.0.0.1", p)
        for p in (ports[15], ports[16]):
            self.assertRefused(d, socket.AF_INET, "127.0.0.1", p)
        if HAVE_V6_LOOPBACK:
            for p in ports[:17]:
                self.assertRefused(d, socket.AF_INET6, "::1", p)
            self.assertServes(d, socket.AF_INET6, "::1", ports[17])
        d.stop()

    # -- an address that cannot be opened -----------------------------------
    def test_failed_address_keeps_the_old_socket(self):
        port, = free_ports(1)
        d = self.start(["127.0.0.1:%d" % port], 1)
        # Another process holds 127.0.0.2 on the port: "*" cannot bind IPv4.
        other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(other.close)
        try:
            other.bind(("127.0.0.2", port))
        except OSError as e:
            self.skipTest("cannot bind 127.0.0.2: %s" % e)
        other.listen(1)
        lines = self.reload(d, ["*:%d" % port])
        text = "\n".join(lines)
        self.assertRegex(text, r": error: cannot listen on \*:%d \(0\.0\.0\.0:%d\): "
                               r"Address already in use" % (port, port))
        self.assertRegex(text, r": error: configuration reloaded, but ")
        self.assertNotRegex(text, r": notice: configuration reloaded$")
        self.assertNotIn("no longer listening on 127.0.0.1:%d" % port, text)
        # The socket "*" would have replaced still serves.
        self.assertServes(d, socket.AF_INET, "127.0.0.1", port)
        # Once the port is free, a reload opens "*" after all.
        other.close()
        self.assertReloadedCleanly(d, self.reload(d, ["*:%d" % port]))
        self.assertServes(d, socket.AF_INET, "127.0.0.1", port)
        d.stop()

    # -- keys a reload cannot change ------------------------------------------
    def test_restart_keys_keep_their_value(self):
        port, = free_ports(1)
        d = self.start(["127.0.0.1:%d" % port], 1)
        lines = self.reload(d, ["127.0.0.1:%d" % port],
                            keys="workers = 3\ncalculation_log_size = 5\nmax_connections = 7\n")
        text = "\n".join(lines)
        self.assertRegex(text, r": warning: workers: the change takes effect after a restart")
        self.assertRegex(text, r": warning: calculation_log_size: the change takes effect "
                               r"after a restart")
        self.assertNotIn("max_connections", text)
        self.assertReloadedCleanly(d, lines)
        self.assertServes(d, socket.AF_INET, "127.0.0.1", port)
        d.stop()

    def test_listen_error_names_the_address_once(self):
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(holder.close)
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        conf = write_file("busy", "workers = 1\n")
        r = run_calcd(["-f", "-c", conf, "-l", "127.0.0.1:%d" % port])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("error: cannot listen on 127.0.0.1:%d: Address already in use" % port,
                      r.stderr)
        # Where the text resolves to another address, both are named.
        r = run_calcd(["-f", "-c", conf, "-l", "localhost:%d" % port])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("error: cannot listen on localhost:%d (127.0.0.1:%d): "
                      "Address already in use" % (port, port), r.stderr)


if __name__ == "__main__":
    unittest.main()
