/* server/imip_send.c: the iMIP sender thread (imip_send.h). Each round: the message due
 * first is read in a short read transaction, sent through the relay with libcurl's SMTP
 * (outside any transaction: a slow relay never holds the store's writer gate), and its try
 * recorded in a short write transaction: sent, queued again after a back-off, or failed past
 * imip_max_age with SCHEDULE-STATUS 5.1 put on the organizer's copy (calstore/imip.h).
 * libcurl is Debian's libcurl4-openssl-dev: SMTP, STARTTLS and AUTH without an SMTP client
 * of our own. */
#include "server/imip_send.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "calstore/imip.h"
#include "util/arena.h"
#include "util/log.h"
#include "util/sec.h"
#include "util/timeutil.h"

enum {
    POLL_SECONDS = 1,       /* a new message waits at most this long for the thread */
    ERROR_MAX = 200,        /* bytes of a try's error kept with the message */
    BACKOFF_SHIFT_MAX = 20, /* 2^20 x retry_base is past any retry_max */
};

struct imip_sender {
    struct imip_send_config cfg; /* strings below are the sender's own copies */
    char *host, *user, *password, *from, *cafile;
    struct store_pool *pool;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop; /* under lock */
};

int imip_starttls_parse(const char *s, enum imip_starttls *out)
{
    if (strcmp(s, "required") == 0) {
        *out = IMIP_STARTTLS_REQUIRED;
    } else if (strcmp(s, "optional") == 0) {
        *out = IMIP_STARTTLS_OPTIONAL;
    } else if (strcmp(s, "off") == 0) {
        *out = IMIP_STARTTLS_OFF;
    } else {
        return -1;
    }
    return 0;
}

/* libcurl's upload source: the message bytes. */
struct upload {
    const char *p;
    size_t left;
};

static size_t read_cb(char *buf, size_t size, size_t n, void *ctx)
{
    struct upload *u = ctx;
    size_t k = size * n < u->left ? size * n : u->left;
    memcpy(buf, u->p, k);
    u->p += k;
    u->left -= k;
    return k;
}

static bool stopping(struct imip_sender *s)
{
    pthread_mutex_lock(&s->lock);
    bool stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    return stop;
}

/* libcurl's progress callback: a conversation under way ends when almanacd stops (the
 * message stays queued and goes after the restart), so a slow relay never holds the
 * shutdown for imip_smtp_timeout. */
static int progress_cb(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return stopping(ctx) ? 1 : 0;
}

/* One SMTP conversation: `m` to its recipient. 0, or -1 with `error` (ERROR_MAX bytes) set. */
static int send_one(struct imip_sender *s, const struct store_imip_msg *m, char *error)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(error, ERROR_MAX, "curl_easy_init failed");
        return -1;
    }
    char url[512];
    char from[400], rcpt[400];
    int n1 = snprintf(url, sizeof(url), "smtp://%s:%u", s->host, s->cfg.port);
    int n2 = snprintf(from, sizeof(from), "<%s>", m->mail_from);
    int n3 = snprintf(rcpt, sizeof(rcpt), "<%s>", m->rcpt_to);
    if (n1 < 0 || (size_t)n1 >= sizeof(url) || n2 < 0 || (size_t)n2 >= sizeof(from) || n3 < 0 ||
        (size_t)n3 >= sizeof(rcpt)) {
        snprintf(error, ERROR_MAX, "an address is too long");
        curl_easy_cleanup(c);
        return -1;
    }
    struct curl_slist *to = curl_slist_append(NULL, rcpt);
    struct upload up = {m->message, m->size};
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, to);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->size);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)s->cfg.timeout);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)(s->cfg.timeout < 20 ? s->cfg.timeout : 20));
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp");
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    long tls = s->cfg.starttls == IMIP_STARTTLS_REQUIRED   ? (long)CURLUSESSL_ALL
               : s->cfg.starttls == IMIP_STARTTLS_OPTIONAL ? (long)CURLUSESSL_TRY
                                                           : (long)CURLUSESSL_NONE;
    curl_easy_setopt(c, CURLOPT_USE_SSL, tls);
    if (s->cafile && *s->cafile) {
        curl_easy_setopt(c, CURLOPT_CAINFO, s->cafile);
    }
    if (s->user && *s->user) {
        curl_easy_setopt(c, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, s->password ? s->password : "");
    }
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK) {
        /* the message cut to fit: the code stays readable at its end */
        snprintf(error, ERROR_MAX, "%.160s (smtp %ld)", ebuf[0] ? ebuf : curl_easy_strerror(rc),
                 code);
    }
    curl_slist_free_all(to);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

/* The wait before try number `attempts` + 1: retry_base doubled per try, at most retry_max. */
static int64_t backoff(const struct imip_send_config *c, unsigned attempts)
{
    unsigned shift = attempts < BACKOFF_SHIFT_MAX ? attempts : BACKOFF_SHIFT_MAX;
    uint64_t d = (uint64_t)c->retry_base << shift;
    return (int64_t)(d < c->retry_max ? d : c->retry_max);
}

/* Records the try of `m` (sent when `error` is NULL) in one write transaction; a message
 * given up marks its attendee 5.1 in the organizer's copy in the same transaction. */
