/* util/err.h: the one error value. Deep code says "403, DAV:valid-sync-token, because X"
 * without knowing HTTP framing; the HTTP layer renders it through the route's error hook.
 * Each layer lists its conditions once in an X-macro file (util/conds.def, http/conds.def,
 * dav/conds.def, ...) that yields both declarations and definitions; docs/errors.md lists
 * every condition and tests/lint checks that it does. */
#ifndef ALMANAC_UTIL_ERR_H
#define ALMANAC_UTIL_ERR_H

#include <stdarg.h>

#include "util/compiler.h"

struct err_cond {
    const char *name;           /* machine-readable, e.g. "valid-sync-token" */
    const char *ns;             /* XML namespace of the precondition element, or NULL */
    unsigned short http_status; /* 400, 403, 409, 412, 413, 422, 507, ... */
    unsigned short eas_status;  /* ActiveSync Status, 0 if none */
};

struct err {
    const struct err_cond *cond; /* NULL while no error */
    char msg[200];               /* sanitized, for the log and the response text */
    const char *href;            /* a resource the precondition names (RFC 4791
                                    no-uid-conflict), borrowed from the request arena; or NULL */
};

/* X-macro shape: ERR_COND(prefix_name, "wire-name", ns or NULL, http status, eas status) */
#define ERR_COND_DECLARE(sym, name, ns, http, eas) extern const struct err_cond sym;
#define ERR_COND_DEFINE(sym, name, ns, http, eas)  const struct err_cond sym = {name, ns, http, eas};

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DECLARE(sym, name, ns, http, eas)
#include "util/conds.def"
#undef ERR_COND

void err_init(struct err *e);

/* Sets *e unless already set (the deepest cause wins); always returns -1. The message is
 * formatted, truncated to fit and stripped of control characters. */
int err_set(struct err *e, const struct err_cond *cond, const char *fmt, ...) ALM_PRINTF(3, 4);
int err_vset(struct err *e, const struct err_cond *cond, const char *fmt, va_list ap)
    ALM_PRINTF(3, 0);

/* Replaces whatever *e holds (for a layer that maps a lower condition to its own). */
int err_replace(struct err *e, const struct err_cond *cond, const char *fmt, ...) ALM_PRINTF(3, 4);

#endif
