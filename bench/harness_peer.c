/* harness_peer.c - the Rust murr servers (crates.io 0.2.1 and 0.3.1) as bench_harness peers:
 * the workload of every other backend (key = decimal row number, C float32 columns, K random
 * existing keys x all columns per read, one keep-alive connection, bench/http_client.c), each
 * peer with its best request form:
 *   0.2.1: form-2 schema (top-level "key"), fetch {"keys":[...],"columns":[...]} answered as
 *          an Arrow IPC stream, dense (one row per key);
 *   0.3.1: form-3 schema ("key": true on the column), fetch as an Arrow IPC stream of the key
 *          column with schema metadata "columns" (keys_workload.c builds it), answered as an
 *          Arrow stream, sparse (`_idx` + columns).
 * Both load through PUT /api/v1/table/bench/write with Arrow IPC bodies of w->batch rows.
 * Every value of every answer is checked (bench_check_row), and a sparse answer's `_idx`
 * must list 0..K-1 in order (every key exists); a wrong answer or a non-2xx status exits
 * non-zero naming the peer, the key and the column. The peer's process is started and
 * stopped by bench/run.sh. */
#include <unistd.h>

#include "format/arrow_ipc.h"
#include "harness.h"
#include "http_client.h"
#include "keys_workload.h"

static _Noreturn void peer_fail(const char *peer, const char *what, int status, const mr_buf_t *resp, size_t off,
                                size_t len)
{
    fprintf(stderr, "%s: %s answered %d: %.*s\n", peer, what, status, (int)(len < 300 ? len : 300),
            (const char *)resp->data + off);
    exit(1);
}

/* The table's schema in the peer's generation (2: top-level key; 3: key flag). */
static void peer_schema(const bench_workload_t *w, int gen, mr_buf_t *s)
{
    if (gen == 2)
        mr_buf_printf(s, "{\"key\":\"key\",\"columns\":{\"key\":{\"dtype\":\"utf8\",\"nullable\":false}");
    else
        mr_buf_printf(s, "{\"columns\":{\"key\":{\"dtype\":\"utf8\",\"nullable\":false,\"key\":true}");
    for (int c = 0; c < w->cols; c++)
        mr_buf_printf(s, ",\"col_%d\":{\"dtype\":\"float32\",\"nullable\":false}", c);
    mr_buf_append(s, "}}", 3); /* with the NUL: bench_http_simple takes a C string */
}

/* The fetch body for rows[0, K): 0.2 key list (JSON) or an Arrow IPC key stream. The Arrow
 * key batch of keys_workload.c names its column "id"; ours is "key", so it is renamed. */
static void peer_request(const bench_kw_t *kw, int gen, const uint64_t *rows, mr_buf_t *body, const char **ctype)
{
    body->len = 0;
    if (gen == 2) {
        bench_kw_request_body(kw, BENCH_KW_UTF8, BENCH_KW_LIST, rows, body);
        *ctype = "application/json";
    } else {
        bench_kw_arrow_request(kw, BENCH_KW_UTF8, "key", rows, body);
        *ctype = MR_IPC_CONTENT_TYPE;
    }
}

