"""Inventory metrics against the sample data and its variations."""

import copy
import math
import os
import subprocess
import time
import unittest

from kcmtest import (
    APIS, DELETED, EMAIL, GENIE, INDEX, JIRA, PD, RESULTS, RULE_CPU, RULE_DISK,
    RULE_SLO, SERVERLOG, SNOW, SOCHOOK, TEAMS, VERSION, WEBHOOK,
    KcmTestCase, load_sample, wait_until)

T = "kib"
F, TR = "false", "true"

# (space, connector_id, name, connector_type_id, preconfigured, deprecated, system_action)
SAMPLE_INFO = {
    ("default", WEBHOOK, "Ops webhook", ".webhook", F, F, F),
    ("default", SERVERLOG, "Server log", ".server-log", F, F, F),
    ("default", INDEX, "alert-history", ".index", F, F, F),
    ("default", SNOW, "Legacy ServiceNow ITSM", ".servicenow", F, TR, F),
    ("ops", PD, "Ops PagerDuty", ".pagerduty", F, F, F),
    ("ops", EMAIL, "Ops email", ".email", F, F, F),
    ("ops", TEAMS, "Ops Teams", ".teams", F, F, F),
    ("security-team", JIRA, "SOC Jira", ".jira", F, F, F),
    ("security-team", SOCHOOK, "SOC webhook", ".webhook", F, F, F),
    ("security-team", GENIE, "SOC Opsgenie", ".opsgenie", F, F, F),
    ("*", "ops-slack", "Preconfigured Slack", ".slack", TR, F, F),
    ("*", "my-server-log", "Preconfigured log", ".server-log", TR, F, F),
}

# (space, connector_id) -> referenced_by_count; "*" = sum over polled spaces
SAMPLE_REFS = {
    ("default", WEBHOOK): 2, ("default", SERVERLOG): 1, ("default", INDEX): 1,
    ("default", SNOW): 0, ("ops", PD): 1, ("ops", EMAIL): 1, ("ops", TEAMS): 0,
    ("security-team", JIRA): 1, ("security-team", SOCHOOK): 1,
    ("security-team", GENIE): 1,
    # preconfigured: Kibana's global count, reported alike in every space
    # and exported once (never summed over spaces)
    ("*", "ops-slack"): 2,          # default 1 + ops 1 + security-team 0
    ("*", "my-server-log"): 2,      # default 0 + ops 1 + security-team 1
}

SAMPLE_MISSING_SECRETS = {k: (1 if k == ("ops", EMAIL) else 0) for k in SAMPLE_REFS}

# connector_type_id -> (minimum_license_required, enabled, in_license, in_config)
SAMPLE_TYPES = {
    ".email": ("gold", 1, 1, 1),
    ".gen-ai": ("enterprise", 0, 0, 1),
    ".index": ("basic", 1, 1, 1),
    ".jira": ("gold", 1, 1, 1),
    ".opsgenie": ("platinum", 1, 1, 1),
    ".pagerduty": ("gold", 1, 1, 1),
    ".server-log": ("basic", 1, 1, 1),
    ".servicenow": ("platinum", 1, 1, 1),
    ".slack": ("gold", 1, 1, 1),
    ".teams": ("gold", 1, 1, 1),
    ".torq": ("gold", 0, 1, 0),
    ".webhook": ("gold", 1, 1, 1),
}

# (space, rule_id, rule_name, connector_id)
SAMPLE_MISSING = {("default", RULE_CPU, "CPU high", DELETED)}


def info_set(m, target=T):
    out = set()
    for lab, v in m.series("kibana_connector_info", target=target):
        assert v == 1, (lab, v)
        assert set(lab) == {"target", "space", "connector_id", "name", "connector_type_id",
                            "preconfigured", "deprecated", "system_action"}, lab
        out.add((lab["space"], lab["connector_id"], lab["name"], lab["connector_type_id"],
                 lab["preconfigured"], lab["deprecated"], lab["system_action"]))
    return out


