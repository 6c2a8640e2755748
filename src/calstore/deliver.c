/* calstore/deliver.c: implicit scheduling between local users inside the one calendar write
 * path (deliver.h, docs/scheduling.md; RFC 6638 §3.2 over iTIP, RFC 5546). The iTIP logic is
 * sched's (pure functions); this file resolves who is local, and writes each recipient's copy
 * through calstore_put/calstore_delete as that recipient with scheduling off:
 *  - schedule-deliver (RFC 6638 §6.1.1) is the recipient's grant to the server's scheduling
 *    agent, not a sharing grant: writing as the owner of the recipient's calendar passes
 *    calstore_check_write as the owner would, with no bypass of the access rule to audit;
 *  - no_sched on those writes: a delivery never schedules again (no loops, no storms).
 * Everything runs inside the writer's transaction, so the organizer's write and every copy
 * commit together; a store failure anywhere fails the whole write (the store's 503).
 *
 * Cost: the stored object is read with its content only for calendar writes, and sched
 * parses objects (no recurrence expansion) only when either side mentions ORGANIZER; each
 * delivered copy is prepared (parsed, validated, indexed) inside the transaction, O(one
 * object) per local attendee, bounded by sched_max_attendees. */
#include "calstore/deliver.h"

#include <string.h>
#include <strings.h>

#include "cal/cal.h"
#include "sched/imip.h"
#include "util/sec.h"
#include "util/timeutil.h"

static const char ICS_TYPE[] = "text/calendar; charset=utf-8";

static enum calstore_rc store_failed(struct calstore_res *res, enum store_rc rc)
{
    res->store_rc = rc;
    return CALSTORE_STORE;
}

/* True when `addr` goes out by iMIP (RFC 6047): iMIP is on (imip_from set) and it is a
 * mailto: address we can put in an SMTP envelope. */
static bool by_mail(const char *addr, struct arena *a)
{
    const char *from = sched_config()->imip_from;
    return from && *from && sched_imip_mailbox(addr, a) != NULL;
}

static bool mentions_organizer(struct slice s)
{
    return s.len && slice_contains_ci(s, SLICE_LIT("ORGANIZER"));
}

/* ---------------------------------------------------------------------------------------- */
/* Planning */

struct status_ctx {
    const struct deliver_plan *plan;
    const char *const *status; /* per message */
};

static const char *status_of(void *ctx, const char *attendee)
{
    struct status_ctx *c = ctx;
    for (size_t i = 0; i < c->plan->nmsgs; i++) {
        if (c->plan->msgs[i].method == SCHED_REQUEST &&
            sched_addr_eq(c->plan->msgs[i].attendee, attendee)) {
            return c->status[i];
        }
    }
    return NULL;
}

