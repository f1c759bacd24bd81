/* net.h - a nonblocking listening TCP socket, shared by the HTTP and Flight servers. */
#ifndef MR_CORE_NET_H
#define MR_CORE_NET_H

#include <stdint.h>

#include "core/error.h"

/* Resolves host (numeric or name) and port (0 = any free port), binds with SO_REUSEADDR
 * and listens. On success *fd is the socket (nonblocking, close-on-exec) and *bound_port
 * the port actually bound. Errors name the address and the reason ("cannot listen on
 * 127.0.0.1:8080: Address already in use"): MURR_EINVAL (unresolvable), MURR_EIO. */
int mr_net_listen(const char *host, uint16_t port, int *fd, uint16_t *bound_port, mr_error_t *err);

/* Accepting from a listening socket, for the event loops of both servers. When the process
 * is out of file descriptors (EMFILE / ENFILE) a level-triggered listener would wake its
 * loop forever with the connection still queued; the acceptor gives up a spare descriptor
 * to take that connection off the queue and close it at once (the client sees the close),
 * and says how many it refused in one log line a second. One per accepting thread. */
typedef struct mr_net_acceptor {
    int spare_fd;            /* /dev/null, held in reserve */
    char what[96];           /* "HTTP on 0.0.0.0:8080", for messages */
    uint64_t refused;        /* refused since the last log line */
    uint64_t refused_total;
    uint64_t last_log_ns;
    bool starved;            /* the last call left a connection queued for lack of descriptors */
} mr_net_acceptor_t;

/* How long a starved listener stays out of its epoll set before the next try. */
#define MR_NET_STARVED_PAUSE_MS 100

void mr_net_acceptor_init(mr_net_acceptor_t *a, const char *what);
void mr_net_acceptor_deinit(mr_net_acceptor_t *a);
/* The next pending connection (nonblocking, close-on-exec, TCP_NODELAY), or -1 when none is
 * pending or none can be taken now. After -1 with a->starved set, a connection is still
 * queued and no descriptor could be freed to refuse it (another thread took the spare's):
 * the caller takes the listener out of its epoll set for MR_NET_STARVED_PAUSE_MS, or a
 * level-triggered loop spins. */
int mr_net_accept(mr_net_acceptor_t *a, int listen_fd);

#endif
