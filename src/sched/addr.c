/* sched/addr.c: calendar user addresses (RFC 6638 §2.4.1) of local principals, and the
 * layer's process-wide settings (sched.h). An address is local when an admin gave it to a
 * principal (store.h "Calendar user addresses"), when it is mailto:<name>@<mail_domain> of
 * an existing principal <name>, or when it is the principal URL /principals/<name>/. */
#include <stdlib.h>
#include <string.h>

#include "sched/sched.h"

static struct sched_config cfg = {.max_attendees = 1000};
static char domain_buf[256];
static char calname_buf[STORE_NAME_MAX + 1];
static char imip_from_buf[STORE_ADDR_MAX + 1];

/* Copies `s` into `dst` (size `n`), or "" when it does not fit. */
static const char *keep(char *dst, size_t n, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (!s || len >= n) {
        return NULL;
    }
    memcpy(dst, s, len + 1);
    return len ? dst : NULL;
}

void sched_configure(const struct sched_config *c)
{
    struct sched_config d = {.max_attendees = 1000};
    if (!c) {
        c = &d;
    }
    cfg.mail_domain = keep(domain_buf, sizeof(domain_buf), c->mail_domain);
    cfg.max_attendees = c->max_attendees ? c->max_attendees : 1000;
    cfg.default_calendar_name = keep(calname_buf, sizeof(calname_buf), c->default_calendar_name);
    cfg.imip_from = keep(imip_from_buf, sizeof(imip_from_buf), c->imip_from);
}

const struct sched_config *sched_config(void)
{
    return &cfg;
}

/* The <name> of mailto:<name>@<mail_domain> in the arena, or NULL (sets *in_domain when the
 * domain is ours). */
static const char *mailto_user(const char *addr, struct arena *arena, bool *in_domain)
{
    const char *dom = cfg.mail_domain;
    struct slice a = slice_from_cstr(addr);
    if (!dom || a.len < 7 || !slice_eq_ci((struct slice){a.ptr, 7}, SLICE_LIT("mailto:"))) {
        return NULL;
    }
    const char *local = addr + 7;
    const char *at = strrchr(local, '@');
    if (!at || at == local || !slice_eq_ci(slice_from_cstr(at + 1), slice_from_cstr(dom))) {
        return NULL;
    }
    *in_domain = true;
    size_t n = (size_t)(at - local);
    if (n > STORE_USER_MAX) {
        return NULL;
    }
    return arena_strndup(arena, local, n);
}

/* The <name> of /principals/<name>/ (or a full URL ending so), or NULL. */
static const char *principal_url_user(const char *addr, struct arena *arena)
{
    const char *p = strstr(addr, "/principals/");
    if (!p) {
        return NULL;
    }
    p += strlen("/principals/");
    const char *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 0 || n > STORE_USER_MAX || (end && end[1] != '\0')) {
        return NULL;
    }
    return arena_strndup(arena, p, n);
}

enum store_rc sched_addr_resolve(struct store *s,
                                 const char *addr,
                                 struct arena *arena,
                                 uint64_t *principal_out,
                                 bool *in_domain)
{
    bool dom = false;
    if (in_domain) {
        *in_domain = false;
    }
    if (!addr || !*addr) {
        return STORE_NOTFOUND;
    }
    enum store_rc rc = store_sched_addr_lookup(s, addr, arena, principal_out);
    if (rc != STORE_NOTFOUND) {
        return rc;
    }
    const char *name = mailto_user(addr, arena, &dom);
    if (in_domain) {
        *in_domain = dom;
    }
    if (!name) {
        name = principal_url_user(addr, arena);
    }
    if (!name) {
        return STORE_NOTFOUND;
    }
    struct store_principal p;
    rc = store_principal_get(s, name, arena, &p);
    if (rc == STORE_NOTFOUND && dom) {
        /* mailto:Bob@ for principal "bob" */
        char *lower = arena_strdup(arena, name);
        for (char *c = lower; *c; c++) {
            if (*c >= 'A' && *c <= 'Z') {
                *c = (char)(*c - 'A' + 'a');
            }
        }
        if (strcmp(lower, name) != 0) {
            rc = store_principal_get(s, lower, arena, &p);
        }
    }
    if (rc == STORE_OK) {
        *principal_out = p.id;
    }
    return rc;
}

struct list_ctx {
    sched_addr_fn *fn;
    void *ctx;
    int stopped;
};

static int list_one(void *ctx, const char *addr)
{
    struct list_ctx *l = ctx;
    l->stopped = l->fn(l->ctx, addr);
    return l->stopped;
}

enum store_rc sched_addr_list(struct store *s,
                              uint64_t id,
                              const char *name,
                              struct arena *arena,
                              sched_addr_fn *fn,
                              void *ctx)
{
    if (cfg.mail_domain) {
        if (fn(ctx, arena_printf(arena, "mailto:%s@%s", name, cfg.mail_domain)) != 0) {
            return STORE_OK;
        }
    }
    struct list_ctx l = {fn, ctx, 0};
    enum store_rc rc = store_sched_addr_list(s, id, list_one, &l);
    if (rc != STORE_OK || l.stopped) {
        return rc;
    }
    (void)fn(ctx, arena_printf(arena, "/principals/%s/", name));
    return STORE_OK;
}

enum store_rc sched_default_calendar(
    struct store *s, uint64_t home, unsigned comp, struct arena *arena, struct store_coll *out)
{
    struct store_cursor *cur = NULL;
    enum store_rc rc = store_children_open(s, home, &cur);
    if (rc != STORE_OK) {
        return rc;
    }
    const char *want = cfg.default_calendar_name;
    bool have = false, named = false;
    struct store_coll c;
    while ((rc = store_cursor_next_coll(cur, &c)) == STORE_OK) {
        if (c.kind != STORE_COLL_CALENDAR || (comp && c.comps && !(c.comps & comp))) {
            continue;
        }
        bool is_named = want && strcmp(c.name, want) == 0;
        if (!have || (is_named && !named)) {
            *out = c;
            out->name = arena_strdup(arena, c.name);
            have = true;
            named = is_named;
        }
    }
    store_cursor_close(&cur);
    if (rc != STORE_NOTFOUND) {
        return rc;
    }
    return have ? STORE_OK : STORE_NOTFOUND;
}
