"""A fake Elasticsearch for kibana-connector-monitor's event-log tests.

Stdlib only; startable in-process on a thread like fake_kibana.FakeKibana:

    es = FakeES().start()
    es.add_docs(".kibana-event-log-8.5.3-000001", [doc, ...])
    ... es.url, es.requests, es.set_mode("no_privilege"), es.stop()

It stores documents (their _source) per index and answers
POST/GET /<index-expression>/_search by really evaluating the query DSL and
aggregations, with Elasticsearch's NESTED semantics for the nested field
kibana.saved_objects (shared/reference/kibana-api.md sections 11-13):

  * nested objects are hidden sub-documents: a term/terms/exists/range query
    or a terms/composite/max aggregation on kibana.saved_objects.* outside a
    `nested` context matches nothing / yields no buckets; inside one the
    context is the nested object, and root fields are not visible there;
  * `reverse_nested` returns to the root documents, each counted once per
    bucket.

Queries: bool (filter/must/should/must_not, minimum_should_match), term,
terms, range (gte/gt/lte/lt; ISO dates, epoch millis with format
epoch_millis, now / now-15m date math), exists, nested, match_all.
Aggregations: nested, reverse_nested, filter, terms (size, missing,
sum_other_doc_count, order _count desc then key asc), composite (terms
sources with missing_bucket, size, after, after_key), max, min, value_count,
top_hits (size, sort, _source).  Hits: size, from, sort, _source filtering,
track_total_hits.

Text fields (message, error.message, ...) are not aggregatable: a terms or
composite aggregation on them gives 400 search_phase_execution_exception
with the Fielddata root cause (section 13.6).  Unknown query or aggregation
types give 400 parsing_exception.

Index expressions: comma lists, wildcards ("*" matches dot-prefixed
(hidden) indices only when the pattern itself starts with a dot, the
implicit-hidden rule), aliases; an explicit missing name gives 404
index_not_found_exception, a wildcard without match gives the zero-shard
200 answer.  Each index is one shard.

Modes (set_mode): None (normal), "no_privilege" (200, _shards.total 0, no
aggregations, max_score 0.0: what ES security does to a wildcard the user
may not read), "unauthorized" (401 security_exception), "forbidden" (403
security_exception), "no_aggregations" (200 with shards but no
"aggregations" key), "shard_failure" (index=<name>: that index's shard fails;
200 with _shards.failed and failures[], results from the other shards),
"all_shards_failed" (400 search_phase_execution_exception), "error"
(status=<n>), "garbage" (200 with a body that is not a search response).
set_delay(seconds) delays every answer.

Every request is recorded in .requests as a dict: method, path, query,
body (parsed JSON or None), status, response_bytes.
"""

import datetime
import functools
import fnmatch
import http.server
import json
import re
import socket
import sys
import threading
import time
import urllib.parse

NESTED = ("kibana.saved_objects",)

# Field types (the event log mapping, section 11.2).  Unmapped fields
# (dynamic: false) are not searchable: they match nothing.
MAPPING = {
    "@timestamp": "date",
    "message": "text",
    "tags": "keyword",
    "ecs.version": "keyword",
    "event.provider": "keyword",
    "event.action": "keyword",
    "event.kind": "keyword",
    "event.outcome": "keyword",
    "event.start": "date",
    "event.end": "date",
    "event.duration": "long",
    "event.reason": "keyword",
    "error.message": "text",
    "error.code": "keyword",
    "error.type": "keyword",
    "rule.id": "keyword",
    "user.name": "keyword",
    "user.id": "keyword",
    "kibana.server_uuid": "keyword",
    "kibana.version": "keyword",
    "kibana.space_ids": "keyword",
    "kibana.saved_objects.rel": "keyword",
    "kibana.saved_objects.namespace": "keyword",
    "kibana.saved_objects.id": "keyword",
    "kibana.saved_objects.type": "keyword",
    "kibana.saved_objects.type_id": "keyword",
    "kibana.saved_objects.space_agnostic": "boolean",
    "kibana.alert.rule.rule_type_id": "keyword",
    "kibana.alert.rule.consumer": "keyword",
    "kibana.alert.rule.execution.uuid": "keyword",
    "kibana.action.name": "keyword",
    "kibana.action.id": "keyword",
    "kibana.action.type_id": "keyword",
    "kibana.action.execution.uuid": "keyword",
    "kibana.action.execution.source": "keyword",
}


# Backing index of a data stream: .ds-<stream>-<yyyy.mm.dd>-<6 digits>.
_BACKING = re.compile(r"^\.ds-(.+)-\d{4}\.\d{2}\.\d{2}-\d{6}$")


