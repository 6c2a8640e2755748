#!/usr/bin/env bash
# tests/integration/test_litmus.sh: runs Debian's litmus (WebDAV compliance) suites basic,
# copymove, props, locks and http against a real almanacd on a free loopback port, in the
# generic WebDAV tree of a fresh user's home. Fails when any litmus test fails or when the
# server does not exit 0 on SIGTERM, or reports a sanitizer error.
set -euo pipefail
: "${ALMANACD:?}" "${ALMANAC:?}"
command -v litmus >/dev/null || { echo "litmus is not installed (scripts/install-deps.sh)"; exit 1; }

dir=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

echo 'litmus-secret' | "$ALMANAC" --data "$dir/data" user add litmus --password-stdin
"$ALMANACD" --data "$dir/data" --listen 127.0.0.1:0 --port-file "$dir/port" 2>"$dir/log" &
pid=$!
for _ in $(seq 1 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
port=$(cat "$dir/port")

status=0
(cd "$dir" && TESTS="basic copymove props locks http" litmus \
    "http://127.0.0.1:$port/calendars/litmus/" litmus litmus-secret) >"$dir/litmus.out" 2>&1 || status=$?
grep -E "summary|FAIL|WARNING" "$dir/litmus.out" || true
if [ "$status" -ne 0 ] || grep -q "FAIL" "$dir/litmus.out"; then
    cat "$dir/litmus.out"
    echo "litmus failed (exit $status)"
    exit 1
fi
for suite in basic copymove props locks http; do
    grep -q "summary for \`$suite'" "$dir/litmus.out" || { echo "suite $suite did not run"; exit 1; }
done

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
if [ "$rc" -ne 0 ]; then echo "almanacd exited $rc on SIGTERM"; tail -20 "$dir/log"; exit 1; fi
if grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$dir/log"; then exit 1; fi
echo "litmus: all suites passed"
