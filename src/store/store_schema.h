/* store/store_schema.h: the versioned migrations compiled from store/schema/NNN_*.sql (SQLite)
 * and store/schema_pg/NNN_*.sql (PostgreSQL, the same version numbers) by
 * cmake/EmbedSchema.cmake, in ascending version order. */
#ifndef ALMANAC_STORE_STORE_SCHEMA_H
#define ALMANAC_STORE_STORE_SCHEMA_H

struct store_migration {
    int version;     /* NNN of the file name */
    const char *sql; /* the whole script, run in one transaction */
};

extern const struct store_migration store_migrations[];
extern const unsigned store_migration_count;
extern const struct store_migration store_pg_migrations[];
extern const unsigned store_pg_migrations_count;

#endif
