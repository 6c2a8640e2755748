/* eas/cmd_folder.c: FolderSync, FolderCreate, FolderUpdate, FolderDelete (MS-ASCMD 2.2.1.3-5;
 * activesync.md §3.2). The hierarchy is the user's calendars (the first one made is the
 * default calendar, type 8; the others type 13) plus the empty mail, contacts and tasks
 * folders that clients insist on (§3.2.4). Per device the store keeps two snapshots: the one
 * the current hierarchy key stands for and the one before it, so a retransmitted key gets the
 * answer it lost, and any other key gets Status 9. A snapshot is text, one folder a line:
 * "serverid \t type \t displayname". */
#include <string.h>

#include "eas/eas_int.h"
#include "util/parse.h"
#include "util/sec.h"

enum {
    FS_OK = 1,
    FS_SYSTEM_FOLDER = 3,
    FS_NOT_FOUND = 4,
    FS_SERVER_ERROR = 6,
    FS_BAD_KEY = 9,
    FS_MALFORMED = 10,
    TYPE_DEFAULT_CALENDAR = 8,
    TYPE_USER_CALENDAR = 13,
    SNAPSHOT_MAX = 1 << 20, /* bytes of one hierarchy snapshot (thousands of calendars) */
};

static const struct {
    const char *id;
    unsigned type;
    const char *name;
} dummies[] = {
    {"inbox", 2, "Inbox"},     {"drafts", 3, "Drafts"}, {"deleted", 4, "Deleted Items"},
    {"sent", 5, "Sent Items"}, {"outbox", 6, "Outbox"}, {"contacts", 9, "Contacts"},
    {"tasks", 7, "Tasks"},
};

/* The displayname dead property as text (it is stored XML-escaped), or the name when it has
 * none; NULL with *rc_out set when the store failed (the snapshot must not show the device a
 * rename to the internal name over a passing fault). */
static const char *
display_name(struct eas_req *er, const struct store_coll *c, enum store_rc *rc_out)
{
    struct store_prop p;
    enum store_rc rc =
        store_prop_get(er->store, STORE_RES_COLL, c->id, "DAV:", "displayname", er->arena, &p);
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        *rc_out = rc;
        return NULL;
    }
    if (rc == STORE_NOTFOUND || p.value_len == 0) {
        return c->name;
    }

    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};

    char *out = arena_alloc(er->arena, p.value_len + 1);
    size_t o = 0;
    for (size_t i = 0; i < p.value_len;) {
        bool done = false;
        for (size_t k = 0; k < ALM_ARRAY_LEN(ents) && p.value[i] == '&'; k++) {
            size_t n = strlen(ents[k].ent);
            if (i + n <= p.value_len && memcmp(p.value + i, ents[k].ent, n) == 0) {
                out[o++] = ents[k].c;
                i += n;
                done = true;
                break;
            }
        }
        if (!done) {
            char ch = p.value[i++];
            out[o++] = (ch == '\t' || ch == '\n' || ch == '\r') ? ' ' : ch;
        }
    }
    out[o] = '\0';
    return out;
}

/* Stores `name` as the collection's displayname dead property, XML-escaped as PROPPATCH
 * stores it. */
static enum store_rc set_display_name(struct eas_req *er, uint64_t coll, const char *name)
{
    struct buf esc;
    buf_init(&esc, 6 * strlen(name) + 1);
    int bad = 0;
    for (const char *p = name; *p && !bad; p++) {
        bad = *p == '&'   ? buf_append_cstr(&esc, "&amp;")
              : *p == '<' ? buf_append_cstr(&esc, "&lt;")
              : *p == '>' ? buf_append_cstr(&esc, "&gt;")
                          : buf_putc(&esc, *p);
    }
    struct store_prop prop = {"DAV:", "displayname", buf_cstr(&esc), esc.len};
    enum store_rc rc = bad ? STORE_LIMIT : store_prop_set(er->store, STORE_RES_COLL, coll, &prop);
    buf_deinit(&esc);
    return rc;
}

