"""The Grafana dashboard and the alert rules against a real Prometheus.

A real /usr/bin/prometheus scrapes the daemon (every second) while the
daemon watches the fake Kibana and the fake Elasticsearch (failed, timed-out
and successful runs in the event log, a deleted connector, a disabled
connector type, six probes, one failing); Prometheus also loads
contrib/prometheus/alerts.yml.  Then every query of every panel of
contrib/grafana/kibana-connector-monitor.json, with the template variables
substituted, must parse and return data through /api/v1/query, and the
rules must evaluate without error (KibanaConnectorFailing firing for the
failing and the deleted connector).

Skipped only when /usr/bin/prometheus is missing (Debian package prometheus).
"""

import json
import os
import re
import signal
import time
import unittest

from kcmtest import (
    API_KEY, DELETED, EMAIL, PD, REPO, RULE_CPU, SERVERLOG, SNOW, TEAMS, WEBHOOK,
    KcmTestCase, load_sample, to_yaml, wait_until)
from kcmtest import INDEX as INDEX_CONNECTOR
from fake_es import FakeES, ms_to_iso
from promtest import JOB, PROMETHEUS, PrometheusMixin

DASHBOARD = os.path.join(REPO, "contrib", "grafana", "kibana-connector-monitor.json")
INDEX = ".kibana-event-log-8.17.2-000001"
SNOW_TYPE = ".servicenow"        # disabled by the licence in this test
BUDGET = 110                     # s: the waits of one test end by then
TEST_DEADLINE = 150              # s: hard limit (SIGALRM) for one test

# Grafana's built-in variables, as Grafana would substitute them for a 1h
# time range on a dashboard with a 1 s scrape interval.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}


