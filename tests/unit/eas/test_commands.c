/* tests/unit/eas/test_commands.c: ActiveSync commands through the route, in process (issue #11
 * item 5): FolderSync initial, Sync initial (SyncKey 0 -> 1), a window with items, a client
 * Add answered with a ServerId and stored (checked through the store), GetItemEstimate, and
 * an invalid SyncKey (Status 3). Requests are built with the encoder of eas/wbxml.h and
 * answers read as its XML dump. A real store in a temporary directory (route_fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eas/wbxml.h"
#include "route_fixture.h"
#include "util/buf.h"

#define CAL "/calendars/alice/cal/"

static const char *const WBXML_HEADERS[] = {"Content-Type",
                                            "application/vnd.ms-sync.wbxml",
                                            "MS-ASProtocolVersion",
                                            "14.1",
                                            "User-Agent",
                                            "Almanac-UnitPhone/1.0",
                                            NULL};

/* POSTs the document `b` as command `cmd` of device DEV1; the answer's body as one line of
 * XML (eas_wbxml_to_xml), "" when it has none. */
static char *command(struct route_fixture *f, const char *cmd, struct buf *b, unsigned *status)
{
    const char *target = arena_printf(
        f->a, "/Microsoft-Server-ActiveSync?Cmd=%s&User=alice&DeviceId=DEV1&DeviceType=UnitPhone",
        cmd);
    struct http_test_resp r = rf_run_n(f, "alice", "POST", target, WBXML_HEADERS, b->data, b->len);
    buf_deinit(b);
    rf_show(cmd, &r);
    *status = r.status;
    if (r.body_len == 0) {
        return arena_strdup(f->a, "");
    }
    assert_string_equal(http_test_resp_header(&r, "Content-Type"), "application/vnd.ms-sync.wbxml");
    struct buf x;
    buf_init(&x, 1u << 20);
    struct err err;
    err_init(&err);
    assert_int_equal(eas_wbxml_to_xml(r.body, r.body_len, &x, &err), 0);
    char *out = arena_strdup(f->a, buf_cstr(&x));
    buf_deinit(&x);
    if (getenv("RF_SHOW")) {
        printf("%s\n", out);
    }
    return out;
}

/* The text of the first <tag>...</tag> in xml after `from` (NULL: none). */
static char *text_of(struct route_fixture *f, const char *xml, const char *tag)
{
    const char *open = arena_printf(f->a, "<%s>", tag);
    const char *p = strstr(xml, open);
    if (!p) {
        return NULL;
    }
    p += strlen(open);
    return arena_strndup(f->a, p, strcspn(p, "<"));
}

#define SYNC_OPEN "<Sync xmlns=\"AirSync\"><Collections><Collection><SyncKey>"

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static void enc_begin(struct eas_wbxml_enc *e, struct buf *b)
{
    buf_init(b, 1u << 20);
    assert_int_equal(eas_enc_begin(e, b), 0);
}

static char *folder_sync(struct route_fixture *f, const char *key, unsigned *status)
{
    struct eas_wbxml_enc e;
    struct buf b;
    enc_begin(&e, &b);
    assert_int_equal(eas_enc_start(&e, EAS_FH_FOLDERSYNC), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_FH_SYNCKEY, key), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    return command(f, "FolderSync", &b, status);
}

