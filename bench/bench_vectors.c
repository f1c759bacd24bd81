/* bench_vectors.c - embedding columns (issue 16): N rows of key + a DIM-dimensional vector
 * (list<float32> or list<float16>, fixed size) + 4 float32 features; reads of K random keys
 * x all columns.
 *
 *   bench_vectors engine DIR [--rows N] [--reads R]
 *       libmurr in process: murr_read vs memcpy-gathering the same answer bytes from an
 *       in-memory array of the same rows (same random rows, interleaved A/B); memory per
 *       row (segment bytes + key directory, murr_table_stats_get: what the mapped table
 *       holds) for float32 and float16 storage.
 *   bench_vectors wire --murr-port P --murr-grpc-port P --murr-pid PID --redis-port P --redis-pid PID
 *                      [--rows N] [--reads R]
 *       murr over HTTP (Arrow answers) and over Arrow Flight (DoGet, the same JSON keys as a
 *       ticket; flight_client.h) vs Redis MGET of the same vectors as 3 KB blobs (SET key ->
 *       DIM packed float32), interleaved read by read; memory per row = server RSS delta.
 *       Also timed, with the same HTTP client and request: the loopback floor, murr's first
 *       answer (head and body) served again from one prebuilt buffer by a thread of this
 *       process (loopback_floor.h), i.e. the wire's share of murr's time; and the scattered
 *       floor, the same byte count with the vectors written from random rows of a 1 GiB pool
 *       (one iovec each): what sending from where rows are stored, without a gather, costs.
 *
 * Values: vector element j of row i = ((31 i + j) mod 1000) / 8, exact in float16 too, so
 * both storages answer the same numbers; feature c = i + c/10. Every read checks a value. */
#include <hiredis/hiredis.h>
#include <unistd.h>

#include "bench_common.h"
#include "flight_client.h"
#include "http_client.h"
#include "loopback_floor.h"
#include "core/half.h"
#include "format/arrow_ipc.h"
#include "murr.h"

#define DIM 768
#define NFEAT 4

static uint64_t g_rows = 1000000;
static int g_reads = 2000, g_keys = 1000;

static float emb_value(uint64_t i, int j) { return (float)((31 * i + (uint64_t)j) % 1000) / 8.0f; }

/* Rows [first, first+n) as a batch: key, emb (list<float32 or float16>, dim DIM), f_0..f_3. */
static mr_batch_t *make_batch(uint64_t first, int64_t n, bool half)
{
    mr_batch_t *b = bench_make_batch(first, n, NFEAT); /* key, col_0..col_3 */
    mr_batch_t *o = mr_batch_new(NFEAT + 2, n);
    for (int c = 0; c < NFEAT + 1; c++)
        o->columns[c == 0 ? 0 : c + 1] = b->columns[c];
    for (int c = 0; c < NFEAT; c++) {
        char name[16];
        snprintf(name, sizeof(name), "f_%d", c);
        mr_batch_set_name(o, c + 2, name, strlen(name));
    }
    mr_batch_set_name(o, 1, "emb", 3);
    mr_batch_list_alloc(o, 1, half ? MURR_LIST_FLOAT16 : MURR_LIST_FLOAT32, DIM, false, 0);
    for (int64_t r = 0; r < n; r++)
        for (int j = 0; j < DIM; j++) {
            float v = emb_value(first + (uint64_t)r, j);
            if (half)
                ((uint16_t *)o->columns[1].values)[r * DIM + j] = mr_float_to_half(v);
            else
                ((float *)o->columns[1].values)[r * DIM + j] = v;
        }
    mr_batch_keepalive(o, (void (*)(void *))mr_batch_free, b); /* o's key/feature buffers live in b */
    return o;
}

