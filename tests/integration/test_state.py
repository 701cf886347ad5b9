"""Exactly-once counting across restarts (issue 9): the event-log window end
kept in the state directory ($STATE_DIRECTORY, as systemd's StateDirectory=
sets it, or the `state_directory` key), against the fake Kibana and the fake
Elasticsearch.  A restart counts only executions not counted before it; an
unusable state file is named and ignored; --once neither reads nor writes."""

import json
import os
import unittest

from kcmtest import PD, WEBHOOK, to_yaml, wait_until
from test_eventlog import EXEC, IDX_9, WEND, EventLogCase, event, now_ms

T = "kib"


class StateTest(EventLogCase):

    def setUp(self):
        super().setUp()
        self.state = self.path("state")
        os.mkdir(self.state, 0o700)

    def failures(self, m, cid=WEBHOOK, space="default", tid=".webhook"):
        return m.get(EXEC, target=T, space=space, connector_id=cid,
                     connector_type_id=tid, outcome="failure")

    def state_files(self):
        return sorted(f for f in os.listdir(self.state) if not f.endswith(".tmp"))

    def run_until_counted(self, kib, es, env, want, **kw):
        """Starts the daemon; waits until two windows are counted and the
        webhook's failure counter is `want`; returns (daemon, scrape)."""
        d = self.start_daemon([self.el_target(kib, es, **kw)], env=env)
        m = d.wait_metrics(lambda m: m.get(WEND, target=T) is not None, timeout=20)
        w1 = m.value(WEND, target=T)
        m = d.wait_metrics(lambda m: (m.get(WEND, target=T) or 0) > w1, timeout=20,
                           what="a second window counted")
        self.assertEqual(self.failures(m), want)
        return d, m

    def one_failure_counted_and_stopped(self):
        """A daemon with the state directory counted one failure and
        stopped: (fake Kibana, fake Elasticsearch, environment)."""
        kib = self.start_fake()
        es = self.start_es()
        es.add_docs(IDX_9, [event(now_ms() - 60000, WEBHOOK, ".webhook", "9",
                                  outcome="failure")])
        env = {"STATE_DIRECTORY": self.state}
        d, _ = self.run_until_counted(kib, es, env, 1)
        d.stop()
        return kib, es, env

    def test_restart_counts_each_run_once(self):
        kib = self.start_fake()
        es = self.start_es()
        t0 = now_ms()
        es.add_docs(IDX_9, [event(t0 - 60000 + i, WEBHOOK, ".webhook", "9",
                                  outcome="failure") for i in range(3)])
        env = {"STATE_DIRECTORY": self.state}
        d, m = self.run_until_counted(kib, es, env, 3)
        self.assertFalse(any("restart counts" in r["msg"] for r in d.logs("warning")))
        files = self.state_files()
        self.assertEqual(len(files), 1, files)
        with open(os.path.join(self.state, files[0]), encoding="utf-8") as f:
            saved = json.load(f)
        self.assertEqual(saved["target"], T)
        self.assertIn("/_search", saved["url"])
        self.assertGreater(saved["window_end_ms"], t0 - 60000)
        d.stop()

        # the restart resumes after the saved window: nothing counted twice
        d2, m2 = self.run_until_counted(kib, es, env, 0)
        self.assertTrue(d2.logs("info", target=T) and any(
            "resuming" in r["msg"] for r in d2.logs("info")))
        searches = [r for r in es.searches() if r["body"].get("size") == 0]
        gte = [r["body"]["query"]["bool"]["filter"][1]["range"]["@timestamp"]["gte"]
               for r in searches]
        self.assertIn(saved["window_end_ms"], gte, "a window starts at the saved end")
        # a new failure after the restart is counted, once
        es.add_docs(IDX_9, [event(now_ms() - 500, WEBHOOK, ".webhook", "9",
                                  outcome="failure")])
        m2 = d2.wait_metrics(lambda m: self.failures(m) == 1, timeout=20,
                             what="the new failure counted")
        w = m2.value(WEND, target=T)
        m2 = d2.wait_metrics(lambda m: m.get(WEND, target=T) > w + 1, timeout=20)
        self.assertEqual(self.failures(m2), 1)

    def test_without_state_a_restart_counts_again(self):
        kib = self.start_fake()
        es = self.start_es()
        t0 = now_ms()
        es.add_docs(IDX_9, [event(t0 - 60000, PD, ".pagerduty", "9", outcome="failure",
                                  ns="ops")])
        env = {"STATE_DIRECTORY": ""}
        d = self.start_daemon([self.el_target(kib, es)], env=env)
        wait_until(lambda: [r for r in d.logs("warning") if "restart counts" in r["msg"]],
                   what="the warning that a restart re-counts")
        d.wait_metrics(lambda m: self.failures(m, PD, "ops", ".pagerduty") == 1, timeout=20)
        d.stop()
        d2 = self.start_daemon([self.el_target(kib, es)], env=env)
        d2.wait_metrics(lambda m: self.failures(m, PD, "ops", ".pagerduty") == 1, timeout=20)
        self.assertEqual(os.listdir(self.state), [])

    def test_unusable_state_file_is_named_and_ignored(self):
        kib, es, env = self.one_failure_counted_and_stopped()
        (name,) = self.state_files()
        path = os.path.join(self.state, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write('{"version": 1, "target": "kib", "url": ')     # cut short
        d2, _ = self.run_until_counted(kib, es, env, 1)     # lookback applies
        w = [r for r in d2.logs("warning") if path in r["msg"]]
        self.assertEqual(len(w), 1, d2.logs("warning"))
        self.assertIn("ignoring the saved window", w[0]["msg"])
        with open(path, encoding="utf-8") as f:
            self.assertEqual(json.load(f)["target"], T)       # rewritten whole

    def test_changed_index_does_not_reuse_the_window(self):
        kib, es, env = self.one_failure_counted_and_stopped()
        # another index expression: another window, counted from the lookback
        d2, _ = self.run_until_counted(kib, es, env, 1, index=".kibana-event-log-*,-x")
        self.assertEqual(len(self.state_files()), 2)

    def test_state_directory_key_wins(self):
        kib = self.start_fake()
        es = self.start_es()
        es.add_docs(IDX_9, [event(now_ms() - 60000, WEBHOOK, ".webhook", "9",
                                  outcome="failure")])
        other = self.path("from-env")
        os.mkdir(other, 0o700)
        cfg = self.write_file("config.yml", to_yaml({
            "listen": "127.0.0.1:0", "state_directory": "state",     # relative
            "targets": [self.el_target(kib, es)]}))
        d = self.start_daemon(config=cfg, env={"STATE_DIRECTORY": other})
        wait_until(lambda: self.state_files(), timeout=20, what="a window saved")
        self.assertEqual(os.listdir(other), [])
        d.stop()

    def test_once_neither_reads_nor_writes(self):
        kib = self.start_fake()
        es = self.start_es()
        es.add_docs(IDX_9, [event(now_ms() - 60000, WEBHOOK, ".webhook", "9",
                                  outcome="failure")])
        cfg = self.write_config([self.el_target(kib, es)])
        p = self.run_cli(["--config", cfg, "--once"], env={"STATE_DIRECTORY": self.state})
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        self.assertEqual(os.listdir(self.state), [])
        self.assertNotIn(b"restart counts", p.stderr)


if __name__ == "__main__":
    unittest.main()
