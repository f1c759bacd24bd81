/* test_util.c - see test_util.h. */
#include "test_util.h"
#include "core/alloc.h"
#include "core/fs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *tu_tempdir(const char *tag)
{
    char *p = malloc(256);
    snprintf(p, 256, "/tmp/murr-test-%s-XXXXXX", tag);
    if (mkdtemp(p) == NULL)
        abort();
    return p;
}

void tu_rmtree(const char *path) { mr_fs_remove_tree(path, NULL); }

mr_batch_t *tu_batch_id_score(const char *const *keys, const float *scores, int n)
{
    mr_batch_t *b = mr_batch_new(2, n);
    mr_colbuilder_t k, s;
    mr_colbuilder_init(&k, MURR_UTF8);
    mr_colbuilder_init(&s, MURR_FLOAT32);
    for (int i = 0; i < n; i++) {
        if (keys[i])
            mr_colbuilder_append_str(&k, keys[i], strlen(keys[i]));
        else
            mr_colbuilder_append_null(&k);
        if (isnan(scores[i]))
            mr_colbuilder_append_null(&s);
        else
            mr_colbuilder_append_float(&s, scores[i]);
    }
    mr_batch_set_name(b, 0, "id", 2);
    mr_batch_set_name(b, 1, "score", 5);
    mr_colbuilder_finish(&k, b, 0);
    mr_colbuilder_finish(&s, b, 1);
    return b;
}

mr_batch_t *tu_batch_id_range(const char *key_fmt, int first, int n, float v)
{
    const char **keys = calloc((size_t)n + 1, sizeof(char *));
    float *vals = calloc((size_t)n + 1, sizeof(float));
    char (*store)[16] = calloc((size_t)n + 1, 16);
    for (int i = 0; i < n; i++) {
        snprintf(store[i], 16, key_fmt, first + i);
        keys[i] = store[i];
        vals[i] = v;
    }
    mr_batch_t *b = tu_batch_id_score(keys, vals, n);
    free(keys);
    free(vals);
    free(store);
    return b;
}
