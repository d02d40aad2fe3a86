#!/bin/bash
# tests/system/build_deb.sh BUILDDIR OUTDIR: build calcd's Debian package
# the way the README says (dpkg-buildpackage -us -uc -b), from a clean copy
# of the source: "make distdir" of the configured tree BUILDDIR, which holds
# exactly the files a release carries and none of an in-tree build's
# leftovers.  The copy, the build's log and the .deb land in OUTDIR
# (emptied first); prints the path of the .deb.  Only DEB_BUILD_OPTIONS
# (and PATH, HOME, TMPDIR) reach dpkg-buildpackage from the environment.
set -euo pipefail

die() { echo "build_deb.sh: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: build_deb.sh BUILDDIR OUTDIR"
builddir=$1 out=$2
[ -f "$builddir/Makefile" ] || die "$builddir is not a configured calcd tree"
command -v dpkg-buildpackage >/dev/null || die "dpkg-buildpackage not found (Debian package dpkg-dev)"

version=$(sed -n 's/^VERSION = //p' "$builddir/Makefile")
[ -n "$version" ] || die "no VERSION in $builddir/Makefile"
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
src="$out/calcd-$version"

make -s -C "$builddir" distdir distdir="$src" >"$out/distdir.log" 2>&1 ||
	{ cat "$out/distdir.log" >&2; die "make distdir failed"; }
# A clean environment: run from make check, the make variables (TESTS=...
# in MAKEFLAGS) and the test suite's would reach the package's own build.
(cd "$src" && env -i PATH="$PATH" HOME="${HOME:-/root}" LANG=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}" \
	DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 ||
	{ tail -n 60 "$out/build.log" >&2; die "dpkg-buildpackage failed (the whole log: $out/build.log)"; }

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb="$out/calcd_${version}_$arch.deb"
[ -f "$deb" ] || { ls -l "$out" >&2; die "dpkg-buildpackage made no $deb"; }
echo "$deb"
