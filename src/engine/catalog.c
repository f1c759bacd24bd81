/* catalog.c - the murr_db handle: tables by name (handles), manifest.json (schemas and
 * versions, written atomically: tmp + fsync + rename + directory fsync), open/close,
 * create/drop/list/describe, and the background thread (retries of unavailable tables,
 * compaction). Locks: catalog.h. */
#include "engine/catalog.h"

#include "core/alloc.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/time.h"
#include "engine/epoch.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRASH_DIR ".trash"

MURR_API void murr_options_default(murr_options *o)
{
    o->sync_writes = true;
    o->segment_max_bytes = 256ull << 20;
    o->compact_garbage_ratio = 0.5;
    o->background_compaction = true;
    o->reopen_interval_ms = 10000;
    o->keep_versions = 1;
}

int mr_catalog_not_found(mr_error_t *err, const char *name)
{
    return mr_err_set(err, MURR_ENOTFOUND, "table not found: %s", name);
}

static size_t find_index_locked(murr_db *db, const char *name)
{
    for (size_t i = 0; i < db->ntables; i++)
        if (strcmp(db->tables[i]->name, name) == 0)
            return i;
    return SIZE_MAX;
}

mr_handle_t *mr_catalog_lookup(murr_db *db, const char *name)
{
    pthread_rwlock_rdlock(&db->lock);
    size_t i = find_index_locked(db, name);
    mr_handle_t *h = i == SIZE_MAX ? NULL : db->tables[i];
    if (h)
        mr_handle_ref(h);
    pthread_rwlock_unlock(&db->lock);
    return h;
}

int mr_catalog_write_manifest(murr_db *db, mr_error_t *err)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "updated_at", json_integer((json_int_t)mr_wall_seconds()));
    json_t *tables = json_object(), *versions = json_object();
    pthread_rwlock_rdlock(&db->lock);
    for (size_t i = 0; i < db->ntables; i++) {
        mr_handle_t *h = db->tables[i];
        json_object_set_new(tables, h->name, mr_schema_to_jansson(h->schema));
        json_object_set_new(versions, h->name, mr_handle_versions_to_json(h));
    }
    pthread_rwlock_unlock(&db->lock);
    json_object_set_new(root, "tables", tables);
    /* a member of its own: releases before versions read `tables` as before */
    json_object_set_new(root, "versions", versions);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (text == NULL)
        return mr_err_set(err, MURR_ENOMEM, "cannot serialise the manifest");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/manifest.json", db->path);
    int rc = mr_fs_write_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

static void add_table_locked(murr_db *db, mr_handle_t *h)
{
    if (db->ntables == db->cap) {
        db->cap = db->cap ? db->cap * 2 : 16;
        db->tables = mr_xrealloc(db->tables, db->cap * sizeof(*db->tables));
    }
    db->tables[db->ntables++] = h;
}

static bool version_is_listed(mr_handle_t *h, uint64_t id)
{
    if (h->serving.id == id)
        return true;
    for (size_t i = 0; i < h->nkept; i++)
        if (h->kept[i].id == id)
            return true;
    return false;
}

/* Removes what no version owns: staging directories of replaces a crash interrupted, and
 * files of pruned versions whose removal a crash interrupted. */
static void remove_strays(mr_handle_t *h)
{
    DIR *d = opendir(h->dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char *end;
        if (de->d_name[0] != 'v' || de->d_name[1] < '0' || de->d_name[1] > '9')
            continue;
        unsigned long long id = strtoull(de->d_name + 1, &end, 10);
        if (*end != '\0' || id < 2 || version_is_listed(h, id))
            continue;
        char dir[PATH_MAX];
        mr_handle_version_dir(h, id, dir, sizeof(dir));
        MR_WARN("engine", "table '%s': removing '%s': no version owns it (a replace interrupted by a crash)", h->name,
                dir);
        mr_fs_remove_tree(dir, NULL);
    }
    closedir(d);
    if (!version_is_listed(h, 1))
        h->ops->remove(h->dir, NULL);
}

