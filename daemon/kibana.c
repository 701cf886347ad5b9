/*
 * kibana.c: Kibana REST API bodies as plain C structs, and space-aware URL
 * paths.  No network here; see kibana.h for the contract and
 * shared/reference/kibana-api.md sections 2, 5, 7, 8 for the field facts.
 *
 * Every body goes through kibana_json_load(), which repairs a copy before
 * jansson sees it:
 *   1. invalid UTF-8 (overlong forms, encoded surrogates, code points above
 *      U+10FFFF, truncated sequences, stray continuation bytes) becomes
 *      U+FFFD, one per maximal invalid subpart (Unicode 15, section 3.9);
 *   2. inside JSON strings, a high-surrogate escape not followed by a
 *      low-surrogate escape, a lone low-surrogate escape, and "\u0000"
 *      become "\uFFFD".  jansson would reject the first two; the third is
 *      accepted with JSON_ALLOW_NUL in values but refused in object keys, and
 *      a NUL inside a C string silently cuts it short.
 * Strings copied out go through kibana_json_strdup(), which also replaces
 * any NUL byte, so no C string handed out is ever shortened.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kibana.h"
#include "util.h"

#define KIBANA_RULES_MAX_PAGES	10000

static const char utf8_replacement[] = "\xef\xbf\xbd";	/* U+FFFD */

enum {
	FIELD_REQUIRED	= 1 << 0,
	FIELD_NONEMPTY	= 1 << 1,
};

static void seterr(char *err, size_t errsz, const char *fmt, ...)
    KCM_PRINTF(3, 4);

static void
seterr(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errsz == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errsz, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}

