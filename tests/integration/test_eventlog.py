"""Event-log failures (issue 3): the daemon against the fake Kibana and the
fake Elasticsearch (tests/fakes/fake_es.py), counters asserted exactly."""

import re
import signal
import time
import unittest

from kcmtest import (
    API_KEY, DELETED, PD, RULE_CPU, RULE_DISK, SERVERLOG, WEBHOOK,
    KcmTestCase, wait_until)
from fake_es import FakeES, ms_to_iso

T = "kib"
EXEC = "kibana_connector_executions_total"
LAST = "kibana_connector_last_execution_timestamp_seconds"
VISIBLE = "kibana_connector_monitor_event_log_visible"
ERRORS = "kibana_connector_monitor_event_log_errors_total"
SHARDS = "kibana_connector_monitor_event_log_shard_failures_total"
WEND = "kibana_connector_monitor_event_log_window_end_timestamp_seconds"
REASONS = ("no_shards", "no_aggregations", "index_not_found", "security_exception",
           "search_phase_exception", "shard_failures", "http_error", "transport",
           "invalid_response")
OUTCOMES = ("success", "failure", "timeout")
MSGID_FAILING = "67aa7ea279764ec18db38999167ad596"
MSGID_NOT_VISIBLE = "9732a0ff28cd4fda825c92dc8f5b6077"
MSGID_RECOVERED = "a1d1c31f820f4eb1abfe9c95815b51cc"

IDX_85 = ".kibana-event-log-8.5.3-000001"
IDX_817 = ".kibana-event-log-8.17.2-000001"
IDX_9 = ".ds-.kibana-event-log-ds-2025.03.01-000001"


# ---------------------------------------------------------------------------
# documents, as each Kibana generation writes them (reference section 11.4)

def so_action(cid, type_id, ns=None, agnostic=False):
    d = {"rel": "primary", "type": "action", "id": cid, "type_id": type_id}
    if ns is not None:
        d["namespace"] = ns
    if agnostic:
        d["space_agnostic"] = True
    return d


def so_rule(rid, ns=None):
    d = {"rel": "primary", "type": "alert", "id": rid, "type_id": ".index-threshold"}
    if ns is not None:
        d["namespace"] = ns
    return d


def event(ts_ms, cid, type_id, gen, action="execute", outcome=None, ns=None,
          agnostic=False, rule=None, name=None, error=None, provider="actions"):
    """One event-log document of generation gen ("8.5", "8.17", "9")."""
    ev = {"provider": provider, "action": action, "kind": "action"}
    if outcome is not None:
        ev["outcome"] = outcome
    sos = [so_action(cid, type_id, ns, agnostic)]
    if rule is not None:
        sos.append(so_rule(rule, ns))
    kib = {"saved_objects": sos, "space_ids": [ns or "default"], "version": gen,
           "server_uuid": "5b2de169-2785-441b-ae8c-186a1936b17d"}
    if gen == "8.5":
        kib["alert"] = {"rule": {}}
    else:
        act = {"name": name or "?", "id": cid, "execution": {"uuid": "u-%d" % ts_ms}}
        if gen == "9":
            act["type_id"] = type_id
        kib["action"] = act
    doc = {"@timestamp": ms_to_iso(ts_ms), "event": ev, "kibana": kib,
           "ecs": {"version": "1.8.0"}}
    label = "%s:%s: %s" % (type_id, cid, name or "?")
    if action == "execute-start":
        doc["message"] = "action started: " + label
    elif action == "execute-timeout":
        doc["message"] = ("action: %s:%s: '%s' execution cancelled due to timeout - "
                          "exceeded default timeout of \"5m\"" % (type_id, cid, name or "?"))
    elif outcome == "failure":
        doc["message"] = "action execution failure: " + label
        doc["error"] = {"message": error or "error calling webhook, retry later: [500] "
                                            "Internal Server Error; retry: true"}
    else:
        doc["message"] = "action executed: " + label
    if gen == "9" and rule is not None:
        doc["rule"] = {"id": rule}
    return doc


def now_ms():
    return int(time.time() * 1000)


