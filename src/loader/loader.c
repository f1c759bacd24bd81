/* loader.c - pull-based loading of Parquet partitions (loader.h): one polling thread per
 * followed table, discovery of the newest complete partition, parallel ranged reads of
 * its files, a streamed replace, status and metrics. */
#include "loader/loader.h"

#include "core/alloc.h"
#include "core/budget.h"
#include "core/log.h"
#include "core/schema.h"
#include "core/time.h"
#include "format/parquet.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define READ_CHUNK (8u << 20)   /* bytes per ranged read */
#define READ_THREADS 4          /* ranged reads of one file in flight */
#define PROGRESS_NS (5ull * 1000000000ull)
#define PART_MAX 256
#define FILE_MAX (16ull << 30)  /* a Parquet file is decoded from memory: the most one may take */

typedef struct follow {
    mr_loader_t *l;
    mr_follow_config_t cfg;
    mr_source_t *src;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop, refresh, started;
    /* status, under mu */
    const char *state;              /* "starting", "idle", "checking", "loading", "failed" */
    char serving[PART_MAX];         /* the partition served ("" = none yet) */
    char loading[PART_MAX];
    char attempted[PART_MAX];       /* the partition last tried (its retries are not logged) */
    uint64_t serving_since;         /* wall seconds the served partition was swapped in */
    uint64_t last_check, next_poll; /* wall seconds */
    char last_error[MURR_ERROR_MSG_MAX];
    char logged_error[MURR_ERROR_MSG_MAX]; /* the failure last logged (logged once) */
    uint64_t failures, loads;
    uint64_t rows_total, bytes_total;
    uint64_t progress_rows, progress_bytes;
    double last_load_seconds;
    struct follow *next;
} follow_t;

struct mr_loader {
    murr_db *db;
    pthread_mutex_t mu;
    follow_t *list;
};