static enum calstore_rc plan_organizer(const struct calstore_writer *w,
                                       uint64_t owner,
                                       struct slice before,
                                       struct slice *content,
                                       const struct sched_info *info,
                                       struct deliver_plan *plan,
                                       struct calstore_res *res,
                                       struct err *err)
{
    /* RFC 4791 §5.3.2.1 max-attendees-per-instance, the bound of one write's deliveries */
    unsigned max = sched_config()->max_attendees;
    if (info->max_per_instance > max) {
        err_set(err, &sched_cond_max_attendees,
                "an instance has %zu attendees; this server schedules at most %u",
                info->max_per_instance, max);
        return CALSTORE_DENIED;
    }
    if (sched_organizer_msgs(before, *content, w->arena, &plan->msgs, &plan->nmsgs, err) != 0) {
        return CALSTORE_INVALID;
    }
    plan->role = DELIVER_ORGANIZER;
    plan->to = arena_zalloc(w->arena, (plan->nmsgs + 1) * sizeof(*plan->to));
    plan->by_mail = arena_zalloc(w->arena, (plan->nmsgs + 1) * sizeof(*plan->by_mail));
    plan->owner = owner;
    const char **status = arena_zalloc(w->arena, (plan->nmsgs + 1) * sizeof(*status));
    for (size_t i = 0; i < plan->nmsgs; i++) {
        bool in_domain = false;
        uint64_t p = 0;
        enum store_rc rc =
            sched_addr_resolve(w->store, plan->msgs[i].attendee, w->arena, &p, &in_domain);
        if (rc == STORE_OK) {
            plan->to[i] = p == owner ? 0 : p; /* the organizer's own other address */
            status[i] = "1.2";                /* RFC 6638 §3.2.9: delivered */
        } else if (rc == STORE_NOTFOUND && in_domain) {
            status[i] = "3.7"; /* RFC 6638 §3.2.9: an invalid calendar user of our domain */
        } else if (rc == STORE_NOTFOUND) {
            /* an outside address: RFC 6638 §3.2.9 1.1, sent (queued for the relay, which is
             * all this write knows); without iMIP it gets nothing and no status */
            plan->by_mail[i] = by_mail(plan->msgs[i].attendee, w->arena);
            status[i] = plan->by_mail[i] ? "1.1" : NULL;
        } else {
            return store_failed(res, rc);
        }
    }
    if (content->len) {
        struct status_ctx sc = {plan, status};
        if (sched_set_status(*content, status_of, &sc, w->arena, content, err) != 0) {
            return CALSTORE_INVALID;
        }
    }
    return CALSTORE_OK;
}

/* The owner's own address among the attendees of `info`, or NULL. */
static enum calstore_rc own_address(const struct calstore_writer *w,
                                    uint64_t owner,
                                    const struct sched_info *info,
                                    const char **out,
                                    struct calstore_res *res)
{
    *out = NULL;
    for (size_t i = 0; i < info->nattendees; i++) {
        uint64_t p = 0;
        enum store_rc rc = sched_addr_resolve(w->store, info->attendees[i], w->arena, &p, NULL);
        if (rc == STORE_OK && p == owner) {
            *out = info->attendees[i];
            return CALSTORE_OK;
        }
        if (rc != STORE_OK && rc != STORE_NOTFOUND) {
            return store_failed(res, rc);
        }
    }
    return CALSTORE_OK;
}

enum calstore_rc deliver_plan(const struct calstore_writer *w,
                              const struct store_coll *coll,
                              struct slice before,
                              struct slice *content,
                              struct deliver_plan *plan,
                              struct calstore_res *res,
                              struct err *err)
{
    memset(plan, 0, sizeof(*plan));
    if (w->no_sched || coll->kind != STORE_COLL_CALENDAR ||
        (!mentions_organizer(before) && !mentions_organizer(*content))) {
        return CALSTORE_OK;
    }
    struct sched_info bi, ai;
    if (sched_info(before, w->arena, &bi, err) != 0 ||
        sched_info(*content, w->arena, &ai, err) != 0) {
        return CALSTORE_INVALID;
    }
    const struct sched_info *info = ai.organizer ? &ai : &bi;
    if (!info->organizer) {
        return CALSTORE_OK;
    }
    plan->uid = info->uid;
    plan->org_addr = info->organizer;
    uint64_t org = 0;
    bool org_in_domain = false;
    enum store_rc rc =
        sched_addr_resolve(w->store, info->organizer, w->arena, &org, &org_in_domain);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return store_failed(res, rc);
    }
    if (rc == STORE_OK && org == coll->owner) {
        plan->tag = content->len != 0;
        return plan_organizer(w, coll->owner, bi.organizer ? before : (struct slice){"", 0},
                              content, info, plan, res, err);
    }
    const char *self = NULL;
    enum calstore_rc crc = own_address(w, coll->owner, info, &self, res);
    if (crc != CALSTORE_OK || !self) {
        return crc;
    }
    plan->role = DELIVER_ATTENDEE;
    plan->owner = coll->owner;
    plan->self = self;
    plan->organizer = rc == STORE_OK ? org : 0;
    /* an unknown user of our own mail domain is nobody to mail (RFC 6638 3.7) */
    plan->org_outside = rc == STORE_NOTFOUND && !org_in_domain;
    plan->tag = content->len != 0;
    if (!content->len) {
        /* RFC 6638 §3.2.2.3, RFC 5546 §3.2.3: an attendee deleting their copy declines the
         * meeting; the REPLY names each instance whose PARTSTAT that changes (none when they
         * had declined already) */
        struct slice declined;
        int r = sched_set_partstat(before, self, "DECLINED", NULL, w->arena, &declined, err);
        if (r < 0) {
            return CALSTORE_INVALID;
        }
        if (r == 0 &&
            sched_attendee_reply(before, declined, self, w->arena, &plan->reply, err) != 0) {
            return CALSTORE_INVALID;
        }
        return CALSTORE_OK;
    }
    if (before.len && sched_attendee_check(before, *content, self, w->arena, err) != 0) {
        return err->cond == &sched_cond_allowed_attendee_change ? CALSTORE_DENIED
                                                                : CALSTORE_INVALID;
    }
    plan->copy = *content;
    if (sched_attendee_reply(before, *content, self, w->arena, &plan->reply, err) != 0) {
        return CALSTORE_INVALID;
    }
    return CALSTORE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Delivering */

