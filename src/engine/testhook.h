/*
 * testhook.h - points where a test can run code inside the engine, to make a race
 * deterministic (internal: not in murr.h, no effect unless a test sets one). Each hook is
 * a process-wide function pointer, NULL by default; setting it is the test's business
 * (single-threaded setup, before the threads it races start).
 */
#ifndef MR_ENGINE_TESTHOOK_H
#define MR_ENGINE_TESTHOOK_H

/* murr_write_begin: after the table was looked up (inside the caller's epoch), before its
 * writer lock is taken. `name` is the table. */
extern void (*mr_testhook_write_begin_looked_up)(const char *name);

#endif
