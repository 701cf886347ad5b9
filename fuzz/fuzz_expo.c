/*
 * fuzz_expo.c: arbitrary bytes through the exposition writer and the
 * registry; the output must always be a valid exposition.
 *
 * The input is split at NUL bytes into label values (a C string cannot
 * carry NUL; the raw input, NULs included, goes to expo_sanitize_label
 * directly).  Sample values are doubles taken from the input bytes, so NaN,
 * infinities, subnormals and -0 all occur.  Any violation abort()s, which
 * both libFuzzer and the standalone driver (fuzz_main.c) report.
 *
 *   libFuzzer:  fuzz_expo -max_total_time=60 fuzz/corpus/expo
 *   replay:     fuzz_expo_replay fuzz/corpus/expo
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "metrics.h"
#include "util.h"

#define MAX_PIECES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_expo: %s:%d: check failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/* Strict UTF-8 (Unicode Table 3-7); NUL is rejected too. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0, n, k;
	unsigned char c, lo, hi;

	while (i < len) {
		c = s[i];
		lo = 0x80;
		hi = 0xbf;
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else
			return false;
		for (k = 1; k <= n; k++) {
			if (i + k >= len || s[i + k] < lo || s[i + k] > hi)
				return false;
			lo = 0x80;
			hi = 0xbf;
		}
		i += n + 1;
	}
	return true;
}

/* Undoes expo_escape_label / expo_escape_help; false on a bad escape. */
static bool
unescape(const char *s, size_t len, bool quote, struct strbuf *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\n' || (quote && s[i] == '"'))
			return false;
		if (s[i] != '\\') {
			strbuf_putc(out, s[i]);
			continue;
		}
		if (++i == len)
			return false;
		if (s[i] == 'n')
			strbuf_putc(out, '\n');
		else if (s[i] == '\\' || (quote && s[i] == '"'))
			strbuf_putc(out, s[i]);
		else
			return false;
	}
	return !strbuf_failed(out);
}

/* Length of the [a-zA-Z_:][a-zA-Z0-9_:]* (colon) name at s. */
static size_t
name_len(const char *s, const char *end, bool colon)
{
	const char *p;

	for (p = s; p < end; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (colon && c == ':') ||
		    (p > s && c >= '0' && c <= '9')))
			break;
	}
	return (size_t)(p - s);
}

static bool
value_valid(const char *s, const char *end)
{
	char buf[64], *e;
	size_t len = (size_t)(end - s);

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (strcmp(buf, "NaN") == 0 || strcmp(buf, "+Inf") == 0 ||
	    strcmp(buf, "-Inf") == 0)
		return true;
	if (strspn(buf, "0123456789+-.e") != len)
		return false;
	strtod(buf, &e);		/* we never leave the C locale */
	return *e == '\0';
}

/*
 * One sample line [s, end): name{l="v",...} value.  Returns the length of
 * the series identity (everything before the space).
 */
static size_t
sample_check(const char *s, const char *end)
{
	const char *p = s;
	size_t n;

	n = name_len(p, end, true);
	CHECK(n > 0);
	p += n;
	if (p < end && *p == '{') {
		p++;
		for (;;) {
			n = name_len(p, end, false);
			CHECK(n > 0 && strncmp(p, "__", 2) != 0);
			p += n;
			CHECK(end - p >= 2 && p[0] == '=' && p[1] == '"');
			p += 2;
			while (p < end && *p != '"') {
				if (*p == '\\') {
					p++;
					CHECK(p < end &&
					    (*p == '\\' || *p == '"' || *p == 'n'));
				}
				p++;
			}
			CHECK(p < end);
			p++;
			CHECK(p < end);
			if (*p == '}')
				break;
			CHECK(*p == ',');
			p++;
		}
		p++;
	}
	CHECK(p < end && *p == ' ');
	CHECK(value_valid(p + 1, end));
	return (size_t)(p - s);
}

struct ident {
	const char *s;
	size_t len;
};

