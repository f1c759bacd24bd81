/* harness.h - what bench_harness's backends share: the workload parameters, one result row
 * per backend, key generation and answer checks. The murr and Redis backends live in
 * bench_harness.c; PostgreSQL (libpq) in harness_pg.c and RocksDB (embedded C API) in
 * harness_rocksdb.c, each compiled only where its library is installed (CMakeLists.txt). */
#ifndef MR_BENCH_HARNESS_H
#define MR_BENCH_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_common.h"

typedef struct bench_workload {
    uint64_t rows;   /* N: key of row i = decimal string of i */
    uint64_t batch;  /* rows per write request / COPY / WriteBatch */
    int cols;        /* float32 columns col_0.. */
    int keys;        /* keys per read */
    int reads;       /* timed reads (a warm-up of reads/10 + 10 precedes them) */
} bench_workload_t;

typedef struct bench_result {
    const char *name;
    double ingest_rows_s;
    uint64_t mem_bytes;      /* RSS (or PSS) delta of the process(es) that hold the data */
    const char *mem_what;    /* short note printed in the memory column, NULL for plain */
    int64_t disk_bytes;      /* bytes on disk of the data directory, -1 = not applicable */
    double p50, p99, p999;   /* read latency, microseconds */
    bool ran;
} bench_result_t;

/* Keys for one read: rows_out[k] uniform in [0, rows), kbuf + 24*k its decimal string. */
static inline void bench_gen_keys(const bench_workload_t *w, uint64_t *seed, char *kbuf, uint64_t *rows_out)
{
    for (int k = 0; k < w->keys; k++) {
        rows_out[k] = bench_rng(seed) % w->rows;
        snprintf(kbuf + 24 * k, 24, "%llu", (unsigned long long)rows_out[k]);
    }
}

/* Number of distinct rows among the read's keys (sorts a copy into scratch). Backends that
 * answer a set (SQL `= ANY`) return one row per distinct key. */
static inline int bench_distinct(const bench_workload_t *w, const uint64_t *krows, uint64_t *scratch)
{
    memcpy(scratch, krows, sizeof(uint64_t) * (size_t)w->keys);
    qsort(scratch, (size_t)w->keys, sizeof(uint64_t), bench_cmp_u64);
    int n = 0;
    for (int k = 0; k < w->keys; k++)
        if (k == 0 || scratch[k] != scratch[k - 1])
            n++;
    return n;
}

/* Checks one row's values (packed little-endian float32) against the workload; prints the
 * backend, key, column, expected and actual value and returns false on a mismatch. */
static inline bool bench_check_row(const char *backend, uint64_t row, const float *vals, int cols)
{
    for (int c = 0; c < cols; c++) {
        float want = bench_value(row, c);
        if (vals[c] != want) {
            fprintf(stderr, "%s: wrong answer for key %llu col_%d: expected %.9g, got %.9g\n", backend,
                    (unsigned long long)row, c, (double)want, (double)vals[c]);
            return false;
        }
    }
    return true;
}

/* Fills res's latency percentiles from lat[0, n) (ns). */
static inline void bench_result_latency(bench_result_t *res, uint64_t *lat, size_t n)
{
    res->p50 = bench_pct_us(lat, n, 0.5);
    res->p99 = bench_pct_us(lat, n, 0.99);
    res->p999 = bench_pct_us(lat, n, 0.999);
}

/* Bytes allocated on disk under dir (du: st_blocks x 512, every file once), -1 if unreadable. */
int64_t bench_du(const char *dir);

/* Completes the row of a server backend after its timed reads lat[0, n): percentiles,
 * memory = RSS of pid now minus rss0 (before the load), disk = du of dir (NULL: -1). */
static inline void bench_result_server(bench_result_t *res, uint64_t *lat, size_t n, int pid, uint64_t rss0,
                                       const char *dir)
{
    bench_result_latency(res, lat, n);
    uint64_t rss1 = bench_rss(pid);
    res->mem_bytes = rss1 > rss0 ? rss1 - rss0 : 0;
    res->mem_what = "server RSS";
    res->disk_bytes = dir ? bench_du(dir) : -1;
    res->ran = true;
}


/* PostgreSQL: loads tables bench_blob (key TEXT PRIMARY KEY, value BYTEA) and bench_cols
 * (key TEXT PRIMARY KEY, col_i REAL) with COPY BINARY in batches, then reads with
 * `WHERE key = ANY($1)`, binary results. conninfo: libpq connection string; postmaster_pid:
 * memory = PSS delta of the postmaster and its children; disk = pg_total_relation_size of
 * each table (heap + index). Returns du of data_dir (both tables, WAL, catalogs; -1 if
 * data_dir is NULL or unreadable). Exits non-zero on a failure or a wrong answer. */
int64_t harness_pg_run(const bench_workload_t *w, const char *conninfo, int postmaster_pid, const char *data_dir,
                       bench_result_t *blob, bench_result_t *cols);

/* RocksDB embedded: profile `mmap` (PlainTable, mmap reads) and `block` (BlockBasedTable +
 * bloom filter), each in its own directory under dir; memory = this process's RSS delta. */
void harness_rocksdb_run(const bench_workload_t *w, const char *dir, bench_result_t *mmap_res,
                         bench_result_t *block_res);

/* murr over Arrow Flight (harness_flight.c; CMake compiles bench_harness.c only, which
 * includes it): loads the existing table `table` through DoPut streams of w->batch rows,
 * then w->reads DoGet reads on one h2c connection to 127.0.0.1:port, every value checked.
 * ingest = DoPut rows/s; memory = server (pid) RSS delta across load and reads; disk = du of
 * table_dir (NULL: -1). Exits non-zero naming the RPC, grpc-status and message on a failure. */
void harness_flight_run(const bench_workload_t *w, int port, int pid, const char *table, const char *table_dir,
                        bench_result_t *res);

/* A Rust murr server (crates.io) on 127.0.0.1:port, generation gen = 2 (0.2.1) or 3 (0.3.1),
 * named `peer` in messages (harness_peer.c): creates table bench, loads it, reads with the
 * generation's best request form, every value checked. memory = server (pid) RSS delta;
 * disk = du of dir (NULL: -1). Exits non-zero on a failure or a wrong answer. */
void harness_peer_run(const bench_workload_t *w, const char *peer, int gen, int port, int pid, const char *dir,
                      bench_result_t *res);

#endif