class ESError(Exception):
    def __init__(self, status, body):
        super().__init__(status)
        self.status = status
        self.body = body


def error_body(status, etype, reason, root_cause=None, **extra):
    err = {"root_cause": root_cause or [dict({"type": etype, "reason": reason}, **extra)],
           "type": etype, "reason": reason}
    err.update(extra)
    return {"error": err, "status": status}


def parsing_error(msg):
    return ESError(400, error_body(400, "parsing_exception", msg, line=1, col=1))


# ---------------------------------------------------------------------------
# dates

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
                  r"(Z|[+-]\d{2}:?\d{2})?$")
_MATH = re.compile(r"^now(?:([+-])(\d+)(ms|[smhdw]))?$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 7 * 86400000}


@functools.lru_cache(maxsize=65536)
def iso_to_ms(s):
    m = _ISO.match(s)
    if not m:
        raise ValueError("not a date: %r" % s)
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    dt = datetime.datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0),
                           tzinfo=datetime.timezone.utc)
    ms = int(dt.timestamp()) * 1000
    if frac:
        ms += int((frac + "00")[:3])
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        t = tz[1:].replace(":", "")
        ms -= sign * (int(t[:2]) * 3600 + int(t[2:]) * 60) * 1000
    return ms


def ms_to_iso(ms):
    dt = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (int(ms) % 1000)


def date_bound_ms(v, fmt, now_ms):
    if isinstance(v, bool):
        raise parsing_error("bad date bound")
    if isinstance(v, (int, float)):
        return float(v)
    if not isinstance(v, str):
        raise parsing_error("bad date bound %r" % (v,))
    m = _MATH.match(v)
    if m:
        t = now_ms
        if m.group(1):
            n = int(m.group(2)) * _UNIT_MS.get(m.group(3), 0)
            t = t + n if m.group(1) == "+" else t - n
        return float(t)
    if fmt and "epoch_millis" in fmt and re.match(r"^-?\d+(\.\d+)?$", v):
        return float(v)
    try:
        return float(iso_to_ms(v))
    except ValueError:
        raise ESError(400, error_body(400, "parse_exception",
                                      "failed to parse date field [%s]" % v))


def doc_date_ms(v):
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(iso_to_ms(v))
        except ValueError:
            return None
    return None


# ---------------------------------------------------------------------------
# field access with nested semantics

class Ctx:
    """A (sub-)document: root doc, or one nested object under `path`."""
    __slots__ = ("obj", "path", "root", "rid", "meta")

    def __init__(self, obj, path, root, rid, meta):
        self.obj = obj          # the (sub-)document's dict
        self.path = path        # "" or the nested path
        self.root = root        # the root document's _source
        self.rid = rid          # unique id of the root document
        self.meta = meta        # (index, _id) of the root document


def _walk(obj, parts):
    vals = [obj]
    for p in parts:
        nxt = []
        for v in vals:
            if isinstance(v, dict):
                if p in v:
                    x = v[p]
                    if isinstance(x, list):
                        nxt.extend(x)
                    else:
                        nxt.append(x)
            elif isinstance(v, list):
                for e in v:
                    if isinstance(e, dict) and p in e:
                        x = e[p]
                        nxt.extend(x if isinstance(x, list) else [x])
        vals = nxt
    out = []
    for v in vals:
        if isinstance(v, list):
            out.extend(v)
        elif v is not None and not isinstance(v, dict):
            out.append(v)
    return out


def field_values(ctx, field):
    """Values of `field` visible from ctx (root or nested), [] otherwise."""
    if field not in MAPPING:
        return []
    nested = next((p for p in NESTED if field.startswith(p + ".")), None)
    if ctx.path:
        if nested != ctx.path:
            return []       # root fields are not in nested docs
        rel = field[len(ctx.path) + 1:]
        return _walk(ctx.obj, rel.split("."))
    if nested is not None:
        return []           # nested fields are not in the root doc
    # Also accept flattened keys ("error.message": ...) like ES does.
    vals = _walk(ctx.obj, field.split("."))
    if field in ctx.obj and not isinstance(ctx.obj[field], dict):
        x = ctx.obj[field]
        vals.extend(x if isinstance(x, list) else [x])
    return vals


def norm(field, v):
    """A value as ES would index it (for comparisons and keys)."""
    t = MAPPING.get(field)
    if t == "boolean":
        if isinstance(v, bool):
            return v
        if v in ("true", "false"):
            return v == "true"
        return None
    if t == "date":
        return doc_date_ms(v)
    if t == "long":
        try:
            return int(v)
        except (TypeError, ValueError):
            return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if not isinstance(v, str) else v


