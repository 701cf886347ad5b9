"""The operator's status page (issue 10): GET / (HTML, rendered by a real
headless Chromium), GET /status.json, --once --format=text.

The daemon runs against the fake Kibana and the fake Elasticsearch; two
connectors whose names are markup (`<img src=x onerror=alert(1)>`, and one
with a quote and `</script>`) fail in the event log with error texts that
are markup too.  They must show up as text, first, with their error text
and the rules that use them, and never become elements.

Chromium (Debian package `chromium`) is required: without it this test
FAILS (CI installs it, tests/run.sh)."""

import base64
import copy
import hashlib
import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

from kcmtest import (API_KEY, BINARY, DELETED, SERVERLOG, WEBHOOK, KcmTestCase,
                     load_sample, to_yaml, wait_until)
from test_eventlog import IDX_817, event, now_ms
from fake_es import FakeES

T = "kib"
IMG_ID = "c0ffee00-0000-4000-8000-00000000i1mg"
IMG_NAME = "<img src=x onerror=alert(1)>"
SCRIPT_ID = "c0ffee00-0000-4000-8000-0000000scr1"
SCRIPT_NAME = 'say "hi" </script><script>alert(2)</script>'
TERM_ID = "c0ffee00-0000-4000-8000-00000000term"
TERM_NAME = "red \x1b[31mALERT\x1b[0m\nforged line \u009b2J"
IMG_ERROR = 'error calling webhook: <b onmouseover="alert(3)">500</b> & "retry"'
SCRIPT_ERROR = "</td></tr></table><script>alert(4)</script> failed"
RULE_NAME = "rule <script>alert(5)</script> 'quoted'"
NRULES = 25         # more than the page lists per connector (20)
CHROMIUM_TIMEOUT = 120

ARTIFACTS = os.path.join(os.path.dirname(BINARY), "artifacts")


def chromium():
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None)


def hostile_data():
    """The sample inventory plus three failing connectors with hostile
    names and NRULES rules (one hostile name) that use the first one."""
    data = load_sample()
    proto = data["connectors"]["default"][0]       # a webhook
    for cid, name in ((IMG_ID, IMG_NAME), (SCRIPT_ID, SCRIPT_NAME), (TERM_ID, TERM_NAME)):
        data["connectors"]["default"].append(
            dict(copy.deepcopy(proto), id=cid, name=name, referenced_by_count=NRULES))
    rproto = data["rules"]["default"][0]
    for i in range(NRULES):
        r = copy.deepcopy(rproto)
        r["id"] = "c0ffee00-1111-4000-8000-%012d" % i
        r["name"] = RULE_NAME if i == 0 else "rule %02d" % i
        act = copy.deepcopy(r["actions"][0])
        act["id"] = IMG_ID
        r["actions"] = [act, dict(copy.deepcopy(act), id=SCRIPT_ID)] if i == 0 else [act]
        data["rules"]["default"].append(r)
    return data


def failure_docs(t0):
    """Event-log documents (Kibana 8.17 shape, test_eventlog.event):
    failures of the three hostile connectors and a success of another."""
    m = lambda s: t0 - s * 1000     # noqa: E731
    return [
        event(m(120), IMG_ID, ".webhook", "8.17", outcome="failure", name=IMG_NAME,
              error="older error"),
        event(m(60), IMG_ID, ".webhook", "8.17", outcome="failure", name=IMG_NAME,
              error=IMG_ERROR),
        event(m(90), SCRIPT_ID, ".webhook", "8.17", outcome="failure", name=SCRIPT_NAME,
              error=SCRIPT_ERROR),
        event(m(95), SCRIPT_ID, ".webhook", "8.17", action="execute-timeout",
              name=SCRIPT_NAME),
        event(m(70), TERM_ID, ".webhook", "8.17", outcome="failure", name=TERM_NAME,
              error="term error\x1b]0;owned\x07"),
        event(m(100), WEBHOOK, ".webhook", "8.17", outcome="success", name="Ops webhook"),
    ]


