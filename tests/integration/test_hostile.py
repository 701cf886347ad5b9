"""Hostile strings from Kibana: the scrape stays valid, label values are
escaped (\\\\ \\" \\n), invalid UTF-8 is repaired to U+FFFD, values are cut
to 1024 bytes on a code-point boundary, and the log stays one record a line."""

import copy
import unittest

from kcmtest import DELETED, KcmTestCase, load_sample, parse_logfmt

T = "kib"
FFFD = "\ufffd"

# (connector id, name as sent, expected name label)
HOSTILE_NAMES = [
    ("h-quote", 'say "hi"', 'say "hi"'),
    ("h-backslash", "C:\\path\\to\\", "C:\\path\\to\\"),
    ("h-newline", "line1\nline2\n", "line1\nline2\n"),
    ("h-all-three", '\\"\n\\n\\"', '\\"\n\\n\\"'),
    ("h-cr-tab", "a\rb\tc", "a\rb\tc"),
    ("h-forged-log", 'x\ntime=2020-01-01T00:00:00.000Z level=error msg="forged" a=b',
     'x\ntime=2020-01-01T00:00:00.000Z level=error msg="forged" a=b'),
    ("h-forged-series", 'x"} 1\nkibana_connector_info{target="evil"} 1\n#',
     'x"} 1\nkibana_connector_info{target="evil"} 1\n#'),
    ("h-utf8", "Ünïcødé ✓ 日本語 😀", "Ünïcødé ✓ 日本語 😀"),
    # raw bytes in the JSON body
    ("h-invalid", b"bad \xff\xfe name \x80", "bad %s%s name %s" % (FFFD, FFFD, FFFD)),
    ("h-overlong", b"ov \xc0\xaf er", "ov %s%s er" % (FFFD, FFFD)),
    ("h-cesu", b"cesu \xed\xa0\x80 x", "cesu %s%s%s x" % (FFFD, FFFD, FFFD)),
    ("h-too-big", b"big \xf4\x90\x80\x80 cp", "big %s%s%s%s cp" % (FFFD, FFFD, FFFD, FFFD)),
    # escapes jansson refuses
    ("h-lone-high", "lone \ud800 high", "lone %s high" % FFFD),
    ("h-lone-low", "lone \udc00 low", "lone %s low" % FFFD),
    ("h-pair", "pair \ud83d\ude00 ok", "pair \U0001F600 ok"),
    ("h-nul", "nul\u0000byte", "nul%sbyte" % FFFD),
    # long values: cut to 1024 bytes on a code-point boundary, before escaping
    ("h-long-ascii", "A" * 10240, "A" * 1024),
    ("h-long-euro", "\u20ac" * 3400, "\u20ac" * 341),              # 3 bytes each
    ("h-long-quote", '"' * 3000, '"' * 1024),
    ("h-long-newline", "\n" * 2000, "\n" * 1024),
    ("h-long-emoji", "x" + "\U0001F600" * 3000, "x" + "\U0001F600" * 255),  # 1 + 4*255
]

HOSTILE_ID_LABEL = 'id"with\nnewline\\and' + "\u00ff"
HOSTILE_SPACE = 'evil"\nspace'
HOSTILE_RULE_NAME = b'rule "x"\n\\ \xff end'
HOSTILE_RULE_NAME_LABEL = 'rule "x"\n\\ %s end' % FFFD


def hostile_data():
    data = load_sample()
    proto = data["connectors"]["default"][1]
    conns = data["connectors"]["default"]
    for cid, name, _ in HOSTILE_NAMES:
        conns.append(dict(copy.deepcopy(proto), id=cid, name=name, referenced_by_count=0))
    # a hostile id (valid UTF-8 U+00FF here, quotes, newline, backslash)
    conns.append(dict(copy.deepcopy(proto), id=HOSTILE_ID_LABEL, name="hostile id",
                      referenced_by_count=0))
    # two ids that only differ in invalid bytes: one series after repair
    conns.append(dict(copy.deepcopy(proto), id=b"dup\xff", name="dup", referenced_by_count=0))
    conns.append(dict(copy.deepcopy(proto), id=b"dup\xfe", name="dup", referenced_by_count=0))
    # a truncated sequence: how many U+FFFD is a matter of taste
    conns.append(dict(copy.deepcopy(proto), id="h-truncated", name=b"trunc \xe2\x82 end",
                      referenced_by_count=0))
    # a hostile space id
    data["spaces"].append({"id": HOSTILE_SPACE, "name": "Evil \"space\"\n",
                           "disabledFeatures": [], "imageUrl": "", "color": "#000000"})
    data["connectors"][HOSTILE_SPACE] = [dict(copy.deepcopy(proto), id="in-evil-space",
                                              name="in evil space", referenced_by_count=0)]
    # a rule with a hostile name and id pointing at a missing hostile connector id
    rule = copy.deepcopy(data["rules"]["default"][0])
    rule.update(id='rule"id\n', name=HOSTILE_RULE_NAME)
    rule["actions"] = [dict(rule["actions"][2], id='gone"\nid\\')]
    data["rules"]["default"].append(rule)
    data["rules"][HOSTILE_SPACE] = [dict(copy.deepcopy(rule), id="r-evil", name="r evil")]
    return data


