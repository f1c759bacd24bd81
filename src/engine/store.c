/* store.c - reference counting shared by every store backend (store.h). */
#include "engine/store.h"

void mr_store_init(mr_store_t *s, const mr_store_ops_t *ops)
{
    s->ops = ops;
    atomic_init(&s->refs, 1);
    atomic_init(&s->remove_on_free, false);
}

void mr_store_ref(mr_store_t *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void mr_store_unref(mr_store_t *s)
{
    if (s == NULL)
        return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        s->ops->destroy(s, atomic_load(&s->remove_on_free));
}

void mr_store_unref_cb(void *s) { mr_store_unref(s); }

void mr_store_remove_on_free(mr_store_t *s) { atomic_store(&s->remove_on_free, true); }
