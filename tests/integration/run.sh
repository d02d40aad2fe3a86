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
# service is wire-identical and always tested); Debian's thrift-compiler
# has a copy among its examples (unless the machine leaves out
# /usr/share/doc), and CALCD_TUTORIAL_IDL=/path/to/tutorial.thrift names
# another: either adds a run with the tutorial's own generated code.
debian_tutorial=/usr/share/doc/thrift-compiler/examples/tutorial.thrift
if [ -z "${CALCD_TUTORIAL_IDL:-}" ] && [ -r "$debian_tutorial" ]; then
	CALCD_TUTORIAL_IDL=$debian_tutorial
fi
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

# make check's console shows each module as it runs and ends (the harness
# keeps stdout for the log): CALCD_PROGRESS_FD, set by Makefile.am.
progress() {
	echo "$*"
	[ -z "${CALCD_PROGRESS_FD:-}" ] || { echo "$*" >&"$CALCD_PROGRESS_FD"; } 2>/dev/null || true
}

# One unittest process per module (or per test named on the command line),
# all of them within the suite's 600 s; each one's counts as it ends, and
# the sum for make check's closing summary (tests/summary.sh).
ntests=0 nskipped=0 nxfail=0 nfailed=0 nmodules=0
failed_modules=()
count() { echo "$1 $2$([ "$1" = 1 ] || echo s)"; }	# N WORD: "1 test", "2 tests"
unittests() { # NAME...
	local name out rc left t0 ran counts key value skipped failed xfail verdict extra
	for name; do
		nmodules=$((nmodules + 1))
		left=$((start + 600 - $(date +%s)))
		if [ "$left" -le 0 ]; then
			status=124
			nfailed=$((nfailed + 1))
			progress "integration: $name: not run: the suite passed its 600 s limit"
			continue
		fi
		progress "integration: $name ..."
		t0=$(date +%s)
		out="$CALCD_WORK/unittest-$name.out"
		rc=0
		timeout -k 10 "$left" "$PYTHON3" -m unittest -v "$name" 2>&1 | tee "$out" || rc=$?
		# "Ran 12 tests in 3.4s", then "OK", "OK (skipped=2)" or
		# "FAILED (failures=1, errors=1, skipped=2, expected failures=1)"
		ran=$(sed -n 's/^Ran \([0-9][0-9]*\) tests\{0,1\} in .*/\1/p' "$out" | tail -n 1)
		counts=$(sed -n 's/^\(OK\|FAILED\) (\(.*\))$/\2/p' "$out" | tail -n 1)
		skipped=0 failed=0 xfail=0
		while IFS='=' read -r key value; do
			case $key in
			skipped) skipped=$value ;;
			failures | errors | "unexpected successes") failed=$((failed + value)) ;;
			"expected failures") xfail=$value ;;
			esac
		done < <(printf '%s\n' "$counts" | tr ',' '\n' | sed 's/^ *//')
		if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
			failed=1	# killed, or no summary at all: count the module
		fi
		[ "$rc" -eq 124 ] && status=124
		[ "$rc" -eq 0 ] || [ "$status" -ne 0 ] || status=1
		ntests=$((ntests + ${ran:-0}))
		nskipped=$((nskipped + skipped))
		nxfail=$((nxfail + xfail))
		nfailed=$((nfailed + failed))
		verdict=ok
		[ "$rc" -eq 0 ] || { verdict="FAILED (exit status $rc)"; failed_modules+=("$name"); }
		extra=
		[ "$xfail" -eq 0 ] || extra=", $xfail expected failures"
		progress "integration: $name: $(count "${ran:-no}" test), $skipped skipped$extra," \
			"$verdict" \
			"($(( $(date +%s) - t0 )) s)"
	done
}

start=$(date +%s)
cd "$CALCD_WORK"
rm -f "$CALCD_WORK"/unittest-*.out
status=0
if [ $# -gt 0 ]; then
	unittests "$@"
else
	unittests \
		test_cli test_config test_reload test_seed test_protocols test_header test_errors \
		test_calcctl test_calcctl_tls test_metrics \
		test_robustness test_proxy test_tls test_drain \
		test_hostile test_overload test_soak
fi
grep -h " \.\.\. skipped " "$CALCD_WORK"/unittest-*.out 2>/dev/null | sed 's/^/integration: skipped: /' || true
# What failed, last, where a log's tail (CI shows only that) still has it.
for name in "${failed_modules[@]}"; do
	while IFS= read -r line; do
		progress "integration: FAILED in $name: $line"
	done < <(grep -E '^(FAIL|ERROR): |^[A-Za-z]*Error: |^AssertionError' "$CALCD_WORK/unittest-$name.out" | head -n 20)
done
echo "calcd integration tests: $(( $(date +%s) - start ))s, exit status $status"
[ "$status" -eq 124 ] && echo "run.sh: the suite passed its 600 s limit" >&2
extra=
[ "$nxfail" -eq 0 ] || extra=", $nxfail expected failures"
echo "calcd-summary: integration: $(count "$ntests" test) in $(count "$nmodules" module)," \
	"$nskipped skipped, $nfailed failed$extra"
[ "$status" -eq 0 ] || exit 1
exit 0
