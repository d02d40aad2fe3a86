#!/bin/bash
# Run the libFuzzer harnesses for FUZZ_SECONDS each (default 60).  make fuzz
# builds them first and runs this; configure builds them only with
# --enable-fuzzing (clang, ASan + UBSan, linked with libcalcd.a: see
# Makefile.am).  fuzz_wire starts from real client messages that Debian's
# python3-thrift writes (make_corpus.py) and fuzz/regressions/; fuzz_conf
# from the shipped calcd.conf.  A crash leaves its input in $FUZZ_WORK and
# fails.
#
#   fuzz/run.sh [SECONDS]     from the top of a build tree configured with
#                             --enable-fuzzing, after make (make fuzz does both)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
seconds=${1:-${FUZZ_SECONDS:-60}}
bin=$PWD/fuzz
work=${FUZZ_WORK:-$PWD/fuzz-work}
: "${PYTHON3:=/usr/bin/python3}"
: "${THRIFT:=thrift}"

for f in fuzz_wire fuzz_conf; do
	[ -x "$bin/$f" ] || {
		echo "fuzz: no $bin/$f: run make fuzz in a build configured with" \
			"--enable-fuzzing CC=clang" >&2
		exit 1
	}
done

mkdir -p "$work/corpus-wire" "$work/corpus-conf" "$work/seed-wire" "$work/gen-py"
"$THRIFT" --gen py -out "$work/gen-py" "$top/calculator.thrift"
"$PYTHON3" "$here/make_corpus.py" "$work/gen-py" "$work/seed-wire"
cp "$top/etc/calcd.conf" "$work/corpus-conf/shipped.conf"
[ -d "$here/regressions" ] && cp "$here"/regressions/* "$work/seed-wire/" 2>/dev/null || true

status=0
cd "$work"
run() { # NAME ARGS...
	local name=$1
	shift
	echo "$name: ${seconds}s"
	if ! "$bin/$name" -max_total_time="$seconds" -print_final_stats=1 "$@" >"$name.log" 2>&1; then
		status=1
		tail -n 40 "$name.log"
	fi
	grep -E "^Done |stat::(number_of_executed_units|average_exec_per_sec)" "$name.log" || true
}
run fuzz_wire -max_len=8192 corpus-wire seed-wire
run fuzz_conf corpus-conf
ls crash-* leak-* timeout-* 2>/dev/null && status=1
echo "fuzz: corpus sizes: wire $(ls corpus-wire | wc -l), conf $(ls corpus-conf | wc -l); status $status"
exit $status