static enum store_rc record(const struct imip_sender *s,
                            struct store *st,
                            const struct store_imip_msg *m,
                            const char *error,
                            struct arena *a)
{
    int64_t now = time_now();
    enum store_imip_state state = STORE_IMIP_SENT;
    int64_t next = now;
    if (error) {
        next = now + backoff(&s->cfg, m->attempts);
        bool expired = next - m->created > (int64_t)s->cfg.max_age;
        state = expired ? STORE_IMIP_FAILED : STORE_IMIP_QUEUED;
    }
    enum store_rc rc = store_begin_write(st);
    if (rc != STORE_OK) {
        return rc;
    }
    rc = store_imip_tried(st, m->id, state, now, next, error);
    if (rc == STORE_OK && state == STORE_IMIP_FAILED && m->attendee && m->principal) {
        /* RFC 6638 §3.2.9 / RFC 5546 §3.6: 5.1, could not complete delivery */
        struct calstore_res res;
        struct err e;
        err_init(&e);
        enum calstore_rc crc =
            calstore_imip_status(st, m->principal, m->uid, m->attendee, "5.1", a, &res, &e);
        if (crc == CALSTORE_STORE) {
            rc = res.store_rc;
        } else if (crc != CALSTORE_OK) {
            log_warn("imip status not set id=%llu msg=\"%s\"", (unsigned long long)m->id, e.msg);
        }
    }
    if (rc == STORE_OK) {
        rc = store_commit(st);
    }
    if (rc != STORE_OK) {
        store_rollback(st);
        return rc;
    }
    if (!error) {
        log_info("imip sent id=%llu rcpt=%s method=%s tries=%u", (unsigned long long)m->id,
                 m->rcpt_to, m->method, m->attempts + 1);
    } else if (state == STORE_IMIP_FAILED) {
        log_error("imip failed id=%llu rcpt=%s method=%s tries=%u msg=\"%s\"",
                  (unsigned long long)m->id, m->rcpt_to, m->method, m->attempts + 1, error);
    } else {
        log_warn("imip retry id=%llu rcpt=%s method=%s tries=%u in=%llds msg=\"%s\"",
                 (unsigned long long)m->id, m->rcpt_to, m->method, m->attempts + 1,
                 (long long)(next - now), error);
    }
    return STORE_OK;
}

/* Finds the message due first and claims it (store_imip_claim) for this sender for as long
 * as one conversation may take and a minute more, in one write transaction: on several
 * nodes sharing a PostgreSQL store, each message goes to one node's sender. STORE_NOTFOUND
 * when none is due, or another node's sender claimed it first (its round then goes on). */
static enum store_rc
claim_due(struct imip_sender *s, struct store *st, struct arena *a, struct store_imip_msg *m)
{
    enum store_rc rc = store_begin_write(st);
    if (rc != STORE_OK) {
        return rc;
    }
    int64_t now = time_now();
    rc = store_imip_next_due(st, now, a, m);
    if (rc == STORE_OK) {
        rc = store_imip_claim(st, m->id, now, now + (int64_t)s->cfg.timeout + 60);
    }
    if (rc == STORE_OK) {
        return store_commit(st);
    }
    store_rollback(st);
    return rc;
}

/* Sends the message due first. 1 when one was tried, 0 when none is due, -1 on a store
 * failure (logged; the round ends and the next one tries again). */
static int round_one(struct imip_sender *s)
{
    struct store *st = store_pool_acquire(s->pool);
    if (!st) {
        return -1;
    }
    struct arena *a = arena_create();
    struct store_imip_msg m;
    enum store_rc rc = claim_due(s, st, a, &m);
    int out = rc == STORE_OK ? 1 : rc == STORE_NOTFOUND ? 0 : -1;
    if (rc == STORE_OK) {
        store_pool_release(s->pool, st); /* no connection held while the relay talks */
        char error[ERROR_MAX] = "";
        int sent = send_one(s, &m, error);
        st = store_pool_acquire(s->pool);
        rc = st ? record(s, st, &m, sent == 0 ? NULL : error, a) : STORE_IO;
        out = rc == STORE_OK ? 1 : -1;
    }
    if (rc != STORE_OK && rc != STORE_NOTFOUND) {
        log_error("imip store failed rc=%d msg=\"%s\"", (int)rc, st ? store_last_error(st) : "");
    }
    if (st) {
        store_pool_release(s->pool, st);
    }
    arena_destroy(&a);
    return out;
}

static void *run(void *p)
{
    struct imip_sender *s = p;
    while (!stopping(s)) {
        while (!stopping(s) && round_one(s) == 1) {
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += POLL_SECONDS;
        pthread_mutex_lock(&s->lock);
        if (!s->stop) {
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

static char *dup_or_null(const char *v)
{
    if (!v) {
        return NULL;
    }
    char *d = strdup(v);
    if (!d) {
        abort(); /* STYLE.md §3.3 */
    }
    return d;
}

static void free_sender(struct imip_sender *s)
{
    if (s->password) {
        sec_memzero(s->password, strlen(s->password));
    }
    free(s->host);
    free(s->user);
    free(s->password);
    free(s->from);
    free(s->cafile);
    free(s);
}

int imip_sender_start(const struct imip_send_config *c,
                      struct store_pool *pool,
                      struct imip_sender **out,
                      struct err *err)
{
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return err_set(err, &err_cond_internal, "libcurl failed to initialise");
    }
    struct imip_sender *s = calloc(1, sizeof(*s));
    if (!s) {
        abort();
    }
    s->cfg = *c;
    s->host = dup_or_null(c->host);
    s->user = dup_or_null(c->user);
    s->password = dup_or_null(c->password);
    s->from = dup_or_null(c->from);
    s->cafile = dup_or_null(c->cafile);
    s->pool = pool;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->lock, NULL);
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        pthread_cond_destroy(&s->cond);
        pthread_mutex_destroy(&s->lock);
        free_sender(s);
        curl_global_cleanup();
        return err_set(err, &err_cond_internal, "cannot start the imip sender thread");
    }
    *out = s;
    return 0;
}

void imip_sender_destroy(struct imip_sender **sp)
{
    struct imip_sender *s = *sp;
    if (!s) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free_sender(s);
    curl_global_cleanup();
    *sp = NULL;
}
