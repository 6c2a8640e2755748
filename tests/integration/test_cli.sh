#!/usr/bin/env bash
# tests/integration/test_cli.sh: the admin CLI (tools/almanac.c) on a fresh data directory:
# every subcommand's output, and every exit code (0 done, 1 usage error, 2 the operation
# failed) with the message that names what. When ctest also gives ALMANACD, a real server
# checks that the stored hashes and display name are the ones the CLI was given.
set -euo pipefail
: "${ALMANAC:?ALMANAC must name the almanac binary}"
dir=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" || true; fi
    rm -rf "$dir"
}
trap cleanup EXIT
data="$dir/data"
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run [--stdin TEXT] ARGS...: runs almanac on $data; sets rc, out, err.
run() {
    local input=""
    if [ "$1" = "--stdin" ]; then input=$2; shift 2; fi
    rc=0
    printf '%s' "$input" | "$ALMANAC" --data "$data" "$@" >"$dir/out" 2>"$dir/err" || rc=$?
    out=$(cat "$dir/out")
    err=$(cat "$dir/err")
}

# expect RC [STDOUT [STDERR]]: checks the last run; "*" skips a stream, and an empty STDERR
# (the default) means nothing may be written there. Call as: expect 0 "" "" -- what
expect() {
    local want_rc=$1 want_out=${2-*} want_err=${3-}
    local what="almanac ${last[*]}"
    if [ "$rc" -ne "$want_rc" ]; then fail "$what: exit $rc, want $want_rc (stderr: $err)"; return; fi
    if [ "$want_out" != "*" ] && [ "$out" != "$want_out" ]; then
        fail "$what: stdout '$out', want '$want_out'"
    fi
    if [ "$want_err" != "*" ] && [ "$err" != "$want_err" ]; then
        fail "$what: stderr '$err', want '$want_err'"
    fi
}

# t [--stdin TEXT] ARGS...: run, remembering the arguments for expect's messages.
t() {
    if [ "$1" = "--stdin" ]; then last=("${@:3}"); else last=("$@"); fi
    run "$@"
}

is_usage() { case "$err" in *"usage: almanac"*) return 0 ;; *) return 1 ;; esac; }

# --- usage errors (1) change nothing on disk ----------------------------------------------
rc=0; "$ALMANAC" --help >"$dir/out" 2>"$dir/err" || rc=$?
if [ "$rc" -ne 0 ] || ! grep -q '^usage: almanac' "$dir/out" || [ -s "$dir/err" ]; then
    fail "--help: exit $rc, usage on stdout and nothing on stderr"
fi
rc=0; "$ALMANAC" >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q '^usage: almanac' "$dir/err" || fail "no arguments: exit $rc, want 1 + usage"
rc=0; "$ALMANAC" --data >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q -- "option '--data' requires an argument" "$dir/err" && grep -q "^usage: almanac" "$dir/err" || fail "--data without DIR"
for args in "frobnicate" "user" "user frob" "user add" "user add x" "user add x --passwd" \
    "user list extra" "user del" "user del a b" "user passwd x" "calendar" "calendar list" \
    "calendar add alice" "calendar add alice c --displayname" "calendar add alice c --name x" \
    "device" "device frob" "device list" "device list alice extra" "device del" \
    "device del alice" "device del alice a b" \
    "prune --days" "prune --days x" "prune --days -1" "prune --days 36501" "prune extra" \
    "user list --force" "user add x --password-stdin --generate-password" "init extra" \
    "check --days 3" "backup" "backup a b" "restore" "calendar list alice --displayname x"; do
    # shellcheck disable=SC2086 # word splitting is the point
    t $args
    expect 1 "" "*"
    is_usage || fail "almanac $args: no usage on stderr"
done
t frobnicate
expect 1 "" "*"
case "$err" in "almanac: unknown command 'frobnicate'"*) ;; *) fail "unknown command: $err" ;; esac
[ ! -e "$data" ] || fail "a usage error created $data"

# --- help and version ----------------------------------------------------------------------
version=$(sed -nE 's/^project\(almanac VERSION ([0-9.]+).*/\1/p' "$ALMANAC_SOURCE_DIR/CMakeLists.txt")
[ -n "$version" ] || fail "no version in CMakeLists.txt's project()"
rc=0; "$ALMANAC" --version >"$dir/out" 2>"$dir/err" || rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$dir/out")" = "almanac $version" ] && [ ! -s "$dir/err" ] ||
    fail "almanac --version: exit $rc, '$(cat "$dir/out")', want 'almanac $version'"
