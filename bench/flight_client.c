/* flight_client.c - the benchmarks' blocking Arrow Flight client (flight_client.h). */
#include "flight_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/flight/flight_codec.h"

static ssize_t fl_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)s, (void)flags;
    bench_fl_conn_t *c = ud;
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
        if (w < 0) {
            fprintf(stderr, "murr-flight: send to 127.0.0.1:%d failed: %s\n", c->port, strerror(errno));
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
        off += (size_t)w;
    }
    return (ssize_t)len;
}

static int fl_chunk_cb(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *ud)
{
    (void)s, (void)flags, (void)sid;
    bench_fl_conn_t *c = ud;
    mr_buf_append(&c->in, data, len);
    return 0;
}

static int fl_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                        const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    (void)s, (void)f, (void)flags;
    bench_fl_conn_t *c = ud;
    if (nl == 11 && !memcmp(name, "grpc-status", 11))
        c->grpc_status = atoi((const char *)value);
    else if (nl == 12 && !memcmp(name, "grpc-message", 12))
        snprintf(c->grpc_message, sizeof(c->grpc_message), "%.*s", (int)vl, (const char *)value);
    return 0;
}

static int fl_close_cb(nghttp2_session *s, int32_t sid, uint32_t code, void *ud)
{
    (void)s, (void)sid;
    bench_fl_conn_t *c = ud;
    c->closed = true;
    if (code != 0 && c->grpc_status < 0) {
        c->grpc_status = 1000 + (int)code;
        snprintf(c->grpc_message, sizeof(c->grpc_message), "stream reset with HTTP/2 error code %u", code);
    }
    return 0;
}

static ssize_t fl_read_body(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                            nghttp2_data_source *src, void *ud)
{
    (void)s, (void)sid, (void)src;
    bench_fl_conn_t *c = ud;
    size_t n = c->body_len - c->body_off < len ? c->body_len - c->body_off : len;
    memcpy(buf, c->body + c->body_off, n);
    c->body_off += n;
    if (c->body_off == c->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF; /* half-close after the last message */
    return (ssize_t)n;
}

void bench_fl_connect(bench_fl_conn_t *c, int port)
{
    memset(c, 0, sizeof(*c));
    c->port = port;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        fprintf(stderr, "murr-flight: connect to 127.0.0.1:%d failed: %s\n", port, strerror(errno));
        exit(1);
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, fl_send_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, fl_chunk_cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, fl_header_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, fl_close_cb);
    if (nghttp2_session_client_new(&c->h2, cb, c) != 0) {
        fprintf(stderr, "murr-flight: nghttp2_session_client_new failed\n");
        exit(1);
    }
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 30},
                                   {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 1u << 20}};
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);
    nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 1 << 30);
    mr_buf_init(&c->in);
}

void bench_fl_call(bench_fl_conn_t *c, const char *method, const uint8_t *body, size_t len)
{
    char path[96];
    int pl = snprintf(path, sizeof(path), "/arrow.flight.protocol.FlightService/%s", method);
#define NV(n, v, vl) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv hdrs[] = {NV(":method", "POST", 4), NV(":scheme", "http", 4), NV(":path", path, (size_t)pl),
                         NV(":authority", "127.0.0.1", 9), NV("content-type", "application/grpc", 16),
                         NV("te", "trailers", 8)};
#undef NV
    c->closed = false;
    c->grpc_status = -1;
    c->grpc_message[0] = '\0';
    c->in.len = 0;
    c->body = body;
    c->body_len = len;
    c->body_off = 0;
    nghttp2_data_provider dp = {.read_callback = fl_read_body};
    int32_t sid = nghttp2_submit_request(c->h2, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &dp, NULL);
    if (sid < 0) {
        fprintf(stderr, "murr-flight: %s: nghttp2_submit_request failed: %s\n", method, nghttp2_strerror(sid));
        exit(1);
    }
    static uint8_t rbuf[1 << 18];
    while (!c->closed) {
        int rv = nghttp2_session_send(c->h2);
        if (rv != 0) {
            fprintf(stderr, "murr-flight: %s: nghttp2_session_send: %s\n", method, nghttp2_strerror(rv));
            exit(1);
        }
        if (c->closed)
            break;
        ssize_t r = recv(c->fd, rbuf, sizeof(rbuf), 0);
        if (r <= 0) {
            fprintf(stderr, "murr-flight: %s: connection to 127.0.0.1:%d closed (%s) after %zu response bytes\n",
                    method, c->port, r < 0 ? strerror(errno) : "EOF", c->in.len);
            exit(1);
        }
        ssize_t m = nghttp2_session_mem_recv(c->h2, rbuf, (size_t)r);
        if (m < 0) {
            fprintf(stderr, "murr-flight: %s: nghttp2_session_mem_recv: %s\n", method, nghttp2_strerror((int)m));
            exit(1);
        }
    }
    if (c->grpc_status != 0) {
        fprintf(stderr, "murr-flight: %s failed: grpc-status %d: %s\n", method, c->grpc_status, c->grpc_message);
        exit(1);
    }
}

