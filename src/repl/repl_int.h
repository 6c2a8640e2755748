/* repl/repl_int.h: what the repl module's files share. */
#ifndef ALMANAC_REPL_REPL_INT_H
#define ALMANAC_REPL_REPL_INT_H

#include "dav/ext.h"

/* SEARCH with R:repl (search.c). */
extern const struct dav_method repl_search;

#endif
