/* loop.c - epoll event loops, connections, libhttp-parser glue, limits, the worker pool
 * and graceful shutdown of the HTTP server (contract in server.h; why in
 * docs/decisions/0002-event-loop.md).
 *
 * Per connection, one request is processed at a time: when a request completes the parser
 * is paused; the handler runs inline (reads) or on a worker (writes, create, drop,
 * compact); when the response is queued the parser resumes on the bytes already buffered,
 * so pipelined requests are answered in order. Limits: Content-Length above
 * max_payload_size -> 413 before any body byte is read (chunked: at a chunk header that
 * declares more than the rest of the limit, or as soon as the running
 * total passes it); a Transfer-Encoding other than chunked -> 501; header overflow -> 431;
 * header timeout -> 408; idle keep-alive
 * timeout -> close; connection cap -> 503 and close. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <http_parser.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <yaml.h>

#include "core/net.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "format/arrow_ipc.h"
#include "server/http_internal.h"

#define READ_CHUNK 65536
#define TICK_MS 100
/* Output a client has not read yet, past which its connection stops reading and parsing
 * (a client pipelining requests without reading answers cannot grow our memory without
 * bound). Well above one socket buffer, so clients that read while they send never stall. */
#define OUT_HIGH_WATER (8u << 20)

typedef struct out_chunk {
    struct out_chunk *next;
    struct iovec *iov;           /* iov_inline, or allocated for answers with many buffers */
    struct iovec iov_inline[MR_RESP_MAX_IOV + 1];
    int n, idx;
    mr_buf_t head;               /* status line + headers + owned body */
    void (*release)(void *);
    void *release_arg;
    mr_arena_t *arena;           /* the request arena, freed when written */
} out_chunk_t;

typedef struct loop loop_t;

typedef enum { HDR_OTHER, HDR_CT, HDR_ACCEPT, HDR_EXPECT, HDR_TE, HDR_AUTH } hdr_kind_t;

typedef struct conn {
    loop_t *loop;
    int fd;
    http_parser parser;
    uint8_t *in;
    size_t in_len, in_cap;
    mr_req_t *req;               /* request being parsed / handled */
    mr_buf_t hfield;             /* current header name */
    hdr_kind_t hkind;
    bool hvalue_started;
    bool in_message, headers_done, expect_continue, keep_alive;
    bool request_ready, busy, close_after, dead, read_closed;
    int early_status;            /* 413 / 431 / 501 / 505 / 507 decided during parsing */
    char te[64];                 /* Transfer-Encoding as sent (truncated), for the 501 */
    size_t te_len;
    out_chunk_t *out_head, *out_tail;
    bool want_out;
    size_t out_pending;          /* bytes queued and not yet written */
    uint32_t ev_mask;            /* events currently registered with epoll */
    uint64_t last_ns, msg_start_ns;
    struct conn *prev, *next;
} conn_t;

typedef struct job {
    struct job *next;
    conn_t *conn;
    mr_req_t *req;
    mr_resp_t resp;
} job_t;

struct loop {
    mr_server_t *srv;
    int epfd, evfd;
    mr_net_acceptor_t acc;       /* this loop's accepts (the listener is shared, EPOLLEXCLUSIVE) */
    uint64_t listen_paused_until; /* out of descriptors: listener out of this loop's epoll set */
    pthread_t th;
    conn_t *conns;
    pthread_mutex_t done_lock;
    job_t *done;
};

struct mr_server {
    mr_config_t cfg;
    mr_server_shared_t sh;
    mr_metrics_t metrics;
    char *openapi;
    size_t openapi_len;
    int listen_fd;
    uint16_t port;
    int nloops;
    loop_t *loops;
    int nworkers;
    pthread_t *workers;
    pthread_mutex_t jlock;
    pthread_cond_t jcond;
    job_t *jhead, *jtail;
    bool jquit;
    _Atomic bool stopping, loops_quit;
    _Atomic int inflight;         /* requests dispatched and not yet answered */
    _Atomic int partial;          /* requests whose bytes are still arriving */
    _Atomic int nconns;
    bool detached;                /* no listener, no threads: handlers run inline (fuzzing) */
};

static http_parser_settings g_settings;

/* ------------------------------------------------------------------ output ------- */

