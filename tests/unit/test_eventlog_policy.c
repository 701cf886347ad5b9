/*
 * Unit tests for the failing-connector log policy of eventlog.c
 * (eventlog_log_decision): when it starts failing, when its error text
 * changes, and an hourly reminder; never on every poll.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "eventlog.h"

#define HOUR	EVENTLOG_REMINDER_MS

static void
test_policy(void **state)
{
	const int64_t t = 1764000000000;

	(void)state;
	/* not failing before: always logged, details or not */
	assert_int_equal(eventlog_log_decision(false, NULL, "boom", 0, t),
	    EVENTLOG_LOG_STARTED);
	assert_int_equal(eventlog_log_decision(false, NULL, NULL, 0, t),
	    EVENTLOG_LOG_STARTED);
	/* the same error on the next polls: silent for an hour */
	assert_int_equal(eventlog_log_decision(true, "boom", "boom", t, t + 60000),
	    EVENTLOG_LOG_NONE);
	assert_int_equal(eventlog_log_decision(true, "boom", "boom", t,
	    t + HOUR - 1), EVENTLOG_LOG_NONE);
	/* then a reminder */
	assert_int_equal(eventlog_log_decision(true, "boom", "boom", t, t + HOUR),
	    EVENTLOG_LOG_REMINDER);
	/* another error text: at once */
	assert_int_equal(eventlog_log_decision(true, "boom", "bang", t, t + 1),
	    EVENTLOG_LOG_CHANGED);
	assert_int_equal(eventlog_log_decision(true, NULL, "bang", t, t + 1),
	    EVENTLOG_LOG_CHANGED);
	/* details unavailable is no change of error */
	assert_int_equal(eventlog_log_decision(true, "boom", NULL, t, t + 1),
	    EVENTLOG_LOG_NONE);
	assert_int_equal(eventlog_log_decision(true, "boom", NULL, t, t + HOUR),
	    EVENTLOG_LOG_REMINDER);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