class EventLogCase(KcmTestCase):

    def start_es(self, **kw):
        kw.setdefault("api_key", API_KEY)
        es = FakeES(**kw).start()
        self._fakes.append(es)
        return es

    def el_target(self, kib, es, interval="1s", settle="2s", lookback="15m",
                  index=None, es_timeout="20s"):
        t = self.target(kib, interval=interval)
        esc = {"url": es.url, "api_key_file": self.path("api-key-kib"),
               "timeout": es_timeout}
        el = {"interval": interval, "lookback": lookback, "settle_delay": settle}
        if index is not None:
            el["index"] = index
        t["elasticsearch"] = esc
        t["event_log"] = el
        return t

    def exec_count(self, m, space, cid, type_id, outcome):
        return m.value(EXEC, target=T, space=space, connector_id=cid,
                       connector_type_id=type_id, outcome=outcome)

    def failing_logs(self, text):
        from kcmtest import parse_logfmt
        out = []
        for line in text.split("\n"):
            r = parse_logfmt(line) if line else None
            if r and r.get("message_id") == MSGID_FAILING:
                out.append(r)
        return out


class TestEventLogCounting(EventLogCase):

    def load_mixed(self, es, t0):
        """Mixed 8.5 / 8.17 / 9.x documents; returns the expected counts."""
        m = lambda s: t0 - s * 1000     # noqa: E731  s seconds before t0
        d85, d817, d9 = [], [], []
        # default space, 8.17: webhook 3 successes, 2 failures (rule-triggered)
        for s in (300, 200, 100):
            d817.append(event(m(s), WEBHOOK, ".webhook", "8.17", outcome="success",
                              name="Ops webhook"))
            d817.append(event(m(s) - 400, WEBHOOK, ".webhook", "8.17",
                              action="execute-start", name="Ops webhook"))
        d817.append(event(m(250), WEBHOOK, ".webhook", "8.17", outcome="failure",
                          rule=RULE_CPU, name="Ops webhook", error="first error"))
        d817.append(event(m(50), WEBHOOK, ".webhook", "8.17", outcome="failure",
                          rule=RULE_CPU, name="Ops webhook",
                          error="error calling webhook, retry later: [500] boom"))
        # the alerting plugin's own docs about the same connector: never counted
        d817.append(event(m(40), WEBHOOK, ".webhook", "8.17", outcome="failure",
                          provider="alerting"))
        d817.append(event(m(40), WEBHOOK, ".webhook", "8.17", action="execute-action",
                          provider="alerting"))
        # outside the window: too old, and younger than settle_delay
        d817.append(event(m(20 * 60), WEBHOOK, ".webhook", "8.17", outcome="failure"))
        d817.append(event(t0 + 60000, WEBHOOK, ".webhook", "8.17", outcome="failure"))
        # default space, 8.5 (nested only): server log 1 failure (rule nested), 1 success
        d85.append(event(m(120), SERVERLOG, ".server-log", "8.5", outcome="failure",
                         rule=RULE_DISK, error="server log exploded"))
        d85.append(event(m(110), SERVERLOG, ".server-log", "8.5", outcome="success"))
        d85.append(event(m(115), SERVERLOG, ".server-log", "8.5", action="execute-start"))
        # ops space, 9.x: pagerduty 2 failures with rule.id, 1 timeout
        d9.append(event(m(90), PD, ".pagerduty", "9", outcome="failure", ns="ops",
                        rule=RULE_CPU, name="Ops PagerDuty", error="pd down"))
        d9.append(event(m(80), PD, ".pagerduty", "9", outcome="failure", ns="ops",
                        rule=RULE_CPU, name="Ops PagerDuty", error="pd still down"))
        d9.append(event(m(70), PD, ".pagerduty", "9", action="execute-timeout", ns="ops",
                        name="Ops PagerDuty"))
        # preconfigured (space_agnostic): slack from two spaces, server log timeouts
        d9.append(event(m(60), "ops-slack", ".slack", "9", outcome="success", ns="ops",
                        agnostic=True, name="Preconfigured Slack"))
        d85.append(event(m(65), "ops-slack", ".slack", "8.5", outcome="failure",
                         agnostic=True, error="slack 503"))
        d9.append(event(m(30), "my-server-log", ".server-log", "9",
                        action="execute-timeout", agnostic=True, name="Preconfigured log"))
        d9.append(event(m(31), "my-server-log", ".server-log", "9",
                        action="execute-timeout", agnostic=True, ns="security-team",
                        name="Preconfigured log"))
        # a deleted connector, still executed by a rule
        d817.append(event(m(45), DELETED, ".email", "8.17", outcome="failure",
                          name="Old mail", rule=RULE_DISK, error="gone"))
        d817.append(event(m(44), DELETED, ".email", "8.17", outcome="failure",
                          name="Old mail", rule=RULE_DISK, error="gone again"))
        es.add_docs(IDX_85, d85)
        es.add_docs(IDX_817, d817)
        es.add_docs(IDX_9, d9)
        return {
            ("default", WEBHOOK, ".webhook"): (3, 2, 0, m(100), m(50), None),
            ("default", SERVERLOG, ".server-log"): (1, 1, 0, m(110), m(120), None),
            ("ops", PD, ".pagerduty"): (0, 2, 1, None, m(80), m(70)),
            ("*", "ops-slack", ".slack"): (1, 1, 0, m(60), m(65), None),
            ("*", "my-server-log", ".server-log"): (0, 0, 2, None, None, m(30)),
            ("default", DELETED, ".email"): (0, 2, 0, None, m(44), None),
        }

    def test_mixed_generations_once(self):
        kib = self.start_fake()
        es = self.start_es()
        t0 = now_ms()
        want = self.load_mixed(es, t0)
        t_before = time.time()
        p, m = self.run_once([self.el_target(kib, es)])
        t_after = time.time()
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-3000:])

        for (space, cid, tid), (s, f, to, ls, lf, lt) in want.items():
            with self.subTest(connector=cid):
                self.assertEqual(self.exec_count(m, space, cid, tid, "success"), s)
                self.assertEqual(self.exec_count(m, space, cid, tid, "failure"), f)
                self.assertEqual(self.exec_count(m, space, cid, tid, "timeout"), to)
                for outcome, ts in zip(OUTCOMES, (ls, lf, lt)):
                    v = m.get(LAST, target=T, space=space, connector_id=cid,
                              connector_type_id=tid, outcome=outcome)
                    if ts is None:
                        self.assertIsNone(v)
                    else:
                        self.assertAlmostEqual(v, ts / 1000.0, places=3)
        # every other inventory connector: initialised to 0
        inventory = {(lab["space"], lab["connector_id"], lab["connector_type_id"])
                     for lab, _ in m.series("kibana_connector_info", target=T)}
        self.assertEqual(len(inventory), 12)
        for key in inventory:
            for o in OUTCOMES:
                v = self.exec_count(m, key[0], key[1], key[2], o)
                if key not in want:
                    self.assertEqual(v, 0, (key, o))
        # nothing else was counted
        series = {(lab["space"], lab["connector_id"], lab["connector_type_id"])
                  for lab, _ in m.series(EXEC, target=T)}
        self.assertEqual(series, inventory | set(want))

        self.assertEqual(m.value(VISIBLE, target=T), 1)
        self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api="event_log"), 1)
        for r in REASONS:
            self.assertEqual(m.value(ERRORS, target=T, reason=r), 0)
        self.assertEqual(m.value(SHARDS, target=T), 0)
        # the window ends settle_delay (2 s) before the run's "now", which lies
        # between t_before and t_after however slow the machine is
        wend = m.value(WEND, target=T)
        self.assertTrue(t_before - 2 - 0.01 <= wend <= t_after - 2 + 0.01,
                        (t_before, wend, t_after))

        # one count request plus one detail request per failing connector
        searches = es.searches()
        self.assertEqual(len(searches), 1 + 6, [r["body"].get("size") for r in searches])
        for r in searches:
            self.assertEqual(r["method"], "POST")
            self.assertEqual(r["path"], "/.kibana-event-log-*/_search")
            self.assertTrue(r["content_type"].startswith("application/json"))
            self.assertTrue(r["authorization"])
            self.assertEqual(r["status"], 200)
        self.assertEqual(m.value("kibana_connector_monitor_requests_total", target=T,
                                 api="event_log", result="ok"), 7)

        logs = {r["connector_id"]: r for r in self.failing_logs(p.stderr.decode())}
        self.assertEqual(set(logs), {WEBHOOK, SERVERLOG, PD, "ops-slack", "my-server-log",
                                     DELETED})
        w = logs[WEBHOOK]
        self.assertEqual((w["target"], w["space"], w["connector_name"],
                          w["connector_type_id"], w["rule_id"], w["failures"],
                          w["timeouts"], w["error_message"], w["event_timestamp"]),
                         (T, "default", "Ops webhook", ".webhook", RULE_CPU, "2", "0",
                          "error calling webhook, retry later: [500] boom",
                          ms_to_iso(t0 - 50000)))
        self.assertTrue(w["event_message"].startswith("action execution failure: .webhook:"))
        sl = logs[SERVERLOG]    # 8.5: name from the inventory, rule from nested
        self.assertEqual((sl["connector_name"], sl["rule_id"], sl["error_message"],
                          sl["failures"]), ("Server log", RULE_DISK, "server log exploded", "1"))
        pd = logs[PD]           # 9.x: newest of failure/timeout is the timeout
        self.assertEqual((pd["space"], pd["failures"], pd["timeouts"], pd["outcome"]),
                         ("ops", "2", "1", "timeout"))
        self.assertEqual(logs["ops-slack"]["space"], "*")
        self.assertEqual(logs["my-server-log"]["timeouts"], "2")
        dl = logs[DELETED]
        self.assertEqual((dl["space"], dl["connector_name"], dl["connector_type_id"],
                          dl["rule_id"], dl["error_message"]),
                         ("default", "Old mail", ".email", RULE_DISK, "gone again"))

    def test_log_rate_limit(self):
        kib = self.start_fake()
        es = self.start_es()
        t0 = now_ms()
        docs = []
        for i in range(12):         # 12 deleted connectors failing, i+1 times each
            for j in range(i + 1):
                docs.append(event(t0 - 60000 - j, "gone-%02d" % i, ".webhook", "9",
                                  outcome="failure", name="Gone %d" % i))
        es.add_docs(IDX_9, docs)
        p, m = self.run_once([self.el_target(kib, es)])
        self.assertEqual(p.returncode, 0)
        for i in range(12):
            self.assertEqual(self.exec_count(m, "default", "gone-%02d" % i, ".webhook",
                                             "failure"), i + 1)
        logs = self.failing_logs(p.stderr.decode())
        # the 10 connectors with the most failures, one line each
        self.assertEqual(sorted(r["connector_id"] for r in logs),
                         ["gone-%02d" % i for i in range(2, 12)])
        self.assertEqual(len(es.searches()), 1 + 10)
        self.assertRegex(p.stderr.decode(), r"connectors=2(\s|$)")

    def test_late_events_counted_exactly_once(self):
        kib = self.start_fake()
        es = self.start_es()
        es.create_index(IDX_9)
        d = self.start_daemon([self.el_target(kib, es, interval="1s", settle="2s")])
        m = d.wait_metrics(lambda m: m.get(WEND, target=T) is not None, timeout=15)
        w1 = int(m.value(WEND, target=T) * 1000)
        # An event that happened after the first window's end but is only
        # indexed now (late, but within settle_delay): a later window has it.
        # It happened 0.2 s ago: no window holding it is searched before
        # late + settle_delay, 1.8 s from now.  (An offset from w1 instead
        # raced the daemon's next search on a slow machine.)
        late = now_ms() - 200
        self.assertGreater(late, w1)
        es.add_docs(IDX_9, [event(late, PD, ".pagerduty", "9", outcome="failure", ns="ops",
                                  name="Ops PagerDuty")])
        m = d.wait_metrics(lambda m: m.get(WEND, target=T) * 1000 > late + 1000,
                           timeout=15)
        self.assertEqual(self.exec_count(m, "ops", PD, ".pagerduty", "failure"), 1)
        w2 = m.value(WEND, target=T)
        m = d.wait_metrics(lambda m: m.get(WEND, target=T) > w2 + 1.5, timeout=15)
        self.assertEqual(self.exec_count(m, "ops", PD, ".pagerduty", "failure"), 1)
        self.assertEqual(self.exec_count(m, "ops", PD, ".pagerduty", "success"), 0)
        # windows are contiguous: each search starts where the previous ended
        bounds = []
        for r in es.searches():
            if r["body"].get("size") != 0:
                continue
            rng = r["body"]["query"]["bool"]["filter"][1]["range"]["@timestamp"]
            bounds.append((rng["gte"], rng["lt"]))
        for (a1, b1), (a2, b2) in zip(bounds, bounds[1:]):
            self.assertEqual(b1, a2)
            self.assertLess(a2, b2)
        self.assertEqual(len(self.failing_logs(d.stderr_text())), 1)

    def test_shard_failure_does_not_lose_events(self):
        kib = self.start_fake()
        es = self.start_es()
        t0 = now_ms()
        es.add_docs(IDX_85, [event(t0 - 60000, SERVERLOG, ".server-log", "8.5",
                                   outcome="failure")])
        es.add_docs(IDX_9, [event(t0 - 50000 + i, PD, ".pagerduty", "9", outcome="success",
                                  ns="ops") for i in range(3)])
        es.set_mode("shard_failure", index=IDX_9)
        d = self.start_daemon([self.el_target(kib, es)])
        m = d.wait_metrics(lambda m: (m.get(ERRORS, target=T, reason="shard_failures") or 0) >= 2,
                           timeout=15)
        self.assertEqual(m.value(VISIBLE, target=T), 0)
        self.assertGreaterEqual(m.value(SHARDS, target=T), 2)
        self.assertIsNone(m.get(WEND, target=T))
        # partial results are never counted
        self.assertEqual(self.exec_count(m, "default", SERVERLOG, ".server-log", "failure"), 0)
        es.set_mode(None)
        m = d.wait_metrics(lambda m: m.get(VISIBLE, target=T) == 1, timeout=15)
        self.assertEqual(self.exec_count(m, "default", SERVERLOG, ".server-log", "failure"), 1)
        self.assertEqual(self.exec_count(m, "ops", PD, ".pagerduty", "success"), 3)
        lines = [r for r in d.logs() if r.get("message_id") == MSGID_NOT_VISIBLE]
        self.assertEqual(len(lines), 1, lines)      # once per change of state
        self.assertEqual(lines[0]["reason"], "shard_failures")

    def test_reload_keeps_the_window(self):
        kib = self.start_fake()
        es = self.start_es()
        t0 = now_ms()
        es.add_docs(IDX_9, [event(t0 - 60000, PD, ".pagerduty", "9", outcome="failure",
                                  ns="ops", name="Ops PagerDuty")])
        d = self.start_daemon([self.el_target(kib, es)])
        m = d.wait_metrics(lambda m: m.get(WEND, target=T) is not None, timeout=15)
        self.assertEqual(self.exec_count(m, "ops", PD, ".pagerduty", "failure"), 1)
        w1 = m.value(WEND, target=T)
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "configuration reloaded" in d.stderr_text(), timeout=10)
        m = d.wait_metrics(lambda m: m.get(WEND, target=T) > w1 + 1.5, timeout=15)
        # the first window after the reload starts where the last one ended
        self.assertEqual(self.exec_count(m, "ops", PD, ".pagerduty", "failure"), 1)
        bounds = [(r["body"]["query"]["bool"]["filter"][1]["range"]["@timestamp"]["gte"],
                   r["body"]["query"]["bool"]["filter"][1]["range"]["@timestamp"]["lt"])
                  for r in es.searches() if r["body"].get("size") == 0]
        for (a1, b1), (a2, b2) in zip(bounds, bounds[1:]):
            self.assertEqual(b1, a2)