static void chunk_free(out_chunk_t *c)
{
    if (c->release)
        c->release(c->release_arg);
    if (c->arena) {
        mr_arena_deinit(c->arena);
        mr_free(c->arena);
    }
    mr_buf_deinit(&c->head);
    if (c->iov != c->iov_inline)
        mr_free(c->iov);
    mr_free(c);
}

static bool out_full(const conn_t *c) { return c->out_pending > OUT_HIGH_WATER; }

/* Input interest is dropped while a worker handles the connection's request, and while the
 * client leaves more than OUT_HIGH_WATER of answers unread: the bytes it sends meanwhile
 * stay in the kernel (TCP back-pressure) instead of growing our buffers, and a half-closed
 * peer cannot make a level-triggered loop spin. Called whenever one of those inputs may
 * have changed; a syscall only when the mask does. */
static void epoll_mod(conn_t *c)
{
    uint32_t in = c->busy || out_full(c) ? 0 : (EPOLLIN | EPOLLRDHUP);
    uint32_t mask = in | (c->want_out ? EPOLLOUT : 0);
    if (mask == c->ev_mask)
        return;
    struct epoll_event ev = {.events = mask, .data.ptr = c};
    epoll_ctl(c->loop->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->ev_mask = mask;
}

/* Writes as much as the socket takes. Returns -1 if the connection broke. */
static int flush_out(conn_t *c)
{
    while (c->out_head) {
        out_chunk_t *ch = c->out_head;
        int cnt = ch->n - ch->idx;
        ssize_t w = writev(c->fd, ch->iov + ch->idx, cnt > IOV_MAX ? IOV_MAX : cnt);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (!c->want_out) {
                    c->want_out = true;
                    epoll_mod(c);
                }
                return 0;
            }
            return -1;
        }
        atomic_fetch_add_explicit(&c->loop->srv->metrics.bytes_out, (uint64_t)w, memory_order_relaxed);
        c->out_pending -= (size_t)w;
        c->last_ns = mr_now_ns(); /* a client reading its answers is active */
        size_t left = (size_t)w;
        while (ch->idx < ch->n && left >= ch->iov[ch->idx].iov_len) {
            left -= ch->iov[ch->idx].iov_len;
            ch->idx++;
        }
        if (ch->idx < ch->n) {
            ch->iov[ch->idx].iov_base = (char *)ch->iov[ch->idx].iov_base + left;
            ch->iov[ch->idx].iov_len -= left;
            continue;
        }
        c->out_head = ch->next;
        if (c->out_head == NULL)
            c->out_tail = NULL;
        chunk_free(ch);
    }
    c->want_out = false;
    epoll_mod(c);
    return 0;
}

static void enqueue(conn_t *c, out_chunk_t *ch)
{
    ch->next = NULL;
    for (int i = 0; i < ch->n; i++)
        c->out_pending += ch->iov[i].iov_len;
    if (c->out_tail)
        c->out_tail->next = ch;
    else
        c->out_head = ch;
    c->out_tail = ch;
}

static void send_raw(conn_t *c, const char *s)
{
    out_chunk_t *ch = mr_xcalloc(1, sizeof(*ch));
    ch->iov = ch->iov_inline;
    mr_buf_append_cstr(&ch->head, s);
    ch->iov[0] = (struct iovec){ch->head.data, ch->head.len};
    ch->n = 1;
    enqueue(c, ch);
}

