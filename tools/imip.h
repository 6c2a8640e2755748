/* tools/imip.h: the admin's side of iMIP (docs/scheduling.md "iMIP"): the outbox as a table,
 * a retry, and `imip-deliver`, the MTA's pipe for messages that come in. */
#ifndef ALMANAC_TOOLS_IMIP_H
#define ALMANAC_TOOLS_IMIP_H

#include <stdint.h>
#include <stdio.h>

#include "store/store.h"

/* sysexits.h codes an MTA understands (Postfix, Exim and sendmail bounce on 65, 67 and 77,
 * and keep the message for later on 75). */
enum {
    TOOLS_EX_DATAERR = 65,  /* not an iMIP message we take */
    TOOLS_EX_NOUSER = 67,   /* no local user it is for */
    TOOLS_EX_TEMPFAIL = 75, /* the store is busy or failed: try again later */
    TOOLS_EX_NOPERM = 77,   /* the sender is not whom the message speaks for */
};

/* Prints the outbox: a header line, then id, recipient, method, attempts, next try (UTC),
 * state, last error; tab-separated. 0, or 2 (message on stderr). */
int imip_queue_list(struct store *s);

/* Queues message `id` again, due now. 0, or 2 (message on stderr). */
int imip_retry(struct store *s, uint64_t id);

/* Reads one message from `in` (at most CALSTORE_IMIP_MAX_MESSAGE bytes) and applies it in
 * one write transaction (calstore_imip_receive). 0 done (a line on stdout), or one of the
 * TOOLS_EX_* codes with the reason on stderr. */
int imip_deliver(struct store *s, FILE *in);

#endif
