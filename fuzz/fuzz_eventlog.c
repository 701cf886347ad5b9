/*
 * fuzz_eventlog.c: feeds one input to the event-log answer parsers under
 * every status class (200, 400, 401, 404, 500) and rebuilds the next count
 * query from any after_key they return (it must be valid JSON).
 * Seeds: fuzz/corpus/eventlog/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eventlog_es.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 200, 400, 401, 404, 500 };
	struct eventlog_result r;
	struct eventlog_failure f;
	enum eventlog_reason reason;
	struct strbuf sb;
	char err[64];
	size_t i, j;
	json_t *q;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		memset(err, 'x', sizeof(err));
		if (eventlog_parse_count(statuses[i], (const char *)data, size,
		    &r, err, sizeof(err)) == 0) {
			if (memchr(err, '\0', sizeof(err)) == NULL)
				abort();
			if (r.reason >= EVENTLOG__MAX)
				abort();
			if (r.reason == EVENTLOG_OK && statuses[i] != 200)
				abort();
			if (r.reason != EVENTLOG_OK && r.n != 0)
				abort();
			for (j = 0; j < r.n; j++)
				if (r.v[j].connector_id == NULL ||
				    r.v[j].space == NULL || r.v[j].type_id == NULL)
					abort();
			if (r.after_key != NULL) {
				strbuf_init(&sb);
				if (eventlog_build_count_query(&sb, 0, 1,
				    r.after_key, 500) == 0) {
					q = json_loads(strbuf_str(&sb), 0, NULL);
					if (q == NULL)
						abort();
					json_decref(q);
				}
				strbuf_free(&sb);
			}
			eventlog_result_free(&r);
		}
		if (eventlog_parse_failure(statuses[i], (const char *)data,
		    size, &reason, &f) == 0) {
			if (f.outcome == NULL)
				abort();
			eventlog_failure_free(&f);
		}
	}
	return 0;
}
