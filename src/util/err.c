/* util/err.c: the error value and the util conditions. */
#include "util/err.h"

#include <stdio.h>
#include <string.h>

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "util/conds.def"
#undef ERR_COND

void err_init(struct err *e)
{
    e->cond = NULL;
    e->msg[0] = '\0';
    e->href = NULL;
}

int err_vset(struct err *e, const struct err_cond *cond, const char *fmt, va_list ap)
{
    if (!e || e->cond) {
        return -1;
    }
    e->cond = cond;
    int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    if (n < 0) {
        e->msg[0] = '\0';
    }
    for (char *p = e->msg; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = ' ';
        }
    }
    return -1;
}

int err_set(struct err *e, const struct err_cond *cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, cond, fmt, ap);
    va_end(ap);
    return -1;
}

int err_replace(struct err *e, const struct err_cond *cond, const char *fmt, ...)
{
    if (e) {
        e->cond = NULL;
        e->href = NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    err_vset(e, cond, fmt, ap);
    va_end(ap);
    return -1;
}
