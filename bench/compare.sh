#!/bin/bash
# compare.sh: build calcd, calcd-bench and the peer servers, run every
# server under the same loads with the same client, and print Markdown
# tables (also saved as bench/results-DATE.md): calcd against its peers,
# calcd's own transports and protocols at 32 x 16, the targets, and (with
# valgrind) instructions per call.  Peers are built in a scratch directory
# from Debian packages and thrift-compiler output, never in the tree.
#
# Each run records the CPU time other processes used during its measured
# interval, on the CPUs the client and server may run on (/proc/stat busy
# time minus the two processes' own); above --noise it is "noisy".  A row
# reports the median (by calls/s) of its clean runs; rows short of clean
# runs are run again at the end, up to --retries times more; a row with no
# clean run reports the median of all its runs and is flagged.
#
# usage: bench/compare.sh [options]
#   -t SECONDS     measured time per point (default 3)
#   -w SECONDS     warm-up per point (default 1)
#   --settle SECONDS
#                  pause after each server stops, before the next starts (default 1)
#   -r N           run everything N times, round-robin; each row is the median
#                  of its clean runs by calls/s (default 1)
#   -i IDLE        idle connections of the idle point (default 10000)
#   -o FILE        where the tables go (default bench/results-DATE.md)
#   --pin MODE     same: client and server on the last CPU (default); split: client
#                  on CPU 0, server on the last; none: let the scheduler place them
#                  (on a VM, split pays a cross-CPU wake-up per round trip)
#   --workers N    calcd's workers and the limit server's threads (default auto:
#                  one per CPU each may run on)
#   --noise PCT    a run is noisy when other processes used more than PCT % of
#                  one CPU on the CPUs client and server run on (default 10)
#   --retries N    extra runs, at the end, for a row short of clean runs (default:
#                  as many as -r)
#   --nice N       run client and server at this nice value, each in a session
#                  of its own whose autogroup gets it too (default: unchanged)
#   --no-callgrind skip instructions per call (bench/profile.sh --instructions)
#   --keep         keep the scratch directory (logs, raw results)
#   --tls          also calcd over TLS against calcd in the clear, and connections
#                  (full TLS handshakes) per second: bench/compare-tls.sh
#   --tls-only     only that TLS section (no peers, no instructions per call)
# environment:
#   CALCD, CALCD_BENCH   use these binaries instead of building the tree
#   BENCH_WORK           scratch directory (default: a new one under /tmp)
#   BENCH_SERVERS        servers to run (default: calcd limit tnonblocking tthreaded python)
#   BENCH_POINTS         loads (default: 1x1 32x1 256x1 32x16 256x16 idle)
#   BENCH_CALCD_VARIANTS calcd's transport:protocol pairs at every load (default:
#                        buffered:binary framed:binary, and at 32x16 also
#                        buffered:compact framed:compact header:binary header:compact)
#   BENCH_TLS_POINTS     loads of the TLS section (default: 32x1 256x1 32x16 256x16)
#   CALCD_BASELINE       TLS section: another calcd (e.g. built before TLS) measured in
#                        the clear beside this one, paired by round
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
seconds=3
warmup=1
settle=1
repeats=1
retries=""
idle=10000
pin=same
workers=auto
noise=10
nice=""
callgrind=1
keep=0
tls=0
tls_only=0
out=""
command_line="bench/compare.sh${*:+ $*}"

while [ $# -gt 0 ]; do
	case $1 in
	-t) seconds=$2; shift 2 ;;
	-w) warmup=$2; shift 2 ;;
	--settle) settle=$2; shift 2 ;;
	-r) repeats=$2; shift 2 ;;
	-i) idle=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	--pin) pin=$2; shift 2 ;;
	--workers) workers=$2; shift 2 ;;
	--noise) noise=$2; shift 2 ;;
	--retries) retries=$2; shift 2 ;;
	--nice) nice=$2; shift 2 ;;
	--no-callgrind) callgrind=0; shift ;;
	--keep) keep=1; shift ;;
	--tls) tls=1; shift ;;
	--tls-only) tls=1; tls_only=1; shift ;;
	-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
case $repeats in ''|*[!0-9]*|0) echo "compare.sh: -r takes a count" >&2; exit 2 ;; esac
retries=${retries:-$repeats}
case $retries in ''|*[!0-9]*) echo "compare.sh: --retries takes a count" >&2; exit 2 ;; esac
case $workers in auto|[1-9]|[1-9][0-9]|[1-9][0-9][0-9]) ;;
*) echo "compare.sh: --workers takes auto or a count" >&2; exit 2 ;; esac
case $noise in ''|*[!0-9.]*) echo "compare.sh: --noise takes a percentage" >&2; exit 2 ;; esac

