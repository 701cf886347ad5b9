"""Shared harness for kibana-connector-monitor's integration tests.

Each test runs the real binary ($KCM_BINARY, default build/kibana-connector-
monitor; tests that need probe intervals under one minute run the test-only
build $KCM_TEST_BINARY, default kibana-connector-monitor-testbuild next to
$KCM_BINARY, which is the same code with a 1 s minimum) against the fake Kibana (tests/fakes/fake_kibana.py) started
in-process, over loopback.  No fixed sleeps: everything waits on a condition
with a deadline (wait_until / wait_metrics).

Invariants checked for every test by the harness itself:
  * every scrape passes `promtool check metrics` with no output at all (rc 0:
    no parse error, no lint warning) and our own checks (no duplicate
    series, HELP/TYPE once per family, families contiguous, histograms with
    le="+Inf" and consistent _count/_sum);
  * the daemon exits by itself within 10 s of SIGTERM;
  * every stderr line is one well-formed logfmt record;
  * no secret written with write_secret() ever shows up in stderr, stdout or
    any scrape;
  * the fake saw at most `max_requests` requests (no retry storm);
  * a test takes at most TEST_TIMEOUT seconds.
"""

import base64
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FAKES = os.path.join(REPO, "tests", "fakes")
sys.path.insert(0, FAKES)

from fake_kibana import FakeKibana, boom, encode_json, SAMPLE_DATA  # noqa: E402

# Absolute: the daemon runs with the test's temporary directory as its cwd.
BINARY = os.path.abspath(os.environ.get("KCM_BINARY") or os.path.join(
    REPO, "build", "kibana-connector-monitor"))
# The test-only build (CMakeLists.txt, BUILD_TESTING): never installed.
TEST_BINARY = os.path.abspath(os.environ.get("KCM_TEST_BINARY") or os.path.join(
    os.path.dirname(BINARY), "kibana-connector-monitor-testbuild"))
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
VERSION = "0.1.0"
USER_AGENT = "kibana-connector-monitor/%s" % VERSION
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
TEST_TIMEOUT = int(os.environ.get("KCM_TEST_TIMEOUT", "60"))
DEFAULT_WAIT = 10.0

# Distinctive secrets: a test fails if they ever leak.
API_KEY = "a2NtLXRlc3QtaWQ6U3VwM3JTM2NyZXRLZXktN2YzYTlj"
BASIC_USER = "kcm-reader"
BASIC_PASSWORD = "Pw-9d4e1b77-not-for-logs"

RESULTS = ("ok", "http_4xx", "http_5xx", "timeout", "connect", "tls", "dns",
           "too_large", "invalid_response")
APIS = ("spaces", "connectors", "connector_types", "rules")

# Sample data ids (tests/fakes/sample_data.json).
WEBHOOK = "0b3f2c5e-8a57-4c7e-9a1d-2f6b0d7e9c11"
SERVERLOG = "5e1d9a47-3c2b-4f0e-8d61-7a9b2c4e6f80"
INDEX = "c9a0e1f2-6b7d-4e3a-9f18-2d4c6b8a0e13"
SNOW = "7d2e4f60-1a3b-4c5d-8e9f-0a1b2c3d4e5f"
PD = "a1b2c3d4-0001-4a5b-8c6d-111111111111"
EMAIL = "a1b2c3d4-0002-4a5b-8c6d-222222222222"
TEAMS = "a1b2c3d4-0003-4a5b-8c6d-333333333333"
JIRA = "b2c3d4e5-0001-4b6c-9d7e-444444444444"
SOCHOOK = "b2c3d4e5-0002-4b6c-9d7e-555555555555"
GENIE = "b2c3d4e5-0003-4b6c-9d7e-666666666666"
DELETED = "deadbeef-0000-4000-8000-000000000000"
RULE_CPU = "41f0a2d8-9a6b-4c1e-8f2d-7b3e5c9a1d04"
RULE_DISK = "52a1b3c9-0b7c-4d2e-9f3a-8c4d6e0b2f15"
RULE_SLO = "63b2c4da-1c8d-4e3f-8a4b-9d5e7f1c3a26"
RULE_MALWARE = "85d4e6fc-3eaf-4051-8c6d-bf70913e5c48"