static size_t pb_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

static void grpc_prefix(uint8_t p[5], size_t len)
{
    p[0] = 0;
    p[1] = (uint8_t)(len >> 24), p[2] = (uint8_t)(len >> 16), p[3] = (uint8_t)(len >> 8), p[4] = (uint8_t)len;
}

void bench_fl_put_flight_data(mr_buf_t *out, const char *table, const mr_ipc_msg_t *m)
{
    uint8_t desc[160], tmp[16];
    size_t dl = 0, tl = table ? strlen(table) : 0;
    if (table) {
        desc[dl++] = 0x08, desc[dl++] = 1;  /* type = PATH */
        desc[dl++] = 0x1a;                  /* path = 3 */
        dl += pb_varint(desc + dl, tl);
        memcpy(desc + dl, table, tl);
        dl += tl;
    }
    size_t msg_len = 0;
    if (table)
        msg_len += 1 + pb_varint(tmp, dl) + dl;
    msg_len += 1 + pb_varint(tmp, m->meta_len) + m->meta_len;
    if (m->body_len > 0)
        msg_len += 2 + pb_varint(tmp, (uint64_t)m->body_len) + (size_t)m->body_len;
    uint8_t pre[5];
    grpc_prefix(pre, msg_len);
    mr_buf_append(out, pre, 5);
    if (table) {
        mr_buf_append(out, "\x0a", 1);
        mr_buf_append(out, tmp, pb_varint(tmp, dl));
        mr_buf_append(out, desc, dl);
    }
    mr_buf_append(out, "\x12", 1);
    mr_buf_append(out, tmp, pb_varint(tmp, m->meta_len));
    mr_buf_append(out, m->meta, m->meta_len);
    if (m->body_len > 0) {
        mr_buf_append(out, "\xc2\x3e", 2); /* data_body = 1000 */
        mr_buf_append(out, tmp, pb_varint(tmp, (uint64_t)m->body_len));
        for (int i = 0; i < m->body_iovcnt; i++)
            mr_buf_append(out, m->body[i].iov_base, m->body[i].iov_len);
    }
}

void bench_fl_close(bench_fl_conn_t *c)
{
    nghttp2_session_del(c->h2);
    close(c->fd);
    mr_buf_deinit(&c->in);
}

void bench_fl_ticket(mr_buf_t *out, const char *json, size_t len)
{
    uint8_t tmp[16], pre[5];
    size_t vl = pb_varint(tmp, len);
    out->len = 0;
    grpc_prefix(pre, 1 + vl + len);
    mr_buf_append(out, pre, 5);
    mr_buf_append(out, "\x0a", 1); /* Ticket.ticket = 1 */
    mr_buf_append(out, tmp, vl);
    mr_buf_append(out, json, len);
}

int64_t bench_fl_answer(const bench_fl_conn_t *c, const char *what, void (*fn)(void *arg, const mr_batch_t *b),
                        void *arg)
{
    mr_ipc_reader_t *rd = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
    mr_error_t e = {0};
    size_t pos = 0;
    int64_t rows = 0;
    while (pos < c->in.len) {
        if (c->in.len - pos < 5) {
            fprintf(stderr, "%s: truncated gRPC prefix at byte %zu of %zu\n", what, pos, c->in.len);
            exit(1);
        }
        const uint8_t *p = c->in.data + pos;
        size_t n = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
        if (p[0] != 0 || n > c->in.len - pos - 5) {
            fprintf(stderr, "%s: bad gRPC message at byte %zu (flag %u, length %zu of %zu left)\n", what, pos, p[0], n,
                    c->in.len - pos - 5);
            exit(1);
        }
        mr_flight_data_t fd;
        mr_batch_t *b = NULL;
        if (mr_flight_data_decode(p + 5, n, &fd, &e) != 0 ||
            mr_ipc_reader_message(rd, fd.header.ptr, fd.header.len, fd.body.ptr, fd.body.len, &b, &e) != 0) {
            fprintf(stderr, "%s: message at byte %zu: %s\n", what, pos, e.message);
            exit(1);
        }
        pos += 5 + n;
        if (b == NULL)
            continue;
        fn(arg, b);
        rows += b->num_rows;
        mr_batch_free(b);
    }
    mr_ipc_reader_free(rd);
    return rows;
}
