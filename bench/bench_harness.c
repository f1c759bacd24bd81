/* bench_harness - murr against its peers on the murr-benchmark workload, one process, one
 * run: N rows (key = decimal row number, C float32 columns), loaded into every backend, then
 * R closed-loop reads of K uniformly random existing keys x all columns on one connection
 * (keys generated outside the timed region; time to the last byte of the answer). Every
 * backend's answer is checked against the generated data: a wrong answer fails the run.
 *
 * Backends (--backends, comma-separated; default all that were built):
 *   murr:    murr-arrow (HTTP, Arrow IPC answer), murr-json (HTTP, JSON answer);
 *   murr-flight: murr over Arrow Flight, DoPut load of table bench_flight and DoGet reads
 *            (harness_flight.c; needs --murr-port for the table's creation and --murr-grpc-port);
 *   redis:   redis-blob (SET key -> packed little-endian float32; one MGET), redis-hash
 *            (HSET per key, field col_i -> 4-byte float32; pipelined HMGET);
 *   pg:      PostgreSQL blob (BYTEA) and one REAL column per feature (harness_pg.c);
 *   rocksdb: embedded RocksDB, profiles mmap (PlainTable) and block (harness_rocksdb.c);
 *   murr-0.2.1, murr-0.3.1: the Rust murr servers from crates.io, each with its best request
 *            form (harness_peer.c; bench/run.sh --peers starts them).
 * Usage: bench_harness [--backends LIST] [--murr-port P --murr-pid PID [--murr-dir DIR]] [--murr-grpc-port P]
 *                      [--redis-port P --redis-pid PID [--redis-keep-blob]]
 *                      [--pg-conninfo STR --pg-pid PID [--pg-data DIR]] [--rocksdb-dir DIR]
 *                      [--murr021-port P --murr021-pid PID [--murr021-dir DIR]] [--murr031-... likewise]
 *                      [--rows N] [--cols C] [--keys K] [--reads R] [--batch B]
 * --redis-keep-blob: after the Redis figures, load the blob layout again under keys "b:<key>"
 * (untimed) so bench/py_e2e.py can read both Redis layouts.
 * Prints markdown tables; bench/run.sh starts and stops the servers. */
#include <pthread.h>
#include <stdatomic.h>
#include <hiredis/hiredis.h>
#include <sys/uio.h>
#include <unistd.h>

#include <ftw.h>

#include "bench_common.h"
#include "format/arrow_ipc.h"
#include "harness.h"
#include "http_client.h"

typedef bench_result_t result_t;

static uint64_t g_rows = 10000000, g_batch = 1000000;
static double g_rps[3];                     /* requests/s with 2, 8, 32 connections */
static double g_upload_p50, g_upload_p99;   /* fetch latency while another client uploads */
static int g_upload_reads;
static int g_cols = 10, g_keys = 1000, g_reads = 5000;
static const char *g_murr_dir;
static bool g_redis_keep_blob;

static int64_t g_du_total;

static int du_visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path, (void)type, (void)ftw;
    g_du_total += (int64_t)st->st_blocks * 512;
    return 0;
}

int64_t bench_du(const char *dir)
{
    g_du_total = 0;
    /* FTW_PHYS: do not follow symlinks; nftw visits each hard link once per path, fine here */
    if (nftw(dir, du_visit, 32, FTW_PHYS) != 0)
        return -1;
    return g_du_total;
}

static void gen_keys(uint64_t *seed, char *kbuf, uint64_t *rows_out)
{
    for (int k = 0; k < g_keys; k++) {
        rows_out[k] = bench_rng(seed) % g_rows;
        snprintf(kbuf + 24 * k, 24, "%llu", (unsigned long long)rows_out[k]);
    }
}

