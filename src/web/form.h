/* web/form.h: what a browser's forms send. application/x-www-form-urlencoded (the small
 * forms) and multipart/form-data (RFC 7578; the import form with its file), both parsed from
 * a body held whole, which the route bounded before it arrived (web.h). Names and values
 * stay slices into the body (multipart) or in the arena (urlencoded, decoded). */
#ifndef ALMANAC_WEB_FORM_H
#define ALMANAC_WEB_FORM_H

#include <stddef.h>

#include "util/arena.h"
#include "util/err.h"
#include "util/slice.h"

enum {
    WEB_FORM_MAX_FIELDS = 32,   /* fields of one form; more is 400 bad-form */
    WEB_FORM_MAX_HEADER = 4096, /* bytes of one multipart part's headers */
    WEB_FORM_MAX_BOUNDARY = 70, /* RFC 2046 §5.1.1: 1 to 70 characters */
};

struct web_field {
    const char *name;     /* NUL-terminated, in the arena */
    const char *filename; /* multipart: the part's filename (in the arena), NULL when absent */
    struct slice value;   /* the bytes (a file part's may hold NUL) */
};

struct web_form {
    struct web_field fields[WEB_FORM_MAX_FIELDS];
    size_t n;
};

/* Parses an application/x-www-form-urlencoded body ("a=1&b=x+y%21"): '+' is a space, %XX a
 * byte. Returns 0, or -1 with web_cond_bad_form for a bad escape or too many fields. */
int web_form_urlencoded(struct slice body,
                        struct arena *arena,
                        struct web_form *out,
                        struct err *err);

/* The boundary parameter of a multipart/form-data Content-Type (quoted or not), in the
 * arena. Returns 0, or -1 with web_cond_bad_form when the type is another one or the
 * boundary is missing, empty or longer than RFC 2046 allows. */
int web_multipart_boundary(const char *content_type,
                           struct arena *arena,
                           const char **boundary_out,
                           struct err *err);

/* Parses a multipart/form-data body (RFC 7578) with `boundary`: each part's
 * Content-Disposition must be form-data with a name; at most one part may carry a filename
 * (the file). The preamble and epilogue are ignored; the closing delimiter is required.
 * Returns 0, or -1 with web_cond_bad_form naming what is wrong (no closing boundary, a part
 * without Content-Disposition or name, headers too long, a second file, too many parts). */
int web_multipart_parse(struct slice body,
                        const char *boundary,
                        struct arena *arena,
                        struct web_form *out,
                        struct err *err);

/* The first field named `name`, or NULL. */
const struct web_field *web_form_get(const struct web_form *f, const char *name);

/* The field's value as a NUL-terminated copy in the arena (the caller may wipe it), or NULL when
 * the field is absent or its value is not UTF-8 text (a NUL byte included): the pages are
 * UTF-8, so a browser's form is too, and what is kept is text (PostgreSQL refuses others). */
char *web_form_text(const struct web_form *f, const char *name, struct arena *arena);

#endif
