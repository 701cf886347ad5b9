"""Command line, configuration checking, --once, and the HTTP endpoints."""

import re
import socket
import subprocess
import unittest

from kcmtest import (
    API_KEY, CONTENT_TYPE, VERSION, KcmTestCase, check_exposition)
from test_inventory import SAMPLE_INFO, info_set

T = "kib"


def pkg_version(mod):
    try:
        return subprocess.run(["pkg-config", "--modversion", mod], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


class CliTest(KcmTestCase):

    def out(self, p):
        return (p.stdout + p.stderr).decode("utf-8", "replace")

    def test_version(self):
        p = self.run_cli(["--version"])
        self.assertEqual(p.returncode, 0)
        out = p.stdout.decode()
        self.assertEqual(out.split("\n")[0], "kibana-connector-monitor %s" % VERSION)
        for lib, mod in (("libcurl", "libcurl"), ("libevent", "libevent"),
                         ("jansson", "jansson"), ("libsystemd", "libsystemd")):
            self.assertRegex(out, r"(?i)%s" % lib)
            want = pkg_version(mod)
            if want:
                if mod == "libevent":
                    want = want.split("-")[0]
                line = [l for l in out.split("\n") if lib in l.lower()]
                self.assertTrue(any(want in l for l in line), "%s %s not in %r" % (lib, want, out))

    def test_help(self):
        p = self.run_cli(["--help"])
        self.assertEqual(p.returncode, 0)
        out = p.stdout.decode()
        for opt in ("--config", "--check-config", "--once", "--format", "--no-probes",
                    "--version", "--help"):
            self.assertIn(opt, out)

    def test_unknown_option(self):
        p = self.run_cli(["--no-such-option"])
        self.assertGreater(p.returncode, 0)
        self.assertTrue(p.stderr.strip())

    # -- --check-config ----------------------------------------------------

    def key_file(self):
        return self.write_secret("api-key", API_KEY + "\n")

    def test_check_config_ok_sends_nothing(self):
        fake = self.start_fake()
        cfg = self.write_config([self.target(fake)])
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertEqual(p.stdout.decode().strip(), "configuration OK")
        self.assertEqual(fake.requests, [])

    def config_error_lines(self, p, cfg):
        return [l for l in self.out(p).split("\n") if l.startswith(cfg + ":")]

    def assert_error_at(self, p, cfg, line, cols, word=None):
        self.assertEqual(p.returncode, 2, self.out(p))
        errs = self.config_error_lines(p, cfg)
        pat = re.compile(r"^%s:(\d+):(\d+): \S" % re.escape(cfg))
        for e in errs:
            self.assertRegex(e, pat)
        hits = [e for e in errs if pat.match(e) and int(pat.match(e).group(1)) == line and
                int(pat.match(e).group(2)) in cols]
        self.assertTrue(hits, "no error at %s:%d:%s in %r" % (cfg, line, cols, self.out(p)))
        if word:
            self.assertTrue(any(word in h for h in hits), (word, hits))
        return errs

    def test_check_config_unknown_key(self):
        key = self.key_file()
        cfg = self.write_file("config.yml", (
            'listen: "127.0.0.1:0"\n'                 # 1
            "targets:\n"                              # 2
            "  - name: kib\n"                         # 3
            "    kibana:\n"                           # 4
            '      url: "http://127.0.0.1:1"\n'       # 5
            "      api_key_file: %s\n"                # 6
            "      bogus_option: 1\n"                 # 7
            % key))
        p = self.run_cli(["--config", cfg, "--check-config"])
        errs = self.assert_error_at(p, cfg, 7, (7,), "bogus_option")
        self.assertEqual(len(errs), 1, errs)

    def test_check_config_reports_every_error(self):
        key = self.key_file()
        cfg = self.write_file("config.yml", (
            'listen: "127.0.0.1:0"\n'                 # 1
            "log_level: loud\n"                       # 2
            "targets:\n"                              # 3
            "  - name: kib\n"                         # 4
            "    kibana:\n"                           # 5
            '      url: "http://127.0.0.1:1"\n'       # 6
            "      api_key_file: %s\n"                # 7
            "      timeout: banana\n"                 # 8
            "    inventory_interval: 1s\n"            # 9
            "    top_secret: 1\n"                     # 10
            % key))
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assert_error_at(p, cfg, 2, (1, 12))
        self.assert_error_at(p, cfg, 8, (7, 16))
        errs = self.assert_error_at(p, cfg, 10, (5,), "top_secret")
        self.assertEqual(len(errs), 3, errs)

    def test_check_config_yaml_syntax_error(self):
        cfg = self.write_file("config.yml", 'listen: "127.0.0.1:0"\ntargets: [\n  - name: x\n')
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assertEqual(p.returncode, 2, self.out(p))
        errs = self.config_error_lines(p, cfg)
        self.assertTrue(errs, self.out(p))
        for e in errs:
            self.assertRegex(e, r"^%s:\d+:\d+: \S" % re.escape(cfg))

    def test_check_config_secret_file_too_open(self):
        key = self.write_secret("api-key", API_KEY + "\n", mode=0o644)
        cfg = self.write_file("config.yml", (
            'listen: "127.0.0.1:0"\n'
            "targets:\n"
            "  - name: kib\n"
            "    kibana:\n"
            '      url: "http://127.0.0.1:1"\n'
            "      api_key_file: %s\n" % key))            # 6
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assert_error_at(p, cfg, 6, (7, 21))

    def test_check_config_missing_secret_file(self):
        cfg = self.write_file("config.yml", (
            'listen: "127.0.0.1:0"\n'
            "targets:\n"
            "  - name: kib\n"
            "    kibana:\n"
            '      url: "http://127.0.0.1:1"\n'
            "      api_key_file: %s\n" % self.path("nope")))
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assert_error_at(p, cfg, 6, (7, 21))

    def test_config_file_missing(self):
        missing = self.path("does-not-exist.yml")
        for extra in ([], ["--check-config"], ["--once"]):
            with self.subTest(args=extra):
                p = self.run_cli(["--config", missing] + extra)
                self.assertEqual(p.returncode, 2, self.out(p))
                self.assertIn(missing, p.stderr.decode())

    # -- --once --------------------------------------------------------------

    def test_once_ok(self):
        fake = self.start_fake()
        p, m = self.run_once([self.target(fake, interval=None)])
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertEqual(info_set(m), SAMPLE_INFO)
        self.assertNotIn("listen=", p.stderr.decode())
        paths = sorted(r["path"] for r in fake.requests)
        self.assertEqual(paths, sorted([
            "/api/spaces/space", "/api/actions/connector_types",
            "/api/actions/connectors", "/s/ops/api/actions/connectors",
            "/s/security-team/api/actions/connectors",
            "/api/alerting/rules/_find", "/s/ops/api/alerting/rules/_find",
            "/s/security-team/api/alerting/rules/_find"]))
        self.assertEqual(m.value("kibana_connector_monitor_requests_total", target=T,
                                 api="connectors", result="ok"), 3)

    def test_once_with_a_failing_request(self):
        fake = self.start_fake()
        fake.add_fault("^/s/ops/api/actions/connectors$", status=503)
        p, m = self.run_once([self.target(fake, interval=None)])
        self.assertEqual(p.returncode, 1, self.out(p))
        self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api="connectors"), 0)
        self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api="rules"), 1)
        self.assertEqual(m.value("kibana_connector_monitor_requests_total", target=T,
                                 api="connectors", result="http_5xx"), 1)
        self.assertEqual(m.value("kibana_connector_monitor_requests_total", target=T,
                                 api="connectors", result="ok"), 2)
        self.assertEqual(info_set(m), {t for t in SAMPLE_INFO if t[0] != "ops"})
        # no retries
        self.assertEqual(sum(1 for r in fake.requests
                             if r["path"] == "/s/ops/api/actions/connectors"), 1)

    def test_once_kibana_down(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p, m = self.run_once([self.target(url="http://127.0.0.1:%d" % port, interval=None,
                                          timeout="1s")])
        self.assertEqual(p.returncode, 1, self.out(p))
        self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api="connector_types"), 0)

    # -- HTTP endpoints ------------------------------------------------------

    def test_http_endpoints(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)])
        st, h, body = d.request("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), CONTENT_TYPE)
        check_exposition(body)

        st, h, body = d.request("HEAD", "/metrics")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), CONTENT_TYPE)
        self.assertEqual(body, b"")

        st, h, body = d.request("GET", "/healthz")
        self.assertEqual(st, 200)

        st, h, body = d.request("GET", "/")
        self.assertEqual(st, 200)
        self.assertIn("text/html", h.get("content-type", ""))
        # absolute or relative (better behind a reverse proxy) link to /metrics
        self.assertRegex(body, rb'href="(/|\./)?metrics"')

        for method, path in (("POST", "/metrics"), ("PUT", "/metrics"), ("DELETE", "/metrics"),
                             ("POST", "/"), ("PATCH", "/healthz")):
            with self.subTest(method=method, path=path):
                st, h, body = d.request(method, path, body=b"x" if method != "DELETE" else None)
                self.assertEqual(st, 405)

        for path in ("/nope", "/metrics/", "/metricsx", "/../metrics"):
            with self.subTest(path=path):
                st, h, body = d.request("GET", path)
                self.assertEqual(st, 404)

        # still serving after all that
        d.scrape()
        self.assertIsNone(d.proc.poll())

    def test_listen_port_zero_is_reported(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)])
        self.assertEqual(d.host, "127.0.0.1")
        self.assertNotEqual(d.port, 0)
        self.assertEqual(d.request("GET", "/healthz")[0], 200)

    def test_sigterm_exits_0(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)])
        self.wait_all_up(d)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
