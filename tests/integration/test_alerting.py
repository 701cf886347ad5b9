"""End to end with real parts (issue 9): the Debian prometheus server with
the shipped KibanaConnectorFailing rule and the Debian
prometheus-alertmanager, scraping the daemon that watches the fake Kibana
and the fake Elasticsearch.  A connector that starts failing in the event
log reaches Alertmanager's webhook as KibanaConnectorFailing with the
connector's name; restarting the daemon with its state directory neither
double-counts nor re-notifies; the alert resolves after the failures stop.

Time is scaled so the test takes about a minute: the rule is the shipped
one with its 30m ranges as 30s (and the 1800 s start-up bound as 30 s);
Prometheus scrapes and evaluates every second.  Skipped when either server
is not installed."""

import os
import re
import signal
import time
import unittest

from kcmtest import WEBHOOK, KcmTestCase, wait_until
from fake_es import FakeES
from promtest import (ALERTMANAGER, PROMETHEUS, RULES, PrometheusMixin,
                      WebhookReceiver, free_port)
from test_dashboard import event
from kcmtest import API_KEY

INDEX = ".kibana-event-log-8.17.2-000001"
ALERT = "KibanaConnectorFailing"
TEST_DEADLINE = 200     # s, hard limit for the test (SIGALRM)


def scaled_rule():
    """The shipped KibanaConnectorFailing rule with minutes as seconds."""
    with open(RULES, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"(?ms)^( *)- alert: %s\n.*?(?=^\1- alert: |\Z)" % ALERT, text)
    assert m, "no %s rule in %s" % (ALERT, RULES)
    rule = m.group(0)
    scaled = re.sub(r"\[30m\]", "[30s]", rule)
    scaled = re.sub(r"offset 30m", "offset 30s", scaled)
    scaled = re.sub(r"< 1800\b", "< 30", scaled)
    assert scaled.count("30s") >= 3 and "< 30" in scaled, "the rule's ranges changed"
    indent = m.group(1)
    lines = [l[len(indent):] if l.startswith(indent) else l for l in scaled.split("\n")]
    return ("groups:\n- name: scaled\n  interval: 1s\n  rules:\n" +
            "\n".join("  " + l if l else l for l in lines) + "\n")


class AlertingTest(PrometheusMixin, KcmTestCase):
    max_requests = 6000

    @classmethod
    def setUpClass(cls):
        for b in (PROMETHEUS, ALERTMANAGER):
            if not os.access(b, os.X_OK):
                raise unittest.SkipTest("%s not installed" % b)
        super().setUpClass()

    def setUp(self):
        super().setUp()
        signal.alarm(TEST_DEADLINE)

    def failing_value(self):
        r = self.query('kibana_connector_executions_total{connector_id="%s",'
                       'outcome="failure"}' % WEBHOOK)
        res = r["data"]["result"]
        return float(res[0]["value"][1]) if res else None

    def test_failure_reaches_alertmanager_once_across_a_restart(self):
        kib = self.start_fake()
        es = FakeES(api_key=API_KEY).start()
        self._fakes.append(es)
        now = int(time.time() * 1000)
        es.add_docs(INDEX, [event(now - 120000, WEBHOOK, ".webhook", outcome="success",
                                  name="Ops webhook")])
        state = self.path("state")
        os.mkdir(state, 0o700)
        target = self.target(kib, interval="1s")
        target["elasticsearch"] = {"url": es.url, "api_key_file": self.path("api-key-kib"),
                                   "timeout": "10s"}
        target["event_log"] = {"interval": "1s", "lookback": "15m", "settle_delay": "1s"}
        port = free_port()
        cfg = self.write_config([target], listen="127.0.0.1:%d" % port)
        env = {"STATE_DIRECTORY": state}
        d = self.start_daemon(config=cfg, env=env)

        hook = WebhookReceiver()
        self.addCleanup(hook.stop)
        am = self.start_alertmanager(hook.url)
        rules = self.write_file("rules.yml", scaled_rule())
        self.start_prometheus(port, rules=rules, alertmanager=am)

        # Prometheus has seen the connector at 0 failures for a while
        wait_until(lambda: self.query(
            'count_over_time(kibana_connector_executions_total{connector_id="%s",'
            'outcome="failure"}[1m]) >= 3' % WEBHOOK)["data"]["result"],
            timeout=60, what="failure series at 0 scraped three times")
        self.assertEqual(self.failing_value(), 0)
        self.assertEqual(hook.alerts(ALERT), [])

        # the connector starts failing in the event log
        es.add_docs(INDEX, [event(int(time.time() * 1000) - 200, WEBHOOK, ".webhook",
                                  outcome="failure", name="Ops webhook",
                                  error="error calling webhook, retry later: [500]")])
        firing = wait_until(lambda: hook.alerts(ALERT, "firing"), timeout=60,
                            what="%s at the webhook" % ALERT)
        a = firing[0]
        self.assertEqual(a["labels"]["connector_id"], WEBHOOK)
        self.assertEqual(a["labels"]["target"], "kib")
        self.assertEqual(a["labels"]["space"], "default")
        self.assertIn("Ops webhook", a["annotations"]["summary"])
        self.assertEqual(self.failing_value(), 1)

        # restart with the state directory: counted once, not notified again
        start0 = self.query("process_start_time_seconds")["data"]["result"][0]["value"][1]
        self.assertEqual(d.stop(), 0)
        d2 = self.start_daemon(config=cfg, env=env)
        wait_until(lambda: [r for r in self.query("process_start_time_seconds")["data"]
                            ["result"] if r["value"][1] != start0],
                   timeout=60, what="Prometheus scraping the restarted daemon")
        wait_until(lambda: self.failing_value() == 0, timeout=30,
                   what="the restarted daemon's counter at 0 (nothing counted twice)")

        # the failures stopped: the alert resolves, after exactly one firing
        resolved = wait_until(lambda: hook.alerts(ALERT, "resolved"), timeout=90,
                              what="%s resolved" % ALERT)
        self.assertEqual(resolved[0]["labels"]["connector_id"], WEBHOOK)
        fired = {(x["labels"]["connector_id"], x["startsAt"])
                 for x in hook.alerts(ALERT, "firing")}
        self.assertEqual(len(fired), 1, hook.notifications)
        self.assertEqual(self.failing_value(), 0)
        # over the whole run Prometheus saw exactly one failure
        total = self.query('sum(increase(kibana_connector_executions_total{connector_id="%s",'
                           'outcome="failure"}[10m]))' % WEBHOOK)["data"]["result"]
        self.assertAlmostEqual(float(total[0]["value"][1]), 1.0, delta=0.35)
        d2.stop()


if __name__ == "__main__":
    unittest.main()
