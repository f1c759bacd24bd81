/* libFuzzer driver: one raw HTTP/1.1 request, parsed by libhttp-parser the way the server
 * does (first Content-Type / Accept value kept), then routed through the real handlers over
 * a real engine in a temporary directory (table "t" exists): routing, percent-decoding,
 * name rules, JSON and Arrow bodies, error mapping. */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/schema.h"
#include "server/http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz {
    mr_req_t *req;
    char field[64];
    size_t flen;
    bool value_started;
    int which; /* 1 = content-type, 2 = accept */
    bool done;
} fz_t;

static int on_url(http_parser *p, const char *at, size_t len)
{
    fz_t *f = p->data;
    mr_req_t *r = f->req;
    char *u = mr_arena_alloc_aligned(&r->arena, r->url_len + len + 1, 1);
    memcpy(u, r->url ? r->url : "", r->url_len);
    memcpy(u + r->url_len, at, len);
    r->url_len += len;
    u[r->url_len] = 0;
    r->url = u;
    return 0;
}

static int on_field(http_parser *p, const char *at, size_t len)
{
    fz_t *f = p->data;
    if (f->value_started) {
        f->flen = 0;
        f->value_started = false;
    }
    size_t n = len < sizeof(f->field) - f->flen ? len : sizeof(f->field) - f->flen;
    memcpy(f->field + f->flen, at, n);
    f->flen += n;
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t len)
{
    fz_t *f = p->data;
    mr_req_t *r = f->req;
    if (!f->value_started) {
        f->value_started = true;
        f->which = 0;
        if (f->flen == 12 && strncasecmp(f->field, "content-type", 12) == 0 && !r->has_content_type) {
            f->which = 1;
            r->has_content_type = true;
        } else if (f->flen == 6 && strncasecmp(f->field, "accept", 6) == 0 && r->accept.len == 0) {
            f->which = 2;
        }
    }
    mr_slice_t *s = f->which == 1 ? &r->content_type : f->which == 2 ? &r->accept : NULL;
    if (s) {
        char *d = mr_arena_alloc_aligned(&r->arena, s->len + len + 1, 1);
        memcpy(d, s->ptr ? s->ptr : "", s->len);
        memcpy(d + s->len, at, len);
        s->ptr = d;
        s->len += len;
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    fz_t *f = p->data;
    return mr_buf_append(&f->req->body, at, len) == 0 ? 0 : -1;
}

static int on_done(http_parser *p)
{
    fz_t *f = p->data;
    f->done = true;
    f->req->method = p->method;
    f->req->head = p->method == HTTP_HEAD;
    return 0;
}

static murr_db *db;
static mr_config_t cfg;
static mr_metrics_t metrics;

static void setup(void)
{
    mr_log_set_level(MR_LOG_ERROR);
    char tmpl[] = "/tmp/murr-fuzz-http-XXXXXX";
    if (mkdtemp(tmpl) == NULL)
        abort();
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    o.background_compaction = false;
    murr_error e = {0};
    if (murr_open(tmpl, &o, &db, &e) != 0)
        abort();
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", "s:utf8?", NULL);
    murr_create_table(db, "t", s, &e);
    mr_schema_free(s);
    mr_config_defaults(&cfg);
    cfg.http.max_payload_size = 1 << 20;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (db == NULL)
        setup();
    http_parser_settings st = {.on_url = on_url, .on_header_field = on_field, .on_header_value = on_value,
                               .on_body = on_body, .on_message_complete = on_done};
    mr_req_t req = {0};
    mr_arena_init(&req.arena, 1024);
    mr_buf_init(&req.body);
    fz_t f = {.req = &req};
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &f;
    http_parser_execute(&p, &st, (const char *)data, size);
    if (f.done && req.url) {
        /* drop would delete the only table: keep the fixture stable */
        bool drop = req.method == HTTP_DELETE;
        if (!drop) {
            mr_server_shared_t sh = {.cfg = &cfg, .db = db, .metrics = &metrics, .openapi_json = "{}", .openapi_len = 2};
            mr_resp_t resp = {0};
            mr_buf_init(&resp.body);
            mr_http_handle(&sh, &req, &resp);
            if (resp.status < 200 || resp.status > 599)
                __builtin_trap();
            if (resp.release)
                resp.release(resp.release_arg);
            mr_buf_deinit(&resp.body);
        }
    }
    mr_buf_deinit(&req.body);
    mr_arena_deinit(&req.arena);
    return 0;
}
