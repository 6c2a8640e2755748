#!/usr/bin/env bash
# tests/packaging/test_deb.sh DEB: the Debian package built by `make deb`, as an admin meets it
# (`make deb-check`, run by .ci/run after `make check`: building the package from scratch
# takes longer than a test in make check should).
#
# As root (CI: a fresh Debian 12 machine), the package is installed into the real system with
# dpkg -i: the almanac system user, /var/lib/almanac with an empty store, the conffile, the
# unit (enabled, and accepted by systemd-analyze verify); then the installed almanacd is
# started as the almanac user the way the unit does (systemd does not run in CI's container)
# with a test-side AF_UNIX datagram socket as NOTIFY_SOCKET, which must receive READY=1 before
# the port is read and a user made with the installed CLI gets a 207; SIGTERM must exit 0 and
# send STOPPING=1. Last, dpkg -r must remove the programs and the unit but keep the conffile,
# and dpkg -P the conffile too. Not as root, the package is unpacked with dpkg -x and the
# same start is done from there.
set -euo pipefail
deb=${1:?usage: test_deb.sh DEB}
deb=$(realpath "$deb")
cd "$(dirname "$0")/../.."
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
version=$(sed -nE 's/^project\(almanac VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)

# --- the package's metadata and contents --------------------------------------------------
[ "$(dpkg-deb -f "$deb" Package)" = almanac ] || fail "package name"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "version $(dpkg-deb -f "$deb" Version), want $version"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in adduser libmicrohttpd libsqlite3 libsodium libical libxml2; do
    [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib: $depends"
done
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/sbin/almanacd ./usr/bin/almanac ./lib/systemd/system/almanac.service \
    ./etc/almanac/almanac.conf ./usr/share/doc/almanac/examples/almanac.conf.example \
    ./usr/share/doc/almanac/README.md ./usr/share/doc/almanac/backup.md \
    ./usr/share/doc/almanac/clients.md ./usr/share/doc/almanac/config.md; do
    grep -qxF "$f" <<<"$contents" || fail "the package lacks $f"
done
conffiles=$(dpkg-deb -I "$deb" conffiles 2>/dev/null || true)
[ "$conffiles" = /etc/almanac/almanac.conf ] || fail "conffiles: '$conffiles'"

work=$(mktemp -d)
chmod 0755 "$work"
server_pid=
listener_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    if [ -n "$listener_pid" ]; then kill "$listener_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

is_root=false
if [ "$(id -u)" -eq 0 ]; then is_root=true; fi
if $is_root; then
    if dpkg-query -W -f='${Status}' almanac 2>/dev/null | grep -q "install ok installed"; then
        echo "FAIL: almanac is installed already; this test installs and removes it"
        exit 1
    fi
    dpkg -i "$deb" >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i"; exit 1; }
    root=
    run_as=(runuser -u almanac --)
    start_as=(setpriv --reuid=almanac --regid=almanac --init-groups --)
    # the system user and its store
    IFS=: read -r _ _ uid _ _ home shell < <(getent passwd almanac) || fail "no user almanac"
    [ "${uid:-0}" -gt 0 ] && [ "${uid:-1000}" -lt 1000 ] || fail "almanac's uid $uid is not a system uid"
    [ "$home" = /var/lib/almanac ] || fail "almanac's home is $home"
    [[ "$shell" == */nologin || "$shell" == /bin/false ]] || fail "almanac's shell is $shell"
    [ "$(stat -c '%U %a' /var/lib/almanac)" = "almanac 700" ] ||
        fail "/var/lib/almanac is $(stat -c '%U %a' /var/lib/almanac)"
    [ "$(stat -c %U /var/lib/almanac/almanac.db)" = almanac ] || fail "the store is not almanac's"
    [ -L /etc/systemd/system/multi-user.target.wants/almanac.service ] ||
        fail "the unit is not enabled"
    if command -v systemd-analyze >/dev/null; then
        systemd-analyze verify /lib/systemd/system/almanac.service >"$work/verify.log" 2>&1 ||
            fail "systemd-analyze verify: $(cat "$work/verify.log")"
    fi
    grep -qx 'ExecStart=/usr/sbin/almanacd --config /etc/almanac/almanac.conf' \
        /lib/systemd/system/almanac.service || fail "ExecStart of the installed unit"
else
    echo "not root: unpacking with dpkg -x instead of installing"
    root="$work/root"
    dpkg-deb -x "$deb" "$root"
    run_as=()
    start_as=()
    sed -i "s|^data_dir = .*|data_dir = $work/store|" "$root/etc/almanac/almanac.conf"
    "$root/usr/bin/almanac" --config "$root/etc/almanac/almanac.conf" init >/dev/null
fi
almanacd=$root/usr/sbin/almanacd
almanac=$root/usr/bin/almanac
conf=$root/etc/almanac/almanac.conf
[ "$("$almanacd" --version)" = "almanacd $version" ] || fail "installed almanacd --version"
[ "$("$almanac" --version)" = "almanac $version" ] || fail "installed almanac --version"

# --- start it as the unit does, with a notify socket of our own ----------------------------
run=$work/run
mkdir "$run"
if $is_root; then chown almanac:almanac "$run"; fi
python3 - "$run/notify" "$run/notify.log" <<'PY' &
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)  # the server runs as another user
s.settimeout(60)
with open(log, "a") as f:
    f.write("LISTENING\n")
    f.flush()
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        f.write(msg.replace("\n", " ") + "\n")
        f.flush()
        if "STOPPING=1" in msg:
            break
PY
listener_pid=$!
for _ in $(seq 100); do grep -q LISTENING "$run/notify.log" 2>/dev/null && break; sleep 0.1; done
# setpriv execs (runuser would fork and stand between the test and the server's pid)
"${start_as[@]}" env NOTIFY_SOCKET="$run/notify" "$almanacd" --config "$conf" \
    --listen 127.0.0.1:0 --port-file "$run/port" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 200); do grep -q 'READY=1' "$run/notify.log" && break; sleep 0.1; done
