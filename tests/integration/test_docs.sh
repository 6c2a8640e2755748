#!/usr/bin/env bash
# tests/integration/test_docs.sh: the documentation says what the code does. docs/config.md
# holds exactly the table `almanacd --print-config-doc` generates from the config table, and
# docs/errors.md lists every condition of every src/*/conds.def, and every relative link of
# README.md and docs/*.md stays inside the repository and exists.
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
# Every relative link of README.md and docs/*.md names a file or directory of the repository:
# a reader of a fresh clone finds what it points to (issue 15: README linked a design file
# that only existed outside the repository).
root=$(pwd -P)
for md in README.md docs/*.md; do
    dir=$(dirname "$md")
    while IFS= read -r target; do
        case "$target" in http://* | https://* | mailto:* | \#*) continue ;; esac
        path=${target%%#*}
        resolved=$(realpath -m "$dir/$path")
        if [[ "$resolved" != "$root"/* ]] || [ ! -e "$resolved" ]; then
            echo "$md links $target, which is not in the repository"
            fail=1
        fi
    done < <(grep -oE '\]\([^)[:space:]]+\)' "$md" | sed -E 's/^\]\((.*)\)$/\1/')
    if grep -n '\.\./shared\|/work/shared' "$md"; then
        echo "$md names a file outside the repository"
        fail=1
    fi
done
[ "$fail" -eq 0 ] && echo "docs: config table, error conditions and links match the code"
exit "$fail"
