/* bench_json_answer - the two encodings of a fetch answer in process: the JSON text
 * (mr_json_write_batch) next to the Arrow IPC stream (mr_ipc_write_stream), and the float32
 * printer alone (mr_fmt_f32). The answer is K rows x C float32 columns of uniform random
 * values in [0, 1) (nine significant digits for most, the common case of model features),
 * plus the utf8 key column. R answers of each after R/10 warm-up, interleaved; p50/p99 us.
 * Usage: bench_json_answer [--keys K] [--cols C] [--reads R] */
#include "bench_common.h"
#include "format/arrow_ipc.h"
#include "format/json.h"

int main(int argc, char **argv)
{
    int64_t keys = 1000;
    int cols = 10, reads = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--keys"))
            keys = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--cols"))
            cols = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reads"))
            reads = atoi(argv[i + 1]);
    }
    if (keys < 1 || cols < 1 || reads < 1) {
        fprintf(stderr, "usage: bench_json_answer [--keys K>0] [--cols C>0] [--reads R>0]\n");
        return 2;
    }
    mr_batch_t *b = bench_make_batch(1, keys, cols);
    uint64_t rng = 42;
    for (int c = 1; c <= cols; c++) {
        float *v = b->columns[c].values;
        for (int64_t i = 0; i < keys; i++)
            v[i] = (float)(bench_rng(&rng) >> 40) / 16777216.0f;
    }
    uint64_t *tj = calloc((size_t)reads, 8), *ta = calloc((size_t)reads, 8), *tf = calloc((size_t)reads, 8);
    size_t json_len = 0, ipc_len = 0;
    char fbuf[MR_FMT_FLOAT_MAX];
    volatile size_t sink = 0;
    for (int it = -(reads / 10); it < reads; it++) {
        mr_error_t e = {0};
        mr_buf_t out;
        mr_buf_init(&out);
        uint64_t t0 = bench_now_ns();
        if (mr_json_write_batch(&out, b, &e) != 0) {
            fprintf(stderr, "mr_json_write_batch: %s\n", e.message);
            return 1;
        }
        uint64_t t1 = bench_now_ns();
        json_len = out.len;
        mr_buf_deinit(&out);
        mr_arena_t a;
        mr_arena_init(&a, 64 * 1024);
        struct iovec *iov;
        int iovcnt;
        uint64_t t2 = bench_now_ns();
        if (mr_ipc_write_stream(&a, b, NULL, 0, &iov, &iovcnt, &ipc_len, &e) != 0) {
            fprintf(stderr, "mr_ipc_write_stream: %s\n", e.message);
            return 1;
        }
        uint64_t t3 = bench_now_ns();
        mr_arena_deinit(&a);
        const float *v = b->columns[1 + (it + reads) % cols].values;
        uint64_t t4 = bench_now_ns();
        for (int64_t i = 0; i < keys; i++)
            sink += mr_fmt_f32(v[i], fbuf);
        uint64_t t5 = bench_now_ns();
        if (it >= 0) {
            tj[it] = t1 - t0;
            ta[it] = t3 - t2;
            tf[it] = (t5 - t4) / (uint64_t)keys;
        }
    }
    printf("%lld rows x %d float32 (+ utf8 key), %d answers: JSON %zu bytes, Arrow IPC %zu bytes\n",
           (long long)keys, cols, reads, json_len, ipc_len);
    printf("| encoding | p50 us | p99 us |\n|---|---:|---:|\n");
    printf("| JSON (mr_json_write_batch) | %.1f | %.1f |\n", bench_pct_us(tj, (size_t)reads, 0.5),
           bench_pct_us(tj, (size_t)reads, 0.99));
    printf("| Arrow IPC (mr_ipc_write_stream) | %.1f | %.1f |\n", bench_pct_us(ta, (size_t)reads, 0.5),
           bench_pct_us(ta, (size_t)reads, 0.99));
    printf("mr_fmt_f32: p50 %.1f ns a value\n", bench_pct_us(tf, (size_t)reads, 0.5) * 1000.0);
    free(tj);
    free(ta);
    free(tf);
    mr_batch_free(b);
    return 0;
}
