/*
 * fuzz_config.c: arbitrary bytes as a configuration file, through
 * config_load_buffer() (the YAML loader, the schema, YAML->JSON of probe
 * params).  Checks the contract on the way:
 *
 *  - the load either succeeds with no error, or fails with no
 *    configuration and at least one error (-ENOMEM aside);
 *  - every error names the file, has a non-empty message of valid UTF-8
 *    (messages go to stderr and the journal) and a line:column inside the
 *    input (or just past its end), 0:0 only for the input as a whole;
 *  - a loaded configuration is complete (a listener, a target with a name
 *    and a Kibana URL, probes that point at a target with a JSON body) and
 *    frees cleanly.
 *
 * Relative *_file names resolve against a directory that does not exist.
 * Seeds: tests/unit/data/config/, which the unit tests use too.
 *
 *   libFuzzer:  fuzz_config -dict=fuzz/config.dict NEW_DIR tests/unit/data/config
 *   replay:     fuzz_config_replay tests/unit/data/config
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "util.h"

#define FUZZ_NAME	"fuzz.yml"
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
		/* in the order of the file */
		if (i > 0)
			CHECK(errs->v[i - 1].line < e->line ||
			    (errs->v[i - 1].line == e->line &&
			    errs->v[i - 1].column <= e->column));
	}
}

static void
check_endpoint(const struct endpoint_config *ep)
{
	if (ep->auth_header != NULL)
		CHECK(strncmp(ep->auth_header, "Authorization: ", 15) == 0);
	CHECK(ep->timeout_usec > 0 && ep->max_response_bytes > 0);
}

static void
check_config(const struct kcm_config *cfg)
{
	const struct probe_config *pc;
	json_t *body;
	size_t i;

	CHECK(cfg->path != NULL && strcmp(cfg->path, FUZZ_NAME) == 0);
	CHECK(!cfg->builtin);
	CHECK(cfg->nlisten >= 1 && cfg->listen != NULL);
	for (i = 0; i < cfg->nlisten; i++)
		CHECK(cfg->listen[i].host != NULL);
	CHECK(cfg->ntargets >= 1 && cfg->targets != NULL);
	for (i = 0; i < cfg->ntargets; i++) {
		CHECK(cfg->targets[i].name != NULL);
		CHECK(cfg->targets[i].kibana.url != NULL);
		CHECK(cfg->targets[i].spaces_all ||
		    cfg->targets[i].nspaces > 0);
		check_endpoint(&cfg->targets[i].kibana);
		check_endpoint(&cfg->targets[i].elasticsearch);
	}
	for (i = 0; i < cfg->nprobes; i++) {
		pc = &cfg->probes[i];
		CHECK(pc->target_index < cfg->ntargets);
		CHECK(strcmp(pc->target,
		    cfg->targets[pc->target_index].name) == 0);
		CHECK(pc->space != NULL && pc->connector_id != NULL);
		CHECK(pc->interval_usec >= CONFIG_PROBE_INTERVAL_MIN);
		CHECK(pc->body != NULL);
		body = json_loads(pc->body, JSON_REJECT_DUPLICATES, NULL);
		CHECK(json_is_object(json_object_get(body, "params")));
		json_decref(body);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { NULL, 0 };
	struct kcm_config *cfg = NULL;
	unsigned nlines = 0;
	size_t i;
	int r;

	/*
	 * An upper bound of libyaml's last 1-based line: it breaks lines at
	 * CR, LF, NEL (C2 85), LS and PS (E2 80 A8/A9), and adds a line break
	 * of its own at the end of the stream when the input has none.
	 */
	for (i = 0; i < size; i++)
		if (data[i] == '\n' || data[i] == '\r' || data[i] == 0x85 ||
		    data[i] == 0xa8 || data[i] == 0xa9)
			nlines++;
	nlines += 2;
	r = config_load_buffer(FUZZ_NAME, data, size, FUZZ_BASEDIR, &cfg,
	    &errs);
	check_errors(&errs, nlines);
	if (r == 0) {
		CHECK(cfg != NULL && errs.n == 0);
		check_config(cfg);
		config_free(cfg);
	} else {
		CHECK(cfg == NULL);
		CHECK(r == -ENOMEM || (r == -EINVAL && errs.n > 0));
	}
	config_errors_free(&errs);
	return 0;
}