/* Turns a response into an output chunk (headers + owned body + zero-copy parts). */
static void queue_response(conn_t *c, mr_req_t *req, mr_resp_t *resp, bool close_conn)
{
    out_chunk_t *ch = mr_xcalloc(1, sizeof(*ch));
    /* an Arrow answer has a few buffers per column: a wide fetch needs more than fit inline,
     * and every one must go out or the body would fall short of its Content-Length */
    ch->iov = resp->iovcnt < MR_RESP_MAX_IOV ? ch->iov_inline
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
    ch->iov[0] = (struct iovec){ch->head.data, head_only ? hlen : ch->head.len};
    ch->n = 1;
    if (!head_only)
        for (int i = 0; i < resp->iovcnt; i++)
            if (resp->iov[i].iov_len)
                ch->iov[ch->n++] = resp->iov[i];
    ch->release = resp->release;
    ch->release_arg = resp->release_arg;
    mr_buf_deinit(&resp->body);
    if (req) {
        mr_req_release_stream(req);
        ch->arena = mr_xmalloc(sizeof(mr_arena_t));
        *ch->arena = req->arena; /* iov may point into it; freed after the write */
        mr_buf_deinit(&req->body);
        mr_free(req);
    }
    enqueue(c, ch);
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

void mr_req_release_stream(mr_req_t *r)
{
    for (size_t i = 0; i < r->nbatches; i++)
        mr_batch_free(r->batches[i]);
    mr_free(r->batches);
    r->batches = NULL;
    r->nbatches = r->cap_batches = 0;
    mr_ipc_reader_free(r->ipc);
    r->ipc = NULL;
}

static void req_free(mr_req_t *r)
{
    if (r == NULL)
        return;
    mr_req_release_stream(r);
    mr_arena_deinit(&r->arena);
    mr_buf_deinit(&r->body);
    mr_free(r);
}

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    c->in_message = true;
    atomic_fetch_add(&c->loop->srv->partial, 1);
    c->headers_done = false;
    c->expect_continue = false;
    c->te_len = 0;
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
    mr_server_t *srv = c->loop->srv;
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
    mr_req_t *r = c->req;
    if (r->url && r->has_content_type && p->method == HTTP_PUT &&
        memmem(r->content_type.ptr, r->content_type.len, MR_IPC_CONTENT_TYPE, strlen(MR_IPC_CONTENT_TYPE))) {
        bool offload;
        if (mr_http_route_of(r, &offload) == MR_ROUTE_WRITE)
            r->ipc = mr_ipc_reader_new(srv->cfg.http.max_payload_size);
    }
    return 0;
}

/* Feeds body bytes to the request's IPC reader and keeps every completed batch. */
static void stream_decode(mr_req_t *r, const char *at, size_t len)
{
    if (r->ipc_err.code != 0)
        return; /* already failed: discard the rest of the body */
    if (mr_ipc_reader_feed(r->ipc, (const uint8_t *)at, len, &r->ipc_err) != 0)
        return;
    for (;;) {
        mr_batch_t *b = NULL;
        int rc = mr_ipc_reader_next(r->ipc, &b, &r->ipc_err);
        if (rc == MURR_EAGAIN) {
            mr_err_clear(&r->ipc_err);
            return;
        }
        if (rc != 0 || b == NULL)
            return; /* error recorded, or end of stream */
        if (r->nbatches == r->cap_batches) {
            r->cap_batches = r->cap_batches ? r->cap_batches * 2 : 8;
            r->batches = mr_xrealloc(r->batches, r->cap_batches * sizeof(*r->batches));
        }
        r->batches[r->nbatches++] = b;
    }
}

/* A chunk that declares more than the rest of max_payload_size is refused at its header,
 * before its bytes arrive (a 2^63-byte chunk used to hold the connection open). */
