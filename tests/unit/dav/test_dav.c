/* tests/unit/dav/test_dav.c: the WebDAV core through its route, in process (issue #11 item 5):
 * PROPFIND Depth 0 and 1 on a collection, PUT with If-Match/If-None-Match, DELETE, MKCOL,
 * COPY and MOVE with Overwrite, PROPPATCH of a dead property and the If header's state
 * tokens, each answer asserted whole where it is short. A real store in a temporary
 * directory (route_fixture.h); no socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "route_fixture.h"

#define H(...) ((const char *const[]){__VA_ARGS__, NULL})

#define MS_OPEN                                                                           \
  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" "          \
  "xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:CS=\"http://calendarserver.org/ns/\" " \
  "xmlns:A=\"urn:x-almanac:\">"
#define OK_STATUS "<D:status>HTTP/1.1 200 OK</D:status>"
#define NF_STATUS "<D:status>HTTP/1.1 404 Not Found</D:status>"
#define DIR_ROW                                                                             \
  "<D:response><D:href>/calendars/alice/dir/</D:href><D:propstat><D:prop><D:resourcetype>"  \
  "<D:collection/></D:resourcetype></D:prop>" OK_STATUS "</D:propstat><D:propstat><D:prop>" \
  "<D:getcontentlength/><D:getcontenttype/></D:prop>" NF_STATUS "</D:propstat></D:response>"

/* The answer is an error with this condition, named in its body's A:reason. */
static void assert_cond(const struct http_test_resp *r, unsigned status, const char *cond)
{
    assert_int_equal(r->status, status);
    assert_non_null(r->cond);
    assert_string_equal(r->cond, cond);
    char reason[128];
    snprintf(reason, sizeof(reason), "<A:reason>%s</A:reason>", cond);
    assert_non_null(strstr(r->body, reason));
    assert_string_equal(http_test_resp_header(r, "Content-Type"), "application/xml; charset=utf-8");
}

static const char *etag_of(const struct http_test_resp *r)
{
    const char *e = http_test_resp_header(r, "ETag");
    assert_non_null(e);
    return e;
}

static void test_propfind_depth_0_and_1(void **state)
{
    struct route_fixture *f = *state;
    struct http_test_resp r = rf_run(f, "alice", "MKCOL", "/calendars/alice/dir/", NULL, NULL);
    rf_show("mkcol", &r);
    assert_int_equal(r.status, 201);
    r = rf_run(f, "alice", "PUT", "/calendars/alice/dir/a.txt", H("Content-Type", "text/plain"),
               "one");
    rf_show("put", &r);
    assert_int_equal(r.status, 201);
    const char *body = "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop>"
                       "<D:resourcetype/><D:getcontentlength/><D:getcontenttype/>"
                       "</D:prop></D:propfind>";
    r = rf_run(f, "alice", "PROPFIND", "/calendars/alice/dir/", H("Depth", "0"), body);
    rf_show("propfind0", &r);
    assert_int_equal(r.status, 207);
    assert_false(r.is_streamed && r.body_len == 0);
    assert_string_equal(r.body, MS_OPEN "\n" DIR_ROW "\n</D:multistatus>\n");
    r = rf_run(f, "alice", "PROPFIND", "/calendars/alice/dir/", H("Depth", "1"), body);
    rf_show("propfind1", &r);
    assert_int_equal(r.status, 207);
    assert_string_equal(r.body, MS_OPEN
                        "\n" DIR_ROW
                        "\n<D:response><D:href>/calendars/alice/dir/a.txt</D:href><D:propstat>"
                        "<D:prop><D:resourcetype></D:resourcetype><D:getcontentlength>3"
                        "</D:getcontentlength><D:getcontenttype>text/plain</D:getcontenttype>"
                        "</D:prop>" OK_STATUS "</D:propstat></D:response>\n</D:multistatus>\n");
    /* Depth 1 of the home lists dir as a member */
    r = rf_run(f, "alice", "PROPFIND", "/calendars/alice/", H("Depth", "1"), body);
    assert_int_equal(r.status, 207);
    assert_non_null(strstr(r.body, DIR_ROW));
    /* an unknown Depth: 400 */
    r = rf_run(f, "alice", "PROPFIND", "/calendars/alice/dir/", H("Depth", "2"), body);
    assert_int_equal(r.status, 400);
}

