/* tests/unit/http/test_watch.c: the connection watchdog (http/watch.c, issue 14 item 3) on
 * real loopback TCP sockets, without libmicrohttpd: the test plays MHD's part (open, request
 * boundaries, close) and the client's. A request begun and not complete by header_timeout
 * is answered 408 and shut down; an idle connection is left alone however long; when room
 * runs out the idle connections are closed, and neither a begun request nor one inside a
 * request is; a request that began under a second ago spares a trickler. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "http/watch.h"

struct pair {
    int client;
    int server;
};

/* A connected loopback TCP pair. */
static struct pair tcp_pair(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 4), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    struct pair p;
    p.client = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(p.client, (struct sockaddr *)&a, sizeof(a)), 0);
    p.server = accept(l, NULL, NULL);
    assert_true(p.server >= 0);
    close(l);
    return p;
}

/* Whether the client side has something to read (an answer or the end) within `ms`. */
static bool readable(int fd, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, ms) == 1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_watch_answers_408_to_headers_past_header_timeout(void **state)
{
    (void)state;
    struct http_watch_config cfg = {.header_timeout = 1, .max_connections = 100, .reserve = 1};
    struct http_watch *w = NULL;
    assert_int_equal(http_watch_create(&cfg, &w), 0);
    struct pair p = tcp_pair();
    struct http_watch_conn *c = http_watch_conn_open(w, p.server, "127.0.0.1", false);
    static const char part[] = "GET / HTTP/1.1\r\nHost: x\r\n";
    assert_int_equal(send(p.client, part, sizeof(part) - 1, 0), (ssize_t)(sizeof(part) - 1));
    sleep_ms(500);
    assert_false(readable(p.client, 0)); /* not before header_timeout */
    assert_true(readable(p.client, 3000));
    char buf[1024];
    ssize_t n = recv(p.client, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 408 Request Timeout\r\n"));
    assert_non_null(strstr(buf, "Connection: close\r\n"));
    assert_non_null(strstr(buf, "header-timeout: "));
    assert_true(readable(p.client, 3000));
    assert_int_equal(recv(p.client, buf, sizeof(buf), 0), 0); /* then the end */
    assert_false(http_watch_request_begin(w, c));             /* too late for the request */
    http_watch_conn_close(w, &c);
    assert_null(c);
    close(p.server);
    close(p.client);
    http_watch_destroy(&w);
    assert_null(w);
}

static void test_watch_leaves_an_idle_connection_to_idle_timeout(void **state)
{
    (void)state;
    struct http_watch_config cfg = {.header_timeout = 1, .max_connections = 100, .reserve = 1};
    struct http_watch *w = NULL;
    assert_int_equal(http_watch_create(&cfg, &w), 0);
    struct pair p = tcp_pair();
    struct http_watch_conn *c = http_watch_conn_open(w, p.server, "127.0.0.1", false);
    /* a first request, served; then nothing */
    assert_int_equal(send(p.client, "GET", 3, 0), 3);
    char buf[8];
    assert_int_equal(recv(p.server, buf, sizeof(buf), 0), 3);
    assert_true(http_watch_request_begin(w, c));
    http_watch_request_end(w, c);
    sleep_ms(1800);
    assert_false(readable(p.client, 0));
    assert_true(http_watch_request_begin(w, c));
    http_watch_conn_close(w, &c);
    close(p.server);
    close(p.client);
    http_watch_destroy(&w);
}

static void test_watch_reclaims_only_idle_connections_when_room_runs_out(void **state)
{
    (void)state;
    /* 4 open, room for 2 without the reserve: two must go, and only two are idle */
    struct http_watch_config cfg = {.header_timeout = 60, .max_connections = 3, .reserve = 1};
    struct http_watch *w = NULL;
    assert_int_equal(http_watch_create(&cfg, &w), 0);
    struct pair p[4];
    struct http_watch_conn *c[4];
    for (int i = 0; i < 4; i++) {
        p[i] = tcp_pair();
        c[i] = http_watch_conn_open(w, p[i].server, "127.0.0.1", false);
    }
    assert_true(http_watch_request_begin(w, c[0]));    /* inside a request: a waiting Ping */
    assert_int_equal(send(p[1].client, "G", 1, 0), 1); /* a request begun */
    bool closed[4] = {false};
    for (int waited = 0; waited < 4000 && !(closed[2] && closed[3]); waited += 100) {
        sleep_ms(100);
        for (int i = 2; i < 4; i++) {
            closed[i] = closed[i] || readable(p[i].client, 0);
        }
    }
    assert_true(closed[2]);
    assert_true(closed[3]);
    char buf[8];
    assert_int_equal(recv(p[2].client, buf, sizeof(buf), 0), 0); /* closed without an answer */
    assert_false(readable(p[0].client, 0));
    assert_false(readable(p[1].client, 0));
    for (int i = 0; i < 4; i++) {
        http_watch_conn_close(w, &c[i]);
        close(p[i].server);
        close(p[i].client);
    }
    http_watch_destroy(&w);
}

static void test_watch_lets_a_just_begun_request_spare_a_slow_header(void **state)
{
    (void)state;
    /* 2 open, room for 1 without the reserve: one must go. c[1]'s headers trickle; c[0]
     * serves one quick request after another, each begun under a second ago (most of the
     * time inside one, so a tick rarely finds it idle): the trickler is spared however long
     * this lasts, and once c[0] waits it is the one closed, as idle. Without the busy
     * list's sparing the trickler goes at its first second. */
    struct http_watch_config cfg = {.header_timeout = 60, .max_connections = 2, .reserve = 1};
    struct http_watch *w = NULL;
    assert_int_equal(http_watch_create(&cfg, &w), 0);
    struct pair p[2];
    struct http_watch_conn *c[2];
    for (int i = 0; i < 2; i++) {
        p[i] = tcp_pair();
        c[i] = http_watch_conn_open(w, p[i].server, "127.0.0.1", false);
    }
    assert_int_equal(send(p[1].client, "G", 1, 0), 1);
    for (int i = 0; i < 25; i++) { /* 2.5 s or more: well past the trickler's first second */
        assert_true(http_watch_request_begin(w, c[0]));
        sleep_ms(100);
        http_watch_request_end(w, c[0]);
    }
    assert_false(readable(p[1].client, 0));
    assert_false(readable(p[0].client, 0));
    assert_true(readable(p[0].client, 5000)); /* idle a second now, and closed */
    char buf[8];
    assert_int_equal(recv(p[0].client, buf, sizeof(buf), 0), 0);
    assert_false(readable(p[1].client, 500));
    for (int i = 0; i < 2; i++) {
        http_watch_conn_close(w, &c[i]);
        close(p[i].server);
        close(p[i].client);
    }
    http_watch_destroy(&w);
}

/* Once a crowd of trim_crowd connections was open and three quarters of it closed, the
 * watchdog gives the heap's free pages back (malloc_trim) at its next tick, once: the peak
 * starts over from what is left. A crowd of which fewer have closed keeps its memory. */
static void test_watch_gives_memory_back_after_a_crowd_closes(void **state)
{
    (void)state;
    struct http_watch_config cfg = {
        .header_timeout = 60, .max_connections = 100, .reserve = 0, .trim_crowd = 8};
    struct http_watch *w = NULL;
    assert_int_equal(http_watch_create(&cfg, &w), 0);
    struct pair p[8];
    struct http_watch_conn *c[8];
    for (int i = 0; i < 8; i++) {
        p[i] = tcp_pair();
        c[i] = http_watch_conn_open(w, p[i].server, "127.0.0.1", false);
    }
    for (int i = 0; i < 5; i++) { /* 3 of 8 left: more than a quarter */
        http_watch_conn_close(w, &c[i]);
    }
    sleep_ms(3 * HTTP_WATCH_TICK_MS);
    assert_int_equal(http_watch_trims(w), 0);
    http_watch_conn_close(w, &c[5]); /* 2 of 8 */
    sleep_ms(3 * HTTP_WATCH_TICK_MS);
    assert_int_equal(http_watch_trims(w), 1);
    for (int i = 6; i < 8; i++) { /* a peak of 2 now: no crowd */
        http_watch_conn_close(w, &c[i]);
    }
    sleep_ms(3 * HTTP_WATCH_TICK_MS);
    assert_int_equal(http_watch_trims(w), 1);
    for (int i = 0; i < 8; i++) {
        close(p[i].server);
        close(p[i].client);
    }
    http_watch_destroy(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watch_answers_408_to_headers_past_header_timeout),
        cmocka_unit_test(test_watch_leaves_an_idle_connection_to_idle_timeout),
        cmocka_unit_test(test_watch_reclaims_only_idle_connections_when_room_runs_out),
        cmocka_unit_test(test_watch_lets_a_just_begun_request_spare_a_slow_header),
        cmocka_unit_test(test_watch_gives_memory_back_after_a_crowd_closes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