def names_by_id(m):
    return {lab["connector_id"]: lab["name"] for lab, _ in
            m.series("kibana_connector_info", target=T)}


class HostileTest(KcmTestCase):

    def check(self, m):
        names = names_by_id(m)
        for cid, _, want in HOSTILE_NAMES:
            with self.subTest(connector=cid):
                self.assertIn(cid, names)
                self.assertEqual(names[cid], want)
                self.assertLessEqual(len(names[cid].encode()), 1024)

        self.assertIn(HOSTILE_ID_LABEL, names)
        self.assertEqual(names[HOSTILE_ID_LABEL], "hostile id")

        dup = [lab for lab, _ in m.series("kibana_connector_info", target=T)
               if lab["connector_id"].startswith("dup")]
        self.assertEqual([lab["connector_id"] for lab in dup], ["dup" + FFFD], dup)

        trunc = names["h-truncated"]
        self.assertTrue(trunc.startswith("trunc ") and trunc.endswith(" end"), trunc)
        self.assertIn(set(trunc[6:-4]), ({FFFD},), trunc)

        spaces = {lab["space"] for lab, _ in m.series("kibana_connector_info", target=T)}
        self.assertIn(HOSTILE_SPACE, spaces)
        self.assertEqual(names["in-evil-space"], "in evil space")

        missing = {(lab["space"], lab["rule_id"], lab["rule_name"], lab["connector_id"])
                   for lab, _ in m.series("kibana_rule_action_connector_missing", target=T)}
        self.assertEqual(missing, {
            ("default", "41f0a2d8-9a6b-4c1e-8f2d-7b3e5c9a1d04", "CPU high", DELETED),
            ("default", 'rule"id\n', HOSTILE_RULE_NAME_LABEL, 'gone"\nid\\'),
            (HOSTILE_SPACE, "r-evil", "r evil", 'gone"\nid\\'),
        })
        # the daemon's own counter of cut values, where it exports one
        cut = m.get("kibana_connector_monitor_label_values_truncated_total")
        if cut is not None:
            self.assertGreater(cut, 0)
        # nobody forged a series
        self.assertEqual({lab["target"] for lab, _ in m.series("kibana_connector_info")}, {T})

    def test_hostile_strings_serve_mode(self):
        fake = self.start_fake(hostile_data())
        d = self.start_daemon([self.target(fake)], log_level="debug")
        m = d.wait_metrics(lambda m: "h-long-emoji" in names_by_id(m) and
                           "in-evil-space" in names_by_id(m))
        self.check(m)
        # a failure in the hostile space gets logged: still one record a line
        fake.add_fault(r"^/s/evil", status=503)
        d.wait_metrics(lambda m: self.requests_total(m, "connectors", "http_5xx") >= 2)
        self.check(d.scrape())
        lines = d.log_lines()
        self.assertTrue(lines)
        for line in lines:
            rec = parse_logfmt(line)
            self.assertIsNotNone(rec, "not one logfmt record: %r" % line[:300])
            self.assertNotEqual(rec.get("msg"), "forged", line[:300])
            self.assertTrue(line.startswith("time="), line[:300])
        warn = [r for r in d.logs("warning") if "evil" in (r.get("url_path") or "") and
                "/api/actions/connectors" in r.get("url_path")]
        self.assertEqual(len(warn), 1, warn)

    def test_hostile_strings_once_mode(self):
        fake = self.start_fake(hostile_data())
        p, m = self.run_once([self.target(fake, interval=None)])
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.check(m)

    def test_every_byte_value_in_a_name(self):
        data = load_sample()
        proto = data["connectors"]["default"][1]
        for hi in range(0, 256, 64):
            data["connectors"]["default"].append(dict(
                copy.deepcopy(proto), id="bytes-%d" % hi, name=bytes(range(hi, hi + 64)),
                referenced_by_count=0))
        fake = self.start_fake(data)
        p, m = self.run_once([self.target(fake, interval=None)])
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        names = names_by_id(m)
        for hi in range(0, 256, 64):
            self.assertIn("bytes-%d" % hi, names)
        # ASCII comes through unchanged (NUL repaired)
        self.assertEqual(names["bytes-64"], bytes(range(64, 128)).decode())
        self.assertEqual(names["bytes-0"], FFFD + bytes(range(1, 64)).decode())
        self.assertEqual(names["bytes-128"], FFFD * 64)
        self.assertEqual(names["bytes-192"], FFFD * 64)


if __name__ == "__main__":
    unittest.main()
