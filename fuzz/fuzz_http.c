/*
 * fuzz_http.c: feeds one input to the scrape endpoint's request parser
 * (http_request_parse) and to the Accept-Encoding reader.  Checks the
 * contract on the way: the result is 0, a head length within the input
 * and HTTP_MAX_HEADER_BYTES, or one of the documented statuses; a parsed
 * path is NUL-terminated within HTTP_MAX_PATH and starts with '/'; every
 * prefix of a complete head is "need more" or the same error.
 * Seeds: fuzz/corpus/http/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int r, size_t size, const struct http_request *req)
{
	if (r > 0) {
		if ((size_t)r > size || (size_t)r > HTTP_MAX_HEADER_BYTES ||
		    req->header_len != (size_t)r)
			abort();
		if (memchr(req->path, '\0', sizeof(req->path)) == NULL ||
		    req->path[0] != '/')
			abort();
		if (req->minor != 0 && req->minor != 1)
			abort();
		if (req->method != HTTP_GET && req->method != HTTP_HEAD &&
		    req->method != HTTP_OTHER)
			abort();
	} else if (r < 0 && r != -400 && r != -414 && r != -431 &&
	    r != -501 && r != -505)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_accept_encoding ae;
	struct http_request req, pre;
	char *copy;
	int r, rp;

	/* an exact-size copy: reads past the end are caught by ASan */
	copy = malloc(size > 0 ? size : 1);
	if (copy == NULL)
		return 0;
	if (size > 0)
		memcpy(copy, data, size);
	r = http_request_parse(copy, size, &req);
	check(r, size, &req);
	if (r > 0 && r > 1) {
		/* a prefix without the last byte cannot be a complete head */
		rp = http_request_parse(copy, (size_t)r - 1, &pre);
		check(rp, (size_t)r - 1, &pre);
		if (rp > 0)
			abort();
	}
	http_accept_encoding_init(&ae);
	(void)http_accept_encoding_add(&ae, copy, size);
	if (ae.gzip > 1000 || ae.identity > 1000 || ae.star > 1000)
		abort();
	(void)http_accept_encoding_gzip(&ae);
	free(copy);
	return 0;
}