enum store_rc deliver_lookup_copy(const struct calstore_writer *w,
                                  const struct store_principal *p,
                                  const char *uid,
                                  struct store_coll *coll,
                                  struct store_item *item)
{
    struct store_cursor *cur = NULL;
    enum store_rc rc = store_children_open(w->store, p->home_id, &cur);
    if (rc != STORE_OK) {
        return rc;
    }
    struct store_coll c;
    while (uid && (rc = store_cursor_next_coll(cur, &c)) == STORE_OK) {
        if (c.kind != STORE_COLL_CALENDAR) {
            continue;
        }
        struct store_item it;
        enum store_rc r = store_item_get_by_uid(w->store, c.id, uid, w->arena, &it);
        if (r == STORE_OK) {
            *coll = c;
            coll->name = arena_strdup(w->arena, c.name);
            *item = it;
            break;
        }
        if (r != STORE_NOTFOUND) {
            rc = r;
            break;
        }
    }
    store_cursor_close(&cur);
    return uid ? rc : STORE_NOTFOUND;
}

enum store_rc deliver_find_copy(const struct calstore_writer *w,
                                const struct store_principal *p,
                                const char *uid,
                                unsigned comp,
                                struct store_coll *coll,
                                struct store_item *item,
                                bool *found)
{
    enum store_rc rc = deliver_lookup_copy(w, p, uid, coll, item);
    *found = rc == STORE_OK;
    if (rc != STORE_NOTFOUND) {
        return rc;
    }
    rc = sched_default_calendar(w->store, p->home_id, comp, w->arena, coll);
    if (rc != STORE_NOTFOUND) {
        return rc;
    }
    return store_coll_create(w->store, p->home_id, "calendar", STORE_COLL_CALENDAR, w->arena, coll);
}

/* The schedule inbox of principal `p` (RFC 6638 §2.2), made with the outbox (§2.1) at the
 * first delivery to `p`: a user who never schedules keeps a home without them, and every
 * listing of homes (clients, `almanac calendar list`, the web page) stays as it was. *ok
 * false when the name is held by something else (the notice is then skipped). */
