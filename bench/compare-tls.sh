# shellcheck shell=bash disable=SC2154,SC2034  # variables and helpers are compare.sh's
# compare-tls.sh: compare.sh's TLS section (issue 17), sourced by compare.sh
# with --tls or --tls-only; not a script of its own.  It uses compare.sh's
# settings and helpers (CALCD, CALCD_BENCH, work, client_run, server_run,
# seconds, warmup, repeats, retries, noise, workers, say, stop_server,
# server_pid, port).
#
# In each round, at each load of BENCH_TLS_POINTS: calcd in the clear, calcd
# over TLS (and CALCD_BASELINE in the clear, if set), each freshly started,
# buffered binary; then connections per second with one call each (calcd-bench
# --handshakes): plain TCP, TLS with an ECDSA P-256 certificate, TLS with an
# RSA 2048 one, every handshake a full one.  Certificates: tests/tls/make-certs.sh,
# made in the scratch directory.  A round with a row short of clean runs
# is run again at its load (every row of that load, so rows stay paired by
# round), up to --retries times.  Rows go to $work/tls.tsv: round, kind,
# point, status, calcd-bench's --kv line.

tls_raw=$work/tls.tsv
tls_points=${BENCH_TLS_POINTS:-32x1 256x1 32x16 256x16}
tls_hs_conns=${BENCH_TLS_HANDSHAKE_CONNECTIONS:-16}

# The kinds of row measured at a point.
tls_kinds_of() {
	if [ "$1" = handshakes ]; then
		echo hs-plain hs-ec hs-rsa
	else
		echo plain
		[ -z "${CALCD_BASELINE:-}" ] || echo baseline
		echo tls
	fi
}

tls_prepare() {
	command -v openssl >/dev/null || { say "the TLS section needs openssl(1)"; exit 1; }
	: >"$tls_raw"
	if ! sh "$top/tests/tls/make-certs.sh" "$work/tls" >"$work/logs/make-certs.log" 2>&1; then
		say "tests/tls/make-certs.sh failed: see $work/logs/make-certs.log"
		keep=1
		exit 1
	fi
	if [ -n "${CALCD_BASELINE:-}" ] && [ ! -x "$CALCD_BASELINE" ]; then
		say "CALCD_BASELINE=$CALCD_BASELINE is not an executable"
		exit 1
	fi
}

# Start calcd for a kind of row; sets server_pid and port.
tls_start_calcd() {
	local kind=$1 binary=$CALCD listen cert="" log=$work/logs/tls-$1.log ready=()

	port=$("$CALCD_BENCH" --free-port)
	listen="127.0.0.1:$port"
	case $kind in
	baseline) binary=$CALCD_BASELINE ;;
	tls|hs-ec) cert=server ;;
	hs-rsa) cert=rsa-server ;;
	esac
	{
		if [ -n "$cert" ]; then
			printf 'listen = %s tls\ntls_certificate = %s\ntls_key = %s\n' "$listen" \
				"$work/tls/$cert.pem" "$work/tls/$cert.key"
			ready=(--tls)
		else
			printf 'listen = %s\n' "$listen"
		fi
		printf 'max_connections = 2048\nlog_level = warning\nworkers = %s\n' "$workers"
	} >"$work/calcd-tls.conf"
	"${server_run[@]}" "$binary" -f -c "$work/calcd-tls.conf" >>"$log" 2>&1 &
	server_pid=$!
	"$CALCD_BENCH" -p "$port" "${ready[@]}" --wait-ready 10 2>>"$log"
}

# One run of a kind of row at a point in round $3: a line of $tls_raw.
tls_measure() {
	local kind=$1 point=$2 round=$3 conns depth line err what client=()

	case $point in
	handshakes) conns=$tls_hs_conns; depth=1; client=(--handshakes) ;;
	*) conns=${point%x*}; depth=${point#*x} ;;
	esac
	case $kind in
	tls|hs-ec|hs-rsa) client+=(--tls --ca "$work/tls/ca.pem") ;;
	esac
	what="TLS section, $point: $kind"
	if ! tls_start_calcd "$kind"; then
		printf '%s\t%s\t%s\tfail\tdid not start (see its log)\n' "$round" "$kind" "$point" \
			>>"$tls_raw"
		say "$what: did not start"
		stop_server
		return
	fi
	err=$work/logs/bench-tls-$kind-$point.err
	line=$("${client_run[@]}" "$CALCD_BENCH" -p "$port" -c "$conns" -d "$depth" \
		-T buffered -P binary -t "$seconds" -w "$warmup" "${client[@]}" \
		--server-pid "$server_pid" --kv 2>"$err") || true
	if [ "${line%% *}" = ok=1 ]; then
		printf '%s\t%s\t%s\tok\t%s\n' "$round" "$kind" "$point" "$line" >>"$tls_raw"
		say "$what: $(sed -n 's/.* calls_per_s=\([^ ]*\).*/\1/p' <<<"$line")/s," \
			"others $(sed -n 's/.* other_cpu_pct=\([^ ]*\).*/\1/p' <<<"$line") %$(
			is_noisy "$line" && echo ' (noisy)')"
	else
		printf '%s\t%s\t%s\tfail\t%s\n' "$round" "$kind" "$point" \
			"$(sed -n 's/^calcd-bench: FAILED: //p' "$err" | head -1)" >>"$tls_raw"
		say "$what: FAILED: $(cat "$err")"
	fi
	stop_server
}

