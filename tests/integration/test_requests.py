"""What the daemon sends to Kibana, proven from the fake's request log."""

import unittest
import urllib.parse

from kcmtest import (
    API_KEY, BASIC_PASSWORD, BASIC_USER, USER_AGENT, KcmTestCase, basic_header,
    load_sample, wait_until)

CYCLE_PATHS = {
    "/api/spaces/space",
    "/api/actions/connectors", "/s/ops/api/actions/connectors",
    "/s/security-team/api/actions/connectors",
    "/api/alerting/rules/_find", "/s/ops/api/alerting/rules/_find",
    "/s/security-team/api/alerting/rules/_find",
    "/api/actions/connector_types",
}


def count(fake, path):
    return sum(1 for r in fake.requests if r["path"] == path)


class RequestsTest(KcmTestCase):

    def wait_cycles(self, fake, n, timeout=15):
        """Waits until connector_types was asked n more times."""
        n0 = count(fake, "/api/actions/connector_types")
        wait_until(lambda: count(fake, "/api/actions/connector_types") >= n0 + n, timeout,
                   what="%d more poll cycles" % n)

    def check_requests(self, fake, auth):
        reqs = fake.requests
        self.assertTrue(reqs)
        for r in reqs:
            where = "%s %s?%s" % (r["method"], r["path"], r["raw_query"])
            self.assertEqual(r["method"], "GET", where)
            self.assertNotIn("_execute", r["path"], where)
            self.assertEqual(r["headers"].get("authorization"), auth, where)
            self.assertEqual(r["headers"].get("user-agent"), USER_AGENT, where)
            self.assertEqual(r["body"], b"", where)
            self.assertIn(r["path"], CYCLE_PATHS, where)
            if r["path"].endswith("/api/alerting/rules/_find"):
                # sample data: at most 2 rules per space, so one page
                self.assertEqual(r["query"], {"per_page": "100", "page": "1"}, where)
                self.assertEqual(r["raw_query"], "per_page=100&page=1", where)
            else:
                self.assertEqual(r["query"], {}, where)
                self.assertEqual(r["raw_query"], "", where)
        self.assertEqual({r["path"] for r in reqs}, CYCLE_PATHS)

    def test_api_key_headers_paths(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)])     # key file ends with "\n"
        self.wait_all_up(d)
        self.wait_cycles(fake, 2)
        self.check_requests(fake, "ApiKey " + API_KEY)
        # per cycle: every path once (the cycle in flight may be partial)
        counts = {p: count(fake, p) for p in CYCLE_PATHS}
        n = counts["/api/actions/connector_types"]
        for p, c in counts.items():
            self.assertLessEqual(abs(c - n), 1, counts)

    def test_api_key_file_without_trailing_newline(self):
        fake = self.start_fake()
        self.write_secret("api-key-kib", API_KEY)          # no "\n"
        d = self.start_daemon([self.target(fake)])
        self.wait_all_up(d)
        self.check_requests(fake, "ApiKey " + API_KEY)

    def test_basic_auth(self):
        fake = self.start_fake(api_key=None, basic="%s:%s" % (BASIC_USER, BASIC_PASSWORD))
        d = self.start_daemon([self.target(fake, api_key=None,
                                           basic=(BASIC_USER, BASIC_PASSWORD))])
        self.wait_all_up(d)
        self.wait_cycles(fake, 1)
        self.check_requests(fake, basic_header(BASIC_USER, BASIC_PASSWORD))

    def test_basic_auth_password_with_colon_and_spaces(self):
        pw = "p@ss w0rd:with:colons"
        fake = self.start_fake(api_key=None, basic="%s:%s" % (BASIC_USER, pw))
        d = self.start_daemon([self.target(fake, api_key=None, basic=(BASIC_USER, pw))])
        self.wait_all_up(d)
        self.check_requests(fake, basic_header(BASIC_USER, pw))

    def test_only_gets_even_when_kibana_fails(self):
        fake = self.start_fake()
        fake.add_fault("^/s/ops/api/actions/connectors$", status=503)
        fake.add_fault("^/api/actions/connector_types$", status=400, body={
            "statusCode": 400, "error": "Bad Request", "message": "Request must contain a kbn-xsrf header."})
        d = self.start_daemon([self.target(fake)])
        d.wait_metrics(lambda m: self.requests_total(m, "connectors", "http_5xx") >= 2 and
                       self.requests_total(m, "connector_types", "http_4xx") >= 2)
        for r in fake.requests:
            self.assertEqual(r["method"], "GET", r["path"])
            self.assertNotIn("_execute", r["path"])
            self.assertIn(r["path"], CYCLE_PATHS)

    def test_max_parallel_requests(self):
        for limit in (1, 2):
            with self.subTest(max_parallel_requests=limit):
                fake = self.start_fake()
                fake.add_fault(".", delay=0.2)     # every request takes 0.2 s
                d = self.start_daemon([self.target(fake, max_parallel_requests=limit,
                                                   timeout="30s")])
                self.wait_all_up(d, timeout=20)
                self.wait_cycles(fake, 1)
                self.assertLessEqual(fake.max_in_flight, limit)
                if limit == 2:
                    self.assertEqual(fake.max_in_flight, 2, "requests are never parallel")
                d.stop()

    def test_interval_respected(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake, interval="1s")])
        self.wait_all_up(d)
        self.wait_cycles(fake, 3)
        times = [r["time"] for r in fake.requests if r["path"] == "/api/actions/connector_types"]
        span = times[-1] - times[0]
        cycles = len(times) - 1
        # jitter is allowed, a hot loop is not; the upper bound only tells
        # 1 s from the 60 s default (a loaded machine may stretch cycles)
        self.assertGreaterEqual(span / cycles, 0.5, times)
        self.assertLessEqual(span / cycles, 10.0, times)

    def test_space_ids_are_percent_encoded(self):
        data = load_sample()
        data["spaces"].append({"id": "we ird/../x?y#z", "name": "Weird", "disabledFeatures": [],
                               "imageUrl": "", "color": "#000000"})
        fake = self.start_fake(data)
        d = self.start_daemon([self.target(fake)])
        self.wait_all_up(d)
        self.wait_cycles(fake, 1)
        segs = set()
        for r in fake.requests:
            self.assertNotIn("/../", r["path"])
            if r["path"].startswith("/s/") and r["path"].endswith("/api/actions/connectors"):
                segs.add(r["path"].split("/")[2])
        weird = [s for s in segs if urllib.parse.unquote(s) == "we ird/../x?y#z"]
        self.assertEqual(len(weird), 1, segs)
        for ch in " /?#":
            self.assertNotIn(ch, weird[0])


if __name__ == "__main__":
    unittest.main()