def per_connector(m, name, target=T):
    out = {}
    for lab, v in m.series(name, target=target):
        assert set(lab) == {"target", "space", "connector_id"}, lab
        out[(lab["space"], lab["connector_id"])] = v
    return out


def missing_set(m, target=T):
    out = set()
    for lab, v in m.series("kibana_rule_action_connector_missing", target=target):
        assert v == 1, (lab, v)
        assert set(lab) == {"target", "space", "rule_id", "rule_name", "connector_id"}, lab
        out.add((lab["space"], lab["rule_id"], lab["rule_name"], lab["connector_id"]))
    return out


def types_map(m, target=T):
    out = {}
    for fam, idx in (("kibana_connector_type_enabled", 1),
                     ("kibana_connector_type_enabled_in_license", 2),
                     ("kibana_connector_type_enabled_in_config", 3)):
        for lab, v in m.series(fam, target=target):
            assert set(lab) == {"target", "connector_type_id", "minimum_license_required"}, lab
            cur = out.setdefault(lab["connector_type_id"], [lab["minimum_license_required"],
                                                            None, None, None])
            assert cur[0] == lab["minimum_license_required"], (cur, lab)
            cur[idx] = v
    return {k: tuple(v) for k, v in out.items()}


def pkg_version(mod):
    try:
        return subprocess.run(["pkg-config", "--modversion", mod], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def with_sample(m):
    return info_set(m) == SAMPLE_INFO


class SampleDataTest(KcmTestCase):
    """Every metric of the contract against tests/fakes/sample_data.json."""

    def test_every_metric_against_sample_data(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)])
        started = d.started
        m = self.wait_all_up(d)
        m = d.wait_metrics(with_sample)
        fake_count = {p: sum(1 for r in fake.requests if r["path"] == p)
                      for p in ("/api/spaces/space", "/api/actions/connector_types")}

        # connectors
        self.assertEqual(info_set(m), SAMPLE_INFO)
        self.assertEqual(per_connector(m, "kibana_connector_references"), SAMPLE_REFS)
        self.assertEqual(per_connector(m, "kibana_connector_missing_secrets"),
                         SAMPLE_MISSING_SECRETS)
        # connector types: .cases (a system action type) is not listed by Kibana
        self.assertEqual(types_map(m), SAMPLE_TYPES)
        # rules pointing at a connector that does not exist in their space;
        # system-connector-.cases (rules Disk usage, Malware detected) never
        self.assertEqual(missing_set(m), SAMPLE_MISSING)

        # self-monitoring
        for api in APIS:
            self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api=api), 1, api)
            for res in RESULTS:
                v = m.get("kibana_connector_monitor_requests_total", target=T, api=api,
                          result=res)
                self.assertIsNotNone(v, "requests_total{api=%s,result=%s} not initialised"
                                     % (api, res))
                if res != "ok":
                    self.assertEqual(v, 0, "requests_total{api=%s,result=%s}" % (api, res))
            ok = self.requests_total(m, api, "ok")
            cnt = m.value("kibana_connector_monitor_request_duration_seconds_count",
                          target=T, api=api)
            self.assertEqual(cnt, ok, "histogram _count vs requests_total{ok} for %s" % api)
            # ok requests took some time: the sum of their durations is positive
            self.assertGreater(ok, 0, api)
            self.assertGreater(m.value("kibana_connector_monitor_request_duration_seconds_sum",
                                       target=T, api=api), 0, api)
            ts = m.value("kibana_connector_monitor_last_success_timestamp_seconds",
                         target=T, api=api)
            self.assertGreaterEqual(ts, started - 1, api)
            self.assertLessEqual(ts, time.time() + 1, api)
        # one cycle = 1 spaces + 3 connectors + 3 rules pages + 1 connector_types
        spaces_ok = self.requests_total(m, "spaces", "ok")
        self.assertGreaterEqual(spaces_ok, 1)
        self.assertLessEqual(spaces_ok, fake_count["/api/spaces/space"])
        self.assertLessEqual(self.requests_total(m, "connector_types", "ok"),
                             fake_count["/api/actions/connector_types"])
        self.assertGreaterEqual(self.requests_total(m, "connectors", "ok"), 3)
        self.assertGreaterEqual(self.requests_total(m, "rules", "ok"), 3)

        # types of the families
        want_types = {
            "kibana_connector_info": "gauge",
            "kibana_connector_missing_secrets": "gauge",
            "kibana_connector_references": "gauge",
            "kibana_connector_type_enabled": "gauge",
            "kibana_connector_type_enabled_in_license": "gauge",
            "kibana_connector_type_enabled_in_config": "gauge",
            "kibana_rule_action_connector_missing": "gauge",
            "kibana_connector_monitor_up": "gauge",
            "kibana_connector_monitor_requests_total": "counter",
            "kibana_connector_monitor_request_duration_seconds": "histogram",
            "kibana_connector_monitor_last_success_timestamp_seconds": "gauge",
            "kibana_connector_monitor_build_info": "gauge",
            "process_resident_memory_bytes": "gauge",
            "process_cpu_seconds_total": "counter",
            "process_open_fds": "gauge",
            "process_start_time_seconds": "gauge",
        }
        for fam, typ in want_types.items():
            self.assertEqual(m.types.get(fam), typ, "TYPE of %s" % fam)

        # build info, with the library versions this binary runs with
        bi = m.series("kibana_connector_monitor_build_info")
        self.assertEqual(len(bi), 1, bi)
        lab, v = bi[0]
        self.assertEqual(v, 1)
        self.assertEqual(set(lab), {"version", "libcurl", "libevent", "jansson"})
        self.assertEqual(lab["version"], VERSION)
        for label, mod in (("libcurl", "libcurl"), ("libevent", "libevent"),
                           ("jansson", "jansson")):
            want = pkg_version(mod)
            if want:
                self.assertEqual(lab[label], want, "build_info %s" % label)
        vout = self.run_cli(["--version"]).stdout.decode()
        for label in ("libcurl", "libevent", "jansson"):
            self.assertIn(lab[label], vout, "--version does not show %s %s" % (label, lab[label]))

        # process metrics
        self.assertGreater(m.value("process_resident_memory_bytes"), 1024 * 1024)
        self.check_cpu_seconds(d)
        nfds = len(os.listdir("/proc/%d/fd" % d.pid))
        self.assertLess(abs(m.value("process_open_fds") - nfds), 8)
        self.assertGreater(m.value("process_open_fds"), 3)
        st = m.value("process_start_time_seconds")
        self.assertGreaterEqual(st, started - 2)
        self.assertLessEqual(st, time.time())

    def check_cpu_seconds(self, d):
        """process_cpu_seconds_total is the kernel's utime+stime of the
        daemon in seconds: bracketed by what /proc/PID/stat says just before
        and just after the scrape (CPU time only grows), so a wrong field, a
        wrong unit (ticks), a constant or NaN all fail."""
        hz = os.sysconf("SC_CLK_TCK")

        def ticks():
            with open("/proc/%d/stat" % d.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])     # utime, stime

        def has_used_cpu():
            if ticks() >= 1:
                return True
            d.scrape()      # some work for it (it polls every second anyway)
            return False
        # a daemon that has used CPU time, so that 0 is wrong
        wait_until(has_used_cpu, 30, interval=0.2, what="the daemon to have used CPU time")
        prev = None
        for _ in range(2):
            before = ticks()
            v = d.scrape().value("process_cpu_seconds_total")
            after = ticks()
            self.assertTrue(math.isfinite(v), v)
            # getrusage() has microseconds; /proc/PID/stat the same user
            # and system times each cut to whole ticks, so their sum may
            # be one tick short of the total cut once.
            self.assertLessEqual(before, math.floor(v * hz), "cpu %r s < kernel's %d ticks" % (v, before))
            self.assertLessEqual(math.floor(v * hz), after + 1, "cpu %r s > kernel's %d ticks" % (v, after))
            self.assertGreater(v, 0)
            if prev is not None:
                self.assertGreaterEqual(v, prev, "process_cpu_seconds_total went down")
            prev = v

    def test_preconfigured_once_per_target_with_space_star(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)])
        m = d.wait_metrics(with_sample)
        for cid in ("ops-slack", "my-server-log"):
            for fam in ("kibana_connector_info", "kibana_connector_references",
                        "kibana_connector_missing_secrets"):
                s = m.series(fam, target=T, connector_id=cid)
                self.assertEqual([lab["space"] for lab, _ in s], ["*"], (fam, cid, s))

    def test_two_targets(self):
        fake_a = self.start_fake()
        data_b = load_sample()
        data_b["spaces"] = data_b["spaces"][:1]
        data_b["connectors"] = {"default": [c for c in data_b["connectors"]["default"]
                                            if c["id"] == WEBHOOK]}
        data_b["rules"] = {}
        data_b["preconfigured_connectors"] = []
        fake_b = self.start_fake(data_b, version="8.2")
        fake_b.add_fault(r"^/api/actions/connector_types$", status=503)
        d = self.start_daemon([self.target(fake_a, name="prod"),
                               self.target(fake_b, name="staging")])
        m = d.wait_metrics(lambda m: info_set(m, "prod") == SAMPLE_INFO and
                           m.get("kibana_connector_monitor_up", target="staging",
                                 api="connectors") == 1 and
                           m.get("kibana_connector_monitor_up", target="staging",
                                 api="connector_types") == 0)
        self.assertEqual(info_set(m, "staging"),
                         {("default", WEBHOOK, "Ops webhook", ".webhook", F, F, F)})
        self.assertEqual(per_connector(m, "kibana_connector_references", "staging"),
                         {("default", WEBHOOK): 2})
        self.assertEqual(types_map(m, "prod"), SAMPLE_TYPES)
        self.assertEqual(types_map(m, "staging"), {})
        self.assertEqual(missing_set(m, "prod"), SAMPLE_MISSING)
        self.assertEqual(missing_set(m, "staging"), set())
        for api in APIS:
            self.assertEqual(m.get("kibana_connector_monitor_up", target="prod", api=api), 1)
        self.assertGreaterEqual(self.requests_total(m, "connector_types", "http_5xx",
                                                    target="staging"), 1)
        self.assertEqual(self.requests_total(m, "connector_types", "http_5xx",
                                             target="prod"), 0)


