/* harness_rocksdb.c - bench_harness's RocksDB backend, embedded through the C API, with the
 * two storage profiles of the reference system (spec section 3.5):
 *   mmap:  PlainTable (variable-length keys, bloom 16 bits/key, hash ratio 0.75, index
 *          sparseness 4), no-op prefix extractor, vector memtable, mmap reads;
 *   block: BlockBasedTable, 512-byte blocks, full bloom filter 10 bits/key, binary+hash data
 *          block index (ratio 0.75), RocksDB's default block cache, mmap reads.
 * Both: 256 MiB write buffer, 1 GiB target file size, value = the row's C float32 packed
 * little-endian. Load: one WriteBatch of w->batch rows (WAL on, no fsync: RocksDB's default
 * WriteOptions), a synchronous memtable flush after each batch, a full compaction at the end
 * (the reference's write path and flush step), all inside the ingest time. Read: one
 * rocksdb_multi_get of the w->keys keys (answers in request order; every value checked).
 * Memory = this process's RSS delta across open, load and reads (the mapped SST pages that
 * reads touched count; the load's transient buffers are freed before the reads). */
#include <rocksdb/c.h>

#include "bench_common.h"
#include "harness.h"

static void rocks_check(char *err, const char *what, const char *dir)
{
    if (err != NULL) {
        fprintf(stderr, "rocksdb: %s in %s failed: %s\n", what, dir, err);
        exit(1);
    }
}

static rocksdb_options_t *rocks_options(int profile, rocksdb_block_based_table_options_t **bbt)
{
    rocksdb_options_t *o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_write_buffer_size(o, 256u << 20);
    rocksdb_options_set_target_file_size_base(o, 1ull << 30);
    rocksdb_options_set_allow_mmap_reads(o, 1);
    *bbt = NULL;
    if (profile == 0) {
        rocksdb_options_set_prefix_extractor(o, rocksdb_slicetransform_create_noop());
        rocksdb_options_set_memtable_vector_rep(o);
        rocksdb_options_set_allow_concurrent_memtable_write(o, 0); /* the vector memtable cannot */
        /* user_key_len 0 = variable-length keys; bloom bits, hash ratio, index sparseness */
        rocksdb_options_set_plain_table_factory(o, 0, 16, 0.75, 4);
    } else {
        rocksdb_block_based_table_options_t *t = rocksdb_block_based_options_create();
        rocksdb_block_based_options_set_block_size(t, 512);
        rocksdb_block_based_options_set_filter_policy(t, rocksdb_filterpolicy_create_bloom_full(10));
        rocksdb_block_based_options_set_data_block_index_type(
            t, rocksdb_block_based_table_data_block_index_type_binary_search_and_hash);
        rocksdb_block_based_options_set_data_block_hash_ratio(t, 0.75);
        rocksdb_options_set_block_based_table_factory(o, t);
        *bbt = t;
    }
    return o;
}

static void rocks_load(const bench_workload_t *w, rocksdb_t *db, const char *dir)
{
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    float vals[64];
    for (uint64_t first = 0; first < w->rows; first += w->batch) {
        uint64_t n = w->rows - first < w->batch ? w->rows - first : w->batch;
        rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
        for (uint64_t i = 0; i < n; i++) {
            char key[24];
            int kl = snprintf(key, sizeof(key), "%llu", (unsigned long long)(first + i));
            for (int c = 0; c < w->cols; c++)
                vals[c] = bench_value(first + i, c);
            rocksdb_writebatch_put(wb, key, (size_t)kl, (const char *)vals, 4 * (size_t)w->cols);
        }
        char *err = NULL;
        rocksdb_write(db, wo, wb, &err);
        rocks_check(err, "write of a batch", dir);
        rocksdb_writebatch_destroy(wb);
        rocksdb_flush(db, fo, &err);
        rocks_check(err, "flush", dir);
    }
    rocksdb_compact_range(db, NULL, 0, NULL, 0);
    rocksdb_flushoptions_destroy(fo);
    rocksdb_writeoptions_destroy(wo);
}