"$ALMANAC" --help >"$dir/out"
for cmd in "user add" "user passwd" "user del" "user list" "calendar add" "calendar list" \
    "device list" "device del" "init" "check" "backup DEST" "restore SRC" "prune" \
    "share OWNER CALENDAR USER read|read-write" "unshare OWNER CALENDAR USER" "share list USER" \
    "--data DIR" "--store URI" "--config FILE" "--version" "--generate-password" "at least 8 characters"; do
    grep -qF -- "$cmd" "$dir/out" || fail "almanac --help does not mention '$cmd'"
done
if [ -n "${ALMANACD:-}" ]; then
    rc=0; "$ALMANACD" --version >"$dir/out" 2>"$dir/err" || rc=$?
    [ "$rc" -eq 0 ] && [ "$(cat "$dir/out")" = "almanacd $version" ] ||
        fail "almanacd --version: exit $rc, '$(cat "$dir/out")', want 'almanacd $version'"
    rc=0; "$ALMANACD" --help >"$dir/out" 2>"$dir/err" || rc=$?
    [ "$rc" -eq 0 ] && [ ! -s "$dir/err" ] || fail "almanacd --help: exit $rc"
    for opt in --config --listen --data --store --workers --log-level --port-file --print-config \
        --print-config-doc --help --version SIGHUP; do
        grep -qF -- "$opt" "$dir/out" || fail "almanacd --help does not mention $opt"
    done
    rc=0; "$ALMANACD" --frobnicate >/dev/null 2>"$dir/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -q "unrecognized option '--frobnicate'" "$dir/err" &&
        grep -q '^usage: almanacd' "$dir/err" || fail "almanacd --frobnicate: exit $rc, $(cat "$dir/err")"
    rc=0; "$ALMANACD" stray >/dev/null 2>"$dir/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -q "unexpected argument 'stray'" "$dir/err" || fail "almanacd stray: exit $rc"
fi

# --- a mistyped --data creates nothing: only init and user add make a store ---------------
for args in "user list" "user del bob" "calendar list bob" "calendar add bob cal" \
    "device list bob" "device del bob X" "prune" "check" "backup $dir/never.db"; do
    # shellcheck disable=SC2086 # word splitting is the point
    t $args
    expect 2 "" "almanac: no store at $data (create one with \`almanac --data $data init\` or \`almanac --data $data user add NAME\`)"
    [ ! -e "$data" ] || fail "almanac $args created $data"