/* The grants a user holds, collected before their display names are read (the store's walk
 * lends its strings for the call only). */
struct grant {
    struct grant *next;
    uint64_t coll;
    const char *name; /* the share's name in the user's home */
};

struct grants {
    struct arena *arena;
    struct grant *first, **last;
};

static int collect_grant(void *ctx, const struct store_share *sh)
{
    struct grants *g = ctx;
    struct grant *n = arena_zalloc(g->arena, sizeof(*n));
    n->coll = sh->coll;
    n->name = arena_strdup(g->arena, sh->name);
    *g->last = n;
    g->last = &n->next;
    return 0;
}

/* The calendars shared with the user (issue 12), appended to the snapshot: each its own
 * user-created calendar folder (type 13) at the top, named by the owner's displayname or,
 * without one, by the share's name. A grant's access is not in the line, so changing it shows
 * the device nothing; a revoked grant's line goes, which the diff sends as a Delete. */
static int shared_now(struct eas_req *er, struct buf *out, struct err *err)
{
    struct grants g = {er->arena, NULL, NULL};
    g.last = &g.first;
    enum store_rc rc = store_share_list_of_sharee(er->store, er->principal.id, collect_grant, &g);
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    int bad = 0;
    for (const struct grant *n = g.first; n; n = n->next) {
        struct store_coll c;
        rc = store_coll_get(er->store, n->coll, er->arena, &c);
        if (rc != STORE_OK) {
            return eas_store_err(er, rc, err); /* a grant's collection exists (cascade) */
        }
        if (c.kind != STORE_COLL_CALENDAR) {
            continue; /* Sync would not take it (eas_calendar_of) */
        }
        c.name = n->name;
        const char *name = display_name(er, &c, &rc);
        if (!name) {
            return eas_store_err(er, rc, err);
        }
        bad |= buf_appendf(out, "c%llu\t%u\t%s\n", (unsigned long long)n->coll, TYPE_USER_CALENDAR,
                           name);
    }
    return bad ? err_set(err, &eas_cond_response_too_large, "hierarchy too large") : 0;
}

