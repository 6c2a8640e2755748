/* tools/migrate.c: `almanac migrate-store` (tools/migrate.h): store_migrate() with a progress
 * display on stderr and the verification counts on stdout.
 *
 * The display: on a terminal a bar redrawn in place, at most every REDRAW_US; otherwise (a
 * log, a pipe, systemd's journal) plain lines, one when a table is done and one every
 * MIGRATE_LINE_SECONDS within a long table, so a log gets no control characters and a few
 * lines a minute however large the store, yet shows the copy is alive. */
#include "tools/migrate.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "store/store_migrate.h"
#include "util/timeutil.h"

enum {
    EXIT_FAILED = 2,
    BAR_WIDTH = 30,               /* characters of the bar */
    REDRAW_US = 100 * 1000,       /* a terminal's redraw: ten a second at most */
    MIGRATE_LINE_SECONDS = 10,    /* a line in a log within a long table */
    LABEL_BYTES = CONFIG_STR_MAX, /* a location as printed (no password) */
};

struct show {
    bool is_tty;
    int64_t last_us;   /* the last redraw or line */
    const char *table; /* the table of the last call */
    bool bar_drawn;    /* a bar is on the terminal's last line */
    bool ended;        /* a log line ended `table` (printed once) */
};

static unsigned percent(uint64_t done, uint64_t total)
{
    return total ? (unsigned)(done * 100 / total) : 100;
}

static void show_progress(void *ctx,
                          const char *table,
                          uint64_t table_done,
                          uint64_t table_rows,
                          uint64_t done,
                          uint64_t total)
{
    struct show *sh = ctx;
    int64_t now = time_mono_us();
    bool table_end = table_done == table_rows;
    if (sh->is_tty) {
        if (!table_end && now - sh->last_us < REDRAW_US) {
            return;
        }
        char bar[BAR_WIDTH + 1];
        unsigned filled = percent(done, total) * BAR_WIDTH / 100;
        for (unsigned i = 0; i < BAR_WIDTH; i++) {
            bar[i] = i < filled ? '#' : '.';
        }
        bar[BAR_WIDTH] = '\0';
        fprintf(stderr, "\r[%s] %3u%%  %-15s %" PRIu64 "/%" PRIu64 "\033[K", bar,
                percent(done, total), table, table_done, table_rows);
        fflush(stderr);
        sh->bar_drawn = true;
    } else {
        bool is_new = !sh->table || strcmp(sh->table, table) != 0;
        bool is_index = strcmp(table, "indexes") == 0; /* after the rows: see store_migrate.h */
        bool is_due = now - sh->last_us >= MIGRATE_LINE_SECONDS * 1000000LL;
        if (table_end && !is_new && sh->ended) {
            return;
        }
        sh->ended = table_end;
        if (table_end && table_rows > 0 && is_index) {
            fprintf(stderr, "migrate-store: %" PRIu64 " indexes and foreign keys built\n",
                    table_rows);
        } else if (table_end && table_rows > 0) {
            fprintf(stderr, "migrate-store: %s: %" PRIu64 " rows copied (%u%% of all rows)\n",
                    table, table_rows, percent(done, total));
        } else if (!is_new && !table_end && is_due && is_index) {
            fprintf(stderr,
                    "migrate-store: indexes and foreign keys: %" PRIu64 "/%" PRIu64 " built\n",
                    table_done, table_rows);
        } else if (!is_new && !table_end && is_due) {
            fprintf(stderr, "migrate-store: %s: %" PRIu64 "/%" PRIu64 " rows (%u%% of all rows)\n",
                    table, table_done, table_rows, percent(done, total));
        } else if (!is_new) {
            return;
        }
    }
    sh->table = table;
    sh->last_us = now;
}

int migrate_store(const char *from, const char *to)
{
    char from_label[LABEL_BYTES], to_label[LABEL_BYTES];
    config_store_label(from, from_label, sizeof(from_label));
    config_store_label(to, to_label, sizeof(to_label));
    struct show sh = {.is_tty = isatty(STDERR_FILENO) == 1, .last_us = time_mono_us()};
    struct store_migrate_report report;
    char msg[STORE_MSG_MAX];
    enum store_rc rc = store_migrate(from, to, show_progress, &sh, &report, msg);
    if (sh.bar_drawn) {
        fputs("\r\033[K", stderr);
    }
    if (report.target_counted) {
        FILE *out = rc == STORE_OK ? stdout : stderr;
        fprintf(out, "table\tsource\ttarget\n");
        for (size_t i = 0; i < report.ntables; i++) {
            const struct store_migrate_table *t = &report.tables[i];
            fprintf(out, "%s\t%" PRIu64 "\t%" PRIu64 "%s\n", t->name, t->source_rows,
                    t->target_rows, t->source_rows == t->target_rows ? "" : "\tDIFFERS");
        }
    }
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: cannot migrate %s to %s: %s\n", from_label, to_label, msg);
        return EXIT_FAILED;
    }
    printf("migrated %s to %s: %" PRIu64 " rows in %zu tables, schema version %d; every "
           "table's count verified equal\n",
           from_label, to_label, report.rows, report.ntables, report.schema_version);
    return 0;
}
