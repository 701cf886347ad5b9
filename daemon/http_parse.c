/*
 * http_parse.c: the request head parser of the scrape endpoint (RFC 9112
 * section 2-5, the subset a metrics endpoint needs) and Accept-Encoding
 * (RFC 9110 section 12.5.3).
 */
#include <string.h>
#include <strings.h>

#include "http_parse.h"

/* RFC 9110 5.6.2 tchar. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Case-insensitive comparison of s[0..n) with a NUL-terminated word. */
static bool
word_eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/*
 * Finds the end of the line starting at buf[at]: returns the index of its
 * '\n' (the line's content ends before it, and before a '\r' in front of
 * it), or -1 when no '\n' is in buf[at..len).
 */
static long
line_end(const char *buf, size_t len, size_t at)
{
	const char *nl = memchr(buf + at, '\n', len - at);

	return nl == NULL ? -1 : (long)(nl - buf);
}

/* The content of a line: without its '\n' and the '\r' before it. */
static size_t
content_len(const char *buf, size_t at, size_t nl)
{
	size_t n = nl - at;

	if (n > 0 && buf[nl - 1] == '\r')
		n--;
	return n;
}

static int
parse_request_line(const char *s, size_t n, struct http_request *r)
{
	size_t i = 0, m, t0, tn, p;

	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	m = i;
	if (m == 0 || i >= n || s[i] != ' ')
		return -400;
	if (word_eq(s, m, "GET") && strncmp(s, "GET", 3) == 0)
		r->method = HTTP_GET;
	else if (word_eq(s, m, "HEAD") && strncmp(s, "HEAD", 4) == 0)
		r->method = HTTP_HEAD;
	else
		r->method = HTTP_OTHER;	/* methods are case-sensitive */
	t0 = ++i;
	while (i < n && s[i] != ' ') {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f)
			return -400;
		i++;
	}
	tn = i - t0;
	if (tn == 0 || i >= n)
		return -400;
	if (tn > HTTP_MAX_HEADER_BYTES / 2)
		return -414;
	/* origin-form, or absolute-form (a proxy's): keep the path only */
	p = t0;
	if (s[p] != '/') {
		const char *sep = NULL;
		size_t k;

		for (k = t0; k + 2 < t0 + tn; k++)
			if (s[k] == ':' && s[k + 1] == '/' && s[k + 2] == '/') {
				sep = s + k + 3;
				break;
			}
		if (sep == NULL)
			return -400;	/* "*" and authority-form: not here */
		p = (size_t)(sep - s);
		while (p < t0 + tn && s[p] != '/' && s[p] != '?')
			p++;
	}
	{
		size_t q = p, plen;

		while (q < t0 + tn && s[q] != '?' && s[q] != '#')
			q++;
		plen = q - p;
		if (plen > HTTP_MAX_PATH)
			return -414;
		if (plen == 0) {
			r->path[0] = '/';
			r->path[1] = '\0';
		} else {
			memcpy(r->path, s + p, plen);
			r->path[plen] = '\0';
		}
	}
	i++;	/* the second SP */
	if (n - i != 8 || strncmp(s + i, "HTTP/", 5) != 0 ||
	    s[i + 5] < '0' || s[i + 5] > '9' || s[i + 6] != '.' ||
	    s[i + 7] < '0' || s[i + 7] > '9')
		return -400;
	if (s[i + 5] != '1' || (s[i + 7] != '0' && s[i + 7] != '1'))
		return -505;
	r->minor = s[i + 7] - '0';
	r->keep_alive = r->minor == 1;
	return 0;
}

/* Connection: a comma-separated token list. */
static void
parse_connection(const char *v, size_t n, bool *close_seen, bool *ka_seen)
{
	size_t i = 0, a, b;

	while (i < n) {
		while (i < n && (is_ows((unsigned char)v[i]) || v[i] == ','))
			i++;
		a = i;
		while (i < n && v[i] != ',')
			i++;
		b = i;
		while (b > a && is_ows((unsigned char)v[b - 1]))
			b--;
		if (word_eq(v + a, b - a, "close"))
			*close_seen = true;
		else if (word_eq(v + a, b - a, "keep-alive"))
			*ka_seen = true;
	}
}

/* Content-Length: 1*DIGIT; a list of equal values is one value. */
static int
parse_content_length(const char *v, size_t n, long long *cl)
{
	size_t i = 0;

	if (n == 0)
		return -400;
	while (i < n) {
		long long x = 0;
		size_t d = 0;

		while (i < n && is_ows((unsigned char)v[i]))
			i++;
		while (i < n && v[i] >= '0' && v[i] <= '9') {
			if (x > (1LL << 50))
				return -400;
			x = x * 10 + (v[i] - '0');
			i++;
			d++;
		}
		while (i < n && is_ows((unsigned char)v[i]))
			i++;
		if (d == 0 || (i < n && v[i] != ','))
			return -400;
		if (i < n)
			i++;
		if (*cl >= 0 && *cl != x)
			return -400;
		*cl = x;
	}
	return 0;
}