static int on_chunk_header(http_parser *p)
{
    conn_t *c = p->data;
    uint64_t limit = c->loop->srv->cfg.http.max_payload_size, have = c->req->body.len;
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
    if (r->body.len + len > c->loop->srv->cfg.http.max_payload_size) {
        c->early_status = 413;
        http_parser_pause(p, 1);
        return 0;
    }
    if (r->ipc) {
        r->body.len += len; /* counted for the limit above, not kept: decoded as it arrives */
        stream_decode(r, at, len);
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
    atomic_fetch_sub(&c->loop->srv->partial, 1);
    c->keep_alive = http_should_keep_alive(p);
    c->request_ready = true;
    http_parser_pause(p, 1);
    return 0;
}

/* ----------------------------------------------------------------- handling ------- */

static void finish_response(conn_t *c, mr_req_t *req, mr_resp_t *resp)
{
    mr_server_t *srv = c->loop->srv;
    uint64_t us = (mr_now_ns() - req->start_ns) / 1000;
    mr_metrics_record(&srv->metrics, resp->route, resp->status, us);
    bool close_conn = !c->keep_alive || atomic_load(&srv->stopping);
    queue_response(c, req, resp, close_conn);
    if (close_conn)
        c->close_after = true;
}

static void dispatch(conn_t *c)
{
    mr_server_t *srv = c->loop->srv;
    mr_req_t *req = c->req;
    c->req = NULL;
    c->request_ready = false;
    if (req->url == NULL) {
        req->url = mr_arena_strndup(&req->arena, "/", 1);
        req->url_len = 1;
    }
    bool offload;
    mr_route_t route = mr_http_route_of(req, &offload);
    (void)route;
    atomic_fetch_add(&srv->inflight, 1);
    if (offload && !srv->detached) {
        job_t *j = mr_xcalloc(1, sizeof(*j));
        j->conn = c;
        j->req = req;
        mr_buf_init(&j->resp.body);
        c->busy = true;
        epoll_mod(c);
        pthread_mutex_lock(&srv->jlock);
        if (srv->jtail)
            srv->jtail->next = j;
        else
            srv->jhead = j;
        srv->jtail = j;
        pthread_cond_signal(&srv->jcond);
        pthread_mutex_unlock(&srv->jlock);
        return;
    }
    mr_resp_t resp = {0};
    mr_buf_init(&resp.body);
    mr_http_handle(&srv->sh, req, &resp);
    finish_response(c, req, &resp);
    atomic_fetch_sub(&srv->inflight, 1);
}

static void conn_close(conn_t *c)
{
    loop_t *l = c->loop;
    if (c->busy) { /* a worker still holds it: close the socket, free when the job returns */
        c->dead = true;
        return;
    }
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL); /* ENOENT if already removed: harmless */
    close(c->fd);
    if (c->in_message)
        atomic_fetch_sub(&l->srv->partial, 1);
    while (c->out_head) {
        out_chunk_t *n = c->out_head->next;
        chunk_free(c->out_head);
        c->out_head = n;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    req_free(c->req);
    mr_buf_deinit(&c->hfield);
    mr_free(c->in);
    atomic_fetch_sub(&l->srv->nconns, 1);
    atomic_fetch_sub(&l->srv->metrics.connections_open, 1);
    mr_free(c);
}

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
        size_t n = http_parser_execute(&c->parser, &g_settings, (const char *)c->in, c->in_len);
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
        if (c->early_status) {
            char msg[160];
            if (c->early_status == 413)
                snprintf(msg, sizeof(msg), "request body is larger than max_payload_size (%llu bytes)",
                         (unsigned long long)c->loop->srv->cfg.http.max_payload_size);
            else if (c->early_status == 505)
                snprintf(msg, sizeof(msg), "HTTP/%u.%u is not supported: use HTTP/1.1 or HTTP/1.0",
                         c->parser.http_major, c->parser.http_minor);
            else if (c->early_status == 501)
                snprintf(msg, sizeof(msg), "Transfer-Encoding `%.*s` is not supported: send the body as is or "
                         "chunked only", (int)c->te_len, c->te);
            else
                snprintf(msg, sizeof(msg), "out of memory buffering the request body");
            mr_metrics_record(&c->loop->srv->metrics, MR_ROUTE_WRITE, c->early_status, 0);
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
    if (flush_out(c) != 0 || (c->close_after && c->out_head == NULL && !c->busy)) {
        conn_close(c);
        return;
    }
    if (held_back && !out_full(c))
        goto again;
    if (c->close_after && !c->read_closed) {
        shutdown(c->fd, SHUT_RD);
        c->read_closed = true;
    }
    epoll_mod(c);
}

static void on_readable(conn_t *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < READ_CHUNK) {
            size_t cap = c->in_cap ? c->in_cap * 2 : READ_CHUNK * 2;
            while (cap - c->in_len < READ_CHUNK)
                cap *= 2;
            c->in = mr_xrealloc(c->in, cap);
            c->in_cap = cap;
        }
        ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
        if (r > 0) {
            c->in_len += (size_t)r;
            c->last_ns = mr_now_ns();
            atomic_fetch_add_explicit(&c->loop->srv->metrics.bytes_in, (uint64_t)r, memory_order_relaxed);
            if (c->busy || c->in_len > (4u << 20) || out_full(c))
                break; /* process what we have; more stays in the kernel */
            continue;
        }
        if (r == 0) {
            c->close_after = true;
            if (c->in_message && !c->request_ready && !c->busy) {
                /* peer went away mid-request */
            }
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            c->close_after = true;
        break;
    }
    process(c);
}

static conn_t *conn_new(loop_t *l, int fd)
{
    atomic_fetch_add(&l->srv->metrics.connections_open, 1);
    conn_t *c = mr_xcalloc(1, sizeof(*c));
    c->loop = l;
    c->fd = fd;
    c->last_ns = mr_now_ns();
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    mr_buf_init(&c->hfield);
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    c->ev_mask = EPOLLIN | EPOLLRDHUP;
    struct epoll_event ev = {.events = c->ev_mask, .data.ptr = c};
    epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
    return c;
}

