"""The metrics endpoint against the real daemon: a known mix of calls over
several transports and protocols shows up exactly in the scraped counters;
the text passes promtool check metrics; a real Prometheus server (Debian's
prometheus) scraping calcd every second returns the same counts through its
query API; the shipped alert rules pass promtool check rules; a reload adds,
moves and removes the endpoint; calcctl stats reads it; the endpoint keeps
at most 8 connections open, and closes idle and trickling ones."""

import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from calcd_harness import (CALCD_WORK, Daemon, INT32_MAX, TApplicationException, TType,
                           connect, log_mark, proc_fd_count, wait_log, work, write_file)
from example.calculator import CalculatorService
from example.calculator.ttypes import InvalidOperation, Operation
from thrift.protocol import THeaderProtocol
from thrift.transport import THeaderTransport, TSocket

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
CALCCTL = os.environ.get("CALCCTL", "")
TEST_DIR = os.environ.get("CALCD_TEST_DIR", os.path.join(os.path.dirname(__file__), ".."))
ALERTS = os.path.join(TEST_DIR, "..", "etc", "calcd-alerts.yml")
# METRICS_HTTP_MAX_CONNECTIONS (src/metrics_http.h, calcd.conf(5) metrics_listen)
METRICS_CAP = 8
REFUSED = "calcd_metrics_connections_refused_total"
METRICS_RE = re.compile(r"serving metrics on http://(?P<addr>[0-9.]+):(?P<port>\d+)/metrics")
SERIES_RE = re.compile(r"^(?P<series>[a-z_]+(?:\{[^}]*\})?) (?P<value>\S+)$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5.0):
    """(status, body text) of a GET; status is the HTTP code, or None if refused."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return None, ""


def parse(text):
    """{series text: float} of an exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SERIES_RE.match(line)
        assert m, "not a sample line: %r" % line
        out[m.group("series")] = float(m.group("value"))
    return out


def metrics_port(daemon, start=0, timeout=5.0):
    m = wait_log(daemon, METRICS_RE.pattern, timeout=timeout, start=start)
    assert m, "no 'serving metrics on' line:\n%s" % daemon.stderr_text()
    return int(METRICS_RE.search(m).group("port")) if isinstance(m, str) else int(m.group("port"))


def header_client(daemon, protocol_id):
    sock = TSocket.TSocket(daemon.host, daemon.port)
    sock.setTimeout(5000)
    proto = THeaderProtocol.THeaderProtocolFactory(
        default_protocol=protocol_id).getProtocol(sock)
    sock.open()
    return sock, CalculatorService.Client(proto)


def calls(scrape, method, outcome):
    return scrape.get('calcd_calls_total{method="%s",outcome="%s"}' % (method, outcome), 0)


class Metrics(unittest.TestCase):
    """One daemon with metrics_listen on a kernel-chosen loopback port."""

    @classmethod
    def setUpClass(cls):
        conf = write_file("metrics", "listen = 127.0.0.1:0\nmetrics_listen = 127.0.0.1:0\n"
                          "shutdown_timeout = 2s\n")
        cls.daemon = Daemon(conf=conf, listen=None).start()
        cls.port = metrics_port(cls.daemon)
        cls.url = "http://127.0.0.1:%d/metrics" % cls.port

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()

    def scrape(self):
        status, text = http_get(self.url)
        self.assertEqual(status, 200, text)
        return text

    def drive_known_mix(self):
        """The mix whose counts the tests check; returns what it expects."""
        d = self.daemon
        # buffered/binary: 5 add ok, 2 add overflow (error), 1 ping (ok)
        with connect(d, "buffered", "binary") as c:
            for i in range(5):
                self.assertEqual(c.client.add(i, 1), i + 1)
            for _ in range(2):
                with self.assertRaises(TApplicationException):
                    c.client.add(INT32_MAX, 1)
            c.client.ping()
        # framed/compact: 3 subtract ok, 2 calculate ok, 1 calculate InvalidOperation
        with connect(d, "framed", "compact") as c:
            for i in range(3):
                self.assertEqual(c.client.subtract(10, i), 10 - i)
            self.assertEqual(c.client.calculate(1, work(6, 3, Operation.DIVIDE)), 2)
            self.assertEqual(c.client.calculate(2, work(6, 3, Operation.MULTIPLY)), 18)
            with self.assertRaises(InvalidOperation):
                c.client.calculate(3, work(1, 0, Operation.DIVIDE))
        # framed/binary, multiplexed: 1 getStruct ok, 1 getStruct error (no such key)
        with connect(d, "framed", "binary", mux="CalculatorService") as c:
            self.assertEqual(c.client.getStruct(1).value, "2")
            with self.assertRaises(TApplicationException):
                c.client.getStruct(987654)
        # header/compact: 4 add ok; header/binary: 1 zip (oneway: ok) then 1 add ok
        sock, client = header_client(d, THeaderTransport.THeaderSubprotocolID.COMPACT)
        try:
            for i in range(4):
                self.assertEqual(client.add(i, i), 2 * i)
        finally:
            sock.close()
        sock, client = header_client(d, THeaderTransport.THeaderSubprotocolID.BINARY)
        try:
            client.zip()
            self.assertEqual(client.add(1, 1), 2)
        finally:
            sock.close()
        # buffered/compact: a method calcd does not serve (error, method "unknown")
        with connect(d, "buffered", "compact") as c:
            c.send_call("multiply", [(1, TType.I32, 2), (2, TType.I32, 3)], seqid=7)
            _, _, _, exc = c.read_reply()
            self.assertIsInstance(exc, TApplicationException)
        return {
            ("add", "ok"): 5 + 4 + 1, ("add", "error"): 2, ("add", "exception"): 0,
            ("ping", "ok"): 1, ("subtract", "ok"): 3,
            ("calculate", "ok"): 2, ("calculate", "exception"): 1,
            ("getStruct", "ok"): 1, ("getStruct", "error"): 1,
            ("zip", "ok"): 1, ("unknown", "error"): 1,
        }, {
            ("buffered", "binary"): 8, ("framed", "compact"): 6, ("framed", "binary"): 2,
            ("header", "compact"): 4, ("header", "binary"): 2, ("buffered", "compact"): 1,
        }

    def wait_closed(self, before, count, timeout=5.0, all_closed=False):
        """Scrape until closed{reason="client"} grew by count and, with all_closed,
        no connection is open (closes are asynchronous: each worker counts its own)."""
        deadline = time.monotonic() + timeout
        key = 'calcd_connections_closed_total{reason="client"}'
        while True:
            now = parse(self.scrape())
            done = now.get(key, 0) - before.get(key, 0) >= count
            if all_closed:
                done = done and now.get("calcd_connections_open", 0) == 0
            if done or time.monotonic() > deadline:
                return now
            time.sleep(0.05)

    def test_counters_equal_the_mix(self):
        before = parse(self.scrape())
        want_calls, want_requests = self.drive_known_mix()
        after = self.wait_closed(before, 6, all_closed=True)
        for (method, outcome), n in want_calls.items():
            with self.subTest(method=method, outcome=outcome):
                self.assertEqual(calls(after, method, outcome) - calls(before, method, outcome),
                                 n)
        for (transport, protocol), n in want_requests.items():
            key = 'calcd_requests_total{transport="%s",protocol="%s"}' % (transport, protocol)
            with self.subTest(transport=transport, protocol=protocol):
                self.assertEqual(after[key] - before.get(key, 0), n)
        total = sum(n for n in want_calls.values())
        hist = sum(after['calcd_call_duration_seconds_count{method="%s"}' % m]
                   - before.get('calcd_call_duration_seconds_count{method="%s"}' % m, 0)
                   for m in ("add", "subtract", "ping", "calculate", "zip", "getStruct",
                             "unknown"))
        self.assertEqual(hist, total)
        self.assertEqual(after["calcd_connections_accepted_total"]
                         - before["calcd_connections_accepted_total"], 6)
        self.assertEqual(after['calcd_connections_closed_total{reason="client"}']
                         - before['calcd_connections_closed_total{reason="client"}'], 6)
        self.assertEqual(after["calcd_connections_open"], 0)
        self.assertGreater(after["calcd_bytes_received_total"],
                           before["calcd_bytes_received_total"])
        self.assertGreater(after["calcd_bytes_sent_total"], before["calcd_bytes_sent_total"])
        self.assertEqual(after['calcd_build_info{version="%s"}' % self.version()], 1)
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds"):
            self.assertIn(name, after)

    def version(self):
        out = subprocess.run([self.daemon.args[0], "-V"], capture_output=True, text=True,
                             timeout=10).stdout
        return out.split()[1]

    def test_histogram_buckets_are_cumulative(self):
        with connect(self.daemon) as c:
            c.client.ping()
        scrape = parse(self.scrape())
        buckets = [(k, v) for k, v in scrape.items()
                   if k.startswith('calcd_call_duration_seconds_bucket{method="ping"')]
        self.assertGreaterEqual(len(buckets), 10)
        values = [v for _, v in buckets]
        self.assertEqual(values, sorted(values))
        self.assertIn('le="+Inf"', buckets[-1][0])
        self.assertEqual(values[-1], scrape['calcd_call_duration_seconds_count{method="ping"}'])
        # Microseconds are resolved: the smallest bound is 1 µs.
        self.assertIn('le="0.000001000"', buckets[0][0])

    def test_other_paths_are_404(self):
        base = "http://127.0.0.1:%d" % self.port
        for path in ("/", "/metricsx", "/metrics/", "/admin"):
            with self.subTest(path=path):
                self.assertEqual(http_get(base + path)[0], 404)
        req = urllib.request.Request(self.url, data=b"x", method="POST")
        try:
            urllib.request.urlopen(req, timeout=5)
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
        self.assertNotEqual(status, 200)
        self.daemon.assert_alive(self)

    @unittest.skipUnless(PROMTOOL, "promtool not installed (Debian package prometheus)")
    def test_promtool_accepts_the_text(self):
        text = self.scrape()
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    @unittest.skipUnless(PROMTOOL, "promtool not installed (Debian package prometheus)")
    def test_promtool_accepts_the_alert_rules(self):
        self.assertTrue(os.path.exists(ALERTS), ALERTS)
        r = subprocess.run([PROMTOOL, "check", "rules", ALERTS], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    @unittest.skipUnless(PROMETHEUS, "prometheus not installed (Debian package prometheus)")
    def test_a_real_prometheus_scrapes_the_same_counts(self):
        before = parse(self.scrape())
        want_calls, _ = self.drive_known_mix()
        after = self.wait_closed(before, 6)
        web = free_port()
        tmp = tempfile.mkdtemp(prefix="prometheus-", dir=CALCD_WORK)
        self.addCleanup(shutil.rmtree, tmp, True)
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: calcd\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % (os.path.abspath(ALERTS), self.port))
        proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + tmp + "/data",
             "--web.listen-address=127.0.0.1:%d" % web, "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def stop():
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            proc.stderr.close()
        self.addCleanup(stop)

        def query(expr):
            url = "http://127.0.0.1:%d/api/v1/query?%s" % (
                web, urllib.parse.urlencode({"query": expr}))
            status, body = http_get(url, timeout=2)
            if status != 200:
                return None
            result = json.loads(body)["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        # Bounded: Prometheus starts, scrapes every second; 30 s at most.
        deadline = time.monotonic() + 30
        got = None
        while time.monotonic() < deadline and proc.poll() is None:
            got = query('up{job="calcd"}')
            if got == 1 and query('calcd_calls_total{method="add",outcome="ok"}') is not None:
                break
            time.sleep(0.5)
        self.assertIsNone(proc.poll(), "prometheus exited")
        self.assertEqual(got, 1, "prometheus never scraped calcd")
        # Nothing else calls this daemon now: what Prometheus stored is what calcd says.
        for (method, outcome) in want_calls:
            expr = 'calcd_calls_total{job="calcd",method="%s",outcome="%s"}' % (method, outcome)
            with self.subTest(method=method, outcome=outcome):
                self.assertEqual(query(expr), calls(after, method, outcome))
        self.assertEqual(query('calcd_connections_accepted_total{job="calcd"}'),
                         after["calcd_connections_accepted_total"])
        rules = http_get("http://127.0.0.1:%d/api/v1/rules" % web)[1]
        self.assertIn("CalcdHighErrorRatio", rules)

    @unittest.skipUnless(CALCCTL, "CALCCTL not set")
    def test_calcctl_stats(self):
        r = subprocess.run([CALCCTL, "-H", "127.0.0.1", "-p", str(self.port), "stats"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("calls/s", r.stdout)
        self.assertIn("connections", r.stdout)
        # --watch redraws every second until interrupted, then exits 0.
        p = subprocess.Popen([CALCCTL, "-H", "127.0.0.1", "-p", str(self.port), "stats",
                              "--watch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        time.sleep(2.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        self.assertGreaterEqual(out.count("calls/s"), 2, out)
        # The Thrift port is not a metrics endpoint: a clear error, exit 2.
        r = subprocess.run([CALCCTL, "-H", "127.0.0.1", "-p", str(self.daemon.port), "stats"],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("stats", r.stderr)


class MetricsReload(unittest.TestCase):
    """A reload adds, moves and removes the endpoint; a bad address keeps the old."""

    def test_add_move_remove(self):
        conf = write_file("metrics-reload", "listen = 127.0.0.1:0\n")
        d = Daemon(conf=conf, listen=None).start()
        try:
            first, second = free_port(), free_port()

            def reload(text):
                mark = log_mark(d)
                with open(conf, "w") as f:
                    f.write("listen = 127.0.0.1:0\n" + text)
                d.proc.send_signal(signal.SIGHUP)
                self.assertTrue(wait_log(d, "configuration reloaded", timeout=5, start=mark),
                                d.stderr_text())
                return mark

            self.assertIsNone(http_get("http://127.0.0.1:%d/metrics" % first)[0])
            reload("metrics_listen = 127.0.0.1:%d\n" % first)
            self.assertEqual(http_get("http://127.0.0.1:%d/metrics" % first)[0], 200)
            reload("metrics_listen = 127.0.0.1:%d\n" % second)
            self.assertEqual(http_get("http://127.0.0.1:%d/metrics" % second)[0], 200)
            self.assertIsNone(http_get("http://127.0.0.1:%d/metrics" % first)[0])
            # An address in use by someone else: the endpoint stays where it was.
            with socket.socket() as busy:
                busy.bind(("127.0.0.1", 0))
                busy.listen(1)
                mark = reload("metrics_listen = 127.0.0.1:%d\n" % busy.getsockname()[1])
                self.assertTrue(wait_log(d, "metrics: cannot listen", timeout=2, start=mark))
                self.assertEqual(http_get("http://127.0.0.1:%d/metrics" % second)[0], 200)
                text = http_get("http://127.0.0.1:%d/metrics" % second)[1]
                self.assertEqual(parse(text)['calcd_config_reloads_total{result="failure"}'], 1)
            reload("")
            self.assertIsNone(http_get("http://127.0.0.1:%d/metrics" % second)[0])
            d.assert_alive(self)
        finally:
            d.stop()


def peer_closed(sock):
    """True once the other end has closed sock (EOF or reset); False while it is open
    and quiet.  Reads and drops whatever calcd sent."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        return sock.recv(4096) == b""
    except OSError:
        return True


class MetricsLimits(unittest.TestCase):
    """A daemon of its own, so that every connection to its endpoint is the test's."""

    def setUp(self):
        conf = write_file("metrics-limits", "listen = 127.0.0.1:0\n"
                          "metrics_listen = 127.0.0.1:0\nshutdown_timeout = 2s\n")
        self.daemon = Daemon(conf=conf, listen=None).start()
        self.addCleanup(self.daemon.stop)
        self.port = metrics_port(self.daemon)
        self.url = "http://127.0.0.1:%d/metrics" % self.port
        self.baseline = proc_fd_count(self.daemon.proc.pid)
        self.assertIsNotNone(self.baseline, "/proc/PID/fd is not readable")

    def hold(self, count):
        """count connections to the endpoint, closed at cleanup."""
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        for _ in range(count):
            socks.append(socket.create_connection(("127.0.0.1", self.port), timeout=5))
        return socks

    def assert_fds_back(self):
        """calcd's descriptors return to what it had before the test (bounded wait:
        it closes its side as it notices the peers' closes)."""
        pid = self.daemon.proc.pid
        count = None
        for _ in range(100):
            count = proc_fd_count(pid)
            if count == self.baseline:
                break
            time.sleep(0.05)
        self.assertEqual(count, self.baseline, "descriptors left over: %s" % (
            os.listdir("/proc/%d/fd" % pid),))

    def test_connections_over_the_cap_are_closed(self):
        extra = 8
        mark = log_mark(self.daemon)
        socks = self.hold(METRICS_CAP + extra)
        # calcd keeps the first METRICS_CAP and closes the rest as it accepts them.
        closed = set()
        for _ in range(200):
            closed |= {i for i, s in enumerate(socks) if i not in closed and peer_closed(s)}
            if len(closed) >= extra:
                break
            time.sleep(0.02)
        self.assertEqual(len(closed), extra, "calcd closed %d of %d connections"
                         % (len(closed), len(socks)))
        self.assertEqual(closed, set(range(METRICS_CAP, len(socks))),
                         "not the ones over the cap that were closed")
        for i in range(METRICS_CAP):
            self.assertFalse(peer_closed(socks[i]), "held connection %d was closed" % i)
        self.assertEqual(proc_fd_count(self.daemon.proc.pid), self.baseline + METRICS_CAP)
        m = wait_log(self.daemon, r"metrics: 127\.0\.0\.1:(\d+): connection refused, "
                     r"%d open already" % METRICS_CAP, start=mark)
        self.assertTrue(m, self.daemon.stderr_text())
        self.assertEqual(int(m.group(1)), socks[METRICS_CAP].getsockname()[1])
        # A real scrape, with the cap reached, is refused too.
        self.assertIsNone(http_get(self.url)[0])
        refused = extra + 1
        # The held ones closed, scrapes work again (calcd sees the closes asynchronously:
        # a scrape that comes first is refused, and counted).
        for s in socks:
            s.close()
        status, text = None, ""
        for _ in range(100):
            status, text = http_get(self.url)
            if status is not None:
                break
            refused += 1
            time.sleep(0.05)
        self.assertEqual(status, 200, text)
        self.assertEqual(parse(text)[REFUSED], refused)
        # One after another, more scrapes than the cap: each is counted out as it closes.
        self.assertEqual([http_get(self.url)[0] for _ in range(2 * METRICS_CAP)],
                         [200] * (2 * METRICS_CAP))
        self.assert_fds_back()
        self.daemon.assert_alive(self)

    def test_idle_and_trickling_connections_are_closed(self):
        """evhttp's timeout closes an idle connection; a peer that sends a byte of a
        request every half second never meets it, and the deadline for a whole
        request closes it.  Either way the endpoint counts it out."""
        mark = log_mark(self.daemon)
        idle = self.hold(METRICS_CAP // 2)
        trickling = self.hold(METRICS_CAP - len(idle))
        request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
        sent = [0] * len(trickling)
        closed_idle, closed_trickling = set(), set()
        # Bounded: 120 rounds of 0.5 s, well past both timeouts.
        for _ in range(120):
            for i, s in enumerate(trickling):
                if i in closed_trickling:
                    continue
                if peer_closed(s):
                    closed_trickling.add(i)
                    continue
                try:
                    s.send(request[sent[i]:sent[i] + 1])
                    sent[i] += 1
                except OSError:
                    closed_trickling.add(i)
            closed_idle |= {i for i, s in enumerate(idle) if peer_closed(s)}
            if len(closed_idle) == len(idle) and len(closed_trickling) == len(trickling):
                break
            time.sleep(0.5)
        self.assertEqual(len(closed_idle), len(idle), "idle connections still open")
        self.assertEqual(len(closed_trickling), len(trickling),
                         "trickling connections still open after %s bytes" % (sent,))
        self.assertTrue(all(n < len(request) for n in sent), "a request was completed")
        self.assertTrue(wait_log(self.daemon, r"metrics: 127\.0\.0\.1:\d+: closed, no whole "
                                 r"request in \d+ s", start=mark), self.daemon.stderr_text())
        # Every one was counted out: calcd closed its side before the peers saw it, so
        # the endpoint has room for METRICS_CAP at once, and refuses none of them.
        more = self.hold(METRICS_CAP)
        for s in more:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        for s in more:
            s.settimeout(5)
            self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 200 "))
            s.close()
        status, text = http_get(self.url)
        self.assertEqual(status, 200, text)
        self.assertEqual(parse(text)[REFUSED], 0)
        self.assert_fds_back()


if __name__ == "__main__":
    unittest.main()
