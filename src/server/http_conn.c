/* http_conn.c - the HTTP/1.1 protocol module on the event core (evcore.h): connections,
 * libhttp-parser glue, limits, answers, and the server's lifecycle (contract in server.h;
 * why in docs/decisions/0002-event-loop.md and 0008-event-core.md).
 *
 * Per connection, one request is processed at a time: when a request completes the parser
 * is paused; the handler runs inline (reads) or on a worker (writes, create, drop,
 * compact); when the response is queued the parser resumes on the bytes already buffered,
 * so pipelined requests are answered in order. Limits: Content-Length above
 * max_payload_size -> 413 before any body byte is read (chunked: at a chunk header that
 * declares more than the rest of the limit, or as soon as the running
 * total passes it); a Transfer-Encoding other than chunked -> 501; header overflow -> 431;
 * header timeout -> 408; idle keep-alive timeout -> close (the core's idle timeout);
 * connection cap -> 503 and close (the core's cap, this module's refusal). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <http_parser.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "server/evcore.h"
#include "server/fetch.h"
#include "server/tls.h"
#include "server/http_internal.h"

#define READ_CHUNK 65536
/* Input read ahead of the parser: beyond this the bytes stay in the kernel until the parser
 * has consumed what is buffered (a client pipelining requests it never reads the answers of
 * pins at most this much input, on top of its share of the output budget). */
#define READ_AHEAD (1u << 20)

/* What one answer's queued ranges point into, freed when its last range is written. */
typedef struct out_chunk {
    mr_buf_t head;               /* status line + headers + owned body */
    void (*release)(void *);
    void *release_arg;
    mr_arena_t *arena;           /* the request arena, freed when written */
} out_chunk_t;

typedef enum { HDR_OTHER, HDR_CT, HDR_ACCEPT, HDR_EXPECT, HDR_TE, HDR_AUTH } hdr_kind_t;

typedef struct conn {
    mr_ev_conn_t ev;             /* first: the core's part */
    mr_server_t *srv;
    http_parser parser;
    uint8_t *in;
    size_t in_len, in_cap;
    mr_req_t *req;               /* request being parsed / handled */
    mr_buf_t hfield;             /* current header name */
    hdr_kind_t hkind;
    bool hvalue_started;
    bool in_message, headers_done, expect_continue, keep_alive;
    bool request_ready, busy, close_after, read_closed;
    int early_status;            /* 400 / 413 / 431 / 501 / 505 / 507 decided during parsing */
    /* chunked framing: http-parser (non-strict build) takes any two bytes after a chunk's
     * data for its CRLF; we check them (RFC 9112 7.1: chunk-data CRLF) */
    uint64_t chunk_left;         /* data bytes of the current chunk still to come */
    uint64_t chunk_size;         /* the current chunk's declared size, for the message */
    size_t crlf_at;              /* offset in `in` of the next CRLF byte to check */
    int crlf_need;               /* CRLF bytes still to check (2, 1 or 0) */
    uint8_t crlf_bad;            /* the byte found instead */
    char te[64];                 /* Transfer-Encoding as sent (truncated), for the 501 */
    size_t te_len;
    uint64_t msg_start_ns;
} conn_t;

/* A request handled on a worker (writes, create, drop, compaction, rollback, versions). */
typedef struct job {
    mr_ev_job_t ev;              /* first: the core's part */
    mr_server_t *srv;
    mr_req_t *req;
    mr_resp_t resp;
} job_t;

struct mr_server {
    mr_config_t cfg;
    mr_server_shared_t sh;
    mr_metrics_t metrics;
    char *openapi;
    size_t openapi_len;
    mr_ev_core_t *core;
    mr_ev_listener_t *listener;
    mr_tls_server_t *tls;         /* NULL: cleartext */
    uint16_t port;
    bool detached;                /* no listener, no threads: handlers run inline (fuzzing) */
};

static bool stopping(const conn_t *c) { return mr_ev_core_stopping(mr_ev_conn_core(&c->ev)); }

static http_parser_settings g_settings;

/* ------------------------------------------------------------------ output ------- */