/* Opens the serving version of h; on failure the handle stays, unavailable with the
 * reason, retried by the background thread. */
static int open_serving(murr_db *db, mr_handle_t *h, mr_error_t *err)
{
    char dir[PATH_MAX];
    mr_handle_version_dir(h, h->serving.id, dir, sizeof(dir));
    mr_store_t *s;
    int rc = h->ops->open(dir, h->name, h->schema, &db->opts, &s, err);
    pthread_mutex_lock(&h->meta);
    if (rc == 0)
        h->unavailable[0] = '\0';
    else
        snprintf(h->unavailable, sizeof(h->unavailable), "%s", err->message);
    h->reopen_at_ns = mr_now_ns() + (uint64_t)db->opts.reopen_interval_ms * 1000000u;
    pthread_mutex_unlock(&h->meta);
    if (rc == 0)
        mr_handle_set_store(h, s);
    return rc;
}

static uint64_t live_rows(mr_handle_t *h)
{
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    murr_table_stats st = {0};
    mr_store_t *s = atomic_load(&h->store);
    if (s)
        mr_store_stats(s, &st);
    mr_epoch_exit(&g);
    return st.rows;
}

static int load_manifest(murr_db *db, mr_error_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/manifest.json", db->path);
    if (!mr_fs_exists(path)) {
        MR_INFO("engine", "Manifest at %s: 0 table(s) (new data directory)", path);
        return 0;
    }
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (root == NULL)
        return mr_err_set(err, MURR_ECORRUPT, "manifest '%s' is not valid JSON: %s at line %d column %d", path, je.text,
                          je.line, je.column);
    json_t *tables = json_object_get(root, "tables"), *versions = json_object_get(root, "versions");
    if (!json_is_object(tables)) {
        json_decref(root);
        return mr_err_set(err, MURR_ECORRUPT, "manifest '%s': member `tables` is missing or not an object", path);
    }
    uint64_t t0 = mr_now_ns();
    size_t total = json_object_size(tables), loaded = 0;
    const char *name;
    json_t *sv;
    json_object_foreach(tables, name, sv) {
        mr_error_t e2 = {0};
        mr_schema_t *schema;
        if (murr_table_name_check(name, strlen(name), &e2) != 0 || mr_schema_from_jansson(sv, &schema, &e2) != 0) {
            MR_WARN("engine", "skipping table '%s' in %s: %s", name, path, e2.message);
            continue;
        }
        mr_handle_t *h = mr_handle_new(db->path, name, schema, &mr_native_store_ops, &db->opts);
        mr_schema_free(schema);
        if (mr_handle_versions_from_json(h, json_object_get(versions, name), &e2) != 0) {
            json_decref(root);
            mr_handle_unref(h);
            return mr_err_copy(err, &e2);
        }
        remove_strays(h);
        add_table_locked(db, h);
        if (open_serving(db, h, &e2) != 0) {
            /* never forgotten: listed, kept in the manifest, its name not reusable, retried */
            MR_ERROR("engine", "table '%s' is unavailable: %s (kept; retried every %u ms)", name, e2.message,
                     db->opts.reopen_interval_ms);
            continue;
        }
        if (mr_store_status(atomic_load(&h->store), NULL) == 0) {
            loaded++;
            MR_INFO("engine", "loaded table '%s' (%d columns, %llu rows, version %llu)", name, h->schema->num_columns,
                    (unsigned long long)live_rows(h), (unsigned long long)h->serving.id);
        }
    }
    json_decref(root);
    MR_INFO("engine", "Service ready: %zu/%zu tables loaded in %llu ms", loaded, total,
            (unsigned long long)((mr_now_ns() - t0) / 1000000));
    return 0;
}

/* Retries the tables whose serving version could not be opened. The open (recovery: I/O)
 * runs with no catalog lock held, under the handle's lock. */