/* Builds a complete fetch request for random keys (Arrow answer). */
static void build_fetch(mr_buf_t *out, uint64_t *seed, char *kbuf, uint64_t *krows)
{
    gen_keys(seed, kbuf, krows);
    mr_buf_t body;
    mr_buf_init(&body);
    mr_buf_append_cstr(&body, "{\"keys\":[");
    for (int k = 0; k < g_keys; k++)
        mr_buf_printf(&body, "%s\"%s\"", k ? "," : "", kbuf + 24 * k);
    mr_buf_append_cstr(&body, "],\"columns\":[");
    for (int c = 0; c < g_cols; c++)
        mr_buf_printf(&body, "%s\"col_%d\"", c ? "," : "", c);
    mr_buf_append_cstr(&body, "]}");
    out->len = 0;
    mr_buf_printf(out, "POST /api/v1/table/bench/fetch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Accept: application/vnd.apache.arrow.stream\r\nContent-Length: %zu\r\n\r\n", body.len);
    mr_buf_append(out, body.data, body.len);
    mr_buf_deinit(&body);
}

typedef struct conc_arg {
    int port, requests;
    uint64_t seed;
} conc_arg_t;

static void *conc_main(void *p)
{
    conc_arg_t *a = p;
    int fd = bench_http_connect(a->port);
    char *kbuf = malloc((size_t)g_keys * 24);
    uint64_t *krows = malloc(sizeof(uint64_t) * (size_t)g_keys);
    enum { NREQ = 16 };
    mr_buf_t reqs[NREQ], resp;
    for (int i = 0; i < NREQ; i++) {
        mr_buf_init(&reqs[i]);
        build_fetch(&reqs[i], &a->seed, kbuf, krows);
    }
    mr_buf_init(&resp);
    for (int i = 0; i < a->requests; i++) {
        struct iovec iov = {reqs[i % NREQ].data, reqs[i % NREQ].len};
        bench_http_send_all(fd, &iov, 1);
        size_t o, l;
        if (bench_http_read_response(fd, &resp, &o, &l) != 200)
            exit(1);
    }
    close(fd);
    return NULL;
}

typedef struct upload_arg {
    int port;
    uint64_t rows;
    _Atomic bool done;
} upload_arg_t;

static void *upload_main(void *p)
{
    upload_arg_t *a = p;
    int fd = bench_http_connect(a->port);
    mr_buf_t resp;
    mr_buf_init(&resp);
    mr_buf_t schema;
    mr_buf_init(&schema);
    mr_buf_printf(&schema, "{\"key\":\"key\",\"columns\":{\"key\":{\"dtype\":\"utf8\",\"nullable\":false}");
    for (int c = 0; c < g_cols; c++)
        mr_buf_printf(&schema, ",\"col_%d\":{\"dtype\":\"float32\",\"nullable\":false}", c);
    mr_buf_append(&schema, "}}", 3);
    bench_http_simple(fd, "DELETE", "/api/v1/table/upload", "application/json", NULL, &resp);
    bench_http_simple(fd, "PUT", "/api/v1/table/upload", "application/json", (char *)schema.data, &resp);
    mr_batch_t *b = bench_make_batch(0, (int64_t)a->rows, g_cols);
    size_t o, l;
    if (bench_http_send_arrow(fd, "PUT", "/api/v1/table/upload/write", b, &resp, &o, &l, NULL) != 200)
        fprintf(stderr, "upload failed\n");
    atomic_store(&a->done, true);
    mr_batch_free(b);
    close(fd);
    return NULL;
}

