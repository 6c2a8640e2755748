/* store/store_fault.h: the store's fault-injection seam, for tests only (issue #11 item 5,
 * issue #14; STYLE.md §3.10 "fault injection fails the Nth store call"). A plan names the Nth
 * fault point the SQLite engine passes after store_fault_arm() and the SQLite error it reports
 * there instead of doing the work:
 *
 * - statement points (STORE_FAULT_STMT): every fetch or prepare of a statement
 *   (store_db_stmt(), a cursor's query) and every sqlite3_step of one, BEGIN and COMMIT
 *   included, so a failing COMMIT is one of them. ROLLBACK is not a point: a fault there would
 *   only leave a connection with an open transaction, which real SQLite never does (it rolls
 *   back on the errors it reports). Migrations at open are not points either.
 * - fsync points (STORE_FAULT_FSYNC): each fdatasync of the write-ahead log by the group commit
 *   (store_flush.h). A failed one poisons the barrier for good, as a real one does.
 *
 * The failure is what SQLite would return: the statement or step reports the error and does
 * nothing, so the store maps it as any other (store_db_fail: IOERR and FULL become STORE_IO,
 * BUSY and LOCKED STORE_BUSY; a failed prepare is STORE_IO whatever the class) and the caller
 * must roll back. One plan for the whole process, counted over every connection and thread
 * (tests run one call at a time), or only on the thread that armed it (`this_thread`: the
 * server arms a plan for one request on its worker, so the other threads' work, such as the
 * next request's authentication, never counts).
 *
 * The PostgreSQL engine (store_pg.c) has statement points too, one per statement it sends for
 * an operation (store_pg_exec: a cursor's DECLARE and FETCH included), BEGIN and COMMIT;
 * ROLLBACK and a cursor's CLOSE (as SQLite's finalize), the session settings and the migrations
 * of a new connection are not points, and it has no fsync points (the server's). A failing point
 * does not send the statement: io and full report STORE_IO, busy and locked STORE_BUSY, as the
 * server's errors of those kinds map; lost shuts the connection's socket down first and sends it,
 * so the statement fails as on a real lost connection (STORE_UNAVAILABLE) and the pool replaces the
 * connection.
 *
 * Compiled in only with -DALMANAC_FAULTS=ON (CMake; `make check` sets it). Then an unarmed
 * store pays one relaxed atomic load and a not-taken branch per point, next to a
 * sqlite3_step() of microseconds. Without it the points compile to nothing, these functions
 * do nothing and store_fault_available() is false, so a release almanacd cannot be made to
 * fail by its environment (server/main.c logs that it ignores ALMANAC_STORE_FAULT). */
#ifndef ALMANAC_STORE_STORE_FAULT_H
#define ALMANAC_STORE_STORE_FAULT_H

#include <stdbool.h>
#include <stdint.h>

enum store_fault_op {
    STORE_FAULT_STMT = 0, /* statement fetches/prepares and steps */
    STORE_FAULT_FSYNC,    /* fsyncs of the write-ahead log */
};

enum store_fault_err {
    STORE_FAULT_IO = 0, /* SQLITE_IOERR: a failed read or write */
    STORE_FAULT_FULL,   /* SQLITE_FULL: the disk is full */
    STORE_FAULT_BUSY,   /* SQLITE_BUSY: the lock stayed taken past the busy timeout */
    STORE_FAULT_LOCKED, /* SQLITE_LOCKED: a conflict inside the process */
    STORE_FAULT_LOST,   /* the connection to the database server is lost (PostgreSQL; SQLite,
                           which has no server, reports SQLITE_IOERR) */
};

struct store_fault_plan {
    enum store_fault_op op;   /* which points count */
    uint64_t nth;             /* the point that fails, from 1; 0 counts points, fails none */
    enum store_fault_err err; /* what it reports (fsync points always fail with EIO) */
    bool persist;             /* every later point of that kind fails too (SQLite's
                                 "persistent" faultsim); else only the Nth */
    bool this_thread;         /* only points on the thread that called store_fault_arm() */
};

/* True when this build has the seam (ALMANAC_FAULTS). */
bool store_fault_available(void);

/* Parses "stmt=N[,err=io|full|busy|locked|lost][,persist]" or "fsync=N[,persist]" (keys in
 * any order). 0, or -1 when the text is not such a plan. */
int store_fault_parse(const char *spec, struct store_fault_plan *out);

/* Arms `plan` for the whole process, counting from 0 again; replaces any earlier plan. */
void store_fault_arm(const struct store_fault_plan *plan);

/* No point fails any more (counters are kept for store_fault_points/fired). */
void store_fault_disarm(void);

/* Which arming is in force: store_fault_arm() makes a new one. store_fault_disarm_if(gen)
 * disarms only while arming `gen` is the one in force, so that a request whose response has
 * gone, cleaning up late, does not disarm the plan the next request has armed since. */
uint64_t store_fault_generation(void);
void store_fault_disarm_if(uint64_t gen);

/* Points of the armed plan's kind passed since store_fault_arm(), and faults injected. */
uint64_t store_fault_points(void);
uint64_t store_fault_fired(void);

/* The kind of the first point that failed since store_fault_arm(): true for a statement fetch
 * or prepare (reported as STORE_IO whatever the class), false for a step or fsync. */
bool store_fault_fired_at_prepare(void);

#endif
