#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine:
#   bash tests/run.sh
# Installs what the tests need (apt), builds with -Werror, runs every ctest
# test (unit, integration, fuzz corpus replay), then the same suite again in a
# build with AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gcc cmake make pkg-config python3 openssl curl
	libcurl4-openssl-dev libevent-dev libjansson-dev libsystemd-dev
	libyaml-dev libcmocka-dev zlib1g-dev
	libssl-dev libcrypt-dev	# TLS (OpenSSL 3) and bcrypt (libxcrypt) of the web configuration; the CSP hash (test_status)
	prometheus	# promtool (scrapes, alert rules) and the server for test_dashboard
	prometheus-alertmanager	# test_alerting: the rules end to end
	systemd systemd-container dpkg-dev util-linux	# nspawn, .deb, unshare/nsenter
	file lintian mandoc				# the .deb's checks
	valgrind
	chromium fonts-dejavu-core	# test_status_page: the page in a real browser
	)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "== installing: ${missing[*]}"
	$sudo apt-get -o DPkg::Lock::Timeout=300 update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=300 \
		install -y -q --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)

echo "== build (-Werror)"
cmake -S . -B build -DKCM_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
echo "== tests"
# Everything, including the systemd checks and the .deb (label package),
# then the end-to-end run under a real systemd in systemd-nspawn (label
# nspawn); package and nspawn print SKIP and pass when not root.
(cd build && ctest --output-on-failure -j"$jobs" -LE nspawn)
echo "== systemd-nspawn end to end (label nspawn)"
(cd build && ctest --output-on-failure -L nspawn)

echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -DKCM_WERROR=ON -DKCM_SANITIZE=address,undefined \
	-DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-asan -j"$jobs"
echo "== tests under sanitizers"
(cd build-asan && ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --output-on-failure -j"$jobs" -LE 'nspawn|package')
