/* catalog.c - the murr_db handle: tables by name, manifest.json (schemas, written
 * atomically: tmp + fsync + rename + directory fsync), the public engine API of murr.h, and
 * the background compaction thread.
 *
 * Locks (in this order, never the reverse): db->lock (rwlock over the table list; readers
 * hold it only for the lookup), then a table's wlock. Reads of table data take no lock:
 * they run inside an epoch, which keeps a dropped table alive until they leave. */
#include "core/alloc.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/time.h"
#include "engine/epoch.h"
#include "engine/table.h"
#include "engine/testhook.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct murr_db {
    char *path;
    murr_options opts;
    pthread_rwlock_t lock;
    mr_table_t **tables;
    size_t ntables, cap;
    pthread_mutex_t bg_lock;
    pthread_cond_t bg_cond;
    pthread_t bg_thread;
    bool bg_running, stopping;
};

MURR_API void murr_options_default(murr_options *o)
{
    o->sync_writes = true;
    o->segment_max_bytes = 256ull << 20;
    o->compact_garbage_ratio = 0.5;
    o->background_compaction = true;
    o->reopen_interval_ms = 10000;
    o->keep_versions = 1;
}

static size_t find_index_locked(murr_db *db, const char *name)
{
    for (size_t i = 0; i < db->ntables; i++)
        if (strcmp(db->tables[i]->name, name) == 0)
            return i;
    return SIZE_MAX;
}

static int write_manifest_locked(murr_db *db, mr_error_t *err)
{
    json_t *root = json_object();
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "updated_at", json_integer((json_int_t)mr_wall_seconds()));
    json_t *tables = json_object();
    for (size_t i = 0; i < db->ntables; i++)
        json_object_set_new(tables, db->tables[i]->name, mr_schema_to_jansson(db->tables[i]->schema));
    json_object_set_new(root, "tables", tables);
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

static void add_table_locked(murr_db *db, mr_table_t *t)
{
    if (db->ntables == db->cap) {
        db->cap = db->cap ? db->cap * 2 : 16;
        db->tables = mr_xrealloc(db->tables, db->cap * sizeof(*db->tables));
    }
    db->tables[db->ntables++] = t;
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
    json_t *tables = json_object_get(root, "tables");
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
        mr_table_t *t;
        int rc = mr_table_open(db->path, name, schema, &db->opts, &t, &e2);
        if (rc != 0) {
            /* never forgotten: listed, kept in the manifest, its name not reusable, retried */
            MR_ERROR("engine", "table '%s' is unavailable: %s (kept; retried every %u ms)", name, e2.message,
                     db->opts.reopen_interval_ms);
            t = mr_table_new_unavailable(db->path, name, schema, &db->opts, e2.message);
            t->reopen_at_ns = mr_now_ns() + (uint64_t)db->opts.reopen_interval_ms * 1000000u;
        }
        mr_schema_free(schema);
        add_table_locked(db, t);
        if (!t->damaged) {
            loaded++;
            MR_INFO("engine", "loaded table '%s' (%d columns, %llu rows)", name, t->schema->num_columns,
                    (unsigned long long)atomic_load(&atomic_load(&t->kd)->count));
        }
    }
    json_decref(root);
    MR_INFO("engine", "Service ready: %zu/%zu tables loaded in %llu ms", loaded, total,
            (unsigned long long)((mr_now_ns() - t0) / 1000000));
    return 0;
}

static void destroy_keep_files(void *p) { mr_table_destroy(p, false); }

/* Retries the tables whose files could not be opened. The open (recovery: I/O) runs with
 * no catalog lock held; a table that opens replaces its stand-in if that is still the
 * table of that name, and the stand-in is retired through the epoch (a reader may still
 * hold it). Inside an epoch throughout, so a stand-in dropped meanwhile stays readable. */