static void reopen_unavailable(murr_db *db)
{
    uint64_t now = mr_now_ns();
    pthread_rwlock_rdlock(&db->lock);
    size_t n = 0;
    mr_handle_t **due = mr_xcalloc(db->ntables + 1, sizeof(*due));
    for (size_t i = 0; i < db->ntables; i++) {
        mr_handle_t *h = db->tables[i];
        pthread_mutex_lock(&h->meta);
        bool retry = h->unavailable[0] != '\0' && now >= h->reopen_at_ns;
        pthread_mutex_unlock(&h->meta);
        if (retry) {
            mr_handle_ref(h);
            due[n++] = h;
        }
    }
    pthread_rwlock_unlock(&db->lock);
    for (size_t i = 0; i < n; i++) {
        mr_handle_t *h = due[i];
        pthread_mutex_lock(&h->lock);
        if (atomic_load(&h->store) == NULL && !atomic_load(&h->dropped)) {
            char before[MURR_ERROR_MSG_MAX];
            pthread_mutex_lock(&h->meta);
            snprintf(before, sizeof(before), "%s", h->unavailable);
            pthread_mutex_unlock(&h->meta);
            mr_error_t e = {0};
            if (open_serving(db, h, &e) == 0)
                MR_INFO("engine", "table '%s' is available again (%llu rows)", h->name,
                        (unsigned long long)live_rows(h));
            else if (strcmp(e.message, before) != 0) /* a new reason is news */
                MR_WARN("engine", "table '%s' is still unavailable: %s", h->name, e.message);
        }
        pthread_mutex_unlock(&h->lock);
        mr_handle_unref(h);
    }
    mr_free(due);
}

static void compact_all(murr_db *db)
{
    pthread_rwlock_rdlock(&db->lock);
    size_t n = db->ntables;
    mr_handle_t **hs = mr_xcalloc(n ? n : 1, sizeof(*hs));
    for (size_t i = 0; i < n; i++) {
        hs[i] = db->tables[i];
        mr_handle_ref(hs[i]);
    }
    pthread_rwlock_unlock(&db->lock);
    for (size_t i = 0; i < n; i++) {
        mr_handle_t *h = hs[i];
        mr_store_t *s;
        mr_epoch_guard_t g;
        mr_epoch_enter(&g);
        s = atomic_load(&h->store);
        if (s)
            mr_store_ref(s);
        mr_epoch_exit(&g);
        if (s && !atomic_load(&h->dropped) && mr_store_status(s, NULL) == 0) {
            mr_error_t e = {0};
            int rc = mr_store_compact(s, db->opts.compact_garbage_ratio, false, &e);
            if (rc != 0 && rc != MURR_EAGAIN)
                MR_WARN("engine", "background compaction of '%s' failed: %s", h->name, e.message);
        }
        mr_store_unref(s);
        mr_handle_unref(h);
    }
    mr_free(hs);
}

static void *bg_main(void *arg)
{
    murr_db *db = arg;
    pthread_mutex_lock(&db->bg_lock);
    while (!db->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t tick_ms = db->opts.reopen_interval_ms < 1000 ? db->opts.reopen_interval_ms : 1000;
        uint64_t ns = (uint64_t)ts.tv_nsec + tick_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&db->bg_cond, &db->bg_lock, &ts);
        if (db->stopping)
            break;
        pthread_mutex_unlock(&db->bg_lock);
        reopen_unavailable(db);
        if (db->opts.background_compaction)
            compact_all(db);
        mr_epoch_collect();
        pthread_mutex_lock(&db->bg_lock);
    }
    pthread_mutex_unlock(&db->bg_lock);
    return NULL;
}

