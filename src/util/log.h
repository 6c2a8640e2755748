/* util/log.h: one-line log events: a fixed message, then key=value fields. The level is
 * checked before formatting. Thread-safe: each event is one fprintf to the sink. Never log
 * Authorization, passwords, tokens or collblobs; pass client strings through log_sanitize. */
#ifndef ALMANAC_UTIL_LOG_H
#define ALMANAC_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "util/compiler.h"

enum log_level {
    LOG_ERROR,
    LOG_WARN,
    LOG_INFO,
    LOG_DEBUG
};

/* Sets the sink (default stderr) and the most verbose level written (default LOG_INFO). */
void log_init(FILE *sink, enum log_level level);
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);

/* Parses "error", "warn", "info", "debug"; returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);

void log_write(enum log_level level, const char *fmt, ...) ALM_PRINTF(2, 3);

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...)                   \
  do {                                  \
    if (log_enabled(LOG_INFO))          \
      log_write(LOG_INFO, __VA_ARGS__); \
  } while (0)
#define log_debug(...)                   \
  do {                                   \
    if (log_enabled(LOG_DEBUG))          \
      log_write(LOG_DEBUG, __VA_ARGS__); \
  } while (0)

/* A repeated event logged at most once per interval: a database that went away fails every
 * request, and a line for each would bury the log. Zero-initialised (static storage). */
struct log_every {
    _Atomic long long next_ms; /* monotonic milliseconds before which lines are dropped */
    _Atomic unsigned long long dropped;
};

/* Whether to write this occurrence now: true at most once per `interval_ms` (thread-safe),
 * with *dropped_out the occurrences not written since the last line; false (counted) else. */
bool log_every(struct log_every *e, unsigned interval_ms, unsigned long long *dropped_out);

/* Writes the event at `level` when log_every lets it through, with " not_logged=N" appended
 * (the occurrences dropped since the last line). `fmt` is a literal with one argument at
 * least. */
#define log_every_write(every, interval_ms, level, fmt, ...)                \
  do {                                                                      \
    unsigned long long not_logged_;                                         \
    if (log_every((every), (interval_ms), &not_logged_))                    \
      log_write((level), fmt " not_logged=%llu", __VA_ARGS__, not_logged_); \
  } while (0)

/* Copies client bytes into out (size >= 4) escaped for a log line: non-printables, spaces,
 * quotes and backslashes as \xHH, truncated with "..." when longer than fits. Returns out. */
char *log_sanitize(const char *p, size_t n, char *out, size_t size);

#endif
