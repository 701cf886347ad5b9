"""Synthetic test executions (probes): POST .../connector/<id>/_execute.

Every classification against the fake's _execute (kibana-api.md 6.1, 6.3),
the request log (only configured connectors, headers, body), transition
logging, first-run spread and no overlap of one probe with itself.

Tests that watch several runs of one probe use the test-only build
(kcmtest.TEST_BINARY), whose minimum probe interval is 1 s instead of 1 min;
the shipped binary rejects such intervals (test_short_interval_only_in_test_build).
"""

import http.client
import json
import os
import re
import subprocess
import time
import urllib.parse

from kcmtest import (
    API_KEY, BINARY, SERVERLOG, WEBHOOK, INDEX, KcmTestCase, check_exposition, to_yaml,
    wait_until)
from fake_kibana import EXECUTE_OUTCOMES

MSGID = "0146b62465c8449cbe696cc3af219989"
PROBE_RESULTS = ("ok", "connector_error", "not_found", "forbidden", "bad_request",
                 "http_error", "timeout", "transport", "invalid_response")

# outcome name -> expected probe result
OUTCOME_RESULT = {
    "unauthorized_type": "forbidden", "unauthorized": "forbidden",
    "license": "forbidden", "not_enabled": "forbidden",
    "system_action": "bad_request",
    "ok": "ok", "slack_ok": "ok", "index_ok": "ok", "webhook_ok": "ok",
}
for _name, (_st, _spec) in EXECUTE_OUTCOMES.items():
    OUTCOME_RESULT.setdefault(_name, "connector_error")


def execute_path(space, cid):
    p = "/api/actions/connector/%s/_execute" % urllib.parse.quote(cid, safe="")
    return p if space == "default" else "/s/%s%s" % (space, p)