/* A Depth-1 PROPFIND of getetag alone, the listing every syncing client makes: its item rows
 * are written by propfind.c's one-property path (issue 16 item 1), byte for byte what the
 * general path writes. An href that needs escaping, the collection's own row (no ETag: 404)
 * and a request naming DAV: by another prefix go through the general path or the same tags. */
static void test_propfind_getetag_rows_are_exact(void **state)
{
    struct route_fixture *f = *state;
    struct http_test_resp r = rf_run(f, "alice", "MKCOL", "/calendars/alice/dir/", NULL, NULL);
    assert_int_equal(r.status, 201);
    r = rf_run(f, "alice", "PUT", "/calendars/alice/dir/a.txt", H("Content-Type", "text/plain"),
               "one");
    assert_int_equal(r.status, 201);
    char etag_a[64];
    snprintf(etag_a, sizeof(etag_a), "%s", etag_of(&r));
    r = rf_run(f, "alice", "PUT", "/calendars/alice/dir/b&c.txt", H("Content-Type", "text/plain"),
               "two");
    assert_int_equal(r.status, 201);
    char etag_b[64];
    snprintf(etag_b, sizeof(etag_b), "%s", etag_of(&r));
    r = rf_run(f, "alice", "PUT", "/calendars/alice/dir/d%20%C3%A9.txt",
               H("Content-Type", "text/plain"), "three");
    assert_int_equal(r.status, 201);
    char etag_d[64];
    snprintf(etag_d, sizeof(etag_d), "%s", etag_of(&r));
    char want[2048];
    snprintf(want, sizeof(want),
             MS_OPEN "\n<D:response><D:href>/calendars/alice/dir/</D:href><D:propstat><D:prop>"
                     "<D:getetag/></D:prop>" NF_STATUS "</D:propstat></D:response>\n"
                     "<D:response><D:href>/calendars/alice/dir/a.txt</D:href><D:propstat><D:prop>"
                     "<D:getetag>%s</D:getetag></D:prop>" OK_STATUS "</D:propstat></D:response>\n"
                     "<D:response><D:href>/calendars/alice/dir/b&amp;c.txt</D:href><D:propstat>"
                     "<D:prop><D:getetag>%s</D:getetag></D:prop>" OK_STATUS
                     "</D:propstat></D:response>\n"
                     "<D:response><D:href>/calendars/alice/dir/d%%20%%C3%%A9.txt</D:href>"
                     "<D:propstat><D:prop><D:getetag>%s</D:getetag></D:prop>" OK_STATUS
                     "</D:propstat></D:response>\n</D:multistatus>\n",
             etag_a, etag_b, etag_d);
    const char *bodies[] = {"<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\"><D:prop>"
                            "<D:getetag/></D:prop></D:propfind>",
                            "<?xml version=\"1.0\"?><x:propfind xmlns:x=\"DAV:\"><x:prop>"
                            "<x:getetag/></x:prop></x:propfind>"};
    for (size_t i = 0; i < 2; i++) {
        r = rf_run(f, "alice", "PROPFIND", "/calendars/alice/dir/", H("Depth", "1"), bodies[i]);
        rf_show("propfind getetag", &r);
        assert_int_equal(r.status, 207);
        assert_string_equal(r.body, want);
    }
    /* a collection whose href the XML text must escape: every row by the general path */
    assert_int_equal(rf_run(f, "alice", "MKCOL", "/calendars/alice/x&y/", NULL, NULL).status, 201);
    r = rf_run(f, "alice", "PUT", "/calendars/alice/x&y/a.txt", H("Content-Type", "text/plain"),
               "four");
    assert_int_equal(r.status, 201);
    snprintf(want, sizeof(want),
             MS_OPEN "\n<D:response><D:href>/calendars/alice/x&amp;y/</D:href><D:propstat><D:prop>"
                     "<D:getetag/></D:prop>" NF_STATUS "</D:propstat></D:response>\n"
                     "<D:response><D:href>/calendars/alice/x&amp;y/a.txt</D:href><D:propstat>"
                     "<D:prop><D:getetag>%s</D:getetag></D:prop>" OK_STATUS
                     "</D:propstat></D:response>\n</D:multistatus>\n",
             etag_of(&r));
    r = rf_run(f, "alice", "PROPFIND", "/calendars/alice/x&y/", H("Depth", "1"), bodies[0]);
    rf_show("propfind getetag x&y", &r);
    assert_int_equal(r.status, 207);
    assert_string_equal(r.body, want);
}

static struct http_test_resp
put(struct route_fixture *f, const char *path, const char *const *headers, const char *body)
{
    return rf_run(f, "alice", "PUT", path, headers, body);
}

