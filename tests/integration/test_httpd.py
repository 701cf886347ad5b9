"""The scrape endpoint's own HTTP/1.1 server: HTTP correctness (HEAD,
keep-alive, pipelining, HTTP/1.0, errors), /-/healthy and /-/ready, gzip,
and the connection discipline (cap, header deadline, descriptor
exhaustion, slow readers)."""

import errno
import gzip
import http.client
import os
import resource
import select
import socket
import subprocess
import threading
import time
import unittest
import zlib

from kcmtest import (
    BINARY, CONTENT_TYPE, KcmTestCase, check_exposition, load_sample, wait_until)

T = "kib"
TEXT_PLAIN = "text/plain; charset=utf-8"


class Raw:
    """One raw TCP connection to the daemon, with a read buffer."""

    def __init__(self, host, port, timeout=10.0, rcvbuf=None):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(timeout)
        self.s.connect((host, port))
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise EOFError("connection closed by the daemon")
        self.buf += d

    def response(self, head=False):
        """(status, {lower-case header: value}, body) of the next response."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        h, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = h.decode("latin-1").split("\r\n")
        proto, status = lines[0].split(" ")[:2]
        if proto != "HTTP/1.1":
            raise AssertionError("status line %r" % lines[0])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.lower() in headers:
                raise AssertionError("header %s twice" % k)
            headers[k.lower()] = v.strip()
        n = 0 if head else int(headers["content-length"])
        self.buf = rest
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(status), headers, body

    def closed(self):
        """True once the daemon closed the connection (EOF or reset)."""
        try:
            r, _, _ = select.select([self.s], [], [], 0)
            if not r:
                return False
            d = self.s.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        if d:
            self.buf += d
            return False
        return True

    def close(self):
        self.s.close()


def big_data(n):
    """A Kibana with n connectors over 5 spaces (bench/bench_scrape.sh)."""
    spaces = ["default", "s1", "s2", "s3", "s4"]
    data = {"spaces": [{"id": s, "name": s} for s in spaces],
            "connectors": {s: [] for s in spaces}, "preconfigured_connectors": [],
            "connector_types": [{"id": ".webhook", "name": "Webhook", "enabled": True,
                                 "enabled_in_config": True, "enabled_in_license": True,
                                 "minimum_license_required": "gold"}],
            "rules": {s: [] for s in spaces}}
    for i in range(n):
        s = spaces[i % 5]
        data["connectors"][s].append({
            "id": "c-%06d" % i, "name": "Connector %d" % i,
            "connector_type_id": ".webhook", "config": {}, "is_preconfigured": False,
            "is_deprecated": False, "is_missing_secrets": i % 97 == 0,
            "referenced_by_count": i % 3})
    return data


def without_process(text):
    """The exposition without the process_* families (they change per scrape)."""
    return "\n".join(l for l in text.split("\n")
                     if not l.startswith("process_") and
                     not l.startswith("# HELP process_") and
                     not l.startswith("# TYPE process_"))


def proc_cpu(pid):
    """utime + stime of pid, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def sanitized():
    """True when the daemon binary is built with AddressSanitizer."""
    with open(BINARY, "rb") as f:
        return b"__asan_init" in f.read()


