#!/usr/bin/env bash
# Scrape throughput of /metrics, as a ratio against nginx serving the very
# same bytes from a file in the same run (the reference: the fastest a
# static page of that size can be served here).  Not part of CI.
#
#   bash bench/bench_scrape.sh [CONNECTORS]      (default 5000)
#
# Needs wrk and nginx-light (installed when missing) and a build in build/.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
dur=${KCM_BENCH_SECONDS:-5}

for p in wrk nginx-light; do
	dpkg -s "$p" >/dev/null 2>&1 || apt-get install -y -q --no-install-recommends "$p" >/dev/null
done
bin=${KCM_BENCH_BINARY:-build/kibana-connector-monitor}
[ -x "$bin" ] || { cmake -S . -B build >/dev/null; cmake --build build -j"$(nproc)" >/dev/null; }

tmp=$(mktemp -d)
chmod 755 "$tmp"	# nginx workers run as nobody
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

# A Kibana with n connectors over 5 spaces and n/2 rules.
python3 - "$n" > "$tmp/data.json" <<'PY'
import json, sys
n = int(sys.argv[1]); spaces = ["default", "s1", "s2", "s3", "s4"]
data = {"spaces": [{"id": s, "name": s} for s in spaces],
        "connectors": {s: [] for s in spaces}, "preconfigured": [],
        "connector_types": [{"id": ".webhook", "name": "Webhook", "enabled": True,
                             "enabled_in_config": True, "enabled_in_license": True,
                             "minimum_license_required": "gold"}],
        "rules": {s: [] for s in spaces}}
for i in range(n):
    s = spaces[i % 5]
    data["connectors"][s].append({"id": "c-%06d" % i, "name": "Connector \"%d\"" % i,
        "connector_type_id": ".webhook", "config": {}, "is_preconfigured": False,
        "is_deprecated": False, "is_missing_secrets": i % 97 == 0,
        "referenced_by_count": i % 3})
for i in range(n // 2):
    s = spaces[i % 5]
    data["rules"][s].append({"id": "r-%06d" % i, "name": "Rule %d" % i,
        "actions": [{"group": "default", "id": "c-%06d" % (i * 2 + (i % 7 == 0)), "params": {}}]})
json.dump(data, sys.stdout)
PY

python3 tests/fakes/fake_kibana.py --bind 127.0.0.1 --port 0 --data "$tmp/data.json" > "$tmp/fake.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$tmp/fake.out" 2>/dev/null && break; sleep 0.1; done
kport=$(grep -o '[0-9]*$' "$tmp/fake.out")
cat > "$tmp/config.yml" <<YML
listen: "127.0.0.1:0"
targets:
  - name: bench
    kibana: { url: "http://127.0.0.1:$kport", timeout: 30s }
    inventory_interval: 1h
YML
"$bin" --config "$tmp/config.yml" 2> "$tmp/daemon.err" &
pids+=($!)
for _ in $(seq 100); do grep -q 'listen=' "$tmp/daemon.err" 2>/dev/null && break; sleep 0.1; done
addr=$(grep -o 'listen=[^ ]*' "$tmp/daemon.err" | head -1 | cut -d= -f2)
for _ in $(seq 600); do
	curl -s "http://$addr/metrics" | grep -q 'kibana_connector_monitor_up{target="bench",api="rules"} 1' && break
	sleep 0.1
done
mkdir -p "$tmp/www"
curl -s "http://$addr/metrics" > "$tmp/www/metrics"
size=$(stat -c %s "$tmp/www/metrics")
series=$(grep -vc '^#' "$tmp/www/metrics")

mkdir -p "$tmp/nginx/logs"
cat > "$tmp/nginx/nginx.conf" <<NG
worker_processes 1; pid $tmp/nginx/nginx.pid; error_log $tmp/nginx/logs/error.log;
events { worker_connections 64; }
http {
  access_log off; sendfile on; types { text/plain metrics; }
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:19480; root $tmp/www; default_type text/plain; }
}
NG
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"
pids+=($(cat "$tmp/nginx/nginx.pid"))

rps() {
	curl -fs -o /dev/null "$1" || { echo "bench: $1 does not answer" >&2; exit 1; }
	wrk -t1 -c4 -d"${dur}s" "$1" | awk '/Requests\/sec/ {print $2}'
}
ref=$(rps "http://127.0.0.1:19480/metrics")
got=$(rps "http://$addr/metrics")
rss=$(ps -o rss= -p "${pids[1]}")
printf 'connectors=%s series=%s body=%s bytes daemon_rss=%s KiB\n' "$n" "$series" "$size" "$rss"
printf 'nginx (static file, reference): %s req/s\n' "$ref"
printf 'kibana-connector-monitor /metrics: %s req/s\n' "$got"
python3 -c "print('ratio daemon/nginx: %.2f' % (float('$got') / float('$ref')))"
