/* bench_parquet - Parquet decode speed: for each file given, opens it and decodes every row
 * group (best of 3 runs), printing rows/s and MB/s of file. Files come from
 * bench/parquet.sh (pyarrow, one per encoding / codec). Usage: bench_parquet FILE... */
#include "bench_common.h"
#include "core/alloc.h"
#include "core/fs.h"
#include "core/budget.h"
#include "format/parquet.h"

int main(int argc, char **argv)
{
    printf("| file | rows | MB | best decode ms | rows/s | MB/s |\n|---|---:|---:|---:|---:|---:|\n");
    for (int i = 1; i < argc; i++) {
        uint8_t *data;
        size_t len;
        mr_error_t e = {0};
        if (mr_fs_read_all(argv[i], &data, &len, &e) != 0) {
            fprintf(stderr, "%s\n", e.message);
            return 1;
        }
        uint64_t best = UINT64_MAX;
        int64_t rows = 0;
        for (int rep = 0; rep < 3; rep++) {
            uint64_t t0 = bench_now_ns();
            mr_pq_file_t *f;
            mr_budget_t budget; /* as an HTTP write at the default limit */
            mr_budget_init(&budget, (uint64_t)1 << 30, "server.http.max_payload_size");
            if (mr_pq_open(data, len, &budget, &f, &e) != 0) {
                fprintf(stderr, "%s: %s\n", argv[i], e.message);
                return 1;
            }
            rows = 0;
            for (int g = 0; g < mr_pq_num_row_groups(f); g++) {
                mr_batch_t *b;
                if (mr_pq_read_row_group(f, g, &b, &e) != 0) {
                    fprintf(stderr, "%s: %s\n", argv[i], e.message);
                    return 1;
                }
                rows += b->num_rows;
                mr_batch_free(b);
            }
            mr_pq_close(f);
            uint64_t dt = bench_now_ns() - t0;
            if (dt < best)
                best = dt;
        }
        const char *name = strrchr(argv[i], '/');
        printf("| %s | %lld | %.1f | %.1f | %.0f | %.0f |\n", name ? name + 1 : argv[i], (long long)rows, (double)len / 1e6,
               (double)best / 1e6, (double)rows / ((double)best / 1e9), (double)len / 1e6 / ((double)best / 1e9));
        mr_free(data);
    }
    return 0;
}
