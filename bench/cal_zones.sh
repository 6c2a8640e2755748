#!/usr/bin/env bash
# bench/cal_zones.sh: what time zones cost the cal layer (issue 19). Writes N objects of
# bench/peers.py's zoned mix and the same events in UTC (same wall-clock digits, no VTIMEZONE)
# into two directories and prints bench_cal_zones --dir for each: user CPU per object of
# validation (a PUT), a month's expansion and a month's free-busy, best of 3 passes.
# usage: bench/cal_zones.sh [N]   (default 3000; builds the release libraries first)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-3000}
make build >/dev/null
make -C bench ../build-bench/bench_cal_zones >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$n" "$work" <<'PY'
import os, sys
sys.path.insert(0, "bench")
import peers
n, work = int(sys.argv[1]), sys.argv[2]
for data in ("zoned", "zoned-utc"):
    os.makedirs(os.path.join(work, data))
    for name, body in peers.generate(n, zoned=data):
        with open(os.path.join(work, data, name), "w") as f:
            f.write(body)
PY
for data in zoned zoned-utc; do
    build-bench/bench_cal_zones --dir "$work/$data"
done
