/*
 * flight_conn.c - the Flight listener: one epoll loop thread, h2c connections driven by
 * nghttp2 server sessions, gRPC streams on top, and one worker thread for DoPut commits.
 *
 * Input: bytes are read inline and fed to nghttp2_session_mem_recv; its callbacks collect
 * request headers, deframe gRPC messages and call the RPC handlers (flight_rpc.c).
 * Output: nghttp2_session_send writes control frames through send_callback (copied: they
 * are small) and DATA frames through send_data_callback with NGHTTP2_DATA_FLAG_NO_COPY: the
 * frame header is copied, the payload is queued as iovecs pointing into the stream's
 * arena or batch, and the queue goes out with writev. The queue has a high-water mark:
 * above it the data providers answer NGHTTP2_ERR_DEFERRED and are resumed once writev has
 * drained it, so a slow reader costs at most that much memory per connection, on top of
 * what HTTP/2 flow control already bounds.
 * Deadlines (grpc-timeout) are checked every 50 ms. Shutdown: GOAWAY, drain, close.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/net.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "server/flight/flight_internal.h"

#define OUT_HIGH_WATER (4u << 20)      /* queued output per connection before deferring */
#define STREAM_WINDOW (8 << 20)        /* SETTINGS_INITIAL_WINDOW_SIZE we announce */
#define CONN_WINDOW (32 << 20)         /* connection receive window */
#define MAX_FRAME (1 << 20)            /* SETTINGS_MAX_FRAME_SIZE we accept */
#define MAX_STREAMS 256
#define DRAIN_TIMEOUT_NS (30ull * 1000000000ull)
#define DEADLINE_GRACE_NS (2ull * 1000000000ull) /* after the deadline, RST a stuck stream */
#define SMALL_CHUNK 4096

typedef struct outseg {
    const uint8_t *p;
    size_t len;
    uint8_t *own;          /* owned copy (control frames, frame headers), or NULL */
    size_t own_cap;
    mr_flight_stream_t *ref; /* stream the bytes point into, or NULL */
} outseg_t;

struct mr_flight_conn {
    mr_flight_server_t *srv;
    int fd;                /* -1 in detached mode */
    nghttp2_session *h2;
    mr_flight_conn_t *prev, *next;
    mr_flight_stream_t *streams;
    mr_flight_stream_t *deferred;
    outseg_t *q;
    size_t qhead, qlen, qcap;
    size_t queued;         /* bytes in q */
    bool want_out;         /* EPOLLOUT armed */
    bool dead;             /* fatal error: close after this event */
    mr_buf_t *detached_out;
};

struct mr_flight_server {
    mr_config_t cfg;
    murr_db *db;
    bool detached;
    uint16_t port;
    int listen_fd, epfd, evfd;
    mr_net_acceptor_t acc;
    pthread_t loop_thread, worker_thread;
    bool threads_started;
    atomic_bool stopping;
    mr_flight_conn_t *conns;
    /* worker queue and completion queue (lock order: job_mu only, never with another) */
    pthread_mutex_t job_mu;
    pthread_cond_t job_cv;
    mr_flight_stream_t *jobs_head, *jobs_tail;
    mr_flight_stream_t *done_head;
    bool worker_stop;
    uint64_t undrained;    /* connections closed by the drain deadline, not by the client */
};

static nghttp2_session_callbacks *g_cbs;
static pthread_once_t g_cbs_once = PTHREAD_ONCE_INIT;

const mr_config_t *mr_flight_stream_cfg(const mr_flight_stream_t *st) { return &st->conn->srv->cfg; }
murr_db *mr_flight_stream_db(const mr_flight_stream_t *st) { return st->conn->srv->db; }

/* ------------------------------------------------------------------ streams ---- */

static void stream_unref(mr_flight_stream_t *st)
{
    if (--st->refs > 0)
        return;
    mr_flight_rpc_release(st);
    mr_grpc_deframer_deinit(&st->df);
    mr_free(st->out);
    mr_arena_deinit(&st->arena);
    mr_free(st);
}

static mr_flight_stream_t *stream_new(mr_flight_conn_t *c, int32_t id)
{
    mr_flight_stream_t *st = mr_xcalloc(1, sizeof(*st));
    st->conn = c;
    st->id = id;
    st->refs = 1; /* nghttp2's: dropped at on_stream_close or connection close */
    mr_arena_init(&st->arena, 4096);
    mr_grpc_deframer_init(&st->df, c->srv->cfg.grpc.max_message_size);
    atomic_init(&st->cancelled, false);
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    return st;
}

static void stream_unlink(mr_flight_stream_t *st)
{
    mr_flight_conn_t *c = st->conn;
    if (c == NULL)
        return;
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    st->prev = st->next = NULL;
    for (mr_flight_stream_t **p = &c->deferred; *p; p = &(*p)->next_deferred)
        if (*p == st) {
            *p = st->next_deferred;
            break;
        }
    st->deferred = false;
}