static void accept_all(loop_t *l, int lfd)
{
    mr_server_t *srv = l->srv;
    for (;;) {
        int fd = mr_net_accept(&l->acc, lfd);
        if (fd < 0)
            return;
        atomic_fetch_add(&srv->metrics.connections_total, 1);
        if (atomic_fetch_add(&srv->nconns, 1) >= (int)srv->cfg.http.max_connections || atomic_load(&srv->stopping)) {
            atomic_fetch_sub(&srv->nconns, 1);
            char msg[256];
            int n = snprintf(msg, sizeof(msg),
                             "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
                             "Content-Length: %d\r\n\r\n{\"error\":\"connection limit reached (%u)\"}",
                             (int)strlen("{\"error\":\"connection limit reached ()\"}") +
                                 snprintf(NULL, 0, "%u", srv->cfg.http.max_connections),
                             srv->cfg.http.max_connections);
            ssize_t w = write(fd, msg, (size_t)n);
            (void)w;
            close(fd);
            continue;
        }
        conn_new(l, fd);
    }
}

static void drain_done(loop_t *l)
{
    uint64_t v;
    ssize_t r = read(l->evfd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&l->done_lock);
    job_t *j = l->done;
    l->done = NULL;
    pthread_mutex_unlock(&l->done_lock);
    /* reverse to completion order */
    job_t *rev = NULL;
    while (j) {
        job_t *n = j->next;
        j->next = rev;
        rev = j;
        j = n;
    }
    while (rev) {
        job_t *jb = rev;
        rev = rev->next;
        conn_t *c = jb->conn;
        c->busy = false;
        if (!c->dead)
            epoll_mod(c);
        finish_response(c, jb->req, &jb->resp);
        atomic_fetch_sub(&l->srv->inflight, 1);
        mr_free(jb);
        if (c->dead) {
            conn_close(c);
            continue;
        }
        process(c);
    }
}

static void check_timeouts(loop_t *l)
{
    mr_server_t *srv = l->srv;
    uint64_t now = mr_now_ns();
    uint64_t hdr_ns = (uint64_t)srv->cfg.http.header_timeout_ms * 1000000u;
    uint64_t idle_ns = (uint64_t)srv->cfg.http.idle_timeout_ms * 1000000u;
    bool stopping = atomic_load(&srv->stopping);
    conn_t *c = l->conns;
    while (c) {
        conn_t *next = c->next;
        if (c->busy || c->close_after) {
            c = next;
            continue;
        }
        if (c->in_message && !c->headers_done && now - c->msg_start_ns > hdr_ns) {
            error_resp_status(c, 408, "request headers not received within the header timeout");
            process(c);
        } else if (c->in_message && c->headers_done && now - c->last_ns > idle_ns) {
            /* a body that stopped arriving would otherwise hold the connection forever */
            char msg[128];
            snprintf(msg, sizeof(msg), "request body stalled: no bytes for %u ms (idle timeout)",
                     srv->cfg.http.idle_timeout_ms);
            error_resp_status(c, 408, msg);
            process(c);
        } else if (!c->in_message && c->out_head == NULL && (now - c->last_ns > idle_ns || stopping)) {
            conn_close(c);
        } else if (c->out_head != NULL && now - c->last_ns > idle_ns) {
            conn_close(c); /* answers left unread for the idle timeout */
        }
        c = next;
    }
}