MURR_API int murr_open(const char *path, const murr_options *opts, murr_db **out, murr_error *err)
{
    *out = NULL;
    murr_db *db = mr_xcalloc(1, sizeof(*db));
    db->path = mr_xstrdup(path);
    if (opts)
        db->opts = *opts;
    else
        murr_options_default(&db->opts);
    if (db->opts.segment_max_bytes < (1u << 16))
        db->opts.segment_max_bytes = 1u << 16;
    if (db->opts.reopen_interval_ms == 0)
        db->opts.reopen_interval_ms = 10000;
    int rc = mr_native_store_ops.check_options(&db->opts, err);
    if (rc == 0)
        rc = mr_fs_mkdir_p(path, err);
    if (rc != 0) {
        mr_free(db->path);
        mr_free(db);
        return rc;
    }
    pthread_mutex_init(&db->manifest_lock, NULL);
    pthread_rwlock_init(&db->lock, NULL);
    pthread_mutex_init(&db->bg_lock, NULL);
    pthread_cond_init(&db->bg_cond, NULL);
    char trash[PATH_MAX];
    snprintf(trash, sizeof(trash), "%s/" TRASH_DIR, path);
    mr_fs_remove_tree(trash, NULL); /* dropped tables whose removal a crash interrupted */
    rc = load_manifest(db, err);
    if (rc != 0) {
        murr_close(db);
        return rc;
    }
    /* compaction (when enabled) and the retries of unavailable tables */
    if (pthread_create(&db->bg_thread, NULL, bg_main, db) != 0) {
        murr_close(db);
        return mr_err_set(err, MURR_EINTERNAL, "cannot start the background thread");
    }
    db->bg_running = true;
    *out = db;
    return 0;
}

MURR_API void murr_close(murr_db *db)
{
    if (db == NULL)
        return;
    if (db->bg_running) {
        pthread_mutex_lock(&db->bg_lock);
        db->stopping = true;
        pthread_cond_signal(&db->bg_cond);
        pthread_mutex_unlock(&db->bg_lock);
        pthread_join(db->bg_thread, NULL);
    }
    for (size_t i = 0; i < db->ntables; i++)
        mr_handle_unref(db->tables[i]);
    mr_epoch_drain();
    mr_free(db->tables);
    pthread_mutex_destroy(&db->manifest_lock);
    pthread_rwlock_destroy(&db->lock);
    pthread_mutex_destroy(&db->bg_lock);
    pthread_cond_destroy(&db->bg_cond);
    mr_free(db->path);
    mr_free(db);
}

MURR_API int murr_create_table(murr_db *db, const char *name, const murr_schema *schema, murr_error *err)
{
    MR_RETURN_NOT_OK(murr_table_name_check(name, strlen(name), err));
    MR_RETURN_NOT_OK(mr_schema_validate(schema, err));
    pthread_mutex_lock(&db->manifest_lock);
    int rc = 0;
    pthread_rwlock_rdlock(&db->lock);
    bool exists = find_index_locked(db, name) != SIZE_MAX;
    pthread_rwlock_unlock(&db->lock);
    mr_handle_t *h = NULL;
    mr_store_t *s = NULL;
    if (exists) {
        rc = mr_err_set(err, MURR_EEXIST, "table already exists: %s", name);
        goto out;
    }
    h = mr_handle_new(db->path, name, schema, &mr_native_store_ops, &db->opts);
    rc = h->ops->create(h->dir, name, h->schema, &db->opts, &s, err);
    if (rc != 0)
        goto out;
    mr_handle_set_store(h, s);
    pthread_rwlock_wrlock(&db->lock);
    add_table_locked(db, h);
    pthread_rwlock_unlock(&db->lock);
    rc = mr_catalog_write_manifest(db, err);
    if (rc != 0) {
        pthread_rwlock_wrlock(&db->lock);
        db->ntables--;
        pthread_rwlock_unlock(&db->lock);
        mr_handle_mark_dropped(h);
        mr_store_remove_on_free(s);
        goto out;
    }
    MR_INFO("engine", "created table '%s' (%d columns, %d key column(s) from '%s', schema form %d)", name,
            schema->num_columns, schema->num_keys, schema->columns[schema->key_index].name, (int)schema->form);
    h = NULL; /* the catalog's reference */
out:
    pthread_mutex_unlock(&db->manifest_lock);
    mr_handle_unref(h);
    return rc;
}

