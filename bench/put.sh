#!/usr/bin/env bash
# bench/put.sh: durable PUT throughput with wrk (bench/put.lua) against a fresh almanacd.
# usage: bash bench/put.sh ALMANACD ALMANAC [CONNECTIONS] [SECONDS]
#   ALMANACD_ARGS  extra almanacd options (e.g. "--workers 32": a PUT holds its worker while
#                  it waits for the group commit's fsync, so workers bound the commits that
#                  share one flush)
# Starts almanacd on a free loopback port with a fresh store in a temporary directory,
# creates user "bench" and calendar "cal" with the admin CLI, runs
# `wrk -t2 -cCONNECTIONS -dSECONDSs -s bench/put.lua`, prints wrk's report and one line
# "put_per_s=N non_2xx=M", then stops the server it started (by its PID) and removes the store.
set -euo pipefail
almanacd=$1
almanac=$2
conns=${3:-16}
secs=${4:-10}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/almanac-put-XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
printf 'bench-pw\n' | "$almanac" --data "$work/data" user add bench --password-stdin >/dev/null
"$almanac" --data "$work/data" calendar add bench cal >/dev/null
# shellcheck disable=SC2086 # word splitting of ALMANACD_ARGS is the point
"$almanacd" --data "$work/data" --listen 127.0.0.1:0 --port-file "$work/port" \
    --log-level warn ${ALMANACD_ARGS:-} >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
    [ -s "$work/port" ] && break
    sleep 0.05
done
port=$(cat "$work/port")
auth="Authorization: Basic $(printf 'bench:bench-pw' | base64)"
out=$(wrk -t2 -c"$conns" -d"${secs}s" -s "$here/put.lua" -H "$auth" \
    "http://127.0.0.1:$port/calendars/bench/cal/")
echo "$out"
rate=$(echo "$out" | awk '/Requests\/sec/ {printf "%d", $2}')
bad=$(echo "$out" | grep -c "unexpected status" || true)
echo "put_per_s=$rate non_2xx=$bad"
