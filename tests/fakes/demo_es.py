#!/usr/bin/env python3
"""The demo's Elasticsearch: fake_es.FakeES with an event log that keeps
growing.

    python3 demo_es.py --data sample_data.json [--bind 127.0.0.1] [--port 0]
                       [--api-key KEY]

Writes the past 15 minutes of connector executions for the connectors of
the sample Kibana (mostly successes; the "Ops webhook" failing, a timeout,
a connector deleted but still executed, some documents in the pre-8.7
shape), then adds a few new executions every 10 seconds so the counters
move.  Prints "listening on HOST:PORT" once serving; stops on SIGTERM/SIGINT.
"""
import argparse
import datetime
import json
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_es import FakeES  # noqa: E402

OLD_INDEX = ".kibana-event-log-8.5.3-000001"
DS_INDEX = ".ds-.kibana-event-log-ds-2026.11.01-000001"
WEBHOOK_ERROR = ("error calling webhook, retry later: [500] Internal Server Error; "
                 "retry: true")


def iso(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def document(ms, conn, outcome, legacy=False, action="execute", rule=None):
    """One actions event as Kibana writes it (kibana-api.md section 11)."""
    so = {"rel": "primary", "type": "action", "id": conn["id"],
          "type_id": conn["type"]}
    if conn["space"] not in ("default", "*"):
        so["namespace"] = conn["space"]
    if conn["space"] == "*":
        so["space_agnostic"] = True
    sos = [so]
    if rule is not None:
        sos.append({"rel": "primary", "type": "alert", "id": rule,
                    "type_id": ".index-threshold"})
    event = {"provider": "actions", "action": action, "kind": "action"}
    if outcome is not None:
        event["outcome"] = outcome
    kibana = {"saved_objects": sos,
              "space_ids": ["default" if conn["space"] == "*" else conn["space"]],
              "version": "8.5.3" if legacy else "8.17.2"}
    if not legacy:
        kibana["action"] = {"name": conn["name"], "id": conn["id"],
                            "execution": {"uuid": "demo-%d-%d" % (ms, random.randrange(1 << 30)),
                                          "source": "alert" if rule else "http_request"}}
    label = "%s:%s: %s" % (conn["type"], conn["id"], conn["name"])
    doc = {"@timestamp": iso(ms), "event": event, "kibana": kibana,
           "ecs": {"version": "1.8.0"}}
    if action == "execute-timeout":
        doc["message"] = ("action: %s:%s: '%s' execution cancelled due to timeout - "
                          "exceeded default timeout of \"5m\"" %
                          (conn["type"], conn["id"], conn["name"]))
    elif outcome == "failure":
        doc["message"] = "action execution failure: " + label
        doc["error"] = {"message": conn.get("error", WEBHOOK_ERROR)}
    else:
        doc["message"] = "action executed: " + label
    return doc


def connectors(data):
    out = []
    for space, lst in data.get("connectors", {}).items():
        for c in lst:
            out.append({"id": c["id"], "name": c["name"],
                        "type": c["connector_type_id"], "space": space})
    for c in data.get("preconfigured", []):
        out.append({"id": c["id"], "name": c["name"],
                    "type": c["connector_type_id"], "space": "*"})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key")
    args = ap.parse_args()
    with open(args.data, encoding="utf-8") as f:
        conns = connectors(json.load(f))
    failing = next((c for c in conns if c["name"] == "Ops webhook"), conns[0])
    deleted = {"id": "deadbeef-0000-4000-8000-000000000000", "name": "Deleted email",
               "type": ".email", "space": "default",
               "error": "error sending email: Invalid login: 535 Authentication failed"}
    rnd = random.Random(7)
    now = int(time.time() * 1000)

    es = FakeES(api_key=args.api_key, bind=args.bind, port=args.port).start()
    old, new = [], []
    for c in conns:
        for _ in range(rnd.randrange(2, 6)):
            ms = now - rnd.randrange(60_000, 15 * 60_000)
            (old if rnd.random() < 0.3 else new).append(document(ms, c, "success"))
    for i in range(6):
        new.append(document(now - 60_000 * (i + 2), failing, "failure",
                            rule="41f0a2d8-9a6b-4c1e-8f2d-7b3e5c9a1d04"))
        new.append(document(now - 60_000 * (i + 2), deleted, "failure"))
    new.append(document(now - 300_000, conns[-1], None, action="execute-timeout"))
    es.add_docs(OLD_INDEX, old)
    es.add_docs(DS_INDEX, new)
    print("listening on %s:%d" % (args.bind, es.port), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(10):
        ms = int(time.time() * 1000)
        es.add_docs(DS_INDEX, [document(ms, failing, "failure"),
                               document(ms, rnd.choice(conns), "success")])
    es.stop()


if __name__ == "__main__":
    main()