static void bench_murr(int port, int pid, result_t *arrow, result_t *json)
{
    int fd = bench_http_connect(port);
    mr_buf_t resp;
    mr_buf_init(&resp);
    bench_http_simple(fd, "DELETE", "/api/v1/table/bench", "application/json", NULL, &resp);
    mr_buf_t schema;
    mr_buf_init(&schema);
    mr_buf_printf(&schema, "{\"key\":\"key\",\"columns\":{\"key\":{\"dtype\":\"utf8\",\"nullable\":false}");
    for (int c = 0; c < g_cols; c++)
        mr_buf_printf(&schema, ",\"col_%d\":{\"dtype\":\"float32\",\"nullable\":false}", c);
    mr_buf_append(&schema, "}}", 3);
    if (bench_http_simple(fd, "PUT", "/api/v1/table/bench", "application/json", (char *)schema.data, &resp) != 201) {
        fprintf(stderr, "create failed: %.*s\n", (int)resp.len, resp.data);
        exit(1);
    }
    uint64_t rss0 = bench_rss(pid), load_ns = 0;
    for (uint64_t first = 0; first < g_rows; first += g_batch) {
        int64_t n = (int64_t)(g_rows - first < g_batch ? g_rows - first : g_batch);
        mr_batch_t *b = bench_make_batch(first, n, g_cols);
        size_t o, l;
        uint64_t dt;
        int st = bench_http_send_arrow(fd, "PUT", "/api/v1/table/bench/write", b, &resp, &o, &l, &dt);
        load_ns += dt;
        if (st != 200) {
            fprintf(stderr, "write failed %d: %.*s\n", st, (int)l, resp.data + o);
            exit(1);
        }
        mr_batch_free(b);
    }
    arrow->ingest_rows_s = json->ingest_rows_s = (double)g_rows / ((double)load_ns / 1e9);
    char *kbuf = malloc((size_t)g_keys * 24);
    uint64_t *krows = malloc(sizeof(uint64_t) * (size_t)g_keys);
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)g_reads);
    mr_buf_t req;
    mr_buf_init(&req);
    for (int mode = 0; mode < 2; mode++) {
        result_t *res = mode == 0 ? arrow : json;
        uint64_t seed = 7 + (uint64_t)mode;
        int warm = g_reads / 10 + 10;
        double bytes = 0;
        for (int r = -warm; r < g_reads; r++) {
            gen_keys(&seed, kbuf, krows);
            req.len = 0;
            mr_buf_append_cstr(&req, "{\"keys\":[");
            for (int k = 0; k < g_keys; k++)
                mr_buf_printf(&req, "%s\"%s\"", k ? "," : "", kbuf + 24 * k);
            mr_buf_append_cstr(&req, "],\"columns\":[");
            for (int c = 0; c < g_cols; c++)
                mr_buf_printf(&req, "%s\"col_%d\"", c ? "," : "", c);
            mr_buf_append_cstr(&req, "]}");
            char hdr[256];
            int hl = snprintf(hdr, sizeof(hdr), "POST /api/v1/table/bench/fetch HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              "application/json\r\nAccept: %s\r\nContent-Length: %zu\r\n\r\n",
                              mode == 0 ? "application/vnd.apache.arrow.stream" : "application/json", req.len);
            struct iovec iov[2] = {{hdr, (size_t)hl}, {req.data, req.len}};
            uint64_t t0 = bench_now_ns();
            bench_http_send_all(fd, iov, 2);
            size_t o, l;
            int st = bench_http_read_response(fd, &resp, &o, &l);
            uint64_t dt = bench_now_ns() - t0;
            if (st != 200) {
                fprintf(stderr, "fetch failed %d\n", st);
                exit(1);
            }
            if (r >= 0) {
                lat[r] = dt;
                bytes += (double)l;
            }
            /* verify the last column of the first key */
            float want = bench_value(krows[0], g_cols - 1);
            if (mode == 0) {
                mr_ipc_reader_t *rd = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
                mr_error_t e = {0};
                mr_ipc_reader_feed(rd, resp.data + o, l, &e);
                mr_batch_t *b = NULL;
                if (mr_ipc_reader_next(rd, &b, &e) != 0 || b == NULL ||
                    ((float *)b->columns[g_cols - 1].values)[0] != want) {
                    fprintf(stderr, "murr-arrow: wrong answer (%s)\n", e.message);
                    exit(1);
                }
                mr_batch_free(b);
                mr_ipc_reader_free(rd);
            } else {
                char key[32];
                snprintf(key, sizeof(key), "\"col_%d\":[", g_cols - 1);
                char *p = memmem(resp.data + o, l, key, strlen(key));
                if (p == NULL || strtof(p + strlen(key), NULL) != want) {
                    fprintf(stderr, "murr-json: wrong answer\n");
                    exit(1);
                }
            }
        }
        res->p50 = bench_pct_us(lat, (size_t)g_reads, 0.5);
        res->p99 = bench_pct_us(lat, (size_t)g_reads, 0.99);
        res->p999 = bench_pct_us(lat, (size_t)g_reads, 0.999);
        (void)bytes;
        uint64_t rss1 = bench_rss(pid);
        res->mem_bytes = rss1 > rss0 ? rss1 - rss0 : 0;
        res->mem_what = "server RSS";
        res->disk_bytes = g_murr_dir ? bench_du(g_murr_dir) : -1;
        res->ran = true;
    }
    /* throughput with several connections, each closed loop */
    static const int conns[3] = {2, 8, 32};
    for (int ci = 0; ci < 3; ci++) {
        int n = conns[ci], per = g_reads / n > 100 ? g_reads / n : 100;
        pthread_t th[32];
        conc_arg_t args[32];
        uint64_t t0 = bench_now_ns();
        for (int i = 0; i < n; i++) {
            args[i] = (conc_arg_t){port, per, 1000 + (uint64_t)i};
            pthread_create(&th[i], NULL, conc_main, &args[i]);
        }
        for (int i = 0; i < n; i++)
            pthread_join(th[i], NULL);
        g_rps[ci] = (double)n * per / ((double)(bench_now_ns() - t0) / 1e9);
    }
    /* fetch latency while another client uploads 1M rows (Arrow, one request) */
    upload_arg_t ua = {.port = port, .rows = g_rows < 1000000 ? g_rows : 1000000};
    pthread_t ut;
    pthread_create(&ut, NULL, upload_main, &ua);
    uint64_t seed = 99;
    g_upload_reads = 0;
    while (!atomic_load(&ua.done) && g_upload_reads < g_reads) {
        mr_buf_t rq;
        mr_buf_init(&rq);
        build_fetch(&rq, &seed, kbuf, krows);
        struct iovec iov = {rq.data, rq.len};
        uint64_t t0 = bench_now_ns();
        bench_http_send_all(fd, &iov, 1);
        size_t o, l;
        if (bench_http_read_response(fd, &resp, &o, &l) != 200)
            exit(1);
        lat[g_upload_reads++] = bench_now_ns() - t0;
        mr_buf_deinit(&rq);
    }
    pthread_join(ut, NULL);
    if (g_upload_reads > 0) {
        g_upload_p50 = bench_pct_us(lat, (size_t)g_upload_reads, 0.5);
        g_upload_p99 = bench_pct_us(lat, (size_t)g_upload_reads, 0.99);
    }
    close(fd);
}

