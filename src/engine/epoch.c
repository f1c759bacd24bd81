/* epoch.c - epoch-based reclamation; see epoch.h.
 *
 * Global epoch E (starts at 2, only grows). A reader publishes E in its slot on enter and
 * 0 on exit. retire() stamps the item with E and bumps E. An item stamped s is safe to
 * destroy when no slot holds a value in (0, s]: any reader that could have seen the
 * object entered at or before s. The retired list is protected by a mutex that only
 * writers take. */
#include "engine/epoch.h"
#include "core/alloc.h"
#include "core/log.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct retired {
    struct retired *next;
    void (*fn)(void *);
    void *arg;
    uint64_t stamp;
} retired_t;

static _Alignas(64) _Atomic uint64_t g_epoch = 2;
static struct {
    _Alignas(64) _Atomic uint64_t active;
} g_slots[MR_EPOCH_SLOTS];
static _Atomic int g_next_slot;
static _Thread_local int t_slot = -1;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static retired_t *g_retired;

static int my_slot(void)
{
    if (t_slot < 0) {
        int s = atomic_fetch_add(&g_next_slot, 1);
        if (s >= MR_EPOCH_SLOTS) {
            /* More threads than slots: share slots round-robin. Sharing is safe only
             * because enter/exit are per guard and readers on a shared slot are still
             * protected by the minimum rule below; we make it so by never letting two
             * threads share: abort loudly instead of corrupting. */
            MR_ERROR("epoch", "more than %d reader threads", MR_EPOCH_SLOTS);
            abort();
        }
        t_slot = s;
    }
    return t_slot;
}

void mr_epoch_enter(mr_epoch_guard_t *g)
{
    g->slot = my_slot();
    uint64_t e = atomic_load_explicit(&g_epoch, memory_order_acquire);
    atomic_store_explicit(&g_slots[g->slot].active, e, memory_order_seq_cst);
}

void mr_epoch_exit(mr_epoch_guard_t *g)
{
    atomic_store_explicit(&g_slots[g->slot].active, 0, memory_order_release);
}

static uint64_t min_active(void)
{
    uint64_t m = UINT64_MAX;
    int n = atomic_load(&g_next_slot);
    if (n > MR_EPOCH_SLOTS)
        n = MR_EPOCH_SLOTS;
    for (int i = 0; i < n; i++) {
        uint64_t v = atomic_load_explicit(&g_slots[i].active, memory_order_seq_cst);
        if (v != 0 && v < m)
            m = v;
    }
    return m;
}

void mr_epoch_retire(void (*fn)(void *), void *arg)
{
    retired_t *r = mr_xmalloc(sizeof(*r));
    r->fn = fn;
    r->arg = arg;
    pthread_mutex_lock(&g_lock);
    r->stamp = atomic_fetch_add_explicit(&g_epoch, 1, memory_order_seq_cst);
    r->next = g_retired;
    g_retired = r;
    pthread_mutex_unlock(&g_lock);
    mr_epoch_collect();
}

void mr_epoch_collect(void)
{
    retired_t *ready = NULL;
    pthread_mutex_lock(&g_lock);
    uint64_t m = min_active();
    retired_t **pp = &g_retired;
    while (*pp) {
        retired_t *r = *pp;
        if (r->stamp < m) {
            *pp = r->next;
            r->next = ready;
            ready = r;
        } else {
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&g_lock);
    while (ready) {
        retired_t *r = ready;
        ready = r->next;
        r->fn(r->arg);
        mr_free(r);
    }
}

void mr_epoch_drain(void)
{
    for (;;) {
        mr_epoch_collect();
        pthread_mutex_lock(&g_lock);
        bool empty = g_retired == NULL;
        pthread_mutex_unlock(&g_lock);
        if (empty)
            return;
        sched_yield();
    }
}