/* Copies in to out (if not NULL) with invalid UTF-8 replaced; returns the output length. */
static size_t
utf8_repair(const unsigned char *in, size_t len, unsigned char *out)
{
	size_t i = 0, o = 0, n, skip;

	while (i < len) {
		/* A run of ASCII, most of an answer, in one copy. */
		for (n = i; n < len && in[n] < 0x80; n++)
			;
		if (n > i) {
			if (out != NULL)
				memcpy(out + o, in + i, n - i);
			o += n - i;
			i = n;
			continue;
		}
		n = utf8_sequence(in + i, len - i, &skip);
		if (n > 0) {
			if (out != NULL)
				memcpy(out + o, in + i, n);
			o += n;
			i += n;
		} else {
			if (out != NULL)
				memcpy(out + o, utf8_replacement, 3);
			o += 3;
			i += skip;
		}
	}
	return o;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads "\uXXXX" at s (avail bytes); returns the code unit or -1. */
static long
unicode_escape(const char *s, size_t avail)
{
	long v = 0;
	size_t k;
	int h;

	if (avail < 6 || s[0] != '\\' || s[1] != 'u')
		return -1;
	for (k = 2; k < 6; k++) {
		h = hexval(s[k]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/*
 * In place, inside strings: lone surrogate escapes and \u0000 -> \uFFFD.
 * Every rewrite keeps the length (six bytes for six bytes).
 */
static void
escape_repair(char *s, size_t n)
{
	bool instr = false;
	size_t i = 0;
	long v, w;

	while (i < n) {
		if (!instr) {
			if (s[i] == '"')
				instr = true;
			i++;
			continue;
		}
		if (s[i] == '"') {
			instr = false;
			i++;
			continue;
		}
		if (s[i] != '\\') {
			i++;
			continue;
		}
		v = unicode_escape(s + i, n - i);
		if (v < 0) {
			/* \" \\ \n ... or a malformed \u: skip the escaped byte */
			i += 2;
			continue;
		}
		if (v >= 0xd800 && v <= 0xdbff) {
			w = unicode_escape(s + i + 6, n - i - 6);
			if (w >= 0xdc00 && w <= 0xdfff) {
				i += 12;
				continue;
			}
			memcpy(s + i + 2, "FFFD", 4);
		} else if ((v >= 0xdc00 && v <= 0xdfff) || v == 0)
			memcpy(s + i + 2, "FFFD", 4);
		i += 6;
	}
}

static const char *
json_error_reason(enum json_error_code code)
{
	switch (code) {
	case json_error_premature_end_of_input:
		return "premature end of input";
	case json_error_end_of_input_expected:
		return "trailing data after the JSON value";
	case json_error_stack_overflow:
		return "nesting too deep";
	case json_error_numeric_overflow:
		return "number out of range";
	case json_error_invalid_utf8:
		return "invalid UTF-8";
	case json_error_null_character:
	case json_error_null_byte_in_key:
		return "NUL character";
	case json_error_invalid_syntax:
	default:
		return "invalid syntax";
	}
}

/* kibana_json_load() with an errno: -EBADMSG for a bad body, -ENOMEM. */
static int
json_load_repaired(const char *body, size_t len, json_t **ret, char *err,
    size_t errsz)
{
	json_error_t jerr;
	char *copy;
	size_t n;
	json_t *root;

	if (body == NULL || len == 0) {
		seterr(err, errsz, "empty body");
		return -EBADMSG;
	}
	if (len > (SIZE_MAX - 1) / 3) {
		seterr(err, errsz, "body too large");
		return -ENOMEM;
	}
	n = utf8_repair((const unsigned char *)body, len, NULL);
	copy = malloc(n + 1);
	if (copy == NULL) {
		seterr(err, errsz, "out of memory");
		return -ENOMEM;
	}
	utf8_repair((const unsigned char *)body, len, (unsigned char *)copy);
	copy[n] = '\0';
	escape_repair(copy, n);

	root = json_loadb(copy, n, JSON_ALLOW_NUL, &jerr);
	free(copy);
	if (root == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory) {
			seterr(err, errsz, "out of memory");
			return -ENOMEM;
		}
		/* jerr.text may quote the body ("near '...'"): not used. */
		seterr(err, errsz, "malformed JSON: %s at line %d column %d",
		    json_error_reason(json_error_code(&jerr)), jerr.line,
		    jerr.column);
		return -EBADMSG;
	}
	*ret = root;
	return 0;
}

json_t *
kibana_json_load(const char *body, size_t len, char *err, size_t errsz)
{
	json_t *root = NULL;

	if (json_load_repaired(body, len, &root, err, errsz) < 0)
		return NULL;
	return root;
}

char *
kibana_json_strdup(const json_t *s)
{
	const char *v;
	size_t len, i, nul = 0, o = 0;
	char *out;

	if (!json_is_string(s))
		return NULL;
	v = json_string_value(s);
	len = json_string_length(s);
	for (i = 0; i < len; i++)
		if (v[i] == '\0')
			nul++;
	if (nul > (SIZE_MAX - 1 - len) / 2)
		return NULL;
	out = malloc(len + 2 * nul + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (v[i] == '\0') {
			memcpy(out + o, utf8_replacement, 3);
			o += 3;
		} else
			out[o++] = v[i];
	}
	out[o] = '\0';
	return out;
}

/* The member `key`, or else `alias` (a pre-7.13 camelCase name); *used names it. */
static json_t *
field(const json_t *obj, const char *key, const char *alias, const char **used)
{
	json_t *v;

	*used = key;
	v = json_object_get(obj, key);
	if (v == NULL && alias != NULL) {
		v = json_object_get(obj, alias);
		if (v != NULL)
			*used = alias;
	}
	return v;
}

static int
get_bool(const json_t *obj, const char *pfx, const char *key,
    const char *alias, bool required, bool def, bool *ret, char *err,
    size_t errsz)
{
	const char *used;
	json_t *v;

	v = field(obj, key, alias, &used);
	if (v == NULL) {
		if (required) {
			seterr(err, errsz, "%s%s%s: missing boolean", pfx,
			    *pfx ? "." : "", used);
			return -EBADMSG;
		}
		*ret = def;
		return 0;
	}
	if (!json_is_boolean(v)) {
		seterr(err, errsz, "%s%s%s: expected boolean", pfx,
		    *pfx ? "." : "", used);
		return -EBADMSG;
	}
	*ret = json_is_true(v);
	return 0;
}

/* A non-negative integer; an integral JSON real is accepted too. */
static int
get_count(const json_t *obj, const char *pfx, const char *key,
    const char *alias, bool required, int64_t *ret, char *err, size_t errsz)
{
	const char *used;
	json_t *v;
	double d;

	v = field(obj, key, alias, &used);
	if (v == NULL) {
		if (required) {
			seterr(err, errsz, "%s%s%s: missing integer", pfx,
			    *pfx ? "." : "", used);
			return -EBADMSG;
		}
		*ret = 0;
		return 0;
	}
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			goto bad;
		*ret = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		d = json_real_value(v);
		/* The comparisons are false for NaN. */
		if (!(d >= 0.0 && d < 9223372036854775808.0) ||
		    (double)(int64_t)d != d)
			goto bad;
		*ret = (int64_t)d;
		return 0;
	}
bad:
	seterr(err, errsz, "%s%s%s: expected non-negative integer", pfx,
	    *pfx ? "." : "", used);
	return -EBADMSG;
}

/*
 * A string copied out.  Absent: error with FIELD_REQUIRED, else a copy of
 * def (NULL def leaves *ret NULL).  *ret is written only on success.
 */
static int
get_string(const json_t *obj, const char *pfx, const char *key,
    const char *alias, int flags, const char *def, char **ret, char *err,
    size_t errsz)
{
	const char *used;
	json_t *v;
	char *s;

	v = field(obj, key, alias, &used);
	if (v == NULL) {
		if (flags & FIELD_REQUIRED)
			goto bad;
		s = NULL;
		if (def != NULL && (s = strdup(def)) == NULL)
			goto oom;
		*ret = s;
		return 0;
	}
	if (!json_is_string(v) ||
	    ((flags & FIELD_NONEMPTY) && json_string_length(v) == 0))
		goto bad;
	s = kibana_json_strdup(v);
	if (s == NULL)
		goto oom;
	*ret = s;
	return 0;
bad:
	seterr(err, errsz, "%s%s%s: expected %sstring", pfx, *pfx ? "." : "",
	    used, (flags & FIELD_NONEMPTY) ? "non-empty " : "");
	return -EBADMSG;
oom:
	seterr(err, errsz, "out of memory");
	return -ENOMEM;
}

/* True for Kibana's error envelope {"statusCode":..,"error":..,"message":..}. */
static bool
is_error_envelope(const json_t *root)
{
	return json_is_object(root) &&
	    json_object_get(root, "statusCode") != NULL &&
	    json_object_get(root, "message") != NULL;
}

/* An array root and, unless it is empty, one zeroed element per entry. */
static int
load_array(const char *body, size_t len, json_t **ret_root, void **ret_v,
    size_t elemsz, char *err, size_t errsz)
{
	json_t *root = NULL;
	void *v = NULL;
	size_t n;
	int r;

	r = json_load_repaired(body, len, &root, err, errsz);
	if (r < 0)
		return r;
	if (!json_is_array(root)) {
		seterr(err, errsz, "expected a JSON array%s",
		    is_error_envelope(root) ? ", got a Kibana error envelope" :
		    "");
		json_decref(root);
		return -EBADMSG;
	}
	n = json_array_size(root);
	if (n > 0 && (v = calloc(n, elemsz)) == NULL) {
		seterr(err, errsz, "out of memory");
		json_decref(root);
		return -ENOMEM;
	}
	*ret_root = root;
	*ret_v = v;
	return 0;
}

static int
expect_object(const json_t *v, const char *pfx, char *err, size_t errsz)
{
	if (json_is_object(v))
		return 0;
	seterr(err, errsz, "%s: expected object", pfx);
	return -EBADMSG;
}

static int
parse_connector(const json_t *o, const char *pfx, struct kibana_connector *c,
    char *err, size_t errsz)
{
	int r;

	if ((r = expect_object(o, pfx, err, errsz)) < 0 ||
	    (r = get_string(o, pfx, "id", NULL, FIELD_REQUIRED | FIELD_NONEMPTY,
	    NULL, &c->id, err, errsz)) < 0 ||
	    (r = get_string(o, pfx, "name", NULL, FIELD_REQUIRED, NULL,
	    &c->name, err, errsz)) < 0 ||
	    (r = get_string(o, pfx, "connector_type_id", "actionTypeId",
	    FIELD_REQUIRED | FIELD_NONEMPTY, NULL, &c->type_id, err,
	    errsz)) < 0 ||
	    (r = get_bool(o, pfx, "is_preconfigured", "isPreconfigured", false,
	    false, &c->preconfigured, err, errsz)) < 0 ||
	    (r = get_bool(o, pfx, "is_deprecated", "isDeprecated", false,
	    false, &c->deprecated, err, errsz)) < 0 ||
	    (r = get_bool(o, pfx, "is_system_action", "isSystemAction", false,
	    false, &c->system_action, err, errsz)) < 0 ||
	    (r = get_bool(o, pfx, "is_missing_secrets", "isMissingSecrets",
	    false, false, &c->missing_secrets, err, errsz)) < 0 ||
	    (r = get_count(o, pfx, "referenced_by_count", "referencedByCount",
	    false, &c->referenced_by_count, err, errsz)) < 0)
		return r;
	return 0;
}

int
kibana_parse_connectors(const char *body, size_t len,
    struct kibana_connector_list *ret, char *err, size_t errsz)
{
	struct kibana_connector_list l = { NULL, 0 };
	json_t *root = NULL;
	void *v = NULL;
	char pfx[32];
	size_t i, n;
	int r;

	r = load_array(body, len, &root, &v, sizeof(*l.v), err, errsz);
	if (r < 0)
		return r;
	l.v = v;
	n = json_array_size(root);
	for (i = 0; i < n; i++) {
		snprintf(pfx, sizeof(pfx), "[%zu]", i);
		l.n = i + 1;	/* the zeroed entry is freed on failure */
		r = parse_connector(json_array_get(root, i), pfx, &l.v[i], err,
		    errsz);
		if (r < 0) {
			kibana_connector_list_free(&l);
			json_decref(root);
			return r;
		}
	}
	json_decref(root);
	*ret = l;
	return 0;
}

static int
parse_connector_type(const json_t *o, const char *pfx,
    struct kibana_connector_type *t, char *err, size_t errsz)
{
	int r;

	if ((r = expect_object(o, pfx, err, errsz)) < 0 ||
	    (r = get_string(o, pfx, "id", NULL, FIELD_REQUIRED | FIELD_NONEMPTY,
	    NULL, &t->id, err, errsz)) < 0 ||
	    (r = get_bool(o, pfx, "enabled", NULL, true, false, &t->enabled,
	    err, errsz)) < 0 ||
	    /* Not seen missing in any version; absent means "as enabled". */
	    (r = get_bool(o, pfx, "enabled_in_config", "enabledInConfig",
	    false, t->enabled, &t->enabled_in_config, err, errsz)) < 0 ||
	    (r = get_bool(o, pfx, "enabled_in_license", "enabledInLicense",
	    false, t->enabled, &t->enabled_in_license, err, errsz)) < 0 ||
	    (r = get_string(o, pfx, "minimum_license_required",
	    "minimumLicenseRequired", 0, "", &t->minimum_license_required,
	    err, errsz)) < 0)
		return r;
	return 0;
}

int
kibana_parse_connector_types(const char *body, size_t len,
    struct kibana_connector_type_list *ret, char *err, size_t errsz)
{
	struct kibana_connector_type_list l = { NULL, 0 };
	json_t *root = NULL;
	void *v = NULL;
	char pfx[32];
	size_t i, n;
	int r;

	r = load_array(body, len, &root, &v, sizeof(*l.v), err, errsz);
	if (r < 0)
		return r;
	l.v = v;
	n = json_array_size(root);
	for (i = 0; i < n; i++) {
		snprintf(pfx, sizeof(pfx), "[%zu]", i);
		l.n = i + 1;
		r = parse_connector_type(json_array_get(root, i), pfx, &l.v[i],
		    err, errsz);
		if (r < 0) {
			kibana_connector_type_list_free(&l);
			json_decref(root);
			return r;
		}
	}
	json_decref(root);
	*ret = l;
	return 0;
}

int
kibana_parse_spaces(const char *body, size_t len, struct kibana_space_list *ret,
    char *err, size_t errsz)
{
	struct kibana_space_list l = { NULL, 0 };
	json_t *root = NULL, *o;
	void *v = NULL;
	char pfx[32];
	size_t i, n;
	int r;

	r = load_array(body, len, &root, &v, sizeof(*l.ids), err, errsz);
	if (r < 0)
		return r;
	l.ids = v;
	n = json_array_size(root);
	for (i = 0; i < n; i++) {
		snprintf(pfx, sizeof(pfx), "[%zu]", i);
		o = json_array_get(root, i);
		l.n = i + 1;
		if ((r = expect_object(o, pfx, err, errsz)) < 0 ||
		    (r = get_string(o, pfx, "id", NULL,
		    FIELD_REQUIRED | FIELD_NONEMPTY, NULL, &l.ids[i], err,
		    errsz)) < 0) {
			kibana_space_list_free(&l);
			json_decref(root);
			return r;
		}
	}
	json_decref(root);
	*ret = l;
	return 0;
}

static void
rule_free(struct kibana_rule *rule)
{
	size_t i;

	free(rule->id);
	free(rule->name);
	for (i = 0; i < rule->nactions; i++)
		free(rule->action_ids[i]);
	free(rule->action_ids);
	memset(rule, 0, sizeof(*rule));
}

static int
parse_rule(const json_t *o, size_t idx, struct kibana_rule *rule, char *err,
    size_t errsz)
{
	char pfx[48], apfx[80];
	json_t *actions, *a;
	size_t i, n;
	int r;

	snprintf(pfx, sizeof(pfx), "data[%zu]", idx);
	if ((r = expect_object(o, pfx, err, errsz)) < 0 ||
	    (r = get_string(o, pfx, "id", NULL, FIELD_REQUIRED | FIELD_NONEMPTY,
	    NULL, &rule->id, err, errsz)) < 0 ||
	    (r = get_string(o, pfx, "name", NULL, FIELD_REQUIRED, NULL,
	    &rule->name, err, errsz)) < 0)
		return r;

	actions = json_object_get(o, "actions");
	if (actions == NULL)
		return 0;
	if (!json_is_array(actions)) {
		seterr(err, errsz, "%s.actions: expected array", pfx);
		return -EBADMSG;
	}
	n = json_array_size(actions);
	if (n == 0)
		return 0;
	rule->action_ids = calloc(n, sizeof(*rule->action_ids));
	if (rule->action_ids == NULL) {
		seterr(err, errsz, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		snprintf(apfx, sizeof(apfx), "%s.actions[%zu]", pfx, i);
		a = json_array_get(actions, i);
		rule->nactions = i + 1;
		if ((r = expect_object(a, apfx, err, errsz)) < 0 ||
		    (r = get_string(a, apfx, "id", NULL,
		    FIELD_REQUIRED | FIELD_NONEMPTY, NULL, &rule->action_ids[i],
		    err, errsz)) < 0)
			return r;
	}
	return 0;
}

int
kibana_parse_rules_page(const char *body, size_t len,
    struct kibana_rules_page *ret, char *err, size_t errsz)
{
	struct kibana_rules_page p;
	json_t *root = NULL, *data;
	size_t i, n;
	int r;

	memset(&p, 0, sizeof(p));
	r = json_load_repaired(body, len, &root, err, errsz);
	if (r < 0)
		return r;
	if (!json_is_object(root) || is_error_envelope(root)) {
		seterr(err, errsz, "expected a JSON object%s",
		    is_error_envelope(root) ? ", got a Kibana error envelope" :
		    "");
		r = -EBADMSG;
		goto out;
	}
	if ((r = get_count(root, "", "page", NULL, true, &p.page, err,
	    errsz)) < 0 ||
	    (r = get_count(root, "", "per_page", "perPage", true, &p.per_page,
	    err, errsz)) < 0 ||
	    (r = get_count(root, "", "total", NULL, true, &p.total, err,
	    errsz)) < 0)
		goto out;
	data = json_object_get(root, "data");
	if (!json_is_array(data)) {
		seterr(err, errsz, "data: expected array");
		r = -EBADMSG;
		goto out;
	}
	n = json_array_size(data);
	if (n > 0 && (p.v = calloc(n, sizeof(*p.v))) == NULL) {
		seterr(err, errsz, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		p.n = i + 1;
		r = parse_rule(json_array_get(data, i), i, &p.v[i], err, errsz);
		if (r < 0)
			goto out;
	}
	*ret = p;
	memset(&p, 0, sizeof(p));
	r = 0;
out:
	kibana_rules_page_free(&p);
	json_decref(root);
	return r;
}

void
kibana_connector_list_free(struct kibana_connector_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].name);
		free(l->v[i].type_id);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
kibana_connector_type_list_free(struct kibana_connector_type_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].id);
		free(l->v[i].minimum_license_required);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
kibana_space_list_free(struct kibana_space_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->ids[i]);
	free(l->ids);
	l->ids = NULL;
	l->n = 0;
}

void
kibana_rules_page_free(struct kibana_rules_page *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		rule_free(&p->v[i]);
	free(p->v);
	memset(p, 0, sizeof(*p));
}

int64_t
kibana_rules_pages(int64_t total, int64_t per_page)
{
	int64_t pages;

	if (per_page <= 0)
		per_page = KIBANA_RULES_PER_PAGE;
	if (total <= 0)
		return 1;
	pages = total / per_page + (total % per_page != 0);
	if (pages > KIBANA_RULES_MAX_PAGES)
		pages = KIBANA_RULES_MAX_PAGES;
	return pages;
}

int
kibana_space_path(struct strbuf *out, const char *space, const char *path)
{
	if (out == NULL || space == NULL || path == NULL || *space == '\0' ||
	    path[0] != '/')
		return -EINVAL;
	if (strcmp(space, "default") != 0) {
		strbuf_puts(out, "/s/");
		strbuf_put_urlencoded(out, space, "_-");
	}
	strbuf_puts(out, path);
	return strbuf_failed(out) ? -ENOMEM : 0;
}

bool
kibana_space_id_valid(const char *s)
{
	return *s != '\0' &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(s);
}

bool
kibana_is_system_connector_id(const char *id)
{
	return id != NULL && strncmp(id, KIBANA_SYSTEM_CONNECTOR_PREFIX,
	    sizeof(KIBANA_SYSTEM_CONNECTOR_PREFIX) - 1) == 0;
}