servers=${BENCH_SERVERS:-calcd limit tnonblocking tthreaded python}
points=${BENCH_POINTS:-1x1 32x1 256x1 32x16 256x16 idle}
# --tls-only: no peer and no load of the main tables (limit-server is still built).
if [ "$tls_only" = 1 ]; then
	servers=calcd
	points=""
	callgrind=0
fi
work=${BENCH_WORK:-$(mktemp -d /tmp/calcd-compare.XXXXXX)}
mkdir -p "$work/logs"
server_pid=""

say() { echo "compare.sh: $*" >&2; }

cleanup() {
	stop_server
	if [ "$keep" = 0 ] && [ -z "${BENCH_WORK:-}" ]; then
		rm -rf "$work"
	else
		say "scratch directory kept: $work"
	fi
}
trap cleanup EXIT

# --- what the build needs ----------------------------------------------------

find_python() {
	for py in python3 /usr/bin/python3; do
		if command -v "$py" >/dev/null && "$py" -c 'import thrift' 2>/dev/null; then
			command -v "$py"
			return 0
		fi
	done
	return 1
}

missing=""
command -v thrift >/dev/null || missing="$missing thrift-compiler"
command -v g++ >/dev/null || missing="$missing g++"
command -v taskset >/dev/null || missing="$missing util-linux"
[ -f /usr/include/thrift/server/TNonblockingServer.h ] || missing="$missing libthrift-dev"
[ -d /usr/include/boost ] || missing="$missing libboost-dev"
pkg-config --exists libevent 2>/dev/null || missing="$missing libevent-dev"
find_python >/dev/null || missing="$missing python3-thrift"
if [ -z "${CALCD:-}" ]; then
	command -v autoreconf >/dev/null || missing="$missing autoconf automake libtool"
	command -v pkg-config >/dev/null || missing="$missing pkg-config"
fi
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		say "installing:$missing"
		apt-get install -y -q $missing >"$work/logs/apt.log" 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 &&
			  apt-get install -y -q $missing >"$work/logs/apt.log" 2>&1; } ||
			{ say "apt-get install failed: see $work/logs/apt.log"; keep=1; exit 1; }
	else
		say "missing:$missing (apt-get install$missing)"
		exit 1
	fi
fi
python=$(find_python)

# --- calcd and calcd-bench from this tree, built in the scratch directory -------

if [ -z "${CALCD:-}" ] || [ -z "${CALCD_BENCH:-}" ]; then
	say "building calcd and calcd-bench from $top in $work/build"
	mkdir -p "$work/src" "$work/build"
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$top" && git ls-files -co --exclude-standard -z |
			while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
			tar --null -T - -cf -) | tar -xf - -C "$work/src"
	else
		tar -C "$top" --exclude=.git -cf - . | tar -xf - -C "$work/src"
	fi
	if ! { (cd "$work/src" && autoreconf -fi) &&
	       (cd "$work/build" && "$work/src/configure" -q) &&
	       make -C "$work/build" -j"$(nproc)" src/calcd bench/calcd-bench; } \
	    >"$work/logs/build.log" 2>&1; then
		tail -20 "$work/logs/build.log" >&2
		say "build failed: see $work/logs/build.log"
		keep=1
		exit 1
	fi
	CALCD=$work/build/src/calcd
	CALCD_BENCH=$work/build/bench/calcd-bench
fi

# --- the peers -----------------------------------------------------------------

say "building the peers in $work/peers"
mkdir -p "$work/peers"
peers=$work/peers
wants() { case " $servers " in *" $1 "*) return 0 ;; esac; return 1; }
cpp=0
! wants tnonblocking || cpp=1
! wants tthreaded || cpp=1
if ! { cc -std=gnu11 -O2 -Wall -pthread -o "$peers/limit-server" "$here/limit-server.c" &&
       { ! wants python || thrift --gen py -o "$peers" "$top/calculator.thrift"; } &&
       { [ "$cpp" = 0 ] ||
         { thrift --gen cpp -o "$peers" "$top/calculator.thrift" &&
           g++ -O2 -std=c++17 -I"$peers/gen-cpp" -o "$peers/cpp-server" \
		"$here/peers/cpp-server.cpp" "$peers/gen-cpp/CalculatorService.cpp" \
		"$peers/gen-cpp/SharedService.cpp" "$peers/gen-cpp/calculator_types.cpp" \
		-lthriftnb -lthrift -levent -pthread; }; }; } \
    >"$work/logs/peers.log" 2>&1; then
	tail -20 "$work/logs/peers.log" >&2
	say "building the peers failed: see $work/logs/peers.log"
	keep=1
	exit 1
