#!/usr/bin/env bash
# packaging/gen-config-example.sh ALMANACD OUT: writes almanac.conf.example, every key
# almanacd reads with its default and its one-line doc, from `almanacd --print-config` (the
# one table of src/server/config.c, as docs/config.md is), so the example cannot miss a key.
# Every key is commented out except data_dir, which an installed almanacd needs.
set -euo pipefail
almanacd=$1
out=$2
version=$("$almanacd" --version)
{
    cat <<HEAD
# almanac.conf.example: every key of $version with its default, generated from
# \`almanacd --print-config\`; bounds and details are in docs/config.md. Copy it to
# almanac.conf, uncomment what you change. \`key = value\`, one per line; \`#\` starts a
# comment; sizes take K, M or G. Command-line flags override the file; SIGHUP re-reads it.

HEAD
    "$almanacd" --data /var/lib/almanac --print-config | while IFS= read -r line; do
        setting=${line%%  # *}
        doc=${line#*  # }
        printf '%s\n' "$doc" | fold -s -w 88 | sed 's/ *$//; s/^/# /'
        case "$setting" in
        "data_dir = "*) printf '%s\n\n' "$setting" ;;
        *) printf '#%s\n\n' "$setting" ;;
        esac
    done
} >"$out.tmp"
mv "$out.tmp" "$out"
