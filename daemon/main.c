/*
 * main.c: command line, start-up order, signals, the loop, teardown.
 */
#include <errno.h>
#include <getopt.h>
#include <link.h>
#include <sys/resource.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "http_server.h"
#include "monitor.h"
#include "log.h"
#include "msgid.h"
#include "notify.h"
#include "state.h"
#include "web_config.h"

#define EXIT_CONFIG 2
/* SIGHUPs closer together than this are one reload. */
#define RELOAD_MIN_SPACING_USEC	(250 * USEC_PER_MSEC)

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: kibana-connector-monitor [--config FILE] [--check-config]\n"
	    "                                [--once [--format=prometheus|text]]\n"
	    "                                [--no-probes] [--web.config.file FILE]\n"
	    "                                [--web.listen-address ADDR]... [--version] [--help]\n"
	    "\n"
	    "Watches Kibana alerting connectors and serves their health as\n"
	    "Prometheus metrics.\n"
	    "\n"
	    "  -c, --config FILE   configuration file (default below; without --config\n"
	    "                      and when that file does not exist: built-in defaults)\n"
	    "  -t, --check-config  validate the configuration and secret files, print\n"
	    "                      'configuration OK' or every error, send no request\n"
	    "      --once          run every job once (each target's inventory poll,\n"
	    "                      each event-log search and EVERY CONFIGURED PROBE: the\n"
	    "                      probed connectors really execute and send real\n"
	    "                      notifications), print the metrics, exit 0 when\n"
	    "                      every request succeeded, else 1\n"
	    "      --format FORMAT with --once: what to print; 'prometheus' (the\n"
	    "                      default) prints the metrics, 'text' a report for\n"
	    "                      people (the status page's content: failing\n"
	    "                      connectors and their errors first)\n"
	    "      --no-probes     never execute a connector: the configured probes\n"
	    "                      are left out (with --once or as a daemon)\n"
	    "      --web.config.file FILE\n"
	    "                      exporter-toolkit web configuration (TLS, basic\n"
	    "                      auth) for the metrics endpoint; wins over the\n"
	    "                      key web_config_file\n"
	    "      --web.listen-address ADDR\n"
	    "                      address:port to serve metrics on (repeatable);\n"
	    "                      replaces the key listen\n"
	    "  -V, --version       print the version and library versions\n"
	    "  -h, --help          print this help\n"
	    "\n"
	    "Default configuration file (this build):\n"
	    "  %s\n",
	    CONFIG_DEFAULT_PATH);
}

static int
find_libsystemd(struct dl_phdr_info *info, size_t size, void *data)
{
	char **ret = data;
	char real[PATH_MAX];
	const char *base;

	(void)size;
	if (info->dlpi_name == NULL || strstr(info->dlpi_name, "libsystemd.so") == NULL)
		return 0;
	if (realpath(info->dlpi_name, real) == NULL)
		return 0;
	base = strrchr(real, '/');
	*ret = strdup(base != NULL ? base + 1 : real);
	return 1;
}

