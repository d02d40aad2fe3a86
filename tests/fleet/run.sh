#!/bin/bash
# calcd fleet test: calcd instances behind a real HAProxy running the
# shipped etc/haproxy/calcd.cfg (addresses made loopback ones, see
# test_fleet.py), send-proxy-v2 on and the calcd listeners marked proxy.
# Checks that haproxy -c accepts the shipped file, that the health check's
# bytes are a ping() calcd answers with exactly the expected reply (after
# the check's PROXY v2 LOCAL header too), that a server answering ping with
# an EXCEPTION never passes the check, and issue 13's fleet run: three calcd
# behind HAProxy while reconnecting clients call them for ~10 s and one is
# killed, another stopped and the first started again (test_fleet.py says
# what must hold).  About 20 s; every wait is bounded.
#
# Part of `make check`; skipped (exit 77) where haproxy is not installed.
# From a build tree by hand:  tests/fleet/run.sh   (CALCD defaults to ./src/calcd)
# Environment: CALCD, CALCD_IDL, CALCD_CONF, CALCD_HAPROXY_CFG,
#   CALCD_FLEET_WORK (default ./tests/fleet/work), HAPROXY, PYTHON3, THRIFT.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${CALCD:=$PWD/src/calcd}"
: "${CALCD_IDL:=$top/calculator.thrift}"
: "${CALCD_CONF:=$top/etc/calcd.conf}"
: "${CALCD_HAPROXY_CFG:=$top/etc/haproxy/calcd.cfg}"
: "${CALCD_FLEET_WORK:=$PWD/tests/fleet/work}"
: "${HAPROXY:=haproxy}"
: "${PYTHON3:=/usr/bin/python3}"
: "${THRIFT:=thrift}"

die() { echo "fleet: $*" >&2; exit 1; }
# make check's console shows this (the harness keeps stdout for the log):
# CALCD_PROGRESS_FD, set by Makefile.am.
progress() {
	echo "$*"
	[ -z "${CALCD_PROGRESS_FD:-}" ] || { echo "$*" >&"$CALCD_PROGRESS_FD"; } 2>/dev/null || true
}

# The one thing whose absence skips rather than fails: HAProxy itself.
if ! command -v "$HAPROXY" >/dev/null 2>&1; then
	progress "fleet: SKIP: HAPROXY=$HAPROXY not found; install the Debian package haproxy" \
		"(apt-get install haproxy, as .ci/deps does) to run the fleet test"
	echo "calcd-summary: fleet: skipped, haproxy is not installed"
	exit 77
fi
[ -x "$CALCD" ] || die "CALCD=$CALCD is not an executable file; build calcd first"
[ -r "$CALCD_HAPROXY_CFG" ] || die "CALCD_HAPROXY_CFG=$CALCD_HAPROXY_CFG is not readable"
"$PYTHON3" -c 'import thrift.protocol.TBinaryProtocol' 2>/dev/null ||
	die "$PYTHON3 cannot import thrift; install python3-thrift"
command -v "$THRIFT" >/dev/null 2>&1 || die "THRIFT=$THRIFT not found; install thrift-compiler"

# A directory of its own: make check runs the integration tests (CALCD_WORK) beside it.
mkdir -p "$CALCD_FLEET_WORK"
CALCD_WORK=$(cd "$CALCD_FLEET_WORK" && pwd)
rm -rf "$CALCD_WORK/gen-py" "$CALCD_WORK/tmp" && mkdir -p "$CALCD_WORK/gen-py"
"$THRIFT" --gen py -out "$CALCD_WORK/gen-py" "$CALCD_IDL"

export CALCD CALCD_CONF CALCD_HAPROXY_CFG CALCD_WORK HAPROXY
export CALCD_GEN_PY="$CALCD_WORK/gen-py"
# The integration tests' harness starts calcd and makes Thrift clients.
export PYTHONPATH="$here:$top/tests/integration:$CALCD_GEN_PY"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

progress "fleet: $CALCD behind $("$HAPROXY" -v | head -n 1) ..."
cd "$CALCD_WORK"
started=$(date +%s)
status=0
timeout -k 10 120 "$PYTHON3" -m unittest -v test_fleet "$@" || status=$?
progress "fleet: exit status $status ($(( $(date +%s) - started )) s)"
exit "$status"