static void redis_check(redisReply *r, const char *what)
{
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "redis %s failed: %s\n", what, r ? r->str : "no reply");
        exit(1);
    }
}

/* Untimed: the blob layout once more under "b:<key>", next to the hash layout, for py_e2e. */
static void redis_load_blob_copy(redisContext *c)
{
    const uint64_t pipe = 10000;
    float vals[64];
    char key[32];
    for (uint64_t first = 0; first < g_rows; first += pipe) {
        uint64_t n = g_rows - first < pipe ? g_rows - first : pipe;
        for (uint64_t i = 0; i < n; i++) {
            int kl = snprintf(key, sizeof(key), "b:%llu", (unsigned long long)(first + i));
            for (int cc = 0; cc < g_cols; cc++)
                vals[cc] = bench_value(first + i, cc);
            redisAppendCommand(c, "SET %b %b", key, (size_t)kl, vals, sizeof(float) * (size_t)g_cols);
        }
        for (uint64_t i = 0; i < n; i++) {
            redisReply *rr;
            if (redisGetReply(c, (void **)&rr) != REDIS_OK) {
                fprintf(stderr, "redis: loading the b: blob copy failed at row %llu\n",
                        (unsigned long long)(first + i));
                exit(1);
            }
            redis_check(rr, "SET b:");
            freeReplyObject(rr);
        }
    }
}

