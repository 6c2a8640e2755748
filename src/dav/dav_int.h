/* dav/dav_int.h: the WebDAV core's private request state, for src/dav only (extensions see
 * struct dav_req and the accessors of dav/ext.h). */
#ifndef ALMANAC_DAV_DAV_INT_H
#define ALMANAC_DAV_DAV_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "dav/ext.h"
#include "store/store_req.h"
#include "util/buf.h"
#include "xml/xmlin.h"

struct dav_core {
    struct dav_app *app;
    const struct dav_method *method;
    struct store_req sr;    /* manages dr->store (store_req.h) */
    struct xmlin *xml;      /* set by begin() when the body is XML */
    bool xml_seen;          /* at least one body byte went to the XML reader */
    size_t ignored_body;    /* body bytes of a method that reads none, up to xml_max_body */
    struct buf raw;         /* raw_body methods */
    struct slice put_offer; /* dav_req_offer_put_body; ptr NULL: none */
    const char *put_offer_type;
    void *ext_state[DAV_MAX_EXT]; /* dav_ext_state(), by the extension's index in app->ext */
    const char *need_priv;        /* the privilege a need-privileges error names */
};

#endif
