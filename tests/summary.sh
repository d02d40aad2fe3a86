#!/bin/sh
# make check's closing summary (check-local, once every test has passed):
# what each suite ran, skipped and marked as a known library bug, which
# automake's own counts (one per program or script) do not show.
#
#   tests/summary.sh LOG...      the .log files of the tests that ran
#
# A suite says it on a line "calcd-summary: NAME: ..." of its log; for the
# unit tests the Check runners' "Checks: N" lines are summed, and a log of
# Python unittest output without such a line gives its "Ran N tests" and
# "skipped=N" counts.
set -eu

programs=0 checks=0 other=
for log; do
	[ -f "$log" ] || continue
	if grep -q '^calcd-summary: ' "$log"; then
		other="$other$(sed -n 's/^calcd-summary: /  /p' "$log")
"
	elif grep -qE '^[0-9]+%: Checks: [0-9]+' "$log"; then
		programs=$((programs + 1))
		checks=$((checks + $(sed -n 's/^[0-9]*%: Checks: \([0-9]*\).*/\1/p' "$log" | tail -n 1)))
	elif grep -qE '^Ran [0-9]+ tests? in ' "$log"; then
		name=$(basename "$(dirname "$log")")
		ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$log" |
			awk '{ n += $1 } END { print n + 0 }')
		skipped=$(sed -n 's/^OK (.*skipped=\([0-9]*\).*/\1/p' "$log" |
			awk '{ n += $1 } END { print n + 0 }')
		other="$other  $name: $ran tests, $skipped skipped ($log)
"
	else
		other="$other  $log: passed (no counts in its log)
"
	fi
done

line=============================================================================
echo "$line"
echo "What the suites ran (the counts above are one per test program or script):"
[ "$programs" -eq 0 ] || echo "  unit: $checks Check tests in $programs programs"
printf '%s' "$other"
echo "$line"
