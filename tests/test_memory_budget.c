/*
 * ddpm_load_options.memory_budget: the resident weights (float32 arena + compact arenas + precomputed Winograd
 * weights, as ddpm_model_memory reports them) never exceed the budget; a budget below the float32 weights holds an
 * F16 / I8 model's 3x3 weights compactly; Winograd weights are precomputed for the convolutions that fit and
 * transformed per call for the others; and every budget gives the forward pass of the unbudgeted model bit for bit
 * (1 and 2 threads). Budgets that cannot hold the weights, or all the Winograd weights with PRECOMPUTED, are refused
 * with DDPM_ERR_TOO_LARGE and the bytes needed, leaving nothing allocated (the ASan build checks the leaks).
 */
#include "testutil.h"

enum { N = 3, MAXD = 3 * 32 * 32 };

static size_t resident(const ddpm_model_memory_info *i) { return i->weight_bytes + i->compact_bytes + i->winograd_bytes; }

static const char *config_json; /* the diffusers config.json of the model under test, or NULL */
static size_t config_len;

static ddpm_status load(const unsigned char *buf, size_t size, ddpm_dtype q, ddpm_winograd w, size_t budget,
                        ddpm_model **m, ddpm_error *err) {
    ddpm_load_options o = ddpm_load_default_options();
    o.unet_config = config_json;
    o.unet_config_len = config_len;
    o.quantize = q;
    o.winograd = w;
    o.memory_budget = budget;
    return ddpm_model_load_buffer_ex(buf, size, &o, m, err);
}

static void forward(ddpm_model *m, float *out) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const size_t D = (size_t)c->in_channels * c->image_size * c->image_size;
    static float x[N * MAXD];
    const float t[N] = {10, 400, 990};
    const int y[N] = {1, 5, 10};
    tu_fill(x, N * D, 7, -1.5f, 1.5f);
    ddpm_status st = ddpm_model_forward(m, N, x, t, c->num_classes ? y : NULL, out, NULL);
    CHECK(st == DDPM_OK, "forward: %s", ddpm_status_str(st));
}

