/* transport_plain.c - the plain TCP (or socketpair) transport: read/writev on the descriptor. */
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/transport.h"

/* The descriptor itself is the state: no allocation per connection. */
static int fd_of(void *t) { return (int)(intptr_t)t; }

static ssize_t plain_read(void *t, void *buf, size_t n) { return read(fd_of(t), buf, n); }
static ssize_t plain_writev(void *t, const struct iovec *iov, int n) { return writev(fd_of(t), iov, n); }
static unsigned plain_wants(void *t)
{
    (void)t;
    return 0;
}
static size_t plain_pending(void *t)
{
    (void)t;
    return 0;
}
static void plain_shutdown_read(void *t) { shutdown(fd_of(t), SHUT_RD); }
static void plain_free(void *t) { close(fd_of(t)); }

static const mr_transport_ops_t plain_ops = {
    .read = plain_read,
    .writev = plain_writev,
    .wants = plain_wants,
    .pending = plain_pending,
    .shutdown_read = plain_shutdown_read,
    .free = plain_free,
};

int mr_transport_plain_new(void *arg, int fd, mr_transport_t *out)
{
    (void)arg;
    out->ops = &plain_ops;
    out->t = (void *)(intptr_t)fd;
    return 0;
}