class TestEventLogHostilePaging(EventLogCase):
    """An Elasticsearch that answers every composite page with the same
    after_key (issue 8): before, the daemon fetched 1,000 pages and counted
    the same buckets on each (1 -> 1,000)."""

    def test_repeated_after_key_stops_paging_and_counts_nothing(self):
        self.check_hostile_paging("stuck_after_key")

    def test_repeated_buckets_behind_a_moving_after_key_count_nothing(self):
        # the after_key seems to advance, but the buckets are the first page's
        self.check_hostile_paging("repeat_buckets")

    def check_hostile_paging(self, mode):
        kib = self.start_fake()
        es = self.start_es()
        t0 = now_ms()
        # more connectors than one composite page holds (500): paging starts
        es.add_docs(IDX_9, [event(t0 - 60000 + i, "conn-%04d" % i, ".webhook", "9",
                                  outcome="failure") for i in range(600)])
        es.set_mode(mode)
        d = self.start_daemon([self.el_target(kib, es)])
        m = d.wait_metrics(lambda m: (m.get(ERRORS, target=T, reason="invalid_response")
                                      or 0) >= 2, timeout=30, what="two stuck polls")
        counts = [v for lab, v in m.series(EXEC)
                  if lab["connector_id"].startswith("conn-")]
        self.assertEqual(sum(counts), 0, "nothing of a stuck poll is counted")
        self.assertEqual(m.value(VISIBLE, target=T), 0)
        self.assertEqual(m.value("kibana_connector_monitor_up", target=T,
                                 api="event_log"), 0)
        self.assertGreaterEqual(m.value("kibana_connector_monitor_requests_total",
                                        target=T, api="event_log",
                                        result="invalid_response"), 2)
        # two count pages per poll: the first and the one that repeats
        polls = m.value(ERRORS, target=T, reason="invalid_response")
        pages = len([r for r in es.searches() if r["body"].get("size") == 0])
        self.assertLessEqual(pages, 2 * polls + 2, (pages, polls))
        # a well-behaved Elasticsearch again: the pending window is counted once
        es.set_mode(None)
        m = d.wait_metrics(lambda m: sum(v for lab, v in m.series(
            EXEC, outcome="failure") if lab["connector_id"].startswith("conn-")) == 600,
            timeout=30, what="all 600 failures counted once")
        self.assertEqual(max(v for lab, v in m.series(EXEC, outcome="failure")
                             if lab["connector_id"].startswith("conn-")), 1)


