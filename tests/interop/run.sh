#!/bin/bash
# calcd interop matrix: the real daemon against the Thrift client libraries of
# many languages, every transport x protocol each library supports among
# buffered, framed and header x binary and compact, plain and multiplexed
# (TMultiplexedProtocol), and a multiplexed call to a service calcd lacks.
#
#   tests/interop/run.sh            run the matrix, compare with docs/COMPATIBILITY.md
#   tests/interop/run.sh --update   run the matrix, rewrite docs/COMPATIBILITY.md
#
# Starts calcd ($CALCD) on 127.0.0.1 port 0, generates each client's code from
# calcd's IDL ($CALCD_IDL) with Debian's thrift-compiler ($THRIFT), builds the
# clients under $CALCD_WORK/interop, runs one connection per cell (every call
# checked, every cell under a timeout), prints one result line per cell, writes
# the table to $CALCD_WORK/interop/COMPATIBILITY.md and fails when a cell fails,
# when calcd does not exit 0 on SIGTERM, or when the table differs from the
# committed docs/COMPATIBILITY.md.
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
#                                    compared with the docs and cannot --update)
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

[ -x "$CALCD" ] || die "CALCD=$CALCD is not an executable file; build calcd first"
[ -r "$CALCD_IDL" ] || die "CALCD_IDL=$CALCD_IDL is not readable"
command -v "$PYTHON3" >/dev/null 2>&1 || die "PYTHON3=$PYTHON3 not found (apt-get install python3)"
command -v timeout >/dev/null 2>&1 || die "timeout(1) not found (coreutils)"
[ "$update" = 0 ] || [ -z "$ONLY" ] || die "--update needs the whole matrix: unset CALCD_INTEROP_ONLY"