class DomScan(html.parser.HTMLParser):
    """Elements and text of a serialized DOM."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []          # (tag, {attr: value})
        self.text = []
        self.cells = []         # text of each <td>, whole
        self._td = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "td":
            self._td = []
        elif tag == "br" and self._td is not None:
            self._td.append("\n")

    def handle_endtag(self, tag):
        if tag == "td" and self._td is not None:
            self.cells.append("".join(self._td))
            self._td = None

    def handle_data(self, data):
        self.text.append(data)
        if self._td is not None:
            self._td.append(data)


def parse_csp(value):
    out = {}
    for part in value.split(";"):
        part = part.strip()
        if not part:
            continue
        name, *vals = part.split()
        out[name.lower()] = vals
    return out


class StatusPageCase(KcmTestCase):
    time_limit = 400

    def start_es(self):
        es = FakeES(api_key=API_KEY).start()
        self._fakes.append(es)
        return es

    def el_target(self, kib, es, interval="1s"):
        t = self.target(kib, interval=interval)
        t["elasticsearch"] = {"url": es.url, "api_key_file": self.path("api-key-kib"),
                              "timeout": "20s"}
        t["event_log"] = {"interval": interval, "lookback": "15m", "settle_delay": "1s"}
        return t

    def status_json(self, d):
        status, hdrs, body = d.request("GET", "/status.json")
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(hdrs.get("content-type"), "application/json")
        self.assertEqual(hdrs.get("x-content-type-options"), "nosniff")
        return json.loads(body.decode("utf-8"))

    def target_of(self, doc):
        (t,) = [t for t in doc["targets"] if t["name"] == T]
        return t

    def failing(self, d):
        """The failing connectors once all three have their error text."""
        t = self.target_of(self.status_json(d))
        f = {c["id"]: c for c in t["failing_connectors"]}
        if {IMG_ID, SCRIPT_ID, TERM_ID} <= set(f) and all(
                (f[i]["last_failure"] or {}).get("error") for i in (IMG_ID, SCRIPT_ID, TERM_ID)):
            return t
        return None

    def run_chromium(self, *args):
        exe = chromium()
        if exe is None:
            self.fail("chromium not installed (Debian package chromium): the status "
                      "page must be checked in a real browser")
        profile = tempfile.mkdtemp(prefix="kcm-chromium-", dir=self.tmp)
        argv = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                "--user-data-dir=%s" % profile] + list(args)
        # its own process group: a hung browser goes with all its children
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=self.tmp, start_new_session=True)
        try:
            out, err = p.communicate(timeout=CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            self.fail("chromium did not finish within %d s" % CHROMIUM_TIMEOUT)
        self.assertEqual(p.returncode, 0, err.decode("utf-8", "replace")[-2000:])
        return out, err


class TestStatusPage(StatusPageCase):

    def test_page_json_browser_and_reload(self):
        kib = self.start_fake(hostile_data())
        es = self.start_es()
        es.add_docs(IDX_817, failure_docs(now_ms()))
        cfg = self.write_config([self.el_target(kib, es)])
        d = self.start_daemon(config=cfg)
        t = wait_until(lambda: self.failing(d), timeout=60,
                       what="three failing connectors with error texts in /status.json")

        # -- /status.json: the schema, exact round trip of hostile strings
        doc = self.status_json(d)
        self.assertEqual(doc["schema"], 1)
        self.assertIsInstance(doc["generated"], (int, float))
        self.assertIsInstance(doc["version"], str)
        for key in ("apis", "event_log", "connectors_total", "failing_connectors",
                    "failing_total", "connectors", "connectors_omitted", "probes",
                    "rules_missing_connectors", "rules_missing_connectors_total",
                    "connectors_missing_secrets", "connectors_missing_secrets_total",
                    "unavailable_connector_types", "unavailable_connector_types_total"):
            self.assertIn(key, t)
        apis = {a["api"]: a for a in t["apis"]}
        for api in ("spaces", "connectors", "connector_types", "rules", "event_log"):
            self.assertIs(apis[api]["up"], True, apis)
            self.assertGreater(apis[api]["last_success"], doc["generated"] - 120)
        el = t["event_log"]
        self.assertIs(el["configured"], True)
        self.assertIs(el["reachable"], True)
        self.assertIs(el["visible"], True)
        self.assertLess(el["window_start"], el["window_end"])
        failing = t["failing_connectors"]
        # failing first, most failures first: img (2), script (1 + 1 timeout), term (1)
        self.assertEqual([c["id"] for c in failing[:1]], [IMG_ID])
        self.assertEqual(t["failing_total"], 3)
        f = {c["id"]: c for c in failing}
        self.assertEqual(f[IMG_ID]["name"], IMG_NAME)
        self.assertEqual(f[IMG_ID]["type"], ".webhook")
        self.assertEqual(f[IMG_ID]["space"], "default")
        self.assertEqual((f[IMG_ID]["failures_1h"], f[IMG_ID]["timeouts_1h"]), (2, 0))
        self.assertEqual(f[IMG_ID]["last_failure"]["error"], IMG_ERROR)
        self.assertEqual(f[SCRIPT_ID]["name"], SCRIPT_NAME)
        self.assertEqual((f[SCRIPT_ID]["failures_1h"], f[SCRIPT_ID]["timeouts_1h"]), (1, 1))
        self.assertEqual(f[TERM_ID]["name"], TERM_NAME)
        t0 = doc["generated"]
        self.assertTrue(t0 - 300 < f[IMG_ID]["last_failure"]["time"] <= t0 + 1)
        # rules: bounded at 20, counted in full
        self.assertEqual(f[IMG_ID]["rules_total"], NRULES)
        self.assertEqual(len(f[IMG_ID]["rules"]), 20)
        self.assertIn(RULE_NAME, [r["name"] for r in f[IMG_ID]["rules"]])
        self.assertEqual([r["name"] for r in f[SCRIPT_ID]["rules"]], [RULE_NAME])
        # the others: listed, without failures
        others = {c["id"]: c for c in t["connectors"]}
        self.assertIn(WEBHOOK, others)
        self.assertNotIn(IMG_ID, others)
        self.assertEqual(t["connectors_total"], len(t["connectors"]) + 3 + t["connectors_omitted"])
        self.assertEqual([(r["rule_name"], r["connector_id"])
                          for r in t["rules_missing_connectors"]], [("CPU high", DELETED)])
        self.assertEqual(t["connectors_missing_secrets_total"], 1)
        self.assertEqual(sorted(u["id"] for u in t["unavailable_connector_types"]),
                         [".gen-ai", ".torq"])
        self.assertNotIn(API_KEY, json.dumps(doc))

        # -- GET /: headers, CSP that pins the one inline style
        status, hdrs, body = d.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["content-type"], "text/html; charset=utf-8")
        self.assertEqual(hdrs["x-content-type-options"], "nosniff")
        self.assertEqual(hdrs["referrer-policy"], "no-referrer")
        csp = parse_csp(hdrs["content-security-policy"])
        self.assertEqual(csp["default-src"], ["'none'"])
        self.assertNotIn("'unsafe-inline'", " ".join(sum(csp.values(), [])))
        self.assertEqual(csp.get("script-src", ["'none'"]), ["'none'"])
        self.assertEqual(csp["frame-ancestors"], ["'none'"])
        self.assertEqual(csp["base-uri"], ["'none'"])
        page = body.decode("utf-8")
        styles = re.findall(r"<style>(.*?)</style>", page, re.S)
        self.assertEqual(len(styles), 1)
        digest = base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode()
        self.assertEqual(csp["style-src"], ["'sha256-%s'" % digest])
        self.assertNotIn("<script", page.lower())
        self.assertNotIn("<img", page.lower())
        self.assertIn("&lt;img src=x onerror=alert(1)&gt;", page)
        self.assertIn('title="%s"' % IMG_ID, page)
        self.assertNotIn("\x1b", page)
        self.assertNotIn("\u009b", page)
        # HEAD works, other methods and near-miss paths do not
        for method, path, want in (("HEAD", "/", 200), ("HEAD", "/status.json", 200),
                                   ("POST", "/status.json", 405), ("PUT", "/", 405),
                                   ("GET", "/status.json/", 404),
                                   ("GET", "/status.jsonx", 404)):
            with self.subTest(method=method, path=path):
                st, h, b = d.request(method, path, body=b"x" if method in ("POST", "PUT")
                                     else None)
                self.assertEqual(st, want)
                if method == "HEAD":
                    self.assertEqual(b, b"")

        # -- a real browser: the DOM has the names as text, no injected element
        out, _ = self.run_chromium("--dump-dom", d.base_url + "/")
        dom = DomScan()
        dom.feed(out.decode("utf-8"))
        tags = [tg for tg, _ in dom.tags]
        self.assertNotIn("img", tags, "a connector name became an <img> element")
        self.assertNotIn("script", tags, "a string from Kibana became a <script>")
        self.assertFalse([a for _, a in dom.tags if any(k.startswith("on") for k in a)],
                         "an element with an event handler attribute")
        self.assertIn("table", tags)
        text = "".join(dom.text)
        for s in (IMG_NAME, SCRIPT_NAME, IMG_ERROR, SCRIPT_ERROR, RULE_NAME):
            self.assertIn(s, text)
        # the failing table comes before every other connector
        self.assertLess(text.index("Failing connectors"), text.index("Other connectors"))
        self.assertLess(text.index(IMG_NAME), text.index("Other connectors"))
        self.assertIn(IMG_ERROR, dom.cells)
        self.assertTrue(any(c.startswith(IMG_NAME + "\n" + IMG_ID) for c in dom.cells),
                        dom.cells[:20])
        titles = [a.get("title") for tg, a in dom.tags if tg == "td"]
        self.assertIn(IMG_ID, titles)

        # a screenshot for people (build/artifacts, copied to doc/ by hand)
        os.makedirs(ARTIFACTS, exist_ok=True)
        png = os.path.join(ARTIFACTS, "status-page.png")
        if os.path.exists(png):
            os.unlink(png)
        self.run_chromium("--screenshot=%s" % png, "--window-size=1280,900",
                          d.base_url + "/")
        with open(png, "rb") as fh:
            self.assertEqual(fh.read(8), b"\x89PNG\r\n\x1a\n")

        # -- SIGHUP with the same configuration: the check is carried, and
        # with it the last failure.  The documents go first, so that only
        # the daemon's memory can still show them (a check started afresh
        # would search the lookback again and find nothing).
        es.clear_docs()
        wend = self.target_of(self.status_json(d))["event_log"]["window_end"]
        wait_until(lambda: self.target_of(self.status_json(d))["event_log"]["window_end"]
                   > wend, timeout=30, what="a window searched without the documents")
        wend = self.target_of(self.status_json(d))["event_log"]["window_end"]
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: d.logs("info", msg="configuration reloaded from %s: 1 target(s)"
                                  % cfg), timeout=20, what="the reload")
        wait_until(lambda: self.target_of(self.status_json(d))["event_log"]["window_end"]
                   > wend + 1, timeout=30, what="later windows after the reload")
        t = self.target_of(self.status_json(d))
        f = {c["id"]: c for c in t["failing_connectors"]}
        self.assertEqual(f[IMG_ID]["last_failure"]["error"], IMG_ERROR)
        self.assertEqual(f[IMG_ID]["failures_1h"], 2)
        self.assertEqual(f[SCRIPT_ID]["last_failure"]["error"], SCRIPT_ERROR)


class TestStatusText(StatusPageCase):

    def test_once_text_no_probes(self):
        kib = self.start_fake(hostile_data())
        es = self.start_es()
        es.add_docs(IDX_817, failure_docs(now_ms()))
        cfg = {"listen": "127.0.0.1:0", "log_level": "info",
               "targets": [self.el_target(kib, es)],
               "probes": [{"connector_id": SERVERLOG,
                           "params": {"message": "synthetic check"}}]}
        path = self.write_file("config.yml", to_yaml(cfg))
        p = self.run_cli(["--config", path, "--once", "--no-probes", "--format=text"],
                         timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual([r for r in kib.requests if r["path"].endswith("/_execute")], [],
                         "--no-probes executed a connector")
        out = p.stdout.decode("utf-8")
        self.assertNotIn("# TYPE", out, "the exposition instead of the report")
        self.assertIn("Failing connectors (3):", out)
        self.assertIn("'%s'" % IMG_NAME, out)
        self.assertIn("'%s'" % IMG_ERROR, out)
        self.assertIn("'%s'" % SCRIPT_ERROR, out)
        # failing before the rest
        self.assertLess(out.index(IMG_NAME), out.index("Other connectors"))
        # no terminal control sequence, no forged line
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\u009b", out)
        self.assertNotIn("\x07", out)
        self.assertIn("red \\x1b[31mALERT\\x1b[0m\\nforged line \\u{9b}2J", out)
        for line in out.split("\n"):
            self.assertFalse(line.startswith("forged line"), line)
        self.assertIn("Probes:\n    none", out)
        self.assertIn("and 5 more", out)     # rules beyond 20

    def test_once_text_probe(self):
        """A probe's last result and Kibana's message are in the report."""
        kib = self.start_fake(hostile_data())
        kib.set_execute_result("default", IMG_ID, outcome="webhook_500")
        cfg = {"listen": "127.0.0.1:0", "log_level": "info",
               "targets": [self.target(kib)],
               "probes": [{"connector_id": IMG_ID, "params": {"body": "synthetic"}}]}
        path = self.write_file("config.yml", to_yaml(cfg))
        p = self.run_cli(["--config", path, "--once", "--format=text"], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertEqual(len([r for r in kib.requests if r["path"].endswith("/_execute")]), 1)
        out = p.stdout.decode("utf-8")
        m = re.search(r"  Probes:\n    '(.*)' \(id '(.*)', space 'default'\): "
                      r"connector_error at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: "
                      r"'error calling webhook, retry later'\n", out)
        self.assertIsNotNone(m, out[out.find("Probes:"):][:500])
        self.assertEqual(m.groups(), (IMG_NAME, IMG_ID))
        self.assertIn("Event log: NOT CONFIGURED", out)

    def test_once_text_event_log_unreachable(self):
        """Elasticsearch down: the report says so (and --once exits 1)."""
        kib = self.start_fake(hostile_data())
        es = self.start_es()
        t = self.el_target(kib, es)
        es.stop()
        self._fakes.remove(es)
        path = self.write_config([t])
        p = self.run_cli(["--config", path, "--once", "--format=text"], timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr[-2000:])
        out = p.stdout.decode("utf-8")
        self.assertIn("Event log: Elasticsearch reachable: NO, visible: NO (transport); "
                      "last counted window none yet - none yet\n", out)
        self.assertIn("'event_log': DOWN, last success never\n", out)
        self.assertIn("Failing connectors (0):\n    none in the last hour\n", out)

    def test_format_usage(self):
        kib = self.start_fake()
        path = self.write_config([self.target(kib)])
        p = self.run_cli(["--config", path, "--format=text"])
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"--format needs --once", p.stderr)
        p = self.run_cli(["--config", path, "--once", "--format=xml"])
        self.assertEqual(p.returncode, 2)
        self.assertEqual(kib.requests, [])
        p = self.run_cli(["--config", path, "--once", "--format=prometheus"])
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertIn(b"# TYPE kibana_connector_info gauge", p.stdout)


if __name__ == "__main__":
    unittest.main()