fi


# --- running ---------------------------------------------------------------------

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cpus=$(nproc)
case $pin in
same)
	client_run=(taskset -c $((cpus - 1)))
	server_run=(taskset -c $((cpus - 1)))
	pinning="client and server both pinned to CPU $((cpus - 1)) (taskset; \`--pin same\`)"
	;;
split)
	client_run=(taskset -c 0)
	server_run=(taskset -c $((cpus - 1)))
	pinning="client on CPU 0, server on CPU $((cpus - 1)) (taskset; \`--pin split\`)"
	;;
none)
	client_run=()
	server_run=()
	pinning="not pinned: client and server share all $cpus CPUs (\`--pin none\`)"
	;;
*)
	say "--pin takes same, split or none"
	exit 2
	;;
esac
# With autogroup scheduling (kernel.sched_autogroup_enabled), a nice value
# only ranks tasks within their session's group: each of client and server
# gets a session of its own, and that group the nice value too.
if [ -n "$nice" ]; then
	prio=(nice -n "$nice" setsid sh -c \
		'echo "$0" >/proc/self/autogroup 2>/dev/null || true; exec "$@"' "$nice")
	client_run=("${prio[@]}" "${client_run[@]}")
	server_run=("${prio[@]}" "${server_run[@]}")
	if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ]; then
		pinning="$pinning; each in a session of its own at nice $nice (autogroup)"
	else
		pinning="$pinning; both at nice $nice"
	fi
fi
limit_threads=()
[ "$workers" = auto ] || limit_threads=(-j "$workers")

# Start server $1 with transport $2 on a free port; sets server_pid and port.
start_server() {
	local name=$1 transport=$2 log=$work/logs/$1-$2.log

	port=$("$CALCD_BENCH" --free-port)
	case $name in
	calcd)
		printf 'listen = 127.0.0.1:%s\nmax_connections = %s\nlog_level = warning\nworkers = %s\n' \
			"$port" $((idle + 2048)) "$workers" >"$work/calcd.conf"
		"${server_run[@]}" "$CALCD" -f -c "$work/calcd.conf" >>"$log" 2>&1 &
		;;
	limit)
		"${server_run[@]}" "$peers/limit-server" "${limit_threads[@]}" \
			$([ "$transport" = framed ] && echo -f) 127.0.0.1 "$port" >>"$log" 2>&1 &
		;;
	tnonblocking)
		"${server_run[@]}" "$peers/cpp-server" nonblocking 127.0.0.1 "$port" >>"$log" 2>&1 &
		;;
	tthreaded)
		"${server_run[@]}" "$peers/cpp-server" threaded 127.0.0.1 "$port" >>"$log" 2>&1 &
		;;
	python)
		"${server_run[@]}" "$python" "$here/peers/py-server.py" "$peers/gen-py" \
			127.0.0.1 "$port" >>"$log" 2>&1 &
		;;
	esac
	server_pid=$!
	"$CALCD_BENCH" -p "$port" --wait-ready 10 2>>"$log"
}

stop_server() {
	[ -n "$server_pid" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
	# Let the kernel finish tearing down its sockets before the next run.
	sleep "$settle"
}

# What each server speaks at a load, as transport:protocol.  calcd runs each
# transport its peers need, and at 32 x 16 every transport and protocol it has.
variants_of() {
	case $1 in
	calcd)
		if [ -n "${BENCH_CALCD_VARIANTS:-}" ]; then
			echo "$BENCH_CALCD_VARIANTS"
			return
		fi
		echo buffered:binary framed:binary
		[ "$2" != 32x16 ] || echo buffered:compact framed:compact header:binary header:compact
		;;
	tnonblocking) echo framed:binary ;;
	*) echo buffered:binary ;;
	esac
}

raw=$work/raw.tsv
: >"$raw"

# Is a kv line's run noisy?  Unknown (no /proc/stat) counts as clean.
is_noisy() {
	local other
	other=$(sed -n 's/.* other_cpu_pct=\([^ ]*\).*/\1/p' <<<"$1")
	awk -v o="${other:--1}" -v n="$noise" 'BEGIN { exit !(o + 0 > n + 0) }'
}

