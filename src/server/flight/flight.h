/*
 * flight.h - the Arrow Flight server: gRPC over cleartext HTTP/2 (h2c, prior knowledge), or
 * over TLS (ALPN h2) with server.tls.* (server/tls.h), on server.grpc.{host,port}, service
 * arrow.flight.protocol.FlightService. See docs/decisions/0003-flight.md and 0010-auth-tls.md.
 *
 * A protocol module on the event core (server/evcore.h): the core's loops own the
 * connections (nonblocking, TCP_NODELAY, one nghttp2 server session each); reads (DoGet,
 * GetFlightInfo, GetSchema, ListFlights) run inline on the connection's loop. DoPut batches
 * are decoded on the loop as they arrive and committed atomically on a core worker, so a
 * fsync never stalls other streams. Connections: server.grpc.max_connections open at most,
 * closed (after a GOAWAY) when idle for server.grpc.idle_timeout_ms.
 *
 * Thread-safety: listen/free from one thread (main). Stop is the core's (mr_ev_core_stop):
 * stop accepting, GOAWAY every connection, let in-flight calls finish, then close.
 */
#ifndef MR_SERVER_FLIGHT_H
#define MR_SERVER_FLIGHT_H

#include "conf/config.h"
#include "core/buf.h"
#include "core/error.h"

typedef struct mr_flight_server mr_flight_server_t;
struct mr_ev_core;

/* Binds server.grpc.host:port as a listener of `core` (not started yet). Errors name the
 * address and the reason ("cannot listen on 127.0.0.1:8081: Address already in use"). */
int mr_flight_listen(struct mr_ev_core *core, const mr_config_t *cfg, murr_db *db, mr_flight_server_t **out,
                     mr_error_t *err);
/* The bound port (the real one when configured as 0). */
uint16_t mr_flight_port(const mr_flight_server_t *s);
/* With server.tls.*: re-reads the certificate files for new connections (open ones keep
 * theirs); on error the current ones stay. Cleartext: 0. Any thread. */
int mr_flight_tls_reload(mr_flight_server_t *s, mr_error_t *err);
/* Frees the server, after its core has stopped. NULL is a no-op. */
void mr_flight_free(mr_flight_server_t *s);

/* Detached mode (fuzzing, unit tests): no socket, no threads. mr_flight_feed_detached runs
 * one connection over `data` (client bytes: preface, frames) through the same nghttp2
 * callbacks, gRPC framing and RPC handlers as the real server (DoPut commits inline), and
 * appends every byte the server would have sent to `out` (may be NULL). */
mr_flight_server_t *mr_flight_new_detached(const mr_config_t *cfg, murr_db *db);
int mr_flight_feed_detached(mr_flight_server_t *s, const uint8_t *data, size_t len, mr_buf_t *out);
void mr_flight_free_detached(mr_flight_server_t *s);

#endif
