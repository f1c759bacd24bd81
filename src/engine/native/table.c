/* table.c - one table of the native store: schema -> row layout, the store's lifecycle
 * (create, open with recovery, remove, destroy), status, seal, stats, and
 * mr_native_store_ops, which binds the operations of the other modules (native.h) into the
 * store interface (store.h).
 *
 * Rules: a store is created or opened (and recovered) before anyone else can see it, and
 * destroyed when its last reference goes (store.h), so lifecycle needs no lock. Stats are
 * lock-free: the caller is inside an epoch. Sealing is an atomic flag that transactions and
 * compaction check under the writer lock. */
#include "engine/native/native.h"

#include "core/alloc.h"
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ layout ---------- */

/* Non-key columns in schema order, each with a fixed slot of its dtype's width (bool: one
 * byte; utf8 and variable lists: the u32 offset of its tail entry; fixed-size lists: none,
 * their vectors are in the vector area); the validity bitmap precedes the slots. */
static void layout_init(mr_table_t *t)
{
    const mr_schema_t *s = t->schema;
    t->ncols = s->num_columns - s->num_keys;
    mr_key_codec_init(&t->key, s);
    t->cols = mr_xcalloc((size_t)(t->ncols ? t->ncols : 1), sizeof(mr_col_layout_t));
    t->col_of_schema = mr_xcalloc((size_t)s->num_columns, sizeof(int32_t));
    uint32_t off = 0, vec = 0;
    int32_t k = 0;
    for (int32_t i = 0; i < s->num_columns; i++) {
        if (s->columns[i].key) {
            t->col_of_schema[i] = -1;
            continue;
        }
        murr_dtype dt = s->columns[i].dtype;
        int32_t dim = s->columns[i].dim;
        uint32_t w = dt == MURR_BOOL ? 1 : mr_dtype_is_list(dt) ? (dim > 0 ? 0 : 4) : (uint32_t)mr_dtype_width(dt);
        t->cols[k] = (mr_col_layout_t){.schema_index = i, .dtype = dt, .slot = off, .width = w, .dim = dim};
        if (mr_dtype_is_list(dt) && dim > 0) { /* inline, 8-aligned in the vector area */
            t->cols[k].vec = vec;
            t->cols[k].vec_bytes = (uint32_t)dim * (uint32_t)mr_list_elem_width(dt);
            vec += (t->cols[k].vec_bytes + 7) & ~7u;
        }
        t->col_of_schema[i] = k++;
        off += w;
    }
    t->bitmap_bytes = (uint32_t)mr_bitmap_bytes(t->ncols);
    t->fixed_bytes = off;
    t->vec_area = vec;
}

/* ------------------------------------------------------------------ errors ---------- */

int mr_table_damaged_error(const mr_table_t *t, const char *what, mr_error_t *err)
{
    return mr_err_set(err, MURR_EBUSY, "table '%s' is damaged and refuses %s: %s", t->name, what, t->damage);
}

/* Checked under the writer lock, so a writer that looked the store up before it was
 * sealed either finished first or finds it here. */
int mr_table_sealed_error(const mr_table_t *t, mr_error_t *err)
{
    return mr_err_set(err, MURR_EAGAIN, "table '%s': this version no longer takes writes", t->name);
}

int mr_table_status(mr_store_t *s, mr_error_t *err)
{
    mr_table_t *t = (mr_table_t *)s;
    return t->damaged ? mr_table_damaged_error(t, "reads and writes", err) : 0;
}

void mr_table_seal(mr_store_t *s)
{
    atomic_store(&((mr_table_t *)s)->sealed, true);
}

/* ------------------------------------------------------------ lifecycle ------------- */

static mr_table_t *table_alloc(const char *dir, const char *name, const mr_schema_t *schema, const murr_options *opts)
{
    mr_table_t *t = mr_xcalloc(1, sizeof(*t));
    mr_store_init(&t->base, &mr_native_store_ops);
    t->name = mr_xstrdup(name);
    t->dir = mr_xstrdup(dir);
    t->dirfd = -1;
    t->schema = mr_schema_clone(schema);
    t->opts = opts;
    t->next_seq = 1;
    t->next_file = 1;
    pthread_mutex_init(&t->wlock, NULL);
    layout_init(t);
    return t;
}

static int table_open_dir(mr_table_t *t, mr_error_t *err)
{
    t->dirfd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->dirfd < 0)
        return mr_err_set(err, MURR_EIO, "cannot open table directory '%s': %s", t->dir, strerror(errno));
    return 0;
}

int mr_table_check_options(const murr_options *opts, mr_error_t *err)
{
    if (opts->segment_max_bytes > MR_KD_SEG_REACH)
        return mr_err_set(err, MURR_EINVAL,
                          "storage.segment_max_bytes %llu exceeds the native store's limit of %llu bytes (32 GiB): a key "
                          "directory slot holds a record's offset in %d bits of 8-byte units (decision 0013)",
                          (unsigned long long)opts->segment_max_bytes, (unsigned long long)MR_KD_SEG_REACH,
                          MR_KD_OFF_BITS);
    return 0;
}

static int table_init_kd(mr_table_t *t, mr_error_t *err)
{
    mr_kd_table_t *kd = mr_kd_table_new(1024);
    if (kd == NULL)
        return mr_err_set(err, MURR_ENOMEM, "cannot allocate a key directory");
    atomic_store(&t->kd, kd);
    atomic_store(&t->snap, mr_snap_new(true));
    return 0;
}