static void *loop_main(void *arg)
{
    loop_t *l = arg;
    mr_server_t *srv = l->srv;
    struct epoll_event evs[64];
    while (!atomic_load(&srv->loops_quit)) {
        int n = epoll_wait(l->epfd, evs, 64, TICK_MS);
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &srv->listen_fd) {
                if (!atomic_load(&srv->stopping))
                    accept_all(l, srv->listen_fd);
                if (l->acc.starved && l->listen_paused_until == 0) {
                    epoll_ctl(l->epfd, EPOLL_CTL_DEL, srv->listen_fd, NULL);
                    l->listen_paused_until = mr_now_ns() + MR_NET_STARVED_PAUSE_MS * 1000000ull;
                }
                continue;
            }
            if (p == &l->evfd) {
                drain_done(l);
                continue;
            }
            conn_t *c = p;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                if (c->busy) { /* freed when its job returns; stop the level-triggered reports */
                    c->dead = true;
                    epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
                } else
                    conn_close(c);
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                if (flush_out(c) != 0) {
                    conn_close(c);
                    continue;
                }
                if (c->close_after && c->out_head == NULL && !c->busy) {
                    conn_close(c);
                    continue;
                }
                if ((c->in_len > 0 || c->request_ready) && !c->busy && !out_full(c)) {
                    process(c); /* requests held back while answers were unread; may close c */
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP))
                on_readable(c);
        }
        check_timeouts(l);
        if (l->listen_paused_until != 0 && mr_now_ns() >= l->listen_paused_until && !atomic_load(&srv->stopping)) {
            struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &srv->listen_fd};
            epoll_ctl(l->epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev);
            l->listen_paused_until = 0;
        }
    }
    while (l->conns) {
        l->conns->busy = false;
        conn_close(l->conns);
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    mr_server_t *srv = arg;
    for (;;) {
        pthread_mutex_lock(&srv->jlock);
        while (srv->jhead == NULL && !srv->jquit)
            pthread_cond_wait(&srv->jcond, &srv->jlock);
        if (srv->jhead == NULL) {
            pthread_mutex_unlock(&srv->jlock);
            return NULL;
        }
        job_t *j = srv->jhead;
        srv->jhead = j->next;
        if (srv->jhead == NULL)
            srv->jtail = NULL;
        pthread_mutex_unlock(&srv->jlock);
        mr_http_handle(&srv->sh, j->req, &j->resp);
        loop_t *l = j->conn->loop;
        pthread_mutex_lock(&l->done_lock);
        j->next = l->done;
        l->done = j;
        pthread_mutex_unlock(&l->done_lock);
        uint64_t one = 1;
        ssize_t w = write(l->evfd, &one, sizeof(one));
        (void)w;
    }
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

static int listen_on(mr_server_t *s, mr_error_t *err)
{
    return mr_net_listen(s->cfg.http.host, s->cfg.http.port, &s->listen_fd, &s->port, err);
}

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

int mr_server_start(const mr_config_t *cfg, murr_db *db, struct mr_sources *sources, mr_server_t **out,
                    mr_error_t *err)
{
    settings_init();
    mr_server_t *s = mr_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->listen_fd = -1;
    int rc = load_openapi(s, err);
    if (rc == 0)
        rc = listen_on(s, err);
    if (rc != 0) {
        mr_free(s->openapi);
        mr_free(s);
        return rc;
    }
    s->sh = (mr_server_shared_t){.cfg = &s->cfg, .db = db, .metrics = &s->metrics, .openapi_json = s->openapi,
                                 .openapi_len = s->openapi_len};
    s->sh.sources = sources;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s->nloops = cfg->http.threads ? (int)cfg->http.threads : (int)(ncpu > 0 ? ncpu : 1);
    s->nworkers = s->nloops < 2 ? 2 : s->nloops;
    pthread_mutex_init(&s->jlock, NULL);
    pthread_cond_init(&s->jcond, NULL);
    s->loops = mr_xcalloc((size_t)s->nloops, sizeof(loop_t));
    for (int i = 0; i < s->nloops; i++) {
        loop_t *l = &s->loops[i];
        l->srv = s;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        char what[96];
        snprintf(what, sizeof(what), "HTTP on %.64s:%u", cfg->http.host, s->port);
        mr_net_acceptor_init(&l->acc, what);
        pthread_mutex_init(&l->done_lock, NULL);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &s->listen_fd};
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev);
        struct epoll_event ev2 = {.events = EPOLLIN, .data.ptr = &l->evfd};
        epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->evfd, &ev2);
    }
    s->workers = mr_xcalloc((size_t)s->nworkers, sizeof(pthread_t));
    for (int i = 0; i < s->nworkers; i++)
        pthread_create(&s->workers[i], NULL, worker_main, s);
    for (int i = 0; i < s->nloops; i++)
        pthread_create(&s->loops[i].th, NULL, loop_main, &s->loops[i]);
    MR_INFO("http", "HTTP server on %s:%u: %d event-loop threads, %d workers, max_payload %llu bytes, max %u connections",
            cfg->http.host, s->port, s->nloops, s->nworkers, (unsigned long long)cfg->http.max_payload_size,
            cfg->http.max_connections);
    *out = s;
    return 0;
}

uint16_t mr_server_http_port(const mr_server_t *s) { return s->port; }