static void chunk_free(void *arg)
{
    out_chunk_t *c = arg;
    if (c->release)
        c->release(c->release_arg);
    if (c->arena) {
        mr_arena_deinit(c->arena);
        mr_free(c->arena);
    }
    mr_buf_deinit(&c->head);
    mr_free(c);
}

static bool out_full(const conn_t *c) { return mr_ev_out_full(&c->ev); }

/* Input interest is dropped while a worker handles the connection's request, and while the
 * client leaves more than MR_EV_OUT_HIGH_WATER of answers unread: the bytes it sends
 * meanwhile stay in the kernel (TCP back-pressure) instead of growing our buffers. Called
 * whenever one of those inputs may have changed (the core makes a syscall only when the
 * interest does). */
static void epoll_mod(conn_t *c) { mr_ev_conn_pause_input(&c->ev, c->busy || out_full(c)); }

static int flush_out(conn_t *c) { return mr_ev_flush(&c->ev); }

/* Queues the chunk's ranges (head first, then the zero-copy parts); the last one frees it. */
static void enqueue(conn_t *c, out_chunk_t *ch, const struct iovec *iov, int n)
{
    /* the budget counts what the answer keeps alive: its request arena and header buffer */
    size_t held = ch->head.cap + (ch->arena ? ch->arena->total : 0);
    for (int i = 0; i < n; i++)
        mr_ev_out_ref_held(&c->ev, iov[i].iov_base, iov[i].iov_len, i == n - 1 ? chunk_free : NULL, ch,
                           i == n - 1 ? held : 0);
}

static void send_raw(conn_t *c, const char *s)
{
    out_chunk_t *ch = mr_xcalloc(1, sizeof(*ch));
    mr_buf_append_cstr(&ch->head, s);
    struct iovec iov = {ch->head.data, ch->head.len};
    enqueue(c, ch, &iov, 1);
}

/* Turns a response into an output chunk (headers + owned body + zero-copy parts). */
static void queue_response(conn_t *c, mr_req_t *req, mr_resp_t *resp, bool close_conn)
{
    out_chunk_t *ch = mr_xcalloc(1, sizeof(*ch));
    /* an Arrow answer has a few buffers per column: a wide fetch needs more than fit inline,
     * and every one must go out or the body would fall short of its Content-Length */
    struct iovec iov_inline[MR_RESP_MAX_IOV + 1];
    struct iovec *iov = resp->iovcnt < MR_RESP_MAX_IOV ? iov_inline
                                                        : mr_xmalloc(((size_t)resp->iovcnt + 1) * sizeof(struct iovec));
    size_t body_len = resp->body.len + resp->iov_total;
    mr_buf_printf(&ch->head, "HTTP/1.1 %d %s\r\n", resp->status, mr_http_reason(resp->status));
    if (resp->content_type)
        mr_buf_printf(&ch->head, "Content-Type: %s\r\n", resp->content_type);
    if (resp->allow)
        mr_buf_printf(&ch->head, "Allow: %s\r\n", resp->allow);
    if (resp->www_authenticate)
        mr_buf_printf(&ch->head, "WWW-Authenticate: %s\r\n", resp->www_authenticate);
    if (resp->status != 204) /* RFC 9110 8.6: no Content-Length in a 204 */
        mr_buf_printf(&ch->head, "Content-Length: %zu\r\n", body_len);
    mr_buf_printf(&ch->head, "%s\r\n", close_conn ? "Connection: close\r\n" : "");
    bool head_only = req && req->head;
    size_t hlen = ch->head.len;
    if (!head_only)
        mr_buf_append(&ch->head, resp->body.data, resp->body.len);
    iov[0] = (struct iovec){ch->head.data, head_only ? hlen : ch->head.len};
    int n = 1;
    if (!head_only)
        for (int i = 0; i < resp->iovcnt; i++)
            if (resp->iov[i].iov_len)
                iov[n++] = resp->iov[i];
    ch->release = resp->release;
    ch->release_arg = resp->release_arg;
    mr_buf_deinit(&resp->body);
    if (req) {
        ch->arena = mr_xmalloc(sizeof(mr_arena_t));
        *ch->arena = req->arena; /* iov may point into it; freed after the write */
        mr_buf_deinit(&req->body);
        mr_free(req);
    }
    enqueue(c, ch, iov, n);
    if (iov != iov_inline)
        mr_free(iov);
}

