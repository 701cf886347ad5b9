/*
 * test_probe.c: probe_classify() on canned _execute responses
 * (kibana-api.md sections 6.1-6.4), and the result names.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

#include "probe.h"

static enum probe_result
classify(enum http_result res, long status, const char *body,
    struct probe_details *d)
{
	struct http_response r;

	memset(&r, 0, sizeof(r));
	r.result = res;
	r.status = status;
	r.body = body != NULL ? body : "";
	r.body_len = body != NULL ? strlen(body) : 0;
	r.error = "";
	return probe_classify(&r, d);
}

static void
expect(long status, const char *body, enum probe_result want,
    const char *message, const char *service_message, const char *retry)
{
	struct probe_details d;

	assert_int_equal(classify(HTTP_RESULT_OK, status, body, &d), want);
	if (message == NULL)
		assert_null(d.message);
	else
		assert_string_equal(d.message, message);
	if (service_message == NULL)
		assert_null(d.service_message);
	else
		assert_string_equal(d.service_message, service_message);
	if (retry == NULL)
		assert_null(d.retry);
	else
		assert_string_equal(d.retry, retry);
	probe_details_free(&d);
}

static void
test_ok(void **state)
{
	(void)state;
	expect(200, "{\"status\": \"ok\", \"connector_id\": \"5e1d\"}", PROBE_OK,
	    NULL, NULL, NULL);
	expect(200, "{\"status\":\"ok\",\"data\":{\"text\":\"ok\"},\"connector_id\":\"s\"}",
	    PROBE_OK, NULL, NULL, NULL);
	expect(200, "{\"status\":\"ok\",\"data\":{\"took\":5,\"errors\":false,"
	    "\"items\":[]},\"connector_id\":\"c9a0\"}", PROBE_OK, NULL, NULL, NULL);
	expect(204, NULL, PROBE_OK, NULL, NULL, NULL);
}

static void
test_connector_error(void **state)
{
	(void)state;
	expect(200, "{\"status\": \"error\", \"message\": \"error calling webhook, retry later\", "
	    "\"errorSource\": \"user\", \"connector_id\": \"0b3f\", \"retry\": true, "
	    "\"service_message\": \"[500] Internal Server Error\"}",
	    PROBE_CONNECTOR_ERROR, "error calling webhook, retry later",
	    "[500] Internal Server Error", "true");
	expect(200, "{\"status\":\"error\",\"message\":\"error calling webhook, retry at "
	    "2025-03-10T14:23:31.512Z\",\"connector_id\":\"x\",\"retry\":"
	    "\"2025-03-10T14:23:31.512Z\",\"service_message\":\"[429] Too Many Requests\"}",
	    PROBE_CONNECTOR_ERROR,
	    "error calling webhook, retry at 2025-03-10T14:23:31.512Z",
	    "[429] Too Many Requests", "2025-03-10T14:23:31.512Z");
	expect(200, "{\"status\": \"error\", \"message\": \"error validating action params: "
	    "[message]: expected value of type [string] but got [undefined]\", "
	    "\"errorSource\": \"user\", \"connector_id\": \"5e1d\", \"retry\": false}",
	    PROBE_CONNECTOR_ERROR, "error validating action params: [message]: "
	    "expected value of type [string] but got [undefined]", NULL, "false");
	/* hostile bytes are repaired, NULs never cut the string */
	expect(200, "{\"status\":\"error\",\"message\":\"a\\u0000b \xff\",\"retry\":1}",
	    PROBE_CONNECTOR_ERROR, "a\xef\xbf\xbd" "b \xef\xbf\xbd", NULL, NULL);
}