/* Closed by nghttp2 or by the connection going away: the stream stops being addressable. */
static void stream_closed(mr_flight_stream_t *st)
{
    if (st->closed)
        return;
    st->closed = true;
    if (st->job_pending)
        atomic_store(&st->cancelled, true); /* the worker aborts unless it already committed */
    stream_unlink(st);
    st->conn = NULL;
    stream_unref(st);
}

int mr_flight_out_add(mr_flight_stream_t *st, const void *p, size_t len)
{
    if (len == 0)
        return 0;
    if (st->nout == st->cap_out) {
        size_t cap = st->cap_out ? st->cap_out * 2 : 16;
        struct iovec *n = mr_realloc(st->out, cap * sizeof(*n));
        if (n == NULL)
            return MURR_ENOMEM;
        st->out = n;
        st->cap_out = cap;
    }
    st->out[st->nout++] = (struct iovec){(void *)p, len};
    st->out_left += len;
    return 0;
}

int mr_flight_out_message(mr_flight_stream_t *st, const void *p, size_t len)
{
    if (len > UINT32_MAX)
        return MURR_ETOOBIG;
    uint8_t *b = mr_arena_alloc(&st->arena, MR_GRPC_PREFIX_LEN + len);
    if (b == NULL)
        return MURR_ENOMEM;
    mr_grpc_prefix_write(b, (uint32_t)len);
    if (len)
        memcpy(b + MR_GRPC_PREFIX_LEN, p, len);
    return mr_flight_out_add(st, b, MR_GRPC_PREFIX_LEN + len);
}

/* Takes `len` bytes off the front of out, queueing them as borrowed segments. */
static int queue_add(mr_flight_conn_t *c, const uint8_t *p, size_t len, mr_flight_stream_t *ref, bool copy);

static int out_take(mr_flight_stream_t *st, size_t len)
{
    mr_flight_conn_t *c = st->conn;
    while (len > 0 && st->out_idx < st->nout) {
        struct iovec *v = &st->out[st->out_idx];
        size_t avail = v->iov_len - st->out_off;
        size_t n = avail < len ? avail : len;
        MR_RETURN_NOT_OK(queue_add(c, (const uint8_t *)v->iov_base + st->out_off, n, st, false));
        st->out_off += n;
        st->out_left -= n;
        len -= n;
        if (st->out_off == v->iov_len) {
            st->out_idx++;
            st->out_off = 0;
        }
    }
    if (st->out_idx == st->nout) { /* drained: reuse the array for the next message */
        st->nout = st->out_idx = st->out_off = 0;
    }
    return len == 0 ? 0 : MURR_EINTERNAL;
}

static void add_trailers(mr_flight_stream_t *st);

static ssize_t data_read_cb(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                            nghttp2_data_source *src, void *user)
{
    mr_flight_stream_t *st = src->ptr;
    mr_flight_conn_t *c = user;
    if (c->queued >= OUT_HIGH_WATER) {
        if (!st->deferred) {
            st->deferred = true;
            st->next_deferred = c->deferred;
            c->deferred = st;
        }
        return NGHTTP2_ERR_DEFERRED;
    }
    /* produce the next message when the current one is out (never when stopping early) */
    while (st->out_left == 0 && st->gen_more && !st->deadline_hit && st->final_code == 0) {
        mr_error_t e = {0};
        bool more = false;
        int rc = st->next_msg(st, &more, &e);
        st->gen_more = more;
        if (rc != 0) {
            st->final_code = MR_GRPC_INTERNAL;
            snprintf(st->final_msg, sizeof(st->final_msg), "%s", e.message);
            break;
        }
    }
    if (st->out_left == 0) {
        if (st->deadline_hit && st->final_code == 0) {
            st->final_code = MR_GRPC_DEADLINE_EXCEEDED;
            snprintf(st->final_msg, sizeof(st->final_msg), "deadline exceeded (grpc-timeout %s)", st->timeout_text);
        }
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        add_trailers(st);
        return 0;
    }
    size_t n = st->out_left < length ? (size_t)st->out_left : length;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (n == st->out_left && !st->gen_more) {
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        add_trailers(st);
    }
    (void)h2;
    (void)id;
    (void)buf;
    return (ssize_t)n;
}