# One measurement of server $1, transport $2, protocol $3, load $4: appends a
# row (point, server, transport, protocol, status, results) to raw.tsv.
measure() {
	local name=$1 transport=$2 proto=$3 point=$4 conns depth extra=() line err what
	case $point in
	idle) conns=32; depth=1; extra=(--idle "$idle") ;;
	*) conns=${point%x*}; depth=${point#*x} ;;
	esac
	if [ "$name" = python ] && [ "$point" != 1x1 ]; then
		printf '%s\t%s\t%s\t%s\tna\tTSimpleServer serves one connection at a time\n' \
			"$point" "$name" "$transport" "$proto" >>"$raw"
		return
	fi
	what="$point: $name ($transport $proto)"
	if ! start_server "$name" "$transport"; then
		printf '%s\t%s\t%s\t%s\tfail\tdid not start (see its log)\n' \
			"$point" "$name" "$transport" "$proto" >>"$raw"
		say "$what: did not start"
		stop_server
		return
	fi
	err=$work/logs/bench-$name-$transport-$proto-$point.err
	line=$("${client_run[@]}" "$CALCD_BENCH" -p "$port" -c "$conns" -d "$depth" \
		-T "$transport" -P "$proto" -t "$seconds" -w "$warmup" \
		--server-pid "$server_pid" --kv "${extra[@]}" 2>"$err") || true
	if [ "${line%% *}" = ok=1 ]; then
		printf '%s\t%s\t%s\t%s\tok\t%s\n' "$point" "$name" "$transport" "$proto" \
			"$line" >>"$raw"
		say "$what: $(sed -n 's/.* calls_per_s=\([^ ]*\).*/\1/p' <<<"$line") calls/s," \
			"others $(sed -n 's/.* other_cpu_pct=\([^ ]*\).*/\1/p' <<<"$line") %$(
			is_noisy "$line" && echo ' (noisy)')"
	else
		printf '%s\t%s\t%s\t%s\tfail\t%s\n' "$point" "$name" "$transport" "$proto" \
			"$(sed -n 's/^calcd-bench: FAILED: //p' "$err" | head -1)" >>"$raw"
		say "$what: FAILED: $(cat "$err")"
	fi
	stop_server
}

# Clean runs so far of a row, or "closed" if it failed or does not apply.
clean_runs() {
	awk -F'\t' -v p="$1" -v s="$2" -v t="$3" -v r="$4" -v n="$noise" '
	$1 == p && $2 == s && $3 == t && $4 == r {
		if ($5 != "ok") { done = 1; next }
		o = $6; sub(/.* other_cpu_pct=/, "", o); sub(/ .*/, "", o)
		if (o + 0 <= n + 0) clean++
	}
	END { if (done) print "closed"; else print clean + 0 }' "$raw"
}