def norm_query_value(field, v):
    t = MAPPING.get(field)
    if t == "boolean":
        if isinstance(v, bool):
            return v
        if v in ("true", "false"):
            return v == "true"
        raise ESError(400, error_body(400, "query_shard_exception",
                                      "failed to create query: Can't parse boolean value [%s]" % v))
    if t == "date":
        return doc_date_ms(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v) if not isinstance(v, str) else v


def nested_children(ctx, path):
    if ctx.path:
        return []
    objs = _walk_objs(ctx.obj, path.split("."))
    return [Ctx(o, path, ctx.root, ctx.rid, ctx.meta) for o in objs]


def _walk_objs(obj, parts):
    vals = [obj]
    for p in parts:
        nxt = []
        for v in vals:
            if isinstance(v, dict) and p in v:
                x = v[p]
                nxt.extend(x if isinstance(x, list) else [x])
        vals = nxt
    return [v for v in vals if isinstance(v, dict)]


# ---------------------------------------------------------------------------
# queries

def _single(spec, what):
    if not isinstance(spec, dict) or len(spec) != 1:
        raise parsing_error("[%s] query malformed" % what)
    return next(iter(spec.items()))


def compile_query(q, now_ms):
    """Returns a predicate ctx -> bool."""
    if q is None:
        return lambda ctx: True
    if not isinstance(q, dict) or len(q) != 1:
        raise parsing_error("query malformed, must start with start_object")
    kind, spec = next(iter(q.items()))
    if kind == "match_all":
        return lambda ctx: True
    if kind == "match_none":
        return lambda ctx: False
    if kind == "bool":
        if not isinstance(spec, dict):
            raise parsing_error("[bool] malformed")
        groups = {}
        for k in ("filter", "must", "should", "must_not"):
            v = spec.get(k, [])
            if isinstance(v, dict):
                v = [v]
            groups[k] = [compile_query(x, now_ms) for x in v]
        for k in spec:
            if k not in ("filter", "must", "should", "must_not", "minimum_should_match",
                         "boost", "_name"):
                raise parsing_error("[bool] query does not support [%s]" % k)
        must = groups["filter"] + groups["must"]
        should = groups["should"]
        must_not = groups["must_not"]
        msm = spec.get("minimum_should_match")
        if msm is None:
            msm = 0 if must else (1 if should else 0)
        msm = int(msm)

        def pred(ctx):
            if not all(p(ctx) for p in must):
                return False
            if any(p(ctx) for p in must_not):
                return False
            if msm and sum(1 for p in should if p(ctx)) < msm:
                return False
            return True
        return pred
    if kind == "term":
        field, v = _single(spec, "term")
        if isinstance(v, dict):
            v = v.get("value")
        want = norm_query_value(field, v)
        return lambda ctx: any(norm(field, x) == want for x in field_values(ctx, field))
    if kind == "terms":
        items = [(k, v) for k, v in spec.items() if k != "boost"]
        if len(items) != 1 or not isinstance(items[0][1], list):
            raise parsing_error("[terms] query malformed")
        field, vs = items[0]
        wants = {norm_query_value(field, v) for v in vs}
        return lambda ctx: any(norm(field, x) in wants for x in field_values(ctx, field))
    if kind == "exists":
        field = spec.get("field") if isinstance(spec, dict) else None
        if not isinstance(field, str):
            raise parsing_error("[exists] must be provided with a [field]")
        return lambda ctx: any(norm(field, x) is not None for x in field_values(ctx, field))
    if kind == "range":
        field, r = _single(spec, "range")
        if not isinstance(r, dict):
            raise parsing_error("[range] query malformed")
        fmt = r.get("format")
        is_date = MAPPING.get(field) == "date"
        bounds = []
        for op in ("gte", "gt", "lte", "lt"):
            if op in r and r[op] is not None:
                b = date_bound_ms(r[op], fmt, now_ms) if is_date else float(r[op])
                bounds.append((op, b))
        for k in r:
            if k not in ("gte", "gt", "lte", "lt", "format", "time_zone", "boost"):
                raise parsing_error("[range] query does not support [%s]" % k)

        def pred(ctx):
            for x in field_values(ctx, field):
                v = norm(field, x) if is_date else _num(x)
                if v is None:
                    continue
                ok = True
                for op, b in bounds:
                    if (op == "gte" and not v >= b) or (op == "gt" and not v > b) or \
                       (op == "lte" and not v <= b) or (op == "lt" and not v < b):
                        ok = False
                        break
                if ok:
                    return True
            return False
        return pred
    if kind == "nested":
        path = spec.get("path")
        if path not in NESTED:
            raise ESError(400, error_body(400, "query_shard_exception",
                                          "failed to create query: [nested] nested object under path [%s] is not of nested type" % path))
        inner = compile_query(spec.get("query"), now_ms)
        return lambda ctx: any(inner(c) for c in nested_children(ctx, path))
    raise parsing_error("unknown query [%s]" % kind)


