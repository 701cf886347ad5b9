"""The real daemon under valgrind's memcheck: every feature exercised once
(inventory, event log, probes, scrapes, a reload, SIGTERM), no invalid
access, no use of uninitialised memory, no definite or indirect leak.

Skipped for sanitizer builds (valgrind cannot run ASan binaries); the
sanitizer run covers those."""

import os
import re
import shutil
import signal
import subprocess
import time
import unittest

from kcmtest import (BINARY, DEFAULT_WAIT, KcmTestCase, check_exposition,
                     to_yaml, wait_until)
from fake_es import FakeES

VALGRIND = shutil.which("valgrind")
MSGID_RELOADED = "775ec514f65c4baf8e1b091f3c1f5de4"


def asan_build():
    try:
        out = subprocess.run(["ldd", BINARY], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"libasan" in out or b"libubsan" in out


def failure_doc(ms, cid="0b3f2c5e-8a57-4c7e-9a1d-2f6b0d7e9c11", outcome="failure"):
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + \
        ".%03dZ" % (ms % 1000)
    doc = {"@timestamp": iso,
           "event": {"provider": "actions", "action": "execute", "kind": "action",
                     "outcome": outcome},
           "kibana": {"saved_objects": [{"rel": "primary", "type": "action", "id": cid,
                                         "type_id": ".webhook"}],
                      "space_ids": ["default"], "version": "8.17.2",
                      "action": {"name": "Ops webhook", "id": cid,
                                 "execution": {"uuid": "u-%d" % ms}}},
           "message": "action execution failure: .webhook:%s: Ops webhook" % cid}
    if outcome == "failure":
        doc["error"] = {"message": "error calling webhook, retry later: [500] "
                                   "Internal Server Error; retry: true"}
    return doc


@unittest.skipIf(VALGRIND is None, "valgrind is not installed")
@unittest.skipIf(asan_build(), "sanitizer build: valgrind cannot run it")
class ValgrindTest(KcmTestCase):
    # valgrind is slow, more so on a loaded machine: the waits below allow
    # up to 120 s (--once) and 60 s per step; the default 60 s per test
    # would cut them short
    time_limit = 240

    def vg_args(self, log):
        return [VALGRIND, "--quiet", "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
                "--show-leak-kinds=definite,indirect", "--num-callers=30",
                "--error-exitcode=99", "--track-origins=yes",
                "--log-file=" + log]

    def assert_clean(self, log):
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        # --quiet: valgrind writes only errors (and leak records) to the log.
        self.assertNotRegex(text, r"==\d+== (Invalid|Conditional|Use of uninit|"
                                  r"Syscall param|Mismatched|Source and dest)",
                            text[:4000])
        self.assertNotRegex(text, r"(definitely|indirectly) lost: [1-9]", text[:4000])

    def config(self, fake, es, probes=True):
        t = self.target(fake, interval="1s")
        t["elasticsearch"] = {"url": es.url, "api_key_file": self.path("api-key-kib")}
        t["event_log"] = {"interval": "1s", "settle_delay": "1s", "lookback": "15m"}
        cfg = {"listen": "127.0.0.1:0", "log_level": "debug", "targets": [t]}
        if probes:
            cfg["probes"] = [{"connector_id": "my-server-log", "interval": "1m",
                              "params": {"message": "synthetic check"}}]
        return cfg

    def start_es(self):
        es = FakeES(api_key=None).start()
        self._fakes.append(es)
        now = int(time.time() * 1000)
        es.add_docs(".ds-.kibana-event-log-ds-2026.11.01-000001",
                    [failure_doc(now - 60_000 * i) for i in range(1, 4)] +
                    [failure_doc(now - 90_000, outcome="success")])
        return es

    def test_once(self):
        fake = self.start_fake()
        es = self.start_es()
        cfg = self.write_file("config.yml", to_yaml(self.config(fake, es)))
        log = self.path("valgrind.log")
        p = subprocess.run(self.vg_args(log) + [BINARY, "--config", cfg, "--once"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120, cwd=self.tmp)
        self.assertIn(p.returncode, (0, 1), p.stderr.decode()[-3000:])
        self.assert_clean(log)
        m = check_exposition(p.stdout)
        self.assertEqual(m.value("kibana_connector_executions_total", target="kib",
                                 space="default",
                                 connector_id="0b3f2c5e-8a57-4c7e-9a1d-2f6b0d7e9c11",
                                 connector_type_id=".webhook", outcome="failure"), 3)
        # my-server-log is preconfigured: its probe series say space="*"
        self.assertEqual(m.value("kibana_connector_probe_success", target="kib",
                                 space="*", connector_id="my-server-log"), 1)

    def test_serve_reload_stop(self):
        fake = self.start_fake()
        es = self.start_es()
        cfg = self.write_file("config.yml", to_yaml(self.config(fake, es)))
        log = self.path("valgrind.log")
        d = self.start_daemon(config=cfg, prefix=self.vg_args(log), wait=False)
        d.wait_listen(timeout=60)
        d.wait_metrics(lambda m: m.get("kibana_connector_monitor_up", target="kib",
                                       api="event_log") == 1 and
                       m.get("kibana_connector_monitor_up", target="kib",
                             api="rules") == 1, timeout=60)
        # Reload onto a configuration without probes or event log.
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(to_yaml(self.config(fake, es, probes=False)))
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: any(r.get("message_id") == MSGID_RELOADED
                               for r in d.log_records()[1:]),
                   timeout=60, what="the reload")
        d.scrape()
        self.assertEqual(d.stop(timeout=60), 0)
        self.assert_clean(log)


if __name__ == "__main__":
    unittest.main()