static int error_resp_status(conn_t *c, int status, const char *msg)
{
    mr_resp_t r = {0};
    mr_buf_init(&r.body);
    mr_http_error(&r, status, "%s", msg);
    queue_response(c, NULL, &r, true);
    c->close_after = true;
    return 0;
}

/* ---------------------------------------------------------------- requests ------- */

static mr_req_t *req_new(void)
{
    mr_req_t *r = mr_xcalloc(1, sizeof(*r));
    mr_arena_init(&r->arena, 4096);
    mr_buf_init(&r->body);
    r->start_ns = mr_now_ns();
    return r;
}

static void req_free(mr_req_t *r)
{
    if (r == NULL)
        return;
    mr_arena_deinit(&r->arena);
    mr_buf_deinit(&r->body);
    mr_free(r);
}

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    c->in_message = true;
    c->headers_done = false;
    c->expect_continue = false;
    c->te_len = 0;
    c->crlf_need = 0;
    c->chunk_left = 0;
    c->msg_start_ns = mr_now_ns();
    req_free(c->req);
    c->req = req_new();
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    mr_req_t *r = c->req;
    char *u = mr_arena_alloc_aligned(&r->arena, r->url_len + len + 1, 1);
    if (u == NULL)
        return -1;
    if (r->url_len)
        memcpy(u, r->url, r->url_len);
    memcpy(u + r->url_len, at, len);
    r->url_len += len;
    u[r->url_len] = 0;
    r->url = u;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->hvalue_started) {
        c->hfield.len = 0;
        c->hvalue_started = false;
    }
    mr_buf_append(&c->hfield, at, len);
    return 0;
}

static void append_slice(mr_arena_t *a, mr_slice_t *s, const char *at, size_t len)
{
    char *d = mr_arena_alloc_aligned(a, s->len + len + 1, 1);
    if (d == NULL)
        return;
    if (s->len)
        memcpy(d, s->ptr, s->len);
    memcpy(d + s->len, at, len);
    s->ptr = d;
    s->len += len;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    mr_req_t *r = c->req;
    if (!c->hvalue_started) {
        c->hvalue_started = true;
        c->hkind = HDR_OTHER;
        const char *f = (const char *)c->hfield.data;
        size_t fl = c->hfield.len;
        if (fl == 12 && strncasecmp(f, "content-type", 12) == 0)
            c->hkind = r->has_content_type ? HDR_OTHER : HDR_CT; /* first value wins */
        else if (fl == 6 && strncasecmp(f, "accept", 6) == 0)
            c->hkind = r->accept.len ? HDR_OTHER : HDR_ACCEPT;
        else if (fl == 13 && strncasecmp(f, "authorization", 13) == 0) /* several: refused (auth.c) */
            c->hkind = r->has_authorization++ ? HDR_OTHER : HDR_AUTH;
        else if (fl == 6 && strncasecmp(f, "expect", 6) == 0)
            c->hkind = HDR_EXPECT;
        else if (fl == 17 && strncasecmp(f, "transfer-encoding", 17) == 0) {
            c->hkind = HDR_TE;
            if (c->te_len > 0 && c->te_len < sizeof(c->te)) /* several headers: one list */
                c->te[c->te_len++] = ',';
        }
        if (c->hkind == HDR_CT)
            r->has_content_type = true;
    }
    switch (c->hkind) {
    case HDR_CT: append_slice(&r->arena, &r->content_type, at, len); break;
    case HDR_ACCEPT: append_slice(&r->arena, &r->accept, at, len); break;
    case HDR_AUTH: append_slice(&r->arena, &r->authorization, at, len); break;
    case HDR_EXPECT:
        if (len >= 12 && strncasecmp(at, "100-continue", 12) == 0)
            c->expect_continue = true;
        break;
    case HDR_TE: {
        size_t n = len < sizeof(c->te) - c->te_len ? len : sizeof(c->te) - c->te_len;
        memcpy(c->te + c->te_len, at, n);
        c->te_len += n;
        break;
    }
    default: break;
    }
    return 0;
}

