"""The scrape endpoint behind an exporter-toolkit web configuration (issue 11):
TLS, client certificates and bcrypt basic auth, checked with the real
clients users have: Prometheus (Debian package prometheus, its
scrape_config tls_config / basic_auth) and curl.

The web configuration format and its meaning follow prometheus/exporter-
toolkit (docs/web-configuration.md, web/tls_config.go); the certificates are
made with the openssl CLI (shared/reference/test-tooling.md section 9)."""

import crypt
import os
import re
import signal
import subprocess
import sys
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kcmtest import (KcmTestCase, check_exposition, make_tls, to_yaml,  # noqa: E402
                     wait_until)
from promtest import PrometheusMixin  # noqa: E402

USER = "prometheus"
PASSWORD = "Scrape-7c1e0f3a-not-for-logs"
CURL = "/usr/bin/curl"


def bcrypt(password, cost=5):
    """A $2b$ hash as htpasswd -B makes (cost 5: quick on a loaded box)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH,
                                                  rounds=1 << cost))


def make_client_cert(directory, name="client"):
    """A client certificate signed by make_tls()'s CA: (cert, key)."""
    def run(*a):
        subprocess.run(a, cwd=directory, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=30)
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name)
    with open(os.path.join(directory, name + ".ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    run("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey",
        "ca.key", "-CAcreateserial", "-days", "2", "-out", name + ".crt",
        "-extfile", name + ".ext")
    os.chmod(os.path.join(directory, name + ".key"), 0o600)
    return (os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key"))


class WebTlsTest(PrometheusMixin, KcmTestCase):
    time_limit = 300

    def setUp(self):
        super().setUp()
        self.certs = self.path("certs")
        os.mkdir(self.certs)
        self.ca, self.cert, self.key = make_tls(self.certs)
        os.chmod(self.key, 0o600)
        self._secrets.append(PASSWORD)

    # -- helpers ---------------------------------------------------------

    def web_config(self, name="web.yml", users=None, client_auth=None, extra=None):
        """A web config next to the certificates, with relative paths (they
        resolve against the web config file's folder)."""
        tls = {"cert_file": "server.crt", "key_file": "server.key"}
        if client_auth is not None:
            tls["client_auth_type"] = client_auth
            tls["client_ca_file"] = "ca.crt"
        cfg = {"tls_server_config": tls}
        if users:
            cfg["basic_auth_users"] = users
        cfg.update(extra or {})
        p = os.path.join(self.certs, name)
        with open(p, "w") as f:
            f.write(to_yaml(cfg))
        return p

    def start(self, web, args=(), **kw):
        fake = self.start_fake()
        cfg = self.write_config([self.target(fake, interval="1h")])
        d = self.start_daemon(config=cfg, args=["--web.config.file", web] + list(args), **kw)
        return fake, d

    def curl(self, d, path="/metrics", user=None, password=None, cert=None,
             scheme="https", extra=()):
        """curl's status line and headers (-D -) and body; rc too."""
        argv = [CURL, "-sS", "--max-time", "30", "-D", "-", "-o", self.path("body"),
                "--cacert", self.ca]
        if user is not None:
            argv += ["--user", "%s:%s" % (user, password)]
        if cert is not None:
            argv += ["--cert", cert[0], "--key", cert[1]]
        argv += list(extra)
        argv.append("%s://127.0.0.1:%d%s" % (scheme, d.port, path))
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        body = b""
        if os.path.exists(self.path("body")):
            with open(self.path("body"), "rb") as f:
                body = f.read()
            os.unlink(self.path("body"))
        d.scrapes.append(body)
        heads = p.stdout.decode("latin-1")
        m = re.search(r"^HTTP/\S+ (\d+)", heads, re.M)
        return (p.returncode, int(m.group(1)) if m else None, heads.lower(), body)

    def scrape_config(self, name, port, **kw):
        c = {"job_name": name, "scheme": "https", "scrape_interval": "2s",
             "scrape_timeout": "2s",
             "static_configs": [{"targets": ["127.0.0.1:%d" % port]}],
             "tls_config": {"ca_file": self.ca, "server_name": "127.0.0.1"}}
        c.update(kw)
        return c

    def up(self, job):
        r = self.query('up{job="%s"}' % job)
        res = r.get("data", {}).get("result", [])
        return float(res[0]["value"][1]) if res else None

    def wait_up(self, job, value, timeout=120):
        wait_until(lambda: self.up(job) == value, timeout=timeout, interval=0.5,
                   what='up{job="%s"} == %s (Prometheus log: %s)' % (
                       job, value, self.prometheus_log()[-500:]))

    # -- tests -----------------------------------------------------------

    def test_basic_auth_over_tls_with_curl_and_prometheus(self):
        web = self.web_config(users={USER: bcrypt(PASSWORD)})
        _, d = self.start(web)

        rc, status, heads, _ = self.curl(d)
        self.assertEqual((rc, status), (0, 401), heads)
        self.assertRegex(heads, r"(?m)^www-authenticate: basic\b")
        rc, status, heads, _ = self.curl(d, user=USER, password="wrong")
        self.assertEqual((rc, status), (0, 401), heads)
        rc, status, heads, _ = self.curl(d, user="nobody", password=PASSWORD)
        self.assertEqual((rc, status), (0, 401), heads)
        rc, status, heads, body = self.curl(d, user=USER, password=PASSWORD)
        self.assertEqual((rc, status), (0, 200), heads)
        check_exposition(body)
        # Plain HTTP on the TLS port gets no metrics.
        rc, status, _, body = self.curl(d, scheme="http", user=USER, password=PASSWORD)
        self.assertNotEqual(status, 200)
        self.assertNotIn(b"kibana_connector_monitor_up", body)

        pw_file = self.write_secret("prom-password", PASSWORD)
        bad_file = self.write_secret("prom-bad-password", "not-the-password")
        self.start_prometheus(d.port, rules=None, scrape_configs=[
            self.scrape_config("auth", d.port, basic_auth={
                "username": USER, "password_file": pw_file}),
            self.scrape_config("wrong-password", d.port, basic_auth={
                "username": USER, "password_file": bad_file}),
            self.scrape_config("no-auth", d.port)])
        self.wait_up("auth", 1)
        self.wait_up("wrong-password", 0)
        self.wait_up("no-auth", 0)
        r = self.query('kibana_connector_monitor_up{job="auth",api="connectors"}')
        self.assertEqual(len(r["data"]["result"]), 1, r)

    def test_client_certificate_with_prometheus(self):
        web = self.web_config(client_auth="RequireAndVerifyClientCert")
        client = make_client_cert(self.certs)
        _, d = self.start(web)

        rc, status, _, _ = self.curl(d)
        self.assertTrue(rc != 0 or status != 200, "no client certificate was accepted")
        rc, status, heads, body = self.curl(d, cert=client)
        self.assertEqual((rc, status), (0, 200), heads)
        check_exposition(body)

        self.start_prometheus(d.port, rules=None, scrape_configs=[
            self.scrape_config("cert", d.port, tls_config={
                "ca_file": self.ca, "server_name": "127.0.0.1",
                "cert_file": client[0], "key_file": client[1]}),
            self.scrape_config("no-cert", d.port)])
        self.wait_up("cert", 1)
        self.wait_up("no-cert", 0)

    def test_reload_is_all_or_nothing(self):
        web = self.web_config(users={USER: bcrypt(PASSWORD)})
        _, d = self.start(web)
        self.assertEqual(self.curl(d, user=USER, password=PASSWORD)[1], 200)

        # A web config whose certificate does not exist: the reload is
        # refused as a whole, the running endpoint keeps TLS and its users.
        self.web_config(users={"other": bcrypt("other-password")},
                        extra={"tls_server_config": {"cert_file": "missing.crt",
                                                     "key_file": "server.key"}})
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: re.search(r"missing\.crt", d.stderr_text()),
                   what="the reload's error naming missing.crt")
        self.assertEqual(self.curl(d, user=USER, password=PASSWORD)[1], 200)
        self.assertEqual(self.curl(d, user="other", password="other-password")[1], 401)

        # A good one: the new users count, the old ones no longer.
        self.web_config(users={"other": bcrypt("other-password")})
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.curl(d, user="other", password="other-password")[1] == 200,
                   what="the reloaded web config's user accepted", timeout=30)
        self.assertEqual(self.curl(d, user=USER, password=PASSWORD)[1], 401)

    def test_check_config_names_the_web_config_position(self):
        web = os.path.join(self.certs, "web.yml")
        with open(web, "w") as f:
            f.write("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                    "  client_auth_type: SometimesClientCert\n")
        fake = self.start_fake()
        cfg = self.write_config([self.target(fake)])
        p = self.run_cli(["--config", cfg, "--check-config", "--web.config.file", web])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertRegex(p.stderr.decode(), re.escape(web) + r":4:\d+: .*client_auth_type")

    def test_web_config_file_key_and_flag_precedence(self):
        # The key names a file that does not exist; the flag wins over it.
        web = self.web_config(users={USER: bcrypt(PASSWORD)})
        fake = self.start_fake()
        cfg_text = to_yaml({"listen": "127.0.0.1:0",
                            "web_config_file": os.path.join(self.certs, "absent.yml"),
                            "targets": [self.target(fake, interval="1h")]})
        cfg = self.write_file("config.yml", cfg_text)
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("absent.yml", p.stderr.decode())
        d = self.start_daemon(config=cfg, args=["--web.config.file", web,
                                                "--web.listen-address", "127.0.0.1:0"])
        self.assertEqual(self.curl(d, user=USER, password=PASSWORD)[1], 200)


if __name__ == "__main__":
    unittest.main()