class ProbeTest(KcmTestCase):

    def write_probe_config(self, targets, probes, log_level="info"):
        cfg = {"listen": "127.0.0.1:0", "log_level": log_level,
               "targets": targets, "probes": probes}
        return self.write_file("config.yml", to_yaml(cfg))

    def run_once_probes(self, targets, probes, timeout=40):
        cfg = self.write_probe_config(targets, probes)
        p = self.run_cli(["--config", cfg, "--once"], timeout=timeout)
        return p, check_exposition(p.stdout)

    def execute_requests(self, fake):
        return [r for r in fake.requests if r["path"].endswith("/_execute")]

    def probe_logs(self, d_or_text, **fields):
        return [r for r in d_or_text if r.get("message_id") == MSGID and
                all(r.get(k) == v for k, v in fields.items())]

    # -- --no-probes ------------------------------------------------------------

    def test_no_probes_executes_nothing(self):
        fake = self.start_fake()
        probes = [{"connector_id": SERVERLOG, "params": {"message": "synthetic check"}}]
        cfg = self.write_probe_config([self.target(fake)], probes)
        p = self.run_cli(["--config", cfg, "--once", "--no-probes"], timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        m = check_exposition(p.stdout)
        self.assertEqual(self.execute_requests(fake), [])
        self.assertEqual(m.series("kibana_connector_probe_runs_total"), [])
        self.assertTrue(m.series("kibana_connector_info"))      # the rest ran
        self.assertIn(b"--no-probes: the 1 configured probe(s) are not run", p.stderr)
        # the same configuration without the flag executes the connector
        p = self.run_cli(["--config", cfg, "--once"], timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(len(self.execute_requests(fake)), 1)

    # -- classification -------------------------------------------------------

    def test_every_classification_once(self):
        fake = self.start_fake()
        probes = []
        expected = {}       # connector_id -> (space, result)
        params = {"message": "synthetic check"}

        def add(cid, result, space="default", target=None, timeout=None, **prog):
            if prog:
                fake.set_execute_result(space, cid, **prog)
            pr = {"target": target or "kib", "connector_id": cid, "space": space,
                  "params": params}
            if timeout is not None:
                pr["timeout"] = timeout
            probes.append(pr)
            expected[cid] = (space, result, target or "kib")

        # every named outcome: the status matrix and per-type messages
        for name, result in OUTCOME_RESULT.items():
            add("probe-" + name.replace("_", "-"), result, outcome=name)
        # real connectors of the sample data, success by type
        add(SERVERLOG, "ok")
        add(WEBHOOK, "ok")
        add(INDEX, "ok")
        add("ops-slack", "ok", space="ops")                    # preconfigured
        # framework rows the fake produces itself
        add("deleted-connector", "not_found")
        add("system-connector-.cases", "bad_request")
        add("probe-params-400", "bad_request", status=400, body={
            "statusCode": 400, "error": "Bad Request",
            "message": "[request body.params]: expected value of type [object] but got [undefined]"})
        add("probe-204", "ok", status=204, body=b"")
        add("probe-500", "http_error", status=500)
        add("probe-401", "http_error", status=401)
        add("probe-502", "http_error", status=502, body=b"<html>bad gateway</html>")
        add("probe-not-json", "invalid_response", status=200, body=b"<html>ok</html>")
        add("probe-no-status", "invalid_response", status=200, body={"connector_id": "x"})
        add("probe-status-number", "invalid_response", status=200, body={"status": 1})
        add("probe-array", "invalid_response", status=200, body=[{"status": "ok"}])
        add("probe-other-status", "invalid_response", status=200, body={"status": "pending"})
        add("probe-hostile", "connector_error", status=200,
            body=b'{"status":"error","message":"bad \xff\xfe \\u0000 \\ud800 x\\nlevel=error",'
                 b'"service_message":"line1\\nline2","retry":true}')
        add("probe-slow", "timeout", timeout="1s", outcome="webhook_ok", delay=4)
        add("probe-huge", "invalid_response", target="small", status=200,
            body={"status": "ok", "data": "x" * 4096})
        add("probe-refused", "transport", target="closed")

        closed_url = "http://127.0.0.1:1"
        targets = [self.target(fake),
                   self.target(fake, name="small", max_response_bytes="1KiB"),
                   self.target(name="closed", url=closed_url, api_key=None)]
        p, m = self.run_once_probes(targets, probes)
        self.assertIn(p.returncode, (0, 1), p.stderr[-2000:])

        for cid, (space, result, target) in expected.items():
            # a preconfigured connector's series say space="*", like its
            # kibana_connector_info, although it runs through its space
            if cid == "ops-slack":
                space = "*"
            with self.subTest(connector=cid, result=result):
                for r in PROBE_RESULTS:
                    self.assertEqual(
                        m.value("kibana_connector_probe_runs_total", target=target,
                                space=space, connector_id=cid, result=r),
                        1 if r == result else 0, r)
                self.assertEqual(m.value("kibana_connector_probe_success", target=target,
                                         space=space, connector_id=cid),
                                 1 if result == "ok" else 0)
                dur = m.value("kibana_connector_probe_duration_seconds",
                              target=target, space=space, connector_id=cid)
                # seconds, not ms or us: under the 40 s the whole run may take
                self.assertGreaterEqual(dur, 0)
                self.assertLess(dur, 40)
                if cid == "probe-slow":     # ran into its 1 s timeout
                    self.assertGreaterEqual(dur, 0.9)
                self.assertGreater(m.value("kibana_connector_probe_last_run_timestamp_seconds",
                                           target=target, space=space, connector_id=cid), 1e9)
        # one request per probe of the fake's targets, to exactly those paths
        reqs = self.execute_requests(fake)
        want = {execute_path(s, c) for c, (s, _, t) in expected.items() if t != "closed"}
        self.assertEqual(sorted(r["path"] for r in reqs), sorted(want))
        # requests_total{api="execute"}: the HTTP exchange, not the connector
        total = sum(m.get("kibana_connector_monitor_requests_total", target="kib",
                            api="execute", result=r) or 0
                    for r in ("ok", "http_4xx", "http_5xx", "timeout", "invalid_response"))
        self.assertEqual(total, sum(1 for v in expected.values() if v[2] == "kib"))
        n_conn_err = sum(1 for v in expected.values() if v[1] == "connector_error")
        n_ok = sum(1 for v in expected.values() if v[1] == "ok" and v[2] == "kib")
        self.assertEqual(m.value("kibana_connector_monitor_requests_total", target="kib",
                                 api="execute", result="ok"), n_conn_err + n_ok)
        self.assertEqual(m.value("kibana_connector_monitor_requests_total", target="kib",
                                 api="execute", result="timeout"), 1)
        self.assertEqual(m.value("kibana_connector_monitor_requests_total", target="small",
                                 api="execute", result="too_large"), 1)
        self.assertEqual(m.value("kibana_connector_monitor_requests_total", target="closed",
                                 api="execute", result="connect"), 1)
        self.assertEqual(m.value("kibana_connector_monitor_up", target="kib",
                                 api="execute"), 0)
        self.assertIsNotNone(m.get("kibana_connector_monitor_request_duration_seconds_count",
                                   target="kib", api="execute"))

        # one state-change entry per probe (its first result), with the fields
        from kcmtest import parse_logfmt
        recs = [parse_logfmt(l) for l in p.stderr.decode("utf-8", "replace").split("\n") if l]
        recs = [r for r in recs if r is not None and r.get("message_id") == MSGID]
        by_id = {}
        for r in recs:
            by_id.setdefault(r["connector_id"], []).append(r)
        self.assertEqual(set(by_id), set(expected))
        for cid, rs in by_id.items():
            self.assertEqual(len(rs), 1, rs)
            r = rs[0]
            space, result, target = expected[cid]
            self.assertEqual(r["result"], result)
            self.assertEqual(r["space"], space)
            self.assertEqual(r["target"], target)
            self.assertEqual(r["level"], "info" if result == "ok" else "warning")
        r = by_id["probe-webhook-500"][0]
        self.assertEqual(r["error_message"], "error calling webhook, retry later")
        self.assertEqual(r["service_message"], "[500] Internal Server Error")
        self.assertEqual(r["retry"], "true")
        self.assertEqual(r["http_status"], "200")
        r = by_id["probe-webhook-429-retry-after"][0]
        self.assertEqual(r["retry"], "2025-03-10T14:23:31.512Z")
        r = by_id["probe-params-invalid"][0]
        self.assertEqual(r["retry"], "false")
        r = by_id["deleted-connector"][0]
        self.assertEqual(r["error_message"], "Saved object [action/deleted-connector] not found")
        self.assertEqual(r["http_status"], "404")
        r = by_id["probe-license"][0]
        self.assertIn("basic license", r["error_message"])
        r = by_id["probe-hostile"][0]
        self.assertEqual(r["service_message"], "line1\nline2")

    def test_request_headers_and_body(self):
        fake = self.start_fake()
        params = {"body": '{"text": "synthetic check"}', "n": 3, "f": 1.5,
                  "flag": True, "none": None, "quoted": "true",
                  "list": [1, "two", {"k": "v"}], "nested": {"a": {"b": []}}}
        probes = [{"connector_id": WEBHOOK, "params": params},
                  {"connector_id": "a1b2c3d4-0001-4a5b-8c6d-111111111111", "space": "ops",
                   "params": {"summary": "x", "severity": "info"}},
                  {"connector_id": "weird id/?#%", "params": {"x": "y"}}]
        p, m = self.run_once_probes([self.target(fake)], probes)
        reqs = self.execute_requests(fake)
        self.assertEqual(len(reqs), 3)
        by_path = {r["path"]: r for r in reqs}
        r = by_path["/api/actions/connector/%s/_execute" % WEBHOOK]
        self.assertEqual(r["method"], "POST")
        self.assertEqual(r["headers"]["kbn-xsrf"], "kibana-connector-monitor")
        self.assertEqual(r["headers"]["content-type"], "application/json")
        self.assertEqual(r["headers"]["authorization"], "ApiKey " + API_KEY)
        self.assertEqual(json.loads(r["body"]), {"params": params})
        self.assertEqual(r["raw_query"], "")
        r = by_path["/s/ops/api/actions/connector/a1b2c3d4-0001-4a5b-8c6d-111111111111/_execute"]
        self.assertEqual(json.loads(r["body"]),
                         {"params": {"summary": "x", "severity": "info"}})
        # the id is percent-encoded into one path segment
        raw = [x for x in reqs if "weird" in urllib.parse.unquote(x["path"])]
        self.assertEqual(len(raw), 1)
        self.assertEqual(m.value("kibana_connector_probe_runs_total", target="kib",
                                 space="default", connector_id="weird id/?#%",
                                 result="not_found"), 1)
        # webhook success returns the body it sent as data
        self.assertEqual(m.value("kibana_connector_probe_success", target="kib",
                                 space="default", connector_id=WEBHOOK), 1)

    def test_no_probes_no_execute(self):
        fake = self.start_fake()
        p, m = self.run_once_probes([self.target(fake)], [])
        self.assertEqual(self.execute_requests(fake), [])
        self.assertFalse([n for n in m.names() if "probe" in n])

    def test_fake_execute_framework_rows(self):
        """The fake's own 400 rows (section 6.1), which the daemon never triggers."""
        fake = self.start_fake()
        host, port = "127.0.0.1", fake.port

        def post(path, body, headers):
            c = http.client.HTTPConnection(host, port, timeout=10)
            h = {"Authorization": "ApiKey " + API_KEY, "Content-Type": "application/json"}
            h.update(headers)
            c.request("POST", path, body=body, headers=h)
            r = c.getresponse()
            out = (r.status, json.loads(r.read()))
            c.close()
            return out

        st, b = post(execute_path("default", SERVERLOG), b'{"params":{}}', {})
        self.assertEqual((st, b["message"]), (400, "Request must contain a kbn-xsrf header."))
        st, b = post(execute_path("default", SERVERLOG), b'{}', {"kbn-xsrf": "x"})
        self.assertEqual((st, b["message"]), (
            400, "[request body.params]: expected value of type [object] but got [undefined]"))
        st, b = post(execute_path("default", "system-connector-.cases"), b'{"params":{}}',
                     {"kbn-xsrf": "x"})
        self.assertEqual((st, b["message"]), (400, "Execution of system action is not allowed"))
        st, b = post(execute_path("ops", SERVERLOG), b'{"params":{}}', {"kbn-xsrf": "x"})
        self.assertEqual((st, b["message"]), (404, "Saved object [action/%s] not found" % SERVERLOG))
        st, b = post(execute_path("security-team", "my-server-log"), b'{"params":{}}',
                     {"kbn-xsrf": "x"})
        self.assertEqual((st, b), (200, {"status": "ok", "connector_id": "my-server-log"}))
        st, b = post(execute_path("default", INDEX), b'{"params":{"documents":[]}}',
                     {"kbn-xsrf": "x"})
        self.assertEqual(st, 200)
        self.assertEqual(b["status"], "ok")
        self.assertFalse(b["data"]["errors"])

    # -- schedule -------------------------------------------------------------

    def test_first_runs_spread_over_interval(self):
        fake = self.start_fake()
        probes = [{"connector_id": "spread-%02d" % i, "interval": "1m",
                   "params": {"message": "m"}} for i in range(40)]
        cfg = self.write_probe_config([self.target(fake, interval="1h")], probes,
                                      log_level="debug")
        spawned = time.monotonic()
        d = self.start_daemon(config=cfg)
        wait_until(lambda: len([r for r in d.log_records()
                                if r and "first_run_seconds" in r]) == 40,
                   what="40 first-run announcements")
        offs = {r["connector_id"]: float(r["first_run_seconds"])
                for r in d.log_records() if r and "first_run_seconds" in r}
        self.assertEqual(len(offs), 40)
        vals = sorted(offs.values())
        self.assertGreaterEqual(vals[0], 0.0)
        self.assertLessEqual(vals[-1], 60.0)    # printed rounded to 0.1 s
        self.assertLess(vals[0], 15.0, vals)
        self.assertGreater(vals[-1], 45.0, vals)
        self.assertGreater(len(set(vals)), 30, vals)    # 0.1 s resolution
        # nothing ran at start-up: no burst.  No probe ran before its
        # announced offset (printed rounded to 0.1 s) from the daemon's
        # spawn, however long the machine took to get here.
        for r in self.execute_requests(fake):
            cid = urllib.parse.unquote(r["path"].split("/")[-2])
            self.assertGreaterEqual(r["time"] - spawned, offs[cid] - 0.05,
                                    "probe %s ran %.2fs after start, announced %.1fs"
                                    % (cid, r["time"] - spawned, offs[cid]))

    def test_no_overlap_with_itself(self):
        fake = self.start_fake()
        fake.set_execute_result("default", SERVERLOG, outcome="ok", delay=1.5)
        # interval 1 s (+-10 %) < the 1.5 s the connector takes
        probes = [{"connector_id": SERVERLOG, "interval": "1s", "timeout": "30s",
                   "params": {"message": "m"}}]
        cfg = self.write_probe_config([self.target(fake, interval="1h")], probes,
                                      log_level="debug")
        d = self.start_daemon(config=cfg, binary=self.short_interval_binary())
        wait_until(lambda: len(self.execute_requests(fake)) >= 4, timeout=20,
                   what="4 runs")
        times = [r["time"] for r in self.execute_requests(fake)]
        for a, b in zip(times, times[1:]):
            self.assertGreaterEqual(b - a, 1.4, times)
        # the skipped run is logged (today "still in flight"; the check
        # engine says "still going, skipping this one")
        self.assertTrue([r for r in d.log_records() if r and
                         re.search(r"still in flight|still going", r.get("msg", ""))])
        d.wait_metrics(lambda m: (m.get("kibana_connector_probe_runs_total", target="kib",
                                          space="default", connector_id=SERVERLOG,
                                          result="ok") or 0) >= 3)

    def test_transitions_logged_once(self):
        fake = self.start_fake()
        cid = SERVERLOG
        probes = [{"connector_id": cid, "interval": "1s", "params": {"message": "m"}}]
        cfg = self.write_probe_config([self.target(fake, interval="1h")], probes)
        d = self.start_daemon(config=cfg, binary=self.short_interval_binary())

        def runs(result):
            def get(m):
                return m.get("kibana_connector_probe_runs_total", target="kib",
                               space="default", connector_id=cid, result=result) or 0
            return get

        def wait_runs(result, n):
            d.wait_metrics(lambda m: runs(result)(m) >= n, timeout=15,
                           what="%d %s runs" % (n, result))

        wait_runs("ok", 3)
        fake.set_execute_result("default", cid, outcome="webhook_500")
        wait_runs("connector_error", 3)
        fake.set_execute_result("default", cid, outcome="slack_5xx")   # same result
        wait_runs("connector_error", 6)
        fake.set_execute_result("default", cid, outcome="license")
        wait_runs("forbidden", 3)
        fake.clear_execute_results()
        before = runs("ok")(d.wait_metrics(lambda m: True))
        wait_runs("ok", before + 3)

        recs = self.probe_logs([r for r in d.log_records() if r])
        self.assertEqual([r["result"] for r in recs],
                         ["ok", "connector_error", "forbidden", "ok"], recs)
        self.assertEqual([r["level"] for r in recs], ["info", "warning", "warning", "info"])
        self.assertEqual(recs[1]["error_message"], "error calling webhook, retry later")
        self.assertEqual(recs[1]["retry"], "true")
        self.assertEqual(recs[2]["http_status"], "403")
        # the inventory knows the connector's name by now
        self.assertEqual(recs[-1]["connector_name"], "Server log")
        m = d.wait_metrics(lambda m: True)
        self.assertEqual(m.value("kibana_connector_probe_success", target="kib",
                                 space="default", connector_id=cid), 1)
        self.assertEqual(m.value("kibana_connector_monitor_up", target="kib",
                                 api="execute"), 1)

    # -- configuration --------------------------------------------------------

    def check_config_error(self, text, *expected):
        cfg = self.write_file("bad.yml", text)
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assertNotEqual(p.returncode, 0)
        err = p.stderr.decode()
        for e in expected:
            self.assertIn(e, err)
        return err

    def test_config_errors(self):
        head = ("targets:\n  - name: a\n    kibana: {url: 'http://127.0.0.1:9'}\n"
                "  - name: b\n    kibana: {url: 'http://127.0.0.1:9'}\n")
        self.check_config_error(
            head + "probes:\n  - target: c\n    connector_id: x\n    params: {}\n",
            "bad.yml:7:13: 'target': no target named 'c' is configured")
        self.check_config_error(
            head + "probes:\n  - connector_id: x\n    params: {}\n",
            "bad.yml:7:5: missing required key 'target'")
        self.check_config_error(
            head + "probes:\n  - target: a\n    connector_id: x\n",
            "bad.yml:7:5: missing required key 'params'")
        self.check_config_error(
            head + "probes:\n  - target: a\n    connector_id: x\n    params: {}\n"
                   "  - target: a\n    space: default\n    connector_id: x\n    params: {}\n",
            "bad.yml:12:19: duplicate probe of connector 'x' in space 'default' of "
            "target 'a' (first defined at line 7)")
        self.check_config_error(
            head + "probes:\n  - target: a\n    connector_id: x\n    interval: 30s\n"
                   "    params: {}\n",
            "bad.yml:9:15: 'interval': '30s' is out of range")
        self.check_config_error(
            head + "probes:\n  - target: a\n    connector_id: x\n    params: [1]\n",
            "bad.yml:9:13: 'params': expected a mapping")

    def test_short_interval_only_in_test_build(self):
        text = ("targets:\n  - name: a\n    kibana: {url: 'http://127.0.0.1:9'}\n"
                "probes:\n  - target: a\n    connector_id: x\n    interval: 2s\n"
                "    params: {}\n")
        cfg = self.write_file("short.yml", text)
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assertNotEqual(p.returncode, 0, "the shipped binary accepts a 2 s probe interval")
        self.assertIn("short.yml:7:15: 'interval': '2s' is out of range (1m..", p.stderr.decode())
        p = self.run_cli(["--config", cfg, "--check-config"],
                         binary=self.short_interval_binary())
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))

    def test_reload_keeps_running_and_drops_removed(self):
        import signal
        fake = self.start_fake()
        keep = {"connector_id": SERVERLOG, "interval": "1s", "params": {"message": "m"}}
        gone = {"connector_id": INDEX, "interval": "1s", "params": {"documents": [{"a": 1}]}}
        cfg = self.write_probe_config([self.target(fake, interval="1h")], [keep, gone])
        d = self.start_daemon(config=cfg, binary=self.short_interval_binary())

        def ok_runs(m, cid):
            return m.get("kibana_connector_probe_runs_total", target="kib", space="default",
                         connector_id=cid, result="ok") or 0

        d.wait_metrics(lambda m: ok_runs(m, SERVERLOG) >= 2 and ok_runs(m, INDEX) >= 2,
                       timeout=15)
        self.write_probe_config([self.target(fake, interval="1h")], [keep])
        d.proc.send_signal(signal.SIGHUP)
        m = d.wait_metrics(lambda m: not m.series("kibana_connector_probe_runs_total",
                                                  connector_id=INDEX), timeout=15,
                           what="removed probe's series gone")
        n = ok_runs(m, SERVERLOG)
        self.assertGreaterEqual(n, 2)       # counters survive the reload
        d.wait_metrics(lambda m: ok_runs(m, SERVERLOG) >= n + 2, timeout=15)
        self.assertEqual(m.value("kibana_connector_monitor_config_last_reload_successful"), 1)
        # no run of the removed probe after the reload was answered
        n_index = len([r for r in self.execute_requests(fake) if INDEX in r["path"]])
        d.wait_metrics(lambda m: ok_runs(m, SERVERLOG) >= n + 4, timeout=15)
        self.assertEqual(len([r for r in self.execute_requests(fake) if INDEX in r["path"]]),
                         n_index)

    def test_respects_max_parallel_requests(self):
        fake = self.start_fake()
        probes = []
        for i in range(8):
            cid = "par-%d" % i
            fake.set_execute_result("default", cid, outcome="ok", delay=0.5)
            probes.append({"connector_id": cid, "params": {"message": "m"}})
        fake.reset_max_in_flight()
        p, m = self.run_once_probes([self.target(fake, max_parallel_requests=2)], probes)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(len(self.execute_requests(fake)), 8)
        self.assertLessEqual(fake.max_in_flight, 2)
        for i in range(8):
            self.assertEqual(m.value("kibana_connector_probe_success", target="kib",
                                     space="default", connector_id="par-%d" % i), 1)