# Clean runs so far of a row, or "closed" if one failed.
tls_clean_runs() {
	awk -F'\t' -v k="$1" -v p="$2" -v n="$noise" '
	$2 == k && $3 == p {
		if ($4 != "ok") { done = 1; next }
		o = $5; sub(/.* other_cpu_pct=/, "", o); sub(/ .*/, "", o)
		if (o + 0 <= n + 0) clean++
	}
	END { if (done) print "closed"; else print clean + 0 }' "$tls_raw"
}

tls_run() {
	local round point kind extra short got again

	tls_prepare
	tls_started=$(date -u '+%Y-%m-%d %H:%M UTC')
	tls_load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	tls_t0=$(date +%s)
	for round in $(seq "$repeats"); do
		say "TLS section: round $round of $repeats"
		for point in $tls_points handshakes; do
			for kind in $(tls_kinds_of "$point"); do
				tls_measure "$kind" "$point" "$round"
			done
		done
	done
	round=$repeats
	for extra in $(seq "$retries"); do
		short=0
		for point in $tls_points handshakes; do
			again=0
			for kind in $(tls_kinds_of "$point"); do
				got=$(tls_clean_runs "$kind" "$point")
				[ "$got" = closed ] || [ "$got" -ge "$repeats" ] || again=1
			done
			[ "$again" = 1 ] || continue
			[ "$short" = 1 ] || { round=$((round + 1)); say "TLS section: extra round $extra of $retries"; }
			short=1
			for kind in $(tls_kinds_of "$point"); do
				tls_measure "$kind" "$point" "$round"
			done
		done
		[ "$short" = 1 ] || break
	done
	tls_load_after=$(cut -d' ' -f1-3 /proc/loadavg)
	tls_minutes=$(( ($(date +%s) - tls_t0 + 59) / 60 ))
}

# Did a calcd run of the TLS section fail?
tls_failed() {
	[ -s "$tls_raw" ] && awk -F'\t' '$4 == "fail" { bad = 1 } END { exit !bad }' "$tls_raw"
}

