/* server/notify.h: readiness and state for a service manager, by the sd_notify datagram
 * protocol (systemd's sd_notify(3)), without linking libsystemd. */
#ifndef ALMANAC_SERVER_NOTIFY_H
#define ALMANAC_SERVER_NOTIFY_H

/* Sends `state` ("READY=1", "STOPPING=1", newline-separated assignments) as one datagram to
 * the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name written "@name").
 * Returns 1 when sent, 0 when $NOTIFY_SOCKET is unset (not run by a service manager that
 * asked), -1 when it could not be sent (errno set). Never blocks for long: the socket is
 * datagram and non-blocking. */
int notify_send(const char *state);

#endif
