/*
 * test_config_probes.c: the `probes:` list of the configuration: defaults,
 * target resolution, errors at file:line:column, and the conversion of the
 * YAML `params` mapping into the JSON request body.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"
#include "util.h"

#define TWO_TARGETS \
	"targets:\n" \
	"  - name: a\n" \
	"    kibana: {url: 'http://127.0.0.1:9'}\n" \
	"  - name: b\n" \
	"    kibana: {url: 'http://127.0.0.1:9'}\n"
#include "config_fixture.h"


static void
test_defaults_single_target(void **state)
{
	struct t *t = *state;
	const struct probe_config *p;

	load_ok(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: ops-webhook\n"
	    "    params:\n"
	    "      body: '{\"text\": \"synthetic check\"}'\n");
	assert_int_equal(t->c->nprobes, 1);
	p = &t->c->probes[0];
	assert_string_equal(p->target, "only");
	assert_int_equal(p->target_index, 0);
	assert_string_equal(p->space, "default");
	assert_string_equal(p->connector_id, "ops-webhook");
	assert_true(p->interval_usec == 15 * 60 * USEC_PER_SEC);
	assert_true(p->timeout_usec == 30 * USEC_PER_SEC);
	assert_string_equal(p->body,
	    "{\"params\":{\"body\":\"{\\\"text\\\": \\\"synthetic check\\\"}\"}}");
	assert_int_equal(p->pos.line, 5);
	assert_int_equal(p->pos.column, 5);
}

static void
test_all_keys_two_targets(void **state)
{
	struct t *t = *state;
	const struct probe_config *p;

	/* probes may come before targets in the file */
	load_ok(t, "probes:\n"
	    "  - target: b\n"
	    "    space: ops\n"
	    "    connector_id: x\n"
	    "    interval: 1m\n"
	    "    timeout: 5s\n"
	    "    params: {message: hi}\n"
	    "  - target: a\n"
	    "    space: ops\n"
	    "    connector_id: x\n"
	    "    params: {}\n"
	    "  - target: b\n"
	    "    connector_id: x\n"
	    "    params: {}\n"
	    TWO_TARGETS);
	assert_int_equal(t->c->nprobes, 3);
	p = &t->c->probes[0];
	assert_string_equal(p->target, "b");
	assert_int_equal(p->target_index, 1);
	assert_string_equal(p->space, "ops");
	assert_true(p->interval_usec == 60 * USEC_PER_SEC);
	assert_true(p->timeout_usec == 5 * USEC_PER_SEC);
	assert_string_equal(p->body, "{\"params\":{\"message\":\"hi\"}}");
	assert_int_equal(t->c->probes[1].target_index, 0);
	assert_string_equal(t->c->probes[2].space, "default");
	assert_string_equal(t->c->probes[2].body, "{\"params\":{}}");
}

static void
test_no_probes(void **state)
{
	struct t *t = *state;

	load_ok(t, ONE_TARGET);
	assert_int_equal(t->c->nprobes, 0);
	load_ok(t, ONE_TARGET "probes: []\n");
	assert_int_equal(t->c->nprobes, 0);
	load_ok(t, ONE_TARGET "probes:\n");
	assert_int_equal(t->c->nprobes, 0);
}

