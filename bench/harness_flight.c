/* harness_flight.c - murr over Arrow Flight with the benchmarks' Flight client
 * (flight_client.h). DoPut loads the table in --batch-row streams (first FlightData =
 * descriptor PATH [table] + schema, then record batches of at most 65,536 rows); DoGet reads
 * with a JSON ticket; every answer is decoded and every value checked. */
#include "flight_client.h"
#include "harness.h"

typedef struct check {
    const bench_workload_t *w;
    const uint64_t *krows;
    int read;
    int64_t row;
} check_t;

/* Checks every value of one batch of a DoGet answer against the rows it must hold. */
static void check_batch(void *arg, const mr_batch_t *b)
{
    check_t *k = arg;
    const bench_workload_t *w = k->w;
    if (b->num_columns != w->cols || k->row + b->num_rows > w->keys) {
        fprintf(stderr, "murr-flight: read %d: batch of %lld rows x %d columns after %lld rows, expected %d x %d\n",
                k->read, (long long)b->num_rows, b->num_columns, (long long)k->row, w->keys, w->cols);
        exit(1);
    }
    float vals[64];
    for (int64_t i = 0; i < b->num_rows; i++, k->row++) {
        for (int cc = 0; cc < w->cols; cc++) {
            const mr_column_t *col = &b->columns[cc];
            if (col->dtype != MURR_FLOAT32 || (col->validity && !mr_bit_get(col->validity, i))) {
                fprintf(stderr, "murr-flight: read %d: col_%d of key %llu is null or not float32\n", k->read, cc,
                        (unsigned long long)k->krows[k->row]);
                exit(1);
            }
            vals[cc] = ((const float *)col->values)[i];
        }
        if (!bench_check_row("murr-flight", k->krows[k->row], vals, w->cols))
            exit(1);
    }
}

/* Decodes a DoGet answer and checks every value of every row. */
static void check_answer(const bench_workload_t *w, const bench_fl_conn_t *c, const uint64_t *krows, int read)
{
    check_t k = {w, krows, read, 0};
    bench_fl_answer(c, "murr-flight DoGet", check_batch, &k);
    if (k.row != w->keys) {
        fprintf(stderr, "murr-flight: read %d: %lld rows in the answer, expected %d\n", read, (long long)k.row, w->keys);
        exit(1);
    }
}

void harness_flight_run(const bench_workload_t *w, int port, int pid, const char *table, const char *table_dir,
                        bench_result_t *res)
{
    bench_fl_conn_t c;
    bench_fl_connect(&c, port);
    mr_buf_t req;
    mr_buf_init(&req);
    uint64_t rss0 = bench_rss(pid), load_ns = 0;
    const int64_t slice = 65536;
    for (uint64_t first = 0; first < w->rows; first += w->batch) {
        int64_t n = (int64_t)(w->rows - first < w->batch ? w->rows - first : w->batch);
        mr_batch_t *b = bench_make_batch(first, n, w->cols);
        mr_arena_t a;
        mr_arena_init(&a, 4096);
        mr_error_t e = {0};
        mr_ipc_field_t *fields = mr_ipc_fields_of_batch(&a, b);
        mr_ipc_msg_t m;
        req.len = 0;
        if (fields == NULL || mr_ipc_encode_schema(&a, fields, (size_t)b->num_columns, NULL, 0, &m, &e) != 0) {
            fprintf(stderr, "murr-flight: encoding the schema of %d columns failed: %s\n", b->num_columns, e.message);
            exit(1);
        }
        bench_fl_put_flight_data(&req, table, &m);
        for (int64_t r = 0; r < n; r += slice) {
            int64_t k = n - r < slice ? n - r : slice;
            if (mr_ipc_encode_batch(&a, b, r, k, &m, &e) != 0) {
                fprintf(stderr, "murr-flight: encoding rows %lld..%lld failed: %s\n", (long long)(first + (uint64_t)r),
                        (long long)(first + (uint64_t)(r + k)), e.message);
                exit(1);
            }
            bench_fl_put_flight_data(&req, NULL, &m);
        }
        uint64_t t0 = bench_now_ns();
        bench_fl_call(&c, "DoPut", req.data, req.len);
        load_ns += bench_now_ns() - t0;
        mr_arena_deinit(&a);
        mr_batch_free(b);
    }
    res->ingest_rows_s = (double)w->rows / ((double)load_ns / 1e9);

    char *kbuf = malloc((size_t)w->keys * 24);
    uint64_t *krows = malloc(sizeof(uint64_t) * (size_t)w->keys);
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)w->reads);
    mr_buf_t json;
    mr_buf_init(&json);
    uint64_t seed = 21;
    int warm = w->reads / 10 + 10;
    for (int r = -warm; r < w->reads; r++) {
        bench_gen_keys(w, &seed, kbuf, krows);
        json.len = 0;
        mr_buf_printf(&json, "{\"table\":\"%s\",\"keys\":[", table);
        for (int k = 0; k < w->keys; k++)
            mr_buf_printf(&json, "%s\"%s\"", k ? "," : "", kbuf + 24 * k);
        mr_buf_append_cstr(&json, "],\"columns\":[");
        for (int cc = 0; cc < w->cols; cc++)
            mr_buf_printf(&json, "%s\"col_%d\"", cc ? "," : "", cc);
        mr_buf_append_cstr(&json, "]}");
        bench_fl_ticket(&req, (const char *)json.data, json.len);
        uint64_t t0 = bench_now_ns();
        bench_fl_call(&c, "DoGet", req.data, req.len);
        uint64_t dt = bench_now_ns() - t0;
        if (r >= 0)
            lat[r] = dt;
        check_answer(w, &c, krows, r);
    }
    bench_result_server(res, lat, (size_t)w->reads, pid, rss0, table_dir);
    bench_fl_close(&c);
    free(kbuf);
    free(krows);
    free(lat);
    mr_buf_deinit(&json);
    mr_buf_deinit(&req);
}