static void
print_version(void)
{
	char *sd = NULL;

	dl_iterate_phdr(find_libsystemd, &sd);
	printf("kibana-connector-monitor %s\n", KCM_VERSION);
	printf("libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
	printf("libevent %s\n", event_get_version());
	printf("jansson %s\n", jansson_version_str());
	printf("libsystemd %s (built against %s)\n", sd != NULL ? sd : "unknown",
	    KCM_LIBSYSTEMD_VERSION);
	free(sd);
}

static void
libevent_log(int severity, const char *msg)
{
	int prio = LOG_DEBUG;

	if (severity == EVENT_LOG_WARN)
		prio = LOG_WARNING;
	else if (severity == EVENT_LOG_ERR)
		prio = LOG_ERR;
	log_struct(prio, NULL, NULL, 0, "libevent: %s", msg);
}

/*
 * The soft descriptor limit up to the hard one: systemd's default soft
 * limit is 1,024 (the shipped unit sets LimitNOFILE=, which sets both, so
 * there is nothing to raise under it).  glibc's setrlimit() is the
 * prlimit64 system call, which the unit's filter allows (~@resources
 * denies only the old setrlimit); if it fails anyway, the limit stands.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_debug("cannot raise the descriptor limit to %llu: %s",
		    (unsigned long long)rl.rlim_max, strerror(errno));
}

/*
 * Descriptors the scrape connections must leave free: per target its
 * parallel requests (Kibana, and as many again for Elasticsearch) plus a
 * few for connections being set up or torn down, and 32 for the rest
 * (standard streams, the loop, signals, listeners, journal, state files,
 * /proc reads, the resolver).
 */
static unsigned
fd_reserve(const struct kcm_config *cfg)
{
	unsigned long r = 32;
	size_t i;

	for (i = 0; i < cfg->ntargets; i++) {
		const struct target_config *t = &cfg->targets[i];

		r += (t->max_parallel_requests + 4UL) *
		    (t->elasticsearch.url != NULL ? 2 : 1);
	}
	return r > 1000000 ? 1000000 : (unsigned)r;
}

/* The loop's state, for the signal callbacks. */
struct daemon {
	struct event_base	*base;
	struct monitor		*monitor;
	struct http_server	*server;	/* NULL with --once */
	const char		*config_path;	/* what SIGHUP re-reads */
	bool			 config_explicit;
	struct kcm_config	*cfg;		/* the running configuration */
	const char		*web_config_flag; /* --web.config.file, or NULL */
	const char *const	*listen_flags;	/* --web.listen-address values */
	size_t			 nlisten_flags;
	/*
	 * The running web configuration (TLS, headers, basic auth), NULL
	 * without one: plain HTTP, no auth.  Reloaded with cfg, all or
	 * nothing; the server takes its own reference.
	 */
	struct web_config	*web;
	bool			 once;
	bool			 stopping;
	struct event		*reload;	/* coalesces a burst of SIGHUPs */
	uint64_t		 last_reload;	/* monotonic usec, 0 = none */
};

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	if (d->stopping)
		return;		/* a second SIGTERM changes nothing */
	d->stopping = true;
	log_struct(LOG_INFO, MSGID_DAEMON_STOPPING, NULL, 0,
	    "received %s, stopping", strsignal((int)sig));
	notify_stopping();
	event_base_loopexit(d->base, NULL);
}

static bool
listen_changed(const struct kcm_config *a, const struct kcm_config *b)
{
	size_t i;

	if (a->nlisten != b->nlisten)
		return true;
	for (i = 0; i < a->nlisten; i++)
		if (strcmp(a->listen[i].host, b->listen[i].host) != 0 ||
		    a->listen[i].port != b->listen[i].port)
			return true;
	return false;
}

static void
log_rejected(const struct config_errors *errs, const char *path, int r)
{
	char line[16], col[16];
	size_t i;

	for (i = 0; i < errs->n; i++) {
		const struct config_error *e = &errs->v[i];
		struct log_field f[] = {
			{ "CONFIG_FILE", e->file }, { "CONFIG_LINE", line },
			{ "CONFIG_COLUMN", col }, { "ERROR_MESSAGE", e->message },
		};

		snprintf(line, sizeof(line), "%u", e->line);
		snprintf(col, sizeof(col), "%u", e->column);
		if (e->line == 0) {	/* about the file as a whole: no position */
			f[1].value = f[2].value = NULL;
			log_struct(LOG_ERR, MSGID_CONFIG_REJECTED, f,
			    ELEMENTSOF(f), "%s: %s",
			    e->file != NULL ? e->file : path, e->message);
			continue;
		}
		log_struct(LOG_ERR, MSGID_CONFIG_REJECTED, f, ELEMENTSOF(f),
		    "%s:%u:%u: %s", e->file != NULL ? e->file : path, e->line,
		    e->column, e->message);
	}
	log_struct(LOG_ERR, MSGID_CONFIG_REJECTED,
	    (struct log_field[]){ { "CONFIG_FILE", path } }, 1,
	    "configuration reload rejected (%zu error%s%s%s); the running configuration stays in use",
	    errs->n, errs->n == 1 ? "" : "s", r == -ENOMEM ? ", " : "",
	    r == -ENOMEM ? "out of memory" : "");
}

/* The web configuration file in effect: the flag wins over the key. */
static const char *
web_config_file(const struct daemon *d, const struct kcm_config *cfg)
{
	return d->web_config_flag != NULL ? d->web_config_flag :
	    cfg->web_config_file;
}

/*
 * What the command line overrides in a freshly loaded configuration
 * (--web.listen-address), then the web configuration it names (NULL in
 * *ret when none).  0, or a negative errno with the problems in errs.
 */
static int
load_overrides_and_web(const struct daemon *d, struct kcm_config *cfg,
    struct web_config **ret, struct config_errors *errs)
{
	const char *path;
	int r;