def _num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------------------
# aggregations

def fielddata_error(field, index):
    reason = ("Fielddata is disabled on [%s] in [%s]. Text fields are not optimised for "
              "operations that require per-document field data like aggregations and "
              "sorting, so these operations are disabled by default. Please use a keyword "
              "field instead. Alternatively, set fielddata=true on [%s] in order to load "
              "field data by uninverting the inverted index. Note that this can use "
              "significant memory." % (field, index, field))
    rc = [{"type": "illegal_argument_exception", "reason": reason}]
    return ESError(400, error_body(400, "search_phase_execution_exception", "all shards failed",
                                   root_cause=rc, phase="query", grouped=True,
                                   failed_shards=[{"shard": 0, "index": index, "node": "fake",
                                                   "reason": rc[0]}]))


def check_aggregatable(field, index):
    if MAPPING.get(field) == "text":
        raise fielddata_error(field, index)


def key_out(field, k):
    """Bucket key as ES renders it (terms agg)."""
    t = MAPPING.get(field)
    if t == "boolean":
        return (1 if k else 0), ("true" if k else "false")
    if t == "date":
        return int(k), ms_to_iso(k)
    return k, None


def _sort_key(v):
    # None (missing) first; then by type rank, value
    if v is None:
        return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, (int, float)):
        return (2, v)
    return (3, v)


