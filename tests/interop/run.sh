#!/bin/bash
# calcd interop matrix: the real daemon against the Thrift client libraries of
# many languages, every transport x protocol each library supports among
# buffered, framed and header x binary and compact, plain and multiplexed
# (TMultiplexedProtocol), a multiplexed call to a service calcd lacks, and
# over TLS: the same cells through each library's TLS client against calcd's
# own TLS listener, and its client certificate cells against a mutual-TLS one.
#
#   tests/interop/run.sh            run the matrix, compare with docs/COMPATIBILITY.md
#   tests/interop/run.sh --update   run the matrix, rewrite docs/COMPATIBILITY.md
#
# Starts calcd ($CALCD) on 127.0.0.1 port 0, generates each client's code from
# calcd's IDL ($CALCD_IDL) with Debian's thrift-compiler ($THRIFT), builds the
# clients (plain and TLS) under $CALCD_WORK/interop, runs one connection per
# cell (every call checked, every cell under a timeout), prints one result line
# per cell, writes the table to $CALCD_WORK/interop/COMPATIBILITY.md and fails
# when a cell fails, when calcd does not exit 0 on SIGTERM, or when the table
# differs from the committed docs/COMPATIBILITY.md.
#
# TLS: a test PKI from tests/tls/make-certs.sh; the same calcd also listens
# with "listen = 127.0.0.1:PORT tls", and a second calcd with tls_client_ca
# and tls_client_crl (mutual TLS).  The TLS rows (ID-tls) run the TLS client of
# each library (clients/*_tls_*, the plain client with its socket made a TLS
# one), which verifies calcd's certificate against the test CA, over every
# transport x protocol; the certificate rows (ID-cert), once per library,
# buffered with its first protocol: distrust (the client trusts another CA:
# must fail), mtls (client.pem on the mutual-TLS listener: must pass), no-cert,
# other-ca (a client certificate from another CA) and revoked (one the CRL
# lists), which must all be refused.  A cell that must fail passes only if the
# client exits non-zero, not by timeout, without an "ok:" line.
#
# It installs nothing.  What the matrix needs (.ci/deps installs it):
#
#   apt-get install -y --no-install-recommends thrift-compiler python3 \
#     python3-thrift python3-thriftpy g++ pkg-config libthrift-dev libboost-dev \
#     libthrift-c-glib-dev libglib2.0-dev libthrift-java default-jdk-headless \
#     golang-go golang-thrift-dev ruby ruby-thrift perl libthrift-perl \
#     libbit-vector-perl libclass-accessor-perl php-cli php-thrift
#   npm install -g thrift@0.17.0
#
# (node and npm come with the machine image's NodeSource nodejs; on a plain
# Debian 12 add "nodejs npm" to the apt-get line.)
#
# A library that is not installed is a "not installed" row: a failure (the
# default; .ci/deps installs them all), or with CALCD_INTEROP_REQUIRE_ALL=0
# reported and tolerated (its row is then left out of the comparison).
#
# Environment (exported by `make check`, see Makefile.am):
#   CALCD  CALCD_IDL  CALCD_WORK  PYTHON3  THRIFT
# Optional:
#   CALCD_INTEROP_REQUIRE_ALL=0      a missing library is reported, not a failure
#   CALCD_INTEROP_CELL_TIMEOUT=45    seconds for one cell (one client process;
#                                    every client also gives each call 5 s)
#   CALCD_INTEROP_BUILD_TIMEOUT=300  seconds from the start by which every build
#                                    step must have ended (the builds run in parallel)
#   CALCD_INTEROP_TIME_LIMIT=420     seconds from the start after which no cell starts
#                                    (those left fail), so a run ends within ~8 min
#                                    (a run took 4-6 min with the machine busy)
#   CALCD_INTEROP_NODE_MODULES       where npm put `thrift` (default: `npm root -g`)
#   CALCD_INTEROP_ONLY="go cpp"      run only these rows (a partial run is never
#                                    compared with the docs and cannot --update);
#                                    "tls" stands for every TLS and certificate row,
#                                    "plain" for every other row
#   CALCD_INTEROP_JOBS=2             cells run at once (each one connection)
#   CALCD_TLS_FRONT=calcd            who serves TLS: calcd's own listeners, or
#                                    "haproxy": HAProxy ($HAPROXY, default haproxy)
#                                    terminating TLS in front of the plain calcd,
#                                    for client-side work while calcd cannot; the
#                                    table then says so, and differs from the docs
#   OPENSSL=openssl                  for tests/tls/make-certs.sh
# The build_* functions are called by name (build_$b), which shellcheck cannot see.
# shellcheck disable=SC2317
set -uo pipefail

# CI runs the whole suite once and then again in other builds (distcheck,
# --without-systemd, sanitizers); those set CALCD_SUITE=quick, and the
# heavy suites (interop) run only in the first.
if [ "${CALCD_SUITE:-full}" = quick ]; then
	echo "interop: skipped: CALCD_SUITE=quick (it runs in the full make check)"
	exit 77
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
clients="$here/clients"
DOC="$top/docs/COMPATIBILITY.md"

die() { echo "interop: $*" >&2; exit 99; }
# A line for the log and, under make check, for its console (the harness
# keeps stdout for the log): CALCD_PROGRESS_FD, set by Makefile.am.
progress() {
	echo "$*"
	[ -z "${CALCD_PROGRESS_FD:-}" ] || { echo "$*" >&"$CALCD_PROGRESS_FD"; } 2>/dev/null || true
}

update=0
case "${1:-}" in
"") ;;
--update) update=1 ;;
-h | --help)
	sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
	exit 0
	;;
*) die "unknown argument '$1' (try --help)" ;;
esac

: "${CALCD:=$top/src/calcd}"
: "${CALCD_IDL:=$top/calculator.thrift}"
: "${CALCD_WORK:=$PWD/tests/integration/work}"
: "${PYTHON3:=/usr/bin/python3}"
: "${THRIFT:=thrift}"
# Strict by default: .ci/deps installs every library, and make check is CI's
# test command.  CALCD_INTEROP_REQUIRE_ALL=0 tolerates missing libraries.
REQUIRE_ALL=${CALCD_INTEROP_REQUIRE_ALL:-1}
CELL_TIMEOUT=${CALCD_INTEROP_CELL_TIMEOUT:-45}
BUILD_TIMEOUT=${CALCD_INTEROP_BUILD_TIMEOUT:-300}
TIME_LIMIT=${CALCD_INTEROP_TIME_LIMIT:-420}
ONLY=${CALCD_INTEROP_ONLY:-}
JOBS=${CALCD_INTEROP_JOBS:-2}
TLS_FRONT=${CALCD_TLS_FRONT:-calcd}
HAPROXY=${HAPROXY:-haproxy}
OPENSSL=${OPENSSL:-openssl}
export OPENSSL

[ -x "$CALCD" ] || die "CALCD=$CALCD is not an executable file; build calcd first"
[ -r "$CALCD_IDL" ] || die "CALCD_IDL=$CALCD_IDL is not readable"
command -v "$PYTHON3" >/dev/null 2>&1 || die "PYTHON3=$PYTHON3 not found (apt-get install python3)"
command -v timeout >/dev/null 2>&1 || die "timeout(1) not found (coreutils)"
[ "$update" = 0 ] || [ -z "$ONLY" ] || die "--update needs the whole matrix: unset CALCD_INTEROP_ONLY"
[ "$update" = 0 ] || [ "$TLS_FRONT" = calcd ] ||
	die "--update measures calcd itself: unset CALCD_TLS_FRONT"
[[ "$JOBS" =~ ^[1-9][0-9]?$ ]] || die "CALCD_INTEROP_JOBS=$JOBS: expected 1 to 99"
case $TLS_FRONT in
calcd) ;;
haproxy) command -v "$HAPROXY" >/dev/null 2>&1 ||
	die "CALCD_TLS_FRONT=haproxy: HAPROXY=$HAPROXY not found (apt-get install haproxy)" ;;
