#!/usr/bin/env bash
# tests/lint/test_format.sh: every C file is formatted by the root .clang-format (STYLE.md
# §3.12). Fix with `make format`.
set -euo pipefail
: "${ALMANAC_SOURCE_DIR:?}"
cd "$ALMANAC_SOURCE_DIR"
command -v clang-format >/dev/null || { echo "clang-format missing (scripts/install-deps.sh)"; exit 1; }
files=$(find src tools tests bench -name '*.[ch]')
clang-format --dry-run --Werror $files
echo "format: $(echo "$files" | wc -w) files clean"
