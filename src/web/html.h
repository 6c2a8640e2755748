/* web/html.h: HTML text out. The one escaper every user-supplied string of a page goes
 * through, and the page frame (head, navigation, foot) the pages share. */
#ifndef ALMANAC_WEB_HTML_H
#define ALMANAC_WEB_HTML_H

#include <stdint.h>

#include "util/buf.h"
#include "util/compiler.h"
#include "util/slice.h"

/* Appends `s` escaped for HTML text and for a double- or single-quoted attribute value:
 * & < > " ' become character references, and C0 controls other than tab, LF and CR, and DEL,
 * become U+FFFD (a NUL or a control never reaches the browser). Other bytes are copied: the
 * page is UTF-8 and a browser decodes a bad sequence to U+FFFD, which cannot end markup.
 * Returns 0, or -1 when `b` is full (its limit). */
int web_html_escape(struct buf *b, struct slice s) ALM_NODISCARD;

/* web_html_escape of a NUL-terminated string (NULL appends nothing). */
int web_html_text(struct buf *b, const char *s) ALM_NODISCARD;

/* Appends `s` percent-encoded as one URL path segment and then HTML-escaped, for an href. */
int web_html_segment(struct buf *b, const char *s) ALM_NODISCARD;

/* A number of bytes for people: "512 B", "12.3 KiB", "4.0 MiB", "1.2 GiB". */
int web_html_size(struct buf *b, uint64_t bytes) ALM_NODISCARD;

#endif
