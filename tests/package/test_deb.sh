#!/bin/sh
# Builds the .deb with CPack (prefix /usr), checks its dependencies and
# contents, runs lintian (no errors allowed) and `mandoc -T lint` on the man
# page, installs it with dpkg -i, runs the installed binary (--version,
# --help naming /etc/..., --check-config on the shipped example
# configuration), verifies the installed unit, reinstalls it (the upgrade
# path of postinst), purges it and checks that the purge removed the state;
# then does it all again under a real systemd in systemd-nspawn (tmpfs
# overlay of /): not started on install, restarted on upgrade, stopped on
# remove, state and enable symlink gone after purge.
# ctest label `package`; needs root, dpkg-dev (dpkg-shlibdeps), lintian and
# mandoc.
# usage: test_deb.sh SOURCE_DIR   (KCM_BUILD_JOBS=N: parallel build jobs, default nproc)
set -eu
src=$1
pkg=kibana-connector-monitor
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for dpkg -i"; exit 77; }
command -v dpkg-shlibdeps >/dev/null 2>&1 || { echo "SKIP: dpkg-shlibdeps missing (apt-get install dpkg-dev)"; exit 77; }
command -v lintian >/dev/null 2>&1 || { echo "SKIP: lintian missing (apt-get install lintian)"; exit 77; }
command -v mandoc >/dev/null 2>&1 || { echo "SKIP: mandoc missing (apt-get install mandoc)"; exit 77; }
state=/var/lib/kibana-connector-monitor
pstate=/var/lib/private/kibana-connector-monitor
for d in "$state" "$pstate"; do
	if [ -e "$d" ] || [ -L "$d" ]; then
		echo "FAIL: $d exists (left by an earlier install?); not touching it"
		exit 1
	fi
done
if dpkg -s "$pkg" >/dev/null 2>&1; then
	echo "FAIL: $pkg is already installed on this machine; not touching it"
	exit 1