static enum store_rc inbox_of(const struct calstore_writer *w,
                              const struct store_principal *p,
                              struct store_coll *out,
                              bool *ok)
{
    *ok = false;
    enum store_rc rc = store_coll_lookup(w->store, p->home_id, "inbox", w->arena, out);
    if (rc == STORE_NOTFOUND) {
        rc = store_coll_create(w->store, p->home_id, "inbox", STORE_COLL_PLAIN, w->arena, out);
        if (rc == STORE_EXISTS) {
            return STORE_OK; /* an item or a share of that name */
        }
        if (rc != STORE_OK) {
            return rc;
        }
        struct store_coll outbox;
        enum store_rc orc =
            store_coll_create(w->store, p->home_id, "outbox", STORE_COLL_PLAIN, w->arena, &outbox);
        if (orc != STORE_OK && orc != STORE_EXISTS) {
            return orc;
        }
    }
    if (rc == STORE_OK) {
        *ok = out->kind == STORE_COLL_PLAIN;
    }
    return rc;
}

/* RFC 6638 §4.1: the iTIP message itself, as a resource of the recipient's inbox. */
static enum store_rc notice(const struct calstore_writer *w,
                            const struct store_principal *p,
                            enum sched_method m,
                            struct slice ics)
{
    struct store_coll inbox;
    bool ok;
    enum store_rc rc = inbox_of(w, p, &inbox, &ok);
    if (rc != STORE_OK || !ok) {
        return rc;
    }
    uint8_t rnd[12];
    char hex[2 * sizeof(rnd) + 1];
    sec_random(rnd, sizeof(rnd));
    sec_hex(rnd, sizeof(rnd), hex);
    struct store_item_in in = {
        .content = ics.ptr,
        .size = ics.len,
        .content_type = arena_printf(w->arena, "%s; method=%s", ICS_TYPE, sched_method_name(m)),
    };
    return store_item_put(w->store, inbox.id, arena_printf(w->arena, "%s.ics", hex), &in, w->arena,
                          NULL, NULL);
}

/* The writer that delivers into principal `p`'s calendars: as `p`, scheduling off. */
static struct calstore_writer as(const struct calstore_writer *w, uint64_t p)
{
    return (struct calstore_writer){
        .store = w->store, .arena = w->arena, .principal = p, .no_sched = true};
}

/* Writes `text` as item `name` of `coll` for principal `p`; `tag`: a new Schedule-Tag. */
/* Prepared copies, by REQUEST text: a new invitation's copy is that text with the
 * attendee's PARTSTAT, so its index (span, instances) is the one prepared for the first
 * attendee of the same text, and validating and expanding it again per attendee would make a
 * meeting of N attendees cost N expansions inside the write transaction. */
enum {
    PREP_CACHE_MAX = 8,
};

struct prep_cache {
    struct arena *keep; /* the entries' index bytes: deliveries rewind the request arena */
    const char *key[PREP_CACHE_MAX];
    struct calstore_obj obj[PREP_CACHE_MAX];
    size_t n;
};

static void arena_release(void *p)
{
    struct arena *a = p;
    arena_destroy(&a);
}

/* Keeps `obj` (prepared on `key`) for the copies that follow, its index copied out of the
 * request arena. */
static void cache_add(struct prep_cache *c, const char *key, const struct calstore_obj *obj)
{
    if (c->n == PREP_CACHE_MAX) {
        return;
    }
    struct calstore_obj o = *obj;
    o.content = NULL;
    o.size = 0;
    o.index.uid = o.index.uid ? arena_strdup(c->keep, o.index.uid) : NULL;
    if (o.index.has_instances) {
        o.index.instances = arena_memdup(c->keep, o.index.instances, o.index.instances_size);
    }
    c->key[c->n] = key;
    c->obj[c->n++] = o;
}

/* Writes `text` as item `name` of `coll` for principal `p`; `tag`: a new Schedule-Tag.
 * `like` (may be NULL) is an object prepared on a text of the same index; `prepared` (may be
 * NULL) receives the object prepared here. */
