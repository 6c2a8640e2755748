/* tools/migrate.h: `almanac migrate-store --from sqlite:DIR --to postgresql://...` (issue #10
 * item 4; docs/migrate-store.md): a whole store copied into an empty PostgreSQL database by
 * store_migrate(), with a progress display and the verification counts. */
#ifndef ALMANAC_TOOLS_MIGRATE_H
#define ALMANAC_TOOLS_MIGRATE_H

/* Copies `from` into `to`. Progress on stderr: a bar redrawn in place when stderr is a
 * terminal, else a line per table and one every MIGRATE_LINE_SECONDS during a long one. The
 * verification (table, source rows, target rows; tab-separated) on stdout. Returns 0, or 2
 * after printing why (the target then holds nothing of the source). */
int migrate_store(const char *from, const char *to);

#endif
