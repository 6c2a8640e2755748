/* server/imip_send.h: almanacd's iMIP sender (RFC 6047; docs/scheduling.md "iMIP"): one
 * thread that takes due messages from the store's iMIP outbox and hands them to the
 * configured SMTP relay with libcurl (STARTTLS and AUTH as configured), records each try,
 * retries with exponential back-off, and gives a message up once it is older than
 * imip_max_age (the organizer's copy then says SCHEDULE-STATUS 5.1 for that attendee).
 * Thread-safe: start and destroy from the main thread; the thread owns one pooled store
 * connection at a time, never inside a transaction while it talks to the relay. */
#ifndef ALMANAC_SERVER_IMIP_SEND_H
#define ALMANAC_SERVER_IMIP_SEND_H

#include "store/store.h"
#include "util/err.h"

enum imip_starttls {
    IMIP_STARTTLS_REQUIRED, /* STARTTLS or no mail (the default) */
    IMIP_STARTTLS_OPTIONAL, /* STARTTLS when the relay offers it */
    IMIP_STARTTLS_OFF,      /* plain SMTP: a relay on the same host or a trusted network */
};

struct imip_send_config {
    const char *host; /* the relay; "" or NULL: no sender (messages stay queued) */
    unsigned port;
    enum imip_starttls starttls;
    const char *cafile;   /* CA certificates for the relay's certificate; "" or NULL: the
                             system's */
    const char *user;     /* AUTH user, "" or NULL: no AUTH */
    const char *password; /* AUTH password (read from imip_smtp_password_file) */
    const char *from;     /* the envelope sender, imip_from */
    unsigned retry_base;  /* seconds before the second try; doubles per try */
    unsigned retry_max;   /* seconds, the longest wait between tries */
    unsigned max_age;     /* seconds after which a message is given up */
    unsigned timeout;     /* seconds one SMTP conversation may take */
};

struct imip_sender;

/* "required", "optional", "off" into *out; -1 for anything else. */
int imip_starttls_parse(const char *s, enum imip_starttls *out);

/* Starts the sender thread on `pool` (borrowed until destroy); strings of `c` are copied.
 * 0, or -1 with err set when the thread cannot start. */
int imip_sender_start(const struct imip_send_config *c,
                      struct store_pool *pool,
                      struct imip_sender **out,
                      struct err *err);

/* Stops the thread (a conversation under way finishes, at most `timeout` seconds), joins it
 * and frees the sender; *s becomes NULL. NULL is fine. */
void imip_sender_destroy(struct imip_sender **s);

#endif
