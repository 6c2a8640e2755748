/* tests/fuzz/davbody.c: WebDAV method bodies without a server (davbody.h). */
#include "davbody.h"

#include <stdlib.h>

#include "chunks.h"
#include "dav/dav_int.h"

struct dav_app fuzz_dav_app = {
    .limits =
        {
            .xml_max_body = 64 * 1024,
            .xml_max_depth = 32,
            .xml_max_elements = 2000,
            .xml_max_text = 16 * 1024,
            .max_resource_size = 64 * 1024,
            .max_dead_props = 64,
        },
};

int fuzz_dav_read(const struct dav_method *m,
                  const uint8_t *data,
                  size_t size,
                  uint64_t salt,
                  struct arena *arena,
                  struct dav_req **dr_out,
                  struct err *err)
{
    struct dav_req *dr = arena_zalloc(arena, sizeof(*dr));
    dr->core = arena_zalloc(arena, sizeof(*dr->core));
    dr->core->app = &fuzz_dav_app;
    dr->arena = arena;
    dr->limits = &fuzz_dav_app.limits;
    dr->core->method = m;
    dr->user = "alice";
    *dr_out = dr;
    err_init(err);
    if (m->begin(dr, err) != 0 || !dr->core->xml) {
        abort(); /* these methods set up their reader whatever the headers say */
    }
    int rc = 0;
    struct fuzz_chunks c;
    fuzz_chunks_init(&c, data, salt ? size : 0, salt);
    if (salt == 0 && size > 0) {
        rc = xmlin_feed(dr->core->xml, (const char *)data, size, err);
    }
    size_t off = 0;
    for (size_t n = fuzz_chunks_next(&c); n && rc == 0; n = fuzz_chunks_next(&c)) {
        rc = xmlin_feed(dr->core->xml, (const char *)data + off, n, err);
        off += n;
    }
    dr->core->xml_seen = size > 0;
    if (rc == 0) {
        rc = dav_xml_finish(dr, err);
        rc = rc == 1 ? 0 : rc; /* no body at all: the method's default */
    }
    xmlin_destroy(&dr->core->xml);
    if (rc != 0 && (!err->cond || err->cond == &err_cond_internal)) {
        abort();
    }
    return rc;
}