static void
test_params_yaml_to_json(void **state)
{
	struct t *t = *state;

	load_ok(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: c\n"
	    "    params:\n"
	    "      s: plain text\n"
	    "      q: 'true'\n"
	    "      dq: \"42\"\n"
	    "      i: 42\n"
	    "      neg: -7\n"
	    "      hex: 0x1F\n"
	    "      oct: 0o17\n"
	    "      f: 1.5\n"
	    "      e: 1e3\n"
	    "      t: true\n"
	    "      F: False\n"
	    "      n: null\n"
	    "      tilde: ~\n"
	    "      empty:\n"
	    "      yes_is_string: yes\n"
	    "      ver: 1.2.3\n"
	    "      list: [1, two, {k: v}]\n"
	    "      nested:\n"
	    "        a:\n"
	    "          - x\n"
	    "          - []\n"
	    "      utf8: \"caf\\u00e9 \\u2603\"\n"
	    "      multi: |\n"
	    "        line1\n"
	    "        line2\n");
	assert_string_equal(t->c->probes[0].body,
	    "{\"params\":{\"s\":\"plain text\",\"q\":\"true\",\"dq\":\"42\","
	    "\"i\":42,\"neg\":-7,\"hex\":31,\"oct\":15,\"f\":1.5,\"e\":1000.0,"
	    "\"t\":true,\"F\":false,\"n\":null,\"tilde\":null,\"empty\":null,"
	    "\"yes_is_string\":\"yes\",\"ver\":\"1.2.3\","
	    "\"list\":[1,\"two\",{\"k\":\"v\"}],"
	    "\"nested\":{\"a\":[\"x\",[]]},"
	    "\"utf8\":\"caf\xc3\xa9 \xe2\x98\x83\","
	    "\"multi\":\"line1\\nline2\\n\"}}");
}

static void
test_errors(void **state)
{
	struct t *t = *state;

	load_err(t, TWO_TARGETS
	    "probes:\n"
	    "  - target: c\n"
	    "    connector_id: x\n"
	    "    params: {}\n", 7, 13,
	    "'target': no target named 'c' is configured");
	load_err(t, TWO_TARGETS
	    "probes:\n"
	    "  - connector_id: x\n"
	    "    params: {}\n", 7, 5,
	    "missing required key 'target' in 'probes[0]' (required when more "
	    "than one target is configured)");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - params: {}\n", 5, 5,
	    "missing required key 'connector_id' in 'probes[0]'");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: ''\n"
	    "    params: {}\n", 5, 19,
	    "'connector_id': must not be empty");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: x\n", 5, 5,
	    "missing required key 'params' in 'probes[0]'");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: x\n"
	    "    params: text\n", 6, 13,
	    "'params': expected a mapping (the connector's params, sent as "
	    "{\"params\": ...}), got a scalar");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: x\n"
	    "    interval: 59s\n"
	    "    params: {}\n", 6, 15,
	    "'interval': '59s' is out of range (1m..168h)");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: x\n"
	    "    space: Ops\n"
	    "    params: {}\n", 6, 12,
	    "'space': invalid space id 'Ops' (use only a-z, 0-9, '_' and '-')");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: x\n"
	    "    colour: red\n"
	    "    params: {}\n", 6, 5,
	    "unknown key 'colour' in 'probes[0]'");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: x\n"
	    "    params: {a: .inf}\n", 6, 17,
	    "'params': '.inf' has no JSON representation (quote it to send a "
	    "string)");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: x\n"
	    "    params: {a: 99999999999999999999}\n", 6, 17,
	    "'params': integer '99999999999999999999' is out of range (quote it "
	    "to send a string)");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: x\n"
	    "    params: {a: 1, a: 2}\n", 6, 20,
	    "'params': duplicate key 'a'");
	load_err(t, ONE_TARGET
	    "probes: {connector_id: x}\n", 4, 9,
	    "'probes': expected a list of probes, got a mapping");
	load_err(t, ONE_TARGET
	    "probes:\n"
	    "  - connector_id: x\n"
	    "    params: {}\n"
	    "  - connector_id: x\n"
	    "    space: default\n"
	    "    params: {}\n", 7, 19,
	    "duplicate probe of connector 'x' in space 'default' of target "
	    "'only' (first defined at line 5)");
}

static void
test_same_connector_other_space_or_target(void **state)
{
	struct t *t = *state;

	load_ok(t, TWO_TARGETS
	    "probes:\n"
	    "  - {target: a, connector_id: x, params: {}}\n"
	    "  - {target: b, connector_id: x, params: {}}\n"
	    "  - {target: a, space: ops, connector_id: x, params: {}}\n");
	assert_int_equal(t->c->nprobes, 3);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_defaults_single_target),
		T(test_all_keys_two_targets),
		T(test_no_probes),
		T(test_params_yaml_to_json),
		T(test_errors),
		T(test_same_connector_other_space_or_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
