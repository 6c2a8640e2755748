#!/usr/bin/env bash
# tests/integration/test_cli.sh: the admin CLI's commands, outputs and exit codes
# (0 done, 1 usage, 2 operation failed) on a fresh data directory.
set -euo pipefail
: "${ALMANAC:?}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
a() { "$ALMANAC" --data "$dir/data" "$@"; }
expect_rc() { local want=$1; shift; local rc=0; "$@" >"$dir/out" 2>"$dir/err" || rc=$?;
    if [ "$rc" -ne "$want" ]; then echo "FAIL: '$*' exited $rc, want $want"; cat "$dir/err"; exit 1; fi; }
fails=0
check() { if ! eval "$1"; then echo "FAIL: $1"; fails=$((fails + 1)); fi; }

echo 'pw1' | a user add alice --password-stdin
pw=$(a user add bob --generate-password)
check '[ ${#pw} -eq 20 ]'
check '[ "$(a user list | tr "\n" " ")" = "alice bob " ]'
expect_rc 2 a user add alice --generate-password
check 'grep -q "exists" "$dir/err"'
expect_rc 1 a user add 'bad/name' --generate-password
expect_rc 1 a user add .hidden --generate-password
expect_rc 1 sh -c "printf '' | '$ALMANAC' --data '$dir/data' user add carol --password-stdin"
echo 'pw2' | a user passwd alice --password-stdin
expect_rc 2 sh -c "echo x | '$ALMANAC' --data '$dir/data' user passwd nobody --password-stdin"
a calendar add alice work --displayname 'Work & play'
a calendar add alice home
expect_rc 2 a calendar add alice work
expect_rc 2 a calendar add nobody cal
expect_rc 1 a calendar add alice 'a/b'
check '[ "$(a calendar list alice | cut -f1,2 | tr "\n" " ")" = "home	calendar work	calendar " ]'
check 'a calendar list alice | grep -q "items=0"'
expect_rc 2 a calendar list nobody
check 'a prune --days 30 | grep -q "in 4 collections"'
expect_rc 1 a prune --days x
a user del bob
check '[ "$(a user list)" = "alice" ]'
expect_rc 2 a user del bob
expect_rc 1 a frobnicate
expect_rc 1 a user
"$ALMANAC" --help | grep -q usage
if [ "$fails" -ne 0 ]; then echo "$fails checks failed"; exit 1; fi
echo "cli: all checks passed"
