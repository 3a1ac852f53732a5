/*
 * Threads for one forward pass (ddpm_model_set_threads): 2, 3 and 4 threads give bit for bit the output of one
 * thread, for single images and batches (Winograd's stage split at batch 1, its chunk split at larger batches, the
 * im2col / 1x1 GEMMs, attention), on the shipped conditional model, a diffusers-layout RGB network, and the same
 * network with compact I8 weights (Winograd weights transformed per call); whole sampler runs too. Every split path
 * runs: the minimum work per split is set to 0 as well as left at its default. Also: the thread pool itself (tasks
 * each run once, nested calls, 100 create/free cycles) and the argument checks.
 */
#include "testutil.h"
#include "core/par.h"

enum { MAXD = 8 * 3 * 32 * 32 };

static ddpm_model *load_path(const char *path, ddpm_dtype q, int compact) {
    ddpm_load_options o = ddpm_load_default_options();
    o.quantize = q;
    o.compact = compact;
    ddpm_model *m = NULL;
    ddpm_error err;
    const ddpm_status st = ddpm_model_load_path(path, NULL, &o, &m, &err);
    CHECK(st == DDPM_OK, "load %s%s: %s", path, compact ? " (compact I8)" : "", st == DDPM_OK ? "ok" : err.message);
    return m;
}

/* Forward passes at batch 1 and 5 and a short sampler run, for 1 .. 4 threads, compared to 1 thread bit for bit. */
static void check_model(const char *what, ddpm_model *m) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const int D = c->in_channels * c->image_size * c->image_size;
    static float x[MAXD], ref[MAXD], out[MAXD], sref[MAXD], sout[MAXD];
    float t[8];
    int y[8];
    for (int i = 0; i < 8; i++) t[i] = (float)(37 + 111 * i), y[i] = c->num_classes ? i % c->num_classes : 0;
    const int *labels = c->num_classes ? y : NULL;
    tu_fill(x, (size_t)5 * D, 7, -1.5f, 1.5f);
    const int batches[2] = {1, 5};
    for (int b = 0; b < 2; b++) {
        const int n = batches[b];
        ddpm_model_set_threads(m, 1, NULL);
        ddpm_status st = ddpm_model_forward(m, n, x, t, labels, ref, NULL);
        CHECK(st == DDPM_OK, "%s: forward at batch %d on 1 thread", what, n);
        for (int th = 2; th <= 4; th++)
            for (int all = 0; all < 2; all++) {
                ddpm_error err;
                st = ddpm_model_set_threads(m, th, &err);
                if (all) ddpm_model_set_thread_min_work(m, 0.0);
                memset(out, 0, sizeof(float) * (size_t)n * D);
                if (st == DDPM_OK) st = ddpm_model_forward(m, n, x, t, labels, out, &err);
                CHECK(st == DDPM_OK && ddpm_model_threads(m) == th &&
                          memcmp(out, ref, sizeof(float) * (size_t)n * D) == 0,
                      "%s: batch %d on %d threads%s = 1 thread, bit for bit", what, n, th,
                      all ? " (every op split)" : "");
            }
    }
    /* a whole run: DDPM ancestral, 4 steps, batch 3 */
    const int grid[4] = {900, 500, 200, 0};
    ddpm_sample_params p = ddpm_model_sample_defaults(m);
    p.sampler = "ddpm";
    p.timesteps = grid;
    p.num_timesteps = 4;
    p.batch = 3;
    p.seed = 4;
    p.labels = labels;
    p.guidance = 1.0f;
    ddpm_model_set_threads(m, 1, NULL);
    ddpm_error err;
    ddpm_status st = ddpm_sample(m, &p, sref, NULL, NULL, &err);
    CHECK(st == DDPM_OK, "%s: DDPM run on 1 thread%s%s", what, st == DDPM_OK ? "" : ": ", st == DDPM_OK ? "" : err.message);
    for (int th = 2; th <= 4; th += 2) {
        ddpm_model_set_threads(m, th, NULL);
        ddpm_model_set_thread_min_work(m, 0.0);
        st = ddpm_sample(m, &p, sout, NULL, NULL, &err);
        CHECK(st == DDPM_OK && memcmp(sout, sref, sizeof(float) * 3 * (size_t)D) == 0,
              "%s: DDPM run (4 steps, batch 3) on %d threads = 1 thread, bit for bit", what, th);
    }
    ddpm_model_set_threads(m, 1, NULL);
}

