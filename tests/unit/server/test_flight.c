/* test_flight.c - the Flight server without sockets or threads: the gRPC pieces (grpc.c:
 * grpc-timeout, percent-encoding, deframing, code mapping), the FlightData codec
 * (flight_codec.c), and whole calls through detached mode, with a real nghttp2 *client*
 * session producing the request bytes and parsing the answer (status, trailers, messages):
 * content-type, compression, unknown methods, bad protobuf, deadlines, size limits, DoGet
 * and DoPut over a real engine. */
#include <criterion/criterion.h>
#include <nghttp2/nghttp2.h>
#include <string.h>

#include "conf/config.h"
#include "core/alloc.h"
#include "core/schema.h"
#include "format/arrow_ipc.h"
#include "server/flight/flight.h"
#include "server/flight/flight_codec.h"
#include "server/flight/grpc.h"
#include "test_util.h"

#define SVC "/arrow.flight.protocol.FlightService/"

/* ---- pure functions ---- */

Test(grpc, timeout_units)
{
    uint64_t ns;
    cr_assert_eq(mr_grpc_timeout_parse("1H", 2, &ns, NULL), 0);
    cr_assert_eq(ns, 3600000000000ull);
    cr_assert_eq(mr_grpc_timeout_parse("2M", 2, &ns, NULL), 0);
    cr_assert_eq(ns, 120000000000ull);
    cr_assert_eq(mr_grpc_timeout_parse("3S", 2, &ns, NULL), 0);
    cr_assert_eq(ns, 3000000000ull);
    cr_assert_eq(mr_grpc_timeout_parse("250m", 4, &ns, NULL), 0);
    cr_assert_eq(ns, 250000000ull);
    cr_assert_eq(mr_grpc_timeout_parse("7u", 2, &ns, NULL), 0);
    cr_assert_eq(ns, 7000ull);
    cr_assert_eq(mr_grpc_timeout_parse("99999999n", 9, &ns, NULL), 0);
    cr_assert_eq(ns, 99999999ull);
    cr_assert_eq(mr_grpc_timeout_parse("99999999H", 9, &ns, NULL), 0); /* saturates, no overflow */
    cr_assert_eq(ns, UINT64_MAX);
    mr_error_t e = {0};
    cr_assert_eq(mr_grpc_timeout_parse("5", 1, &ns, &e), MURR_EINVAL);
    cr_assert_eq(mr_grpc_timeout_parse("123456789S", 10, &ns, &e), MURR_EINVAL); /* 9 digits */
    cr_assert_eq(mr_grpc_timeout_parse("1x", 2, &ns, &e), MURR_EINVAL);
    cr_assert(strstr(e.message, "'x'"), "%s", e.message);
    cr_assert_eq(mr_grpc_timeout_parse("1-S", 3, &ns, &e), MURR_EINVAL);
}

Test(grpc, percent_encode)
{
    mr_buf_t b;
    mr_buf_init(&b);
    const char m[] = "50% caf\xc3\xa9\n";
    cr_assert_eq(mr_grpc_percent_encode(&b, m, strlen(m)), 0);
    cr_assert_eq(b.len, strlen("50%25 caf%C3%A9%0A"));
    cr_assert(memcmp(b.data, "50%25 caf%C3%A9%0A", b.len) == 0);
    mr_buf_deinit(&b);
}

