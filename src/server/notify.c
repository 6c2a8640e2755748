/* server/notify.c: the sd_notify protocol (sd_notify(3), "NOTIFY_SOCKET"): the service manager
 * puts the name of an AF_UNIX datagram socket in $NOTIFY_SOCKET, and the service sends it
 * newline-separated assignments, READY=1 once it serves. A name starting with '@' is in the
 * abstract namespace (the '@' stands for a leading NUL byte). Twenty lines of socket code
 * instead of libsystemd: nothing more of it is used, and almanacd keeps running where systemd
 * is absent. */
#include "server/notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int notify_send(const char *state)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || name[0] == '\0') {
        return 0;
    }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len >= sizeof(addr.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(addr.sun_path, name, len);
    if (name[0] == '@') {
        addr.sun_path[0] = '\0';
    }
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -1;
    }
    ssize_t sent =
        sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
    int saved = errno;
    close(fd);
    errno = saved;
    return sent == (ssize_t)strlen(state) ? 1 : -1;
}
