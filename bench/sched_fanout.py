"""bench/sched_fanout.py: one meeting with N local attendees (issue 13's measure).

python3 bench/sched_fanout.py ALMANACD ALMANAC [N]

Makes an organizer and N attendees (each with a calendar "cal") with the admin CLI, starts
almanacd with mail_domain set, then times, each 5 times (a fresh UID each round, median):
- the organizer's PUT of a new meeting inviting all N (every copy is committed with the PUT,
  so the copies are readable when it returns; the script GETs every copy once to check);
- the organizer's PUT renaming it (N copies replaced);
- one attendee's accept (the organizer's copy updated);
- the organizer's DELETE (N copies deleted);
and, for comparison, a PUT of an event without attendees. Store writes are counted from the
store itself: item rows and tombstones written, collections made."""

import os
import sqlite3
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))

HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n"
TAIL = "END:VCALENDAR\r\n"
ICS = {"Content-Type": "text/calendar; charset=utf-8"}


def meeting(uid, n, summary="Sync"):
    att = "".join("ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:a%d@example.org\r\n" % i
                  for i in range(n))
    return (HEAD + "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20270101T000000Z\r\n"
            "DTSTART:20270105T100000Z\r\nDTEND:20270105T110000Z\r\nSUMMARY:%s\r\n"
            "ORGANIZER:mailto:org@example.org\r\n%sEND:VEVENT\r\n" % (uid, summary, att) + TAIL)


def counts(db):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        items = c.execute("SELECT count(*) FROM items").fetchone()[0]
        tombs = c.execute("SELECT count(*) FROM tombstones").fetchone()[0]
        colls = c.execute("SELECT count(*) FROM collections").fetchone()[0]
        bumps = c.execute("SELECT sum(modseq) FROM collections").fetchone()[0]
        return items, tombs, colls, bumps
    finally:
        c.close()


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return r, (time.perf_counter() - t) * 1000


def main():
    os.environ["ALMANACD"], os.environ["ALMANAC"] = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    import harness
    users = ["org"] + ["a%d" % i for i in range(n)]
    srv = harness.Server(users=users, config="mail_domain = example.org\n"
                         "sched_max_attendees = %d\n" % (n + 1))
    try:
        for u in users:
            srv.cli("calendar", "add", u, "cal")
        db = os.path.join(srv.data, "almanac.db")
        res = {"create": [], "rename": [], "accept": [], "delete": [], "plain": []}
        writes = {}
        for rnd in range(5):
            uid = "m%d" % rnd
            path = "/calendars/org/cal/%s.ics" % uid
            c0 = counts(db)
            r, ms = timed(lambda: srv.request("PUT", path, user="org", body=meeting(uid, n),
                                              headers=ICS))
            assert r.status == 201, r
            res["create"].append(ms)
            c1 = counts(db)
            writes.setdefault("create", (c1[3] - c0[3], c1[2] - c0[2]))
            for i in range(n):
                g = srv.request("GET", "/calendars/a%d/cal/%s.ics" % (i, uid), user="a%d" % i)
                assert g.status == 200 and "NEEDS-ACTION" in g.text, (i, g)
            r, ms = timed(lambda: srv.request("PUT", path, user="org",
                                              body=meeting(uid, n, "Renamed"), headers=ICS))
            assert r.status == 204, r
            res["rename"].append(ms)
            c2 = counts(db)
            writes["rename"] = c2[3] - c1[3]
            copy = srv.request("GET", "/calendars/a0/cal/%s.ics" % uid, user="a0").text
            acc = copy.replace("PARTSTAT=NEEDS-ACTION:mailto:a0@", "PARTSTAT=ACCEPTED:mailto:a0@")
            r, ms = timed(lambda: srv.request("PUT", "/calendars/a0/cal/%s.ics" % uid, user="a0",
                                              body=acc, headers=ICS))
            assert r.status == 204, r
            res["accept"].append(ms)
            c3 = counts(db)
            writes["accept"] = c3[3] - c2[3]
            r, ms = timed(lambda: srv.request("DELETE", path, user="org"))
            assert r.status == 204, r
            res["delete"].append(ms)
            c4 = counts(db)
            writes["delete"] = c4[3] - c3[3]
            plain = HEAD + ("BEGIN:VEVENT\r\nUID:p%d\r\nDTSTAMP:20270101T000000Z\r\n"
                            "DTSTART:20270105T100000Z\r\nDTEND:20270105T110000Z\r\n"
                            "SUMMARY:alone\r\nEND:VEVENT\r\n" % rnd) + TAIL
            r, ms = timed(lambda: srv.request("PUT", "/calendars/org/cal/p%d.ics" % rnd,
                                              user="org", body=plain, headers=ICS))
            assert r.status == 201, r
            res["plain"].append(ms)
        print("attendees=%d (medians of 5, ms)" % n)
        for k, v in res.items():
            print("  %-7s %8.1f" % (k, statistics.median(v)))
        print("  store writes (collection modseq bumps, one per item written or deleted and "
              "per collection made): create %d in the first round (%d collections made), "
              "rename %d, accept %d, delete %d" % (writes["create"][0], writes["create"][1],
                                                   writes["rename"], writes["accept"],
                                                   writes["delete"]))
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
