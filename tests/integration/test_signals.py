"""Signals and reloads as the check engine is meant to handle them (issue 8).

A reload of an unchanged configuration is free: no extra request, no
repeated warning, the daemon's state (STATUS=) survives.  A burst of SIGHUPs
coalesces into a few reloads.  Removed checks stop and their series vanish,
a changed target starts afresh, an unchanged one keeps its schedule.
SIGHUP/SIGTERM at awkward moments (start-up, shutdown) never kill the
daemon by the signal's default action.  A FIFO where a file is expected
never blocks --check-config nor a reload.

Absences ("no extra request", "no log line") are observed over a window
closed by a positive event: a sentinel target on its own fake, polled every
second by the same daemon, has completed full cycles after the reload.
"""

import os
import signal
import subprocess
import time
import unittest

from kcmtest import BINARY, KcmTestCase, load_sample, wait_until
from sdtest import NotifySink

MSGID_LOADED = "775ec514f65c4baf8e1b091f3c1f5de4"
MSGID_REJECTED = "4f4078949acf4055b144eb8f70106439"
MSGID_STARTED = "17df6d36269e41218c30105d9317cb28"
MSGID_RULE_MISSING = "4d6100a968a84b7f8b27d4051e3d0148"
MSGID_MISSING_SECRETS = "e357dc56373b44ce9cc9b8c26cf81771"
OK_METRIC = "kibana_connector_monitor_config_last_reload_successful"
TS_METRIC = "kibana_connector_monitor_config_last_reload_success_timestamp_seconds"
NO_POLL = "no successful poll yet"
BURST = 100


def quiet_data():
    """Sample data without anything to warn about (for the sentinel)."""
    data = load_sample()
    data["spaces"] = data["spaces"][:1]
    data["rules"] = {}
    data["connectors"] = {"default": [dict(c, is_missing_secrets=False)
                                      for c in data["connectors"]["default"]]}
    return data


def types_count(fake):
    return sum(1 for r in fake.requests if r["path"] == "/api/actions/connector_types")


def is_reload_line(r):
    """The records a reload itself writes (and nothing else): the
    configuration-loaded entry, and info lines about the SIGHUP/reload."""
    if r.get("message_id") == MSGID_LOADED:
        return True
    msg = r.get("msg", "")
    return r.get("level") == "info" and ("SIGHUP" in msg or "reload" in msg)


def burst(d, n=BURST, sig=signal.SIGHUP, spread=1.0):
    """n signals spread over about `spread` seconds.  The pauses shape the
    burst, they wait for nothing: signals sent back to back merge in the
    kernel while pending, which would hide a daemon that reloads once per
    signal it sees."""
    for _ in range(n):
        if d.proc.poll() is not None:
            break
        d.proc.send_signal(sig)
        time.sleep(spread / n)


