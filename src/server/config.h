/* server/config.h: almanacd's configuration. One table (config.c) declares every key with its
 * type, default, bounds and a one-line doc; the file parser, validation, --print-config and
 * docs/config.md all come from it. Read once at start-up (and again on SIGHUP) into an
 * immutable struct; CLI flags override the file. Each layer gets only its part. */
#ifndef ALMANAC_SERVER_CONFIG_H
#define ALMANAC_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

enum {
    CONFIG_STR_MAX = 512
};

struct config {
    /* [server] */
    char listen[CONFIG_STR_MAX]; /* ADDR:PORT, default 127.0.0.1:8008; "" = no plain HTTP */
    /* [tls] and proxies (docs/deploy.md) */
    char tls_listen[CONFIG_STR_MAX];      /* ADDR:PORT of the HTTPS listener, "" = none */
    char tls_cert[CONFIG_STR_MAX];        /* PEM chain, leaf first */
    char tls_key[CONFIG_STR_MAX];         /* PEM private key */
    char trusted_proxies[CONFIG_STR_MAX]; /* addresses/CIDRs whose X-Forwarded-For counts */
    /* [monitoring] */
    char metrics_allow[CONFIG_STR_MAX]; /* addresses/CIDRs that may read /metrics */
    char metrics_token[128];            /* bearer token /metrics requires, "" = none */
    char data_dir[CONFIG_STR_MAX];      /* default ./data */
    char store[CONFIG_STR_MAX];         /* sqlite:DIR or postgresql://...; "" = data_dir */
    unsigned store_statement_timeout;   /* seconds, PostgreSQL only, default 30; 0 = none */
    unsigned workers;                   /* MHD thread-pool size, default 4 */
    char log_level[16];                 /* error|warn|info|debug, default info */
    char realm[128];                    /* Basic realm, default "Almanac" */
    /* [limits] */
    unsigned max_connections;     /* default 1024 */
    unsigned per_ip_connections;  /* default 256 */
    unsigned idle_timeout;        /* seconds, default 120 */
    unsigned header_timeout;      /* seconds, default 30 */
    unsigned min_body_rate;       /* bytes/s, default 500; 0 = unchecked */
    unsigned body_rate_window;    /* seconds, default 20 */
    unsigned shutdown_grace;      /* seconds SIGTERM waits for requests, default 10 */
    size_t max_header_bytes;      /* default 32768 */
    size_t max_path_bytes;        /* default 4096 */
    size_t xml_max_body;          /* default 512 MiB: 1,000,000 resourcetags fit */
    unsigned xml_max_depth;       /* default 64 */
    size_t xml_max_elements;      /* default 4,000,000 */
    size_t xml_max_text;          /* default 1 MiB */
    size_t max_resource_size;     /* default 10 MiB: one PUT body */
    size_t max_import_size;       /* default 64 MiB: one web page upload (web/web.h) */
    size_t max_dead_props;        /* dead properties per resource, default 256 */
    size_t max_multiget_hrefs;    /* hrefs of one calendar-multiget, default 100,000 */
    unsigned auth_cache_ttl;      /* seconds, default 300 */
    unsigned request_time_budget; /* seconds, default 60; 0 = unbounded */
    size_t max_tz_transitions;    /* default 30,000 (cal_set_max_tz_transitions) */
    /* failed logins (http/auth_throttle.h) */
    unsigned auth_fail_window;     /* seconds a failure is remembered, default 900 */
    unsigned auth_fail_addr_limit; /* failures of an address before it waits, default 10 */
    unsigned auth_fail_user_limit; /* failures of a user name before failing addresses
                                      wait, default 5 */
    unsigned auth_fail_max_delay;  /* seconds, the longest wait, default 300 */
    /* [history] */
    unsigned tombstone_max_age; /* seconds a delete stays in the change log, default 90 days */
    unsigned prune_interval;    /* seconds between pruning runs, default 3600 */
    /* [activesync] */
    unsigned eas_protocol_16;  /* bool: advertise 16.0 and 16.1, default false */
    unsigned eas_provisioning; /* bool: require a policy key (HTTP 449), default true */
    unsigned eas_keep_alive;   /* bool: keep connections open after an answer, default false */
    unsigned eas_ping_min_heartbeat; /* seconds, default 60 */
    unsigned eas_ping_max_heartbeat; /* seconds, default 3540 */
    unsigned eas_max_folders;        /* folders per Ping, default 300 */
    unsigned eas_max_devices;        /* devices per user, default 100 */
    size_t eas_max_body;             /* bytes of one WBXML request, default 16 MiB */
    size_t eas_window_bytes;         /* a Sync window stops past this, default 1 MiB */
    char eas_mail_domain[128];       /* Settings UserInformation address domain */
    /* [scheduling] */
    char mail_domain[128];            /* mailto:NAME@mail_domain addresses, "" = none */
    unsigned sched_max_attendees;     /* ATTENDEEs per instance, default 1000 */
    char sched_default_calendar[256]; /* invitations' calendar name, "" = first by name */
    /* [imip] */
    char imip_from[320];               /* server mailbox, "" = iMIP off */
    char imip_smtp_host[256];          /* relay, "" = none */
    unsigned imip_smtp_port;           /* default 587 */
    char imip_smtp_starttls[16];       /* required, optional, off */
    char imip_smtp_cafile[512];        /* CA file, "" = the system's */
    char imip_smtp_user[256];          /* "" = no AUTH */
    char imip_smtp_password_file[512]; /* path of the password */
    unsigned imip_retry_base;          /* seconds, default 60, doubling */
    unsigned imip_retry_max;           /* seconds, default 3600 */
    unsigned imip_max_age;             /* seconds, default 3 days */
    unsigned imip_smtp_timeout;        /* seconds, default 60 */
};

/* Fills `c` with every key's default. */
void config_defaults(struct config *c);

/* Reads `key = value` lines (# comments, blank lines, optional [section] headers ignored)
 * from `path` over `c`. Returns 0, or -1 with err set (err_cond_bad_request) naming the file,
 * line and key for an unknown key, a bad value or one out of bounds. */
int config_load_file(struct config *c, const char *path, struct err *err);

/* Sets one key from a string (used by the file parser and by CLI flags). 0 or -1 + err. */
int config_set(struct config *c, const char *key, const char *value, struct err *err);

/* The engine of the store a configuration names (config_store). */
enum config_store_kind {
    CONFIG_STORE_SQLITE,     /* data_dir holds the directory */
    CONFIG_STORE_POSTGRESQL, /* store holds the libpq URI */
};

/* Resolves where the store is: `store` when set, else data_dir (the SQLite shorthand). A
 * `store` of sqlite:DIR is copied into data_dir; postgresql://... or postgres://... (a libpq
 * URI) stays in `store`. Returns 0 with *kind_out set, or -1 + err for any other value. */
int config_store(struct config *c, enum config_store_kind *kind_out, struct err *err);

/* Writes `uri` into out[n] with any password in it (user:PASSWORD@ or ?password=) written
 * as "***": logs and --print-config show which store is in force without handing out the
 * database's password (it belongs in PGPASSFILE anyway). Anything else as it is. */
void config_store_label(const char *uri, char *out, size_t n);

/* Writes every key as `key = value  # doc` lines, in table order. */
void config_print(const struct config *c, FILE *f);

/* Writes docs/config.md's table (markdown) from the table. */
void config_print_markdown(FILE *f);

#endif
