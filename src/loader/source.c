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

void mr_object_list_push(mr_object_list_t *l, const char *key, size_t key_len, uint64_t size, const char *etag)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = mr_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    mr_object_t *o = &l->v[l->n++];
    o->key = mr_xmalloc(key_len + 1);
    memcpy(o->key, key, key_len);
    o->key[key_len] = '\0';
    o->size = size;
    snprintf(o->etag, sizeof(o->etag), "%s", etag ? etag : "");
}