/* ---- the pool itself ---- */

typedef struct count_job {
    int *hits;
    ddpm_par *p;
    int inner;
} count_job;

static void count_task(void *arg, int lo, int hi, int part) {
    const count_job *j = arg;
    for (int i = lo; i < hi; i++) j->hits[i] += 1 + 0 * part;
}

static void nested_task(void *arg, int lo, int hi, int part) {
    const count_job *j = arg;
    for (int i = lo; i < hi; i++) {
        count_job inner = {j->hits + (size_t)i * j->inner, NULL, 0};
        ddpm__par_for(j->p, j->inner, count_task, &inner); /* runs in place: the pool is busy */
    }
}

static void check_pool(void) {
    static int hits[1000 * 7];
    ddpm_par *p = NULL;
    ddpm_status st = ddpm__par_create(4, &p, NULL);
    CHECK(st == DDPM_OK && ddpm__par_threads(p) == 4, "a pool of 4 threads");
    int ok = 1;
    for (int round = 0; round < 2000 && p; round++) {
        const int n = 1 + round % 997;
        memset(hits, 0, sizeof(int) * n);
        count_job j = {hits, p, 0};
        ddpm__par_for(p, n, count_task, &j);
        for (int i = 0; i < n; i++) ok &= hits[i] == 1;
    }
    CHECK(ok, "2000 jobs of 1 .. 997 tasks: every task ran exactly once");
    memset(hits, 0, sizeof hits);
    count_job nj = {hits, p, 7};
    ddpm__par_for(p, 1000, nested_task, &nj);
    ok = 1;
    for (int i = 0; i < 7000; i++) ok &= hits[i] == 1;
    CHECK(ok, "a task that calls ddpm__par_for runs the inner tasks in place, each once");
    ddpm__par_free(p);
    int cycles = 0;
    for (int k = 0; k < 100; k++) {
        ddpm_par *q = NULL;
        if (ddpm__par_create(1 + k % 4, &q, NULL) != DDPM_OK) break;
        memset(hits, 0, sizeof(int) * 64);
        count_job j = {hits, q, 0};
        ddpm__par_for(q, 64, count_task, &j);
        ddpm__par_free(q);
        cycles += hits[63] == 1;
    }
    CHECK(cycles == 100, "100 pool create / run / free cycles (1 .. 4 threads; ASan checks the leaks)");
}

int main(void) {
    check_pool();

    ddpm_model *m = load_path("models/fmnist-cond.i8.safetensors", DDPM_DTYPE_F32, 0);
    if (m) {
        ddpm_error err;
        ddpm_status st = ddpm_model_set_threads(m, -1, &err);
        CHECK(st == DDPM_ERR_INVALID_ARGUMENT && strstr(err.message, "threads -1"), "threads -1 refused: %s",
              err.message);
        st = ddpm_model_set_threads(m, 65, &err);
        CHECK(st == DDPM_ERR_INVALID_ARGUMENT && ddpm_model_threads(m) == 1, "threads 65 refused, still 1 thread: %s",
              err.message);
        st = ddpm_model_set_threads(m, 0, &err);
        CHECK(st == DDPM_OK && ddpm_model_threads(m) == 1, "threads 0 (automatic) on a 0.55 GFLOP model: %d thread", ddpm_model_threads(m));
        CHECK(ddpm_model_set_threads(NULL, 2, &err) == DDPM_ERR_INVALID_ARGUMENT, "NULL model refused");
        check_model("fmnist-cond", m);
        ddpm_model_free(m);
    }
    m = load_path("tests/data/diffusers-ref/cifar-narrow", DDPM_DTYPE_F32, 0);
    if (m) {
        check_model("cifar-narrow", m);
        ddpm_model_free(m);
    }
    m = load_path("tests/data/diffusers-ref/cifar-narrow", DDPM_DTYPE_I8, 1);
    if (m) {
        check_model("cifar-narrow compact I8", m);
        /* a model freed while its threads exist: ddpm_model_free joins them (ASan / the exit would show otherwise) */
        ddpm_model_set_threads(m, 3, NULL);
        ddpm_model_free(m);
    }
    return tu_finish("test_threads");
}
