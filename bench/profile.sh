#!/bin/bash
# profile.sh: where calcd's CPU goes at one load.
#
# usage: bench/profile.sh --instructions [-T TRANSPORT] [-P PROTOCOL] [-c CONNECTIONS]
#            [-d DEPTH] [CALCD CALCD_BENCH]
#   User-space instructions per call in the server, calcd's and the limit
#   server's, under callgrind at 32 x 16 (buffered binary, workers = 1, client
#   and server on one CPU): each server runs two fixed numbers of calls, and
#   the difference in instructions over the difference in calls cancels
#   start-up, connection set-up and shutdown.  Prints one line:
#     calcd: N instructions/call, limit: M instructions/call
#   With -T (framed, header) or -P (compact), calcd alone, in that transport
#   and protocol (the limit server speaks buffered binary only):
#     calcd (framed compact): N instructions/call
#   -c and -d set another load (default 32 x 16).
#   CALCD and CALCD_BENCH default to this tree's build (src/calcd,
#   bench/calcd-bench); LIMIT_SERVER names a built bench/limit-server.c, else
#   it is compiled in a scratch directory.  Needs valgrind.
#
# usage: bench/profile.sh CALCD CALCD_BENCH [CONNECTIONS DEPTH [SECONDS]]
#   e.g. bench/profile.sh build/src/calcd build/bench/calcd-bench 32 16
#   Runs calcd and calcd-bench pinned to the same CPU (as compare.sh does),
#   then prints syscalls and context switches per call (perf stat), the
#   hottest symbols (perf record), and user-space instructions per call by
#   function (callgrind, workers = 1).  Needs perf (linux-perf) and valgrind;
#   either part is skipped without it.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
mode=profile
if [ "${1:-}" = --instructions ]; then
	mode=instructions
	shift
	transport=buffered
	protocol=binary
	conns=32
	depth=16
	while [ $# -ge 2 ]; do
		case $1 in
		-T) transport=$2 ;;
		-P) protocol=$2 ;;
		-c) conns=$2 ;;
		-d) depth=$2 ;;
		*) break ;;
		esac
		shift 2
	done
	[ $# = 0 ] || [ $# = 2 ] || { sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//p}' "$0"; exit 2; }
	calcd=${1:-$top/src/calcd}
	bench=${2:-$top/bench/calcd-bench}
else
	[ $# -ge 2 ] || { sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//p}' "$0"; exit 2; }
	calcd=$1
	bench=$2
	conns=${3:-32}
	depth=${4:-16}
	seconds=${5:-2}
fi
for f in "$calcd" "$bench"; do
	[ -x "$f" ] || { echo "profile.sh: $f: not an executable (build the tree first)" >&2; exit 2; }
done
cpu=$(($(nproc) - 1))
work=$(mktemp -d /tmp/calcd-profile.XXXXXX)
pid=""

finish() {
	[ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
	rm -rf "$work"
}
trap finish EXIT

# Start calcd with the given workers setting under the given command prefix;
# sets pid and port.
start_calcd() {
	port=$("$bench" --free-port)
	printf 'listen = 127.0.0.1:%s\nmax_connections = 4096\nlog_level = warning\nworkers = %s\n' \
		"$port" "$1" >"$work/calcd.conf"
	shift
	"$@" "$calcd" -f -c "$work/calcd.conf" 2>"$work/calcd.log" &
	pid=$!
	"$bench" -p "$port" --wait-ready 60
}

# Start the limit server, one thread, under the given command prefix.
start_limit() {
	port=$("$bench" --free-port)
	"$@" "$limit" -j 1 127.0.0.1 "$port" 2>"$work/limit.log" &
	pid=$!
	"$bench" -p "$port" --wait-ready 60
}

stop_server() {
	kill -TERM "$pid"
	wait "$pid" || true
	pid=""
}

kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$work/bench.kv"; }

# --- instructions per call ------------------------------------------------------

# Instructions the server ran (callgrind's total) for $2 calls; server $1.
instructions_for() {
	local out=$work/callgrind-$1-$2.out
	local grind=(taskset -c "$cpu" valgrind --tool=callgrind --callgrind-out-file="$out")

	case $1 in
	calcd) start_calcd 1 "${grind[@]}" ;;
	limit) start_limit "${grind[@]}" ;;
	esac
	taskset -c "$cpu" "$bench" -p "$port" -c "$conns" -d "$depth" -n "$2" -t 600 \
		-T "$transport" -P "$protocol" --drain 60 --kv >"$work/bench.kv" ||
		{ cat "$work/$1.log" >&2; return 1; }
	stop_server
	[ "$(kv checked)" = "$2" ] || { echo "profile.sh: $1: $(kv checked) of $2 calls" >&2; return 1; }
	sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$out" | head -1
}

if [ "$mode" = instructions ]; then
	command -v valgrind >/dev/null ||
		{ echo "profile.sh: valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
	limit=${LIMIT_SERVER:-}
	if [ -z "$limit" ]; then
		limit=$work/limit-server
		cc -std=gnu11 -O2 -Wall -pthread -o "$limit" "$here/limit-server.c"
	fi
	few=50000
	many=250000
	line=""
	servers="calcd limit"
	[ "$transport $protocol" = "buffered binary" ] || servers=calcd
	for server in $servers; do
		a=$(instructions_for "$server" "$few")
		b=$(instructions_for "$server" "$many")
		[ -n "$a" ] && [ -n "$b" ] ||
			{ echo "profile.sh: $server: no callgrind totals" >&2; exit 1; }
		per=$(awk -v a="$a" -v b="$b" -v n=$((many - few)) 'BEGIN { printf "%.0f", (b - a) / n }')
		echo "profile.sh: $server: $a instructions for $few calls, $b for $many" >&2
		label=$server
		[ "$servers" = calcd ] && label="calcd ($transport $protocol)"
		line="$line${line:+, }$label: $per instructions/call"
	done
	echo "$line"
	exit 0
fi

# --- the profile -------------------------------------------------------------------

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
	stop_server
	calls=$(awk -v r="$(kv calls_per_s)" -v s="$seconds" 'BEGIN { print r * s }')
	echo "== calcd at $conns x $depth: $(kv calls_per_s) calls/s," \
		"$(kv server_cpu_us_per_call) us server CPU per call ($(kv server_cpu_source))," \
		"others used $(kv other_cpu_pct) % of a CPU beside it"
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
	stop_server
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
