/*
 * The thread pool (see par.h). One job at a time, posted by the pool's creator:
 *   gen      odd: no job (or the creator is closing one); even: the job in fn / arg / ntasks is open.
 *   next     the next task index to claim; done: tasks finished; busy: workers inside the open job.
 * The creator writes the job while gen is odd, makes gen even, runs tasks itself, waits until done == ntasks, makes
 * gen odd again and waits until busy == 0, so no worker can still be reading the job when the next one is written.
 * A worker that sees a new even gen counts itself busy and then checks that gen did not move; if it did, it steps
 * back out (the job it saw is closed). Every access is sequentially consistent: the pool is about being obviously
 * right; its cost is a few atomic operations per job, next to jobs of 10^4 .. 10^8 floating-point operations.
 * Idle workers spin briefly (jobs of one forward pass follow each other within microseconds), then sleep on gen
 * (futex natively, memory.atomic.wait32 in wasm).
 */
#if !defined(_GNU_SOURCE) && defined(__linux__)
#define _GNU_SOURCE /* syscall(SYS_futex) */
#endif

#include "core/par.h"

#include <stdlib.h>

#if defined(__EMSCRIPTEN__) || defined(__wasm__)
#if defined(__wasm_atomics__)
#define PAR_WASM 1
#endif
#elif defined(__unix__) || defined(__APPLE__)
#define PAR_PTHREADS 1
#endif

#if defined(PAR_WASM) || defined(PAR_PTHREADS)
#define PAR_THREADS 1
#include <stdatomic.h>
typedef _Atomic int par_int;
#define LOAD(a) atomic_load(&(a))
#define STORE(a, v) atomic_store(&(a), (v))
#define ADD(a, v) atomic_fetch_add(&(a), (v))
#else
typedef int par_int; /* no threads in this build: the pool is the caller alone */
#define LOAD(a) (a)
#define STORE(a, v) ((a) = (v))
#define ADD(a, v) (((a) += (v)) - (v))
#endif

#ifdef PAR_PTHREADS
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#endif

#define SPINS 20000 /* idle polls of gen before a worker sleeps */
#ifndef DDPM_PAR_MIN_FLOPS
#define DDPM_PAR_MIN_FLOPS 2e6 /* ~10 us of one core's SIMD work, next to a split's few microseconds */
#endif

struct ddpm_par {
    int threads;
    par_int gen, next, done, busy, sleepers, stop, in_job;
    par_int alive; /* workers inside ddpm__par_worker */
    int ntasks, parts;
    double min_flops;
    double work[DDPM_MAX_THREADS]; /* natively, for benchmarks: seconds worker k spent in tasks (k >= 1) */
    double wait0;                  /* seconds the caller waited in ddpm__par_for for the workers */
    ddpm_par_fn fn;
    void *arg;
#ifdef PAR_PTHREADS
    pthread_t tid[DDPM_MAX_THREADS];
    int started;
#endif
};