class TestEventLogLogPolicy(EventLogCase):
    """A failing connector is logged when it starts failing, when its error
    text changes and when it recovers, not on every poll (issue 9)."""

    def failing(self, d):
        return [r for r in d.logs("warning", message_id=MSGID_FAILING)
                if r.get("connector_id") == WEBHOOK]

    def test_started_changed_recovered(self):
        kib = self.start_fake()
        es = self.start_es()
        es.add_docs(IDX_9, [event(now_ms() - 60000, WEBHOOK, ".webhook", "9",
                                  outcome="failure", error="first error")])
        d = self.start_daemon([self.el_target(kib, es, settle="1s")])
        wait_until(lambda: self.failing(d), timeout=20, what="started failing")
        (w,) = self.failing(d)
        self.assertIn("started failing", w["msg"])
        self.assertEqual(w["error_message"], "first error")

        def windows_later(n):
            m = d.scrape()
            w0 = m.value(WEND, target=T)
            d.wait_metrics(lambda m: m.get(WEND, target=T) >= w0 + n, timeout=30,
                           what="%d more windows" % n)
        # the same error again, in later windows: counted, not logged
        for _ in range(2):
            es.add_docs(IDX_9, [event(now_ms() - 300, WEBHOOK, ".webhook", "9",
                                      outcome="failure", error="first error")])
            d.wait_metrics(lambda m, n=len(es.searches()): len(es.searches()) > n + 3)
        m = d.wait_metrics(lambda m: self.exec_count(m, "default", WEBHOOK, ".webhook",
                                                     "failure") == 3, timeout=20)
        windows_later(2)
        self.assertEqual(len(self.failing(d)), 1, self.failing(d))
        # another error text: logged at once
        es.add_docs(IDX_9, [event(now_ms() - 300, WEBHOOK, ".webhook", "9",
                                  outcome="failure", error="second error")])
        wait_until(lambda: len(self.failing(d)) == 2, timeout=20, what="error changed")
        self.assertIn("another error", self.failing(d)[1]["msg"])
        self.assertEqual(self.failing(d)[1]["error_message"], "second error")
        # successes only: recovered, once
        es.add_docs(IDX_9, [event(now_ms() - 300, WEBHOOK, ".webhook", "9",
                                  outcome="success")])
        rec = wait_until(lambda: d.logs("info", message_id=MSGID_RECOVERED,
                                        connector_id=WEBHOOK), timeout=20,
                         what="recovery line")
        self.assertEqual(rec[0]["successes"], "1")
        windows_later(2)
        self.assertEqual(len(d.logs("info", message_id=MSGID_RECOVERED,
                                    connector_id=WEBHOOK)), 1)
        self.assertEqual(len(self.failing(d)), 2)


