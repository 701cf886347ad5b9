/*
 * expo.c: the Prometheus text exposition format 0.0.4, as pure functions:
 * label value repair (UTF-8), escaping, locale-independent numbers and name
 * validation.  No I/O and no state.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"

static const char utf8_replacement[] = "\xef\xbf\xbd";	/* U+FFFD */
#define UTF8_REPLACEMENT_LEN 3

/* Like utf8_sequence(), but NUL is invalid too: it has no place in a label. */
static size_t
label_sequence(const unsigned char *s, size_t len, size_t *bad)
{
	if (s[0] == 0x00) {
		*bad = 1;
		return 0;
	}
	return utf8_sequence(s, len, bad);
}

int
expo_sanitize_label(struct strbuf *out, const char *s, size_t len,
    size_t max, bool *truncated)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, emitted = 0, n, bad;
	bool cut = false;

	if (out == NULL || (s == NULL && len > 0))
		return -EINVAL;

	/*
	 * Valid bytes accumulate in the run [run, i) and are appended in one
	 * go; each invalid subpart flushes the run and appends U+FFFD.  The
	 * length limit applies to the repaired output, one whole code point
	 * at a time.
	 */
	while (i < len) {
		bad = 0;
		n = label_sequence(p + i, len - i, &bad);
		if (n > 0) {
			if (emitted + n > max) {
				cut = true;
				break;
			}
			emitted += n;
			i += n;
			continue;
		}
		if (emitted + UTF8_REPLACEMENT_LEN > max) {
			cut = true;
			break;
		}
		if (strbuf_append(out, s + run, i - run) < 0 ||
		    strbuf_append(out, utf8_replacement, UTF8_REPLACEMENT_LEN) < 0)
			return -ENOMEM;
		emitted += UTF8_REPLACEMENT_LEN;
		i += bad;
		run = i;
	}
	if (strbuf_append(out, s + run, i - run) < 0)
		return -ENOMEM;
	if (truncated != NULL)
		*truncated = cut;
	return 0;
}

/*
 * Appends s[0..len) with backslash, newline and (when quote) double quote
 * escaped.  Unescaped runs go out in one append.
 */
static int
escape(struct strbuf *out, const char *s, size_t len, bool quote)
{
	size_t i, run = 0;
	char esc[2] = { '\\', 0 };

	if (out == NULL || (s == NULL && len > 0))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		switch (s[i]) {
		case '\\':
			esc[1] = '\\';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '"':
			if (!quote)
				continue;
			esc[1] = '"';
			break;
		default:
			continue;
		}
		if (strbuf_append(out, s + run, i - run) < 0 ||
		    strbuf_append(out, esc, sizeof(esc)) < 0)
			return -ENOMEM;
		run = i + 1;
	}
	return strbuf_append(out, s + run, len - run);
}

int
expo_escape_label(struct strbuf *out, const char *s, size_t len)
{
	return escape(out, s, len, true);
}

int
expo_escape_help(struct strbuf *out, const char *s)
{
	if (s == NULL)
		return -EINVAL;
	return escape(out, s, strlen(s), false);
}

/*
 * snprintf("%g") and strtod() both follow LC_NUMERIC, so a round trip
 * through them is exact in any locale; only the result needs fixing.  %g
 * never groups thousands nor uses locale digits, so any byte that is not a
 * digit, a sign or the exponent marker belongs to the decimal separator
 * (which may be several bytes, e.g. U+066B) and becomes a single '.'.
 */
static size_t
format_double(char *buf, size_t bufsz, double v)
{
	char tmp[64];
	size_t i, o = 0;
	int prec;
	bool sep = false;

	for (prec = 15; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	if (prec == 17)
		snprintf(tmp, sizeof(tmp), "%.17g", v);

	for (i = 0; tmp[i] != '\0' && o + 1 < bufsz; i++) {
		char c = tmp[i];

		if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e') {
			buf[o++] = c;
			sep = false;
		} else if (!sep) {
			buf[o++] = '.';
			sep = true;
		}
	}
	buf[o] = '\0';
	return o;
}

int
expo_value(struct strbuf *out, double v)
{
	char buf[64];
	int n;

	if (out == NULL)
		return -EINVAL;
	if (isnan(v))
		return strbuf_puts(out, "NaN");
	if (isinf(v))
		return strbuf_puts(out, v > 0 ? "+Inf" : "-Inf");
	if (v == 0)
		return strbuf_putc(out, '0');	/* also -0 */
	if (v == trunc(v) && fabs(v) <= 9007199254740992.0) {	/* 2^53 */
		n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
		if (n < 0 || (size_t)n >= sizeof(buf))
			return -EINVAL;
		return strbuf_append(out, buf, (size_t)n);
	}
	return strbuf_append(out, buf, format_double(buf, sizeof(buf), v));
}

static bool
name_char(char c, bool first, bool colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (colon && c == ':')
		return true;
	return !first && c >= '0' && c <= '9';
}

static bool
valid_name(const char *name, bool colon)
{
	size_t i;

	if (name == NULL || name[0] == '\0')
		return false;
	for (i = 0; name[i] != '\0'; i++)
		if (!name_char(name[i], i == 0, colon))
			return false;
	return true;
}

bool
expo_valid_metric_name(const char *name)
{
	return valid_name(name, true);
}

bool
expo_valid_label_name(const char *name)
{
	return valid_name(name, false) && strncmp(name, "__", 2) != 0;
}
