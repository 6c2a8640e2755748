/* server/config.c: the one table of configuration keys (after Redis's static_configs[]):
 * name, type, field, default, bounds and a one-line doc. The file parser, config_set, the
 * --print-config output and docs/config.md all come from it, so a key cannot exist in one
 * and be missing from another. Never reads anything but the file it is given, and never
 * logs: errors go back to the caller in `struct err`. */
#include "server/config.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "util/log.h"
#include "util/parse.h"

enum {
    LINE_MAX_BYTES = 1024, /* one line of a config file; a string value is at most 511 */
    KIB = 1024,
};

enum key_type {
    KEY_STR,   /* a string of min..max bytes, no control characters and no '#' */
    KEY_LEVEL, /* a log level name, stored as a string */
    KEY_UINT,  /* unsigned, decimal */
    KEY_BOOL,  /* unsigned 0 or 1, written true/false (also yes/no, on/off, 1/0) */
    KEY_COUNT, /* size_t, decimal (a number of things, so no byte suffixes) */
    KEY_SIZE,  /* size_t bytes, decimal with an optional binary suffix K, M or G */
};

struct key {
    const char *name;
    enum key_type type;
    size_t offset;      /* of the field in struct config */
    size_t size;        /* of the field: a string's capacity, or sizeof(unsigned/size_t) */
    const char *dflt;   /* in the syntax of the file */
    uint64_t min;       /* inclusive; for strings, bytes */
    uint64_t max;       /* inclusive; for strings, bytes (capacity - 1) */
    const char *doc;    /* one line: what it bounds, and what a client sees past it */
    const char *reject; /* strings: bytes the value may not hold, besides control bytes */
};

#define FIELD_SIZE(f) sizeof(((struct config *)0)->f)
#define FIELD(f)      .name = #f, .offset = offsetof(struct config, f), .size = FIELD_SIZE(f)
#define STR_KEY(f, d, doc_)                                                               \
  {                                                                                       \
    FIELD(f), .type = KEY_STR, .dflt = d, .min = 1, .max = FIELD_SIZE(f) - 1, .doc = doc_ \
  }
/* A string that may be empty (an optional feature, off when ""). */
#define OPT_STR_KEY(f, d, doc_)                                                           \
  {                                                                                       \
    FIELD(f), .type = KEY_STR, .dflt = d, .min = 0, .max = FIELD_SIZE(f) - 1, .doc = doc_ \
  }
#define NUM_KEY(t, f, d, lo, hi, doc_)                                    \
  {                                                                       \
    FIELD(f), .type = t, .dflt = d, .min = (lo), .max = (hi), .doc = doc_ \
  }