class AggRunner:
    def __init__(self, now_ms, index_name):
        self.now_ms = now_ms
        self.index_name = index_name

    def run(self, aggs, ctxs):
        if not isinstance(aggs, dict):
            raise parsing_error("aggregations must be an object")
        out = {}
        for name, spec in aggs.items():
            out[name] = self.one(name, spec, ctxs)
        return out

    def one(self, name, spec, ctxs):
        if not isinstance(spec, dict):
            raise parsing_error("Expected [START_OBJECT] under [%s]" % name)
        sub = spec.get("aggs", spec.get("aggregations"))
        kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
        if len(kinds) != 1:
            raise parsing_error("Expected one aggregation type under [%s]" % name)
        kind = kinds[0]
        body = spec[kind]
        fn = getattr(self, "agg_" + kind, None)
        if fn is None:
            raise ESError(400, error_body(400, "parsing_exception",
                                          "Unknown aggregation type [%s] did you mean [terms]?" % kind,
                                          line=1, col=1))
        return fn(body, sub, ctxs)

    def with_sub(self, res, sub, ctxs):
        if sub:
            res.update(self.run(sub, ctxs))
        return res

    def agg_nested(self, body, sub, ctxs):
        path = body.get("path")
        if path not in NESTED:
            raise ESError(400, error_body(400, "aggregation_execution_exception",
                                          "[nested] nested path [%s] is not nested" % path))
        kids = []
        for c in ctxs:
            kids.extend(nested_children(c, path))
        return self.with_sub({"doc_count": len(kids)}, sub, kids)

    def agg_reverse_nested(self, body, sub, ctxs):
        seen = {}
        for c in ctxs:
            if c.rid not in seen:
                seen[c.rid] = Ctx(c.root, "", c.root, c.rid, c.meta)
        roots = list(seen.values())
        return self.with_sub({"doc_count": len(roots)}, sub, roots)

    def agg_filter(self, body, sub, ctxs):
        pred = compile_query(body, self.now_ms)
        sel = [c for c in ctxs if pred(c)]
        return self.with_sub({"doc_count": len(sel)}, sub, sel)

    def agg_terms(self, body, sub, ctxs):
        field = body.get("field")
        if not isinstance(field, str):
            raise parsing_error("[terms] requires a field")
        check_aggregatable(field, self.index_name)
        size = int(body.get("size", 10))
        missing = body.get("missing")
        groups = {}
        for c in ctxs:
            vals = {norm(field, v) for v in field_values(c, field)}
            vals.discard(None)
            if not vals and missing is not None:
                vals = {norm(field, missing)}
            for v in vals:
                groups.setdefault(v, []).append(c)
        items = sorted(groups.items(), key=lambda kv: (-len(kv[1]), _sort_key(kv[0])))
        buckets = []
        for k, cs in items[:size]:
            key, kas = key_out(field, k)
            b = {"key": key}
            if kas is not None:
                b["key_as_string"] = kas
            b["doc_count"] = len(cs)
            buckets.append(self.with_sub(b, sub, cs))
        other = sum(len(cs) for _, cs in items[size:])
        return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": other,
                "buckets": buckets}

    def agg_composite(self, body, sub, ctxs):
        size = int(body.get("size", 10))
        sources = body.get("sources")
        if not isinstance(sources, list) or not sources:
            raise parsing_error("[composite] sources required")
        srcs = []
        for s in sources:
            if not isinstance(s, dict) or len(s) != 1:
                raise parsing_error("[composite] source malformed")
            sname, sdef = next(iter(s.items()))
            if not isinstance(sdef, dict) or list(sdef) != ["terms"]:
                raise parsing_error("[composite] only terms sources are supported here")
            t = sdef["terms"]
            field = t.get("field")
            check_aggregatable(field, self.index_name)
            srcs.append((sname, field, bool(t.get("missing_bucket", False))))
        groups = {}
        for c in ctxs:
            combos = [()]
            for sname, field, mb in srcs:
                vals = {norm(field, v) for v in field_values(c, field)}
                vals.discard(None)
                if not vals:
                    if not mb:
                        combos = []
                        break
                    vals = {None}
                combos = [cb + (v,) for cb in combos for v in vals]
            for cb in combos:
                groups.setdefault(cb, []).append(c)
        keys = sorted(groups, key=lambda cb: tuple(_sort_key(v) for v in cb))
        after = body.get("after")
        if after is not None:
            if not isinstance(after, dict):
                raise parsing_error("[after] must be an object")
            at = tuple(_sort_key(self._after_val(after.get(sname), field))
                       for sname, field, _ in srcs)
            keys = [k for k in keys if tuple(_sort_key(v) for v in k) > at]
        page = keys[:size]
        buckets = []
        for cb in page:
            key = {}
            for (sname, field, _), v in zip(srcs, cb):
                key[sname] = v
            b = {"key": key, "doc_count": len(groups[cb])}
            buckets.append(self.with_sub(b, sub, groups[cb]))
        out = {}
        if buckets:
            out["after_key"] = buckets[-1]["key"]
        out["buckets"] = buckets
        return out

    @staticmethod
    def _after_val(v, field):
        if v is None:
            return None
        return norm(field, v)

    def agg_max(self, body, sub, ctxs, pick=max):
        field = body.get("field")
        check_aggregatable(field, self.index_name)
        vals = []
        for c in ctxs:
            for v in field_values(c, field):
                n = norm(field, v) if MAPPING.get(field) == "date" else _num(v)
                if n is not None:
                    vals.append(n)
        if not vals:
            return {"value": None}
        v = float(pick(vals))
        out = {"value": v}
        if MAPPING.get(field) == "date":
            out["value_as_string"] = ms_to_iso(v)
        return out

    def agg_min(self, body, sub, ctxs):
        return self.agg_max(body, sub, ctxs, pick=min)

    def agg_value_count(self, body, sub, ctxs):
        field = body.get("field")
        return {"value": sum(len(field_values(c, field)) for c in ctxs)}

    def agg_top_hits(self, body, sub, ctxs):
        roots = [c if not c.path else Ctx(c.root, "", c.root, c.rid, c.meta) for c in ctxs]
        hits = render_hits(roots, body.get("size", 3), body.get("sort"), body.get("_source"),
                           0, True)
        return {"hits": hits}


# ---------------------------------------------------------------------------
# hits

def filter_source(src, spec):
    if spec is None or spec is True:
        return src
    if spec is False:
        return None
    includes, excludes = [], []
    if isinstance(spec, str):
        includes = [spec]
    elif isinstance(spec, list):
        includes = spec
    elif isinstance(spec, dict):
        includes = spec.get("includes", spec.get("include", [])) or []
        excludes = spec.get("excludes", spec.get("exclude", [])) or []
        if isinstance(includes, str):
            includes = [includes]
        if isinstance(excludes, str):
            excludes = [excludes]

    def keep(path):
        if excludes and any(fnmatch.fnmatchcase(path, e) for e in excludes):
            return False
        if not includes:
            return True
        return any(fnmatch.fnmatchcase(path, i) or path.startswith(i + ".") for i in includes)

    def prefix_ok(path):
        return not includes or any(i.startswith(path + ".") or fnmatch.fnmatchcase(path, i)
                                   or path.startswith(i + ".") for i in includes)

    def rec(obj, prefix):
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                p = prefix + "." + k if prefix else k
                if keep(p):
                    out[k] = v
                elif isinstance(v, (dict, list)) and prefix_ok(p):
                    r = rec(v, p)
                    if r not in ({}, []):
                        out[k] = r
            return out
        if isinstance(obj, list):
            return [r for r in (rec(x, prefix) for x in obj) if r not in ({}, [])]
        return obj
    return rec(src, "")