mr_loader_t *mr_loader_new(murr_db *db)
{
    mr_loader_t *l = mr_xcalloc(1, sizeof(*l));
    l->db = db;
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

/* ------------------------------------------------------------------ status ---------- */

/* A failure: counted, kept for the status, logged when it differs from the last one. */
static void failed(follow_t *f, const mr_error_t *e)
{
    pthread_mutex_lock(&f->mu);
    f->failures++;
    f->state = "failed";
    snprintf(f->last_error, sizeof(f->last_error), "%s", e->message);
    bool news = strcmp(f->logged_error, e->message) != 0;
    if (news)
        snprintf(f->logged_error, sizeof(f->logged_error), "%s", e->message);
    pthread_mutex_unlock(&f->mu);
    if (news)
        MR_WARN("loader", "table '%s' from %s: %s (the served version stays; retried every %llu ms)", f->cfg.table,
                f->src->uri, e->message, (unsigned long long)f->cfg.poll_interval_ms);
}

static void succeeded(follow_t *f)
{
    pthread_mutex_lock(&f->mu);
    bool was_failing = f->logged_error[0] != '\0';
    f->logged_error[0] = '\0';
    f->last_error[0] = '\0';
    f->state = "idle";
    pthread_mutex_unlock(&f->mu);
    if (was_failing)
        MR_INFO("loader", "table '%s' from %s: polling works again", f->cfg.table, f->src->uri);
}

/* -------------------------------------------------------------- discovery ----------- */

static int cmp_obj_key(const void *a, const void *b)
{
    return strcmp(((const mr_object_t *)a)->key, ((const mr_object_t *)b)->key);
}

/* The newest partition with _SUCCESS: its name into part, its .parquet files (direct
 * children, sorted) as indexes into objs. Returns false when there is none. */
static bool newest_complete(mr_object_list_t *objs, char *part, size_t **files, size_t *nfiles)
{
    if (objs->n > 1)
        qsort(objs->v, objs->n, sizeof(*objs->v), cmp_obj_key);
    part[0] = '\0';
    for (size_t i = 0; i < objs->n; i++) {
        const char *k = objs->v[i].key, *slash = strchr(k, '/');
        if (slash == NULL || (size_t)(slash - k) >= PART_MAX || strcmp(slash + 1, "_SUCCESS") != 0)
            continue;
        char cand[PART_MAX];
        memcpy(cand, k, (size_t)(slash - k));
        cand[slash - k] = '\0';
        if (strcmp(cand, part) > 0)
            memcpy(part, cand, (size_t)(slash - k) + 1);
    }
    if (part[0] == '\0')
        return false;
    size_t pl = strlen(part), n = 0;
    *files = mr_xcalloc(objs->n + 1, sizeof(size_t));
    for (size_t i = 0; i < objs->n; i++) {
        const char *k = objs->v[i].key;
        size_t kl = strlen(k);
        if (strncmp(k, part, pl) == 0 && k[pl] == '/' && strchr(k + pl + 1, '/') == NULL && kl > pl + 9 &&
            strcmp(k + kl - 8, ".parquet") == 0)
            (*files)[n++] = i;
    }
    *nfiles = n;
    return true;
}

/* ------------------------------------------------------------ ranged reads ---------- */

typedef struct fetch_job {
    follow_t *f;
    const mr_object_t *obj;
    uint8_t *buf;
    _Atomic uint64_t next;
    _Atomic int rc;
    pthread_mutex_t mu;
    mr_error_t err;
} fetch_job_t;

static void *fetch_main(void *arg)
{
    fetch_job_t *j = arg;
    for (;;) {
        uint64_t off = atomic_fetch_add(&j->next, READ_CHUNK);
        if (off >= j->obj->size || atomic_load(&j->rc) != 0)
            return NULL;
        uint64_t len = j->obj->size - off < READ_CHUNK ? j->obj->size - off : READ_CHUNK;
        mr_error_t e = {0};
        int rc = j->f->src->ops->read(j->f->src, j->obj->key, j->obj->etag, off, len, j->buf + off, &e);
        if (rc != 0) {
            int zero = 0;
            pthread_mutex_lock(&j->mu);
            if (atomic_compare_exchange_strong(&j->rc, &zero, rc))
                j->err = e;
            pthread_mutex_unlock(&j->mu);
            return NULL;
        }
    }
}

/* Reads a whole object with up to READ_THREADS ranged reads in flight. */
static int fetch_object(follow_t *f, const mr_object_t *obj, uint8_t **out, mr_error_t *err)
{
    *out = NULL;
    if (obj->size > FILE_MAX)
        return mr_err_set(err, MURR_ETOOBIG, "'%s%s' has %llu bytes, more than the %llu one Parquet file may have",
                          f->src->uri, obj->key, (unsigned long long)obj->size, (unsigned long long)FILE_MAX);
    uint8_t *buf = mr_malloc(obj->size ? obj->size : 1);
    if (buf == NULL)
        return mr_err_set(err, MURR_ENOMEM, "cannot allocate %llu bytes for '%s'", (unsigned long long)obj->size,
                          obj->key);
    fetch_job_t j = {.f = f, .obj = obj, .buf = buf};
    pthread_mutex_init(&j.mu, NULL);
    uint64_t chunks = (obj->size + READ_CHUNK - 1) / READ_CHUNK;
    int nt = chunks < READ_THREADS ? (int)chunks : READ_THREADS;
    pthread_t th[READ_THREADS];
    int started = 0;
    for (int i = 1; i < nt; i++)
        if (pthread_create(&th[started], NULL, fetch_main, &j) == 0)
            started++;
    fetch_main(&j);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j.mu);
    if (atomic_load(&j.rc) != 0) {
        mr_free(buf);
        return mr_err_copy(err, &j.err);
    }
    *out = buf;
    return 0;
}

/* ------------------------------------------------------------------ schema ---------- */

