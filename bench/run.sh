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
# Time zones (issues 18 and 19): the cal layer per object, zoned against the same events in
# UTC, the pathological seeds, then the ActiveSync initial sync and the CalDAV operations on
# zoned data.
bash bench/cal_zones.sh 3000
make -C bench ../build-bench/bench_cal_zones >/dev/null
build-bench/bench_cal_zones 1000 tests/fuzz/corpus/ical/0*.ics
for data in zoned zoned-utc; do
    python3 bench/eas_sync.py build/almanacd build/almanac --events 10000,100000 --data "$data"
    python3 bench/peers.py build/almanacd build/almanac --servers almanac --events 10000 \
        --data "$data"
done
# Issue 16 item 5: one calendar of 1,000,000 events on every protocol (import, then each
# CalDAV, ActiveSync and replication operation against a freshly started almanacd; about
# 30 minutes on a loaded 2-core machine, 1.3 GB of disk in a temporary directory).
python3 bench/scale.py build/almanacd build/almanac --events 1000000
