#!/usr/bin/env bash
# tests/integration/test_docs.sh: the documentation says what the code does. docs/config.md
# holds exactly the table `almanacd --print-config-doc` generates from the config table, and
# docs/errors.md lists every condition of every src/*/conds.def.
set -euo pipefail
: "${ALMANACD:?}" "${ALMANAC_SOURCE_DIR:?}"
cd "$ALMANAC_SOURCE_DIR"
fail=0
table=$("$ALMANACD" --print-config-doc)
if [ "$(sed -n '/^| key |/,$p' docs/config.md)" != "$table" ]; then
    echo "docs/config.md differs from almanacd --print-config-doc:"
    diff <(sed -n '/^| key |/,$p' docs/config.md) <(echo "$table") || true
    fail=1
fi
for def in src/*/conds.def; do
    for name in $(grep -o '^ERR_COND([a-z_]*, "[a-z-]*"' "$def" | sed 's/.*"\(.*\)"/\1/'); do
        if ! grep -q "^| \`$name\` |" docs/errors.md; then
            echo "docs/errors.md does not list $name ($def)"
            fail=1
        fi
    done
done
[ "$fail" -eq 0 ] && echo "docs: config table and error conditions match the code"
exit "$fail"