static void check_model(const char *what, const char *path, const char *config) {
    config_json = config ? (const char *)tu_read_file(config, &config_len) : NULL;
    size_t size;
    unsigned char *buf = tu_read_file(path, &size);
    CHECK(buf != NULL, "%s: %s is readable", what, path);
    if (!buf) return;
    static float ref[N * MAXD], got[N * MAXD];
    ddpm_model *m = NULL;
    ddpm_error err;
    /* the reference: I8, no budget (every Winograd weight precomputed at these sizes) */
    CHECK(load(buf, size, DDPM_DTYPE_I8, DDPM_WINOGRAD_AUTO, 0, &m, &err) == DDPM_OK, "%s: load: %s", what, err.message);
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const size_t D = (size_t)c->in_channels * c->image_size * c->image_size, bytes = sizeof(float) * N * D;
    ddpm_model_memory_info full;
    CHECK(ddpm_model_memory(m, &full) == DDPM_OK, "memory info");
    CHECK(!full.compact && full.compact_bytes == 0 && full.winograd_precomputed == full.winograd_convs &&
              full.winograd_convs > 4 && full.winograd_bytes > full.weight_bytes,
          "%s without a budget: %zu weight bytes, %d of %d convs with %zu Winograd bytes", what, full.weight_bytes,
          full.winograd_precomputed, full.winograd_convs, full.winograd_bytes);
    forward(m, ref);
    ddpm_model_free(m);

    /* budgets from all of it down to the compact weights alone: always within, always the same bits */
    const size_t all = resident(&full);
    const double fractions[] = {2.0, 1.0, 0.9, 0.6, 0.35, 0.2, 0.12};
    int last_pre = full.winograd_convs + 1, saw_partial = 0, saw_compact = 0;
    for (size_t k = 0; k < sizeof fractions / sizeof *fractions; k++) {
        const size_t budget = (size_t)(fractions[k] * (double)all);
        ddpm_status st = load(buf, size, DDPM_DTYPE_I8, DDPM_WINOGRAD_AUTO, budget, &m, &err);
        if (st != DDPM_OK) {
            CHECK(st == DDPM_ERR_TOO_LARGE && strstr(err.message, "memory budget"), "%s, budget %.2f: %s", what,
                  fractions[k], err.message);
            CHECK(m == NULL, "a refused load returns no model");
            continue;
        }
        ddpm_model_memory_info i;
        ddpm_model_memory(m, &i);
        CHECK(resident(&i) <= budget, "%s, budget %zu (%.2f of all): resident %zu", what, budget, fractions[k], resident(&i));
        CHECK(i.winograd_precomputed <= last_pre || i.compact, "%s: a smaller budget never precomputes more (%d)", what,
              i.winograd_precomputed);
        last_pre = i.winograd_precomputed;
        if (fractions[k] >= 1.0) CHECK(i.winograd_precomputed == i.winograd_convs && !i.compact, "%s: all of it fits", what);
        saw_partial |= i.winograd_precomputed > 0 && i.winograd_precomputed < i.winograd_convs;
        saw_compact |= i.compact;
        for (int th = 1; th <= 2; th++) {
            ddpm_model_set_threads(m, th, NULL);
            memset(got, 0, bytes);
            forward(m, got);
            CHECK(memcmp(got, ref, bytes) == 0, "%s, budget %.2f (%d/%d precomputed%s), %d thread(s): the same bits",
                  what, fractions[k], i.winograd_precomputed, i.winograd_convs, i.compact ? ", compact" : "", th);
        }
        ddpm_model_free(m);
        m = NULL;
    }
    CHECK(saw_partial, "%s: some budget precomputes only part of the Winograd weights", what);
    CHECK(saw_compact, "%s: some budget holds the 3x3 weights compactly", what);

    /* refusals */
    ddpm_status st = load(buf, size, DDPM_DTYPE_I8, DDPM_WINOGRAD_AUTO, full.weight_bytes / 20, &m, &err);
    CHECK(st == DDPM_ERR_TOO_LARGE && m == NULL && strstr(err.message, "held compactly, more than the memory budget"),
          "%s: a budget below the compact weights: %s", what, err.message);
    st = load(buf, size, DDPM_DTYPE_F32, DDPM_WINOGRAD_AUTO, full.weight_bytes - 1, &m, &err);
    CHECK(st == DDPM_ERR_TOO_LARGE && m == NULL && strstr(err.message, "quantize to F16 or I8"),
          "%s: float32 weights over the budget say how to fit: %s", what, err.message);
    st = load(buf, size, DDPM_DTYPE_I8, DDPM_WINOGRAD_PRECOMPUTED, full.weight_bytes + full.winograd_bytes / 2, &m, &err);
    CHECK(st == DDPM_ERR_TOO_LARGE && m == NULL && strstr(err.message, "precomputed Winograd weights need"),
          "%s: PRECOMPUTED needs all of them: %s", what, err.message);
    CHECK(load(buf, size, DDPM_DTYPE_I8, DDPM_WINOGRAD_PRECOMPUTED, all, &m, &err) == DDPM_OK, "PRECOMPUTED, all fit");
    ddpm_model_free(m);
    CHECK(load(buf, size, DDPM_DTYPE_I8, DDPM_WINOGRAD_ON_THE_FLY, 4 * all, &m, &err) == DDPM_OK, "ON_THE_FLY");
    ddpm_model_memory_info fly;
    ddpm_model_memory(m, &fly);
    CHECK(fly.winograd_precomputed == 0 && fly.winograd_bytes == 0, "%s: ON_THE_FLY precomputes none", what);
    forward(m, got);
    CHECK(memcmp(got, ref, bytes) == 0, "%s: ON_THE_FLY under a budget, the same bits", what);
    ddpm_model_free(m);
    /* F16: compact halves under a small budget, the bits of the F16 load without one */
    CHECK(load(buf, size, DDPM_DTYPE_F16, DDPM_WINOGRAD_AUTO, 0, &m, &err) == DDPM_OK, "F16");
    forward(m, ref);
    ddpm_model_free(m);
    CHECK(load(buf, size, DDPM_DTYPE_F16, DDPM_WINOGRAD_AUTO, full.weight_bytes * 3 / 4, &m, &err) == DDPM_OK,
          "%s: F16 under 3/4 of the float32 weights: %s", what, err.message);
    ddpm_model_memory_info h;
    ddpm_model_memory(m, &h);
    CHECK(h.compact && resident(&h) <= full.weight_bytes * 3 / 4, "%s: F16 held compactly", what);
    forward(m, got);
    CHECK(memcmp(got, ref, bytes) == 0, "%s: F16 compact under a budget = F16 without, bit for bit", what);
    ddpm_model_free(m);
    CHECK(ddpm_model_memory(NULL, &h) == DDPM_ERR_INVALID_ARGUMENT, "memory(NULL) is refused");
    free(buf);
    free((void *)config_json);
}

int main(void) {
    check_model("fmnist-cond", "models/fmnist-cond.i8.safetensors", NULL);
    check_model("small-rgb", "tests/data/diffusers/small-rgb/diffusion_pytorch_model.safetensors",
                "tests/data/diffusers/small-rgb/config.json");
    return tu_finish("test_memory_budget");
}