enum calstore_rc deliver_put_copy(const struct calstore_writer *w,
                                  uint64_t p,
                                  const struct store_coll *coll,
                                  const char *name,
                                  struct slice text,
                                  bool tag,
                                  const struct calstore_obj *like,
                                  struct calstore_obj *prepared,
                                  struct calstore_res *res,
                                  struct err *err)
{
    struct calstore_obj obj;
    if (like) {
        obj = *like;
        obj.content = text.ptr;
        obj.size = text.len;
    } else if (calstore_prepare(text, ICS_TYPE, coll->comps, w->arena, &obj, err) != 0) {
        return CALSTORE_INVALID;
    }
    if (prepared) {
        *prepared = obj;
    }
    struct calstore_writer dw = as(w, p);
    struct calstore_res dres;
    enum calstore_rc rc = calstore_put(&dw, coll, name, &obj, &dres, err);
    if (rc == CALSTORE_STORE) {
        res->store_rc = dres.store_rc;
    }
    if (rc == CALSTORE_OK && tag) {
        enum store_rc src = sched_tag_set(w->store, dres.item.id, dres.item.modseq, w->arena, NULL);
        if (src != STORE_OK) {
            return store_failed(res, src);
        }
    }
    return rc;
}

/* The item name of a new copy: the UID when it is a plain URL segment, else a hash of it. */
static const char *copy_name(struct arena *a, const char *uid)
{
    size_t n = uid ? strlen(uid) : 0;
    bool plain = n > 0 && n <= 200 && uid[0] != '.';
    for (size_t i = 0; plain && i < n; i++) {
        char c = uid[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-' || c == '@';
    }
    if (plain) {
        return arena_printf(a, "%s.ics", uid);
    }
    uint8_t h[32];
    char hex[33];
    sec_hash(NULL, 0, uid ? uid : "", n, h);
    sec_hex(h, 16, hex);
    return arena_printf(a, "%s.ics", hex);
}

/* A name for a new copy of `uid` in `coll` that no item there has: copy_name(), else that
 * with a random suffix (an item of the attendee's own may hold the name under another UID,
 * and a delivery must never replace it). */
static enum store_rc free_name(const struct calstore_writer *w,
                               const struct store_coll *coll,
                               const char *uid,
                               const char **out)
{
    const char *name = copy_name(w->arena, uid);
    for (int i = 0; i < 4; i++) {
        struct store_item it;
        enum store_rc rc = store_item_get(w->store, coll->id, name, STORE_ITEM_META, w->arena, &it);
        if (rc == STORE_NOTFOUND) {
            *out = name;
            return STORE_OK;
        }
        if (rc != STORE_OK) {
            return rc;
        }
        uint8_t rnd[8];
        char hex[2 * sizeof(rnd) + 1];
        sec_random(rnd, sizeof(rnd));
        sec_hex(rnd, sizeof(rnd), hex);
        name = arena_printf(w->arena, "sched-%s.ics", hex);
    }
    return STORE_EXISTS; /* four random names taken: not a chance, but never overwrite */
}

static enum calstore_rc deliver_one(const struct calstore_writer *w,
                                    const struct deliver_plan *plan,
                                    const struct sched_msg *m,
                                    uint64_t to,
                                    struct prep_cache *cache,
                                    struct calstore_res *res,
                                    struct err *err)
{
    struct store_principal p;
    enum store_rc rc = store_principal_get_by_id(w->store, to, w->arena, &p);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct store_coll coll;
    struct store_item old;
    bool found;
    rc = deliver_find_copy(w, &p, plan->uid, CAL_COMP_VEVENT, &coll, &old, &found);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct slice existing = {"", 0};
    if (found) {
        struct store_item full;
        rc = store_item_get(w->store, coll.id, old.name, STORE_ITEM_CONTENT, w->arena, &full);
        if (rc != STORE_OK) {
            return store_failed(res, rc);
        }
        existing = (struct slice){full.content, full.size};
        /* the UID is the recipient's own event, or another organizer's meeting: an
         * invitation never replaces it (nor does a cancel delete it) */
        const char *eorg = NULL;
        struct err ignored;
        err_init(&ignored);
        if (sched_organizer(existing, w->arena, &eorg, &ignored) != 0 ||
            !sched_addr_eq(eorg, plan->org_addr)) {
            return CALSTORE_OK;
        }
    }
    enum calstore_rc crc = CALSTORE_OK;
    if (m->method == SCHED_CANCEL) {
        /* RFC 6638 §3.2.8 leaves it to the server: the copy goes (docs/scheduling.md) */
        if (found) {
            struct calstore_writer dw = as(w, to);
            struct calstore_res dres;
            crc = calstore_delete(&dw, &coll, old.name, &dres, err);
            if (crc == CALSTORE_STORE) {
                res->store_rc = dres.store_rc;
            }
        }
    } else {
        struct slice copy;
        if (sched_apply_request(existing, m->ics, m->attendee, w->arena, &copy, err) != 0) {
            return CALSTORE_INVALID;
        }
        const struct calstore_obj *like = NULL;
        struct calstore_obj made;
        for (size_t i = 0; !found && i < cache->n && !like; i++) {
            like = cache->key[i] == m->ics.ptr ? &cache->obj[i] : NULL;
        }
        const char *name = found ? old.name : NULL;
        if (!name) {
            rc = free_name(w, &coll, plan->uid, &name);
            if (rc != STORE_OK) {
                return store_failed(res, rc);
            }
        }
        crc = deliver_put_copy(w, to, &coll, name, copy, true, like, &made, res, err);
        if (crc == CALSTORE_OK && !found && !like) {
            cache_add(cache, m->ics.ptr, &made);
        }
    }
    if (crc != CALSTORE_OK) {
        return crc;
    }
    rc = notice(w, &p, m->method, m->ics);
    return rc == STORE_OK ? CALSTORE_OK : store_failed(res, rc);
}

/* Queues message `m` from `from` to m->attendee (the organizer, for a REPLY) in the iMIP
 * outbox (store.h), in the writer's transaction: the relay gets it from almanacd's sender. */
static enum calstore_rc queue_mail(const struct calstore_writer *w,
                                   const struct deliver_plan *plan,
                                   const char *from,
                                   const struct sched_msg *m,
                                   struct calstore_res *res,
                                   struct err *err)
{
    const char *mail_from = sched_config()->imip_from;
    struct sched_imip_out out = {
        .from = from,
        .to = m->attendee,
        .sender = mail_from,
        .method = m->method,
        .ics = m->ics,
        .about = m->method == SCHED_REPLY ? plan->copy : (struct slice){"", 0},
        .date = time_now(),
    };
    struct slice msg;
    if (sched_imip_build(&out, w->arena, &msg, err) != 0) {
        return CALSTORE_INVALID;
    }
    struct store_imip_in in = {
        .principal = plan->owner,
        .mail_from = mail_from,
        .rcpt_to = sched_imip_mailbox(m->attendee, w->arena),
        .method = sched_method_name(m->method),
        .uid = plan->uid,
        .attendee = m->method == SCHED_REPLY ? NULL : m->attendee,
        .message = msg.ptr,
        .size = msg.len,
        .next_try = time_now(),
    };
    enum store_rc rc = store_imip_enqueue(w->store, &in, NULL);
    return rc == STORE_OK ? CALSTORE_OK : store_failed(res, rc);
}

enum calstore_rc deliver_reply(const struct calstore_writer *w,
                               const struct deliver_plan *plan,
                               struct calstore_res *res,
                               struct err *err)
{
    struct store_principal p;
    enum store_rc rc = store_principal_get_by_id(w->store, plan->organizer, w->arena, &p);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct store_coll coll;
    struct store_item old;
    bool found;
    rc = deliver_find_copy(w, &p, plan->uid, CAL_COMP_VEVENT, &coll, &old, &found);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    if (found) {
        struct store_item full;
        rc = store_item_get(w->store, coll.id, old.name, STORE_ITEM_CONTENT, w->arena, &full);
        if (rc != STORE_OK) {
            return store_failed(res, rc);
        }
        struct slice merged;
        bool changed;
        if (sched_apply_reply((struct slice){full.content, full.size}, plan->reply, plan->self,
                              "2.0", w->arena, &merged, &changed, err) != 0) {
            return CALSTORE_INVALID;
        }
        if (changed) {
            /* RFC 6638 §3.2.10: a reply leaves the organizer's Schedule-Tag alone */
            enum calstore_rc crc = deliver_put_copy(w, plan->organizer, &coll, old.name, merged,
                                                    false, NULL, NULL, res, err);
            if (crc != CALSTORE_OK) {
                return crc;
            }
        }
    }
    rc = notice(w, &p, SCHED_REPLY, plan->reply);
    return rc == STORE_OK ? CALSTORE_OK : store_failed(res, rc);
}

enum calstore_rc deliver_request(const struct calstore_writer *w,
                                 const struct deliver_plan *plan,
                                 const struct sched_msg *m,
                                 uint64_t to,
                                 struct calstore_res *res,
                                 struct err *err)
{
    struct prep_cache *cache = arena_zalloc(w->arena, sizeof(*cache));
    cache->keep = arena_create();
    arena_defer(w->arena, arena_release, cache->keep);
    return deliver_one(w, plan, m, to, cache, res, err);
}

enum calstore_rc deliver_run(const struct calstore_writer *w,
                             const struct deliver_plan *plan,
                             uint64_t item,
                             uint64_t modseq,
                             struct calstore_res *res,
                             struct err *err)
{
    if (plan->role == DELIVER_NONE) {
        return CALSTORE_OK;
    }
    if (plan->tag && item) {
        enum store_rc rc = sched_tag_set(w->store, item, modseq, w->arena, &res->schedule_tag);
        if (rc != STORE_OK) {
            return store_failed(res, rc);
        }
    }
    if (plan->role == DELIVER_ORGANIZER) {
        struct prep_cache *cache = arena_zalloc(w->arena, sizeof(*cache));
        cache->keep = arena_create();
        arena_defer(w->arena, arena_release, cache->keep);
        for (size_t i = 0; i < plan->nmsgs; i++) {
            if (plan->by_mail[i]) {
                struct arena_mark mark = arena_mark(w->arena);
                enum calstore_rc rc = queue_mail(w, plan, plan->org_addr, &plan->msgs[i], res, err);
                arena_rewind(w->arena, mark);
                if (rc != CALSTORE_OK) {
                    return rc;
                }
                continue;
            }
            if (!plan->to[i]) {
                continue;
            }
            /* each delivery's parsed objects and texts go before the next one: memory is
             * O(one copy), not O(attendees x copy) */
            struct arena_mark mark = arena_mark(w->arena);
            enum calstore_rc rc =
                deliver_one(w, plan, &plan->msgs[i], plan->to[i], cache, res, err);
            arena_rewind(w->arena, mark);
            if (rc != CALSTORE_OK) {
                return rc;
            }
        }
        return CALSTORE_OK;
    }
    if (plan->reply.len && plan->organizer) {
        return deliver_reply(w, plan, res, err);
    }
    if (plan->reply.len && plan->org_outside && by_mail(plan->org_addr, w->arena)) {
        /* RFC 6047 §2.3: the REPLY to an organizer outside goes by mail */
        struct sched_msg m = {
            .attendee = plan->org_addr, .method = SCHED_REPLY, .ics = plan->reply};
        return queue_mail(w, plan, plan->self, &m, res, err);
    }
    return CALSTORE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* An attendee's answer (calstore.h) */

enum calstore_rc calstore_respond(const struct calstore_writer *w,
                                  const struct store_coll *coll,
                                  const char *name,
                                  enum calstore_answer answer,
                                  const int64_t *instance,
                                  struct calstore_res *res,
                                  struct err *err)
{
    memset(res, 0, sizeof(*res));
    if (coll->kind != STORE_COLL_CALENDAR) {
        return store_failed(res, STORE_NOTFOUND);
    }
    struct store_item it;
    enum store_rc rc = store_item_get(w->store, coll->id, name, STORE_ITEM_CONTENT, w->arena, &it);
    if (rc != STORE_OK) {
        return store_failed(res, rc);
    }
    struct slice copy = {it.content, it.size};
    struct sched_info info;
    if (sched_info(copy, w->arena, &info, err) != 0) {
        return CALSTORE_INVALID;
    }
    if (!info.organizer) {
        err_set(err, &calstore_cond_not_attendee, "the item is no meeting (no ORGANIZER)");
        return CALSTORE_INVALID;
    }
    uint64_t org = 0;
    rc = sched_addr_resolve(w->store, info.organizer, w->arena, &org, NULL);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        return store_failed(res, rc);
    }
    if (rc == STORE_OK && org == coll->owner) {
        err_set(err, &calstore_cond_not_attendee, "the calendar's owner organizes this meeting");
        return CALSTORE_INVALID;
    }
    const char *self = NULL;
    enum calstore_rc crc = own_address(w, coll->owner, &info, &self, res);
    if (crc != CALSTORE_OK) {
        return crc;
    }
    if (!self) {
        err_set(err, &calstore_cond_not_attendee, "the calendar's owner is no attendee of it");
        return CALSTORE_INVALID;
    }
    if (answer == CALSTORE_DECLINE && !instance) {
        crc = calstore_delete(w, coll, name, res, err);
        res->item.id = 0;
        return crc;
    }
    static const char *const partstat[] = {
        [CALSTORE_ACCEPT] = "ACCEPTED",
        [CALSTORE_TENTATIVE] = "TENTATIVE",
        [CALSTORE_DECLINE] = "DECLINED",
    };
    struct slice after;
    int r = sched_set_partstat(copy, self, partstat[answer], instance, w->arena, &after, err);
    if (r < 0) {
        return CALSTORE_INVALID;
    }
    if (r == SCHED_NOT_RECURRING) {
        err_set(err, &calstore_cond_not_recurring, "an instance of a meeting that does not recur");
        return CALSTORE_INVALID;
    }
    if (r == SCHED_NO_INSTANCE) {
        err_set(err, &calstore_cond_not_attendee, "no such instance of the meeting is theirs");
        return CALSTORE_INVALID;
    }
    struct calstore_obj obj;
    if (calstore_prepare(after, ICS_TYPE, coll->comps, w->arena, &obj, err) != 0) {
        return CALSTORE_INVALID;
    }
    return calstore_put(w, coll, name, &obj, res, err);
}

/* ---------------------------------------------------------------------------------------- */
/* A user's addresses (calstore.h) */

enum {
    MAX_EMAILS = 64, /* addresses of one user considered: an admin gives a few */
};

struct emails {
    struct arena *arena;
    const char **v;
    size_t n;
};

static int add_email(void *ctx, const char *addr)
{
    struct emails *e = ctx;
    if (strncasecmp(addr, "mailto:", 7) == 0 && e->n < MAX_EMAILS) {
        e->v[e->n++] = arena_strdup(e->arena, addr + 7);
    }
    return 0;
}

enum store_rc calstore_user_emails(struct store *s,
                                   uint64_t id,
                                   const char *name,
                                   struct arena *arena,
                                   const char *const **out,
                                   size_t *n)
{
    struct emails e = {arena, arena_zalloc(arena, MAX_EMAILS * sizeof(*e.v)), 0};
    enum store_rc rc = sched_addr_list(s, id, name, arena, add_email, &e);
    *out = e.v;
    *n = rc == STORE_OK ? e.n : 0;
    return rc;
}