/* Form-3 schema JSON from a Parquet file's columns and the configured key columns. */
static int infer_schema(follow_t *f, mr_pq_file_t *pq, const char *file, murr_schema **out, mr_error_t *err)
{
    json_t *cols = json_object();
    for (int c = 0; c < mr_pq_num_columns(pq); c++) {
        const char *name = mr_pq_column_name(pq, c);
        bool key = false;
        for (int k = 0; k < f->cfg.nkeys; k++)
            key |= strcmp(f->cfg.key[k], name) == 0;
        json_object_set_new(cols, name, json_pack("{sssbsb}", "dtype", murr_dtype_name(mr_pq_column_dtype(pq, c)),
                                                  "nullable", !key, "key", key));
    }
    for (int k = 0; k < f->cfg.nkeys; k++)
        if (json_object_get(cols, f->cfg.key[k]) == NULL) {
            json_decref(cols);
            return mr_err_set(err, MURR_EINVAL, "key column '%s' is not a column of '%s' (%d columns)", f->cfg.key[k],
                              file, mr_pq_num_columns(pq));
        }
    json_t *root = json_pack("{so}", "columns", cols);
    char *text = json_dumps(root, JSON_PRESERVE_ORDER);
    json_decref(root);
    int rc = murr_schema_from_json(text, strlen(text), out, err);
    free(text);
    if (rc != 0)
        mr_err_prefix(err, "schema inferred from '%s': ", file);
    return rc;
}

/* ------------------------------------------------------------------- load ----------- */

static bool stopping(follow_t *f)
{
    pthread_mutex_lock(&f->mu);
    bool s = f->stop;
    pthread_mutex_unlock(&f->mu);
    return s;
}

static void progress(follow_t *f, uint64_t rows, uint64_t bytes)
{
    pthread_mutex_lock(&f->mu);
    f->progress_rows = rows;
    f->progress_bytes = bytes;
    pthread_mutex_unlock(&f->mu);
}

/* Appends every row group of one file to the writer (creating the table first when its
 * schema is inferred). */
static int load_file(follow_t *f, murr_writer **w, const char *source, const mr_object_t *obj, uint64_t *rows,
                     uint64_t *bytes, uint64_t t0, uint64_t *last_log, mr_error_t *err)
{
    uint8_t *data;
    MR_RETURN_NOT_OK(fetch_object(f, obj, &data, err));
    mr_pq_file_t *pq = NULL;
    mr_budget_t budget; /* decision 0009: per row group, derived from the file's size */
    mr_budget_init_file(&budget, obj->size);
    int rc = mr_pq_open(data, obj->size, &budget, &pq, err);
    if (rc == 0 && *w == NULL) {
        murr_schema *s = NULL;
        rc = infer_schema(f, pq, obj->key, &s, err);
        if (rc == 0 && (rc = murr_create_table(f->l->db, f->cfg.table, s, err)) == 0)
            MR_INFO("loader", "created table '%s' with the schema of '%s%s' (%d columns)", f->cfg.table, f->src->uri,
                    obj->key, s->num_columns);
        if (rc == MURR_EEXIST)
            rc = 0;
        murr_schema_free(s);
        if (rc == 0)
            rc = murr_write_begin_opt(f->l->db, f->cfg.table, MURR_WRITE_REPLACE, source, w, err);
    }
    for (int rg = 0; rc == 0 && rg < mr_pq_num_row_groups(pq); rg++) {
        if (stopping(f)) {
            rc = mr_err_set(err, MURR_EBUSY, "stopped");
            break;
        }
        mr_batch_t *b;
        uint64_t before = budget.used;
        rc = mr_pq_read_row_group(pq, rg, &b, err);
        if (rc == 0) {
            rc = murr_writer_append(*w, b, err);
            if (rc != 0) /* the decoder's errors name the row group themselves */
                mr_err_prefix(err, "row group %d: ", rg);
            *rows += (uint64_t)b->num_rows;
            murr_batch_free(b);
        }
        mr_budget_release(&budget, budget.used - before); /* the row group is freed */
        uint64_t now = mr_now_ns();
        if (now - *last_log >= PROGRESS_NS) {
            double s = (double)(now - t0) / 1e9;
            MR_INFO("loader", "table '%s': loading %s: %llu rows, %.1f MB in %.1f s (%.0f rows/s)", f->cfg.table,
                    source, (unsigned long long)*rows, (double)*bytes / 1e6, s, (double)*rows / s);
            *last_log = now;
        }
        progress(f, *rows, *bytes);
    }
    *bytes += obj->size;
    mr_pq_close(pq);
    mr_free(data);
    if (rc != 0)
        mr_err_prefix(err, "'%s%s': ", f->src->uri, obj->key);
    return rc;
}

