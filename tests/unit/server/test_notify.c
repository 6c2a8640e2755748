/* tests/unit/server/test_notify.c: the sd_notify datagram protocol (server/notify.c) against a
 * real AF_UNIX datagram socket standing in for systemd: a path name and an abstract "@name"
 * receive the exact state string; no $NOTIFY_SOCKET is a quiet 0; a name that is neither a
 * path nor abstract, or one longer than sun_path, is -1 with EINVAL; a socket nobody listens
 * on is -1. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/notify.h"

/* A datagram socket bound to `name` (a path, or "@abstract"); returns its fd. */
static int listen_at(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t len = strlen(name);
    assert_true(len < sizeof(addr.sun_path));
    memcpy(addr.sun_path, name, len);
    if (name[0] == '@') {
        addr.sun_path[0] = '\0';
    }
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, alen), 0);
    return fd;
}

/* The next datagram on fd, NUL-terminated, without waiting (notify_send has returned). */
static void receive(int fd, char *out, size_t cap)
{
    ssize_t n = recv(fd, out, cap - 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    out[n] = '\0';
}

static void test_notify_path_socket_gets_the_state(void **state)
{
    (void)state;
    char dir[] = "/tmp/almanac-notify-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/notify", dir);
    int fd = listen_at(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(notify_send("READY=1\nSTATUS=serving"), 1);
    char got[128];
    receive(fd, got, sizeof(got));
    assert_string_equal(got, "READY=1\nSTATUS=serving");
    assert_int_equal(notify_send("STOPPING=1"), 1);
    receive(fd, got, sizeof(got));
    assert_string_equal(got, "STOPPING=1");
    close(fd);
    /* nobody listens any more: the send fails, it does not block */
    unlink(path);
    assert_int_equal(notify_send("READY=1"), -1);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
}

static void test_notify_abstract_socket(void **state)
{
    (void)state;
    char name[64];
    snprintf(name, sizeof(name), "@almanac-notify-test-%ld", (long)getpid());
    int fd = listen_at(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(notify_send("READY=1"), 1);
    char got[64];
    receive(fd, got, sizeof(got));
    assert_string_equal(got, "READY=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_notify_without_a_manager_or_with_a_bad_name(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(notify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(notify_send("READY=1"), 0);
    setenv("NOTIFY_SOCKET", "relative/name", 1);
    errno = 0;
    assert_int_equal(notify_send("READY=1"), -1);
    assert_int_equal(errno, EINVAL);
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1);
    errno = 0;
    assert_int_equal(notify_send("READY=1"), -1);
    assert_int_equal(errno, EINVAL);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_path_socket_gets_the_state),
        cmocka_unit_test(test_notify_abstract_socket),
        cmocka_unit_test(test_notify_without_a_manager_or_with_a_bad_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
