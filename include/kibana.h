/*
 * kibana.h: Kibana's REST API as data: URL paths and the parsing of the JSON
 * bodies of the endpoints the daemon reads.  Pure functions, no network, so
 * unit tests and fuzzers drive them with canned bodies.  Field facts:
 * shared/reference/kibana-api.md sections 2, 5, 7, 8.
 *
 * Bodies are hostile input.  kibana_json_load() repairs what jansson would
 * reject although a real Kibana can send it (invalid UTF-8 bytes, lone
 * UTF-16 surrogate escapes such as "\ud800", \u0000 inside strings) so one
 * odd connector name cannot hide the whole inventory; strings copied out of
 * the JSON never contain NUL bytes.
 *
 * Parsers return 0, or -EBADMSG when the body is not the documented shape
 * (-ENOMEM when out of memory), with a short reason in err (never more than errsz bytes, always
 * NUL-terminated, no body content beyond a JSON path like "[3].id").
 * Unknown fields are ignored; fields an older Kibana does not send take the
 * documented default (false / 0).  On failure nothing is allocated.
 */
#ifndef KCM_KIBANA_H
#define KCM_KIBANA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

#define KIBANA_RULES_PER_PAGE		100
#define KIBANA_SYSTEM_CONNECTOR_PREFIX	"system-connector-"

/*
 * GET /api/actions/connectors (a bare array).  Pre-7.13 camelCase names
 * (actionTypeId, isPreconfigured, isDeprecated, isMissingSecrets,
 * referencedByCount) are accepted when the snake_case one is absent.
 */
struct kibana_connector {
	char	*id;
	char	*name;
	char	*type_id;		/* connector_type_id */
	bool	 preconfigured;		/* is_preconfigured */
	bool	 deprecated;		/* is_deprecated, false when absent */
	bool	 system_action;		/* is_system_action, false when absent */
	bool	 missing_secrets;	/* is_missing_secrets, false when absent */
	int64_t	 referenced_by_count;	/* 0 when absent */
};

struct kibana_connector_list {
	struct kibana_connector *v;
	size_t	 n;
};

/*
 * GET /api/actions/connector_types (a bare array).  "enabled" is required;
 * enabled_in_config / enabled_in_license take enabled's value when absent.
 */
struct kibana_connector_type {
	char	*id;
	char	*minimum_license_required;	/* "" when absent */
	bool	 enabled;
	bool	 enabled_in_config;
	bool	 enabled_in_license;
};

struct kibana_connector_type_list {
	struct kibana_connector_type *v;
	size_t	 n;
};

/* GET /api/spaces/space (a bare array of objects with "id"). */
struct kibana_space_list {
	char	**ids;
	size_t	 n;
};

/* GET /api/alerting/rules/_find?per_page=100&page=N */
struct kibana_rule {
	char	*id;
	char	*name;
	char	**action_ids;	/* actions[].id in order, duplicates kept */
	size_t	 nactions;
};

struct kibana_rules_page {
	int64_t	 page;
	int64_t	 per_page;
	int64_t	 total;
	struct kibana_rule *v;
	size_t	 n;
};

/*
 * Parses body (len bytes, not NUL-terminated) after repairing it as described
 * above.  Returns a new reference or NULL with a reason in err.
 */
json_t	*kibana_json_load(const char *body, size_t len, char *err, size_t errsz);

/*
 * A heap copy of the JSON string s with every NUL byte replaced by U+FFFD
 * (EF BF BD), so the C string is never cut short.  NULL if s is not a
 * string or on allocation failure.
 */
char	*kibana_json_strdup(const json_t *s);

int	 kibana_parse_connectors(const char *body, size_t len,
	    struct kibana_connector_list *ret, char *err, size_t errsz);
int	 kibana_parse_connector_types(const char *body, size_t len,
	    struct kibana_connector_type_list *ret, char *err, size_t errsz);
int	 kibana_parse_spaces(const char *body, size_t len,
	    struct kibana_space_list *ret, char *err, size_t errsz);
int	 kibana_parse_rules_page(const char *body, size_t len,
	    struct kibana_rules_page *ret, char *err, size_t errsz);

void	 kibana_connector_list_free(struct kibana_connector_list *l);
void	 kibana_connector_type_list_free(struct kibana_connector_type_list *l);
void	 kibana_space_list_free(struct kibana_space_list *l);
void	 kibana_rules_page_free(struct kibana_rules_page *p);

/* Number of pages needed for `total` rules at `per_page` (>= 1). */
int64_t	 kibana_rules_pages(int64_t total, int64_t per_page);

/*
 * Appends the URL path for `path` (which starts with "/api/") in `space`:
 * `path` itself for "default", else "/s/<space>" + path with the space id
 * percent-encoded (anything but [A-Za-z0-9_-] becomes %XX).  -EINVAL for a
 * NULL or empty space or a path not starting with '/', -ENOMEM.
 */
int	 kibana_space_path(struct strbuf *out, const char *space, const char *path);

/* A space id as Kibana accepts it: [a-z0-9_-]+ (the configuration's check). */
bool	 kibana_space_id_valid(const char *s);

/* True for ids Kibana builds for system actions ("system-connector-..."). */
bool	 kibana_is_system_connector_id(const char *id);

#endif /* KCM_KIBANA_H */
