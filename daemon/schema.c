/*
 * schema.c: walking YAML mappings against key tables, and the value kinds
 * every configuration section uses (see schema.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "schema.h"
#include "util.h"
#include "ytree.h"

#define WHERE_TEXT_MAX	160

/* ---- reporting -------------------------------------------------------- */

static void
schema_report(void *userdata, unsigned line, unsigned column, char *message)
{
	struct schema *s = userdata;

	s->nerrors++;
	if (message == NULL)
		s->oom = true;
	s->out->error(s->out->userdata, line, column, message);
}

void
schema_init(struct schema *s, const struct ytree_report *out,
    const char *basedir)
{
	memset(s, 0, sizeof(*s));
	s->rep.error = schema_report;
	s->rep.userdata = s;
	s->out = out;
	s->basedir = basedir;
}

/* ---- helpers ---------------------------------------------------------- */

char *
schema_strdup(struct schema *p, const char *s)
{
	char *d;

	d = strdup(s);
	if (d == NULL)
		p->oom = true;
	return d;
}

bool
schema_has_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* ---- scalar values ---------------------------------------------------- */

/* The text of a non-null scalar, or NULL after reporting a type error. */
const char *
schema_expect_scalar(struct schema *p, const char *key,
    const struct ytree_node *v, const char *what)
{
	if (v->kind != YTREE_SCALAR) {
		ytree_error(&p->rep, v, "'%s': expected %s, got %s", key, what,
		    ytree_describe(v));
		return NULL;
	}
	if (ytree_is_null(v)) {
		ytree_error(&p->rep, v, "'%s': missing value (expected %s)",
		    key, what);
		return NULL;
	}
	return v->value;
}

const char *
schema_expect_string(struct schema *p, const char *key,
    const struct ytree_node *v)
{
	const char *s;

	s = schema_expect_scalar(p, key, v, "a string");
	if (s == NULL)
		return NULL;
	if (*s == '\0') {
		ytree_error(&p->rep, v, "'%s': must not be empty", key);
		return NULL;
	}
	return s;
}

int
schema_string(struct schema *p, const char *key, const struct ytree_node *v,
    char **ret)
{
	const char *s;
	char *d;

	s = schema_expect_string(p, key, v);
	if (s == NULL)
		return -EINVAL;
	d = schema_strdup(p, s);
	if (d == NULL)
		return -ENOMEM;
	*ret = d;
	return 0;
}

/*
 * Absolute file names are kept; relative ones resolve against
 * $CREDENTIALS_DIRECTORY when set, else the config file's directory.
 */