# The TLS section's Markdown.
tls_tables() {
	local cpu_model mem
	cpu_model=$(sed -n 's/^model name[[:space:]]*: //p;T;q' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
	awk -F'\t' -v noise="$noise" -v started="${tls_started:-}" -v minutes="${tls_minutes:-0}" \
	    -v machine="$(uname -srm), ${cpu_model:-unknown CPU}, $(nproc) CPUs, $mem" \
	    -v load_before="${tls_load_before:-}" -v load_after="${tls_load_after:-}" \
	    -v command="$command_line" -v pinning="$pinning" -v seconds="$seconds" \
	    -v warmup="$warmup" -v repeats="$repeats" -v retries="$retries" \
	    -v hs_conns="$tls_hs_conns" -v baseline="${CALCD_BASELINE:-}" \
	    -v points="$tls_points" -v workers="$workers" '
	function kv(line, key,   v) {
		v = " " line " "
		if (!sub(".* " key "=", "", v))
			return ""
		sub(/ .*/, "", v)
		return v
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
	function us(x) { return x + 0 >= 100 ? commas(x) : sprintf("%.1f", x) }
	function label(p,   c) { split(p, c, "x"); return c[1] " × " c[2] }
	# The median run (by rate) of a row: of its clean runs, else of all (flagged).
	# Sets the row index into runs; "" if the row failed or never ran.
	function chosen(k, p,   i, n, idx, a, b, t, useall) {
		if (failed[k, p] || nruns[k, p] == 0)
			return ""
		useall = nclean[k, p] == 0
		n = 0
		for (i = 1; i <= nruns[k, p]; i++)
			if (useall || rclean[k, p, i])
				idx[++n] = i
		for (a = 2; a <= n; a++)
			for (b = a; b > 1 && rrate[k, p, idx[b - 1]] + 0 > rrate[k, p, idx[b]] + 0; b--) {
				t = idx[b]; idx[b] = idx[b - 1]; idx[b - 1] = t
			}
		return idx[int((n + 1) / 2)]
	}
	function runs_text(k, p) {
		if (nclean[k, p] == 0)
			return sprintf("**noisy** 0/%d", nruns[k, p])
		return sprintf("%d/%d", nclean[k, p], nruns[k, p])
	}
	# Paired ratio a ÷ b at point p: the median over the rounds in which both
	# ran clean of the ratio within the round (lowest–highest, rounds).
	function paired(a, b, p, which,   r, m, v, x, y, i, j, t) {
		m = 0
		for (r = 1; r <= maxround; r++) {
			if (!((a, p, r) in byround) || !((b, p, r) in byround))
				continue
			i = byround[a, p, r]; j = byround[b, p, r]
			if (!rclean[a, p, i] || !rclean[b, p, j])
				continue
			x = which == "cpu" ? rcpu[a, p, i] : rrate[a, p, i]
			y = which == "cpu" ? rcpu[b, p, j] : rrate[b, p, j]
			if (x + 0 < 0 || y + 0 <= 0)
				continue
			v[++m] = x / y
		}
		for (i = 2; i <= m; i++)
			for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
				t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
			}
		if (m == 0)
			return "–"
		return sprintf("%.2f (%.2f–%.2f, %d)", v[int((m + 1) / 2)], v[1], v[m], m)
	}
	{
		r = $1; k = $2; p = $3
		if (r + 0 > maxround)
			maxround = r + 0
		if ($4 != "ok") {
			failed[k, p] = 1
			why[k, p] = $5
			next
		}
		i = ++nruns[k, p]
		byround[k, p, r] = i
		line[k, p, i] = $5
		rrate[k, p, i] = kv($5, "calls_per_s")
		rcpu[k, p, i] = kv($5, "server_cpu_us_per_call")
		o = kv($5, "other_cpu_pct")
		rclean[k, p, i] = o + 0 <= noise + 0
		nclean[k, p] += rclean[k, p, i]
		total++; noisy += !rclean[k, p, i]; checked += kv($5, "checked")
		if (k == "tls" && tlsdesc == "")
			tlsdesc = sprintf("%s, %s, key exchange %s", kv($5, "tls_version"),
			    kv($5, "tls_cipher"), kv($5, "tls_group"))
		if (k ~ /^hs-/ && k != "hs-plain" && !(k in keytype))
			keytype[k] = sprintf("%s, %s, %s, server key %s", kv($5, "tls_version"),
			    kv($5, "tls_cipher"), kv($5, "tls_group"), kv($5, "tls_server_key"))
	}
	END {
		nfailed = 0
		for (key in failed)
			nfailed++
		print "## calcd over TLS against calcd in the clear, " started
		print ""
		printf "- Machine: %s; load average %s before, %s after (shared machine: ratios within one run are what count)\n", machine, load_before, load_after
		printf "- Command: `%s`; %s s warm-up, then %s s measured per run; calcd freshly started for each run (workers = %s); %d round%s, then up to %s more at a load with a row short of clean runs (every row of that load again); %d runs in %d min\n", command, warmup, seconds, workers, repeats, repeats == 1 ? "" : "s", retries, total + nfailed, minutes
		printf "- Client: calcd-bench, one thread, buffered strict binary `add` calls, every reply checked; over TLS it verifies calcd'"'"'s certificate (tests/tls/make-certs.sh'"'"'s CA, name 127.0.0.1); %s\n", pinning
		printf "- TLS: OpenSSL'"'"'s defaults on both sides (no tls_ciphers set); negotiated %s; calcd'"'"'s certificate ECDSA P-256, SHA-256, sent with its intermediate CA (tests/tls/make-certs.sh server.pem); for the RSA row its RSA 2048 certificate signed by the CA directly (rsa-server.pem)\n", tlsdesc == "" ? "(no TLS run succeeded)" : tlsdesc
		printf "- Noise: a run is **noisy** when other processes used more than %s %% of one CPU where client and server run; %d of %d runs were; each row is the median (by calls/s) of its clean runs, or of all its runs, flagged, if none is clean\n", noise, noisy, total
		printf "- Every reply checked: %s replies in %d runs, %s\n", commas(checked), total + nfailed, nfailed == 0 ? "all right." : "**" nfailed " rows failed**."
		print ""
		print "### Calls per second"
		print ""
		print "TLS ÷ plain: the median over the rounds in which both ran clean of the ratio within the round (lowest–highest, rounds). Server CPU: calcd'"'"'s task-clock ÷ calls over the measured interval."
		print ""
		print "| load (connections × depth) | plain calls/s | TLS calls/s | TLS ÷ plain calls/s | plain p99 µs | TLS p99 µs | plain server CPU µs/call | TLS server CPU µs/call | TLS ÷ plain CPU/call | clean runs (plain, TLS) | others, % of a CPU (plain, TLS) |"
		print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		n = split(points, pts, " ")
		for (q = 1; q <= n; q++) {
			p = pts[q]
			a = chosen("plain", p); b = chosen("tls", p)
			if (a == "" || b == "") {
				printf "| %s | %s | %s | | | | | | | | |\n", label(p),
				    a == "" ? "**FAILED**: " why["plain", p] : commas(rrate["plain", p, a]),
				    b == "" ? "**FAILED**: " why["tls", p] : commas(rrate["tls", p, b])
				continue
			}
			pl = line["plain", p, a]; tl = line["tls", p, b]
			printf "| %s | %s | %s | %s | %s | %s | %.3f | %.3f | %s | %s, %s | %.1f, %.1f |\n",
			    label(p), commas(rrate["plain", p, a]), commas(rrate["tls", p, b]),
			    paired("tls", "plain", p, "rate"), us(kv(pl, "p99_us")), us(kv(tl, "p99_us")),
			    rcpu["plain", p, a], rcpu["tls", p, b], paired("tls", "plain", p, "cpu"),
			    runs_text("plain", p), runs_text("tls", p), kv(pl, "other_cpu_pct"),
			    kv(tl, "other_cpu_pct")
		}
		if (baseline != "") {
			print ""
			print "### The clear-text path against the baseline (" baseline ")"
			print ""
			print "This tree'"'"'s calcd in the clear ÷ the baseline calcd in the clear, paired by round as above."
			print ""
			print "| load | this tree calls/s | baseline calls/s | this ÷ baseline calls/s | this tree CPU µs/call | baseline CPU µs/call | this ÷ baseline CPU/call | clean runs (this, baseline) |"
			print "|---|---:|---:|---:|---:|---:|---:|---:|"
			for (q = 1; q <= n; q++) {
				p = pts[q]
				a = chosen("plain", p); b = chosen("baseline", p)
				if (a == "" || b == "") {
					printf "| %s | **FAILED** | | | | | | |\n", label(p)
					continue
				}
				printf "| %s | %s | %s | %s | %.3f | %.3f | %s | %s, %s |\n", label(p),
				    commas(rrate["plain", p, a]), commas(rrate["baseline", p, b]),
				    paired("plain", "baseline", p, "rate"), rcpu["plain", p, a],
				    rcpu["baseline", p, b], paired("plain", "baseline", p, "cpu"),
				    runs_text("plain", p), runs_text("baseline", p)
			}
		}
		print ""
		print "### Connections per second, one call each"
		print ""
		printf "calcd-bench --handshakes, %d connections: each connects (over TLS: a full handshake, no resumption, the server certificate verified), makes one call, checks the reply, sends close_notify and closes, then connects again. The client handshakes blocking, so one handshake at a time is in progress on the client side; client and server share the CPU, so connections/s counts both sides'"'"' work, and the server'"'"'s CPU per connection is calcd'"'"'s own. Latency: from connect to the reply.\n", hs_conns
		print ""
		print "| connection | connections/s | ÷ plain TCP | server CPU µs/connection | ÷ plain TCP | client CPU µs/connection | p50 µs | p99 µs | clean runs | others, % of a CPU |"
		print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		split("hs-plain hs-ec hs-rsa", hk, " ")
		name["hs-plain"] = "plain TCP"
		name["hs-ec"] = "TLS, ECDSA P-256 certificate"
		name["hs-rsa"] = "TLS, RSA 2048 certificate"
		for (q = 1; q <= 3; q++) {
			k = hk[q]; p = "handshakes"
			a = chosen(k, p)
			if (a == "") {
				printf "| %s | **FAILED**: %s | | | | | | | | |\n", name[k], why[k, p]
				continue
			}
			l = line[k, p, a]
			printf "| %s | %s | %s | %.1f | %s | %.1f | %s | %s | %s | %.1f |\n", name[k],
			    commas(rrate[k, p, a]), k == "hs-plain" ? "1" : paired(k, "hs-plain", p, "rate"),
			    rcpu[k, p, a], k == "hs-plain" ? "1" : paired(k, "hs-plain", p, "cpu"),
			    kv(l, "client_cpu_us_per_call"), us(kv(l, "p50_us")), us(kv(l, "p99_us")),
			    runs_text(k, p), kv(l, "other_cpu_pct")
		}
		for (q = 2; q <= 3; q++)
			if (hk[q] in keytype)
				printf "%s%s: %s", q == 2 ? "\nNegotiated: " : "; ", name[hk[q]], keytype[hk[q]]
		print "."
	}' "$tls_raw"
}