void mr_server_stop(mr_server_t *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, true);
    for (int i = 0; i < s->nloops; i++)
        epoll_ctl(s->loops[i].epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
    close(s->listen_fd);
    /* finish in-flight requests (bounded): those being handled and those whose headers or
     * body are still arriving (bounded themselves by the header and idle timeouts); then
     * let responses drain */
    uint64_t deadline = mr_now_ns() + 30ull * 1000000000u;
    while ((atomic_load(&s->inflight) > 0 || atomic_load(&s->partial) > 0) && mr_now_ns() < deadline)
        usleep(5000);
    uint64_t drain = mr_now_ns() + 2ull * 1000000000u;
    while (atomic_load(&s->nconns) > 0 && mr_now_ns() < drain)
        usleep(5000);
    atomic_store(&s->loops_quit, true);
    for (int i = 0; i < s->nloops; i++)
        pthread_join(s->loops[i].th, NULL);
    pthread_mutex_lock(&s->jlock);
    s->jquit = true;
    pthread_cond_broadcast(&s->jcond);
    pthread_mutex_unlock(&s->jlock);
    for (int i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i], NULL);
    for (int i = 0; i < s->nloops; i++) {
        close(s->loops[i].epfd);
        close(s->loops[i].evfd);
        mr_net_acceptor_deinit(&s->loops[i].acc);
        pthread_mutex_destroy(&s->loops[i].done_lock);
    }
    MR_INFO("http", "HTTP server stopped (%d in-flight requests left)", atomic_load(&s->inflight));
    mr_free(s->loops);
    mr_free(s->workers);
    mr_free(s->openapi);
    pthread_mutex_destroy(&s->jlock);
    pthread_cond_destroy(&s->jcond);
    mr_free(s);
}

/* ------------------------------------------------------------ detached mode ------ */
/* One connection driven by the caller over a socketpair, without epoll waits or threads:
 * the same parser callbacks, limits, early statuses, routing and handlers as the loop, in
 * the same order. Used by fuzz/fuzz_http_request.c. */

mr_server_t *mr_server_new_detached(const mr_config_t *cfg, murr_db *db)
{
    settings_init();
    mr_server_t *s = mr_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->detached = true;
    s->listen_fd = -1;
    s->openapi = mr_xstrdup("{}");
    s->openapi_len = 2;
    s->sh = (mr_server_shared_t){.cfg = &s->cfg, .db = db, .metrics = &s->metrics, .openapi_json = s->openapi,
                                 .openapi_len = s->openapi_len};
    s->nloops = 1;
    s->loops = mr_xcalloc(1, sizeof(loop_t));
    s->loops[0].srv = s;
    s->loops[0].epfd = epoll_create1(EPOLL_CLOEXEC);
    s->loops[0].evfd = -1;
    return s;
}

static void drain_peer(int fd, mr_buf_t *out)
{
    char tmp[16384];
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r <= 0)
            return;
        if (out)
            mr_buf_append(out, tmp, (size_t)r);
    }
}

int mr_server_feed_detached(mr_server_t *s, const uint8_t *data, size_t len, size_t split, mr_buf_t *out)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return MURR_EIO;
    loop_t *l = &s->loops[0];
    atomic_fetch_add(&s->nconns, 1);
    conn_t *c = conn_new(l, sv[0]);
    size_t off = 0;
    bool eof = false;
    /* every round either moves input, output or closes; the bound only guards against a bug */
    for (int round = 0; round < 100000 && l->conns != NULL; round++) {
        if (off < len) {
            size_t n = split && split < len - off ? split : len - off;
            ssize_t w = write(sv[1], data + off, n);
            if (w > 0)
                off += (size_t)w;
        } else if (!eof) {
            shutdown(sv[1], SHUT_WR);
            eof = true;
        }
        if (c->out_head && flush_out(c) != 0) {
            conn_close(c);
            break;
        }
        if (c->close_after && c->out_head == NULL) {
            conn_close(c);
            break;
        }
        on_readable(c);
        drain_peer(sv[1], out);
    }
    if (l->conns != NULL)
        conn_close(c);
    drain_peer(sv[1], out);
    close(sv[1]);
    return 0;
}

void mr_server_free_detached(mr_server_t *s)
{
    if (s == NULL)
        return;
    close(s->loops[0].epfd);
    mr_free(s->loops);
    mr_free(s->openapi);
    mr_free(s);
}
