/* util/log.c: the log sink (the one global besides const tables). */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static FILE *log_sink;
static atomic_int log_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_init(FILE *sink, enum log_level level)
{
    log_sink = sink;
    atomic_store(&log_level, (int)level);
}

void log_set_level(enum log_level level)
{
    atomic_store(&log_level, (int)level);
}

int log_enabled(enum log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ALM_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level)) {
        return;
    }
    FILE *f = log_sink ? log_sink : stderr;
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level]);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0) {
        return;
    }
    fprintf(f, "%s\n", line);
    fflush(f);
}

char *log_sanitize(const char *p, size_t n, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        int plain = c > 0x20 && c < 0x7f && c != '"' && c != '\\';
        size_t need = plain ? 1 : 4;
        if (o + need + 4 > size) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

bool log_every(struct log_every *e, unsigned interval_ms, unsigned long long *dropped_out)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    long long next = atomic_load(&e->next_ms);
    /* one thread wins the slot; the others count themselves as dropped */
    if (now < next ||
        !atomic_compare_exchange_strong(&e->next_ms, &next, now + (long long)interval_ms)) {
        atomic_fetch_add(&e->dropped, 1);
        return false;
    }
    *dropped_out = atomic_exchange(&e->dropped, 0);
    return true;
}
