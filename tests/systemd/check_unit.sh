#!/bin/sh
# systemd-analyze on the shipped units: `verify` must print NOTHING (it exits
# 0 on typos and unknown keys, so any output fails), and the offline security
# exposure must be <= 1.5 (--threshold is exposure x 10).
# usage: check_unit.sh SOURCE_DIR BINARY
set -u
src=$1
bin=$2
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: no systemd-analyze"; exit 77; }
tmp=$(mktemp -d /tmp/kcm-unit-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
rc=0
# verify needs ExecStart to exist: point it at the build tree binary.
sed "s#^ExecStart=/usr/bin/kibana-connector-monitor#ExecStart=$bin#" \
	"$src/contrib/systemd/kibana-connector-monitor.service" \
	>"$tmp/kibana-connector-monitor.service"
cp "$src/contrib/systemd/kibana-connector-monitor.socket" "$tmp/"
grep -q "^ExecStart=$bin " "$tmp/kibana-connector-monitor.service" || {
	echo "FAIL: ExecStart line not found"; exit 1; }
cd "$tmp"
for u in kibana-connector-monitor.service kibana-connector-monitor.socket; do
	out=$(systemd-analyze verify --man=no "$tmp/$u" 2>&1)
	if [ -n "$out" ]; then
		echo "FAIL: systemd-analyze verify $u printed:"
		echo "$out"
		rc=1
	else
		echo "verify $u: silent"
	fi
done
out=$(systemd-analyze security --offline=yes --threshold=15 "$tmp/kibana-connector-monitor.service" 2>&1)
src_rc=$?
echo "$out" | tail -1
if [ $src_rc -ne 0 ]; then
	echo "FAIL: exposure above 1.5"
	echo "$out" | grep '✗'
	rc=1
fi
# required settings of the issue
for k in Type=notify NotifyAccess=main ExecReload= WatchdogSec= Restart=on-failure \
	DynamicUser=yes ConfigurationDirectory= StateDirectory= LoadCredential=; do
	grep -q "^$k" "$tmp/kibana-connector-monitor.service" || { echo "FAIL: no $k"; rc=1; }
done
exit $rc
