/*
 * probe.h: synthetic test executions.  One probe per `probes:` entry runs
 * POST [/s/<space>]/api/actions/connector/<id>/_execute on its own schedule
 * (first run at a random offset inside the interval, then every interval
 * with up to 10% jitter, never two runs at once, no retries) and turns the
 * outcome into kibana_connector_probe_* series.  Every run sends a real
 * notification; only connectors named in the configuration are executed.
 */
#ifndef KCM_PROBE_H
#define KCM_PROBE_H

#include <stdbool.h>

#include "http_client.h"

struct probe_config;

/* The connector's result of one run: label `result` (a fixed enum). */
enum probe_result {
	PROBE_OK,		/* 200 status "ok" (or 204) */
	PROBE_CONNECTOR_ERROR,	/* 200 status "error": the service refused */
	PROBE_NOT_FOUND,	/* 404: connector deleted / not in the space */
	PROBE_FORBIDDEN,	/* 403: privilege, licence, enabledActionTypes */
	PROBE_BAD_REQUEST,	/* 400: params invalid, system action */
	PROBE_HTTP_ERROR,	/* any other HTTP status */
	PROBE_TIMEOUT,		/* the probe's timeout passed */
	PROBE_TRANSPORT,	/* connect, DNS, TLS, other transport errors */
	PROBE_INVALID_RESPONSE,	/* body not the documented shape, too large */
	PROBE__MAX,
};

const char *probe_result_to_string(enum probe_result r);

/* What Kibana said, for the state-change log entry.  Strings are heap copies. */
struct probe_details {
	char	*message;		/* body "message" (Boom or result) or NULL */
	char	*service_message;	/* result "service_message" or NULL */
	char	*retry;			/* "true", "false", an ISO date, or NULL */
};

void	 probe_details_free(struct probe_details *d);	/* NULL-safe */

/*
 * Classifies a finished _execute exchange (pure: unit tests feed canned
 * responses).  Fills *ret (which may be NULL) with whatever the body
 * offers; the caller frees it with probe_details_free().
 */
enum probe_result probe_classify(const struct http_response *resp,
	    struct probe_details *ret);

struct check;
struct engine_build;
struct metrics;
struct target_config;

/* Later runs: every interval * (1 +- this). */
#define PROBE_JITTER	0.10

/*
 * Adds a probe check to a new set (engine.h): first run at a random offset
 * inside the interval (at once with --once), then every interval.  The URL
 * is built here from the probe's own configuration; nothing Kibana sends can
 * make the daemon execute another connector.  `inventory` (the target's
 * inventory check, may be NULL) only supplies names for log entries.
 */
struct check *probe_add(struct engine_build *b, struct metrics *m,
	    const struct probe_config *cfg, const struct target_config *tcfg,
	    struct check *inventory);

#endif /* KCM_PROBE_H */
