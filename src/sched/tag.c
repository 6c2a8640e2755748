/* sched/tag.c: the Schedule-Tag of a scheduling object resource (RFC 6638 §3.2.10), kept as
 * a dead property of the item (CALDAV:schedule-tag) rather than a column: the item table is
 * the change log every protocol reads, the tag concerns CalDAV scheduling only, a property
 * follows the item through MOVE and goes with it on delete, and no migration of the item
 * table (which another change of this session reworks) is needed. caldav serves it as a
 * protected live property, so no PROPPATCH can set it. */
#include <string.h>

#include "sched/sched.h"

#define TAG_NS   "urn:ietf:params:xml:ns:caldav"
#define TAG_NAME "schedule-tag"

enum store_rc sched_tag_get(struct store *s, uint64_t item, struct arena *arena, const char **out)
{
    *out = NULL;
    struct store_prop p;
    enum store_rc rc = store_prop_get(s, STORE_RES_ITEM, item, TAG_NS, TAG_NAME, arena, &p);
    if (rc == STORE_OK) {
        *out = arena_strndup(arena, p.value, p.value_len);
    }
    return rc;
}

enum store_rc sched_tag_set(
    struct store *s, uint64_t item, uint64_t modseq, struct arena *arena, const char **out)
{
    const char *v = arena_printf(arena, "\"s%llu\"", (unsigned long long)modseq);
    struct store_prop p = {TAG_NS, TAG_NAME, v, strlen(v)};
    enum store_rc rc = store_prop_set(s, STORE_RES_ITEM, item, &p);
    if (out) {
        *out = rc == STORE_OK ? v : NULL;
    }
    return rc;
}