static const char *schema_json(bool half)
{
    return half ? "{\"key\":\"key\",\"columns\":{\"key\":{\"dtype\":\"utf8\",\"nullable\":false},"
                  "\"emb\":{\"dtype\":\"list<float16>\",\"dim\":768},\"f_0\":{\"dtype\":\"float32\"},"
                  "\"f_1\":{\"dtype\":\"float32\"},\"f_2\":{\"dtype\":\"float32\"},\"f_3\":{\"dtype\":\"float32\"}}}"
                : "{\"key\":\"key\",\"columns\":{\"key\":{\"dtype\":\"utf8\",\"nullable\":false},"
                  "\"emb\":{\"dtype\":\"list<float32>\",\"dim\":768},\"f_0\":{\"dtype\":\"float32\"},"
                  "\"f_1\":{\"dtype\":\"float32\"},\"f_2\":{\"dtype\":\"float32\"},\"f_3\":{\"dtype\":\"float32\"}}}";
}

static void check_vec(const char *who, uint64_t row, const void *vals, bool half)
{
    int j = (int)(row % DIM);
    float got = half ? mr_half_to_float(((const uint16_t *)vals)[j]) : ((const float *)vals)[j];
    if (got != emb_value(row, j)) {
        fprintf(stderr, "%s: wrong answer for key %llu element %d: expected %g, got %g\n", who,
                (unsigned long long)row, j, (double)emb_value(row, j), (double)got);
        exit(1);
    }
}

static void gen_keys(uint64_t *seed, char *kbuf, uint64_t *krows, const char **kp, size_t *kl)
{
    for (int k = 0; k < g_keys; k++) {
        krows[k] = bench_rng(seed) % g_rows;
        kl[k] = (size_t)snprintf(kbuf + 24 * k, 24, "%llu", (unsigned long long)krows[k]);
        kp[k] = kbuf + 24 * k;
    }
}

static void pcts(uint64_t *ns, double *p50, double *p99)
{
    *p50 = bench_pct_us(ns, (size_t)g_reads, 0.5);
    *p99 = bench_pct_us(ns, (size_t)g_reads, 0.99);
}

/* ---- in process ---- */

