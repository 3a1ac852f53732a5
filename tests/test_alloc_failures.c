/*
 * Running out of memory at every allocation in turn (ddpm_debug_fail_allocation, ddpm_debug.h): a model load (from
 * a buffer, and a diffusers folder from disk), a run of every built-in sampler (with guidance and per-image labels),
 * and starting a thread pool each fail with DDPM_ERR_OUT_OF_MEMORY and a message at whichever allocation fails,
 * leave nothing behind (the ASan build checks the leaks) and leave the library working: the next call succeeds with
 * the same bits as a call that never saw a failure.
 */
#include "testutil.h"
#include "ddpm_debug.h"

enum { D = 28 * 28, MAXB = 2 };

static int bits_equal(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof(float)) == 0; }

/* load() once with no failure (counting its allocations), then with allocation k failing for every k. */
typedef ddpm_status (*load_fn)(const void *arg, ddpm_model **out, ddpm_error *err);

static ddpm_status load_buffer(const void *arg, ddpm_model **out, ddpm_error *err) {
    const unsigned char *const *b = arg;
    const size_t size = (size_t)(b[1] - b[0]);
    return ddpm_model_load_buffer_ex(b[0], size, NULL, out, err);
}

/* I8 under a memory budget that holds the 3x3 weights compactly and precomputes part of the Winograd weights */
static size_t budget;
static ddpm_status load_budget(const void *arg, ddpm_model **out, ddpm_error *err) {
    const unsigned char *const *b = arg;
    ddpm_load_options o = ddpm_load_default_options();
    o.quantize = DDPM_DTYPE_I8;
    o.memory_budget = budget;
    return ddpm_model_load_buffer_ex(b[0], (size_t)(b[1] - b[0]), &o, out, err);
}

static ddpm_status load_folder(const void *arg, ddpm_model **out, ddpm_error *err) {
    return ddpm_model_load_path(arg, NULL, NULL, out, err);
}

static void check_load(const char *what, load_fn load, const void *arg) {
    ddpm_error err;
    ddpm_model *m = NULL;
    ddpm_debug_fail_allocation(0);
    ddpm_status st = load(arg, &m, &err);
    const long total = ddpm_debug_allocations();
    CHECK(st == DDPM_OK, "%s: loads (%ld allocations)", what, total);
    if (st != DDPM_OK) return;
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const size_t n = (size_t)c->in_channels * c->image_size * c->image_size;
    float *x = calloc(n, sizeof(float)), *want = calloc(n, sizeof(float)), *got = calloc(n, sizeof(float));
    tu_fill(x, n, 5, -1.0f, 1.0f);
    const float t = 321.0f;
    const int y = 0;
    const int *labels = c->num_classes ? &y : NULL;
    ddpm_model_forward(m, 1, x, &t, labels, want, NULL);
    ddpm_model_free(m);
    int oom = 0, other = 0, msgs = 0;
    for (long k = 1; k <= total; k++) {
        m = NULL;
        ddpm_debug_fail_allocation(k);
        st = load(arg, &m, &err);
        ddpm_debug_fail_allocation(0);
        if (st == DDPM_ERR_OUT_OF_MEMORY && !m) {
            oom++;
            msgs += err.message[0] != '\0';
        } else {
            other++;
            if (other <= 3) printf("     allocation %ld: status %s, model %p: %s\n", k, ddpm_status_name(st), (void *)m,
                                   err.message);
            ddpm_model_free(m);
        }
    }
    CHECK(oom == total && msgs == total, "%s: each of the %ld allocations failing gives OUT_OF_MEMORY, no model, a "
          "message (%d OOM, %d other)", what, total, oom, other);
    st = load(arg, &m, &err);
    int same = st == DDPM_OK && ddpm_model_forward(m, 1, x, &t, labels, got, NULL) == DDPM_OK && bits_equal(got, want, n);
    CHECK(same, "%s: afterwards it loads and evaluates to the same bits", what);
    ddpm_model_free(m);
    free(x), free(want), free(got);
}

/* Every built-in sampler: 3 steps, batch 2, guidance 2 with labels {1, null}; each allocation of the run fails in
 * turn (the model is fresh each time, so its scratch is allocated inside the run too). */
