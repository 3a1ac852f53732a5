/*
 * threads.c — what the JS layer (web/lib/threads.js) needs to run a model's thread pool in Web Workers or Node
 * worker_threads (the threaded build: atomics and a shared memory; see core/par.h).
 *
 * ddpm_model_set_threads(m, n) creates the pool; the JS layer then starts n - 1 workers, each instantiating the
 * same module over the same memory, setting its own stack (stackRestore) and calling ddpm_wasm_par_worker, which
 * returns only when the pool is freed (ddpm_model_set_threads again, or ddpm_model_free). Before the first forward
 * pass the JS layer waits until ddpm_wasm_par_alive counts every worker, so freeing never races a worker's start.
 */
#include "core/par.h"
#include "unet/model_internal.h"

#define WASM_EXPORT __attribute__((used, visibility("default")))

/* The model's pool (NULL with one thread). */
WASM_EXPORT ddpm_par *ddpm_wasm_model_par(const ddpm_model *m) { return m ? m->par : NULL; }

/* 1 in the threaded build. */
WASM_EXPORT int ddpm_wasm_threads_supported(void) { return ddpm__par_supported(); }

/* A worker's loop: runs the pool's tasks until the pool is freed. */
WASM_EXPORT void ddpm_wasm_par_worker(ddpm_par *p, int index) { ddpm__par_worker(p, index); }

WASM_EXPORT int ddpm_wasm_par_alive(const ddpm_par *p) { return ddpm__par_alive(p); }