static const struct key keys[] = {
    /* [server] */
    OPT_STR_KEY(listen,
                "127.0.0.1:8008",
                "address and port to serve plain HTTP on (ADDR:PORT, [V6]:PORT; port 0 picks a "
                "free one; empty: no plain HTTP, tls_listen then required)"),
    /* [tls] (docs/deploy.md) */
    OPT_STR_KEY(tls_listen,
                "",
                "address and port to serve HTTPS on, beside listen (TLS 1.2 and 1.3 only; "
                "needs tls_cert and tls_key; empty: no HTTPS)"),
    OPT_STR_KEY(tls_cert,
                "",
                "PEM file of the server certificate followed by its intermediates; re-read on "
                "SIGHUP (new connections get the new one, open ones keep theirs)"),
    OPT_STR_KEY(tls_key,
                "",
                "PEM file of tls_cert's private key (unencrypted; readable by almanacd only); "
                "re-read on SIGHUP"),
    OPT_STR_KEY(trusted_proxies,
                "",
                "reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs, comma "
                "or space separated); from anyone else the header is ignored. The client "
                "address is then the right-most untrusted hop, for the log, the failed-login "
                "throttle and metrics_allow"),
    /* [monitoring] */
    OPT_STR_KEY(metrics_allow,
                "127.0.0.1 ::1",
                "client addresses or CIDRs that may read /metrics (403 for others); empty: any "
                "address, if metrics_token is set; both empty: /metrics is off (404)"),
    {FIELD(metrics_token), .type = KEY_STR, .dflt = "", .min = 0,
     .max = FIELD_SIZE(metrics_token) - 1,
     .doc = "when set, /metrics also needs `Authorization: Bearer TOKEN` (403 without)",
     .reject = " \"\\"},
    STR_KEY(data_dir,
            "./data",
            "directory of the SQLite store (almanac.db); almanacd refuses to start without one "
            "(`almanac init` makes it)"),
    OPT_STR_KEY(
        store,
        "",
        "where the store is: sqlite:DIR (the SQLite store in DIR) or a libpq URI "
        "postgresql://USER@HOST:PORT/DB (password from the URI, PGPASSFILE or the "
        "environment; the database must exist, almanacd makes or migrates its schema at "
        "start); empty: sqlite:data_dir. Set, it overrides data_dir; --print-config shows a "
        "password in the URI as ***"),
    /* No statement of a request needs more than a fraction of a second (cursors fetch in
     * pages); 30 s only stops one stuck behind a lock another session holds. */
    NUM_KEY(KEY_UINT,
            store_statement_timeout,
            "30",
            0,
            3600,
            "seconds a PostgreSQL statement may run, a lock wait included, before the server "
            "cancels it and the request is answered 503 store-busy (with Retry-After); 0: no "
            "limit. The SQLite store ignores it"),
    /* A durable write holds its worker while it waits for the group commit's fsync, so the
     * workers bound how many commits share one flush: 16 took durable PUTs from about 4,700 to
     * 5,400 a second on 2 cores, for about 1.5 KB more a waiting Ping (BENCHMARKS.md, issue
     * 16). Password checks (argon2id, 19 MiB each) are bounded on their own (util/sec.h). */
    NUM_KEY(KEY_UINT,
            workers,
            "16",
            1,
            256,
            "HTTP worker threads (libmicrohttpd thread pool with epoll)"),
    {FIELD(log_level), .type = KEY_LEVEL, .dflt = "info",
     .doc = "error, warn, info (one line per request) or debug"},
    /* Sent inside a quoted-string (RFC 7617 §2), which a quote or backslash would end early. */
    {FIELD(realm), .type = KEY_STR, .dflt = "Almanac", .min = 1, .max = FIELD_SIZE(realm) - 1,
     .doc = "realm of the Basic authentication challenge (no quote or backslash)",
     .reject = "\"\\"},
    /* [limits] */
    NUM_KEY(
        KEY_UINT,
        max_connections,
        "1024",
        1,
        65536,
        "connections served at once; more wait in the listen queue, and while fewer than max_connections/64 are free the longest idle keep-alive connections are closed to make room, then (none idle left) the slowest ones still receiving request headers (408 header-timeout)"),
    /* One NAT or proxy may carry a whole office, so the per-address cap stays generous. */
    NUM_KEY(KEY_UINT, per_ip_connections, "256", 1, 65536, "connections from one client address"),
    NUM_KEY(KEY_UINT,
            idle_timeout,
            "120",
            1,
            86400,
            "seconds a connection may stay silent before it is closed"),
    /* nginx's client_header_timeout is 60 s, Apache's mod_reqtimeout 20-40 s: real headers
     * take a round trip or two, so 30 s only ever cuts off a client that trickles them. */
    NUM_KEY(
        KEY_UINT,
        header_timeout,
        "30",
        1,
        3600,
        "seconds from the first byte of a request to the end of its headers (later: 408 header-timeout, connection closed; sooner when the server is out of connections, see max_connections)"),
    /* Apache's mod_reqtimeout default (MinRate=500): a phone on a poor link sends thousands
     * of bytes a second, a client that trickles sends a few. */
    NUM_KEY(
        KEY_UINT,
        min_body_rate,
        "500",
        0,
        1 << 30,
        "bytes/s a request body must average over each body_rate_window (slower: 408 body-too-slow, connection closed); 0 = unchecked"),
    /* Long enough for TCP's slow start and a radio waking up, short enough that a stalled
     * upload frees its connection within the minute. */
    NUM_KEY(
        KEY_UINT,
        body_rate_window,
        "20",
        1,
        3600,
        "seconds over which min_body_rate is averaged; the first window is a grace, and a body silent this long is answered 408"),
    /* The watchdog in server/main.c ends the process 1 s after the grace even when a worker
     * never returns, so a stop takes at most shutdown_grace + 1 seconds. */
    NUM_KEY(
        KEY_UINT,
        shutdown_grace,
        "10",
        0,
        3600,
        "seconds SIGTERM waits for in-flight requests; 1 s later the process exits even if a worker is still busy (its uncommitted write is rolled back)"),
    /* 32 KiB holds any real client's headers with room for long Destination/If headers. */
    NUM_KEY(
        KEY_SIZE,
        max_header_bytes,
        "32K",
        4 * KIB,
        1 << 20,
        "bytes of request line and headers per connection (larger: refused by libmicrohttpd); each connection's memory pool is this in whole 4 KiB pages plus one, mapped on its own pages past 32 KiB"),
    NUM_KEY(KEY_SIZE,
            max_path_bytes,
            "4K",
            256,
            64 * KIB,
            "bytes of a request target (larger: 414 path-too-long)"),
    /* A resourcetag is 91 bytes; inside <R:resourcetag> with its line about 125, so the
     * 1,000,000 tags of DESIGN.md take ~125 MB and 512 MiB leaves four times that. */
    NUM_KEY(
        KEY_SIZE,
        xml_max_body,
        "512M",
        KIB,
        (uint64_t)4 << 30,
        "bytes of one XML request body; 1,000,000 resourcetags fit (larger: 413 xml-body-too-large)"),
    /* The deepest real body (a calendar-query filter) nests about 10 elements. */
    NUM_KEY(KEY_UINT,
            xml_max_depth,
            "64",
            8,
            1024,
            "element nesting of an XML body (deeper: 413 xml-too-deep)"),
    /* 1,000,000 tags are about 1,000,000 elements; four times that, as for the body. */
    NUM_KEY(KEY_COUNT,
            xml_max_elements,
            "4000000",
            16,
            100000000,
            "elements in one XML body (more: 413 xml-too-many-elements)"),
    NUM_KEY(KEY_SIZE,
            xml_max_text,
            "1M",
            KIB,
            1 << 30,
            "bytes of character data in one XML element (more: 413 xml-text-too-long)"),
    /* A year of a busy recurring meeting with overrides stays far below 10 MiB. */
    NUM_KEY(KEY_SIZE,
            max_resource_size,
            "10M",
            KIB,
            1 << 30,
            "bytes of one PUT body (more: 413 max-resource-size)"),
    /* A calendar file uploaded on the web page is held in memory while it is imported; 64 MiB
     * is a decade of a busy calendar (about 200,000 events of 300 bytes). */
    NUM_KEY(KEY_SIZE,
            max_import_size,
            "64M",
            KIB,
            (uint64_t)1 << 30,
            "bytes of one calendar file uploaded on the web page (more: 413 import-too-large)"),
    NUM_KEY(KEY_COUNT,
            max_dead_props,
            "256",
            1,
            100000,
            "dead properties per resource (more: 507 in PROPPATCH)"),
    /* Clients multiget what a sync told them changed, a page at a time (DAVx5 sends 10-100,
     * iOS up to a few thousand); 100,000 covers re-fetching a whole large calendar at once,
     * about 6 MB of hrefs, while 1,000,000 (45 MB, seconds of a worker) is refused. */
    NUM_KEY(KEY_COUNT,
            max_multiget_hrefs,
            "100000",
            1,
            10000000,
            "DAV:href elements in one calendar-multiget, duplicates included (more: 413 "
            "too-many-hrefs)"),
    NUM_KEY(KEY_UINT,
            auth_cache_ttl,
            "300",
            0,
            86400,
            "seconds a verified credential is remembered (0: argon2id on every request); a "
            "password change or a deleted user takes effect at once all the same"),
    /* Failed logins (http/auth_throttle.h, README "Failed logins"). A quarter of an hour is
     * fail2ban's default findtime; ten failures leave room for a client still holding an old
     * password and a user who mistypes, and a wait of at most five minutes is what a client
     * honouring Retry-After can stand. */
    NUM_KEY(KEY_UINT,
            auth_fail_window,
            "900",
            0,
            86400,
            "seconds a failed login is remembered after the last one, per client address and "
            "per user name (0: failed logins are only logged, never slowed)"),
    NUM_KEY(KEY_UINT,
            auth_fail_addr_limit,
            "10",
            1,
            1000000,
            "failed logins from one address within auth_fail_window before its attempts wait: "
            "429 auth-throttled with Retry-After, 1 s doubling per further failure"),
    /* Lower than the address limit: it only ever delays addresses that failed too. */
    NUM_KEY(KEY_UINT,
            auth_fail_user_limit,
            "5",
            1,
            1000000,
            "failed logins for one user name within auth_fail_window before attempts for it "
            "from addresses that failed too wait (429 auth-throttled); an address without "
            "failures is never delayed, so nobody can lock a user out"),
    NUM_KEY(KEY_UINT,
            auth_fail_max_delay,
            "300",
            1,
            86400,
            "seconds: the longest wait (Retry-After) after failed logins"),
    /* Generous: a legitimate call computes for milliseconds (a recurrence is bounded per
     * object); this catches what the per-object bounds do not foresee. */
    NUM_KEY(KEY_UINT,
            request_time_budget,
            "60",
            0,
            86400,
            "seconds one step of a request (its headers, a body chunk, building the answer, one "
            "chunk of a streamed answer) may compute; past it: 503 request-time-budget, or a "
            "streamed answer cut off, and a log line (0: unbounded)"),
    /* An Outlook zone (yearly from 1601, two observances) makes ~16,800 changes to 9999. */
    NUM_KEY(KEY_COUNT,
            max_tz_transitions,
            "30000",
            100,
            10000000,
            "UTC offset changes one VTIMEZONE may make up to the year 9999 (more: 403 "
            "valid-calendar-data; a stored one is read without the zone)"),
    /* [history] */
    NUM_KEY(KEY_UINT,
            tombstone_max_age,
            "7776000",
            0,
            UINT32_MAX,
            "seconds a delete stays in the change log (90 days; 0: forever). Sync state older "
            "than the oldest kept delete starts over: 403 valid-sync-token, 475 history-pruned, "
            "ActiveSync Status 3"),
    NUM_KEY(KEY_UINT,
            prune_interval,
            "3600",
            1,
            86400 * 7,
            "seconds between almanacd's tombstone pruning runs (the first runs at start-up)"),
    /* [activesync] */
    NUM_KEY(KEY_BOOL,
            eas_protocol_16,
            "false",
            0,
            1,
            "true: ActiveSync OPTIONS also offers protocol 16.0 and 16.1 (else 12.1, 14.0, 14.1)"),
    NUM_KEY(KEY_BOOL,
            eas_provisioning,
            "true",
            0,
            1,
            "true: ActiveSync commands need the policy key of Provision (else HTTP 449)"),
    /* libmicrohttpd zeroes a connection's whole memory pool (max_header_bytes and a page) each
     * time it serves another request on it, so a Ping waiting on a connection that answered
     * before holds about 37 KB more than one on a fresh connection (issue 16 item 4). */
    NUM_KEY(KEY_BOOL,
            eas_keep_alive,
            "false",
            0,
            1,
            "false: each ActiveSync answer closes its connection (Connection: close), so that a "
            "waiting Ping always sits on a fresh connection's few pages; true: connections "
            "stay open (each answered one then holds its whole pool, about max_header_bytes)"),
    NUM_KEY(KEY_UINT,
            eas_ping_min_heartbeat,
            "60",
            1,
            3540,
            "shortest Ping/Sync heartbeat in seconds (less: Ping Status 5, Sync Status 14)"),
    NUM_KEY(KEY_UINT,
            eas_ping_max_heartbeat,
            "3540",
            1,
            86400,
            "longest Ping/Sync heartbeat in seconds (more: Ping Status 5, Sync Status 14)"),
    NUM_KEY(KEY_UINT,
            eas_max_folders,
            "300",
            1,
            100000,
            "folders one Ping may watch (more: Ping Status 6 with MaxFolders)"),
    NUM_KEY(KEY_UINT,
            eas_max_devices,
            "100",
            1,
            1000000,
            "ActiveSync devices per user (more: 403 eas-device-limit)"),
    NUM_KEY(KEY_SIZE,
            eas_max_body,
            "16M",
            1024,
            (uint64_t)512 << 20,
            "bytes of one ActiveSync request body (more: 413 eas-body-too-large)"),
    NUM_KEY(KEY_SIZE,
            eas_window_bytes,
            "1M",
            16384,
            (uint64_t)64 << 20,
            "a Sync window stops growing past this many bytes (MoreAvailable follows)"),
    STR_KEY(eas_mail_domain,
            "localhost",
            "domain of the address Settings UserInformation reports (user@domain)"),
    /* [scheduling] (docs/scheduling.md) */
    OPT_STR_KEY(mail_domain,
                "",
                "scheduling: every user NAME has the address mailto:NAME@mail_domain (\"\": none; "
                "admins add more with almanac user address add)"),
    NUM_KEY(KEY_UINT,
            sched_max_attendees,
            "1000",
            1,
            100000,
            "ATTENDEEs of one meeting instance an organizer may save (more: 403 "
            "max-attendees-per-instance); bounds one write's deliveries"),
    OPT_STR_KEY(sched_default_calendar,
                "",
                "calendar name invitations go to when a user has one of that name (\"\": the "
                "user's first calendar by name)"),
    /* [imip] (docs/scheduling.md "iMIP", RFC 6047) */
    OPT_STR_KEY(imip_from,
                "",
                "this server's mailbox for iMIP (e.g. calendar@example.org): the envelope sender "
                "and Sender of invitations, updates, cancellations and replies mailed to outside "
                "addresses (\"\": iMIP off, outside attendees get nothing)"),
    OPT_STR_KEY(imip_smtp_host,
                "",
                "the SMTP relay iMIP messages go through (\"\": none, messages stay queued)"),
    NUM_KEY(KEY_UINT,
            imip_smtp_port,
            "587",
            1,
            65535,
            "port of imip_smtp_host (587 submission; 25 for a relay without AUTH)"),
    STR_KEY(imip_smtp_starttls,
            "required",
            "STARTTLS to the relay: required (no mail without it), optional (when offered) or "
            "off (plain SMTP, for a relay on this host)"),
    OPT_STR_KEY(imip_smtp_cafile,
                "",
                "PEM file of the CA certificates the relay's STARTTLS certificate is checked "
                "against (\"\": the system's)"),
    OPT_STR_KEY(imip_smtp_user, "", "SMTP AUTH user at the relay (\"\": no AUTH)"),
    OPT_STR_KEY(imip_smtp_password_file,
                "",
                "file whose first line is imip_smtp_user's password (readable by almanacd only; "
                "never inline)"),
    NUM_KEY(KEY_UINT,
            imip_retry_base,
            "60",
            1,
            86400,
            "seconds before a message the relay did not take is tried again; doubles per try"),
    NUM_KEY(KEY_UINT,
            imip_retry_max,
            "3600",
            1,
            604800,
            "seconds, the longest wait between two tries of a message"),
    /* RFC 5321 §4.5.4.1 suggests giving up after 4-5 days; an invitation that late is
     * rarely worth sending, so 3 days. */
    NUM_KEY(KEY_UINT,
            imip_max_age,
            "259200",
            1,
            2592000,
            "seconds after which a message not taken is given up (state failed, "
            "SCHEDULE-STATUS 5.1 on the organizer's copy)"),
    NUM_KEY(KEY_UINT,
            imip_smtp_timeout,
            "60",
            1,
            3600,
            "seconds one SMTP conversation with the relay may take"),
};

