#!/usr/bin/env bash
# One-command demo on a fresh Debian 12:
#   bash tests/demo.sh
# Installs missing build dependencies (apt-get), builds into build/, starts the
# fake Kibana with tests/fakes/sample_data.json, a fake Elasticsearch with a
# growing event log (tests/fakes/demo_es.py) and the daemon against them, and
# stops all of them on Ctrl-C.
#
# Environment: KCM_DEMO_KIBANA_PORT (default 15601), KCM_DEMO_LISTEN_PORT
# (default 9479), KCM_DEMO_BUILD_DIR (default build/), KCM_DEMO_NO_APT=1 to
# skip the dependency check.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
build=${KCM_DEMO_BUILD_DIR:-$repo/build}
kibana_port=${KCM_DEMO_KIBANA_PORT:-15601}
listen_port=${KCM_DEMO_LISTEN_PORT:-9479}
python=${PYTHON:-python3}

say() { printf '==> %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# --- build dependencies -------------------------------------------------------
deps=(libcurl4-openssl-dev libevent-dev libjansson-dev libsystemd-dev libyaml-dev libssl-dev libcrypt-dev zlib1g-dev
      libcmocka-dev pkg-config cmake gcc)
command -v python3 >/dev/null || deps+=(python3)     # for the fake Kibana
if [ "${KCM_DEMO_NO_APT:-0}" != 1 ]; then
    missing=()
    for p in "${deps[@]}"; do
        # "install ok installed" only; a removed-but-configured package is missing
        if ! dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing ${missing[*]}"
        sudo=()
        if [ "$(id -u)" -ne 0 ]; then
            command -v sudo >/dev/null || die "need root or sudo to install ${missing[*]}"
            sudo=(sudo)
        fi
        "${sudo[@]}" apt-get update
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}"
    fi
fi
command -v "$python" >/dev/null || die "python3 is needed for the fake Kibana"

# --- build --------------------------------------------------------------------
say "building into $build"
cmake -S "$repo" -B "$build" >/dev/null
cmake --build "$build" -j2 --target kibana-connector-monitor
binary="$build/kibana-connector-monitor"
[ -x "$binary" ] || die "no binary at $binary"

# --- processes and cleanup --------------------------------------------------------
workdir=$(mktemp -d "${TMPDIR:-/tmp}/kcm-demo.XXXXXX")
fake_pid=""
es_pid=""
daemon_pid=""
cleanup() {
    local rc=$?
    trap - INT TERM EXIT
    for pid in "$daemon_pid" "$fake_pid" "$es_pid"; do
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in "$daemon_pid" "$fake_pid" "$es_pid"; do
        if [ -n "$pid" ]; then
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$workdir"
    echo
    say "stopped"
    exit "$rc"
}
trap cleanup INT TERM EXIT

port_busy() {
    "$python" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)     # busy
sys.exit(1)
EOF
}

# wait_for FILE REGEX SECONDS PID: waits until FILE has a line matching REGEX
wait_for() {
    local file=$1 re=$2 secs=$3 pid=$4
    for _ in $(seq $((secs * 10))); do
        grep -Eq "$re" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# --- fake Kibana ----------------------------------------------------------------
api_key="ZGVtby1pZDpkZW1vLWtleQ=="      # base64("demo-id:demo-key"), demo only
if port_busy "$kibana_port"; then
    say "port $kibana_port is busy, the fake Kibana takes a free port"
    kibana_port=0
fi
"$python" "$repo/tests/fakes/fake_kibana.py" --bind 127.0.0.1 --port "$kibana_port" \
    --data "$repo/tests/fakes/sample_data.json" --version 8.17 --api-key "$api_key" \
    >"$workdir/fake.out" 2>"$workdir/fake.err" &
fake_pid=$!
wait_for "$workdir/fake.out" '^listening on ' 10 "$fake_pid" ||
    { cat "$workdir/fake.err" >&2; die "the fake Kibana did not start"; }
kibana_addr=$(sed -n 's/^listening on //p' "$workdir/fake.out")
say "fake Kibana on http://$kibana_addr (sample data, Kibana 8.17)"

# --- fake Elasticsearch with a growing event log ------------------------------------
"$python" "$repo/tests/fakes/demo_es.py" --bind 127.0.0.1 --port 0 \
    --data "$repo/tests/fakes/sample_data.json" --api-key "$api_key" \
    >"$workdir/es.out" 2>"$workdir/es.err" &
es_pid=$!
wait_for "$workdir/es.out" '^listening on ' 10 "$es_pid" ||
    { cat "$workdir/es.err" >&2; die "the fake Elasticsearch did not start"; }
es_addr=$(sed -n 's/^listening on //p' "$workdir/es.out")
say "fake Elasticsearch on http://$es_addr (an event log with failures, growing every 10 s)"

# --- daemon ---------------------------------------------------------------------
port_busy "$listen_port" && die "127.0.0.1:$listen_port is busy (set KCM_DEMO_LISTEN_PORT)"
(umask 077 && printf '%s\n' "$api_key" >"$workdir/api-key")
chmod 600 "$workdir/api-key"
cat >"$workdir/config.yml" <<EOF
listen: "127.0.0.1:$listen_port"
log_level: info
targets:
  - name: demo
    kibana:
      url: "http://$kibana_addr"
      api_key_file: $workdir/api-key
      timeout: 5s
    elasticsearch:
      url: "http://$es_addr"
      api_key_file: $workdir/api-key
    event_log:
      interval: 10s
      settle_delay: 5s
    spaces: all
    inventory_interval: 10s
probes:
  # A preconfigured server-log connector: a safe probe target (it only
  # writes a line to Kibana's log). The first run comes within a minute.
  - connector_id: my-server-log
    interval: 1m
    params:
      message: "kibana-connector-monitor synthetic check"
EOF
"$binary" --config "$workdir/config.yml" --check-config
"$binary" --config "$workdir/config.yml" 2> >(tee "$workdir/daemon.err" >&2) &
daemon_pid=$!
wait_for "$workdir/daemon.err" 'listen=' 10 "$daemon_pid" || die "the daemon did not start"

cat <<EOF

Status page (open it in a browser): http://127.0.0.1:$listen_port/
    curl -s http://127.0.0.1:$listen_port/status.json

Scrape http://127.0.0.1:$listen_port/metrics
    curl -s http://127.0.0.1:$listen_port/metrics | grep '^kibana_'
    curl -s http://127.0.0.1:$listen_port/metrics | grep 'kibana_connector_executions_total.*failure'

Fake Kibana: curl -s -H 'Authorization: ApiKey $api_key' http://$kibana_addr/api/actions/connectors
Ctrl-C stops all three.

EOF
wait "$daemon_pid" || true
daemon_pid=""
say "the daemon exited"