Test(grpc, code_mapping)
{
    cr_assert_eq(mr_grpc_code_of(MURR_ENOTFOUND), MR_GRPC_NOT_FOUND);
    cr_assert_eq(mr_grpc_code_of(MURR_EEXIST), MR_GRPC_ALREADY_EXISTS);
    cr_assert_eq(mr_grpc_code_of(MURR_EINVAL), MR_GRPC_INVALID_ARGUMENT);
    cr_assert_eq(mr_grpc_code_of(MURR_ECORRUPT), MR_GRPC_INVALID_ARGUMENT);
    cr_assert_eq(mr_grpc_code_of(MURR_ESHAPE), MR_GRPC_INVALID_ARGUMENT);
    cr_assert_eq(mr_grpc_code_of(MURR_EIO), MR_GRPC_INTERNAL);
    cr_assert_eq(mr_grpc_code_of(MURR_EINTERNAL), MR_GRPC_INTERNAL);
    cr_assert_eq(mr_grpc_code_of(MURR_ETOOBIG), MR_GRPC_RESOURCE_EXHAUSTED);
    cr_assert_eq(mr_grpc_code_of(MURR_ECONFLICT), MR_GRPC_FAILED_PRECONDITION);
    cr_assert_str_eq(mr_grpc_code_name(MR_GRPC_DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
    cr_assert_str_eq(mr_grpc_code_name(99), "UNKNOWN");
}

Test(grpc, deframer_split_and_limits)
{
    /* two messages ("abc", "") delivered one byte at a time */
    const uint8_t in[] = {0, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0, 0};
    mr_grpc_deframer_t d;
    mr_grpc_deframer_init(&d, 100);
    int got = 0;
    for (size_t i = 0; i < sizeof(in); i++) {
        const uint8_t *p = in + i;
        size_t n = 1;
        while (n > 0) {
            uint8_t *m;
            size_t ml;
            cr_assert_eq(mr_grpc_deframer_next(&d, &p, &n, &m, &ml, NULL), 0);
            if (m) {
                cr_assert_eq(ml, got == 0 ? 3u : 0u);
                if (got == 0)
                    cr_assert(memcmp(m, "abc", 3) == 0);
                mr_free(m);
                got++;
            }
        }
    }
    cr_assert_eq(got, 2);
    cr_assert(mr_grpc_deframer_idle(&d));
    mr_grpc_deframer_deinit(&d);

    mr_error_t e = {0};
    const uint8_t big[] = {0, 0, 0, 0, 101};
    mr_grpc_deframer_init(&d, 100);
    const uint8_t *p = big;
    size_t n = sizeof(big);
    uint8_t *m;
    size_t ml;
    cr_assert_eq(mr_grpc_deframer_next(&d, &p, &n, &m, &ml, &e), MURR_ETOOBIG);
    cr_assert(strstr(e.message, "101") && strstr(e.message, "100"), "%s", e.message);
    mr_grpc_deframer_deinit(&d);

    const uint8_t comp[] = {1, 0, 0, 0, 1, 'x'};
    mr_grpc_deframer_init(&d, 100);
    p = comp;
    n = sizeof(comp);
    cr_assert_eq(mr_grpc_deframer_next(&d, &p, &n, &m, &ml, &e), MURR_EUNSUPPORTED);
    cr_assert(strstr(e.message, "compressed"), "%s", e.message);
    mr_grpc_deframer_deinit(&d);

    const uint8_t bad[] = {7, 0, 0, 0, 1, 'x'};
    mr_grpc_deframer_init(&d, 100);
    p = bad;
    n = sizeof(bad);
    cr_assert_eq(mr_grpc_deframer_next(&d, &p, &n, &m, &ml, &e), MURR_ECORRUPT);
    mr_grpc_deframer_deinit(&d);
}

Test(flight_codec, frame_then_decode)
{
    uint8_t head[MR_FLIGHT_HEAD_MAX], mid[MR_FLIGHT_MID_MAX];
    size_t hl, ml;
    const uint8_t meta[300] = {1, 2, 3};
    const uint8_t body[200] = {9};
    cr_assert_eq(mr_flight_data_frame(sizeof(meta), sizeof(body), head, &hl, mid, &ml, NULL), 0);
    uint8_t msg[1024];
    size_t n = 0;
    memcpy(msg, head + MR_GRPC_PREFIX_LEN, hl - MR_GRPC_PREFIX_LEN);
    n = hl - MR_GRPC_PREFIX_LEN;
    memcpy(msg + n, meta, sizeof(meta));
    n += sizeof(meta);
    memcpy(msg + n, mid, ml);
    n += ml;
    memcpy(msg + n, body, sizeof(body));
    n += sizeof(body);
    uint32_t declared = ((uint32_t)head[1] << 24) | ((uint32_t)head[2] << 16) | ((uint32_t)head[3] << 8) | head[4];
    cr_assert_eq(declared, n);
    mr_flight_data_t fd;
    cr_assert_eq(mr_flight_data_decode(msg, n, &fd, NULL), 0);
    cr_assert_eq(fd.header.len, sizeof(meta));
    cr_assert_eq(fd.body.len, sizeof(body));
    cr_assert_eq(fd.header.ptr[2], 3);
    cr_assert_eq(fd.body.ptr[0], 9);
    cr_assert(!fd.has_descriptor);
}

Test(flight_codec, hostile)
{
    mr_flight_data_t fd;
    mr_error_t e = {0};
    /* unknown fields of every wire type are skipped */
    const uint8_t skip[] = {0x20, 0x05, 0x29, 1, 2, 3, 4, 5, 6, 7, 8, 0x35, 1, 2, 3, 4, 0x3a, 1, 'z', 0x0a, 0};
    cr_assert_eq(mr_flight_data_decode(skip, sizeof(skip), &fd, &e), 0, "%s", e.message);
    cr_assert(fd.has_descriptor);
    const uint8_t trunc[] = {0x12, 10, 'a'};
    cr_assert_eq(mr_flight_data_decode(trunc, sizeof(trunc), &fd, &e), MURR_ECORRUPT);
    cr_assert(strstr(e.message, "declares 10 bytes"), "%s", e.message);
    const uint8_t longvar[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    cr_assert_eq(mr_flight_data_decode(longvar, sizeof(longvar), &fd, &e), MURR_ECORRUPT);
    const uint8_t group[] = {0x13};
    cr_assert_eq(mr_flight_data_decode(group, sizeof(group), &fd, &e), MURR_ECORRUPT);
    const uint8_t wrongwt[] = {0x10, 0x01}; /* data_header as a varint */
    cr_assert_eq(mr_flight_data_decode(wrongwt, sizeof(wrongwt), &fd, &e), MURR_ECORRUPT);
    const uint8_t field0[] = {0x02, 0x00};
    cr_assert_eq(mr_flight_data_decode(field0, sizeof(field0), &fd, &e), MURR_ECORRUPT);
    const uint8_t fixed[] = {0x29, 1, 2};
    cr_assert_eq(mr_flight_data_decode(fixed, sizeof(fixed), &fd, &e), MURR_ECORRUPT);
}

/* ---- whole calls through detached mode, with an nghttp2 client ---- */

static murr_db *db;
static mr_flight_server_t *srv;
static char *dir;
static mr_config_t cfg;

static void setup(void)
{
    dir = tu_tempdir("flight");
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    murr_error e = {0};
    cr_assert_eq(murr_open(dir, &o, &db, &e), 0, "%s", e.message);
    mr_schema_t *s = mr_schema_make("id", "id:utf8", "score:float32?", NULL);
    cr_assert_eq(murr_create_table(db, "t", s, &e), 0, "%s", e.message);
    mr_schema_free(s);
    const char *keys[] = {"a", "b"};
    const float scores[] = {1.5f, 2.5f};
    mr_batch_t *b = tu_batch_id_score(keys, scores, 2);
    cr_assert_eq(murr_write(db, "t", b, &e), 0, "%s", e.message);
    mr_batch_free(b);
    mr_config_defaults(&cfg);
    cfg.grpc.max_message_size = 1 << 20;
    srv = mr_flight_new_detached(&cfg, db);
}

static void teardown(void)
{
    mr_flight_free_detached(srv);
    murr_close(db);
    tu_rmtree(dir);
}

typedef struct call {
    int status;
    int grpc_status;
    char grpc_message[1024];
    mr_buf_t data;      /* response DATA bytes (gRPC framed) */
    const uint8_t *body;
    size_t body_len, body_pos;
} call_t;

static int c_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                       const uint8_t *value, size_t vl, uint8_t flags, void *user)
{
    call_t *c = user;
    char v[1024];
    size_t n = vl < sizeof(v) - 1 ? vl : sizeof(v) - 1;
    memcpy(v, value, n);
    v[n] = '\0';
    if (nl == 7 && memcmp(name, ":status", 7) == 0)
        c->status = atoi(v);
    else if (nl == 11 && memcmp(name, "grpc-status", 11) == 0)
        c->grpc_status = atoi(v);
    else if (nl == 12 && memcmp(name, "grpc-message", 12) == 0)
        memcpy(c->grpc_message, v, n + 1);
    return 0;
}

static int c_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len, void *user)
{
    mr_buf_append(&((call_t *)user)->data, d, len);
    return 0;
}

static ssize_t c_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                           nghttp2_data_source *src, void *user)
{
    call_t *c = user;
    size_t n = c->body_len - c->body_pos;
    if (n > len)
        n = len;
    if (n)
        memcpy(buf, c->body + c->body_pos, n);
    c->body_pos += n;
    if (c->body_pos == c->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* One call: request headers (content-type and one optional extra header), body bytes
 * (already gRPC-framed), sent to the detached server; the answer parsed back. */
static void run(call_t *c, const char *path, const char *ctype, const char *xname, const char *xvalue,
                const uint8_t *body, size_t body_len)
{
    memset(c, 0, sizeof(*c));
    c->grpc_status = -1;
    mr_buf_init(&c->data);
    c->body = body;
    c->body_len = body_len;
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, c_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_on_data);
    nghttp2_session *cs;
    cr_assert_eq(nghttp2_session_client_new(&cs, cb, c), 0);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
    nghttp2_submit_settings(cs, NGHTTP2_FLAG_NONE, iv, 1);
    nghttp2_session_set_local_window_size(cs, NGHTTP2_FLAG_NONE, 0, 1 << 24);
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv nv[6] = {NV(":method", "POST"), NV(":scheme", "http"), NV(":path", path), NV(":authority", "x"),
                        NV("content-type", ctype), NV(xname ? xname : "te", xvalue ? xvalue : "trailers")};
#undef NV
    nghttp2_data_provider dp = {.read_callback = c_read_body};
    cr_assert(nghttp2_submit_request(cs, NULL, nv, 6, &dp, NULL) > 0);
    mr_buf_t in, out;
    mr_buf_init(&in);
    mr_buf_init(&out);
    for (;;) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(cs, &p);
        cr_assert(n >= 0);
        if (n == 0)
            break;
        mr_buf_append(&in, p, (size_t)n);
    }
    cr_assert_eq(mr_flight_feed_detached(srv, in.data, in.len, &out), 0);
    cr_assert(nghttp2_session_mem_recv(cs, out.data, out.len) >= 0);
    mr_buf_deinit(&in);
    mr_buf_deinit(&out);
    nghttp2_session_del(cs);
    nghttp2_session_callbacks_del(cb);
}