#undef FIELD_SIZE
#undef FIELD
#undef STR_KEY
#undef OPT_STR_KEY
#undef NUM_KEY

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < ALM_ARRAY_LEN(keys); i++) {
        if (strcmp(keys[i].name, name) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

/* Parses a size: decimal digits with an optional binary suffix K, M or G (either case).
 * Returns 0, or -1 when malformed or past UINT64_MAX. */
static int parse_size(const char *v, uint64_t *out)
{
    size_t n = strlen(v);
    uint64_t mult = 1;
    if (n > 0) {
        switch (v[n - 1]) {
        case 'K':
        case 'k':
            mult = (uint64_t)1 << 10;
            break;
        case 'M':
        case 'm':
            mult = (uint64_t)1 << 20;
            break;
        case 'G':
        case 'g':
            mult = (uint64_t)1 << 30;
            break;
        default:
            break;
        }
    }
    struct slice digits = {v, mult == 1 ? n : n - 1};
    uint64_t x;
    if (parse_u64(digits, &x) != 0 || x > UINT64_MAX / mult) {
        return -1;
    }
    *out = x * mult;
    return 0;
}

static int set_string(char *field, const struct key *k, const char *value, struct err *err)
{
    size_t n = strlen(value);
    if (k->type == KEY_LEVEL) {
        enum log_level lvl;
        if (log_level_parse(value, &lvl) != 0) {
            return err_set(err, &err_cond_bad_request, "%s must be error, warn, info or debug",
                           k->name);
        }
    } else if (n < k->min || n > k->max) {
        return err_set(err, &err_cond_bad_request, "%s must be %llu to %llu bytes, not %zu",
                       k->name, (unsigned long long)k->min, (unsigned long long)k->max, n);
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch < 0x20 || ch == 0x7f || ch == '#') {
            /* --print-config's output must read back as a file: one key per line, and '#'
             * there starts a comment. */
            return err_set(err, &err_cond_bad_request, "%s may not hold '#' or control bytes",
                           k->name);
        }
        if (k->reject && strchr(k->reject, value[i])) {
            return err_set(err, &err_cond_bad_request, "%s may not contain '%c'", k->name,
                           value[i]);
        }
    }
    assert(n < k->size);
    memcpy(field, value, n + 1);
    return 0;
}

int config_set(struct config *c, const char *key, const char *value, struct err *err)
{
    const struct key *k = find_key(key);
    if (!k) {
        return err_set(err, &err_cond_bad_request, "unknown key %s", key);
    }
    char *field = (char *)c + k->offset;
    if (k->type == KEY_STR || k->type == KEY_LEVEL) {
        return set_string(field, k, value, err);
    }
    if (k->type == KEY_BOOL) {
        static const char *const yes[] = {"true", "yes", "on", "1"};
        static const char *const no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < ALM_ARRAY_LEN(yes); i++) {
            if (strcmp(value, yes[i]) == 0 || strcmp(value, no[i]) == 0) {
                unsigned u = strcmp(value, yes[i]) == 0;
                memcpy(field, &u, sizeof(u));
                return 0;
            }
        }
        return err_set(err, &err_cond_bad_request, "%s: '%s' is not true or false", key, value);
    }
    uint64_t v;
    int rc = k->type == KEY_SIZE ? parse_size(value, &v) : parse_u64(slice_from_cstr(value), &v);
    if (rc != 0) {
        return err_set(err, &err_cond_bad_request, "%s: '%s' is not a %s", key, value,
                       k->type == KEY_SIZE ? "size (bytes, or with K, M, G)" : "number");
    }
    if (v < k->min || v > k->max) {
        return err_set(err, &err_cond_bad_request, "%s=%s is outside [%llu, %llu]", key, value,
                       (unsigned long long)k->min, (unsigned long long)k->max);
    }
    if (k->type == KEY_UINT) {
        assert(k->size == sizeof(unsigned) && k->max <= UINT32_MAX);
        unsigned u = (unsigned)v;
        memcpy(field, &u, sizeof(u));
    } else {
        assert(k->size == sizeof(size_t) && k->max <= SIZE_MAX);
        size_t z = (size_t)v;
        memcpy(field, &z, sizeof(z));
    }
    return 0;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < ALM_ARRAY_LEN(keys); i++) {
        struct err e;
        err_init(&e);
        int rc = config_set(c, keys[i].name, keys[i].dflt, &e);
        assert(rc == 0); /* a bad default is a bug in the table; test_config.c checks each */
        (void)rc;
    }
}

