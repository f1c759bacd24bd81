/* test_util.h - helpers shared by unit tests: temp dirs and small batch builders. */
#ifndef MR_TEST_UTIL_H
#define MR_TEST_UTIL_H

#include "core/batch.h"
#include "core/schema.h"

/* mkdtemp under /tmp; returns a static-lifetime malloc'd path. */
char *tu_tempdir(const char *tag);
void tu_rmtree(const char *path);
/* A batch with a utf8 key column `id` (keys as given, NULL = null key) and a float32 column
 * `score` (NaN = null). */
mr_batch_t *tu_batch_id_score(const char *const *keys, const float *scores, int n);
/* The same shape for n keys printf(key_fmt, first + i) (at most 15 bytes each), every
 * score v. */
mr_batch_t *tu_batch_id_range(const char *key_fmt, int first, int n, float v);
/* n keys printf(key_fmt, first + i) (at most 15 bytes each) in a utf8 column `id`, then
 * ncols float32 columns c0, c1, ... (at most 10), every value v. */
mr_batch_t *tu_batch_id_cols(const char *key_fmt, int first, int n, int ncols, float v);
/* The schema of tu_batch_id_cols: key `id`, ncols nullable float32 columns c0.. */
mr_schema_t *tu_schema_id_cols(int ncols);

#endif
