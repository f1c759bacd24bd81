/* versions.c - replace, rollback and the version list (versions.h, murr.h). */
#include "engine/versions.h"

#include "core/alloc.h"
#include "core/log.h"
#include "engine/epoch.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void live_stats(mr_store_t *s, murr_table_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (s == NULL)
        return;
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_store_stats(s, st);
    mr_epoch_exit(&g);
}

static int cmp_id_desc(const void *a, const void *b)
{
    uint64_t x = ((const mr_version_rec_t *)a)->id, y = ((const mr_version_rec_t *)b)->id;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Caller holds h->lock. Makes `store` (described by nv) serve: the serving version joins
 * the kept ones, version `from_kept` (0: none) leaves them, the newest keep_versions stay
 * and the others' files are removed. The manifest rewrite is the durable point; on its
 * failure nothing changed. */
static int swap_in(murr_db *db, mr_handle_t *h, mr_store_t *store, const mr_version_rec_t *nv, uint64_t from_kept,
                   mr_error_t *err)
{
    mr_store_t *old = atomic_load(&h->store);
    murr_table_stats ost;
    live_stats(old, &ost);
    pthread_mutex_lock(&db->manifest_lock);
    pthread_mutex_lock(&h->meta);
    mr_version_rec_t saved = h->serving, *saved_kept = h->kept;
    size_t saved_n = h->nkept, n = 0;
    mr_version_rec_t *all = mr_xcalloc(saved_n + 1, sizeof(*all));
    all[n] = h->serving;
    if (old) { /* an unavailable serving version keeps what the manifest said */
        all[n].rows = ost.rows;
        all[n].bytes = ost.mapped_bytes;
    }
    n++;
    for (size_t i = 0; i < saved_n; i++)
        if (h->kept[i].id != from_kept)
            all[n++] = h->kept[i];
    qsort(all, n, sizeof(*all), cmp_id_desc);
    size_t keep = n < db->opts.keep_versions ? n : db->opts.keep_versions;
    h->serving = *nv;
    h->kept = mr_xcalloc(keep ? keep : 1, sizeof(*h->kept));
    memcpy(h->kept, all, keep * sizeof(*all));
    h->nkept = keep;
    char was_unavailable[MURR_ERROR_MSG_MAX];
    snprintf(was_unavailable, sizeof(was_unavailable), "%s", h->unavailable);
    h->unavailable[0] = '\0';
    pthread_mutex_unlock(&h->meta);
    int rc = mr_catalog_write_manifest(db, err);
    if (rc != 0) {
        pthread_mutex_lock(&h->meta);
        mr_free(h->kept);
        h->serving = saved;
        h->kept = saved_kept;
        h->nkept = saved_n;
        snprintf(h->unavailable, sizeof(h->unavailable), "%s", was_unavailable);
        pthread_mutex_unlock(&h->meta);
        pthread_mutex_unlock(&db->manifest_lock);
        mr_free(all);
        return rc;
    }
    pthread_mutex_unlock(&db->manifest_lock);
    /* Swap, then wait for an upsert that began on the old version before the swap: it
     * commits into the old version's files (ordered before this swap), and nothing may
     * write them once a rollback can reopen them or pruning removes them. */
    if (old)
        mr_store_ref(old);
    mr_handle_swap_store(h, store);
    if (old)
        mr_store_quiesce(old);
    for (size_t i = keep; i < n; i++) {
        if (old && all[i].id == saved.id) {
            mr_store_remove_on_free(old); /* when readers in flight have left */
            continue;
        }
        char dir[PATH_MAX];
        mr_handle_version_dir(h, all[i].id, dir, sizeof(dir));
        mr_error_t e = {0};
        if (h->ops->remove(dir, &e) != 0)
            MR_WARN("engine", "table '%s': cannot remove pruned version %llu: %s (removed at the next start)",
                    h->name, (unsigned long long)all[i].id, e.message);
    }
    mr_store_unref(old);
    mr_free(saved_kept);
    mr_free(all);
    return 0;
}

int mr_versions_begin(murr_db *db, mr_handle_t *h, mr_store_t **store, uint64_t *id, mr_error_t *err)
{
    *store = NULL;
    pthread_mutex_lock(&h->lock);
    if (atomic_load(&h->dropped)) {
        pthread_mutex_unlock(&h->lock);
        return mr_catalog_not_found(err, h->name);
    }
    pthread_mutex_lock(&h->meta);
    *id = h->next_id++;
    pthread_mutex_unlock(&h->meta);
    char dir[PATH_MAX];
    mr_handle_version_dir(h, *id, dir, sizeof(dir));
    int rc = h->ops->create(dir, h->name, h->schema, &db->opts, store, err);
    if (rc != 0) {
        mr_err_prefix(err, "table '%s': cannot create version %llu: ", h->name, (unsigned long long)*id);
        pthread_mutex_unlock(&h->lock);
    }
    return rc;
}

int mr_versions_commit(murr_db *db, mr_handle_t *h, mr_store_t *store, uint64_t id, const char *source,
                       mr_error_t *err)
{
    murr_table_stats st;
    live_stats(store, &st);
    mr_version_rec_t nv = {.id = id, .rows = st.rows, .bytes = st.mapped_bytes, .created = (int64_t)time(NULL)};
    snprintf(nv.source, sizeof(nv.source), "%s", source ? source : "api");
    int rc = atomic_load(&h->dropped) ? mr_catalog_not_found(err, h->name) : swap_in(db, h, store, &nv, 0, err);
    if (rc != 0) {
        mr_store_remove_on_free(store);
        mr_store_unref(store);
    } else {
        MR_INFO("engine", "table '%s': version %llu serves (replace from %s: %llu rows, %llu bytes)", h->name,
                (unsigned long long)id, nv.source, (unsigned long long)nv.rows, (unsigned long long)nv.bytes);
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

void mr_versions_abort(mr_handle_t *h, mr_store_t *store)
{
    mr_store_remove_on_free(store);
    mr_store_unref(store);
    pthread_mutex_unlock(&h->lock);
}

/* The kept version a rollback to `version` (0: the newest older than the serving one)
 * makes serve, under meta. */
static int rollback_target(mr_handle_t *h, uint64_t version, mr_version_rec_t *out, mr_error_t *err)
{
    const mr_version_rec_t *best = NULL;
    for (size_t i = 0; i < h->nkept; i++) {
        const mr_version_rec_t *k = &h->kept[i];
        if (version ? k->id == version : k->id < h->serving.id && (best == NULL || k->id > best->id))
            best = k;
    }
    if (best) {
        *out = *best;
        return 0;
    }
    char ids[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < h->nkept && len + 24 < sizeof(ids); i++)
        len += (size_t)snprintf(ids + len, sizeof(ids) - len, "%s%llu", i ? ", " : "",
                                (unsigned long long)h->kept[i].id);
    if (version)
        return mr_err_set(err, MURR_ENOTFOUND, "table '%s' has no version %llu (serving: %llu; kept: %s)", h->name,
                          (unsigned long long)version, (unsigned long long)h->serving.id, len ? ids : "none");
    return mr_err_set(err, MURR_ECONFLICT,
                      "table '%s': no version older than the serving version %llu is kept (kept: %s; "
                      "storage.keep_versions = %u)",
                      h->name, (unsigned long long)h->serving.id, len ? ids : "none", h->opts->keep_versions);
}

MURR_API int murr_rollback(murr_db *db, const char *name, uint64_t version, uint64_t *serving, murr_error *err)
{
    mr_handle_t *h = mr_catalog_lookup(db, name);
    if (h == NULL)
        return mr_catalog_not_found(err, name);
    pthread_mutex_lock(&h->lock);
    int rc = 0;
    mr_version_rec_t target;
    pthread_mutex_lock(&h->meta);
    uint64_t now_serving = h->serving.id;
    if (atomic_load(&h->dropped))
        rc = mr_catalog_not_found(err, name);
    else if (version != now_serving)
        rc = rollback_target(h, version, &target, err);
    pthread_mutex_unlock(&h->meta);
    if (rc == 0 && version != now_serving) {
        char dir[PATH_MAX];
        mr_handle_version_dir(h, target.id, dir, sizeof(dir));
        mr_store_t *s = NULL;
        mr_error_t e = {0};
        if (h->ops->open(dir, h->name, h->schema, &db->opts, &s, &e) != 0 || mr_store_status(s, &e) != 0) {
            rc = mr_err_set(err, MURR_EBUSY, "table '%s': version %llu cannot be opened: %s", name,
                            (unsigned long long)target.id, e.message);
            mr_store_unref(s);
        } else {
            murr_table_stats st;
            live_stats(s, &st);
            target.rows = st.rows;
            target.bytes = st.mapped_bytes;
            rc = swap_in(db, h, s, &target, target.id, err);
            if (rc != 0) {
                mr_store_unref(s);
            } else {
                MR_INFO("engine", "table '%s': rolled back from version %llu to %llu (%llu rows)", name,
                        (unsigned long long)now_serving, (unsigned long long)target.id,
                        (unsigned long long)target.rows);
                now_serving = target.id;
            }
        }
    }
    pthread_mutex_unlock(&h->lock);
    mr_handle_unref(h);
    if (rc == 0 && serving)
        *serving = now_serving;
    return rc;
}

MURR_API int murr_list_versions(murr_db *db, const char *name, murr_version_info **out, size_t *count,
                                murr_error *err)
{
    *out = NULL;
    *count = 0;
    mr_handle_t *h = mr_catalog_lookup(db, name);
    if (h == NULL)
        return mr_catalog_not_found(err, name);
    /* inside an epoch: a store swapped out meanwhile stays readable; never waits for a
     * replace in progress */
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_store_t *s = atomic_load(&h->store);
    murr_table_stats st;
    memset(&st, 0, sizeof(st));
    if (s)
        mr_store_stats(s, &st);
    mr_epoch_exit(&g);
    mr_handle_versions_list(h, s ? &st : NULL, out, count);
    mr_handle_unref(h);
    return 0;
}