fi
work=$(mktemp -d /tmp/kcm-deb-XXXXXX)
made_private=
ns=
L=
cleanup() {
	if [ -n "$L" ]; then
		nsenter -t "$L" -a systemctl poweroff >/dev/null 2>&1 || true
		i=0
		while [ "$i" -lt 100 ] && kill -0 "$ns" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
	fi
	if [ -n "$ns" ]; then kill "$ns" 2>/dev/null || true; wait "$ns" 2>/dev/null || true; fi
	mountpoint -q "$work/ns/root" 2>/dev/null && umount "$work/ns/root"
	mountpoint -q "$work/ns/t" 2>/dev/null && umount "$work/ns/t"
	dpkg --purge "$pkg" >/dev/null 2>&1 || true
	rm -rf "$pstate"
	rm -f "$state"
	[ -z "$made_private" ] || rmdir /var/lib/private 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== build and package (prefix /usr)"
cmake -S "$src" -B "$work/build" -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$work/build" -j"${KCM_BUILD_JOBS:-$(nproc)}" >/dev/null
(cd "$work/build" && cpack -G DEB >/dev/null)
deb=$(ls "$work"/build/${pkg}_*.deb)
echo "$deb"
dpkg-deb -c "$deb" >"$work/contents"
deps=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $deps"
for d in libc6 libcurl4 libevent-2.1-7 libjansson4 libsystemd0 libyaml-0-2; do
	echo "$deps" | grep -q "$d" || { echo "FAIL: Depends lacks $d"; exit 1; }
done
grep -q '\./usr/bin/kibana-connector-monitor$' "$work/contents"
grep -q '\./etc/kibana-connector-monitor/config.yml$' "$work/contents"
grep -q 'systemd/system/kibana-connector-monitor.service$' "$work/contents"
grep -q 'systemd/system/kibana-connector-monitor.socket$' "$work/contents"
grep -q '\./usr/lib/systemd/catalog/kibana-connector-monitor.catalog$' "$work/contents"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/kibana-connector-monitor/config.yml
for f in postinst prerm postrm; do
	dpkg-deb -I "$deb" "$f" | head -1 | grep -qx '#!/bin/sh' || { echo "FAIL: no $f"; exit 1; }
done
dpkg-deb -f "$deb" Maintainer | grep -vq 'example\.' || { echo "FAIL: placeholder maintainer"; exit 1; }
grep -q '\./usr/share/man/man8/kibana-connector-monitor\.8\.gz$' "$work/contents"
grep -q '\./usr/share/doc/kibana-connector-monitor/copyright$' "$work/contents"
grep -q '\./usr/share/doc/kibana-connector-monitor/changelog\.Debian\.gz$' "$work/contents"
# No test hook ships: the test-only build (short probe intervals) is never
# packaged, and nothing in the package names a KCM_TEST_* switch.
if grep -q testbuild "$work/contents"; then
	echo "FAIL: the .deb contains the test-only build"; exit 1
fi
mkdir "$work/x"
dpkg-deb -x "$deb" "$work/x"
if grep -rqa KCM_TEST "$work/x"; then
	echo "FAIL: the .deb contains a KCM_TEST test switch:"
	grep -rla KCM_TEST "$work/x"; exit 1
fi
file "$work/x/usr/bin/$pkg" | grep -q ', stripped' || { echo "FAIL: the binary is not stripped"; exit 1; }
ls "$work"/build/${pkg}-dbgsym_*.ddeb

echo "== mandoc -T lint"
zcat "$work/x/usr/share/man/man8/$pkg.8.gz" >"$work/$pkg.8"
grep -q '^\.It Pa /etc/kibana-connector-monitor/config\.yml$' "$work/$pkg.8"
# -W warning: fail on any warning or error; the style notes about this
# machine's outdated mandoc.db (for Xr links) are not about the page.
mandoc -T lint -W warning "$work/$pkg.8"

echo "== lintian"
# No errors.  Warnings kept, and why:
#  initial-upload-closes-no-bugs  the package is built by the project, not
#      uploaded to Debian, so there is no ITP bug to close.
# Informational tags (lintian -I) not acted on: hardening-no-bindnow and
# hardening-no-fortify-functions (the CMake build does not add Debian's
# dpkg-buildflags), binary-has-unneeded-section .comment (CPack strips
# with --strip-unneeded), package-supports-alternative-init-but-no-init.d-script
# (systemd only, by design).
rc=0
lintian --fail-on error --suppress-tags initial-upload-closes-no-bugs "$deb" \
	>"$work/lintian" 2>&1 || rc=$?
grep -v 'running with root privileges' "$work/lintian" || true
[ "$rc" -eq 0 ] || { echo "FAIL: lintian exit $rc (errors)"; exit 1; }
if grep -q '^[EW]: ' "$work/lintian"; then
	echo "FAIL: lintian warnings not listed in this script"; exit 1
fi

echo "== install"
dpkg -i "$deb"
bin=/usr/bin/kibana-connector-monitor
"$bin" --version | tee "$work/version"
grep -q "^kibana-connector-monitor [0-9]" "$work/version"
"$bin" --help | grep -qx '  /etc/kibana-connector-monitor/config.yml' || {
	echo "FAIL: --help does not name /etc/kibana-connector-monitor/config.yml"; exit 1; }
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

echo "== reinstall (postinst configure with the old version in \$2)"
dpkg -i "$deb"

echo "== purge"
# What systemd's StateDirectory= with DynamicUser=yes leaves behind.
[ -d /var/lib/private ] || { mkdir -m 700 /var/lib/private; made_private=yes; }
mkdir -m 700 "$pstate"
echo '{}' >"$pstate/eventlog-window-test.json"
ln -s private/kibana-connector-monitor "$state"
dpkg --purge "$pkg"
[ ! -e "$bin" ] || { echo "FAIL: $bin still there after purge"; exit 1; }
for d in "$state" "$pstate"; do
	if [ -e "$d" ] || [ -L "$d" ]; then echo "FAIL: $d still there after purge"; exit 1; fi
done
[ ! -e /etc/kibana-connector-monitor ] || { echo "FAIL: /etc/kibana-connector-monitor still there after purge"; exit 1; }

# The maintainer scripts under a real systemd: boot this machine's / in
# systemd-nspawn on an overlay whose upper layer is a tmpfs (nothing is
# written to disk), and install, start, upgrade, remove and purge there.
echo "== under systemd (systemd-nspawn on a tmpfs overlay of /)"
lifecycle() {
	if ! command -v systemd-nspawn >/dev/null 2>&1 || ! command -v nsenter >/dev/null 2>&1; then
		echo "note: no systemd-nspawn/nsenter: not tested under systemd"
		return 0
	fi
	mkdir -p "$work/ns/t" "$work/ns/root"
	mount -t tmpfs tmpfs "$work/ns/t"
	mkdir "$work/ns/t/up" "$work/ns/t/wk"
	mount -t overlay overlay \
		-o "lowerdir=/,upperdir=$work/ns/t/up,workdir=$work/ns/t/wk" "$work/ns/root" ||
		{ echo "note: no overlay mount of /: not tested under systemd"; return 0; }
	cp "$deb" "$work/ns/root/root/kcm-test.deb"
	# Docker's policy-rc.d (exit 101) makes deb-systemd-invoke do nothing:
	# remove it in the container only.
	rm -f "$work/ns/root/usr/sbin/policy-rc.d"
	timeout 300 systemd-nspawn --quiet --register=no --keep-unit -D "$work/ns/root" \
		--private-network --pipe -b systemd.firstboot=off </dev/null >"$work/ns/out" 2>&1 &
	ns=$!
	i=0
	while [ "$i" -lt 300 ] && [ -z "$L" ] && kill -0 "$ns" 2>/dev/null; do
		nsp=$(ps -o pid= --ppid "$ns" 2>/dev/null | tr -d ' ' | head -1) || true
		[ -z "$nsp" ] || L=$(ps -o pid=,comm= --ppid "$nsp" 2>/dev/null |
			awk '$2 == "systemd" { print $1 }') || true
		sleep 0.1
		i=$((i + 1))
	done
	[ -n "$L" ] || { cat "$work/ns/out"; echo "note: no container booted: not tested under systemd"; return 0; }
	i=0
	until nsenter -t "$L" -a test -S /run/systemd/private 2>/dev/null; do
		[ "$i" -lt 300 ] || { echo "FAIL: the container's systemd did not come up"; exit 1; }
		sleep 0.1
		i=$((i + 1))
	done
	cin() { nsenter -t "$L" -a "$@"; }
	svc=$pkg.service
	cin systemctl mask --runtime --quiet systemd-networkd-wait-online.service || true
	cin dpkg -i /root/kcm-test.deb >"$work/ns/dpkg" 2>&1 || { cat "$work/ns/dpkg"; echo "FAIL: dpkg -i in the container"; exit 1; }
	for u in "$svc" "$pkg.socket"; do
		[ "$(cin systemctl is-enabled "$u")" = disabled ] || { echo "FAIL: $u enabled by the install"; exit 1; }
		[ "$(cin systemctl is-active "$u")" = inactive ] || { echo "FAIL: $u started by the install"; exit 1; }
	done
	echo "install: not enabled, not started"
	cin sh -c 'umask 077; printf "dGVzdDp0ZXN0\n" >/etc/kibana-connector-monitor/kibana-api-key'
	timeout 60 nsenter -t "$L" -a systemctl enable --quiet --now "$svc"
	pid1=$(cin systemctl show -P MainPID "$svc")
	[ "$pid1" -gt 0 ] || { echo "FAIL: $svc did not start"; exit 1; }
	cin dpkg -i /root/kcm-test.deb >"$work/ns/dpkg" 2>&1 || { cat "$work/ns/dpkg"; echo "FAIL: reinstall in the container"; exit 1; }
	pid2=$(cin systemctl show -P MainPID "$svc")
	if [ "$pid2" -eq 0 ] || [ "$pid2" = "$pid1" ]; then
		echo "FAIL: upgrade did not restart $svc (MainPID $pid1 -> $pid2)"; exit 1
	fi
	[ "$(cin systemctl is-active "$pkg.socket")" = inactive ] || { echo "FAIL: upgrade started $pkg.socket"; exit 1; }
	echo "upgrade: running service restarted (MainPID $pid1 -> $pid2), stopped socket left alone"
	cin test -d /var/lib/private/kibana-connector-monitor || { echo "FAIL: no state directory"; exit 1; }
	cin dpkg -r "$pkg" >"$work/ns/dpkg" 2>&1 || { cat "$work/ns/dpkg"; echo "FAIL: dpkg -r in the container"; exit 1; }
	[ "$(cin systemctl show -P ActiveState "$svc")" = inactive ] || { echo "FAIL: $svc still running after remove"; exit 1; }
	echo "remove: service stopped"
	cin dpkg --purge "$pkg" >"$work/ns/dpkg" 2>&1 || { cat "$work/ns/dpkg"; echo "FAIL: purge in the container"; exit 1; }
	for f in /var/lib/private/kibana-connector-monitor /var/lib/kibana-connector-monitor \
		"/etc/systemd/system/multi-user.target.wants/$svc"; do
		if cin test -e "$f" || cin test -L "$f"; then echo "FAIL: $f still there after purge"; exit 1; fi
	done
	echo "purge: state and enable symlink removed"
}
lifecycle
echo "package OK"
