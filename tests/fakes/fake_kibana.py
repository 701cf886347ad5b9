#!/usr/bin/env python3
"""A fake Kibana for kibana-connector-monitor's tests and demo.

Follows shared/reference/kibana-api.md: the Boom error envelope (section 1.1),
GET /api/actions/connectors (section 2, with the per-version field variants),
GET /api/actions/connector_types (section 5), GET /api/spaces/space (section 7)
and GET /api/alerting/rules/_find (section 8).  Every route also answers under
the /s/<space> prefix.  Standard library only.

Command line:
    python3 fake_kibana.py --bind 127.0.0.1 --port 0 [--data FILE]
        [--version 8.17] [--api-key KEY | --basic USER:PASS]
        [--tls-cert F --tls-key F] [--verbose]
prints exactly one line "listening on HOST:PORT" once bound and serves until
SIGTERM / SIGINT.

In-process (what the integration tests use):
    fake = FakeKibana(data, version="8.17", api_key="...")
    fake.start(); fake.url; fake.requests; fake.set_data(d)
    fake.add_fault(r"^/s/ops/api/actions/connectors$", status=503)
    fake.clear_faults(); fake.stop()
    fake.set_execute_result("default", cid, outcome="webhook_500", delay=0)
        programs POST .../connector/<cid>/_execute (section 6): a named row
        of EXECUTE_OUTCOMES (status matrix 6.1, per-type messages 6.3) or a
        raw status/body; unprogrammed connectors succeed with their type's
        data, unknown ids get 404, system ids 400, a body without params
        400, a POST without kbn-xsrf 400.

Data model (see sample_data.json): {"spaces": [...], "preconfigured_connectors":
[...], "connectors": {space: [...]}, "connector_types": [...], "rules": {space:
[...]}}.  Stored objects carry every field of the newest Kibana; the fake
drops what the configured --version would not send.  Inside the process a
string value may also be `bytes`: it is sent raw (invalid UTF-8 and all), the
only way to put bytes a real Kibana could relay into a JSON body.
"""

import argparse
import base64
import copy
import http.server
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

DEFAULT_VERSION = "8.17"
HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE_DATA = os.path.join(HERE, "sample_data.json")

REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 409: "Conflict", 413: "Payload Too Large",
    429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
}

FAULT_MODES = (None, "malformed", "truncated", "huge", "close", "hang")
HANG_FOREVER = 3600.0


# --------------------------------------------------------------------------
# JSON encoding the way Node's JSON.stringify writes it: compact, raw UTF-8,
# lone surrogates as \uXXXX escapes; plus raw `bytes` strings (see above).

_SURROGATE = re.compile("[\ud800-\udfff]")


def _enc_str(s):
    out = json.dumps(s, ensure_ascii=False)
    out = _SURROGATE.sub(lambda m: "\\u%04x" % ord(m.group(0)), out)
    return out.encode("utf-8")


_SHORT_ESCAPES = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f",
                  0x0D: b"\\r"}


def _enc_bytes(b):
    out = bytearray(b'"')
    for c in b:
        if c == 0x22:
            out += b'\\"'
        elif c == 0x5C:
            out += b"\\\\"
        elif c in _SHORT_ESCAPES:
            out += _SHORT_ESCAPES[c]
        elif c < 0x20:
            out += b"\\u%04x" % c
        else:
            out.append(c)
    out += b'"'
    return bytes(out)


def encode_json(obj):
    """Serialises obj (dict/list/str/bytes/int/float/bool/None) to bytes."""
    if obj is None:
        return b"null"
    if obj is True:
        return b"true"
    if obj is False:
        return b"false"
    if isinstance(obj, str):
        return _enc_str(obj)
    if isinstance(obj, (bytes, bytearray)):
        return _enc_bytes(bytes(obj))
    if isinstance(obj, (int, float)):
        return json.dumps(obj).encode()
    if isinstance(obj, dict):
        parts = []
        for k, v in obj.items():
            key = _enc_bytes(k) if isinstance(k, (bytes, bytearray)) else _enc_str(str(k))
            parts.append(key + b":" + encode_json(v))
        return b"{" + b",".join(parts) + b"}"
    if isinstance(obj, (list, tuple)):
        return b"[" + b",".join(encode_json(v) for v in obj) + b"]"
    raise TypeError("cannot encode %r" % type(obj))


