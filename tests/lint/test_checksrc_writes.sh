#!/usr/bin/env bash
# tests/lint/test_checksrc_writes.sh: the rule of test_checksrc.sh that no calendar write
# bypasses src/calstore (issue 11) fires: on a copy of the tree, a direct store item write
# added to a protocol file (eas/cmd_sync.c, dav/methods.c, repl/write.c) is reported and fails
# the lint, one in a comment is not, and the unchanged copy is clean (two runs of the lint).
set -euo pipefail
: "${ALMANAC_SOURCE_DIR:?ALMANAC_SOURCE_DIR must name the source root}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$ALMANAC_SOURCE_DIR/src" "$ALMANAC_SOURCE_DIR/docs" "$tmp/"
mkdir -p "$tmp/tests/lint"
cp "$ALMANAC_SOURCE_DIR/tests/lint/test_checksrc.sh" "$tmp/tests/lint/"
lint() { ALMANAC_SOURCE_DIR="$tmp" bash "$tmp/tests/lint/test_checksrc.sh"; }

if ! out=$(lint 2>&1); then
    echo "the copy of the tree is not clean to begin with:"
    echo "$out"
    exit 1
fi
# one direct call in each of three protocol files, and a mention in a comment (no call)
echo '/* store_item_put(s, coll, name, &in, a, NULL, NULL) is calstore'"'"'s */' >>"$tmp/src/eas/item.c"
calls=("src/eas/cmd_sync.c:store_item_put(er->store, 1, \"x\", NULL, NULL, NULL, NULL)"
       "src/dav/methods.c:store_item_delete(dr->store, 1, \"x\")"
       "src/repl/write.c:store_item_move(dr->store, 1, \"x\", 2, \"y\")")
for case in "${calls[@]}"; do
    printf 'static void bypass(void)\n{\n    (void)%s;\n}\n' "${case#*:}" >>"$tmp/${case%%:*}"
done
if out=$(lint 2>&1); then
    echo "FAIL: direct store item writes passed the lint"
    exit 1
fi
fail=0
for case in "${calls[@]}"; do
    file=${case%%:*} name=${case#*:}
    name=${name%%(*}
    if ! grep -q "^$file:[0-9]*: $name() outside src/calstore" <<<"$out"; then
        echo "FAIL: the lint did not name $name() in $file"
        fail=1
    fi
done
if grep -q "^src/eas/item.c:" <<<"$out"; then
    echo "FAIL: a comment was reported as a call"
    fail=1
fi
if [ "$(grep -c 'outside src/calstore' <<<"$out")" != 3 ]; then
    echo "FAIL: expected exactly three findings:"
    echo "$out"
    fail=1
fi
[ "$fail" = 0 ] && echo "calendar-write rule: fires on direct calls, quiet on comments"
exit "$fail"
