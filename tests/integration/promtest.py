"""A real Prometheus (Debian package prometheus) and a real Alertmanager
(Debian package prometheus-alertmanager) for the integration tests: started
on free loopback ports with their data in the test's temporary directory,
stopped in cleanup, their logs printed when a test fails.  Used as a mixin
of KcmTestCase."""

import http.server
import json
import os
import socket
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

from kcmtest import REPO, wait_until

PROMETHEUS = "/usr/bin/prometheus"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
RULES = os.path.join(REPO, "contrib", "prometheus", "alerts.yml")
JOB = "kibana-connector-monitor"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class WebhookReceiver:
    """Alertmanager's webhook_configs receiver: keeps every notification."""

    def __init__(self):
        self.notifications = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"{}")
                with outer.lock:
                    outer.notifications.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def alerts(self, name, status=None):
        """Every alert of that name in every notification so far."""
        with self.lock:
            out = []
            for n in self.notifications:
                for a in n.get("alerts", []):
                    if a["labels"].get("alertname") == name and \
                            (status is None or a["status"] == status):
                        out.append(a)
            return out


class PrometheusMixin:
    """start_prometheus() / start_alertmanager() for a KcmTestCase."""

    def _start_server(self, name, argv, ready_url):
        log = open(self.path(name + ".log"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=self.tmp)
        self.addCleanup(self._stop_server, name, proc)

        def ready():
            if proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (
                    name, proc.returncode, self.server_log(name)))
            try:
                with urllib.request.urlopen(ready_url, timeout=5) as r:
                    return r.status == 200
            except (OSError, urllib.error.URLError):
                return False
        wait_until(ready, timeout=60, interval=0.2, what=name + " ready")
        return proc

    def _stop_server(self, name, proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._test_failed():
            print("\n[%s] %s log:\n%s" % (self.id(), name, self.server_log(name)))

    def server_log(self, name):
        try:
            with open(self.path(name + ".log"), encoding="utf-8", errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def prometheus_log(self):
        return self.server_log("prometheus")

    def start_prometheus(self, daemon_port, rules=RULES, alertmanager=None,
                         scrape_configs=None):
        """Scrapes the daemon every second as job kibana-connector-monitor
        and evaluates `rules` every second; alerts go to `alertmanager`.
        scrape_configs: Prometheus' own list instead (daemon_port unused)."""
        port = free_port()
        if scrape_configs is None:
            scrape_configs = [{
                "job_name": JOB, "scrape_interval": "1s", "scrape_timeout": "1s",
                "static_configs": [{"targets": ["127.0.0.1:%d" % daemon_port]}]}]
        cfg = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "scrape_configs": scrape_configs,
        }
        if rules is not None:
            cfg["rule_files"] = [rules]
        if alertmanager is not None:
            cfg["alerting"] = {"alertmanagers": [{"static_configs": [
                {"targets": [alertmanager.split("//", 1)[1]]}]}]}
        cfg_path = self.write_file("prometheus.yml", json.dumps(cfg, indent=1))
        self.prom = "http://127.0.0.1:%d" % port
        self.prom_proc = self._start_server("prometheus", [
            PROMETHEUS, "--config.file=" + cfg_path,
            "--storage.tsdb.path=" + self.path("prometheus-data"),
            "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
            self.prom + "/-/ready")
        return self.prom

    def start_alertmanager(self, webhook_url):
        """Routes every alert to webhook_url at once (group_wait 0s),
        resolved ones too, and repeats a firing group only after 1h, so a
        second notification means a new alert."""
        port, cport = free_port(), free_port()
        cfg = {
            "route": {"receiver": "hook", "group_by": ["alertname", "connector_id"],
                      "group_wait": "0s", "group_interval": "1s",
                      "repeat_interval": "1h"},
            "receivers": [{"name": "hook", "webhook_configs": [
                {"url": webhook_url, "send_resolved": True}]}],
        }
        cfg_path = self.write_file("alertmanager.yml", json.dumps(cfg, indent=1))
        url = "http://127.0.0.1:%d" % port
        self._start_server("alertmanager", [
            ALERTMANAGER, "--config.file=" + cfg_path,
            "--storage.path=" + self.path("alertmanager-data"),
            "--web.listen-address=127.0.0.1:%d" % port,
            "--cluster.listen-address=", "--log.level=warn"],
            url + "/-/ready")
        return url

    def api(self, path, **params):
        url = self.prom + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=20) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:     # 400 on a bad query: keep the body
            return json.load(e)

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)
