#!/usr/bin/env bash
# bench/run_propfind.sh: the Depth-1 PROPFIND benchmark of issue #2 with the C driver
# (bench/bench_propfind.c) at 10,000 and 100,000 items. Uses the release binaries in
# $ALMANACD / $ALMANAC (default build-bench/, built here with the release flags of make build
# when missing). Prints one JSON line per size and a Markdown table; with --write, also puts
# the table between the bench_propfind markers of BENCHMARKS.md. Long-running (the 100,000
# load takes about a minute); not part of make check.
#
# usage: bash bench/run_propfind.sh [--write] [SIZES...]   (default sizes: 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
write=0
if [ "${1:-}" = "--write" ]; then
    write=1
    shift
fi
sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(10000 100000)

if [ -z "${ALMANACD:-}" ]; then
    cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DALMANAC_SANITIZE=OFF >/dev/null
    cmake --build build-bench -j"$(nproc)" --target almanacd almanac >/dev/null
    ALMANACD=build-bench/almanacd
    ALMANAC=build-bench/almanac
fi
make -s -C bench OUT="$PWD/build-bench" >/dev/null

rows=()
for n in "${sizes[@]}"; do
    json=$(build-bench/bench_propfind "$ALMANACD" "$ALMANAC" "$n" 8 5)
    echo "$json"
    rows+=("$(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print("| {:,} | {:.0f} ms | {:.0f} ms | {:.1f} MB | {:.1f} MB | {:.1f} MB | {:,.0f} PUT/s |".format(
    r["items"], r["propfind_median_ms"], r["ttfb_median_ms"], r["response_bytes"] / 1e6,
    r["peak_rss_mb"], r["rss_during_propfind_mb"], r["put_per_s"]))' "$json")")
done

table="| items | PROPFIND median (last byte) | first byte | response | almanacd peak RSS (VmHWM) | largest RSS during the PROPFINDs | PUT load (8 connections) |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for r in "${rows[@]}"; do table+=$'\n'"$r"; done
echo
echo "$table"

if [ "$write" -eq 1 ]; then
    python3 - "$table" <<'EOF'
import sys
path = "BENCHMARKS.md"
begin, end = "<!-- bench_propfind:begin -->", "<!-- bench_propfind:end -->"
text = open(path).read()
if begin not in text or end not in text:
    sys.exit("BENCHMARKS.md has no bench_propfind markers")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(head + begin + "\n" + sys.argv[1] + "\n" + end + tail)
EOF
    echo "BENCHMARKS.md updated"
fi