def _sort_spec(sort):
    if sort is None:
        return []
    if not isinstance(sort, list):
        sort = [sort]
    out = []
    for s in sort:
        if isinstance(s, str):
            out.append((s, "asc" if s != "_score" else "desc"))
        elif isinstance(s, dict) and len(s) == 1:
            f, o = next(iter(s.items()))
            if isinstance(o, dict):
                o = o.get("order", "asc")
            out.append((f, o))
        else:
            raise parsing_error("malformed sort")
    return out


def render_hits(ctxs, size, sort, source, frm, track):
    spec = _sort_spec(sort)
    items = list(ctxs)
    for field, order in reversed(spec):
        if field == "_score":
            continue
        check_aggregatable(field, items[0].meta[0] if items else "")

        def k(c, field=field, order=order):
            vals = [norm(field, v) for v in field_values(c, field)]
            vals = [v for v in vals if v is not None]
            if not vals:
                return (1, 0)        # missing last
            v = max(vals) if order == "desc" else min(vals)
            return (0, -v if order == "desc" and isinstance(v, (int, float)) else v)
        items.sort(key=k)
    total = len(items)
    page = items[frm:frm + int(size)]
    hits = []
    for c in page:
        h = {"_index": c.meta[0], "_id": c.meta[1],
             "_score": None if spec else 0.0}
        src = filter_source(c.root, source)
        if src is not None:
            h["_source"] = src
        if spec:
            h["sort"] = [c.obj.get(f) if f in c.obj else None for f, _ in spec]
        hits.append(h)
    out = {}
    if track is not False:
        cap = None if track is True else (10000 if track is None else int(track))
        if cap is not None and total > cap:
            out["total"] = {"value": cap, "relation": "gte"}
        else:
            out["total"] = {"value": total, "relation": "eq"}
    out["max_score"] = None if spec or not hits else 0.0
    out["hits"] = hits
    return out


# ---------------------------------------------------------------------------
# the fake