/* True when the Transfer-Encoding list is exactly "chunked" (any case, optional spaces):
 * a body under another coding (gzip, deflate, ...) would be read as if it had none. */
static bool te_is_chunked(const char *v, size_t n)
{
    while (n > 0 && (v[0] == ' ' || v[0] == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    return n == 7 && strncasecmp(v, "chunked", 7) == 0;
}

static int on_headers_complete(http_parser *p)
{
    conn_t *c = p->data;
    mr_server_t *srv = c->srv;
    c->headers_done = true;
    c->hfield.len = 0;
    c->hvalue_started = false;
    c->req->method = p->method;
    c->req->head = p->method == HTTP_HEAD;
    if (p->http_major != 1) {
        c->early_status = 505;
        http_parser_pause(p, 1);
        return 0;
    }
    if ((p->flags & F_CONTENTLENGTH) && p->content_length > srv->cfg.http.max_payload_size) {
        c->early_status = 413;
        http_parser_pause(p, 1);
        return 0;
    }
    if (c->te_len > 0 && !te_is_chunked(c->te, c->te_len)) { /* RFC 9112 6.1: unknown coding -> 501 */
        c->early_status = 501;
        http_parser_pause(p, 1);
        return 0;
    }
    if (c->expect_continue) {
        send_raw(c, "HTTP/1.1 100 Continue\r\n\r\n");
        flush_out(c);
    }
    return 0;
}

/* A chunk that declares more than the rest of max_payload_size is refused at its header,
 * before its bytes arrive (a 2^63-byte chunk used to hold the connection open). */
/* Checks the CRLF after a chunk's data as far as `in` holds it (the rest at the next call). */
static void check_chunk_crlf(conn_t *c)
{
    while (c->crlf_need > 0 && c->crlf_at < c->in_len && c->early_status == 0) {
        uint8_t want = c->crlf_need == 2 ? '\r' : '\n', got = c->in[c->crlf_at];
        if (got != want) {
            c->crlf_bad = got;
            c->early_status = 400;
            http_parser_pause(&c->parser, 1);
            return;
        }
        c->crlf_at++;
        c->crlf_need--;
    }
}

static int on_chunk_header(http_parser *p)
{
    conn_t *c = p->data;
    c->chunk_left = c->chunk_size = p->content_length;
    uint64_t limit = c->srv->cfg.http.max_payload_size, have = c->req->body.len;
    if (p->content_length > limit || have > limit - p->content_length) {
        c->early_status = 413;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    mr_req_t *r = c->req;
    if ((p->flags & F_CHUNKED) && len <= c->chunk_left) {
        c->chunk_left -= len;
        if (c->chunk_left == 0) {
            c->crlf_at = (size_t)((const uint8_t *)at + len - c->in);
            c->crlf_need = 2;
            check_chunk_crlf(c);
            if (c->early_status)
                return 0;
        }
    }
    if (r->body.len + len > c->srv->cfg.http.max_payload_size) {
        c->early_status = 413;
        http_parser_pause(p, 1);
        return 0;
    }
    if (r->body.len == 0 && (p->flags & F_CONTENTLENGTH) && p->content_length < (1ull << 32))
        mr_buf_reserve(&r->body, len + p->content_length); /* one allocation for the whole body */
    if (mr_buf_append(&r->body, at, len) != 0) {
        c->early_status = 507;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->in_message = false;
    c->keep_alive = http_should_keep_alive(p);
    c->request_ready = true;
    http_parser_pause(p, 1);
    return 0;
}

/* ----------------------------------------------------------------- handling ------- */

static void finish_response(conn_t *c, mr_req_t *req, mr_resp_t *resp)
{
    mr_server_t *srv = c->srv;
    uint64_t us = (mr_now_ns() - req->start_ns) / 1000;
    mr_metrics_record(&srv->metrics, resp->route, resp->status, us);
    bool close_conn = !c->keep_alive || stopping(c);
    queue_response(c, req, resp, close_conn);
    if (close_conn)
        c->close_after = true;
}

static void job_run(mr_ev_job_t *ev)
{
    job_t *j = (job_t *)ev;
    mr_http_handle(&j->srv->sh, j->req, &j->resp);
}

static void dispatch(conn_t *c)
{
    mr_server_t *srv = c->srv;
    mr_req_t *req = c->req;
    c->req = NULL;
    c->request_ready = false;
    if (req->url == NULL) {
        req->url = mr_arena_strndup(&req->arena, "/", 1);
        req->url_len = 1;
    }
    bool offload;
    mr_route_t route = mr_http_route_of(req, &offload);
    /* A large fetch (a body-size proxy for its key count, known once the body is in) runs
     * on a worker: a 2.5M-key fetch on the loop stalled every other connection of it for
     * ~80 ms (docs/decisions/0008-event-core.md). */
    if (route == MR_ROUTE_FETCH && req->body.len > MR_FETCH_INLINE_MAX)
        offload = true;
    if (offload) {
        job_t *j = mr_xcalloc(1, sizeof(*j));
        j->ev.run = job_run;
        j->srv = srv;
        j->req = req;
        mr_buf_init(&j->resp.body);
        c->busy = true;
        epoll_mod(c);
        mr_ev_submit(&c->ev, &j->ev);
        return;
    }
    mr_resp_t resp = {0};
    mr_buf_init(&resp.body);
    mr_http_handle(&srv->sh, req, &resp);
    finish_response(c, req, &resp);
}

static void conn_close(conn_t *c) { mr_ev_conn_close(&c->ev); }

/* Parses buffered input and handles complete requests, one at a time. */
static void process(conn_t *c)
{
again:;
    while (!c->busy && !c->close_after && !out_full(c)) {
        if (c->request_ready) {
            dispatch(c);
            continue;
        }
        if (c->in_len == 0)
            break;
        if (HTTP_PARSER_ERRNO(&c->parser) == HPE_PAUSED)
            http_parser_pause(&c->parser, 0);
        check_chunk_crlf(c); /* the part of a chunk's CRLF that arrived after its data */
        size_t n = 0;
        if (c->early_status == 0)
            n = http_parser_execute(&c->parser, &g_settings, (const char *)c->in, c->in_len);
        enum http_errno en = HTTP_PARSER_ERRNO(&c->parser);
        if (en != HPE_OK && en != HPE_PAUSED) {
            if (en == HPE_HEADER_OVERFLOW)
                error_resp_status(c, 431, "request headers are larger than 80 KiB");
            else
                error_resp_status(c, 400, http_errno_description(en));
            break;
        }
        memmove(c->in, c->in + n, c->in_len - n);
        c->in_len -= n;
        c->crlf_at = c->crlf_at >= n ? c->crlf_at - n : 0;
        if (c->early_status) {
            char msg[160];
            if (c->early_status == 413)
                snprintf(msg, sizeof(msg), "request body is larger than max_payload_size (%llu bytes)",
                         (unsigned long long)c->srv->cfg.http.max_payload_size);
            else if (c->early_status == 505)
                snprintf(msg, sizeof(msg), "HTTP/%u.%u is not supported: use HTTP/1.1 or HTTP/1.0",
                         c->parser.http_major, c->parser.http_minor);
            else if (c->early_status == 400)
                snprintf(msg, sizeof(msg), "malformed chunked body: the %llu bytes of chunk data are followed by "
                         "0x%02x instead of CRLF", (unsigned long long)c->chunk_size, c->crlf_bad);
            else if (c->early_status == 501)
                snprintf(msg, sizeof(msg), "Transfer-Encoding `%.*s` is not supported: send the body as is or "
                         "chunked only", (int)c->te_len, c->te);
            else
                snprintf(msg, sizeof(msg), "out of memory buffering the request body");
            mr_metrics_record(&c->srv->metrics, MR_ROUTE_WRITE, c->early_status, 0);
            error_resp_status(c, c->early_status, msg);
            break;
        }
        if (n == 0 && !c->request_ready)
            break;
    }
    /* Parsing stopped at the output high-water mark: if this flush takes the answers below
     * it again (a client with large socket buffers can absorb them all at once), the
     * requests already buffered must be parsed now; no EPOLLOUT or EPOLLIN would wake us. */
    bool held_back = out_full(c) && !c->busy && !c->close_after && (c->in_len > 0 || c->request_ready);
    if (flush_out(c) != 0 || (c->close_after && mr_ev_out_queued(&c->ev) == 0 && !c->busy)) {
        conn_close(c);
        return;
    }
    if (held_back && !out_full(c))
        goto again;
    if (c->close_after && !c->read_closed) {
        mr_ev_conn_shutdown_read(&c->ev);
        c->read_closed = true;
    }
    epoll_mod(c);
}

static void on_input(mr_ev_conn_t *ev)
{
    conn_t *c = (conn_t *)ev;
    for (;;) {
        if (c->in_cap - c->in_len < READ_CHUNK) {
            size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
            while (cap - c->in_len < READ_CHUNK)
                cap *= 2;
            c->in = mr_xrealloc(c->in, cap);
            c->in_cap = cap;
        }
        ssize_t r = mr_ev_conn_read(&c->ev, c->in + c->in_len, c->in_cap - c->in_len);
        if (r > 0) {
            c->in_len += (size_t)r;
            if (c->busy || c->in_len > READ_AHEAD || out_full(c))
                break; /* process what we have; more stays in the kernel */
            continue;
        }
        if (r == 0 || c->ev.eof)
            c->close_after = true; /* end of input, or a broken connection */
        break;
    }
    process(c);
}

static int on_open(mr_ev_conn_t *ev)
{
    conn_t *c = (conn_t *)ev;
    c->srv = mr_ev_conn_arg(ev);
    atomic_fetch_add(&c->srv->metrics.connections_total, 1);
    atomic_fetch_add(&c->srv->metrics.connections_open, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    mr_buf_init(&c->hfield);
    return 0;
}

static void on_close(mr_ev_conn_t *ev)
{
    conn_t *c = (conn_t *)ev;
    req_free(c->req); /* NULL while a worker has it: on_job_done frees that one */
    c->req = NULL;
    mr_buf_deinit(&c->hfield);
    mr_free(c->in);
    c->in = NULL;
    atomic_fetch_sub(&c->srv->metrics.connections_open, 1);
}

/* EPOLLOUT drained the answers below the high-water mark (or all of them). */
static void on_writable(mr_ev_conn_t *ev)
{
    conn_t *c = (conn_t *)ev;
    if (c->close_after && mr_ev_out_queued(ev) == 0 && !c->busy)
        conn_close(c);
    else if ((c->in_len > 0 || c->request_ready) && !c->busy)
        process(c); /* requests held back while answers were unread; may close c */
    else
        epoll_mod(c);
}

static void on_job_done(mr_ev_conn_t *ev, mr_ev_job_t *jev)
{
    conn_t *c = (conn_t *)ev;
    job_t *j = (job_t *)jev;
    c->busy = false;
    if (mr_ev_conn_closed(ev)) { /* the client went away meanwhile: nothing to answer */
        mr_resp_t *resp = &j->resp;
        if (resp->release)
            resp->release(resp->release_arg);
        mr_buf_deinit(&resp->body);
        req_free(j->req);
        mr_free(j);
        return;
    }
    epoll_mod(c);
    finish_response(c, j->req, &j->resp);
    mr_free(j);
    process(c);
}

/* Headers that do not arrive, and bodies that stop arriving, within their timeouts: 408. */
static void on_tick(mr_ev_conn_t *ev, uint64_t now)
{
    conn_t *c = (conn_t *)ev;
    mr_server_t *srv = c->srv;
    if (c->busy || c->close_after || !c->in_message)
        return;
    uint64_t hdr_ns = (uint64_t)srv->cfg.http.header_timeout_ms * 1000000u;
    uint64_t idle_ns = (uint64_t)srv->cfg.http.idle_timeout_ms * 1000000u;
    if (!c->headers_done && now - c->msg_start_ns > hdr_ns) {
        error_resp_status(c, 408, "request headers not received within the header timeout");
        process(c);
    } else if (c->headers_done && now - c->ev.last_ns > idle_ns) {
        /* a body that stopped arriving would otherwise hold the connection forever */
        char msg[128];
        snprintf(msg, sizeof(msg), "request body stalled: no bytes for %u ms (idle timeout)",
                 srv->cfg.http.idle_timeout_ms);
        error_resp_status(c, 408, msg);
        process(c);
    }
}

static bool is_quiet(mr_ev_conn_t *ev)
{
    conn_t *c = (conn_t *)ev;
    return !c->in_message && !c->busy && !c->request_ready;
}

static size_t refusal(const mr_ev_listener_t *l, char *msg, size_t cap)
{
    unsigned max = mr_ev_listener_max_connections(l);
    int n = snprintf(msg, cap,
                     "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     "Content-Length: %d\r\n\r\n{\"error\":\"connection limit reached (%u)\"}",
                     (int)strlen("{\"error\":\"connection limit reached ()\"}") + snprintf(NULL, 0, "%u", max), max);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static const mr_ev_proto_ops_t http_ops = {
    .name = "HTTP",
    .on_open = on_open,
    .on_input = on_input,
    .on_writable = on_writable,
    .on_job_done = on_job_done,
    .on_tick = on_tick,
    .is_quiet = is_quiet,
    .on_close = on_close,
    .refusal = refusal,
};

static mr_ev_listener_spec_t listener_spec(mr_server_t *s)
{
    return (mr_ev_listener_spec_t){.host = s->cfg.http.host,
                                   .port = s->cfg.http.port,
                                   .ops = &http_ops,
                                   .conn_size = sizeof(conn_t),
                                   .proto_arg = s,
                                   .max_connections = s->cfg.http.max_connections,
                                   .idle_timeout_ms = s->cfg.http.idle_timeout_ms,
                                   .transport_new = s->tls ? mr_tls_transport_new : NULL,
                                   .transport_arg = s->tls,
                                   .bytes_in = &s->metrics.bytes_in,
                                   .bytes_out = &s->metrics.bytes_out};
}

/* ------------------------------------------------------------------ openapi ------- */

/* Converts the YAML document (docs/openapi.yaml, embedded at build time) to JSON. */
static json_t *yaml_node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
    if (n == NULL || depth > 64)
        return json_null();
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *v = (const char *)n->data.scalar.value;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
            if (strcmp(v, "true") == 0)
                return json_true();
            if (strcmp(v, "false") == 0)
                return json_false();
            if (strcmp(v, "null") == 0 || strcmp(v, "~") == 0)
                return json_null();
            char *end;
            long long iv = strtoll(v, &end, 10);
            if (*v && *end == 0)
                return json_integer(iv);
        }
        return json_string(v);
    }
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            json_array_append_new(a, yaml_node_to_json(doc, yaml_document_get_node(doc, *it), depth + 1));
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = yaml_document_get_node(doc, pr->key);
            if (k && k->type == YAML_SCALAR_NODE)
                json_object_set_new(o, (const char *)k->data.scalar.value,
                                    yaml_node_to_json(doc, yaml_document_get_node(doc, pr->value), depth + 1));
        }
        return o;
    }
    default:
        return json_null();
    }
}

extern const char mr_openapi_yaml[];
extern const size_t mr_openapi_yaml_len;

static int load_openapi(mr_server_t *s, mr_error_t *err)
{
    yaml_parser_t p;
    yaml_document_t doc;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)mr_openapi_yaml, mr_openapi_yaml_len);
    if (!yaml_parser_load(&p, &doc)) {
        int rc = mr_err_set(err, MURR_EINTERNAL, "embedded openapi.yaml is invalid at line %zu: %s",
                            p.problem_mark.line + 1, p.problem ? p.problem : "?");
        yaml_parser_delete(&p);
        return rc;
    }
    json_t *j = yaml_node_to_json(&doc, yaml_document_get_root_node(&doc), 0);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    char *txt = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (txt == NULL)
        return mr_err_set(err, MURR_ENOMEM, "cannot render openapi.json");
    s->openapi_len = strlen(txt);
    s->openapi = mr_strndup(txt, s->openapi_len);
    free(txt);
    return 0;
}

