#!/bin/bash
# calcd integration tests: generate the Python Thrift code at test time,
# then run the unittest modules beside this script against the real daemon.
#
# Environment (exported by `make check`, see Makefile.am):
#   CALCD       the built daemon          CALCD_IDL   calculator.thrift
#   CALCD_CONF  the shipped calcd.conf    CALCD_TEST_DIR  the tests/ source dir
#   CALCD_WORK  scratch dir (created)     PYTHON3, THRIFT  the tools to use
# Extra arguments are passed to unittest (e.g. a single test name).
# CALCD_SOAK_SECONDS sets the length of test_soak's load (default 60).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${CALCD_TEST_DIR:=$(dirname "$here")}"
: "${CALCD_WORK:=$PWD/tests/integration/work}"
: "${PYTHON3:=/usr/bin/python3}"
: "${THRIFT:=thrift}"

die() { echo "run.sh: $*" >&2; exit 1; }

for var in CALCD CALCD_IDL CALCD_CONF; do
	[ -n "${!var:-}" ] || die "$var is not set (run through 'make check')"
done
[ -x "$CALCD" ] || die "CALCD=$CALCD is not an executable file; build calcd first"
[ -r "$CALCD_IDL" ] || die "CALCD_IDL=$CALCD_IDL is not readable"
[ -r "$CALCD_CONF" ] || die "CALCD_CONF=$CALCD_CONF is not readable"

# Missing tools are a failure, not a skip.
command -v "$PYTHON3" >/dev/null 2>&1 ||
	die "PYTHON3=$PYTHON3 not found; install the Debian package python3 (apt-get install python3)"
"$PYTHON3" -c 'import thrift.protocol.TBinaryProtocol, thrift.transport.TSocket' 2>/dev/null ||
	die "$PYTHON3 cannot import thrift; install the Debian package python3-thrift (apt-get install python3-thrift)"
command -v "$THRIFT" >/dev/null 2>&1 ||
	die "THRIFT=$THRIFT not found; install the Debian package thrift-compiler (apt-get install thrift-compiler)"

src="$CALCD_TEST_DIR/integration"
[ -f "$src/calcd_harness.py" ] || src=$here
idl="$src/idl"

mkdir -p "$CALCD_WORK"
CALCD_WORK=$(cd "$CALCD_WORK" && pwd)
export CALCD_WORK
rm -rf "$CALCD_WORK/gen-py" "$CALCD_WORK/gen-py-seed" "$CALCD_WORK/gen-py-seed-calcd" \
	"$CALCD_WORK/tmp" "$CALCD_WORK/seed"

gen() { # OUTDIR IDL
	local out
	mkdir -p "$1"
	out=$("$THRIFT" --gen py -r -out "$1" "$2" 2>&1) || {
		printf '%s\n' "$out" >&2
		die "$THRIFT failed on $2"
	}
	# The Apache tutorial IDL names generators Debian's compiler lacks ('cl').
	printf '%s\n' "$out" | grep -v "No generator named" | grep . >&2 || true
}

# The tests' own client code: calcd's IDL (package example.calculator)
# and an IDL with a method calcd does not have (package itest.extra).
gen "$CALCD_WORK/gen-py" "$CALCD_IDL"
gen "$CALCD_WORK/gen-py" "$idl/extra.thrift"

# The Apache tutorial's own IDL is not ours to ship (calcd's Calculator
# service is wire-identical and always tested); where a copy is at hand,
# CALCD_TUTORIAL_IDL=/path/to/tutorial.thrift adds a run with its code.
if [ -n "${CALCD_TUTORIAL_IDL:-}" ]; then
	gen "$CALCD_WORK/gen-py" "$CALCD_TUTORIAL_IDL"
	export CALCD_TUTORIAL_IDL
fi

# The seed client imports "tutorial.calculator" although its IDL says
# "namespace py example.calculator": generate apart and alias the package.
# Once from the user's own IDL, once from calcd's shipped IDL.
gen "$CALCD_WORK/gen-py-seed" "$idl/seed/calculator.thrift"
ln -s example "$CALCD_WORK/gen-py-seed/tutorial"
gen "$CALCD_WORK/gen-py-seed-calcd" "$CALCD_IDL"
ln -s example "$CALCD_WORK/gen-py-seed-calcd/tutorial"

export CALCD CALCD_IDL CALCD_CONF CALCD_TEST_DIR PYTHON3 THRIFT
export CALCD_GEN_PY="$CALCD_WORK/gen-py"
export CALCD_SEED_CLIENT="$src/seed_client.py"
export PYTHONPATH="$src:$CALCD_GEN_PY"
# Keep the source tree clean (and usable read-only, as in distcheck).
export PYTHONDONTWRITEBYTECODE=1
export PYTHONUNBUFFERED=1

echo "calcd integration tests: $CALCD"
"$CALCD" -V 2>&1 | head -n 1 || true

start=$(date +%s)
cd "$CALCD_WORK"
status=0
if [ $# -gt 0 ]; then
	timeout -k 10 600 "$PYTHON3" -m unittest -v "$@" || status=$?
else
	timeout -k 10 600 "$PYTHON3" -m unittest -v \
		test_cli test_config test_reload test_seed test_protocols test_header test_errors test_calcctl \
		test_robustness \
		test_hostile test_overload test_soak || status=$?
fi
echo "calcd integration tests: $(( $(date +%s) - start ))s, exit status $status"
[ "$status" -eq 124 ] && echo "run.sh: the suite passed its 600 s limit" >&2
[ "$status" -eq 0 ] || exit 1
exit 0