/* Trims spaces, tabs and line ends from both ends of `s`, in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

/* Applies one line (already stripped of its comment and trimmed). 0 or -1 with err set to
 * the bare reason; the caller prefixes the file and line. */
static int load_line(struct config *c, char *s, struct err *err)
{
    if (*s == '[') {
        /* A [section] header only groups keys for the reader: names are unique anyway. */
        size_t n = strlen(s);
        if (n < 3 || s[n - 1] != ']') {
            return err_set(err, &err_cond_bad_request, "expected [section]");
        }
        return 0;
    }
    char *eq = strchr(s, '=');
    if (!eq) {
        return err_set(err, &err_cond_bad_request, "expected key = value");
    }
    *eq = '\0';
    char *key = trim(s);
    if (*key == '\0') {
        return err_set(err, &err_cond_bad_request, "expected a key before '='");
    }
    return config_set(c, key, trim(eq + 1), err);
}

int config_load_file(struct config *c, const char *path, struct err *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return err_set(err, &err_cond_bad_request, "%s: cannot open: %s", path, strerror(errno));
    }
    char line[LINE_MAX_BYTES];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = err_set(err, &err_cond_bad_request, "%s:%u: line longer than %d bytes", path,
                         lineno, LINE_MAX_BYTES - 2);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char *s = trim(line);
        if (*s == '\0') {
            continue;
        }
        struct err inner;
        err_init(&inner);
        if (load_line(c, s, &inner) != 0) {
            rc = err_set(err, inner.cond, "%s:%u: %s", path, lineno, inner.msg);
        }
    }
    if (rc == 0 && ferror(f)) {
        rc = err_set(err, &err_cond_bad_request, "%s:%u: read error", path, lineno);
    }
    fclose(f);
    return rc;
}