static void bench_redis(int port, int pid, result_t *blob, result_t *hash)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    if (c == NULL || c->err) {
        fprintf(stderr, "redis connect failed\n");
        exit(1);
    }
    char *kbuf = malloc((size_t)g_keys * 24);
    uint64_t *krows = malloc(sizeof(uint64_t) * (size_t)g_keys);
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)g_reads);
    const char **argv = malloc(sizeof(char *) * (size_t)(2 * g_cols + 2 + g_keys + 1));
    size_t *argl = malloc(sizeof(size_t) * (size_t)(2 * g_cols + 2 + g_keys + 1));
    for (int layout = 0; layout < 2; layout++) {
        result_t *res = layout == 0 ? blob : hash;
        redisReply *r = redisCommand(c, "FLUSHALL");
        redis_check(r, "FLUSHALL");
        freeReplyObject(r);
        sleep(1);
        uint64_t rss0 = bench_rss(pid), t0 = bench_now_ns();
        const uint64_t pipe = 10000;
        float vals[64];
        char key[24];
        char fields[64][16];
        for (int cc = 0; cc < g_cols; cc++)
            snprintf(fields[cc], 16, "col_%d", cc);
        for (uint64_t first = 0; first < g_rows; first += pipe) {
            uint64_t n = g_rows - first < pipe ? g_rows - first : pipe;
            for (uint64_t i = 0; i < n; i++) {
                uint64_t row = first + i;
                int kl = snprintf(key, sizeof(key), "%llu", (unsigned long long)row);
                for (int cc = 0; cc < g_cols; cc++)
                    vals[cc] = bench_value(row, cc);
                if (layout == 0) {
                    redisAppendCommand(c, "SET %b %b", key, (size_t)kl, vals, sizeof(float) * (size_t)g_cols);
                } else {
                    int a = 0;
                    argv[a] = "HSET";
                    argl[a++] = 4;
                    argv[a] = key;
                    argl[a++] = (size_t)kl;
                    for (int cc = 0; cc < g_cols; cc++) {
                        argv[a] = fields[cc];
                        argl[a++] = strlen(fields[cc]);
                        argv[a] = (const char *)&vals[cc];
                        argl[a++] = 4;
                    }
                    redisAppendCommandArgv(c, a, argv, argl);
                }
            }
            for (uint64_t i = 0; i < n; i++) {
                redisReply *rr;
                if (redisGetReply(c, (void **)&rr) != REDIS_OK) {
                    fprintf(stderr, "redis load failed\n");
                    exit(1);
                }
                redis_check(rr, "load");
                freeReplyObject(rr);
            }
        }
        res->ingest_rows_s = (double)g_rows / ((double)(bench_now_ns() - t0) / 1e9);
        uint64_t seed = 11 + (uint64_t)layout;
        int warm = g_reads / 10 + 10;
        for (int rd = -warm; rd < g_reads; rd++) {
            gen_keys(&seed, kbuf, krows);
            uint64_t t1;
            float got;
            if (layout == 0) {
                argv[0] = "MGET";
                argl[0] = 4;
                for (int k = 0; k < g_keys; k++) {
                    argv[k + 1] = kbuf + 24 * k;
                    argl[k + 1] = strlen(kbuf + 24 * k);
                }
                t1 = bench_now_ns();
                redisReply *rr = redisCommandArgv(c, g_keys + 1, argv, argl);
                uint64_t dt = bench_now_ns() - t1;
                redis_check(rr, "MGET");
                memcpy(&got, rr->element[0]->str + 4 * (g_cols - 1), 4);
                freeReplyObject(rr);
                if (rd >= 0)
                    lat[rd] = dt;
            } else {
                t1 = bench_now_ns();
                for (int k = 0; k < g_keys; k++) {
                    int a = 0;
                    argv[a] = "HMGET";
                    argl[a++] = 5;
                    argv[a] = kbuf + 24 * k;
                    argl[a++] = strlen(kbuf + 24 * k);
                    for (int cc = 0; cc < g_cols; cc++) {
                        argv[a] = fields[cc];
                        argl[a++] = strlen(fields[cc]);
                    }
                    redisAppendCommandArgv(c, a, argv, argl);
                }
                got = 0;
                for (int k = 0; k < g_keys; k++) {
                    redisReply *rr;
                    redisGetReply(c, (void **)&rr);
                    redis_check(rr, "HMGET");
                    if (k == 0)
                        memcpy(&got, rr->element[g_cols - 1]->str, 4);
                    freeReplyObject(rr);
                }
                uint64_t dt = bench_now_ns() - t1;
                if (rd >= 0)
                    lat[rd] = dt;
            }
            if (got != bench_value(krows[0], g_cols - 1)) {
                fprintf(stderr, "redis-%s: wrong answer\n", layout == 0 ? "blob" : "hash");
                exit(1);
            }
        }
        res->p50 = bench_pct_us(lat, (size_t)g_reads, 0.5);
        res->p99 = bench_pct_us(lat, (size_t)g_reads, 0.99);
        res->p999 = bench_pct_us(lat, (size_t)g_reads, 0.999);
        uint64_t rss1 = bench_rss(pid);
        res->mem_bytes = rss1 > rss0 ? rss1 - rss0 : 0;
        res->mem_what = "server RSS";
        res->disk_bytes = -1; /* persistence off */
        res->ran = true;
    }
    if (g_redis_keep_blob)
        redis_load_blob_copy(c);
    redisFree(c);
}