class FakeES:
    def __init__(self, api_key=None, bind="127.0.0.1", port=0, version="8.17.2"):
        self._lock = threading.Lock()
        self.indices = {}           # name -> list of (id, source)
        self.aliases = {}           # alias -> [index names]
        self.api_key = api_key
        self.bind = bind
        self.port = port
        self.version = version
        self._requests = []
        self._mode = None
        self._mode_kw = {}
        self._delay = 0.0
        self._server = None
        self._thread = None
        self._conns = set()
        self._stopping = threading.Event()
        self._next_id = 0

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
                if isinstance(exc, (ConnectionError, OSError)):
                    return
                if not fake._stopping.is_set():
                    super().handle_error(request, client_address)

        self._stopping.clear()
        self._server = Server((self.bind, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fake-es", daemon=True)
        self._thread.start()
        return self

    def stop(self):
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
    def url(self):
        host = self.bind if ":" not in self.bind else "[%s]" % self.bind
        return "http://%s:%d" % (host, self.port)

    # -- state -------------------------------------------------------------

    def create_index(self, name):
        with self._lock:
            self.indices.setdefault(name, [])

    def add_docs(self, index, docs):
        """Appends documents (their _source dicts; shared sub-objects are
        fine, they are never modified) to `index`, creating it."""
        with self._lock:
            lst = self.indices.setdefault(index, [])
            for d in docs:
                self._next_id += 1
                lst.append(("d%d" % self._next_id, d))

    def clear_docs(self):
        with self._lock:
            for k in self.indices:
                self.indices[k] = []

    def add_alias(self, alias, indices):
        with self._lock:
            self.aliases[alias] = list(indices)

    def set_mode(self, mode=None, **kw):
        with self._lock:
            self._mode = mode
            self._mode_kw = kw

    def set_delay(self, seconds):
        with self._lock:
            self._delay = seconds

    @property
    def requests(self):
        with self._lock:
            return list(self._requests)

    def clear_requests(self):
        with self._lock:
            self._requests = []

    def searches(self):
        return [r for r in self.requests if r["path"].endswith("/_search")]

    # -- index resolution --------------------------------------------------

    def resolve(self, expr):
        """Index names the expression covers (sorted); ESError 404 when an
        explicit name does not exist."""
        names = set()
        streams = {}            # data stream -> backing indices
        for n in self.indices:
            m = _BACKING.match(n)
            if m:
                streams.setdefault(m.group(1), []).append(n)
        for part in expr.split(","):
            part = part.strip()
            if not part:
                continue
            if part.startswith("-"):
                pat = part[1:]
                names = {n for n in names if not fnmatch.fnmatchcase(n, pat)}
                continue
            if "*" in part or "?" in part:
                for n in list(self.indices) + list(self.aliases) + list(streams):
                    if n.startswith(".") and not part.startswith("."):
                        continue    # hidden, not implicitly matched
                    if fnmatch.fnmatchcase(n, part):
                        names.update(self.aliases.get(n, streams.get(n, [n])))
                continue
            if part in streams:
                names.update(streams[part])
            elif part in self.aliases:
                names.update(self.aliases[part])
            elif part in self.indices:
                names.add(part)
            elif part in ("_all",):
                names.update(n for n in self.indices if not n.startswith("."))
            else:
                raise ESError(404, error_body(
                    404, "index_not_found_exception", "no such index [%s]" % part,
                    **{"resource.type": "index_or_alias", "resource.id": part,
                       "index_uuid": "_na_", "index": part}))
        return sorted(n for n in names if n in self.indices)

    # -- search ------------------------------------------------------------

    def search(self, expr, body, now_ms=None):
        """(status, response dict) for a search of `expr` with `body`."""
        if now_ms is None:
            now_ms = time.time() * 1000.0
        with self._lock:
            mode, kw = self._mode, dict(self._mode_kw)
            try:
                return self._search_locked(expr, body, now_ms, mode, kw)
            except ESError as e:
                return e.status, e.body

    def _search_locked(self, expr, body, now_ms, mode, kw):
        if mode == "unauthorized":
            raise ESError(401, error_body(
                401, "security_exception",
                "unable to authenticate user [kcm] for REST request [/%s/_search]" % expr,
                header={"WWW-Authenticate": ["Basic realm=\"security\" charset=\"UTF-8\"",
                                             "ApiKey"]}))
        if mode == "forbidden":
            raise ESError(403, error_body(
                403, "security_exception",
                "action [indices:data/read/search] is unauthorized for user [kcm] with "
                "effective roles [kcm_reader] on indices [%s], this action is granted by the "
                "index privileges [read,all]" % expr))
        if mode == "error":
            st = int(kw.get("status", 500))
            raise ESError(st, error_body(st, kw.get("type", "internal_server_error"),
                                         kw.get("reason", "boom")))
        if mode == "garbage":
            return 200, {"hello": "world"}
        if mode == "no_aggregations":
            return 200, {"took": 1, "timed_out": False,
                         "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                         "hits": {"total": {"value": 0, "relation": "eq"}, "max_score": None,
                                  "hits": []}}
        if not isinstance(body, dict):
            body = {}
        for k in body:
            if k not in ("size", "from", "query", "aggs", "aggregations", "sort", "_source",
                         "track_total_hits", "timeout"):
                raise parsing_error("Unknown key for a START_OBJECT in [%s]." % k)
        names = [] if mode == "no_privilege" else self.resolve(expr)
        pred = compile_query(body.get("query"), now_ms)
        aggs = body.get("aggs", body.get("aggregations"))
        sent_after = find_composite_after(aggs) if mode == "repeat_buckets" else None
        if mode in ("stuck_after_key", "repeat_buckets") and aggs is not None:
            # Fault injection, not Elasticsearch behaviour: a hostile or
            # broken server that ignores the composite `after` and answers
            # every page like the first (issue 8, "A hostile Elasticsearch
            # can inflate counts"): with the same after_key (stuck_after_key)
            # or with one that seems to advance (repeat_buckets).
            aggs = drop_composite_after(aggs)
        if mode == "all_shards_failed":
            raise fielddata_error("error.message", names[0] if names else expr)
        failed_idx = set()
        if mode == "shard_failure":
            want = kw.get("index")
            failed_idx = {n for n in names if want is None or n == want}
        ok_names = [n for n in names if n not in failed_idx]
        if names and not ok_names:
            rc = [{"type": "illegal_state_exception", "reason": "shard failure"}]
            raise ESError(400, error_body(400, "search_phase_execution_exception",
                                          "all shards failed", root_cause=rc))
        shards = {"total": len(names), "successful": len(ok_names), "skipped": 0,
                  "failed": len(failed_idx)}
        if failed_idx:
            shards["failures"] = [
                {"shard": 0, "index": n, "node": "fakeNode01",
                 "reason": {"type": "node_disconnected_exception",
                            "reason": "[fake][127.0.0.1:9300] disconnected"}}
                for n in sorted(failed_idx)]
        resp = {"took": 1, "timed_out": False, "_shards": shards}
        if not names:
            resp["hits"] = {"total": {"value": 0, "relation": "eq"}, "max_score": 0.0,
                            "hits": []}
            return 200, resp
        ctxs = []
        rid = 0
        for n in ok_names:
            for did, src in self.indices[n]:
                rid += 1
                c = Ctx(src, "", src, rid, (n, did))
                if pred(c):
                    ctxs.append(c)
        resp["hits"] = render_hits(ctxs, body.get("size", 10), body.get("sort"),
                                   body.get("_source"), int(body.get("from", 0)),
                                   body.get("track_total_hits"))
        if aggs is not None:
            resp["aggregations"] = AggRunner(now_ms, ok_names[0] if ok_names else expr).run(
                aggs, ctxs)
            if sent_after is not None:
                moved = dict(sent_after, id=str(sent_after.get("id")) + "~")
                set_after_keys(resp["aggregations"], moved)
        return 200, resp


def find_composite_after(aggs):
    """The `after` of the first composite aggregation in the tree, or None."""
    if isinstance(aggs, dict):
        for k, v in aggs.items():
            if k == "composite" and isinstance(v, dict) and "after" in v:
                return v["after"]
            found = find_composite_after(v)
            if found is not None:
                return found
    return None


def set_after_keys(res, key):
    """Replaces every after_key in an aggregation result by key."""
    if isinstance(res, dict):
        for k, v in res.items():
            if k == "after_key":
                res[k] = dict(key)
            else:
                set_after_keys(v, key)
    elif isinstance(res, list):
        for v in res:
            set_after_keys(v, key)


def drop_composite_after(aggs):
    """A copy of an aggregation tree without any composite `after`."""
    if isinstance(aggs, dict):
        out = {}
        for k, v in aggs.items():
            if k == "composite" and isinstance(v, dict):
                v = {kk: vv for kk, vv in v.items() if kk != "after"}
            out[k] = drop_composite_after(v)
        return out
    if isinstance(aggs, list):
        return [drop_composite_after(v) for v in aggs]
    return aggs


# ---------------------------------------------------------------------------
# HTTP

class _Handler(http.server.BaseHTTPRequestHandler):
    fake = None
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        with self.fake._lock:
            self.fake._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._conns.discard(self.connection)

    def version_string(self):
        return "fake-es"

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method):
        fake = self.fake
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n > 0 else b""
        u = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(u.path)
        rec = {"method": method, "path": path, "query": u.query,
               "content_type": self.headers.get("Content-Type"),
               "authorization": bool(self.headers.get("Authorization")),
               "body": None, "status": None, "response_bytes": 0}
        try:
            rec["body"] = json.loads(raw) if raw else None
        except ValueError:
            rec["body"] = None
        with fake._lock:
            fake._requests.append(rec)
            delay = fake._delay
            api_key = fake.api_key
        if delay:
            time.sleep(delay)
        if api_key is not None and self.headers.get("Authorization") != "ApiKey " + api_key:
            status, body = 401, error_body(401, "security_exception",
                                           "missing authentication credentials for REST request [%s]" % path)
        elif path == "/":
            status, body = 200, {"name": "fake", "version": {"number": fake.version}}
        elif path.endswith("/_search") and path.count("/") == 2:
            expr = path[1:-len("/_search")]
            if raw and rec["body"] is None:
                status, body = 400, error_body(400, "x_content_parse_exception",
                                               "could not parse the request body")
            elif method == "POST" and rec["body"] is not None and \
                    not (self.headers.get("Content-Type") or "").startswith("application/json"):
                status, body = 406, {"error": "Content-Type header [%s] is not supported"
                                     % self.headers.get("Content-Type"), "status": 406}
            else:
                status, body = fake.search(expr, rec["body"])
        else:
            status, body = 400, error_body(400, "illegal_argument_exception",
                                           "no handler found for uri [%s]" % path)
        data = json.dumps(body, separators=(",", ":")).encode()
        with fake._lock:
            rec["status"] = status
            rec["response_bytes"] = len(data)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-elastic-product", "Elasticsearch")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass
