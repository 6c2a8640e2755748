/* tools/address.h: `almanac user address add|del|list` (issue 13): the calendar user
 * addresses an admin gives a user for scheduling, besides mailto:NAME@mail_domain
 * (docs/scheduling.md). */
#ifndef ALMANAC_TOOLS_ADDRESS_H
#define ALMANAC_TOOLS_ADDRESS_H

#include <stdbool.h>

#include "store/store.h"

/* Gives (`add`) or takes back user `user`'s address `addr` (a mailto: URI). Returns 0, or 2
 * after printing why (no such user, the address belongs to someone, not theirs). */
int address_set(struct store *s, const char *user, const char *addr, bool add);

/* Prints `user`'s admin-given addresses, one per line, in order. Returns 0 or 2. */
int address_list(struct store *s, const char *user);

#endif
