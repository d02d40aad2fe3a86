#!/bin/bash
# The Debian package as a user builds it: dpkg-buildpackage -us -uc -b from
# a clean copy of the source (build_deb.sh), lintian with no error and no
# warning, and what the .deb holds: calcd, calcctl, /etc/calcd.conf as its
# only conffile, the units with their paths filled in, the man pages, the
# docs and examples (HAProxy configuration, alert rules), nothing under
# /usr/local; and the packaged calcd reports the package's version (the
# version's one source is debian/changelog).
# The .deb stays in $CALCD_BUILDDIR/tests/system/work/deb for
# test_systemd.sh, which installs it under a real systemd.
set -euo pipefail

# CI runs the whole suite once and then again in other builds (distcheck,
# --without-systemd, sanitizers); those set CALCD_SUITE=quick, and the
# heavy suites (test_package) run only in the first.
if [ "${CALCD_SUITE:-full}" = quick ]; then
	echo "test_package: skipped: CALCD_SUITE=quick (it runs in the full make check)"
	exit 77
fi

skip() { echo "SKIP: $*"; exit 77; }
die() { echo "test_package.sh: $*" >&2; exit 1; }
[ -n "${CALCD_BUILDDIR:-}" ] || die "CALCD_BUILDDIR is not set (run through 'make check')"
command -v dpkg-buildpackage >/dev/null ||
	skip "dpkg-buildpackage not found: not a Debian system, where the package is built"
for tool in dh:debhelper lintian:lintian; do
	command -v "${tool%%:*}" >/dev/null ||
		die "${tool%%:*} not found; install the Debian package ${tool#*:} (.ci/deps does)"
done
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out="$CALCD_BUILDDIR/tests/system/work/deb"
: "${DEB_BUILD_OPTIONS:=parallel=$(nproc)}"
export DEB_BUILD_OPTIONS

echo "# dpkg-buildpackage -us -uc -b, in a copy made by make distdir"
deb=$(bash "$here/build_deb.sh" "$CALCD_BUILDDIR" "$out")
changes=${deb%.deb}.changes
echo "ok built ${deb##*/}"

echo "# lintian (no error, no warning)"
lintian_out=$(lintian --fail-on error,warning --display-info --pedantic "$changes" 2>&1) ||
	{ echo "$lintian_out"; die "lintian reports an error or a warning"; }
echo "$lintian_out" | grep -v '^running with root privileges' || true
! echo "$lintian_out" | grep -qE '^[EW]: ' || die "lintian reports an error or a warning"
echo "ok lintian"

echo "# contents"
files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t)
for f in ./usr/sbin/calcd ./usr/bin/calcctl ./etc/calcd.conf \
	./lib/systemd/system/calcd.service ./lib/systemd/system/calcd.socket \
	./usr/share/man/man8/calcd.8.gz ./usr/share/man/man5/calcd.conf.5.gz \
	./usr/share/man/man1/calcctl.1.gz ./usr/share/doc/calcd/copyright \
	./usr/share/doc/calcd/changelog.gz ./usr/share/doc/calcd/README.md.gz \
	./usr/share/doc/calcd/calculator.thrift ./usr/share/doc/calcd/SCALING.md.gz \
	./usr/share/doc/calcd/examples/haproxy/calcd.cfg ./usr/share/doc/calcd/examples/calcd-alerts.yml; do
	grep -qxF "$f" <<<"$files" || die "the package has no $f"
done
! grep -q '^\./usr/local' <<<"$files" || die "the package installs under /usr/local"
! grep -qxF ./usr/bin/calcd-bench <<<"$files" || die "the package ships calcd-bench"
rm -rf "$out/ctl" "$out/root"
dpkg-deb -e "$deb" "$out/ctl"
[ "$(cat "$out/ctl/conffiles")" = /etc/calcd.conf ] ||
	die "conffiles is not just /etc/calcd.conf: $(cat "$out/ctl/conffiles")"
dpkg-deb -x "$deb" "$out/root"
unit="$out/root/lib/systemd/system/calcd.service"
grep -qxF 'ExecStart=/usr/sbin/calcd --foreground --config /etc/calcd.conf' "$unit" ||
	die "calcd.service does not start /usr/sbin/calcd with /etc/calcd.conf"
echo "ok contents"

echo "# the packaged calcd: its version is the package's, its config is valid"
version=$(dpkg-deb -f "$deb" Version)
[ "$("$out/root/usr/sbin/calcd" -V)" = "calcd $version" ] ||
	die "calcd -V says '$("$out/root/usr/sbin/calcd" -V)', the package is $version"
[ "$("$out/root/usr/bin/calcctl" -V)" = "calcctl $version" ] ||
	die "calcctl -V says '$("$out/root/usr/bin/calcctl" -V)', the package is $version"
[ "$(sed -n 's/^VERSION = //p' "$CALCD_BUILDDIR/Makefile")" = "$version" ] ||
	die "configure's version differs from the package's $version"
"$out/root/usr/sbin/calcd" -t -c "$out/root/etc/calcd.conf"
echo "ok calcd $version"