/* The hierarchy as it is now, inside the caller's transaction. */
static int snapshot_now(struct eas_req *er, struct buf *out, struct err *err)
{
    struct store_cursor *cur = NULL;
    enum store_rc rc = store_children_open(er->store, er->principal.home_id, &cur);
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    /* The default calendar is the oldest: the smallest collection id. */
    uint64_t first = UINT64_MAX;
    struct store_coll c;
    while ((rc = store_cursor_next_coll(cur, &c)) == STORE_OK) {
        if (c.kind == STORE_COLL_CALENDAR && c.id < first) {
            first = c.id;
        }
    }
    store_cursor_close(&cur);
    if (rc != STORE_NOTFOUND) {
        return eas_store_err(er, rc, err);
    }
    rc = store_children_open(er->store, er->principal.home_id, &cur);
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    int bad = 0;
    while ((rc = store_cursor_next_coll(cur, &c)) == STORE_OK) {
        if (c.kind != STORE_COLL_CALENDAR) {
            continue;
        }
        struct arena_mark m = arena_mark(er->arena);
        const char *name = display_name(er, &c, &rc);
        if (!name) {
            break; /* rc holds the store's failure */
        }
        bad |= buf_appendf(out, "c%llu\t%u\t%s\n", (unsigned long long)c.id,
                           c.id == first ? TYPE_DEFAULT_CALENDAR : TYPE_USER_CALENDAR, name);
        arena_rewind(er->arena, m);
    }
    store_cursor_close(&cur);
    if (rc != STORE_NOTFOUND) {
        return eas_store_err(er, rc, err);
    }
    if (shared_now(er, out, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < ALM_ARRAY_LEN(dummies); i++) {
        bad |= buf_appendf(out, "%s\t%u\t%s\n", dummies[i].id, dummies[i].type, dummies[i].name);
    }
    return bad ? err_set(err, &eas_cond_response_too_large, "hierarchy too large") : 0;
}

struct folder {
    struct slice id, type, name;
};

/* The next line of a snapshot; false at its end. */
static bool next_folder(struct slice *snap, struct folder *f)
{
    if (snap->len == 0) {
        return false;
    }
    const char *nl = memchr(snap->ptr, '\n', snap->len);
    size_t len = nl ? (size_t)(nl - snap->ptr) : snap->len;
    struct slice line = {snap->ptr, len};
    snap->ptr += len + (nl ? 1 : 0);
    snap->len -= len + (nl ? 1 : 0);
    const char *t1 = memchr(line.ptr, '\t', line.len);
    const char *t2 = t1 ? memchr(t1 + 1, '\t', line.len - (size_t)(t1 + 1 - line.ptr)) : NULL;
    if (!t2) {
        return next_folder(snap, f);
    }
    f->id = (struct slice){line.ptr, (size_t)(t1 - line.ptr)};
    f->type = (struct slice){t1 + 1, (size_t)(t2 - t1 - 1)};
    f->name = (struct slice){t2 + 1, line.len - (size_t)(t2 + 1 - line.ptr)};
    return true;
}

static bool find_folder(struct slice snap, struct slice id, struct folder *out)
{
    struct folder f;
    while (next_folder(&snap, &f)) {
        if (slice_eq(f.id, id)) {
            *out = f;
            return true;
        }
    }
    return false;
}

/* Writes Add/Update/Delete from `from` to `to`; counts them in *n (when `e` is NULL only
 * counts). */
static int write_diff(struct eas_wbxml_enc *e, struct slice from, struct slice to, unsigned *n)
{
    int rc = 0;
    struct folder f, g;
    struct slice s = to;
    while (next_folder(&s, &f)) {
        bool had = find_folder(from, f.id, &g);
        if (had && slice_eq(f.type, g.type) && slice_eq(f.name, g.name)) {
            continue;
        }
        (*n)++;
        if (e) {
            rc |= eas_enc_start(e, had ? EAS_FH_UPDATE : EAS_FH_ADD);
            rc |= eas_enc_text(e, EAS_FH_SERVERID, f.id.ptr, f.id.len);
            rc |= eas_enc_cstr(e, EAS_FH_PARENTID, "0");
            rc |= eas_enc_text(e, EAS_FH_DISPLAYNAME, f.name.ptr, f.name.len);
            rc |= eas_enc_text(e, EAS_FH_TYPE, f.type.ptr, f.type.len);
            rc |= eas_enc_end(e);
        }
    }
    s = from;
    while (next_folder(&s, &f)) {
        if (!find_folder(to, f.id, &g)) {
            (*n)++;
            if (e) {
                rc |= eas_enc_start(e, EAS_FH_DELETE);
                rc |= eas_enc_text(e, EAS_FH_SERVERID, f.id.ptr, f.id.len);
                rc |= eas_enc_end(e);
            }
        }
    }
    return rc;
}

/* A stored state: "key\n" then the snapshot. */
struct hier {
    const char *key; /* NULL when absent */
    struct slice snap;
};

static int load_hier(struct eas_req *er, const char *name, struct hier *h, struct err *err)
{
    const void *p;
    size_t n;
    h->key = NULL;
    h->snap = (struct slice){"", 0};
    enum store_rc rc = store_eas_blob_get(er->store, er->device.id, name, er->arena, &p, &n);
    if (rc == STORE_NOTFOUND) {
        return 0;
    }
    if (rc != STORE_OK) {
        return eas_store_err(er, rc, err);
    }
    const char *nl = memchr(p, '\n', n);
    if (!nl) {
        return 0;
    }
    h->key = arena_strndup(er->arena, p, (size_t)(nl - (const char *)p));
    h->snap = (struct slice){nl + 1, n - (size_t)(nl + 1 - (const char *)p)};
    return 0;
}

static int
save_hier(struct eas_req *er, const char *name, const char *key, struct slice snap, struct err *err)
{
    struct buf b;
    buf_init(&b, SNAPSHOT_MAX + EAS_KEY_MAX + 2);
    int bad = buf_appendf(&b, "%s\n", key) | buf_append_slice(&b, snap);
    enum store_rc rc =
        bad ? STORE_LIMIT : store_eas_blob_put(er->store, er->device.id, name, b.data, b.len);
    buf_deinit(&b);
    return rc == STORE_OK ? 0 : eas_store_err(er, rc, err);
}

/* Moves the hierarchy state on to `snap` under a new key (returned); cur becomes prev. */
static const char *
advance(struct eas_req *er, const struct hier *cur, struct slice snap, struct err *err)
{
    const char *key = cur->key ? eas_key_next(er->arena, cur->key) : eas_key_first(er->arena);
    if (cur->key && save_hier(er, "hier.prev", cur->key, cur->snap, err) != 0) {
        return NULL;
    }
    if (!cur->key && store_eas_blob_del(er->store, er->device.id, "hier.prev") != STORE_OK) {
        eas_store_err(er, STORE_IO, err);
        return NULL;
    }
    if (save_hier(er, "hier.cur", key, snap, err) != 0) {
        return NULL;
    }
    return key;
}

/* The hierarchy is flat (ParentId 0 everywhere): a calendar is made in, or stays in, the
 * user's home whatever the ParentId of FolderCreate or FolderUpdate. But a ParentId naming a
 * calendar shared with the user is refused, for nothing may be made or put there but by its
 * owner (CALSTORE_OP_COLL_CREATE): Status 3, "the parent folder is a special system folder"
 * (docs/errors.md). A parent that is unknown, or a stranger's, is ignored alike. Returns 1
 * for a shared parent, 0 otherwise, -1 when the store failed. */
static int shared_parent(struct eas_req *er, struct err *err)
{
    const char *parent = eas_node_text(eas_node_child(er->root, EAS_FH_PARENTID), NULL);
    if (!parent || strcmp(parent, "0") == 0) {
        return 0;
    }
    struct store_coll pc;
    enum calstore_access access;
    int found = eas_calendar_access(er, parent, &pc, &access, err);
    if (found < 0) {
        return -1;
    }
    return found == 0 && !calstore_access_allows(access, CALSTORE_OP_COLL_CREATE) ? 1 : 0;
}

static int answer_status(
    struct eas_req *er, unsigned root, unsigned status_tag, unsigned status, struct err *err)
{
    if (eas_out_begin(er, err) != 0) {
        return -1;
    }
    int rc = eas_enc_start(&er->enc, root) | eas_enc_uint(&er->enc, status_tag, status) |
             eas_enc_end(&er->enc);
    return rc ? eas_out_err(err) : eas_send(er, err);
}

/* What a FolderSync answers: the diff from..to under answer_key, or a status. */
struct fs_answer {
    struct slice from, to;
    const char *answer_key;
    unsigned status;
};

/* One pass over the hierarchy state, in a read transaction (`write` false) or a write one.
 * Returns 0 with `out` filled (the transaction ended), 1 when the read pass found that the
 * state must move on (a new key: the caller runs the write pass), -1 with `err` set. */
static int foldersync_pass(struct eas_req *er,
                           const char *key,
                           bool write,
                           struct buf *now,
                           struct fs_answer *out,
                           struct err *err)
{
    if ((write ? eas_begin_write(er, err) : eas_begin_read(er, err)) != 0) {
        return -1;
    }
    buf_reset(now);
    struct hier cur, prev;
    int rc = snapshot_now(er, now, err) | load_hier(er, "hier.cur", &cur, err) |
             load_hier(er, "hier.prev", &prev, err);
    struct slice snow = buf_slice(now);
    out->answer_key = NULL;
    out->status = FS_OK;
    if (rc == 0) {
        unsigned n = 0;
        if (cur.key && strcmp(key, cur.key) == 0) {
            write_diff(NULL, cur.snap, snow, &n);
        }
        if (!write && (strcmp(key, "0") == 0 || n > 0)) {
            store_rollback(er->store);
            return 1;
        }
        if (strcmp(key, "0") == 0) {
            struct hier none = {NULL, {"", 0}};
            out->from = none.snap;
            out->to = snow;
            out->answer_key = advance(er, &none, snow, err);
        } else if (cur.key && strcmp(key, cur.key) == 0) {
            out->from = cur.snap;
            out->to = snow;
            out->answer_key = n == 0 ? cur.key : advance(er, &cur, snow, err);
        } else if (prev.key && strcmp(key, prev.key) == 0) {
            out->from = prev.snap; /* the device lost our last answer: the same again */
            out->to = cur.snap;
            out->answer_key = cur.key;
        } else {
            out->status = FS_BAD_KEY;
        }
        if (out->status == FS_OK && !out->answer_key) {
            rc = -1;
        }
    }
    if (rc != 0 || (write ? eas_commit(er, err) : 0) != 0) {
        store_rollback(er->store);
        return -1;
    }
    store_rollback(er->store); /* ends the read pass; nothing after a commit */
    return 0;
}

/* FolderSync (MS-ASCMD 2.2.1.5). A request whose key is current with nothing changed, or a
 * retransmission, is answered from a read transaction alone (issue 16: no durable write for
 * a request that changes nothing); only a new key takes the write pass. */
int eas_cmd_foldersync(struct eas_req *er, struct err *err)
{
    const char *key = eas_node_text(eas_node_child(er->root, EAS_FH_SYNCKEY), NULL);
    if (!key || strlen(key) > EAS_KEY_MAX) {
        return answer_status(er, EAS_FH_FOLDERSYNC, EAS_FH_STATUS, FS_MALFORMED, err);
    }
    struct buf now;
    buf_init(&now, SNAPSHOT_MAX);
    struct fs_answer a;
    int rc = foldersync_pass(er, key, false, &now, &a, err);
    if (rc == 1) {
        rc = foldersync_pass(er, key, true, &now, &a, err);
    }
    if (rc != 0) {
        buf_deinit(&now);
        return -1;
    }
    if (a.status != FS_OK) {
        buf_deinit(&now);
        return answer_status(er, EAS_FH_FOLDERSYNC, EAS_FH_STATUS, a.status, err);
    }
    struct slice from = a.from, to = a.to;
    const char *answer_key = a.answer_key;
    struct eas_wbxml_enc *e = &er->enc;
    unsigned n = 0;
    write_diff(NULL, from, to, &n);
    int bad = eas_out_begin(er, err);
    bad |= eas_enc_start(e, EAS_FH_FOLDERSYNC);
    bad |= eas_enc_uint(e, EAS_FH_STATUS, FS_OK);
    bad |= eas_enc_cstr(e, EAS_FH_SYNCKEY, answer_key);
    bad |= eas_enc_start(e, EAS_FH_CHANGES);
    bad |= eas_enc_uint(e, EAS_FH_COUNT, n);
    n = 0;
    bad |= write_diff(e, from, to, &n);
    bad |= eas_enc_end(e) | eas_enc_end(e);
    buf_deinit(&now);
    return bad ? eas_out_err(err) : eas_send(er, err);
}

/* FolderCreate: a calendar (type 13) becomes a calendar collection in the user's home named
 * after a random id, with the DisplayName as its displayname; other types are system-only. */
int eas_cmd_foldercreate(struct eas_req *er, struct err *err)
{
    const char *key = eas_node_text(eas_node_child(er->root, EAS_FH_SYNCKEY), NULL);
    const char *name = eas_node_text(eas_node_child(er->root, EAS_FH_DISPLAYNAME), NULL);
    uint64_t type = 0;
    /* the name is kept as text (a displayname): bytes that are not UTF-8 are malformed */
    if (!key || !name || !*name || !parse_utf8_ok(slice_from_cstr(name)) ||
        eas_node_uint(eas_node_child(er->root, EAS_FH_TYPE), 99, &type) != 0) {
        return answer_status(er, EAS_FH_FOLDERCREATE, EAS_FH_STATUS, FS_MALFORMED, err);
    }
    if (type != TYPE_USER_CALENDAR) {
        return answer_status(er, EAS_FH_FOLDERCREATE, EAS_FH_STATUS, FS_SYSTEM_FOLDER, err);
    }
    if (eas_begin_write(er, err) != 0) {
        return -1;
    }
    struct hier cur;
    if (load_hier(er, "hier.cur", &cur, err) != 0) {
        store_rollback(er->store);
        return -1;
    }
    if (!cur.key || strcmp(cur.key, key) != 0) {
        store_rollback(er->store);
        return answer_status(er, EAS_FH_FOLDERCREATE, EAS_FH_STATUS, FS_BAD_KEY, err);
    }
    int parent = shared_parent(er, err);
    if (parent != 0) {
        store_rollback(er->store);
        return parent < 0
                   ? -1
                   : answer_status(er, EAS_FH_FOLDERCREATE, EAS_FH_STATUS, FS_SYSTEM_FOLDER, err);
    }
    uint8_t rnd[8];
    char hex[17];
    sec_random(rnd, sizeof(rnd));
    sec_hex(rnd, sizeof(rnd), hex);
    struct store_coll c;
    enum store_rc src =
        store_coll_create(er->store, er->principal.home_id, arena_printf(er->arena, "eas-%s", hex),
                          STORE_COLL_CALENDAR, er->arena, &c);
    int bad = 0;
    if (src == STORE_OK) {
        src = set_display_name(er, c.id, name);
    }
    struct buf now;
    buf_init(&now, SNAPSHOT_MAX);
    const char *new_key = NULL;
    if (src == STORE_OK && !bad && snapshot_now(er, &now, err) == 0) {
        new_key = advance(er, &cur, buf_slice(&now), err);
    }
    buf_deinit(&now);
    if (src != STORE_OK || bad || !new_key || eas_commit(er, err) != 0) {
        store_rollback(er->store);
        if (src != STORE_OK) {
            return answer_status(er, EAS_FH_FOLDERCREATE, EAS_FH_STATUS, FS_SERVER_ERROR, err);
        }
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int rc = eas_out_begin(er, err);
    rc |= eas_enc_start(e, EAS_FH_FOLDERCREATE);
    rc |= eas_enc_uint(e, EAS_FH_STATUS, FS_OK);
    rc |= eas_enc_cstr(e, EAS_FH_SYNCKEY, new_key);
    rc |= eas_enc_cstr(e, EAS_FH_SERVERID, eas_folder_id(er->arena, c.id));
    rc |= eas_enc_end(e);
    return rc ? eas_out_err(err) : eas_send(er, err);
}

/* FolderDelete and FolderUpdate of a calendar: delete it, or rename it (displayname). */
int eas_cmd_folderchange(struct eas_req *er, struct err *err)
{
    /* The command, not the body, names the answer: an empty body has no root (er->root NULL)
     * and is answered Status 10 like any other without a SyncKey. */
    unsigned root = er->cmd->root;
    bool del = root == EAS_FH_FOLDERDELETE;
    const char *key = eas_node_text(eas_node_child(er->root, EAS_FH_SYNCKEY), NULL);
    const char *id = eas_node_text(eas_node_child(er->root, EAS_FH_SERVERID), NULL);
    const char *name = eas_node_text(eas_node_child(er->root, EAS_FH_DISPLAYNAME), NULL);
    if (!key || !id || (!del && (!name || !*name || !parse_utf8_ok(slice_from_cstr(name))))) {
        return answer_status(er, root, EAS_FH_STATUS, FS_MALFORMED, err);
    }
    if (eas_dummy_folder(id)) {
        return answer_status(er, root, EAS_FH_STATUS, FS_SYSTEM_FOLDER, err);
    }
    if (eas_begin_write(er, err) != 0) {
        return -1;
    }
    struct hier cur;
    struct store_coll c;
    if (load_hier(er, "hier.cur", &cur, err) != 0) {
        store_rollback(er->store);
        return -1;
    }
    unsigned status = FS_OK;
    int found = 0;
    enum calstore_access access = CALSTORE_ACCESS_NONE;
    if (!cur.key || strcmp(cur.key, key) != 0) {
        status = FS_BAD_KEY;
    } else if ((found = eas_calendar_access(er, id, &c, &access, err)) < 0) {
        store_rollback(er->store);
        return -1;
    } else if (found > 0) {
        status = FS_NOT_FOUND;
    } else if (!calstore_access_allows(access, CALSTORE_OP_COLL_DELETE) ||
               !calstore_access_allows(access, CALSTORE_OP_COLL_PROPS)) {
        /* A calendar shared with the user: its existence and name are its owner's
         * (calstore_access). MS-ASCMD has no access-denied status for FolderDelete or
         * FolderUpdate; 3 ("a special folder the client cannot delete / update") is the one
         * that says it and that a device does not retry (docs/errors.md). */
        status = FS_SYSTEM_FOLDER;
    } else if (!del && (found = shared_parent(er, err)) != 0) {
        if (found < 0) {
            store_rollback(er->store);
            return -1;
        }
        status = FS_SYSTEM_FOLDER; /* an own calendar moved into a shared one */
    }
    if (status != FS_OK) {
        store_rollback(er->store);
        return answer_status(er, root, EAS_FH_STATUS, status, err);
    }
    enum store_rc src = STORE_OK;
    if (del) {
        /* its meetings schedule as their own deletes would (calstore_coll_delete) */
        struct calstore_writer w = {
            .store = er->store, .arena = er->arena, .principal = er->principal.id};
        struct calstore_res res;
        struct err ce;
        err_init(&ce);
        enum calstore_rc crc = calstore_coll_delete(&w, &c, &res, &ce);
        if (crc == CALSTORE_STORE) {
            src = res.store_rc;
        } else if (crc != CALSTORE_OK) {
            /* more meetings than calstore_coll_delete takes (or one no longer valid): 3, as
             * for a folder the device cannot delete, which it does not retry (errors.md) */
            store_rollback(er->store);
            return answer_status(er, root, EAS_FH_STATUS, FS_SYSTEM_FOLDER, err);
        }
    } else {
        src = set_display_name(er, c.id, name);
        if (src == STORE_OK) {
            src = store_coll_touch(er->store, c.id, NULL);
        }
    }
    struct buf now;
    buf_init(&now, SNAPSHOT_MAX);
    const char *new_key = NULL;
    if (src == STORE_OK && snapshot_now(er, &now, err) == 0) {
        new_key = advance(er, &cur, buf_slice(&now), err);
    }
    buf_deinit(&now);
    if (src != STORE_OK || !new_key || eas_commit(er, err) != 0) {
        store_rollback(er->store);
        if (src != STORE_OK) {
            return answer_status(er, root, EAS_FH_STATUS, FS_SERVER_ERROR, err);
        }
        return -1;
    }
    struct eas_wbxml_enc *e = &er->enc;
    int rc = eas_out_begin(er, err);
    rc |= eas_enc_start(e, root);
    rc |= eas_enc_uint(e, EAS_FH_STATUS, FS_OK);
    rc |= eas_enc_cstr(e, EAS_FH_SYNCKEY, new_key);
    rc |= eas_enc_end(e);
    return rc ? eas_out_err(err) : eas_send(er, err);
}