class VersionVariantsTest(KcmTestCase):
    """Fields an older Kibana does not send read as "false" (kibana-api.md 2.1)."""

    def check_version(self, version, snow_deprecated):
        fake = self.start_fake(version=version)
        p, m = self.run_once([self.target(fake, interval=None)])
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace")[-2000:])
        want = {t if t[1] != SNOW else t[:5] + (snow_deprecated,) + t[6:]
                for t in SAMPLE_INFO}
        self.assertEqual(info_set(m), want)
        self.assertEqual(per_connector(m, "kibana_connector_references"), SAMPLE_REFS)
        self.assertEqual(per_connector(m, "kibana_connector_missing_secrets"),
                         SAMPLE_MISSING_SECRETS)
        self.assertEqual(types_map(m), SAMPLE_TYPES)
        self.assertEqual(missing_set(m), SAMPLE_MISSING)
        for api in APIS:
            self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api=api), 1)

    def test_7_17(self):
        # no is_deprecated, no is_system_action, no frequency/uuid in actions
        self.check_version("7.17", F)

    def test_8_2(self):
        self.check_version("8.2", F)

    def test_8_9(self):
        # is_deprecated, but no is_system_action
        self.check_version("8.9", TR)

    def test_8_17(self):
        self.check_version("8.17", TR)

    def test_9_x(self):
        # is_connector_type_deprecated (true for Ops Teams) is not is_deprecated
        self.check_version("9.1", TR)

    def test_missing_secrets_absent_reads_0(self):
        data = load_sample()
        for conns in data["connectors"].values():
            for c in conns:
                c.pop("is_missing_secrets")
        fake = self.start_fake(data)
        p, m = self.run_once([self.target(fake, interval=None)])
        self.assertEqual(p.returncode, 0)
        self.assertEqual(per_connector(m, "kibana_connector_missing_secrets"),
                         {k: 0 for k in SAMPLE_REFS})


