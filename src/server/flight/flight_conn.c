/*
 * flight_conn.c - the Flight protocol module on the event core (evcore.h): h2c connections
 * driven by nghttp2 server sessions, gRPC streams on top; DoPut commits and large DoGets run
 * as core jobs.
 * The core owns accepting, the connection table, the cap and idle timeout, the output
 * queue and its writes, the workers and the drain.
 *
 * Input: bytes are read inline and fed to nghttp2_session_mem_recv; its callbacks collect
 * request headers, deframe gRPC messages and call the RPC handlers (flight_rpc.c).
 * Output: nghttp2_session_send writes control frames through send_callback (copied: they
 * are small) and DATA frames through send_data_callback with NGHTTP2_DATA_FLAG_NO_COPY: the
 * frame header is copied, the payload is queued as iovecs pointing into the stream's
 * arena or batch, and the core's queue writes them. The queue has a high-water mark:
 * above it the data providers answer NGHTTP2_ERR_DEFERRED and are resumed once writev has
 * drained it, so a slow reader costs at most that much memory per connection, on top of
 * what HTTP/2 flow control already bounds.
 * Deadlines (grpc-timeout) are checked every core tick (50 ms). Shutdown: GOAWAY, drain,
 * close; a connection the core closes (idle timeout, drain deadline) gets a GOAWAY first.
 */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/time.h"
#include "server/flight/flight_internal.h"
#include "server/tls.h"

#define OUT_HIGH_WATER (4u << 20)      /* queued output per connection before deferring */
#define STREAM_WINDOW (8 << 20)        /* SETTINGS_INITIAL_WINDOW_SIZE we announce */
#define CONN_WINDOW (32 << 20)         /* connection receive window */
#define MAX_FRAME (1 << 20)            /* SETTINGS_MAX_FRAME_SIZE we accept */
#define MAX_STREAMS 256
#define DEADLINE_GRACE_NS (2ull * 1000000000ull) /* after the deadline, RST a stuck stream */

struct mr_flight_conn {
    mr_ev_conn_t ev;       /* first: the core's part */
    mr_flight_server_t *srv;
    nghttp2_session *h2;
    mr_flight_stream_t *streams;
    mr_flight_stream_t *deferred;
    bool dead;             /* fatal error: close after this event */
    bool read_eof;         /* the client half-closed: answer what was asked, then close */
};

struct mr_flight_server {
    mr_config_t cfg;
    murr_db *db;
    bool detached;
    uint16_t port;
    mr_ev_core_t *core;
    mr_ev_listener_t *listener;
    mr_tls_server_t *tls;         /* NULL: cleartext (h2c) */
};

static size_t queued(const mr_flight_conn_t *c) { return mr_ev_out_queued(&c->ev); }

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

static void stream_unref_cb(void *st) { stream_unref(st); }

/* Queues bytes that point into the stream (its arena or DoGet batch): the queued range holds
 * a reference until it is written. */
static int queue_ref(mr_flight_conn_t *c, const uint8_t *p, size_t len, mr_flight_stream_t *st)
{
    if (len == 0)
        return 0;
    st->refs++;
    return mr_ev_out_ref(&c->ev, p, len, stream_unref_cb, st);
}