def load_sample():
    with open(SAMPLE_DATA, encoding="utf-8") as f:
        return json.load(f)


class TestTimeout(AssertionError):
    pass


# ---------------------------------------------------------------------------
# waiting

def wait_until(predicate, timeout=DEFAULT_WAIT, interval=0.05, what=None):
    """Calls predicate every `interval` s until it returns something truthy,
    which is returned; fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, what or getattr(predicate, "__name__", predicate),
                                    _short(last)))
        time.sleep(interval)


def _short(v, n=300):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


# ---------------------------------------------------------------------------
# exposition parsing and checking

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _parse_labels(s, i, lineno):
    """Parses '{a="x",b="y"}' starting at s[i] == '{'; returns (dict, next i)."""
    labels = {}
    i += 1
    while True:
        if s[i] == "}":
            return labels, i + 1
        m = _LABEL_NAME.match(s, i)
        if not m:
            raise ValueError("line %d: bad label name at %r" % (lineno, s[i:i + 20]))
        name = m.group(0)
        i = m.end()
        if s[i] != "=" or s[i + 1] != '"':
            raise ValueError("line %d: expected =\" after label %s" % (lineno, name))
        i += 2
        val = []
        while True:
            c = s[i]
            if c == "\\":
                n = s[i + 1]
                if n == "\\":
                    val.append("\\")
                elif n == '"':
                    val.append('"')
                elif n == "n":
                    val.append("\n")
                else:
                    raise ValueError("line %d: bad escape \\%s in label %s" % (lineno, n, name))
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError("line %d: newline in label value" % lineno)
            else:
                val.append(c)
                i += 1
        if name in labels:
            raise ValueError("line %d: duplicate label %s" % (lineno, name))
        labels[name] = "".join(val)
        if s[i] == ",":
            i += 1
        elif s[i] != "}":
            raise ValueError("line %d: expected , or } after label %s" % (lineno, name))


def parse_value(v):
    if v in ("+Inf", "Inf"):
        return float("inf")
    if v == "-Inf":
        return float("-inf")
    if v == "NaN":
        return float("nan")
    return float(v)


class Exposition:
    """A parsed text exposition.

    samples: {(name, frozenset(labels.items())): value}
    types / helps: {family: str};  lines: [(name, labels dict, value)].
    """

    def __init__(self, text):
        self.text = text
        self.samples = {}
        self.types = {}
        self.helps = {}
        self.lines = []
        self.families_order = []
        for lineno, line in enumerate(text.split("\n"), 1):
            if line == "":
                continue
            if line.startswith("#"):
                parts = line.split(" ", 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    target = self.helps if parts[1] == "HELP" else self.types
                    if parts[2] in target:
                        raise ValueError("line %d: second %s for %s" % (lineno, parts[1], parts[2]))
                    target[parts[2]] = parts[3] if len(parts) > 3 else ""
                continue
            m = _METRIC_NAME.match(line)
            if not m:
                raise ValueError("line %d: bad metric name: %r" % (lineno, line[:80]))
            name = m.group(0)
            i = m.end()
            labels = {}
            if i < len(line) and line[i] == "{":
                labels, i = _parse_labels(line + "\n", i, lineno)
            rest = line[i:].split()
            if not rest or len(rest) > 2 or not line[i:i + 1] == " ":
                raise ValueError("line %d: bad sample: %r" % (lineno, line[:120]))
            value = parse_value(rest[0])
            key = (name, frozenset(labels.items()))
            if key in self.samples:
                raise ValueError("line %d: duplicate series %s%r" % (lineno, name, labels))
            self.samples[key] = value
            self.lines.append((name, labels, value))

    def family_of(self, name):
        if name in self.types:
            return name
        for suf in ("_bucket", "_sum", "_count", "_created"):
            if name.endswith(suf) and self.types.get(name[:-len(suf)]) in ("histogram", "summary"):
                return name[:-len(suf)]
        return name

    def get(self, name, **labels):
        """Value of the series with exactly these labels, or None."""
        return self.samples.get((name, frozenset(labels.items())))

    def value(self, name, **labels):
        v = self.get(name, **labels)
        if v is None:
            raise AssertionError("no series %s%r; have: %s" % (
                name, labels, _short(self.series(name), 2000)))
        return v

    def series(self, name, **match):
        """[(labels, value)] of `name` whose labels include `match`."""
        out = []
        for n, labels, v in self.lines:
            if n == name and all(labels.get(k) == w for k, w in match.items()):
                out.append((labels, v))
        return out

    def label_sets(self, name, **match):
        """Set of frozenset(labels.items()) of `name` matching `match`."""
        return {frozenset(lab.items()) for lab, _ in self.series(name, **match)}

    def names(self):
        return {n for n, _, _ in self.lines}


def own_checks(text):
    """What promtool does not check.  Returns the parsed Exposition."""
    if text and not text.endswith("\n"):
        raise AssertionError("exposition does not end with a newline")
    expo = Exposition(text)     # duplicates, second HELP/TYPE, syntax
    seen = []
    closed = set()
    for name, labels, v in expo.lines:
        fam = expo.family_of(name)
        if seen and seen[-1] != fam:
            closed.add(seen[-1])
        if fam in closed:
            raise AssertionError("samples of family %s are not contiguous" % fam)
        if not seen or seen[-1] != fam:
            seen.append(fam)
        if fam in expo.types and expo.types[fam] == "counter" and v < 0:
            raise AssertionError("negative counter %s%r" % (name, labels))
    for fam, typ in expo.types.items():
        if fam not in expo.helps:
            raise AssertionError("family %s has TYPE but no HELP" % fam)
        if typ != "histogram":
            continue
        groups = {}
        for name, labels, v in expo.lines:
            if name != fam + "_bucket":
                continue
            if "le" not in labels:
                raise AssertionError("%s without le: %r" % (name, labels))
            rest = frozenset((k, w) for k, w in labels.items() if k != "le")
            groups.setdefault(rest, []).append((parse_value(labels["le"]), v, labels["le"]))
        for rest, buckets in groups.items():
            les = [b[2] for b in buckets]
            if "+Inf" not in les:
                raise AssertionError("histogram %s%r has no le=\"+Inf\"" % (fam, dict(rest)))
            ordered = sorted(buckets)
            if [b[0] for b in buckets] != [b[0] for b in ordered]:
                raise AssertionError("histogram %s%r: buckets not in le order" % (fam, dict(rest)))
            counts = [b[1] for b in ordered]
            if any(a > b for a, b in zip(counts, counts[1:])):
                raise AssertionError("histogram %s%r: buckets not cumulative: %r" % (fam, dict(rest), counts))
            cnt = expo.samples.get((fam + "_count", rest))
            sm = expo.samples.get((fam + "_sum", rest))
            if cnt is None or sm is None:
                raise AssertionError("histogram %s%r: missing _count or _sum" % (fam, dict(rest)))
            if cnt != counts[-1]:
                raise AssertionError("histogram %s%r: _count %r != +Inf bucket %r" % (fam, dict(rest), cnt, counts[-1]))
        for name, labels, v in expo.lines:
            if name in (fam + "_count", fam + "_sum"):
                if frozenset(labels.items()) not in groups:
                    raise AssertionError("%s%r has no buckets" % (name, labels))
    return expo


def promtool_check(text_bytes):
    """Runs promtool check metrics; fails on any non-zero exit or output."""
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text_bytes,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0 or out.strip():
        raise AssertionError("promtool check metrics: rc=%d\n%s" % (p.returncode, out))


def check_exposition(body):
    """promtool + own checks on a raw /metrics body; returns an Exposition."""
    promtool_check(body)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AssertionError("exposition is not valid UTF-8: %s" % e)
    try:
        return own_checks(text)
    except ValueError as e:
        raise AssertionError("exposition: %s" % e)


# ---------------------------------------------------------------------------
# logfmt

_LOGFMT_TOKEN = re.compile(r'([a-z0-9_]+)=("(?:[^"\\]|\\.)*"|[^\s"=\\]+)')
_UNESCAPE = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def _logfmt_unquote(v):
    if not v.startswith('"'):
        return v
    out = bytearray()
    s = v[1:-1]
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += _UNESCAPE.get(n, n).encode()
            i += 2
            continue
        out += c.encode("utf-8", "surrogateescape")
        i += 1
    return out.decode("utf-8", "replace")


def parse_logfmt(line):
    """Parses one logfmt line into a dict; None when the line is not exactly
    a sequence of key=value tokens separated by single spaces."""
    rec = {}
    pos = 0
    n = len(line)
    while pos < n:
        m = _LOGFMT_TOKEN.match(line, pos)
        if not m:
            return None
        k, v = m.group(1), m.group(2)
        rec.setdefault(k, _logfmt_unquote(v))
        pos = m.end()
        if pos < n:
            if line[pos] != " ":
                return None
            pos += 1
            if pos == n:
                return None
    return rec


# ---------------------------------------------------------------------------
# YAML (just enough to write the daemon's configuration)

_PLAIN = re.compile(r"^[A-Za-z0-9_./@+-][A-Za-z0-9_./@+ -]*$")


def yaml_scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if _PLAIN.match(s) and not s.endswith(" ") and s.lower() not in (
            "true", "false", "yes", "no", "on", "off", "null", "~"):
        return s
    return json.dumps(s)


def to_yaml(obj, indent=0):
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:\n%s" % (pad, k, to_yaml(v, indent + 2)))
            elif isinstance(v, list):
                out.append("%s%s: []\n" % (pad, k))
            elif isinstance(v, dict):
                out.append("%s%s: {}\n" % (pad, k))
            else:
                out.append("%s%s: %s\n" % (pad, k, yaml_scalar(v)))
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict) and v:
                sub = to_yaml(v, indent + 2)
                out.append("%s- %s" % (pad, sub[indent + 2:]))
            elif isinstance(v, list) and v:
                sub = to_yaml(v, indent + 2)
                out.append("%s- %s" % (pad, sub[indent + 2:]))
            else:
                out.append("%s- %s\n" % (pad, yaml_scalar(v)))
    else:
        out.append("%s%s\n" % (pad, yaml_scalar(obj)))
    return "".join(out)


# ---------------------------------------------------------------------------
# the daemon

_LISTEN = re.compile(r'(?:^| )listen=("?)\[?([0-9a-fA-F.:]+?)\]?:(\d+)\1(?: |$)', re.M)
_SANITIZER = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                        r"==\d+==ERROR)")


class Daemon:
    def __init__(self, test, args, env=None, prefix=None, pass_fds=(), binary=None):
        # prefix: argv run before the binary (e.g. an `unshare`/`sh -c ... exec "$@"`
        # wrapper that ends in exec, so the pid stays the daemon's); pass_fds:
        # descriptors the daemon inherits (socket activation tests); binary:
        # BINARY unless given (TEST_BINARY for short probe intervals).
        self.test = test
        self.args = list(prefix or []) + [binary or BINARY] + list(args)
        n = len(test._daemons)
        self.stdout_path = os.path.join(test.tmp, "daemon%d.stdout" % n)
        self.stderr_path = os.path.join(test.tmp, "daemon%d.stderr" % n)
        self.scrapes = []       # raw bodies of every response we got
        self.host = None
        self.port = None
        e = dict(os.environ)
        e.update(env or {})
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, cwd=test.tmp, env=e,
                                         pass_fds=tuple(pass_fds))
        self.started = time.time()

    @property
    def pid(self):
        return self.proc.pid

    def stderr_bytes(self):
        with open(self.stderr_path, "rb") as f:
            return f.read()

    def stderr_text(self):
        return self.stderr_bytes().decode("utf-8", "replace")

    def stdout_bytes(self):
        with open(self.stdout_path, "rb") as f:
            return f.read()

    def log_lines(self):
        text = self.stderr_text()
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        elif lines:
            lines.pop()     # a partial last line is still being written
        return lines

    def log_records(self):
        """Every complete stderr line parsed as logfmt (None if malformed)."""
        return [parse_logfmt(line) for line in self.log_lines()]

    def logs(self, level=None, **fields):
        out = []
        for r in self.log_records():
            if r is None:
                continue
            if level is not None and r.get("level") != level:
                continue
            if all(r.get(k) == v for k, v in fields.items()):
                out.append(r)
        return out

    def wait_listen(self, timeout=DEFAULT_WAIT):
        def listening():
            m = _LISTEN.search(self.stderr_text())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited with %s before listening; stderr:\n%s"
                                     % (self.proc.returncode, self.stderr_text()[-3000:]))
            return None
        m = wait_until(listening, timeout, what="a listen=HOST:PORT log line")
        self.host, self.port = m.group(2), int(m.group(3))
        if self.port == 0:
            raise AssertionError("daemon logged listen port 0 instead of the real port")
        return self.host, self.port

    @property
    def base_url(self):
        host = self.host if ":" not in self.host else "[%s]" % self.host
        return "http://%s:%d" % (host, self.port)

    def request(self, method, path, headers=None, body=None, timeout=10):
        """One HTTP request to the daemon: (status, {header: value}, body)."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            self.scrapes.append(data)
            return r.status, hdrs, data
        finally:
            c.close()

    def scrape(self):
        """GET /metrics, checked by promtool and own_checks."""
        status, hdrs, body = self.request("GET", "/metrics")
        if status != 200:
            raise AssertionError("GET /metrics: %d %r" % (status, body[:300]))
        return check_exposition(body)

    def wait_metrics(self, predicate, timeout=DEFAULT_WAIT, what=None):
        """Scrapes until predicate(expo) is truthy; returns that Exposition."""
        last = {}

        def ok():
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited with %s; stderr:\n%s"
                                     % (self.proc.returncode, self.stderr_text()[-3000:]))
            m = self.scrape()
            last["m"] = m
            return m if predicate(m) else None
        try:
            return wait_until(ok, timeout, interval=0.1, what=what or getattr(
                predicate, "__name__", "metrics"))
        except AssertionError as e:
            if "m" in last and "timed out" in str(e):
                raise AssertionError("%s\nlast scrape (kcm_monitor lines):\n%s" % (
                    e, "\n".join(l for l in last["m"].text.split("\n")
                                 if "connector_monitor_up" in l or "requests_total" in l)))
            raise

    def stop(self, timeout=10):
        """SIGTERM, then the daemon must exit by itself within timeout."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                raise AssertionError("daemon did not exit within %ss of SIGTERM" % timeout)
        return self.proc.returncode


# ---------------------------------------------------------------------------
# the test case base class

class KcmTestCase(unittest.TestCase):
    max_requests = 3000     # per fake, over the whole test
    time_limit = TEST_TIMEOUT   # seconds per test; a class may allow more

    @classmethod
    def setUpClass(cls):
        if not os.access(BINARY, os.X_OK):
            raise unittest.SkipTest("daemon binary %s not built" % BINARY)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kcm-%s-" % self._testMethodName[:40])
        self._daemons = []
        self._fakes = []
        self._secrets = [API_KEY, BASIC_PASSWORD]
        self.t0 = time.time()
        self.addCleanup(self._cleanup_tmp)
        self.addCleanup(self._final_checks)

        limit = max(self.time_limit, TEST_TIMEOUT)

        def on_alarm(signum, frame):
            raise TestTimeout("test exceeded %d s" % limit)
        self._old_alarm = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(limit)

    def _test_failed(self):
        """True once a failure or error of this test (or a subtest) is recorded."""
        res = getattr(getattr(self, "_outcome", None), "result", None)
        if res is None:
            return False
        for t, _ in list(getattr(res, "failures", [])) + list(getattr(res, "errors", [])):
            if t is self or getattr(t, "test_case", None) is self:
                return True
        return False

    def _cleanup_tmp(self):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self._old_alarm)
        failed = self._test_failed()
        if failed or os.environ.get("KCM_KEEP_TMP"):
            sys.stderr.write("\n[kcmtest] kept %s\n" % self.tmp)
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _final_checks(self):
        signal.alarm(0)
        failed = self._test_failed()
        problems = []
        for d in self._daemons:
            if d.proc.poll() is None:
                try:
                    rc = d.stop()
                    if rc != 0:
                        problems.append("daemon exited with %s after SIGTERM (want 0)" % rc)
                except AssertionError as e:
                    problems.append(str(e))
            err = d.stderr_bytes()
            text = err.decode("utf-8", "replace")
            if failed:
                sys.stderr.write("\n[kcmtest] daemon %s stderr (tail):\n%s\n" % (
                    " ".join(d.args[1:]), "\n".join(text.split("\n")[-40:])))
            m = _SANITIZER.search(text)
            if m:
                at = text.rfind("\n", 0, m.start()) + 1
                problems.append("sanitizer report in stderr: %s" % text[at:at + 2000])
            if not m:
                for line in text.split("\n"):
                    if not line:
                        continue
                    r = parse_logfmt(line)
                    if r is None:
                        problems.append("stderr line is not one logfmt record: %r" % line[:300])
                        break
                    if not {"time", "level", "msg"} <= set(r):
                        problems.append("log record lacks time/level/msg: %r" % line[:300])
                        break
            out = d.stdout_bytes()
            for s in self._secrets:
                sb = s.encode()
                if sb in err:
                    problems.append("secret %r... leaked into stderr" % s[:6])
                if sb in out:
                    problems.append("secret %r... leaked into stdout" % s[:6])
                if any(sb in b for b in d.scrapes):
                    problems.append("secret %r... leaked into an HTTP response" % s[:6])
        for f in self._fakes:
            n = len(f.requests)
            f.stop()
            if n > self.max_requests:
                problems.append("fake Kibana got %d requests (limit %d)" % (n, self.max_requests))
        if problems and not failed:
            self.fail("; ".join(problems))
        elif problems:
            sys.stderr.write("[kcmtest] also: %s\n" % "; ".join(problems))

    # -- files -----------------------------------------------------------

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write_secret(self, name, content, mode=0o600):
        """A secret file created with `mode` from the start (os.open)."""
        p = self.path(name)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, content.encode() if isinstance(content, str) else content)
        finally:
            os.close(fd)
        secret = (content.decode() if isinstance(content, bytes) else content).strip()
        if secret and secret not in self._secrets:
            self._secrets.append(secret)
        return p

    def write_file(self, name, text):
        p = self.path(name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
        return p

    def target(self, fake=None, name="kib", url=None, api_key=API_KEY, basic=None,
               spaces="all", interval="1s", timeout="10s", max_response_bytes=None,
               ca_file=None, max_parallel_requests=None, **extra):
        """A target mapping for write_config().  The default timeout (the
        daemon's own default) is one a loaded machine does not hit by
        accident; tests that want timeouts set a short one and a fake that
        never answers."""
        kib = {"url": url or fake.url}
        if api_key is not None:
            fn = "api-key-%s" % name
            if not os.path.exists(self.path(fn)):
                self.write_secret(fn, api_key + "\n")
            kib["api_key_file"] = self.path(fn)
        if basic is not None:
            user, pw = basic
            fn = "password-%s" % name
            if not os.path.exists(self.path(fn)):
                self.write_secret(fn, pw + "\n")
            kib["username"] = user
            kib["password_file"] = self.path(fn)
        if ca_file is not None:
            kib["ca_file"] = ca_file
        if timeout is not None:
            kib["timeout"] = timeout
        if max_response_bytes is not None:
            kib["max_response_bytes"] = max_response_bytes
        t = {"name": name, "kibana": kib, "spaces": spaces}
        if interval is not None:
            t["inventory_interval"] = interval
        if max_parallel_requests is not None:
            t["max_parallel_requests"] = max_parallel_requests
        t.update(extra)
        return t

    def write_config(self, targets, listen="127.0.0.1:0", log_level="info",
                     name="config.yml"):
        cfg = {}
        if listen is not None:
            cfg["listen"] = listen
        if log_level is not None:
            cfg["log_level"] = log_level
        cfg["targets"] = targets
        return self.write_file(name, to_yaml(cfg))

    # -- processes -------------------------------------------------------

    def start_fake(self, data=None, **kw):
        """Starts a FakeKibana on a thread (api_key=API_KEY unless given)."""
        kw.setdefault("api_key", API_KEY)
        fake = FakeKibana(load_sample() if data is None else data, **kw).start()
        self._fakes.append(fake)
        return fake

    def restart_fake(self, fake):
        """Stops `fake` and returns a new one on the same port with its state."""
        fake.stop()
        self._fakes.remove(fake)
        new = FakeKibana(fake.get_data(), version=fake.version, api_key=fake.api_key,
                         basic=fake.basic, tls_cert=fake.tls_cert, tls_key=fake.tls_key,
                         bind=fake.bind, port=fake.port)
        deadline = time.monotonic() + DEFAULT_WAIT
        while True:
            try:
                new.start()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._fakes.append(new)
        return new

    def start_daemon(self, targets=None, config=None, args=None, wait=True, env=None,
                     prefix=None, pass_fds=(), binary=None, **cfg_kw):
        """Starts the daemon on a config (written from `targets` unless
        `config` is a path) and waits for its listen= line.  binary:
        BINARY unless given (self.short_interval_binary() for short probe
        intervals)."""
        if config is None:
            config = self.write_config(targets, **cfg_kw)
        d = Daemon(self, ["--config", config] + list(args or []), env=env,
                   prefix=prefix, pass_fds=pass_fds, binary=binary)
        self._daemons.append(d)
        if wait:
            d.wait_listen()
        return d

    def short_interval_binary(self):
        """TEST_BINARY (probe intervals down to 1 s); fails when not built,
        since skipping would silently drop the probe schedule tests."""
        if not os.access(TEST_BINARY, os.X_OK):
            self.fail("test build %s not found: build with BUILD_TESTING on "
                      "(target kibana-connector-monitor-testbuild) or set "
                      "KCM_TEST_BINARY" % TEST_BINARY)
        return TEST_BINARY

    def run_cli(self, args, timeout=30, env=None, binary=None):
        """Runs the binary to completion: CompletedProcess with bytes output."""
        e = dict(os.environ)
        e.update(env or {})
        p = subprocess.run([binary or BINARY] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, cwd=self.tmp, env=e)
        err = p.stderr.decode("utf-8", "replace")
        m = _SANITIZER.search(err)
        if m:
            at = err.rfind("\n", 0, m.start()) + 1
            self.fail("sanitizer report from %s:\n%s" % (" ".join(args), err[at:at + 3000]))
        if p.returncode < 0 or p.returncode > 2:
            self.fail("%s: exit status %d (crash?); stderr:\n%s" % (
                " ".join(args), p.returncode, err[-3000:]))
        for s in self._secrets:
            self.assertNotIn(s.encode(), p.stdout, "secret leaked into stdout")
            self.assertNotIn(s.encode(), p.stderr, "secret leaked into stderr")
        for line in p.stderr.decode("utf-8", "replace").split("\n"):
            if line.startswith("time="):
                self.assertIsNotNone(parse_logfmt(line), "malformed log line %r" % line)
        return p

    def run_once(self, targets, timeout=30, **cfg_kw):
        """--once on a fresh config: (CompletedProcess, Exposition of stdout)."""
        cfg = self.write_config(targets, **cfg_kw)
        p = self.run_cli(["--config", cfg, "--once"], timeout=timeout)
        expo = check_exposition(p.stdout)
        return p, expo

    # -- metric helpers --------------------------------------------------

    def all_up(self, target="kib", apis=APIS):
        def pred(m):
            return all(m.get("kibana_connector_monitor_up", target=target, api=a) == 1
                       for a in apis)
        pred.__name__ = "kibana_connector_monitor_up == 1 for %s" % (list(apis),)
        return pred

    def wait_all_up(self, daemon, target="kib", apis=APIS, timeout=DEFAULT_WAIT):
        return daemon.wait_metrics(self.all_up(target, apis), timeout)

    def requests_total(self, m, api, result, target="kib"):
        """requests_total{target,api,result}; 0 while the series is absent
        (before the first poll); test_inventory checks the initialisation."""
        v = m.get("kibana_connector_monitor_requests_total", target=target, api=api,
                  result=result)
        return 0 if v is None else v


def make_tls(directory):
    """A throwaway CA and a server certificate for 127.0.0.1 / ::1 /
    localhost (test-tooling.md section 9).  Returns (ca, cert, key)."""
    def run(*a):
        subprocess.run(a, cwd=directory, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=30)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=kcm-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-out", "server.crt", "-extfile", "san.ext")
    return tuple(os.path.join(directory, n) for n in ("ca.crt", "server.crt", "server.key"))


def basic_header(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


__all__ = [n for n in dir() if not n.startswith("_")]