/* One calendar ApplicationData of the client (14.1 vocabulary), UTC. */
static void
appdata(struct eas_wbxml_enc *e, const char *subject, const char *start, const char *end)
{
    static char tz[233];
    if (!tz[0]) {
        memset(tz, 'A', 230); /* 172 zero bytes: UTC */
        memcpy(tz + 230, "==", 3);
    }
    assert_int_equal(eas_enc_start(e, EAS_AS_APPLICATIONDATA), 0);
    assert_int_equal(eas_enc_cstr(e, EAS_CAL_TIMEZONE, tz), 0);
    assert_int_equal(eas_enc_cstr(e, EAS_CAL_ALLDAYEVENT, "0"), 0);
    assert_int_equal(eas_enc_cstr(e, EAS_CAL_STARTTIME, start), 0);
    assert_int_equal(eas_enc_cstr(e, EAS_CAL_ENDTIME, end), 0);
    assert_int_equal(eas_enc_cstr(e, EAS_CAL_SUBJECT, subject), 0);
    assert_int_equal(eas_enc_cstr(e, EAS_CAL_SENSITIVITY, "0"), 0);
    assert_int_equal(eas_enc_cstr(e, EAS_CAL_BUSYSTATUS, "2"), 0);
    assert_int_equal(eas_enc_cstr(e, EAS_CAL_MEETINGSTATUS, "0"), 0);
    assert_int_equal(eas_enc_end(e), 0);
}

/* A Sync of one collection; `add_subject` adds one client Add (ClientId c-1). */
static char *sync(struct route_fixture *f,
                  const char *coll,
                  const char *key,
                  bool get_changes,
                  unsigned window,
                  const char *add_subject,
                  unsigned *status)
{
    struct eas_wbxml_enc e;
    struct buf b;
    enc_begin(&e, &b);
    assert_int_equal(eas_enc_start(&e, EAS_AS_SYNC), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_COLLECTIONS), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_COLLECTION), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_AS_SYNCKEY, key), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_AS_COLLECTIONID, coll), 0);
    if (get_changes) {
        assert_int_equal(eas_enc_empty(&e, EAS_AS_GETCHANGES), 0);
    }
    if (window) {
        assert_int_equal(eas_enc_uint(&e, EAS_AS_WINDOWSIZE, window), 0);
    }
    if (add_subject) {
        assert_int_equal(eas_enc_start(&e, EAS_AS_COMMANDS), 0);
        assert_int_equal(eas_enc_start(&e, EAS_AS_ADD), 0);
        assert_int_equal(eas_enc_cstr(&e, EAS_AS_CLIENTID, "c-1"), 0);
        appdata(&e, add_subject, "20260105T100000Z", "20260105T110000Z");
        assert_int_equal(eas_enc_end(&e), 0);
        assert_int_equal(eas_enc_end(&e), 0);
    }
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    return command(f, "Sync", &b, status);
}

static char *estimate(struct route_fixture *f, const char *coll, const char *key, unsigned *status)
{
    struct eas_wbxml_enc e;
    struct buf b;
    enc_begin(&e, &b);
    assert_int_equal(eas_enc_start(&e, EAS_GIE_GETITEMESTIMATE), 0);
    assert_int_equal(eas_enc_start(&e, EAS_GIE_COLLECTIONS), 0);
    assert_int_equal(eas_enc_start(&e, EAS_GIE_COLLECTION), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_AS_SYNCKEY, key), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_GIE_COLLECTIONID, coll), 0);
    assert_int_equal(eas_enc_start(&e, EAS_AS_OPTIONS), 0);
    assert_int_equal(eas_enc_cstr(&e, EAS_AS_FILTERTYPE, "0"), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    return command(f, "GetItemEstimate", &b, status);
}

/* The GetItemEstimate answer for `coll` with `n` items to come. */
static char *estimate_answer(struct route_fixture *f, const char *coll, int n)
{
    return arena_printf(f->a,
                        "<GetItemEstimate xmlns=\"GetItemEstimate\"><Response><Status>1</Status>"
                        "<Collection><CollectionId>%s</CollectionId><Estimate>%d</Estimate>"
                        "</Collection></Response></GetItemEstimate>",
                        coll, n);
}

