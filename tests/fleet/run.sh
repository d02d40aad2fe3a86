#!/bin/bash
# calcd fleet test: calcd instances behind a real HAProxy running the
# shipped etc/haproxy/calcd.cfg (addresses made loopback ones, see
# test_fleet.py).  Checks that haproxy -c accepts the shipped file, that the
# health check's bytes are a ping() calcd answers with exactly the expected
# reply, that HAProxy marks calcd UP, balances over the instances, marks a
# stopped one DOWN without a failed call and UP again when it is back, and
# that a server answering ping with an EXCEPTION never passes the check.
#
# Not part of `make check` yet.  Run it from a build tree:
#   tests/fleet/run.sh                     (CALCD defaults to ./src/calcd)
# Environment: CALCD, CALCD_IDL, CALCD_CONF, CALCD_HAPROXY_CFG, CALCD_WORK,
#   HAPROXY, PYTHON3, THRIFT; CALCD_FLEET_PROXY=1 once calcd takes PROXY
#   headers (keeps send-proxy-v2 and marks the calcd listeners "proxy").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
: "${CALCD:=$PWD/src/calcd}"
: "${CALCD_IDL:=$top/calculator.thrift}"
: "${CALCD_CONF:=$top/etc/calcd.conf}"
: "${CALCD_HAPROXY_CFG:=$top/etc/haproxy/calcd.cfg}"
: "${CALCD_WORK:=$PWD/tests/fleet/work}"
: "${CALCD_FLEET_PROXY:=0}"
: "${HAPROXY:=haproxy}"
: "${PYTHON3:=/usr/bin/python3}"
: "${THRIFT:=thrift}"

die() { echo "fleet: $*" >&2; exit 1; }

[ -x "$CALCD" ] || die "CALCD=$CALCD is not an executable file; build calcd first"
[ -r "$CALCD_HAPROXY_CFG" ] || die "CALCD_HAPROXY_CFG=$CALCD_HAPROXY_CFG is not readable"
command -v "$HAPROXY" >/dev/null 2>&1 ||
	die "HAPROXY=$HAPROXY not found; install the Debian package haproxy (apt-get install haproxy)"
"$PYTHON3" -c 'import thrift.protocol.TBinaryProtocol' 2>/dev/null ||
	die "$PYTHON3 cannot import thrift; install python3-thrift"
command -v "$THRIFT" >/dev/null 2>&1 || die "THRIFT=$THRIFT not found; install thrift-compiler"

mkdir -p "$CALCD_WORK"
CALCD_WORK=$(cd "$CALCD_WORK" && pwd)
rm -rf "$CALCD_WORK/gen-py" && mkdir -p "$CALCD_WORK/gen-py"
"$THRIFT" --gen py -out "$CALCD_WORK/gen-py" "$CALCD_IDL"

export CALCD CALCD_CONF CALCD_HAPROXY_CFG CALCD_WORK CALCD_FLEET_PROXY HAPROXY
export CALCD_GEN_PY="$CALCD_WORK/gen-py"
# The integration tests' harness starts calcd and makes Thrift clients.
export PYTHONPATH="$here:$top/tests/integration:$CALCD_GEN_PY"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

echo "calcd fleet test: $CALCD, $("$HAPROXY" -v | head -n 1)"
cd "$CALCD_WORK"
timeout -k 10 300 "$PYTHON3" -m unittest -v test_fleet "$@"
