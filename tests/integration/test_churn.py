"""Bounded series under connector churn (issue 9): connectors that appear in
one inventory cycle and are gone in the next, hundreds of times, never grow
the exposition; a connector with a counted run outlives the inventory only
for event_log.series_retention.

Runs the test-only build ($KCM_TEST_BINARY: the same code with 1 ms minimum
intervals and retention, never installed) at 50 ms intervals, so hundreds of
cycles take seconds."""

import threading
import unittest

from kcmtest import TEST_BINARY, WEBHOOK, load_sample, wait_until
from test_eventlog import EXEC, IDX_9, LAST, EventLogCase, event, now_ms

T = "kib"
CYCLES = 300
CHURNING = 5            # connectors replaced in every cycle


def churn_connector(gen, i):
    return {"id": "churn-%05d-%d" % (gen, i), "name": "Churn %d/%d" % (gen, i),
            "connector_type_id": ".webhook", "is_missing_secrets": False,
            "referenced_by_count": 0}


class ChurnTest(EventLogCase):
    max_requests = 60000
    time_limit = 240

    def series(self, m):
        return (len(m.series(EXEC)) + len(m.series(LAST)) +
                len(m.series("kibana_connector_info")))

    def test_series_flat_over_hundreds_of_cycles(self):
        data = load_sample()
        base = list(data["connectors"]["default"])
        kib = self.start_fake(data)
        es = self.start_es()
        target = self.el_target(kib, es, interval="50ms", settle="10ms")
        target["inventory_interval"] = "50ms"
        target["spaces"] = ["default"]
        cfg = self.write_config([target], log_level="warning")
        d = self.start_daemon(config=cfg, binary=TEST_BINARY)
        d.wait_metrics(lambda m: m.get("kibana_connector_monitor_event_log_visible",
                                       target=T) == 1, timeout=30)

        # the driver: a new generation of churning connectors as soon as
        # the daemon has read the previous one (no fixed pace)
        stop = threading.Event()
        gens = [0]

        def connector_reads():
            return sum(1 for r in kib.requests if r["path"] == "/api/actions/connectors")

        def drive():
            seen = connector_reads()
            while not stop.is_set() and gens[0] < CYCLES:
                data["connectors"]["default"] = base + [
                    churn_connector(gens[0], i) for i in range(CHURNING)]
                kib.set_data(data)
                gens[0] += 1
                while not stop.is_set() and connector_reads() < seen + 2:
                    stop.wait(0.005)
                seen = connector_reads()
        t = threading.Thread(target=drive, daemon=True)
        t.start()
        self.addCleanup(stop.set)

        counts = []
        while t.is_alive():
            counts.append(self.series(d.scrape()))
            stop.wait(0.2)
        self.assertEqual(gens[0], CYCLES, "the driver did not finish")
        # at most the base connectors and one or two generations of churn
        one_gen = CHURNING * (3 + 3 + 1)        # executions, last_execution, info
        base_max = max(counts[:3])
        self.assertLess(max(counts) - min(counts), 3 * one_gen, counts)
        self.assertLess(max(counts), base_max + 3 * one_gen, counts)
        # and the churned ones are all gone once the churn stops
        m = d.wait_metrics(lambda m: not [lab for lab, _ in m.series(EXEC)
                                          if lab["connector_id"].startswith("churn-")
                                          and int(lab["connector_id"][6:11]) < CYCLES - 2],
                           timeout=30, what="old generations gone")
        self.assertGreater(len(counts), 10)

    def test_a_connector_with_runs_outlives_the_inventory_for_the_retention(self):
        data = load_sample()
        kib = self.start_fake(data)
        es = self.start_es()
        es.add_docs(IDX_9, [event(now_ms() - 60000, WEBHOOK, ".webhook", "9",
                                  outcome="failure")])
        target = self.el_target(kib, es, interval="100ms", settle="10ms")
        target["inventory_interval"] = "100ms"
        target["event_log"]["series_retention"] = "3s"
        cfg = self.write_config([target], log_level="warning")
        d = self.start_daemon(config=cfg, binary=TEST_BINARY)
        key = dict(target=T, space="default", connector_id=WEBHOOK,
                   connector_type_id=".webhook")
        d.wait_metrics(lambda m: m.get(EXEC, outcome="failure", **key) == 1, timeout=30)
        # deleted from Kibana: its series stay while the counted run is recent
        data["connectors"]["default"] = [c for c in data["connectors"]["default"]
                                         if c["id"] != WEBHOOK]
        kib.set_data(data)
        d.wait_metrics(lambda m: not m.series("kibana_connector_info",
                                              connector_id=WEBHOOK), timeout=30)
        m = d.scrape()
        self.assertEqual(m.get(EXEC, outcome="failure", **key), 1)
        self.assertIsNotNone(m.get(LAST, outcome="failure", **key))
        # ... and go once the retention has passed without another run
        d.wait_metrics(lambda m: not m.series(EXEC, connector_id=WEBHOOK) and
                       not m.series(LAST, connector_id=WEBHOOK), timeout=30,
                       what="series removed after the retention")


if __name__ == "__main__":
    unittest.main()