static int load_partition(follow_t *f, const char *part, const mr_object_list_t *objs, const size_t *files,
                          size_t nfiles, mr_error_t *err)
{
    if (nfiles == 0)
        return mr_err_set(err, MURR_ECORRUPT, "partition '%s' has _SUCCESS but no .parquet file", part);
    char source[MURR_SOURCE_MAX];
    int sn = snprintf(source, sizeof(source), "%s%s", f->src->uri, part);
    if (sn < 0 || (size_t)sn >= sizeof(source))
        return mr_err_set(err, MURR_EINVAL, "partition '%s' of %s: the version source would exceed %d bytes", part,
                          f->src->uri, MURR_SOURCE_MAX - 1);
    pthread_mutex_lock(&f->mu);
    f->state = "loading";
    snprintf(f->loading, sizeof(f->loading), "%s", part);
    f->progress_rows = f->progress_bytes = 0;
    pthread_mutex_unlock(&f->mu);
    uint64_t total = 0;
    for (size_t i = 0; i < nfiles; i++)
        total += objs->v[files[i]].size;
    if (strcmp(f->attempted, part) != 0) /* a retry of a failed load is counted, not logged */
        MR_INFO("loader", "table '%s': loading partition %s (%zu files, %.1f MB)", f->cfg.table, source, nfiles,
                (double)total / 1e6);
    snprintf(f->attempted, sizeof(f->attempted), "%s", part);
    uint64_t t0 = mr_now_ns(), last_log = t0, rows = 0, bytes = 0;
    murr_writer *w = NULL;
    int rc = 0;
    murr_schema *existing = NULL;
    if (murr_describe_table(f->l->db, f->cfg.table, &existing, NULL) == 0) {
        murr_schema_free(existing);
        rc = murr_write_begin_opt(f->l->db, f->cfg.table, MURR_WRITE_REPLACE, source, &w, err);
    }
    for (size_t i = 0; rc == 0 && i < nfiles; i++)
        rc = load_file(f, &w, source, &objs->v[files[i]], &rows, &bytes, t0, &last_log, err);
    if (rc == 0)
        rc = murr_writer_commit(w, err);
    else if (w)
        murr_writer_abort(w);
    double secs = (double)(mr_now_ns() - t0) / 1e9;
    pthread_mutex_lock(&f->mu);
    f->loading[0] = '\0';
    if (rc == 0) {
        snprintf(f->serving, sizeof(f->serving), "%s", part);
        f->serving_since = mr_wall_seconds();
        f->loads++;
        f->rows_total += rows;
        f->bytes_total += bytes;
        f->last_load_seconds = secs;
    }
    pthread_mutex_unlock(&f->mu);
    if (rc == 0)
        MR_INFO("loader", "table '%s': serving partition %s (%llu rows, %.1f MB in %.2f s: %.0f rows/s, %.1f MB/s)",
                f->cfg.table, source, (unsigned long long)rows, (double)bytes / 1e6, secs, (double)rows / secs,
                (double)bytes / 1e6 / secs);
    else
        mr_err_prefix(err, "loading partition '%s': ", part);
    return rc;
}

