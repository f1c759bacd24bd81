/*
 * epoch.h - epoch-based reclamation. Readers enter an epoch for the duration of a request
 * (two atomic stores, no lock); writers, compaction and growth retire memory or mappings
 * with a destructor, which runs only once every reader that entered before the retirement
 * has left. No reader ever waits for a writer.
 *
 * Each thread that reads gets one slot on first use and gives it back when it exits, so any
 * number of threads may read over the life of the process; slots come in blocks of
 * MR_EPOCH_BLOCK, a new block when every slot is held by a live thread. A thread must not
 * nest enter/exit, and must not exit inside one.
 */
#ifndef MR_ENGINE_EPOCH_H
#define MR_ENGINE_EPOCH_H

#include <stdint.h>

#define MR_EPOCH_BLOCK 1024

typedef struct mr_epoch_guard {
    void *slot;
} mr_epoch_guard_t;

void mr_epoch_enter(mr_epoch_guard_t *g);
void mr_epoch_exit(mr_epoch_guard_t *g);
/* Schedules fn(arg) to run after every reader active now has left. */
void mr_epoch_retire(void (*fn)(void *), void *arg);
/* Runs every destructor whose readers have left; called by writers and on close. */
void mr_epoch_collect(void);
/* Waits until every retired destructor has run (no reader may be active). */
void mr_epoch_drain(void);
/* Slots held by live threads, and slots allocated (tests, stats). */
void mr_epoch_slot_counts(uint64_t *held, uint64_t *allocated);

#endif
