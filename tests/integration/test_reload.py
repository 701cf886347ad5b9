"""SIGHUP reload (issue 5): a good configuration swaps targets (series of
removed targets vanish), a broken one keeps the old one running and logs
every FILE:LINE:COLUMN error with the rejected message id, a rotated secret
is picked up, a changed `listen` is only warned about."""

import os
import signal
import socket
import unittest

from kcmtest import KcmTestCase, to_yaml, wait_until

MSGID_CONFIG_LOADED = "775ec514f65c4baf8e1b091f3c1f5de4"
MSGID_CONFIG_REJECTED = "4f4078949acf4055b144eb8f70106439"
OK_METRIC = "kibana_connector_monitor_config_last_reload_successful"
TS_METRIC = "kibana_connector_monitor_config_last_reload_success_timestamp_seconds"
NEW_KEY = "bmV3LWtleS1hZnRlci1yb3RhdGlvbjo5ZDNmYjE3Yw=="


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


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
        # the reload's timestamp (realtime, sub-second) must move past the
        # start-up load's
        m = d.wait_metrics(lambda m: targets_of(m) == {"alpha", "gamma"} and
                           m.get(TS_METRIC) is not None and m.get(TS_METRIC) > ts0,
                           what="beta gone, gamma polled, reload timestamp moved")
        self.assertEqual(m.value(OK_METRIC), 1)
        self.assertGreater(m.value(TS_METRIC), ts0)
        self.assertFalse([l for l in m.lines if l[1].get("target") == "beta"],
                         "series of the removed target must vanish")
        wait_until(lambda: d.logs(message_id=MSGID_CONFIG_LOADED,
                                  config_file=cfg), what="reloaded log line")
        # A request to beta sent just before the reload may reach the fake
        # (and be recorded) a little later on a loaded machine: count beta's
        # requests only once gamma has been polled for a while, then see
        # that none follows while gamma gets more than a full cycle more.
        wait_until(lambda: len(c.requests) >= 10, what="gamma polled")
        n = len(b.requests)
        nc = len(c.requests)
        wait_until(lambda: len(c.requests) >= nc + 10, what="gamma polled again")
        self.assertEqual(len(b.requests), n, "removed target still polled")

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
        ts0 = d.scrape().value(TS_METRIC)
        # a port the daemon COULD bind (free a moment ago), so not binding it
        # is the daemon's choice
        new_port = free_port()
        self.write([self.target(fake)], listen="127.0.0.1:%d" % new_port)
        self.hup(d)
        wait_until(lambda: [r for r in d.logs(level="warning") if "'listen' changed" in r["msg"]],
                   what="listen warning")
        m = d.wait_metrics(lambda m: m.get(TS_METRIC) > ts0, what="the reload accepted")
        self.assertEqual(m.value(OK_METRIC), 1)
        d.scrape()      # the old listener still answers
        s = socket.socket()
        try:
            rc = s.connect_ex(("127.0.0.1", new_port))
        finally:
            s.close()
        self.assertNotEqual(rc, 0, "something listens on the new port %d after the reload"
                            % new_port)


if __name__ == "__main__":
    unittest.main()
