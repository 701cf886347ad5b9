"""Journal logging (issue 5), against a test-owned native journal socket at
/run/systemd/journal/socket inside a private mount namespace (`unshare -m`,
root only): fields and MESSAGE_IDs of every event kind the fake Kibana can
trigger, hostile values that cannot forge fields, log_target auto with
JOURNAL_STREAM, and a journald that never reads: /metrics and the watchdog
keep working, drops are counted."""

import os
import signal
import socket
import unittest

from kcmtest import KcmTestCase, load_sample, to_yaml, wait_until, DELETED, WEBHOOK
import sdtest
from sdtest import NotifySink

MSGID = {
    "started": "17df6d36269e41218c30105d9317cb28",
    "stopping": "6a1b24c58b9b4a7ea7f43f4844b7bb94",
    "loaded": "775ec514f65c4baf8e1b091f3c1f5de4",
    "rejected": "4f4078949acf4055b144eb8f70106439",
    "unreachable": "3f493180b22f4627b8d426e45f607a6f",
    "recovered": "e07b6e68ba2640e28af8fee3157b898c",
    "rule_missing": "4d6100a968a84b7f8b27d4051e3d0148",
    "missing_secrets": "e357dc56373b44ce9cc9b8c26cf81771",
}
HOSTILE = "CPU\nMESSAGE_ID=00000000000000000000000000000000\nPRIORITY=0\nFORGED=1 a=b"


def listening_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    return s