	*ret = NULL;
	r = config_override_listen(cfg, d->listen_flags, d->nlisten_flags, errs);
	if (r < 0)
		return r;
	path = web_config_file(d, cfg);
	if (path == NULL)
		return 0;
	return web_config_load(path, ret, errs);
}

/*
 * The reload: RELOADING=1, load the configuration and its secret files
 * all-or-nothing, build the new checks and carry the running ones (the
 * monitor), keep the old configuration on any error; READY=1 either way.
 */
static void
reload_fired(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct config_errors errs = { 0 };
	struct kcm_config *cfg = NULL, *old = d->cfg;
	struct web_config *web = NULL;
	char status[256];
	int r;

	(void)fd;
	(void)what;
	if (d->stopping)
		return;
	d->last_reload = now_usec();
	notify_reloading();
	log_debug("reloading the configuration from %s", d->config_path);
	if (!d->config_explicit && access(d->config_path, F_OK) < 0 &&
	    errno == ENOENT)
		r = config_default(&cfg);
	else
		r = config_load(d->config_path, &cfg, &errs);
	/* the web configuration and its certificate and key files too */
	if (r == 0 && (r = load_overrides_and_web(d, cfg, &web, &errs)) < 0) {
		config_free(cfg);
		cfg = NULL;
	}
	/* New connections get the new web configuration; undone below. */
	if (r == 0 && d->server != NULL &&
	    (r = http_server_set_web_config(d->server, web)) < 0) {
		log_error("cannot start the basic auth worker: %s", strerror(-r));
		web_config_unref(web);
		web = NULL;
		config_free(cfg);
		cfg = NULL;
	}
	if (r < 0) {
		log_rejected(&errs, d->config_path, r);
		monitor_reload_rejected(d->monitor);
	} else {
		if (listen_changed(old, cfg))
			log_warning("'listen' changed: the listener is not re-bound on reload, restart the service to apply it");
		r = monitor_reload(d->monitor, cfg);
		if (r < 0) {
			log_rejected(&errs, d->config_path, r);
			/* the running one back (its auth worker exists) */
			if (d->server != NULL)
				(void)http_server_set_web_config(d->server, d->web);
			config_free(cfg);
			web_config_unref(web);
		} else {
			d->cfg = cfg;
			config_free(old);
			/* open connections keep their reference to the old one */
			web_config_unref(d->web);
			d->web = web;
			if (d->server != NULL)
				http_server_set_limits(d->server,
				    cfg->max_connections, fd_reserve(cfg));
			log_set_level(cfg->log_level);
			log_set_target(cfg->log_target);
			log_struct(LOG_INFO, MSGID_CONFIG_LOADED,
			    (struct log_field[]){ { "CONFIG_FILE", d->config_path } }, 1,
			    "configuration reloaded from %s: %zu target(s)",
			    d->config_path, cfg->ntargets);
		}
	}
	config_errors_free(&errs);
	monitor_status(d->monitor, status, sizeof(status));
	notify_ready(status);
}

/*
 * SIGHUP: schedule one reload.  SIGHUPs that arrive while one is pending
 * are absorbed, and reloads are at least RELOAD_MIN_SPACING_USEC apart, so
 * a burst of signals costs one or two reloads.
 */
static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv;
	uint64_t now = now_usec(), wait = 0;

	(void)sig;
	(void)what;
	if (d->once) {
		log_warning("SIGHUP ignored with --once");
		return;
	}
	if (d->stopping || evtimer_pending(d->reload, NULL))
		return;
	if (d->last_reload != 0 && now - d->last_reload < RELOAD_MIN_SPACING_USEC)
		wait = RELOAD_MIN_SPACING_USEC - (now - d->last_reload);
	usec_to_timeval(wait, &tv);
	evtimer_add(d->reload, &tv);
}

/*
 * Signal dispositions around the loop.  From the first line of main() a
 * SIGHUP only sets a flag (early_hup_caught): a SIGHUP during start-up is
 * held, and once the daemon is ready it is handled as a reload.  libevent
 * saves that handler when it installs its own and restores it when the
 * event is freed, so a SIGHUP during teardown sets a flag nobody reads.
 * SIGTERM and SIGINT are set to "ignore" just before libevent installs its
 * handlers, for the same reason: freeing them at shutdown restores
 * "ignore", so a signal while the daemon stops never kills it or changes
 * its exit status.
 */
static volatile sig_atomic_t early_hup;

static void
early_hup_caught(int sig)
{
	(void)sig;
	early_hup = 1;
}