int
http_request_parse(const char *buf, size_t len, struct http_request *r)
{
	struct http_accept_encoding ae;
	bool close_seen = false, ka_seen = false;
	long long cl = -1;
	size_t at = 0, nlines = 0, n, limit;
	long nl;
	int rc;

	memset(r, 0, sizeof(*r));
	r->path[0] = '\0';
	http_accept_encoding_init(&ae);
	limit = len < HTTP_MAX_HEADER_BYTES ? len : HTTP_MAX_HEADER_BYTES;

	/* RFC 9112 2.2: empty lines before the request line are ignored. */
	while (at < limit && (buf[at] == '\n' ||
	    (buf[at] == '\r' && at + 1 < limit && buf[at + 1] == '\n')))
		at += buf[at] == '\n' ? 1 : 2;
	if ((nl = line_end(buf, limit, at)) < 0)
		goto incomplete;
	n = content_len(buf, at, (size_t)nl);
	if ((rc = parse_request_line(buf + at, n, r)) < 0)
		return rc;
	at = (size_t)nl + 1;

	for (;;) {
		const char *h, *v;
		size_t name_len, vn, i;

		if ((nl = line_end(buf, limit, at)) < 0)
			goto incomplete;
		n = content_len(buf, at, (size_t)nl);
		h = buf + at;
		at = (size_t)nl + 1;
		if (n == 0)
			break;		/* the empty line: the head is complete */
		if (++nlines > HTTP_MAX_HEADER_LINES)
			return -431;
		if (is_ows((unsigned char)h[0]))
			return -400;	/* obs-fold (RFC 9112 5.2) */
		for (i = 0; i < n && is_tchar((unsigned char)h[i]); i++)
			;
		name_len = i;
		if (name_len == 0 || i >= n || h[i] != ':')
			return -400;
		i++;
		while (i < n && is_ows((unsigned char)h[i]))
			i++;
		v = h + i;
		vn = n - i;
		while (vn > 0 && is_ows((unsigned char)v[vn - 1]))
			vn--;
		for (i = 0; i < vn; i++) {
			unsigned char c = (unsigned char)v[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -400;
		}
		if (word_eq(h, name_len, "connection"))
			parse_connection(v, vn, &close_seen, &ka_seen);
		else if (word_eq(h, name_len, "content-length")) {
			if ((rc = parse_content_length(v, vn, &cl)) < 0)
				return rc;
		} else if (word_eq(h, name_len, "transfer-encoding"))
			return -501;
		else if (word_eq(h, name_len, "accept-encoding"))
			http_accept_encoding_add(&ae, v, vn);
		else if (word_eq(h, name_len, "authorization") &&
		    !r->has_authorization) {
			/* Too long: kept empty, malformed credentials. */
			size_t keep = vn <= HTTP_MAX_AUTHORIZATION ? vn : 0;

			memcpy(r->authorization, v, keep);
			r->authorization[keep] = '\0';
			r->has_authorization = true;
		}
	}
	if (close_seen)
		r->keep_alive = false;
	else if (r->minor == 0 && ka_seen)
		r->keep_alive = true;
	r->has_body = cl > 0;
	r->gzip = http_accept_encoding_gzip(&ae);
	r->header_len = at;
	return (int)at;

incomplete:
	return len >= HTTP_MAX_HEADER_BYTES ? -431 : 0;
}

void
http_accept_encoding_init(struct http_accept_encoding *ae)
{
	ae->gzip = ae->identity = ae->star = -1;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in 1/1000. */
static int
parse_qvalue(const char *s, size_t n)
{
	int q, scale = 100;
	size_t i;

	if (n == 0 || (s[0] != '0' && s[0] != '1'))
		return -1;
	q = (s[0] - '0') * 1000;
	if (n == 1)
		return q;
	if (s[1] != '.' || n > 5)
		return -1;
	for (i = 2; i < n; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

int
http_accept_encoding_add(struct http_accept_encoding *ae, const char *v,
    size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t a, b;
		int q = 1000;

		while (i < len && (is_ows((unsigned char)v[i]) || v[i] == ','))
			i++;
		if (i >= len)
			break;
		a = i;
		while (i < len && is_tchar((unsigned char)v[i]))
			i++;
		b = i;
		if (b == a)
			return -1;
		/* parameters: ;name=value, only q matters */
		for (;;) {
			size_t pa, pn, va;

			while (i < len && is_ows((unsigned char)v[i]))
				i++;
			if (i >= len || v[i] == ',')
				break;
			if (v[i] != ';')
				return -1;
			i++;
			while (i < len && is_ows((unsigned char)v[i]))
				i++;
			pa = i;
			while (i < len && is_tchar((unsigned char)v[i]))
				i++;
			pn = i - pa;
			if (pn == 0 || i >= len || v[i] != '=')
				return -1;
			i++;
			va = i;
			while (i < len && is_tchar((unsigned char)v[i]))
				i++;
			if (i == va)
				return -1;
			if (word_eq(v + pa, pn, "q") &&
			    (q = parse_qvalue(v + va, i - va)) < 0)
				return -1;
		}
		if (word_eq(v + a, b - a, "gzip") || word_eq(v + a, b - a, "x-gzip"))
			ae->gzip = q > ae->gzip ? q : ae->gzip;
		else if (word_eq(v + a, b - a, "identity"))
			ae->identity = q > ae->identity ? q : ae->identity;
		else if (b - a == 1 && v[a] == '*')
			ae->star = q > ae->star ? q : ae->star;
	}
	return 0;
}

bool
http_accept_encoding_gzip(const struct http_accept_encoding *ae)
{
	int q = ae->gzip >= 0 ? ae->gzip : ae->star;

	if (q <= 0)
		return false;
	return ae->identity < 0 || ae->identity <= q;
}