class ChangesBetweenPollsTest(KcmTestCase):

    def test_connectors_appear_and_disappear(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)])
        d.wait_metrics(with_sample)

        data = load_sample()
        data["connectors"]["default"] = [c for c in data["connectors"]["default"]
                                         if c["id"] != INDEX]
        new = copy.deepcopy(data["connectors"]["ops"][0])
        new.update(id="new-0001", name="New webhook", connector_type_id=".webhook",
                   referenced_by_count=0, is_missing_secrets=True)
        data["connectors"]["ops"].append(new)
        data["preconfigured_connectors"] = [c for c in data["preconfigured_connectors"]
                                            if c["id"] != "my-server-log"]
        data["spaces"] = [s for s in data["spaces"] if s["id"] != "security-team"]
        fake.set_data(data)

        want_info = {t for t in SAMPLE_INFO
                     if t[1] not in (INDEX, "my-server-log") and t[0] != "security-team"}
        want_info.add(("ops", "new-0001", "New webhook", ".webhook", F, F, F))
        m = d.wait_metrics(lambda m: info_set(m) == want_info, what="the changed inventory")
        want_refs = {k: v for k, v in SAMPLE_REFS.items()
                     if k[1] not in (INDEX, "my-server-log") and k[0] != "security-team"}
        want_refs[("ops", "new-0001")] = 0
        want_refs[("*", "ops-slack")] = 2      # default 1 + ops 1
        self.assertEqual(per_connector(m, "kibana_connector_references"), want_refs)
        want_ms = {k: 0 for k in want_refs}
        want_ms[("ops", EMAIL)] = 1
        want_ms[("ops", "new-0001")] = 1
        self.assertEqual(per_connector(m, "kibana_connector_missing_secrets"), want_ms)
        # rules now point at connectors that are gone from their space
        self.assertEqual(missing_set(m), {
            ("default", RULE_CPU, "CPU high", DELETED),
            ("default", RULE_DISK, "Disk usage", INDEX),
            ("ops", RULE_SLO, "Ops latency SLO", "my-server-log"),
        })
        for api in APIS:
            self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api=api), 1)

        # and back
        fake.set_data(load_sample())
        m = d.wait_metrics(with_sample, what="the original inventory")
        self.assertEqual(per_connector(m, "kibana_connector_references"), SAMPLE_REFS)
        self.assertEqual(missing_set(m), SAMPLE_MISSING)

    def test_rule_pointing_at_deleted_connector(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake)])
        d.wait_metrics(lambda m: missing_set(m) == SAMPLE_MISSING)

        # the connector comes back (same id) in ANOTHER space: still missing
        data = load_sample()
        restored = copy.deepcopy(data["connectors"]["default"][0])
        restored.update(id=DELETED, name="Ops email (restored)", connector_type_id=".email",
                        referenced_by_count=1)
        data["connectors"]["ops"].append(restored)
        fake.set_data(data)
        m = d.wait_metrics(lambda m: ("ops", DELETED) in per_connector(
            m, "kibana_connector_references"))
        self.assertEqual(missing_set(m), SAMPLE_MISSING)

        # restored in the rule's space: the series vanishes
        data["connectors"]["ops"].pop()
        data["connectors"]["default"].append(restored)
        fake.set_data(data)
        m = d.wait_metrics(lambda m: missing_set(m) == set(), what="missing series to vanish")
        self.assertIn(("default", DELETED), per_connector(m, "kibana_connector_references"))

        # deleted again: back
        data = load_sample()
        fake.set_data(data)
        d.wait_metrics(lambda m: missing_set(m) == SAMPLE_MISSING)

        # the rule is renamed: the series follows the new name
        data["rules"]["default"][0]["name"] = "CPU very high"
        fake.set_data(data)
        d.wait_metrics(lambda m: missing_set(m) == {
            ("default", RULE_CPU, "CPU very high", DELETED)})

        # the rule is fixed (the action removed): the series vanishes
        data["rules"]["default"][0]["actions"] = [
            a for a in data["rules"]["default"][0]["actions"] if a["id"] != DELETED]
        fake.set_data(data)
        d.wait_metrics(lambda m: missing_set(m) == set(), what="missing series to vanish")

        # the rule is deleted while pointing at two missing connectors
        data = load_sample()
        data["rules"]["ops"][0]["actions"].append(dict(
            data["rules"]["ops"][0]["actions"][0], id="gone-1", uuid="u-gone-1"))
        data["rules"]["ops"][0]["actions"].append(dict(
            data["rules"]["ops"][0]["actions"][0], id="gone-1", uuid="u-gone-1b"))
        fake.set_data(data)
        d.wait_metrics(lambda m: missing_set(m) == SAMPLE_MISSING | {
            ("ops", RULE_SLO, "Ops latency SLO", "gone-1")})
        del data["rules"]["ops"][0]
        fake.set_data(data)
        d.wait_metrics(lambda m: missing_set(m) == SAMPLE_MISSING)

    def test_system_connector_actions_never_flagged(self):
        data = load_sample()
        sysacts = [
            {"id": "system-connector-.cases", "params": {}, "uuid": "s1",
             "connector_type_id": ".cases"},
            {"id": "system-connector-.observability-ai-assistant", "params": {},
             "uuid": "s2", "connector_type_id": ".observability-ai-assistant"},
        ]
        data["rules"]["ops"][1]["actions"] = list(sysacts)
        data["rules"]["security-team"][0]["actions"].extend(sysacts)
        # a preconfigured connector used from every space is never missing either
        for sp in ("ops", "security-team"):
            data["rules"][sp][1]["actions"].append(
                {"group": "default", "id": "ops-slack", "params": {}, "connector_type_id": ".slack",
                 "frequency": {"summary": False, "notify_when": "onActiveAlert", "throttle": None},
                 "uuid": "pre-" + sp})
        fake = self.start_fake(data)
        d = self.start_daemon([self.target(fake)])
        m = self.wait_all_up(d)
        m = d.wait_metrics(lambda m: missing_set(m) == SAMPLE_MISSING)
        for lab, _ in m.series("kibana_rule_action_connector_missing"):
            self.assertFalse(lab["connector_id"].startswith("system-connector-"), lab)


