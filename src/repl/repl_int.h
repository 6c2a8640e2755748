/* repl/repl_int.h: what the repl module's files share. */
#ifndef ALMANAC_REPL_REPL_INT_H
#define ALMANAC_REPL_REPL_INT_H

#include <stdbool.h>
#include <string.h>

#include "dav/ext.h"

/* The replication tree: an href or path below it is served with Exchange's properties and
 * write semantics (exchange-replication.md); /calendars is CalDAV's view of the same store. */
#define REPL_TREE "/exchange/"

static inline bool repl_in_tree(const char *href_or_path)
{
    return href_or_path && strncmp(href_or_path, REPL_TREE, sizeof(REPL_TREE) - 1) == 0;
}

/* SEARCH with R:repl (search.c). */
extern const struct dav_method repl_search;

/* write.c: the struct dav_ext hooks of the /exchange tree's writes (exchange-replication.md
 * §2.5, §4.7); see dav/ext.h for their contracts. Both leave the /calendars tree alone. */
void repl_pre_unwrap_put(struct dav_req *dr);
int repl_unwrap_put(struct dav_req *dr,
                    const struct dav_res *target,
                    struct store_item_in *in,
                    const char **modified,
                    struct err *err);
int repl_proppatch(struct dav_req *dr,
                   const struct dav_res *res,
                   struct dav_propupdate *pu,
                   struct store_item *written,
                   struct err *err);

/* The authenticated principal's addresses as repl_exprops_read wants them (props.c), in
 * `a`: one store query. STORE_OK, or the store's failure (*out then empty), which the
 * caller fails its request with. */
struct repl_ex_self;
enum store_rc repl_self(struct dav_req *dr, struct arena *a, struct repl_ex_self *out);

#endif
