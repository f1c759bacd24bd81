/* handle.c - table handles: references, the serving store, version metadata. See handle.h. */
#include "engine/handle.h"

#include "core/alloc.h"
#include "core/fs.h"
#include "core/log.h"
#include "engine/epoch.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

mr_handle_t *mr_handle_new(const char *root, const char *name, const mr_schema_t *schema, const mr_store_ops_t *ops,
                           const murr_options *opts)
{
    mr_handle_t *h = mr_xcalloc(1, sizeof(*h));
    atomic_init(&h->refs, 1);
    h->name = mr_xstrdup(name);
    size_t n = strlen(root) + strlen(name) + 2;
    h->dir = mr_xmalloc(n);
    snprintf(h->dir, n, "%s/%s", root, name);
    h->schema = mr_schema_clone(schema);
    h->ops = ops;
    h->opts = opts;
    pthread_mutex_init(&h->lock, NULL);
    pthread_mutex_init(&h->meta, NULL);
    h->serving = (mr_version_rec_t){.id = 1, .created = (int64_t)time(NULL)};
    snprintf(h->serving.source, sizeof(h->serving.source), "create");
    h->next_id = 2;
    return h;
}

void mr_handle_ref(mr_handle_t *h) { atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed); }

/* Runs once no reader can hold the store any more. */
static void handle_free_cb(void *p)
{
    mr_handle_t *h = p;
    mr_store_unref(atomic_load(&h->store));
    if (h->trash && mr_fs_remove_tree(h->trash, NULL) != 0)
        MR_WARN("engine", "cannot remove '%s', the files of dropped table '%s'", h->trash, h->name);
    mr_free(h->trash);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->meta);
    mr_schema_free(h->schema);
    mr_free(h->kept);
    mr_free(h->name);
    mr_free(h->dir);
    mr_free(h);
}

void mr_handle_unref(mr_handle_t *h)
{
    if (h == NULL)
        return;
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) != 1)
        return;
    /* the last call using the table may have looked the store up for readers that are
     * still inside their epoch: free through it */
    mr_epoch_retire(handle_free_cb, h);
}

void mr_handle_version_dir(const mr_handle_t *h, uint64_t id, char *out, size_t cap)
{
    if (id <= 1)
        snprintf(out, cap, "%s", h->dir);
    else
        snprintf(out, cap, "%s/v%llu", h->dir, (unsigned long long)id);
}

void mr_handle_set_store(mr_handle_t *h, mr_store_t *s)
{
    atomic_store_explicit(&h->store, s, memory_order_release);
}

void mr_handle_swap_store(mr_handle_t *h, mr_store_t *s)
{
    mr_store_t *old = atomic_exchange_explicit(&h->store, s, memory_order_acq_rel);
    if (old == NULL)
        return;
    mr_store_seal(old);
    mr_epoch_retire(mr_store_unref_cb, old);
}

void mr_handle_mark_dropped(mr_handle_t *h)
{
    atomic_store(&h->dropped, true);
    mr_store_t *s = atomic_load(&h->store);
    if (s)
        mr_store_seal(s);
}

void mr_handle_set_trash(mr_handle_t *h, const char *dir) { h->trash = mr_xstrdup(dir); }

static int unavailable_error(mr_handle_t *h, mr_error_t *err)
{
    pthread_mutex_lock(&h->meta);
    mr_err_set(err, MURR_EBUSY, "table '%s' is unavailable: its files could not be opened (%s); it is retried every %u ms",
               h->name, h->unavailable, h->opts->reopen_interval_ms);
    pthread_mutex_unlock(&h->meta);
    return MURR_EBUSY;
}

int mr_handle_read_store(mr_handle_t *h, mr_store_t **out, mr_error_t *err)
{
    mr_store_t *s = atomic_load_explicit(&h->store, memory_order_acquire);
    *out = s;
    return s == NULL ? unavailable_error(h, err) : 0;
}

int mr_handle_txn_begin(mr_handle_t *h, mr_store_t **store, mr_store_txn_t **txn, mr_error_t *err)
{
    *store = NULL;
    *txn = NULL;
    for (;;) {
        if (atomic_load(&h->dropped))
            return mr_err_set(err, MURR_ENOTFOUND, "table not found: %s", h->name);
        /* the reference is taken inside an epoch: a swap drops the handle's reference on
         * the old store only through it */
        mr_epoch_guard_t g;
        mr_epoch_enter(&g);
        mr_store_t *s = atomic_load_explicit(&h->store, memory_order_acquire);
        if (s)
            mr_store_ref(s);
        mr_epoch_exit(&g);
        if (s == NULL)
            return unavailable_error(h, err);
        mr_error_t e = {0};
        int rc = mr_store_txn_begin(s, txn, &e);
        if (rc == 0) {
            *store = s;
            return 0;
        }
        mr_store_unref(s);
        if (rc != MURR_EAGAIN) {
            mr_err_copy(err, &e);
            return rc;
        }
        /* sealed: a replace swapped it (try the new one) or the table was dropped */
    }
}