static void
test_framework_errors(void **state)
{
	(void)state;
	expect(404, "{\"statusCode\":404,\"error\":\"Not Found\",\"message\":"
	    "\"Saved object [action/x] not found\"}", PROBE_NOT_FOUND,
	    "Saved object [action/x] not found", NULL, NULL);
	expect(403, "{\"statusCode\":403,\"error\":\"Forbidden\",\"message\":"
	    "\"Unauthorized to execute a \\\".webhook\\\" action\"}",
	    PROBE_FORBIDDEN, "Unauthorized to execute a \".webhook\" action",
	    NULL, NULL);
	expect(403, "{\"statusCode\":403,\"error\":\"Forbidden\",\"message\":"
	    "\"action type \\\".webhook\\\" is not enabled in the Kibana config "
	    "xpack.actions.enabledActionTypes\"}", PROBE_FORBIDDEN,
	    "action type \".webhook\" is not enabled in the Kibana config "
	    "xpack.actions.enabledActionTypes", NULL, NULL);
	expect(400, "{\"statusCode\":400,\"error\":\"Bad Request\",\"message\":"
	    "\"Execution of system action is not allowed\"}", PROBE_BAD_REQUEST,
	    "Execution of system action is not allowed", NULL, NULL);
	expect(400, "not json", PROBE_BAD_REQUEST, NULL, NULL, NULL);
	expect(401, "{\"statusCode\":401,\"error\":\"Unauthorized\",\"message\":"
	    "\"Unauthorized\"}", PROBE_HTTP_ERROR, "Unauthorized", NULL, NULL);
	expect(500, "", PROBE_HTTP_ERROR, NULL, NULL, NULL);
	expect(503, "<html>", PROBE_HTTP_ERROR, NULL, NULL, NULL);
	expect(302, "", PROBE_HTTP_ERROR, NULL, NULL, NULL);
}

static void
test_invalid(void **state)
{
	(void)state;
	expect(200, "", PROBE_INVALID_RESPONSE, NULL, NULL, NULL);
	expect(200, "<html>", PROBE_INVALID_RESPONSE, NULL, NULL, NULL);
	expect(200, "[{\"status\":\"ok\"}]", PROBE_INVALID_RESPONSE, NULL, NULL, NULL);
	expect(200, "{\"connector_id\":\"x\"}", PROBE_INVALID_RESPONSE, NULL, NULL, NULL);
	expect(200, "{\"status\":1}", PROBE_INVALID_RESPONSE, NULL, NULL, NULL);
	expect(200, "{\"status\":\"pending\",\"message\":\"m\"}", PROBE_INVALID_RESPONSE,
	    NULL, NULL, NULL);
	expect(200, "{\"status\":\"ok\"", PROBE_INVALID_RESPONSE, NULL, NULL, NULL);
}

static void
test_transport(void **state)
{
	struct probe_details d;

	(void)state;
	assert_int_equal(classify(HTTP_RESULT_TIMEOUT, 0, NULL, &d), PROBE_TIMEOUT);
	assert_int_equal(classify(HTTP_RESULT_CONNECT, 0, NULL, &d), PROBE_TRANSPORT);
	assert_int_equal(classify(HTTP_RESULT_TLS, 0, NULL, &d), PROBE_TRANSPORT);
	assert_int_equal(classify(HTTP_RESULT_DNS, 0, NULL, &d), PROBE_TRANSPORT);
	assert_int_equal(classify(HTTP_RESULT_OTHER, 0, NULL, &d), PROBE_TRANSPORT);
	assert_int_equal(classify(HTTP_RESULT_TOO_LARGE, 200, NULL, &d),
	    PROBE_INVALID_RESPONSE);
	assert_null(d.message);
	assert_int_equal(classify(HTTP_RESULT_OK, 200, "{\"status\":\"ok\"}", NULL),
	    PROBE_OK);
	probe_details_free(NULL);
}

static void
test_names(void **state)
{
	static const char *const want[PROBE__MAX] = { "ok", "connector_error",
	    "not_found", "forbidden", "bad_request", "http_error", "timeout",
	    "transport", "invalid_response" };
	unsigned i;

	(void)state;
	for (i = 0; i < PROBE__MAX; i++)
		assert_string_equal(probe_result_to_string(i), want[i]);
	assert_string_equal(probe_result_to_string(PROBE__MAX), "invalid_response");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_connector_error),
		cmocka_unit_test(test_framework_errors),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