class RulesPagingTest(KcmTestCase):
    max_requests = 4000

    @staticmethod
    def rules(n, missing_at, good=WEBHOOK):
        out = []
        for i in range(n):
            cid = missing_at.get(i, good)
            out.append({
                "id": "rule-%04d" % i, "name": "Rule %d" % i, "tags": [], "enabled": True,
                "consumer": "stackAlerts", "rule_type_id": ".es-query",
                "schedule": {"interval": "1m"}, "params": {},
                "actions": [{"group": "query matched", "id": cid, "params": {},
                             "connector_type_id": ".webhook",
                             "frequency": {"summary": False, "notify_when": "onActiveAlert",
                                           "throttle": None},
                             "uuid": "a-%04d" % i}],
            })
        return out

    def pages_requested(self, fake, space_prefix=""):
        out = []
        for r in fake.requests:
            if r["path"] == space_prefix + "/api/alerting/rules/_find":
                self.assertEqual(set(r["query"]), {"per_page", "page"}, r["query"])
                self.assertEqual(r["query"]["per_page"], "100")
                out.append(int(r["query"]["page"]))
        return out

    def test_250_rules_three_pages(self):
        data = load_sample()
        # page 1 ends at index 99, page 2 starts at 100, page 3 holds 200..249
        data["rules"]["default"] = self.rules(250, {99: "gone-p1", 100: "gone-p2",
                                                    236: "gone-p3"})
        data["rules"]["ops"] = self.rules(100, {}, PD)      # exactly one page
        data["rules"]["security-team"] = []                 # empty: page 1 only
        fake = self.start_fake(data)
        d = self.start_daemon([self.target(fake)])
        want = {("default", "rule-0099", "Rule 99", "gone-p1"),
                ("default", "rule-0100", "Rule 100", "gone-p2"),
                ("default", "rule-0236", "Rule 236", "gone-p3")}
        m = d.wait_metrics(lambda m: missing_set(m) == want)
        self.assertEqual(m.value("kibana_connector_monitor_up", target=T, api="rules"), 1)
        # a complete cycle later, look at what was asked
        n0 = sum(1 for r in fake.requests if r["path"] == "/api/actions/connector_types")
        wait_until(lambda: sum(1 for r in fake.requests
                               if r["path"] == "/api/actions/connector_types") >= n0 + 2)
        self.assertEqual(set(self.pages_requested(fake)), {1, 2, 3})
        self.assertEqual(set(self.pages_requested(fake, "/s/ops")), {1})
        self.assertEqual(set(self.pages_requested(fake, "/s/security-team")), {1})
        # pages of one cycle are not asked twice
        p = self.pages_requested(fake)
        self.assertLessEqual(abs(p.count(1) - p.count(3)), 1, p)

        # shrink to exactly 200 rules: page 3 is no longer requested
        data["rules"]["default"] = self.rules(200, {99: "gone-p1", 100: "gone-p2"})
        fake.set_data(data)
        d.wait_metrics(lambda m: missing_set(m) == want - {
            ("default", "rule-0236", "Rule 236", "gone-p3")})
        fake.clear_requests()
        wait_until(lambda: sum(1 for r in fake.requests
                               if r["path"] == "/api/actions/connector_types") >= 2)
        self.assertEqual(set(self.pages_requested(fake)), {1, 2})