/* Checks the whole Arrow answer for rows[0, K) (dense for gen 2, sparse for gen 3). */
static void peer_check(const char *peer, const bench_workload_t *w, int gen, const uint64_t *rows,
                       const uint8_t *data, size_t len)
{
    mr_ipc_reader_t *rd = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
    mr_error_t e = {0};
    int lead = gen == 3 ? 1 : 0;
    int64_t seen = 0;
    if (mr_ipc_reader_borrow(rd, data, len, &e) != 0) {
        fprintf(stderr, "%s: Arrow answer of %zu bytes refused: %s\n", peer, len, e.message);
        exit(1);
    }
    for (;;) {
        mr_batch_t *b = NULL;
        if (mr_ipc_reader_next(rd, &b, &e) != 0) {
            fprintf(stderr, "%s: Arrow answer of %zu bytes: %s\n", peer, len, e.message);
            exit(1);
        }
        if (b == NULL)
            break;
        if (b->num_columns != w->cols + lead || seen + b->num_rows > w->keys ||
            (lead && (b->columns[0].dtype != MURR_UINT32 || b->columns[0].null_count != 0))) {
            fprintf(stderr, "%s: answer batch of %d columns x %lld rows after %lld (want %d columns%s, %d rows)\n", peer,
                    b->num_columns, (long long)b->num_rows, (long long)seen, w->cols + lead,
                    lead ? " led by a non-null uint32 _idx" : "", w->keys);
            exit(1);
        }
        for (int64_t r = 0; r < b->num_rows; r++) {
            int64_t pos = seen + r;
            if (lead && ((const uint32_t *)b->columns[0].values)[r] != (uint32_t)pos) {
                fprintf(stderr, "%s: answer row %lld has _idx %u, want %lld (every key exists)\n", peer,
                        (long long)pos, ((const uint32_t *)b->columns[0].values)[r], (long long)pos);
                exit(1);
            }
            float vals[64];
            for (int c = 0; c < w->cols; c++) {
                const mr_column_t *col = &b->columns[c + lead];
                if (col->dtype != MURR_FLOAT32 || !murr_column_is_valid(col, r)) {
                    fprintf(stderr, "%s: key %llu column %d: not a valid float32 (dtype %d)\n", peer,
                            (unsigned long long)rows[pos], c, col->dtype);
                    exit(1);
                }
                vals[c] = ((const float *)col->values)[r];
            }
            if (!bench_check_row(peer, rows[pos], vals, w->cols))
                exit(1);
        }
        seen += b->num_rows;
        mr_batch_free(b);
    }
    mr_ipc_reader_free(rd);
    if (seen != w->keys) {
        fprintf(stderr, "%s: %lld rows answered for %d existing keys\n", peer, (long long)seen, w->keys);
        exit(1);
    }
}

void harness_peer_run(const bench_workload_t *w, const char *peer, int gen, int port, int pid, const char *dir,
                      bench_result_t *res)
{
    int fd = bench_http_connect(port);
    mr_buf_t resp, s;
    mr_buf_init(&resp);
    mr_buf_init(&s);
    peer_schema(w, gen, &s);
    int st = bench_http_simple(fd, "PUT", "/api/v1/table/bench", "application/json", (char *)s.data, &resp);
    if (st != 201)
        peer_fail(peer, "PUT /api/v1/table/bench", st, &resp, 0, resp.len);
    mr_buf_deinit(&s);
    uint64_t rss0 = bench_rss(pid), load_ns = 0;
    for (uint64_t first = 0; first < w->rows; first += w->batch) {
        int64_t n = (int64_t)(w->rows - first < w->batch ? w->rows - first : w->batch);
        mr_batch_t *b = bench_make_batch(first, n, w->cols);
        size_t o, l;
        uint64_t dt;
        st = bench_http_send_arrow(fd, "PUT", "/api/v1/table/bench/write", b, &resp, &o, &l, &dt);
        if (st != 200)
            peer_fail(peer, "PUT /api/v1/table/bench/write", st, &resp, o, l);
        load_ns += dt;
        mr_batch_free(b);
    }
    res->ingest_rows_s = (double)w->rows / ((double)load_ns / 1e9);
    bench_kw_t kw;
    bench_kw_init(&kw, w->rows, w->cols, w->keys);
    uint64_t *rows = malloc(sizeof(uint64_t) * (size_t)w->keys), *lat = malloc(sizeof(uint64_t) * (size_t)w->reads);
    uint64_t seed = 7;
    mr_buf_t body;
    mr_buf_init(&body);
    for (int r = -(w->reads / 10 + 10); r < w->reads; r++) {
        bench_kw_gen_rows(&kw, &seed, -1, rows);
        const char *ctype;
        peer_request(&kw, gen, rows, &body, &ctype);
        char hdr[256];
        int hl = snprintf(hdr, sizeof(hdr), "POST /api/v1/table/bench/fetch HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
                          "Accept: %s\r\nContent-Length: %zu\r\n\r\n", ctype, MR_IPC_CONTENT_TYPE, body.len);
        struct iovec iov[2] = {{hdr, (size_t)hl}, {body.data, body.len}};
        size_t o, l;
        uint64_t t0 = bench_now_ns();
        bench_http_send_all(fd, iov, 2);
        st = bench_http_read_response(fd, &resp, &o, &l);
        uint64_t dt = bench_now_ns() - t0;
        if (st != 200)
            peer_fail(peer, "POST /api/v1/table/bench/fetch", st, &resp, o, l);
        peer_check(peer, w, gen, rows, resp.data + o, l);
        if (r >= 0)
            lat[r] = dt;
    }
    bench_result_server(res, lat, (size_t)w->reads, pid, rss0, dir);
    mr_buf_deinit(&body);
    mr_buf_deinit(&resp);
    free(rows);
    free(lat);
    close(fd);
}