static int
ident_cmp(const void *pa, const void *pb)
{
	const struct ident *a = pa, *b = pb;
	size_t n = a->len < b->len ? a->len : b->len;
	int c;

	c = memcmp(a->s, b->s, n);
	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/*
 * The whole document.  Returns the number of samples; duplicate series,
 * repeated or unsorted families and malformed lines abort.
 */
static size_t
exposition_check(const char *text, size_t len)
{
	const char *p, *nl, *end = text + len;
	struct ident *ids = NULL, *nids;
	size_t nids_used = 0, cap = 0, n, i;
	char last_family[256] = "", name[256];
	bool expect_type = false;
	struct strbuf help;

	CHECK(strlen(text) == len);
	CHECK(utf8_valid((const unsigned char *)text, len));
	CHECK(len == 0 || text[len - 1] == '\n');

	for (p = text; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		CHECK(nl != NULL);
		if (strncmp(p, "# HELP ", 7) == 0) {
			CHECK(!expect_type);
			n = name_len(p + 7, nl, true);
			CHECK(n > 0 && n < sizeof(name) && p[7 + n] == ' ');
			memcpy(name, p + 7, n);
			name[n] = '\0';
			CHECK(strcmp(last_family, name) < 0);	/* sorted, once */
			memcpy(last_family, name, n + 1);
			strbuf_init(&help);
			CHECK(unescape(p + 8 + n, (size_t)(nl - (p + 8 + n)),
			    false, &help));
			strbuf_free(&help);
			expect_type = true;
		} else if (strncmp(p, "# TYPE ", 7) == 0) {
			CHECK(expect_type);
			n = name_len(p + 7, nl, true);
			CHECK(n == strlen(last_family) &&
			    strncmp(p + 7, last_family, n) == 0 && p[7 + n] == ' ');
			p += 8 + n;
			CHECK((nl - p == 5 && strncmp(p, "gauge", 5) == 0) ||
			    (nl - p == 7 && strncmp(p, "counter", 7) == 0) ||
			    (nl - p == 9 && strncmp(p, "histogram", 9) == 0));
			expect_type = false;
		} else {
			CHECK(!expect_type && last_family[0] != '\0');
			CHECK(strncmp(p, last_family, strlen(last_family)) == 0);
			if (nids_used == cap) {
				cap = cap ? cap * 2 : 64;
				nids = realloc(ids, cap * sizeof(*ids));
				CHECK(nids != NULL);
				ids = nids;
			}
			ids[nids_used].s = p;
			ids[nids_used].len = sample_check(p, nl);
			nids_used++;
		}
	}
	CHECK(!expect_type);
	if (nids_used > 1) {
		qsort(ids, nids_used, sizeof(*ids), ident_cmp);
		for (i = 1; i < nids_used; i++)
			CHECK(ident_cmp(&ids[i - 1], &ids[i]) != 0);
	}
	free(ids);
	return nids_used;
}

/* Direct checks of the pure functions on the raw input. */
static void
check_expo(const uint8_t *data, size_t size)
{
	struct strbuf a, b, c, full;
	size_t max, next;
	bool cut, cut2;
	char *raw;

	max = size > 0 ? (size_t)data[0] % 16 : 0;
	if (size > 1 && (data[1] & 1))
		max = EXPO_LABEL_VALUE_MAX;

	strbuf_init(&a);
	strbuf_init(&b);
	strbuf_init(&c);
	strbuf_init(&full);
	CHECK(expo_sanitize_label(&full, (const char *)data, size, SIZE_MAX,
	    &cut) == 0 && !cut);
	CHECK(utf8_valid((const unsigned char *)strbuf_str(&full), full.len));
	CHECK(full.len >= size && full.len <= 3 * size);
	CHECK(expo_sanitize_label(&a, (const char *)data, size, max, &cut) == 0);
	CHECK(a.len <= max && strlen(strbuf_str(&a)) == a.len);
	CHECK(utf8_valid((const unsigned char *)strbuf_str(&a), a.len));
	/* The cut keeps a prefix of the full repair, as long as it fits. */
	CHECK(memcmp(strbuf_str(&a), strbuf_str(&full), a.len) == 0);
	if (!cut)
		CHECK(a.len == full.len);
	else {
		CHECK(a.len < full.len);
		next = 1;
		while (a.len + next < full.len &&
		    (strbuf_str(&full)[a.len + next] & 0xc0) == 0x80)
			next++;
		CHECK(a.len + next > max);
	}
	/* Idempotent: repaired output is left alone. */
	CHECK(expo_sanitize_label(&b, strbuf_str(&a), a.len, max, &cut2) == 0);
	CHECK(!cut2 && b.len == a.len && memcmp(strbuf_str(&a),
	    strbuf_str(&b), a.len) == 0);

	/* Escaping round-trips and leaves no raw newline or quote. */
	strbuf_reset(&b);
	CHECK(expo_escape_label(&b, strbuf_str(&a), a.len) == 0);
	CHECK(unescape(strbuf_str(&b), b.len, true, &c));
	CHECK(c.len == a.len && memcmp(strbuf_str(&c), strbuf_str(&a),
	    a.len) == 0);

	raw = strndup((const char *)data, size);
	CHECK(raw != NULL);
	strbuf_reset(&b);
	strbuf_reset(&c);
	CHECK(expo_escape_help(&b, raw) == 0);
	CHECK(unescape(strbuf_str(&b), b.len, false, &c));
	CHECK(strcmp(strbuf_str(&c), raw) == 0);
	free(raw);

	strbuf_free(&a);
	strbuf_free(&b);
	strbuf_free(&c);
	strbuf_free(&full);
}

/* A double from the input bytes at offset off (wrapping), or i. */
static double
input_double(const uint8_t *data, size_t size, size_t off)
{
	unsigned char b[sizeof(double)];
	double v;
	size_t i;

	if (size == 0)
		return (double)off;
	for (i = 0; i < sizeof(b); i++)
		b[i] = data[(off + i) % size];
	memcpy(&v, b, sizeof(v));
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const lab3[] = { "target", "name", "type" };
	static const char *const lab1[] = { "name" };
	static const double buckets[] = { 0.005, 0.1, 1, 10 };
	struct metric_family *g, *c, *h, *u, *e;
	char *pieces[MAX_PIECES];
	size_t npieces = 0, i, start, expected;
	struct metrics *m;
	struct strbuf out;
	double v;

	check_expo(data, size);

	/* Split at NUL into label values. */
	for (start = 0, i = 0; i <= size && npieces < MAX_PIECES; i++) {
		if (i == size || data[i] == '\0') {
			pieces[npieces] = strndup((const char *)data + start,
			    i - start);
			CHECK(pieces[npieces] != NULL);
			npieces++;
			start = i + 1;
		}
	}

	m = metrics_new();
	CHECK(m != NULL);
	g = metrics_family(m, "kcm_connector_up", "Up.\nwith \\ help",
	    METRIC_GAUGE, lab3, 3, NULL, 0);
	c = metrics_family(m, "kcm_checks_total", "Checks.", METRIC_COUNTER,
	    lab1, 1, NULL, 0);
	h = metrics_family(m, "kcm_check_duration_seconds", "Duration.",
	    METRIC_HISTOGRAM, lab1, 1, buckets, 4);
	u = metrics_family(m, "kcm_build_info", "Build.", METRIC_GAUGE,
	    NULL, 0, NULL, 0);
	e = metrics_family(m, "kcm_aaa_empty", "Never set.", METRIC_GAUGE,
	    lab1, 1, NULL, 0);
	CHECK(g && c && h && u && e);

	for (i = 0; i < npieces; i++) {
		const char *v3[] = { pieces[i], pieces[(i + 1) % npieces],
		    pieces[(i + 2) % npieces] };
		const char *v1[] = { pieces[i] };

		v = input_double(data, size, i * 8);
		CHECK(metrics_set(g, v3, v) == 0);
		CHECK(metrics_add(g, v3, 1) == 0);
		CHECK(metrics_add(c, v1, fabs(v)) == 0 || isnan(v));
		CHECK(metrics_observe(h, v1, v) == 0);
		CHECK(metrics_observe(h, v1, (double)i / 10) == 0);
	}
	CHECK(metrics_set(u, NULL, input_double(data, size, 3)) == 0);
	if (size > 0 && (data[size - 1] & 1)) {
		const char *match[] = { pieces[0], NULL, NULL };

		CHECK(metrics_remove(g, match) >= 1);
	}

	strbuf_init(&out);
	CHECK(metrics_render(m, &out) == 0);
	expected = metrics_count(g) + metrics_count(c) +
	    metrics_count(h) * (4 + 1 + 2) + metrics_count(u);
	CHECK(metrics_count(e) == 0);
	CHECK(exposition_check(strbuf_str(&out), out.len) == expected);
	/* No HELP/TYPE for a family without series (label values cannot
	 * hold a raw newline, so "\n# HELP" is always a real line). */
	CHECK(strncmp(strbuf_str(&out), "# HELP kcm_aaa_empty ", 21) != 0);
	CHECK(strstr(strbuf_str(&out), "\n# HELP kcm_aaa_empty ") == NULL);

	strbuf_free(&out);
	metrics_free(m);
	for (i = 0; i < npieces; i++)
		free(pieces[i]);
	return 0;
}