class SignalsTest(KcmTestCase):
    time_limit = 120

    # -- helpers -------------------------------------------------------------

    def sentinel_cycles(self, sentinel, n, what):
        """Waits until the sentinel fake saw n more complete poll cycles
        (connector_types is asked once per cycle)."""
        n0 = types_count(sentinel)
        wait_until(lambda: types_count(sentinel) >= n0 + n, 30,
                   what="%d more sentinel cycles (%s)" % (n, what))

    def reloads_settled(self, d):
        """At least one reload is done, and every "received SIGHUP" line
        (if the daemon writes them) has its reloaded/rejected line."""
        recs = [r for r in d.log_records() if r]
        got = sum(1 for r in recs if r.get("msg", "").startswith("received SIGHUP"))
        done = sum(1 for r in recs if r.get("message_id") in (MSGID_LOADED, MSGID_REJECTED)
                   and "reload" in r.get("msg", ""))
        return done >= max(got, 1)

    def wait_reloaded(self, d, ts0, what="the reload"):
        m = d.wait_metrics(lambda m: (m.get(TS_METRIC) or 0) > ts0, timeout=30,
                           what="%s: reload timestamp past %r" % (what, ts0))
        self.assertEqual(m.value(OK_METRIC), 1)
        wait_until(lambda: self.reloads_settled(d), 30, what="every SIGHUP answered")
        return m

    # -- a. unchanged configuration, a burst of SIGHUPs ------------------------

    def test_reload_of_unchanged_config_is_free(self):
        fake = self.start_fake()            # the sample: one rule uses a deleted
        sentinel = self.start_fake(quiet_data())    # connector, one lacks secrets
        sink = NotifySink(os.path.join(self.tmp, "notify.sock"))
        self.addCleanup(sink.close)
        d = self.start_daemon([self.target(fake, interval="1h"),
                               self.target(sentinel, name="sentinel", interval="1s",
                                           spaces=["default"])],
                              env={"NOTIFY_SOCKET": sink.path})
        m = self.wait_all_up(d)
        wait_until(lambda: d.logs(message_id=MSGID_RULE_MISSING) and
                   d.logs(message_id=MSGID_MISSING_SECRETS),
                   what="the known problems warned about at start")
        wait_until(lambda: [kv for _, _, kv in sink.assignments()
                            if "last successful poll" in kv.get("STATUS", "")],
                   what="STATUS after a successful cycle")
        # the first cycle of "kib" is complete (up for every API): with a
        # 1 h interval any later request to its fake is extra
        n_kib = len(fake.requests)
        ts0 = m.value(TS_METRIC)
        n_logs = len(d.log_lines())
        n_notify = len(sink.snapshot())

        burst(d)
        self.wait_reloaded(d, ts0, "100 SIGHUPs")
        # READY=1 after the reload(s), with a STATUS that remembers the polls
        wait_until(lambda: [kv for _, _, kv in sink.assignments()[n_notify:]
                            if kv.get("READY") == "1"], what="READY=1 after the reload")
        # a window in which a restarted "kib" would have polled
        self.sentinel_cycles(sentinel, 2, "after the reload")
        self.assertTrue(self.reloads_settled(d))

        extra = fake.requests[n_kib:]
        self.assertEqual([r["path"] for r in extra], [],
                         "requests to an unchanged target after reloads of an unchanged "
                         "configuration (inventory_interval 1h)")
        after = [r for r in d.log_records()[n_logs:] if r]
        others = [r for r in after if not is_reload_line(r)]
        self.assertEqual(others, [], "log lines after the reloads other than the reload's own")
        self.assertEqual(len(d.logs(message_id=MSGID_RULE_MISSING)), 1)
        self.assertEqual(len(d.logs(message_id=MSGID_MISSING_SECRETS)), 1)
        statuses = [kv.get("STATUS") for _, _, kv in sink.assignments()[n_notify:]
                    if "STATUS" in kv]
        self.assertTrue(statuses)
        self.assertFalse([s for s in statuses if NO_POLL in s],
                         "STATUS= after the reload forgot the polls: %r" % statuses)
        d.scrape()

    # -- b. a burst coalesces ----------------------------------------------------

    def test_sighup_burst_coalesces(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake, interval="1s")])
        m = self.wait_all_up(d)
        ts0 = m.value(TS_METRIC)
        burst(d)
        self.wait_reloaded(d, ts0, "100 SIGHUPs")
        # let any queued reload run: a full poll cycle after the last one seen
        n = len([r for r in d.logs(message_id=MSGID_LOADED) if "reloaded" in r["msg"]])
        c0 = types_count(fake)
        wait_until(lambda: types_count(fake) >= c0 + 2, 30, what="2 more poll cycles")
        wait_until(lambda: self.reloads_settled(d), 30, what="every SIGHUP answered")
        reloads = [r for r in d.logs(message_id=MSGID_LOADED) if "reloaded" in r["msg"]]
        self.assertGreaterEqual(len(reloads), 1)
        self.assertLessEqual(len(reloads), 10,
                             "%d SIGHUPs gave %d reloads (seen %d before the last cycles)"
                             % (BURST, len(reloads), n))
        self.assertIsNone(d.proc.poll(), "daemon died")
        self.wait_all_up(d)
        st, _, _ = d.request("GET", "/healthz")
        self.assertEqual(st, 200)

    # -- c. removed, changed and unchanged targets -----------------------------

    def test_reload_stops_removed_restarts_changed_keeps_unchanged(self):
        keep = self.start_fake()
        change = self.start_fake()
        gone = self.start_fake()
        sentinel = self.start_fake(quiet_data())
        sent = self.target(sentinel, name="sentinel", interval="1s", spaces=["default"])
        t_keep = self.target(keep, name="keep", interval="1h")
        t_change = self.target(change, name="change", interval="1h")
        t_gone = self.target(gone, name="gone", interval="1s")
        cfg = self.write_config([t_keep, t_change, t_gone, sent])
        d = self.start_daemon(config=cfg)
        for name in ("keep", "change", "gone"):
            m = self.wait_all_up(d, target=name)
        ts0 = m.value(TS_METRIC)
        self.assertTrue(m.series("kibana_connector_info", target="gone"))
        n_keep = len(keep.requests)
        n_change = len(change.requests)

        # "change" now watches two spaces instead of discovering them
        t_change2 = self.target(change, name="change", interval="1h",
                                spaces=["default", "ops"])
        self.write_config([t_keep, t_change2, sent])
        d.proc.send_signal(signal.SIGHUP)
        m = self.wait_reloaded(d, ts0)

        # the changed target starts afresh with its new configuration
        wait_until(lambda: len(change.requests) > n_change, 30,
                   what="requests of the changed target")
        d.wait_metrics(lambda m: all(m.get("kibana_connector_monitor_up", target="change",
                                           api=a) == 1
                                     for a in ("connectors", "connector_types", "rules")),
                       timeout=30, what="the changed target's new cycle")
        new_paths = {r["path"] for r in change.requests[n_change:]}
        self.assertNotIn("/api/spaces/space", new_paths, "the old configuration polled")
        self.assertIn("/s/ops/api/actions/connectors", new_paths)
        self.assertNotIn("/s/security-team/api/actions/connectors", new_paths)

        # the removed target's series vanish and its polling stops
        m = d.wait_metrics(lambda m: not [l for l in m.lines if l[1].get("target") == "gone"],
                           what="series of the removed target gone")
        self.sentinel_cycles(sentinel, 1, "after the reload")
        n_gone = len(gone.requests)
        self.sentinel_cycles(sentinel, 2, "with the removed target gone")
        self.assertEqual(len(gone.requests), n_gone, "the removed target is still polled")

        # the unchanged target kept its schedule (1 h): nothing new
        self.assertEqual([r["path"] for r in keep.requests[n_keep:]], [],
                         "the unchanged target was polled again on reload")

    # -- d. SIGTERM, then more signals while stopping ---------------------------

    def test_signals_while_stopping_never_kill(self):
        fake = self.start_fake()
        cfg = self.write_config([self.target(fake, interval="1s")])
        for i in range(20):
            with self.subTest(round=i):
                d = self.start_daemon(config=cfg)
                wait_until(lambda: d.logs(message_id=MSGID_STARTED), what="started")
                d.proc.send_signal(signal.SIGTERM)
                # SIGHUP and SIGTERM without pause until it has exited (or
                # at most 20000 of them): some arrive during every stage of
                # the shutdown, including after the loop has ended
                for _ in range(10000):
                    if d.proc.poll() is not None:
                        break
                    d.proc.send_signal(signal.SIGHUP)
                    d.proc.send_signal(signal.SIGTERM)
                try:
                    rc = d.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.fail("daemon did not exit within 30 s of SIGTERM")
                self.assertEqual(rc, 0, "exit status %s (negative: killed by signal %s)"
                                 % (rc, -rc if rc < 0 else None))

    # -- e. SIGHUP during start-up ------------------------------------------------

    def test_sighup_during_startup_never_kills(self):
        fake = self.start_fake()
        cfg = self.write_config([self.target(fake, interval="1s")])
        for i in range(10):
            with self.subTest(round=i):
                d = self.start_daemon(config=cfg, wait=False)
                d.proc.send_signal(signal.SIGHUP)     # before it can be READY
                d.wait_listen(timeout=30)
                wait_until(lambda: d.logs(message_id=MSGID_STARTED), 30, what="started")
                self.assertIsNone(d.proc.poll(), "daemon died")
                d.wait_metrics(lambda m: m.get(OK_METRIC) == 1, timeout=30)
                self.assertEqual(d.stop(timeout=30), 0)

    # -- f. FIFOs where files are expected ---------------------------------------

    def fifo(self, name):
        p = self.path(name)
        os.mkfifo(p, 0o600)

        def unblock():
            # a reader blocked in open() gets EOF: nothing stays stuck
            try:
                fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                return
            os.close(fd)
        self.addCleanup(unblock)
        return p

    def test_fifo_paths_fail_check_config_promptly(self):
        fake = self.start_fake()
        cases = {}
        cases["config"] = self.fifo("config-fifo.yml")
        t = self.target(fake, name="s")
        t["kibana"]["api_key_file"] = self.fifo("api-key-fifo")
        cases["secret"] = (self.write_config([t], name="secret.yml"), t["kibana"]["api_key_file"])
        t = self.target(fake, name="c", ca_file=self.fifo("ca-fifo.pem"))
        cases["ca_file"] = (self.write_config([t], name="ca.yml"), t["kibana"]["ca_file"])
        procs = {}
        for kind, v in cases.items():
            cfg, fifo = (v, v) if isinstance(v, str) else v
            procs[kind] = (fifo, subprocess.Popen(
                [BINARY, "--check-config", "--config", cfg], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp))
        # all three at once, one generous deadline: a correct daemon needs
        # well under a second, a blocked one never returns
        deadline = time.monotonic() + 60
        results = {}
        for kind, (fifo, p) in procs.items():
            try:
                out, err = p.communicate(timeout=max(1, deadline - time.monotonic()))
                results[kind] = (p.returncode, (out + err).decode("utf-8", "replace"))
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                results[kind] = None
        for kind, (fifo, _) in procs.items():
            with self.subTest(fifo=kind):
                self.assertIsNotNone(results[kind],
                                     "--check-config with a FIFO as %s did not return "
                                     "within 60 s" % kind)
                rc, text = results[kind]
                self.assertIn(rc, (1, 2), "exit status %s: %s" % (rc, text[-1000:]))
                self.assertIn(fifo, text, "the error does not name the FIFO")
        self.assertEqual(fake.requests, [], "--check-config sent a request")

    def test_reload_naming_a_fifo_secret_is_rejected(self):
        fake = self.start_fake()
        cfg = self.write_config([self.target(fake, interval="1s")])
        d = self.start_daemon(config=cfg)
        m = self.wait_all_up(d)
        t = self.target(fake, interval="1s")
        fifo = self.fifo("api-key-fifo")
        t["kibana"]["api_key_file"] = fifo
        self.write_config([t])
        d.proc.send_signal(signal.SIGHUP)
        # a loop blocked in open() of the FIFO would answer nothing
        st, _, body = d.request("GET", "/healthz", timeout=30)
        self.assertEqual(st, 200, body)
        wait_until(lambda: [r for r in d.logs(message_id=MSGID_REJECTED)
                            if fifo in r.get("msg", "")], 30,
                   what="the reload rejected, naming the FIFO")
        m = d.wait_metrics(lambda m: m.get(OK_METRIC) == 0, timeout=30)
        # the old configuration goes on
        n = len(fake.requests)
        wait_until(lambda: len(fake.requests) > n + 4, 30, what="polling goes on")
        self.wait_all_up(d)


if __name__ == "__main__":
    unittest.main()
