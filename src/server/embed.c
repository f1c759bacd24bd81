/* embed.c - the HTTP and Flight servers started on a caller's murr_db (murr_server.h). */
#include "murr_server.h"

#include "core/alloc.h"
#include "server/flight/flight.h"
#include "server/server.h"

#include <string.h>

struct murr_server {
    mr_server_t *http;
    mr_flight_server_t *flight;
};

MURR_API void murr_server_options_default(murr_server_options *opts)
{
    *opts = (murr_server_options){.host = "127.0.0.1", .http_port = 0, .grpc_port = -1, .http_threads = 0};
}

MURR_API int murr_server_start(murr_db *db, const murr_server_options *opts, murr_server **out, murr_error *err)
{
    murr_server_options o;
    murr_server_options_default(&o);
    if (opts)
        o = *opts;
    const char *host = o.host ? o.host : "127.0.0.1";
    if (o.http_port < 0 || o.http_port > 65535 || o.grpc_port < -1 || o.grpc_port > 65535)
        return mr_err_set(err, MURR_EINVAL, "server ports: http %d, grpc %d: expected 0..65535 (grpc -1: off)",
                          o.http_port, o.grpc_port);
    mr_config_t cfg;
    mr_config_defaults(&cfg);
    size_t hl = strlen(host);
    if (hl >= sizeof(cfg.http.host))
        return mr_err_set(err, MURR_EINVAL, "server host: %zu bytes, at most %zu", hl, sizeof(cfg.http.host) - 1);
    memcpy(cfg.http.host, host, hl + 1);
    memcpy(cfg.grpc.host, host, hl + 1);
    cfg.http.port = (uint16_t)o.http_port;
    cfg.http.threads = o.http_threads;
    cfg.grpc.enabled = o.grpc_port >= 0;
    cfg.grpc.port = (uint16_t)(o.grpc_port >= 0 ? o.grpc_port : 0);
    murr_server *s = mr_calloc(1, sizeof(*s));
    if (s == NULL)
        return mr_err_set(err, MURR_ENOMEM, "cannot allocate a server");
    int rc = mr_server_start(&cfg, db, NULL, &s->http, err);
    if (rc == 0 && cfg.grpc.enabled)
        rc = mr_flight_start(&cfg, db, &s->flight, err);
    if (rc != 0) {
        murr_server_stop(s);
        return rc;
    }
    *out = s;
    return 0;
}

MURR_API int murr_server_http_port(const murr_server *s) { return mr_server_http_port(s->http); }
MURR_API int murr_server_grpc_port(const murr_server *s) { return s->flight ? mr_flight_port(s->flight) : 0; }

MURR_API void murr_server_stop(murr_server *s)
{
    if (s == NULL)
        return;
    mr_flight_stop(s->flight);
    if (s->http)
        mr_server_stop(s->http);
    mr_free(s);
}