static void poll_once(follow_t *f)
{
    pthread_mutex_lock(&f->mu);
    f->state = "checking";
    f->last_check = mr_wall_seconds();
    pthread_mutex_unlock(&f->mu);
    mr_object_list_t objs = {0};
    mr_error_t e = {0};
    int rc = f->src->ops->list(f->src, &objs, &e);
    if (rc != 0) {
        mr_err_prefix(&e, "listing %s: ", f->src->uri);
        failed(f, &e);
        mr_object_list_free(&objs);
        return;
    }
    char part[PART_MAX];
    size_t *files = NULL, nfiles = 0;
    if (!newest_complete(&objs, part, &files, &nfiles)) {
        succeeded(f); /* nothing complete yet: not a failure */
    } else {
        pthread_mutex_lock(&f->mu);
        bool same = strcmp(part, f->serving) == 0;
        pthread_mutex_unlock(&f->mu);
        if (same)
            succeeded(f);
        else if (load_partition(f, part, &objs, files, nfiles, &e) == 0)
            succeeded(f);
        else if (!stopping(f))
            failed(f, &e);
    }
    mr_free(files);
    mr_object_list_free(&objs);
}

/* The partition the serving version was loaded from, if it came from this source. */
static void recall_serving(follow_t *f)
{
    murr_version_info *v;
    size_t n;
    if (murr_list_versions(f->l->db, f->cfg.table, &v, &n, NULL) != 0)
        return;
    size_t ul = strlen(f->src->uri);
    for (size_t i = 0; i < n; i++)
        if (v[i].serving && strncmp(v[i].source, f->src->uri, ul) == 0 && strlen(v[i].source + ul) < PART_MAX) {
            snprintf(f->serving, sizeof(f->serving), "%s", v[i].source + ul);
            f->serving_since = (uint64_t)v[i].created;
            MR_INFO("loader", "table '%s' serves partition %s%s (version %llu) from local disk", f->cfg.table,
                    f->src->uri, f->serving, (unsigned long long)v[i].id);
        }
    murr_free(v);
}

static void *follow_main(void *arg)
{
    follow_t *f = arg;
    recall_serving(f);
    for (;;) {
        poll_once(f);
        pthread_mutex_lock(&f->mu);
        uint64_t due = mr_wall_seconds() * 1000 + f->cfg.poll_interval_ms;
        f->next_poll = due / 1000;
        if (f->state != NULL && strcmp(f->state, "checking") == 0)
            f->state = "idle";
        while (!f->stop && !f->refresh) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
            if (now_ms >= due)
                break;
            uint64_t wait = due - now_ms < 1000 ? due - now_ms : 1000;
            uint64_t ns = (uint64_t)ts.tv_nsec + wait * 1000000u;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&f->cv, &f->mu, &ts);
        }
        bool stop = f->stop;
        f->refresh = false;
        pthread_mutex_unlock(&f->mu);
        if (stop)
            return NULL;
    }
}

/* ------------------------------------------------------------------ follow ---------- */

static bool same_schema(const murr_schema *a, const murr_schema *b, char *why, size_t cap)
{
    for (int32_t i = 0; i < a->num_columns; i++) {
        const murr_column_schema *c = &a->columns[i];
        int32_t j = mr_schema_find(b, c->name, c->name_len);
        if (j < 0) {
            snprintf(why, cap, "column '%s' (%s) is not in the stored table", c->name, murr_dtype_name(c->dtype));
            return false;
        }
        const murr_column_schema *d = &b->columns[j];
        if (c->dtype != d->dtype || c->key != d->key) {
            snprintf(why, cap, "column '%s' is %s%s in the configuration but %s%s in the stored table", c->name,
                     murr_dtype_name(c->dtype), c->key ? " (key)" : "", murr_dtype_name(d->dtype), d->key ? " (key)" : "");
            return false;
        }
    }
    for (int32_t j = 0; j < b->num_columns; j++)
        if (mr_schema_find(a, b->columns[j].name, b->columns[j].name_len) < 0) {
            snprintf(why, cap, "column '%s' of the stored table is not in the configuration", b->columns[j].name);
            return false;
        }
    return true;
}

static void follow_free(follow_t *f)
{
    if (f->started) {
        pthread_mutex_lock(&f->mu);
        f->stop = true;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
    }
    mr_source_free(f->src);
    mr_follow_config_deinit(&f->cfg);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    mr_free(f);
}

/* Unlinks the follower of `table` (caller holds l->mu). */
static follow_t *unlink_locked(mr_loader_t *l, const char *table)
{
    for (follow_t **p = &l->list; *p; p = &(*p)->next)
        if (strcmp((*p)->cfg.table, table) == 0) {
            follow_t *f = *p;
            *p = f->next;
            return f;
        }
    return NULL;
}