static void
signals_catch_early_hup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = early_hup_caught;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;	/* start-up's reads are not interrupted */
	sigaction(SIGHUP, &sa, NULL);
}

/*
 * Loads the configuration, applies the command line's overrides and loads
 * the web configuration (*ret_web NULL when there is none); returns 0, or
 * an exit code after printing every error.
 */
static int
load_config(const struct daemon *d, const char *path, bool explicit_path,
    struct kcm_config **ret, struct web_config **ret_web, bool *builtin)
{
	struct config_errors errs = { 0 };
	struct kcm_config *cfg = NULL;
	int r;

	*builtin = false;
	if (!explicit_path && access(path, F_OK) < 0 && errno == ENOENT) {
		*builtin = true;
		r = config_default(&cfg);
		if (r < 0) {
			fprintf(stderr, "kibana-connector-monitor: out of memory\n");
			return 1;
		}
	} else {
		r = config_load(path, &cfg, &errs);
	}
	if (r == 0 && (r = load_overrides_and_web(d, cfg, ret_web, &errs)) < 0) {
		config_free(cfg);
		cfg = NULL;
	}
	if (r < 0) {
		config_errors_print(&errs, stderr);
		if (r == -ENOMEM)
			fprintf(stderr, "kibana-connector-monitor: out of memory\n");
		config_errors_free(&errs);
		return EXIT_CONFIG;
	}
	config_errors_free(&errs);
	*ret = cfg;
	return 0;
}

/* The command line, parsed. */
struct cmdline {
	const char	*path;		/* --config, or the default */
	bool		 explicit_path;
	bool		 check;		/* --check-config */
	bool		 once;
	bool		 no_probes;
	bool		 text;		/* --format=text */
	const char	*web_config;	/* --web.config.file, or NULL */
	const char	**listen;	/* --web.listen-address values */
	size_t		 nlisten;
};

/*
 * Parses argv into *cl.  Returns -1 to go on, or the exit status (after
 * --help, --version or a usage error); cl->listen is freed then.
 */
static int
parse_cmdline(int argc, char *argv[], struct cmdline *cl)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "once", no_argument, NULL, 'o' },
		{ "no-probes", no_argument, NULL, 'P' },
		{ "format", required_argument, NULL, 'F' },
		{ "web.config.file", required_argument, NULL, 'W' },
		{ "web.listen-address", required_argument, NULL, 'L' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *format = NULL;
	int c, r = -1;

	memset(cl, 0, sizeof(*cl));
	cl->path = CONFIG_DEFAULT_PATH;
	/* at most one --web.listen-address per argument */
	cl->listen = calloc((size_t)argc + 1, sizeof(*cl->listen));
	if (cl->listen == NULL) {
		fprintf(stderr, "kibana-connector-monitor: out of memory\n");
		return 1;
	}
	while (r < 0 && (c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cl->path = optarg;
			cl->explicit_path = true;
			break;
		case 't':
			cl->check = true;
			break;
		case 'o':
			cl->once = true;
			break;
		case 'P':
			cl->no_probes = true;
			break;
		case 'F':
			format = optarg;
			break;
		case 'W':
			if (*optarg == '\0') {
				fprintf(stderr, "kibana-connector-monitor: --web.config.file: missing file name\n");
				r = EXIT_CONFIG;
			}
			cl->web_config = optarg;
			break;
		case 'L':
			cl->listen[cl->nlisten++] = optarg;
			break;
		case 'V':
			print_version();
			r = 0;
			break;
		case 'h':
			usage(stdout);
			r = 0;
			break;
		default:
			usage(stderr);
			r = EXIT_CONFIG;
			break;
		}
	}
	if (r < 0 && optind < argc) {
		fprintf(stderr, "kibana-connector-monitor: unexpected argument '%s'\n",
		    argv[optind]);
		usage(stderr);
		r = EXIT_CONFIG;
	}
	if (r < 0 && format != NULL) {
		if (!cl->once) {
			fprintf(stderr, "kibana-connector-monitor: --format needs --once\n");
			usage(stderr);
			r = EXIT_CONFIG;
		} else if (strcmp(format, "text") == 0)
			cl->text = true;
		else if (strcmp(format, "prometheus") != 0) {
			fprintf(stderr, "kibana-connector-monitor: unknown --format '%s' "
			    "(prometheus or text)\n", format);
			usage(stderr);
			r = EXIT_CONFIG;
		}
	}
	if (r >= 0) {
		free(cl->listen);
		cl->listen = NULL;
	}
	return r;
}