/* ------------------------------------------------------------------- lifecycle ---- */

static void settings_init(void)
{
    g_settings = (http_parser_settings){.on_message_begin = on_message_begin,
                                        .on_url = on_url,
                                        .on_header_field = on_header_field,
                                        .on_header_value = on_header_value,
                                        .on_headers_complete = on_headers_complete,
                                        .on_body = on_body,
                                        .on_chunk_header = on_chunk_header,
                                        .on_message_complete = on_message_complete};
}

static mr_server_t *server_new(const mr_config_t *cfg, murr_db *db, struct mr_sources *sources)
{
    settings_init();
    mr_server_t *s = mr_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->sh = (mr_server_shared_t){.cfg = &s->cfg, .db = db, .metrics = &s->metrics, .sources = sources};
    return s;
}

static void server_free(mr_server_t *s)
{
    mr_tls_server_free(s->tls);
    mr_free(s->openapi);
    mr_free(s);
}

int mr_server_listen(mr_ev_core_t *core, const mr_config_t *cfg, murr_db *db, struct mr_sources *sources,
                     mr_server_t **out, mr_error_t *err)
{
    mr_server_t *s = server_new(cfg, db, sources);
    int rc = load_openapi(s, err);
    if (rc == 0)
        rc = mr_tls_server_from_config(cfg, MR_TLS_ALPN_HTTP1, &s->tls, err);
    if (rc != 0) {
        server_free(s);
        return rc;
    }
    s->sh.openapi_json = s->openapi;
    s->sh.openapi_len = s->openapi_len;
    s->core = core;
    mr_ev_listener_spec_t spec = listener_spec(s);
    rc = mr_ev_core_listen(core, &spec, &s->listener, err);
    if (rc != 0) {
        server_free(s);
        return rc;
    }
    s->port = mr_ev_listener_port(s->listener);
    MR_INFO("http", "HTTP%s server on %s:%u: %d event-loop threads, %d workers, max_payload %llu bytes, max %u connections",
            s->tls ? "S" : "", cfg->http.host, s->port, mr_ev_core_nloops(core), mr_ev_core_nworkers(core),
            (unsigned long long)cfg->http.max_payload_size, cfg->http.max_connections);
    *out = s;
    return 0;
}

