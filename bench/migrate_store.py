#!/usr/bin/env python3
"""bench/migrate_store.py: `almanac migrate-store` of a store of N events (issue #10 item 4).

Builds a SQLite store of N events of bench/peers.py's UTC mix (70% timed singles, 15%
all-day, 15% weekly series with a moved instance) in one calendar, imported with
`almanac import`, then migrates it into a private PostgreSQL 15 (tests/integration/
pgcluster.py, here with fsync and full_page_writes on and 128 MB of shared_buffers, as a
server would run) under /usr/bin/time -v. Prints one JSON line: rows copied, wall seconds,
rows and events per second, the CLI's CPU and peak RSS, the sizes of the SQLite file and of
the database after the copy, the load average before.

usage: migrate_store.py ALMANAC [--events N] [--work DIR]"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import pgcluster  # noqa: E402
from peers import iter_generate  # noqa: E402

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n"
TAIL = "END:VCALENDAR\r\n"


def build(almanac, data, events, work):
    subprocess.run([almanac, "--data", data, "user", "add", "bench", "--password-stdin"],
                   input="bench-pw\n", text=True, check=True, capture_output=True)
    path = os.path.join(work, "events.ics")
    with open(path, "w", newline="") as f:
        f.write(HEAD)
        for _, body in iter_generate(events):
            f.write(body[len(HEAD):-len(TAIL)])
        f.write(TAIL)
    t0 = time.perf_counter()
    subprocess.run([almanac, "--data", data, "import", "bench", "cal", path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.unlink(path)
    return round(time.perf_counter() - t0, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("almanac")
    ap.add_argument("--events", type=int, default=100000)
    ap.add_argument("--work")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="almanac-migbench-")
    data = os.path.join(work, "data")
    out = {"op": "migrate-store", "events": a.events}
    if not os.path.exists(os.path.join(data, "almanac.db")):
        out["import_s"] = build(a.almanac, data, a.events, work)
    out["sqlite_mb"] = round(os.path.getsize(os.path.join(data, "almanac.db")) / 2**20, 1)
    pg = pgcluster.PgCluster(settings={"fsync": "on", "full_page_writes": "on",
                                       "shared_buffers": "128MB"}).start()
    try:
        out["loadavg"] = [round(x, 1) for x in os.getloadavg()]
        t0 = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-v", a.almanac, "migrate-store", "--from",
                            "sqlite:" + data, "--to", pg.uri()], capture_output=True, text=True)
        out["seconds"] = round(time.perf_counter() - t0, 2)
        if r.returncode != 0:
            sys.exit("migrate-store failed:\n" + r.stderr[-3000:])
        m = re.search(r"migrated .*: (\d+) rows in (\d+) tables", r.stdout)
        out["rows"] = int(m.group(1))
        out["rows_per_s"] = round(out["rows"] / out["seconds"])
        out["events_per_s"] = round(a.events / out["seconds"])
        tv = {k.strip(): v.strip() for k, v in (l.split(": ", 1) for l in r.stderr.splitlines()
                                                  if ": " in l and l.startswith("\t"))}
        out["cli_user_s"] = float(tv["User time (seconds)"])
        out["cli_sys_s"] = float(tv["System time (seconds)"])
        out["cli_peak_rss_mb"] = round(int(tv["Maximum resident set size (kbytes)"]) / 1024, 1)
        out["pg_db_mb"] = round(int(pg.psql("SELECT pg_database_size('almanac')")) / 2**20, 1)
        out["counts"] = {l.split("\t")[0]: int(l.split("\t")[1]) for l in r.stdout.splitlines()
                         if l.count("\t") == 2 and l.split("\t")[1].isdigit()}
    finally:
        pg.stop()
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
