/*
 * murr_server.h - the murr HTTP and Arrow Flight servers on a murr_db the caller opened,
 * inside the caller's process (what the `murr` binary runs, for embedders such as the
 * Python package's `open(path, http_port=...)`). Not part of libmurr (murr_shared holds the
 * engine only): these symbols are in the library that links the server, e.g. the Python
 * package's libmurr_py. Implemented by src/server/embed.c.
 *
 * Thread-safety: start and stop one server from one thread; the db stays usable by the
 * caller from any thread while the server runs, and must outlive it.
 */
#ifndef MURR_SERVER_H
#define MURR_SERVER_H

#include "murr.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct murr_server murr_server;

typedef struct murr_server_options {
    const char *host;         /* listen address of both servers (default "127.0.0.1") */
    int http_port;            /* 0: any free port */
    int grpc_port;            /* 0: any free port; -1: no Flight server */
    uint32_t http_threads;    /* event-loop threads (0: default, 1 per CPU) */
} murr_server_options;

/* Fills *opts: host 127.0.0.1, http_port 0, grpc_port -1, http_threads 0. */
MURR_API void murr_server_options_default(murr_server_options *opts);
/* Starts the HTTP server (and Flight unless grpc_port is -1) on db, with the server's other
 * settings at their defaults (README "Configuration"). Errors: MURR_EINVAL (a port outside
 * 0..65535, a host longer than 255 bytes), MURR_EIO naming the address when it cannot
 * listen ("cannot listen on 127.0.0.1:8080: Address already in use"). */
MURR_API int murr_server_start(murr_db *db, const murr_server_options *opts, murr_server **out, murr_error *err);
/* The bound ports (the real ones when 0 was asked); grpc is 0 without a Flight server. */
MURR_API int murr_server_http_port(const murr_server *s);
MURR_API int murr_server_grpc_port(const murr_server *s);
/* Graceful stop (in-flight requests finish) and free. NULL is a no-op. */
MURR_API void murr_server_stop(murr_server *s);

#ifdef __cplusplus
}
#endif
#endif /* MURR_SERVER_H */