class TestEventLogBlind(EventLogCase):
    """Every 'cannot see the log' answer: its own reason, never 'no failures'."""

    CASES = [
        # (mode, mode kwargs, index, reason, http status)
        ("no_privilege", {}, None, "no_shards", "200"),
        (None, {}, ".kibana-event-log-nothing-*", "no_shards", "200"),
        ("no_aggregations", {}, None, "no_aggregations", "200"),
        (None, {}, ".kibana-event-log-ds-missing", "index_not_found", "404"),
        ("unauthorized", {}, None, "security_exception", "401"),
        ("forbidden", {}, None, "security_exception", "403"),
        ("all_shards_failed", {}, None, "search_phase_exception", "400"),
        ("shard_failure", {"index": IDX_9}, None, "shard_failures", "200"),
        ("error", {"status": 503}, None, "http_error", "503"),
        ("garbage", {}, None, "invalid_response", "200"),
    ]

    def test_cannot_see_cases(self):
        kib = self.start_fake()
        t0 = now_ms()
        for mode, kw, index, reason, status in self.CASES:
            with self.subTest(mode=mode, index=index):
                es = self.start_es()
                es.add_docs(IDX_85, [event(t0 - 60000, SERVERLOG, ".server-log", "8.5",
                                           outcome="failure")])
                es.add_docs(IDX_9, [event(t0 - 60000, PD, ".pagerduty", "9",
                                          outcome="failure", ns="ops")])
                es.set_mode(mode, **kw)
                p, m = self.run_once([self.el_target(kib, es, index=index)])
                self.assertEqual(p.returncode, 1)
                self.assertEqual(m.value(VISIBLE, target=T), 0)
                for r in REASONS:
                    self.assertEqual(m.value(ERRORS, target=T, reason=r),
                                     1 if r == reason else 0, r)
                self.assertEqual(m.value(SHARDS, target=T),
                                 1 if reason == "shard_failures" else 0)
                self.assertEqual(m.value("kibana_connector_monitor_up", target=T,
                                         api="event_log"), 0)
                self.assertIsNone(m.get(WEND, target=T))
                self.assertEqual(self.exec_count(m, "default", SERVERLOG, ".server-log",
                                                 "failure"), 0)
                self.assertEqual(self.exec_count(m, "ops", PD, ".pagerduty", "failure"), 0)
                from kcmtest import parse_logfmt
                recs = [parse_logfmt(l) for l in p.stderr.decode().split("\n") if l]
                blind = [r for r in recs if r and r.get("message_id") == MSGID_NOT_VISIBLE]
                self.assertEqual(len(blind), 1, blind)
                self.assertEqual((blind[0]["reason"], blind[0]["http_status"],
                                  blind[0]["target"]), (reason, status, T))
                self.assertEqual(self.failing_logs(p.stderr.decode()), [])
                self._fakes.remove(es)
                es.stop()

    def test_transport_failure(self):
        kib = self.start_fake()
        es = self.start_es()
        es.stop()
        self._fakes.remove(es)
        p, m = self.run_once([self.el_target(kib, es, es_timeout="2s")])
        self.assertEqual(p.returncode, 1)
        self.assertEqual(m.value(ERRORS, target=T, reason="transport"), 1)
        self.assertEqual(m.value(VISIBLE, target=T), 0)
        self.assertEqual(m.value("kibana_connector_monitor_requests_total", target=T,
                                 api="event_log", result="connect"), 1)