static void reopen_unavailable(murr_db *db)
{
    uint64_t now = mr_now_ns();
    bool any = false;
    pthread_rwlock_rdlock(&db->lock);
    for (size_t i = 0; i < db->ntables && !any; i++)
        any = db->tables[i]->unavailable;
    pthread_rwlock_unlock(&db->lock);
    if (!any) /* the usual case: no epoch slot for this thread */
        return;
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    pthread_rwlock_rdlock(&db->lock);
    size_t n = 0;
    mr_table_t **standins = mr_xcalloc(db->ntables + 1, sizeof(*standins));
    for (size_t i = 0; i < db->ntables; i++)
        if (db->tables[i]->unavailable && now >= db->tables[i]->reopen_at_ns)
            standins[n++] = db->tables[i];
    pthread_rwlock_unlock(&db->lock);
    for (size_t i = 0; i < n; i++) {
        mr_table_t *standin = standins[i], *t = NULL;
        mr_error_t e = {0};
        int rc = mr_table_open(db->path, standin->name, standin->schema, &db->opts, &t, &e);
        pthread_rwlock_wrlock(&db->lock);
        size_t idx = find_index_locked(db, standin->name);
        bool current = idx != SIZE_MAX && db->tables[idx] == standin;
        mr_table_t *opened = NULL;
        if (rc == 0 && current) {
            db->tables[idx] = opened = t;
            t = NULL;
        } else if (current) {
            standin->reopen_at_ns = mr_now_ns() + (uint64_t)db->opts.reopen_interval_ms * 1000000u;
        }
        pthread_rwlock_unlock(&db->lock);
        if (rc == 0 && current) {
            MR_INFO("engine", "table '%s' is available again (%llu rows)", standin->name,
                    (unsigned long long)atomic_load(&atomic_load(&opened->kd)->count));
            mr_table_mark_dropped(standin);
            mr_epoch_retire(destroy_keep_files, standin);
        } else if (current && strcmp(e.message, standin->damage) != 0) { /* a new reason is news */
            MR_WARN("engine", "table '%s' is still unavailable: %s", standin->name, e.message);
        }
        mr_table_destroy(t, false); /* opened, but the name was dropped or re-created meanwhile */
    }
    mr_free(standins);
    mr_epoch_exit(&g);
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
        if (!db->opts.background_compaction) {
            pthread_mutex_lock(&db->bg_lock);
            continue;
        }
        /* Snapshot names, then compact each by lookup (a drop may race: lookup fails). */
        pthread_rwlock_rdlock(&db->lock);
        size_t n = db->ntables;
        char **names = mr_xcalloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            names[i] = mr_xstrdup(db->tables[i]->name);
        pthread_rwlock_unlock(&db->lock);
        for (size_t i = 0; i < n; i++) {
            mr_epoch_guard_t g;
            mr_epoch_enter(&g);
            pthread_rwlock_rdlock(&db->lock);
            size_t idx = find_index_locked(db, names[i]);
            mr_table_t *t = idx == SIZE_MAX ? NULL : db->tables[idx];
            pthread_rwlock_unlock(&db->lock);
            if (t && !t->damaged) {
                mr_error_t e = {0};
                if (mr_table_compact(t, db->opts.compact_garbage_ratio, false, &e) != 0)
                    MR_WARN("engine", "background compaction of '%s' failed: %s", names[i], e.message);
            }
            mr_epoch_exit(&g);
            mr_free(names[i]);
        }
        mr_free(names);
        mr_epoch_collect();
        pthread_mutex_lock(&db->bg_lock);
    }
    pthread_mutex_unlock(&db->bg_lock);
    return NULL;
}

MURR_API int murr_open(const char *path, const murr_options *opts, murr_db **out, murr_error *err)
{
    *out = NULL;
    MR_RETURN_NOT_OK(mr_fs_mkdir_p(path, err));
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
    pthread_rwlock_init(&db->lock, NULL);
    pthread_mutex_init(&db->bg_lock, NULL);
    pthread_cond_init(&db->bg_cond, NULL);
    int rc = load_manifest(db, err);
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
    mr_epoch_drain();
    for (size_t i = 0; i < db->ntables; i++) {
        /* wait for an in-flight writer, then release everything */
        pthread_mutex_lock(&db->tables[i]->wlock);
        pthread_mutex_unlock(&db->tables[i]->wlock);
        mr_table_destroy(db->tables[i], false);
    }
    mr_free(db->tables);
    pthread_rwlock_destroy(&db->lock);
    pthread_mutex_destroy(&db->bg_lock);
    pthread_cond_destroy(&db->bg_cond);
    mr_free(db->path);
    mr_free(db);
}

