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

#endif
