"""The web configuration file (exporter-toolkit's --web.config.file) on the
command line: --check-config reports its errors as FILE:LINE:COLUMN naming
the web configuration file, the flag wins over the web_config_file key,
--web.listen-address replaces `listen`, the shipped example passes once its
files exist, and SIGHUP reloads the web configuration all-or-nothing with
the main one, and headers and rate_limit are served.  TLS and basic auth
are tested in tests/unit/test_web_config.c (in-memory handshakes, the
bcrypt worker) and end to end in test_web_tls.py."""

import http.client
import os
import re
import shutil
import signal
import socket
import unittest

from kcmtest import KcmTestCase, make_tls, wait_until

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MSGID_CONFIG_REJECTED = "4f4078949acf4055b144eb8f70106439"
OK_METRIC = "kibana_connector_monitor_config_last_reload_successful"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class WebConfigCliTest(KcmTestCase):

    def out(self, p):
        return (p.stdout + p.stderr).decode("utf-8", "replace")

    def config(self, extra=""):
        fake = self.start_fake()
        cfg = self.write_config([self.target(fake)])
        if extra:
            with open(cfg, "a", encoding="utf-8") as f:
                f.write(extra)
        return cfg

    def tls_files(self):
        tls = os.path.join(self.tmp, "tls")
        os.mkdir(tls)
        ca, crt, key = make_tls(tls)
        os.chmod(key, 0o600)
        return ca, crt, key

    def test_check_config_reports_web_config_position(self):
        web = self.write_file("web.yml", (
            "tls_server_config:\n"              # 1
            "  cert_file: tls/server.crt\n"     # 2
            "  key_file: tls/server.key\n"      # 3
            "  min_version: TLS14\n"            # 4
            "basic_auth_users:\n"               # 5
            "  alice: not-a-hash\n"))           # 6
        cfg = self.config("web_config_file: web.yml\n")
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assertEqual(p.returncode, 2, self.out(p))
        lines = [l for l in p.stderr.decode().split("\n") if l]
        self.assertIn("%s:4:16: 'min_version': unknown TLS version 'TLS14' "
                      "(use TLS10, TLS11, TLS12 or TLS13)" % web, lines)
        self.assertTrue(any(l.startswith("%s:6:10: 'basic_auth_users': the password of "
                                         "user 'alice' is not a bcrypt hash" % web)
                            for l in lines), lines)
        self.assertNotIn("not-a-hash", self.out(p))
        self.assertNotIn("configuration OK", self.out(p))

    def test_flag_wins_over_key(self):
        self.tls_files()
        self.write_file("bad.yml", "bogus: 1\n")
        good = self.write_file("good.yml", (
            "tls_server_config:\n"
            "  cert_file: tls/server.crt\n"
            "  key_file: tls/server.key\n"))
        cfg = self.config("web_config_file: bad.yml\n")
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assertEqual(p.returncode, 2, self.out(p))
        self.assertIn("bad.yml:1:1: unknown key 'bogus' at the top level", self.out(p))
        p = self.run_cli(["--config", cfg, "--check-config", "--web.config.file", good])
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertEqual(p.stdout.decode().split("\n")[:2],
                         ["web configuration %s OK: TLS" % good, "configuration OK"])
        # relative to the working directory, like --config
        p = self.run_cli(["--config", cfg, "--check-config", "--web.config.file",
                          "missing.yml"])
        self.assertEqual(p.returncode, 2, self.out(p))
        self.assertIn("missing.yml: cannot open: No such file or directory", self.out(p))

    def test_group_readable_key_refused(self):
        _, _, key = self.tls_files()
        os.chmod(key, 0o640)
        web = self.write_file("web.yml", (
            "tls_server_config:\n"
            "  cert_file: tls/server.crt\n"
            "  key_file: tls/server.key\n"))
        cfg = self.config()
        p = self.run_cli(["--config", cfg, "--check-config", "--web.config.file", web])
        self.assertEqual(p.returncode, 2, self.out(p))
        self.assertRegex(self.out(p), re.escape(web) + r":3:13: 'key_file': secret file "
                         ".* is readable by group or others")

    def test_shipped_example_passes(self):
        """config/web-config.yml with its files in place passes."""
        self.tls_files()
        with open(os.path.join(SRC, "config", "web-config.yml"), encoding="utf-8") as f:
            text = f.read()
        tls = os.path.join(self.tmp, "tls")
        for name, src in (("web.crt", "server.crt"), ("web.key", "server.key"),
                          ("client-ca.crt", "ca.crt")):
            shutil.copy(os.path.join(tls, src), os.path.join(self.tmp, name))
        os.chmod(os.path.join(self.tmp, "web.key"), 0o600)
        web = self.write_file("web-config.yml", text)
        cfg = self.config()
        p = self.run_cli(["--config", cfg, "--check-config", "--web.config.file", web])
        self.assertEqual(p.returncode, 0, self.out(p))
        self.assertIn("OK: TLS", p.stdout.decode())

    def test_listen_address_flag(self):
        cfg = self.config()
        p = self.run_cli(["--config", cfg, "--check-config",
                          "--web.listen-address", "nohost"])
        self.assertEqual(p.returncode, 2, self.out(p))
        self.assertIn("command line: '--web.listen-address': missing port in 'nohost'",
                      self.out(p))
        port = free_port()
        d = self.start_daemon(config=cfg, args=["--web.listen-address",
                                                "127.0.0.1:%d" % port])
        self.assertEqual(d.port, port)
        d.scrape()

    def test_headers_and_rate_limit_are_served(self):
        """http_server_config.headers go on every answer (X-Content-Type-
        Options once, the configured value); rate_limit answers 429 without
        them once the bucket is empty (exporter-toolkit's rateLimitHandler
        wraps the handler that sets headers: web/tls_config.go)."""
        web = self.write_file("web.yml", (
            "http_server_config:\n"
            "  headers:\n"
            "    X-Frame-Options: deny\n"
            "    Strict-Transport-Security: max-age=31536000\n"
            "    X-Content-Type-Options: nosniff\n"
            "rate_limit:\n"
            "  interval: 1h\n"
            "  burst: 3\n"))
        d = self.start_daemon(config=self.config(), args=["--web.config.file", web])
        statuses = []
        for path in ("/metrics", "/-/healthy", "/nope"):
            c = http.client.HTTPConnection(d.host, d.port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            statuses.append(r.status)
            self.assertEqual(r.getheader("X-Frame-Options"), "deny", path)
            self.assertEqual(r.getheader("Strict-Transport-Security"),
                             "max-age=31536000", path)
            self.assertEqual([v for k, v in r.getheaders()
                              if k.lower() == "x-content-type-options"], ["nosniff"])
            c.close()
        self.assertEqual(statuses, [200, 200, 404])
        c = http.client.HTTPConnection(d.host, d.port, timeout=10)
        c.request("GET", "/metrics")
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 429)
        self.assertIsNone(r.getheader("X-Frame-Options"))
        c.close()

    def test_reload_rejects_bad_web_config(self):
        web = self.write_file("web.yml", (
            "http_server_config:\n"
            "  headers:\n"
            "    X-Frame-Options: deny\n"))
        cfg = self.config("web_config_file: web.yml\n")
        d = self.start_daemon(config=cfg)
        d.scrape()
        self.write_file("web.yml", (
            "http_server_config:\n"
            "  headers:\n"
            "    X-Frame-Options: allow\n"))
        os.kill(d.proc.pid, signal.SIGHUP)
        d.wait_metrics(lambda m: m.get(OK_METRIC) == 0, what="reload rejected")
        errs = wait_until(lambda: [r for r in d.logs(message_id=MSGID_CONFIG_REJECTED)
                                   if r.get("config_line")], what="rejected lines")
        self.assertEqual(errs[0]["config_file"], web)
        self.assertRegex(errs[0]["msg"], r"^%s:3:22: 'headers': invalid value for "
                         r"X-Frame-Options" % re.escape(web))
        # fixed: accepted again
        self.write_file("web.yml", "")
        os.kill(d.proc.pid, signal.SIGHUP)
        d.wait_metrics(lambda m: m.get(OK_METRIC) == 1, what="reload accepted")


if __name__ == "__main__":
    unittest.main()