# The servers in the order given in odd rounds, reversed in even ones, and
# each server's transports the other way round: calcd's buffered binary
# run and the limit server's, which the targets pair, are always next to
# each other (seconds apart: this machine changes speed within a minute),
# and which of them runs first, right after the previous load's last
# server stopped, alternates.
server_order() {
	local round=$1 list
	shift
	list=("$@")
	for ((i = 0; i < ${#list[@]}; i++)); do
		if [ $((round % 2)) = 1 ]; then
			echo "${list[i]}"
		else
			echo "${list[${#list[@]} - 1 - i]}"
		fi
	done
}

[ "$tls" = 0 ] || . "$here/compare-tls.sh"

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_started=$(date +%s)
for round in $(seq "$repeats"); do
	say "round $round of $repeats"
	for point in $points; do
		for name in $(server_order "$round" $servers); do
			for v in $(server_order $((round + 1)) $(variants_of "$name" "$point")); do
				measure "$name" "${v%%:*}" "${v#*:}" "$point"
			done
		done
	done
done
# Rows short of clean runs, again, round-robin, so passing noise may pass.
for extra in $(seq "$retries"); do
	again=0
	for point in $points; do
		for name in $servers; do
			for v in $(variants_of "$name" "$point"); do
				got=$(clean_runs "$point" "$name" "${v%%:*}" "${v#*:}")
				if [ "$got" = closed ] || [ "$got" -ge "$repeats" ]; then
					continue
				fi
				[ "$again" = 1 ] || say "extra round $extra of $retries: rows short of clean runs"
				again=1
				measure "$name" "${v%%:*}" "${v#*:}" "$point"
			done
		done
	done
	[ "$again" = 1 ] || break
done
[ "$tls" = 0 ] || tls_run
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
minutes=$(( ($(date +%s) - t_started + 59) / 60 ))

# The rows in the order of the loads, the servers and their transports as
# given (the runs alternate direction), then any others.
for point in $points; do
	for name in $servers; do
		for v in $(variants_of "$name" "$point"); do
			printf '%s\t%s\t%s\t%s\n' "$point" "$name" "${v%%:*}" "${v#*:}"
		done
	done
done >"$work/order.tsv"

# Each row: the median run by calls/s of its clean runs (of all its runs if
# none is clean, flagged); any failed run fails the row.  Appends the
# counts: clean runs, runs.
awk -F'\t' -v noise="$noise" '
function kv(line, key,   v) {
	v = " " line " "
	if (!sub(".* " key "=", "", v))
		return ""
	sub(/ .*/, "", v)
	return v
}
FNR == NR {
	key = $1 FS $2 FS $3 FS $4
	seen[key] = 0
	order[++k] = key
	next
}
{
	key = $1 FS $2 FS $3 FS $4
	if (!(key in seen))
		order[++k] = key
	seen[key] = 1
	if ($5 != "ok") {
		if (!(key in bad) || $5 == "fail")
			bad[key] = $0
		next
	}
	m = ++nok[key]
	line[key, m] = $0
	rate[key, m] = kv($6, "calls_per_s")
	o = kv($6, "other_cpu_pct")
	clean[key, m] = o + 0 <= noise + 0
	nclean[key] += clean[key, m]
}
END {
	for (i = 1; i <= k; i++) {
		key = order[i]
		if (!seen[key])
			continue	# not run
		if (key in bad && (!(key in nok) || bad[key] ~ /\tfail\t/)) {
			print bad[key] "\t0\t0"
			continue
		}
		n = 0
		for (a = 1; a <= nok[key]; a++)
			if (clean[key, a] || nclean[key] == 0)
				idx[++n] = a
		for (a = 2; a <= n; a++)
			for (b = a; b > 1 && rate[key, idx[b - 1]] + 0 > rate[key, idx[b]] + 0; b--) {
				t = idx[b]; idx[b] = idx[b - 1]; idx[b - 1] = t
			}
		print line[key, idx[int((n + 1) / 2)]] "\t" nclean[key] + 0 "\t" nok[key]
	}
}' "$work/order.tsv" "$raw" >"$work/chosen.tsv"

# --- instructions per call ----------------------------------------------------------

instructions=""
if [ "$callgrind" = 1 ]; then
	if command -v valgrind >/dev/null; then
		say "instructions per call (callgrind)"
		if ! instructions=$(LIMIT_SERVER=$peers/limit-server "$here/profile.sh" \
			--instructions "$CALCD" "$CALCD_BENCH" 2>"$work/logs/callgrind.log"); then
			say "instructions per call failed: see $work/logs/callgrind.log"
			keep=1
			instructions="failed (see the log)"
		fi
	else
		instructions="not measured: valgrind is not installed"
	fi
fi

# --- the tables -------------------------------------------------------------------

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p;T;q' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
[ -n "$out" ] || out=$here/results-$(date -u +%Y-%m-%d-%H%M).md
if [ "$workers" = auto ]; then
	workers_text="workers = auto: one per CPU it may run on"
	limit_text="one epoll thread per CPU it may use"
else
	workers_text="workers = $workers"
	limit_text="$workers epoll thread$([ "$workers" = 1 ] || echo s)"
fi
# The runs' noise, over every run taken.
noise_summary=$(awk -F'\t' -v noise="$noise" '
$5 == "ok" {
	o = " " $6 " "; sub(/.* other_cpu_pct=/, "", o); sub(/ .*/, "", o)
	a = " " $6 " "; sub(/.* other_cpu_all_pct=/, "", a); sub(/ .*/, "", a)
	c = " " $6 " "; sub(/.* checked=/, "", c); sub(/ .*/, "", c)
	runs++; checked += c
	if (o + 0 > noise + 0) noisy++
	near[runs] = o + 0; all[runs] = a + 0
}
$5 == "fail" { failed++; if ($2 == "calcd") cfailed++ }
function median(v, n,   i, j, t) {
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
	return n ? v[int((n + 1) / 2)] : 0
}
END {
	printf "%d\t%d\t%d\t%d\t%.0f\t%.1f\t%.1f\n", runs, noisy + 0, failed + 0, cfailed + 0,
	    checked, median(near, runs), median(all, runs)
}' "$raw")
IFS=$'\t' read -r runs_total runs_noisy runs_failed calcd_failed replies_checked \
	median_near median_all <<<"$noise_summary"

{
	echo "## calcd against its peers, $started"
	echo
	echo "- Machine: $(uname -srm), ${cpu_model:-unknown CPU}, $cpus CPUs, $mem; load average" \
		"$load_before before the run, $load_after after (shared machine: ratios within one" \
		"run are what count)"
	echo "- Command: \`$command_line\`; $warmup s warm-up, then $seconds s measured per point;" \
		"each server freshly started for each run, $settle s after the last one stopped;" \
		"$repeats round$([ "$repeats" = 1 ] || echo s) taken round-robin, the servers in" \
		"the order above in odd rounds and reversed in even ones, each server's transports" \
		"the other way round (so calcd's buffered binary run and the limit server's are" \
		"always next to each other), then up to $retries more for rows short of clean runs;" \
		"$runs_total runs in $minutes min"
	echo "- Client: calcd-bench, one thread, \`add\` calls with random arguments (strict" \
		"binary unless the table says compact), every reply checked (seqid, method and sum;" \
		"THeader: protocol, flags and sequence number too); $pinning"
	echo "- Servers: calcd ($workers_text), limit (bench/limit-server.c, $limit_text)," \
		"Apache Thrift $(thrift --version | awk '{print $3}') C++ TNonblockingServer" \
		"(libevent, 2 IO threads, framed) and TThreadedServer (buffered), the tutorial's" \
		"Python TSimpleServer ($("$python" --version 2>&1))"
	echo "- Noise: during each run's measured interval calcd-bench records the CPU time" \
		"other processes used on the CPUs client and server may run on (/proc/stat busy" \
		"time there, minus the server's and the client's own); a run is **noisy** above" \
		"$noise % of one CPU. $runs_noisy of $runs_total runs were noisy (median others:" \
		"$median_near % of one CPU there, $median_all % over all CPUs). Each row is the" \
		"median (by calls/s) of its clean runs; \"clean\" counts them; a row with none is" \
		"the median of all its runs and flagged **noisy**."
	echo "- Server CPU: the server's task-clock over the measured interval (perf's counter," \
		"read with perf_event_open on every server thread, as \`perf stat -e task-clock" \
		"-p PID\` does: nanoseconds) ÷ calls; a figure marked (ticks) comes from" \
		"/proc/PID/stat utime + stime (10 ms ticks) where perf was refused. Memory:" \
		"(server RSS with the idle connections open − RSS before) ÷ idle connections."
	echo "- Every reply checked: $replies_checked replies in $runs_total runs," \
		"$([ "$runs_failed" = 0 ] && echo "all right" ||
		echo "**$runs_failed runs failed** ($calcd_failed of them calcd's)")."
	echo "- × calcd: this server's value ÷ calcd's, same load and same transport (the rows'" \
		"medians; the two tables after this one pair runs round by round). Calls/s above 1:" \
		"faster than calcd; latency, CPU and memory above 1: more than calcd."
	echo
	awk -F'\t' -v idle="$idle" -v noise="$noise" '
	function kv(line, key,   v) {
		v = " " line " "
		if (!sub(".* " key "=", "", v))
			return ""
		sub(/ .*/, "", v)
		return v
	}
	function commas(x,   s, r, neg) {
		s = sprintf("%.0f", x)
		r = ""
		while (length(s) > 3) {
			r = "," substr(s, length(s) - 2) r
			s = substr(s, 1, length(s) - 3)
		}
		return s r
	}
	function ratio(a, b) {
		if (a == "" || b == "" || b + 0 <= 0 || a + 0 < 0)
			return "–"
		return sprintf("%.2f", a / b)
	}
	function us(x) {
		return x + 0 >= 100 ? commas(x) : sprintf("%.1f", x)
	}
	function cpu_text(i) {
		return sprintf("%.3f%s", cpu[i], src[i] == "task-clock" ? "" : " (ticks)")
	}
	function runs_text(i) {
		if (clean[i] == 0)
			return sprintf("**noisy** 0/%d", total[i])
		return sprintf("%d/%d", clean[i], total[i])
	}
	function label(p,   c) {
		if (p == "idle")
			return sprintf("32 × 1 + %s idle", commas(idle))
		split(p, c, "x")
		return c[1] " × " c[2]
	}
	# Paired ratio of row a to row b: the median over the rounds in which both
	# ran clean of a ÷ b (the k-th attempt of a row was in the k-th round, the
	# extra rounds included).  Sets pmed, plo, phi, pn; pn = 0 if no pair.
	function paired(a, b, which,   k, m, v, x, y, i, j, t) {
		m = 0
		for (k = 1; k <= att[a] && k <= att[b]; k++) {
			if (!pclean[a, k] || !pclean[b, k])
				continue
			x = which == "cpu" ? pcpu[a, k] : prate[a, k]
			y = which == "cpu" ? pcpu[b, k] : prate[b, k]
			if (x + 0 < 0 || y + 0 <= 0)
				continue
			v[++m] = x / y
		}
		for (i = 2; i <= m; i++)
			for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
				t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
			}
		pn = m
		if (m == 0)
			return ""
		pmed = v[int((m + 1) / 2)]; plo = v[1]; phi = v[m]
		return sprintf("%.2f", pmed)
	}
	function paired_text(r) {
		if (pn == 0)
			return "–"
		return sprintf("%s (%.2f–%.2f, %d)", r, plo, phi, pn)
	}
	# raw.tsv first: every attempt of every row, in order.
	NR == FNR {
		key = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
		k = ++att[key]
		if ($5 == "ok") {
			prate[key, k] = kv($6, "calls_per_s")
			pcpu[key, k] = kv($6, "server_cpu_us_per_call")
			pclean[key, k] = kv($6, "other_cpu_pct") + 0 <= noise + 0
		}
		next
	}
	{
		n++
		point[n] = $1; name[n] = $2; tr[n] = $3; pr[n] = $4; st[n] = $5; rest[n] = $6
		clean[n] = $7; total[n] = $8
		if ($5 == "ok") {
			rate[n] = kv($6, "calls_per_s"); p50[n] = kv($6, "p50_us")
			p99[n] = kv($6, "p99_us"); cpu[n] = kv($6, "server_cpu_us_per_call")
			src[n] = kv($6, "server_cpu_source")
			rss[n] = kv($6, "rss_per_idle_conn_bytes"); other[n] = kv($6, "other_cpu_pct")
			if ($2 == "calcd") {
				key = $1 SUBSEP $3 SUBSEP $4
				crate[key] = rate[n]; cp99[key] = p99[n]; ccpu[key] = cpu[n]
				crss[key] = rss[n]
			}
		}
	}
	END {
		print "| load (connections × depth) | server | transport | calls/s | × calcd | p50 µs | p99 µs | p99 × calcd | server CPU µs/call | × calcd | RSS/idle conn (bytes) | × calcd | clean runs | others, % of a CPU |"
		print "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= n; i++) {
			if (pr[i] != "binary" || tr[i] == "header")
				continue
			key = point[i] SUBSEP tr[i] SUBSEP "binary"
			if (st[i] != "ok") {
				printf "| %s | %s | %s | %s: %s | | | | | | | | | | |\n", label(point[i]),
				    name[i], tr[i], st[i] == "na" ? "n/a" : "**FAILED**", rest[i]
				continue
			}
			mem = point[i] == "idle" ? commas(rss[i]) : "–"
			memr = point[i] == "idle" ? ratio(rss[i], crss[key]) : "–"
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f |\n",
			    label(point[i]), name[i], tr[i], commas(rate[i]), ratio(rate[i], crate[key]),
			    us(p50[i]), us(p99[i]), ratio(p99[i], cp99[key]), cpu_text(i),
			    ratio(cpu[i], ccpu[key]), mem, memr, runs_text(i), other[i]
		}

		# calcd against itself: what each transport and protocol costs.
		base = "32x16" SUBSEP "buffered" SUBSEP "binary"
		if (base in crate) {
			print ""
			print "### calcd in each transport and protocol at 32 × 16"
			print ""
			print "Each against calcd in buffered binary: × is the median over the rounds in which both ran clean of the ratio within the round (lowest–highest, rounds). Above 1: more calls/s, more CPU per call."
			print ""
			print "| transport | protocol | calls/s | × buffered binary | p99 µs | server CPU µs/call | × buffered binary | clean runs | others, % of a CPU |"
			print "|---|---|---:|---:|---:|---:|---:|---:|---:|"
			for (i = 1; i <= n; i++) {
				if (name[i] != "calcd" || point[i] != "32x16")
					continue
				if (st[i] != "ok") {
					printf "| %s | %s | **FAILED**: %s | | | | | | |\n", tr[i], pr[i], rest[i]
					continue
				}
				me = point[i] SUBSEP "calcd" SUBSEP tr[i] SUBSEP pr[i]
				bb = "32x16" SUBSEP "calcd" SUBSEP "buffered" SUBSEP "binary"
				r = paired(me, bb, "rate")
				r = me == bb ? "1" : paired_text(r)
				c = paired(me, bb, "cpu")
				c = me == bb ? "1" : paired_text(c)
				printf "| %s | %s | %s | %s | %s | %s | %s | %s | %.1f |\n",
				    tr[i] == "header" ? "THeader" : tr[i], pr[i], commas(rate[i]),
				    r, us(p99[i]), cpu_text(i), c, runs_text(i), other[i]
			}
		}

		# The targets of issue 15, checked on this run.
		print ""
		print "### Targets (issue 15), this run"
		print ""
		print "At 32 × 1, 256 × 1, 32 × 16 and 256 × 16 (other loads for reference), buffered binary. Each ratio is the median over the rounds in which both servers ran clean of calcd ÷ limit within the round (lowest–highest, rounds): runs of one round are seconds apart, so a machine that slows down between rounds moves both. Without such a round, the ratio of the rows above (unpaired)."
		print ""
		print "| load | calcd ÷ limit calls/s (≥ 0.92) | calcd ÷ limit CPU/call (≤ 1.10) | calcd p99 < TNonblockingServer p99 (framed) |"
		print "|---|---:|---:|---|"
		for (i = 1; i <= n; i++) {
			if (name[i] != "limit" || st[i] != "ok" || tr[i] != "buffered")
				continue
			target = point[i] ~ /^(32x1|256x1|32x16|256x16)$/
			key = point[i] SUBSEP "buffered" SUBSEP "binary"
			me = point[i] SUBSEP "calcd" SUBSEP "buffered" SUBSEP "binary"
			them = point[i] SUBSEP "limit" SUBSEP "buffered" SUBSEP "binary"
			r = paired(me, them, "rate")
			rtext = paired_text(r)
			if (r == "") {
				r = ratio(crate[key], rate[i]); rtext = r " (unpaired)"
			}
			c = paired(me, them, "cpu")
			ctext = paired_text(c)
			if (c == "") {
				c = ratio(ccpu[key], cpu[i]); ctext = c " (unpaired)"
			}
			p = "–"
			fkey = point[i] SUBSEP "framed" SUBSEP "binary"
			for (j = 1; j <= n; j++)
				if (name[j] == "tnonblocking" && point[j] == point[i] && st[j] == "ok" &&
				    cp99[fkey] != "")
					p = sprintf("%s (%s vs %s µs)",
					    cp99[fkey] + 0 < p99[j] + 0 ? "yes" : "**no**",
					    us(cp99[fkey]), us(p99[j]))
			rflag = (target && r != "–" && r + 0 < 0.92) ? " **short**" : ""
			cflag = (target && c != "–" && c + 0 > 1.10) ? " **over**" : ""
			printf "| %s%s | %s%s | %s%s | %s |\n", label(point[i]),
			    target ? "" : " (reference)", rtext, rflag, ctext, cflag, p
		}
		key = "idle" SUBSEP "buffered" SUBSEP "binary"
		if (crss[key] != "")
			printf "\nMemory: calcd holds %s idle connections (all answered) at %s bytes each (target ≤ 4096).\n",
			    commas(idle), commas(crss[key])
	}' "$raw" "$work/chosen.tsv"
	if [ -n "$instructions" ]; then
		echo
		echo "Instructions per call (\`bench/profile.sh --instructions\`: callgrind, user-space" \
			"instructions in the server, workers = 1, 32 × 16 buffered binary, the difference" \
			"between two fixed numbers of calls, so start-up and shutdown cancel):" \
			"$instructions"
	fi
} >"$out.tmp"
if [ "$tls_only" = 1 ]; then
	tls_tables >"$out.tmp"
elif [ "$tls" = 1 ]; then
	{ echo; tls_tables; } >>"$out.tmp"
fi
mv "$out.tmp" "$out"
cat "$out"
say "tables written to $out"
# A wrong or missing reply from calcd fails the run; a peer's failure is in the table.
[ "$tls" = 0 ] || ! tls_failed || exit 1
! grep -q $'^[^\t]*\tcalcd\t[^\t]*\t[^\t]*\tfail' "$raw"