void (*mr_testhook_write_begin_looked_up)(const char *name);

static int not_found(mr_error_t *err, const char *name)
{
    return mr_err_set(err, MURR_ENOTFOUND, "table not found: %s", name);
}

MURR_API int murr_create_table(murr_db *db, const char *name, const murr_schema *schema, murr_error *err)
{
    MR_RETURN_NOT_OK(murr_table_name_check(name, strlen(name), err));
    MR_RETURN_NOT_OK(mr_schema_validate(schema, err));
    pthread_rwlock_wrlock(&db->lock);
    int rc;
    if (find_index_locked(db, name) != SIZE_MAX) {
        rc = mr_err_set(err, MURR_EEXIST, "table already exists: %s", name);
        goto out;
    }
    mr_table_t *t;
    rc = mr_table_create(db->path, name, schema, &db->opts, &t, err);
    if (rc != 0)
        goto out;
    add_table_locked(db, t);
    rc = write_manifest_locked(db, err);
    if (rc != 0) {
        db->ntables--;
        mr_table_destroy(t, true);
        goto out;
    }
    MR_INFO("engine", "created table '%s' (%d columns, %d key column(s) from '%s', schema form %d)", name,
            schema->num_columns, schema->num_keys, schema->columns[schema->key_index].name, (int)schema->form);
out:
    pthread_rwlock_unlock(&db->lock);
    return rc;
}

static void destroy_and_remove(void *p) { mr_table_destroy(p, true); }