class JournalTest(KcmTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        why = sdtest.can_unshare()
        if why:
            raise unittest.SkipTest(why)

    def start(self, mode, targets, log_target="journal", journal_stream=False,
              env=None, extra="", probes=None, binary=None):
        prefix, out, pidfile = sdtest.namespace_wrapper(mode, self.tmp, journal_stream)
        self.addCleanup(self._kill_helper, pidfile)
        sock = listening_socket()
        n = sock.fileno()
        prefix += ["sh", "-c", 'exec 3<&%d %d<&-; export LISTEN_PID=$$ LISTEN_FDS=1; exec "$@"'
                   % (n, n), "sh"]
        cfg = {"log_level": "info", "targets": targets}
        if probes:
            cfg["probes"] = probes
        if log_target is not None:
            cfg["log_target"] = log_target
        path = self.write_file("config.yml", to_yaml(cfg) + extra)
        d = self.start_daemon(config=path, wait=False, prefix=prefix,
                              pass_fds=(n,), env=env, binary=binary)
        d.host, d.port = sock.getsockname()
        sock.close()
        self.out = out
        return d

    def _kill_helper(self, pidfile):
        try:
            with open(pidfile) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def entries(self):
        out = []
        for rec in sdtest.read_entries(self.out):
            self.assertNotIn("error", rec, "undecodable datagram: %r" % rec)
            out.append(rec)
        return out

    def with_id(self, msgid):
        return [e for e in self.entries()
                if ["MESSAGE_ID", msgid] in e["fields"]]

    def test_fields_and_message_ids(self):
        data = load_sample()
        hostile_rules = 0
        for rules in data["rules"].values():
            for r in rules:
                if any(a.get("id") == DELETED for a in r.get("actions", [])):
                    r["name"] = HOSTILE
                    hostile_rules += 1
        self.assertGreater(hostile_rules, 0)
        fake = self.start_fake(data)
        fake.add_fault(r"^/api/spaces/space$", status=503, count=2)
        d = self.start("collect", [self.target(fake)])
        d.wait_metrics(self.all_up(), timeout=15)
        wait_until(lambda: self.with_id(MSGID["recovered"]), what="recovered entry")
        # a rejected reload
        with open(self.path("config.yml"), "a") as f:
            f.write("bogus: 1\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: len(self.with_id(MSGID["rejected"])) >= 2, what="rejected entries")
        self.assertEqual(d.stop(), 0)
        wait_until(lambda: self.with_id(MSGID["stopping"]), what="stopping entry")
        self.assertEqual(d.stderr_bytes(), b"", "journal mode must not write stderr")

        entries = self.entries()
        for e in entries:
            keys = [k for k, _ in e["fields"]]
            fields = dict(e["fields"])
            self.assertEqual(e["pid"], d.pid)
            for k in ("PRIORITY", "MESSAGE", "SYSLOG_IDENTIFIER"):
                self.assertEqual(keys.count(k), 1, "%s in %r" % (k, e))
            self.assertLessEqual(keys.count("MESSAGE_ID"), 1)
            self.assertEqual(fields["SYSLOG_IDENTIFIER"], "kibana-connector-monitor")
            self.assertIn(fields["PRIORITY"], ("3", "4", "6"))
            self.assertNotIn("FORGED", keys)
            for k in keys:
                self.assertRegex(k, r"^[A-Z][A-Z0-9_]*$")
            if "MESSAGE_ID" in fields:
                self.assertIn(fields["MESSAGE_ID"], MSGID.values())
        for kind, msgid in MSGID.items():
            self.assertTrue(self.with_id(msgid), "no %s entry" % kind)

        def f(kind):
            return dict(self.with_id(MSGID[kind])[0]["fields"])
        u = f("unreachable")
        self.assertEqual((u["TARGET"], u["URL_PATH"], u["RESULT"], u["HTTP_STATUS"]),
                         ("kib", "/api/spaces/space", "http_5xx", "503"))
        self.assertEqual(u["PRIORITY"], "4")
        self.assertIn("ERROR_MESSAGE", u)
        r = f("recovered")
        self.assertEqual((r["TARGET"], r["URL_PATH"], r["PRIORITY"]),
                         ("kib", "/api/spaces/space", "6"))
        rm = f("rule_missing")
        self.assertEqual(rm["RULE_NAME"], HOSTILE, "hostile value must arrive verbatim")
        self.assertEqual(rm["CONNECTOR_ID"], DELETED)
        self.assertIn(HOSTILE, rm["MESSAGE"])
        self.assertIn("SPACE", rm)
        self.assertIn("RULE_ID", rm)
        ms = f("missing_secrets")
        self.assertEqual(set(ms) & {"TARGET", "SPACE", "CONNECTOR_ID"},
                         {"TARGET", "SPACE", "CONNECTOR_ID"})
        rej = [dict(e["fields"]) for e in self.with_id(MSGID["rejected"])]
        self.assertTrue(any(x.get("CONFIG_LINE") and x.get("CONFIG_COLUMN")
                            and "bogus" in x["MESSAGE"] for x in rej))
        self.assertEqual([x["PRIORITY"] for x in rej], ["3"] * len(rej))

    def test_probe_and_event_log_kinds(self):
        """Probe state change (CONNECTOR_NAME from Kibana, hostile) and event
        log not visible (Elasticsearch URL answering 404)."""
        data = load_sample()
        for c in data["connectors"]["default"]:
            if c["id"] == WEBHOOK:
                c["name"] = HOSTILE
        fake = self.start_fake(data)
        fake.set_execute_result("default", WEBHOOK, outcome="webhook_ok")
        t = self.target(fake)
        t["elasticsearch"] = {"url": fake.url + "/no-elasticsearch-here",
                              "api_key_file": self.path("api-key-kib")}
        t["event_log"] = {"interval": "1s"}
        probe_id = "0146b62465c8449cbe696cc3af219989"
        not_visible = "9732a0ff28cd4fda825c92dc8f5b6077"
        # the test build allows a 2 s interval: the first run comes within 2 s
        d = self.start("collect", [t], binary=self.short_interval_binary(),
                       probes=[{"target": "kib", "connector_id": WEBHOOK,
                                "space": "default", "interval": "2s",
                                "params": {"body": "{}"}}])
        wait_until(lambda: [e for e in self.with_id(probe_id)
                            if dict(e["fields"]).get("CONNECTOR_NAME")], 20,
                   what="probe entry with CONNECTOR_NAME")
        wait_until(lambda: self.with_id(not_visible), 20, what="event log not visible entry")
        self.assertEqual(d.stop(), 0)
        for e in self.with_id(probe_id):
            keys = [k for k, _ in e["fields"]]
            fields = dict(e["fields"])
            self.assertNotIn("FORGED", keys)
            self.assertEqual(keys.count("MESSAGE_ID"), 1)
            self.assertEqual(keys.count("PRIORITY"), 1)
            if "CONNECTOR_NAME" in fields:
                self.assertEqual(fields["CONNECTOR_NAME"], HOSTILE)
                self.assertEqual(fields["CONNECTOR_ID"], WEBHOOK)
                self.assertEqual(fields["TARGET"], "kib")
        nv = dict(self.with_id(not_visible)[0]["fields"])
        self.assertEqual(nv["TARGET"], "kib")
        self.assertEqual(nv["PRIORITY"], "4")

    def test_connector_failing_entry(self):
        """Connector started failing (event log) as a journal entry; the
        connector name (hostile) comes from Kibana's inventory and the event."""
        from fake_es import FakeES
        from kcmtest import API_KEY
        from test_eventlog import event, now_ms
        failing = "67aa7ea279764ec18db38999167ad596"
        data = load_sample()
        for c in data["connectors"]["default"]:
            if c["id"] == WEBHOOK:
                c["name"] = HOSTILE
        fake = self.start_fake(data)
        es = FakeES(api_key=API_KEY).start()
        self._fakes.append(es)
        t0 = now_ms() - 60000
        es.add_docs(".kibana-event-log-8.17.0-000001", [
            event(t0, WEBHOOK, ".webhook", "8.17", outcome="failure", name=HOSTILE,
                  error="webhook said no\nFORGED=1")])
        t = self.target(fake)
        t["elasticsearch"] = {"url": es.url, "api_key_file": self.path("api-key-kib")}
        t["event_log"] = {"interval": "1s", "settle_delay": "0s", "lookback": "15m"}
        d = self.start("collect", [t])
        wait_until(lambda: self.with_id(failing), 20, what="connector failing entry")
        self.assertEqual(d.stop(), 0)
        e = self.with_id(failing)[0]
        keys = [k for k, _ in e["fields"]]
        fields = dict(e["fields"])
        self.assertNotIn("FORGED", keys)
        self.assertEqual(keys.count("MESSAGE_ID"), 1)
        self.assertEqual(fields["TARGET"], "kib")
        self.assertEqual(fields["CONNECTOR_ID"], WEBHOOK)
        self.assertEqual(fields["PRIORITY"], "4")
        # a connector name with newlines and '=' arrives verbatim, forging nothing
        self.assertEqual(fields["CONNECTOR_NAME"], HOSTILE)
        self.assertEqual(fields["CONNECTOR_TYPE_ID"], ".webhook")
        self.assertEqual(fields["ERROR_MESSAGE"], "webhook said no\nFORGED=1")

    def test_auto_follows_journal_stream(self):
        fake = self.start_fake()
        d = self.start("collect", [self.target(fake)], log_target=None, journal_stream=True)
        wait_until(lambda: self.with_id(MSGID["started"]), what="started entry in the journal")
        d.wait_metrics(self.all_up())
        self.assertEqual(d.stderr_bytes(), b"")

    def test_auto_without_journal_stream_uses_stderr(self):
        fake = self.start_fake()
        d = self.start("collect", [self.target(fake)], log_target="auto")
        wait_until(lambda: d.logs(message_id=MSGID["started"]), what="started on stderr")
        self.assertEqual(self.entries(), [])

    def test_stuck_journald_never_stalls_the_loop(self):
        fake = self.start_fake()
        sink = NotifySink(os.path.join(self.tmp, "notify.sock"))
        self.addCleanup(sink.close)
        # 300 errors per rejected reload: a few reloads overflow the queue
        bad = "".join("bogus_%d: 1\n" % i for i in range(300))
        d = self.start("stuck", [self.target(fake)],
                       env={"NOTIFY_SOCKET": sink.path, "WATCHDOG_USEC": "400000"},
                       extra="")
        d.wait_metrics(self.all_up(), timeout=15)
        with open(self.path("config.yml"), "a") as f:
            f.write(bad)
        # A loop blocked on the journal socket would never get there: the
        # generous bounds only absorb a loaded machine's slowness.
        for _ in range(5):
            n = len([1 for _, _, kv in sink.assignments() if kv.get("READY") == "1"])
            d.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: len([1 for _, _, kv in sink.assignments()
                                    if kv.get("READY") == "1"]) > n, 20,
                       what="READY after reload")
        m = d.wait_metrics(lambda m: (m.get("kibana_connector_monitor_log_dropped_total")
                                      or 0) > 0, what="drops counted")
        self.assertGreater(m.value("kibana_connector_monitor_log_dropped_total"), 0)
        # the loop and the watchdog keep going
        w0 = len([1 for _, _, kv in sink.assignments() if kv.get("WATCHDOG") == "1"])
        wait_until(lambda: len([1 for _, _, kv in sink.assignments()
                                if kv.get("WATCHDOG") == "1"]) >= w0 + 4, 20,
                   what="watchdog pings while journald is stuck")
        n = len(fake.requests)
        wait_until(lambda: len(fake.requests) > n + 4, what="polling goes on")
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(20), 0)


if __name__ == "__main__":
    unittest.main()