static void put_event(struct route_fixture *f, const char *name, const char *uid)
{
    const char *ics = arena_printf(
        f->a,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\n"
        "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\n"
        "SUMMARY:event %s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        uid, uid);
    const char *const h[] = {"Content-Type", "text/calendar", NULL};
    struct http_test_resp r = rf_run(f, "alice", "PUT", arena_printf(f->a, CAL "%s", name), h, ics);
    assert_int_equal(r.status, 201);
}

/* MKCALENDAR cal with `n` events, then FolderSync: the calendar's CollectionId. */
static char *setup_calendar(struct route_fixture *f, int n)
{
    assert_int_equal(rf_run(f, "alice", "MKCALENDAR", CAL, NULL, NULL).status, 201);
    for (int i = 0; i < n; i++) {
        put_event(f, arena_printf(f->a, "e%d.ics", i), arena_printf(f->a, "e%d", i));
    }
    unsigned st;
    char *x = folder_sync(f, "0", &st);
    assert_int_equal(st, 200);
    const char *p = strstr(x, "<DisplayName>cal</DisplayName>");
    assert_non_null(p);
    /* the Add element holding it */
    const char *add = p;
    while (add > x && strncmp(add, "<Add>", 5) != 0) {
        add--;
    }
    return text_of(f, add, "ServerId");
}

static void test_folder_sync(void **state)
{
    struct route_fixture *f = *state;
    assert_int_equal(rf_run(f, "alice", "MKCALENDAR", CAL, NULL, NULL).status, 201);
    unsigned st;
    char *x = folder_sync(f, "0", &st);
    assert_int_equal(st, 200);
    char *key = text_of(f, x, "SyncKey");
    assert_non_null(key);
    const char *other = "<Add><ServerId>inbox</ServerId><ParentId>0</ParentId><DisplayName>Inbox"
                        "</DisplayName><Type>2</Type></Add><Add><ServerId>drafts</ServerId>"
                        "<ParentId>0</ParentId><DisplayName>Drafts</DisplayName><Type>3</Type>"
                        "</Add><Add><ServerId>deleted</ServerId><ParentId>0</ParentId>"
                        "<DisplayName>Deleted Items</DisplayName><Type>4</Type></Add><Add>"
                        "<ServerId>sent</ServerId><ParentId>0</ParentId><DisplayName>Sent Items"
                        "</DisplayName><Type>5</Type></Add><Add><ServerId>outbox</ServerId>"
                        "<ParentId>0</ParentId><DisplayName>Outbox</DisplayName><Type>6</Type>"
                        "</Add><Add><ServerId>contacts</ServerId><ParentId>0</ParentId>"
                        "<DisplayName>Contacts</DisplayName><Type>9</Type></Add><Add><ServerId>"
                        "tasks</ServerId><ParentId>0</ParentId><DisplayName>Tasks</DisplayName>"
                        "<Type>7</Type></Add>";
    /* the calendar (type 8, named by its collection id) and the folders a phone expects */
    struct store *s = rf_store(f);
    struct store_principal p;
    struct store_coll c;
    assert_int_equal(store_principal_get(s, "alice", f->a, &p), STORE_OK);
    assert_int_equal(store_coll_lookup(s, p.home_id, "cal", f->a, &c), STORE_OK);
    rf_store_done(f);
    assert_string_equal(
        x, arena_printf(f->a,
                        "<FolderSync xmlns=\"FolderHierarchy\"><Status>1</Status><SyncKey>%s"
                        "</SyncKey><Changes><Count>8</Count><Add><ServerId>c%llu</ServerId>"
                        "<ParentId>0</ParentId><DisplayName>cal</DisplayName><Type>8</Type>"
                        "</Add>%s</Changes></FolderSync>",
                        key, (unsigned long long)c.id, other));
    /* the same key again: nothing changed */
    x = folder_sync(f, key, &st);
    assert_int_equal(st, 200);
    assert_null(strstr(x, "<Add>"));
    assert_string_equal(text_of(f, x, "Status"), "1");
    /* a key the server never gave: Status 9 */
    x = folder_sync(f, "garbage", &st);
    assert_int_equal(st, 200);
    assert_string_equal(text_of(f, x, "Status"), "9");
}

/* MS-ASCMD 2.2.3.177.4: FolderDelete and FolderUpdate without a body (no SyncKey) are
 * Status 10; the empty body has no root element, which the command read (found by fuzz_eas:
 * a NULL dereference; corpus/eas/24-folderdelete-empty-body). */
static void test_folder_change_without_a_body_is_status_10_issue_14(void **state)
{
    struct route_fixture *f = *state;
    static const char *const cmds[] = {"FolderDelete", "FolderUpdate"};
    static const char *const want[] = {
        "<FolderDelete xmlns=\"FolderHierarchy\"><Status>10</Status></FolderDelete>",
        "<FolderUpdate xmlns=\"FolderHierarchy\"><Status>10</Status></FolderUpdate>",
    };
    for (size_t i = 0; i < 2; i++) {
        struct buf b;
        buf_init(&b, 16);
        unsigned st;
        char *x = command(f, cmds[i], &b, &st);
        assert_int_equal(st, 200);
        assert_string_equal(x, want[i]);
    }
}

/* MS-ASCMD 2.2.3.177.6: a GetItemEstimate naming no collection (an empty body, or an empty
 * Collections) is Status 2, not an answer without a Status (found by fuzz_eas:
 * corpus/eas/26-getitemestimate-empty-body). */
static void test_getitemestimate_without_a_collection_is_status_2_issue_14(void **state)
{
    struct route_fixture *f = *state;
    static const char want[] =
        "<GetItemEstimate xmlns=\"GetItemEstimate\"><Response><Status>2</Status></Response>"
        "</GetItemEstimate>";
    struct buf b;
    buf_init(&b, 16);
    unsigned st;
    char *x = command(f, "GetItemEstimate", &b, &st);
    assert_int_equal(st, 200);
    assert_string_equal(x, want);
    struct eas_wbxml_enc e;
    enc_begin(&e, &b);
    assert_int_equal(eas_enc_start(&e, EAS_GIE_GETITEMESTIMATE), 0);
    assert_int_equal(eas_enc_empty(&e, EAS_GIE_COLLECTIONS), 0);
    assert_int_equal(eas_enc_end(&e), 0);
    assert_int_equal(eas_enc_finish(&e), 0);
    x = command(f, "GetItemEstimate", &b, &st);
    assert_int_equal(st, 200);
    assert_string_equal(x, want);
}

static void test_sync_initial_and_window(void **state)
{
    struct route_fixture *f = *state;
    char *coll = setup_calendar(f, 3);
    unsigned st;
    char *x = sync(f, coll, "0", false, 0, NULL, &st);
    assert_int_equal(st, 200);
    /* SyncKey 0 -> the first key of the pair, no commands */
    char *k1 = text_of(f, x, "SyncKey");
    assert_int_equal(strlen(k1), 18);
    assert_string_equal(k1 + 6, "000000000001");
    assert_string_equal(x, arena_printf(f->a,
                                        SYNC_OPEN "%s</SyncKey><CollectionId>%s"
                                                  "</CollectionId><Status>1</Status>"
                                                  "</Collection></Collections></Sync>",
                                        k1, coll));
    /* a window of 2 of the 3 events, and more available */
    x = sync(f, coll, k1, true, 2, NULL, &st);
    assert_int_equal(st, 200);
    char *k2 = text_of(f, x, "SyncKey");
    assert_string_not_equal(k1, k2);
    assert_int_equal(strncmp(k1, k2, 6), 0);
    assert_string_equal(k2 + 6, "000000000002");
    assert_string_equal(text_of(f, x, "Status"), "1");
    assert_non_null(strstr(x, "<Status>1</Status><MoreAvailable/><Commands><Add><ServerId>"));
    assert_int_equal(count(x, "<Add>"), 2);
    assert_non_null(strstr(x, "<calendar:Subject>event e0</calendar:Subject>"));
    assert_non_null(strstr(x, "<calendar:Subject>event e1</calendar:Subject>"));
    assert_non_null(strstr(x, "<calendar:StartTime>20260105T100000Z</calendar:StartTime>"
                              "<calendar:EndTime>20260105T110000Z</calendar:EndTime>"));
    /* the rest, and no more */
    x = sync(f, coll, k2, true, 2, NULL, &st);
    assert_int_equal(st, 200);
    assert_int_equal(count(x, "<Add>"), 1);
    assert_null(strstr(x, "MoreAvailable"));
    assert_non_null(strstr(x, "<calendar:Subject>event e2</calendar:Subject><calendar:UID>e2"
                              "</calendar:UID>"));
    /* a key the server never gave: Status 3, the key echoed */
    x = sync(f, coll, "999999", true, 2, NULL, &st);
    assert_int_equal(st, 200);
    assert_string_equal(x, arena_printf(f->a,
                                        SYNC_OPEN "999999</SyncKey><CollectionId>%s"
                                                  "</CollectionId><Status>3</Status>"
                                                  "</Collection></Collections></Sync>",
                                        coll));
}

static void test_client_add_and_estimate(void **state)
{
    struct route_fixture *f = *state;
    char *coll = setup_calendar(f, 1);
    unsigned st;
    char *x = sync(f, coll, "0", false, 0, NULL, &st);
    char *k1 = text_of(f, x, "SyncKey");
    x = estimate(f, coll, k1, &st);
    assert_int_equal(st, 200);
    assert_string_equal(x, estimate_answer(f, coll, 1));
    x = sync(f, coll, k1, true, 10, NULL, &st);
    char *k2 = text_of(f, x, "SyncKey");
    assert_int_equal(count(x, "<Add>"), 1);
    x = estimate(f, coll, k2, &st);
    assert_string_equal(x, estimate_answer(f, coll, 0));
    /* the phone adds an event: answered with its ServerId */
    x = sync(f, coll, k2, false, 0, "from the phone", &st);
    assert_int_equal(st, 200);
    char *k3 = text_of(f, x, "SyncKey");
    char *sid = text_of(f, x, "ServerId");
    assert_non_null(sid);
    assert_string_equal(x, arena_printf(f->a,
                                        SYNC_OPEN
                                        "%s</SyncKey><CollectionId>%s</CollectionId><Status>1"
                                        "</Status><Responses><Add><ClientId>c-1</ClientId>"
                                        "<ServerId>%s</ServerId><Status>1</Status></Add>"
                                        "</Responses></Collection></Collections></Sync>",
                                        k3, coll, sid));
    /* stored: the ServerId is <collection id>:<item id>, the item holds the event */
    unsigned long long cid, iid;
    assert_int_equal(sscanf(sid, "%llu:%llu", &cid, &iid), 2);
    assert_string_equal(coll, arena_printf(f->a, "c%llu", cid));
    struct store *s = rf_store(f);
    struct store_item it;
    assert_int_equal(store_item_get_by_id(s, cid, iid, STORE_ITEM_CONTENT, f->a, &it), STORE_OK);
    assert_string_equal(it.content_type, "text/calendar; charset=utf-8");
    char *ics = arena_strndup(f->a, it.content, it.size);
    assert_non_null(strstr(ics, "SUMMARY:from the phone\r\n"));
    assert_non_null(strstr(ics, "DTSTART:20260105T100000Z\r\n"));
    rf_store_done(f);
    /* the device's own Add is not echoed back to it */
    x = sync(f, coll, k3, true, 10, NULL, &st);
    assert_null(strstr(x, "<Commands>"));
    x = estimate(f, coll, text_of(f, x, "SyncKey"), &st);
    assert_string_equal(x, estimate_answer(f, coll, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_folder_sync, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_folder_change_without_a_body_is_status_10_issue_14,
                                        rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(
            test_getitemestimate_without_a_collection_is_status_2_issue_14, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_sync_initial_and_window, rf_setup, rf_teardown),
        cmocka_unit_test_setup_teardown(test_client_add_and_estimate, rf_setup, rf_teardown),
    };
    return RF_RUN(tests);
}
