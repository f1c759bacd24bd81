/*
 * transport.h - how the event core (evcore.h) moves a connection's bytes: every read and
 * write of a connection goes through the transport its listener chose at accept, so a TLS
 * transport (OpenSSL) plugs in under both protocols without either knowing.
 *
 * A listener carries a factory (mr_transport_factory_t) called once per accepted socket;
 * the transport owns the descriptor from then on and closes it in free(). The event core
 * keeps using the descriptor for epoll registration only (never reads or writes it).
 *
 * Contract of the operations (all called on the connection's loop thread, never concurrently):
 *   read   >0 bytes read; 0 at end of stream (peer closed, or a clean TLS close_notify);
 *          -1 with errno set: EAGAIN when it would block (then wants() says what to wait for),
 *          anything else is fatal for the connection.
 *   writev bytes written (>0, possibly fewer than asked); -1 with errno: EAGAIN would block,
 *          anything else fatal. Never called with n == 0.
 *   wants  the epoll events (EPOLLIN / EPOLLOUT) the transport needs to make progress on its
 *          own, whatever the protocol wants: a TLS handshake or renegotiation may need to
 *          read while the protocol only has output, or to write while it only reads. A plain
 *          socket needs nothing of its own: 0.
 *          During a TLS handshake the transport's wants() are its own; once established, a
 *          read that would block needs EPOLLIN and a write EPOLLOUT, which the core arms
 *          itself: wants() then reports only the crossed cases (a write waiting for input, a
 *          read waiting to write).
 *   pending  nonzero while read() may return bytes without the descriptor becoming readable
 *          again (TLS: decrypted bytes of a record OpenSSL holds, their count; or records it
 *          read ahead from the socket and has not decrypted, 1). epoll cannot see them: the
 *          core calls the protocol's on_input again while pending and input is wanted.
 *          0 promises that epoll reports whatever read() needs next (TLS: the bytes held
 *          after a read that ended at EAGAIN are an incomplete record). Plain: 0.
 *   shutdown_read  no more input will be read (the core stops the peer filling buffers).
 *   free   closes the descriptor and frees the transport.
 */
#ifndef MR_SERVER_TRANSPORT_H
#define MR_SERVER_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct mr_transport_ops {
    ssize_t (*read)(void *t, void *buf, size_t n);
    ssize_t (*writev)(void *t, const struct iovec *iov, int n);
    unsigned (*wants)(void *t);
    size_t (*pending)(void *t);
    void (*shutdown_read)(void *t);
    void (*free)(void *t);
} mr_transport_ops_t;

/* One connection's transport: the operations and their state. */
typedef struct mr_transport {
    const mr_transport_ops_t *ops;
    void *t;
} mr_transport_t;

/* Makes the transport of an accepted (nonblocking) socket; owns fd from then on, also on
 * failure (returns nonzero after closing it). arg is the listener's factory_arg (e.g. a TLS
 * context). */
typedef int (*mr_transport_factory_t)(void *arg, int fd, mr_transport_t *out);

/* The plain-socket transport (read/writev on the descriptor). arg is unused. */
int mr_transport_plain_new(void *arg, int fd, mr_transport_t *out);

#endif
