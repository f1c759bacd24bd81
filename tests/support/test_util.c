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

mr_batch_t *tu_batch_id_cols(const char *key_fmt, int first, int n, int ncols, float v)
{
    mr_batch_t *b = mr_batch_new(1 + ncols, n);
    mr_colbuilder_t k;
    mr_colbuilder_init(&k, MURR_UTF8);
    for (int i = 0; i < n; i++) {
        char kb[16];
        int l = snprintf(kb, sizeof(kb), key_fmt, first + i);
        mr_colbuilder_append_str(&k, kb, (size_t)l);
    }
    mr_batch_set_name(b, 0, "id", 2);
    mr_colbuilder_finish(&k, b, 0);
    for (int c = 0; c < ncols; c++) {
        mr_colbuilder_t cb;
        mr_colbuilder_init(&cb, MURR_FLOAT32);
        for (int i = 0; i < n; i++)
            mr_colbuilder_append_float(&cb, v);
        char name[4] = {'c', (char)('0' + c), 0, 0};
        mr_batch_set_name(b, 1 + c, name, 2);
        mr_colbuilder_finish(&cb, b, 1 + c);
    }
    return b;
}

mr_schema_t *tu_schema_id_cols(int ncols)
{
    static const char *const cols[] = {"c0:float32?", "c1:float32?", "c2:float32?", "c3:float32?", "c4:float32?",
                                       "c5:float32?", "c6:float32?", "c7:float32?", "c8:float32?", "c9:float32?"};
    const char *c[10] = {0};
    for (int i = 0; i < ncols && i < 10; i++)
        c[i] = cols[i];
    return mr_schema_make("id", "id:utf8", c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], NULL);
}
