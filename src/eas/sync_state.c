/* eas/sync_state.c: the state of a (device, collection) Sync (see cmd_sync.c): the sticky
 * Options and their stored text, the fragments a Collection answer is encoded in (kept as the
 * state's answer for a retransmission) and the store record of the current SyncKey. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "eas/eas_int.h"
#include "eas/sync_int.h"

enum {
    WBXML_HEADER = 4,
};

void sync_opts_default(struct sync_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->conflict = 1;
    o->body.type = 1;
}

int sync_opts_load(const struct store_eas_sync *st, struct sync_opts *o)
{
    sync_opts_default(o);
    if (st->options_len == 0 || st->options_len >= OPTIONS_MAX) {
        return 0;
    }
    char text[OPTIONS_MAX];
    memcpy(text, st->options, st->options_len);
    text[st->options_len] = '\0';
    unsigned long long trunc = 0;
    unsigned keep = 0;
    if (sscanf(text, "f=%u t=%u s=%llu c=%u g=%x", &o->filter, &o->body.type, &trunc, &o->conflict,
               &keep) != 5) {
        sync_opts_default(o);
        return 0;
    }
    o->body.truncation = (size_t)trunc;
    o->keep = keep;
    return 0;
}

static const char *opts_text(struct arena *a, const struct sync_opts *o)
{
    return arena_printf(a, "f=%u t=%u s=%llu c=%u g=%x", o->filter, o->body.type,
                        (unsigned long long)o->body.truncation, o->conflict, (unsigned)o->keep);
}

/* Applies a request's Options element over `o`. Returns 0 or -1 (protocol error). */
int sync_opts_read(const struct eas_node *n, struct sync_opts *o)
{
    uint64_t v;
    const struct eas_node *f = eas_node_child(n, EAS_AS_FILTERTYPE);
    if (f) {
        if (eas_node_uint(f, 8, &v) != 0) {
            return -1;
        }
        o->filter = (unsigned)v;
    }
    const struct eas_node *c = eas_node_child(n, EAS_AS_CONFLICT);
    if (c) {
        if (eas_node_uint(c, 1, &v) != 0) {
            return -1;
        }
        o->conflict = (unsigned)v;
    }
    /* Several BodyPreferences may come; plain text wins when offered, else the first. */
    bool seen = false;
    for (const struct eas_node *b = eas_node_child(n, EAS_ASB_BODYPREFERENCE); b;
         b = eas_node_next(b, EAS_ASB_BODYPREFERENCE)) {
        uint64_t type = 1, trunc = 0;
        if (eas_node_child(b, EAS_ASB_TYPE) &&
            eas_node_uint(eas_node_child(b, EAS_ASB_TYPE), 4, &type) != 0) {
            return -1;
        }
        if (eas_node_child(b, EAS_ASB_TRUNCATIONSIZE) &&
            eas_node_uint(eas_node_child(b, EAS_ASB_TRUNCATIONSIZE), UINT32_MAX, &trunc) != 0) {
            return -1;
        }
        if (!seen || type == 1) {
            o->body.type = type == 2 ? 2 : 1;
            o->body.truncation = (size_t)trunc;
            seen = true;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Fragments: one element encoded on its own, spliced into the answer. A fragment starts on
 * code page 0, so splicing switches the answer to page 0 first. */

static void frag_free(void *p)
{
    struct frag *f = p;
    buf_deinit(&f->buf);
}

struct frag *sync_frag_new(struct eas_req *er)
{
    struct frag *f = arena_zalloc(er->arena, sizeof(*f));
    buf_init(&f->buf, FRAGMENT_MAX);
    arena_defer(er->arena, frag_free, f);
    /* a refusal is sticky: every later call on the fragment fails */
    (void)eas_enc_begin(&f->enc, &f->buf);
    return f;
}

/* The fragment's bytes after the document header, with its final page in front. */
struct slice sync_frag_bytes(struct frag *f)
{
    f->buf.data[WBXML_HEADER - 1] = (char)eas_enc_page(&f->enc);
    return (struct slice){f->buf.data + WBXML_HEADER - 1, f->buf.len - WBXML_HEADER + 1};
}

/* Appends stored fragment bytes (final page first) to the answer. */
int sync_splice(struct eas_wbxml_enc *e, struct slice stored)
{
    if (stored.len < 1) {
        return -1;
    }
    return eas_enc_splice(e, stored.ptr + 1, stored.len - 1, (unsigned char)stored.ptr[0]);
}

bool sync_opts_stored(struct coll_job *j)
{
    const char *opts = opts_text(j->er->arena, &j->opts);
    size_t n = strlen(opts);
    return j->st.options_len == n && (n == 0 || memcmp(j->st.options, opts, n) == 0);
}

int sync_save_state(struct coll_job *j,
                    const char *key,
                    const char *prev,
                    uint64_t cursor,
                    struct slice answer,
                    struct err *err)
{
    struct eas_req *er = j->er;
    const char *opts = opts_text(er->arena, &j->opts);
    struct store_eas_sync st = {
        .device = er->device.id,
        .coll = j->coll.id,
        .key_cur = key,
        .key_prev = prev,
        .cursor = cursor,
        .coll_epoch = j->coll.epoch,
        .options = opts,
        .options_len = strlen(opts),
        .answer = answer.ptr,
        .answer_len = answer.len,
        .updated = (int64_t)time(NULL),
    };
    enum store_rc rc = store_eas_sync_put(er->store, &st);
    return rc == STORE_OK ? 0 : eas_store_err(er, rc, err);
}