/* Takes `len` bytes off the front of out, queueing them as borrowed ranges. */
static int out_take(mr_flight_stream_t *st, size_t len)
{
    mr_flight_conn_t *c = st->conn;
    while (len > 0 && st->out_idx < st->nout) {
        struct iovec *v = &st->out[st->out_idx];
        size_t avail = v->iov_len - st->out_off;
        size_t n = avail < len ? avail : len;
        MR_RETURN_NOT_OK(queue_ref(c, (const uint8_t *)v->iov_base + st->out_off, n, st));
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
    if (queued(c) >= mr_ev_out_limit(&c->ev, OUT_HIGH_WATER)) {
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

/* ------------------------------------------------------------- output ---- */

static ssize_t send_cb(nghttp2_session *h2, const uint8_t *data, size_t len, int flags, void *user)
{
    mr_flight_conn_t *c = user;
    if (queued(c) >= 2 * OUT_HIGH_WATER)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (mr_ev_out_copy(&c->ev, data, len) != 0)
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
    if (queued(c) >= 2 * OUT_HIGH_WATER)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (mr_ev_out_copy(&c->ev, framehd, 9) != 0 || out_take(st, length) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    (void)h2;
    (void)frame; /* no padding is ever selected: payload == length */
    return 0;
}

/* Runs nghttp2's output and the socket writes until both would block or are idle.
 * Returns false when the connection must close. */
static bool conn_flush(mr_flight_conn_t *c)
{
    for (int round = 0; round < 1024; round++) {
        size_t limit = mr_ev_out_limit(&c->ev, OUT_HIGH_WATER);
        if (queued(c) < limit && nghttp2_session_want_write(c->h2)) {
            if (nghttp2_session_send(c->h2) != 0)
                return false;
        }
        size_t before = queued(c);
        if (mr_ev_flush(&c->ev) != 0)
            return false;
        if (queued(c) < limit && c->deferred) { /* room again: resume providers */
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
        if (queued(c) > 0 && queued(c) == before) /* socket full: the core waits for EPOLLOUT */
            return true;
        if (queued(c) == 0 && !nghttp2_session_want_write(c->h2))
            break;
    }
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

static int on_open(mr_ev_conn_t *ev)
{
    pthread_once(&g_cbs_once, cbs_init);
    mr_flight_conn_t *c = (mr_flight_conn_t *)ev;
    c->srv = mr_ev_conn_arg(ev);
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_peer_max_concurrent_streams(opt, MAX_STREAMS);
    int rv = nghttp2_session_server_new2(&c->h2, g_cbs, c, opt);
    nghttp2_option_del(opt);
    if (rv != 0)
        return MURR_ENOMEM;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, MAX_FRAME},
    };
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, MR_ARRAY_LEN(iv));
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    if (!conn_flush(c)) {
        nghttp2_session_del(c->h2);
        return MURR_EIO;
    }
    return 0;
}

static void on_close(mr_ev_conn_t *ev)
{
    mr_flight_conn_t *c = (mr_flight_conn_t *)ev;
    if (!c->dead && !c->ev.eof) {
        /* closed by the core (idle timeout, drain deadline) with the peer still there: a
         * GOAWAY tells it which streams were never processed (safe to retry elsewhere) */
        nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                              NGHTTP2_NO_ERROR, NULL, 0);
        if (nghttp2_session_send(c->h2) == 0)
            mr_ev_flush(&c->ev);
    }
    /* the core drops the queued output after this (its ranges hold stream references) */
    while (c->streams) {
        mr_flight_stream_t *st = c->streams;
        nghttp2_session_set_stream_user_data(c->h2, st->id, NULL);
        stream_closed(st);
    }
    nghttp2_session_del(c->h2);
    c->h2 = NULL;
}

/* nghttp2 is done with the session (GOAWAY exchanged, or the client ended it) and nothing
 * is left to write. */
static bool conn_finished(mr_flight_conn_t *c)
{
    return queued(c) == 0 && (c->read_eof || !nghttp2_session_want_read(c->h2)) &&
           !nghttp2_session_want_write(c->h2);
}

/* After anything that may have ended the connection. */
static void conn_settle(mr_flight_conn_t *c)
{
    if (!mr_ev_conn_closed(&c->ev) && (c->dead || conn_finished(c)))
        mr_ev_conn_close(&c->ev);
}

static void on_input(mr_ev_conn_t *ev)
{
    mr_flight_conn_t *c = (mr_flight_conn_t *)ev;
    uint8_t buf[65536];
    for (int i = 0; i < 16; i++) { /* up to 1 MiB per wake-up, for fairness */
        ssize_t n = mr_ev_conn_read(ev, buf, sizeof(buf));
        if (n < 0) {
            if (ev->eof)
                c->dead = true;
            break;
        }
        if (n == 0) {
            c->read_eof = true;
            break;
        }
        ssize_t r = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
        if (r < 0) {
            MR_DEBUG("flight", "connection %d: HTTP/2 error: %s", ev->fd, nghttp2_strerror((int)r));
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
    conn_settle(c);
}

static void on_writable(mr_ev_conn_t *ev)
{
    mr_flight_conn_t *c = (mr_flight_conn_t *)ev;
    if (!conn_flush(c))
        c->dead = true;
    conn_settle(c);
}

/* No stream open and nothing queued: the idle timeout may close it. */
static bool is_quiet(mr_ev_conn_t *ev)
{
    mr_flight_conn_t *c = (mr_flight_conn_t *)ev;
    return c->streams == NULL && queued(c) == 0;
}

/* ------------------------------------------------------- jobs (DoPut, DoGet) ---- */

static void stream_job_run(mr_ev_job_t *j)
{
    mr_flight_stream_t *st = (mr_flight_stream_t *)((char *)j - offsetof(mr_flight_stream_t, job));
    mr_flight_rpc_job_run(st);
}

void mr_flight_submit_job(mr_flight_stream_t *st)
{
    st->job_pending = true;
    st->refs++; /* the job's: dropped in on_job_done */
    st->job.run = stream_job_run;
    mr_ev_submit(&st->conn->ev, &st->job);
}

static void on_job_done(mr_ev_conn_t *ev, mr_ev_job_t *j)
{
    mr_flight_conn_t *c = (mr_flight_conn_t *)ev;
    mr_flight_stream_t *st = (mr_flight_stream_t *)((char *)j - offsetof(mr_flight_stream_t, job));
    st->job_pending = false;
    if (st->closed || mr_ev_conn_closed(ev)) {
        stream_unref(st);
        return;
    }
    mr_flight_rpc_job_done(st);
    stream_unref(st);
    if (!conn_flush(c))
        c->dead = true;
    conn_settle(c);
}

/* ---------------------------------------------------------------- timers ---- */

static void on_tick(mr_ev_conn_t *ev, uint64_t now)
{
    mr_flight_conn_t *c = (mr_flight_conn_t *)ev;
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
    if (touched && !conn_flush(c))
        c->dead = true;
    if (touched)
        conn_settle(c);
}

/* Shutdown: GOAWAY (streams in progress finish), then the connection ends when done. */
static void on_drain(mr_ev_conn_t *ev)
{
    mr_flight_conn_t *c = (mr_flight_conn_t *)ev;
    nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
                          NGHTTP2_NO_ERROR, NULL, 0);
    if (!conn_flush(c))
        c->dead = true;
    conn_settle(c);
}

static const mr_ev_proto_ops_t flight_ops = {
    .name = "Flight",
    .on_open = on_open,
    .on_input = on_input,
    .on_writable = on_writable,
    .on_job_done = on_job_done,
    .on_tick = on_tick,
    .on_drain = on_drain,
    .is_quiet = is_quiet,
    .on_close = on_close,
    .refusal = NULL, /* over the cap: closed at once (no h2 session to say why in) */
};

/* --------------------------------------------------------------- lifecycle ---- */

static mr_ev_listener_spec_t listener_spec(mr_flight_server_t *s)
{
    return (mr_ev_listener_spec_t){.host = s->cfg.grpc.host,
                                   .port = s->cfg.grpc.port,
                                   .ops = &flight_ops,
                                   .conn_size = sizeof(mr_flight_conn_t),
                                   .proto_arg = s,
                                   .max_connections = s->cfg.grpc.max_connections,
                                   .idle_timeout_ms = s->cfg.grpc.idle_timeout_ms,
                                   .transport_new = s->tls ? mr_tls_transport_new : NULL,
                                   .transport_arg = s->tls};
}

static mr_flight_server_t *server_new(const mr_config_t *cfg, murr_db *db)
{
    mr_flight_server_t *s = mr_xcalloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->db = db;
    return s;
}

int mr_flight_listen(mr_ev_core_t *core, const mr_config_t *cfg, murr_db *db, mr_flight_server_t **out,
                     mr_error_t *err)
{
    mr_flight_server_t *s = server_new(cfg, db);
    s->core = core;
    int rc = mr_tls_server_from_config(cfg, MR_TLS_ALPN_H2, &s->tls, err);
    mr_ev_listener_spec_t spec = listener_spec(s);
    if (rc == 0)
        rc = mr_ev_core_listen(core, &spec, &s->listener, err);
    if (rc != 0) {
        mr_flight_free(s);
        return rc;
    }
    s->port = mr_ev_listener_port(s->listener);
    MR_INFO("flight", "Flight server (%s) on %s:%u: max_message_size %llu bytes, max %u connections, idle timeout %u ms",
            s->tls ? "TLS" : "h2c", cfg->grpc.host, s->port, (unsigned long long)cfg->grpc.max_message_size, cfg->grpc.max_connections,
            cfg->grpc.idle_timeout_ms);
    *out = s;
    return 0;
}

uint16_t mr_flight_port(const mr_flight_server_t *s) { return s->port; }

int mr_flight_tls_reload(mr_flight_server_t *s, mr_error_t *err)
{
    return s->tls ? mr_tls_server_reload(s->tls, err) : 0;
}

void mr_flight_free(mr_flight_server_t *s)
{
    if (s == NULL)
        return;
    mr_tls_server_free(s->tls);
    mr_free(s);
}

mr_flight_server_t *mr_flight_new_detached(const mr_config_t *cfg, murr_db *db)
{
    mr_flight_server_t *s = server_new(cfg, db);
    s->detached = true;
    mr_ev_listener_spec_t spec = listener_spec(s);
    s->core = mr_ev_core_new_detached(&spec);
    return s;
}

int mr_flight_feed_detached(mr_flight_server_t *s, const uint8_t *data, size_t len, mr_buf_t *out)
{
    /* in pieces so frames straddle reads, as on a socket */
    return mr_ev_detached_run(s->core, data, len, 4096, out);
}

void mr_flight_free_detached(mr_flight_server_t *s)
{
    if (s == NULL)
        return;
    mr_ev_core_free_detached(s->core);
    mr_free(s);
}