static int
parse_path(struct schema *p, const char *key, const struct ytree_node *v,
    char **ret)
{
	struct strbuf sb;
	const char *s;
	char *d;

	s = schema_expect_string(p, key, v);
	if (s == NULL)
		return -EINVAL;
	strbuf_init(&sb);
	if (s[0] != '/') {
		strbuf_puts(&sb, p->basedir);
		if (sb.len == 0 || sb.buf[sb.len - 1] != '/')
			strbuf_putc(&sb, '/');
	}
	strbuf_puts(&sb, s);
	d = strbuf_steal(&sb);
	if (d == NULL) {
		p->oom = true;
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

static int
parse_bool(struct schema *p, const char *key, const struct ytree_node *v,
    bool *ret)
{
	struct ytree_shown sh;
	const char *s;

	s = schema_expect_scalar(p, key, v, "true or false");
	if (s == NULL)
		return -EINVAL;
	if (strcmp(s, "true") == 0)
		*ret = true;
	else if (strcmp(s, "false") == 0)
		*ret = false;
	else {
		ytree_error(&p->rep, v, "'%s': expected true or false, got "
		    "'%s'", key, ytree_show(&sh, s));
		return -EINVAL;
	}
	return 0;
}

static void
format_size(uint64_t bytes, char *buf, size_t bufsz)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = {
		{ "GiB", UINT64_C(1024) * 1024 * 1024 },
		{ "MiB", UINT64_C(1024) * 1024 },
		{ "KiB", UINT64_C(1024) },
	};
	size_t i;

	for (i = 0; i < ELEMENTSOF(units); i++)
		if (bytes != 0 && bytes % units[i].mult == 0) {
			snprintf(buf, bufsz, "%llu%s",
			    (unsigned long long)(bytes / units[i].mult),
			    units[i].unit);
			return;
		}
	snprintf(buf, bufsz, "%lluB", (unsigned long long)bytes);
}

static void
format_value(enum schema_kind kind, uint64_t v, char *buf, size_t bufsz)
{
	if (kind == SCHEMA_DURATION)
		format_duration(v, buf, bufsz);
	else if (kind == SCHEMA_SIZE)
		format_size(v, buf, bufsz);
	else
		snprintf(buf, bufsz, "%llu", (unsigned long long)v);
}

/* SCHEMA_UINT, SCHEMA_DURATION, SCHEMA_SIZE: parsed and range-checked. */
static int
parse_number(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, uint64_t *ret)
{
	const char *what, *noun, *hint, *s;
	int (*fn)(const char *, uint64_t *);
	char lo[32], hi[32];
	struct ytree_shown sh;
	uint64_t u = 0;
	int r;

	switch (spec->kind) {
	case SCHEMA_DURATION:
		what = "a duration";
		noun = "duration";
		hint = " (use e.g. 30s, 5m, 1h)";
		fn = parse_duration;
		break;
	case SCHEMA_SIZE:
		what = "a size";
		noun = "size";
		hint = " (use e.g. 512KiB, 64MiB, 1GiB)";
		fn = parse_size;
		break;
	default:
		what = "an integer";
		noun = "integer";
		hint = "";
		fn = parse_uint64;
		break;
	}
	s = schema_expect_scalar(p, spec->key, v, what);
	if (s == NULL)
		return -EINVAL;
	r = fn(s, &u);
	if (r == -EINVAL) {
		ytree_error(&p->rep, v, "'%s': invalid %s '%s'%s", spec->key,
		    noun, ytree_show(&sh, s), hint);
		return r;
	}
	if (r < 0 || u < spec->min || u > spec->max) {
		format_value(spec->kind, spec->min, lo, sizeof(lo));
		format_value(spec->kind, spec->max, hi, sizeof(hi));
		ytree_error(&p->rep, v, "'%s': '%s' is out of range (%s..%s)",
		    spec->key, ytree_show(&sh, s), lo, hi);
		return -ERANGE;
	}
	*ret = u;
	return 0;
}

static int
parse_value(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, void *ctx, const char *where)
{
	void *field = (char *)ctx + spec->offset;
	uint64_t u;
	int r;

	switch (spec->kind) {
	case SCHEMA_STRING:
		return schema_string(p, spec->key, v, field);
	case SCHEMA_PATH:
		return parse_path(p, spec->key, v, field);
	case SCHEMA_BOOL:
		return parse_bool(p, spec->key, v, field);
	case SCHEMA_UINT:
		r = parse_number(p, spec, v, &u);
		if (r == 0)
			*(unsigned *)field = (unsigned)u;
		return r;
	case SCHEMA_DURATION:
	case SCHEMA_SIZE:
		return parse_number(p, spec, v, field);
	case SCHEMA_CUSTOM:
		return spec->parse(p, spec, v, ctx, where);
	}
	return -EINVAL;
}

/* ---- mappings --------------------------------------------------------- */

static const char *
where_text(char *buf, size_t bufsz, const char *where)
{
	if (where == NULL)
		snprintf(buf, bufsz, "at the top level");
	else
		snprintf(buf, bufsz, "in '%s'", where);
	return buf;
}

/*
 * Walks mapping `map` against `specs`, storing values into ctx.  seen[i]
 * tells what was found for specs[i].  Returns 0 when the mapping was
 * entirely valid, -EINVAL otherwise (errors reported).
 */
int
schema_mapping(struct schema *p, const struct ytree_node *map,
    const char *where, const struct schema_key *specs, size_t nspecs,
    void *ctx, struct schema_seen *seen)
{
	char wbuf[WHERE_TEXT_MAX];
	const struct ytree_node *k, *v;
	size_t before = p->nerrors, i, j;
	struct ytree_shown sh;

	memset(seen, 0, nspecs * sizeof(*seen));
	for (i = 0; i + 1 < map->nchild; i += 2) {
		k = map->child[i];
		v = map->child[i + 1];
		if (k->kind != YTREE_SCALAR) {
			ytree_error(&p->rep, k, "keys must be plain strings, "
			    "got %s %s", ytree_describe(k), where_text(wbuf,
			    sizeof(wbuf), where));
			continue;
		}
		for (j = 0; j < nspecs; j++)
			if (strcmp(k->value, specs[j].key) == 0)
				break;
		if (j == nspecs) {
			ytree_error(&p->rep, k, "unknown key '%s' %s",
			    ytree_show(&sh, k->value), where_text(wbuf,
			    sizeof(wbuf), where));
			continue;
		}
		if (seen[j].key != NULL) {
			ytree_error(&p->rep, k, "duplicate key '%s' %s (first "
			    "defined at line %u)", specs[j].key,
			    where_text(wbuf, sizeof(wbuf), where),
			    seen[j].key->line);
			continue;
		}
		seen[j].key = k;
		seen[j].value = v;
		seen[j].ok = parse_value(p, &specs[j], v, ctx, where) == 0;
	}
	for (j = 0; j < nspecs; j++)
		if (specs[j].required && seen[j].key == NULL)
			ytree_error(&p->rep, map, "missing required key '%s' "
			    "%s", specs[j].key, where_text(wbuf, sizeof(wbuf),
			    where));
	return p->nerrors == before ? 0 : -EINVAL;
}

/* ---- URLs ------------------------------------------------------------- */

/* True when curl found the given part (user, password, query, ...). */
static bool
url_has(CURLU *u, CURLUPart part)
{
	char *s = NULL;
	CURLUcode rc;

	rc = curl_url_get(u, part, &s, 0);
	curl_free(s);
	return rc == CURLUE_OK;
}

/*
 * Never prints the URL: it may hold a password.  The scheme is printed
 * only once it is known to be made of scheme characters.
 */
static int
check_url(struct schema *p, const char *key, const struct ytree_node *v,
    const struct schema_url_rules *rules, const char *s, CURLU *u)
{
	size_t slen, i, alen;
	const char *auth;
	char scheme[17];
	char *port = NULL, *host = NULL, *path = NULL;
	uint64_t n;
	CURLUcode rc;
	int r = -EINVAL;

	slen = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789+.-");
	if (slen == 0 || slen >= sizeof(scheme) ||
	    strncmp(s + slen, "://", 3) != 0) {
		ytree_error(&p->rep, v, "'%s': not an absolute URL (expected "
		    "scheme://host[:port]%s)", key, rules->allow_path ?
		    "[/path]" : "");
		return -EINVAL;
	}
	for (i = 0; i < slen; i++)
		scheme[i] = (char)((s[i] >= 'A' && s[i] <= 'Z') ?
		    s[i] - 'A' + 'a' : s[i]);
	scheme[slen] = '\0';
	for (i = 0; rules->schemes[i] != NULL; i++)
		if (strcmp(scheme, rules->schemes[i]) == 0)
			break;
	if (rules->schemes[i] == NULL) {
		ytree_error(&p->rep, v, "'%s': unsupported scheme '%s' (use "
		    "%s)", key, scheme, rules->schemes_text);
		return -EINVAL;
	}
	auth = s + slen + 3;
	alen = strcspn(auth, "/?#");
	if (memchr(auth, '@', alen) != NULL) {
		ytree_error(&p->rep, v, "credentials in '%s' are not allowed%s",
		    key, rules->credentials_hint);
		return -EINVAL;
	}
	if (alen == 0) {
		ytree_error(&p->rep, v, "'%s': missing host name", key);
		return -EINVAL;
	}
	if (strpbrk(s, "?#") != NULL) {
		ytree_error(&p->rep, v, "'%s': query strings and fragments are "
		    "not allowed", key);
		return -EINVAL;
	}
	rc = curl_url_set(u, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME);
	if (rc == CURLUE_BAD_PORT_NUMBER) {
		ytree_error(&p->rep, v, "'%s': invalid port (must be 1-65535)",
		    key);
		return -EINVAL;
	}
	if (rc == CURLUE_OUT_OF_MEMORY) {
		p->oom = true;
		return -ENOMEM;
	}
	if (rc != CURLUE_OK) {
		ytree_error(&p->rep, v, "'%s': invalid URL: %s", key,
		    curl_url_strerror(rc));
		return -EINVAL;
	}
	if (url_has(u, CURLUPART_USER) || url_has(u, CURLUPART_PASSWORD) ||
	    url_has(u, CURLUPART_OPTIONS)) {
		ytree_error(&p->rep, v, "credentials in '%s' are not allowed%s",
		    key, rules->credentials_hint);
		return -EINVAL;
	}
	if (url_has(u, CURLUPART_QUERY) || url_has(u, CURLUPART_FRAGMENT)) {
		ytree_error(&p->rep, v, "'%s': query strings and fragments are "
		    "not allowed", key);
		return -EINVAL;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    host == NULL || *host == '\0') {
		ytree_error(&p->rep, v, "'%s': missing host name", key);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK &&
	    (parse_uint64(port, &n) < 0 || n < 1 || n > 65535)) {
		ytree_error(&p->rep, v, "'%s': invalid port (must be 1-65535)",
		    key);
		goto out;
	}
	if (!rules->allow_path &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK &&
	    path != NULL && strspn(path, "/") != strlen(path)) {
		ytree_error(&p->rep, v, "'%s': must not have a path", key);
		goto out;
	}
	r = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(path);
	return r;
}

/*
 * scheme://host[:port][/base]: validated with libcurl's URL parser and
 * stored as libcurl writes it back, without trailing '/'.
 */
int
schema_url(struct schema *p, const char *key, const struct ytree_node *v,
    const struct schema_url_rules *rules, char **ret)
{
	const char *s;
	char *out = NULL, *d;
	size_t len;
	CURLU *u;
	int r;

	s = schema_expect_scalar(p, key, v, "a URL");
	if (s == NULL)
		return -EINVAL;
	u = curl_url();
	if (u == NULL) {
		p->oom = true;
		return -ENOMEM;
	}
	r = check_url(p, key, v, rules, s, u);
	if (r < 0)
		goto out;
	if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK) {
		p->oom = true;
		r = -ENOMEM;
		goto out;
	}
	len = strlen(out);
	while (len > 0 && out[len - 1] == '/')
		len--;
	d = strndup(out, len);
	if (d == NULL) {
		p->oom = true;
		r = -ENOMEM;
		goto out;
	}
	*ret = d;
out:
	curl_free(out);
	curl_url_cleanup(u);
	return r;
}

/*
 * A scalar naming one of a fixed set of words: from_string() maps it to a
 * value >= 0 or fails; `what` (the expected kind), `noun` and `choices`
 * make the error messages.
 */
int
schema_word(struct schema *p, const struct schema_key *spec,
    const struct ytree_node *v, int (*from_string)(const char *),
    const char *what, const char *noun, const char *choices, int *ret)
{
	struct ytree_shown sh;
	const char *s;
	int r;

	s = schema_expect_scalar(p, spec->key, v, what);
	if (s == NULL)
		return -EINVAL;
	r = from_string(s);
	if (r < 0) {
		ytree_error(&p->rep, v, "'%s': invalid %s '%s' (use %s)",
		    spec->key, noun, ytree_show(&sh, s), choices);
		return -EINVAL;
	}
	*ret = r;
	return 0;
}

