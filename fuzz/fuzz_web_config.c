/*
 * fuzz_web_config.c: arbitrary bytes as an exporter-toolkit web
 * configuration file, through web_config_load_buffer() (the YAML loader,
 * the schema, the TLS rules, headers, bcrypt hash checks).  Checks:
 *
 *  - the load either succeeds with no error, or fails with no object and
 *    at least one error (-ENOMEM aside);
 *  - every error names the file, has a non-empty message of valid UTF-8
 *    and a line:column inside the input (0:0 only for the input as a
 *    whole), in the order of the file;
 *  - a loaded object answers its accessors (headers non-empty and free of
 *    control characters, every user's hash a valid bcrypt hash) and frees
 *    cleanly.
 *
 * Relative file names resolve against a directory that does not exist, so
 * inputs mostly exercise the parser; the file mode given allows inline keys.
 * Seeds: fuzz/corpus/web_config/.
 *
 *   libFuzzer:  fuzz_web_config NEW_DIR fuzz/corpus/web_config
 *   replay:     fuzz_web_config_replay fuzz/corpus/web_config
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "util.h"
#include "web_config.h"

#define FUZZ_NAME	"web.yml"
#define FUZZ_BASEDIR	"/nonexistent/kcm-fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
		if (!(cond))						\
			abort();					\
	} while (0)

static void
check_utf8(const char *s)
{
	size_t len = strlen(s), n, skip;

	while (len > 0) {
		n = utf8_sequence((const unsigned char *)s, len, &skip);
		CHECK(n > 0);
		s += n;
		len -= n;
	}
}

static void
check_errors(const struct config_errors *errs, unsigned nlines)
{
	const struct config_error *e;
	size_t i;

	for (i = 0; i < errs->n; i++) {
		e = &errs->v[i];
		CHECK(e->file != NULL && strcmp(e->file, FUZZ_NAME) == 0);
		CHECK(e->message != NULL && *e->message != '\0');
		check_utf8(e->message);
		CHECK(e->line <= nlines);
		CHECK((e->line == 0) == (e->column == 0));
		if (i > 0)
			CHECK(errs->v[i - 1].line < e->line ||
			    (errs->v[i - 1].line == e->line &&
			    errs->v[i - 1].column <= e->column));
	}
}

static void
check_object(struct web_config *wc)
{
	const struct web_config_header *h;
	size_t i, n;

	CHECK(strcmp(web_config_path(wc), FUZZ_NAME) == 0);
	n = web_config_headers(wc, &h);
	for (i = 0; i < n; i++) {
		CHECK(h[i].name != NULL && h[i].value != NULL);
		CHECK(*h[i].value != '\0');
		CHECK(!strpbrk(h[i].value, "\r\n"));
	}
	CHECK(web_config_bcrypt_valid(web_config_dummy_hash(wc), NULL));
	CHECK(web_config_user_hash(wc, "", 0) == NULL ||
	    web_config_bcrypt_valid(web_config_user_hash(wc, "", 0), NULL));
	/* a second reference outlives the first */
	web_config_ref(wc);
	web_config_unref(wc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { NULL, 0 };
	struct web_config *wc = NULL;
	unsigned nlines = 0;
	size_t i;
	int r;

	/* see fuzz_config.c: libyaml's line breaks, plus one */
	for (i = 0; i < size; i++)
		if (data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 ||
		    data[i] == 0xa8 || data[i] == 0xa9)
			nlines++;
	nlines += 2;
	r = web_config_load_buffer(FUZZ_NAME, data, size, FUZZ_BASEDIR,
	    S_IFREG | 0600, &wc, &errs);
	check_errors(&errs, nlines);
	if (r == 0) {
		CHECK(wc != NULL && errs.n == 0);
		check_object(wc);
		web_config_unref(wc);
	} else {
		CHECK(wc == NULL);
		CHECK(r == -ENOMEM || (r == -EINVAL && errs.n > 0));
	}
	config_errors_free(&errs);
	return 0;
}