int mr_loader_follow(mr_loader_t *l, const mr_follow_config_t *cfg, mr_error_t *err)
{
    if (cfg->poll_interval_ms < 100)
        return mr_err_set(err, MURR_EINVAL, "table '%s': poll_interval of %llu ms is below the minimum of 100 ms",
                          cfg->table, (unsigned long long)cfg->poll_interval_ms);
    if (cfg->schema == NULL && cfg->nkeys == 0)
        return mr_err_set(err, MURR_EINVAL, "table '%s': a source needs `key` (the key columns) or `columns` with a key",
                          cfg->table);
    mr_source_t *src = NULL;
    int rc = cfg->kind == MR_SOURCE_LOCAL ? mr_source_local_new(cfg->local_path, &src, err)
             : cfg->kind == MR_SOURCE_S3  ? mr_source_s3_new(&cfg->s3, &src, err)
                                          : mr_err_set(err, MURR_EINVAL, "table '%s': no source kind", cfg->table);
    if (rc != 0)
        return rc;
    if (cfg->schema) {
        murr_schema *stored = NULL;
        if (murr_describe_table(l->db, cfg->table, &stored, NULL) == 0) {
            char why[512];
            bool same = same_schema(cfg->schema, stored, why, sizeof(why));
            murr_schema_free(stored);
            if (!same) {
                mr_source_free(src);
                return mr_err_set(err, MURR_EINVAL, "table '%s': the configured schema disagrees with the stored table: %s",
                                  cfg->table, why);
            }
        } else if ((rc = murr_create_table(l->db, cfg->table, cfg->schema, err)) != 0) {
            mr_source_free(src);
            return rc;
        }
    }
    follow_t *f = mr_xcalloc(1, sizeof(*f));
    f->l = l;
    f->cfg = *cfg;
    f->cfg.schema = cfg->schema ? mr_schema_clone(cfg->schema) : NULL;
    f->src = src;
    f->state = "starting";
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    pthread_mutex_lock(&l->mu);
    follow_t *old = unlink_locked(l, cfg->table);
    if (pthread_create(&f->thread, NULL, follow_main, f) != 0) {
        pthread_mutex_unlock(&l->mu);
        follow_free(f);
        if (old)
            follow_free(old);
        return mr_err_set(err, MURR_EINTERNAL, "cannot start the loader thread of '%s'", cfg->table);
    }
    f->started = true;
    f->next = l->list;
    l->list = f;
    pthread_mutex_unlock(&l->mu);
    if (old)
        follow_free(old);
    MR_INFO("loader", "table '%s' follows %s (every %llu ms)", cfg->table, src->uri,
            (unsigned long long)cfg->poll_interval_ms);
    return 0;
}

int mr_loader_unfollow(mr_loader_t *l, const char *table, mr_error_t *err)
{
    pthread_mutex_lock(&l->mu);
    follow_t *f = unlink_locked(l, table);
    pthread_mutex_unlock(&l->mu);
    if (f == NULL)
        return mr_err_set(err, MURR_ENOTFOUND, "table '%s' follows no source", table);
    follow_free(f);
    return 0;
}

/* The follower of table (caller holds l->mu). */
static follow_t *find_locked(mr_loader_t *l, const char *table)
{
    for (follow_t *f = l->list; f; f = f->next)
        if (strcmp(f->cfg.table, table) == 0)
            return f;
    return NULL;
}

