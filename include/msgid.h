/*
 * msgid.h: journal MESSAGE_IDs, one per kind of event.  These are a public
 * contract, like metric names: never change or reuse one.  Every id here has
 * an entry in contrib/systemd/kibana-connector-monitor.catalog.
 */
#ifndef KCM_MSGID_H
#define KCM_MSGID_H

#define MSGID_DAEMON_STARTED		"17df6d36269e41218c30105d9317cb28"
#define MSGID_DAEMON_STOPPING		"6a1b24c58b9b4a7ea7f43f4844b7bb94"
#define MSGID_CONFIG_LOADED		"775ec514f65c4baf8e1b091f3c1f5de4"
#define MSGID_CONFIG_REJECTED		"4f4078949acf4055b144eb8f70106439"
#define MSGID_TARGET_UNREACHABLE	"3f493180b22f4627b8d426e45f607a6f"
#define MSGID_TARGET_RECOVERED		"e07b6e68ba2640e28af8fee3157b898c"
#define MSGID_RULE_CONNECTOR_MISSING	"4d6100a968a84b7f8b27d4051e3d0148"
#define MSGID_CONNECTOR_MISSING_SECRETS	"e357dc56373b44ce9cc9b8c26cf81771"
/* issue 3: event log */
#define MSGID_CONNECTOR_FAILING		"67aa7ea279764ec18db38999167ad596"
#define MSGID_EVENT_LOG_NOT_VISIBLE	"9732a0ff28cd4fda825c92dc8f5b6077"
#define MSGID_EVENT_LOG_VISIBLE		"432319a1d6334c419683af57a61cd3c9"
#define MSGID_CONNECTOR_RECOVERED	"a1d1c31f820f4eb1abfe9c95815b51cc"
/* issue 4: synthetic test executions */
#define MSGID_PROBE_STATE_CHANGED	"0146b62465c8449cbe696cc3af219989"

#endif /* KCM_MSGID_H */
