#!/bin/bash
# Run the libFuzzer harnesses for FUZZ_SECONDS each (default 60).  make fuzz
# builds them first and runs this; configure builds them only with
# --enable-fuzzing (clang, ASan + UBSan, linked with libcalcd.a: see
# Makefile.am).  fuzz_wire starts from real client messages that Debian's
# python3-thrift writes (make_corpus.py) and fuzz/regressions/; fuzz_scan
# from the unframed ones behind its settings bytes; fuzz_conf from the
# shipped calcd.conf; fuzz_proxy from the PROXY protocol spec's examples and
# the headers HAProxy sends (below), with proxy.dict.  A crash leaves its
# input in $FUZZ_WORK and fails.
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

for f in fuzz_wire fuzz_conf fuzz_proxy fuzz_scan; do
	[ -x "$bin/$f" ] || {
		echo "fuzz: no $bin/$f: run make fuzz in a build configured with" \
			"--enable-fuzzing CC=clang" >&2
		exit 1
	}
done

mkdir -p "$work/corpus-wire" "$work/corpus-conf" "$work/seed-wire" "$work/gen-py" \
	"$work/corpus-proxy" "$work/seed-proxy" "$work/corpus-scan" "$work/seed-scan"
"$THRIFT" --gen py -out "$work/gen-py" "$top/calculator.thrift"
"$PYTHON3" "$here/make_corpus.py" "$work/gen-py" "$work/seed-wire"
cp "$top/etc/calcd.conf" "$work/corpus-conf/shipped.conf"
# PROXY headers: the spec's examples and limits, what HAProxy 2.6 sends
# (send-proxy, send-proxy-v2, its LOCAL health check), each with a Thrift ping
# after it.
v2sig=0d0a0d0a000d0a515549540a
ping=00000011800100010000000470696e670000000100
n=0
for h in \
	"$(printf 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n' | od -An -tx1 | tr -d ' \n')" \
	"$(printf 'PROXY TCP6 2001:db8::1 ::1 56324 443\r\n' | od -An -tx1 | tr -d ' \n')" \
	"$(printf 'PROXY UNKNOWN\r\n' | od -An -tx1 | tr -d ' \n')" \
	"$(printf 'PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n' | od -An -tx1 | tr -d ' \n')" \
	"${v2sig}2111000c7f0000017f000001d8b24b00" \
	"${v2sig}21210024000000000000000000000000000000010000000000000000000000000000000195624b04" \
	"${v2sig}20000000" \
	"${v2sig}211100220a0000010a0000021f902382030004deadbeef040003000000050003616263020000" \
	"${v2sig}2112000c7f0000017f000001d8b24b00" \
	"${v2sig}213100d8"; do
	n=$((n + 1))
	"$PYTHON3" -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' \
		"$h$ping" >"$work/seed-proxy/seed$n" 2>/dev/null ||
		echo "fuzz: bad seed hex $n" >&2
done
# fuzz_scan's inputs start with settings: binary or compact, depth 32, 1 MiB, seed 7.
for f in "$work"/seed-wire/buffered-*; do
	case $f in *-compact-*) settings='\203\000\000\007' ;; *) settings='\202\000\000\007' ;; esac
	{ printf "$settings"; cat "$f"; } >"$work/seed-scan/$(basename "$f")"
done
if [ -d "$here/regressions" ]; then
	for f in "$here"/regressions/*; do
		[ -e "$f" ] || continue
		case $(basename "$f") in
		scan-*) cp "$f" "$work/seed-scan/" ;;
		*) cp "$f" "$work/seed-wire/" ;;
		esac
	done
fi

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
run fuzz_scan -max_len=4096 corpus-scan seed-scan
run fuzz_conf corpus-conf
run fuzz_proxy -max_len=2048 -dict="$here/proxy.dict" corpus-proxy seed-proxy
ls crash-* leak-* timeout-* 2>/dev/null && status=1
echo "fuzz: corpus sizes: wire $(ls corpus-wire | wc -l), scan $(ls corpus-scan | wc -l)," \
	"conf $(ls corpus-conf | wc -l), proxy $(ls corpus-proxy | wc -l); status $status"
exit $status
