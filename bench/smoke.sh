#!/bin/sh
# smoke.sh: run calcd-bench against calcd for a few seconds in every
# protocol and transport (THeader too), pipelined, for a fixed number of
# calls, and with idle connections, so the harness can't rot.  Fails on
# any wrong or missing reply; no timing check.
# Run by 'make bench-smoke' with CALCD and CALCD_BENCH set.
set -eu

: "${CALCD:?set CALCD to the calcd binary}"
: "${CALCD_BENCH:?set CALCD_BENCH to the calcd-bench binary}"
work=$(mktemp -d /tmp/calcd-bench-smoke.XXXXXX)
pid=""

finish() {
	status=$?
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	[ "$status" = 0 ] || { echo "bench-smoke: calcd's log:"; cat "$work/calcd.log"; }
	rm -rf "$work"
	exit "$status"
}
trap finish EXIT

port=$("$CALCD_BENCH" --free-port)
printf 'listen = 127.0.0.1:%s\nmax_connections = 1024\nlog_level = warning\n' "$port" \
	>"$work/calcd.conf"
"$CALCD" -f -c "$work/calcd.conf" >"$work/calcd.log" 2>&1 &
pid=$!
"$CALCD_BENCH" -p "$port" --wait-ready 10

runs=0
for proto in binary compact; do
	for transport in buffered framed header; do
		for load in "-c 1 -d 1" "-c 8 -d 16"; do
			echo "bench-smoke: $proto/$transport $load"
			# shellcheck disable=SC2086
			"$CALCD_BENCH" -p "$port" -P "$proto" -T "$transport" $load \
				-t 0.3 -w 0.1 --server-pid "$pid"
			runs=$((runs + 1))
		done
	done
done
echo "bench-smoke: a fixed number of calls"
"$CALCD_BENCH" -p "$port" -c 8 -d 16 -n 5000 -t 60 --server-pid "$pid"
runs=$((runs + 1))
echo "bench-smoke: 200 idle connections beside the load"
"$CALCD_BENCH" -p "$port" -c 4 -d 4 -i 200 -t 0.3 -w 0.1 --server-pid "$pid"
runs=$((runs + 1))
kill -0 "$pid"
echo "bench-smoke: $runs passed, 0 failed"
