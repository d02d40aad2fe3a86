#!/bin/bash
# TLS interop, ahead of calcd's own TLS: every Thrift library's TLS client
# (tests/interop/clients/*_tls_*) against a plain calcd behind HAProxy, which
# terminates TLS the way calcd's tls listen lines will (TCP mode, the test
# PKI from make-certs.sh).  It proves the client side of the TLS cells of the
# interop matrix before calcd speaks TLS itself; then the same cells run with
# the HAProxy front taken away.  Not part of make check.
#
#   tests/tls/interop.sh
#
# Two HAProxy fronts on 127.0.0.1 forward to calcd: "tls" (server certificate
# only) and "mtls" (a client certificate from the test CA required, checked
# against its CRL).  The cells:
#   tls        every transport x protocol the library supports (as the plain
#              rows of tests/interop/run.sh), each client verifying calcd's
#              certificate against the test CA: must pass
#   distrust   the client trusts another CA: must fail
#   mtls       the client presents client.pem on the mtls front: must pass
#   no-cert    no client certificate on the mtls front: must fail
#   other-ca   a client certificate from another CA: must fail
#   revoked    a client certificate the CRL revokes: must fail
# (distrust and the mTLS cells use buffered and the row's first protocol,
# which every library has.)
# A cell that must fail passes only if the client exits non-zero without an
# "ok:" line; its detail says what the client reported.
#
# Environment (as tests/interop/run.sh; make check exports them):
#   CALCD  CALCD_IDL  CALCD_WORK  PYTHON3  THRIFT
# Optional:
#   HAPROXY=haproxy                  the HAProxy binary (Debian's haproxy, 2.x)
#   OPENSSL=openssl                  for make-certs.sh
#   CALCD_TLS_ONLY="go cpp"          run only these rows
#   CALCD_TLS_CELL_TIMEOUT=45        seconds for one cell
#   CALCD_TLS_BUILD_TIMEOUT=300      seconds for all builds (in parallel)
#   CALCD_INTEROP_NODE_MODULES       where npm put `thrift` (default: npm root -g)
# A library that is not installed is a SKIP; CALCD_TLS_REQUIRE_ALL=1 makes it
# a failure.  Exit status 0 when every cell that ran is as expected.
# The build_* functions are called by name (build_$b), which shellcheck cannot see.
# shellcheck disable=SC2317
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
clients="$top/tests/interop/clients"

die() { echo "tls-interop: $*" >&2; exit 99; }

case "${1:-}" in
"") ;;
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
HAPROXY=${HAPROXY:-haproxy}
ONLY=${CALCD_TLS_ONLY:-}
CELL_TIMEOUT=${CALCD_TLS_CELL_TIMEOUT:-45}
BUILD_TIMEOUT=${CALCD_TLS_BUILD_TIMEOUT:-300}
REQUIRE_ALL=${CALCD_TLS_REQUIRE_ALL:-0}

[ -x "$CALCD" ] || die "CALCD=$CALCD is not an executable file; build calcd first"
[ -r "$CALCD_IDL" ] || die "CALCD_IDL=$CALCD_IDL is not readable"
command -v "$HAPROXY" >/dev/null 2>&1 || die "HAPROXY=$HAPROXY not found (apt-get install haproxy)"
command -v "${OPENSSL:-openssl}" >/dev/null 2>&1 || die "openssl not found (apt-get install openssl)"
command -v timeout >/dev/null 2>&1 || die "timeout(1) not found (coreutils)"

