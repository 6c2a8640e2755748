/* repl/repl.c: the replication identities on the WebDAV core (exchange-replication.md §1.2,
 * §2.1, §4.3): properties and headers derived from (store GUID, item id, change GUID, modseq),
 * which cost nothing to compute. The namespace is accepted in both spellings and answered in
 * the one the request used. */
#include "repl/repl.h"

#include <string.h>

#include "dav/ext.h"
#include "repl/props.h"
#include "repl/repl_int.h"
#include "repl/tokens.h"
#include "util/sec.h"

/* §2.1-2.2: never omit them on a successful write (KB 923164). */
static enum store_rc item_headers(struct dav_req *dr,
                                  const struct store_coll *coll,
                                  uint64_t item_id,
                                  uint64_t modseq,
                                  bool deleted,
                                  bool error)
{
    uint8_t guid[REPL_GUID_BYTES];
    store_guid(dr->store, guid);
    char tag[REPL_TAG_LEN + 1];
    repl_tag_format(guid, item_id, coll->change_guid, modseq, tag);
    /* §2.1: a 412 also carries the current state */
    void (*add)(struct http_request *, const char *, const char *) =
        error ? http_resp_error_header : http_resp_header;
    add(dr->http, "ResourceTag", arena_printf(dr->arena, "<%s>", tag));
    if (!deleted) {
        char uid[REPL_UID_LEN + 1];
        repl_uid_format(guid, item_id, uid);
        add(dr->http, "Repl-UID", arena_printf(dr->arena, "<%s>", uid));
    }
    return STORE_OK;
}

/* §2.3: <rt:...> is true when it is the resource's current tag, <rid:...> when it is its
 * repl-uid; malformed and foreign tokens are simply false. */
static int state_token(struct dav_req *dr, const struct dav_res *res, struct slice token)
{
    bool rt = token.len >= 3 && slice_eq_ci((struct slice){token.ptr, 3}, SLICE_LIT("rt:"));
    bool rid = token.len >= 4 && slice_eq_ci((struct slice){token.ptr, 4}, SLICE_LIT("rid:"));
    if (!rt && !rid) {
        return -1;
    }
    if (res->kind != DAV_RES_ITEM) {
        return 0;
    }
    uint8_t guid[REPL_GUID_BYTES];
    store_guid(dr->store, guid);
    if (rid) {
        uint64_t id;
        return repl_uid_parse(token, guid, &id) == REPL_TAG_OURS && id == res->item.id;
    }
    struct repl_tag t;
    return repl_tag_parse(token, guid, &t) == REPL_TAG_OURS && t.id == res->item.id &&
           t.modseq == res->item.modseq &&
           memcmp(t.change_guid, res->coll.change_guid, REPL_GUID_BYTES) == 0;
}

static const struct dav_ext ext = {
    .state_token = state_token,
    .props = repl_live_props,
    .nprops = REPL_LIVE_NPROPS,
    .methods = {[HTTP_M_SEARCH] = &repl_search},
    .item_headers = item_headers,
    .pre_unwrap_put = repl_pre_unwrap_put,
    .unwrap_put = repl_unwrap_put,
    .proppatch = repl_proppatch,
    .allow = "SEARCH",
};

const struct dav_ext *repl_ext(void)
{
    return &ext;
}