done
[ ! -e "$dir/never.db" ] || fail "a backup of no store wrote a file"
t --stdin $'pw-long-x\n' user passwd bob --password-stdin
expect 2 "" "almanac: no store at $data (create one with \`almanac --data $data init\` or \`almanac --data $data user add NAME\`)"
[ ! -e "$data" ] || fail "user passwd created $data"
if [ -n "${ALMANACD:-}" ]; then
    # (bounded: a server that does start must not hang the test)
    rc=0; timeout 30 "$ALMANACD" --data "$data" --listen 127.0.0.1:0 >/dev/null 2>"$dir/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -qF "almanacd: no store at $data (create one with \`almanac --data $data init\`" "$dir/err" ||
        fail "almanacd on a missing store: exit $rc, $(cat "$dir/err")"
    [ ! -e "$data" ] || fail "almanacd created $data"
fi

# --- init makes an empty store (mode 0700), once; options go anywhere; ./data by default ----
mkdir "$dir/cwd"
rc=0; (cd "$dir/cwd" && "$ALMANAC" init >"$dir/out" 2>"$dir/err") || rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$dir/out")" = "store ready in ./data" ] || fail "init in ./data: exit $rc"
[ "$(stat -c %a "$dir/cwd/data")" = "700" ] || fail "./data is not mode 0700"
[ -f "$dir/cwd/data/almanac.db" ] || fail "./data/almanac.db was not created"
rc=0; (cd "$dir/cwd" && "$ALMANAC" init >"$dir/out" 2>"$dir/err") || rc=$?
[ "$rc" -eq 0 ] || fail "init on an existing store: exit $rc"
rc=0; "$ALMANAC" user list --data "$dir/cwd/data" >"$dir/out" 2>"$dir/err" || rc=$?
[ "$rc" -eq 0 ] && [ ! -s "$dir/out" ] && [ ! -s "$dir/err" ] || fail "user list after --data: exit $rc"
rc=0; "$ALMANAC" check -d "$dir/cwd/data" >"$dir/out" 2>"$dir/err" || rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$dir/out")" = "store in $dir/cwd/data: ok" ] || fail "check: exit $rc $(cat "$dir/err")"
printf 'data_dir = %s\n' "$dir/cwd/data" >"$dir/almanac.conf"
printf 'pw-conf-user\n' | "$ALMANAC" --config "$dir/almanac.conf" user add confuser --password-stdin ||
    fail "user add with --config"
[ "$("$ALMANAC" -d "$dir/cwd/data" user list)" = confuser ] || fail "--config did not take data_dir"
printf 'no_such_key = 1\n' >"$dir/bad.conf"
rc=0; "$ALMANAC" --config "$dir/bad.conf" user list >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no_such_key" "$dir/err" || fail "a bad --config: exit $rc, $(cat "$dir/err")"

# --- store selection: --store sqlite:DIR as --data DIR; a postgresql:// store is refused (1) --
rc=0; "$ALMANAC" --store "sqlite:$dir/cwd/data" user list >"$dir/out" 2>"$dir/err" || rc=$?
[ "$rc" -eq 0 ] && [ "$(cat "$dir/out")" = confuser ] && [ ! -s "$dir/err" ] ||
    fail "--store sqlite:DIR: exit $rc, '$(cat "$dir/out")', $(cat "$dir/err")"
printf 'data_dir = /nonexistent\nstore = sqlite:%s\n' "$dir/cwd/data" >"$dir/store.conf"
[ "$("$ALMANAC" --config "$dir/store.conf" user list)" = confuser ] || fail "--config did not take store"
# A PostgreSQL store that cannot be reached: said, with the password of a URI never shown.
pg_unreachable="cannot connect to the PostgreSQL database"
rc=0; "$ALMANAC" --store postgresql://almanac@127.0.0.1:1/almanac init >"$dir/out" 2>"$dir/err" || rc=$?
[ "$rc" -eq 2 ] && grep -qF "almanac: cannot open the store in postgresql://almanac@127.0.0.1:1/almanac: $pg_unreachable" "$dir/err" &&
    [ ! -s "$dir/out" ] || fail "almanac --store postgresql:// unreachable: exit $rc, $(cat "$dir/err")"
printf 'store = postgres://almanac:secret@127.0.0.1:1/almanac\n' >"$dir/pg.conf"
rc=0; "$ALMANAC" --config "$dir/pg.conf" user list >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 2 ] && grep -qF "store in postgres://almanac:***@127.0.0.1:1/almanac: $pg_unreachable" "$dir/err" &&
    ! grep -q secret "$dir/err" || fail "almanac --config with store = postgres://: exit $rc, $(cat "$dir/err")"
rc=0; "$ALMANAC" --store 'postgresql://almanac@127.0.0.1:1/almanac?password=secret' restore "$dir/none.db" \
    >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 2 ] && grep -qF "restored with pg_restore" "$dir/err" && ! grep -q secret "$dir/err" ||
    fail "almanac restore into postgresql://: exit $rc, $(cat "$dir/err")"
rc=0; "$ALMANAC" --store "sqlite:$dir/cwd/data" --data "$dir/cwd/data" user list >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 1 ] && grep -qF -- "--data and --store both name the store" "$dir/err" ||
    fail "almanac --store with --data: exit $rc, $(cat "$dir/err")"
rc=0; "$ALMANAC" --store "mysql://x:secret@h/db" user list >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 1 ] && grep -qF "store must be sqlite:DIR or a postgresql:// URI" "$dir/err" && ! grep -q secret "$dir/err" ||
    fail "almanac --store mysql://: exit $rc, $(cat "$dir/err")"
rc=0; "$ALMANAC" --store "sqlite:" user list >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 1 ] && grep -qF "store sqlite: needs a directory" "$dir/err" || fail "almanac --store sqlite: exit $rc"
if [ -n "${ALMANACD:-}" ]; then
    # (bounded: a server that does start must not hang the test)
    rc=0; timeout 30 "$ALMANACD" --store postgresql://almanac@127.0.0.1:1/almanac --listen 127.0.0.1:0 \
        >/dev/null 2>"$dir/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -qF "$pg_unreachable" "$dir/err" ||
        fail "almanacd --store postgresql:// unreachable: exit $rc, $(cat "$dir/err")"
    rc=0; timeout 30 "$ALMANACD" --config "$dir/pg.conf" --listen 127.0.0.1:0 >/dev/null 2>"$dir/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -qF "$pg_unreachable" "$dir/err" && ! grep -q secret "$dir/err" ||
        fail "almanacd with store = postgres:// in its config: exit $rc, $(cat "$dir/err")"
    rc=0; timeout 30 "$ALMANACD" --store "mysql://h/db" --listen 127.0.0.1:0 >/dev/null 2>"$dir/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -qF "store must be sqlite:DIR or a postgresql:// URI" "$dir/err" ||
        fail "almanacd --store mysql://: exit $rc, $(cat "$dir/err")"
    rc=0; timeout 30 "$ALMANACD" --store "sqlite:$dir/none" --data "$dir/none" >/dev/null 2>"$dir/err" || rc=$?
    [ "$rc" -eq 2 ] && grep -qF -- "--data and --store both name the store" "$dir/err" ||
        fail "almanacd --store with --data: exit $rc, $(cat "$dir/err")"
    # --data DIR is the SQLite shorthand: it overrides the file's store
    rc=0; timeout 30 "$ALMANACD" --config "$dir/pg.conf" --data "$dir/none" --listen 127.0.0.1:0 \
        >/dev/null 2>"$dir/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -qF "almanacd: no store at $dir/none" "$dir/err" ||
        fail "almanacd --data over a file's store: exit $rc, $(cat "$dir/err")"
    rc=0; timeout 30 "$ALMANACD" --store "sqlite:$dir/none" --listen 127.0.0.1:0 >/dev/null 2>"$dir/err" || rc=$?
    [ "$rc" -eq 1 ] && grep -qF "almanacd: no store at $dir/none" "$dir/err" ||
        fail "almanacd --store sqlite:DIR (missing): exit $rc, $(cat "$dir/err")"
    [ ! -e "$dir/none" ] || fail "almanacd created $dir/none"
fi

# --- users --------------------------------------------------------------------------------
t --stdin $'pw-alice\n' user add alice --password-stdin
expect 0 "" ""
[ "$(stat -c %a "$data")" = "700" ] || fail "$data is not mode 0700"
t user add bob --generate-password
expect 0 "*" ""
bob_pw=$out
[[ "$bob_pw" =~ ^[A-Za-z0-9_-]{20}$ ]] || fail "generated password '$bob_pw' is not 20 base64url characters"
t user add carol --generate-password
[ "$out" != "$bob_pw" ] || fail "two generated passwords are equal"
t --stdin $'pw-dave-1\r\n' user add dave --password-stdin # CRLF stripped
expect 0 "" ""
t --stdin 'pw-erin-1' user add erin --password-stdin # no line end at all
expect 0 "" ""
name64=$(printf 'u%.0s' {1..64})
t --stdin $'pw-long-x\n' user add "$name64" --password-stdin
expect 0 "" ""
t --stdin $'pw-long-x\n' user add "a.B_c-9" --password-stdin
expect 0 "" ""
t user list
expect 0 "$(printf '%s\n' a.B_c-9 alice bob carol dave erin "$name64" | LC_ALL=C sort)" ""

t --stdin $'again-pw\n' user add alice --password-stdin
expect 2 "" "almanac: user 'alice' exists"
t user add alice --generate-password
expect 2 "" "almanac: user 'alice' exists" # and no password printed
for bad in 'bad/name' '.hidden' '' "${name64}u" 'sp ace' 'ümlaut' 'a:b'; do
    t user add "$bad" --generate-password
    expect 1 "" "*"
    case "$err" in "almanac: bad user name"*) ;; *) fail "user add '$bad': $err" ;; esac
done
t --stdin '' user add frank --password-stdin
expect 1 "" "almanac: empty password (--password-stdin reads one line)"
t --stdin $'\r\n' user add frank --password-stdin
expect 1 "" "almanac: empty password (--password-stdin reads one line)"
t --stdin "$(printf 'p%.0s' {1..1025})" user add frank --password-stdin
expect 1 "" "almanac: password longer than 1024 bytes"
t --stdin "$(printf 'p%.0s' {1..1024})" user add frank --password-stdin
expect 0 "" ""
# the policy: at least 8 characters, counted as characters, not bytes
short="almanac: password shorter than 8 characters (--generate-password makes one)"
t --stdin $'seven77\n' user add gina --password-stdin
expect 1 "" "$short"
t --stdin $'\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\n' user add gina --password-stdin # 5 chars, 10 bytes
expect 1 "" "$short"
t --stdin $'seven77\n' user passwd alice --password-stdin
expect 1 "" "$short"
t --stdin $'\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\n' user add gina --password-stdin # 8 chars
expect 0 "" ""
t --stdin $'eight888\n' user add hugo --password-stdin
expect 0 "" ""

t --stdin $'pw-alice-2\n' user passwd alice --password-stdin
expect 0 "" ""
t user passwd carol --generate-password
expect 0 "*" ""
carol_pw=$out
[[ "$carol_pw" =~ ^[A-Za-z0-9_-]{20}$ ]] || fail "passwd --generate-password printed '$carol_pw'"
t --stdin $'pw-long-x\n' user passwd nobody --password-stdin
expect 2 "" "almanac: user 'nobody' not found"
t --stdin '' user passwd alice --password-stdin
expect 1 "" "*"

t user del frank
expect 0 "" ""
t user del frank
expect 2 "" "almanac: user 'frank' not found"
t user del '../x'
expect 1 "" "*"

# --- calendars ----------------------------------------------------------------------------
t calendar add alice work --displayname 'Work & <play>'
expect 0 "" ""
t calendar add alice home
expect 0 "" ""
name255=$(printf 'c%.0s' {1..255})
t calendar add alice "$name255" --displayname 'Ünïcödé 日本'
expect 0 "" ""
t calendar add alice work
expect 2 "" "almanac: calendar 'work' of user 'alice' exists"
t calendar add nobody cal
expect 2 "" "almanac: user 'nobody' not found"
for bad in 'a/b' '.' '..' '' "${name255}c"; do
    t calendar add alice "$bad"
    expect 1 "" "*"
    case "$err" in "almanac: bad calendar name"*) ;; *) fail "calendar add '$bad': $err" ;; esac
done
t calendar add alice tabbed --displayname $'a\tb'
expect 1 "" "almanac: the display name must be UTF-8 text without control characters"
t calendar add alice latin1 --displayname $'caf\xe9'
expect 1 "" "almanac: the display name must be UTF-8 text without control characters"
t calendar add 'bad/user' cal
expect 1 "" "*"

t calendar list alice
expect 0 "$(printf '%s\tcalendar\tmodseq=1\titems=0\n' "$name255" home work)" ""
t calendar list bob
expect 0 "" ""
t calendar list nobody
expect 2 "" "almanac: user 'nobody' not found"

# --- ActiveSync devices -------------------------------------------------------------------
# No EAS endpoint creates devices yet: the listing of real rows is checked below when the
# sqlite3 shell can write them, as the server would.
t device list bob
expect 0 "no devices" ""
t device del bob ApplF17XK2
expect 2 "" "almanac: device 'ApplF17XK2' of user 'bob' not found"
t device list nobody
expect 2 "" "almanac: user 'nobody' not found"
t device del nobody ApplF17XK2
expect 2 "" "almanac: user 'nobody' not found"
t device list 'bad/user'
expect 1 "" "*"
case "$err" in "almanac: bad user name"*) ;; *) fail "device list 'bad/user': $err" ;; esac
t device del bob ""
expect 1 "" "almanac: bad device id (1-128 bytes)"
t device del bob "$(printf 'd%.0s' {1..129})"
expect 1 "" "almanac: bad device id (1-128 bytes)"
if command -v sqlite3 >/dev/null; then
    # Two devices as store_eas_device_touch and Provision leave them: one provisioned with
    # DeviceInformation, one awaiting its policy ack whose friendly name carries an escape.
    sqlite3 "$data/almanac.db" "INSERT INTO eas_devices(principal, device_key, device_id,
        device_type, user_agent, protocol, first_seen, last_seen, policy_key, policy_pending,
        model, friendly_name) SELECT id, 'APPLF17XK2', 'ApplF17XK2', 'iPhone', 'Apple/1',
        '14.1', 1700000000, 1700003600, 1307350128, 0, 'iPhone15C2', 'Ann''s phone'
        FROM principals WHERE name = 'bob';
        INSERT INTO eas_devices(principal, device_key, device_id, device_type, first_seen,
        last_seen, policy_pending, friendly_name) SELECT id, 'ANDROIDC0FFEE', 'androidc0ffee',
        'Android', 0, 86400, 7, 'Tab' || char(27) || '[31m' FROM principals WHERE name = 'bob';"
    t device list bob
    expect 0 "$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        DEVICE TYPE PROTOCOL 'FIRST SEEN' 'LAST SEEN' POLICY MODEL \
        androidc0ffee Android - 1970-01-01T00:00:00Z 1970-01-02T00:00:00Z pending 'Tab?[31m' \
        ApplF17XK2 iPhone 14.1 2023-11-14T22:13:20Z 2023-11-14T23:13:20Z provisioned \
        "iPhone15C2 (Ann's phone)")" ""
    t device del bob applf17xk2 # any case
    expect 0 "" ""
    t device del bob ApplF17XK2
    expect 2 "" "almanac: device 'ApplF17XK2' of user 'bob' not found"
    t device list bob
    expect 0 "$(printf 'DEVICE\tTYPE\tPROTOCOL\tFIRST SEEN\tLAST SEEN\tPOLICY\tMODEL\n')
$(printf 'androidc0ffee\tAndroid\t-\t1970-01-01T00:00:00Z\t1970-01-02T00:00:00Z\tpending\tTab?[31m')" ""
    t device del bob ANDROIDC0FFEE
    expect 0 "" ""
    t device list bob
    expect 0 "no devices" ""
fi

# --- shared calendars -----------------------------------------------------------------------
t share alice work bob read
expect 0 "alice/work shared with bob (read) as /calendars/bob/alice-work/" ""
t share alice work bob read-write
expect 0 "alice/work now shared with bob (read-write) as /calendars/bob/alice-work/" ""
t share alice home bob read
expect 0 "alice/home shared with bob (read) as /calendars/bob/alice-home/" ""
t share list alice
expect 0 "$(printf 'out\t%s\t%s\t%s\t%s\n' home bob read /calendars/bob/alice-home/ \
    work bob read-write /calendars/bob/alice-work/)" ""
t share list bob
expect 0 "$(printf 'in\t%s\t%s\t%s\t%s\n' alice/home bob read /calendars/bob/alice-home/ \
    alice/work bob read-write /calendars/bob/alice-work/)" ""
t calendar add bob alice-work # the share holds the name in bob's home
expect 2 "" "almanac: calendar 'alice-work' of user 'bob' exists"
t share alice work alice read
expect 2 "" "almanac: user 'alice' owns the calendar; share it with someone else"
t share alice nope bob read
expect 2 "" "almanac: calendar 'nope' of user 'alice' not found"
t share alice work nobody read
expect 2 "" "almanac: user 'nobody' not found"
t share nobody work bob read
expect 2 "" "almanac: user 'nobody' not found"
for args in "share" "share alice" "share alice work bob" "share alice work bob write" \
    "share alice work bob read extra" "unshare alice work" "share list" "share list a b" \
    "share bad/user work bob read" "share alice work bad/user read"; do
    # shellcheck disable=SC2086 # word splitting is the point
    t $args
    expect 1 "" "*"
done
t unshare alice home bob
expect 0 "" ""
t unshare alice home bob
expect 2 "" "almanac: calendar 'home' of user 'alice' is not shared with 'bob'"
t share list bob
expect 0 "$(printf 'in\talice/work\tbob\tread-write\t/calendars/bob/alice-work/')" ""

# --- prune --------------------------------------------------------------------------------
ncoll=$(( $("$ALMANAC" --data "$data" user list | wc -l) + 3 )) # a home per user + 3 calendars
t prune
expect 0 "pruned tombstones older than 90 days in $ncoll collections" ""
t prune --days 0
expect 0 "pruned tombstones older than 0 days in $ncoll collections" ""

# --- operational errors (2) ---------------------------------------------------------------
touch "$dir/file"
rc=0; "$ALMANAC" --data "$dir/file" user list >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "^almanac: no store at $dir/file" "$dir/err" ||
    fail "a file as --data: exit $rc, $(cat "$dir/err")"
rc=0; "$ALMANAC" --data "$dir/file" init >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "^almanac: cannot open the store in $dir/file" "$dir/err" ||
    fail "init on a file as --data: exit $rc, $(cat "$dir/err")"
rc=0; "$ALMANAC" --data "$dir/no/such/parent" init >/dev/null 2>"$dir/err" || rc=$?
[ "$rc" -eq 2 ] && grep -q "^almanac: cannot create $dir/no/such/parent: No such file or directory" "$dir/err" ||
    fail "init under a missing parent: exit $rc, $(cat "$dir/err")"

# --- the server accepts what the CLI stored -----------------------------------------------
if [ -n "${ALMANACD:-}" ] && command -v curl >/dev/null; then
    "$ALMANACD" --data "$data" --listen 127.0.0.1:0 --port-file "$dir/port" 2>"$dir/server.log" &
    server_pid=$!
    for _ in $(seq 200); do [ -s "$dir/port" ] && break; sleep 0.1; done
    if [ ! -s "$dir/port" ]; then
        echo "FAIL: almanacd wrote no port file: $(cat "$dir/server.log")"
        exit 1
    fi
    port=$(cat "$dir/port")
    # a second server on the same address names the problem, not an errno number
    rc=0; timeout 30 "$ALMANACD" --data "$data" --listen "127.0.0.1:$port" >/dev/null 2>"$dir/err2" || rc=$?
    [ "$rc" -eq 1 ] && grep -qF "cannot listen on 127.0.0.1:$port: address already in use" "$dir/err2" ||
        fail "a taken port: exit $rc, $(cat "$dir/err2")"
    status() { # status USER PASSWORD PATH
        curl -s -o "$dir/body" -w '%{http_code}' -u "$1:$2" -X PROPFIND -H 'Depth: 0' \
            --data '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>' \
            "http://127.0.0.1:$port$3"
    }
    [ "$(status alice pw-alice-2 /calendars/alice/work/)" = 207 ] || fail "alice's new password"
    grep -q '<D:displayname>Work &amp; &lt;play&gt;</D:displayname>' "$dir/body" ||
        fail "displayname: $(cat "$dir/body")"
    [ "$(status alice pw-alice /calendars/alice/)" = 401 ] || fail "alice's old password still works"
    [ "$(status bob "$bob_pw" /calendars/bob/)" = 207 ] || fail "bob's generated password"
    [ "$(status carol "$carol_pw" /calendars/carol/)" = 207 ] || fail "carol's new generated password"
    [ "$(status dave pw-dave-1 /calendars/dave/)" = 207 ] || fail "dave's password (sent with CRLF)"
    [ "$(status erin pw-erin-1 /calendars/erin/)" = 207 ] || fail "erin's password (no line end)"
    [ "$(status frank "$(printf 'p%.0s' {1..1024})" /calendars/frank/)" = 401 ] ||
        fail "deleted user frank still authenticates"
    kill "$server_pid"
    wait "$server_pid" || fail "almanacd exited with $? after SIGTERM: $(cat "$dir/server.log")"
    server_pid=
fi

# make run's demo set-up: the example it prints names the address the server will listen on,
# and a second run leaves the user and its password alone
src=$(cd "$(dirname "$0")/../.." && pwd)
demo_out=$(bash "$src/scripts/demo-setup.sh" "$ALMANAC" "$dir/demo" 127.0.0.1:18443)
grep -q "http://127.0.0.1:18443/calendars/demo/" <<<"$demo_out" ||
    fail "demo-setup's example does not name LISTEN: $demo_out"
grep -q "8008" <<<"$demo_out" && fail "demo-setup names port 8008 for another LISTEN: $demo_out"
demo_out=$(bash "$src/scripts/demo-setup.sh" "$ALMANAC" "$dir/demo" 127.0.0.1:18443)
[ "$demo_out" = "demo-setup: user 'demo' exists in $dir/demo (password unchanged)" ] ||
    fail "demo-setup's second run: $demo_out"
"$ALMANAC" --data "$dir/demo" calendar list demo | grep -q "^calendar" ||
    fail "demo-setup made no calendar: $("$ALMANAC" --data "$dir/demo" calendar list demo 2>&1)"

if [ "$fails" -ne 0 ]; then
    echo "cli: $fails checks failed"
    exit 1
fi
echo "cli: all checks passed"
