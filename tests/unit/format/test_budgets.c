/* The decoders charge the decode budget before they allocate (decision 0009): the bombs of
 * issue 17 (tests/data/bombs, written by pyarrow via scripts/make_bomb_corpus.py) are
 * refused with MURR_ETOOBIG naming the column with no more than the limit ever charged, and
 * the same bytes decode with a budget that holds them, to the values pyarrow wrote. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/budget.h"
#include "core/fs.h"
#include "format/arrow_ipc.h"
#include "format/parquet.h"

#define MiB (1ull << 20)

static uint8_t *load(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/data/bombs/%s", getenv("MURR_SOURCE_DIR") ? getenv("MURR_SOURCE_DIR") : ".",
             name);
    uint8_t *data;
    mr_error_t e = {0};
    cr_assert_eq(mr_fs_read_all(path, &data, len, &e), 0, "%s", e.message);
    return data;
}

/* Decodes every row group; returns the status of the first failure (0 if none). */
static int read_parquet(const uint8_t *data, size_t len, mr_budget_t *b, int64_t *rows, mr_error_t *e)
{
    mr_pq_file_t *f;
    int rc = mr_pq_open(data, len, b, &f, e);
    for (int g = 0; rc == 0 && g < mr_pq_num_row_groups(f); g++) {
        mr_batch_t *batch;
        if ((rc = mr_pq_read_row_group(f, g, &batch, e)) != 0)
            break;
        *rows += batch->num_rows;
        /* pyarrow wrote one 1024-byte string of 'x' in every row of every column */
        for (int c = 0; c < batch->num_columns && c < 2; c++) {
            const int32_t *o = batch->columns[c].values;
            cr_assert_eq(o[batch->num_rows] - o[0], 1024 * batch->num_rows);
            cr_assert_eq(((const uint8_t *)batch->columns[c].data)[o[batch->num_rows] - 1], 'x');
        }
        mr_batch_free(batch);
    }
    if (rc == 0)
        mr_pq_close(f);
    return rc;
}

Test(budgets, parquet_dictionary_bomb_refused_under_the_limit)
{
    size_t len;
    uint8_t *data = load("bomb-dictionary.parquet", &len); /* 8 x 8192 x 64 KiB = 4 GiB of strings */
    mr_budget_t b;
    mr_budget_init(&b, 16 * MiB, "server.http.max_payload_size");
    mr_error_t e = {0};
    int64_t rows = 0;
    cr_assert_eq(read_parquet(data, len, &b, &rows, &e), MURR_ETOOBIG, "%s", e.message);
    cr_assert(strstr(e.message, "column 'c0'") != NULL, "%s", e.message);
    cr_assert(strstr(e.message, "limit of 16777216 bytes (server.http.max_payload_size)") != NULL, "%s", e.message);
    cr_assert_leq(b.peak, b.limit);
    mr_free(data);
}

Test(budgets, parquet_small_dictionary_file_decodes_within_a_budget_that_holds_it)
{
    size_t len;
    uint8_t *data = load("bomb-dictionary-small.parquet", &len); /* 2 x 64 rows x 1 KiB */
    mr_budget_t b;
    mr_budget_init(&b, 16 * MiB, "k");
    mr_error_t e = {0};
    int64_t rows = 0;
    cr_assert_eq(read_parquet(data, len, &b, &rows, &e), 0, "%s", e.message);
    cr_assert_eq(rows, 64);
    /* what was materialised: 2 x 64 KiB of strings at least; peak within a small multiple */
    cr_assert_geq(b.peak, 2 * 64 * 1024);
    cr_assert_leq(b.peak, 4 * 2 * 64 * 1024 + 64 * 1024, "peak %llu", (unsigned long long)b.peak);
    /* the same file with a budget one byte smaller than what it needed is refused */
    mr_budget_t tight;
    mr_budget_init(&tight, b.peak - 1, "k");
    rows = 0;
    cr_assert_eq(read_parquet(data, len, &tight, &rows, &e), MURR_ETOOBIG);
    mr_budget_init(&tight, b.peak, "k");
    rows = 0;
    cr_assert_eq(read_parquet(data, len, &tight, &rows, &e), 0, "exactly the peak is enough: %s", e.message);
    mr_free(data);
}

static int read_ipc(const char *name, uint64_t limit, const mr_budget_t **budget_out, mr_ipc_reader_t **rd,
                    mr_error_t *e)
{
    size_t len;
    uint8_t *data = load(name, &len);
    mr_ipc_reader_t *r = mr_ipc_reader_new(limit, limit, "server.http.max_payload_size");
    mr_batch_t **bs = NULL;
    size_t n = 0;
    int rc = mr_ipc_reader_feed(r, data, len, e); /* the streamed (HTTP on_body) path */
    if (rc == 0)
        rc = mr_ipc_read_all(r, &bs, &n, e);
    if (rc == 0)
        mr_ipc_batches_free(bs, n);
    *budget_out = mr_ipc_reader_budget(r);
    *rd = r;
    mr_free(data);
    return rc;
}

Test(budgets, ipc_dictionary_bomb)
{
    const mr_budget_t *b;
    mr_ipc_reader_t *r;
    mr_error_t e = {0};
    cr_assert_eq(read_ipc("bomb-dictionary.arrows", 16 * MiB, &b, &r, &e), MURR_ETOOBIG, "%s", e.message);
    cr_assert(strstr(e.message, "column 'c0': dictionary expansion needs at least") != NULL, "%s", e.message);
    cr_assert_leq(b->peak, b->limit);
    mr_ipc_reader_free(r);
    /* 12000 x 64 KiB = 786,432,000 bytes of strings: decodes with a 1 GiB budget */
    cr_assert_eq(read_ipc("bomb-dictionary.arrows", 1ull << 30, &b, &r, &e), 0, "%s", e.message);
    cr_assert_geq(b->peak, 12000ull * 65536);
    mr_ipc_reader_free(r);
}

Test(budgets, ipc_zstd_batches_add_up)
{
    const mr_budget_t *b;
    mr_ipc_reader_t *r;
    mr_error_t e = {0};
    /* 16 batches of 8 Mi rows x 2 int64 columns: 128 MiB each, 2 GiB in all; each batch fits
     * in 256 MiB, the stream does not */
    cr_assert_eq(read_ipc("bomb-zstd.arrows", 256 * MiB, &b, &r, &e), MURR_ETOOBIG, "%s", e.message);
    cr_assert(strstr(e.message, "a ZSTD buffer needs 67108864 bytes") != NULL, "%s", e.message);
    cr_assert_leq(b->peak, b->limit);
    cr_assert_geq(b->peak, 128 * MiB, "more than one batch was decoded before the refusal");
    mr_ipc_reader_free(r);
}