class SpacesSelectionTest(KcmTestCase):

    def test_explicit_space_list(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake, spaces=["default", "ops"])])
        m = self.wait_all_up(d, apis=("connectors", "connector_types", "rules"))
        m = d.wait_metrics(lambda m: {t[0] for t in info_set(m)} == {"default", "ops", "*"})
        n0 = sum(1 for r in fake.requests if r["path"] == "/api/actions/connector_types")
        wait_until(lambda: sum(1 for r in fake.requests
                               if r["path"] == "/api/actions/connector_types") >= n0 + 2)
        paths = {r["path"] for r in fake.requests}
        self.assertEqual(paths, {"/api/actions/connectors", "/s/ops/api/actions/connectors",
                                 "/api/alerting/rules/_find", "/s/ops/api/alerting/rules/_find",
                                 "/api/actions/connector_types"})
        m = d.scrape()
        self.assertEqual(info_set(m), {t for t in SAMPLE_INFO if t[0] != "security-team"})
        refs = per_connector(m, "kibana_connector_references")
        # Kibana's count is global (every space, polled or not): exported as is
        self.assertEqual(refs[("*", "ops-slack")], 2)       # default 1 + ops 1
        self.assertEqual(refs[("*", "my-server-log")], 2)   # ops 1 + security-team 1
        self.assertEqual(missing_set(m), SAMPLE_MISSING)
        self.assertEqual(self.requests_total(m, "spaces", "ok"), 0,
                         "requests_total{api=spaces,result=ok}")

    def test_spaces_all_follows_new_spaces(self):
        fake = self.start_fake()
        d = self.start_daemon([self.target(fake, spaces="all")])
        d.wait_metrics(with_sample)
        data = load_sample()
        data["spaces"].append({"id": "marketing", "name": "Marketing", "color": "#ff00ff",
                               "disabledFeatures": [], "imageUrl": ""})
        data["connectors"]["marketing"] = [
            dict(data["connectors"]["default"][1], id="mkt-log", name="Marketing log",
                 referenced_by_count=0)]
        fake.set_data(data)
        m = d.wait_metrics(lambda m: ("marketing", "mkt-log", "Marketing log", ".server-log",
                                      F, F, F) in info_set(m))
        self.assertEqual(info_set(m) - SAMPLE_INFO,
                         {("marketing", "mkt-log", "Marketing log", ".server-log", F, F, F)})
        self.assertTrue(any(r["path"] == "/s/marketing/api/alerting/rules/_find"
                            for r in fake.requests))
        self.assertTrue(any(r["path"] == "/api/spaces/space" for r in fake.requests))


if __name__ == "__main__":
    unittest.main()
