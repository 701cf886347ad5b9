#!/bin/sh
# A default-prefix install: `cmake --install` into /usr/local (no DESTDIR),
# then the installed binary, run by hand without --config, must read the
# installed /usr/local/etc/kibana-connector-monitor/config.yml (the compiled-in
# default follows the install's sysconfdir), and --help, the man page and
# the unit must name that file.  Removes exactly the files it installed
# (install_manifest.txt) and the directories it created.
# ctest label `package`; needs root (writes /usr/local).
# usage: test_install.sh SOURCE_DIR   (KCM_BUILD_JOBS=N as in test_deb.sh)
set -eu
src=$1
prefix=/usr/local
etc=$prefix/etc/kibana-connector-monitor
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to write $prefix"; exit 77; }
work=$(mktemp -d /tmp/kcm-install-XXXXXX)
: >"$work/newdirs"
installed=
cleanup() {
	if [ -n "$installed" ] && [ -f "$work/build/install_manifest.txt" ]; then
		# install_manifest.txt has no newline after its last name.
		while IFS= read -r f || [ -n "$f" ]; do
			rm -f "$f"
		done <"$work/build/install_manifest.txt"
		sort -r "$work/newdirs" | while IFS= read -r d; do
			rmdir "$d" 2>/dev/null || echo "note: $d not empty, left in place"
		done
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "== build with the default prefix"
cmake -S "$src" -B "$work/build" -DBUILD_TESTING=OFF >/dev/null
grep -qx "CMAKE_INSTALL_PREFIX:PATH=$prefix" "$work/build/CMakeCache.txt" || {
	echo "SKIP: CMake's default prefix here is not $prefix"; exit 77; }
cmake --build "$work/build" -j"${KCM_BUILD_JOBS:-$(nproc)}" >/dev/null

# Stage first: refuse to overwrite anything, note the directories to create.
DESTDIR=$work/stage cmake --install "$work/build" >/dev/null
(cd "$work/stage" && find . ! -type d) | sed 's|^\.||' >"$work/files"
while IFS= read -r f; do
	case $f in
	"$prefix"/*) ;;
	*) echo "FAIL: a default install writes $f, outside $prefix"; exit 1 ;;
	esac
	[ ! -e "$f" ] || { echo "FAIL: $f exists already; not overwriting it"; exit 1; }
	d=$(dirname "$f")
	while [ "$d" != "$prefix" ] && [ ! -d "$d" ]; do
		grep -qx "$d" "$work/newdirs" || echo "$d" >>"$work/newdirs"
		d=$(dirname "$d")
	done
done <"$work/files"

echo "== cmake --install --prefix $prefix"
installed=yes
cmake --install "$work/build" --prefix "$prefix" >/dev/null
sort "$work/files" >"$work/files.sorted"
sort "$work/build/install_manifest.txt" | diff - "$work/files.sorted" || {
	echo "FAIL: install_manifest.txt differs from the staged install"; exit 1; }
bin=$prefix/bin/kibana-connector-monitor
cat "$work/files.sorted"

echo "== the installed binary's default configuration"
"$bin" --help >"$work/help"
grep -qx "  $etc/config.yml" "$work/help" || {
	echo "FAIL: --help does not name $etc/config.yml:"; cat "$work/help"; exit 1; }
# Without --config and without $CREDENTIALS_DIRECTORY the shipped
# `api_key_file: kibana-api-key` resolves next to the installed file, where
# there is no key: the error proves which file was read.
cd "$work"
rc=0
env -u CREDENTIALS_DIRECTORY "$bin" --check-config >"$work/check" 2>&1 || rc=$?
cat "$work/check"
[ "$rc" -eq 2 ] || { echo "FAIL: --check-config exit $rc, want 2 (no key file)"; exit 1; }
grep -q "^$etc/config.yml:[0-9]*:[0-9]*: .*$etc/kibana-api-key" "$work/check" || {
	echo "FAIL: the error does not come from $etc/config.yml"; exit 1; }
mkdir -m 700 "$work/cred"
printf 'dGVzdDp0ZXN0\n' >"$work/cred/kibana-api-key"
chmod 600 "$work/cred/kibana-api-key"
CREDENTIALS_DIRECTORY=$work/cred "$bin" --check-config >"$work/check" 2>&1
cat "$work/check"
grep -qx "configuration OK" "$work/check"
! grep -q "built-in defaults" "$work/check" || {
	echo "FAIL: the binary did not find $etc/config.yml"; exit 1; }

echo "== man page and unit name the installed paths"
zcat "$prefix/share/man/man8/kibana-connector-monitor.8.gz" | grep -q "^\.It Pa $etc/config.yml$" || {
	echo "FAIL: the man page does not name $etc/config.yml"; exit 1; }
grep -qx "ExecStart=$bin --config $etc/config.yml" \
	"$prefix/lib/systemd/system/kibana-connector-monitor.service" || {
	echo "FAIL: the unit's ExecStart= does not name $bin and $etc"; exit 1; }
echo "install OK"
