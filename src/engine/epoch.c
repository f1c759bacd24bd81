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

typedef struct slot {
    _Alignas(64) _Atomic uint64_t active;
    struct slot *next_free;        /* under g_slot_lock, while on the free list */
} slot_t;

/* Blocks are linked newest first and never freed: readers scan them without a lock. */
typedef struct block {
    struct block *next;
    _Atomic uint32_t used;         /* slots handed out from this block (high-water mark) */
    slot_t slots[MR_EPOCH_BLOCK];
} block_t;

static _Atomic(block_t *) g_blocks;
static pthread_mutex_t g_slot_lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t *g_free_slots;       /* returned by exited threads */
static uint64_t g_held, g_allocated; /* under g_slot_lock */
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t g_slot_key;
static _Thread_local slot_t *t_slot;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static retired_t *g_retired;

/* Thread exit: the slot goes back to the free list (the thread is outside any epoch). */
static void slot_release(void *p)
{
    slot_t *s = p;
    atomic_store_explicit(&s->active, 0, memory_order_release);
    pthread_mutex_lock(&g_slot_lock);
    s->next_free = g_free_slots;
    g_free_slots = s;
    g_held--;
    pthread_mutex_unlock(&g_slot_lock);
}

static void key_init(void)
{
    if (pthread_key_create(&g_slot_key, slot_release) != 0) {
        MR_ERROR("epoch", "pthread_key_create failed: reader slots cannot be returned");
        abort();
    }
}

static slot_t *slot_take(void)
{
    pthread_once(&g_key_once, key_init);
    pthread_mutex_lock(&g_slot_lock);
    slot_t *s = g_free_slots;
    if (s != NULL) {
        g_free_slots = s->next_free;
    } else {
        block_t *b = atomic_load_explicit(&g_blocks, memory_order_relaxed);
        if (b == NULL || atomic_load_explicit(&b->used, memory_order_relaxed) == MR_EPOCH_BLOCK) {
            block_t *nb = mr_xcalloc(1, sizeof(*nb));
            nb->next = b;
            atomic_store_explicit(&g_blocks, nb, memory_order_release);
            b = nb;
            g_allocated += MR_EPOCH_BLOCK;
        }
        uint32_t i = atomic_load_explicit(&b->used, memory_order_relaxed);
        s = &b->slots[i];
        atomic_store_explicit(&b->used, i + 1, memory_order_release);
    }
    g_held++;
    pthread_mutex_unlock(&g_slot_lock);
    pthread_setspecific(g_slot_key, s);
    return s;
}

void mr_epoch_enter(mr_epoch_guard_t *g)
{
    slot_t *s = t_slot;
    if (s == NULL)
        s = t_slot = slot_take();
    g->slot = s;
    uint64_t e = atomic_load_explicit(&g_epoch, memory_order_acquire);
    atomic_store_explicit(&s->active, e, memory_order_seq_cst);
}

void mr_epoch_exit(mr_epoch_guard_t *g)
{
    atomic_store_explicit(&((slot_t *)g->slot)->active, 0, memory_order_release);
}

/* A slot handed out after this scan started belongs to a reader that entered after it, so
 * it cannot hold an epoch at or below any stamp this scan serves. */
static uint64_t min_active(void)
{
    uint64_t m = UINT64_MAX;
    for (block_t *b = atomic_load_explicit(&g_blocks, memory_order_acquire); b != NULL; b = b->next) {
        uint32_t n = atomic_load_explicit(&b->used, memory_order_acquire);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t v = atomic_load_explicit(&b->slots[i].active, memory_order_seq_cst);
            if (v != 0 && v < m)
                m = v;
        }
    }
    return m;
}

void mr_epoch_slot_counts(uint64_t *held, uint64_t *allocated)
{
    pthread_mutex_lock(&g_slot_lock);
    *held = g_held;
    *allocated = g_allocated;
    pthread_mutex_unlock(&g_slot_lock);
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
