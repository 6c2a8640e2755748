#!/usr/bin/env bash
# scripts/regen-config-doc.sh ALMANACD: rewrites the table of docs/config.md (from its
# "| key |" header row to the end) with `ALMANACD --print-config-doc`, keeping the prose
# above it. unit_server_test_config fails until the table matches the key table in code.
set -euo pipefail
almanacd=${1:?usage: scripts/regen-config-doc.sh path/to/almanacd}
doc=docs/config.md
head=$(awk '/^\| key \|/ {exit} {print}' "$doc")
{
    printf '%s\n' "$head"
    "$almanacd" --print-config-doc
} >"$doc.new"
mv "$doc.new" "$doc"