def raise_own_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            raise unittest.SkipTest("descriptor limit %d < %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class HttpTest(KcmTestCase):
    """HTTP correctness on the release binary."""

    def daemon(self, **kw):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)], **kw)
        self.wait_all_up(d)
        return fake, d

    def raw(self, d, **kw):
        r = Raw(d.host, d.port, **kw)
        self.addCleanup(r.close)
        return r

    def test_head_then_get_on_one_connection(self):
        _, d = self.daemon()
        c = self.raw(d)
        for enc in (b"", b"Accept-Encoding: gzip\r\n"):
            with self.subTest(enc=enc):
                # pipelined: both requests in one write
                c.send(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n" + enc + b"\r\n"
                       b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + enc + b"\r\n")
                st, hh, body = c.response(head=True)
                self.assertEqual(st, 200)
                self.assertEqual(body, b"")
                self.assertTrue(c.buf == b"" or c.buf.startswith(b"HTTP/1.1 "),
                                "HEAD sent body bytes: %r" % c.buf[:40])
                st, gh, body = c.response()
                self.assertEqual(st, 200)
                for h in (hh, gh):
                    self.assertEqual(h["content-type"], CONTENT_TYPE)
                    self.assertEqual(h["vary"], "Accept-Encoding")
                    self.assertIn("date", h)
                    self.assertNotIn("connection", h)
                # HEAD's length is the GET's but for the process_* values
                # that changed between the two.
                self.assertLess(abs(int(hh["content-length"]) - len(body)), 100)
                if enc:
                    self.assertEqual(hh.get("content-encoding"), "gzip")
                    body = gzip.decompress(body)
                else:
                    self.assertNotIn("content-encoding", hh)
                check_exposition(body)
        # still open and usable
        c.send(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(c.response()[2], b"OK")

    def test_pipelined_requests_are_answered_in_order(self):
        _, d = self.daemon()
        c = self.raw(d)
        paths = ["/-/healthy", "/healthz", "/nope", "/metrics", "/-/ready", "/"]
        c.send(b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % p.encode() for p in paths))
        got = [c.response()[0:3:2] for _ in paths]
        self.assertEqual([g[0] for g in got], [200, 200, 404, 200, 200, 200])
        self.assertEqual(got[0][1], b"OK")
        self.assertEqual(got[1][1], b"ok\n")
        self.assertIn(b"<html", got[5][1])

    def test_small_endpoints(self):
        _, d = self.daemon()
        for path, body in (("/-/healthy", b"OK"), ("/healthz", b"ok\n"), ("/-/ready", b"OK")):
            with self.subTest(path=path):
                st, h, b = d.request("GET", path)
                self.assertEqual((st, b), (200, body))
                self.assertEqual(h["content-type"], TEXT_PLAIN)
                self.assertEqual(h["x-content-type-options"], "nosniff")
                self.assertNotIn("vary", h)
                st, h, b = d.request("HEAD", path)
                self.assertEqual((st, b, h["content-length"]), (200, b"", str(len(body))))
        st, h, b = d.request("GET", "/")
        self.assertEqual(h["content-type"], "text/html; charset=utf-8")
        st, h, b = d.request("GET", "/nope?x=1")
        self.assertEqual((st, h["content-type"]), (404, TEXT_PLAIN))
        st, h, b = d.request("DELETE", "/metrics")
        self.assertEqual((st, h["allow"], h["content-type"]), (405, "GET, HEAD", TEXT_PLAIN))
        # the query string does not change the path
        self.assertEqual(d.request("GET", "/metrics?name[]=up")[0], 200)

    def test_gzip_negotiation(self):
        _, d = self.daemon()
        cases = [(None, False), ("gzip", True), ("gzip;q=0", False), ("gzip; q=0.000", False),
                 ("gzip;q=0.5", True), ("identity", False), ("*", True), ("*;q=0", False),
                 ("br, deflate", False), ("deflate, gzip;q=1.0, *;q=0.5", True),
                 ("gzip;q=0.5, identity;q=1", False), ("GZIP", True), ("x-gzip", True),
                 ("gzip;q=2", False), (",,gzip ,", True)]
        for ae, want in cases:
            with self.subTest(accept_encoding=ae):
                hdrs = {"Accept-Encoding": ae} if ae is not None else {}
                c = http.client.HTTPConnection(d.host, d.port, timeout=10)
                try:
                    if ae is None:
                        c.putrequest("GET", "/metrics", skip_accept_encoding=True)
                        c.endheaders()
                    else:
                        c.request("GET", "/metrics", headers=hdrs)
                    r = c.getresponse()
                    body = r.read()
                    h = {k.lower(): v for k, v in r.getheaders()}
                finally:
                    c.close()
                self.assertEqual(r.status, 200)
                self.assertEqual(h["vary"], "Accept-Encoding")
                if want:
                    self.assertEqual(h.get("content-encoding"), "gzip")
                    body = gzip.decompress(body)
                else:
                    self.assertNotIn("content-encoding", h)
                check_exposition(body)

    def test_gzip_is_one_member_with_the_plain_exposition(self):
        fake = self.start_fake(big_data(500))
        d = self.start_daemon([self.target(fake)])
        self.wait_all_up(d)
        _, _, plain = d.request("GET", "/metrics")
        for _ in range(3):      # the cached compressed body, reused
            st, h, z = d.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
            self.assertEqual(h["content-encoding"], "gzip")
            dec = zlib.decompressobj(wbits=31)
            out = dec.decompress(z)
            self.assertTrue(dec.eof, "gzip member not finished")
            self.assertEqual(dec.unused_data, b"", "more than one member / trailing bytes")
            self.assertEqual(int(h["content-length"]), len(z))
            self.assertEqual(without_process(out.decode()), without_process(plain.decode()))
            self.assertLess(len(z), len(plain) / 5)
            check_exposition(out)
        # curl's own decoder, then promtool on what it decoded
        p = subprocess.run(["curl", "-sS", "--compressed", "-D", "-", "-o",
                            self.path("curl.out"), d.base_url + "/metrics"],
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"content-encoding: gzip", p.stdout.lower())
        with open(self.path("curl.out"), "rb") as f:
            check_exposition(f.read())

    def test_http10_closes_unless_keep_alive(self):
        _, d = self.daemon()
        c = self.raw(d)
        c.send(b"GET /-/healthy HTTP/1.0\r\n\r\n")
        st, h, b = c.response()
        self.assertEqual((st, b), (200, b"OK"))
        self.assertEqual(h.get("connection"), "close")
        wait_until(c.closed, what="the daemon to close the HTTP/1.0 connection")
        c = self.raw(d)
        c.send(b"GET /-/healthy HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        st, h, b = c.response()
        self.assertEqual(h.get("connection"), "keep-alive")
        c.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        self.assertEqual(c.response()[2], b"ok\n")
        wait_until(c.closed, what="close after the HTTP/1.0 request without keep-alive")
        # HTTP/1.1 with Connection: close
        c = self.raw(d)
        c.send(b"GET /-/healthy HTTP/1.1\r\nConnection: close\r\n\r\n")
        self.assertEqual(c.response()[1].get("connection"), "close")
        wait_until(c.closed, what="close after Connection: close")

    def test_malformed_requests(self):
        _, d = self.daemon()
        cases = [
            (b"garbage\r\n\r\n", 400),
            (b"GET /metrics\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\n bad-fold\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nNo colon\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n", 400),
            (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
            (b"POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
            (b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n", 414),
            (b"GET /metrics HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
            (b"GET /metrics HTTP/1.1\r\nX: " + b"y" * 17000 + b"\r\n\r\n", 431),
            (b"GET /metrics HTTP/1.1\r\n\x00\r\n\r\n", 400),
        ]
        for req, status in cases:
            with self.subTest(req=req[:40]):
                c = self.raw(d)
                try:
                    c.send(req)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                st, h, b = c.response()
                self.assertEqual(st, status)
                self.assertEqual(h["connection"], "close")
                self.assertEqual(h["content-type"], TEXT_PLAIN)
                wait_until(c.closed, what="close after an error")
        # a request with a body is answered, then the connection closes
        c = self.raw(d)
        c.send(b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
        st, h, b = c.response()
        self.assertEqual((st, h["connection"]), (405, "close"))
        d.scrape()

    def test_ready_waits_for_the_first_inventory(self):
        gate = threading.Event()
        self.addCleanup(gate.set)
        fake = self.start_fake()
        # Every connectors request waits for the gate (fake_kibana.py
        # add_fault(gate=...)): the first inventory cannot finish before.
        fake.add_fault(r"/api/actions/connectors$", gate=gate)
        d = self.start_daemon([self.target(fake)])
        wait_until(lambda: any(r["path"].endswith("/api/actions/connectors")
                               for r in fake.requests),
                   what="the inventory's connectors request to reach the fake")
        st, h, b = d.request("GET", "/-/ready")
        self.assertEqual(st, 503)
        self.assertEqual(h["content-type"], TEXT_PLAIN)
        self.assertEqual(d.request("HEAD", "/-/ready")[0], 503)
        self.assertEqual(d.request("GET", "/-/healthy")[0], 200)
        gate.set()
        wait_until(lambda: d.request("GET", "/-/ready")[0] == 200,
                   what="/-/ready to answer 200 after the first inventory")
        # Ready means the served exposition has it: the rendering goes in
        # slices after the cycle, and ready waits for it (monitor_ready).
        m = d.scrape()
        self.assertTrue(self.all_up()(m), "not all up in the first scrape after ready")
        self.assertTrue(m.series("kibana_connector_info", target="kib"))


class LimitsTest(KcmTestCase):
    """The connection discipline."""

    time_limit = 120

    def setUp(self):
        super().setUp()
        raise_own_nofile(4096)

    def open_many(self, d, n, **kw):
        conns = []
        for _ in range(n):
            c = Raw(d.host, d.port, **kw)
            conns.append(c)
            self.addCleanup(c.close)
        return conns

    def test_connection_cap(self):
        fake = self.start_fake()
        cfg = self.write_config([self.target(fake)])
        with open(cfg, "a") as f:
            f.write("max_connections: 5\n")
        d = self.start_daemon(config=cfg)
        self.wait_all_up(d)
        held = self.open_many(d, 5)
        # the backlog is FIFO: these five are accepted first
        extra = self.open_many(d, 5)
        wait_until(lambda: all(c.closed() for c in extra),
                   what="the connections over the cap to be closed")
        wait_until(lambda: d.logs(level="warning") and any(
            "limit" in r.get("msg", "") for r in d.logs(level="warning")),
            what="the cap's warning")
        self.assertFalse(any(c.closed() for c in held), "a held connection was closed")
        # a held connection still works
        held[0].send(b"GET /-/healthy HTTP/1.1\r\n\r\n")
        self.assertEqual(held[0].response()[2], b"OK")
        held[0].close()
        # one slot free: a scrape goes through (others may still race it)
        wait_until(lambda: self._try_scrape(d), what="a scrape after one slot freed")
        # the idle ones go by the header deadline (10 s in the release binary)
        t0 = time.monotonic()
        wait_until(lambda: all(c.closed() for c in held[1:]), timeout=20,
                   what="the header deadline to close the idle connections")
        self.assertLess(time.monotonic() - t0, 15)
        # one line at each end of the episode (it ends 5 s after the last refusal)
        wait_until(lambda: [r for r in d.logs(level="info") if "refused for" in r.get("msg", "")],
                   what="the end of the cap episode")
        caps = [r for r in d.logs(level="warning") if "limit" in r.get("msg", "")]
        self.assertEqual(len(caps), 1, caps)
        d.scrape()

    def _try_scrape(self, d):
        try:
            d.scrape()
            return True
        except (OSError, http.client.HTTPException):
            return False

    def test_slowloris_is_cut_off_by_the_header_deadline(self):
        # The test build's header deadline is 1 s (CMakeLists.txt).
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)], binary=self.short_interval_binary())
        self.wait_all_up(d)
        req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n"
        n = 50
        conns = self.open_many(d, n)
        opened = time.monotonic()
        closed_at = {}
        sent = [0] * n
        scraped = False
        next_send = opened
        while len(closed_at) < n:
            now = time.monotonic()
            self.assertLess(now - opened, 15, "slow clients still open after 15 s")
            if now >= next_send:
                for i, c in enumerate(conns):
                    if i in closed_at or sent[i] >= len(req):
                        continue
                    try:
                        c.s.send(req[sent[i]:sent[i] + 1])
                        sent[i] += 1
                    except OSError:
                        closed_at[i] = now
                next_send = now + 0.5
            for i, c in enumerate(conns):
                if i not in closed_at and c.closed():
                    closed_at[i] = time.monotonic()
            if not scraped:
                d.scrape()      # a normal scrape in parallel works
                scraped = True
            time.sleep(0.02)
        late = max(closed_at.values()) - opened
        self.assertLess(late, 1 + 3, "cut off %.1f s after connecting" % late)
        self.assertTrue(all(s < len(req) for s in sent), "a slow client completed its request")
        self.assertTrue(all(c.buf == b"" for c in conns), "a slow client got an answer")
        d.scrape()

    def test_descriptor_exhaustion_under_a_low_limit(self):
        # 256 descriptors for the daemon, max_connections far above: the
        # cap is clipped to leave the reserve for the Kibana client.
        fake = self.start_fake()
        cfg = self.write_config([self.target(fake)])
        with open(cfg, "a") as f:
            f.write("max_connections: 4096\n")
        d = self.start_daemon(config=cfg, prefix=["prlimit", "--nofile=256:256", "--"])
        self.wait_all_up(d)
        clipped = [r for r in d.logs(level="warning") if "clipped" in r.get("msg", "")]
        self.assertEqual(len(clipped), 1, d.stderr_text())
        conns = self.open_many(d, 400)
        # the idle ones stay (header deadline 10 s); the rest are refused
        wait_until(lambda: sum(1 for c in conns if c.closed()) >= 400 - 256,
                   what="connections over the clipped cap to be closed")
        def cycles():
            return sum(1 for r in fake.requests if r["path"] == "/api/spaces/space")
        n0 = cycles()
        cpu0, t0 = proc_cpu(d.pid), time.monotonic()
        # a window of two inventory cycles (1 s interval): Kibana still polled
        wait_until(lambda: cycles() >= n0 + 2, timeout=8,
                   what="Kibana polled while the connections are held")
        self.assertFalse(all(c.closed() for c in conns), "the held ones were closed")
        cpu1, t1 = proc_cpu(d.pid), time.monotonic()
        load = (cpu1 - cpu0) / (t1 - t0)
        self.assertLess(load, 0.3, "daemon CPU %.0f%% of a core while held" % (load * 100))
        lines = [l for l in d.log_lines() if "accept" in l or "limit" in l]
        self.assertLessEqual(len(lines), 3, lines)
        self.assertNotIn("Error from accept", d.stderr_text())
        for c in conns:
            c.close()
        m = d.wait_metrics(self.all_up())
        for api in ("spaces", "connectors", "connector_types", "rules"):
            for res in ("connect", "timeout"):
                self.assertEqual(self.requests_total(m, api, res), 0, (api, res))
        sys_stderr = "load %.1f%% over %.1f s, %d accept/limit log lines" % (
            load * 100, t1 - t0, len(lines))
        print("\n[fd exhaustion, clipped cap] " + sys_stderr)

    def test_accept_backs_off_when_out_of_descriptors(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)])
        self.wait_all_up(d)
        soft, hard = resource.prlimit(d.pid, resource.RLIMIT_NOFILE)
        nfds = len(os.listdir("/proc/%d/fd" % d.pid))
        # room for two more descriptors only
        resource.prlimit(d.pid, resource.RLIMIT_NOFILE, (nfds + 2, hard))
        try:
            conns = self.open_many(d, 20)
            wait_until(lambda: any("pausing accept" in l for l in d.log_lines()),
                       what="the 'pausing accept' warning")
            cpu0, t0 = proc_cpu(d.pid), time.monotonic()
            n0 = len(fake.requests)
            # a window of two inventory cycles over cached connections
            wait_until(lambda: len(fake.requests) >= n0 + 8, timeout=8,
                       what="two more inventory cycles")
            cpu1, t1 = proc_cpu(d.pid), time.monotonic()
        finally:
            resource.prlimit(d.pid, resource.RLIMIT_NOFILE, (soft, hard))
        load = (cpu1 - cpu0) / (t1 - t0)
        self.assertLess(load, 0.3, "daemon CPU %.0f%% of a core when out of fds" % (load * 100))
        for c in conns:
            c.close()
        # the episode ends with an accept 1 s after its last failure
        wait_until(lambda: self._try_scrape(d) and any(
            "accepting connections again" in l for l in d.log_lines()),
            what="the 'accepting connections again' line")
        pausing = [l for l in d.log_lines() if "pausing accept" in l]
        self.assertEqual(len(pausing), 1, pausing)
        self.assertNotIn("Error from accept", d.stderr_text())
        d.scrape()
        resumed = [l for l in d.log_lines() if "accepting connections again" in l]
        print("\n[accept back-off] load %.1f%% over %.1f s; %s" % (
            load * 100, t1 - t0, resumed[0][-120:]))

    def test_slow_reader_is_cut_off_by_the_write_deadline(self):
        # The test build's write deadline is 3 s (CMakeLists.txt).
        fake = self.start_fake(big_data(3000))
        d = self.start_daemon([self.target(fake, interval="1h")], log_level="debug",
                              binary=self.short_interval_binary())
        self.wait_all_up(d)
        c = Raw(d.host, d.port, rcvbuf=4096)
        self.addCleanup(c.close)
        t0 = time.monotonic()
        # Pipelined: more than the kernel's socket buffers take (loopback
        # autotunes the send buffer up to tcp_wmem's maximum, 4 MiB), so
        # one answer has to wait for the reader.
        c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
        got = 0

        def cut():
            nonlocal got
            # a reader of 1 KiB per 50 ms: 1 MiB would take a minute
            try:
                got += len(c.s.recv(1024, socket.MSG_DONTWAIT))
            except BlockingIOError:
                pass
            return any("response deadline passed" in l for l in d.log_lines())
        wait_until(cut, timeout=10, what="the write deadline to close the slow reader")
        took = time.monotonic() - t0
        self.assertGreater(took, 2.5)
        self.assertLess(took, 3 + 3, "cut off after %.1f s" % took)
        self.assertLess(got, 20 * 1000000)
        d.scrape()

    def test_slow_readers_share_one_rendering(self):
        fake = self.start_fake(big_data(3000))
        cfg = self.write_config([self.target(fake, interval="1h")])
        with open(cfg, "a") as f:
            f.write("max_connections: 200\n")
        d = self.start_daemon(config=cfg)
        self.wait_all_up(d)
        _, _, plain = d.request("GET", "/metrics")
        _, _, z = d.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        rss0 = proc_rss(d.pid)
        conns = self.open_many(d, 100, rcvbuf=4096)
        for i, c in enumerate(conns):
            enc = b"Accept-Encoding: gzip\r\n" if i % 2 else b""
            c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + enc + b"\r\n")
        # every request answered (status line arrived), none read further
        for c in conns:
            wait_until(lambda: c.s.recv(12, socket.MSG_PEEK) == b"HTTP/1.1 200",
                       what="the status line")
        rss1 = proc_rss(d.pid)
        grown = rss1 - rss0
        print("\n[slow readers] body %d bytes (gzip %d), RSS %d -> %d (+%d)" % (
            len(plain), len(z), rss0, rss1, grown))
        if not sanitized():     # ASan's quarantine keeps freed memory resident
            self.assertLess(grown, 10 * len(plain),
                            "RSS grew by %d for 100 readers of %d bytes" % (grown, len(plain)))
        # read one slowly to the end: the body is intact
        st, h, body = conns[0].response()
        self.assertEqual(len(body), int(h["content-length"]))
        check_exposition(body)
        for c in conns:
            c.close()
        d.scrape()


if __name__ == "__main__":
    unittest.main()