static void check_runs(const unsigned char *buf, size_t size) {
    const int nsamplers = ddpm_sampler_count();
    int checked = 0, allok = 1;
    long allocs = 0;
    for (int s = 0; s < nsamplers; s++) {
        const ddpm_sampler_vtable *smp = ddpm_sampler_at(s);
        if (!smp) continue;
        ddpm_model *m = NULL;
        if (ddpm_model_load_buffer(buf, size, &m, NULL) != DDPM_OK) break;
        const int labels[MAXB] = {1, -1};
        ddpm_sample_params p = ddpm_model_sample_defaults(m);
        p.sampler = smp->name;
        p.steps = 3;
        p.batch = MAXB;
        p.seed = 8;
        p.labels = labels;
        p.guidance = 2.0f;
        static float want[MAXB * D], got[MAXB * D];
        ddpm_error err;
        ddpm_debug_fail_allocation(0);
        ddpm_status st = ddpm_sample(m, &p, want, NULL, NULL, &err);
        const long total = ddpm_debug_allocations();
        ddpm_model_free(m);
        if (st != DDPM_OK) {
            printf("     %s: %s\n", smp->name, err.message);
            allok = 0;
            continue;
        }
        int ok = 1;
        for (long k = 1; k <= total; k++) {
            ddpm_model_load_buffer(buf, size, &m, NULL);
            ddpm_debug_fail_allocation(k);
            st = ddpm_sample(m, &p, got, NULL, NULL, &err);
            ddpm_debug_fail_allocation(0);
            if (st != DDPM_ERR_OUT_OF_MEMORY || !err.message[0]) {
                if (ok) printf("     %s, allocation %ld of %ld: %s %s\n", smp->name, k, total, ddpm_status_name(st),
                               err.message);
                ok = 0;
            }
            st = ddpm_sample(m, &p, got, NULL, NULL, &err); /* the same model, right after the failure */
            if (st != DDPM_OK || !bits_equal(got, want, MAXB * D)) {
                if (ok) printf("     %s: the run after failing allocation %ld differs (%s)\n", smp->name, k, err.message);
                ok = 0;
            }
            ddpm_model_free(m);
        }
        allok &= ok;
        checked++;
        allocs += total;
    }
    CHECK(allok && checked == nsamplers, "every allocation of a run fails cleanly for all %d samplers (%ld allocations "
          "in all), and the next run on the same model gives the same bits", checked, allocs);
}

static void check_threads(const unsigned char *buf, size_t size) {
    ddpm_model *m = NULL;
    if (ddpm_model_load_buffer(buf, size, &m, NULL) != DDPM_OK) return;
    ddpm_error err;
    ddpm_debug_fail_allocation(0);
    ddpm_model_set_threads(m, 3, &err);
    const long total = ddpm_debug_allocations();
    ddpm_model_set_threads(m, 1, &err);
    int ok = total > 0;
    for (long k = 1; k <= total; k++) {
        ddpm_debug_fail_allocation(k);
        const ddpm_status st = ddpm_model_set_threads(m, 3, &err);
        ddpm_debug_fail_allocation(0);
        ok &= st == DDPM_ERR_OUT_OF_MEMORY && ddpm_model_threads(m) == 1 && err.message[0];
    }
    ok &= ddpm_model_set_threads(m, 3, &err) == DDPM_OK && ddpm_model_threads(m) == 3;
    CHECK(ok, "starting 3 threads with each of its %ld allocations failing: OUT_OF_MEMORY, still 1 thread; then it "
          "starts", total);
    ddpm_model_free(m);
}

int main(void) {
    size_t size;
    unsigned char *buf = tu_read_file("tests/data/tiny-cond.f32.safetensors", &size);
    CHECK(buf != NULL, "read tests/data/tiny-cond.f32.safetensors");
    if (!buf) return tu_finish("test_alloc_failures");
    const unsigned char *span[2] = {buf, buf + size};
    check_load("tiny-cond from a buffer", load_buffer, span);
    check_load("a diffusers folder from disk", load_folder, "tests/data/diffusers-ref/cifar-narrow");
    {
        ddpm_model *m = NULL;
        ddpm_model_memory_info i;
        if (ddpm_model_load_buffer(buf, size, &m, NULL) == DDPM_OK && ddpm_model_memory(m, &i) == DDPM_OK)
            budget = i.weight_bytes / 4 * 3; /* under the float32 weights: compact, some Winograd room left */
        ddpm_model_free(m);
        m = NULL;
        ddpm_error err;
        CHECK(budget && load_budget(span, &m, &err) == DDPM_OK && ddpm_model_memory(m, &i) == DDPM_OK && i.compact &&
                  i.winograd_precomputed > 0 && i.winograd_precomputed < i.winograd_convs,
              "a budget of %zu bytes: compact, %d of %d Winograd convs precomputed", budget, i.winograd_precomputed,
              i.winograd_convs);
        ddpm_model_free(m);
        check_load("tiny-cond, I8 under a memory budget", load_budget, span);
    }
    check_runs(buf, size);
    check_threads(buf, size);
    free(buf);
    return tu_finish("test_alloc_failures");
}