void config_store_label(const char *uri, char *out, size_t n)
{
    const char *auth = strstr(uri, "://");
    const char *query = strchr(uri, '?');
    size_t head = query ? (size_t)(query - uri) : strlen(uri); /* before any parameters */
    const char *at = auth ? memchr(auth + 3, '@', head - (size_t)(auth + 3 - uri)) : NULL;
    const char *slash = auth ? strchr(auth + 3, '/') : NULL;
    const char *colon = at ? memchr(auth + 3, ':', (size_t)(at - auth - 3)) : NULL;
    bool hides_userinfo = colon && (!slash || slash > at);
    bool hides_query = query && strstr(query, "password=");
    if (hides_userinfo) {
        snprintf(out, n, "%.*s:***%.*s%s", (int)(colon - uri), uri, (int)(uri + head - at), at,
                 hides_query ? "?***"
                 : query     ? query
                             : "");
    } else {
        snprintf(out, n, "%.*s%s", (int)head, uri, hides_query ? "?***" : query ? query : "");
    }
}

void config_print(const struct config *c, FILE *f)
{
    for (size_t i = 0; i < ALM_ARRAY_LEN(keys); i++) {
        const struct key *k = &keys[i];
        const char *field = (const char *)c + k->offset;
        fprintf(f, "%s = ", k->name);
        if (k->offset == offsetof(struct config, store)) {
            char label[CONFIG_STR_MAX];
            config_store_label(field, label, sizeof(label));
            fputs(label, f);
        } else if (k->type == KEY_STR || k->type == KEY_LEVEL) {
            fputs(field, f);
        } else if (k->type == KEY_BOOL) {
            unsigned u;
            memcpy(&u, field, sizeof(u));
            fputs(u ? "true" : "false", f);
        } else if (k->type == KEY_UINT) {
            unsigned u;
            memcpy(&u, field, sizeof(u));
            fprintf(f, "%u", u);
        } else {
            size_t z;
            memcpy(&z, field, sizeof(z));
            fprintf(f, "%zu", z);
        }
        fprintf(f, "  # %s\n", k->doc);
    }
}