static const char *get_body(struct route_fixture *f, const char *path, unsigned *status)
{
    struct http_test_resp r = rf_run(f, "alice", "GET", path, NULL, NULL);
    *status = r.status;
    return r.body;
}

static void test_put_conditions(void **state)
{
    struct route_fixture *f = *state;
    assert_int_equal(rf_run(f, "alice", "MKCOL", "/calendars/alice/dir/", NULL, NULL).status, 201);
    const char *p = "/calendars/alice/dir/a.txt";
    /* If-Match on nothing: 412; If-None-Match: * creates */
    struct http_test_resp r = put(f, p, H("If-Match", "\"nope\""), "x");
    rf_show("if-match none", &r);
    assert_cond(&r, 412, "precondition-failed");
    assert_non_null(strstr(r.body, "<A:message>If-Match does not match</A:message>"));
    r = put(f, p, H("If-None-Match", "*"), "one");
    assert_int_equal(r.status, 201);
    const char *e1 = etag_of(&r);
    /* If-None-Match: * on an existing one: 412, content kept */
    r = put(f, p, H("If-None-Match", "*"), "two");
    rf_show("if-none-match exists", &r);
    assert_int_equal(r.status, 412);
    assert_string_equal(r.cond, "precondition-failed");
    unsigned st;
    assert_string_equal(get_body(f, p, &st), "one");
    /* a stale If-Match: 412 */
    r = put(f, p, H("If-Match", "\"0000\""), "two");
    assert_int_equal(r.status, 412);
    /* the current one: 204 with a new etag */
    r = put(f, p, H("If-Match", e1), "two");
    assert_int_equal(r.status, 204);
    assert_string_not_equal(etag_of(&r), e1);
    assert_string_equal(get_body(f, p, &st), "two");
    assert_int_equal(st, 200);
    /* no condition: replaced again */
    assert_int_equal(put(f, p, NULL, "three").status, 204);
    /* the old etag no longer matches */
    assert_int_equal(put(f, p, H("If-Match", e1), "four").status, 412);
    assert_string_equal(get_body(f, p, &st), "three");
}

static void test_delete_and_mkcol(void **state)
{
    struct route_fixture *f = *state;
    assert_int_equal(rf_run(f, "alice", "MKCOL", "/calendars/alice/dir/", NULL, NULL).status, 201);
    /* again: 405; below a missing parent: 409; with a body: 415 */
    struct http_test_resp r = rf_run(f, "alice", "MKCOL", "/calendars/alice/dir/", NULL, NULL);
    rf_show("mkcol again", &r);
    assert_cond(&r, 405, "resource-must-be-null");
    assert_non_null(strstr(r.body, "<D:error xmlns:D=\"DAV:\""));
    assert_non_null(strstr(r.body, "><D:resource-must-be-null/><A:reason>"));
    r = rf_run(f, "alice", "MKCOL", "/calendars/alice/no/sub/", NULL, NULL);
    rf_show("mkcol no parent", &r);
    assert_cond(&r, 409, "parent-missing");
    r = rf_run(f, "alice", "MKCOL", "/calendars/alice/d2/", NULL, "<x/>");
    rf_show("mkcol body", &r);
    assert_cond(&r, 415, "unsupported-media-type");
    assert_int_equal(put(f, "/calendars/alice/dir/a.txt", NULL, "one").status, 201);
    r = rf_run(f, "alice", "DELETE", "/calendars/alice/dir/a.txt", H("If-Match", "\"x\""), NULL);
    assert_int_equal(r.status, 412);
    r = rf_run(f, "alice", "DELETE", "/calendars/alice/dir/a.txt", NULL, NULL);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.body_len, 0);
    unsigned st;
    (void)get_body(f, "/calendars/alice/dir/a.txt", &st);
    assert_int_equal(st, 404);
    r = rf_run(f, "alice", "DELETE", "/calendars/alice/dir/a.txt", NULL, NULL);
    assert_int_equal(r.status, 404);
    /* a collection with its members */
    assert_int_equal(put(f, "/calendars/alice/dir/b.txt", NULL, "b").status, 201);
    assert_int_equal(rf_run(f, "alice", "DELETE", "/calendars/alice/dir/", NULL, NULL).status, 204);
    (void)get_body(f, "/calendars/alice/dir/b.txt", &st);
    assert_int_equal(st, 404);
    /* another user's tree answers as for nothing */
    r = rf_run(f, "bob", "DELETE", "/calendars/alice/", NULL, NULL);
    rf_show("bob deletes", &r);
    assert_cond(&r, 404, "not-found");
}

