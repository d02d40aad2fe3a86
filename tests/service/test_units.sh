#!/bin/bash
# The systemd units and man pages as shipped: systemd-analyze verify passes,
# the service's exposure is 1.2 or lower, and the man pages make generates
# (CALCD_MAN_DIR: the build's man/) render without a single groff warning,
# with every @placeholder@ filled in and the same default config path as
# calcd -h.  Then the service behaviour tests (test_service.py) against
# the real daemon.
set -euo pipefail

die() { echo "test_units.sh: $*" >&2; exit 1; }
for var in CALCD CALCD_SERVICE_IN CALCD_SOCKET_UNIT CALCD_MAN_DIR CALCD_CONF CALCD_IDL; do
	[ -n "${!var:-}" ] || die "$var is not set (run through 'make check')"
done
[ -n "${SYSTEMD_ANALYZE:-}" ] && [ -x "$SYSTEMD_ANALYZE" ] ||
	die "systemd-analyze not found; install the Debian package systemd"
command -v groff >/dev/null || die "groff not found; install the Debian package groff-base"
: "${PYTHON3:=/usr/bin/python3}"
: "${THRIFT:=thrift}"

work=$(mktemp -d "${TMPDIR:-/tmp}/calcd-units.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The unit as make install writes it, pointing at the binary just built.
sed -e "s|@sbindir@|$(dirname "$CALCD")|g" -e "s|@sysconfdir@|$(dirname "$CALCD_CONF")|g" \
	"$CALCD_SERVICE_IN" > "$work/calcd.service"
cp "$CALCD_SOCKET_UNIT" "$work/calcd.socket"
grep -qE '@[a-z]+dir@' "$work/calcd.service" && die "unfilled @placeholder@ in calcd.service"

echo "# systemd-analyze verify"
(cd "$work" && "$SYSTEMD_ANALYZE" verify --man=no calcd.service calcd.socket)

echo "# systemd-analyze security (must be 1.2 or lower)"
out=$(cd "$work" && "$SYSTEMD_ANALYZE" security --offline=true --threshold=12 calcd.service 2>&1) ||
	{ echo "$out"; die "calcd.service is exposed more than 1.2"; }
echo "$out" | grep 'Overall exposure level'

echo "# man pages render cleanly, filled in"
for page in "$CALCD_MAN_DIR"/calcd.8 "$CALCD_MAN_DIR"/calcd.conf.5 "$CALCD_MAN_DIR"/calcctl.1; do
	[ -f "$page" ] || die "$page is missing: CALCD_MAN_DIR must be the build's man/, where make generates the pages from man/*.in"
	warnings=$(groff -man -ww -z "$page" 2>&1)
	[ -z "$warnings" ] || { echo "$warnings"; die "groff warns about $page"; }
	[ "$(groff -man -Tutf8 "$page" 2>/dev/null | wc -l)" -gt 20 ] || die "$page renders nearly empty"
	! grep -nE '@[A-Za-z_]+@' "$page" || die "unfilled @placeholder@ in $page"
	echo "ok $page"
done
# calcd -h and the pages name the same default configuration file.
default_conf=$("$CALCD" -h | sed -n 's/.*configuration file (default \(.*\))$/\1/p')
[ -n "$default_conf" ] || die "calcd -h names no default configuration file"
for page in "$CALCD_MAN_DIR"/calcd.8 "$CALCD_MAN_DIR"/calcd.conf.5; do
	groff -man -Tascii -P-cbou "$page" 2>/dev/null | grep -qF "$default_conf" ||
		die "$page does not name calcd -h's default $default_conf"
done
echo "ok default configuration file $default_conf in calcd -h, calcd(8) and calcd.conf(5)"

echo "# make install: binaries, config, units, man pages; an edited config survives"
if [ -n "${CALCD_BUILDDIR:-}" ]; then
	root="$work/root"
	make -s -C "$CALCD_BUILDDIR" install DESTDIR="$root" >/dev/null
	for f in calcd calcctl calcd-bench calcd.conf calcd.service calcd.socket calcd.8 \
		calcd.conf.5 calcctl.1 README.md calculator.thrift; do
		[ -n "$(find "$root" -name "$f" -type f)" ] || die "make install did not install $f"
	done
	conf=$(find "$root" -name calcd.conf -type f)
	unit=$(find "$root" -name calcd.service -type f)
	grep -q "^ExecStart=/.*/calcd --foreground --config /.*/calcd.conf$" "$unit" ||
		die "installed calcd.service has no filled-in ExecStart"
	echo "workers = 1  # edited" >> "$conf"
	make -s -C "$CALCD_BUILDDIR" install DESTDIR="$root" >/dev/null
	grep -q "# edited" "$conf" || die "make install overwrote an edited calcd.conf"
	make -s -C "$CALCD_BUILDDIR" uninstall DESTDIR="$root" >/dev/null
	[ -f "$conf" ] || die "make uninstall removed an edited calcd.conf"
	[ -z "$(find "$root" -name calcd -type f)" ] || die "make uninstall left calcd behind"
	echo "ok install"
fi

echo "# service behaviour"
mkdir -p "$work/gen-py"
"$THRIFT" --gen py -out "$work/gen-py" "$CALCD_IDL"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$work"
CALCD_GEN_PY="$work/gen-py" PYTHONDONTWRITEBYTECODE=1 \
	PYTHONPATH="$here" timeout -k 10 300 "$PYTHON3" -m unittest -v test_service
