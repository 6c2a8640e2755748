#!/usr/bin/env bash
# tests/integration/test_install.sh: `make install`'s rules (CMake install()) staged with
# DESTDIR from this build directory: the programs, the systemd unit with this build's paths,
# the example configuration (every key of almanacd's table, and a file almanacd accepts), the
# docs. The Debian package is tested by tests/packaging/test_deb.sh (`make deb-check`).
set -euo pipefail
: "${ALMANACD:?}" "${ALMANAC_SOURCE_DIR:?}"
build=$(dirname "$ALMANACD")
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
unitdir=$(sed -n 's/^ALMANAC_SYSTEMD_UNIT_DIR:PATH=//p' "$build/CMakeCache.txt")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

DESTDIR=$stage cmake --install "$build" >"$stage.log" 2>&1 || { cat "$stage.log"; exit 1; }
rm -f "$stage.log"
etc=$prefix/etc
[ "$prefix" = /usr ] && etc=/etc
for f in "$prefix/sbin/almanacd" "$prefix/bin/almanac"; do
    [ -x "$stage$f" ] || fail "$f not installed executable"
done
for f in "$unitdir/almanac.service" "$etc/almanac/almanac.conf.example" \
    "$prefix/share/doc/almanac/examples/almanac.conf.example" \
    "$prefix/share/doc/almanac/README.md" "$prefix/share/doc/almanac/config.md" \
    "$prefix/share/doc/almanac/backup.md" "$prefix/share/doc/almanac/clients.md"; do
    [ -f "$stage$f" ] || fail "$f not installed"
done
[ ! -e "$stage$etc/almanac/almanac.conf" ] || fail "make install must not write almanac.conf itself"

# the unit runs this prefix's almanacd with this prefix's configuration, the way systemd wants
unit=$stage$unitdir/almanac.service
for line in "ExecStart=$prefix/sbin/almanacd --config $etc/almanac/almanac.conf" \
    'Type=notify' 'ExecReload=/bin/kill -HUP $MAINPID' 'User=almanac' 'StateDirectory=almanac' \
    'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
    grep -qxF "$line" "$unit" || fail "the unit lacks '$line'"
done
if command -v systemd-analyze >/dev/null; then
    # verify needs ExecStart's program to exist: point it at the staged one
    sed "s|^ExecStart=$prefix/sbin/almanacd|ExecStart=$stage$prefix/sbin/almanacd|" "$unit" \
        >"$stage/almanac.service"
    systemd-analyze verify "$stage/almanac.service" >"$stage/verify.log" 2>&1 ||
        fail "systemd-analyze verify: $(cat "$stage/verify.log")"
fi

# the example lists every key of the table docs/config.md is made from, and almanacd reads it
example=$stage$etc/almanac/almanac.conf.example
for key in $("$ALMANACD" --print-config-doc | sed -n 's/^| `\([a-z0-9_]*\)` |.*/\1/p'); do
    grep -qE "^#?$key = " "$example" || fail "the example configuration lacks $key"
done
"$stage$prefix/sbin/almanacd" --config "$example" --print-config >"$stage/print" 2>&1 ||
    fail "almanacd refuses the example configuration: $(cat "$stage/print")"
grep -qx 'data_dir = /var/lib/almanac  # .*' "$stage/print" || fail "the example's data_dir"
cmp -s "$example" "$stage$prefix/share/doc/almanac/examples/almanac.conf.example" ||
    fail "the two copies of the example differ"

if [ "$fails" -ne 0 ]; then
    echo "install: $fails checks failed"
    exit 1
fi
echo "install: all checks passed"
