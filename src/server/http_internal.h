/*
 * http_internal.h - what the event loop (loop.c) and the route handlers (handlers.c,
 * versions.c) share: one parsed request, one response under construction, routes for metrics.
 * A request owns an arena freed when its response has been written.
 */
#ifndef MR_SERVER_HTTP_INTERNAL_H
#define MR_SERVER_HTTP_INTERNAL_H

#include <stdatomic.h>
#include <sys/uio.h>

#include "core/arena.h"
#include "core/batch.h"
#include "core/buf.h"
#include "server/metrics.h"
#include "server/server.h"


typedef struct mr_req {
    int method;               /* enum http_method */
    bool head;                /* HEAD: answer like GET without the body */
    char *url;                /* raw request target, NUL-terminated (arena) */
    size_t url_len;
    mr_slice_t content_type;  /* first value, empty if absent */
    bool has_content_type;
    mr_slice_t accept;
    mr_slice_t authorization; /* the Authorization header's value, empty if absent */
    unsigned has_authorization; /* how many Authorization headers came */
    mr_buf_t body;            /* the whole body (an Arrow write is decoded in place from it) */
    mr_arena_t arena;
    uint64_t start_ns;
} mr_req_t;

/* zero-copy parts that fit in an output chunk without an allocation (more are allowed) */
#define MR_RESP_MAX_IOV 64

typedef struct mr_resp {
    int status;
    const char *content_type;     /* NULL: no body headers */
    mr_buf_t body;                /* owned bytes sent first */
    struct iovec *iov;            /* zero-copy parts sent after `body` */
    int iovcnt;
    size_t iov_total;
    void (*release)(void *);      /* frees what iov points into, after the write */
    void *release_arg;
    const char *allow;            /* 405: the Allow header */
    const char *www_authenticate; /* 401/403: the WWW-Authenticate header (static text) */
    mr_route_t route;
} mr_resp_t;

typedef struct mr_server_shared {
    const mr_config_t *cfg;
    murr_db *db;
    mr_metrics_t *metrics;
    const char *openapi_json;
    size_t openapi_len;
    struct mr_sources *sources;   /* followed tables (NULL: none, e.g. detached) */
} mr_server_shared_t;

/* Classifies the request: route, and whether it runs on a worker thread. */
mr_route_t mr_http_route_of(const mr_req_t *req, bool *offload);
/* Runs the handler: fills resp (status, headers, body). Never fails: errors become JSON
 * error responses. */
void mr_http_handle(const mr_server_shared_t *sh, mr_req_t *req, mr_resp_t *resp);
/* Sets an error response {"error": msg} with the given status. */
void mr_http_error(mr_resp_t *resp, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sets the error response of a murr error: the status its code maps to (the one mapping of
 * murr codes to HTTP statuses, in handlers.c), body {"error": e->message}. */
void mr_http_error_from(mr_resp_t *resp, const mr_error_t *e);
/* The raw (not percent-decoded) value of query parameter `name` of the request target, the
 * first one if repeated; a parameter without '=' has an empty value. False if absent. */
bool mr_http_query(const mr_req_t *req, const char *name, mr_slice_t *value);
/* application/json or application/<x>+json, parameters allowed. */
bool mr_http_is_json_ct(mr_slice_t ct);
const char *mr_http_reason(int status);

/* Detached mode (fuzzing, tests): a server that neither listens nor starts threads; every
 * handler runs inline on the caller's thread. mr_server_feed_detached opens one connection
 * over a socketpair, writes `data` into it in pieces of `split` bytes (0 = as much as the
 * socket takes), then ends the input, and drives the connection through the loop's own
 * parser callbacks, limits and handlers until it closes; what the server wrote is appended
 * to `out` (may be NULL). The connection code is the loop's, not a copy. */
mr_server_t *mr_server_new_detached(const mr_config_t *cfg, murr_db *db);
int mr_server_feed_detached(mr_server_t *s, const uint8_t *data, size_t len, size_t split, mr_buf_t *out);
void mr_server_free_detached(mr_server_t *s);

#endif
