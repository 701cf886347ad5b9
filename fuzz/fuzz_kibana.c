/*
 * fuzz_kibana.c: feeds one input to kibana_json_load() and to every Kibana
 * body parser, and frees whatever they return.  Checks the contract on the
 * way: err is always NUL-terminated within errsz, and every string handed
 * out is valid UTF-8 without a shortened tail (no NUL inside).
 * Seeds: tests/unit/data/kibana/ (shared with the unit tests) and
 * fuzz/corpus/kibana/ (inputs only the fuzzer uses).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kibana.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_utf8(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	uint32_t cp;
	size_t n, k;

	if (s == NULL)
		abort();
	while (*s != '\0') {
		if (*s < 0x80) {
			s++;
			continue;
		} else if ((*s & 0xe0) == 0xc0) {
			n = 1;
			cp = *s & 0x1f;
		} else if ((*s & 0xf0) == 0xe0) {
			n = 2;
			cp = *s & 0x0f;
		} else if ((*s & 0xf8) == 0xf0) {
			n = 3;
			cp = *s & 0x07;
		} else
			abort();
		for (k = 1; k <= n; k++) {
			if ((s[k] & 0xc0) != 0x80)
				abort();
			cp = cp << 6 | (s[k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			abort();
		s += n + 1;
	}
}

static void
check_err(const char *err, size_t errsz)
{
	if (memchr(err, '\0', errsz) == NULL)
		abort();
}

/* Every string value in a loaded document is NUL-free valid UTF-8. */
static void
walk(json_t *v)
{
	const char *key;
	json_t *e;
	size_t i;

	if (json_is_string(v)) {
		if (strlen(json_string_value(v)) != json_string_length(v))
			abort();
		check_utf8(json_string_value(v));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			walk(e);
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, e) {
			check_utf8(key);
			walk(e);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct kibana_connector_list cl;
	struct kibana_connector_type_list tl;
	struct kibana_space_list sl;
	struct kibana_rules_page rp;
	char err[96];
	json_t *root;
	size_t i, j;

	root = kibana_json_load(body, size, err, sizeof(err));
	if (root != NULL) {
		walk(root);
		json_decref(root);
	} else
		check_err(err, sizeof(err));

	if (kibana_parse_connectors(body, size, &cl, err, sizeof(err)) == 0) {
		for (i = 0; i < cl.n; i++) {
			check_utf8(cl.v[i].id);
			check_utf8(cl.v[i].name);
			check_utf8(cl.v[i].type_id);
			if (cl.v[i].referenced_by_count < 0)
				abort();
		}
		kibana_connector_list_free(&cl);
	} else
		check_err(err, sizeof(err));

	if (kibana_parse_connector_types(body, size, &tl, err,
	    sizeof(err)) == 0) {
		for (i = 0; i < tl.n; i++) {
			check_utf8(tl.v[i].id);
			check_utf8(tl.v[i].minimum_license_required);
		}
		kibana_connector_type_list_free(&tl);
	} else
		check_err(err, sizeof(err));

	if (kibana_parse_spaces(body, size, &sl, err, sizeof(err)) == 0) {
		for (i = 0; i < sl.n; i++)
			check_utf8(sl.ids[i]);
		kibana_space_list_free(&sl);
	} else
		check_err(err, sizeof(err));

	if (kibana_parse_rules_page(body, size, &rp, err, sizeof(err)) == 0) {
		for (i = 0; i < rp.n; i++) {
			check_utf8(rp.v[i].id);
			check_utf8(rp.v[i].name);
			for (j = 0; j < rp.v[i].nactions; j++)
				check_utf8(rp.v[i].action_ids[j]);
		}
		if (kibana_rules_pages(rp.total, rp.per_page) < 1)
			abort();
		kibana_rules_page_free(&rp);
	} else
		check_err(err, sizeof(err));

	/* A tiny err buffer must stay terminated too. */
	if (kibana_parse_connectors(body, size, &cl, err, 4) == 0)
		kibana_connector_list_free(&cl);
	else
		check_err(err, 4);
	return 0;
}
