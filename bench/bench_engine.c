/* bench_engine - libmurr in process: ingest rows/s, read latency of K random existing keys x
 * all C float32 columns (keys generated outside the timed region), memory per row, reopen
 * time. Usage: bench_engine [--rows N] [--cols C] [--keys K] [--reads R] [--batch B]
 *                           [--dir PATH] [--sync 0|1] [--keep 0|1]
 *                           [--reuse 0|1]
 * --keep 1 leaves the loaded directory in place (bench/restart.sh times opens of it);
 * --reuse 1 opens such a directory (--rows must match its load) and skips the load: reads,
 * RSS and reopen of an existing table (bench/scale.sh runs it under a memory cap). */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "bench_common.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/schema.h"

typedef struct bulk_arg {
    murr_db *db;
    uint64_t rows;
    int cols;
    _Atomic bool done;
} bulk_arg_t;

/* Writes `rows` rows to table "bulk" in one request (the concurrent bulk load). */
static void *bulk_writer(void *p)
{
    bulk_arg_t *a = p;
    mr_batch_t *b = bench_make_batch(0, (int64_t)a->rows, a->cols);
    murr_error e = {0};
    if (murr_write(a->db, "bulk", b, &e) != 0)
        fprintf(stderr, "bulk write failed: %s\n", e.message);
    mr_batch_free(b);
    atomic_store(&a->done, true);
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t rows = 10000000, batch = 1000000;
    int cols = 10, keys = 1000, reads = 5000, sync = 1, keep = 0, reuse = 0;
    const char *dir = "/tmp/murr-bench-engine";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows")) rows = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--cols")) cols = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--keys")) keys = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reads")) reads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--sync")) sync = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--keep")) keep = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reuse")) reuse = atoi(argv[i + 1]);
        else { fprintf(stderr, "unknown flag %s\n", argv[i]); return 2; }
    }
    mr_log_set_level(MR_LOG_WARN);
    if (!reuse)
        mr_fs_remove_tree(dir, NULL);
    murr_options o;
    murr_options_default(&o);
    o.sync_writes = sync != 0;
    murr_db *db;
    murr_error e = {0};
    if (murr_open(dir, &o, &db, &e) != 0) { fprintf(stderr, "%s\n", e.message); return 1; }
    /* schema: key + col_i float32 non-null */
    murr_schema s = {.num_columns = cols + 1, .key_index = 0, .num_keys = 1, .form = MURR_SCHEMA_FORM2};
    s.columns = calloc((size_t)cols + 1, sizeof(murr_column_schema));
    s.columns[0] = (murr_column_schema){"key", 3, MURR_UTF8, false, true, true, 0};
    for (int c = 0; c < cols; c++) {
        char *n = malloc(16);
        snprintf(n, 16, "col_%d", c);
        s.columns[c + 1] = (murr_column_schema){n, strlen(n), MURR_FLOAT32, false, true, false, 0};
    }
    if (!reuse && murr_create_table(db, "bench", &s, &e) != 0) { fprintf(stderr, "%s\n", e.message); return 1; }
    uint64_t rss0 = reuse ? 0 : bench_rss(0), write_ns = 0;
    for (uint64_t first = 0; !reuse && first < rows; first += batch) {
        int64_t n = (int64_t)(rows - first < batch ? rows - first : batch);
        mr_batch_t *b = bench_make_batch(first, n, cols);
        uint64_t t0 = bench_now_ns();
        if (murr_write(db, "bench", b, &e) != 0) { fprintf(stderr, "%s\n", e.message); return 1; }
        write_ns += bench_now_ns() - t0;
        mr_batch_free(b);
    }
    /* touch every record once so RSS counts the mapped pages (all pages touched) */
    uint64_t rss1 = bench_rss(0);
    murr_table_stats st;
    murr_table_stats_get(db, "bench", &st, &e);
    /* reads */
    const char **kp = malloc(sizeof(char *) * (size_t)keys);
    size_t *kl = malloc(sizeof(size_t) * (size_t)keys);
    char *kbuf = malloc((size_t)keys * 24);
    const char **cn = malloc(sizeof(char *) * (size_t)cols);
    for (int c = 0; c < cols; c++)
        cn[c] = s.columns[c + 1].name;
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)reads);
    uint64_t seed = 42;
    int warm = reads / 10 + 10;
    double checksum = 0;
    for (int r = -warm; r < reads; r++) {
        for (int k = 0; k < keys; k++) {
            uint64_t row = bench_rng(&seed) % rows;
            kl[k] = (size_t)snprintf(kbuf + 24 * k, 24, "%llu", (unsigned long long)row);
            kp[k] = kbuf + 24 * k;
        }
        murr_batch *out;
        uint64_t t0 = bench_now_ns();
        if (murr_read(db, "bench", kp, kl, (size_t)keys, cn, (size_t)cols, &out, &e) != 0) {
            fprintf(stderr, "%s\n", e.message);
            return 1;
        }
        uint64_t dt = bench_now_ns() - t0;
        if (r >= 0)
            lat[r] = dt;
        /* verify one value per read: a wrong answer fails the benchmark */
        float want = bench_value(strtoull(kp[0], NULL, 10), cols - 1);
        float got = ((float *)out->columns[cols - 1].values)[0];
        if (got != want) { fprintf(stderr, "wrong value for key %s: %g != %g\n", kp[0], got, want); return 1; }
        checksum += got;
        murr_batch_free(out);
    }
    double read_p50 = bench_pct_us(lat, (size_t)reads, 0.5), read_p99 = bench_pct_us(lat, (size_t)reads, 0.99),
           read_p999 = bench_pct_us(lat, (size_t)reads, 0.999);
    uint64_t rss2 = bench_rss(0);
    /* reads while a bulk write of 1M rows to another table runs */
    double p50_busy = 0, p99_busy = 0;
    int busy_reads = 0;
    if (murr_create_table(db, "bulk", &s, &e) == 0) {
        bulk_arg_t ba = {.db = db, .rows = rows < 1000000 ? rows : 1000000, .cols = cols};
        pthread_t th;
        pthread_create(&th, NULL, bulk_writer, &ba);
        while (!atomic_load(&ba.done) && busy_reads < reads) {
            for (int k = 0; k < keys; k++) {
                uint64_t row = bench_rng(&seed) % rows;
                kl[k] = (size_t)snprintf(kbuf + 24 * k, 24, "%llu", (unsigned long long)row);
                kp[k] = kbuf + 24 * k;
            }
            murr_batch *out;
            uint64_t t0 = bench_now_ns();
            if (murr_read(db, "bench", kp, kl, (size_t)keys, cn, (size_t)cols, &out, &e) != 0)
                return 1;
            lat[busy_reads++] = bench_now_ns() - t0;
            murr_batch_free(out);
        }
        pthread_join(th, NULL);
        if (busy_reads > 0) {
            p50_busy = bench_pct_us(lat, (size_t)busy_reads, 0.5);
            p99_busy = bench_pct_us(lat, (size_t)busy_reads, 0.99);
        }
    }
    murr_close(db);
    uint64_t t0 = bench_now_ns();
    if (murr_open(dir, &o, &db, &e) != 0) { fprintf(stderr, "%s\n", e.message); return 1; }
    double reopen_ms = (double)(bench_now_ns() - t0) / 1e6;
    murr_close(db);
    printf("| rows | batch | keys/read | ingest rows/s | read p50 us | p99 us | p999 us | p50/p99 us during 1M-row bulk write (%d reads) | RSS/row after load B | RSS/row after reads B | keydir B/row | data B/row | reopen ms |\n", busy_reads);
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    printf("| %llu | %llu | %d | %.0f | %.1f | %.1f | %.1f | %.1f / %.1f | %.1f | %.1f | %.1f | %.1f | %.0f |\n",
           (unsigned long long)rows, (unsigned long long)batch, keys, (double)rows / ((double)write_ns / 1e9),
           read_p50, read_p99, read_p999, p50_busy, p99_busy, (double)(rss1 - rss0) / (double)rows,
           (double)(rss2 - rss0) / (double)rows, (double)st.keydir_bytes / (double)rows,
           (double)st.live_bytes / (double)rows, reopen_ms);
    fprintf(stderr, "checksum %g\n", checksum);
    if (!keep)
        mr_fs_remove_tree(dir, NULL);
    return 0;
}