def substitute(expr, variables):
    """Replaces $name, ${name} and [[name]] of the given variables (only
    those: `$1` in label_replace stays)."""
    def rep(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return variables[name] if name in variables else m.group(0)
    return re.sub(r"\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]", rep, expr)


def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def event(ts_ms, cid, type_id, action="execute", outcome=None, ns=None, name="?",
          error=None):
    """One 8.17-style event-log document of an action execution."""
    so = {"rel": "primary", "type": "action", "id": cid, "type_id": type_id}
    if ns is not None:
        so["namespace"] = ns
    ev = {"provider": "actions", "action": action, "kind": "action"}
    if outcome is not None:
        ev["outcome"] = outcome
    doc = {"@timestamp": ms_to_iso(ts_ms), "event": ev,
           "kibana": {"saved_objects": [so], "space_ids": [ns or "default"],
                      "version": "8.17.2",
                      "action": {"name": name, "id": cid,
                                 "execution": {"uuid": "u-%d" % ts_ms}}},
           "message": "action %s: %s:%s: %s" % (outcome or action, type_id, cid, name)}
    if outcome == "failure":
        doc["error"] = {"message": error or "error calling webhook, retry later"}
    return doc


class TestDashboard(PrometheusMixin, KcmTestCase):
    max_requests = 6000

    @classmethod
    def setUpClass(cls):
        if not os.access(PROMETHEUS, os.X_OK):
            raise unittest.SkipTest("%s not installed (Debian package prometheus)" % PROMETHEUS)
        super().setUpClass()

    def setUp(self):
        super().setUp()
        signal.alarm(TEST_DEADLINE)
        with open(DASHBOARD, encoding="utf-8") as f:
            self.dash = json.load(f)

    # -- the scenario ----------------------------------------------------------

    def start_everything(self):
        data = load_sample()
        for t in data["connector_types"]:
            if t["id"] == SNOW_TYPE:        # a licence downgrade
                t["enabled"] = False
                t["enabled_in_license"] = False
        kib = self.start_fake(data)
        kib.set_execute_result("default", WEBHOOK, outcome="webhook_500")
        es = FakeES(api_key=API_KEY).start()
        self._fakes.append(es)
        now = int(time.time() * 1000)
        ago = lambda s: now - s * 1000     # noqa: E731
        es.add_docs(INDEX, [
            event(ago(300), WEBHOOK, ".webhook", outcome="success", name="Ops webhook"),
            event(ago(200), WEBHOOK, ".webhook", outcome="failure", name="Ops webhook"),
            event(ago(100), WEBHOOK, ".webhook", outcome="failure", name="Ops webhook"),
            event(ago(150), SERVERLOG, ".server-log", outcome="success", name="Server log"),
            event(ago(90), PD, ".pagerduty", action="execute-timeout", ns="ops",
                  name="Ops PagerDuty"),
            event(ago(60), DELETED, ".email", outcome="failure", name="Old mail",
                  error="Saved object [action/%s] not found" % DELETED),
        ])
        target = self.target(kib, interval="1s")
        target["elasticsearch"] = {"url": es.url, "api_key_file": self.path("api-key-kib"),
                                   "timeout": "10s"}
        target["event_log"] = {"interval": "1s", "lookback": "15m", "settle_delay": "2s"}
        # The first run of a probe comes at a random offset in [0, interval)
        # and the shortest interval is 1m: with six probes the first run is
        # due within 20 s with probability 1 - (2/3)^6 = 91%, within 40 s
        # with 99.9%.
        probes = [{"connector_id": cid, "space": space, "interval": "1m",
                   "params": {"message": "synthetic check"}}
                  for space, cid in (("default", SERVERLOG), ("default", WEBHOOK),
                                     ("default", INDEX_CONNECTOR), ("default", SNOW),
                                     ("ops", TEAMS), ("ops", "ops-slack"))]
        cfg = self.write_file("config.yml", to_yaml({
            "listen": "127.0.0.1:0", "log_level": "info", "targets": [target],
            "probes": probes}))
        d = self.start_daemon(config=cfg)
        self.start_prometheus(d.port)
        return d

    def dashboard_queries(self):
        """[(panel title, refId, expr)] of every panel, rows included."""
        out = []
        for p in all_panels(self.dash["panels"]):
            for t in p.get("targets", []):
                if t.get("hide"):
                    continue
                out.append((p.get("title"), t.get("refId"), t["expr"]))
        keys = [(title, ref) for title, ref, _ in out]
        self.assertEqual(len(keys), len(set(keys)), "panel titles are not unique")
        return out

    def test_dashboard_file(self):
        """Static checks: importable JSON, variables, a datasource per query."""
        d = self.dash
        self.assertGreaterEqual(d["schemaVersion"], 36)
        self.assertEqual([i["pluginId"] for i in d["__inputs"]], ["prometheus"])
        variables = {v["name"]: v for v in d["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        for name in ("target", "space"):
            self.assertEqual(variables[name]["type"], "query")
            self.assertIn("label_values(", variables[name]["definition"])
        ids = [p["id"] for p in all_panels(d["panels"])]
        self.assertEqual(len(ids), len(set(ids)), "panel ids are not unique")
        self.dashboard_queries()        # titles unique
        for p in all_panels(d["panels"]):
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"]["uid"], "${datasource}", p["title"])
            self.assertTrue(p.get("targets"), p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${datasource}", p["title"])
        titles = {p["title"] for p in all_panels(d["panels"])}
        for want in ("Failing connectors", "Executions by outcome", "Probe results",
                     "Probe duration", "Rules with missing connectors",
                     "Connectors with missing secrets", "Unavailable connector types",
                     "Event log visible", "Event-log window lag", "Requests by result",
                     "Request duration"):
            self.assertIn(want, titles)

    def test_every_panel_query_returns_data(self):
        t0 = time.monotonic()

        def budget(most):
            """A wait's timeout: at most `most` s, and the test's waits end
            within BUDGET s of its start (at least 5 s each)."""
            return max(5.0, min(most, BUDGET - (time.monotonic() - t0)))
        self.start_everything()

        def scraped():
            r = self.query('up{job="%s"} == 1' % JOB)
            return r.get("status") == "success" and r["data"]["result"]
        wait_until(scraped, timeout=budget(60), interval=0.5,
                   what="Prometheus scraping the daemon")

        # 1. the template variables' label_values() queries
        variables = {"target": ".*", "space": ".*"}
        for v in self.dash["templating"]["list"]:
            if v["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", v["definition"].strip())
            self.assertIsNotNone(m, v["definition"])
            match = substitute(m.group(1), dict(BUILTINS, **variables))

            def values(label=m.group(2), match=match):
                r = self.api("/api/v1/label/%s/values" % label, **{"match[]": match})
                self.assertEqual(r.get("status"), "success", r)
                return r["data"]
            got = wait_until(values, timeout=budget(60), interval=0.5,
                             what="values of variable %s" % v["name"])
            if v["name"] == "target":
                self.assertEqual(got, ["kib"])

        # 2. every panel's query, with the variables at All (.*): each must
        # parse, and return data once the daemon's polls have been scraped.
        queries = self.dashboard_queries()
        self.assertGreater(len(queries), 20)
        pending = {}
        for title, ref, expr in queries:
            pending[(title, ref)] = substitute(expr, dict(BUILTINS, **variables))
            self.assertNotIn("$target", pending[(title, ref)])
        last = {}
        errors = []

        def all_have_data():
            for key, expr in list(pending.items()):
                r = self.query(expr)
                if r.get("status") != "success":
                    errors.append("panel %r query %s does not run: %s\n%s" % (
                        key[0], key[1], r.get("error"), expr))
                    return True
                last[key] = r["data"]
                if r["data"]["result"]:
                    del pending[key]
            return not pending
        try:
            wait_until(all_have_data, timeout=budget(100), interval=1,
                       what="data for every panel")
        except AssertionError:
            self.fail("panels without data after waiting:\n" + "\n".join(
                "%r %s: %s -> %r" % (k[0], k[1], pending[k], last.get(k)) for k in pending))
        if errors:
            self.fail(errors[0])

        # what the main panels show (queried again until they settle: the
        # event-log and inventory data arrive in separate polls)
        exprs = {(title, ref): substitute(expr, dict(BUILTINS, **variables))
                 for title, ref, expr in queries}

        def shows(title, ref, extract, expected):
            def check():
                r = self.query(exprs[(title, ref)])
                got = extract(r["data"]["result"])
                return got == expected or (False, got)
            try:
                wait_until(lambda: check() is True, timeout=budget(30), interval=0.5,
                           what="panel %r %s" % (title, ref))
            except AssertionError:
                self.fail("panel %r %s shows %r, want %r" % (title, ref, check(), expected))

        shows("Failing connectors", "A",
              lambda res: {r["metric"]["connector_id"]: r["metric"].get("name") for r in res},
              {WEBHOOK: "Ops webhook", PD: "Ops PagerDuty", DELETED: DELETED + " (deleted?)"})
        shows("Failing connectors", "B",
              lambda res: {r["metric"]["connector_id"] for r in res}, {WEBHOOK, PD, DELETED})
        shows("Rules with missing connectors", "A",
              lambda res: {(r["metric"]["rule_id"], r["metric"]["connector_id"]) for r in res},
              {(RULE_CPU, DELETED)})
        shows("Connectors with missing secrets", "A",
              lambda res: {r["metric"]["connector_id"] for r in res}, {EMAIL})
        shows("Unavailable connector types", "A",
              lambda res: {(r["metric"]["connector_type_id"], float(r["value"][1])) for r in res},
              {(SNOW_TYPE, 1.0), (".gen-ai", 0.0), (".torq", 0.0)})

        # concrete variable values (what a user picks) must still parse
        for title, ref, expr in queries:
            r = self.query(substitute(expr, dict(BUILTINS, target="kib", space="default")))
            self.assertEqual(r.get("status"), "success", (title, ref, r.get("error")))

        # 3. the alert rules run without errors on real data, and
        # KibanaConnectorFailing fires for the failing and the deleted
        # connector (whose failures were already in the first samples).
        def rules_ok():
            r = self.api("/api/v1/rules")
            rules = [rule for g in r["data"]["groups"] for rule in g["rules"]]
            bad = [(rule["name"], rule.get("lastError")) for rule in rules
                   if rule.get("health") != "ok"]
            return len(rules) == 8 and not bad and rules
        wait_until(rules_ok, timeout=budget(30), interval=0.5,
                   what="all 8 rules evaluated, health ok")

        def failing_alerts():
            r = self.api("/api/v1/alerts")
            got = {a["labels"].get("connector_id"): a for a in r["data"]["alerts"]
                   if a["labels"]["alertname"] == "KibanaConnectorFailing"
                   and a["state"] == "firing"}
            return got if {WEBHOOK, DELETED} <= set(got) else None
        alerts = wait_until(failing_alerts, timeout=budget(30), interval=0.5,
                            what="KibanaConnectorFailing for %s and %s" % (WEBHOOK, DELETED))
        self.assertEqual(alerts[WEBHOOK]["labels"].get("name"), "Ops webhook")
        self.assertIn('"Ops webhook"', alerts[WEBHOOK]["annotations"]["summary"])
        self.assertNotIn("name", alerts[DELETED]["labels"])
        self.assertIn(DELETED, alerts[DELETED]["annotations"]["summary"])
        self.assertEqual(alerts[DELETED]["labels"]["connector_type_id"], ".email")
        # the monitor is up: its own alert must not fire
        r = self.api("/api/v1/alerts")
        self.assertFalse([a for a in r["data"]["alerts"]
                          if a["labels"]["alertname"] == "KibanaConnectorMonitorDown"])


if __name__ == "__main__":
    unittest.main()