def boom(status, message=None):
    """The Kibana/Boom error envelope (kibana-api.md section 1.1)."""
    reason = REASONS.get(status, http.server.BaseHTTPRequestHandler.responses.get(
        status, ("Error",))[0])
    return {"statusCode": status, "error": reason,
            "message": reason if message is None else message}


def parse_version(v):
    """'8.17' -> (8, 17); '9.x' / '9' -> (9, 0); '8.17.2' -> (8, 17)."""
    parts = (str(v).split(".") + ["0"])[:2]
    out = []
    for p in parts:
        m = re.match(r"\d+", p)
        out.append(int(m.group(0)) if m else 0)
    return tuple(out)


def _name_key(c):
    name = c.get("name", "")
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).decode("utf-8", "replace")
    return (name.casefold(), name, str(c.get("id", "")))


# --------------------------------------------------------------------------

class Fault:
    def __init__(self, path_regex, status=None, body=None, delay=0.0, mode=None,
                 count=None, size=2 * 1024 * 1024, method=None, query=None,
                 headers=None, gate=None):
        if mode not in FAULT_MODES:
            raise ValueError("unknown fault mode %r" % (mode,))
        self.regex = re.compile(path_regex)
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.delay = float(delay or 0)
        self.mode = mode
        self.count = count
        self.size = int(size)
        self.method = method
        self.query = dict(query or {})
        self.headers = dict(headers or {})
        self.gate = gate
        self.hits = 0

    def matches(self, method, path, query):
        if self.method is not None and self.method.upper() != method:
            return False
        if not self.regex.search(path):
            return False
        return all(query.get(k) == str(v) for k, v in self.query.items())


