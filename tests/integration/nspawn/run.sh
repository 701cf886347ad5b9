#!/bin/bash
# End to end under a real systemd (PID 1) booted with systemd-nspawn on a
# volatile view of this machine's / (tmpfs root, host /usr read-only, nothing
# written to disk) with a private network (test-tooling.md section 3):
#   * the shipped unit (plus a drop-in: ExecStart -> the build tree binary,
#     WatchdogSec=3s, RestartSec=1s), started against the fake Kibana that
#     runs INSIDE the container's network namespace and requires the API key
#     the unit hands over with LoadCredential=;
#   * /metrics scraped through nsenter over TLS with basic auth (the web
#     configuration's key handed over with LoadCredential=, as README says);
#     `systemctl reload` -> READY again;
#   * journalctl -u shows entries with MESSAGE_ID fields (and -x the catalog);
#   * SIGSTOP -> watchdog timeout -> killed, Result=watchdog, restarted.
# ctest label `nspawn`.  Exits 77 (skip) only if no container can boot here.
# usage: run.sh SOURCE_DIR BINARY
set -euo pipefail
# Say which command failed when errexit ends the script.
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND exited $?" >&2' ERR
src=$(cd "$1" && pwd)
bin=$(readlink -f "$2")
unit=kibana-connector-monitor.service
KEY=bnNwYXduLWUyZTpTM2NyM3QtZm9yLWNyZWRlbnRpYWw=
WEBPW=nspawn-scrape-Pw-5d1c
T0=$(date +%s)

skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "systemd-nspawn needs root"
command -v systemd-nspawn >/dev/null || skip "systemd-nspawn missing (apt-get install systemd-container)"
command -v nsenter >/dev/null || skip "nsenter missing"

work=$(mktemp -d /tmp/kcm-nspawn-XXXXXX)
NS=""
FAKE=""
L=""
cleanup() {
	set +e
	[ -n "$FAKE" ] && kill "$FAKE" 2>/dev/null
	if [ -n "$L" ] && [ -n "$NS" ] && kill -0 "$NS" 2>/dev/null; then
		nsenter -t "$L" -a systemctl poweroff >/dev/null 2>&1
		for _ in $(seq 100); do kill -0 "$NS" 2>/dev/null || break; sleep 0.1; done
	fi
	[ -n "$NS" ] && kill "$NS" 2>/dev/null && wait "$NS" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ] || [ "${failed:-0}" = 1 ]; then
		echo "kept $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
failed=1
fail() { echo "FAIL: $*"; exit 1; }
# in(): run a command in every namespace of the container
cin() { nsenter -t "$L" -a "$@"; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s
wait_for() {
	local t=$1 what=$2; shift 2
	local end=$(( $(date +%s%N) + t * 1000000000 ))
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s%N)" -lt "$end" ] || fail "timed out after ${t}s waiting for $what"
		sleep 0.1
	done
}

# --- the files the container sees --------------------------------------------
mkdir -p "$work/etc-kcm" "$work/dropin" "$work/opt"
cp "$bin" "$work/opt/kibana-connector-monitor"
# The web configuration: TLS whose key comes in as a credential (the
# service's dynamic user cannot read a root-only file), basic auth.
ossl() { openssl "$@" >/dev/null 2>&1; }
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$work/ca.key" -out "$work/ca.crt" -days 2 -subj /CN=kcm-nspawn-ca \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$work/etc-kcm/web.key" -out "$work/web.csr" -subj /CN=127.0.0.1
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/san.ext"
ossl x509 -req -in "$work/web.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
	-CAcreateserial -days 2 -out "$work/etc-kcm/web.crt" -extfile "$work/san.ext"
chmod 600 "$work/etc-kcm/web.key"
chmod 644 "$work/etc-kcm/web.crt"
hash=$(python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)))' "$WEBPW")
cat >"$work/etc-kcm/web.yml" <<WEB
tls_server_config:
  cert_file: web.crt
  key_file: /run/credentials/$unit/web.key
basic_auth_users:
  prometheus: "$hash"
WEB
chmod 644 "$work/etc-kcm/web.yml"
cat >"$work/etc-kcm/config.yml" <<CFG
listen: "127.0.0.1:9479"
log_level: info
web_config_file: /etc/kibana-connector-monitor/web.yml
targets:
  - name: nspawn
    kibana:
      url: http://127.0.0.1:5601
      api_key_file: kibana-api-key
      timeout: 5s
    inventory_interval: 1s
