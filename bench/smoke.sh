#!/bin/sh
# smoke.sh: run calcd-bench against calcd for a few seconds in every
# protocol and transport (THeader too), pipelined, for a fixed number of
# calls, and with idle connections, so the harness can't rot; then over
# TLS (client certificates verified both ways) and one call per connection
# (--handshakes), in the clear and over TLS.  Fails on any wrong or missing
# reply; no timing check.  The TLS runs need openssl(1) for the test
# certificates (tests/tls/make-certs.sh); without it they are skipped, loudly.
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

here=$(cd "$(dirname "$0")" && pwd)
tls=0
if command -v openssl >/dev/null; then
	sh "$here/../tests/tls/make-certs.sh" "$work/pki" >/dev/null
	tls=1
else
	echo "bench-smoke: SKIPPING the TLS runs: openssl(1) is not installed"
fi
port=$("$CALCD_BENCH" --free-port)
printf 'listen = 127.0.0.1:%s\nmax_connections = 1024\nlog_level = warning\n' "$port" \
	>"$work/calcd.conf"
if [ "$tls" = 1 ]; then
	tls_port=$("$CALCD_BENCH" --free-port)
	printf 'listen = 127.0.0.1:%s tls\ntls_certificate = %s\ntls_key = %s\ntls_client_ca = %s\n' \
		"$tls_port" "$work/pki/server.pem" "$work/pki/server.key" "$work/pki/ca.pem" \
		>>"$work/calcd.conf"
fi
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
echo "bench-smoke: one call per connection, in the clear"
"$CALCD_BENCH" -p "$port" -c 4 --handshakes -t 0.3 -w 0.1 --server-pid "$pid"
runs=$((runs + 1))
if [ "$tls" = 1 ]; then
	tls_client="--tls --ca $work/pki/ca.pem --cert $work/pki/client.pem --key $work/pki/client.key"
	for load in "-c 1 -d 1 -P binary -T buffered" "-c 8 -d 16 -P compact -T header"; do
		echo "bench-smoke: TLS $load"
		# shellcheck disable=SC2086
		"$CALCD_BENCH" -p "$tls_port" $tls_client $load -t 0.3 -w 0.1 --server-pid "$pid"
		runs=$((runs + 1))
	done
	echo "bench-smoke: TLS, a fixed number of calls"
	# shellcheck disable=SC2086
	"$CALCD_BENCH" -p "$tls_port" $tls_client -c 8 -d 16 -T framed -n 5000 -t 60
	runs=$((runs + 1))
	echo "bench-smoke: TLS, one full handshake per call"
	# shellcheck disable=SC2086
	"$CALCD_BENCH" -p "$tls_port" $tls_client -c 4 --handshakes -t 0.3 -w 0.1 \
		--server-pid "$pid"
	runs=$((runs + 1))
	echo "bench-smoke: TLS without a client certificate is refused"
	if "$CALCD_BENCH" -p "$tls_port" --tls --ca "$work/pki/ca.pem" -n 1 -t 5 \
		>"$work/refused.out" 2>&1; then
		echo "bench-smoke: a client without a certificate got its reply"
		exit 1
	fi
	if ! grep -q -i 'certificate' "$work/refused.out"; then
		echo "bench-smoke: a client without a certificate failed, but not for that:"
		cat "$work/refused.out"
		exit 1
	fi
	sed -n 's/^calcd-bench: FAILED: /bench-smoke: refused as expected: /p' "$work/refused.out"
	runs=$((runs + 1))
fi
kill -0 "$pid"
echo "bench-smoke: $runs passed, 0 failed"
