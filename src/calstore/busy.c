/* calstore/busy.c: a recipient and their busy time (busy.h). */
#include "calstore/busy.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "sched/sched.h"

struct first_mailto {
    const char *addr;
};

static int take_mailto(void *ctx, const char *addr)
{
    struct first_mailto *f = ctx;
    if (strncasecmp(addr, "mailto:", 7) == 0) {
        f->addr = addr + 7;
        return 1;
    }
    return 0;
}

enum store_rc calstore_recipient(struct store *s,
                                 const char *to,
                                 struct arena *arena,
                                 struct store_principal *out,
                                 const char **email_out)
{
    const char *addr = to;
    if (strncasecmp(to, "mailto:", 7) != 0 && strchr(to, '@')) {
        addr = arena_printf(arena, "mailto:%s", to);
    }
    uint64_t id = 0;
    enum store_rc rc = sched_addr_resolve(s, addr, arena, &id, NULL);
    if (rc == STORE_OK) {
        rc = store_principal_get_by_id(s, id, arena, out);
    } else if (rc == STORE_NOTFOUND && !strchr(to, '@') && !strchr(to, ':')) {
        rc = store_principal_get(s, to, arena, out);
    }
    if (rc != STORE_OK || !email_out) {
        return rc;
    }
    struct first_mailto f = {NULL};
    rc = sched_addr_list(s, out->id, out->name, arena, take_mailto, &f);
    *email_out = f.addr;
    return rc;
}

enum store_rc calstore_calendars_of(
    struct store *s, uint64_t principal, struct arena *arena, uint64_t **ids, size_t *n)
{
    struct store_principal pr;
    enum store_rc rc = store_principal_get_by_id(s, principal, arena, &pr);
    struct store_cursor *cur = NULL;
    if (rc == STORE_OK) {
        rc = store_children_open(s, pr.home_id, &cur);
    }
    size_t cap = 8;
    *ids = arena_alloc(arena, cap * sizeof(**ids));
    *n = 0;
    struct store_coll c;
    while (rc == STORE_OK && (rc = store_cursor_next_coll(cur, &c)) == STORE_OK) {
        if (c.kind != STORE_COLL_CALENDAR) {
            continue;
        }
        if (*n == cap) {
            uint64_t *more = arena_alloc(arena, 2 * cap * sizeof(*more));
            memcpy(more, *ids, cap * sizeof(*more));
            *ids = more;
            cap *= 2;
        }
        (*ids)[(*n)++] = c.id;
    }
    store_cursor_close(&cur);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int calstore_busy(struct store *s,
                  uint64_t principal,
                  int64_t start,
                  int64_t end,
                  struct arena *arena,
                  cal_period_fn *fn,
                  void *ctx,
                  enum store_rc *store_rc,
                  struct err *err)
{
    uint64_t *cals = NULL;
    size_t ncals = 0;
    *store_rc = calstore_calendars_of(s, principal, arena, &cals, &ncals);
    if (*store_rc != STORE_OK) {
        return -1;
    }
    for (size_t i = 0; i < ncals; i++) {
        struct store_cursor *cur = NULL;
        *store_rc = store_items_in_range_open(s, cals[i], start, end,
                                              STORE_RANGE_INSTANCES | STORE_RANGE_CONTENT, &cur);
        struct store_item it;
        while (*store_rc == STORE_OK &&
               (*store_rc = store_cursor_next_item(cur, &it)) == STORE_OK) {
            if (it.cal.comp != 0 && !(it.cal.comp & CAL_COMP_VEVENT)) {
                continue;
            }
            struct arena_mark m = arena_mark(arena);
            struct store_item full;
            *store_rc = store_item_get(s, it.coll, it.name, STORE_ITEM_CONTENT, arena, &full);
            if (*store_rc != STORE_OK) {
                arena_rewind(arena, m);
                break;
            }
            struct err e;
            err_init(&e);
            int w =
                cal_busy((struct slice){full.content, full.size}, start, end, arena, fn, ctx, &e);
            arena_rewind(arena, m);
            if (w > 0 || (w < 0 && e.cond == &err_cond_time_budget)) {
                store_cursor_close(&cur);
                if (w < 0) {
                    *err = e;
                }
                return w;
            }
            /* w < 0 otherwise: an object that no longer parses blocks no time */
        }
        store_cursor_close(&cur);
        if (*store_rc != STORE_NOTFOUND) {
            return -1;
        }
    }
    *store_rc = STORE_OK;
    return 0;
}