/* Writes a bound of a size key with the largest binary suffix that divides it exactly
 * (4096 -> 4K), so the table reads like the defaults; other keys plainly. */
static void print_bound(FILE *f, enum key_type type, uint64_t v)
{
    static const char suffixes[] = "KMG";
    int s = -1;
    while (type == KEY_SIZE && s < 2 && v >= KIB && v % KIB == 0) {
        v /= KIB;
        s++;
    }
    fprintf(f, "%llu", (unsigned long long)v);
    if (s >= 0) {
        fputc(suffixes[s], f);
    }
}

void config_print_markdown(FILE *f)
{
    fputs("| key | default | bounds | meaning |\n| --- | --- | --- | --- |\n", f);
    for (size_t i = 0; i < ALM_ARRAY_LEN(keys); i++) {
        const struct key *k = &keys[i];
        fprintf(f, "| `%s` | `%s` | ", k->name, k->dflt);
        if (k->type == KEY_LEVEL) {
            fputs("-", f);
        } else if (k->type == KEY_BOOL) {
            fputs("true, false", f);
        } else {
            print_bound(f, k->type, k->min);
            fputs(" .. ", f);
            print_bound(f, k->type, k->max);
            if (k->type == KEY_STR) {
                fputs(" bytes", f);
            }
        }
        fprintf(f, " | %s |\n", k->doc);
    }
}

int config_store(struct config *c, enum config_store_kind *kind_out, struct err *err)
{
    static const char sqlite_scheme[] = "sqlite:";
    if (c->store[0] == '\0') {
        *kind_out = CONFIG_STORE_SQLITE;
        return 0;
    }
    if (strncmp(c->store, "postgresql://", 13) == 0 || strncmp(c->store, "postgres://", 11) == 0) {
        *kind_out = CONFIG_STORE_POSTGRESQL;
        return 0;
    }
    if (strncmp(c->store, sqlite_scheme, sizeof(sqlite_scheme) - 1) == 0) {
        const char *dir = c->store + sizeof(sqlite_scheme) - 1;
        if (dir[0] == '\0') {
            return err_set(err, &err_cond_bad_request, "store sqlite: needs a directory");
        }
        memmove(c->data_dir, dir, strlen(dir) + 1); /* same capacity, so it fits */
        *kind_out = CONFIG_STORE_SQLITE;
        return 0;
    }
    /* Not echoed: a mistyped URI may hold a password. */
    return err_set(err, &err_cond_bad_request,
                   "store must be sqlite:DIR or a postgresql:// URI (libpq)");
}
