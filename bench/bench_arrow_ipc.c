/* bench_arrow_ipc - Arrow IPC codec speed: decode of a 1M-row x 10 float32 stream (GB/s of
 * stream bytes; the reader copies the body once, then points columns into it) and the cost
 * of encoding a 1,000 x 10 answer (schema + batch metadata + framing; bodies are iovecs
 * into the batch, never copied). Usage: bench_arrow_ipc [--rows N] [--cols C] [--iters I] */
#include "bench_common.h"
#include "format/arrow_ipc.h"

static mr_buf_t encode_to_buf(const mr_batch_t *b)
{
    mr_arena_t a;
    mr_arena_init(&a, 4096);
    struct iovec *iov;
    int n;
    size_t total;
    mr_error_t e = {0};
    mr_ipc_write_stream(&a, b, NULL, 0, &iov, &n, &total, &e);
    mr_buf_t out;
    mr_buf_init(&out);
    for (int i = 0; i < n; i++)
        mr_buf_append(&out, iov[i].iov_base, iov[i].iov_len);
    mr_arena_deinit(&a);
    return out;
}

int main(int argc, char **argv)
{
    int64_t rows = 1000000;
    int cols = 10, iters = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows")) rows = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--cols")) cols = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--iters")) iters = atoi(argv[i + 1]);
    }
    mr_batch_t *big = bench_make_batch(0, rows, cols);
    mr_buf_t stream = encode_to_buf(big);
    uint64_t best = UINT64_MAX, best_feed = UINT64_MAX;
    for (int it = 0; it < 2 * iters; it++) {
        bool borrow = it < iters;
        uint64_t t0 = bench_now_ns();
        mr_ipc_reader_t *r = mr_ipc_reader_new(0, UINT64_MAX, "no limit");
        mr_error_t e = {0};
        if (borrow)
            mr_ipc_reader_borrow(r, stream.data, stream.len, &e);
        else
            mr_ipc_reader_feed(r, stream.data, stream.len, &e);
        mr_batch_t *b = NULL;
        if (mr_ipc_reader_next(r, &b, &e) != 0 || b == NULL || b->num_rows != rows) {
            fprintf(stderr, "decode failed: %s\n", e.message);
            return 1;
        }
        uint64_t dt = bench_now_ns() - t0;
        if (((float *)b->columns[cols].values)[rows - 1] != bench_value((uint64_t)rows - 1, cols - 1)) {
            fprintf(stderr, "wrong value\n");
            return 1;
        }
        mr_batch_free(b);
        mr_ipc_reader_free(r);
        uint64_t *slot = borrow ? &best : &best_feed;
        if (dt < *slot)
            *slot = dt;
    }
    /* the floor: one memcpy of the same bytes */
    uint8_t *dst = malloc(stream.len);
    uint64_t best_copy = UINT64_MAX;
    for (int it = 0; it < iters; it++) {
        uint64_t t0 = bench_now_ns();
        memcpy(dst, stream.data, stream.len);
        __asm__ volatile("" : : "r"(dst) : "memory"); /* keep the copy */
        uint64_t dt = bench_now_ns() - t0;
        if (dt < best_copy)
            best_copy = dt;
    }
    free(dst);
    mr_batch_t *small = bench_make_batch(0, 1000, cols);
    const int n_enc = 200000;
    mr_arena_t a;
    mr_arena_init(&a, 1 << 16);
    uint64_t t0 = bench_now_ns();
    size_t sink = 0;
    for (int i = 0; i < n_enc; i++) {
        struct iovec *iov;
        int n;
        size_t total;
        mr_error_t e = {0};
        mr_ipc_write_stream(&a, small, NULL, 0, &iov, &n, &total, &e);
        sink += total;
        mr_arena_reset(&a);
    }
    double enc_ns = (double)(bench_now_ns() - t0) / n_enc;
    mr_ipc_field_t *fields = mr_ipc_fields_of_batch(&a, small);
    t0 = bench_now_ns();
    for (int i = 0; i < n_enc; i++) {
        mr_ipc_msg_t m;
        mr_error_t e = {0};
        mr_ipc_encode_schema(&a, fields, (size_t)small->num_columns, NULL, 0, &m, &e);
        sink += m.meta_len;
    }
    double schema_ns = (double)(bench_now_ns() - t0) / n_enc;
    mr_arena_reset(&a);
    t0 = bench_now_ns();
    for (int i = 0; i < n_enc; i++) {
        mr_ipc_msg_t m;
        mr_error_t e = {0};
        mr_ipc_encode_batch(&a, small, 0, small->num_rows, &m, &e);
        sink += m.meta_len;
        if ((i & 1023) == 0)
            mr_arena_reset(&a);
    }
    double batch_ns = (double)(bench_now_ns() - t0) / n_enc;
    printf("| what | result |\n|---|---:|\n");
    printf("| decode %lld rows x %d float32 (+ utf8 key), %.1f MB stream, borrowed input (HTTP path) | %.2f ms, %.2f GB/s |\n",
           (long long)rows, cols, (double)stream.len / 1e6, (double)best / 1e6, (double)stream.len / (double)best);
    printf("| same, incremental feed (input copied, body copied once) | %.2f ms, %.2f GB/s |\n", (double)best_feed / 1e6,
           (double)stream.len / (double)best_feed);
    printf("| memcpy of the same bytes (floor) | %.2f ms, %.2f GB/s |\n", (double)best_copy / 1e6,
           (double)stream.len / (double)best_copy);
    printf("| encode 1,000 x %d answer (schema + batch metadata + framing) | %.0f ns |\n", cols, enc_ns);
    printf("| of which: schema message | %.0f ns |\n", schema_ns);
    printf("| of which: record batch message | %.0f ns |\n", batch_ns);
    fprintf(stderr, "sink %zu\n", sink);
    return 0;
}