class TestEventLogScale(EventLogCase):

    def run_with(self, n):
        kib = self.start_fake()
        es = self.start_es()
        t0 = now_ms()
        conns = [(WEBHOOK, ".webhook", None), (SERVERLOG, ".server-log", None),
                 (PD, ".pagerduty", "ops"), ("ops-slack", ".slack", "ops")]
        # Compact: 100 distinct documents, each used n / 100 times.
        base = []
        for i in range(100):
            cid, tid, ns = conns[i % 4]
            outcome = "failure" if cid == WEBHOOK and i % 8 == 0 else "success"
            base.append(event(t0 - 120000 - i * 1000, cid, tid, "9", outcome=outcome, ns=ns,
                              agnostic=cid == "ops-slack", name="n"))
        docs = [base[i % 100] for i in range(n)]
        es.add_docs(IDX_9, docs)
        p, m = self.run_once([self.el_target(kib, es)], timeout=50)
        self.assertEqual(p.returncode, 0, p.stderr.decode()[-2000:])
        searches = es.searches()
        return m, len(searches), sum(r["response_bytes"] for r in searches
                                     if r["body"].get("size") == 0)

    def test_100000_events(self):
        m1, req1, bytes1 = self.run_with(100)
        m2, req2, bytes2 = self.run_with(100000)
        k = 1000
        self.assertEqual(self.exec_count(m1, "default", WEBHOOK, ".webhook", "failure"), 13)
        self.assertEqual(self.exec_count(m2, "default", WEBHOOK, ".webhook", "failure"), 13 * k)
        self.assertEqual(self.exec_count(m2, "default", WEBHOOK, ".webhook", "success"), 12 * k)
        self.assertEqual(self.exec_count(m2, "default", SERVERLOG, ".server-log", "success"),
                         25 * k)
        self.assertEqual(self.exec_count(m2, "ops", PD, ".pagerduty", "success"), 25 * k)
        self.assertEqual(self.exec_count(m2, "*", "ops-slack", ".slack", "success"), 25 * k)
        self.assertEqual(req1, req2)
        self.assertEqual(req2, 2)       # one count page + one detail
        # only the digits of the counts may differ
        self.assertLess(abs(bytes2 - bytes1), 100, (bytes1, bytes2))