int mr_table_create(const char *dir, const char *name, const mr_schema_t *schema, const murr_options *opts,
                    mr_store_t **out, mr_error_t *err)
{
    MR_RETURN_NOT_OK(mr_table_check_options(opts, err));
    mr_table_t *t = table_alloc(dir, name, schema, opts);
    int rc = mr_fs_remove_tree(t->dir, err); /* leftovers of a dropped table never resurface */
    if (rc == 0)
        rc = mr_fs_mkdir_p(t->dir, err);
    if (rc == 0)
        rc = table_open_dir(t, err);
    if (rc == 0)
        rc = table_init_kd(t, err);
    if (rc != 0) {
        mr_table_destroy(&t->base, false);
        return rc;
    }
    *out = &t->base;
    return 0;
}

int mr_table_open(const char *dir, const char *name, const mr_schema_t *schema, const murr_options *opts,
                  mr_store_t **out, mr_error_t *err)
{
    MR_RETURN_NOT_OK(mr_table_check_options(opts, err));
    mr_table_t *t = table_alloc(dir, name, schema, opts);
    int rc = mr_fs_mkdir_p(t->dir, err);
    if (rc == 0)
        rc = table_open_dir(t, err);
    if (rc == 0)
        rc = table_init_kd(t, err);
    if (rc == 0)
        rc = mr_table_recover(t, err);
    if (rc == 0 && atomic_load(&atomic_load(&t->kd)->count) > 0) {
        mr_snap_retire_cb(atomic_load(&t->snap)); /* no reader yet */
        atomic_store(&t->snap, mr_snap_new(false));
    }
    if (rc != 0) {
        mr_table_destroy(&t->base, false);
        return rc;
    }
    *out = &t->base;
    return 0;
}

static bool is_segment_name(const char *n)
{
    size_t l = strlen(n);
    return l > 4 && strcmp(n + l - 4, ".seg") == 0;
}

int mr_table_remove_files(const char *dir, mr_error_t *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : mr_err_set(err, MURR_EIO, "cannot open '%s': %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (!is_segment_name(de->d_name))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (unlink(path) != 0 && errno != ENOENT && rc == 0)
            rc = mr_err_set(err, MURR_EIO, "cannot remove '%s': %s", path, strerror(errno));
    }
    closedir(d);
    if (rc == 0 && rmdir(dir) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
        rc = mr_err_set(err, MURR_EIO, "cannot remove '%s': %s", dir, strerror(errno));
    return rc;
}

void mr_table_destroy(mr_store_t *st, bool remove_files)
{
    mr_table_t *t = (mr_table_t *)st;
    if (t == NULL)
        return;
    for (uint32_t i = 0; i < MR_TABLE_MAX_SEGMENTS; i++)
        mr_seg_close(atomic_load(&t->segs[i]), remove_files);
    mr_kd_table_free(atomic_load(&t->kd));
    if (atomic_load(&t->snap))
        mr_snap_retire_cb(atomic_load(&t->snap));
    if (remove_files && t->dirfd >= 0) {
        /* the directory goes too when empty and still where it was (a dropped table's
         * moved aside is removed with the trash) */
        struct stat a, b;
        if (fstat(t->dirfd, &a) == 0 && stat(t->dir, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev)
            rmdir(t->dir); /* ENOTEMPTY for version 1, the table directory: it stays */
    }
    if (t->dirfd >= 0)
        close(t->dirfd);
    pthread_mutex_destroy(&t->wlock);
    mr_schema_free(t->schema);
    mr_free(t->cols);
    mr_free(t->col_of_schema);
    mr_key_codec_deinit(&t->key);
    mr_free(t->name);
    mr_free(t->dir);
    mr_free(t);
}

/* ------------------------------------------------------------------ stats ----------- */

void mr_table_stats(mr_store_t *st, murr_table_stats *out)
{
    mr_table_t *t = (mr_table_t *)st;
    /* Lock-free: a long streaming write holds the writer lock, and /metrics must not wait
     * for it. The caller is inside an epoch, so segments and the directory stay mapped. */
    memset(out, 0, sizeof(*out));
    mr_kd_table_t *kd = atomic_load(&t->kd);
    out->rows = atomic_load_explicit(&kd->count, memory_order_relaxed);
    out->keydir_bytes = mr_kd_table_bytes(kd);
    for (uint32_t i = 1; i < MR_TABLE_MAX_SEGMENTS; i++) {
        mr_segment_t *s = mr_seg_live(t, i);
        if (s == NULL || atomic_load(&s->retired))
            continue;
        uint64_t size = atomic_load(&s->size), g = atomic_load(&s->garbage);
        out->segments++;
        out->garbage_bytes += g;
        out->live_bytes += size - (g < size ? g : size);
        out->mapped_bytes += size;
    }
    out->writes = atomic_load(&t->writes);
    out->compactions = atomic_load(&t->compactions);
}

const mr_store_ops_t mr_native_store_ops = {
    .name = "native",
    .check_options = mr_table_check_options,
    .create = mr_table_create,
    .open = mr_table_open,
    .remove = mr_table_remove_files,
    .destroy = mr_table_destroy,
    .status = mr_table_status,
    .txn_begin = mr_table_txn_begin,
    .txn_append = mr_table_txn_append,
    .txn_commit = mr_table_txn_commit,
    .txn_abort = mr_table_txn_abort,
    .seal = mr_table_seal,
    .read = mr_table_read,
    .read_keys = mr_table_read_keys,
    .compact = mr_table_compact,
    .stats = mr_table_stats,
};