static int run_engine(const char *dir)
{
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = false;
    o.background_compaction = false;
    murr_db *db;
    murr_error e = {0};
    if (murr_open(dir, &o, &db, &e) != 0) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    const char *cols[NFEAT + 1] = {"emb", "f_0", "f_1", "f_2", "f_3"};
    size_t row_bytes = DIM * 4 + NFEAT * 4;
    uint8_t *ref = malloc(g_rows * row_bytes); /* the memcpy reference: the same rows in RAM */
    for (uint64_t i = 0; i < g_rows; i++)
        for (int j = 0; j < DIM; j++)
            ((float *)(ref + i * row_bytes))[j] = emb_value(i, j);
    printf("| storage | rows | load s | bytes/row (segments + key directory) | murr p50 us | murr p99 us | memcpy p50 us | "
           "memcpy p99 us | murr / memcpy (p50) |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int half = 0; half < 2; half++) {
        const char *tname = half ? "v16" : "v32";
        murr_schema *s;
        if (murr_schema_from_json(schema_json(half), strlen(schema_json(half)), &s, &e) != 0 ||
            murr_create_table(db, tname, s, &e) != 0) {
            fprintf(stderr, "%s\n", e.message);
            return 1;
        }
        murr_schema_free(s);
        uint64_t rss0 = 0, t0 = bench_now_ns();
        for (uint64_t first = 0; first < g_rows; first += 10000) {
            int64_t n = (int64_t)(g_rows - first < 10000 ? g_rows - first : 10000);
            mr_batch_t *b = make_batch(first, n, half);
            if (murr_write(db, tname, b, &e) != 0) {
                fprintf(stderr, "write: %s\n", e.message);
                return 1;
            }
            mr_batch_free(b);
        }
        double load_s = (double)(bench_now_ns() - t0) / 1e9;
        murr_table_stats st;
        if (murr_table_stats_get(db, tname, &st, &e) != 0) {
            fprintf(stderr, "stats: %s\n", e.message);
            return 1;
        }
        (void)rss0;
        char *kbuf = malloc((size_t)g_keys * 24);
        uint64_t *krows = malloc(sizeof(uint64_t) * (size_t)g_keys);
        const char **kp = malloc(sizeof(char *) * (size_t)g_keys);
        size_t *kl = malloc(sizeof(size_t) * (size_t)g_keys);
        uint64_t *lm = malloc(sizeof(uint64_t) * (size_t)g_reads), *lc = malloc(sizeof(uint64_t) * (size_t)g_reads);
        size_t ew = half ? 2 : 4, ans_row = DIM * ew + NFEAT * 4;
        uint8_t *dst = malloc((size_t)g_keys * ans_row);
        uint64_t seed = 16;
        for (int r = -g_reads / 10; r < g_reads; r++) {
            gen_keys(&seed, kbuf, krows, kp, kl);
            uint64_t a = bench_now_ns();
            murr_batch *out;
            if (murr_read(db, tname, kp, kl, (size_t)g_keys, cols, NFEAT + 1, &out, &e) != 0) {
                fprintf(stderr, "read: %s\n", e.message);
                return 1;
            }
            uint64_t b = bench_now_ns();
            /* the reference: gather the answer's bytes (vector + features per key) by memcpy */
            for (int k = 0; k < g_keys; k++) {
                const uint8_t *src = ref + krows[k] * row_bytes;
                memcpy(dst + (size_t)k * DIM * ew, src, DIM * ew);
                memcpy(dst + (size_t)g_keys * DIM * ew + (size_t)k * NFEAT * 4, src + DIM * 4, NFEAT * 4);
            }
            uint64_t c = bench_now_ns();
            check_vec("murr", krows[7], (const uint8_t *)out->columns[0].values + 7 * DIM * ew, half);
            murr_batch_free(out);
            if (r >= 0) {
                lm[r] = b - a;
                lc[r] = c - b;
            }
        }
        double mp50, mp99, cp50, cp99;
        pcts(lm, &mp50, &mp99);
        pcts(lc, &cp50, &cp99);
        printf("| list<%s> dim %d + %d float32 | %llu | %.1f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2fx |\n",
               half ? "float16" : "float32", DIM, NFEAT, (unsigned long long)g_rows, load_s,
               (double)(st.live_bytes + st.garbage_bytes + st.keydir_bytes) / (double)g_rows, mp50, mp99, cp50, cp99,
               mp50 / cp50);
        free(kbuf), free(krows), free(kp), free(kl), free(lm), free(lc), free(dst);
    }
    free(ref);
    murr_close(db);
    return 0;
}

/* ---- over the wire ---- */

static void redis_ok(redisReply *r, const char *what)
{
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "redis %s failed: %s\n", what, r ? r->str : "no reply");
        exit(1);
    }
}

/* A Flight DoGet answer: rows counted, the vector of row `check` compared. */
typedef struct fl_check {
    bool half;
    int check;
    uint64_t check_row;
    int64_t row;
} fl_check_t;

static void fl_check_batch(void *arg, const mr_batch_t *b)
{
    fl_check_t *k = arg;
    if (b->num_columns != NFEAT + 1 || b->columns[0].dtype != (k->half ? MURR_LIST_FLOAT16 : MURR_LIST_FLOAT32)) {
        fprintf(stderr, "murr-flight: answer batch of %d columns, emb %s\n", b->num_columns,
                murr_dtype_name(b->columns[0].dtype));
        exit(1);
    }
    if (k->check >= k->row && k->check < k->row + b->num_rows)
        check_vec("murr-flight", k->check_row,
                  (const uint8_t *)b->columns[0].values + (size_t)(k->check - k->row) * DIM * (k->half ? 2 : 4), k->half);
    k->row += b->num_rows;
}

