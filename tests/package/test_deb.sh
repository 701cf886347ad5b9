#!/bin/sh
# Builds the .deb with CPack (prefix /usr), checks its dependencies, installs
# it with dpkg -i, runs the installed binary (--version, --check-config on
# the shipped example configuration), verifies the installed unit, purges it.
# ctest label `package`; needs root and dpkg-dev (dpkg-shlibdeps).
# usage: test_deb.sh SOURCE_DIR
set -eu
src=$1
pkg=kibana-connector-monitor
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for dpkg -i"; exit 77; }
command -v dpkg-shlibdeps >/dev/null 2>&1 || { echo "SKIP: dpkg-shlibdeps missing (apt-get install dpkg-dev)"; exit 77; }
if dpkg -s "$pkg" >/dev/null 2>&1; then
	echo "FAIL: $pkg is already installed on this machine; not touching it"
	exit 1
fi
work=$(mktemp -d /tmp/kcm-deb-XXXXXX)
cleanup() {
	dpkg --purge "$pkg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== build and package (prefix /usr)"
cmake -S "$src" -B "$work/build" -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$work/build" -j"$(nproc)" >/dev/null
(cd "$work/build" && cpack -G DEB >/dev/null)
deb=$(ls "$work"/build/${pkg}_*.deb)
echo "$deb"
deps=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $deps"
for d in libc6 libcurl4 libevent-2.1-7 libjansson4 libsystemd0 libyaml-0-2; do
	echo "$deps" | grep -q "$d" || { echo "FAIL: Depends lacks $d"; exit 1; }
done
dpkg-deb -c "$deb" | grep -q '\./usr/bin/kibana-connector-monitor$'
dpkg-deb -c "$deb" | grep -q '\./etc/kibana-connector-monitor/config.yml$'
dpkg-deb -c "$deb" | grep -q 'systemd/system/kibana-connector-monitor.service$'
dpkg-deb -c "$deb" | grep -q 'systemd/system/kibana-connector-monitor.socket$'
dpkg-deb -c "$deb" | grep -q '\./usr/lib/systemd/catalog/kibana-connector-monitor.catalog$'
dpkg-deb -I "$deb" conffiles | grep -qx /etc/kibana-connector-monitor/config.yml
# No test hook ships: the test-only build (short probe intervals) is never
# packaged, and nothing in the package names a KCM_TEST_* switch.
if dpkg-deb -c "$deb" | grep -q testbuild; then
	echo "FAIL: the .deb contains the test-only build"; exit 1
fi
mkdir "$work/unpacked"
dpkg-deb -x "$deb" "$work/unpacked"
if grep -rqa KCM_TEST "$work/unpacked"; then
	echo "FAIL: the .deb contains a KCM_TEST test switch:"
	grep -rla KCM_TEST "$work/unpacked"; exit 1
fi

echo "== install"
dpkg -i "$deb"
bin=/usr/bin/kibana-connector-monitor
"$bin" --version | tee "$work/version"
grep -q "^kibana-connector-monitor [0-9]" "$work/version"
# The shipped config names `api_key_file: kibana-api-key`, which resolves in
# $CREDENTIALS_DIRECTORY (LoadCredential=) under systemd.
mkdir -m 700 "$work/cred"
printf 'dGVzdDp0ZXN0\n' >"$work/cred/kibana-api-key"
chmod 600 "$work/cred/kibana-api-key"
CREDENTIALS_DIRECTORY=$work/cred "$bin" --check-config \
	--config /etc/kibana-connector-monitor/config.yml | tee "$work/check"
grep -qx "configuration OK" "$work/check"
unit=$(dpkg -L "$pkg" | grep 'system/kibana-connector-monitor.service$')
grep -q "^ExecStart=$bin --config /etc/kibana-connector-monitor/config.yml" "$unit"
if command -v systemd-analyze >/dev/null 2>&1; then
	out=$(cd "$work" && systemd-analyze verify --man=no "$unit" 2>&1)
	[ -z "$out" ] || { echo "FAIL: systemd-analyze verify $unit: $out"; exit 1; }
fi

echo "== remove"
dpkg --purge "$pkg"
[ ! -e "$bin" ] || { echo "FAIL: $bin still there after purge"; exit 1; }
echo "package OK"
