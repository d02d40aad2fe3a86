#!/bin/sh
# The TLS cells of the interop matrix alone: every Thrift library's TLS client
# (tests/interop/clients/*_tls_*) over every transport x protocol it supports,
# and the client certificate cells (distrust, mtls, no-cert, other-ca,
# revoked).  They are part of tests/interop/run.sh, which make check runs,
# against calcd's own TLS listeners; this runs only them (its rows ID-tls and
# ID-cert: CALCD_INTEROP_ONLY=tls), by default with HAProxy terminating TLS
# in front of a plain calcd, as before calcd served TLS itself.
#
#   tests/tls/interop.sh                          HAProxy in front of calcd
#   CALCD_TLS_FRONT=calcd tests/tls/interop.sh    calcd's own TLS listeners
#
# Everything else (environment, results, exit status): tests/interop/run.sh
# --help.  A partial matrix is never compared with docs/COMPATIBILITY.md.
here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
-h | --help)
	sed -n '2,/^here=/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
esac
CALCD_TLS_FRONT=${CALCD_TLS_FRONT:-haproxy}
CALCD_INTEROP_ONLY=${CALCD_INTEROP_ONLY:-tls}
export CALCD_TLS_FRONT CALCD_INTEROP_ONLY
exec bash "$here/../interop/run.sh" "$@"
