/* embed.c - the HTTP and Flight servers started on a caller's murr_db (murr_server.h): one
 * event core under both listeners, wired as the binary does (src/cli/main.c). */
#include "murr_server.h"

#include "core/alloc.h"
#include "server/evcore.h"
#include "server/flight/flight.h"
#include "server/server.h"

#include <string.h>

struct murr_server {
    mr_ev_core_t *core; /* NULL once stopped */
    mr_server_t *http;
    mr_flight_server_t *flight;
};

MURR_API void murr_server_options_default(murr_server_options *opts)
{
    *opts = (murr_server_options){.host = "127.0.0.1", .http_port = 0, .grpc_port = -1, .http_threads = 0};
}

/* The server's configuration: the defaults with the embedder's host, ports and threads. */
static int embed_config(const murr_server_options *o, mr_config_t *cfg, murr_error *err)
{
    const char *host = o->host ? o->host : "127.0.0.1";
    if (o->http_port < 0 || o->http_port > 65535 || o->grpc_port < -1 || o->grpc_port > 65535)
        return mr_err_set(err, MURR_EINVAL, "server ports: http %d, grpc %d: expected 0..65535 (grpc -1: off)",
                          o->http_port, o->grpc_port);
    mr_config_defaults(cfg);
    size_t hl = strlen(host);
    if (hl >= sizeof(cfg->http.host))
        return mr_err_set(err, MURR_EINVAL, "server host: %zu bytes, at most %zu", hl, sizeof(cfg->http.host) - 1);
    memcpy(cfg->http.host, host, hl + 1);
    memcpy(cfg->grpc.host, host, hl + 1);
    cfg->http.port = (uint16_t)o->http_port;
    cfg->http.threads = o->http_threads;
    cfg->grpc.enabled = o->grpc_port >= 0;
    cfg->grpc.port = (uint16_t)(o->grpc_port >= 0 ? o->grpc_port : 0);
    return 0;
}

MURR_API int murr_server_start(murr_db *db, const murr_server_options *opts, murr_server **out, murr_error *err)
{
    murr_server_options o;
    murr_server_options_default(&o);
    if (opts)
        o = *opts;
    mr_config_t cfg;
    int rc = embed_config(&o, &cfg, err);
    if (rc != 0)
        return rc;
    murr_server *s = mr_calloc(1, sizeof(*s));
    if (s == NULL)
        return mr_err_set(err, MURR_ENOMEM, "cannot allocate a server");
    s->core = mr_ev_core_new((int)cfg.http.threads, 0); /* aborts when out of memory, as in the binary */
    mr_ev_core_set_output_budget(s->core, cfg.output.budget_bytes, cfg.output.stall_ms);
    rc = mr_server_listen(s->core, &cfg, db, NULL, &s->http, err);
    if (rc == 0 && cfg.grpc.enabled)
        rc = mr_flight_listen(s->core, &cfg, db, &s->flight, err);
    if (rc == 0)
        rc = mr_ev_core_start(s->core, err);
    if (rc != 0) {
        mr_ev_core_stop(s->core, 0);
        s->core = NULL;
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
    if (s->core)
        mr_ev_core_stop(s->core, MR_SERVER_DRAIN_MS);
    mr_flight_free(s->flight);
    mr_server_free(s->http);
    mr_free(s);
}