static void add_trailers(mr_flight_stream_t *st)
{
    char code[12];
    snprintf(code, sizeof(code), "%d", st->final_code);
    mr_buf_t msg;
    mr_buf_init(&msg);
    mr_grpc_percent_encode(&msg, st->final_msg, strlen(st->final_msg));
    nghttp2_nv nv[2] = {
        {(uint8_t *)"grpc-status", (uint8_t *)code, 11, strlen(code), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", msg.data ? msg.data : (uint8_t *)"", 12, msg.len, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_submit_trailer(st->conn->h2, st->id, nv, st->final_msg[0] ? 2 : 1);
    mr_buf_deinit(&msg);
    st->done = true;
    if (!st->req_ended)
        st->rst_after_final = true;
}

int mr_flight_respond(mr_flight_stream_t *st)
{
    if (st->responded || st->done)
        return MURR_EINTERNAL;
    const char *auth = st->resp_authorization;
    nghttp2_nv nv[3] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"authorization", (uint8_t *)auth, 13, auth ? strlen(auth) : 0, NGHTTP2_NV_FLAG_NO_INDEX},
    };
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = data_read_cb};
    st->responded = true;
    int rv = nghttp2_submit_response(st->conn->h2, st->id, nv, auth ? 3 : 2, &dp);
    return rv == 0 ? 0 : MURR_EINTERNAL;
}