static void pause_cpu(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#ifdef PAR_THREADS
/* Sleeps while *a == expected (it may return early). */
static void wait_while(par_int *a, int expected) {
#if defined(PAR_WASM)
    __builtin_wasm_memory_atomic_wait32((int *)a, expected, -1);
#elif defined(__linux__)
    syscall(SYS_futex, (int *)a, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
#else
    (void)a, (void)expected;
    sched_yield();
#endif
}

static void wake_all(par_int *a) {
#if defined(PAR_WASM)
    __builtin_wasm_memory_atomic_notify((int *)a, (unsigned)-1);
#elif defined(__linux__)
    syscall(SYS_futex, (int *)a, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
#else
    (void)a;
#endif
}
#endif

static double seconds(void) {
#ifdef PAR_PTHREADS
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#else
    return 0.0;
#endif
}

/* Claims ranges until none is left: range r of `parts` holds tasks [r n / parts, (r + 1) n / parts). */
static void run_tasks(ddpm_par *p, int self) {
    const double t0 = self ? seconds() : 0.0;
    for (;;) {
        const int r = ADD(p->next, 1);
        if (r >= p->parts) break;
        const int lo = (int)((long long)r * p->ntasks / p->parts), hi = (int)((long long)(r + 1) * p->ntasks / p->parts);
        p->fn(p->arg, lo, hi, r);
        ADD(p->done, 1);
    }
    if (self) p->work[self] += seconds() - t0;
}

int ddpm__par_supported(void) {
#ifdef PAR_THREADS
    return 1;
#else
    return 0;
#endif
}

int ddpm__cpu_count(void) {
#ifdef PAR_PTHREADS
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > DDPM_MAX_THREADS ? DDPM_MAX_THREADS : (int)n;
#else
    return 1;
#endif
}

void ddpm__par_worker(ddpm_par *p, int index) {
    (void)index;
#ifdef PAR_THREADS
    ADD(p->alive, 1);
    int seen = 0; /* gen starts at 1 and jobs have even gens >= 2 */
    int idle = 0;
    while (!LOAD(p->stop)) {
        const int g = LOAD(p->gen);
        if (g == seen || (g & 1)) {
            if (++idle < SPINS) {
                pause_cpu();
                continue;
            }
            ADD(p->sleepers, 1);
            if (LOAD(p->gen) == g && !LOAD(p->stop)) wait_while(&p->gen, g);
            ADD(p->sleepers, -1);
            idle = 0;
            continue;
        }
        ADD(p->busy, 1);
        if (LOAD(p->gen) == g) {
            run_tasks(p, index);
            seen = g;
        }
        ADD(p->busy, -1);
        idle = 0;
    }
    ADD(p->alive, -1);
#else
    (void)p;
#endif
}

#ifdef PAR_PTHREADS
typedef struct start_arg {
    ddpm_par *p;
    int index;
} start_arg;

static void *thread_main(void *a) {
    start_arg s = *(start_arg *)a;
    free(a);
    ddpm__par_worker(s.p, s.index);
    return NULL;
}
#endif

void ddpm__par_free(ddpm_par *p) {
    if (!p) return;
#ifdef PAR_THREADS
    STORE(p->stop, 1);
    ADD(p->gen, 2);
    wake_all(&p->gen);
#endif
#ifdef PAR_PTHREADS
    for (int i = 0; i < p->started; i++) pthread_join(p->tid[i], NULL);
#endif
#ifdef PAR_WASM
    while (LOAD(p->alive) > 0) pause_cpu(); /* the JS layer's workers leave their loop, then it terminates them */
#endif
    free(p);
}

ddpm_status ddpm__par_create(int threads, ddpm_par **out, ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "NULL out");
    *out = NULL;
    if (threads < 1 || threads > DDPM_MAX_THREADS)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "threads %d is outside 1..%d", threads, DDPM_MAX_THREADS);
    if (threads > 1 && !ddpm__par_supported())
        return ddpm__fail(err, DDPM_ERR_UNSUPPORTED,
                          "this build runs one thread (the WebAssembly build without atomics and shared memory)");
    ddpm_par *p = ddpm__calloc(1, sizeof *p);
    if (!p) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate a thread pool");
    p->threads = threads;
    p->min_flops = DDPM_PAR_MIN_FLOPS;
    STORE(p->gen, 1);
#ifdef PAR_PTHREADS
    for (int i = 1; i < threads; i++) {
        start_arg *a = ddpm__malloc(sizeof *a);
        if (a) a->p = p, a->index = i;
        if (!a || pthread_create(&p->tid[p->started], NULL, thread_main, a) != 0) {
            free(a);
            const int started = p->started;
            ddpm__par_free(p);
            return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot start thread %d of %d (%d running)", i + 1,
                              threads, started + 1);
        }
        p->started++;
    }
#endif
    *out = p;
    ddpm__ok(err);
    return DDPM_OK;
}

int ddpm__par_threads(const ddpm_par *p) { return p ? p->threads : 1; }

int ddpm__par_alive(const ddpm_par *p) { return p ? LOAD(((ddpm_par *)p)->alive) : 0; }

#ifndef DDPM_PAR_MIN_FLOPS
#define DDPM_PAR_MIN_FLOPS 2e7 /* ~10 us of one core's SIMD work, next to a split's few microseconds */
#endif

void ddpm__par_times(const ddpm_par *p, double *worker_busy, double *caller_wait) {
    double s = 0.0;
    for (int i = 1; p && i < p->threads; i++) s += p->work[i];
    *worker_busy = s;
    *caller_wait = p ? p->wait0 : 0.0;
}

ddpm_par *ddpm__par_if(ddpm_par *p, double flops) { return p && flops >= p->min_flops ? p : NULL; }

void ddpm__par_set_min_flops(ddpm_par *p, double flops) {
    if (p) p->min_flops = flops;
}

void ddpm__par_for(ddpm_par *p, int n, ddpm_par_fn fn, void *arg) {
    if (n <= 0) return;
    if (!p || p->threads == 1 || n == 1 || LOAD(p->in_job)) {
        fn(arg, 0, n, 0);
        return;
    }
    STORE(p->in_job, 1);
    p->fn = fn;
    p->arg = arg;
    p->ntasks = n;
    p->parts = n < p->threads ? n : p->threads;
    STORE(p->next, 0);
    STORE(p->done, 0);
    const int g = LOAD(p->gen) + 1; /* gen is odd here: the next even opens the job */
    STORE(p->gen, g);
#ifdef PAR_THREADS
    if (LOAD(p->sleepers)) wake_all(&p->gen);
#endif
    run_tasks(p, 0);
    const double t0 = seconds();
    while (LOAD(p->done) < p->parts) pause_cpu();
    STORE(p->gen, g + 1); /* closed: workers that have not joined stay out */
    while (LOAD(p->busy) > 0) pause_cpu();
    p->wait0 += seconds() - t0;
    STORE(p->in_job, 0);
}