/* ----------------------------------------------------------------- versions ------- */

static json_t *rec_to_json(const mr_version_rec_t *r)
{
    return json_pack("{sIsIsIsIss}", "id", (json_int_t)r->id, "rows", (json_int_t)r->rows, "bytes",
                     (json_int_t)r->bytes, "created", (json_int_t)r->created, "source", r->source);
}

json_t *mr_handle_versions_to_json(mr_handle_t *h)
{
    pthread_mutex_lock(&h->meta);
    json_t *kept = json_array();
    for (size_t i = 0; i < h->nkept; i++)
        json_array_append_new(kept, rec_to_json(&h->kept[i]));
    json_t *v = json_pack("{sosIso}", "serving", rec_to_json(&h->serving), "next_id", (json_int_t)h->next_id, "kept",
                          kept);
    pthread_mutex_unlock(&h->meta);
    return v;
}

static int rec_from_json(const json_t *j, mr_version_rec_t *r, const char *table, mr_error_t *err)
{
    json_int_t id = 0, rows = 0, bytes = 0, created = 0;
    const char *source = "";
    json_error_t je;
    if (json_unpack_ex((json_t *)j, &je, 0, "{sI,sI,sI,sI,ss}", "id", &id, "rows", &rows, "bytes", &bytes,
                       "created", &created, "source", &source) != 0 || id < 1 || rows < 0 || bytes < 0)
        return mr_err_set(err, MURR_ECORRUPT, "manifest: a version of table '%s' is malformed: %s", table,
                          je.text[0] ? je.text : "negative number");
    *r = (mr_version_rec_t){.id = (uint64_t)id, .rows = (uint64_t)rows, .bytes = (uint64_t)bytes,
                            .created = (int64_t)created};
    snprintf(r->source, sizeof(r->source), "%s", source);
    return 0;
}

int mr_handle_versions_from_json(mr_handle_t *h, const json_t *v, mr_error_t *err)
{
    if (v == NULL) { /* written before versions: version 1 (the table directory) serves */
        h->serving.created = 0; /* unknown */
        return 0;
    }
    json_t *serving = json_object_get(v, "serving"), *kept = json_object_get(v, "kept");
    json_int_t next = json_integer_value(json_object_get(v, "next_id"));
    if (!json_is_object(serving) || !json_is_array(kept) || next < 2)
        return mr_err_set(err, MURR_ECORRUPT, "manifest: the versions of table '%s' are malformed", h->name);
    mr_version_rec_t s;
    MR_RETURN_NOT_OK(rec_from_json(serving, &s, h->name, err));
    size_t n = json_array_size(kept);
    mr_version_rec_t *k = mr_xcalloc(n ? n : 1, sizeof(*k));
    for (size_t i = 0; i < n; i++) {
        int rc = rec_from_json(json_array_get(kept, i), &k[i], h->name, err);
        if (rc == 0 && (k[i].id == s.id || k[i].id >= (uint64_t)next))
            rc = mr_err_set(err, MURR_ECORRUPT, "manifest: table '%s' lists version %llu twice or beyond next id %lld",
                            h->name, (unsigned long long)k[i].id, (long long)next);
        if (rc != 0) {
            mr_free(k);
            return rc;
        }
    }
    pthread_mutex_lock(&h->meta);
    h->serving = s;
    h->next_id = (uint64_t)next;
    mr_free(h->kept);
    h->kept = k;
    h->nkept = n;
    pthread_mutex_unlock(&h->meta);
    return 0;
}

static void rec_to_info(const mr_version_rec_t *r, bool serving, murr_version_info *out)
{
    *out = (murr_version_info){.id = r->id, .rows = r->rows, .bytes = r->bytes, .created = r->created,
                               .serving = serving};
    snprintf(out->source, sizeof(out->source), "%s", r->source);
}

void mr_handle_versions_list(mr_handle_t *h, const murr_table_stats *live, murr_version_info **out, size_t *count)
{
    pthread_mutex_lock(&h->meta);
    size_t n = 1 + h->nkept;
    murr_version_info *v = mr_xcalloc(n, sizeof(*v));
    rec_to_info(&h->serving, true, &v[0]);
    if (live) {
        v[0].rows = live->rows;
        v[0].bytes = live->mapped_bytes;
    }
    for (size_t i = 0; i < h->nkept; i++)
        rec_to_info(&h->kept[i], false, &v[1 + i]);
    pthread_mutex_unlock(&h->meta);
    /* newest id first */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j].id > v[j - 1].id; j--) {
            murr_version_info t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *count = n;
}
