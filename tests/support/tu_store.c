/* tu_store.c - see tu_store.h. */
#include "tu_store.h"
#include "engine/epoch.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const mr_store_ops_t *const tu_store_backends[] = {&mr_native_store_ops};
const size_t tu_store_nbackends = sizeof(tu_store_backends) / sizeof(tu_store_backends[0]);

static int store_open(tu_store_t *t, bool create, mr_error_t *err)
{
    const mr_store_ops_t *ops = t->ops;
    int rc = (create ? ops->create : ops->open)(t->dir, t->table, t->schema, &t->opts, &t->s, err);
    if (rc != 0) {
        t->s = NULL;
        return rc;
    }
    rc = mr_store_status(t->s, err);
    if (rc != 0)
        tu_store_close(t);
    return rc;
}

int tu_store_open(tu_store_t *t, const mr_store_ops_t *ops, const char *dir, const char *table,
                  const mr_schema_t *schema, const murr_options *opts, bool create, mr_error_t *err)
{
    *t = (tu_store_t){.ops = ops, .schema = mr_schema_clone(schema), .opts = *opts};
    snprintf(t->dir, sizeof(t->dir), "%s", dir);
    snprintf(t->table, sizeof(t->table), "%s", table);
    return store_open(t, create, err);
}

int tu_store_reopen(tu_store_t *t, mr_error_t *err)
{
    tu_store_close(t);
    return store_open(t, false, err);
}

void tu_store_close(tu_store_t *t)
{
    mr_store_unref(t->s);
    t->s = NULL;
    mr_epoch_drain();
}

void tu_store_free(tu_store_t *t)
{
    tu_store_close(t);
    mr_schema_free(t->schema);
    t->schema = NULL;
}

int tu_store_write(mr_store_t *s, const mr_batch_t *const *batches, size_t n, mr_error_t *err)
{
    mr_store_txn_t *x;
    int rc = mr_store_txn_begin(s, &x, err);
    if (rc != 0)
        return rc;
    rc = mr_store_txn_append(x, batches, n, err);
    if (rc != 0) {
        mr_store_txn_abort(x);
        return rc;
    }
    return mr_store_txn_commit(x, err);
}

int tu_store_read(mr_store_t *s, const char *const *keys, const size_t *key_lens, size_t nkeys,
                  const char *const *columns, size_t ncolumns, mr_batch_t **out, mr_error_t *err)
{
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    int rc = mr_store_read(s, keys, key_lens, nkeys, columns, ncolumns, 0, out, err);
    mr_epoch_exit(&g);
    return rc;
}

void tu_store_stats(mr_store_t *s, murr_table_stats *out)
{
    mr_epoch_guard_t g;
    mr_epoch_enter(&g);
    mr_store_stats(s, out);
    mr_epoch_exit(&g);
}

struct tu_compactor {
    mr_store_t *s;
    double min_ratio;
    unsigned interval_us;
    _Atomic bool stop;
    _Atomic long failures;
    pthread_t th;
};

static void *compactor_main(void *arg)
{
    tu_compactor_t *c = arg;
    while (!atomic_load(&c->stop)) {
        mr_error_t e = {0};
        int rc = mr_store_compact(c->s, c->min_ratio, false, &e);
        if (rc != 0 && rc != MURR_EAGAIN)
            atomic_fetch_add(&c->failures, 1);
        usleep(c->interval_us);
    }
    return NULL;
}

tu_compactor_t *tu_compactor_start(mr_store_t *s, double min_ratio, unsigned interval_us)
{
    tu_compactor_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->s = s;
    c->min_ratio = min_ratio;
    c->interval_us = interval_us;
    mr_store_ref(s);
    if (pthread_create(&c->th, NULL, compactor_main, c) != 0)
        abort();
    return c;
}

long tu_compactor_stop(tu_compactor_t *c)
{
    atomic_store(&c->stop, true);
    pthread_join(c->th, NULL);
    long failures = atomic_load(&c->failures);
    mr_store_unref(c->s);
    free(c);
    return failures;
}
