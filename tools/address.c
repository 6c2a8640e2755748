/* tools/address.c: the admin's side of calendar user addresses (see address.h); the
 * addresses are the store's (store_sched_addr_*), what they mean is sched's. */
#include "tools/address.h"

#include <stdio.h>
#include <string.h>

#include "util/arena.h"

/* A mailto: URI with something on each side of one '@' and no control or space
 * characters: what a calendar client writes in ATTENDEE. */
static bool is_mailto(const char *addr)
{
    if (strncmp(addr, "mailto:", 7) != 0 && strncmp(addr, "MAILTO:", 7) != 0) {
        return false;
    }
    const char *at = strchr(addr + 7, '@');
    if (!at || at == addr + 7 || at[1] == '\0' || strchr(at + 1, '@')) {
        return false;
    }
    for (const char *c = addr; *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f) {
            return false;
        }
    }
    return strlen(addr) <= STORE_ADDR_MAX;
}

int address_set(struct store *s, const char *user, const char *addr, bool add)
{
    if (!is_mailto(addr)) {
        fprintf(stderr, "almanac: '%.80s' is not a mailto: address (mailto:name@domain)\n", addr);
        return 2;
    }
    struct arena *a = arena_create();
    struct store_principal p;
    const char *what = NULL;
    enum store_rc rc = store_begin_write(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, user, a, &p);
        if (rc == STORE_NOTFOUND) {
            what = arena_printf(a, "user '%s' not found", user);
        }
    }
    if (rc == STORE_OK) {
        rc = add ? store_sched_addr_add(s, p.id, addr, a) : store_sched_addr_del(s, p.id, addr, a);
        if (rc == STORE_EXISTS) {
            what = arena_printf(a, "address '%s' belongs to a user already", addr);
        } else if (rc == STORE_NOTFOUND) {
            what = arena_printf(a, "address '%s' is not one of user '%s'", addr, user);
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

static int print_addr(void *ctx, const char *addr)
{
    (void)ctx;
    printf("%s\n", addr);
    return 0;
}

int address_list(struct store *s, const char *user)
{
    struct arena *a = arena_create();
    struct store_principal p;
    enum store_rc rc = store_begin_read(s);
    if (rc == STORE_OK) {
        rc = store_principal_get(s, user, a, &p);
    }
    if (rc == STORE_OK) {
        rc = store_sched_addr_list(s, p.id, print_addr, NULL);
    }
    if (rc == STORE_NOTFOUND) {
        fprintf(stderr, "almanac: user '%s' not found\n", user);
    } else if (rc != STORE_OK) {
        fprintf(stderr, "almanac: %s\n", store_last_error(s));
    }
    store_rollback(s);
    arena_destroy(&a);
    return rc == STORE_OK ? 0 : 2;
}
