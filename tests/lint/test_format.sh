#!/usr/bin/env bash
# tests/lint/test_format.sh: every C source and header under src/ tools/ tests/ bench/ is
# formatted as the root .clang-format says (STYLE.md §3.12). clang-format prints each
# offending file:line:column; fix with `make format` (clang-format -i). The style was tried
# with clang-format 14 (Debian 12); another major version may format some constructs
# differently, so the version is reported when it is not 14.
set -euo pipefail
: "${ALMANAC_SOURCE_DIR:?ALMANAC_SOURCE_DIR must name the source root}"
cd "$ALMANAC_SOURCE_DIR"
cf=
for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null; then cf=$c; break; fi
done
if [ -z "$cf" ]; then
    echo "format: clang-format is not installed (apt-get install clang-format; see scripts/install-deps.sh)"
    exit 1
fi
if [ ! -f .clang-format ]; then
    echo "format: .clang-format is missing from $ALMANAC_SOURCE_DIR"
    exit 1
fi
version=$("$cf" --version)
if ! [[ "$version" =~ version\ 14\. ]]; then
    echo "format: note: STYLE.md §3.12 was tried with clang-format 14; this is: $version"
fi
mapfile -t files < <(for d in src tools tests bench; do
    if [ -d "$d" ]; then find "$d" -type f \( -name '*.c' -o -name '*.h' \); fi
done | LC_ALL=C sort)
if [ "${#files[@]}" -eq 0 ]; then
    echo "format: no C files found under $ALMANAC_SOURCE_DIR"
    exit 1
fi
rc=0
out=$("$cf" --style=file --dry-run --Werror "${files[@]}" 2>&1) || rc=$?
if [ "$rc" -ne 0 ]; then
    printf '%s\n' "$out" | head -60
    mapfile -t bad < <(printf '%s\n' "$out" | grep -oE '^[^:[:space:]]+\.[ch]:[0-9]+:[0-9]+: error' |
        cut -d: -f1 | LC_ALL=C sort -u)
    echo "format: ${#bad[@]} of ${#files[@]} files differ from .clang-format (exit $rc): ${bad[*]}"
    echo "format: fix with: $cf -i ${bad[*]}"
    exit 1
fi
echo "format: ${#files[@]} files clean ($cf)"