grep -q 'READY=1' "$run/notify.log" || fail "no READY=1 on NOTIFY_SOCKET: $(cat "$run/notify.log") $(cat "$work/server.log")"
[ -s "$run/port" ] || fail "READY=1 came before the port file: almanacd is not serving yet"
port=$(cat "$run/port")
if $is_root; then
    [ "$(ps -o user= -p "$server_pid" | tr -d ' ')" = almanac ] || fail "almanacd does not run as almanac"
fi
password=$("${run_as[@]}" "$almanac" --config "$conf" user add alice --generate-password)
"${run_as[@]}" "$almanac" --config "$conf" calendar add alice work >/dev/null
code=$(curl -s -o "$work/body" -w '%{http_code}' -u "alice:$password" -X PROPFIND -H 'Depth: 1' \
    "http://127.0.0.1:$port/calendars/alice/")
[ "$code" = 207 ] && grep -q '/calendars/alice/work/' "$work/body" ||
    fail "PROPFIND on the installed server: $code $(head -c 300 "$work/body")"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "alice:$password" \
    "http://127.0.0.1:$port/.well-known/caldav")
[[ "$code" == 30[1278] ]] || fail "/.well-known/caldav answered $code"
kill -TERM "$server_pid"
rc=0; wait "$server_pid" || rc=$?
server_pid=
[ "$rc" -eq 0 ] || fail "almanacd exited $rc after SIGTERM: $(cat "$work/server.log")"
for _ in $(seq 50); do grep -q 'STOPPING=1' "$run/notify.log" && break; sleep 0.1; done
grep -q 'STOPPING=1' "$run/notify.log" || fail "no STOPPING=1: $(cat "$run/notify.log")"
wait "$listener_pid" || true
listener_pid=

# --- removal ------------------------------------------------------------------------------
if $is_root; then
    dpkg -r almanac >"$work/dpkg-r.log" 2>&1 || fail "dpkg -r: $(cat "$work/dpkg-r.log")"
    for f in /usr/sbin/almanacd /usr/bin/almanac /lib/systemd/system/almanac.service; do
        [ ! -e "$f" ] || fail "dpkg -r left $f"
    done
    # (the enablement symlink stays until purge, as deb-systemd-helper does for every unit,
    # so that a reinstall keeps the admin's choice)
    [ -f /etc/almanac/almanac.conf ] || fail "dpkg -r removed the conffile (only purge may)"
    dpkg -P almanac >"$work/dpkg-p.log" 2>&1 || fail "dpkg -P: $(cat "$work/dpkg-p.log")"
    [ ! -e /etc/almanac ] || fail "dpkg -P left /etc/almanac"
    [ ! -L /etc/systemd/system/multi-user.target.wants/almanac.service ] ||
        fail "dpkg -P left the unit enabled"
    # the store is kept on purge (debian/almanac.postrm); this test removes it and the user
    [ -f /var/lib/almanac/almanac.db ] || fail "dpkg -P removed the store"
    rm -rf /var/lib/almanac
    deluser --system --quiet almanac >/dev/null 2>&1 || userdel almanac || true
fi

if [ "$fails" -ne 0 ]; then
    echo "deb: $fails checks failed"
    exit 1
fi
echo "deb: all checks passed"
