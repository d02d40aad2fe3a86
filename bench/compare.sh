#!/bin/bash
# compare.sh: build calcd, calcd-bench and the peer servers, run every
# server under the same loads with the same client, and print a Markdown
# table (also saved as bench/results-DATE.md).  Peers are built in a
# scratch directory from Debian packages and thrift-compiler output,
# never in the tree.
#
# usage: bench/compare.sh [-t SECONDS] [-w SECONDS] [-r N] [-i IDLE] [-o FILE] [--pin MODE] [--keep]
#   -t SECONDS  measured time per point (default 3)
#   -w SECONDS  warm-up per point (default 1)
#   -r N        run everything N times, round-robin, and report each row's median
#               run by calls/s (default 1)
#   -i IDLE     idle connections of the idle point (default 10000)
#   -o FILE     where the table goes (default bench/results-DATE.md)
#   --pin MODE  same: client and server on the last CPU (default); split: client
#               on CPU 0, server on the last; none: let the scheduler place them
#               (on a VM, split pays a cross-CPU wake-up per round trip)
#   --keep      keep the scratch directory (logs, raw results)
# environment:
#   CALCD, CALCD_BENCH   use these binaries instead of building the tree
#   BENCH_WORK           scratch directory (default: a new one under /tmp)
#   BENCH_SERVERS        servers to run (default: calcd limit tnonblocking tthreaded python)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
seconds=3
warmup=1
repeats=1
idle=10000
pin=same
keep=0
out=""
command_line="bench/compare.sh${*:+ $*}"

while [ $# -gt 0 ]; do
	case $1 in
	-t) seconds=$2; shift 2 ;;
	-w) warmup=$2; shift 2 ;;
	-r) repeats=$2; shift 2 ;;
	-i) idle=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	--pin) pin=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	-h|--help) sed -n '2,24s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

servers=${BENCH_SERVERS:-calcd limit tnonblocking tthreaded python}
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
if ! { thrift --gen cpp -o "$peers" "$top/calculator.thrift" &&
       thrift --gen py -o "$peers" "$top/calculator.thrift" &&
       g++ -O2 -std=c++17 -I"$peers/gen-cpp" -o "$peers/cpp-server" \
		"$here/peers/cpp-server.cpp" "$peers/gen-cpp/CalculatorService.cpp" \
		"$peers/gen-cpp/SharedService.cpp" "$peers/gen-cpp/calculator_types.cpp" \
		-lthriftnb -lthrift -levent -pthread &&
       cc -std=gnu11 -O2 -Wall -pthread -o "$peers/limit-server" "$here/limit-server.c"; } \
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

# Start server $1 with transport $2 on a free port; sets server_pid and port.
start_server() {
	local name=$1 transport=$2 log=$work/logs/$1-$2.log

	port=$("$CALCD_BENCH" --free-port)
	case $name in
	calcd)
		printf 'listen = 127.0.0.1:%s\nmax_connections = %s\nlog_level = warning\n' \
			"$port" $((idle + 2048)) >"$work/calcd.conf"
		"${server_run[@]}" "$CALCD" -f -c "$work/calcd.conf" >>"$log" 2>&1 &
		;;
	limit)
		"${server_run[@]}" "$peers/limit-server" \
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
}

# What each server speaks, and the loads it can carry.
transports_of() {
	case $1 in
	calcd) echo buffered framed ;;
	tnonblocking) echo framed ;;
	*) echo buffered ;;
	esac
}

points="1x1 32x1 256x1 32x16 idle"
raw=$work/raw.tsv
: >"$raw"