static void test_copy_move_overwrite(void **state)
{
    struct route_fixture *f = *state;
    assert_int_equal(rf_run(f, "alice", "MKCOL", "/calendars/alice/dir/", NULL, NULL).status, 201);
    assert_int_equal(put(f, "/calendars/alice/dir/a.txt", NULL, "aaa").status, 201);
    assert_int_equal(put(f, "/calendars/alice/dir/b.txt", NULL, "bbb").status, 201);
    const char *dst = "http://localhost/calendars/alice/dir/b.txt";
    /* COPY onto an existing one with Overwrite: F is 412, T is 204 */
    struct http_test_resp r = rf_run(f, "alice", "COPY", "/calendars/alice/dir/a.txt",
                                     H("Destination", dst, "Overwrite", "F"), NULL);
    rf_show("copy F", &r);
    assert_cond(&r, 412, "precondition-failed");
    unsigned st;
    assert_string_equal(get_body(f, "/calendars/alice/dir/b.txt", &st), "bbb");
    r = rf_run(f, "alice", "COPY", "/calendars/alice/dir/a.txt",
               H("Destination", dst, "Overwrite", "T"), NULL);
    assert_int_equal(r.status, 204);
    assert_string_equal(get_body(f, "/calendars/alice/dir/b.txt", &st), "aaa");
    /* COPY to a new name: 201, the source stays */
    r = rf_run(f, "alice", "COPY", "/calendars/alice/dir/a.txt",
               H("Destination", "/calendars/alice/dir/c.txt"), NULL);
    rf_show("copy new", &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(http_test_resp_header(&r, "Location"), "/calendars/alice/dir/c.txt");
    assert_string_equal(get_body(f, "/calendars/alice/dir/a.txt", &st), "aaa");
    /* MOVE to a new name: 201, the source is gone */
    r = rf_run(f, "alice", "MOVE", "/calendars/alice/dir/c.txt",
               H("Destination", "/calendars/alice/dir/d.txt"), NULL);
    assert_int_equal(r.status, 201);
    (void)get_body(f, "/calendars/alice/dir/c.txt", &st);
    assert_int_equal(st, 404);
    assert_string_equal(get_body(f, "/calendars/alice/dir/d.txt", &st), "aaa");
    /* MOVE onto an existing one without Overwrite (T by default): 204 */
    assert_int_equal(put(f, "/calendars/alice/dir/d.txt", NULL, "ddd").status, 204);
    r = rf_run(f, "alice", "MOVE", "/calendars/alice/dir/d.txt",
               H("Destination", "/calendars/alice/dir/a.txt", "Overwrite", "F"), NULL);
    assert_int_equal(r.status, 412);
    r = rf_run(f, "alice", "MOVE", "/calendars/alice/dir/d.txt",
               H("Destination", "/calendars/alice/dir/a.txt"), NULL);
    assert_int_equal(r.status, 204);
    assert_string_equal(get_body(f, "/calendars/alice/dir/a.txt", &st), "ddd");
    /* onto itself: 403 */
    r = rf_run(f, "alice", "MOVE", "/calendars/alice/dir/a.txt",
               H("Destination", "/calendars/alice/dir/a.txt"), NULL);
    rf_show("move self", &r);
    assert_cond(&r, 403, "source-is-destination");
}

static void test_proppatch_dead_property(void **state)
{
    struct route_fixture *f = *state;
    assert_int_equal(rf_run(f, "alice", "MKCOL", "/calendars/alice/dir/", NULL, NULL).status, 201);
    const char *set = "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\" "
                      "xmlns:Z=\"urn:example\"><D:set><D:prop><Z:color>blue &amp; green"
                      "</Z:color></D:prop></D:set></D:propertyupdate>";
    struct http_test_resp r = rf_run(f, "alice", "PROPPATCH", "/calendars/alice/dir/", NULL, set);
    rf_show("proppatch", &r);
    assert_int_equal(r.status, 207);
    assert_string_equal(r.body, MS_OPEN "<D:response><D:href>/calendars/alice/dir/</D:href>"
                                        "<D:propstat><D:prop><X:color xmlns:X=\"urn:example\"/>"
                                        "</D:prop>" OK_STATUS "</D:propstat></D:response>"
                                        "</D:multistatus>\n");
    const char *find = "<?xml version=\"1.0\"?><D:propfind xmlns:D=\"DAV:\" "
                       "xmlns:Z=\"urn:example\"><D:prop><Z:color/></D:prop></D:propfind>";
    r = rf_run(f, "alice", "PROPFIND", "/calendars/alice/dir/", H("Depth", "0"), find);
    rf_show("propfind dead", &r);
    assert_int_equal(r.status, 207);
    assert_string_equal(r.body, MS_OPEN "\n<D:response><D:href>/calendars/alice/dir/</D:href>"
                                        "<D:propstat><D:prop><X:color xmlns:X=\"urn:example\">"
                                        "blue &amp; green</X:color></D:prop>" OK_STATUS
                                        "</D:propstat></D:response>\n</D:multistatus>\n");
    const char *rm = "<?xml version=\"1.0\"?><D:propertyupdate xmlns:D=\"DAV:\" "
                     "xmlns:Z=\"urn:example\"><D:remove><D:prop><Z:color/></D:prop></D:remove>"
                     "</D:propertyupdate>";
    r = rf_run(f, "alice", "PROPPATCH", "/calendars/alice/dir/", NULL, rm);
    assert_int_equal(r.status, 207);
    r = rf_run(f, "alice", "PROPFIND", "/calendars/alice/dir/", H("Depth", "0"), find);
    rf_show("propfind removed", &r);
    assert_int_equal(r.status, 207);
    assert_string_equal(r.body, MS_OPEN "\n<D:response><D:href>/calendars/alice/dir/</D:href>"
                                        "<D:propstat><D:prop><X:color xmlns:X=\"urn:example\"/>"
                                        "</D:prop>" NF_STATUS
                                        "</D:propstat></D:response>\n</D:multistatus>\n");
}

static void test_if_header_state_tokens(void **state)
{
    struct route_fixture *f = *state;
    assert_int_equal(rf_run(f, "alice", "MKCOL", "/calendars/alice/dir/", NULL, NULL).status, 201);
    struct http_test_resp r = put(f, "/calendars/alice/dir/a.txt", NULL, "one");
    const char *etag = etag_of(&r);
    char good[128], bad[128], tagged[256], notlock[128];
    snprintf(good, sizeof(good), "([%s])", etag);
    snprintf(bad, sizeof(bad), "([\"00\"])");
    snprintf(tagged, sizeof(tagged), "<http://localhost/calendars/alice/dir/a.txt> ([%s])", etag);
    snprintf(notlock, sizeof(notlock), "(Not <urn:uuid:x> [%s])", etag);
    r = put(f, "/calendars/alice/dir/a.txt", H("If", bad), "two");
    rf_show("if bad", &r);
    assert_cond(&r, 412, "precondition-failed");
    assert_non_null(strstr(r.body, "<A:message>If header evaluates to false</A:message>"));
    /* the 412 carries the current state as an error header */
    assert_string_equal(http_test_resp_header(&r, "ETag"), etag);
    /* an unknown lock token is never held */
    r = put(f, "/calendars/alice/dir/a.txt", H("If", "(<urn:uuid:nolock>)"), "two");
    assert_int_equal(r.status, 412);
    r = put(f, "/calendars/alice/dir/a.txt", H("If", notlock), "two");
    rf_show("if notlock", &r);
    assert_int_equal(r.status, 204);
    const char *e2 = etag_of(&r);
    /* the old etag is now false; a tagged list with the current one is true */
    r = put(f, "/calendars/alice/dir/a.txt", H("If", good), "three");
    assert_int_equal(r.status, 412);
    snprintf(tagged, sizeof(tagged), "<http://localhost/calendars/alice/dir/a.txt> ([%s])", e2);
    r = put(f, "/calendars/alice/dir/a.txt", H("If", tagged), "three");
    assert_int_equal(r.status, 204);
    /* a list that does not parse: 400 */
    r = put(f, "/calendars/alice/dir/a.txt", H("If", "([\"x\""), "four");
    rf_show("if garbage", &r);
    assert_cond(&r, 400, "bad-request");
    unsigned st;
    assert_string_equal(get_body(f, "/calendars/alice/dir/a.txt", &st), "three");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_propfind_depth_0_and_1, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_propfind_getetag_rows_are_exact, rf_setup,
                                        rf_teardown),
        cmocka_unit_test_setup_teardown(test_put_conditions, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_mkcol, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_copy_move_overwrite, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_proppatch_dead_property, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_if_header_state_tokens, rf_setup, rf_teardown),
    };
    return RF_RUN(tests);
}
