#!/usr/bin/env bash
# tests/integration/test_litmus.sh: runs Debian's litmus (WebDAV compliance) suites basic,
# copymove, props, locks and http against a real almanacd on a free loopback port, in the
# generic WebDAV tree of a fresh user's home. locks only checks that a server without class 2
# refuses locking cleanly. Fails when any litmus test FAILs (WARNINGs are fine), when a suite
# did not run, or when the server does not exit 0 on SIGTERM or reports a sanitizer error.
# With ALMANAC_TEST_STORE=postgresql, on the database of ALMANAC_PG_URI (tests/CMakeLists.txt).
set -euo pipefail
: "${ALMANACD:?}" "${ALMANAC:?}"
command -v litmus >/dev/null || { echo "litmus is not installed (scripts/install-deps.sh)"; exit 1; }
suites="basic copymove props locks http"

dir=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; wait "$pid" || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT

# the store: a fresh SQLite directory, or the PostgreSQL database pgcluster.py run gives
store=(--data "$dir/data")
if [ "${ALMANAC_TEST_STORE:-sqlite}" = postgresql ]; then
    store=(--store "${ALMANAC_PG_URI:?run under tests/integration/pgcluster.py run --}")
fi
echo 'litmus-secret' | "$ALMANAC" "${store[@]}" user add litmus --password-stdin
"$ALMANACD" "${store[@]}" --listen 127.0.0.1:0 --port-file "$dir/port" 2>"$dir/log" &
pid=$!
for _ in $(seq 1 200); do
    [ -s "$dir/port" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "almanacd exited early"; cat "$dir/log"; exit 1; }
    sleep 0.1
done
[ -s "$dir/port" ] || { echo "almanacd wrote no port file within 20 s"; exit 1; }
port=$(cat "$dir/port")

# -k: keep going after a failing suite, so one report names every failure.
status=0
(cd "$dir" && TESTS="$suites" timeout 300 litmus -k \
    "http://127.0.0.1:$port/calendars/litmus/" litmus litmus-secret) >"$dir/litmus.out" 2>&1 ||
    status=$?
grep -E "summary for|FAIL|WARNING" "$dir/litmus.out" || true
if [ "$status" -ne 0 ] || grep -q "FAIL" "$dir/litmus.out"; then
    cat "$dir/litmus.out"
    echo "litmus failed (exit $status)"
    exit 1
fi
for suite in $suites; do
    grep -q "summary for \`$suite'" "$dir/litmus.out" || { echo "suite $suite did not run"; exit 1; }
done

kill -TERM "$pid"
for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "almanacd did not exit within 20 s of SIGTERM"; exit 1; fi
rc=0
wait "$pid" || rc=$?
pid=
if [ "$rc" -ne 0 ]; then echo "almanacd exited $rc on SIGTERM"; tail -20 "$dir/log"; exit 1; fi
if grep -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$dir/log"; then exit 1; fi
echo "litmus: all suites passed"