class FakeKibana:
    """The fake, startable in-process on a thread.  All methods thread-safe."""

    def __init__(self, data=None, version=DEFAULT_VERSION, api_key=None,
                 basic=None, tls_cert=None, tls_key=None, bind="127.0.0.1",
                 port=0, verbose=False):
        if data is None:
            with open(SAMPLE_DATA, encoding="utf-8") as f:
                data = json.load(f)
        self._lock = threading.Lock()
        self._data = copy.deepcopy(data)
        self.version = str(version)
        self._v = parse_version(version)
        self.api_key = api_key
        self.basic = basic          # "user:pass"
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.bind = bind
        self.port = port
        self.verbose = verbose
        self._faults = []
        self._requests = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._conns = set()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._huge_cache = {}
        self._execute_results = {}

    # -- lifecycle ---------------------------------------------------------

    def start(self):
        fake = self

        class Handler(_Handler):
            pass
        Handler.fake = fake

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            block_on_close = False

            def handle_error(self, request, client_address):
                exc = sys.exc_info()[1]
                if isinstance(exc, (ConnectionError, ssl.SSLError, OSError)):
                    return      # client went away / TLS refused: normal here
                if fake.verbose or not fake._stopping.is_set():
                    super().handle_error(request, client_address)

        self._stopping.clear()
        self._server = Server((self.bind, self.port), Handler)
        if self.tls_cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.tls_cert, self.tls_key)
            # The handshake happens in the handler thread (first read), so
            # a client that never completes it cannot block accept().
            self._server.socket = ctx.wrap_socket(
                self._server.socket, server_side=True,
                do_handshake_on_connect=False)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fake-kibana", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops listening and cuts every open (keep-alive) connection."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)
        self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def scheme(self):
        return "https" if self.tls_cert else "http"

    @property
    def url(self):
        host = self.bind if ":" not in self.bind else "[%s]" % self.bind
        return "%s://%s:%d" % (self.scheme, host, self.port)

    # -- state -------------------------------------------------------------

    def set_data(self, data):
        with self._lock:
            self._data = copy.deepcopy(data)

    def get_data(self):
        with self._lock:
            return copy.deepcopy(self._data)

    def set_auth(self, api_key=None, basic=None):
        """Changes the credentials Kibana accepts (both None: no auth)."""
        with self._lock:
            self.api_key = api_key
            self.basic = basic

    def set_version(self, version):
        with self._lock:
            self.version = str(version)
            self._v = parse_version(version)

    def add_fault(self, path_regex, status=None, body=None, delay=0, mode=None,
                  count=None, **kw):
        """Adds a fault; the first matching fault of the list applies.

        path_regex is searched in the request path (with the /s/ prefix,
        without the query).  The request is recorded first, and the fault
        applies before authentication.
          status/body  answer with these instead (body: dict/list -> JSON,
                       bytes/str -> raw; status alone -> a Boom body)
          delay        seconds to wait first (cut short by stop())
          mode         "malformed": invalid JSON; "truncated": the real body
                       cut in the middle, with an honest Content-Length;
                       "huge": a valid JSON array of connectors of exactly
                       `size` bytes (default 2 MiB); "close": close the
                       socket without answering; "hang": wait `delay` (0:
                       until stop()) before answering as usual
          count        how many requests it applies to (None: forever)
        Extra keywords: size, method, query (dict that must be a subset of
        the query), headers (added to the answer), gate (a threading.Event:
        the answer waits until the test sets it, or stop(); then the rest
        of the fault applies, a plain fault answers as usual).
        """
        f = Fault(path_regex, status=status, body=body, delay=delay, mode=mode,
                  count=count, **kw)
        with self._lock:
            self._faults.append(f)
        return f

    def clear_faults(self):
        with self._lock:
            self._faults = []

    def set_execute_result(self, space, cid, outcome=None, status=None, body=None,
                           delay=0.0):
        """Programs POST .../connector/<cid>/_execute in `space` ("*": every
        space).  outcome: a name from EXECUTE_OUTCOMES (kibana-api.md 6.1 and
        6.3); or status/body sent as they are; delay: seconds to wait first
        (a slow service).  Applies after the body and system-action checks
        and before the 404 for unknown ids."""
        if outcome is not None and outcome not in EXECUTE_OUTCOMES:
            raise ValueError("unknown _execute outcome %r" % (outcome,))
        with self._lock:
            self._execute_results[(space, cid)] = {
                "outcome": outcome, "status": status, "body": body,
                "delay": float(delay or 0)}

    def clear_execute_results(self):
        with self._lock:
            self._execute_results = {}

    def _execute_result(self, space, cid):
        with self._lock:
            r = self._execute_results.get((space, cid))
            if r is None:
                r = self._execute_results.get(("*", cid))
            return r

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def clear_requests(self):
        with self._lock:
            self._requests = []

    @property
    def max_in_flight(self):
        with self._lock:
            return self._max_in_flight

    def reset_max_in_flight(self):
        with self._lock:
            self._max_in_flight = self._in_flight

    # -- internals used by the handler ----------------------------------------

    def _record(self, req):
        with self._lock:
            self._requests.append(req)

    def _take_fault(self, method, path, query):
        with self._lock:
            for f in self._faults:
                if f.matches(method, path, query):
                    f.hits += 1
                    if f.count is not None:
                        f.count -= 1
                        if f.count <= 0:
                            self._faults.remove(f)
                    return f
        return None

    def _add_conn(self, conn):
        with self._lock:
            self._conns.add(conn)

    def _enter(self):
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _leave(self):
        with self._lock:
            self._in_flight -= 1

    def _drop_conn(self, conn):
        with self._lock:
            self._conns.discard(conn)

    def _snapshot(self):
        with self._lock:
            return self._data, self._v

    def huge_body(self, size):
        """A valid JSON array of connectors of exactly `size` bytes."""
        with self._lock:
            cached = self._huge_cache.get(size)
        if cached is not None:
            return cached
        items = []
        total = 2
        i = 0
        while True:
            item = encode_json({
                "id": "huge-%08d" % i, "name": "Huge connector %d" % i,
                "config": {"index": "x" * 200, "refresh": False,
                           "executionTimeField": None},
                "connector_type_id": ".index", "is_preconfigured": False,
                "is_deprecated": False, "referenced_by_count": 0,
                "is_missing_secrets": False, "is_system_action": False})
            extra = len(item) + (1 if items else 0)
            if total + extra > size:
                break
            items.append(item)
            total += extra
            i += 1
        body = b"[" + b",".join(items) + b" " * (size - total) + b"]"
        with self._lock:
            self._huge_cache[size] = body
        return body

    # -- the API ---------------------------------------------------------------

    def known_spaces(self, data):
        return [s["id"] for s in data.get("spaces", [])]

    def render_space(self, s, v):
        out = dict(s)
        if v < (8, 16):
            out.pop("solution", None)
        return out

    def referenced_by_count(self, data, space, conn, preconfigured):
        # injectExtraFindData (x-pack/plugins/actions/server/application/
        # connector/lib/inject_extra_find_data.ts): a filter agg with
        # match_all over the Kibana indices, NOT scoped to the request's
        # space, so every space reports the same global count
        # (shared/reference/kibana-api.md section 2.1).
        rbc = conn.get("referenced_by_count")
        if isinstance(rbc, dict):       # per space of the referencing rules
            return sum(rbc.values()) if preconfigured else rbc.get(space, 0)
        if rbc is not None:
            return rbc
        n = 0
        for rules in data.get("rules", {}).values():
            for r in rules:
                if any(a.get("id") == conn.get("id") for a in r.get("actions", [])):
                    n += 1
        return n

    def render_connector(self, data, space, c, preconfigured, v):
        out = {"id": c["id"], "name": c["name"]}
        if not preconfigured and "config" in c:
            out["config"] = c["config"]
        out["connector_type_id"] = c["connector_type_id"]
        out["is_preconfigured"] = preconfigured
        if v >= (8, 3):
            out["is_deprecated"] = bool(c.get("is_deprecated", False))
        out["referenced_by_count"] = self.referenced_by_count(data, space, c,
                                                              preconfigured)
        if not preconfigured and "is_missing_secrets" in c:
            out["is_missing_secrets"] = c["is_missing_secrets"]
        if v >= (8, 10):
            out["is_system_action"] = False
        if v >= (9, 0):
            out["is_connector_type_deprecated"] = bool(
                c.get("is_connector_type_deprecated", False))
        return out

    def list_connectors(self, data, space, v):
        own = data.get("connectors", {}).get(space, [])
        pre = data.get("preconfigured_connectors", [])
        items = [c for c in own if not c.get("is_system_action")]
        out = [(c, False) for c in items] + [(c, True) for c in pre]
        out.sort(key=lambda t: _name_key(t[0]))
        return [self.render_connector(data, space, c, p, v) for c, p in out]

    def find_connector(self, data, space, cid):
        for c in data.get("connectors", {}).get(space, []):
            if c["id"] == cid:
                return c, False
        for c in data.get("preconfigured_connectors", []):
            if c["id"] == cid:
                return c, True
        return None, False

    CONNECTOR_TYPE_BASE = ("id", "name", "enabled", "enabled_in_config",
                           "enabled_in_license", "minimum_license_required")
    CONNECTOR_TYPE_9X = ("is_deprecated", "source", "allow_multiple_system_actions",
                         "description", "is_experimental")

    def list_connector_types(self, data, v, feature_id=None):
        out = []
        for t in data.get("connector_types", []):
            if t.get("is_system_action_type"):
                continue    # the public route leaves system action types out
            if feature_id is not None and v >= (8, 3) and \
                    feature_id not in t.get("supported_feature_ids", []):
                continue
            r = {k: t[k] for k in self.CONNECTOR_TYPE_BASE if k in t}
            if v >= (8, 3):
                r["supported_feature_ids"] = t.get("supported_feature_ids", [])
            if v >= (8, 10):
                r["is_system_action_type"] = bool(t.get("is_system_action_type", False))
            if v >= (8, 15) and "sub_feature" in t:
                r["sub_feature"] = t["sub_feature"]
            if v >= (9, 0):
                for k in self.CONNECTOR_TYPE_9X:
                    if k in t:
                        r[k] = t[k]
            out.append(r)
        return out

    def render_rule(self, r, v):
        out = copy.deepcopy(r)
        for a in out.get("actions", []):
            if v < (8, 6):
                a.pop("frequency", None)
            if v < (8, 8):
                a.pop("uuid", None)
        return out


