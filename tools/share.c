/* tools/share.c: the admin's side of shared calendars (see share.h); the grants are the
 * store's (store_share_*), what a sharee may do is calstore's (calstore_access). */
#include "tools/share.h"

#include <stdio.h>
#include <string.h>

#include "util/arena.h"

static const char *access_name(enum store_share_access a)
{
    return a == STORE_SHARE_READ_WRITE ? "read-write" : "read";
}

/* The owner's and the sharee's principals and the owner's calendar, inside the open
 * transaction; *what says which was missing when STORE_NOTFOUND. */
static enum store_rc find(struct store *s,
                          struct arena *a,
                          const char *owner,
                          const char *calendar,
                          const char *sharee,
                          struct store_principal *op,
                          struct store_principal *sp,
                          struct store_coll *c,
                          const char **what)
{
    enum store_rc rc = store_principal_get(s, owner, a, op);
    if (rc == STORE_NOTFOUND) {
        *what = arena_printf(a, "user '%s' not found", owner);
        return rc;
    }
    if (rc == STORE_OK) {
        rc = store_principal_get(s, sharee, a, sp);
        if (rc == STORE_NOTFOUND) {
            *what = arena_printf(a, "user '%s' not found", sharee);
            return rc;
        }
    }
    if (rc == STORE_OK) {
        rc = store_coll_lookup(s, op->home_id, calendar, a, c);
        if (rc == STORE_NOTFOUND || (rc == STORE_OK && c->kind != STORE_COLL_CALENDAR)) {
            *what = arena_printf(a, "calendar '%s' of user '%s' not found", calendar, owner);
            return STORE_NOTFOUND;
        }
    }
    return rc;
}

int share_grant(struct store *s,
                const char *owner,
                const char *calendar,
                const char *sharee,
                enum store_share_access access)
{
    struct arena *a = arena_create();
    struct store_principal op, sp;
    struct store_coll c;
    struct store_share sh;
    bool created = false;
    const char *what = NULL;
    if (strcmp(owner, sharee) == 0) {
        fprintf(stderr, "almanac: user '%s' owns the calendar; share it with someone else\n",
                owner);
        arena_destroy(&a);
        return 2;
    }
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = find(s, a, owner, calendar, sharee, &op, &sp, &c, &what);
    }
    if (rc == STORE_OK) {
        rc = store_share_set(s, c.id, sp.id, access, NULL, a, &sh, &created);
    }
    if (rc == STORE_OK) {
        rc = store_commit(s);
    }
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: %s\n", what ? what : store_last_error(s));
    } else {
        printf("%s/%s %s with %s (%s) as /calendars/%s/%s/\n", owner, calendar,
               created ? "shared" : "now shared", sharee, access_name(sh.access), sharee, sh.name);
    }
    store_rollback(s);
    arena_destroy(&a);
    return rc == STORE_OK ? 0 : 2;
}

int share_revoke(struct store *s, const char *owner, const char *calendar, const char *sharee)
{
    struct arena *a = arena_create();
    struct store_principal op, sp;
    struct store_coll c;
    const char *what = NULL;
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = find(s, a, owner, calendar, sharee, &op, &sp, &c, &what);
    }
    if (rc == STORE_OK) {
        rc = store_share_del(s, c.id, sp.id);
        if (rc == STORE_NOTFOUND) {
            what = arena_printf(a, "calendar '%s' of user '%s' is not shared with '%s'", calendar,
                                owner, sharee);
        }
    }
    if (rc == STORE_OK) {
        rc = store_commit(s);
    }
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: %s\n", what ? what : store_last_error(s));
    }
    store_rollback(s);
    arena_destroy(&a);
    return rc == STORE_OK ? 0 : 2;
}

static int print_out(void *ctx, const struct store_share *sh)
{
    (void)ctx;
    printf("out\t%s\t%s\t%s\t/calendars/%s/%s/\n", sh->coll_name, sh->sharee_name,
           access_name(sh->access), sh->sharee_name, sh->name);
    return 0;
}

static int print_in(void *ctx, const struct store_share *sh)
{
    (void)ctx;
    printf("in\t%s/%s\t%s\t%s\t/calendars/%s/%s/\n", sh->owner_name, sh->coll_name, sh->sharee_name,
           access_name(sh->access), sh->sharee_name, sh->name);
    return 0;
}

int share_list(struct store *s, const char *user)
{
    struct arena *a = arena_create();
    struct store_principal p;
    const char *what = NULL;
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, user, a, &p);
        what = rc == STORE_NOTFOUND ? arena_printf(a, "user '%s' not found", user) : NULL;
    }
    if (rc == STORE_OK) {
        rc = store_share_list_of_owner(s, p.id, print_out, NULL);
    }
    if (rc == STORE_OK) {
        rc = store_share_list_of_sharee(s, p.id, print_in, NULL);
    }
    if (rc != STORE_OK) {
        fprintf(stderr, "almanac: %s\n", what ? what : store_last_error(s));
    }
    store_rollback(s);
    arena_destroy(&a);
    return rc == STORE_OK ? 0 : 2;
}