static void submit_trailers_only(mr_flight_stream_t *st, int http_status, int code, const char *msg)
{
    char status[8], codes[12];
    snprintf(status, sizeof(status), "%d", http_status);
    snprintf(codes, sizeof(codes), "%d", code);
    mr_buf_t m;
    mr_buf_init(&m);
    mr_grpc_percent_encode(&m, msg, strlen(msg));
    nghttp2_nv nv[4] = {
        {(uint8_t *)":status", (uint8_t *)status, 7, strlen(status), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-status", (uint8_t *)codes, 11, strlen(codes), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"grpc-message", m.data ? m.data : (uint8_t *)"", 12, m.len, NGHTTP2_NV_FLAG_NONE},
    };
    st->responded = true;
    st->done = true;
    if (!st->req_ended)
        st->rst_after_final = true;
    nghttp2_submit_response(st->conn->h2, st->id, nv, msg[0] ? 4 : 3, NULL);
    mr_buf_deinit(&m);
}

static void resume_stream(mr_flight_stream_t *st);

void mr_flight_fail(mr_flight_stream_t *st, int grpc_code, const char *fmt, ...)
{
    if (st->done || st->closed)
        return;
    char msg[sizeof(st->final_msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    MR_DEBUG("flight", "stream %d (%s): %s: %s", st->id, st->path, mr_grpc_code_name(grpc_code), msg);
    if (!st->responded) {
        submit_trailers_only(st, 200, grpc_code, msg);
        return;
    }
    /* a response is in flight: the status follows the current message */
    st->final_code = grpc_code;
    snprintf(st->final_msg, sizeof(st->final_msg), "%s", msg);
    st->gen_more = false;
    resume_stream(st);
}

static void resume_stream(mr_flight_stream_t *st)
{
    if (st->conn && st->responded && !st->done)
        nghttp2_session_resume_data(st->conn->h2, st->id);
}

/* ------------------------------------------------------------- output queue ---- */

static int queue_add(mr_flight_conn_t *c, const uint8_t *p, size_t len, mr_flight_stream_t *ref, bool copy)
{
    if (len == 0)
        return 0;
    if (copy && c->qlen > c->qhead) { /* coalesce small copies into the last owned chunk */
        outseg_t *last = &c->q[c->qlen - 1];
        if (last->own && last->own_cap - last->len >= len) {
            memcpy(last->own + last->len, p, len);
            last->len += len;
            c->queued += len;
            return 0;
        }
    }
    if (c->qlen == c->qcap) {
        if (c->qhead > 0) {
            memmove(c->q, c->q + c->qhead, (c->qlen - c->qhead) * sizeof(outseg_t));
            c->qlen -= c->qhead;
            c->qhead = 0;
        }
        if (c->qlen == c->qcap) {
            size_t cap = c->qcap ? c->qcap * 2 : 64;
            outseg_t *n = mr_realloc(c->q, cap * sizeof(*n));
            if (n == NULL)
                return MURR_ENOMEM;
            c->q = n;
            c->qcap = cap;
        }
    }
    outseg_t *s = &c->q[c->qlen++];
    memset(s, 0, sizeof(*s));
    if (copy) {
        /* a DATA frame header (9 bytes) sits between borrowed payloads and never gets
         * company: keep it small; other control frames coalesce into a 4 KiB chunk */
        size_t cap = len > SMALL_CHUNK ? len : len <= 9 ? 16 : SMALL_CHUNK;
        s->own = mr_malloc(cap);
        if (s->own == NULL) {
            c->qlen--;
            return MURR_ENOMEM;
        }
        memcpy(s->own, p, len);
        s->own_cap = cap;
        s->p = s->own;
    } else {
        s->p = p;
        s->ref = ref;
        ref->refs++;
    }
    s->len = len;
    c->queued += len;
    return 0;
}

static void seg_release(outseg_t *s)
{
    mr_free(s->own);
    if (s->ref)
        stream_unref(s->ref);
    memset(s, 0, sizeof(*s));
}

/* Removes n written bytes from the front of the queue. */
static void queue_consume(mr_flight_conn_t *c, size_t n)
{
    c->queued -= n;
    while (n > 0) {
        outseg_t *s = &c->q[c->qhead];
        if (n < s->len) {
            s->p += n;
            s->len -= n;
            if (s->own) { /* keep coalescing correct: move the rest to the start */
                memmove(s->own, s->p, s->len);
                s->p = s->own;
            }
            return;
        }
        n -= s->len;
        seg_release(s);
        c->qhead++;
    }
    if (c->qhead == c->qlen)
        c->qhead = c->qlen = 0;
}

static ssize_t send_cb(nghttp2_session *h2, const uint8_t *data, size_t len, int flags, void *user)
{
    mr_flight_conn_t *c = user;
    if (c->queued >= 2 * OUT_HIGH_WATER)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (queue_add(c, data, len, NULL, true) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    (void)h2;
    (void)flags;
    return (ssize_t)len;
}

static int send_data_cb(nghttp2_session *h2, nghttp2_frame *frame, const uint8_t *framehd, size_t length,
                        nghttp2_data_source *src, void *user)
{
    mr_flight_conn_t *c = user;
    mr_flight_stream_t *st = src->ptr;
    if (c->queued >= 2 * OUT_HIGH_WATER)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (queue_add(c, framehd, 9, NULL, true) != 0 || out_take(st, length) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    (void)h2;
    (void)frame; /* no padding is ever selected: payload == length */
    return 0;
}

/* Writes the queue; returns false when the connection must close. */
static bool queue_write(mr_flight_conn_t *c)
{
    while (c->qhead < c->qlen) {
        if (c->fd < 0) { /* detached: collect */
            outseg_t *s = &c->q[c->qhead];
            if (c->detached_out)
                mr_buf_append(c->detached_out, s->p, s->len);
            queue_consume(c, s->len);
            continue;
        }
        struct iovec iov[256];
        int n = 0;
        for (size_t i = c->qhead; i < c->qlen && n < 256; i++)
            iov[n++] = (struct iovec){(void *)c->q[i].p, c->q[i].len};
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            return false;
        }
        queue_consume(c, (size_t)w);
    }
    return true;
}

static void conn_arm(mr_flight_conn_t *c, bool out)
{
    if (c->fd < 0 || c->want_out == out)
        return;
    c->want_out = out;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Runs nghttp2's output and the socket writes until both would block or are idle.
 * Returns false when the connection must close. */
static bool conn_flush(mr_flight_conn_t *c)
{
    for (int round = 0; round < 1024; round++) {
        if (c->queued < OUT_HIGH_WATER && nghttp2_session_want_write(c->h2)) {
            if (nghttp2_session_send(c->h2) != 0)
                return false;
        }
        size_t before = c->queued;
        if (!queue_write(c))
            return false;
        if (c->queued < OUT_HIGH_WATER && c->deferred) { /* room again: resume providers */
            mr_flight_stream_t *d = c->deferred;
            c->deferred = NULL;
            while (d) {
                mr_flight_stream_t *nx = d->next_deferred;
                d->deferred = false;
                d->next_deferred = NULL;
                nghttp2_session_resume_data(c->h2, d->id);
                d = nx;
            }
            continue;
        }
        if (c->queued > 0 && c->queued == before) { /* socket full */
            conn_arm(c, true);
            return true;
        }
        if (c->queued == 0 && !nghttp2_session_want_write(c->h2))
            break;
    }
    conn_arm(c, c->queued > 0);
    return true;
}

/* ----------------------------------------------------------- nghttp2 input ---- */

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
    mr_flight_conn_t *c = user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    mr_flight_stream_t *st = stream_new(c, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(h2, frame->hd.stream_id, st);
    return 0;
}

static void copy_hdr(char *dst, size_t cap, const uint8_t *v, size_t n, bool *too_long)
{
    if (n >= cap) {
        if (too_long)
            *too_long = true;
        n = cap - 1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* client trailers: nothing in them matters to us */
    mr_flight_stream_t *st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (st == NULL)
        return 0;
#define IS(s) (namelen == sizeof(s) - 1 && memcmp(name, s, namelen) == 0)
    if (IS(":path")) {
        copy_hdr(st->path, sizeof(st->path), value, valuelen, &st->path_too_long);
        st->path_len = valuelen;
    } else if (IS(":method")) {
        copy_hdr(st->method, sizeof(st->method), value, valuelen, NULL);
    } else if (IS("content-type")) {
        copy_hdr(st->content_type, sizeof(st->content_type), value, valuelen, NULL);
        st->has_content_type = true;
    } else if (IS("grpc-encoding")) {
        copy_hdr(st->encoding, sizeof(st->encoding), value, valuelen, NULL);
        st->has_encoding = true;
    } else if (IS("authorization")) {
        if (st->nauthorization++ == 0)
            copy_hdr(st->authorization, sizeof(st->authorization), value, valuelen, &st->authorization_too_long);
    } else if (IS("grpc-timeout")) {
        copy_hdr(st->timeout_text, sizeof(st->timeout_text), value, valuelen, NULL);
        st->has_timeout = true;
    }
#undef IS
    (void)flags;
    (void)user;
    return 0;
}

/* The request headers are complete: check them and start the RPC. */
static void dispatch(mr_flight_stream_t *st)
{
    st->dispatched = true;
    if (strcmp(st->method, "POST") != 0) {
        submit_trailers_only(st, 405, MR_GRPC_UNIMPLEMENTED, "gRPC requires the POST method");
        return;
    }
    if (!st->has_content_type || strncmp(st->content_type, "application/grpc", 16) != 0 ||
        (st->content_type[16] != '\0' && st->content_type[16] != '+' && st->content_type[16] != ';')) {
        char msg[256];
        snprintf(msg, sizeof(msg), "invalid content-type '%s': gRPC requires application/grpc",
                 st->has_content_type ? st->content_type : "(none)");
        submit_trailers_only(st, 415, MR_GRPC_INTERNAL, msg);
        return;
    }
    if (st->has_encoding && strcmp(st->encoding, "identity") != 0) {
        mr_flight_fail(st, MR_GRPC_UNIMPLEMENTED, "grpc-encoding '%s' is not supported (this server accepts identity only)",
                       st->encoding);
        return;
    }
    if (st->has_timeout) {
        uint64_t ns;
        mr_error_t e = {0};
        if (mr_grpc_timeout_parse(st->timeout_text, strlen(st->timeout_text), &ns, &e) != 0) {
            mr_flight_fail(st, MR_GRPC_INTERNAL, "invalid grpc-timeout '%s': %s", st->timeout_text, e.message);
            return;
        }
        uint64_t now = mr_now_ns();
        st->deadline_ns = ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
        if (ns == 0) {
            mr_flight_fail(st, MR_GRPC_DEADLINE_EXCEEDED, "deadline exceeded (grpc-timeout %s)", st->timeout_text);
            return;
        }
    }
    st->rpc = st->path_too_long ? MR_FLIGHT_RPC_UNKNOWN : mr_flight_rpc_of_path(st->path, st->path_len);
    if (st->rpc == MR_FLIGHT_RPC_UNKNOWN) {
        mr_flight_fail(st, MR_GRPC_UNIMPLEMENTED, "unknown method %s", st->path);
        return;
    }
    mr_flight_rpc_begin(st);
}

static void request_end(mr_flight_stream_t *st)
{
    if (st->req_ended)
        return;
    st->req_ended = true;
    if (st->done)
        return;
    if (!mr_grpc_deframer_idle(&st->df)) {
        mr_flight_fail(st, MR_GRPC_INTERNAL, "request ended inside message %llu (%zu of %zu bytes received)",
                       (unsigned long long)st->df.messages + 1, st->df.msg ? st->df.msg_have : st->df.prefix_have,
                       st->df.msg ? st->df.msg_len : (size_t)MR_GRPC_PREFIX_LEN);
        return;
    }
    mr_flight_rpc_end(st);
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    mr_flight_stream_t *st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    if (st == NULL)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST && !st->dispatched)
        dispatch(st);
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && !st->closed)
        request_end(st);
    (void)user;
    return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user)
{
    mr_flight_stream_t *st = nghttp2_session_get_stream_user_data(h2, id);
    (void)flags;
    (void)user;
    if (st == NULL || st->done || !st->dispatched)
        return 0;
    while (len > 0 && !st->done && !st->closed) {
        uint8_t *msg;
        size_t mlen;
        mr_error_t e = {0};
        int rc = mr_grpc_deframer_next(&st->df, &data, &len, &msg, &mlen, &e);
        if (rc != 0) {
            mr_flight_fail(st,
                           rc == MURR_ETOOBIG        ? MR_GRPC_RESOURCE_EXHAUSTED
                           : rc == MURR_EUNSUPPORTED ? MR_GRPC_INTERNAL
                                                     : mr_grpc_code_of(rc),
                           "%s", e.message);
            return 0;
        }
        if (msg == NULL)
            break;
        st->nmsgs++;
        st->req_bytes += mlen;
        mr_flight_rpc_message(st, msg, mlen);
    }
    return 0;
}

static int on_frame_send(nghttp2_session *h2, const nghttp2_frame *frame, void *user)
{
    if ((frame->hd.type != NGHTTP2_HEADERS) || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    mr_flight_stream_t *st = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
    /* the final status is out but the client is still sending: tell it to stop */
    if (st && st->rst_after_final && !st->req_ended && !st->rst_sent) {
        st->rst_after_final = false;
        st->rst_sent = true;
        nghttp2_submit_rst_stream(h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    }
    (void)user;
    return 0;
}

static int on_stream_close(nghttp2_session *h2, int32_t id, uint32_t code, void *user)
{
    mr_flight_stream_t *st = nghttp2_session_get_stream_user_data(h2, id);
    (void)code;
    (void)user;
    if (st == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(h2, id, NULL);
    stream_closed(st);
    return 0;
}

static void cbs_init(void)
{
    nghttp2_session_callbacks_new(&g_cbs);
    nghttp2_session_callbacks_set_send_callback(g_cbs, send_cb);
    nghttp2_session_callbacks_set_send_data_callback(g_cbs, send_data_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(g_cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(g_cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(g_cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g_cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_send_callback(g_cbs, on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(g_cbs, on_stream_close);
}

/* -------------------------------------------------------------- connections ---- */

static mr_flight_conn_t *conn_new(mr_flight_server_t *s, int fd)
{
    pthread_once(&g_cbs_once, cbs_init);
    mr_flight_conn_t *c = mr_xcalloc(1, sizeof(*c));
    c->srv = s;
    c->fd = fd;
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_peer_max_concurrent_streams(opt, MAX_STREAMS);
    if (nghttp2_session_server_new2(&c->h2, g_cbs, c, opt) != 0) {
        nghttp2_option_del(opt);
        mr_free(c);
        return NULL;
    }
    nghttp2_option_del(opt);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, MAX_FRAME},
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, MR_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    return c;
}

static void conn_free(mr_flight_conn_t *c)
{
    mr_flight_server_t *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->fd >= 0) {
        epoll_ctl(s->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    /* queued output first (it holds stream references), then the streams nghttp2 still has */
    for (size_t i = c->qhead; i < c->qlen; i++)
        seg_release(&c->q[i]);
    mr_free(c->q);
    c->q = NULL;
    c->qhead = c->qlen = c->queued = 0;
    while (c->streams) {
        mr_flight_stream_t *st = c->streams;
        nghttp2_session_set_stream_user_data(c->h2, st->id, NULL);
        stream_closed(st);
    }
    nghttp2_session_del(c->h2);
    mr_free(c);
}

static bool conn_idle(mr_flight_conn_t *c)
{
    return c->queued == 0 && !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2);
}

static void conn_on_input(mr_flight_conn_t *c)
{
    uint8_t buf[65536];
    for (int i = 0; i < 16; i++) { /* up to 1 MiB per wake-up, for fairness */
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                c->dead = true;
            break;
        }
        if (n == 0) {
            c->dead = true;
            break;
        }
        ssize_t r = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
        if (r < 0) {
            MR_DEBUG("flight", "connection %d: HTTP/2 error: %s", c->fd, nghttp2_strerror((int)r));
            conn_flush(c); /* best effort: the GOAWAY nghttp2 queued */
            c->dead = true;
            break;
        }
        if (!conn_flush(c)) {
            c->dead = true;
            break;
        }
        if ((size_t)n < sizeof(buf))
            break;
    }
}

/* --------------------------------------------------------------- DoPut jobs ---- */

void mr_flight_submit_job(mr_flight_stream_t *st)
{
    mr_flight_server_t *s = st->conn->srv;
    st->job_pending = true;
    st->refs++;
    if (s->detached) {
        mr_flight_rpc_put_run(st);
        st->job_pending = false;
        if (!st->closed)
            mr_flight_rpc_put_done(st);
        stream_unref(st);
        return;
    }
    pthread_mutex_lock(&s->job_mu);
    st->job_next = NULL;
    if (s->jobs_tail)
        s->jobs_tail->job_next = st;
    else
        s->jobs_head = st;
    s->jobs_tail = st;
    pthread_cond_signal(&s->job_cv);
    pthread_mutex_unlock(&s->job_mu);
}

static void *worker_main(void *arg)
{
    mr_flight_server_t *s = arg;
    pthread_mutex_lock(&s->job_mu);
    for (;;) {
        while (s->jobs_head == NULL && !s->worker_stop)
            pthread_cond_wait(&s->job_cv, &s->job_mu);
        mr_flight_stream_t *st = s->jobs_head;
        if (st == NULL)
            break; /* stop requested and the queue is empty */
        s->jobs_head = st->job_next;
        if (s->jobs_head == NULL)
            s->jobs_tail = NULL;
        pthread_mutex_unlock(&s->job_mu);
        mr_flight_rpc_put_run(st);
        pthread_mutex_lock(&s->job_mu);
        st->job_next = s->done_head;
        s->done_head = st;
        uint64_t one = 1;
        ssize_t w = write(s->evfd, &one, sizeof(one));
        (void)w;
    }
    pthread_mutex_unlock(&s->job_mu);
    return NULL;
}

static void jobs_complete(mr_flight_server_t *s)
{
    pthread_mutex_lock(&s->job_mu);
    mr_flight_stream_t *d = s->done_head;
    s->done_head = NULL;
    pthread_mutex_unlock(&s->job_mu);
    while (d) {
        mr_flight_stream_t *nx = d->job_next;
        mr_flight_conn_t *c = d->conn;
        d->job_pending = false;
        if (!d->closed && c) {
            mr_flight_rpc_put_done(d);
            stream_unref(d);
            if (!conn_flush(c))
                c->dead = true;
            if (c->dead || conn_idle(c))
                conn_free(c);
        } else {
            stream_unref(d);
        }
        d = nx;
    }
}

/* ---------------------------------------------------------------- the loop ---- */

static void check_deadlines(mr_flight_server_t *s, uint64_t now)
{
    for (mr_flight_conn_t *c = s->conns, *cn; c; c = cn) {
        cn = c->next;
        bool touched = false;
        for (mr_flight_stream_t *st = c->streams, *sn; st; st = sn) {
            sn = st->next;
            if (st->deadline_ns == 0 || now < st->deadline_ns)
                continue;
            if (!st->done && !st->deadline_hit) {
                touched = true;
                if (!st->responded) {
                    if (st->job_pending)
                        atomic_store(&st->cancelled, true);
                    char msg[96];
                    snprintf(msg, sizeof(msg), "deadline exceeded (grpc-timeout %s)", st->timeout_text);
                    submit_trailers_only(st, 200, MR_GRPC_DEADLINE_EXCEEDED, msg);
                } else {
                    st->deadline_hit = true; /* stop after the message in flight */
                    resume_stream(st);
                }
            } else if (now - st->deadline_ns > DEADLINE_GRACE_NS && !st->closed && !st->rst_sent) {
                /* the client does not read what is left: drop the stream */
                st->rst_sent = true;
                st->deadline_ns = 0;
                nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
                touched = true;
            }
        }
        if (touched && (!conn_flush(c) || conn_idle(c)))
            conn_free(c);
    }
}

static void accept_all(mr_flight_server_t *s)
{
    for (;;) {
        int fd = mr_net_accept(&s->acc, s->listen_fd);
        if (fd < 0)
            return;
        mr_flight_conn_t *c = conn_new(s, fd);
        if (c == NULL) {
            close(fd);
            continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
        if (!conn_flush(c))
            conn_free(c);
    }
}

static void start_drain(mr_flight_server_t *s)
{
    epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
    close(s->listen_fd);
    s->listen_fd = -1;
    for (mr_flight_conn_t *c = s->conns, *cn; c; c = cn) {
        cn = c->next;
        nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                              NGHTTP2_NO_ERROR, NULL, 0);
        if (!conn_flush(c) || conn_idle(c))
            conn_free(c);
    }
}

static void *loop_main(void *arg)
{
    mr_flight_server_t *s = arg;
    struct epoll_event evs[64];
    uint64_t last_scan = 0, drain_deadline = 0, listen_paused_until = 0;
    for (;;) {
        int n = epoll_wait(s->epfd, evs, 64, 50);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            void *p = evs[i].data.ptr;
            if (p == &s->listen_fd) {
                if (s->listen_fd >= 0)
                    accept_all(s);
                if (s->acc.starved && s->listen_fd >= 0 && listen_paused_until == 0) {
                    /* out of descriptors and nothing to refuse with: out of the set a while */
                    epoll_ctl(s->epfd, EPOLL_CTL_DEL, s->listen_fd, NULL);
                    listen_paused_until = mr_now_ns() + MR_NET_STARVED_PAUSE_MS * 1000000ull;
                }
                continue;
            }
            if (p == &s->evfd) {
                uint64_t v;
                ssize_t r = read(s->evfd, &v, sizeof(v));
                (void)r;
                jobs_complete(s);
                continue;
            }
            mr_flight_conn_t *c = p;
            bool alive = false;
            for (mr_flight_conn_t *x = s->conns; x; x = x->next)
                if (x == c) {
                    alive = true;
                    break;
                }
            if (!alive)
                continue; /* freed by an earlier event of this batch */
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                conn_on_input(c);
            if (!c->dead && (evs[i].events & EPOLLOUT) && !conn_flush(c))
                c->dead = true;
            if (c->dead || conn_idle(c))
                conn_free(c);
        }
        uint64_t now = mr_now_ns();
        if (listen_paused_until != 0 && now >= listen_paused_until) {
            if (s->listen_fd >= 0) {
                struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};
                epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &lev);
            }
            listen_paused_until = 0;
        }
        if (now - last_scan >= 50000000ull) {
            last_scan = now;
            check_deadlines(s, now);
        }
        if (atomic_load(&s->stopping)) {
            if (drain_deadline == 0) {
                drain_deadline = now + DRAIN_TIMEOUT_NS;
                start_drain(s);
            }
            if (s->conns == NULL || now > drain_deadline)
                break;
        }
    }
    while (s->conns) {
        s->undrained++;
        conn_free(s->conns);
    }
    return NULL;
}

/* --------------------------------------------------------------- lifecycle ---- */

static int listen_on(mr_flight_server_t *s, mr_error_t *err)
{
    return mr_net_listen(s->cfg.grpc.host, s->cfg.grpc.port, &s->listen_fd, &s->port, err);
}

static mr_flight_server_t *server_new(const mr_config_t *cfg, murr_db *db)
{
    mr_flight_server_t *s = mr_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->db = db;
    s->listen_fd = s->epfd = s->evfd = -1;
    s->acc.spare_fd = -1;
    atomic_init(&s->stopping, false);
    pthread_mutex_init(&s->job_mu, NULL);
    pthread_cond_init(&s->job_cv, NULL);
    return s;
}

static void server_free(mr_flight_server_t *s)
{
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->evfd >= 0)
        close(s->evfd);
    mr_net_acceptor_deinit(&s->acc);
    pthread_mutex_destroy(&s->job_mu);
    pthread_cond_destroy(&s->job_cv);
    mr_free(s);
}

int mr_flight_start(const mr_config_t *cfg, murr_db *db, mr_flight_server_t **out, mr_error_t *err)
{
    mr_flight_server_t *s = server_new(cfg, db);
    int rc = listen_on(s, err);
    if (rc != 0) {
        server_free(s);
        return rc;
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->epfd < 0 || s->evfd < 0) {
        rc = mr_err_set(err, MURR_EIO, "cannot create the Flight event loop: %s", strerror(errno));
        server_free(s);
        return rc;
    }
    char what[96];
    snprintf(what, sizeof(what), "Flight on %.64s:%u", s->cfg.grpc.host, s->port);
    mr_net_acceptor_init(&s->acc, what);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev);
    ev.data.ptr = &s->evfd;
    epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->evfd, &ev);
    if (pthread_create(&s->worker_thread, NULL, worker_main, s) != 0) {
        server_free(s);
        return mr_err_set(err, MURR_EIO, "cannot start the Flight worker thread");
    }
    if (pthread_create(&s->loop_thread, NULL, loop_main, s) != 0) {
        pthread_mutex_lock(&s->job_mu);
        s->worker_stop = true;
        pthread_cond_signal(&s->job_cv);
        pthread_mutex_unlock(&s->job_mu);
        pthread_join(s->worker_thread, NULL);
        server_free(s);
        return mr_err_set(err, MURR_EIO, "cannot start the Flight loop thread");
    }
    s->threads_started = true;
    MR_INFO("flight", "Flight server on %s:%u: 1 event-loop thread, 1 DoPut worker, max_message_size %llu bytes",
            cfg->grpc.host, s->port, (unsigned long long)cfg->grpc.max_message_size);
    *out = s;
    return 0;
}

uint16_t mr_flight_port(const mr_flight_server_t *s) { return s->port; }

void mr_flight_stop(mr_flight_server_t *s)
{
    if (s == NULL)
        return;
    atomic_store(&s->stopping, true);
    uint64_t one = 1;
    ssize_t w = write(s->evfd, &one, sizeof(one));
    (void)w;
    pthread_join(s->loop_thread, NULL);
    MR_INFO("flight", "Flight server stopped (%llu connections still open at the drain deadline)",
            (unsigned long long)s->undrained);
    /* the connections are gone; jobs still queued see cancelled and abort */
    pthread_mutex_lock(&s->job_mu);
    s->worker_stop = true;
    pthread_cond_signal(&s->job_cv);
    pthread_mutex_unlock(&s->job_mu);
    pthread_join(s->worker_thread, NULL);
    jobs_complete(s);
    server_free(s);
}

mr_flight_server_t *mr_flight_new_detached(const mr_config_t *cfg, murr_db *db)
{
    mr_flight_server_t *s = server_new(cfg, db);
    s->detached = true;
    return s;
}

int mr_flight_feed_detached(mr_flight_server_t *s, const uint8_t *data, size_t len, mr_buf_t *out)
{
    mr_flight_conn_t *c = conn_new(s, -1);
    if (c == NULL)
        return MURR_ENOMEM;
    c->detached_out = out;
    int rc = 0;
    conn_flush(c);
    /* feed in pieces so frames straddle reads, as on a socket */
    size_t pos = 0;
    while (pos < len) {
        size_t n = len - pos < 4096 ? len - pos : 4096;
        ssize_t r = nghttp2_session_mem_recv(c->h2, data + pos, n);
        if (r < 0) {
            rc = MURR_ECORRUPT;
            break;
        }
        pos += n;
        if (!conn_flush(c)) {
            rc = MURR_EIO;
            break;
        }
    }
    conn_flush(c);
    conn_free(c);
    return rc;
}

void mr_flight_free_detached(mr_flight_server_t *s)
{
    if (s)
        server_free(s);
}