int
main(int argc, char *argv[])
{
	struct cmdline cl;
	const char *path;
	bool explicit_path, check, once, builtin, no_probes, text;
	struct kcm_config *cfg = NULL;
	struct web_config *web = NULL;
	struct event_base *base = NULL;
	struct event_config *ecfg;
	struct event *sig_term = NULL, *sig_int = NULL, *sig_hup = NULL;
	struct http_server *server = NULL;
	struct notify *notify = NULL;
	struct daemon d;
	char status[256];
	uint64_t wd_usec = 0;
	struct strbuf out;
	size_t i;
	int r, ret = 1;

	/* A SIGHUP before the daemon is ready waits for it (see above). */
	signals_catch_early_hup();
#ifdef M_ARENA_MAX
	/*
	 * One malloc arena: what the parsing thread (worker.h) allocates the
	 * loop frees, so an arena of its own would only hold freed memory.
	 */
	(void)mallopt(M_ARENA_MAX, 1);
#endif
	memset(&d, 0, sizeof(d));
	if ((r = parse_cmdline(argc, argv, &cl)) >= 0)
		return r;
	path = cl.path;
	explicit_path = cl.explicit_path;
	check = cl.check;
	once = cl.once;
	no_probes = cl.no_probes;
	text = cl.text;
	d.web_config_flag = cl.web_config;
	d.listen_flags = cl.listen;
	d.nlisten_flags = cl.nlisten;

	log_init("kibana-connector-monitor");
	if ((r = load_config(&d, path, explicit_path, &cfg, &web, &builtin)) != 0) {
		free(cl.listen);
		return r;
	}
	if (check) {
		if (builtin)
			printf("no configuration file at %s: built-in defaults\n", path);
		if (web != NULL)
			printf("web configuration %s OK: %s\n", web_config_path(web),
			    web_config_ssl_ctx(web) != NULL ? "TLS" : "plain HTTP");
		printf("configuration OK\n");
		web_config_unref(web);
		config_free(cfg);
		free(cl.listen);
		return 0;
	}
	d.web = web;
	log_set_level(cfg->log_level);
	log_set_target(cfg->log_target);
	d.config_path = path;
	d.config_explicit = explicit_path;
	d.once = once;
	if (builtin && once)
		log_struct(LOG_INFO, MSGID_CONFIG_LOADED, NULL, 0,
		    "no configuration file at %s; running on built-in defaults: target '%s' at %s",
		    path, cfg->targets[0].name, cfg->targets[0].kibana.url);
	else if (builtin)
		log_struct(LOG_INFO, MSGID_CONFIG_LOADED, NULL, 0,
		    "no configuration file at %s; running on built-in defaults: target '%s' at %s, listening on %s:%u",
		    path, cfg->targets[0].name, cfg->targets[0].kibana.url,
		    cfg->listen[0].host, cfg->listen[0].port);
	else
		log_struct(LOG_INFO, MSGID_CONFIG_LOADED, NULL, 0,
		    "configuration loaded from %s: %zu target(s)", path,
		    cfg->ntargets);

	if (!once && state_directory(cfg->state_directory) == NULL)
		for (i = 0; i < cfg->ntargets; i++)
			if (cfg->targets[i].elasticsearch.url != NULL) {
				log_warning("no state_directory (and no $STATE_DIRECTORY): a restart counts the event-log lookback window again");
				break;
			}
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(libevent_log);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed");
		goto out;
	}
	if (!(curl_version_info(CURLVERSION_NOW)->features & CURL_VERSION_ASYNCHDNS))
		log_warning("libcurl resolves names synchronously: a slow DNS server will stall the event loop");
	for (i = 0; i < cfg->ntargets; i++)
		if (cfg->targets[i].kibana.insecure_skip_verify)
			log_warning("target '%s': insecure_skip_verify is on, Kibana's TLS certificate is not verified",
			    cfg->targets[i].name);

	/*
	 * Two priorities, scrapes first (http_server.h), and a look for ready
	 * scrapes after every callback of the lower one: a scrape waits for
	 * at most one slice of the daemon's own work, never for a whole turn.
	 */
	if ((ecfg = event_config_new()) != NULL &&
	    event_config_set_max_dispatch_interval(ecfg, NULL, 1,
	    HTTP_SERVER_PRIORITY + 1) == 0)
		base = event_base_new_with_config(ecfg);
	if (ecfg != NULL)
		event_config_free(ecfg);
	if (base == NULL || event_base_priority_init(base,
	    HTTP_SERVER_PRIORITIES) < 0) {
		log_error("cannot create the event loop");
		if (base != NULL)
			event_base_free(base);
		goto out_curl;
	}
	d.base = base;
	d.cfg = cfg;
	if (no_probes && cfg->nprobes > 0)
		log_info("--no-probes: the %zu configured probe(s) are not run; "
		    "no connector is executed", cfg->nprobes);
	if ((d.monitor = monitor_new(base, cfg, once, no_probes)) == NULL) {
		log_error("cannot initialise: out of memory");
		goto out_kcm;
	}
	if (!once) {
		const struct http_server_handlers handlers = {
			.arg = d.monitor,
			.metrics = monitor_write_metrics,
			.status = monitor_write_status,
			.metrics_gzip = monitor_write_metrics_gzip,
			.ready = monitor_ready,
		};

		raise_nofile();
		server = http_server_new(base, &handlers);
		if (server == NULL) {
			log_error("cannot initialise the HTTP server: out of memory");
			goto out_kcm;
		}
		http_server_set_limits(server, cfg->max_connections,
		    fd_reserve(cfg));
		if ((r = http_server_set_web_config(server, d.web)) < 0) {
			log_error("cannot start the basic auth worker: %s",
			    strerror(-r));
			goto out_kcm;
		}
		if (http_server_listen(server, cfg->listen, cfg->nlisten) < 0)
			goto out_kcm;
		d.server = server;
	}
	/* libevent remembers "ignore" and restores it when the events go. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	d.reload = evtimer_new(base, reload_fired, &d);
	sig_term = evsignal_new(base, SIGTERM, on_stop_signal, &d);
	sig_int = evsignal_new(base, SIGINT, on_stop_signal, &d);
	sig_hup = evsignal_new(base, SIGHUP, on_hup, &d);
	if (d.reload == NULL || sig_term == NULL || sig_int == NULL ||
	    sig_hup == NULL || evsignal_add(sig_term, NULL) < 0 ||
	    evsignal_add(sig_int, NULL) < 0 || evsignal_add(sig_hup, NULL) < 0) {
		log_error("cannot install signal handlers");
		goto out_kcm;
	}
	if (!once) {
		log_struct(LOG_INFO, MSGID_DAEMON_STARTED, NULL, 0,
		    "kibana-connector-monitor %s started", KCM_VERSION);
		notify = notify_new(base, &wd_usec);
		if (notify == NULL) {
			log_error("cannot set up the watchdog timer: out of memory");
			goto out_kcm;
		}
		if (wd_usec > 0)
			log_debug("watchdog enabled: WATCHDOG=1 every %llu ms",
			    (unsigned long long)(wd_usec / 2000));
		/* Configuration loaded and listener bound: ready to be scraped. */
		monitor_status(d.monitor, status, sizeof(status));
		notify_ready(status);
	}
	if ((r = monitor_start(d.monitor)) < 0) {
		log_error("cannot start polling: %s", strerror(-r));
		goto out_kcm;
	}
	/* Ready: a SIGHUP that came during start-up is handled now. */
	if (early_hup) {
		early_hup = 0;
		on_hup(SIGHUP, EV_SIGNAL, &d);
	}
	if (event_base_dispatch(base) < 0) {
		log_error("event loop failed");
		goto out_kcm;
	}

	if (once) {
		strbuf_init(&out);
		if ((text ? monitor_render_status_text(d.monitor, &out) :
		    monitor_render_all(d.monitor, &out)) < 0 ||
		    fwrite(strbuf_str(&out), 1, out.len, stdout) != out.len ||
		    fflush(stdout) != 0) {
			strbuf_free(&out);
			goto out_kcm;
		}
		strbuf_free(&out);
		ret = monitor_any_failed(d.monitor) ? 1 : 0;
	} else {
		ret = 0;
	}

out_kcm:
	if (d.reload != NULL)
		event_free(d.reload);
	if (sig_term != NULL)
		event_free(sig_term);
	if (sig_int != NULL)
		event_free(sig_int);
	if (sig_hup != NULL)
		event_free(sig_hup);
	notify_free(notify);
	http_server_free(server);
	monitor_free(d.monitor);
	event_base_free(base);
out_curl:
	curl_global_cleanup();
out:
	web_config_unref(d.web);
	free(cl.listen);
	config_free(d.cfg != NULL ? d.cfg : cfg);
	/* Flush the journal queue, but never wait long for journald. */
	log_fini(500 * UINT64_C(1000));
	return ret;
}
