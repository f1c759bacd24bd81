/* source.c - object lists shared by every source (source.h). */
#include "loader/source.h"

#include "core/alloc.h"

#include <stdio.h>
#include <string.h>

void mr_object_list_free(mr_object_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        mr_free(l->v[i].key);
    mr_free(l->v);
    *l = (mr_object_list_t){0};
}

int mr_object_list_push(mr_object_list_t *l, const char *key, size_t key_len, uint64_t size, const char *etag)
{
    /* sized by a listing (an S3 response): fails the poll, never aborts the process */
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        mr_object_t *v = mr_realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return MURR_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    char *k = mr_strndup(key, key_len);
    if (k == NULL)
        return MURR_ENOMEM;
    mr_object_t *o = &l->v[l->n++];
    o->key = k;
    o->size = size;
    snprintf(o->etag, sizeof(o->etag), "%s", etag ? etag : "");
    return 0;
}
