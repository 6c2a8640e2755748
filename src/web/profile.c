/* web/profile.c: GET /web/profile.mobileconfig, an Apple configuration profile (an XML
 * property list; Apple's "Configuration Profile Reference") with two payloads: a CalDAV
 * account (com.apple.caldav.account) and an Exchange ActiveSync account
 * (com.apple.eas.account), both for the signed-in user at the address this page was reached
 * at. It holds no password: the device asks for it when the profile is installed. Every
 * PayloadUUID is a fresh random (version 4) UUID. Unsigned: iOS shows it as "Not Signed". */
#include <string.h>

#include "util/sec.h"
#include "web/html.h"
#include "web/web_int.h"

/* A version 4 UUID (RFC 9562 §5.4) from libsodium's random bytes, in the arena. */
static const char *uuid4(struct arena *a)
{
    uint8_t u[16];
    sec_random(u, sizeof(u));
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    char hex[33];
    sec_hex(u, sizeof(u), hex);
    return arena_printf(a, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

/* <key>k</key><string>v</string>, v escaped (the plist is XML: the HTML escaper's five
 * references are XML's too, &#39; included). */
static int kv(struct buf *b, const char *k, const char *v)
{
    int rc = buf_appendf(b, "\t\t\t<key>%s</key>\n\t\t\t<string>", k);
    rc |= web_html_text(b, v);
    rc |= buf_append_cstr(b, "</string>\n");
    return rc;
}

static int kint(struct buf *b, const char *k, unsigned v)
{
    return buf_appendf(b, "\t\t\t<key>%s</key>\n\t\t\t<integer>%u</integer>\n", k, v);
}

static int kbool(struct buf *b, const char *k, bool v)
{
    return buf_appendf(b, "\t\t\t<key>%s</key>\n\t\t\t<%s/>\n", k, v ? "true" : "false");
}

int web_profile(struct web_req *wr, struct err *err)
{
    const struct web_origin *o = &wr->origin;
    struct arena *a = wr->arena;
    const char *user = wr->sess.user;
    struct buf seg;
    buf_init(&seg, BUF_LIMIT_HREF);
    if (http_path_encode_segment(&seg, slice_from_cstr(user)) != 0) {
        buf_deinit(&seg);
        return err_set(err, &err_cond_internal, "user name too long for a URL");
    }
    const char *principal = arena_printf(a, "%s/principals/%s/", o->origin, buf_cstr(&seg));
    buf_deinit(&seg);
    /* reverse-DNS identifiers, unique per server and user, stable across downloads so that
     * installing a newer profile replaces the older one */
    const char *ident = arena_printf(a, "almanac.%s.%u.%s", o->host, o->port, user);
    const char *desc = arena_printf(a, "Almanac (%s)", o->authority);
    struct buf b;
    buf_init(&b, 64 * 1024);
    int rc = buf_append_cstr(
        &b,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
        "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
        "<plist version=\"1.0\">\n<dict>\n\t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n");
    /* the CalDAV account */
    rc |= kv(&b, "CalDAVAccountDescription", desc);
    rc |= kv(&b, "CalDAVHostName", o->host);
    rc |= kint(&b, "CalDAVPort", o->port);
    rc |= kbool(&b, "CalDAVUseSSL", o->tls);
    rc |= kv(&b, "CalDAVPrincipalURL", principal);
    rc |= kv(&b, "CalDAVUsername", user);
    rc |= kv(&b, "PayloadDescription", "Calendars over CalDAV");
    rc |= kv(&b, "PayloadDisplayName", "CalDAV");
    rc |= kv(&b, "PayloadIdentifier", arena_printf(a, "%s.caldav", ident));
    rc |= kv(&b, "PayloadType", "com.apple.caldav.account");
    rc |= kv(&b, "PayloadUUID", uuid4(a));
    rc |= kint(&b, "PayloadVersion", 1);
    rc |= buf_append_cstr(&b, "\t\t</dict>\n\t\t<dict>\n");
    /* the Exchange ActiveSync account */
    rc |= kv(&b, "Host", o->port == (o->tls ? 443u : 80u) ? o->host : o->authority);
    rc |= kbool(&b, "SSL", o->tls);
    rc |= kv(&b, "UserName", user);
    if (wr->app->cfg.mail_domain && *wr->app->cfg.mail_domain) {
        rc |= kv(&b, "EmailAddress", arena_printf(a, "%s@%s", user, wr->app->cfg.mail_domain));
    }
    rc |= kv(&b, "PayloadDescription", "Calendars over Exchange ActiveSync");
    rc |= kv(&b, "PayloadDisplayName", "Exchange ActiveSync");
    rc |= kv(&b, "PayloadIdentifier", arena_printf(a, "%s.eas", ident));
    rc |= kv(&b, "PayloadType", "com.apple.eas.account");
    rc |= kv(&b, "PayloadUUID", uuid4(a));
    rc |= kint(&b, "PayloadVersion", 1);
    rc |= buf_append_cstr(&b, "\t\t</dict>\n\t</array>\n");
    /* the profile itself */
    rc |= buf_append_cstr(&b, "\t<key>PayloadDisplayName</key>\n\t<string>");
    rc |= web_html_text(&b, desc);
    rc |= buf_append_cstr(&b, "</string>\n\t<key>PayloadIdentifier</key>\n\t<string>");
    rc |= web_html_text(&b, ident);
    rc |= buf_appendf(&b,
                      "</string>\n\t<key>PayloadRemovalDisallowed</key>\n\t<false/>\n"
                      "\t<key>PayloadType</key>\n\t<string>Configuration</string>\n"
                      "\t<key>PayloadUUID</key>\n\t<string>%s</string>\n"
                      "\t<key>PayloadVersion</key>\n\t<integer>1</integer>\n</dict>\n</plist>\n",
                      uuid4(a));
    if (rc != 0) {
        buf_deinit(&b);
        return err_set(err, &err_cond_limit, "the profile passes 64 KiB");
    }
    http_resp_status(wr->http, 200);
    http_resp_header(wr->http, "Content-Type", "application/x-apple-aspen-config");
    http_resp_header(wr->http, "Content-Disposition",
                     "attachment; filename=\"almanac.mobileconfig\"");
    http_resp_header(wr->http, "Cache-Control", "no-store");
    http_resp_header(wr->http, "X-Content-Type-Options", "nosniff");
    http_resp_body(wr->http, b.data, b.len);
    buf_deinit(&b);
    return 0;
}