# One measurement: server, transport, point; appends a row to raw.tsv.
measure() {
	local name=$1 transport=$2 point=$3 conns depth extra=() line err
	case $point in
	idle) conns=32; depth=1; extra=(--idle "$idle") ;;
	*) conns=${point%x*}; depth=${point#*x} ;;
	esac
	if [ "$name" = python ] && [ "$point" != 1x1 ]; then
		printf '%s\t%s\t%s\tna\tTSimpleServer serves one connection at a time\n' \
			"$point" "$name" "$transport" >>"$raw"
		return
	fi
	say "$point: $name ($transport)"
	if ! start_server "$name" "$transport"; then
		printf '%s\t%s\t%s\tfail\tdid not start (see its log)\n' \
			"$point" "$name" "$transport" >>"$raw"
		stop_server
		return
	fi
	err=$work/logs/bench-$name-$transport-$point.err
	line=$("${client_run[@]}" "$CALCD_BENCH" -p "$port" -c "$conns" -d "$depth" \
		-T "$transport" -t "$seconds" -w "$warmup" --server-pid "$server_pid" --kv \
		"${extra[@]}" 2>"$err") || true
	if [ "${line%% *}" = ok=1 ]; then
		printf '%s\t%s\t%s\tok\t%s\n' "$point" "$name" "$transport" "$line" >>"$raw"
	else
		printf '%s\t%s\t%s\tfail\t%s\n' "$point" "$name" "$transport" \
			"$(sed -n 's/^calcd-bench: FAILED: //p' "$err" | head -1)" >>"$raw"
		say "  failed: $(cat "$err")"
	fi
	stop_server
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for _ in $(seq "$repeats"); do
	for point in $points; do
		for name in $servers; do
			for transport in $(transports_of "$name"); do
				measure "$name" "$transport" "$point"
			done
		done
	done
done

# Each row's median run by calls/s; any failed run fails the row.
awk -F'\t' '
{
	key = $1 FS $2 FS $3
	if (!(key in seen)) {
		seen[key] = 1
		order[++k] = key
	}
	if ($4 != "ok") {
		if (!(key in bad))
			bad[key] = $0
		next
	}
	m = ++nok[key]
	line[key, m] = $0
	rate[key, m] = $5
	sub(/.*calls_per_s=/, "", rate[key, m])
	sub(/ .*/, "", rate[key, m])
}
END {
	for (i = 1; i <= k; i++) {
		key = order[i]
		if (key in bad) {
			print bad[key]
			continue
		}
		for (a = 1; a <= nok[key]; a++)
			idx[a] = a
		for (a = 2; a <= nok[key]; a++)
			for (b = a; b > 1 && rate[key, idx[b - 1]] + 0 > rate[key, idx[b]] + 0; b--) {
				t = idx[b]; idx[b] = idx[b - 1]; idx[b - 1] = t
			}
		print line[key, idx[int((nok[key] + 1) / 2)]]
	}
}' "$raw" >"$work/chosen.tsv"

# --- the table -----------------------------------------------------------------

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p;T;q' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
[ -n "$out" ] || out=$here/results-$(date -u +%Y-%m-%d-%H%M).md

{
	echo "## calcd against its peers, $started"
	echo
	echo "- Machine: $(uname -srm), ${cpu_model:-unknown CPU}, $cpus CPUs, $mem; load average" \
		"before the run $load_before (shared machine: ratios within one run are what count)"
	echo "- Command: \`$command_line\`; $warmup s warm-up, then $seconds s measured per point;" \
		"each server freshly started for each point$([ "$repeats" -gt 1 ] &&
		echo "; every row is the median (by calls/s) of $repeats runs taken round-robin")"
	echo "- Client: calcd-bench, one thread, strict binary \`add\` calls with random arguments," \
		"every reply checked (seqid and sum); $pinning"
	echo "- Servers: calcd (workers = auto: one per CPU it may run on, so 1 when pinned to one" \
		"CPU), limit (bench/limit-server.c, one epoll thread per" \
		"CPU it may use), Apache Thrift $(thrift --version | awk '{print $3}') C++" \
		"TNonblockingServer (libevent, 2 IO threads, framed) and TThreadedServer (buffered)," \
		"the tutorial's Python TSimpleServer ($("$python" --version 2>&1))"
	echo "- × calcd: this server's value ÷ calcd's, same load and same transport (calcd runs" \
		"each transport its peers need). Calls/s above 1: faster than calcd; latency, CPU and" \
		"memory above 1: more than calcd. Server CPU is utime + stime of the server process" \
		"over the measured interval ÷ calls. Memory: (server RSS with the idle connections" \
		"open − RSS before) ÷ idle connections."
	echo
	awk -F'\t' -v idle="$idle" '
	function kv(line, key,   n, i, parts, pair) {
		n = split(line, parts, " ")
		for (i = 1; i <= n; i++) {
			split(parts[i], pair, "=")
			if (pair[1] == key)
				return pair[2]
		}
		return ""
	}
	function commas(x,   s, r) {
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
	function label(p,   c) {
		if (p == "idle")
			return sprintf("32 × 1 + %s idle", commas(idle))
		split(p, c, "x")
		return c[1] " × " c[2]
	}
	{
		n++
		point[n] = $1; name[n] = $2; tr[n] = $3; st[n] = $4; rest[n] = $5
		if ($4 == "ok") {
			rate[n] = kv($5, "calls_per_s"); p50[n] = kv($5, "p50_us")
			p99[n] = kv($5, "p99_us"); cpu[n] = kv($5, "server_cpu_us_per_call")
			rss[n] = kv($5, "rss_per_idle_conn_bytes")
			if ($2 == "calcd") {
				key = $1 SUBSEP $3
				crate[key] = rate[n]; cp99[key] = p99[n]; ccpu[key] = cpu[n]
				crss[key] = rss[n]
			}
		}
	}
	END {
		print "| load (connections × depth) | server | transport | calls/s | × calcd | p50 µs | p99 µs | p99 × calcd | server CPU µs/call | × calcd | RSS/idle conn (bytes) | × calcd |"
		print "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (i = 1; i <= n; i++) {
			key = point[i] SUBSEP tr[i]
			if (st[i] != "ok") {
				printf "| %s | %s | %s | %s: %s | | | | | | | | |\n", label(point[i]),
				    name[i], tr[i], st[i] == "na" ? "n/a" : "**FAILED**", rest[i]
				continue
			}
			mem = point[i] == "idle" ? commas(rss[i]) : "–"
			memr = point[i] == "idle" ? ratio(rss[i], crss[key]) : "–"
			printf "| %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %s | %s | %s |\n",
			    label(point[i]), name[i], tr[i], commas(rate[i]), ratio(rate[i], crate[key]),
			    us(p50[i]), us(p99[i]), ratio(p99[i], cp99[key]), cpu[i],
			    ratio(cpu[i], ccpu[key]), mem, memr
		}
		# The targets of issue 6, checked on this run.
		print ""
		print "Targets (issue 6), this run:"
		print ""
		print "| load | calcd ÷ limit calls/s (≥ 0.85) | calcd ÷ limit CPU/call (≤ 1.25) | calcd p99 < TNonblockingServer p99 (framed) |"
		print "|---|---:|---:|---|"
		for (i = 1; i <= n; i++) {
			if (name[i] != "limit" || st[i] != "ok" || tr[i] != "buffered")
				continue
			key = point[i] SUBSEP "buffered"
			r = ratio(crate[key], rate[i]); c = ratio(ccpu[key], cpu[i])
			p = "–"
			for (j = 1; j <= n; j++)
				if (name[j] == "tnonblocking" && point[j] == point[i] && st[j] == "ok" &&
				    cp99[point[i] SUBSEP "framed"] != "")
					p = sprintf("%s (%s vs %s µs)",
					    cp99[point[i] SUBSEP "framed"] + 0 < p99[j] + 0 ? "yes" : "**no**",
					    us(cp99[point[i] SUBSEP "framed"]), us(p99[j]))
			rflag = (r != "–" && r + 0 < 0.85) ? " **short**" : ""
			cflag = (c != "–" && c + 0 > 1.25) ? " **over**" : ""
			printf "| %s | %s%s | %s%s | %s |\n", label(point[i]), r, rflag, c, cflag, p
		}
		key = "idle" SUBSEP "buffered"
		if (crss[key] != "")
			printf "\nMemory: calcd holds %s idle connections (all answered) at %s bytes each (target ≤ 4096).\n",
			    commas(idle), commas(crss[key])
	}' "$work/chosen.tsv"
} >"$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
say "table written to $out"
# A wrong or missing reply from calcd fails the run; a peer's failure is in the table.
! grep -q $'^[^\t]*\tcalcd\t[^\t]*\tfail' "$raw"