int mr_loader_refresh(mr_loader_t *l, const char *table, mr_error_t *err)
{
    pthread_mutex_lock(&l->mu);
    follow_t *f = find_locked(l, table);
    if (f) {
        pthread_mutex_lock(&f->mu);
        f->refresh = true;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return f ? 0 : mr_err_set(err, MURR_ENOTFOUND, "table '%s' follows no source", table);
}

static json_t *time_or_null(uint64_t secs)
{
    if (secs == 0)
        return json_null();
    char buf[32];
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

int mr_loader_status_json(mr_loader_t *l, const char *table, char **out, mr_error_t *err)
{
    *out = NULL;
    pthread_mutex_lock(&l->mu);
    follow_t *f = find_locked(l, table);
    if (f == NULL) {
        pthread_mutex_unlock(&l->mu);
        return mr_err_set(err, MURR_ENOTFOUND, "table '%s' follows no source", table);
    }
    pthread_mutex_lock(&f->mu);
    json_t *o = json_pack("{sss{ssss}ssss?sosososIsIsIsIsIsf}", "table", f->cfg.table, "source", "kind",
                          f->src->ops->kind, "uri", f->src->uri, "state", f->state, "serving_partition",
                          f->serving[0] ? f->serving : NULL, "serving_since", time_or_null(f->serving_since),
                          "last_check", time_or_null(f->last_check), "next_poll", time_or_null(f->next_poll),
                          "poll_interval_ms", (json_int_t)f->cfg.poll_interval_ms, "failures", (json_int_t)f->failures,
                          "loads", (json_int_t)f->loads, "rows_loaded", (json_int_t)f->rows_total, "bytes_loaded",
                          (json_int_t)f->bytes_total, "last_load_seconds", f->last_load_seconds);
    json_object_set_new(o, "last_error", f->last_error[0] ? json_string(f->last_error) : json_null());
    if (f->loading[0])
        json_object_set_new(o, "loading", json_pack("{sssIsI}", "partition", f->loading, "rows",
                                                    (json_int_t)f->progress_rows, "bytes",
                                                    (json_int_t)f->progress_bytes));
    pthread_mutex_unlock(&f->mu);
    pthread_mutex_unlock(&l->mu);
    *out = json_dumps(o, JSON_PRESERVE_ORDER);
    json_decref(o);
    return *out ? 0 : mr_err_set(err, MURR_ENOMEM, "out of memory");
}

void mr_loader_metrics(mr_loader_t *l, mr_buf_t *out)
{
    static const char *const help[][2] = {
        {"murr_source_up", "1 when the last poll of the table's source succeeded"},
        {"murr_source_partition_age_seconds", "seconds since the served partition was swapped in"},
        {"murr_source_load_duration_seconds", "duration of the last completed load"},
        {"murr_source_loaded_rows_total", "rows loaded from the source"},
        {"murr_source_loaded_bytes_total", "bytes of Parquet loaded from the source"},
        {"murr_source_loads_total", "partitions loaded and swapped in"},
        {"murr_source_failures_total", "failed polls and loads"},
    };
    static const char *const types[] = {"gauge", "gauge", "gauge", "counter", "counter", "counter", "counter"};
    pthread_mutex_lock(&l->mu);
    uint64_t now = mr_wall_seconds();
    for (size_t m = 0; m < sizeof(types) / sizeof(types[0]) && l->list; m++) {
        mr_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", help[m][0], help[m][1], help[m][0], types[m]);
        for (follow_t *f = l->list; f; f = f->next) {
            pthread_mutex_lock(&f->mu);
            double v = m == 0   ? (f->last_error[0] == '\0')
                       : m == 1 ? (f->serving_since ? (double)(now - f->serving_since) : 0)
                       : m == 2 ? f->last_load_seconds
                       : m == 3 ? (double)f->rows_total
                       : m == 4 ? (double)f->bytes_total
                       : m == 5 ? (double)f->loads
                                : (double)f->failures;
            mr_buf_printf(out, "%s{table=\"%s\"} %.17g\n", help[m][0], f->cfg.table, v);
            pthread_mutex_unlock(&f->mu);
        }
    }
    pthread_mutex_unlock(&l->mu);
}

void mr_loader_free(mr_loader_t *l)
{
    if (l == NULL)
        return;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        follow_t *f = l->list;
        if (f)
            l->list = f->next;
        pthread_mutex_unlock(&l->mu);
        if (f == NULL)
            break;
        follow_free(f);
    }
    pthread_mutex_destroy(&l->mu);
    mr_free(l);
}