/* Moves a dropped table's directory aside at once (a re-created table of that name starts
 * clean, whatever still holds the old one); the last reference removes it. */
static char *move_to_trash(murr_db *db, mr_handle_t *h)
{
    char trash[PATH_MAX];
    snprintf(trash, sizeof(trash), "%s/" TRASH_DIR, db->path);
    mr_fs_mkdir_p(trash, NULL);
    size_t n = strlen(trash) + strlen(h->name) + 32;
    char *to = mr_xmalloc(n);
    snprintf(to, n, "%s/%s.%llu", trash, h->name, (unsigned long long)mr_now_ns());
    if (rename(h->dir, to) != 0) {
        if (errno != ENOENT)
            MR_WARN("engine", "cannot move '%s' to '%s': %s; removing it in place", h->dir, to, strerror(errno));
        mr_free(to);
        return NULL;
    }
    return to;
}

MURR_API int murr_drop_table(murr_db *db, const char *name, murr_error *err)
{
    pthread_mutex_lock(&db->manifest_lock);
    pthread_rwlock_wrlock(&db->lock);
    size_t i = find_index_locked(db, name);
    if (i == SIZE_MAX) {
        pthread_rwlock_unlock(&db->lock);
        pthread_mutex_unlock(&db->manifest_lock);
        return mr_catalog_not_found(err, name);
    }
    mr_handle_t *h = db->tables[i];
    db->tables[i] = db->tables[--db->ntables];
    pthread_rwlock_unlock(&db->lock);
    int rc = mr_catalog_write_manifest(db, err);
    if (rc != 0) {
        pthread_rwlock_wrlock(&db->lock);
        add_table_locked(db, h); /* the manifest still lists it: keep it */
        pthread_rwlock_unlock(&db->lock);
        pthread_mutex_unlock(&db->manifest_lock);
        return rc;
    }
    /* No new transaction begins (writers that looked it up find it dropped); one in
     * progress finishes into files that are already moved aside. */
    mr_handle_mark_dropped(h);
    char *trash = move_to_trash(db, h);
    pthread_mutex_unlock(&db->manifest_lock);
    if (trash) {
        mr_handle_set_trash(h, trash);
        mr_free(trash);
    } else {
        /* not moved: the serving store removes its own files (relative to its directory
         * descriptor, so never a re-created table's); kept versions stay until removed by hand */
        mr_store_t *s = atomic_load(&h->store);
        if (s)
            mr_store_remove_on_free(s);
    }
    mr_handle_unref(h);
    MR_INFO("engine", "dropped table '%s'", name);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

MURR_API int murr_list_tables(murr_db *db, char ***names, size_t *count, murr_error *err)
{
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    pthread_rwlock_rdlock(&db->lock);
    size_t n = 0;
    char **v = mr_xcalloc(db->ntables + 1, sizeof(char *));
    for (size_t i = 0; i < db->ntables; i++) {
        /* damaged tables are not listed (0001); unavailable ones are (they come back) */
        mr_store_t *s = atomic_load(&db->tables[i]->store);
        if (s == NULL || mr_store_status(s, NULL) == 0)
            v[n++] = mr_xstrdup(db->tables[i]->name);
    }
    pthread_rwlock_unlock(&db->lock);
    mr_epoch_exit(&g);
    qsort(v, n, sizeof(char *), cmp_str);
    *names = v;
    *count = n;
    (void)err;
    return 0;
}

MURR_API void murr_names_free(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        mr_free(names[i]);
    mr_free(names);
}

MURR_API int murr_describe_table(murr_db *db, const char *name, murr_schema **out, murr_error *err)
{
    mr_handle_t *h = mr_catalog_lookup(db, name);
    if (h == NULL)
        return mr_catalog_not_found(err, name);
    *out = mr_schema_clone(h->schema);
    mr_handle_unref(h);
    return 0;
}
