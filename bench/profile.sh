#!/bin/bash
# profile.sh: where calcd's CPU goes at one load.  Runs calcd and calcd-bench
# pinned to the same CPU (as compare.sh does), then prints syscalls and
# context switches per call (perf stat), the hottest symbols (perf record),
# and user-space instructions per call by function (callgrind, workers = 1).
#
# usage: bench/profile.sh CALCD CALCD_BENCH [CONNECTIONS DEPTH [SECONDS]]
#   e.g. bench/profile.sh build/src/calcd build/bench/calcd-bench 32 16
# Needs perf (linux-perf) and valgrind; either part is skipped without it.
set -eu

[ $# -ge 2 ] || { sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 2; }
calcd=$1
bench=$2
conns=${3:-32}
depth=${4:-16}
seconds=${5:-2}
cpu=$(($(nproc) - 1))
work=$(mktemp -d /tmp/calcd-profile.XXXXXX)
pid=""

finish() {
	[ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
	rm -rf "$work"
}
trap finish EXIT

# Start calcd with the given workers setting; sets pid and port.
start_calcd() {
	port=$("$bench" --free-port)
	printf 'listen = 127.0.0.1:%s\nmax_connections = 4096\nlog_level = warning\nworkers = %s\n' \
		"$port" "$1" >"$work/calcd.conf"
	shift
	"$@" "$calcd" -f -c "$work/calcd.conf" 2>"$work/calcd.log" &
	pid=$!
	"$bench" -p "$port" --wait-ready 30
}

stop_calcd() {
	kill -TERM "$pid"
	wait "$pid" || true
	pid=""
}

kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$work/bench.kv"; }

if command -v perf >/dev/null; then
	start_calcd auto taskset -c "$cpu"
	taskset -c "$cpu" "$bench" -p "$port" -c "$conns" -d "$depth" -t $((seconds * 2)) \
		-w 1 --server-pid "$pid" --kv >"$work/bench.kv" &
	load=$!
	sleep $((seconds / 2 + 1))
	perf stat -x, -p "$pid" -e task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_ctl \
		-o "$work/stat" -- sleep "$seconds"
	perf record -F 2999 -e cpu-clock -g -p "$pid" -o "$work/perf.data" -- sleep 1 \
		>"$work/record.log" 2>&1 || cat "$work/record.log" >&2
	wait "$load"
	stop_calcd
	calls=$(awk -v r="$(kv calls_per_s)" -v s="$seconds" 'BEGIN { print r * s }')
	echo "== calcd at $conns x $depth: $(kv calls_per_s) calls/s," \
		"$(kv server_cpu_us_per_call) us server CPU per call"
	awk -F, -v calls="$calls" '$1 ~ /^[0-9.]+$/ && $3 != "" {
		printf "  %-32s %12.4f per call\n", $3, ($3 == "task-clock" ? $1 * 1000 : $1) / calls
	}' "$work/stat" | sed 's/task-clock  *\([0-9.]*\) per call/task-clock (us)                  \1 per call/'
	echo "== where the time goes (perf, by object, then by symbol)"
	perf report -i "$work/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -5
	perf report -i "$work/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -25
fi

if command -v valgrind >/dev/null; then
	start_calcd 1 valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out"
	"$bench" -p "$port" -c "$conns" -d "$depth" -t "$seconds" -w 0 --drain 60 --kv \
		>"$work/bench.kv"
	stop_calcd
	checked=$(kv checked)
	echo "== user-space instructions per call (callgrind, workers = 1, $checked calls)"
	callgrind_annotate --inclusive=yes "$work/callgrind.out" 2>/dev/null |
		awk -v n="$checked" '/^ *[0-9,]+ +\(/ && /calcd|libc|libevent/ {
			v = $1; gsub(",", "", v)
			sub(/^ *[0-9,]+ +\([^)]*\) +/, ""); sub(/^[^:]*:/, ""); sub(/\[.*\//, "[")
			printf "  %8.0f  %s\n", v / n, $0
		}' | grep -v -E 'PROGRAM TOTALS|start_thread|event_base_dispatch|server_worker_main|0x0' |
		head -25
fi