CFG
chmod 644 "$work/etc-kcm/config.yml"
printf '%s\n' "$KEY" >"$work/etc-kcm/kibana-api-key"
chmod 600 "$work/etc-kcm/kibana-api-key"
# journalctl reads catalogs only below /usr: overlay the directory with the
# host's files plus ours.
mkdir -p "$work/catalog"
cp /usr/lib/systemd/catalog/* "$work/catalog/" 2>/dev/null || true
cp "$src/contrib/systemd/kibana-connector-monitor.catalog" "$work/catalog/"
cat >"$work/dropin/test.conf" <<'DROPIN'
[Service]
ExecStart=
ExecStart=/opt/kcm/kibana-connector-monitor --config /etc/kibana-connector-monitor/config.yml
WatchdogSec=3s
RestartSec=1s
LoadCredential=web.key:/etc/kibana-connector-monitor/web.key
DROPIN

# --- boot ----------------------------------------------------------------------
timeout 170 systemd-nspawn --quiet --register=no --keep-unit -D / --volatile=yes \
	--private-network --pipe \
	--bind-ro="$src/contrib/systemd/$unit:/etc/systemd/system/$unit" \
	--bind-ro="$work/dropin:/etc/systemd/system/$unit.d" \
	--bind-ro="$work/etc-kcm:/etc/kibana-connector-monitor" \
	--bind-ro="$work/opt:/opt/kcm" \
	--bind-ro="$work/catalog:/usr/lib/systemd/catalog" \
	-b systemd.firstboot=off </dev/null >"$work/nspawn.out" 2>&1 &
NS=$!
for _ in $(seq 200); do
	# ps exits 1 while the child does not exist yet: not an error here.
	NSP=$(ps -o pid= --ppid "$NS" | tr -d ' ' | head -1) || true
	[ -n "$NSP" ] || { sleep 0.05; continue; }
	L=$(ps -o pid=,comm= --ppid "$NSP" 2>/dev/null | awk '$2=="systemd"{print $1}') || true
	[ -n "$L" ] && break
	kill -0 "$NS" 2>/dev/null || break
	sleep 0.05
done
if [ -z "$L" ]; then
	cat "$work/nspawn.out"
	failed=0
	skip "systemd-nspawn could not boot a container here"
fi
wait_for 30 "the container's manager socket" nsenter -t "$L" -a test -S /run/systemd/private
echo "container PID 1 = host pid $L (booted in $(( $(date +%s) - T0 ))s)"
# Gotcha: units after network-online.target would wait for wait-online.
cin systemctl mask --runtime --quiet systemd-networkd-wait-online.service || true

# --- fake Kibana inside the container's network namespace ---------------------
nsenter -t "$L" -n python3 "$src/tests/fakes/fake_kibana.py" --bind 127.0.0.1 --port 5601 \
	--api-key "$KEY" >"$work/fake.out" 2>&1 &
FAKE=$!
wait_for 15 "the fake Kibana" grep -q "listening on" "$work/fake.out"

# --- start, scrape --------------------------------------------------------------
cin journalctl --update-catalog || true
timeout 60 nsenter -t "$L" -a systemctl start "$unit" || {
	cin systemctl status --no-pager "$unit" || true
	cin journalctl --no-pager -u "$unit" || true
	fail "systemctl start"
}
state=$(cin systemctl show -p ActiveState,SubState,Type,NotifyAccess,StatusText "$unit")
echo "$state"
echo "$state" | grep -qx "ActiveState=active" || fail "unit not active"
scrape() {
	nsenter -t "$L" -n curl -fsS --max-time 5 --cacert "$work/ca.crt" \
		-u "prometheus:$WEBPW" https://127.0.0.1:9479/metrics
}
up_ok() { scrape | grep -q '^kibana_connector_monitor_up{target="nspawn",api="connectors"} 1$'; }
# up == 1 means Kibana accepted the API key read through LoadCredential=.
wait_for 20 "kibana_connector_monitor_up == 1 (API key from LoadCredential accepted)" up_ok
scrape >"$work/metrics.txt"
code=$(nsenter -t "$L" -n curl -sS -o /dev/null -w '%{http_code}' --max-time 5 \
	--cacert "$work/ca.crt" https://127.0.0.1:9479/metrics)
[ "$code" = 401 ] || fail "a scrape without credentials got $code, not 401"
grep -q '^kibana_connector_info{' "$work/metrics.txt" || fail "no connector series"
grep -q '^kibana_connector_monitor_config_last_reload_successful 1$' "$work/metrics.txt" || fail "no reload metric"
grep -c "Authorization: ApiKey" "$work/fake.out" >/dev/null || true
status_ok() { cin systemctl show -p StatusText --value "$unit" | grep -q "last successful poll"; }
wait_for 10 "STATUS= after a poll cycle" status_ok
echo "StatusText: $(cin systemctl show -p StatusText --value "$unit")"
cin sh -c 'ls -l $(systemctl show -p MainPID --value kibana-connector-monitor.service | sed "s#^#/proc/#;s#\$#/root/run/credentials/kibana-connector-monitor.service#")' || true
pid1=$(cin systemctl show -p MainPID --value "$unit")
uid=$(cin stat -c %u "/proc/$pid1")
[ "$uid" -ne 0 ] || fail "DynamicUser: runs as root"
echo "main pid $pid1 runs as uid $uid"

# --- reload -----------------------------------------------------------------------
n_loaded() { cin journalctl --no-pager -u "$unit" -o json MESSAGE_ID=775ec514f65c4baf8e1b091f3c1f5de4 | wc -l; }
before=$(n_loaded)
# Informational: does systemd refresh $CREDENTIALS_DIRECTORY on reload?  The
# key file loses its trailing newline (45 -> 44 bytes, same key).
printf '%s' "$KEY" >"$work/etc-kcm/kibana-api-key"
cred=/run/credentials/$unit/kibana-api-key
cin systemctl reload "$unit"
reloaded() { [ "$(n_loaded)" -gt "$before" ] && cin systemctl show -p ActiveState --value "$unit" | grep -qx active; }
wait_for 15 "READY after systemctl reload" reloaded
[ "$(cin systemctl show -p MainPID --value "$unit")" = "$pid1" ] || fail "reload restarted the process"
size=$(cin stat -c %s "/proc/$pid1/root$cred" 2>/dev/null || echo "?")
echo "credential after reload: $size bytes ($( [ "$size" = 44 ] && echo refreshed || echo "not refreshed"))"
wait_for 10 "metrics after reload" up_ok

# --- the journal -----------------------------------------------------------------
cin journalctl --no-pager -u "$unit" -o json >"$work/journal.json"
python3 - "$work/journal.json" <<'PY'
import json, sys
ids = {"17df6d36269e41218c30105d9317cb28": "started", "775ec514f65c4baf8e1b091f3c1f5de4": "loaded",
       "4d6100a968a84b7f8b27d4051e3d0148": "rule references a missing connector",
       "e357dc56373b44ce9cc9b8c26cf81771": "connector missing secrets"}
seen = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("SYSLOG_IDENTIFIER") != "kibana-connector-monitor" or "MESSAGE_ID" not in e:
        continue
    assert e.get("_TRANSPORT") == "journal", e
    seen.setdefault(e["MESSAGE_ID"], e)
missing = [v for k, v in ids.items() if k not in seen]
if missing:
    sys.exit("FAIL: journal lacks entries: %s (have %s)" % (missing, sorted(seen)))
e = seen["e357dc56373b44ce9cc9b8c26cf81771"]
assert e["TARGET"] == "nspawn" and e["SPACE"] and e["CONNECTOR_ID"] and e["PRIORITY"] == "4", e
print("journal OK: %d kinds with MESSAGE_ID, e.g. %s" % (len(seen), {k: e[k] for k in ("MESSAGE_ID", "TARGET", "SPACE", "CONNECTOR_ID", "PRIORITY")}))
PY
cin journalctl --no-pager -x -u "$unit" MESSAGE_ID=17df6d36269e41218c30105d9317cb28 >"$work/journal-x.txt"
grep -q "Defined-By: kibana-connector-monitor" "$work/journal-x.txt" || fail "journalctl -x shows no catalog text"

# --- watchdog ----------------------------------------------------------------------
cin kill -STOP "$pid1"
restarted() {
	local p; p=$(cin systemctl show -p MainPID --value "$unit")
	[ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$pid1" ] &&
		cin systemctl show -p ActiveState --value "$unit" | grep -qx active
}
wait_for 30 "a watchdog restart" restarted
cin journalctl --no-pager -u "$unit" >"$work/journal.txt"
grep -q "Watchdog timeout" "$work/journal.txt" || fail "no watchdog timeout in the journal"
grep -q "Failed with result 'watchdog'" "$work/journal.txt" || fail "Result was not watchdog"
echo "NRestarts=$(cin systemctl show -p NRestarts --value "$unit")"
wait_for 20 "metrics after the restart" up_ok

failed=0
echo "nspawn end-to-end OK in $(( $(date +%s) - T0 ))s"