uint16_t mr_server_http_port(const mr_server_t *s) { return s->port; }

int mr_server_tls_reload(mr_server_t *s, mr_error_t *err) { return s->tls ? mr_tls_server_reload(s->tls, err) : 0; }

void mr_server_free(mr_server_t *s)
{
    if (s != NULL)
        server_free(s);
}

/* ------------------------------------------------------------ detached mode ------ */
/* One connection driven by the caller over a socketpair (the core's detached mode): the
 * same parser callbacks, limits, early statuses, routing and handlers as on a loop, with
 * worker jobs run inline. Used by fuzz/fuzz_http_request.c and the unit tests. */

mr_server_t *mr_server_new_detached(const mr_config_t *cfg, murr_db *db)
{
    mr_server_t *s = server_new(cfg, db, NULL);
    s->detached = true;
    s->openapi = mr_xstrdup("{}");
    s->openapi_len = 2;
    s->sh.openapi_json = s->openapi;
    s->sh.openapi_len = s->openapi_len;
    mr_ev_listener_spec_t spec = listener_spec(s);
    s->core = mr_ev_core_new_detached(&spec);
    return s;
}

int mr_server_feed_detached(mr_server_t *s, const uint8_t *data, size_t len, size_t split, mr_buf_t *out)
{
    return mr_ev_detached_run(s->core, data, len, split, out);
}

void mr_server_free_detached(mr_server_t *s)
{
    if (s == NULL)
        return;
    mr_ev_core_free_detached(s->core);
    server_free(s);
}