static int run_wire(int mport, int gport, int mpid, int rport, int rpid)
{
    int fd = bench_http_connect(mport);
    bench_fl_conn_t fc;
    bench_fl_connect(&fc, gport);
    redisContext *rc = redisConnect("127.0.0.1", rport);
    if (rc == NULL || rc->err) {
        fprintf(stderr, "redis connect failed\n");
        return 1;
    }
    mr_buf_t resp;
    mr_buf_init(&resp);
    printf("| storage | murr bytes/row (server RSS) | Redis bytes/row (RSS) | murr HTTP Arrow p50 / p99 us | "
           "murr Flight DoGet p50 / p99 us | Redis MGET p50 / p99 us | Redis / murr HTTP (p50) | "
           "Redis / murr Flight (p50) | loopback floor p50 / p99 us (murr's answer bytes, no server work) | "
           "scattered floor p50 / p99 us (vectors from random rows of 1 GiB) |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int half = 0; half < 2; half++) {
        const char *tname = half ? "v16" : "v32";
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/table/%s", tname);
        bench_http_simple(fd, "DELETE", path, "application/json", NULL, &resp);
        if (bench_http_simple(fd, "PUT", path, "application/json", schema_json(half), &resp) != 201) {
            fprintf(stderr, "create failed: %.*s\n", (int)resp.len, resp.data);
            return 1;
        }
        uint64_t m0 = bench_rss(mpid), r0 = bench_rss(rpid);
        char wpath[160];
        snprintf(wpath, sizeof(wpath), "%s/write", path);
        bool load_redis = !half; /* Redis holds the float32 blobs once */
        if (load_redis) {
            redisReply *fr = redisCommand(rc, "FLUSHALL");
            redis_ok(fr, "FLUSHALL");
            freeReplyObject(fr);
        }
        for (uint64_t first = 0; first < g_rows; first += 10000) {
            int64_t n = (int64_t)(g_rows - first < 10000 ? g_rows - first : 10000);
            mr_batch_t *b = make_batch(first, n, half);
            size_t o, l;
            if (bench_http_send_arrow(fd, "PUT", wpath, b, &resp, &o, &l, NULL) != 200) {
                fprintf(stderr, "write failed: %.*s\n", (int)l, resp.data + o);
                return 1;
            }
            if (load_redis) {
                for (int64_t r = 0; r < n; r++) {
                    char key[24];
                    int kl = snprintf(key, sizeof(key), "%llu", (unsigned long long)(first + (uint64_t)r));
                    redisAppendCommand(rc, "SET %b %b", key, (size_t)kl,
                                       (const uint8_t *)b->columns[1].values + (size_t)r * DIM * 4, (size_t)DIM * 4);
                }
                for (int64_t r = 0; r < n; r++) {
                    redisReply *rr;
                    if (redisGetReply(rc, (void **)&rr) != REDIS_OK)
                        exit(1);
                    redis_ok(rr, "SET");
                    freeReplyObject(rr);
                }
            }
            mr_batch_free(b);
        }
        uint64_t m1 = bench_rss(mpid), r1 = bench_rss(rpid);
        char *kbuf = malloc((size_t)g_keys * 24);
        uint64_t *krows = malloc(sizeof(uint64_t) * (size_t)g_keys);
        const char **kp = malloc(sizeof(char *) * (size_t)g_keys);
        size_t *kl = malloc(sizeof(size_t) * (size_t)g_keys);
        const char **argv = malloc(sizeof(char *) * (size_t)(g_keys + 1));
        size_t *argl = malloc(sizeof(size_t) * (size_t)(g_keys + 1));
        uint64_t *lm = malloc(sizeof(uint64_t) * (size_t)g_reads), *lr = malloc(sizeof(uint64_t) * (size_t)g_reads);
        uint64_t *lf = malloc(sizeof(uint64_t) * (size_t)g_reads), *lw = malloc(sizeof(uint64_t) * (size_t)g_reads);
        uint64_t *ls = malloc(sizeof(uint64_t) * (size_t)g_reads);
        bench_floor_t *floor = NULL, *sfloor = NULL;
        int floor_fd = -1, sfloor_fd = -1;
        mr_buf_t req, ticket, greq, floorbuf;
        mr_buf_init(&floorbuf);
        mr_buf_init(&req);
        mr_buf_init(&ticket);
        mr_buf_init(&greq);
        uint64_t seed = 61;
        for (int r = -g_reads / 10; r < g_reads; r++) {
            gen_keys(&seed, kbuf, krows, kp, kl);
            req.len = 0;
            mr_buf_append_cstr(&req, "{\"keys\":[");
            for (int k = 0; k < g_keys; k++)
                mr_buf_printf(&req, "%s\"%s\"", k ? "," : "", kp[k]);
            mr_buf_append_cstr(&req, "],\"columns\":[\"emb\",\"f_0\",\"f_1\",\"f_2\",\"f_3\"]}");
            ticket.len = 0; /* the same request with the table: a DoGet ticket */
            mr_buf_printf(&ticket, "{\"table\":\"%s\",", tname);
            mr_buf_append(&ticket, req.data + 1, req.len - 1);
            bench_fl_ticket(&greq, (const char *)ticket.data, ticket.len);
            char hdr[256];
            int hl = snprintf(hdr, sizeof(hdr), "POST %s/fetch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Accept: application/vnd.apache.arrow.stream\r\nContent-Length: %zu\r\n\r\n", path, req.len);
            struct iovec iov[2] = {{hdr, (size_t)hl}, {req.data, req.len}};
            uint64_t a = bench_now_ns();
            bench_http_send_all(fd, iov, 2);
            size_t o, l;
            if (bench_http_read_response(fd, &resp, &o, &l) != 200) {
                fprintf(stderr, "fetch failed\n");
                return 1;
            }
            uint64_t b = bench_now_ns();
            if (floor == NULL) { /* murr's first answer, served again from one buffer */
                int fport;
                floor = bench_floor_start(resp.data, o + l, &fport);
                floor_fd = bench_http_connect(fport);
                sfloor = bench_floor_start_scattered(resp.data, o + l, o, (size_t)DIM * (half ? 2 : 4), g_keys, &fport);
                sfloor_fd = bench_http_connect(fport);
            }
            struct iovec fiov[2] = {{hdr, (size_t)hl}, {req.data, req.len}};
            uint64_t w0 = bench_now_ns();
            bench_http_send_all(floor_fd, fiov, 2);
            size_t fo, fl;
            if (bench_http_read_response(floor_fd, &floorbuf, &fo, &fl) != 200 || fl != l) {
                fprintf(stderr, "floor: wrong answer length %zu, expected %zu\n", fl, l);
                return 1;
            }
            uint64_t w1 = bench_now_ns();
            struct iovec siov[2] = {{hdr, (size_t)hl}, {req.data, req.len}};
            bench_http_send_all(sfloor_fd, siov, 2);
            if (bench_http_read_response(sfloor_fd, &floorbuf, &fo, &fl) != 200 || fl != l) {
                fprintf(stderr, "scattered floor: wrong answer length %zu, expected %zu\n", fl, l);
                return 1;
            }
            uint64_t w2 = bench_now_ns();
            bench_fl_call(&fc, "DoGet", greq.data, greq.len);
            uint64_t f = bench_now_ns();
            fl_check_t fk = {half, 5, krows[5], 0};
            if (bench_fl_answer(&fc, "murr-flight DoGet", fl_check_batch, &fk) != g_keys) {
                fprintf(stderr, "murr-flight: %lld rows in the answer, expected %d\n", (long long)fk.row, g_keys);
                return 1;
            }
            uint64_t f2 = bench_now_ns();
            argv[0] = "MGET";
            argl[0] = 4;
            for (int k = 0; k < g_keys; k++) {
                argv[k + 1] = kp[k];
                argl[k + 1] = kl[k];
            }
            redisReply *rr = redisCommandArgv(rc, g_keys + 1, argv, argl);
            uint64_t c = bench_now_ns();
            redis_ok(rr, "MGET");
            if (rr->type != REDIS_REPLY_ARRAY || rr->elements != (size_t)g_keys || rr->element[3]->len != DIM * 4) {
                fprintf(stderr, "redis: wrong MGET answer\n");
                return 1;
            }
            check_vec("redis", krows[3], rr->element[3]->str, false);
            freeReplyObject(rr);
            mr_ipc_reader_t *rd = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
            mr_error_t e = {0};
            mr_batch_t *ab = NULL;
            mr_ipc_reader_feed(rd, resp.data + o, l, &e);
            if (mr_ipc_reader_next(rd, &ab, &e) != 0 || ab == NULL || ab->num_rows != g_keys) {
                fprintf(stderr, "murr: wrong answer (%s)\n", e.message);
                return 1;
            }
            check_vec("murr", krows[3], (const uint8_t *)ab->columns[0].values + 3 * DIM * (half ? 2 : 4), half);
            mr_batch_free(ab);
            mr_ipc_reader_free(rd);
            if (r >= 0) {
                lm[r] = b - a;
                lf[r] = f - w2; /* the floors ran between the HTTP fetch and the DoGet */
                lr[r] = c - f2;
                lw[r] = w1 - w0;
                ls[r] = w2 - w1;
            }
        }
        close(floor_fd);
        bench_floor_stop(floor);
        close(sfloor_fd);
        bench_floor_stop(sfloor);
        mr_buf_deinit(&floorbuf);
        double mp50, mp99, rp50, rp99, fp50, fp99, wp50, wp99, sp50, sp99;
        pcts(lw, &wp50, &wp99);
        pcts(ls, &sp50, &sp99);
        pcts(lm, &mp50, &mp99);
        pcts(lf, &fp50, &fp99);
        pcts(lr, &rp50, &rp99);
        char rmem[32] = "(float32 blobs, above)";
        if (load_redis)
            snprintf(rmem, sizeof(rmem), "%.0f", (double)(r1 - r0) / (double)g_rows);
        printf("| list<%s> dim %d + %d float32 | %.0f | %s | %.0f / %.0f | %.0f / %.0f | %.0f / %.0f | %.2fx | %.2fx | "
               "%.0f / %.0f | %.0f / %.0f |\n",
               half ? "float16" : "float32", DIM, NFEAT, (double)(m1 - m0) / (double)g_rows, rmem, mp50, mp99, fp50,
               fp99, rp50, rp99, rp50 / mp50, rp50 / fp50, wp50, wp99, sp50, sp99);
        mr_buf_deinit(&req);
        mr_buf_deinit(&ticket);
        mr_buf_deinit(&greq);
        free(kbuf), free(krows), free(kp), free(kl), free(argv), free(argl), free(lm), free(lr), free(lf), free(lw), free(ls);
    }
    mr_buf_deinit(&resp);
    bench_fl_close(&fc);
    redisFree(rc);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_vectors engine DIR | wire --murr-port P --murr-grpc-port P --murr-pid PID --redis-port P "
                        "--redis-pid PID [--rows N] [--reads R]\n");
        return 2;
    }
    int mport = 0, gport = 0, mpid = 0, rport = 0, rpid = 0;
    const char *dir = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc)
            g_rows = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--reads") == 0 && i + 1 < argc)
            g_reads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--murr-port") == 0 && i + 1 < argc)
            mport = atoi(argv[++i]);
        else if (strcmp(argv[i], "--murr-grpc-port") == 0 && i + 1 < argc)
            gport = atoi(argv[++i]);
        else if (strcmp(argv[i], "--murr-pid") == 0 && i + 1 < argc)
            mpid = atoi(argv[++i]);
        else if (strcmp(argv[i], "--redis-port") == 0 && i + 1 < argc)
            rport = atoi(argv[++i]);
        else if (strcmp(argv[i], "--redis-pid") == 0 && i + 1 < argc)
            rpid = atoi(argv[++i]);
        else
            dir = argv[i];
    }
    if (strcmp(argv[1], "engine") == 0 && dir)
        return run_engine(dir);
    if (strcmp(argv[1], "wire") == 0 && mport && gport && rport)
        return run_wire(mport, gport, mpid, rport, rpid);
    fprintf(stderr, "bench_vectors: bad arguments\n");
    return 2;
}