/* Creates table bench_flight over HTTP (dropping an old one), then the Flight figures. */
static void bench_flight(int port, int grpc_port, int pid, result_t *res)
{
    int fd = bench_http_connect(port);
    mr_buf_t resp, schema;
    mr_buf_init(&resp);
    mr_buf_init(&schema);
    bench_http_simple(fd, "DELETE", "/api/v1/table/bench_flight", "application/json", NULL, &resp);
    mr_buf_printf(&schema, "{\"key\":\"key\",\"columns\":{\"key\":{\"dtype\":\"utf8\",\"nullable\":false}");
    for (int c = 0; c < g_cols; c++)
        mr_buf_printf(&schema, ",\"col_%d\":{\"dtype\":\"float32\",\"nullable\":false}", c);
    mr_buf_append(&schema, "}}", 3);
    int st = bench_http_simple(fd, "PUT", "/api/v1/table/bench_flight", "application/json", (char *)schema.data, &resp);
    if (st != 201) {
        fprintf(stderr, "murr-flight: creating table bench_flight over HTTP port %d returned %d\n", port, st);
        exit(1);
    }
    close(fd);
    char dir[4096];
    if (g_murr_dir)
        snprintf(dir, sizeof(dir), "%s/bench_flight", g_murr_dir);
    bench_workload_t w = {.rows = g_rows, .batch = g_batch, .cols = g_cols, .keys = g_keys, .reads = g_reads};
    harness_flight_run(&w, grpc_port, pid, "bench_flight", g_murr_dir ? dir : NULL, res);
    mr_buf_deinit(&resp);
    mr_buf_deinit(&schema);
}

static void print_bytes_col(int64_t b)
{
    if (b < 0)
        printf(" - |");
    else
        printf(" %.1f |", (double)b / (1024.0 * 1024.0));
}

