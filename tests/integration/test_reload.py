"""SIGHUP reload (issue 5): a good configuration swaps targets (series of
removed targets vanish), a broken one keeps the old one running and logs
every FILE:LINE:COLUMN error with the rejected message id, a rotated secret
is picked up, a changed `listen` is only warned about."""

import os
import signal
import unittest

from kcmtest import KcmTestCase, to_yaml, wait_until

MSGID_CONFIG_LOADED = "775ec514f65c4baf8e1b091f3c1f5de4"
MSGID_CONFIG_REJECTED = "4f4078949acf4055b144eb8f70106439"
OK_METRIC = "kibana_connector_monitor_config_last_reload_successful"
TS_METRIC = "kibana_connector_monitor_config_last_reload_success_timestamp_seconds"
NEW_KEY = "bmV3LWtleS1hZnRlci1yb3RhdGlvbjo5ZDNmYjE3Yw=="


def targets_of(m):
    return {lab["target"] for lab, _ in m.series("kibana_connector_monitor_up")}


class ReloadTest(KcmTestCase):
    def write(self, targets, **kw):
        return self.write_config(targets, **kw)

    def hup(self, d):
        d.proc.send_signal(signal.SIGHUP)

    def test_good_reload_swaps_targets(self):
        a = self.start_fake()
        b = self.start_fake()
        cfg = self.write([self.target(a, name="alpha"), self.target(b, name="beta")])
        d = self.start_daemon(config=cfg)
        m = d.wait_metrics(lambda m: targets_of(m) == {"alpha", "beta"})
        self.assertEqual(m.value(OK_METRIC), 1)
        ts0 = m.value(TS_METRIC)
        self.assertTrue(any(lab.get("target") == "beta"
                            for lab, _ in m.series("kibana_connector_info")))

        c = self.start_fake()
        self.write([self.target(a, name="alpha"), self.target(c, name="gamma")])
        self.hup(d)
        m = d.wait_metrics(lambda m: targets_of(m) == {"alpha", "gamma"},
                           what="beta gone, gamma polled")
        self.assertEqual(m.value(OK_METRIC), 1)
        self.assertGreater(m.value(TS_METRIC), ts0 - 1e-6)
        self.assertFalse([l for l in m.lines if l[1].get("target") == "beta"],
                         "series of the removed target must vanish")
        wait_until(lambda: d.logs(message_id=MSGID_CONFIG_LOADED,
                                  config_file=cfg), what="reloaded log line")
        n = len(b.requests)
        wait_until(lambda: len(c.requests) > 10, what="gamma polled")
        self.assertLessEqual(len(b.requests), n + 0, "removed target still polled")

    def test_broken_reload_keeps_old_configuration(self):
        fake = self.start_fake()
        cfg = self.write([self.target(fake)])
        d = self.start_daemon(config=cfg)
        self.wait_all_up(d)
        self.write([self.target(fake)], log_level="loud")
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("bogus_key: 1\n")
        self.hup(d)
        m = d.wait_metrics(lambda m: m.get(OK_METRIC) == 0, what="reload rejected")
        self.assertEqual(m.value(OK_METRIC), 0)
        errs = wait_until(lambda: [r for r in d.logs(level="error",
                                                     message_id=MSGID_CONFIG_REJECTED)
                                   if r.get("config_line")], what="rejected lines")
        wait_until(lambda: len([r for r in d.logs(message_id=MSGID_CONFIG_REJECTED)
                                if r.get("config_line")]) >= 2)
        errs = [r for r in d.logs(message_id=MSGID_CONFIG_REJECTED) if r.get("config_line")]
        for r in errs:
            self.assertRegex(r["msg"], r"^%s:\d+:\d+: " % cfg)
            self.assertEqual(r["config_file"], cfg)
        self.assertTrue(any("bogus_key" in r["msg"] for r in errs))
        self.assertTrue(any("loud" in r["msg"] for r in errs))
        # still polling with the old configuration
        n = len(fake.requests)
        wait_until(lambda: len(fake.requests) > n + 4, what="polling goes on")
        self.wait_all_up(d)
        # fixed: accepted again
        self.write([self.target(fake)])
        self.hup(d)
        d.wait_metrics(lambda m: m.get(OK_METRIC) == 1, what="reload accepted")

    def test_missing_secret_file_rejects_reload(self):
        fake = self.start_fake()
        cfg = self.write([self.target(fake)])
        d = self.start_daemon(config=cfg)
        self.wait_all_up(d)
        t = self.target(fake)
        t["kibana"]["api_key_file"] = self.path("no-such-key")
        self.write([t])
        self.hup(d)
        d.wait_metrics(lambda m: m.get(OK_METRIC) == 0)
        self.assertTrue(wait_until(lambda: [r for r in d.logs(message_id=MSGID_CONFIG_REJECTED)
                                            if "no-such-key" in r["msg"]]))
        self.wait_all_up(d)

    def test_rotated_secret(self):
        fake = self.start_fake()
        cfg = self.write([self.target(fake)])
        d = self.start_daemon(config=cfg)
        self.wait_all_up(d)
        # Kibana now wants the new key: the daemon fails until reloaded
        fake.set_auth(api_key=NEW_KEY)
        d.wait_metrics(lambda m: m.get("kibana_connector_monitor_up", target="kib",
                                       api="connectors") == 0, what="401 with the old key")
        tmpname = self.write_secret("api-key-new", NEW_KEY + "\n")
        os.replace(tmpname, self.path("api-key-kib"))
        self.hup(d)
        self.wait_all_up(d)
        last = fake.requests[-1]
        self.assertEqual(last["headers"].get("authorization"), "ApiKey " + NEW_KEY)

    def test_listen_change_is_warned_about(self):
        fake = self.start_fake()
        cfg = self.write([self.target(fake)])
        d = self.start_daemon(config=cfg)
        self.write([self.target(fake)], listen="127.0.0.1:1")
        self.hup(d)
        wait_until(lambda: [r for r in d.logs(level="warning") if "'listen' changed" in r["msg"]],
                   what="listen warning")
        d.wait_metrics(lambda m: m.get(OK_METRIC) == 1)
        d.scrape()      # same listener still answers


if __name__ == "__main__":
    unittest.main()
