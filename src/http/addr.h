/* http/addr.h: lists of client addresses and networks, as config keys write them
 * ("127.0.0.1, 10.0.0.0/8 ::1 2001:db8::/32"), and the client address of a request that came
 * through trusted reverse proxies (X-Forwarded-For). Immutable once parsed: thread-safe. */
#ifndef ALMANAC_HTTP_ADDR_H
#define ALMANAC_HTTP_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>

#include "util/err.h"
#include "util/slice.h"

enum {
    HTTP_ADDR_LIST_MAX = 256, /* entries of one list */
    HTTP_ADDR_TEXT = INET6_ADDRSTRLEN,
};

struct http_addr_list;

/* Parses `text` (entries separated by commas or white space; each an IPv4 or IPv6 address,
 * optionally /PREFIX). An empty text gives an empty list. Returns 0, or -1 with
 * err_cond_bad_request naming `key` and the bad entry. Free with http_addr_list_destroy(). */
int http_addr_list_parse(const char *key,
                         const char *text,
                         struct http_addr_list **out,
                         struct err *err);
void http_addr_list_destroy(struct http_addr_list **l);
bool http_addr_list_is_empty(const struct http_addr_list *l);
/* Whether the address `addr` (text, as http_addr_text writes it) is in the list. */
bool http_addr_list_has(const struct http_addr_list *l, struct slice addr);

/* The client of a request whose peer is `peer` (text): when the peer is in `proxies`, the
 * right-most address of `xff` (the X-Forwarded-For lines joined by ", "; may be NULL) that
 * is not itself in `proxies` (when all are, the left-most; a malformed element stops the walk
 * at the address right of it); otherwise the peer, whatever the header says. Written to
 * `out` in canonical text. */
void http_addr_client(const struct http_addr_list *proxies,
                      const char *peer,
                      const char *xff,
                      char out[HTTP_ADDR_TEXT]);

#endif
