#!/bin/bash
# Build the libFuzzer harnesses with clang (ASan + UBSan) and run each for
# FUZZ_SECONDS (default 60).  fuzz_wire starts from real client messages
# that Debian's python3-thrift writes (make_corpus.py); fuzz_conf from the
# shipped calcd.conf.  A crash leaves its input in $FUZZ_WORK and fails.
#
#   fuzz/run.sh [SECONDS]     from the top of a configured build tree
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(dirname "$here")
seconds=${1:-${FUZZ_SECONDS:-60}}
work=${FUZZ_WORK:-$PWD/fuzz-work}
: "${CLANG:=clang}"
: "${PYTHON3:=/usr/bin/python3}"
: "${THRIFT:=thrift}"

command -v "$CLANG" >/dev/null || { echo "fuzz: $CLANG not found (apt-get install clang)" >&2; exit 1; }
[ -f config.h ] || { echo "fuzz: run from a configured build tree (config.h)" >&2; exit 1; }

mkdir -p "$work/bin" "$work/corpus-wire" "$work/corpus-conf" "$work/seed-wire" "$work/gen-py"
flags=(-g -O1 -std=gnu11 -Wall -Wextra -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -I"$top/src" -I. -include config.h)
wire_src=(request transport dispatch calc binary compact proto buf)
wire_files=()
for f in "${wire_src[@]}"; do wire_files+=("$top/src/$f.c"); done
"$CLANG" "${flags[@]}" "$here/fuzz_wire.c" "${wire_files[@]}" -o "$work/bin/fuzz_wire"
"$CLANG" "${flags[@]}" "$here/fuzz_conf.c" "$top/src/conf.c" "$top/src/log.c" \
	-o "$work/bin/fuzz_conf"

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
	if ! "./bin/$name" -max_total_time="$seconds" -print_final_stats=1 "$@" >"$name.log" 2>&1; then
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
