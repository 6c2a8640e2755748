/* tests/unit/caldav/test_caldav.c: CalDAV and WebDAV Sync through the route, in process (issue
 * #11 item 5): MKCALENDAR, calendar-query with a time-range, calendar-multiget,
 * sync-collection (initial, incremental after a change and a delete, an invalid token), and
 * PUTs refused for invalid data and a UID conflict. A real store in a temporary directory
 * (route_fixture.h); no socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route_fixture.h"
#include "util/buf.h"

#define H(...)    ((const char *const[]){__VA_ARGS__, NULL})
#define ICS       H("Content-Type", "text/calendar; charset=utf-8")
#define XMLH(d)   H("Depth", d, "Content-Type", "application/xml")
#define CAL       "/calendars/alice/cal/"
#define NS        "xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\""
#define OK_STATUS "<D:status>HTTP/1.1 200 OK</D:status>"
#define MS_OPEN                                                                           \
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" "          \
  "xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CS=\"http://calendarserver.org/ns/\" " \
  "xmlns:A=\"urn:x-almanac:\">\n"

/* One multistatus row with a getetag. */
static char *etag_row(struct route_fixture *f, const char *name, const char *etag)
{
    return arena_printf(f->a,
                        "<D:response><D:href>" CAL "%s</D:href><D:propstat><D:prop><D:getetag>"
                        "%s</D:getetag></D:prop>" OK_STATUS "</D:propstat></D:response>\n",
                        name, etag);
}

static void assert_cond(const struct http_test_resp *r, unsigned status, const char *cond)
{
    assert_int_equal(r->status, status);
    assert_non_null(r->cond);
    assert_string_equal(r->cond, cond);
    char reason[128];
    snprintf(reason, sizeof(reason), "<A:reason>%s</A:reason>", cond);
    assert_non_null(strstr(r->body, reason));
}

/* The sync-token of a sync-collection answer. */
static char *token_of(struct route_fixture *f, const struct http_test_resp *r)
{
    const char *p = strstr(r->body, "<D:sync-token>");
    assert_non_null(p);
    p += strlen("<D:sync-token>");
    const char *e = strstr(p, "</D:sync-token>");
    assert_non_null(e);
    return arena_strndup(f->a, p, (size_t)(e - p));
}

static char *event(struct route_fixture *f, const char *uid, const char *start, const char *end)
{
    return arena_printf(f->a,
                        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\n"
                        "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\n"
                        "DTEND:%s\r\nSUMMARY:event %s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
                        uid, start, end, uid);
}

static const char *put(struct route_fixture *f, const char *name, const char *body, unsigned want)
{
    struct http_test_resp r =
        rf_run(f, "alice", "PUT", arena_printf(f->a, CAL "%s", name), ICS, body);
    rf_show(name, &r);
    assert_int_equal(r.status, want);
    return http_test_resp_header(&r, "ETag");
}