static size_t framed(uint8_t *dst, const uint8_t *msg, size_t n)
{
    mr_grpc_prefix_write(dst, (uint32_t)n);
    memcpy(dst + 5, msg, n);
    return n + 5;
}

static const uint8_t desc_t[] = {0x08, 0x01, 0x1a, 0x01, 't'}; /* FlightDescriptor{PATH, ["t"]} */

TestSuite(flight_calls, .init = setup, .fini = teardown);

Test(flight_calls, get_schema_ok)
{
    uint8_t b[64];
    call_t c;
    run(&c, SVC "GetSchema", "application/grpc", NULL, NULL, b, framed(b, desc_t, sizeof(desc_t)));
    cr_assert_eq(c.status, 200);
    cr_assert_eq(c.grpc_status, 0, "%s", c.grpc_message);
    cr_assert(c.data.len > 5 && c.data.data[0] == 0);
    mr_buf_deinit(&c.data);
}

Test(flight_calls, content_type_and_method)
{
    uint8_t b[64];
    size_t n = framed(b, desc_t, sizeof(desc_t));
    call_t c;
    run(&c, SVC "GetSchema", "application/json", NULL, NULL, b, n);
    cr_assert_eq(c.status, 415);
    cr_assert_eq(c.grpc_status, MR_GRPC_INTERNAL);
    cr_assert(strstr(c.grpc_message, "application/grpc"), "%s", c.grpc_message);
    cr_assert_eq(c.data.len, 0);
    mr_buf_deinit(&c.data);
    run(&c, SVC "GetSchema", "application/grpc+proto", NULL, NULL, b, n);
    cr_assert_eq(c.grpc_status, 0, "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
    run(&c, SVC "GetSchema", "application/grpcx", NULL, NULL, b, n);
    cr_assert_eq(c.status, 415);
    mr_buf_deinit(&c.data);
}

Test(flight_calls, compression_and_encoding)
{
    uint8_t b[64];
    size_t n = framed(b, desc_t, sizeof(desc_t));
    b[0] = 1; /* compressed flag without grpc-encoding */
    call_t c;
    run(&c, SVC "GetSchema", "application/grpc", NULL, NULL, b, n);
    cr_assert_eq(c.status, 200);
    cr_assert_eq(c.grpc_status, MR_GRPC_INTERNAL);
    cr_assert(strstr(c.grpc_message, "compressed"), "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
    run(&c, SVC "GetSchema", "application/grpc", "grpc-encoding", "gzip", b, n);
    cr_assert_eq(c.grpc_status, MR_GRPC_UNIMPLEMENTED);
    cr_assert(strstr(c.grpc_message, "gzip"), "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
}

Test(flight_calls, unknown_method_and_unimplemented)
{
    call_t c;
    run(&c, "/x.Y/Z", "application/grpc", NULL, NULL, NULL, 0);
    cr_assert_eq(c.grpc_status, MR_GRPC_UNIMPLEMENTED);
    cr_assert(strstr(c.grpc_message, "/x.Y/Z"), "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
    run(&c, SVC "DoAction", "application/grpc", NULL, NULL, NULL, 0);
    cr_assert_eq(c.grpc_status, MR_GRPC_UNIMPLEMENTED);
    cr_assert_str_eq(c.grpc_message, "do_action not supported");
    mr_buf_deinit(&c.data);
}

Test(flight_calls, bad_requests)
{
    uint8_t b[128];
    const uint8_t garbage[] = {0xff, 0xff, 0xff};
    call_t c;
    run(&c, SVC "GetFlightInfo", "application/grpc", NULL, NULL, b, framed(b, garbage, sizeof(garbage)));
    cr_assert_eq(c.grpc_status, MR_GRPC_INVALID_ARGUMENT, "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
    run(&c, SVC "GetFlightInfo", "application/grpc", NULL, NULL, NULL, 0); /* no request message */
    cr_assert_eq(c.grpc_status, MR_GRPC_INTERNAL);
    mr_buf_deinit(&c.data);
    /* request ends inside a message */
    size_t n = framed(b, desc_t, sizeof(desc_t));
    run(&c, SVC "GetFlightInfo", "application/grpc", NULL, NULL, b, n - 2);
    cr_assert_eq(c.grpc_status, MR_GRPC_INTERNAL);
    cr_assert(strstr(c.grpc_message, "inside message 1"), "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
    const uint8_t empty_path[] = {0x08, 0x01};
    run(&c, SVC "GetFlightInfo", "application/grpc", NULL, NULL, b, framed(b, empty_path, 2));
    cr_assert_eq(c.grpc_status, MR_GRPC_INVALID_ARGUMENT);
    cr_assert_str_eq(c.grpc_message, "path must contain table name");
    mr_buf_deinit(&c.data);
    const uint8_t nul[] = {0x1a, 0x03, 't', 0, 'x'}; /* "t\0x" must not read as table "t" */
    run(&c, SVC "GetSchema", "application/grpc", NULL, NULL, b, framed(b, nul, sizeof(nul)));
    cr_assert_eq(c.grpc_status, MR_GRPC_INVALID_ARGUMENT, "%s", c.grpc_message);
    cr_assert(strstr(c.grpc_message, "NUL"), "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
    const uint8_t nf[] = {0x1a, 0x02, 'n', 'o'};
    run(&c, SVC "GetSchema", "application/grpc", NULL, NULL, b, framed(b, nf, sizeof(nf)));
    cr_assert_eq(c.grpc_status, MR_GRPC_NOT_FOUND, "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
}

Test(flight_calls, deadlines)
{
    uint8_t b[64];
    size_t n = framed(b, desc_t, sizeof(desc_t));
    call_t c;
    run(&c, SVC "GetSchema", "application/grpc", "grpc-timeout", "0n", b, n);
    cr_assert_eq(c.grpc_status, MR_GRPC_DEADLINE_EXCEEDED);
    mr_buf_deinit(&c.data);
    run(&c, SVC "GetSchema", "application/grpc", "grpc-timeout", "10Q", b, n);
    cr_assert_eq(c.grpc_status, MR_GRPC_INTERNAL);
    cr_assert(strstr(c.grpc_message, "grpc-timeout"), "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
    run(&c, SVC "GetSchema", "application/grpc", "grpc-timeout", "5S", b, n);
    cr_assert_eq(c.grpc_status, 0, "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
}

Test(flight_calls, message_too_big)
{
    static uint8_t b[(1 << 20) + 64];
    mr_grpc_prefix_write(b, (1 << 20) + 1);
    call_t c;
    run(&c, SVC "DoGet", "application/grpc", NULL, NULL, b, 5);
    cr_assert_eq(c.grpc_status, MR_GRPC_RESOURCE_EXHAUSTED);
    cr_assert(strstr(c.grpc_message, "1048577") && strstr(c.grpc_message, "1048576"), "%s", c.grpc_message);
    mr_buf_deinit(&c.data);
}

/* Splits the gRPC-framed response into messages. */
static size_t messages(const mr_buf_t *d, const uint8_t **msg, size_t *len, size_t max)
{
    size_t pos = 0, n = 0;
    while (pos + 5 <= d->len && n < max) {
        uint32_t l = ((uint32_t)d->data[pos + 1] << 24) | ((uint32_t)d->data[pos + 2] << 16) |
                     ((uint32_t)d->data[pos + 3] << 8) | d->data[pos + 4];
        cr_assert(pos + 5 + l <= d->len);
        msg[n] = d->data + pos + 5;
        len[n++] = l;
        pos += 5 + l;
    }
    cr_assert_eq(pos, d->len);
    return n;
}

Test(flight_calls, do_get)
{
    const char tk[] = "{\"table\":\"t\",\"keys\":[\"b\",\"zz\",\"a\"],\"columns\":[\"score\"]}";
    uint8_t t[128], b[160];
    t[0] = 0x0a;
    t[1] = (uint8_t)(sizeof(tk) - 1);
    memcpy(t + 2, tk, sizeof(tk) - 1);
    call_t c;
    run(&c, SVC "DoGet", "application/grpc", NULL, NULL, b, framed(b, t, sizeof(tk) + 1));
    cr_assert_eq(c.grpc_status, 0, "%s", c.grpc_message);
    const uint8_t *m[4];
    size_t l[4];
    cr_assert_eq(messages(&c.data, m, l, 4), 2);
    mr_ipc_reader_t *r = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
    mr_batch_t *batch = NULL;
    mr_error_t e = {0};
    for (int i = 0; i < 2; i++) {
        mr_flight_data_t fd;
        cr_assert_eq(mr_flight_data_decode(m[i], l[i], &fd, &e), 0, "%s", e.message);
        mr_batch_t *out = NULL;
        cr_assert_eq(mr_ipc_reader_message(r, fd.header.ptr, fd.header.len, fd.body.ptr, fd.body.len, &out, &e), 0,
                     "%s", e.message);
        if (out)
            batch = out;
    }
    cr_assert_not_null(batch);
    cr_assert_eq(batch->num_rows, 3);
    const float *v = batch->columns[0].values;
    cr_assert(v[0] == 2.5f && v[2] == 1.5f);
    cr_assert(!murr_column_is_valid(&batch->columns[0], 1));
    mr_batch_free(batch);
    mr_ipc_reader_free(r);
    mr_buf_deinit(&c.data);
}

/* FlightData {descriptor?, header, body} of an encoded IPC message, gRPC-framed, at dst. */
static size_t put_msg(mr_buf_t *dst, const mr_ipc_msg_t *m, bool with_desc)
{
    uint8_t head[MR_FLIGHT_HEAD_MAX], mid[MR_FLIGHT_MID_MAX];
    size_t hl, ml;
    size_t extra = with_desc ? 2 + sizeof(desc_t) : 0;
    cr_assert_eq(mr_flight_data_frame(m->meta_len, (uint64_t)m->body_len, head, &hl, mid, &ml, NULL), 0);
    uint32_t total = ((uint32_t)head[1] << 24 | (uint32_t)head[2] << 16 | (uint32_t)head[3] << 8 | head[4]) +
                     (uint32_t)extra;
    mr_grpc_prefix_write(head, total);
    mr_buf_append(dst, head, MR_GRPC_PREFIX_LEN);
    if (with_desc) {
        uint8_t d[2] = {0x0a, sizeof(desc_t)};
        mr_buf_append(dst, d, 2);
        mr_buf_append(dst, desc_t, sizeof(desc_t));
    }
    mr_buf_append(dst, head + MR_GRPC_PREFIX_LEN, hl - MR_GRPC_PREFIX_LEN);
    mr_buf_append(dst, m->meta, m->meta_len);
    mr_buf_append(dst, mid, ml);
    for (int i = 0; i < m->body_iovcnt; i++)
        mr_buf_append(dst, m->body[i].iov_base, m->body[i].iov_len);
    return total + 5;
}

Test(flight_calls, do_put_atomic)
{
    const char *keys[] = {"p", "q"};
    const float sc[] = {7.0f, 8.0f};
    mr_batch_t *good = tu_batch_id_score(keys, sc, 2);
    const char *badkeys[] = {"r", NULL};
    mr_batch_t *bad = tu_batch_id_score(badkeys, sc, 2);
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    mr_ipc_msg_t ms, mg, mb;
    mr_error_t e = {0};
    mr_ipc_field_t *f = mr_ipc_fields_of_batch(&a, good);
    cr_assert_eq(mr_ipc_encode_schema(&a, f, 2, NULL, 0, &ms, &e), 0, "%s", e.message);
    cr_assert_eq(mr_ipc_encode_batch(&a, good, 0, 2, &mg, &e), 0);
    cr_assert_eq(mr_ipc_encode_batch(&a, bad, 0, 2, &mb, &e), 0);
    /* good batch then a batch with a null key: nothing lands */
    mr_buf_t body;
    mr_buf_init(&body);
    put_msg(&body, &ms, true);
    put_msg(&body, &mg, false);
    put_msg(&body, &mb, false);
    call_t c;
    run(&c, SVC "DoPut", "application/grpc", NULL, NULL, body.data, body.len);
    cr_assert_eq(c.grpc_status, MR_GRPC_INVALID_ARGUMENT, "%d %s", c.grpc_status, c.grpc_message);
    mr_buf_deinit(&c.data);
    const char *k[] = {"p"};
    size_t kl[] = {1};
    const char *col[] = {"score"};
    murr_batch *out;
    cr_assert_eq(murr_read(db, "t", k, kl, 1, col, 1, &out, &e), 0);
    cr_assert(!murr_column_is_valid(&out->columns[0], 0));
    murr_batch_free(out);
    /* good batch alone: one empty PutResult, OK, and the row is there */
    body.len = 0;
    put_msg(&body, &ms, true);
    put_msg(&body, &mg, false);
    run(&c, SVC "DoPut", "application/grpc", NULL, NULL, body.data, body.len);
    cr_assert_eq(c.grpc_status, 0, "%s", c.grpc_message);
    cr_assert_eq(c.data.len, 5);
    mr_buf_deinit(&c.data);
    cr_assert_eq(murr_read(db, "t", k, kl, 1, col, 1, &out, &e), 0);
    cr_assert_eq(((const float *)out->columns[0].values)[0], 7.0f);
    murr_batch_free(out);
    mr_buf_deinit(&body);
    mr_arena_deinit(&a);
    mr_batch_free(good);
    mr_batch_free(bad);
}

/* A 4.8 MB answer (1,200 rows of 4,000-byte strings): several FlightData messages of at
 * most about 2 MiB (utf8 slices cut by their offsets), encoded lazily, with the output queue
 * passing its high-water mark (data providers deferred and resumed) on the way. */
Test(flight_calls, do_get_large_deferred)
{
    const int nk = 1200, width = 4000;
    mr_error_t e = {0};
    mr_schema_t *sch = mr_schema_make("id", "id:utf8", "s:utf8?", NULL);
    cr_assert_eq(murr_create_table(db, "w", sch, &e), 0, "%s", e.message);
    mr_schema_free(sch);
    mr_batch_t *b = mr_batch_new(2, nk);
    mr_colbuilder_t kb, sb;
    mr_colbuilder_init(&kb, MURR_UTF8);
    mr_colbuilder_init(&sb, MURR_UTF8);
    char *str = malloc((size_t)width);
    mr_buf_t tk;
    mr_buf_init(&tk);
    mr_buf_append_cstr(&tk, "{\"table\":\"w\",\"columns\":[\"s\"],\"keys\":[");
    for (int i = 0; i < nk; i++) {
        char k[16];
        int kl = snprintf(k, sizeof(k), "k%d", i);
        mr_colbuilder_append_str(&kb, k, (size_t)kl);
        memset(str, 'a' + i % 26, (size_t)width);
        mr_colbuilder_append_str(&sb, str, (size_t)width);
        mr_buf_printf(&tk, "%s\"%s\"", i ? "," : "", k);
    }
    mr_buf_append_cstr(&tk, "]}");
    free(str);
    mr_batch_set_name(b, 0, "id", 2);
    mr_batch_set_name(b, 1, "s", 1);
    mr_colbuilder_finish(&kb, b, 0);
    mr_colbuilder_finish(&sb, b, 1);
    cr_assert_eq(murr_write(db, "w", b, &e), 0, "%s", e.message);
    mr_batch_free(b);

    mr_buf_t body;
    mr_buf_init(&body);
    uint8_t pre[16];
    size_t vl = 0;
    uint64_t v = tk.len;
    pre[5 + vl++] = 0x0a;
    while (v >= 0x80) {
        pre[5 + vl++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    pre[5 + vl++] = (uint8_t)v;
    mr_grpc_prefix_write(pre, (uint32_t)(vl + tk.len));
    mr_buf_append(&body, pre, 5 + vl);
    mr_buf_append(&body, tk.data, tk.len);
    call_t c;
    run(&c, SVC "DoGet", "application/grpc", NULL, NULL, body.data, body.len);
    cr_assert_eq(c.grpc_status, 0, "%d %s", c.grpc_status, c.grpc_message);
    const uint8_t *m[16];
    size_t l[16];
    size_t n = messages(&c.data, m, l, 16);
    cr_assert_geq(n, 4, "schema + at least 3 batches, got %zu messages", n);
    mr_ipc_reader_t *r = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
    int64_t rows = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert_leq(l[i], (2u << 20) + 4096, "message %zu has %zu bytes", i, l[i]);
        mr_flight_data_t fd;
        cr_assert_eq(mr_flight_data_decode(m[i], l[i], &fd, &e), 0, "%s", e.message);
        mr_batch_t *out = NULL;
        cr_assert_eq(mr_ipc_reader_message(r, fd.header.ptr, fd.header.len, fd.body.ptr, fd.body.len, &out, &e), 0,
                     "%s", e.message);
        if (out) {
            for (int64_t j = 0; j < out->num_rows; j++) {
                size_t len;
                const uint8_t *sv = mr_column_str(&out->columns[0], j, &len);
                cr_assert_eq(len, (size_t)width);
                cr_assert_eq(sv[0], 'a' + (rows + j) % 26, "row %lld", (long long)(rows + j));
            }
            rows += out->num_rows;
            mr_batch_free(out);
        }
    }
    cr_assert_eq(rows, nk);
    mr_ipc_reader_free(r);
    mr_buf_deinit(&c.data);
    mr_buf_deinit(&body);
    mr_buf_deinit(&tk);
}

/* The server's preface: SETTINGS with large windows and frames, then a connection-level
 * WINDOW_UPDATE, so bulk DoPut data is not throttled by HTTP/2's 64 KiB defaults. */
Test(flight_calls, settings_and_windows)
{
    static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
    mr_buf_t out;
    mr_buf_init(&out);
    cr_assert_eq(mr_flight_feed_detached(srv, preface, sizeof(preface) - 1, &out), 0);
    cr_assert_geq(out.len, 9);
    const uint8_t *p = out.data;
    size_t len = ((size_t)p[0] << 16) | ((size_t)p[1] << 8) | p[2];
    cr_assert_eq(p[3], 0x04, "first frame is SETTINGS");
    uint32_t window = 0, frame = 0, streams = 0;
    for (size_t i = 9; i + 6 <= 9 + len; i += 6) {
        uint16_t id = (uint16_t)(p[i] << 8 | p[i + 1]);
        uint32_t v = (uint32_t)p[i + 2] << 24 | (uint32_t)p[i + 3] << 16 | (uint32_t)p[i + 4] << 8 | p[i + 5];
        if (id == 4)
            window = v;
        else if (id == 5)
            frame = v;
        else if (id == 3)
            streams = v;
    }
    cr_assert_eq(window, 8u << 20);
    cr_assert_eq(frame, 1u << 20);
    cr_assert_eq(streams, 256);
    bool conn_update = false;
    for (size_t pos = 9 + len; pos + 9 <= out.len;) {
        const uint8_t *f = out.data + pos;
        size_t fl = ((size_t)f[0] << 16) | ((size_t)f[1] << 8) | f[2];
        uint32_t sid = ((uint32_t)f[5] << 24 | (uint32_t)f[6] << 16 | (uint32_t)f[7] << 8 | f[8]) & 0x7fffffff;
        if (f[3] == 0x08 && sid == 0 && fl == 4) {
            uint32_t inc = (uint32_t)f[9] << 24 | (uint32_t)f[10] << 16 | (uint32_t)f[11] << 8 | f[12];
            cr_assert_eq(inc + 65535u, 32u << 20, "connection window raised to 32 MiB");
            conn_update = true;
        }
        pos += 9 + fl;
    }
    cr_assert(conn_update);
    mr_buf_deinit(&out);
}