class TestEventLogConfig(EventLogCase):

    def test_config_errors(self):
        cfg = self.write_file("config.yml", (
            'listen: "127.0.0.1:0"\n'
            "targets:\n"
            "  - name: kib\n"
            "    kibana:\n"
            '      url: "http://127.0.0.1:1"\n'
            "    elasticsearch:\n"
            '      url: "ftp://127.0.0.1:1"\n'
            "      colour: blue\n"
            "    event_log:\n"
            "      interval: 0s\n"
            '      index: "a b"\n'
            "      settle_delay: 2h\n"
            "      lookback: soon\n"))
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assertEqual(p.returncode, 2)
        err = p.stderr.decode()
        for line, what in ((7, "url"), (8, "colour"), (10, "interval"), (11, "index"),
                           (12, "settle_delay"), (13, "lookback")):
            self.assertRegex(err, r"%s:%d:\d+: .*%s" % (re.escape(cfg), line, what))

    def test_config_ok(self):
        kib = self.start_fake()
        es = self.start_es()
        cfg = self.write_config([self.el_target(kib, es, index=".kibana-event-log-ds")])
        p = self.run_cli(["--config", cfg, "--check-config"])
        self.assertEqual(p.returncode, 0, p.stderr.decode())


class TestFakeES(unittest.TestCase):
    """The fake's nested semantics, checked directly."""

    def setUp(self):
        self.es = FakeES()
        self.t0 = 1741616551512
        self.es.add_docs(IDX_85, [event(self.t0 - 1000, "c1", ".slack", "8.5",
                                        outcome="failure")])
        self.es.add_docs(IDX_9, [event(self.t0 - 2000, "c2", ".email", "9",
                                       outcome="success", ns="ops")])

    def search(self, expr, body):
        return self.es.search(expr, body, now_ms=self.t0)

    def test_nested_field_outside_nested_matches_nothing(self):
        st, r = self.search(".kibana-event-log-*", {"size": 0, "query": {
            "term": {"kibana.saved_objects.id": "c1"}}, "track_total_hits": True})
        self.assertEqual((st, r["hits"]["total"]["value"]), (200, 0))
        st, r = self.search(".kibana-event-log-*", {"size": 0, "aggs": {
            "x": {"terms": {"field": "kibana.saved_objects.id"}}}})
        self.assertEqual(r["aggregations"]["x"]["buckets"], [])
        st, r = self.search(".kibana-event-log-*", {"size": 0, "track_total_hits": True,
                                                    "query": {"nested": {
            "path": "kibana.saved_objects",
            "query": {"term": {"kibana.saved_objects.id": "c1"}}}}})
        self.assertEqual(r["hits"]["total"]["value"], 1)
        # root fields are not visible inside the nested context
        st, r = self.search(".kibana-event-log-*", {"size": 0, "track_total_hits": True,
                                                    "query": {"nested": {
            "path": "kibana.saved_objects",
            "query": {"term": {"event.provider": "actions"}}}}})
        self.assertEqual(r["hits"]["total"]["value"], 0)

    def test_reverse_nested_and_errors(self):
        st, r = self.search(".kibana-event-log-*", {"size": 0, "aggs": {"so": {
            "nested": {"path": "kibana.saved_objects"}, "aggs": {"ids": {
                "terms": {"field": "kibana.saved_objects.id"}, "aggs": {"back": {
                    "reverse_nested": {}, "aggs": {"o": {"terms": {
                        "field": "event.outcome"}}}}}}}}}})
        b = {x["key"]: x["back"]["o"]["buckets"][0]["key"]
             for x in r["aggregations"]["so"]["ids"]["buckets"]}
        self.assertEqual(b, {"c1": "failure", "c2": "success"})
        st, r = self.search(".kibana-event-log-*", {"size": 0, "aggs": {
            "x": {"terms": {"field": "error.message"}}}})
        self.assertEqual((st, r["error"]["type"]), (400, "search_phase_execution_exception"))
        self.assertIn("Fielddata is disabled", r["error"]["root_cause"][0]["reason"])
        st, r = self.search(".kibana-event-log-*", {"query": {"fuzzy": {"a": "b"}}})
        self.assertEqual((st, r["error"]["type"]), (400, "parsing_exception"))
        st, r = self.search(".kibana-event-log-missing", {})
        self.assertEqual((st, r["error"]["type"]), (404, "index_not_found_exception"))
        st, r = self.search(".kibana-event-log-nothing-*", {"aggs": {}})
        self.assertEqual((st, r["_shards"]["total"]), (200, 0))
        self.assertNotIn("aggregations", r)
        st, r = self.search(".kibana-event-log-ds", {"track_total_hits": True})
        self.assertEqual(r["hits"]["total"]["value"], 1)    # the data stream
        st, r = self.search("*", {"track_total_hits": True})
        self.assertEqual(r["_shards"]["total"], 0)          # hidden: not implicit
        st, r = self.search(".kibana-event-log-*", {"track_total_hits": True, "query": {
            "range": {"@timestamp": {"gte": "now-1500ms", "lt": "now"}}}})
        self.assertEqual(r["hits"]["total"]["value"], 1)
        st, r = self.search(".kibana-event-log-*", {"track_total_hits": True, "query": {
            "range": {"@timestamp": {"gte": self.t0 - 1500, "lt": self.t0,
                                     "format": "epoch_millis"}}}})
        self.assertEqual(r["hits"]["total"]["value"], 1)


if __name__ == "__main__":
    unittest.main()
