/*
 * server.h - the HTTP/1.1 API server (see docs/decisions/0002-event-loop.md).
 *
 * N event-loop threads (server.http.threads, default one per CPU) share one listening
 * socket (EPOLLEXCLUSIVE wake-ups); each owns its connections. Requests are parsed with
 * libhttp-parser; reads (fetch, schema, list, health, metrics) run inline on the loop;
 * writes (PUT .../write), create, drop, compaction, rollback and the version list (which
 * waits for a replace in progress) run on a small worker pool so a large upload or a fsync
 * never delays a fetch on another connection. Responses go out with writev of the
 * header plus the answer's own buffers.
 *
 * Thread-safety: start/stop from one thread (main). stop is graceful: it stops accepting,
 * lets in-flight requests finish (up to 30 s), then closes every connection.
 */
#ifndef MR_SERVER_SERVER_H
#define MR_SERVER_SERVER_H

#include "conf/config.h"
#include "core/error.h"

typedef struct mr_server mr_server_t;

/* Binds and starts serving. Errors name the address and the reason (e.g. "cannot listen on
 * 127.0.0.1:8080: Address already in use"). */
struct mr_sources;
/* sources (may be NULL): the followed tables whose routes and metrics the server serves. */
int mr_server_start(const mr_config_t *cfg, murr_db *db, struct mr_sources *sources, mr_server_t **out,
                    mr_error_t *err);
/* The bound HTTP port (the real one when configured as 0). */
uint16_t mr_server_http_port(const mr_server_t *s);
/* Graceful stop and free. */
void mr_server_stop(mr_server_t *s);

#endif
