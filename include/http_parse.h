/*
 * http_parse.h: the scrape endpoint's HTTP/1.x request head parser and its
 * Accept-Encoding reader.  Pure: no I/O, no allocation, no clock, so the
 * unit tests and the fuzzer drive it directly.
 */
#ifndef KCM_HTTP_PARSE_H
#define KCM_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* The whole request head (request line + header lines + empty line). */
#define HTTP_MAX_HEADER_BYTES	(16 * 1024)
/* Header lines after the request line. */
#define HTTP_MAX_HEADER_LINES	100
/* The path part of the request target (before '?'). */
#define HTTP_MAX_PATH		2048
/*
 * The Authorization value kept: "Basic " and the base64 of the longest
 * credentials basic auth looks at (web_auth.h) fit; a longer value is
 * kept as "" (malformed: denied).
 */
#define HTTP_MAX_AUTHORIZATION	6144

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_OTHER,	/* any other well-formed method: 405 */
};

struct http_request {
	enum http_method method;
	char		 path[HTTP_MAX_PATH + 1];	/* NUL-terminated, as sent */
	int		 minor;		/* HTTP/1.<minor>: 0 or 1 */
	bool		 keep_alive;	/* version and Connection: say so */
	bool		 has_body;	/* Content-Length > 0 */
	bool		 gzip;		/* Accept-Encoding allows gzip */
	/* the first Authorization header's value (NUL-terminated) */
	bool		 has_authorization;
	char		 authorization[HTTP_MAX_AUTHORIZATION + 1];
	size_t		 header_len;	/* bytes of the head, empty line included */
};

/*
 * Parses the request head at buf[0..len).  Returns the head's length
 * (> 0, also in r->header_len) when it is complete, 0 when more bytes are
 * needed, or minus the HTTP status to answer:
 *   -400 malformed (bad request line, header syntax, control characters,
 *        obs-fold, bad or conflicting Content-Length),
 *   -414 request target or path too long,
 *   -431 head longer than HTTP_MAX_HEADER_BYTES or more than
 *        HTTP_MAX_HEADER_LINES header lines,
 *   -501 Transfer-Encoding (no request bodies but Content-Length ones),
 *   -505 an HTTP version other than 1.0 and 1.1.
 * Lines may end in CRLF or a bare LF.  r is filled as far as parsed.
 */
int	 http_request_parse(const char *buf, size_t len, struct http_request *r);

/*
 * Accept-Encoding, accumulated over every such header of a request:
 * the q-values (0..1000, -1 = not named) of gzip (or x-gzip), identity
 * and "*".
 */
struct http_accept_encoding {
	int	 gzip;
	int	 identity;
	int	 star;
};

void	 http_accept_encoding_init(struct http_accept_encoding *ae);
/* Adds one header value; returns -1 (and ignores the rest) on bad syntax. */
int	 http_accept_encoding_add(struct http_accept_encoding *ae,
	    const char *v, size_t len);
/*
 * True when gzip is acceptable (named with q > 0, or "*" with q > 0 and
 * gzip not named) and identity is not explicitly preferred (a higher q).
 */
bool	 http_accept_encoding_gzip(const struct http_accept_encoding *ae);

#endif /* KCM_HTTP_PARSE_H */
