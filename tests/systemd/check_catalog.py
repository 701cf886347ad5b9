#!/usr/bin/env python3
"""Every MSGID_* in include/msgid.h has an entry in
contrib/systemd/kibana-connector-monitor.catalog and vice versa; ids are
unique 128-bit lower-case hex; every entry has Subject:, Defined-By:,
Support:, Documentation:, a blank line and prose; journalctl accepts the
file (--update-catalog into a scratch --root) and lists every id.

usage: check_catalog.py SOURCE_DIR"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

HEADERS = ("Subject", "Defined-By", "Support", "Documentation")


def main(src):
    problems = []
    with open(os.path.join(src, "include", "msgid.h"), encoding="utf-8") as f:
        header = f.read()
    defs = re.findall(r'^#define\s+(MSGID_[A-Z0-9_]+)\s+"([^"]*)"', header, re.M)
    if not defs:
        problems.append("no MSGID_* definitions found in msgid.h")
    ids = {}
    for name, v in defs:
        if not re.fullmatch(r"[0-9a-f]{32}", v):
            problems.append("%s: '%s' is not 32 lower-case hex digits" % (name, v))
        if v in ids:
            problems.append("%s reuses the id of %s" % (name, ids[v]))
        ids[v] = name

    cat_path = os.path.join(src, "contrib", "systemd", "kibana-connector-monitor.catalog")
    with open(cat_path, encoding="utf-8") as f:
        text = f.read()
    entries = {}
    for block in re.split(r"^-- ", text, flags=re.M)[1:]:
        lines = block.split("\n")
        eid = lines[0].strip()
        if eid in entries:
            problems.append("catalog: duplicate entry %s" % eid)
        i = 1
        hdr = {}
        while i < len(lines) and lines[i].strip():
            k, _, v = lines[i].partition(":")
            hdr[k.strip()] = v.strip()
            i += 1
        prose = "\n".join(lines[i:]).strip()
        for h in HEADERS:
            if not hdr.get(h):
                problems.append("catalog %s: no %s:" % (eid, h))
        if len(prose) < 80:
            problems.append("catalog %s: no explanation after the headers" % eid)
        entries[eid] = hdr

    for v, name in ids.items():
        if v not in entries:
            problems.append("%s (%s) has no catalog entry" % (name, v))
    for eid in entries:
        if eid not in ids:
            problems.append("catalog entry %s has no MSGID_* in msgid.h" % eid)

    journalctl = shutil.which("journalctl")
    if journalctl:
        root = tempfile.mkdtemp(prefix="kcm-catalog-")
        try:
            d = os.path.join(root, "usr", "lib", "systemd", "catalog")
            os.makedirs(d)
            shutil.copy(cat_path, d)
            p = subprocess.run([journalctl, "--root", root, "--update-catalog"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            if p.returncode != 0 or p.stdout.strip():
                problems.append("journalctl --update-catalog: rc=%d %s"
                                % (p.returncode, p.stdout.decode(errors="replace")))
            p = subprocess.run([journalctl, "--root", root, "--list-catalog"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            listed = set(re.findall(r"^([0-9a-f]{32}) ", p.stdout.decode(errors="replace"), re.M))
            for v in ids:
                if v not in listed:
                    problems.append("journalctl --list-catalog does not show %s" % v)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    for p in problems:
        print("FAIL:", p)
    if problems:
        return 1
    print("catalog OK: %d ids, %d entries" % (len(ids), len(entries)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
