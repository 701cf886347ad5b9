/*
 * config_types.h: the immutable configuration (struct kcm_config and its
 * parts) and the defaults, for the modules that read it; config.h loads
 * it.  Kept apart so that the sections of the loader (config_endpoint.c,
 * config_probes.c) need only the types, not the loader above them.
 */
#ifndef KCM_CONFIG_TYPES_H
#define KCM_CONFIG_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Set by CMake to <sysconfdir>/kibana-connector-monitor/config.yml. */
#ifndef CONFIG_DEFAULT_PATH
#define CONFIG_DEFAULT_PATH		"/etc/kibana-connector-monitor/config.yml"
#endif
#define CONFIG_DEFAULT_LISTEN_HOST	"127.0.0.1"
#define CONFIG_DEFAULT_LISTEN_PORT	9479
#define CONFIG_DEFAULT_TARGET_NAME	"default"
#define CONFIG_DEFAULT_KIBANA_URL	"http://localhost:5601"
#define CONFIG_DEFAULT_TIMEOUT_USEC	(10 * UINT64_C(1000000))
#define CONFIG_DEFAULT_MAX_RESPONSE	(64 * UINT64_C(1024) * 1024)
#define CONFIG_DEFAULT_INVENTORY_USEC	(60 * UINT64_C(1000000))
#define CONFIG_DEFAULT_MAX_PARALLEL	8
#define CONFIG_DEFAULT_ES_URL		"http://localhost:9200"
#define CONFIG_DEFAULT_EVENT_LOG_INDEX	".kibana-event-log-*"
#define CONFIG_DEFAULT_EVENT_LOG_INTERVAL_USEC	(60 * UINT64_C(1000000))
#define CONFIG_DEFAULT_EVENT_LOG_LOOKBACK_USEC	(15 * 60 * UINT64_C(1000000))
#define CONFIG_DEFAULT_EVENT_LOG_SETTLE_USEC	(30 * UINT64_C(1000000))
#define CONFIG_DEFAULT_EVENT_LOG_RETENTION_USEC	(24 * 3600 * UINT64_C(1000000))
#define CONFIG_DEFAULT_MAX_CONNECTIONS	64
#define CONFIG_MAX_CONNECTIONS_MAX	4096
#define CONFIG_DEFAULT_PROBE_INTERVAL	(15 * 60 * UINT64_C(1000000))
#define CONFIG_DEFAULT_PROBE_TIMEOUT	(30 * UINT64_C(1000000))
/* The shortest probes[].interval; a test build may lower it with -D. */
#ifndef CONFIG_PROBE_INTERVAL_MIN
#define CONFIG_PROBE_INTERVAL_MIN	(60 * UINT64_C(1000000))
#endif
/* The shortest inventory and event-log intervals, and series retention (a
 * test build lowers them too, to churn through hundreds of cycles). */
#ifndef CONFIG_INTERVAL_MIN
#define CONFIG_INTERVAL_MIN		UINT64_C(1000000)
#endif
#ifndef CONFIG_RETENTION_MIN
#define CONFIG_RETENTION_MIN		(60 * UINT64_C(1000000))
#endif

/* Where a value came from, for error messages after loading. */
struct config_pos {
	unsigned	 line;		/* 1-based; 0 = built-in default */
	unsigned	 column;	/* 1-based */
};

/* One HTTP endpoint (Kibana now; Elasticsearch in issue 3 reuses it). */
struct endpoint_config {
	char		*url;		/* scheme://host[:port][/base], no trailing '/' */
	char		*api_key_file;	/* resolved absolute path, or NULL */
	char		*username;	/* basic auth, with password_file */
	char		*password_file;	/* resolved absolute path, or NULL */
	char		*ca_file;	/* resolved absolute path, or NULL */
	char		*client_cert_file; /* resolved, or NULL */
	char		*client_key_file;  /* resolved, or NULL */
	char		*proxy;		/* NULL = no proxy (environment ignored) */
	bool		 insecure_skip_verify;
	uint64_t	 timeout_usec;	/* whole-request deadline */
	uint64_t	 max_response_bytes;
	/*
	 * The complete header line, "Authorization: ApiKey <key>" or
	 * "Authorization: Basic <base64>", built from the secret files at load
	 * time; NULL when no credentials are configured.  SECRET: never log,
	 * print or copy it anywhere but into the HTTP request.  Freed with
	 * secret_free().
	 */
	char		*auth_header;
	struct config_pos pos;		/* of the endpoint's mapping */
};

/* `event_log:` of a target (issue 3); used only when elasticsearch.url is set. */
struct event_log_config {
	char		*index;		/* index expression; NULL = CONFIG_DEFAULT_EVENT_LOG_INDEX */
	uint64_t	 interval_usec;
	uint64_t	 lookback_usec;	/* first window starts at now - lookback */
	uint64_t	 settle_delay_usec; /* windows end at now - settle_delay */
	/* series of a connector gone from the inventory, without a counted run
	 * for this long, are removed */
	uint64_t	 series_retention_usec;
};

struct target_config {
	char		*name;		/* label value `target` */
	struct endpoint_config kibana;
	struct endpoint_config elasticsearch; /* url NULL: no event-log checks */
	struct event_log_config event_log;
	bool		 spaces_all;	/* `spaces: all` */
	char		**spaces;	/* when !spaces_all: space ids */
	size_t		 nspaces;
	uint64_t	 inventory_interval_usec;
	unsigned	 max_parallel_requests;
	struct config_pos pos;
};

/*
 * A synthetic test execution: POST .../connector/<connector_id>/_execute on
 * a schedule (`probes:` list).  Only connectors listed here are ever run.
 */
struct probe_config {
	char		*target;	/* target name */
	size_t		 target_index;	/* into kcm_config.targets */
	char		*space;		/* space id, "default" by default */
	char		*connector_id;	/* non-empty */
	uint64_t	 interval_usec;
	uint64_t	 timeout_usec;
	char		*body;		/* the request body {"params": ...}, JSON */
	struct config_pos pos;		/* of the list item */
};

struct listen_config {
	char		*host;		/* "127.0.0.1", "::1" (no brackets), "0.0.0.0" */
	uint16_t	 port;		/* 0 = ephemeral (tests) */
};

struct kcm_config {
	char		*path;		/* file it was loaded from; NULL for built-in */
	bool		 builtin;	/* true = built-in defaults, no file */
	struct listen_config *listen;
	size_t		 nlisten;
	struct target_config *targets;
	size_t		 ntargets;
	int		 log_level;	/* LOG_ERR..LOG_DEBUG; default LOG_INFO */
	int		 log_target;	/* enum log_target (log.h); default auto */
	struct probe_config *probes;
	size_t		 nprobes;
	char		*state_directory; /* NULL: $STATE_DIRECTORY (state.h) */
	/* exporter-toolkit web configuration (web_config.h), resolved; NULL:
	 * none (--web.config.file wins over it) */
	char		*web_config_file;
	unsigned	 max_connections; /* scrape connections at once */
};

#endif /* KCM_CONFIG_TYPES_H */
