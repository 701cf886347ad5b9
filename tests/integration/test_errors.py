"""Kibana failing in every way the contract names: the daemon keeps running,
counts the right result, keeps the last good data, warns once per state
change, says when it recovers, and never shows a secret."""

import os
import socket
import time
import unittest

from kcmtest import (
    API_KEY, APIS, RESULTS, KcmTestCase, boom, make_tls, wait_until)
from test_inventory import SAMPLE_INFO, info_set, per_connector

T = "kib"
OPS_CONNECTORS = "/s/ops/api/actions/connectors"
MSGID_UNREACHABLE = "3f493180b22f4627b8d426e45f607a6f"
MSGID_RECOVERED = "e07b6e68ba2640e28af8fee3157b898c"


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def strip_query(p):
    return p.split("?", 1)[0] if p else p


class ErrorsTest(KcmTestCase):

    @staticmethod
    def paths_of(r):
        """Every URL path a target-level entry names (url_path, url_paths)."""
        ps = [r.get("url_path")] + (r.get("url_paths") or "").split(", ")
        return {strip_query(p) for p in ps if p}

    def warnings(self, d, url_path):
        """Target-level failure warnings that name url_path."""
        return [r for r in d.logs("warning", message_id=MSGID_UNREACHABLE)
                if url_path in self.paths_of(r)]

    def recoveries(self, d, url_path):
        return [r for r in d.logs("info", message_id=MSGID_RECOVERED)
                if url_path in self.paths_of(r)]

    def check_failure(self, results, http_status=None, fault=None, url_path=OPS_CONNECTORS,
                      api="connectors", fake_kw=None, target_kw=None, fake_hook=None,
                      recover=None, polls=3, others_up=True, wait=20):
        """Good poll, then `fault` on url_path; checks counters, up, kept data,
        exactly one warning; then recovery.  results: accepted result values.
        The request timeout is 10 s (target_kw may change it): no answer of
        the fake may run into it by accident on a slow machine."""
        if isinstance(results, str):
            results = (results,)
        fake = self.start_fake(**(fake_kw or {}))
        tkw = {"timeout": "10s", "interval": "1s"}
        tkw.update(target_kw or {})
        d = self.start_daemon([self.target(fake, **tkw)])
        m0 = self.wait_all_up(d)
        m0 = d.wait_metrics(lambda m: info_set(m) == SAMPLE_INFO)
        before = {r: self.requests_total(m0, api, r) for r in RESULTS}

        if fake_hook is not None:
            fake = fake_hook(fake) or fake
        else:
            fake.add_fault("^%s$" % url_path, **fault)

        def failed_enough(m):
            if m.get("kibana_connector_monitor_up", target=T, api=api) != 0:
                return False
            return sum(self.requests_total(m, api, r) - before[r] for r in results) >= polls
        m = d.wait_metrics(failed_enough, timeout=wait,
                           what="up{api=%s}=0 and %d x result in %s" % (api, polls, results))
        # only the expected results moved (timeouts may also still be in flight)
        for r in RESULTS:
            if r not in results and r != "ok":
                self.assertEqual(self.requests_total(m, api, r), before[r],
                                 "requests_total{api=%s,result=%s}" % (api, r))
        # the last good data stays
        self.assertEqual(info_set(m), SAMPLE_INFO)
        self.assertEqual(per_connector(m, "kibana_connector_references"),
                         per_connector(m0, "kibana_connector_references"))
        for other in APIS:
            if others_up and other != api and url_path != "*":
                self.assertEqual(m.get("kibana_connector_monitor_up", target=T, api=other), 1,
                                 "up{api=%s}" % other)
        # last_success_timestamp of the failing api stays where the last good
        # cycle left it (that cycle may have ended after m0, so compare with
        # the first scrape that saw the failure): at least one more failing
        # request later it has not moved.
        ts_metric = "kibana_connector_monitor_last_success_timestamp_seconds"
        ts_fail = m.value(ts_metric, target=T, api=api)
        self.assertGreaterEqual(ts_fail, m0.value(ts_metric, target=T, api=api))
        n_fail = sum(self.requests_total(m, api, r) for r in results)
        m2 = d.wait_metrics(lambda x: sum(self.requests_total(x, api, r)
                                          for r in results) > n_fail,
                            timeout=wait, what="one more failed %s request" % api)
        self.assertEqual(m2.value(ts_metric, target=T, api=api), ts_fail,
                         "last_success_timestamp_seconds{api=%s} advanced while failing" % api)

        # exactly one warning for the state change, naming target and url_path
        if url_path != "*":
            w = self.warnings(d, url_path)
            self.assertEqual(len(w), 1, "warnings for %s: %r" % (url_path, w))
            self.assertEqual(w[0].get("target"), T, w[0])
            self.assertIn(w[0].get("result"), results, w[0])
            if http_status is not None:
                self.assertEqual(w[0].get("http_status"), str(http_status), w[0])

        # recovery
        if recover is not None:
            fake = recover(fake) or fake
        else:
            fake.clear_faults()
        m = d.wait_metrics(lambda m: m.get("kibana_connector_monitor_up", target=T, api=api) == 1,
                           timeout=20, what="recovery")
        self.assertEqual(info_set(m), SAMPLE_INFO)
        if url_path != "*":
            wait_until(lambda: self.recoveries(d, url_path), what="an info line on recovery")
            self.assertEqual(len(self.warnings(d, url_path)), 1)
            recs = d.log_records()
            iw = recs.index(self.warnings(d, url_path)[0])
            ir = recs.index(self.recoveries(d, url_path)[0])
            self.assertGreater(ir, iw, "recovery logged before the warning")
            self.assertEqual(len(self.recoveries(d, url_path)), 1)
        self.assertIsNone(d.proc.poll(), "daemon died")
        return d, fake, m

    # -- HTTP status ---------------------------------------------------------

    def test_503(self):
        self.check_failure("http_5xx", 503, {"status": 503})

    def test_500(self):
        self.check_failure("http_5xx", 500, {"status": 500, "body": boom(
            500, "An internal server error occurred.")})

    def test_403(self):
        self.check_failure("http_4xx", 403, {"status": 403, "body": {
            "statusCode": 403, "error": "Forbidden", "message": "Unauthorized to get actions"}})

    def test_404_unknown_space(self):
        self.check_failure("http_4xx", 404, {"status": 404, "body": boom(
            404, "Saved object [space/ops] not found")})

    def test_401_mid_run(self):
        self.check_failure("http_4xx", 401, {"status": 401, "body": boom(401)},
                           url_path="/api/actions/connector_types", api="connector_types")

    def test_rules_5xx(self):
        self.check_failure("http_5xx", 502, {"status": 502, "body": boom(502)},
                           url_path="/s/security-team/api/alerting/rules/_find", api="rules")

    def test_spaces_5xx_keeps_all_spaces(self):
        # what happens to the per-space polls meanwhile is not specified
        self.check_failure("http_5xx", 503, {"status": 503},
                           url_path="/api/spaces/space", api="spaces", others_up=False)

    def test_wrong_api_key_from_start(self):
        fake = self.start_fake(api_key="some-other-key")
        d = self.start_daemon([self.target(fake, spaces=["default", "ops"], timeout="10s")])
        paths = ["/api/actions/connectors", "/s/ops/api/actions/connectors",
                 "/api/actions/connector_types"]
        m = d.wait_metrics(lambda m: all(m.get("kibana_connector_monitor_up", target=T, api=a) == 0
                                         for a in ("connectors", "connector_types")) and
                           self.requests_total(m, "connectors", "http_4xx") >= 6)
        self.assertEqual(info_set(m), set())
        self.assertEqual(self.requests_total(m, "connectors", "ok"), 0)
        for p in paths:
            w = self.warnings(d, p)
            self.assertEqual(len(w), 1, (p, w))
            self.assertEqual(w[0].get("result"), "http_4xx")
            self.assertEqual(w[0].get("http_status"), "401")
        for r in fake.requests:
            self.assertEqual(r["headers"].get("authorization"), "ApiKey " + API_KEY)
        # the operator fixes Kibana's side
        fake.set_auth(api_key=API_KEY)
        d.wait_metrics(lambda m: info_set(m) == {t for t in SAMPLE_INFO
                                                 if t[0] != "security-team"})
        for p in paths:
            wait_until(lambda: self.recoveries(d, p), what="recovery line for %s" % p)

    # -- bodies --------------------------------------------------------------

    def test_malformed_json(self):
        self.check_failure("invalid_response", fault={"mode": "malformed"})

    def test_truncated_json(self):
        self.check_failure("invalid_response", fault={"mode": "truncated"})

    def test_wrong_json_shape(self):
        # valid JSON, but an object where Kibana sends a bare array
        self.check_failure("invalid_response", fault={"status": 200, "body": {
            "page": 1, "per_page": 10, "total": 0, "data": []}})

    def test_html_error_page_from_proxy(self):
        self.check_failure("invalid_response", fault={
            "status": 200, "body": b"<html><body><h1>It works!</h1></body></html>",
            "headers": {"Content-Type": "text/html"}})

    def test_body_over_max_response_bytes(self):
        # A 1 MiB body (made before the fault is set, so the fake answers at
        # once) announced by its Content-Length against a 64 KiB limit: curl
        # gives up on the headers, whatever the machine's speed.  The 10 s
        # timeout only matters if that classification is broken.
        fake_hook = self.huge_fault(1024 * 1024)
        self.check_failure("too_large", fake_hook=fake_hook,
                           target_kw={"max_response_bytes": "64KiB"})

    @staticmethod
    def huge_fault(size):
        def hook(fake):
            body = fake.huge_body(size)
            assert len(body) == size
            fake.add_fault("^%s$" % OPS_CONNECTORS, mode="huge", size=size)
        return hook

    # -- transport -----------------------------------------------------------

    def test_timeout(self):
        # The only test that wants timeouts: 5 s, against a fake that never
        # answers that one path (until it stops); every other request of the
        # target is answered within 5 s even on a loaded machine.
        self.check_failure("timeout", fault={"mode": "hang", "delay": 0}, polls=2,
                           target_kw={"timeout": "5s"}, wait=40)

    def test_connection_closed_without_response(self):
        # curl: "Empty reply from server"; a connection-level failure
        self.check_failure(("connect", "invalid_response"), fault={"mode": "close"})

    def test_kibana_down_from_start(self):
        port = closed_port()
        url = "http://127.0.0.1:%d" % port
        d = self.start_daemon([self.target(url=url, spaces=["default", "ops"], timeout="10s")])
        m = d.wait_metrics(lambda m: self.requests_total(m, "connectors", "connect") >= 6 and
                           self.requests_total(m, "connector_types", "connect") >= 3)
        for a in ("connectors", "connector_types", "rules"):
            self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api=a), 0, a)
            self.assertEqual(self.requests_total(m, a, "ok"), 0, a)
        self.assertEqual(info_set(m), set())
        # never succeeded: no timestamp, or 0
        self.assertIn(m.get("kibana_connector_monitor_last_success_timestamp_seconds",
                            target=T, api="connectors"), (None, 0))
        for p in ("/api/actions/connectors", "/s/ops/api/actions/connectors",
                  "/api/actions/connector_types", "/api/alerting/rules/_find",
                  "/s/ops/api/alerting/rules/_find"):
            w = self.warnings(d, p)
            self.assertEqual(len(w), 1, (p, w))
            self.assertEqual(w[0].get("result"), "connect")
            self.assertEqual(w[0].get("target"), T)
        # a Kibana outage is ONE warning for the target, not one per URL
        self.assertEqual(len(d.logs("warning", message_id=MSGID_UNREACHABLE)), 1)

    def test_kibana_goes_down_and_comes_back(self):
        holder = {}

        def down(fake):
            holder["data"] = fake.get_data()
            fake.stop()
            return fake

        def up(fake):
            return self.restart_fake(fake)
        d, fake, m = self.check_failure("connect", url_path="*", api="connectors",
                                        fake_hook=down, recover=up)
        w = self.warnings(d, OPS_CONNECTORS)
        self.assertEqual(len(w), 1, w)
        self.assertEqual(w[0].get("result"), "connect")
        wait_until(lambda: self.recoveries(d, OPS_CONNECTORS))

    def test_dns_failure(self):
        name = "kcm-test-does-not-exist.invalid"
        t = time.monotonic()
        try:
            socket.getaddrinfo(name, 80)
            self.skipTest("%s resolves here" % name)
        except socket.gaierror:
            pass
        if time.monotonic() - t > 1.0:
            self.skipTest("name resolution is slow here")
        d = self.start_daemon([self.target(url="http://%s:5601" % name,
                                           spaces=["default"], timeout="10s")])
        m = d.wait_metrics(lambda m: self.requests_total(m, "connectors", "dns") >= 2)
        self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api="connectors"), 0)
        self.assertEqual(self.requests_total(m, "connectors", "connect"), 0)

    # -- TLS -----------------------------------------------------------------

    def test_tls_with_ca_file(self):
        ca, cert, key = make_tls(self.tmp)
        fake = self.start_fake(tls_cert=cert, tls_key=key)
        self.assertTrue(fake.url.startswith("https://"))
        d = self.start_daemon([self.target(fake, ca_file=ca)])
        m = self.wait_all_up(d)
        m = d.wait_metrics(lambda m: info_set(m) == SAMPLE_INFO)
        self.assertEqual(self.requests_total(m, "connectors", "tls"), 0)

    def test_tls_without_ca_file(self):
        ca, cert, key = make_tls(self.tmp)
        fake = self.start_fake(tls_cert=cert, tls_key=key)
        d = self.start_daemon([self.target(fake, spaces=["default"])])
        m = d.wait_metrics(lambda m: self.requests_total(m, "connectors", "tls") >= 2)
        self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api="connectors"), 0)
        self.assertEqual(self.requests_total(m, "connectors", "ok"), 0)
        self.assertEqual(info_set(m), set())
        w = self.warnings(d, "/api/actions/connectors")
        self.assertEqual(len(w), 1, w)
        self.assertEqual(w[0].get("result"), "tls")
        # no request got through the handshake
        self.assertEqual(fake.requests, [])

    def test_tls_wrong_ca(self):
        ca, cert, key = make_tls(self.tmp)
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        other_ca, _, _ = make_tls(other)
        fake = self.start_fake(tls_cert=cert, tls_key=key)
        d = self.start_daemon([self.target(fake, spaces=["default"], ca_file=other_ca)])
        m = d.wait_metrics(lambda m: self.requests_total(m, "connectors", "tls") >= 2)
        self.assertEqual(self.requests_total(m, "connectors", "ok"), 0)


class ErrorsDoNotLeakSecretsTest(KcmTestCase):
    """The harness checks every test for leaks; this one provokes the daemon
    with debug logging and failing auth to be sure."""

    def test_debug_log_never_shows_the_key(self):
        fake = self.start_fake(api_key="different")
        fake.add_fault("^/api/actions/connector_types$", status=500)
        d = self.start_daemon([self.target(fake)], log_level="debug")
        d.wait_metrics(lambda m: self.requests_total(m, "spaces", "http_4xx") >= 2 and
                       self.requests_total(m, "connector_types", "http_5xx") >= 2)
        self.assertNotIn(API_KEY, d.stderr_text())


if __name__ == "__main__":
    unittest.main()