MURR_API int murr_drop_table(murr_db *db, const char *name, murr_error *err)
{
    pthread_rwlock_wrlock(&db->lock);
    size_t i = find_index_locked(db, name);
    if (i == SIZE_MAX) {
        pthread_rwlock_unlock(&db->lock);
        return not_found(err, name);
    }
    mr_table_t *t = db->tables[i];
    db->tables[i] = db->tables[--db->ntables];
    int rc = write_manifest_locked(db, err);
    if (rc != 0) {
        db->tables[db->ntables++] = t; /* the manifest still lists it: keep it */
        pthread_rwlock_unlock(&db->lock);
        return rc;
    }
    pthread_rwlock_unlock(&db->lock);
    /* A writer in progress finishes first; one that looked the table up but has not taken
     * its writer lock yet (it is still inside its epoch, so t is alive) finds it dropped.
     * Then readers drain through the epoch. */
    mr_table_mark_dropped(t);
    mr_epoch_retire(destroy_and_remove, t);
    MR_INFO("engine", "dropped table '%s'", name);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

MURR_API int murr_list_tables(murr_db *db, char ***names, size_t *count, murr_error *err)
{
    pthread_rwlock_rdlock(&db->lock);
    size_t n = 0;
    char **v = mr_xcalloc(db->ntables + 1, sizeof(char *));
    for (size_t i = 0; i < db->ntables; i++)
        if (!db->tables[i]->damaged || db->tables[i]->unavailable)
            v[n++] = mr_xstrdup(db->tables[i]->name);
    pthread_rwlock_unlock(&db->lock);
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

/* Looks a table up inside the caller's epoch. */
static mr_table_t *lookup(murr_db *db, const char *name)
{
    pthread_rwlock_rdlock(&db->lock);
    size_t i = find_index_locked(db, name);
    mr_table_t *t = i == SIZE_MAX ? NULL : db->tables[i];
    pthread_rwlock_unlock(&db->lock);
    return t;
}

MURR_API int murr_describe_table(murr_db *db, const char *name, murr_schema **out, murr_error *err)
{
    pthread_rwlock_rdlock(&db->lock);
    size_t i = find_index_locked(db, name);
    int rc = 0;
    if (i == SIZE_MAX)
        rc = not_found(err, name);
    else
        *out = mr_schema_clone(db->tables[i]->schema);
    pthread_rwlock_unlock(&db->lock);
    return rc;
}

MURR_API int murr_write_many(murr_db *db, const char *name, const murr_batch *const *batches, size_t count,
                             murr_error *err)
{
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_table_t *t = lookup(db, name);
    int rc = t ? mr_table_write(t, batches, count, err) : not_found(err, name);
    mr_epoch_exit(&g);
    return rc;
}

MURR_API int murr_write(murr_db *db, const char *name, const murr_batch *batch, murr_error *err)
{
    return murr_write_many(db, name, &batch, 1, err);
}

MURR_API int murr_read_opt(murr_db *db, const char *name, const char *const *keys, const size_t *key_lens,
                           size_t num_keys, const char *const *columns, size_t num_columns, unsigned flags,
                           murr_batch **out, murr_error *err)
{
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_table_t *t = lookup(db, name);
    int rc = t ? mr_table_read(t, keys, key_lens, num_keys, columns, num_columns, flags, out, err)
               : not_found(err, name);
    mr_epoch_exit(&g);
    return rc;
}

MURR_API int murr_read(murr_db *db, const char *name, const char *const *keys, const size_t *key_lens, size_t num_keys,
                       const char *const *columns, size_t num_columns, murr_batch **out, murr_error *err)
{
    return murr_read_opt(db, name, keys, key_lens, num_keys, columns, num_columns, 0, out, err);
}

MURR_API int murr_read_keys(murr_db *db, const char *name, const murr_batch *keys, const char *const *columns,
                            size_t num_columns, unsigned flags, murr_batch **out, murr_error *err)
{
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_table_t *t = lookup(db, name);
    int rc = t ? mr_table_read_keys(t, keys, columns, num_columns, flags, out, err) : not_found(err, name);
    mr_epoch_exit(&g);
    return rc;
}

MURR_API int murr_compact(murr_db *db, const char *name, murr_error *err)
{
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_table_t *t = lookup(db, name);
    int rc = t ? mr_table_compact(t, 0.0, true, err) : not_found(err, name);
    mr_epoch_exit(&g);
    mr_epoch_collect();
    return rc;
}

MURR_API int murr_table_stats_get(murr_db *db, const char *name, murr_table_stats *out, murr_error *err)
{
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_table_t *t = lookup(db, name);
    int rc = 0;
    if (t)
        mr_table_stats(t, out);
    else
        rc = not_found(err, name);
    mr_epoch_exit(&g);
    return rc;
}

/* The writer holds the table's writer lock, so a drop waits for it to finish: the table
 * cannot be retired under an open writer (no epoch needed between calls). */
struct murr_writer {
    mr_txn_t *txn;
};

MURR_API int murr_write_begin(murr_db *db, const char *name, murr_writer **out, murr_error *err)
{
    *out = NULL;
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_table_t *t = lookup(db, name);
    int rc;
    mr_txn_t *x = NULL;
    if (t == NULL) {
        rc = not_found(err, name);
    } else {
        if (mr_testhook_write_begin_looked_up != NULL)
            mr_testhook_write_begin_looked_up(name);
        rc = mr_table_txn_begin(t, &x, err);
    }
    mr_epoch_exit(&g);
    if (rc != 0)
        return rc;
    murr_writer *w = mr_xcalloc(1, sizeof(*w));
    w->txn = x;
    *out = w;
    return 0;
}

MURR_API int murr_writer_append(murr_writer *w, const murr_batch *batch, murr_error *err)
{
    return mr_table_txn_append(w->txn, &batch, 1, err);
}

MURR_API int murr_writer_commit(murr_writer *w, murr_error *err)
{
    int rc = mr_table_txn_commit(w->txn, err);
    mr_free(w);
    return rc;
}

MURR_API void murr_writer_abort(murr_writer *w)
{
    if (w == NULL)
        return;
    mr_table_txn_abort(w->txn);
    mr_free(w);
}