class NoTestHookInReleaseTest(KcmTestCase):
    """Nothing that makes probes run more often than configured ships: no
    test environment variable in the release binary, and the test-only build
    is not installed (tests/package/test_deb.sh checks the .deb likewise)."""

    def test_release_binary_has_no_test_switch(self):
        with open(BINARY, "rb") as f:
            data = f.read()
        for needle in (b"KCM_TEST", b"INTERVAL_SCALE", b"testbuild"):
            # assertFalse: assertNotIn would print the whole binary
            self.assertFalse(needle in data, "release binary %s contains %r" % (BINARY, needle))

    def test_install_tree_has_no_test_build(self):
        build = os.path.dirname(BINARY)
        if not os.path.exists(os.path.join(build, "cmake_install.cmake")):
            self.skipTest("%s is not a CMake build directory" % build)
        root = self.path("destdir")
        env = dict(os.environ, DESTDIR=root)
        p = subprocess.run(["cmake", "--install", build], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode(errors="replace")[-2000:])
        files = []
        for dirpath, _, names in os.walk(root):
            files += [os.path.relpath(os.path.join(dirpath, n), root) for n in names]
        bins = [f for f in files if os.path.basename(f) == "kibana-connector-monitor"]
        self.assertEqual(len(bins), 1, files)       # the check can see an installed binary
        self.assertFalse([f for f in files if "testbuild" in f], files)
        with open(os.path.join(root, bins[0]), "rb") as fh:
            self.assertFalse(b"KCM_TEST" in fh.read(), "installed %s names KCM_TEST" % bins[0])