*) die "CALCD_TLS_FRONT=$TLS_FRONT: expected calcd or haproxy" ;;
esac

mkdir -p "$CALCD_WORK" || die "cannot create CALCD_WORK=$CALCD_WORK"
W=$(cd "$CALCD_WORK" && pwd)/interop
# The Go build cache survives between runs; everything else is made anew.
mkdir -p "$W"
for d in "$W"/*; do
	[ "$d" = "$W/go-cache" ] || rm -rf "$d"
done
mkdir -p "$W/gen" "$W/bin" "$W/src" "$W/logs" "$W/cells"
started=$(date +%s)
deadline=$((started + TIME_LIMIT))
build_deadline=$((started + BUILD_TIMEOUT))
# Clients must not write bytecode into the source tree (read-only in distcheck).
export PYTHONDONTWRITEBYTECODE=1

# --- the matrix ----------------------------------------------------------------
# One row per client: id | language | library (Debian package, or "thrift (npm)")
# | variant | transports | protocol columns (COLUMN=CLIENT_ARGUMENT) | mode
# | environment of its cells (NAME=VALUE ...).
# The mode is the client's last argument: plain (when empty), multiplexed (the
# same calls through TMultiplexedProtocol) or unknown-service (a multiplexed
# call to a service calcd does not serve); or tls (the plain calls, through
# the library's TLS client, to calcd's TLS listener) or tls-cert (the
# certificate cells, CERT_KINDS, over the row's one transport and protocol).
# A row ID-mux, ID-nope, ID-tls or ID-cert runs the client of row ID (base_of).
ROWS=(
	"python|Python|python3-thrift||buffered framed header|binary=binary compact=compact"
	"python-accel|Python|python3-thrift|accelerated|buffered framed|binary=binary-accel compact=compact-accel"
	"thriftpy|Python|python3-thriftpy||buffered framed|binary=binary compact=compact"
	"thriftpy-cy|Python|python3-thriftpy|Cython|buffered framed|binary=binary-accel"
	"thriftpy-fix|Python|python3-thriftpy|compact patched for Python 3.9+|buffered framed|compact=compact-patched"
	"cpp|C++|libthrift-dev||buffered framed header|binary=binary compact=compact"
	"c_glib|C (GLib)|libthrift-c-glib-dev||buffered framed|binary=binary compact=compact"
	"java|Java|libthrift-java||buffered framed|binary=binary compact=compact"
	"go|Go|golang-thrift-dev||buffered framed header|binary=binary compact=compact"
	"ruby|Ruby|ruby-thrift||buffered framed|binary=binary compact=compact"
	"ruby-accel|Ruby|ruby-thrift|accelerated|buffered framed|binary=binary-accel"
	"perl|Perl|libthrift-perl||buffered framed|binary=binary"
	"php|PHP|php-thrift||buffered framed|binary=binary compact=compact"
	"php-accel|PHP|php-thrift|accelerated|buffered framed|binary=binary-accel"
	"node|Node.js|thrift (npm)||buffered framed header|binary=binary compact=compact"

	"python-mux|Python|python3-thrift|multiplexed|buffered framed header|binary=binary compact=compact|multiplexed"
	"python-accel-mux|Python|python3-thrift|accelerated, multiplexed|buffered framed|binary=binary-accel compact=compact-accel|multiplexed"
	"python-nope|Python|python3-thrift|unknown service|buffered framed header|binary=binary compact=compact|unknown-service"
	"thriftpy-mux|Python|python3-thriftpy|multiplexed|buffered framed|binary=binary compact=compact|multiplexed"
	"thriftpy-cy-mux|Python|python3-thriftpy|Cython, multiplexed|buffered framed|binary=binary-accel|multiplexed"
	"thriftpy-fix-mux|Python|python3-thriftpy|compact patched for Python 3.9+, multiplexed|buffered framed|compact=compact-patched|multiplexed"
	"thriftpy-nope|Python|python3-thriftpy|unknown service|buffered framed|binary=binary compact=compact|unknown-service"
	"cpp-mux|C++|libthrift-dev|multiplexed|buffered framed header|binary=binary compact=compact|multiplexed"
	"cpp-nope|C++|libthrift-dev|unknown service|buffered framed header|binary=binary compact=compact|unknown-service"
	"c_glib-mux|C (GLib)|libthrift-c-glib-dev|multiplexed|buffered framed|binary=binary compact=compact|multiplexed"
	"c_glib-nope|C (GLib)|libthrift-c-glib-dev|unknown service|buffered framed|binary=binary compact=compact|unknown-service"
	"java-mux|Java|libthrift-java|multiplexed|buffered framed|binary=binary compact=compact|multiplexed"
	"java-nope|Java|libthrift-java|unknown service|buffered framed|binary=binary compact=compact|unknown-service"
	"go-mux|Go|golang-thrift-dev|multiplexed|buffered framed header|binary=binary compact=compact|multiplexed"
	"go-nope|Go|golang-thrift-dev|unknown service|buffered framed header|binary=binary compact=compact|unknown-service"
	"ruby-mux|Ruby|ruby-thrift|multiplexed|buffered framed|binary=binary compact=compact|multiplexed"
	"ruby-accel-mux|Ruby|ruby-thrift|accelerated, multiplexed|buffered framed|binary=binary-accel|multiplexed"
	"ruby-nope|Ruby|ruby-thrift|unknown service|buffered framed|binary=binary compact=compact|unknown-service"
	"perl-mux|Perl|libthrift-perl|multiplexed|buffered framed|binary=binary|multiplexed"
	"perl-nope|Perl|libthrift-perl|unknown service|buffered framed|binary=binary|unknown-service"
	"php-mux|PHP|php-thrift|multiplexed|buffered framed|binary=binary compact=compact|multiplexed"
	"php-nope|PHP|php-thrift|unknown service|buffered framed|binary=binary compact=compact|unknown-service"
	"node-mux|Node.js|thrift (npm)|multiplexed|buffered framed header|binary=binary compact=compact|multiplexed"
	"node-nope|Node.js|thrift (npm)|unknown service|buffered framed header|binary=binary compact=compact|unknown-service"

	"python-tls|Python|python3-thrift||buffered framed header|binary=binary compact=compact|tls"
	"python-accel-tls|Python|python3-thrift|accelerated|buffered framed|binary=binary-accel compact=compact-accel|tls"
	"thriftpy-tls|Python|python3-thriftpy||buffered framed|binary=binary|tls"
	"thriftpy-cy-tls|Python|python3-thriftpy|Cython|buffered framed|binary=binary-accel|tls"
	"cpp-tls|C++|libthrift-dev||buffered framed header|binary=binary compact=compact|tls"
	"c_glib-tls|C (GLib)|libthrift-c-glib-dev||buffered framed|binary=binary compact=compact|tls"
	"java-tls|Java|libthrift-java||buffered framed|binary=binary compact=compact|tls"
	"go-tls|Go|golang-thrift-dev||buffered framed header|binary=binary compact=compact|tls"
	"ruby-tls|Ruby|ruby-thrift||buffered framed|binary=binary compact=compact|tls"
	"ruby-accel-tls|Ruby|ruby-thrift|accelerated|buffered framed|binary=binary-accel|tls"
	"ruby-untimed-tls|Ruby|ruby-thrift|no read timeout|buffered framed|binary=binary compact=compact|tls|CALCD_TLS_RUBY_TIMEOUT=none"
	"perl-tls|Perl|libthrift-perl||buffered framed|binary=binary|tls"
	"php-tls|PHP|php-thrift||buffered framed|binary=binary compact=compact|tls"
	"php-accel-tls|PHP|php-thrift|accelerated|buffered framed|binary=binary-accel|tls"
	"node-tls|Node.js|thrift (npm)||buffered framed|binary=binary compact=compact|tls"

	"python-cert|Python|python3-thrift||buffered|binary=binary|tls-cert"
	"thriftpy-cert|Python|python3-thriftpy||buffered|binary=binary|tls-cert"
	"cpp-cert|C++|libthrift-dev||buffered|binary=binary|tls-cert"
	"c_glib-cert|C (GLib)|libthrift-c-glib-dev||buffered|binary=binary|tls-cert"
	"java-cert|Java|libthrift-java||buffered|binary=binary|tls-cert"
	"go-cert|Go|golang-thrift-dev||buffered|binary=binary|tls-cert"
	"ruby-cert|Ruby|ruby-thrift||buffered|binary=binary|tls-cert"
	"perl-cert|Perl|libthrift-perl||buffered|binary=binary|tls-cert"
	"php-cert|PHP|php-thrift||buffered|binary=binary|tls-cert"
	"node-cert|Node.js|thrift (npm)||buffered|binary=binary|tls-cert"
)
TRANSPORTS="buffered framed header"
PROTOCOLS="binary compact"
# The certificate cells of a tls-cert row, its columns.
CERT_KINDS="distrust mtls no-cert other-ca revoked"

# What each row's n/a cells and special cases mean; printed under the table.
declare -A NOTE=(
	[python]="THeaderProtocol over a socket; the client accepts only THeader replies and checks their protocol id."
	[python-accel]="TBinaryProtocolAccelerated and TCompactProtocolAccelerated (the fastbinary C extension). Header: n/a here because python3-thrift's THeaderProtocol always uses the accelerated codecs, so the python3-thrift row's header cells already run them."
	[thriftpy]="ThriftPy generates no code: it parses calculator.thrift itself at run time. It has no THeader transport. Its compact protocol calls array.tostring(), which Python 3.9 removed, so it fails on Debian 12's Python 3.11 before sending a byte, whatever the server. The row \"compact patched for Python 3.9+\" runs the same codec with that call mapped to tobytes()."
	[thriftpy-cy]="TCyBinaryProtocol over TCyBufferedTransport / TCyFramedTransport; ThriftPy has no Cython compact codec and no THeader."
	[thriftpy-fix]="ThriftPy's own TCompactProtocol with array.tostring() mapped to tobytes() by the test: calcd's compact against ThriftPy's codec."
	[cpp]="Header: THeaderProtocol over THeaderTransport (libthriftz); the client records the bytes both ways and checks that requests and replies were THeader frames."
	[c_glib]="The C GLib library has no THeader transport."
	[java]="buffered: TSocket, which buffers its own streams (Java has no TBufferedTransport). libthrift-java has no THeader transport."
	[go]="Header: THeaderProtocol/THeaderTransport; the client records the bytes both ways and checks that requests and replies were THeader frames."
	[ruby]="The C extension (thrift_native) replaces CompactProtocol's methods whenever it loads, so the compact cells run it. The Ruby library has no THeader transport."
	[ruby-accel]="BinaryProtocolAccelerated from the C extension (thrift_native); binary only. No THeader."
	[perl]="The Perl library has neither TCompactProtocol nor THeader. Debian's libthrift-perl does not pull in Bit::Vector and Class::Accessor, which it and the generated code need: install libbit-vector-perl and libclass-accessor-perl."
	[php]='Debian installs the class Thrift\X\Y of the library as /usr/lib/php/X/Y.php; the client loads it with an autoloader of its own. The PHP library has no THeader transport.'
	[php-accel]="TBinaryProtocolAccelerated with the package's C extension, loaded with php -d extension=thrift_protocol: Debian's php-thrift enables it only for PHP 8.1 (/etc/php/8.1/mods-available) while Debian 12's PHP is 8.2. Binary only; no THeader."
	[node]="Header: the library's THeaderProtocol writes its THeader frame only in THeaderProtocol.flush(), and clients generated by thrift-compiler flush the transport (this.output.flush()) instead, so every request goes out as a plain unframed message: a library bug, whatever the server. The client records the bytes both ways and fails unless requests and replies were THeader frames."

	[python-mux]="TMultiplexedProtocol over each row's transport and protocol; header: over THeaderProtocol, the client accepting only THeader replies."
	[python-accel-mux]="TMultiplexedProtocol over TBinaryProtocolAccelerated / TCompactProtocolAccelerated; the client checks that the multiplexed protocols still use the C codec (python3-thrift's decorator subclasses the protocol it wraps)."
	[thriftpy-mux]="thriftpy.protocol.multiplex.TMultiplexedProtocol. Compact: the same array.tostring() failure as the plain row, before a byte is sent."
	[thriftpy-cy-mux]="TMultiplexedProtocol over TCyBinaryProtocol."
	[thriftpy-fix-mux]="TMultiplexedProtocol over the compact codec patched as in the plain row."
	[thriftpy-nope]="Compact: the same array.tostring() failure as the plain row."
	[cpp-mux]="TMultiplexedProtocol; header: over THeaderProtocol, with the same THeader checks as the plain row. The generated client skips a reply whose name is not the bare method and then waits for another."
	[cpp-nope]="Header: with the same THeader checks as the plain row."
	[c_glib-mux]="ThriftMultiplexedProtocol (properties transport, protocol, service-name). The generated client fails a reply whose name does not start with the method's (WRONG_METHOD_NAME)."
	[go-mux]="TMultiplexedProtocol; header: over THeaderProtocol, with the same THeader checks as the plain row. TStandardClient fails a reply whose name is not the bare method (WRONG_METHOD_NAME)."
	[go-nope]="Header: with the same THeader checks as the plain row."
	[ruby-accel-mux]="MultiplexedProtocol over BinaryProtocolAccelerated: the decorator hands every read and write to the C extension's methods."
	[php-mux]="TMultiplexedProtocol. There is no accelerated multiplexed row: generated code uses TBinaryProtocolAccelerated's extension only when its protocol is a TBinaryProtocolAccelerated, which TMultiplexedProtocol (a decorator around one) is not, so a multiplexed client always takes the pure-PHP path the php-thrift row already runs."
	[node-mux]="thrift.Multiplexer: each client has its own output transport, and the connection hands each reply to the client of its seqid by the reply's name (recv_NAME). Header: the same library bug as the plain row (the calls all pass, then the requests were not THeader frames)."
	[node-nope]="Header: the same library bug as the plain row."

	[python-tls]="TSSLSocket (cert_reqs CERT_REQUIRED, the test CA), which checks calcd's certificate names the host; header: THeaderProtocol over it, with the plain row's checks."
	[python-accel-tls]="TSSLSocket under TBinaryProtocolAccelerated / TCompactProtocolAccelerated."
	[thriftpy-tls]="ThriftPy's TSSLSocket. Compact: not run (the plain row's array.tostring() failure comes before any byte is sent, TLS or not)."
	[thriftpy-cy-tls]="ThriftPy's TSSLSocket under TCyBinaryProtocol."
	[cpp-tls]="TSSLSocket from a TSSLSocketFactory, whose default access manager checks calcd's certificate names the host; header: with the plain row's THeader checks."
	[c_glib-tls]="ThriftSSLSocket. The library has no call for a client certificate, so the client puts it into the socket's own SSL_CTX; a manager callback checks the certificate names the host. The library's newest protocol (LATEST) is TLS 1.2."
	[java-tls]="TSSLTransportFactory.getClientSocket with PKCS12 trust and key stores made from the test PKI (keytool, openssl). The factory verifies the chain but does no host name check."
	[go-tls]="TSSLSocket with a crypto/tls Config holding the test CA; header: with the plain row's THeader checks."
	[ruby-tls]="Thrift::SSLSocket with an OpenSSL::SSL::SSLContext (VERIFY_PEER, the test CA), which checks calcd's certificate against the host. Framed: ruby-thrift 0.14's Socket#read with a timeout waits in IO.select for the socket before each read even when OpenSSL already holds the bytes, so a framed reply whose length and body came in one TLS record times out after its length: a library bug, whatever the server (the row \"no read timeout\" passes the same cells)."
	[ruby-accel-tls]="Thrift::SSLSocket under BinaryProtocolAccelerated; framed: the library bug of the ruby-thrift row."
	[ruby-untimed-tls]="Thrift::SSLSocket with no read timeout (CALCD_TLS_RUBY_TIMEOUT=none), so that a read is a plain readpartial: the library bug of the ruby-thrift row does not arise."
	[perl-tls]="Thrift::SSLSocket (IO::Socket::SSL, libio-socket-ssl-perl) with the test CA."
	[php-tls]="Debian's php-thrift has no TSSLSocket: the client's socket is a TSocket subclass of the test's own (clients/php_tls_socket.php) that opens ssl://HOST:PORT with a stream context holding the test CA; PHP checks calcd's certificate names the host."
	[php-accel-tls]="The same socket under TBinaryProtocolAccelerated (the C extension)."
	[node-tls]="createSSLConnection with the test CA (and the client certificate and key for mutual TLS); Node checks calcd's certificate against the host. Header: not run (the plain row's header cells are a library bug)."
)

# Cells that fail because of the library, the same way against any server.
# They run every time and must fail with exactly this message (an extended
# regular expression); anything else, a pass included, shows.
declare -A KNOWN=(
	["thriftpy buffered compact"]="^FAIL: after 0 checks: AttributeError: 'array\\.array' object has no attribute 'tostring'$"
	["thriftpy framed compact"]="^FAIL: after 0 checks: AttributeError: 'array\\.array' object has no attribute 'tostring'$"
	["node header binary"]="^FAIL: requests sent as THeader frames: expected '', got 'frame 1 at byte 0 starts 80 01 00 01 "
	["node header compact"]="^FAIL: requests sent as THeader frames: expected '', got 'frame 1 at byte 0 starts 82 21 "
)
# The multiplexed and unknown-service rows of those libraries hit the same bugs.
for v in mux nope; do
	for k in "thriftpy buffered compact" "thriftpy framed compact" "node header binary" "node header compact"; do
		KNOWN["${k%% *}-$v ${k#* }"]=${KNOWN[$k]}
	done
done

# TLS: ruby-thrift 0.14's Socket#read with a timeout IO.selects the socket even
# when OpenSSL already holds the bytes (clients/ruby_tls_client.rb; the
# ruby-untimed-tls row passes the same cells).
for k in "ruby-tls framed binary" "ruby-tls framed compact" "ruby-accel-tls framed binary"; do
	KNOWN[$k]='^FAIL: after 0 checks: Thrift::TransportException: Socket: Timed out reading [0-9]+ bytes from '
done

# --- what is installed -----------------------------------------------------------
deb_version() { # PACKAGE -> version, or nothing when not installed
	dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null |
		sed -n 's/^installed //p'
}

NODE_MODULES=${CALCD_INTEROP_NODE_MODULES:-}
if [ -z "$NODE_MODULES" ] && command -v npm >/dev/null 2>&1; then
	NODE_MODULES=$(timeout 60 npm root -g 2>/dev/null) || NODE_MODULES=
fi
npm_thrift_version() {
	[ -n "$NODE_MODULES" ] && [ -f "$NODE_MODULES/thrift/package.json" ] || return 0
	# Ask npm, as installed; fall back to the package's own manifest.
	local v
	v=$(cd "$NODE_MODULES/.." && timeout 60 npm ls --global --depth=0 --json thrift 2>/dev/null |
		"$PYTHON3" -c 'import json,sys; print(json.load(sys.stdin)["dependencies"]["thrift"]["version"])' \
			2>/dev/null) ||
		v=$("$PYTHON3" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
			"$NODE_MODULES/thrift/package.json" 2>/dev/null) || v=
	echo "$v"
}

need_cmd() { # COMMAND PACKAGE: append to $missing unless COMMAND exists
	command -v "$1" >/dev/null 2>&1 || missing+="${missing:+, }$1 (apt-get install $2)"
}
need_deb() { # PACKAGE...
	local p
	for p; do
		[ -n "$(deb_version "$p")" ] || missing+="${missing:+, }$p"
	done
}

# Sets $missing (empty when the row can run) and $version for a row.
check_row() { # ID LIBRARY
	missing=
	version=
	case $1 in
	python | python-accel)
		need_deb python3-thrift
		need_cmd "$THRIFT" thrift-compiler ;;
	thriftpy*)
		need_deb python3-thriftpy ;;
	cpp)
		# libthrift-dev's headers include Boost's, and it does not depend on them.
		need_deb libthrift-dev libboost-dev
		need_cmd g++ g++
		need_cmd pkg-config pkg-config
		need_cmd "$THRIFT" thrift-compiler ;;
	c_glib)
		need_deb libthrift-c-glib-dev libglib2.0-dev
		need_cmd gcc gcc
		need_cmd pkg-config pkg-config
		need_cmd "$THRIFT" thrift-compiler ;;
	java)
		need_deb libthrift-java
		need_cmd javac default-jdk-headless
		need_cmd java default-jdk-headless
		need_cmd "$THRIFT" thrift-compiler ;;
	go)
		need_deb golang-thrift-dev
		need_cmd go golang-go
		need_cmd "$THRIFT" thrift-compiler ;;
	ruby*)
		need_deb ruby-thrift
		need_cmd ruby ruby
		need_cmd "$THRIFT" thrift-compiler ;;
	perl)
		need_deb libthrift-perl libbit-vector-perl libclass-accessor-perl
		need_cmd perl perl
		need_cmd "$THRIFT" thrift-compiler ;;
	php | php-accel)
		need_deb php-thrift
		need_cmd php php-cli
		need_cmd "$THRIFT" thrift-compiler ;;
	node)
		need_cmd node nodejs
		version=$(npm_thrift_version)
		[ -n "$version" ] ||
			missing+="${missing:+, }thrift from npm (npm install -g thrift@0.17.0)"
		need_cmd "$THRIFT" thrift-compiler ;;
	esac
	if [ "$1" != node ]; then
		version=$(deb_version "$2")
	fi
}

# What a TLS row needs beyond its library's plain row: appended to $missing.
check_tls() { # ID
	need_cmd "$OPENSSL" openssl
	case $1 in
	c_glib) need_deb libssl-dev ;;
	java) need_cmd keytool default-jdk-headless ;;
	perl) need_deb libio-socket-ssl-perl ;;
	esac
}

# --- builds ----------------------------------------------------------------------
# Every build step ends by $build_deadline, however many steps a build has.
bounded() {
	local left=$((build_deadline - $(date +%s)))
	if [ "$left" -le 0 ]; then
		echo "interop: no time left for: $*" >&2
		return 124
	fi
	timeout -k 5 "$left" "$@"
}
gen() { # GENERATOR OUTDIR
	mkdir -p "$2" && bounded "$THRIFT" --gen "$1" -out "$2" "$CALCD_IDL"
}
# derive SRC OUT OLD NEW: OUT is SRC with its one occurrence of OLD made NEW
# (a TLS client is the plain client with its socket made a TLS one).
derive() {
	"$PYTHON3" - "$@" <<'PY'
import sys
src, out, old, new = sys.argv[1:5]
text = open(src).read()
if text.count(old) != 1:
    sys.exit("interop: %s holds %r %d times, expected once: update the derivation "
             "in tests/interop/run.sh" % (src, old, text.count(old)))
open(out, "w").write(text.replace(old, new))
PY
}
JAVA_CP=/usr/share/java/thrift.jar:/usr/share/java/slf4j-api.jar
GO_PATH="$W/go"

# The builds of the plain clients; the scripting languages' TLS clients use
# the same generated code.
build_python() { gen py "$W/gen/py"; }
# pkg-config's output is meant to be split into words.
# shellcheck disable=SC2046
build_cpp() {
	gen cpp:no_skeleton "$W/gen/cpp" &&
		bounded nice g++ -std=c++11 -O0 -w -I"$W/gen/cpp" -o "$W/bin/cpp_client" \
			"$clients/cpp_client.cpp" "$W"/gen/cpp/*.cpp \
			$(pkg-config --cflags --libs thrift-z thrift)
}
# shellcheck disable=SC2046
build_c_glib() {
	gen c_glib "$W/gen/c_glib" &&
		bounded nice gcc -std=gnu11 -O0 -w -I"$W/gen/c_glib" -o "$W/bin/c_glib_client" \
			"$clients/c_glib_client.c" "$W"/gen/c_glib/*.c \
			$(pkg-config --cflags --libs thrift_c_glib gobject-2.0)
}
build_java() {
	gen java:generated_annotations=suppress "$W/gen/java" &&
		mkdir -p "$W/bin/java" &&
		bounded nice javac -nowarn -encoding UTF-8 -d "$W/bin/java" -cp "$JAVA_CP" \
			"$W"/gen/java/calcd/*.java "$clients/JavaClient.java"
}
build_go() {
	# GOPATH mode: Debian's golang-thrift-dev is a GOPATH tree under /usr/share/gocode.
	mkdir -p "$GO_PATH/src/interop/gen-go" "$GO_PATH/src/interop/client" &&
		gen go:package_prefix=interop/gen-go/ "$GO_PATH/src/interop/gen-go" &&
		rm -rf "$GO_PATH"/src/interop/gen-go/calcd/*-remote &&
		cp "$clients/go_client.go" "$GO_PATH/src/interop/client/main.go" &&
		(cd "$GO_PATH/src/interop/client" &&
			GO111MODULE=off GOFLAGS='' GOPATH="$GO_PATH:/usr/share/gocode" \
				GOCACHE="$W/go-cache" bounded nice go build -o "$W/bin/go_client" .)
}
build_ruby() { gen rb "$W/gen/rb"; }
build_perl() { gen perl "$W/gen/perl"; }
# shellcheck disable=SC2016 # PHP source, not shell
build_php() {
	gen php "$W/gen/php" &&
		derive "$clients/php_client.php" "$W/src/php_tls_client.php" \
			'new TSocket($host, $port)' 'calcd_tls_socket($host, $port)'
}
build_node() { gen js:node "$W/gen/js"; }

# The compiled TLS clients: builds of their own (their own generated code,
# so that they run in parallel with the plain builds).
# shellcheck disable=SC2046
build_cpp_tls() {
	gen cpp:no_skeleton "$W/gen/cpp-tls" &&
		derive "$clients/cpp_client.cpp" "$W/src/cpp_tls_client.cpp" \
			'std::make_shared<TSocket>(host, port)' 'calcd_tls_socket(host, port)' &&
		bounded nice g++ -std=c++11 -O0 -w -include "$clients/cpp_tls_socket.h" \
			-I"$W/gen/cpp-tls" -o "$W/bin/cpp_tls_client" "$W/src/cpp_tls_client.cpp" \
			"$W"/gen/cpp-tls/*.cpp $(pkg-config --cflags --libs thrift-z thrift)
}
# shellcheck disable=SC2046
build_c_glib_tls() {
	gen c_glib "$W/gen/c_glib-tls" &&
		derive "$clients/c_glib_client.c" "$W/src/c_glib_tls_client.c" \
			'g_object_new(THRIFT_TYPE_SOCKET, "hostname", host, "port", port, NULL)' \
			'calcd_tls_socket(host, port)' &&
		bounded nice gcc -std=gnu11 -O0 -w -include "$clients/c_glib_tls_socket.h" \
			-I"$W/gen/c_glib-tls" -o "$W/bin/c_glib_tls_client" "$W/src/c_glib_tls_client.c" \
			"$W"/gen/c_glib-tls/*.c $(pkg-config --cflags --libs thrift_c_glib gobject-2.0 openssl)
}
STORE_PASSWORD=changeit
build_java_tls() {
	# PKCS12 trust and key stores from the test PKI.
	keytool -importcert -noprompt -alias ca -file "$C/ca.pem" -keystore "$C/trust.p12" \
		-storetype PKCS12 -storepass "$STORE_PASSWORD" &&
		keytool -importcert -noprompt -alias ca -file "$C/other-ca.pem" \
			-keystore "$C/other-trust.p12" -storetype PKCS12 -storepass "$STORE_PASSWORD" ||
		return 1
	local k
	for k in client other-client revoked; do
		"$OPENSSL" pkcs12 -export -in "$C/$k.pem" -inkey "$C/$k.key" -name "$k" \
			-out "$C/$k.p12" -passout "pass:$STORE_PASSWORD" || return 1
	done
	gen java:generated_annotations=suppress "$W/gen/java-tls" &&
		mkdir -p "$W/src/java" "$W/bin/java-tls" &&
		derive "$clients/JavaClient.java" "$W/src/java/JavaClient.java" \
			'new TSocket(host, port, 5000)' 'JavaTlsSockets.open(host, port, 5000)' &&
		bounded nice javac -nowarn -encoding UTF-8 -d "$W/bin/java-tls" -cp "$JAVA_CP" \
			"$W"/gen/java-tls/calcd/*.java "$W/src/java/JavaClient.java" \
			"$clients/JavaTlsSockets.java"
}
build_go_tls() {
	local g="$W/go-tls"
	mkdir -p "$g/src/interop/gen-go" "$g/src/interop/tlsclient" &&
		gen go:package_prefix=interop/gen-go/ "$g/src/interop/gen-go" &&
		rm -rf "$g"/src/interop/gen-go/calcd/*-remote &&
		derive "$clients/go_client.go" "$g/src/interop/tlsclient/main.go" \
			'thrift.NewTSocketConf(net.JoinHostPort(host, port), conf)' \
			'newTLSSocket(net.JoinHostPort(host, port), conf)' &&
		cp "$clients/go_tls_socket.go" "$g/src/interop/tlsclient/" &&
		(cd "$g/src/interop/tlsclient" &&
			GO111MODULE=off GOFLAGS='' GOPATH="$g:/usr/share/gocode" \
				GOCACHE="$W/go-cache" bounded nice go build -o "$W/bin/go_tls_client" .)
}

is_tls() { [[ $1 == *-tls || $1 == *-cert ]]; }

base_of() { # ROW ID -> the row whose client it runs: cpp-mux, cpp-nope, cpp-tls run cpp's
	local b=${1%-mux}
	b=${b%-nope}
	b=${b%-tls}
	echo "${b%-cert}"
}

build_of() { # ROW ID -> the build it needs
	local b
	b=$(base_of "$1")
	case $b in
	python*) echo python ;;
	thriftpy*) echo none ;;
	ruby*) echo ruby ;;
	php*) echo php ;;
	perl | node) echo "$b" ;;
	*) if is_tls "$1"; then echo "${b}_tls"; else echo "$b"; fi ;;
	esac
}

# The command line of one cell, in CMD.
cell_command() { # ROW PORT TRANSPORT ARGUMENT LOGID MODE
	local h=127.0.0.1 b tls=
	b=$(base_of "$1")
	is_tls "$1" && tls=_tls
	case $b in
	python*) CMD=("$PYTHON3" "$clients/python${tls}_client.py" "$W/gen/py") ;;
	thriftpy*) CMD=("$PYTHON3" "$clients/thriftpy${tls}_client.py" "$CALCD_IDL") ;;
	cpp) CMD=("$W/bin/cpp${tls}_client") ;;
	c_glib) CMD=("$W/bin/c_glib${tls}_client") ;;
	java) CMD=(java -cp "$W/bin/java${tls:+-tls}:$JAVA_CP" JavaClient) ;;
	go) CMD=("$W/bin/go${tls}_client") ;;
	ruby*) CMD=(ruby "$clients/ruby${tls}_client.rb" "$W/gen/rb") ;;
	perl) CMD=(perl "$clients/perl${tls}_client.pl" "$W/gen/perl") ;;
	php*) CMD=(php)
		[ -z "$tls" ] || CMD+=(-d "auto_prepend_file=$clients/php_tls_socket.php")
		[ "$b" != php-accel ] || CMD+=(-d extension=thrift_protocol)
		if [ -n "$tls" ]; then
			CMD+=("$W/src/php_tls_client.php" "$W/gen/php")
		else
			CMD+=("$clients/php_client.php" "$W/gen/php")
		fi ;;
	node) CMD=(env "NODE_PATH=$NODE_MODULES:$NODE_MODULES/thrift/node_modules"
		node "$clients/node${tls}_client.js" "$W/gen/js") ;;
	esac
	CMD+=("$h" "$2" "$3" "$4" "$5" "${6:-plain}")
}

# The environment of a TLS cell (an array of NAME=VALUE) in ENV: its CA and
# client certificate, by kind (tls: a TLS row's cell; else a CERT_KINDS one).
cell_env() { # ROW KIND
	local ca=ca cert=
	case $2 in
	distrust) ca=other-ca ;;
	mtls) cert=client ;;
	other-ca) cert=other-client ;;
	revoked) cert=revoked ;;
	esac
	if [ "$(base_of "$1")" = java ]; then
		local store=trust
		[ "$ca" = ca ] || store=other-trust
		ENV=("CALCD_TLS_TRUSTSTORE=$C/$store.p12" "CALCD_TLS_STORE_PASSWORD=$STORE_PASSWORD")
		[ -z "$cert" ] || ENV+=("CALCD_TLS_KEYSTORE=$C/$cert.p12")
	else
		ENV=("CALCD_TLS_CA=$C/$ca.pem")
		[ -z "$cert" ] || ENV+=("CALCD_TLS_CERT=$C/$cert.pem" "CALCD_TLS_KEY=$C/$cert.key")
	fi
}

# --- calcd, and what serves TLS ----------------------------------------------------
# calcd (plain, and with TLS_FRONT=calcd its TLS listener) and, for the
# certificate cells, calcd_mtls (mutual TLS); or, with TLS_FRONT=haproxy, the
# plain calcd alone and HAProxy with both TLS fronts.
declare -A PID=()
cleanup() {
	# Only our own processes, by their ids.
	local p
	for p in "${PID[@]}" $(jobs -p); do
		if kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() { # N -> N ports the kernel has just handed out (for HAProxy and tls listen lines)
	"$PYTHON3" -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s:
    x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])' "$1"
}

# start_daemon NAME PORT...: calcd -f -c $W/NAME.conf, its log $W/NAME.log;
# waits until it logs "listening on 127.0.0.1:PORT" for each PORT (0: some
# port not among the others, which goes in $port).
start_daemon() {
	local name=$1 p found
	shift
	"$CALCD" -f -c "$W/$name.conf" </dev/null >"$W/$name.out" 2>"$W/$name.log" &
	PID[$name]=$!
	for _ in $(seq 100); do
		found=1
		for p; do
			if [ "$p" = 0 ]; then
				port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$W/$name.log" |
					grep -vxF -e "$*" | head -n 1)
				[ -n "$port" ] || found=
			else
				grep -q "listening on 127\\.0\\.0\\.1:$p\\b" "$W/$name.log" || found=
			fi
		done
		[ -z "$found" ] || return 0
		kill -0 "${PID[$name]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "interop: $name did not log 'listening on' 127.0.0.1 ports $* within 10 s; stderr:" >&2
	cat "$W/$name.log" >&2
	return 1
}

# stop_daemon NAME -> 0 when it exits 0 within 15 s of SIGTERM
stop_daemon() {
	local rc pid=${PID[$1]}
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 150); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "interop: FAIL $1 did not exit within 15 s of SIGTERM; stderr:" >&2
		cat "$W/$1.log" >&2
		return 1
	fi
	wait "$pid"
	rc=$?
	unset "PID[$1]"
	if [ "$rc" -ne 0 ]; then
		echo "interop: FAIL $1 exited $rc after SIGTERM, expected 0; stderr:" >&2
		cat "$W/$1.log" >&2
		return 1
	fi
	echo "interop: $1 exited 0 after SIGTERM"
}

tls_conf() { # MUTUAL(0|1) PORT: the lines of a TLS listener
	printf 'listen = 127.0.0.1:%s tls\ntls_certificate = %s\ntls_key = %s\n' "$2" \
		"$C/server.pem" "$C/server.key"
	[ "$1" = 0 ] || printf 'tls_client_ca = %s\ntls_client_crl = %s\n' "$C/ca.pem" "$C/crl.pem"
}

# Start everything; TLS_DOWN says why TLS cells cannot run, if they cannot.
start_servers() {
	local try
	printf 'log_level = notice\nlisten = 127.0.0.1:0\n' >"$W/calcd.conf"
	if [ -z "$WANT_TLS" ] || [ -n "$TLS_DOWN" ] || [ "$TLS_FRONT" = haproxy ]; then
		start_daemon calcd 0 || return 1
		[ -z "$WANT_TLS" ] || [ -n "$TLS_DOWN" ] || start_haproxy
		return 0
	fi
	# calcd's own TLS listeners, on ports picked here (a port another process
	# takes meanwhile fails the start: try again).
	for try in 1 2 3; do
		read -r tls_port mtls_port < <(free_ports 2)
		printf 'log_level = notice\nlisten = 127.0.0.1:0\n%s\n' "$(tls_conf 0 "$tls_port")" \
			>"$W/calcd.conf"
		printf 'log_level = notice\n%s\n' "$(tls_conf 1 "$mtls_port")" >"$W/calcd_mtls.conf"
		if ! "$CALCD" -t -c "$W/calcd_mtls.conf" >"$W/calcd-t.out" 2>&1; then
			TLS_DOWN="calcd does not serve TLS: calcd -t: $(grep -v '^[[:space:]]*$' \
				"$W/calcd-t.out" | head -n 3 | tr '\n' ' ')"
			printf 'log_level = notice\nlisten = 127.0.0.1:0\n' >"$W/calcd.conf"
			start_daemon calcd 0
			return
		fi
		if start_daemon calcd 0 "$tls_port" && start_daemon calcd_mtls "$mtls_port"; then
			return 0
		fi
		cleanup
		PID=()
		echo "interop: calcd did not start (try $try of 3)"
	done
	return 1
}

start_haproxy() {
	read -r tls_port mtls_port < <(free_ports 2)
	cat >"$W/haproxy.cfg" <<EOF
global
    maxconn 256
    log stderr format raw local0 info
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend tls
    bind 127.0.0.1:$tls_port ssl crt $C/server-combined.pem ssl-min-ver TLSv1.2
    default_backend calcd
frontend mtls
    bind 127.0.0.1:$mtls_port ssl crt $C/server-combined.pem ssl-min-ver TLSv1.2 ca-file $C/ca.pem verify required crl-file $C/crl.pem
    default_backend calcd
backend calcd
    server calcd 127.0.0.1:$port
EOF
	if ! "$HAPROXY" -c -q -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1; then
		TLS_DOWN="haproxy rejects $W/haproxy.cfg: $(tail -n 1 "$W/haproxy.log")"
		return
	fi
	"$HAPROXY" -db -f "$W/haproxy.cfg" </dev/null >"$W/haproxy.log" 2>&1 &
	PID[haproxy]=$!
	for _ in $(seq 100); do
		if "$PYTHON3" -c 'import socket,sys
for p in sys.argv[1:]:
    socket.create_connection(("127.0.0.1", int(p)), timeout=1).close()' "$tls_port" "$mtls_port" \
			2>/dev/null; then
			return
		fi
		kill -0 "${PID[haproxy]}" 2>/dev/null || break
		sleep 0.1
	done
	TLS_DOWN="haproxy did not listen on $tls_port and $mtls_port: $(tail -n 1 "$W/haproxy.log")"
}

# --- run -------------------------------------------------------------------------
echo "interop: $CALCD: $(timeout 10 "$CALCD" -V 2>&1 </dev/null | head -n 1)"
echo "interop: work directory $W"
compiler_version=$(deb_version thrift-compiler)
echo "interop: $THRIFT: $("$THRIFT" --version 2>&1 | head -n 1) (thrift-compiler ${compiler_version:-not installed})"

declare -A ROW_MISSING ROW_VERSION BUILD_PID BUILD_RC
selected() {
	[ -z "$ONLY" ] && return 0
	[[ " $ONLY " == *" $1 "* ]] && return 0
	if is_tls "$1"; then
		[[ " $ONLY " == *" tls "* ]]
	else
		[[ " $ONLY " == *" plain "* ]]
	fi
}

# The test PKI, when any TLS row is selected and openssl is there.
WANT_TLS=
for row in "${ROWS[@]}"; do
	IFS='|' read -r id _ <<<"$row"
	if selected "$id" && is_tls "$id"; then WANT_TLS=1; fi
done
C="$W/certs"
TLS_DOWN=
if [ -n "$WANT_TLS" ]; then
	if ! command -v "$OPENSSL" >/dev/null 2>&1; then
		TLS_DOWN="OPENSSL=$OPENSSL not found (apt-get install openssl)"
	elif ! sh "$top/tests/tls/make-certs.sh" "$C" >"$W/logs/make-certs.log" 2>&1; then
		TLS_DOWN="tests/tls/make-certs.sh failed: $(tail -n 1 "$W/logs/make-certs.log")"
	fi
fi

# Check every row, then start the builds the runnable rows need, in parallel.
for row in "${ROWS[@]}"; do
	IFS='|' read -r id lang lib variant transports protos mode row_env <<<"$row"
	selected "$id" || continue
	check_row "$(base_of "$id")" "$lib"
	is_tls "$id" && check_tls "$(base_of "$id")"
	ROW_MISSING[$id]=$missing
	ROW_VERSION[$id]=$version
	[ -z "$missing" ] || continue
	b=$(build_of "$id")
	[ "$b" = none ] || [ -n "${BUILD_PID[$b]:-}" ] && continue
	is_tls "$id" && [ -n "$TLS_DOWN" ] && continue
	("build_$b" >"$W/logs/build-$b.log" 2>&1) &
	BUILD_PID[$b]=$!
done
for b in "${!BUILD_PID[@]}"; do
	wait "${BUILD_PID[$b]}"
	BUILD_RC[$b]=$?
	if [ "${BUILD_RC[$b]}" -eq 0 ]; then
		progress "interop: built $b"
	else
		progress "interop: FAIL building $b (exit status ${BUILD_RC[$b]}); $W/logs/build-$b.log:"
		tail -n 20 "$W/logs/build-$b.log" | sed 's/^/    /'
	fi
done
progress "interop: builds took $(($(date +%s) - started)) s"

start_servers || exit 1
echo "interop: calcd listening on 127.0.0.1:$port"
if [ -n "$WANT_TLS" ]; then
	if [ -n "$TLS_DOWN" ]; then
		progress "interop: FAIL no TLS: $TLS_DOWN"
	elif [ "$TLS_FRONT" = haproxy ]; then
		echo "interop: TLS by HAProxy in front of calcd: on 127.0.0.1:$tls_port, mutual TLS on 127.0.0.1:$mtls_port"
	else
		echo "interop: calcd's TLS listener on 127.0.0.1:$tls_port; calcd_mtls (mutual TLS) on 127.0.0.1:$mtls_port"
	fi
fi

# One cell, in the background: its record (the columns of results.tsv) goes
# to FILE.tsv, its line to the log.
# The columns T and P are the transport and protocol, or for a tls-cert row
# the kind and protocol; TRANSPORT and ARG are the client's arguments.
run_cell() { # FILE ID LANG LIB VARIANT VERSION T P TRANSPORT ARG MODE KIND ROW_ENV
	local f=$1 id=$2 lang=$3 lib=$4 variant=$5 version=$6 t=$7 p=$8 transport=$9 arg=${10}
	local mode=${11} kind=${12} row_env=${13} b target=$port expect=pass ran=0 rc=1 detail
	local status known
	local name log t0 ms secs logid=$((1000 + 100 * cell)) cmode=$mode
	b=$(build_of "$id")
	name=$(printf '%-16s %-8s %-8s' "$id" "$t" "$p")
	log="$W/logs/$id-$t-$p"
	ENV=()
	if is_tls "$id"; then
		target=$tls_port
		cmode=plain
		case $kind in
		mtls | no-cert | other-ca | revoked) target=$mtls_port ;;
		esac
		case $kind in
		tls | mtls) ;;
		*) expect=fail ;;
		esac
		cell_env "$id" "$kind"
		# shellcheck disable=SC2206 # NAME=VALUE words
		ENV+=($row_env)
	fi
	t0=$(date +%s%N)
	if [ "$b" != none ] && [ "${BUILD_RC[$b]}" -ne 0 ]; then
		detail="build failed: see $W/logs/build-$b.log"
	elif is_tls "$id" && [ -n "$TLS_DOWN" ]; then
		detail="not run: $TLS_DOWN"
	elif [ "$(date +%s)" -ge "$deadline" ]; then
		detail="not run: the matrix passed its ${TIME_LIMIT} s limit"
	elif ! kill -0 "${PID[calcd]}" 2>/dev/null; then
		detail="not run: calcd is no longer running"
	else
		ran=1
		cell_command "$id" "$target" "$transport" "$arg" "$logid" "$cmode"
		echo "${ENV[*]}${ENV[*]:+ }${CMD[*]}" >"$log.cmd"
		timeout -k 5 "$CELL_TIMEOUT" env "${ENV[@]}" "${CMD[@]}" </dev/null >"$log.out" 2>"$log.err"
		rc=$?
		if [ "$rc" -eq 0 ]; then
			detail=$(grep -m 1 '^ok:' "$log.out")
			[ -n "$detail" ] || { rc=1; detail="exit status 0 without an 'ok:' line"; }
		elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			detail="timed out after ${CELL_TIMEOUT} s: $(tail -n 1 "$log.out")"
		else
			detail=$(grep -m 1 '^FAIL' "$log.out")
			[ -n "$detail" ] ||
				detail="exit status $rc: $(grep -v '^[[:space:]]*$' "$log.err" | tail -n 1)"
		fi
		detail=${detail:0:300}
	fi
	ms=$((($(date +%s%N) - t0) / 1000000))
	secs=$(printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)))
	known=${KNOWN["$id $t $p"]:-}
	if [ "$ran" = 1 ] && [ "$expect" = pass ] && [ "$rc" -eq 0 ]; then
		status=pass
		progress "interop: PASS  $name  $secs  $detail"
		[ -z "$known" ] ||
			progress "interop:       (a known library bug no longer shows: update KNOWN in run.sh and --update the docs)"
	elif [ "$ran" = 1 ] && [ "$expect" = fail ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] &&
		[ "$rc" -ne 137 ]; then
		status=refused
		detail="refused, as it must be: $detail"
		progress "interop: PASS  $name  $secs  $detail"
	elif [ "$ran" = 1 ] && [ -n "$known" ] && grep -Eq -- "$known" <<<"$detail"; then
		status="library bug"
		progress "interop: XFAIL $name  $secs  library bug, as known: $detail"
	else
		status=FAIL
		[ "$ran" = 0 ] || [ "$expect" = pass ] || detail="must be refused, but: $detail"
		progress "interop: FAIL  $name  $secs  $detail"
		if [ "$ran" = 1 ]; then
			echo "interop:       command: $(cat "$log.cmd" 2>/dev/null)"
			if [ -s "$log.err" ]; then
				grep -v '^SLF4J: ' "$log.err" | tail -n 5 | sed 's/^/interop:       stderr: /'
			fi
		fi
	fi
	detail=${detail//$'\t'/ }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$lang" "$lib" "$variant" \
		"$version" "$t" "$p" "$status" "${detail//$'\n'/ }" "${mode:-plain}" >"$f.tsv"
}

# Every cell has a record file, numbered in the order of the table; those
# that run, run $JOBS at a time.
record() { # FILE ID LANG LIB VARIANT VERSION TRANSPORT PROTOCOL STATUS DETAIL MODE
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${@:2}" >"$1.tsv"
}
declare -A RUNNING=()
nrecord=0 cell=0
for row in "${ROWS[@]}"; do
	IFS='|' read -r id lang lib variant transports protos mode row_env <<<"$row"
	selected "$id" || continue
	missing=${ROW_MISSING[$id]}
	version=${ROW_VERSION[$id]}
	label="$lang $lib${variant:+ ($variant)}"
	columns=
	if [ "$mode" = tls-cert ]; then
		for k in $CERT_KINDS; do columns+=" $k:${protos%%=*}"; done
	else
		for t in $TRANSPORTS; do
			for p in $PROTOCOLS; do columns+=" $t:$p"; done
		done
	fi
	for c in $columns; do
		t=${c%%:*} p=${c#*:} kind='' transport=${c%%:*}
		nrecord=$((nrecord + 1))
		f="$W/cells/$(printf '%05d' "$nrecord")"
		name=$(printf '%-16s %-8s %-8s' "$id" "$t" "$p")
		arg=
		if [ "$mode" = tls-cert ]; then
			kind=$t
			transport=$transports
			arg=${protos#*=}
		else
			[ "$mode" != tls ] || kind=tls
			if [[ " $transports " == *" $t "* ]]; then
				for m in $protos; do
					[ "${m%%=*}" = "$p" ] && arg=${m#*=}
				done
			fi
		fi
		if [ -z "$arg" ]; then
			record "$f" "$id" "$lang" "$lib" "$variant" "$version" "$t" "$p" "n/a" "" "${mode:-plain}"
			echo "interop: N/A   $name  not in $label"
			continue
		fi
		if [ -n "$missing" ]; then
			record "$f" "$id" "$lang" "$lib" "$variant" "" "$t" "$p" "not installed" "$missing" \
				"${mode:-plain}"
			progress "interop: $([ "$REQUIRE_ALL" = 1 ] && echo FAIL || echo SKIP)  $name  not installed: $missing"
			continue
		fi
		while [ "${#RUNNING[@]}" -ge "$JOBS" ]; do
			wait -n -p done_pid "${!RUNNING[@]}"
			unset "RUNNING[$done_pid]"
		done
		cell=$((cell + 1))
		run_cell "$f" "$id" "$lang" "$lib" "$variant" "$version" "$t" "$p" "$transport" "$arg" \
			"$mode" "$kind" "$row_env" &
		RUNNING[$!]=1
	done
done
for p in "${!RUNNING[@]}"; do wait "$p"; done

# The records, in order; the counts.
results="$W/results.tsv"
printf 'id\tlanguage\tlibrary\tvariant\tversion\ttransport\tprotocol\tstatus\tdetail\tmode\n' >"$results"
npass=0 nfail=0 nskip=0 nxfail=0 nna=0
declare -a FAILED=()
for f in "$W"/cells/*.tsv; do
	[ -e "$f" ] && cat "$f" >>"$results"
done
# (Tabs are IFS whitespace, which read folds: split on \x1f instead.)
while IFS=$'\x1f' read -r id t p status detail; do
	case $status in
	pass | refused) npass=$((npass + 1)) ;;
	"library bug") nxfail=$((nxfail + 1)) ;;
	n/a) nna=$((nna + 1)) ;;
	"not installed")
		if [ "$REQUIRE_ALL" = 1 ]; then
			nfail=$((nfail + 1))
			FAILED+=("$id $t $p: not installed: $detail")
		else
			nskip=$((nskip + 1))
		fi ;;
	*)
		nfail=$((nfail + 1))
		FAILED+=("$id $t $p: $detail") ;;
	esac
done < <(awk -F '\t' 'NR > 1 { print $1 "\x1f" $6 "\x1f" $7 "\x1f" $8 "\x1f" $9 }' "$results")
[ "$((npass + nfail + nskip + nxfail + nna))" -eq "$nrecord" ] ||
	die "$nrecord cells, but $((npass + nfail + nskip + nxfail + nna)) records in $W/cells"

status=0
for d in calcd calcd_mtls; do
	[ -n "${PID[$d]:-}" ] || continue
	if ! kill -0 "${PID[$d]}" 2>/dev/null; then
		echo "interop: FAIL $d died during the matrix; stderr:" >&2
		cat "$W/$d.log" >&2
		status=1
		unset "PID[$d]"
	else
		stop_daemon "$d" || status=1
	fi
done
if [ -n "${PID[haproxy]:-}" ]; then
	kill -TERM "${PID[haproxy]}" 2>/dev/null
	wait "${PID[haproxy]}" 2>/dev/null
	unset "PID[haproxy]"
fi

# --- the table -------------------------------------------------------------------
notes="$W/notes.tsv"
: >"$notes"
for id in "${!NOTE[@]}"; do
	printf '%s\t%s\n' "$id" "${NOTE[$id]}" >>"$notes"
done
"$PYTHON3" "$here/table.py" render "$results" "$notes" "${compiler_version:-not installed}" \
	"$TLS_FRONT" >"$W/COMPATIBILITY.md" || die "table.py could not write the table"
echo "interop: wrote $W/COMPATIBILITY.md"

if [ -n "$ONLY" ]; then
	echo "interop: CALCD_INTEROP_ONLY is set: a partial matrix is not compared with $DOC"
elif [ "$update" = 1 ]; then
	if grep -q $'\tnot installed\t' "$results"; then
		echo "interop: FAIL --update: some libraries are not installed; the docs must show the whole matrix" >&2
		status=1
	else
		{ mkdir -p "$(dirname "$DOC")" && cp "$W/COMPATIBILITY.md" "$DOC"; } || die "cannot write $DOC"
		echo "interop: updated $DOC"
	fi
else
	tolerate=
	[ "$REQUIRE_ALL" = 1 ] || tolerate=--ignore-not-installed
	if "$PYTHON3" "$here/table.py" compare $tolerate "$W/COMPATIBILITY.md" "$DOC"; then
		echo "interop: $DOC matches this run"
	else
		progress "interop: FAIL $DOC differs from what this run measured (diff above);" \
			"if the change is right, run tests/interop/run.sh --update and commit the file"
		status=1
	fi
fi

elapsed=$(($(date +%s) - started))
echo "interop: $cell cells run in $elapsed s"
if [ "${#FAILED[@]}" -gt 0 ]; then
	echo "interop: failed cells:"
	printf 'interop:   %s\n' "${FAILED[@]}"
	status=1
fi
progress "interop: $npass passed, $nfail failed, $nxfail known library bugs (xfail), $nskip skipped"
echo "calcd-summary: interop: $npass passed, $nxfail known library bugs (xfail), $nskip skipped," \
	"$nfail failed ($nna cells n/a: not in the library)"
exit "$status"
