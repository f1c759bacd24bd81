/* net.c - see net.h. */
#include "core/net.h"
#include "core/log.h"
#include "core/time.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int mr_net_listen(const char *host, uint16_t port, int *out_fd, uint16_t *bound_port, mr_error_t *err)
{
    char ports[8];
    snprintf(ports, sizeof(ports), "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    int g = getaddrinfo(host, ports, &hints, &ai);
    if (g != 0)
        return mr_err_set(err, MURR_EINVAL, "cannot listen on %s:%u: %s", host, port, gai_strerror(g));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return mr_err_set(err, MURR_EIO, "cannot listen on %s:%u: %s", host, port, strerror(e));
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    *out_fd = fd;
    return 0;
}

void mr_net_acceptor_init(mr_net_acceptor_t *a, const char *what)
{
    memset(a, 0, sizeof(*a));
    snprintf(a->what, sizeof(a->what), "%s", what);
    a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void mr_net_acceptor_deinit(mr_net_acceptor_t *a)
{
    if (a->spare_fd >= 0)
        close(a->spare_fd);
    a->spare_fd = -1;
}

/* One line a second at most, with the count since the previous one. */
static void log_refused(mr_net_acceptor_t *a, int e)
{
    uint64_t now = mr_now_ns();
    if (a->last_log_ns != 0 && now - a->last_log_ns < 1000000000u)
        return;
    struct rlimit rl = {0};
    getrlimit(RLIMIT_NOFILE, &rl);
    MR_WARN("net", "%s: out of file descriptors (%s): refused %llu connection(s) since the last report, %llu in all; "
                   "the limit is %llu open files (raise RLIMIT_NOFILE or lower the connection cap)",
            a->what, strerror(e), (unsigned long long)a->refused, (unsigned long long)a->refused_total,
            (unsigned long long)rl.rlim_cur);
    a->refused = 0;
    a->last_log_ns = now;
}

int mr_net_accept(mr_net_acceptor_t *a, int listen_fd)
{
    a->starved = false;
    for (;;) {
        if (a->spare_fd < 0)
            a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            return fd;
        }
        int e = errno;
        if (e == EINTR || e == ECONNABORTED)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK || e == EINVAL) /* EINVAL: shut down, no longer listening */
            return -1;
        if (e == EMFILE || e == ENFILE) {
            if (a->spare_fd < 0) { /* nothing to give up: the caller pauses the listener */
                a->starved = true;
                log_refused(a, e);
                return -1;
            }
            close(a->spare_fd);
            a->spare_fd = -1;
            int x = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (x >= 0) {
                close(x);
                a->refused++;
                a->refused_total++;
            }
            a->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            log_refused(a, e);
            if (x < 0) {
                a->starved = true;
                return -1;
            }
            continue;
        }
        uint64_t now = mr_now_ns();
        if (a->last_log_ns == 0 || now - a->last_log_ns >= 1000000000u) {
            MR_WARN("net", "%s: accept failed: %s", a->what, strerror(e));
            a->last_log_ns = now;
        }
        return -1;
    }
}