mkdir -p "$CALCD_WORK" || die "cannot create CALCD_WORK=$CALCD_WORK"
W=$(cd "$CALCD_WORK" && pwd)/interop
# The Go build cache survives between runs; everything else is made anew.
mkdir -p "$W"
for d in "$W"/*; do
	[ "$d" = "$W/go-cache" ] || rm -rf "$d"
done
mkdir -p "$W/gen" "$W/bin" "$W/logs"
started=$(date +%s)
deadline=$((started + TIME_LIMIT))
build_deadline=$((started + BUILD_TIMEOUT))
# Clients must not write bytecode into the source tree (read-only in distcheck).
export PYTHONDONTWRITEBYTECODE=1

# --- the matrix ----------------------------------------------------------------
# One row per client: id | language | library (Debian package, or "thrift (npm)")
# | variant | transports | protocol columns (COLUMN=CLIENT_ARGUMENT) | mode.
# The mode is the client's last argument: plain (when empty), multiplexed (the
# same calls through TMultiplexedProtocol) or unknown-service (a multiplexed
# call to a service calcd does not serve).  A row ID-mux or ID-nope runs the
# client of row ID (base_of).
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
)
TRANSPORTS="buffered framed header"
PROTOCOLS="binary compact"

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
	ruby | ruby-accel)
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
JAVA_CP=/usr/share/java/thrift.jar:/usr/share/java/slf4j-api.jar
GO_PATH="$W/go"

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
build_php() { gen php "$W/gen/php"; }
build_node() { gen js:node "$W/gen/js"; }

base_of() { # ROW ID -> the row whose client it runs: cpp-mux and cpp-nope run cpp's
	local b=${1%-mux}
	echo "${b%-nope}"
}

build_of() { # ROW ID -> the build it needs
	case $1 in
	python*) echo python ;;
	thriftpy*) echo none ;;
	ruby*) echo ruby ;;
	php*) echo php ;;
	*) echo "$1" ;;
	esac
}

# The command line of one cell, in CMD.
cell_command() { # ROW TRANSPORT ARGUMENT LOGID MODE
	local h=127.0.0.1
	case $(base_of "$1") in
	python*) CMD=("$PYTHON3" "$clients/python_client.py" "$W/gen/py" "$h" "$port" "$2" "$3" "$4") ;;
	thriftpy*) CMD=("$PYTHON3" "$clients/thriftpy_client.py" "$CALCD_IDL" "$h" "$port" "$2" "$3" "$4") ;;
	cpp) CMD=("$W/bin/cpp_client" "$h" "$port" "$2" "$3" "$4") ;;
	c_glib) CMD=("$W/bin/c_glib_client" "$h" "$port" "$2" "$3" "$4") ;;
	java) CMD=(java -cp "$W/bin/java:$JAVA_CP" JavaClient "$h" "$port" "$2" "$3" "$4") ;;
	go) CMD=("$W/bin/go_client" "$h" "$port" "$2" "$3" "$4") ;;
	ruby*) CMD=(ruby "$clients/ruby_client.rb" "$W/gen/rb" "$h" "$port" "$2" "$3" "$4") ;;
	perl) CMD=(perl "$clients/perl_client.pl" "$W/gen/perl" "$h" "$port" "$2" "$3" "$4") ;;
	php) CMD=(php "$clients/php_client.php" "$W/gen/php" "$h" "$port" "$2" "$3" "$4") ;;
	php-accel) CMD=(php -d extension=thrift_protocol "$clients/php_client.php" "$W/gen/php" "$h"
		"$port" "$2" "$3" "$4") ;;
	node) CMD=(env "NODE_PATH=$NODE_MODULES:$NODE_MODULES/thrift/node_modules"
		node "$clients/node_client.js" "$W/gen/js" "$h" "$port" "$2" "$3" "$4") ;;
	esac
	CMD+=("${5:-plain}")
}

# --- calcd -------------------------------------------------------------------------
calcd_pid=
cleanup() {
	# Only our own daemon, by its process id.
	if [ -n "$calcd_pid" ] && kill -0 "$calcd_pid" 2>/dev/null; then
		kill -KILL "$calcd_pid" 2>/dev/null
		wait "$calcd_pid" 2>/dev/null
	fi
	local j
	for j in $(jobs -p); do kill "$j" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_calcd() {
	printf 'log_level = notice\n' >"$W/calcd.conf"
	"$CALCD" -f -c "$W/calcd.conf" -l 127.0.0.1:0 </dev/null >"$W/calcd.out" 2>"$W/calcd.log" &
	calcd_pid=$!
	port=
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$W/calcd.log" | head -n 1)
		[ -n "$port" ] && return 0
		kill -0 "$calcd_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "interop: calcd did not log 'listening on 127.0.0.1:PORT' within 10 s; stderr:" >&2
	cat "$W/calcd.log" >&2
	return 1
}

stop_calcd() { # -> 0 when calcd exits 0 within 15 s of SIGTERM
	local rc
	kill -TERM "$calcd_pid" 2>/dev/null
	for _ in $(seq 150); do
		kill -0 "$calcd_pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$calcd_pid" 2>/dev/null; then
		echo "interop: FAIL calcd did not exit within 15 s of SIGTERM; stderr:" >&2
		cat "$W/calcd.log" >&2
		return 1
	fi
	wait "$calcd_pid"
	rc=$?
	calcd_pid=
	if [ "$rc" -ne 0 ]; then
		echo "interop: FAIL calcd exited $rc after SIGTERM, expected 0; stderr:" >&2
		cat "$W/calcd.log" >&2
		return 1
	fi
	echo "interop: calcd exited 0 after SIGTERM"
}

# --- run -------------------------------------------------------------------------
echo "interop: $CALCD: $(timeout 10 "$CALCD" -V 2>&1 </dev/null | head -n 1)"
echo "interop: work directory $W"
compiler_version=$(deb_version thrift-compiler)
echo "interop: $THRIFT: $("$THRIFT" --version 2>&1 | head -n 1) (thrift-compiler ${compiler_version:-not installed})"

declare -A ROW_MISSING ROW_VERSION BUILD_PID BUILD_RC
selected() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

# Check every row, then start the builds the runnable rows need, in parallel.
for row in "${ROWS[@]}"; do
	IFS='|' read -r id lang lib variant transports protos mode <<<"$row"
	selected "$id" || continue
	check_row "$(base_of "$id")" "$lib"
	ROW_MISSING[$id]=$missing
	ROW_VERSION[$id]=$version
	[ -z "$missing" ] || continue
	b=$(build_of "$(base_of "$id")")
	[ "$b" = none ] || [ -n "${BUILD_PID[$b]:-}" ] && continue
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

start_calcd || exit 1
echo "interop: calcd listening on 127.0.0.1:$port"

results="$W/results.tsv"
printf 'id\tlanguage\tlibrary\tvariant\tversion\ttransport\tprotocol\tstatus\tdetail\tmode\n' >"$results"
npass=0 nfail=0 nskip=0 nxfail=0 nna=0 cell=0
declare -a FAILED=()

record() { # ID LANG LIB VARIANT VERSION TRANSPORT PROTOCOL STATUS DETAIL (and $mode)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" "${mode:-plain}" >>"$results"
}

for row in "${ROWS[@]}"; do
	IFS='|' read -r id lang lib variant transports protos mode <<<"$row"
	selected "$id" || continue
	missing=${ROW_MISSING[$id]}
	version=${ROW_VERSION[$id]}
	b=$(build_of "$(base_of "$id")")
	label="$lang $lib${variant:+ ($variant)}"
	for t in $TRANSPORTS; do
		for p in $PROTOCOLS; do
			name=$(printf '%-14s %-8s %-7s' "$id" "$t" "$p")
			arg=
			if [[ " $transports " == *" $t "* ]]; then
				for m in $protos; do
					[ "${m%%=*}" = "$p" ] && arg=${m#*=}
				done
			fi
			if [ -z "$arg" ]; then
				record "$id" "$lang" "$lib" "$variant" "$version" "$t" "$p" "n/a" ""
				nna=$((nna + 1))
				echo "interop: N/A   $name  not in $label"
				continue
			fi
			if [ -n "$missing" ]; then
				record "$id" "$lang" "$lib" "$variant" "" "$t" "$p" "not installed" "$missing"
				if [ "$REQUIRE_ALL" = 1 ]; then
					nfail=$((nfail + 1))
					FAILED+=("$id $t $p: not installed: $missing")
					progress "interop: FAIL  $name  not installed: $missing"
				else
					nskip=$((nskip + 1))
					progress "interop: SKIP  $name  not installed: $missing"
				fi
				continue
			fi
			cell=$((cell + 1))
			logid=$((1000 + 100 * cell))
			log="$W/logs/$id-$t-$p"
			t0=$(date +%s%N)
			if [ "$b" != none ] && [ "${BUILD_RC[$b]}" -ne 0 ]; then
				rc=1
				detail="build failed: see $W/logs/build-$b.log"
			elif [ "$(date +%s)" -ge "$deadline" ]; then
				rc=1
				detail="not run: the matrix passed its ${TIME_LIMIT} s limit"
			elif ! kill -0 "$calcd_pid" 2>/dev/null; then
				rc=1
				detail="not run: calcd is no longer running"
			else
				cell_command "$id" "$t" "$arg" "$logid" "$mode"
				echo "${CMD[*]}" >"$log.cmd"
				timeout -k 5 "$CELL_TIMEOUT" "${CMD[@]}" </dev/null >"$log.out" 2>"$log.err"
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
			fi
			ms=$((($(date +%s%N) - t0) / 1000000))
			secs=$(printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100)))
			known=${KNOWN["$id $t $p"]:-}
			if [ "$rc" -eq 0 ]; then
				status=pass
				npass=$((npass + 1))
				progress "interop: PASS  $name  $secs  $detail"
				[ -z "$known" ] ||
					progress "interop:       (a known library bug no longer shows: update KNOWN in run.sh and --update the docs)"
			elif [ -n "$known" ] && grep -Eq -- "$known" <<<"$detail"; then
				status="library bug"
				nxfail=$((nxfail + 1))
				progress "interop: XFAIL $name  $secs  library bug, as known: $detail"
			else
				status=FAIL
				nfail=$((nfail + 1))
				FAILED+=("$id $t $p: $detail")
				progress "interop: FAIL  $name  $secs  $detail"
				echo "interop:       command: $(cat "$log.cmd" 2>/dev/null)"
				if [ -s "$log.err" ]; then
					grep -v '^SLF4J: ' "$log.err" | tail -n 5 | sed 's/^/interop:       stderr: /'
				fi
			fi
			record "$id" "$lang" "$lib" "$variant" "$version" "$t" "$p" "$status" "$detail"
		done
	done
done

status=0
if ! kill -0 "$calcd_pid" 2>/dev/null; then
	echo "interop: FAIL calcd died during the matrix; stderr:" >&2
	cat "$W/calcd.log" >&2
	status=1
	calcd_pid=
else
	stop_calcd || status=1
fi

# --- the table -------------------------------------------------------------------
notes="$W/notes.tsv"
: >"$notes"
for id in "${!NOTE[@]}"; do
	printf '%s\t%s\n' "$id" "${NOTE[$id]}" >>"$notes"
done
"$PYTHON3" "$here/table.py" render "$results" "$notes" "${compiler_version:-not installed}" \
	>"$W/COMPATIBILITY.md" || die "table.py could not write the table"
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
