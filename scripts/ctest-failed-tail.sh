#!/usr/bin/env bash
# scripts/ctest-failed-tail.sh: after a failed ctest run, prints the last LINES lines of each
# failed test's output (from ctest's Testing/Temporary/LastTest.log), so that the end of a long
# log — all a CI summary may keep — says why each test failed, not only which.
#
# usage: scripts/ctest-failed-tail.sh BUILD_DIR [LINES]     (LINES defaults to 40)
set -euo pipefail
dir=${1:?usage: ctest-failed-tail.sh BUILD_DIR [LINES]}
lines=${2:-40}
log="$dir/Testing/Temporary/LastTest.log"
failed="$dir/Testing/Temporary/LastTestsFailed.log"
if [ ! -f "$log" ] || [ ! -s "$failed" ]; then
    exit 0
fi
# LastTestsFailed.log holds "NUMBER:NAME" lines.
cut -d: -f2- "$failed" | while IFS= read -r name; do
    echo "==== the end of $name's output ===="
    # A test's output sits between its '"NAME" start time:' line's "Output:" rule and
    # "<end of output>".
    awk -v name="$name" '
        index($0, "\"" name "\" start time:") == 1 { want = 1; next }
        want && /^<end of output>$/ { exit }
        want && started { print }
        want && /^-+$/ && !started { started = 1 }
    ' "$log" | tail -n "$lines"
done
echo "==== failed: $(cut -d: -f2- "$failed" | tr '\n' ' ')===="
