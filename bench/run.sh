#!/usr/bin/env bash
# bench/run.sh: the benchmarks whose figures BENCHMARKS.md records. Builds the release
# binaries (make build) and runs each benchmark on this machine, printing JSON lines.
# Long-running by design (loading 100,000 items takes about a minute); not part of make check.
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
for n in 10000 100000; do
    python3 bench/propfind.py build/almanacd build/almanac "$n"
done
for n in 100000 1000000; do
    python3 bench/multiget.py build/almanacd build/almanac "$n"
done
python3 bench/multiget.py build/almanacd build/almanac 1000000 --max-hrefs 1000000