static void mkcalendar(struct route_fixture *f)
{
    struct http_test_resp r = rf_run(f, "alice", "MKCALENDAR", CAL, NULL, NULL);
    rf_show("mkcalendar", &r);
    assert_int_equal(r.status, 201);
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void test_mkcalendar(void **state)
{
    struct route_fixture *f = *state;
    const char *body = "<?xml version=\"1.0\"?><C:mkcalendar " NS "><D:set><D:prop>"
                       "<D:displayname>Work</D:displayname></D:prop></D:set></C:mkcalendar>";
    struct http_test_resp r = rf_run(f, "alice", "MKCALENDAR", CAL, NULL, body);
    rf_show("mkcalendar", &r);
    assert_int_equal(r.status, 201);
    r = rf_run(f, "alice", "MKCALENDAR", CAL, NULL, NULL);
    rf_show("mkcalendar again", &r);
    assert_cond(&r, 405, "resource-must-be-null");
    r = rf_run(f, "alice", "MKCALENDAR", CAL "inner/", NULL, NULL);
    rf_show("mkcalendar inside", &r);
    assert_cond(&r, 403, "calendar-collection-location-ok");
    assert_non_null(strstr(r.body, "<P:calendar-collection-location-ok "
                                   "xmlns:P=\"urn:ietf:params:xml:ns:caldav\"/>"));
    const char *find = "<?xml version=\"1.0\"?><D:propfind " NS "><D:prop><D:resourcetype/>"
                       "<D:displayname/></D:prop></D:propfind>";
    r = rf_run(f, "alice", "PROPFIND", CAL, XMLH("0"), find);
    rf_show("propfind", &r);
    assert_int_equal(r.status, 207);
    assert_non_null(strstr(r.body, "<D:response><D:href>" CAL "</D:href><D:propstat><D:prop>"
                                   "<D:resourcetype><D:collection/><C:calendar/>"
                                   "</D:resourcetype><D:displayname>Work</D:displayname>"
                                   "</D:prop>" OK_STATUS "</D:propstat></D:response>"));
}

static void test_calendar_query_time_range(void **state)
{
    struct route_fixture *f = *state;
    mkcalendar(f);
    put(f, "jan.ics", event(f, "jan", "20260110T100000Z", "20260110T110000Z"), 201);
    const char *feb =
        put(f, "feb.ics", event(f, "feb", "20260210T100000Z", "20260210T110000Z"), 201);
    const char *edge =
        put(f, "edge.ics", event(f, "edge", "20260131T230000Z", "20260201T010000Z"), 201);
    put(f, "mar.ics", event(f, "mar", "20260301T000000Z", "20260301T010000Z"), 201);
    const char *q = "<?xml version=\"1.0\"?><C:calendar-query " NS "><D:prop><D:getetag/>"
                    "</D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"><C:comp-filter "
                    "name=\"VEVENT\"><C:time-range start=\"20260201T000000Z\" "
                    "end=\"20260301T000000Z\"/></C:comp-filter></C:comp-filter></C:filter>"
                    "</C:calendar-query>";
    struct http_test_resp r = rf_run(f, "alice", "REPORT", CAL, XMLH("1"), q);
    rf_show("query", &r);
    assert_int_equal(r.status, 207);
    /* the event ending at the window's start and the one starting at its end are out */
    assert_int_equal(count(r.body, "<D:response>"), 2);
    assert_string_equal(r.body,
                        arena_printf(f->a, MS_OPEN "%s%s</D:multistatus>\n",
                                     etag_row(f, "edge.ics", edge), etag_row(f, "feb.ics", feb)));
}

/* The calendar-data element of event(uid, start, end) as a multistatus carries it. */
static char *cal_data(
    struct route_fixture *f, const char *uid, const char *start, const char *end, const char *uid2)
{
    return arena_printf(f->a,
                        "<C:calendar-data>BEGIN:VCALENDAR&#13;\nVERSION:2.0&#13;\n"
                        "PRODID:-//Almanac tests//EN&#13;\nBEGIN:VEVENT&#13;\nUID:%s&#13;\n"
                        "DTSTAMP:20260101T000000Z&#13;\nDTSTART:%s&#13;\nDTEND:%s&#13;\n"
                        "SUMMARY:event %s&#13;\nEND:VEVENT&#13;\nEND:VCALENDAR&#13;\n"
                        "</C:calendar-data>",
                        uid, start, end, uid2);
}

static void test_calendar_multiget(void **state)
{
    struct route_fixture *f = *state;
    mkcalendar(f);
    const char *e0 = put(f, "m0.ics", event(f, "m0", "20260110T100000Z", "20260110T110000Z"), 201);
    const char *e1 = put(f, "m1.ics", event(f, "m1", "20260111T100000Z", "20260111T110000Z"), 201);
    const char *q = "<?xml version=\"1.0\"?><C:calendar-multiget " NS "><D:prop><D:getetag/>"
                    "<C:calendar-data/></D:prop><D:href>" CAL "m1.ics</D:href><D:href>" CAL
                    "m0.ics</D:href><D:href>" CAL "m9.ics</D:href></C:calendar-multiget>";
    struct http_test_resp r = rf_run(f, "alice", "REPORT", CAL, XMLH("1"), q);
    rf_show("multiget", &r);
    assert_int_equal(r.status, 207);
    assert_int_equal(count(r.body, "<D:response>"), 3);

    char *want = arena_printf(
        f->a,
        MS_OPEN "<D:response><D:href>" CAL "m1.ics</D:href><D:propstat><D:prop><D:getetag>%s"
                "</D:getetag>%s</D:prop>" OK_STATUS "</D:propstat></D:response>\n"
                "<D:response><D:href>" CAL "m0.ics</D:href><D:propstat><D:prop><D:getetag>%s"
                "</D:getetag>%s</D:prop>" OK_STATUS "</D:propstat></D:response>\n"
                "<D:response><D:href>" CAL "m9.ics</D:href><D:status>HTTP/1.1 404 Not Found"
                "</D:status></D:response>\n</D:multistatus>\n",
        e1, cal_data(f, "m1", "20260111T100000Z", "20260111T110000Z", "m1"), e0,
        cal_data(f, "m0", "20260110T100000Z", "20260110T110000Z", "m0"));
    assert_string_equal(r.body, want);
}

static struct http_test_resp sync(struct route_fixture *f, const char *token)
{
    const char *q = arena_printf(f->a,
                                 "<?xml version=\"1.0\"?><D:sync-collection " NS "><D:sync-token>%s"
                                 "</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/>"
                                 "</D:prop></D:sync-collection>",
                                 token);
    return rf_run(f, "alice", "REPORT", CAL, XMLH("0"), q);
}

static void test_sync_collection(void **state)
{
    struct route_fixture *f = *state;
    mkcalendar(f);
    const char *ea = put(f, "a.ics", event(f, "a", "20260110T100000Z", "20260110T110000Z"), 201);
    const char *eb = put(f, "b.ics", event(f, "b", "20260111T100000Z", "20260111T110000Z"), 201);
    struct http_test_resp r = sync(f, "");
    rf_show("sync initial", &r);
    assert_int_equal(r.status, 207);
    char *t1 = token_of(f, &r);
    assert_true(strncmp(t1, "urn:x-almanac:sync:", 19) == 0);
    assert_string_equal(r.body,
                        arena_printf(f->a,
                                     MS_OPEN "%s%s<D:sync-token>%s</D:sync-token>\n"
                                             "</D:multistatus>\n",
                                     etag_row(f, "a.ics", ea), etag_row(f, "b.ics", eb), t1));
    /* nothing changed: no rows, the same token */
    r = sync(f, t1);
    assert_int_equal(r.status, 207);
    assert_string_equal(r.body, arena_printf(f->a,
                                             MS_OPEN "<D:sync-token>%s</D:sync-token>\n"
                                                     "</D:multistatus>\n",
                                             t1));
    /* a change and a delete */
    const char *ea2 = put(f, "a.ics", event(f, "a", "20260110T120000Z", "20260110T130000Z"), 204);
    assert_int_equal(rf_run(f, "alice", "DELETE", CAL "b.ics", NULL, NULL).status, 204);
    r = sync(f, t1);
    rf_show("sync incremental", &r);
    assert_int_equal(r.status, 207);
    char *t2 = token_of(f, &r);
    assert_string_not_equal(t1, t2);
    assert_string_equal(r.body,
                        arena_printf(f->a,
                                     MS_OPEN "%s<D:response><D:href>" CAL "b.ics</D:href>"
                                             "<D:status>HTTP/1.1 404 Not Found</D:status>"
                                             "</D:response>\n<D:sync-token>%s</D:sync-token>\n"
                                             "</D:multistatus>\n",
                                     etag_row(f, "a.ics", ea2), t2));
    /* a forged token, and one of another collection's form */
    r = sync(f, "urn:x-almanac:sync:99-1-99");
    rf_show("sync forged", &r);
    assert_cond(&r, 403, "valid-sync-token");
    assert_non_null(strstr(r.body, "<D:valid-sync-token/>"));
    r = sync(f, "garbage");
    assert_cond(&r, 403, "valid-sync-token");
}

/* Answers of ETags alone longer than one call's batch of rows (DAV_MS_BATCH, 32 KiB): every
 * row once, in order, byte for byte; a name the XML text must escape, in the middle, goes
 * through the general path between two batched runs. Initial sync (modseq order) and a
 * Depth-1 PROPFIND (name order) give the same order here. */
static void test_etag_listings_span_several_batches(void **state)
{
    struct route_fixture *f = *state;
    mkcalendar(f);

    enum {
        N = 400
    }; /* about 200 bytes a row: 80 KB */
    struct buf want;
    buf_init(&want, 1u << 20);
    for (int i = 0; i < N; i++) {
        const char *name = arena_printf(f->a, i == N / 2 ? "e%03d&x.ics" : "e%03d.ics", i);
        const char *uid = arena_printf(f->a, "u%d", i);
        const char *etag = put(f, name, event(f, uid, "20260110T100000Z", "20260110T110000Z"), 201);
        const char *href = i == N / 2 ? arena_printf(f->a, "e%03d&amp;x.ics", i) : name;
        assert_int_equal(buf_append_cstr(&want, etag_row(f, href, etag)), 0);
    }
    struct http_test_resp r = sync(f, "");
    assert_int_equal(r.status, 207);
    assert_string_equal(r.body, arena_printf(f->a,
                                             MS_OPEN "%s<D:sync-token>%s</D:sync-token>\n"
                                                     "</D:multistatus>\n",
                                             buf_cstr(&want), token_of(f, &r)));
    r = rf_run(f, "alice", "PROPFIND", CAL, H("Depth", "1"),
               "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop><D:getetag/>"
               "</D:prop></D:propfind>");
    assert_int_equal(r.status, 207);
    const char *first = strstr(r.body, "<D:response><D:href>" CAL "e000.ics</D:href>");
    assert_non_null(first);
    assert_string_equal(first, arena_printf(f->a, "%s</D:multistatus>\n", buf_cstr(&want)));
    buf_deinit(&want);
}

static void test_put_refused(void **state)
{
    struct route_fixture *f = *state;
    mkcalendar(f);
    struct http_test_resp r = rf_run(f, "alice", "PUT", CAL "bad.ics", ICS, "not a calendar");
    rf_show("bad", &r);
    assert_cond(&r, 403, "valid-calendar-data");
    assert_non_null(strstr(r.body, "<P:valid-calendar-data "
                                   "xmlns:P=\"urn:ietf:params:xml:ns:caldav\"/>"));
    assert_int_equal(rf_run(f, "alice", "GET", CAL "bad.ics", NULL, NULL).status, 404);
    put(f, "a.ics", event(f, "dup", "20260110T100000Z", "20260110T110000Z"), 201);
    r = rf_run(f, "alice", "PUT", CAL "b.ics", ICS,
               event(f, "dup", "20260110T100000Z", "20260110T110000Z"));
    rf_show("dup", &r);
    assert_cond(&r, 409, "no-uid-conflict");
    assert_non_null(strstr(r.body, "<P:no-uid-conflict xmlns:P=\"urn:ietf:params:xml:ns:caldav\">"
                                   "<D:href>" CAL "a.ics</D:href></P:no-uid-conflict>"));
    assert_int_equal(rf_run(f, "alice", "GET", CAL "b.ics", NULL, NULL).status, 404);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mkcalendar, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_calendar_query_time_range, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_calendar_multiget, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_sync_collection, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_etag_listings_span_several_batches, rf_setup,
                                        rf_teardown),
        cmocka_unit_test_setup_teardown(test_put_refused, rf_setup, rf_teardown),
    };
    return RF_RUN(tests);
}