static void rocks_reads(const bench_workload_t *w, rocksdb_t *db, const char *name, uint64_t seed, bench_result_t *res)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_verify_checksums(ro, 0);
    size_t nk = (size_t)w->keys;
    char *kbuf = malloc(nk * 24);
    uint64_t *krows = malloc(sizeof(uint64_t) * nk);
    uint64_t *lat = malloc(sizeof(uint64_t) * (size_t)w->reads);
    const char **kp = malloc(sizeof(char *) * nk);
    size_t *kl = malloc(sizeof(size_t) * nk), *vl = malloc(sizeof(size_t) * nk);
    char **vp = malloc(sizeof(char *) * nk), **errs = malloc(sizeof(char *) * nk);
    int warm = w->reads / 10 + 10;
    for (int rd = -warm; rd < w->reads; rd++) {
        bench_gen_keys(w, &seed, kbuf, krows);
        for (size_t k = 0; k < nk; k++) {
            kp[k] = kbuf + 24 * k;
            kl[k] = strlen(kp[k]);
        }
        uint64_t t0 = bench_now_ns();
        rocksdb_multi_get(db, ro, nk, kp, kl, vp, vl, errs);
        uint64_t dt = bench_now_ns() - t0;
        for (size_t k = 0; k < nk; k++) {
            if (errs[k] != NULL) {
                fprintf(stderr, "%s: multi_get of key %s failed: %s\n", name, kp[k], errs[k]);
                exit(1);
            }
            if (vp[k] == NULL || vl[k] != 4 * (size_t)w->cols) {
                fprintf(stderr, "%s: wrong answer for key %s: %zu bytes, expected %d\n", name, kp[k],
                        vp[k] ? vl[k] : 0, 4 * w->cols);
                exit(1);
            }
            float vals[64];
            memcpy(vals, vp[k], vl[k]);
            if (!bench_check_row(name, krows[k], vals, w->cols))
                exit(1);
            rocksdb_free(vp[k]);
        }
        if (rd >= 0)
            lat[rd] = dt;
    }
    res->p50 = bench_pct_us(lat, (size_t)w->reads, 0.5);
    res->p99 = bench_pct_us(lat, (size_t)w->reads, 0.99);
    res->p999 = bench_pct_us(lat, (size_t)w->reads, 0.999);
    free(kbuf);
    free(krows);
    free(lat);
    free(kp);
    free(kl);
    free(vl);
    free(vp);
    free(errs);
    rocksdb_readoptions_destroy(ro);
}

void harness_rocksdb_run(const bench_workload_t *w, const char *dir, bench_result_t *mmap_res,
                         bench_result_t *block_res)
{
    for (int profile = 0; profile < 2; profile++) {
        bench_result_t *res = profile == 0 ? mmap_res : block_res;
        const char *name = profile == 0 ? "rocksdb-mmap" : "rocksdb-block";
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, profile == 0 ? "mmap" : "block");
        uint64_t rss0 = bench_rss(0);
        rocksdb_block_based_table_options_t *bbt;
        rocksdb_options_t *o = rocks_options(profile, &bbt);
        char *err = NULL;
        rocksdb_t *db = rocksdb_open(o, path, &err);
        rocks_check(err, "open", path);
        uint64_t t0 = bench_now_ns();
        rocks_load(w, db, path);
        res->ingest_rows_s = (double)w->rows / ((double)(bench_now_ns() - t0) / 1e9);
        rocks_reads(w, db, name, 31 + (uint64_t)profile, res);
        uint64_t rss1 = bench_rss(0);
        res->mem_bytes = rss1 > rss0 ? rss1 - rss0 : 0;
        res->mem_what = "own RSS";
        res->disk_bytes = bench_du(path);
        res->ran = true;
        rocksdb_close(db);
        rocksdb_options_destroy(o);
        if (bbt)
            rocksdb_block_based_options_destroy(bbt);
    }
}