mkdir -p "$CALCD_WORK" || die "cannot create CALCD_WORK=$CALCD_WORK"
W=$(cd "$CALCD_WORK" && pwd)/tls-interop
mkdir -p "$W"
for d in "$W"/*; do
	[ "$d" = "$W/go-cache" ] || rm -rf "$d"
done
mkdir -p "$W/gen" "$W/bin" "$W/src" "$W/logs"
started=$(date +%s)
build_deadline=$((started + BUILD_TIMEOUT))
export PYTHONDONTWRITEBYTECODE=1

# --- rows ----------------------------------------------------------------------
# id | client (the base of *_tls_client) | transports | protocol arguments
# | environment of every cell of the row (NAME=VALUE ...)
ROWS=(
	"python|python|buffered framed header|binary compact"
	"python-accel|python|buffered framed|binary-accel compact-accel"
	"thriftpy|thriftpy|buffered framed|binary"
	"thriftpy-cy|thriftpy|buffered framed|binary-accel"
	"cpp|cpp|buffered framed header|binary compact"
	"c_glib|c_glib|buffered framed|binary compact"
	"java|java|buffered framed|binary compact"
	"go|go|buffered framed header|binary compact"
	"ruby|ruby|buffered framed|binary compact"
	"ruby-accel|ruby|buffered framed|binary-accel"
	"ruby-untimed|ruby|buffered framed|binary compact|CALCD_TLS_RUBY_TIMEOUT=none"
	"perl|perl|buffered framed|binary"
	"php|php|buffered framed|binary compact"
	"php-accel|php|buffered framed|binary-accel"
	"node|node|buffered framed|binary compact"
)
# The certificate cells, once per library (the first row of each client).
CERT_CELLS="distrust mtls no-cert other-ca revoked"

# Known library bugs: the cell fails, with exactly this (an ERE on its detail);
# it is then an XFAIL, not a failure.  ruby-thrift 0.14's Socket#read with a
# timeout IO.selects the socket even when OpenSSL already holds the bytes
# (ruby_tls_client.rb; the ruby-untimed row passes the same cells).
declare -A KNOWN
for k in "ruby tls framed binary" "ruby tls framed compact" "ruby-accel tls framed binary-accel"; do
	KNOWN[$k]='^FAIL: after 0 checks: Thrift::TransportException: Socket: Timed out reading [0-9]+ bytes from '
done

selected() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

NODE_MODULES=${CALCD_INTEROP_NODE_MODULES:-}
if [ -z "$NODE_MODULES" ] && command -v npm >/dev/null 2>&1; then
	NODE_MODULES=$(timeout 60 npm root -g 2>/dev/null) || NODE_MODULES=
fi

deb_installed() { # PACKAGE...
	local p
	for p; do
		dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || return 1
	done
}
missing_for() { # CLIENT -> what is missing, or nothing
	local m=
	case $1 in
	python) deb_installed python3-thrift || m="python3-thrift" ;;
	thriftpy) deb_installed python3-thriftpy || m="python3-thriftpy" ;;
	cpp) deb_installed libthrift-dev libboost-dev && command -v g++ >/dev/null || m="libthrift-dev libboost-dev g++" ;;
	c_glib) deb_installed libthrift-c-glib-dev libglib2.0-dev libssl-dev && command -v gcc >/dev/null ||
		m="libthrift-c-glib-dev libglib2.0-dev libssl-dev gcc" ;;
	java) deb_installed libthrift-java && command -v javac >/dev/null && command -v keytool >/dev/null ||
		m="libthrift-java default-jdk-headless" ;;
	go) deb_installed golang-thrift-dev && command -v go >/dev/null || m="golang-thrift-dev golang-go" ;;
	ruby) deb_installed ruby-thrift && command -v ruby >/dev/null || m="ruby-thrift" ;;
	perl) deb_installed libthrift-perl libio-socket-ssl-perl libbit-vector-perl libclass-accessor-perl ||
		m="libthrift-perl libio-socket-ssl-perl libbit-vector-perl libclass-accessor-perl" ;;
	php) deb_installed php-thrift && command -v php >/dev/null || m="php-thrift php-cli" ;;
	node) command -v node >/dev/null && [ -n "$NODE_MODULES" ] && [ -f "$NODE_MODULES/thrift/package.json" ] ||
		m="node and thrift from npm" ;;
	esac
	[ "$1" = thriftpy ] || command -v "$THRIFT" >/dev/null 2>&1 || m+="${m:+ }thrift-compiler"
	echo "$m"
}

# --- certificates ------------------------------------------------------------------
C="$W/certs"
sh "$here/make-certs.sh" "$C" || die "make-certs.sh failed"
STORE_PASSWORD=changeit
java_stores() { # PKCS12 trust and key stores for the Java client
	keytool -importcert -noprompt -alias ca -file "$C/ca.pem" -keystore "$C/trust.p12" \
		-storetype PKCS12 -storepass "$STORE_PASSWORD" >/dev/null 2>&1 &&
		keytool -importcert -noprompt -alias ca -file "$C/other-ca.pem" \
			-keystore "$C/other-trust.p12" -storetype PKCS12 -storepass "$STORE_PASSWORD" \
			>/dev/null 2>&1 || return 1
	local k
	for k in client other-client revoked; do
		"${OPENSSL:-openssl}" pkcs12 -export -in "$C/$k.pem" -inkey "$C/$k.key" -name "$k" \
			-out "$C/$k.p12" -passout "pass:$STORE_PASSWORD" || return 1
	done
}

# --- builds ----------------------------------------------------------------------------
bounded() {
	local left=$((build_deadline - $(date +%s)))
	[ "$left" -gt 0 ] || { echo "tls-interop: no time left for: $*" >&2; return 124; }
	timeout -k 5 "$left" "$@"
}
gen() { mkdir -p "$2" && bounded "$THRIFT" --gen "$1" -out "$2" "$CALCD_IDL"; }
# derive SRC OUT OLD NEW: OUT is SRC with the one occurrence of OLD made NEW.
derive() {
	"$PYTHON3" - "$@" <<'PY'
import sys
src, out, old, new = sys.argv[1:5]
text = open(src).read()
if text.count(old) != 1:
    sys.exit("tls-interop: %s holds %r %d times, expected once: update the derivation "
             "in tests/tls/interop.sh" % (src, old, text.count(old)))
open(out, "w").write(text.replace(old, new))
PY
}
JAVA_CP=/usr/share/java/thrift.jar:/usr/share/java/slf4j-api.jar
GO_PATH="$W/go"

build_python() { gen py "$W/gen/py"; }
build_thriftpy() { :; }
# shellcheck disable=SC2046
build_cpp() {
	gen cpp:no_skeleton "$W/gen/cpp" &&
		derive "$clients/cpp_client.cpp" "$W/src/cpp_tls_client.cpp" \
			'std::make_shared<TSocket>(host, port)' 'calcd_tls_socket(host, port)' &&
		bounded nice g++ -std=c++11 -O0 -w -include "$clients/cpp_tls_socket.h" \
			-I"$W/gen/cpp" -o "$W/bin/cpp_tls_client" "$W/src/cpp_tls_client.cpp" \
			"$W"/gen/cpp/*.cpp $(pkg-config --cflags --libs thrift-z thrift)
}
# shellcheck disable=SC2046
build_c_glib() {
	gen c_glib "$W/gen/c_glib" &&
		derive "$clients/c_glib_client.c" "$W/src/c_glib_tls_client.c" \
			'g_object_new(THRIFT_TYPE_SOCKET, "hostname", host, "port", port, NULL)' \
			'calcd_tls_socket(host, port)' &&
		bounded nice gcc -std=gnu11 -O0 -w -include "$clients/c_glib_tls_socket.h" \
			-I"$W/gen/c_glib" -o "$W/bin/c_glib_tls_client" "$W/src/c_glib_tls_client.c" \
			"$W"/gen/c_glib/*.c $(pkg-config --cflags --libs thrift_c_glib gobject-2.0 openssl)
}
build_java() {
	java_stores || return 1
	gen java:generated_annotations=suppress "$W/gen/java" &&
		mkdir -p "$W/src/java" "$W/bin/java" &&
		derive "$clients/JavaClient.java" "$W/src/java/JavaClient.java" \
			'new TSocket(host, port, 5000)' 'JavaTlsSockets.open(host, port, 5000)' &&
		bounded nice javac -nowarn -encoding UTF-8 -d "$W/bin/java" -cp "$JAVA_CP" \
			"$W"/gen/java/calcd/*.java "$W/src/java/JavaClient.java" "$clients/JavaTlsSockets.java"
}
build_go() {
	mkdir -p "$GO_PATH/src/interop/gen-go" "$GO_PATH/src/interop/tlsclient" &&
		gen go:package_prefix=interop/gen-go/ "$GO_PATH/src/interop/gen-go" &&
		rm -rf "$GO_PATH"/src/interop/gen-go/calcd/*-remote &&
		derive "$clients/go_client.go" "$GO_PATH/src/interop/tlsclient/main.go" \
			'thrift.NewTSocketConf(net.JoinHostPort(host, port), conf)' \
			'newTLSSocket(net.JoinHostPort(host, port), conf)' &&
		cp "$clients/go_tls_socket.go" "$GO_PATH/src/interop/tlsclient/" &&
		(cd "$GO_PATH/src/interop/tlsclient" &&
			GO111MODULE=off GOFLAGS='' GOPATH="$GO_PATH:/usr/share/gocode" \
				GOCACHE="$W/go-cache" bounded nice go build -o "$W/bin/go_tls_client" .)
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

declare -A MISSING BUILD_PID BUILD_RC
for row in "${ROWS[@]}"; do
	IFS='|' read -r id base _ _ _ <<<"$row"
	selected "$id" || continue
	[ -n "${MISSING[$base]+set}" ] || MISSING[$base]=$(missing_for "$base")
	if [ -n "${MISSING[$base]}" ] || [ -n "${BUILD_PID[$base]:-}" ]; then
		continue
	fi
	("build_$base" >"$W/logs/build-$base.log" 2>&1) &
	BUILD_PID[$base]=$!
done
for b in "${!BUILD_PID[@]}"; do
	wait "${BUILD_PID[$b]}"
	BUILD_RC[$b]=$?
	if [ "${BUILD_RC[$b]}" -eq 0 ]; then
		echo "tls-interop: built $b"
	else
		echo "tls-interop: FAIL building $b; $W/logs/build-$b.log:"
		tail -n 20 "$W/logs/build-$b.log" | sed 's/^/    /'
	fi
done

# --- calcd and HAProxy ----------------------------------------------------------------
calcd_pid=''
haproxy_pid=''
cleanup() {
	local p
	for p in "$haproxy_pid" "$calcd_pid"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf 'log_level = notice\n' >"$W/calcd.conf"
"$CALCD" -f -c "$W/calcd.conf" -l 127.0.0.1:0 </dev/null >"$W/calcd.out" 2>"$W/calcd.log" &
calcd_pid=$!
port=
for _ in $(seq 100); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$W/calcd.log" | head -n 1)
	[ -n "$port" ] && break
	kill -0 "$calcd_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$port" ] || { cat "$W/calcd.log" >&2; die "calcd did not start"; }

# Two free ports for HAProxy (it cannot report a port the kernel picked).
read -r tls_port mtls_port < <("$PYTHON3" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s:
    x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
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
"$HAPROXY" -c -q -f "$W/haproxy.cfg" || die "haproxy rejects $W/haproxy.cfg"
"$HAPROXY" -db -f "$W/haproxy.cfg" </dev/null >"$W/haproxy.log" 2>&1 &
haproxy_pid=$!
up=0
for _ in $(seq 100); do
	if "$PYTHON3" -c 'import socket,sys
for p in sys.argv[1:]:
    socket.create_connection(("127.0.0.1", int(p)), timeout=1).close()' "$tls_port" "$mtls_port" 2>/dev/null; then
		up=1
		break
	fi
	kill -0 "$haproxy_pid" 2>/dev/null || break
	sleep 0.1
done
[ "$up" = 1 ] || { cat "$W/haproxy.log" >&2; die "haproxy did not listen on $tls_port and $mtls_port"; }
echo "tls-interop: calcd on 127.0.0.1:$port; HAProxy TLS on :$tls_port, mutual TLS on :$mtls_port"

# --- cells ------------------------------------------------------------------------------
# The environment of a cell: its CA and client certificate, by kind.
cell_env() { # CLIENT KIND -> ENV (an array of NAME=VALUE)
	local ca=ca cert=
	case $2 in
	distrust) ca=other-ca ;;
	mtls) cert=client ;;
	other-ca) cert=other-client ;;
	revoked) cert=revoked ;;
	esac
	if [ "$1" = java ]; then
		local store=trust
		[ "$ca" = ca ] || store=other-trust
		ENV=("CALCD_TLS_TRUSTSTORE=$C/$store.p12" "CALCD_TLS_STORE_PASSWORD=$STORE_PASSWORD")
		[ -z "$cert" ] || ENV+=("CALCD_TLS_KEYSTORE=$C/$cert.p12")
	else
		ENV=("CALCD_TLS_CA=$C/$ca.pem")
		[ -z "$cert" ] || ENV+=("CALCD_TLS_CERT=$C/$cert.pem" "CALCD_TLS_KEY=$C/$cert.key")
	fi
}
cell_command() { # ROW CLIENT PORT TRANSPORT PROTOCOL LOGID -> CMD
	local h=127.0.0.1
	case $2 in
	python) CMD=("$PYTHON3" "$clients/python_tls_client.py" "$W/gen/py") ;;
	thriftpy) CMD=("$PYTHON3" "$clients/thriftpy_tls_client.py" "$CALCD_IDL") ;;
	cpp) CMD=("$W/bin/cpp_tls_client") ;;
	c_glib) CMD=("$W/bin/c_glib_tls_client") ;;
	java) CMD=(java -cp "$W/bin/java:$JAVA_CP" JavaClient) ;;
	go) CMD=("$W/bin/go_tls_client") ;;
	ruby) CMD=(ruby "$clients/ruby_tls_client.rb" "$W/gen/rb") ;;
	perl) CMD=(perl "$clients/perl_tls_client.pl" "$W/gen/perl") ;;
	php) CMD=(php -d "auto_prepend_file=$clients/php_tls_socket.php")
		[ "$1" != php-accel ] || CMD+=(-d extension=thrift_protocol)
		CMD+=("$W/src/php_tls_client.php" "$W/gen/php") ;;
	node) CMD=(env "NODE_PATH=$NODE_MODULES:$NODE_MODULES/thrift/node_modules" node
		"$clients/node_tls_client.js" "$W/gen/js") ;;
	esac
	CMD+=("$h" "$3" "$4" "$5" "$6" plain)
}

npass=0 nfail=0 nskip=0 cell=0
declare -a FAILED=()
declare -A CERT_DONE
results="$W/results.tsv"
printf 'row\tkind\ttransport\tprotocol\tstatus\tdetail\n' >"$results"

run_cell() { # ROW CLIENT KIND TRANSPORT PROTOCOL [NAME=VALUE...]
	local row=$1 base=$2 kind=$3 t=$4 p=$5 target=$tls_port expect=pass rc detail status log name
	local known=${KNOWN["$1 $3 $4 $5"]:-}
	shift 5
	case $kind in
	mtls | no-cert | other-ca | revoked) target=$mtls_port ;;
	esac
	case $kind in
	tls | mtls) ;;
	*) expect=fail ;;
	esac
	name=$(printf '%-13s %-8s %-8s %-13s' "$row" "$kind" "$t" "$p")
	cell=$((cell + 1))
	log="$W/logs/$row-$kind-$t-$p"
	cell_env "$base" "$kind"
	ENV+=("$@")
	cell_command "$row" "$base" "$target" "$t" "$p" $((1000 + 100 * cell))
	echo "${ENV[*]} ${CMD[*]}" >"$log.cmd"
	timeout -k 5 "$CELL_TIMEOUT" env "${ENV[@]}" "${CMD[@]}" </dev/null >"$log.out" 2>"$log.err"
	rc=$?
	if [ "$rc" -eq 0 ] && grep -q '^ok:' "$log.out"; then
		detail=$(grep -m 1 '^ok:' "$log.out")
	elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		detail="timed out after ${CELL_TIMEOUT} s"
	else
		[ "$rc" -ne 0 ] || rc=1
		detail=$(grep -m 1 '^FAIL' "$log.out")
		[ -n "$detail" ] || detail="exit status $rc: $(grep -v '^[[:space:]]*$' "$log.err" | tail -n 1)"
	fi
	detail=${detail:0:240}
	if [ -n "$known" ] && [ "$rc" -ne 0 ] && grep -Eq -- "$known" <<<"$detail"; then
		status=XFAIL
		nskip=$((nskip + 1))
		detail="library bug, as known: $detail"
	elif { [ "$expect" = pass ] && [ "$rc" -eq 0 ]; } ||
		{ [ "$expect" = fail ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ]; }; then
		status=PASS
		npass=$((npass + 1))
		[ "$expect" = pass ] || detail="refused, as it must be: $detail"
		[ -z "$known" ] || detail+=" (a known library bug no longer shows: update KNOWN)"
	else
		status=FAIL
		nfail=$((nfail + 1))
		[ "$expect" = pass ] || detail="must be refused, but: $detail"
		FAILED+=("$row $kind $t $p: $detail")
	fi
	printf 'tls-interop: %-5s  %s  %s\n' "$status" "$name" "$detail"
	[ "$status" != FAIL ] || echo "tls-interop:        command: $(cat "$log.cmd")"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$kind" "$t" "$p" "$status" "$detail" >>"$results"
}

for row in "${ROWS[@]}"; do
	IFS='|' read -r id base transports protos row_env <<<"$row"
	selected "$id" || continue
	# shellcheck disable=SC2206 # NAME=VALUE words
	row_env=(${row_env:-})
	if [ -n "${MISSING[$base]}" ]; then
		if [ "$REQUIRE_ALL" = 1 ]; then
			nfail=$((nfail + 1))
			FAILED+=("$id: not installed: ${MISSING[$base]}")
			echo "tls-interop: FAIL  $id  not installed: ${MISSING[$base]}"
		else
			nskip=$((nskip + 1))
			echo "tls-interop: SKIP  $id  not installed: ${MISSING[$base]}"
		fi
		continue
	fi
	if [ "${BUILD_RC[$base]:-0}" -ne 0 ]; then
		nfail=$((nfail + 1))
		FAILED+=("$id: build failed: $W/logs/build-$base.log")
		echo "tls-interop: FAIL  $id  build failed: see $W/logs/build-$base.log"
		continue
	fi
	for t in $transports; do
		for p in $protos; do
			run_cell "$id" "$base" tls "$t" "$p" "${row_env[@]}"
		done
	done
	[ -z "${CERT_DONE[$base]:-}" ] || continue
	CERT_DONE[$base]=1
	# The certificate cells, with the row's first protocol, buffered.
	for kind in $CERT_CELLS; do
		run_cell "$id" "$base" "$kind" buffered "${protos%% *}" "${row_env[@]}"
	done
done

status=0
if ! kill -0 "$calcd_pid" 2>/dev/null; then
	echo "tls-interop: FAIL calcd died; $W/calcd.log:"
	cat "$W/calcd.log"
	status=1
else
	kill -TERM "$calcd_pid"
	wait "$calcd_pid"
	rc=$?
	calcd_pid=
	[ "$rc" -eq 0 ] || { echo "tls-interop: FAIL calcd exited $rc after SIGTERM"; status=1; }
fi
kill -TERM "$haproxy_pid" 2>/dev/null
wait "$haproxy_pid" 2>/dev/null
haproxy_pid=

echo "tls-interop: $cell cells in $(($(date +%s) - started)) s; results in $results"
if [ "${#FAILED[@]}" -gt 0 ]; then
	echo "tls-interop: failed:"
	printf 'tls-interop:   %s\n' "${FAILED[@]}"
	status=1
fi
echo "tls-interop: $npass passed, $nfail failed, $nskip skipped or known library bugs"
exit "$status"
