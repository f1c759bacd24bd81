/*
 * server.h - the HTTP/1.1 API server, cleartext or HTTPS with server.tls.* (server/tls.h;
 * see docs/decisions/0002-event-loop.md and 0010-auth-tls.md).
 *
 * A protocol module on the event core (server/evcore.h: N loop threads, one per CPU by
 * default, server.http.threads; each owns its connections). Requests are parsed with
 * libhttp-parser; reads (fetch, schema, list, health, metrics) run inline on the loop;
 * writes (PUT .../write), create, drop, compaction, rollback and the version list (which
 * waits for a replace in progress) run on the core's worker pool so a large upload or a
 * fsync never delays a fetch on another connection. Responses go out with writev of the
 * header plus the answer's own buffers.
 *
 * Thread-safety: listen/free from one thread (main). Stop is the core's (mr_ev_core_stop):
 * it stops accepting, lets in-flight requests finish (up to 30 s), then closes every
 * connection.
 */
#ifndef MR_SERVER_SERVER_H
#define MR_SERVER_SERVER_H

#include "conf/config.h"
#include "core/error.h"

typedef struct mr_server mr_server_t;

/* How long a stop waits for in-flight requests and answers before closing what is left. */
#define MR_SERVER_DRAIN_MS 30000

struct mr_sources;
struct mr_ev_core;
/* Binds server.http.host:port as a listener of `core` (not started yet). Errors name the
 * address and the reason (e.g. "cannot listen on 127.0.0.1:8080: Address already in use").
 * sources (may be NULL): the followed tables whose routes and metrics the server serves. */
int mr_server_listen(struct mr_ev_core *core, const mr_config_t *cfg, murr_db *db, struct mr_sources *sources,
                     mr_server_t **out, mr_error_t *err);
/* The bound HTTP port (the real one when configured as 0). */
uint16_t mr_server_http_port(const mr_server_t *s);
/* With server.tls.*: re-reads the certificate, key and client CAs for new connections
 * (open ones keep theirs); on error the current ones stay and err says why. Cleartext: 0.
 * Any thread. */
int mr_server_tls_reload(mr_server_t *s, mr_error_t *err);
/* Frees the server, after its core has stopped. */
void mr_server_free(mr_server_t *s);

#endif