int main(int argc, char **argv)
{
    int murr_port = 0, murr_grpc_port = 0, murr_pid = 0, redis_port = 0, redis_pid = 0, pg_pid = 0;
    int peer_port[2] = {0, 0}, peer_pid[2] = {0, 0};
    const char *peer_dir[2] = {NULL, NULL};
    const char *backends = "murr,murr-flight,redis,pg,rocksdb", *pg_conninfo = NULL, *pg_data = NULL, *rocksdb_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--redis-keep-blob")) {
            g_redis_keep_blob = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_harness: flag %s needs a value\n", argv[i]);
            return 2;
        }
        const char *v = argv[++i], *f = argv[i - 1];
        if (!strcmp(f, "--rows")) g_rows = strtoull(v, NULL, 10);
        else if (!strcmp(f, "--cols")) g_cols = atoi(v);
        else if (!strcmp(f, "--keys")) g_keys = atoi(v);
        else if (!strcmp(f, "--reads")) g_reads = atoi(v);
        else if (!strcmp(f, "--batch")) g_batch = strtoull(v, NULL, 10);
        else if (!strcmp(f, "--backends")) backends = v;
        else if (!strcmp(f, "--murr-port")) murr_port = atoi(v);
        else if (!strcmp(f, "--murr-pid")) murr_pid = atoi(v);
        else if (!strcmp(f, "--murr-grpc-port")) murr_grpc_port = atoi(v);
        else if (!strcmp(f, "--murr-dir")) g_murr_dir = v;
        else if (!strcmp(f, "--redis-port")) redis_port = atoi(v);
        else if (!strcmp(f, "--redis-pid")) redis_pid = atoi(v);
        else if (!strcmp(f, "--pg-conninfo")) pg_conninfo = v;
        else if (!strcmp(f, "--pg-pid")) pg_pid = atoi(v);
        else if (!strcmp(f, "--pg-data")) pg_data = v;
        else if (!strcmp(f, "--rocksdb-dir")) rocksdb_dir = v;
        else if (!strcmp(f, "--murr021-port")) peer_port[0] = atoi(v);
        else if (!strcmp(f, "--murr021-pid")) peer_pid[0] = atoi(v);
        else if (!strcmp(f, "--murr021-dir")) peer_dir[0] = v;
        else if (!strcmp(f, "--murr031-port")) peer_port[1] = atoi(v);
        else if (!strcmp(f, "--murr031-pid")) peer_pid[1] = atoi(v);
        else if (!strcmp(f, "--murr031-dir")) peer_dir[1] = v;
        else { fprintf(stderr, "bench_harness: unknown flag %s\n", f); return 2; }
    }
    if (g_cols < 1 || g_cols > 60 || g_keys < 1 || g_reads < 1 || g_rows < 1 || g_batch < 1) {
        fprintf(stderr, "bench_harness: need --cols 1..60 (got %d), --keys >= 1 (got %d), --reads >= 1 (got %d), "
                "--rows >= 1 and --batch >= 1\n", g_cols, g_keys, g_reads);
        return 2;
    }
    bench_workload_t w = {.rows = g_rows, .batch = g_batch, .cols = g_cols, .keys = g_keys, .reads = g_reads};
    result_t res[11] = {{.name = "murr HTTP + Arrow IPC"}, {.name = "murr HTTP + JSON"}, {.name = "Redis blob (MGET)"},
                       {.name = "Redis hash (pipelined HMGET)"}, {.name = "PostgreSQL blob (BYTEA, = ANY)"},
                       {.name = "PostgreSQL columns (REAL, = ANY)"}, {.name = "RocksDB mmap (PlainTable, multi_get)"},
                       {.name = "RocksDB block (BlockBased + bloom, multi_get)"},
                       {.name = "murr Flight DoGet"}, {.name = "murr 0.2.1 (Rust) JSON keys -> Arrow"},
                       {.name = "murr 0.3.1 (Rust) Arrow keys -> Arrow"}};
    char notes[4][256] = {{0}};
    int64_t pg_dir_bytes = -1;
    if (murr_port && bench_list_has(backends, "murr"))
        bench_murr(murr_port, murr_pid, &res[0], &res[1]);
    if (bench_list_has(backends, "murr-flight")) {
        if (murr_port && murr_grpc_port)
            bench_flight(murr_port, murr_grpc_port, murr_pid, &res[8]);
        else
            snprintf(notes[2], sizeof(notes[2]), "murr Flight: skipped (needs --murr-port %d and --murr-grpc-port %d)",
                     murr_port, murr_grpc_port);
    }
    if (redis_port && bench_list_has(backends, "redis"))
        bench_redis(redis_port, redis_pid, &res[2], &res[3]);
    if (bench_list_has(backends, "pg")) {
#ifdef MURR_BENCH_PG
        if (pg_conninfo)
            pg_dir_bytes = harness_pg_run(&w, pg_conninfo, pg_pid, pg_data, &res[4], &res[5]);
        else
            snprintf(notes[0], sizeof(notes[0]), "PostgreSQL: skipped (no --pg-conninfo: no server was started)");
#else
        (void)pg_conninfo, (void)pg_data, (void)pg_pid;
        snprintf(notes[0], sizeof(notes[0]), "PostgreSQL: skipped (bench_harness was built without libpq-dev)");
#endif
    }
    if (bench_list_has(backends, "rocksdb")) {
#ifdef MURR_BENCH_ROCKSDB
        if (rocksdb_dir)
            harness_rocksdb_run(&w, rocksdb_dir, &res[6], &res[7]);
        else
            snprintf(notes[1], sizeof(notes[1]), "RocksDB: skipped (no --rocksdb-dir)");
#else
        (void)rocksdb_dir;
        snprintf(notes[1], sizeof(notes[1]), "RocksDB: skipped (bench_harness was built without librocksdb-dev)");
#endif
    }
    static const char *const peer_names[2] = {"murr-0.2.1", "murr-0.3.1"};
    for (int p = 0; p < 2; p++) {
        if (!bench_list_has(backends, peer_names[p]))
            continue;
        if (peer_port[p] == 0) {
            fprintf(stderr, "bench_harness: backend %s needs --murr0%d1-port\n", peer_names[p], p + 2);
            return 2;
        }
        harness_peer_run(&w, peer_names[p], p + 2, peer_port[p], peer_pid[p], peer_dir[p], &res[9 + p]);
    }
    printf("\n%llu rows x %d float32 columns, %d random keys per read, %d reads (closed loop, 1 connection)\n\n",
           (unsigned long long)g_rows, g_cols, g_keys, g_reads);
    printf("| backend | ingest rows/s | memory B/row | memory measured as | disk MiB | read p50 us | p99 us | p999 us "
           "| p50 vs Redis blob |\n");
    printf("|---|---:|---:|---|---:|---:|---:|---:|---:|\n");
    static const int order[11] = {0, 1, 8, 9, 10, 2, 3, 4, 5, 6, 7};
    for (int oi = 0; oi < 11; oi++) {
        int i = order[oi];
        if (!res[i].ran)
            continue;
        char ratio[32] = "-";
        if (res[2].ran)
            snprintf(ratio, sizeof(ratio), "%.2fx", res[2].p50 / res[i].p50);
        printf("| %s | %.0f | %.1f | %s |", res[i].name, res[i].ingest_rows_s,
               (double)res[i].mem_bytes / (double)g_rows, res[i].mem_what ? res[i].mem_what : "-");
        print_bytes_col(res[i].disk_bytes);
        printf(" %.1f | %.1f | %.1f | %s |\n", res[i].p50, res[i].p99, res[i].p999, ratio);
    }
    for (int p = 0; p < 2; p++)
        if (res[0].ran && res[9 + p].ran)
            printf("\nmurr HTTP + Arrow IPC vs %s: p50 %.2fx faster, p99 %.2fx (same run)\n", res[9 + p].name,
                   res[9 + p].p50 / res[0].p50, res[9 + p].p99 / res[0].p99);
    for (int i = 0; i < 4; i++)
        if (notes[i][0])
            printf("\n%s\n", notes[i]);
    if (pg_dir_bytes >= 0)
        printf("\nPostgreSQL data directory after both layouts (tables, indexes, WAL, catalogs): %.1f MiB\n",
               (double)pg_dir_bytes / (1024.0 * 1024.0));
    if (res[0].ran) {
        printf("\nmurr HTTP + Arrow IPC, %d keys x %d columns per request:\n\n", g_keys, g_cols);
        printf("| connections | requests/s |\n|---:|---:|\n| 1 | %.0f |\n| 2 | %.0f |\n| 8 | %.0f |\n| 32 | %.0f |\n",
               1e6 / res[0].p50, g_rps[0], g_rps[1], g_rps[2]);
        printf("\nfetch while another client uploads %llu rows in one Arrow request: p50 %.1f us, p99 %.1f us "
               "(%d fetches during the upload; idle p99 %.1f us)\n",
               (unsigned long long)(g_rows < 1000000 ? g_rows : 1000000), g_upload_p50, g_upload_p99, g_upload_reads,
               res[0].p99);
    }
    return 0;
}

/* The Flight backend: one translation unit with the harness, so the build needs no extra source. */
#include "harness_flight.c"
