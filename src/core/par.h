/*
 * A small pool of threads for one forward pass: ddpm__par_for(p, n, fn, arg) runs tasks 0 .. n - 1 on the caller and
 * the pool's threads, as one contiguous range of tasks per thread (fn(arg, lo, hi)), and returns when every task is
 * done. The ranges are claimed from a shared counter, so which thread runs a task varies from run to run; the callers
 * make that invisible by giving every task its own output elements, each computed by the same operations whatever the
 * partition (no reductions across tasks). That is what keeps the forward pass bit-identical for any thread count.
 *
 * Natively the threads are pthreads created here. In WebAssembly (a build with atomics and a shared memory) the
 * threads are Web Workers or Node worker_threads started by the JS layer: each instantiates the same module over the
 * same memory, sets its own stack and calls ddpm__par_worker(p, k) (exported by src/wasm/), which returns when the
 * pool is freed. Until a worker arrives the caller simply runs more of the tasks itself.
 *
 * Only the thread that created the pool calls ddpm__par_for; a task that calls it again (or a pool of one thread)
 * runs the inner tasks in order on the spot.
 */
#ifndef DDPM_CORE_PAR_H
#define DDPM_CORE_PAR_H

#include "core/internal.h"

typedef struct ddpm_par ddpm_par;
/* Runs tasks lo .. hi - 1 (a contiguous range: neighbouring tasks usually write neighbouring memory). part
 * (0 .. threads - 1) is this range's index: no two ranges of one ddpm__par_for share it, so it can select per-thread
 * scratch. */
typedef void (*ddpm_par_fn)(void *arg, int lo, int hi, int part);

/* The most threads a pool takes (the caller counts as one). */
#define DDPM_MAX_THREADS 64

/* 1 when this build can run more than one thread (natively: pthreads; wasm: the atomics build). */
int ddpm__par_supported(void);
/* Processors available to this process natively (at least 1); 1 in wasm, where the JS layer knows the count. */
int ddpm__cpu_count(void);
/* A pool of `threads` threads (1 .. DDPM_MAX_THREADS, counting the caller). Natively it starts threads - 1 pthreads;
 * in wasm it waits for that many workers to call ddpm__par_worker. */
ddpm_status ddpm__par_create(int threads, ddpm_par **out, ddpm_error *err);
/* Stops and joins the threads (natively; in wasm the JS layer terminates its workers after this) and frees p. */
void ddpm__par_free(ddpm_par *p);
/* Workers inside ddpm__par_worker now (the JS layer waits for threads - 1 before it uses the pool). */
int ddpm__par_alive(const ddpm_par *p);
/* The pool's thread count; 1 for NULL. */
int ddpm__par_threads(const ddpm_par *p);
/* Runs tasks 0 .. n - 1 across the pool (p may be NULL: fn(arg, 0, n, 0) on the caller). */
void ddpm__par_for(ddpm_par *p, int n, ddpm_par_fn fn, void *arg);
/* p, or NULL when an operation of `flops` floating-point operations is too small to gain from threads (the split
 * costs a few microseconds); the bits are the same either way. */
ddpm_par *ddpm__par_if(ddpm_par *p, double flops);
/* Since the pool was created (natively; 0 in wasm, which has no clock here): the seconds the worker threads spent
 * in tasks, summed, and the seconds the caller waited for them. The caller's busy time over a wall time w is
 * w - caller_wait, so all threads together were busy w - caller_wait + worker_busy. */
void ddpm__par_times(const ddpm_par *p, double *worker_busy, double *caller_wait);
/* The smallest operation (floating-point operations) that ddpm__par_if splits; default DDPM_PAR_MIN_FLOPS. Tests
 * set 0 so that every split path runs on their small models. */
void ddpm__par_set_min_flops(ddpm_par *p, double flops);
/* A worker's loop: runs tasks until the pool is freed. Natively the pool's own threads run it; wasm workers call it
 * through the module's export. index: 1 .. threads - 1. */
void ddpm__par_worker(ddpm_par *p, int index);

#endif
