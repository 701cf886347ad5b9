/*
 * fuzz_status.c: arbitrary bytes as the strings of a status model (names,
 * ids, spaces, error texts, rule names, as Kibana could send them) through
 * status_str, the escapers and the three renderers.
 *
 * The input is split at NUL bytes into pieces.  Checked for every input:
 * status_str gives valid UTF-8 no longer than its bound (plus the
 * ellipsis); the HTML escaper's output holds no < > " ' and no control but
 * tab, newline and carriage return; the text escaper's holds no control
 * at all (C0, DEL, C1); the HTML page holds no '<' that the renderer did
 * not write itself (the pieces contain '<' only escaped); the JSON parses
 * back to the same strings.  Any violation abort()s.
 *
 *   libFuzzer:  fuzz_status -max_total_time=60 fuzz/corpus/status
 *   replay:     fuzz_status_replay fuzz/corpus/status
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "status.h"
#include "util.h"

#define MAX_PIECES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_status: %s:%d: check failed: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

static void
check_html_escaped(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		CHECK(*p != '<' && *p != '>' && *p != '"' && *p != '\'');
		CHECK(*p >= 0x20 || *p == '\t' || *p == '\n' || *p == '\r');
		CHECK(*p != 0x7f);
		CHECK(!(*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f));
	}
}

static void
check_text_escaped(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		CHECK(*p >= 0x20 && *p != 0x7f);
		CHECK(!(*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f));
	}
}

/*
 * The page's tags are the renderer's: every '<' starts one of the few tags
 * it writes (a piece's '<' is always &lt;).
 */
static void
check_page_tags(const char *page)
{
	static const char *const tags[] = {
		"<!DOCTYPE html>", "<html ", "</html>", "<head>", "</head>",
		"<meta ", "<title>", "</title>", "<style>", "</style>",
		"<body>", "</body>", "<h1>", "</h1>", "<h2>", "</h2>", "<h3>",
		"</h3>", "<p ", "<p>", "</p>", "<a ", "</a>", "<section>",
		"</section>", "<table", "</table>", "<tr", "</tr>", "<th>",
		"</th>", "<td", "</td>", "<span ", "</span>", "<br>",
	};
	const char *p;
	size_t i;

	for (p = strchr(page, '<'); p != NULL; p = strchr(p + 1, '<')) {
		for (i = 0; i < ELEMENTSOF(tags); i++)
			if (strncmp(p, tags[i], strlen(tags[i])) == 0)
				break;
		CHECK(i < ELEMENTSOF(tags));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *piece[MAX_PIECES];
	size_t i, n = 0, start = 0;
	struct status *st;
	struct strbuf sb;
	json_t *j, *c, *lf, *back;
	json_error_t err;

	if ((buf = malloc(size + 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (i = 0; i <= size && n < MAX_PIECES; i++)
		if (i == size || buf[i] == '\0') {
			piece[n++] = buf + start;
			start = i + 1;
		}
	while (n < MAX_PIECES)
		piece[n++] = buf + size;	/* "" */

	/* status_str: valid UTF-8, bounded */
	for (i = 0; i < MAX_PIECES; i++) {
		j = status_str(piece[i], 16);
		CHECK(j != NULL && json_is_string(j));
		CHECK(json_string_length(j) <= 16 + 3);
		CHECK(strlen(json_string_value(j)) == json_string_length(j));
		json_decref(j);
	}
	/* the escapers */
	for (i = 0; i < MAX_PIECES; i++) {
		j = status_str(piece[i], 0);
		strbuf_init(&sb);
		CHECK(status_html_escape(&sb, json_string_value(j)) == 0);
		check_html_escaped(strbuf_str(&sb));
		strbuf_reset(&sb);
		CHECK(status_text_escape(&sb, json_string_value(j)) == 0);
		check_text_escaped(strbuf_str(&sb));
		strbuf_free(&sb);
		json_decref(j);
	}

	/* a model made of the pieces */
	st = status_new();
	CHECK(st != NULL);
	c = status_connector(st, "kib", piece[0], piece[1]);
	CHECK(c != NULL);
	json_object_set_new(c, "name", status_str(piece[2], 0));
	json_object_set_new(c, "type", status_str(piece[3], 0));
	json_object_set_new(c, "failures_1h", json_integer((json_int_t)size));
	lf = json_object();
	json_object_set_new(lf, "time", status_time((double)size * 1e6));
	json_object_set_new(lf, "error", status_str(piece[4], STATUS_TEXT_MAX));
	json_object_set_new(c, "last_failure", lf);
	status_connector_rule(c, piece[0], piece[5], piece[6]);
	c = status_connector(st, "kib", piece[6], piece[7]);
	json_object_set_new(c, "name", status_str(piece[5], 0));
	j = json_object();
	json_object_set_new(j, "rule_name", status_str(piece[7], 0));
	json_object_set_new(j, "connector_id", status_str(piece[1], 0));
	status_list_add(status_target(st, "kib"), "rules_missing_connectors", j);
	CHECK(status_finish(st) == 0);

	strbuf_init(&sb);
	CHECK(status_render_html(st, &sb) == 0);
	check_page_tags(strbuf_str(&sb));
	strbuf_reset(&sb);
	CHECK(status_render_text(st, &sb) == 0);
	for (i = 0; i < sb.len; i++)
		CHECK((unsigned char)sb.buf[i] >= 0x20 || sb.buf[i] == '\n');
	strbuf_reset(&sb);
	CHECK(status_render_json(st, &sb) == 0);
	back = json_loads(strbuf_str(&sb), 0, &err);
	CHECK(back != NULL);
	CHECK(json_equal(back, (json_t *)status_json(st)));
	json_decref(back);
	strbuf_free(&sb);
	status_free(st);
	free(buf);
	return 0;
}