def _query_int(query, name, default, minimum):
    """Kibana config-schema validation of a numeric query parameter."""
    if name not in query:
        return default, None
    raw = query[name]
    if isinstance(raw, list):
        return None, "[request query.%s]: expected value of type [number] but got [Array]" % name
    try:
        val = int(raw)
    except ValueError:
        try:
            f = float(raw)
        except ValueError:
            return None, ("[request query.%s]: expected value of type [number] "
                          "but got [string]" % name)
        val = int(f)
    if val < minimum:
        return None, ("[request query.%s]: Value must be equal to or greater "
                      "than [%d]." % (name, minimum))
    return val, None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Kibana"
    sys_version = ""
    fake = None         # set by FakeKibana.start()

    # Quiet unless --verbose.
    def log_message(self, fmt, *args):
        if self.fake.verbose:
            sys.stderr.write("fake_kibana: %s %s\n" % (self.address_string(),
                                                        fmt % args))

    def setup(self):
        super().setup()
        self.fake._add_conn(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            self.fake._drop_conn(self.connection)

    def version_string(self):
        return "Kibana"

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_OPTIONS(self):
        self._handle("OPTIONS")

    # -- plumbing ------------------------------------------------------------

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            body = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline(65537)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status, body, content_type="application/json; charset=utf-8",
              extra_headers=None, content_length=None):
        if not isinstance(body, (bytes, bytearray)):
            body = encode_json(body)
        self.send_response_only(status, REASONS.get(status))
        self.send_header("Date", self.date_time_string())
        extra_headers = dict(extra_headers or {})
        for k in list(extra_headers):
            if k.lower() == "content-type":
                content_type = extra_headers.pop(k)
        self.send_header("content-type", content_type)
        self.send_header("kbn-name", "kibana")
        self.send_header("kbn-license-sig",
                         "9f3c0b6a1e2d4c5b8a7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a291")
        self.send_header("x-content-type-options", "nosniff")
        self.send_header("referrer-policy", "strict-origin-when-cross-origin")
        self.send_header("cache-control", "private, no-cache, no-store, must-revalidate")
        for k, v in extra_headers.items():
            self.send_header(k, v)
        self.send_header("content-length",
                         str(len(body) if content_length is None else content_length))
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _handle(self, method):
        fake = self.fake
        fake._enter()
        try:
            self._handle_inner(method)
        finally:
            fake._leave()

    def _handle_inner(self, method):
        fake = self.fake
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        qs = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        query = {k: (v[0] if len(v) == 1 else v) for k, v in qs.items()}
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = v if k not in headers else headers[k] + ", " + v
        body = self._read_body()
        fake._record({"method": method, "path": path, "query": query,
                      "raw_query": split.query, "headers": headers,
                      "body": body, "time": time.monotonic()})

        fault = fake._take_fault(method, path, query)
        if fault is not None and self._apply_fault(fault, method, path, query):
            return
        status, payload = self._route(method, path, query, headers, body)
        self._send(status, payload)

    def _apply_fault(self, f, method, path, query):
        """Returns True when the fault produced the whole answer."""
        if f.gate is not None:
            while not f.gate.wait(0.05):
                if self.fake._stopping.is_set():
                    self.close_connection = True
                    return True
        delay = f.delay
        if f.mode == "hang" and delay <= 0:
            delay = HANG_FOREVER
        if delay > 0 and self.fake._stopping.wait(delay):
            self.close_connection = True
            return True
        if f.mode == "close":
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return True
        status = f.status
        body = f.body
        if f.mode == "malformed":
            self._send(status or 200, body if body is not None else
                       b'[{"id":"0b3f2c5e-8a57-4c7e-9a1d-2f6b0d7e9c11","name":"Ops webhook",,'
                       b'"connector_type_id":.webhook}', extra_headers=f.headers)
            return True
        if f.mode == "huge":
            self._send(status or 200, self.fake.huge_body(f.size),
                       extra_headers=f.headers)
            return True
        if f.mode == "truncated":
            if body is None:
                st, body = self._route(method, path, query,
                                       {"authorization": self._auth_ok_value()}, b"")
                status = status or st
            if not isinstance(body, (bytes, bytearray)):
                body = encode_json(body)
            if len(body) < 8:
                body = body + b" " * 8
            cut = body[:max(1, len(body) // 2)]
            self._send(status or 200, cut, extra_headers=f.headers)
            return True
        if status is None and body is None:
            return False        # plain delay ("hang" then answer normally)
        if status is None:
            status = 200
        if body is None:
            body = boom(status)
        self._send(status, body, extra_headers=f.headers)
        return True

    def _auth_ok_value(self):
        if self.fake.api_key is not None:
            return "ApiKey " + self.fake.api_key
        if self.fake.basic is not None:
            return "Basic " + base64.b64encode(self.fake.basic.encode()).decode()
        return ""

    def _auth_error(self, headers, path):
        fake = self.fake
        if fake.api_key is None and fake.basic is None:
            return None
        auth = headers.get("authorization")
        if not auth:
            return boom(401)
        scheme, _, cred = auth.partition(" ")
        scheme = scheme.lower()
        if scheme == "apikey" and fake.api_key is not None and cred == fake.api_key:
            return None
        if scheme == "basic" and fake.basic is not None:
            try:
                if base64.b64decode(cred, validate=True).decode() == fake.basic:
                    return None
            except (ValueError, UnicodeDecodeError):
                pass
        if scheme == "basic":
            try:
                user = base64.b64decode(cred).decode("utf-8", "replace").partition(":")[0]
            except ValueError:
                user = ""
            reason = ("unable to authenticate user [%s] for REST request "
                      "[/_security/_authenticate]" % user)
        else:
            reason = ("unable to authenticate with provided credentials and "
                      "anonymous access is not allowed for this request")
        return boom(401, "[security_exception\n\tRoot causes:\n\t\tsecurity_exception: "
                         "%s]: %s" % (reason, reason))

    # -- routing -------------------------------------------------------------

    ROUTES = [
        ("GET", re.compile(r"^/api/spaces/space$"), "spaces"),
        ("GET", re.compile(r"^/api/actions/connectors$"), "connectors"),
        ("GET", re.compile(r"^/api/actions/connector_types$"), "connector_types"),
        ("GET", re.compile(r"^/api/alerting/rules/_find$"), "rules_find"),
        ("GET", re.compile(r"^/api/actions/connector/([^/]+)$"), "connector_get"),
        ("POST", re.compile(r"^/api/actions/connector/([^/]+)/_execute$"), "execute"),
    ]

    def _route(self, method, path, query, headers, body):
        fake = self.fake
        data, v = fake._snapshot()
        space = "default"
        m = re.match(r"^/s/([^/]+)(/.*)$", path)
        if m:
            space = urllib.parse.unquote(m.group(1))
            path = m.group(2)
        route_method = "GET" if method == "HEAD" else method
        for rm, rx, name in self.ROUTES:
            mm = rx.match(path)
            if mm and rm == route_method:
                break
        else:
            return 404, boom(404)

        err = self._auth_error(headers, path)
        if err is not None:
            return 401, err
        if method not in ("GET", "HEAD") and "kbn-xsrf" not in headers:
            return 400, boom(400, "Request must contain a kbn-xsrf header.")

        args = [urllib.parse.unquote(g) for g in mm.groups()]
        return getattr(self, "_api_" + name)(data, v, space, query, body, *args)

    def _api_spaces(self, data, v, space, query, body):
        return 200, [self.fake.render_space(s, v) for s in data.get("spaces", [])]

    def _api_connectors(self, data, v, space, query, body):
        # Unknown space: 200 with only the preconfigured connectors
        # (kibana-api.md 15.8); a test turns it into 404 with a fault.
        return 200, self.fake.list_connectors(data, space, v)

    def _api_connector_types(self, data, v, space, query, body):
        fid = query.get("feature_id")
        return 200, self.fake.list_connector_types(data, v, fid)

    def _api_rules_find(self, data, v, space, query, body):
        per_page, err = _query_int(query, "per_page", 10, 0)
        if err is None:
            page, err = _query_int(query, "page", 1, 1)
        if err is not None:
            return 400, boom(400, err)
        rules = data.get("rules", {}).get(space, [])
        start = (page - 1) * per_page
        chunk = rules[start:start + per_page] if per_page > 0 else []
        return 200, {"page": page, "per_page": per_page, "total": len(rules),
                     "data": [self.fake.render_rule(r, v) for r in chunk]}

    def _api_connector_get(self, data, v, space, query, body, cid):
        if cid.startswith("system-connector-"):
            return 404, boom(404, "Connector %s not found" % cid)
        c, pre = self.fake.find_connector(data, space, cid)
        if c is None:
            return 404, boom(404, "Saved object [action/%s] not found" % cid)
        out = self.fake.render_connector(data, space, c, pre, v)
        out.pop("referenced_by_count", None)
        return 200, out

    def _api_execute(self, data, v, space, query, body, cid):
        try:
            req = json.loads(body or b"null")
        except ValueError:
            return 400, boom(400, "Invalid request payload JSON format")
        if not isinstance(req, dict) or not isinstance(req.get("params"), dict):
            got = "undefined" if not isinstance(req, dict) or "params" not in req \
                else type(req["params"]).__name__
            return 400, boom(400, "[request body.params]: expected value of type "
                                  "[object] but got [%s]" % got)
        if cid.startswith("system-connector-"):
            return 400, boom(400, "Execution of system action is not allowed")
        fake = self.fake
        prog = fake._execute_result(space, cid)
        c, _ = fake.find_connector(data, space, cid)
        if prog is None and c is None:
            return 404, boom(404, "Saved object [action/%s] not found" % cid)
        if prog is not None and prog["delay"] > 0 and fake._stopping.wait(prog["delay"]):
            self.close_connection = True
            return 503, boom(503)
        if prog is not None and prog["outcome"] is not None:
            return execute_outcome(prog["outcome"], cid, req["params"])
        if prog is not None and prog["status"] is not None:
            st, b = prog["status"], prog["body"]
            if b is None:
                b = boom(st) if st >= 400 else {"status": "ok", "connector_id": cid}
            return st, b
        # success: data as the connector type returns it (section 6.2)
        return execute_outcome(_TYPE_SUCCESS.get(c.get("connector_type_id"), "ok"),
                               cid, req["params"])


# _execute outcomes (kibana-api.md sections 6.1, 6.3, 6.4): name -> (status, body)
# where the body is a dict without connector_id (added in Kibana's order) or,
# for 4xx, a Boom message.
_INDEX_BULK = {"took": 5, "errors": False, "items": [{"create": {
    "_index": "alerts-history", "_id": "Qk3sY5UB1c2d3e4f5g6h", "_version": 1,
    "result": "created", "_shards": {"total": 2, "successful": 1, "failed": 0},
    "_seq_no": 0, "_primary_term": 1, "status": 201}}]}
_TYPE_SUCCESS = {".server-log": "ok", ".webhook": "webhook_ok", ".slack": "slack_ok",
                 ".index": "index_ok"}


def _err(message, service_message=None, retry=None, source="user"):
    out = {"status": "error", "message": message, "errorSource": source}
    extra = {}
    if retry is not None:
        extra["retry"] = retry
    if service_message is not None:
        extra["service_message"] = service_message
    return out, extra


EXECUTE_OUTCOMES = {
    # 403 / 400 rows of the status matrix
    "unauthorized_type": (403, 'Unauthorized to execute a ".webhook" action'),
    "unauthorized": (403, "Unauthorized to execute actions"),
    "license": (403, "Action type .email is disabled because your basic license does "
                     "not support it. Please upgrade your license."),
    "not_enabled": (403, 'action type ".webhook" is not enabled in the Kibana config '
                         "xpack.actions.enabledActionTypes"),
    "system_action": (400, "Execution of system action is not allowed"),
    # 200 status ok
    "ok": (200, ({"status": "ok"}, {})),
    "slack_ok": (200, ({"status": "ok", "data": {"text": "ok"}}, {})),
    "index_ok": (200, ({"status": "ok", "data": _INDEX_BULK}, {})),
    "webhook_ok": (200, None),      # data = the body sent
    # 200 status error: webhook
    "webhook_500": (200, _err("error calling webhook, retry later",
                              "[500] Internal Server Error", True)),
    "webhook_429_retry_after": (200, _err(
        "error calling webhook, retry at 2025-03-10T14:23:31.512Z",
        "[429] Too Many Requests", "2025-03-10T14:23:31.512Z")),
    "webhook_429": (200, _err("error calling webhook, retry later",
                              "[429] Too Many Requests", True)),
    "webhook_404": (200, _err("error calling webhook, invalid response", "[404] Not Found")),
    "webhook_econnrefused": (200, _err("error calling webhook, request failed",
                                       "[ECONNREFUSED] connect ECONNREFUSED 127.0.0.1:9999")),
    "webhook_timeout": (200, _err("error calling webhook, request failed",
                                  "[ECONNABORTED] timeout of 60000ms exceeded")),
    "webhook_no_code": (200, _err("error calling webhook, request failed", "socket hang up")),
    "webhook_null": (200, _err("unexpected null response from webhook")),
    "webhook_unexpected": (200, _err("error calling webhook, unexpected error")),
    # slack
    "slack_network": (200, _err("error posting slack message",
                                "A request error occurred: getaddrinfo ENOTFOUND hooks.slack.com")),
    "slack_5xx": (200, _err("error posting a slack message, retry later",
                            "An HTTP protocol error occurred: statusCode = 503", True)),
    "slack_429": (200, _err("error posting a slack message, retry at 2025-03-10T14:23:31.512Z",
                            "An HTTP protocol error occurred: statusCode = 429",
                            "2025-03-10T14:23:31.512Z")),
    "slack_403": (200, _err("an error occurred while running the action",
                            "An HTTP protocol error occurred: statusCode = 403", True)),
    "slack_404": (200, _err("unexpected http response from slack: 404 Not Found")),
    "slack_not_ok": (200, _err("error posting slack message", "invalid_payload")),
    # server-log, index
    "server_log_error": (200, _err("error logging message", "EPIPE: broken pipe")),
    "index_unauthorized": (200, _err(
        "error indexing documents",
        "security_exception\n\tRoot causes:\n\t\tsecurity_exception: action "
        "[indices:data/write/bulk[s]] is unauthorized for user [kcm]")),
    "index_bulk_errors": (200, _err(
        "error indexing documents",
        "mapper_parsing_exception (failed to parse field [x])")),
    "index_no_reason": (200, _err("error indexing documents",
                                  "Indexing error but no reason returned.")),
    # framework
    "params_invalid": (200, _err("error validating action params: [message]: expected "
                                 "value of type [string] but got [undefined]", None, False)),
    "config_invalid": (200, _err("error validating action type config: target url "
                                 "\"https://hooks.example.com\" is not added to the Kibana "
                                 "config xpack.actions.allowedHosts", None, False)),
    "thrown": (200, _err("an error occurred while running the action",
                         "Invalid subAction", True, "framework")),
}


def execute_outcome(name, cid, params):
    """(status, body) of a named _execute outcome for connector cid."""
    status, spec = EXECUTE_OUTCOMES[name]
    if status != 200:
        return status, boom(status, spec)
    if spec is None:        # webhook success: data is the body it sent
        head, extra = {"status": "ok", "data": params.get("body")}, {}
    else:
        head, extra = copy.deepcopy(spec[0]), copy.deepcopy(spec[1])
    out = dict(head)
    out["connector_id"] = cid
    out.update(extra)
    return 200, out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fake Kibana for kibana-connector-monitor")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--data", default=SAMPLE_DATA, help="JSON data set (default: sample_data.json)")
    ap.add_argument("--version", default=DEFAULT_VERSION, help="Kibana version to mimic, e.g. 7.17, 8.2, 8.9, 8.17, 9.1")
    auth = ap.add_mutually_exclusive_group()
    auth.add_argument("--api-key", help="require Authorization: ApiKey KEY")
    auth.add_argument("--basic", metavar="USER:PASS", help="require basic credentials")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--verbose", action="store_true", help="access log on stderr")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        ap.error("--tls-cert and --tls-key go together")

    with open(args.data, encoding="utf-8") as f:
        data = json.load(f)
    fake = FakeKibana(data, version=args.version, api_key=args.api_key,
                      basic=args.basic, tls_cert=args.tls_cert,
                      tls_key=args.tls_key, bind=args.bind, port=args.port,
                      verbose=args.verbose)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    fake.start()
    host = args.bind if ":" not in args.bind else "[%s]" % args.bind
    print("listening on %s:%d" % (host, fake.port), flush=True)
    while not done.wait(0.1):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
