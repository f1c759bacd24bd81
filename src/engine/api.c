/* api.c - the data calls of murr.h (read, write, streaming writers, compaction, stats):
 * look the table's handle up, take the serving store, call it. */
#include "core/alloc.h"
#include "engine/catalog.h"
#include "engine/epoch.h"
#include "engine/testhook.h"
#include "engine/versions.h"

#include <stdio.h>
#include <string.h>

void (*mr_testhook_write_begin_looked_up)(const char *name);

/* A streaming writer: a transaction on the serving store (upsert) or on a new version's
 * store (replace, which also holds the handle's lock until commit or abort). */
struct murr_writer {
    murr_db *db;
    mr_handle_t *h;
    mr_store_t *store;
    mr_store_txn_t *txn;
    unsigned mode;
    uint64_t version;
    char source[MURR_SOURCE_MAX];
};

MURR_API int murr_write_begin_opt(murr_db *db, const char *name, unsigned mode, const char *source,
                                  murr_writer **out, murr_error *err)
{
    *out = NULL;
    if (mode != MURR_WRITE_UPSERT && mode != MURR_WRITE_REPLACE)
        return mr_err_set(err, MURR_EINVAL, "unknown write mode %u (upsert %u, replace %u)", mode, MURR_WRITE_UPSERT,
                          MURR_WRITE_REPLACE);
    mr_handle_t *h = mr_catalog_lookup(db, name);
    if (h == NULL)
        return mr_catalog_not_found(err, name);
    if (mr_testhook_write_begin_looked_up != NULL)
        mr_testhook_write_begin_looked_up(name);
    murr_writer *w = mr_xcalloc(1, sizeof(*w));
    *w = (murr_writer){.db = db, .h = h, .mode = mode};
    snprintf(w->source, sizeof(w->source), "%s", source ? source : "api");
    int rc;
    if (mode == MURR_WRITE_REPLACE) {
        rc = mr_versions_begin(db, h, &w->store, &w->version, err);
        if (rc == 0 && (rc = mr_store_txn_begin(w->store, &w->txn, err)) != 0)
            mr_versions_abort(h, w->store);
    } else {
        rc = mr_handle_txn_begin(h, &w->store, &w->txn, err);
    }
    if (rc != 0) {
        mr_handle_unref(h);
        mr_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

MURR_API int murr_write_begin(murr_db *db, const char *name, murr_writer **out, murr_error *err)
{
    return murr_write_begin_opt(db, name, MURR_WRITE_UPSERT, NULL, out, err);
}

MURR_API int murr_writer_append(murr_writer *w, const murr_batch *batch, murr_error *err)
{
    return mr_store_txn_append(w->txn, &batch, 1, err);
}

static void writer_free(murr_writer *w)
{
    mr_handle_unref(w->h);
    mr_free(w);
}

MURR_API int murr_writer_commit(murr_writer *w, murr_error *err)
{
    int rc = mr_store_txn_commit(w->txn, err);
    if (w->mode == MURR_WRITE_REPLACE) {
        if (rc == 0)
            rc = mr_versions_commit(w->db, w->h, w->store, w->version, w->source, err);
        else
            mr_versions_abort(w->h, w->store);
    } else {
        mr_store_unref(w->store);
    }
    writer_free(w);
    return rc;
}

MURR_API void murr_writer_abort(murr_writer *w)
{
    if (w == NULL)
        return;
    mr_store_txn_abort(w->txn);
    if (w->mode == MURR_WRITE_REPLACE)
        mr_versions_abort(w->h, w->store);
    else
        mr_store_unref(w->store);
    writer_free(w);
}

static int write_all(murr_db *db, const char *name, unsigned mode, const char *source,
                     const murr_batch *const *batches, size_t count, murr_error *err)
{
    murr_writer *w;
    MR_RETURN_NOT_OK(murr_write_begin_opt(db, name, mode, source, &w, err));
    int rc = mr_store_txn_append(w->txn, batches, count, err);
    if (rc != 0) {
        murr_writer_abort(w);
        return rc;
    }
    return murr_writer_commit(w, err);
}

MURR_API int murr_write_many(murr_db *db, const char *name, const murr_batch *const *batches, size_t count,
                             murr_error *err)
{
    return write_all(db, name, MURR_WRITE_UPSERT, NULL, batches, count, err);
}

MURR_API int murr_write(murr_db *db, const char *name, const murr_batch *batch, murr_error *err)
{
    return murr_write_many(db, name, &batch, 1, err);
}

MURR_API int murr_replace(murr_db *db, const char *name, const murr_batch *const *batches, size_t count,
                          const char *source, murr_error *err)
{
    return write_all(db, name, MURR_WRITE_REPLACE, source, batches, count, err);
}

/* Runs a read on the serving store of `name`: the handle reference keeps the table, the
 * epoch keeps the store (a replace may swap it meanwhile; this read finishes on it). */
#define WITH_READ_STORE(db, name, err, s, call)                                                                      \
    do {                                                                                                             \
        mr_handle_t *h_ = mr_catalog_lookup(db, name);                                                               \
        if (h_ == NULL)                                                                                              \
            return mr_catalog_not_found(err, name);                                                                  \
        mr_epoch_guard_t g_;                                                                                         \
        mr_epoch_enter(&g_);                                                                                         \
        mr_store_t *s;                                                                                               \
        int rc_ = mr_handle_read_store(h_, &s, err);                                                                 \
        if (rc_ == 0)                                                                                                \
            rc_ = (call);                                                                                            \
        mr_epoch_exit(&g_);                                                                                          \
        mr_handle_unref(h_);                                                                                         \
        return rc_;                                                                                                  \
    } while (0)

MURR_API int murr_read_opt(murr_db *db, const char *name, const char *const *keys, const size_t *key_lens,
                           size_t num_keys, const char *const *columns, size_t num_columns, unsigned flags,
                           murr_batch **out, murr_error *err)
{
    WITH_READ_STORE(db, name, err, s, mr_store_read(s, keys, key_lens, num_keys, columns, num_columns, flags, out, err));
}

MURR_API int murr_read(murr_db *db, const char *name, const char *const *keys, const size_t *key_lens, size_t num_keys,
                       const char *const *columns, size_t num_columns, murr_batch **out, murr_error *err)
{
    return murr_read_opt(db, name, keys, key_lens, num_keys, columns, num_columns, 0, out, err);
}

/* The key columns of a and b: the same names and dtypes, in the same order. */
static bool same_key(const mr_schema_t *a, const mr_schema_t *b)
{
    if (a->num_keys != b->num_keys)
        return false;
    for (int32_t i = 0, j = 0; i < a->num_columns; i++) {
        if (!a->columns[i].key)
            continue;
        while (j < b->num_columns && !b->columns[j].key)
            j++;
        if (j == b->num_columns || a->columns[i].dtype != b->columns[j].dtype ||
            a->columns[i].name_len != b->columns[j].name_len ||
            memcmp(a->columns[i].name, b->columns[j].name, a->columns[i].name_len) != 0)
            return false;
        j++;
    }
    return true;
}

static int read_encoded(mr_handle_t *h, mr_store_t *s, const murr_schema *keyed_by, const char *const *keys,
                        const size_t *key_lens, size_t num_keys, const char *const *columns, size_t num_columns,
                        unsigned flags, murr_batch **out, murr_error *err)
{
    if (!same_key(h->schema, keyed_by))
        return mr_err_set(err, MURR_ECONFLICT, "Table error: table '%s' was re-created with another key while the "
                          "fetch was being decoded: retry it", h->name);
    return mr_store_read(s, keys, key_lens, num_keys, columns, num_columns, flags, out, err);
}

MURR_API int murr_read_encoded(murr_db *db, const char *name, const murr_schema *keyed_by, const char *const *keys,
                               const size_t *key_lens, size_t num_keys, const char *const *columns,
                               size_t num_columns, unsigned flags, murr_batch **out, murr_error *err)
{
    if (keyed_by == NULL)
        return mr_err_set(err, MURR_EINVAL, "murr_read_encoded: no schema the keys were encoded against (keyed_by NULL)");
    WITH_READ_STORE(db, name, err, s, read_encoded(h_, s, keyed_by, keys, key_lens, num_keys, columns, num_columns,
                                                   flags, out, err));
}

MURR_API int murr_read_keys(murr_db *db, const char *name, const murr_batch *keys, const char *const *columns,
                            size_t num_columns, unsigned flags, murr_batch **out, murr_error *err)
{
    WITH_READ_STORE(db, name, err, s, mr_store_read_keys(s, keys, columns, num_columns, flags, out, err));
}

static int stats_of(mr_store_t *s, mr_handle_t *h, murr_table_stats *out)
{
    mr_store_stats(s, out);
    pthread_mutex_lock(&h->meta);
    out->version = h->serving.id;
    pthread_mutex_unlock(&h->meta);
    return 0;
}

MURR_API int murr_table_stats_get(murr_db *db, const char *name, murr_table_stats *out, murr_error *err)
{
    memset(out, 0, sizeof(*out));
    mr_handle_t *h = mr_catalog_lookup(db, name);
    if (h == NULL)
        return mr_catalog_not_found(err, name);
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_store_t *s;
    int rc = mr_handle_read_store(h, &s, err);
    if (rc == 0)
        rc = stats_of(s, h, out);
    mr_epoch_exit(&g);
    mr_handle_unref(h);
    return rc;
}

MURR_API int murr_compact(murr_db *db, const char *name, murr_error *err)
{
    mr_handle_t *h = mr_catalog_lookup(db, name);
    if (h == NULL)
        return mr_catalog_not_found(err, name);
    int rc;
    for (;;) {
        mr_epoch_guard_t g;
        mr_epoch_enter(&g);
        mr_store_t *s;
        rc = mr_handle_read_store(h, &s, err);
        if (rc == 0)
            mr_store_ref(s);
        mr_epoch_exit(&g);
        if (rc != 0)
            break;
        mr_error_t e = {0};
        rc = mr_store_compact(s, 0.0, true, &e);
        mr_store_unref(s);
        if (rc == MURR_EAGAIN && !atomic_load(&h->dropped))
            continue; /* a replace swapped the version: compact the new one */
        if (rc == MURR_EAGAIN)
            rc = mr_catalog_not_found(err, name);
        else if (rc != 0)
            mr_err_copy(err, &e);
        break;
    }
    mr_handle_unref(h);
    mr_epoch_collect();
    return rc;
}
