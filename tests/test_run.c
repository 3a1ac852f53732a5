/*
 * The run API (ddpm_run_create / ddpm_run_step / ...) and the sampler registry, on the tiny golden models in
 * tests/data (tiny-cond: 3 classes, 1 x 12 x 12; tiny-uncond: 2 x 8 x 8, no classes; both linear, T = 1000).
 *
 * Every reference here is independent of src/sampler: noise from ddpm_rng_normal, model outputs from
 * ddpm_model_forward, reverse steps from ddpm_p_step (src/gaussian) or from float64 formulas written below from the
 * schedule arrays, timestep grids from values worked out by hand. Memory leaks on the error paths are caught by
 * running this test under ASan (the DDPM_SANITIZE build).
 */
#include "testutil.h"

#include <stdint.h>

#define COND "tests/data/tiny-cond.f32.safetensors"
#define UNCOND "tests/data/tiny-uncond.f32.safetensors"
#define T_MODEL 1000

static ddpm_model *load(const char *path) {
    ddpm_error err;
    ddpm_model *m = NULL;
    ddpm_status st = ddpm_model_load_file(path, &m, &err);
    CHECK(st == DDPM_OK, "load %s (%s)", path, st == DDPM_OK ? "ok" : err.message);
    return st == DDPM_OK ? m : NULL;
}

static size_t image_elems(const ddpm_model *m) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    return (size_t)c->in_channels * c->image_size * c->image_size;
}

/* max |a - b| / max(1, |b|) */
static double max_rel_diff(const float *a, const float *b, size_t n) {
    double w = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(d <= w)) w = d;
    }
    return w;
}

/* ================================================================================================================
 * Test plugins
 * ============================================================================================================= */

/* "test_probe": each step records ctx->denoise(x, t_i) and leaves x alone. */
static float *g_probe_out;
static size_t g_probe_n;
static int g_probe_calls;

static ddpm_status probe_step(void *user, void *state, const ddpm_sampler_context *ctx, int i, float *x) {
    (void)state;
    float t[64];
    if (ctx->batch > 64) return DDPM_ERR_INVALID_ARGUMENT;
    for (int k = 0; k < ctx->batch; k++) t[k] = (float)ctx->timesteps[i];
    free(g_probe_out);
    g_probe_n = (size_t)ctx->batch * ctx->image_elems;
    g_probe_out = malloc(sizeof(float) * g_probe_n);
    if (!g_probe_out) return DDPM_ERR_OUT_OF_MEMORY;
    g_probe_calls++;
    return ctx->denoise(ctx, x, t, g_probe_out);
}

static const ddpm_sampler_vtable probe_vt = {.api_version = DDPM_SAMPLER_API_VERSION,
                                             .name = "test_probe",
                                             .description = "records denoise()",
                                             .evals_per_step = 1,
                                             .step = probe_step};

/* "test_opts": four options of every type; create() records the resolved option values. */
static const char *const opt_choices[] = {"red", "green", "blue", NULL};
static const ddpm_sampler_option opts_options[] = {
    {.name = "f", .type = DDPM_OPTION_FLOAT, .default_value = 0.5, .min_value = 0, .max_value = 1, .help = "a float"},
    {.name = "n", .type = DDPM_OPTION_INT, .default_value = 3, .min_value = 1, .max_value = 10, .help = "an int"},
    {.name = "b", .type = DDPM_OPTION_BOOL, .default_value = 1, .min_value = 0, .max_value = 1, .help = "a bool"},
    {.name = "c", .type = DDPM_OPTION_CHOICE, .default_value = 1, .min_value = 0, .max_value = 2,
     .choices = opt_choices, .help = "a choice"},
};
static double g_opts_seen[4];
static int g_opts_creates, g_opts_destroys;
/* the user_data of test_opts: every callback must receive it, and the context must name the sampler */
static int g_opts_user, g_opts_user_ok = 1;

static void opts_check(void *user, const ddpm_sampler_context *ctx) {
    if (user != &g_opts_user || !ctx || !ctx->sampler || ctx->sampler->user_data != &g_opts_user ||
        strcmp(ctx->sampler->name, "test_opts") != 0)
        g_opts_user_ok = 0;
}

static ddpm_status opts_create(void *user, const ddpm_sampler_context *ctx, void **state) {
    opts_check(user, ctx);
    for (int i = 0; i < 4; i++) g_opts_seen[i] = ctx->option_values[i];
    g_opts_creates++;
    *state = malloc(16); /* something for ASan to see freed */
    return *state ? DDPM_OK : DDPM_ERR_OUT_OF_MEMORY;
}
static void opts_destroy(void *user, const ddpm_sampler_context *ctx, void *state) {
    opts_check(user, ctx);
    g_opts_destroys++;
    free(state);
}
static ddpm_status noop_step(void *user, void *state, const ddpm_sampler_context *ctx, int i, float *x) {
    (void)state, (void)ctx, (void)i, (void)x;
    return DDPM_OK;
}
static ddpm_status opts_step(void *user, void *state, const ddpm_sampler_context *ctx, int i, float *x) {
    opts_check(user, ctx);
    return DDPM_OK;
}
static const ddpm_sampler_vtable opts_vt = {.api_version = DDPM_SAMPLER_API_VERSION,
                                            .name = "test_opts",
                                            .description = "options",
                                            .num_options = 4,
                                            .options = opts_options,
                                            .evals_per_step = 1,
                                            .create = opts_create,
                                            .step = opts_step,
                                            .destroy = opts_destroy,
                                            .user_data = &g_opts_user};

/* "test_failcreate": create() fails. */
static ddpm_status failing_create(void *user, const ddpm_sampler_context *ctx, void **state) {
    (void)ctx;
    *state = NULL;
    return DDPM_ERR_OUT_OF_MEMORY;
}
static void nothing_destroy(void *user, const ddpm_sampler_context *ctx, void *state) { (void)state; }
static const ddpm_sampler_vtable failcreate_vt = {.api_version = DDPM_SAMPLER_API_VERSION,
                                                  .name = "test_failcreate",
                                                  .description = "fails",
                                                  .evals_per_step = 1,
                                                  .create = failing_create,
                                                  .step = noop_step,
                                                  .destroy = nothing_destroy};

/* ================================================================================================================
 * Denoisers for ddpm_run_create_with
 * ============================================================================================================= */

/* Zero output, any shape: for grids and size limits. */
static ddpm_status zero_eval(void *user, int n, const float *x, const float *t, const int *y, float *out,
                             ddpm_error *err) {
    const ddpm_denoiser *self = user;
    (void)x, (void)t, (void)y, (void)err;
    memset(out, 0, sizeof(float) * (size_t)n * self->channels * self->image_size * self->image_size);
    return DDPM_OK;
}

/* Wraps a model and records every call. */
typedef struct recorder {
    ddpm_model *m;
    int calls, last_n, had_y;
    int y[64];
    float t[64];
} recorder;

static ddpm_status rec_eval(void *user, int n, const float *x, const float *t, const int *y, float *out,
                            ddpm_error *err) {
    recorder *r = user;
    r->calls++;
    r->last_n = n;
    r->had_y = y != NULL;
    for (int k = 0; k < n && k < 64; k++) {
        r->t[k] = t[k];
        r->y[k] = y ? y[k] : -99;
    }
    return ddpm_model_forward(r->m, n, x, t, y, out, err);
}

static size_t rec_ws(void *user, int n) { return ddpm_model_workspace_bytes(((recorder *)user)->m, n); }

static ddpm_denoiser model_denoiser(ddpm_model *m, recorder *r) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    r->m = m;
    ddpm_denoiser d = {.schedule = ddpm_model_get_schedule(m),
                       .prediction = c->prediction,
                       .channels = c->in_channels,
                       .image_size = c->image_size,
                       .num_classes = c->num_classes,
                       .eval = rec_eval,
                       .user_data = r,
                       .workspace_bytes = rec_ws};
    return d;
}

/* ================================================================================================================
 * Helpers
 * ============================================================================================================= */

static void expect_refused(ddpm_model *m, const ddpm_sample_params *p, ddpm_status want, const char *what) {
    ddpm_error err;
    err.status = DDPM_OK;
    strcpy(err.message, "");
    ddpm_run *run = (ddpm_run *)&err; /* must be reset to NULL */
    ddpm_status st = ddpm_run_create(m, p, &run, &err);
    CHECK(st == want && err.status == want && err.message[0] != '\0' && run == NULL,
          "refused: %s -> %s (want %s): \"%s\"", what, ddpm_status_str(st), ddpm_status_str(want), err.message);
    if (st == DDPM_OK) ddpm_run_free(run);
}

static void expect_refused_with(const ddpm_denoiser *d, const ddpm_sample_params *p, ddpm_status want,
                                const char *what) {
    ddpm_error err;
    err.status = DDPM_OK;
    strcpy(err.message, "");
    ddpm_run *run = (ddpm_run *)&err;
    ddpm_status st = ddpm_run_create_with(d, p, &run, &err);
    CHECK(st == want && err.status == want && err.message[0] != '\0' && run == NULL,
          "refused: %s -> %s (want %s): \"%s\"", what, ddpm_status_str(st), ddpm_status_str(want), err.message);
    if (st == DDPM_OK) ddpm_run_free(run);
}

/* A whole run; out receives [batch, D]. */
static ddpm_status run_all(ddpm_model *m, const ddpm_sample_params *p, float *out) {
    ddpm_run *run;
    ddpm_error err;
    ddpm_status st = ddpm_run_create(m, p, &run, &err);
    if (st != DDPM_OK) {
        printf("     run_create: %s\n", err.message);
        return st;
    }
    while (!ddpm_run_done(run) && (st = ddpm_run_step(run, &err)) == DDPM_OK) {
    }
    if (st == DDPM_OK) memcpy(out, ddpm_run_x(run), sizeof(float) * (size_t)p->batch * image_elems(m));
    else printf("     run_step: %s\n", err.message);
    ddpm_run_free(run);
    return st;
}

/* ================================================================================================================
 * 1. Every invalid parameter is refused before anything is allocated
 * ============================================================================================================= */

static void test_invalid(ddpm_model *cond, ddpm_model *unc) {
    printf("-- invalid parameters\n");
    const size_t D = image_elems(cond);
    ddpm_sample_params p;

#define REFUSE(model, field_assignments, want, what)                                                                 \
    do {                                                                                                              \
        p = ddpm_sample_default_params();                                                                             \
        field_assignments;                                                                                            \
        expect_refused(model, &p, want, what);                                                                        \
    } while (0)

    REFUSE(cond, p.steps = -1, DDPM_ERR_INVALID_ARGUMENT, "steps -1");
    REFUSE(cond, p.steps = T_MODEL + 1, DDPM_ERR_INVALID_ARGUMENT, "steps T+1");
    REFUSE(cond, p.steps = INT32_MAX, DDPM_ERR_INVALID_ARGUMENT, "steps INT_MAX");
    REFUSE(cond, p.batch = 0, DDPM_ERR_INVALID_ARGUMENT, "batch 0");
    REFUSE(cond, p.batch = -3, DDPM_ERR_INVALID_ARGUMENT, "batch -3");
    REFUSE(cond, p.batch = DDPM_MAX_BATCH + 1, DDPM_ERR_INVALID_ARGUMENT, "batch DDPM_MAX_BATCH + 1");
    REFUSE(cond, p.spacing = (ddpm_spacing)3, DDPM_ERR_INVALID_ARGUMENT, "spacing 3");
    REFUSE(cond, p.spacing = (ddpm_spacing)-1, DDPM_ERR_INVALID_ARGUMENT, "spacing -1");
    REFUSE(cond, p.class_label = 3, DDPM_ERR_INVALID_ARGUMENT, "class = num_classes (the null class)");
    REFUSE(cond, p.class_label = 1000, DDPM_ERR_INVALID_ARGUMENT, "class 1000");
    REFUSE(cond, p.class_label = -2, DDPM_ERR_INVALID_ARGUMENT, "class -2");
    REFUSE(unc, p.class_label = 0, DDPM_ERR_INVALID_ARGUMENT, "class 0 on an unconditional model");
    REFUSE(unc, p.guidance = 2.0f, DDPM_ERR_INVALID_ARGUMENT, "guidance 2 on an unconditional model");
    REFUSE(cond, p.guidance = 2.0f, DDPM_ERR_INVALID_ARGUMENT, "guidance 2 without a class");
    REFUSE(cond, (p.class_label = 1, p.guidance = NAN), DDPM_ERR_INVALID_ARGUMENT, "guidance NaN");
    REFUSE(cond, (p.class_label = 1, p.guidance = INFINITY), DDPM_ERR_INVALID_ARGUMENT, "guidance +Inf");
    REFUSE(cond, (p.class_label = 1, p.guidance = -INFINITY), DDPM_ERR_INVALID_ARGUMENT, "guidance -Inf");
    REFUSE(cond, (p.class_label = 1, p.guidance = -1.0f), DDPM_ERR_INVALID_ARGUMENT, "guidance -1");
    REFUSE(cond, (p.first_image = 0xffffffffu, p.batch = 2), DDPM_ERR_INVALID_ARGUMENT,
           "first_image + batch past 2^32");

    /* image-to-image */
    float *init = malloc(sizeof(float) * D * 2);
    tu_fill(init, D * 2, 1, -1.0f, 1.0f);
    REFUSE(cond, (p.init_image = init, p.strength = 0.0f), DDPM_ERR_INVALID_ARGUMENT, "strength 0");
    REFUSE(cond, (p.init_image = init, p.strength = -0.5f), DDPM_ERR_INVALID_ARGUMENT, "strength -0.5");
    REFUSE(cond, (p.init_image = init, p.strength = NAN), DDPM_ERR_INVALID_ARGUMENT, "strength NaN");
    REFUSE(cond, (p.init_image = init, p.strength = INFINITY), DDPM_ERR_INVALID_ARGUMENT, "strength Inf");
    REFUSE(cond, (p.init_image = init, p.strength = 1.5f), DDPM_ERR_INVALID_ARGUMENT, "strength 1.5");
    REFUSE(cond, (p.init_image = init, p.strength = 1e-4f), DDPM_ERR_INVALID_ARGUMENT,
           "strength 1e-4 (starts before t = 0)");
    REFUSE(cond, (p.init_image = init, p.strength = 0.05f, p.steps = 10, p.spacing = DDPM_SPACING_TRAILING),
           DDPM_ERR_INVALID_ARGUMENT, "strength 0.05 (t = 49) on the 10-step trailing grid, which ends at 99");
    init[D + 7] = NAN;
    REFUSE(cond, (p.init_image = init, p.batch = 2, p.strength = 0.5f), DDPM_ERR_INVALID_ARGUMENT,
           "NaN in image 1 of the init image");
    init[D + 7] = INFINITY;
    REFUSE(cond, (p.init_image = init, p.batch = 2, p.strength = 0.5f), DDPM_ERR_INVALID_ARGUMENT,
           "Inf in the init image");
    free(init);

    /* the ddpm sampler's options */
    const char *names[2];
    double vals[2];
#define OPT1(n0, v0) (names[0] = (n0), vals[0] = (v0), p.num_options = 1, p.option_names = names, p.option_values = vals)
    REFUSE(cond, OPT1("no_such_option", 1.0), DDPM_ERR_INVALID_ARGUMENT, "unknown option name");
    REFUSE(cond, OPT1("variance", 2.0), DDPM_ERR_INVALID_ARGUMENT, "CHOICE option out of range (2 of 2 choices)");
    REFUSE(cond, OPT1("variance", -1.0), DDPM_ERR_INVALID_ARGUMENT, "CHOICE option -1");
    REFUSE(cond, OPT1("variance", 0.5), DDPM_ERR_INVALID_ARGUMENT, "non-integer CHOICE value 0.5");
    REFUSE(cond, OPT1("clip_x0", 0.5), DDPM_ERR_INVALID_ARGUMENT, "non-integer BOOL value 0.5");
    REFUSE(cond, OPT1("clip_x0", 2.0), DDPM_ERR_INVALID_ARGUMENT, "BOOL value 2");
    REFUSE(cond, OPT1("clip_x0", NAN), DDPM_ERR_INVALID_ARGUMENT, "NaN option value");
    REFUSE(cond, OPT1(NULL, 1.0), DDPM_ERR_INVALID_ARGUMENT, "NULL option name");
    REFUSE(cond, (p.num_options = 1, p.option_names = NULL, p.option_values = NULL), DDPM_ERR_INVALID_ARGUMENT,
           "num_options 1 with NULL arrays");
    REFUSE(cond, (p.num_options = -1), DDPM_ERR_INVALID_ARGUMENT, "num_options -1");
    REFUSE(cond, p.sampler = "no_such_sampler", DDPM_ERR_NOT_FOUND, "unknown sampler");

    /* sizes: a guided batch of 4096 needs 8192 model evaluations at once, more than the model takes */
    REFUSE(cond, (p.batch = DDPM_MAX_BATCH, p.class_label = 0, p.guidance = 2.0f), DDPM_ERR_TOO_LARGE,
           "guided batch of DDPM_MAX_BATCH");

    /* NULLs */
    ddpm_error err;
    ddpm_run *run = (ddpm_run *)&err;
    p = ddpm_sample_default_params();
    ddpm_status st = ddpm_run_create(NULL, &p, &run, &err);
    CHECK(st == DDPM_ERR_INVALID_ARGUMENT && run == NULL && err.message[0], "refused: NULL model (%s)", err.message);
    run = (ddpm_run *)&err;
    st = ddpm_run_create(cond, NULL, &run, &err);
    CHECK(st == DDPM_ERR_INVALID_ARGUMENT && run == NULL && err.message[0], "refused: NULL params (%s)", err.message);
    st = ddpm_run_create(cond, &p, NULL, &err);
    CHECK(st == DDPM_ERR_INVALID_ARGUMENT && err.message[0], "refused: NULL out (%s)", err.message);
    st = ddpm_run_create(cond, &p, &run, NULL);
    CHECK(st == DDPM_OK, "err may be NULL on success");
    ddpm_run_free(run);
    ddpm_run_free(NULL);

    /* denoisers that cannot be sampled, and one too large for memory */
    ddpm_schedule *sched;
    ddpm_schedule_params sp = ddpm_schedule_default_params();
    ddpm_schedule_create(&sp, &sched, NULL);
    ddpm_denoiser big = {.schedule = sched, .prediction = DDPM_PREDICT_EPS, .channels = 64, .image_size = 1024,
                         .eval = zero_eval};
    big.user_data = &big;
    p = ddpm_sample_default_params();
    p.batch = 8; /* 8 x 64 x 1024 x 1024 floats, several times over */
    expect_refused_with(&big, &p, DDPM_ERR_TOO_LARGE, "a batch whose buffers exceed DDPM_MAX_WORKSPACE_BYTES");
    ddpm_denoiser bad = big;
    bad.channels = 0;
    p.batch = 1;
    expect_refused_with(&bad, &p, DDPM_ERR_INVALID_ARGUMENT, "denoiser with 0 channels");
    bad = big;
    bad.schedule = NULL;
    expect_refused_with(&bad, &p, DDPM_ERR_INVALID_ARGUMENT, "denoiser without a schedule");
    bad = big;
    bad.prediction = (ddpm_prediction)7;
    expect_refused_with(&bad, &p, DDPM_ERR_INVALID_ARGUMENT, "denoiser with prediction 7");
    bad = big;
    bad.eval = NULL;
    expect_refused_with(&bad, &p, DDPM_ERR_INVALID_ARGUMENT, "denoiser without eval");
    ddpm_schedule_free(sched);
#undef REFUSE
#undef OPT1
}

/* Option handling on a plugin with one option of each type, and the release of the registry hold on every failure. */
static void test_options(ddpm_model *cond) {
    printf("-- sampler options\n");
    ddpm_error err;
    CHECK(ddpm_sampler_register(&opts_vt, &err) == DDPM_OK, "register test_opts (%s)", err.message);
    CHECK(ddpm_sampler_register(&failcreate_vt, &err) == DDPM_OK, "register test_failcreate (%s)", err.message);
    ddpm_sample_params p = ddpm_sample_default_params();
    p.sampler = "test_opts";
    p.steps = 3;
    const char *names[4];
    double vals[4];
    p.option_names = names;
    p.option_values = vals;

    /* defaults, then every option set, in an order other than the declared one */
    ddpm_run *run;
    g_opts_creates = 0;
    CHECK(ddpm_run_create(cond, &p, &run, &err) == DDPM_OK, "test_opts with defaults (%s)", err.message);
    CHECK(g_opts_seen[0] == 0.5 && g_opts_seen[1] == 3 && g_opts_seen[2] == 1 && g_opts_seen[3] == 1,
          "unspecified options take their defaults (%g %g %g %g)", g_opts_seen[0], g_opts_seen[1], g_opts_seen[2],
          g_opts_seen[3]);
    ddpm_run_free(run);
    names[0] = "c", vals[0] = 2;
    names[1] = "f", vals[1] = 0.25;
    names[2] = "b", vals[2] = 0;
    names[3] = "n", vals[3] = 10;
    p.num_options = 4;
    CHECK(ddpm_run_create(cond, &p, &run, &err) == DDPM_OK, "test_opts with every option set (%s)", err.message);
    CHECK(g_opts_seen[0] == 0.25 && g_opts_seen[1] == 10 && g_opts_seen[2] == 0 && g_opts_seen[3] == 2,
          "option values arrive in declaration order (%g %g %g %g)", g_opts_seen[0], g_opts_seen[1], g_opts_seen[2],
          g_opts_seen[3]);
    ddpm_run_free(run);
    CHECK(g_opts_creates == 2 && g_opts_destroys == 2, "create/destroy called once per run (%d/%d)", g_opts_creates,
          g_opts_destroys);
    CHECK(g_opts_user_ok, "create, step and destroy receive the vtable's user_data; ctx->sampler is the sampler");

    static const struct {
        const char *name;
        double v;
        const char *what;
    } bad[] = {
        {"zz", 0, "unknown option"},       {"f", 1.5, "FLOAT above max"},        {"f", -0.1, "FLOAT below min"},
        {"f", NAN, "FLOAT NaN"},           {"f", INFINITY, "FLOAT Inf"},         {"n", 0, "INT below min"},
        {"n", 11, "INT above max"},        {"n", 2.5, "non-integer INT"},        {"b", 0.5, "non-integer BOOL"},
        {"b", 2, "BOOL 2"},                {"c", 1.5, "non-integer CHOICE"},     {"c", 3, "CHOICE past the list"},
        {"F", 0.5, "option names are case-sensitive"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.num_options = 1;
        names[0] = bad[i].name;
        vals[0] = bad[i].v;
        char what[96];
        snprintf(what, sizeof what, "test_opts: %s (%s = %g)", bad[i].what, bad[i].name, bad[i].v);
        expect_refused(cond, &p, DDPM_ERR_INVALID_ARGUMENT, what);
    }
    p = ddpm_sample_default_params();
    p.sampler = "test_failcreate";
    expect_refused(cond, &p, DDPM_ERR_OUT_OF_MEMORY, "a sampler whose create() fails");

    /* no failed create kept a hold on its sampler */
    CHECK(ddpm_sampler_unregister("test_opts", &err) == DDPM_OK, "test_opts unregisters after the failures (%s)",
          err.message);
    CHECK(ddpm_sampler_unregister("test_failcreate", &err) == DDPM_OK,
          "test_failcreate unregisters after its failure (%s)", err.message);
    /* the same for the built-in: take it out and put it back */
    const ddpm_sampler_vtable *ddpm_vt = ddpm_sampler_find("ddpm");
    ddpm_sampler_vtable copy;
    if (ddpm_vt) copy = *ddpm_vt;
    ddpm_status st = ddpm_vt ? ddpm_sampler_unregister("ddpm", &err) : DDPM_ERR_NOT_FOUND;
    CHECK(st == DDPM_OK, "ddpm unregisters after all the refused runs above (%s)", st ? err.message : "ok");
    if (st == DDPM_OK)
        CHECK(ddpm_sampler_register(&copy, &err) == DDPM_OK, "ddpm registers again (%s)", err.message);
}

/* ================================================================================================================
 * 2. Determinism and batch independence
 * ============================================================================================================= */

static void test_determinism(ddpm_model *m, const char *name, int class_label, float guidance) {
    printf("-- determinism: %s\n", name);
    const size_t D = image_elems(m);
    enum { B = 3 };
    ddpm_sample_params p = ddpm_sample_default_params();
    p.steps = 10;
    p.seed = 1234567890123ull;
    p.batch = B;
    p.class_label = class_label;
    p.guidance = guidance;
    float *a = malloc(sizeof(float) * B * D), *b = malloc(sizeof(float) * B * D), *one = malloc(sizeof(float) * D);
    CHECK(run_all(m, &p, a) == DDPM_OK && run_all(m, &p, b) == DDPM_OK, "%s: two runs", name);
    CHECK(memcmp(a, b, sizeof(float) * B * D) == 0, "%s: the same seed twice gives identical bytes", name);
    int finite = 1;
    for (size_t i = 0; i < B * D; i++) finite &= isfinite(a[i]) != 0;
    CHECK(finite, "%s: the samples are finite", name);
    p.seed++;
    run_all(m, &p, b);
    size_t differ = 0;
    for (size_t k = 0; k < B; k++) differ += memcmp(a + k * D, b + k * D, sizeof(float) * D) != 0;
    CHECK(differ == B, "%s: another seed changes every image (%zu of %d differ)", name, differ, B);
    p.seed--;
    /* images differ from each other within a batch */
    CHECK(memcmp(a, a + D, sizeof(float) * D) != 0 && memcmp(a + D, a + 2 * D, sizeof(float) * D) != 0,
          "%s: images of one batch differ", name);
    /* image k of the batch == the same image alone with first_image = k, bit for bit */
    int same = 1;
    for (int k = 0; k < B; k++) {
        ddpm_sample_params q = p;
        q.batch = 1;
        q.first_image = (uint32_t)k;
        same &= run_all(m, &q, one) == DDPM_OK && memcmp(one, a + (size_t)k * D, sizeof(float) * D) == 0;
    }
    CHECK(same, "%s: image k of a batch == image k sampled alone with first_image = k (bitwise)", name);
    /* and a batch split 1 + 2 with first_image offsets */
    ddpm_sample_params q = p;
    q.batch = 2;
    q.first_image = 1;
    CHECK(run_all(m, &q, b) == DDPM_OK && memcmp(b, a + D, sizeof(float) * 2 * D) == 0,
          "%s: a batch of 2 at first_image 1 == images 1..2 of the batch of 3 (bitwise)", name);
    /* ddpm_sample() is the same loop */
    float *c = malloc(sizeof(float) * B * D);
    ddpm_error err;
    CHECK(ddpm_sample(m, &p, c, NULL, NULL, &err) == DDPM_OK && memcmp(a, c, sizeof(float) * B * D) == 0,
          "%s: ddpm_sample() == the run loop (bitwise)", name);
    free(a);
    free(b);
    free(c);
    free(one);
}

static int stop_after_two(void *user, int step, int num_steps, int t, const ddpm_run *run) {
    (void)num_steps, (void)t, (void)run;
    int *calls = user;
    (*calls)++;
    return step >= 1;
}

static void test_run_state(ddpm_model *m) {
    printf("-- run state\n");
    const size_t D = image_elems(m);
    ddpm_sample_params p = ddpm_sample_default_params();
    p.steps = 3;
    p.seed = 5;
    ddpm_run *run;
    ddpm_error err;
    ddpm_status st = ddpm_run_create(m, &p, &run, &err);
    CHECK(st == DDPM_OK, "create (%s)", err.message);
    if (st != DDPM_OK) return;
    CHECK(ddpm_run_num_steps(run) == 3 && ddpm_run_current_step(run) == 0 && !ddpm_run_done(run),
          "fresh run: 3 steps, 0 taken, not done");
    int ok = 1;
    for (int i = 0; i < 3; i++) ok &= ddpm_run_step(run, &err) == DDPM_OK && ddpm_run_current_step(run) == i + 1;
    CHECK(ok && ddpm_run_done(run), "three steps, then done");
    st = ddpm_run_step(run, &err);
    CHECK(st == DDPM_ERR_STATE && err.status == DDPM_ERR_STATE && err.message[0],
          "stepping a finished run: DDPM_ERR_STATE (%s)", err.message);
    ddpm_run_free(run);
    CHECK(ddpm_run_step(NULL, &err) == DDPM_ERR_INVALID_ARGUMENT, "stepping NULL: invalid argument");
    CHECK(ddpm_run_done(NULL) && ddpm_run_x(NULL) == NULL && ddpm_run_timestep(NULL, 0) == -1,
          "getters accept NULL");

    int calls = 0;
    float *out = malloc(sizeof(float) * D);
    p.steps = 10;
    st = ddpm_sample(m, &p, out, stop_after_two, &calls, &err);
    CHECK(st == DDPM_ERR_ABORTED && calls == 2, "ddpm_sample stops with DDPM_ERR_ABORTED when progress says so (%d)",
          calls);
    free(out);
}

/* ================================================================================================================
 * 3. x_T
 * ============================================================================================================= */

static void test_x_T(ddpm_model *m, const char *name) {
    printf("-- x_T: %s\n", name);
    const size_t D = image_elems(m);
    ddpm_sample_params p = ddpm_sample_default_params();
    p.seed = 0xfeedfacecafebeefull;
    p.batch = 3;
    p.first_image = 40;
    ddpm_run *run;
    ddpm_error err;
    if (ddpm_run_create(m, &p, &run, &err) != DDPM_OK) {
        CHECK(0, "%s: create (%s)", name, err.message);
        return;
    }
    float *ref = malloc(sizeof(float) * D);
    int same = 1, same_x0 = 1;
    for (int k = 0; k < 3; k++) {
        ddpm_rng_normal(p.seed, 40u + (uint32_t)k, 0, DDPM_NOISE_INITIAL, ref, D);
        same &= memcmp(ref, ddpm_run_x(run) + (size_t)k * D, sizeof(float) * D) == 0;
        same_x0 &= memcmp(ref, ddpm_run_pred_x0(run) + (size_t)k * D, sizeof(float) * D) == 0;
    }
    CHECK(same, "%s: x_T of image k == ddpm_rng_normal(seed, first_image + k, 0, DDPM_NOISE_INITIAL) (bitwise)", name);
    CHECK(same_x0, "%s: pred_x0 before the first step == x_T", name);
    CHECK(ddpm_run_num_steps(run) == T_MODEL && ddpm_run_timestep(run, 0) == T_MODEL - 1,
          "%s: steps = 0 means all %d timesteps, from t = T-1", name, T_MODEL);
    free(ref);
    ddpm_run_free(run);
}

/* ================================================================================================================
 * 4. The DDPM step against ddpm_p_step (full grid) and against float64 formulas (strided grid)
 * ============================================================================================================= */

/*
 * Starts a run on the full grid at t_start (image-to-image with strength (t_start + 1) / T, or pure noise when
 * t_start = T - 1 and from_noise), then for `nsteps` steps checks x_{t-1} against ddpm_p_step with the model output
 * from ddpm_model_forward and the noise from ddpm_rng_normal(seed, first_image + k, step, DDPM_NOISE_STEP).
 */
static void check_full_grid(ddpm_model *m, const char *name, int t_start, int from_noise, int nsteps, int fixed_large,
                            int clip) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const ddpm_schedule *s = ddpm_model_get_schedule(m);
    const size_t D = image_elems(m);
    enum { B = 2 };
    const uint32_t first = 3;
    float *init = malloc(sizeof(float) * B * D);
    tu_fill(init, B * D, 77, -1.0f, 1.0f);
    ddpm_sample_params p = ddpm_sample_default_params();
    p.seed = 11;
    p.batch = B;
    p.first_image = first;
    if (!from_noise) {
        p.init_image = init;
        p.strength = (float)(t_start + 1) / (float)T_MODEL;
    }
    const char *names[2] = {"variance", "clip_x0"};
    double vals[2] = {fixed_large, clip};
    p.num_options = 2;
    p.option_names = names;
    p.option_values = vals;
    ddpm_run *run;
    ddpm_error err;
    if (ddpm_run_create(m, &p, &run, &err) != DDPM_OK) {
        CHECK(0, "%s: create (%s)", name, err.message);
        free(init);
        return;
    }
    CHECK(ddpm_run_timestep(run, 0) == t_start && ddpm_run_num_steps(run) == t_start + 1,
          "%s: the run starts at t = %d with %d steps (got t = %d, %d steps)", name, t_start, t_start + 1,
          ddpm_run_timestep(run, 0), ddpm_run_num_steps(run));
    float *x = malloc(sizeof(float) * B * D), *out = malloc(sizeof(float) * B * D);
    float *noise = malloc(sizeof(float) * B * D), *want = malloc(sizeof(float) * B * D);
    float *want_x0 = malloc(sizeof(float) * B * D);
    double worst = 0, worst_x0 = 0;
    int ok = 1;
    for (int i = 0; i < nsteps && !ddpm_run_done(run); i++) {
        const int t = ddpm_run_timestep(run, i);
        memcpy(x, ddpm_run_x(run), sizeof(float) * B * D);
        float tt[B] = {(float)t, (float)t};
        ok &= ddpm_model_forward(m, B, x, tt, NULL, out, NULL) == DDPM_OK;
        for (int k = 0; k < B; k++) {
            ddpm_rng_normal(p.seed, first + (uint32_t)k, (uint32_t)i, DDPM_NOISE_STEP, noise + k * D, D);
            ok &= ddpm_p_step(s, t, c->prediction, fixed_large ? DDPM_VARIANCE_FIXED_LARGE : DDPM_VARIANCE_FIXED_SMALL,
                              clip, x + k * D, out + k * D, t > 0 ? noise + k * D : NULL, want + k * D,
                              want_x0 + k * D, D) == DDPM_OK;
        }
        ok &= ddpm_run_step(run, &err) == DDPM_OK;
        worst = fmax(worst, max_rel_diff(ddpm_run_x(run), want, B * D));
        worst_x0 = fmax(worst_x0, max_rel_diff(ddpm_run_pred_x0(run), want_x0, B * D));
    }
    CHECK(ok && worst <= 2e-6 && worst_x0 <= 2e-6,
          "%s: %d step(s) from t = %d == ddpm_p_step (%s, clip %d): max rel |d| x %.2g, x0 %.2g", name, nsteps,
          t_start, fixed_large ? "fixed_large" : "fixed_small", clip, worst, worst_x0);
    free(x);
    free(out);
    free(noise);
    free(want);
    free(want_x0);
    free(init);
    ddpm_run_free(run);
}

/* One step i of a strided grid against the paper's eq. 11 with the grid's own alpha and beta, in float64. */
static void check_strided_step(ddpm_model *m, const char *name, ddpm_spacing spacing, int steps, int check_i) {
    const ddpm_schedule *s = ddpm_model_get_schedule(m);
    const double *abar = ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD);
    const size_t D = image_elems(m);
    enum { B = 2 };
    ddpm_sample_params p = ddpm_sample_default_params();
    p.seed = 2024;
    p.batch = B;
    p.first_image = 9;
    p.steps = steps;
    p.spacing = spacing;
    const char *names[1] = {"clip_x0"};
    double vals[1] = {0};
    p.num_options = 1;
    p.option_names = names;
    p.option_values = vals;
    ddpm_run *run;
    ddpm_error err;
    if (ddpm_run_create(m, &p, &run, &err) != DDPM_OK) {
        CHECK(0, "%s: create (%s)", name, err.message);
        return;
    }
    int ok = 1;
    for (int i = 0; i < check_i; i++) ok &= ddpm_run_step(run, &err) == DDPM_OK;
    const int t = ddpm_run_timestep(run, check_i);
    const int sprev = check_i + 1 < steps ? ddpm_run_timestep(run, check_i + 1) : -1;
    float *x = malloc(sizeof(float) * B * D), *eps = malloc(sizeof(float) * B * D), *z = malloc(sizeof(float) * D);
    memcpy(x, ddpm_run_x(run), sizeof(float) * B * D);
    float tt[B] = {(float)t, (float)t};
    ok &= ddpm_model_forward(m, B, x, tt, NULL, eps, NULL) == DDPM_OK;
    ok &= ddpm_run_step(run, &err) == DDPM_OK;
    const float *got = ddpm_run_x(run);
    /* alpha = abar_t / abar_s, beta = 1 - alpha; mu = (x_t - beta / sqrt(1 - abar_t) eps) / sqrt(alpha);
     * sigma^2 = beta (1 - abar_s) / (1 - abar_t); no noise on the last step (s = -1, abar_s = 1) */
    const double ab_t = abar[t], ab_s = sprev >= 0 ? abar[sprev] : 1.0;
    const double alpha = ab_t / ab_s, beta = 1.0 - alpha;
    const double sigma = sprev >= 0 ? sqrt(beta * (1.0 - ab_s) / (1.0 - ab_t)) : 0.0;
    double worst = 0;
    for (int k = 0; k < B; k++) {
        ddpm_rng_normal(p.seed, 9u + (uint32_t)k, (uint32_t)check_i, DDPM_NOISE_STEP, z, D);
        for (size_t j = 0; j < D; j++) {
            const double xt = x[k * D + j], e = eps[k * D + j];
            const double mu = (xt - beta / sqrt(1.0 - ab_t) * e) / sqrt(alpha);
            const double want = mu + sigma * (double)z[j];
            worst = fmax(worst, fabs(want - got[k * D + j]) / fmax(1.0, fabs(want)));
        }
    }
    CHECK(ok && worst <= 1e-5, "%s: step %d of %d (t = %d -> %d) == eq. 11 with the grid's alpha, beta in float64: "
          "max rel |d| = %.2g", name, check_i, steps, t, sprev, worst);
    free(x);
    free(eps);
    free(z);
    ddpm_run_free(run);
}

static void test_ddpm_step(ddpm_model *unc, ddpm_model *cond) {
    printf("-- the ddpm sampler's step\n");
    check_full_grid(unc, "uncond, from x_T", T_MODEL - 1, 1, 2, 0, 1);
    check_full_grid(unc, "uncond, img2img", T_MODEL - 1, 0, 2, 1, 0);
    check_full_grid(unc, "uncond, mid-grid", 499, 0, 3, 0, 1);
    check_full_grid(unc, "uncond, last steps", 4, 0, 5, 0, 1);
    check_full_grid(unc, "uncond, last steps, fixed_large, no clip", 4, 0, 5, 1, 0);
    check_full_grid(cond, "cond (null class), last steps", 3, 0, 4, 0, 1);
    check_strided_step(unc, "leading 7", DDPM_SPACING_LEADING, 7, 1);
    check_strided_step(unc, "leading 7, last step", DDPM_SPACING_LEADING, 7, 6);
    check_strided_step(unc, "trailing 7, first step", DDPM_SPACING_TRAILING, 7, 0);
    check_strided_step(unc, "trailing 7, last step (t = 142 -> done)", DDPM_SPACING_TRAILING, 7, 6);
    check_strided_step(cond, "cond linspace 10", DDPM_SPACING_LINSPACE, 10, 4);
}

/* ================================================================================================================
 * 5. Classifier-free guidance
 * ============================================================================================================= */

static void test_guidance(ddpm_model *m) {
    printf("-- classifier-free guidance\n");
    const size_t D = image_elems(m);
    const int nc = ddpm_model_get_config(m)->num_classes;
    enum { B = 2 };
    ddpm_error err;
    CHECK(ddpm_sampler_register(&probe_vt, &err) == DDPM_OK, "register test_probe (%s)", err.message);
    const float w = 3.0f;
    const int label = 2;
    ddpm_sample_params p = ddpm_sample_default_params();
    p.sampler = "test_probe";
    p.steps = 10;
    p.seed = 5;
    p.batch = B;
    p.class_label = label;
    p.guidance = w;

    float *x = malloc(sizeof(float) * B * D), *cnd = malloc(sizeof(float) * B * D);
    float *unc = malloc(sizeof(float) * B * D), *unc_null = malloc(sizeof(float) * B * D);
    float *want = malloc(sizeof(float) * B * D);
    for (int via_model = 0; via_model < 2; via_model++) {
        const char *how = via_model ? "ddpm_run_create" : "ddpm_run_create_with";
        recorder rec;
        memset(&rec, 0, sizeof rec);
        ddpm_denoiser d = model_denoiser(m, &rec);
        ddpm_run *run;
        ddpm_status st = via_model ? ddpm_run_create(m, &p, &run, &err) : ddpm_run_create_with(&d, &p, &run, &err);
        if (st != DDPM_OK) {
            CHECK(0, "%s: create (%s)", how, err.message);
            continue;
        }
        memcpy(x, ddpm_run_x(run), sizeof(float) * B * D);
        const int t = ddpm_run_timestep(run, 0);
        g_probe_calls = 0;
        CHECK(ddpm_run_step(run, &err) == DDPM_OK && g_probe_calls == 1, "%s: one probe step (%s)", how,
              err.message);
        CHECK(memcmp(x, ddpm_run_x(run), sizeof(float) * B * D) == 0, "%s: the probe leaves x alone", how);
        if (!via_model) {
            int yok = rec.had_y;
            for (int k = 0; k < B; k++) yok &= rec.y[k] == label && rec.y[B + k] == nc;
            int tok = 1;
            for (int k = 0; k < 2 * B; k++) tok &= rec.t[k] == (float)t;
            CHECK(rec.calls == 1 && rec.last_n == 2 * B && yok && tok,
                  "one denoiser call of 2B images: labels [c..c, null..null], t = %d everywhere", t);
        }
        float tt[B] = {(float)t, (float)t};
        int yc[B] = {label, label}, yn[B] = {nc, nc};
        int ok = ddpm_model_forward(m, B, x, tt, yc, cnd, NULL) == DDPM_OK;
        ok &= ddpm_model_forward(m, B, x, tt, yn, unc, NULL) == DDPM_OK;
        ok &= ddpm_model_forward(m, B, x, tt, NULL, unc_null, NULL) == DDPM_OK;
        if (!via_model)
            CHECK(memcmp(unc, unc_null, sizeof(float) * B * D) == 0, "y = NULL is the null class (bitwise)");
        for (size_t j = 0; j < B * D; j++) want[j] = unc[j] + w * (cnd[j] - unc[j]);
        const double d_guided = g_probe_out && g_probe_n == B * D ? tu_max_abs_diff(g_probe_out, want, B * D) : 1e9;
        CHECK(ok && d_guided <= 1e-5, "%s: denoise == uncond + w (cond - uncond), w = %g: max|d| = %.2g", how,
              (double)w, d_guided);
        const double d_cond = g_probe_out ? tu_max_abs_diff(g_probe_out, cnd, B * D) : 0;
        CHECK(d_cond > 1e-3, "%s: and differs from the conditional output alone (max|d| = %.3g)", how, d_cond);
        ddpm_run_free(run);
    }

    /* guidance 1 with a class: one call of B images, all labelled; no class: y = NULL */
    for (int with_class = 0; with_class < 2; with_class++) {
        recorder rec;
        memset(&rec, 0, sizeof rec);
        ddpm_denoiser d = model_denoiser(m, &rec);
        ddpm_sample_params q = p;
        q.guidance = 1.0f;
        q.class_label = with_class ? 1 : -1;
        ddpm_run *run;
        if (ddpm_run_create_with(&d, &q, &run, &err) != DDPM_OK) {
            CHECK(0, "create (%s)", err.message);
            continue;
        }
        memcpy(x, ddpm_run_x(run), sizeof(float) * B * D);
        const int t = ddpm_run_timestep(run, 0);
        ddpm_run_step(run, &err);
        float tt[B] = {(float)t, (float)t};
        int yc[B] = {1, 1};
        ddpm_model_forward(m, B, x, tt, with_class ? yc : NULL, want, NULL);
        if (with_class)
            CHECK(rec.calls == 1 && rec.last_n == B && rec.had_y && rec.y[0] == 1 && rec.y[1] == 1 &&
                      g_probe_out && memcmp(g_probe_out, want, sizeof(float) * B * D) == 0,
                  "guidance 1, class 1: one call of B images labelled 1, output == the conditional model's");
        else
            CHECK(rec.calls == 1 && rec.last_n == B && !rec.had_y && g_probe_out &&
                      memcmp(g_probe_out, want, sizeof(float) * B * D) == 0,
                  "no class: one call of B images with y = NULL, output == the unconditional model's");
        ddpm_run_free(run);
    }
    free(x);
    free(cnd);
    free(unc);
    free(unc_null);
    free(want);
    free(g_probe_out);
    g_probe_out = NULL;
    CHECK(ddpm_sampler_unregister("test_probe", &err) == DDPM_OK, "unregister test_probe (%s)", err.message);
}

/* ================================================================================================================
 * 6. Timestep grids, T = 1000
 * ============================================================================================================= */

static void check_grid(const ddpm_denoiser *d, ddpm_spacing spacing, const char *sname, int steps,
                       const int *want, int nwant, int want_first, int want_last) {
    ddpm_sample_params p = ddpm_sample_default_params();
    p.steps = steps;
    p.spacing = spacing;
    ddpm_run *run;
    ddpm_error err;
    if (ddpm_run_create_with(d, &p, &run, &err) != DDPM_OK) {
        CHECK(0, "%s %d: create (%s)", sname, steps, err.message);
        return;
    }
    const int n = ddpm_run_num_steps(run);
    int desc = 1, range = 1, exact = 1;
    for (int i = 0; i < n; i++) {
        const int t = ddpm_run_timestep(run, i);
        range &= t >= 0 && t < 1000;
        if (i > 0) desc &= t < ddpm_run_timestep(run, i - 1); /* strictly: descending and unique */
        if (want && i < nwant) exact &= t == want[i];
    }
    CHECK(n == steps && desc && range && ddpm_run_timestep(run, 0) == want_first &&
              ddpm_run_timestep(run, n - 1) == want_last && exact && ddpm_run_timestep(run, -1) == -1 &&
              ddpm_run_timestep(run, n) == -1,
          "grid %s, %d steps: %d entries, strictly descending in [0, 999], %d .. %d%s (got %d .. %d)", sname, steps,
          n, want_first, want_last, want ? ", every entry as worked out by hand" : "", ddpm_run_timestep(run, 0),
          ddpm_run_timestep(run, n - 1));
    ddpm_run_free(run);
}

static void test_grids(void) {
    printf("-- timestep grids, T = 1000\n");
    ddpm_schedule *sched;
    ddpm_schedule_params sp = ddpm_schedule_default_params();
    if (ddpm_schedule_create(&sp, &sched, NULL) != DDPM_OK) {
        CHECK(0, "schedule");
        return;
    }
    ddpm_denoiser d = {.schedule = sched, .prediction = DDPM_PREDICT_EPS, .channels = 1, .image_size = 4,
                       .eval = zero_eval};
    d.user_data = &d;
    /* leading: t_i = (steps - 1 - i) * floor(T / steps).  1000 / 7 = 142 */
    static const int lead10[] = {900, 800, 700, 600, 500, 400, 300, 200, 100, 0};
    static const int lead7[] = {852, 710, 568, 426, 284, 142, 0};
    /* trailing: round(T - i T / steps) - 1.  1000 - i 1000/7 = 1000, 857.14, 714.29, 571.43, 428.57, 285.71, 142.86 */
    static const int trail10[] = {999, 899, 799, 699, 599, 499, 399, 299, 199, 99};
    static const int trail7[] = {999, 856, 713, 570, 428, 285, 142};
    /* linspace: round(linspace(0, 999, steps)) descending, halves rounded up: 999 k / 6 = 999, 832.5, 666, 499.5,
     * 333, 166.5, 0 */
    static const int lin10[] = {999, 888, 777, 666, 555, 444, 333, 222, 111, 0};
    static const int lin7[] = {999, 833, 666, 500, 333, 167, 0};
    check_grid(&d, DDPM_SPACING_LEADING, "leading", 10, lead10, 10, 900, 0);
    check_grid(&d, DDPM_SPACING_LEADING, "leading", 7, lead7, 7, 852, 0);
    check_grid(&d, DDPM_SPACING_LEADING, "leading", 1, NULL, 0, 0, 0);
    check_grid(&d, DDPM_SPACING_LEADING, "leading", 1000, NULL, 0, 999, 0);
    check_grid(&d, DDPM_SPACING_TRAILING, "trailing", 10, trail10, 10, 999, 99);
    check_grid(&d, DDPM_SPACING_TRAILING, "trailing", 7, trail7, 7, 999, 142);
    check_grid(&d, DDPM_SPACING_TRAILING, "trailing", 1, NULL, 0, 999, 999);
    check_grid(&d, DDPM_SPACING_TRAILING, "trailing", 1000, NULL, 0, 999, 0);
    check_grid(&d, DDPM_SPACING_LINSPACE, "linspace", 10, lin10, 10, 999, 0);
    check_grid(&d, DDPM_SPACING_LINSPACE, "linspace", 7, lin7, 7, 999, 0);
    check_grid(&d, DDPM_SPACING_LINSPACE, "linspace", 1, NULL, 0, 999, 999);
    check_grid(&d, DDPM_SPACING_LINSPACE, "linspace", 1000, NULL, 0, 999, 0);
    /* with 1000 steps every spacing is 999, 998, ..., 0 */
    int full[1000];
    for (int i = 0; i < 1000; i++) full[i] = 999 - i;
    check_grid(&d, DDPM_SPACING_LEADING, "leading (all entries)", 1000, full, 1000, 999, 0);
    check_grid(&d, DDPM_SPACING_TRAILING, "trailing (all entries)", 1000, full, 1000, 999, 0);
    check_grid(&d, DDPM_SPACING_LINSPACE, "linspace (all entries)", 1000, full, 1000, 999, 0);
    ddpm_schedule_free(sched);
}

/* ================================================================================================================
 * 7. Image-to-image
 * ============================================================================================================= */

static void test_img2img(ddpm_model *m) {
    printf("-- image-to-image\n");
    const size_t D = image_elems(m);
    const ddpm_schedule *s = ddpm_model_get_schedule(m);
    const double *abar = ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD);
    enum { B = 2 };
    float *init = malloc(sizeof(float) * B * D), *eps = malloc(sizeof(float) * D), *want = malloc(sizeof(float) * D);
    tu_fill(init, B * D, 3, -1.0f, 1.0f);
    static const struct {
        float strength;
        int steps;
        ddpm_spacing spacing;
        int first_t, num_steps, last_t;
    } cases[] = {
        {1.0f, 1000, DDPM_SPACING_LEADING, 999, 1000, 0}, /* round(1 * 1000) - 1 */
        {0.3f, 1000, DDPM_SPACING_LEADING, 299, 300, 0},  /* round(0.3 * 1000) - 1 */
        {0.3f, 0, DDPM_SPACING_LEADING, 299, 300, 0},     /* steps 0 = T */
        {1.0f, 10, DDPM_SPACING_LEADING, 900, 10, 0},     /* the leading grid's own first point */
        {0.5f, 10, DDPM_SPACING_LEADING, 400, 5, 0},      /* first grid point <= 499 */
        {0.5f, 10, DDPM_SPACING_TRAILING, 499, 5, 99},    /* 999 899 799 699 599 | 499 399 299 199 99 */
        {0.001f, 1000, DDPM_SPACING_LEADING, 0, 1, 0},    /* round(1) - 1 = 0: a single step */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        ddpm_sample_params p = ddpm_sample_default_params();
        p.seed = 31337;
        p.batch = B;
        p.first_image = 6;
        p.init_image = init;
        p.strength = cases[ci].strength;
        p.steps = cases[ci].steps;
        p.spacing = cases[ci].spacing;
        ddpm_run *run;
        ddpm_error err;
        if (ddpm_run_create(m, &p, &run, &err) != DDPM_OK) {
            CHECK(0, "strength %g: create (%s)", (double)p.strength, err.message);
            continue;
        }
        const int t0 = ddpm_run_timestep(run, 0);
        CHECK(t0 == cases[ci].first_t && ddpm_run_num_steps(run) == cases[ci].num_steps &&
                  ddpm_run_timestep(run, ddpm_run_num_steps(run) - 1) == cases[ci].last_t,
              "strength %g, %d steps (%s): starts at t = %d with %d steps, ends at %d (got t = %d, %d steps)",
              (double)p.strength, p.steps, p.spacing == DDPM_SPACING_TRAILING ? "trailing" : "leading",
              cases[ci].first_t, cases[ci].num_steps, cases[ci].last_t, t0, ddpm_run_num_steps(run));
        int same = 1;
        double worst = 0;
        for (int k = 0; k < B; k++) {
            ddpm_rng_normal(p.seed, 6u + (uint32_t)k, 0, DDPM_NOISE_FORWARD, eps, D);
            ddpm_q_sample(s, t0, init + (size_t)k * D, eps, want, D);
            same &= memcmp(want, ddpm_run_x(run) + (size_t)k * D, sizeof(float) * D) == 0;
            const double a = sqrt(abar[t0]), b = sqrt(1.0 - abar[t0]);
            for (size_t j = 0; j < D; j++)
                worst = fmax(worst, fabs(a * init[k * D + j] + b * eps[j] - ddpm_run_x(run)[k * D + j]));
        }
        CHECK(same && worst <= 1e-6,
              "strength %g: x at t = %d == q_sample(init, t, ddpm_rng_normal(seed, first_image + k, 0, "
              "DDPM_NOISE_FORWARD)) (bitwise vs ddpm_q_sample; float64 formula max|d| = %.2g)",
              (double)p.strength, t0, worst);
        ddpm_run_free(run);
    }
    free(init);
    free(eps);
    free(want);
}

/* ================================================================================================================
 * 8. Registry
 * ============================================================================================================= */

static void test_registry(ddpm_model *m) {
    printf("-- registry\n");
    ddpm_error err;
    const int n0 = ddpm_sampler_count();
    CHECK(n0 >= 1 && ddpm_sampler_find("ddpm") != NULL, "the built-in ddpm is registered (%d samplers)", n0);
    int found = 0;
    for (int i = 0; i < n0; i++) found += ddpm_sampler_at(i) && strcmp(ddpm_sampler_at(i)->name, "ddpm") == 0;
    CHECK(found == 1 && ddpm_sampler_at(-1) == NULL && ddpm_sampler_at(n0) == NULL,
          "ddpm_sampler_at lists ddpm once; out-of-range indices give NULL");
    CHECK(ddpm_sampler_find("nope") == NULL && ddpm_sampler_find(NULL) == NULL, "find: unknown or NULL -> NULL");

    ddpm_sampler_vtable vt = *ddpm_sampler_find("ddpm");
    ddpm_status st = ddpm_sampler_register(&vt, &err);
    CHECK(st == DDPM_ERR_EXISTS && err.message[0], "duplicate name -> DDPM_ERR_EXISTS (%s)", err.message);
    vt.name = "test_busy";
    vt.api_version = DDPM_SAMPLER_API_VERSION + 1;
    st = ddpm_sampler_register(&vt, &err);
    CHECK(st == DDPM_ERR_VERSION && err.message[0], "wrong api_version -> DDPM_ERR_VERSION (%s)", err.message);
    vt.api_version = 0;
    st = ddpm_sampler_register(&vt, &err);
    CHECK(st == DDPM_ERR_VERSION, "api_version 0 -> DDPM_ERR_VERSION");
    vt.api_version = 1; /* a plugin of the first API: its message says what changed */
    st = ddpm_sampler_register(&vt, &err);
    CHECK(st == DDPM_ERR_VERSION && strstr(err.message, "version 1") && strstr(err.message, "user_data") &&
              strstr(err.message, "test_busy"),
          "an API version 1 vtable -> DDPM_ERR_VERSION saying what changed (%s)", err.message);
    vt.api_version = DDPM_SAMPLER_API_VERSION;
    vt.step = NULL;
    st = ddpm_sampler_register(&vt, &err);
    CHECK(st == DDPM_ERR_INVALID_ARGUMENT && err.message[0], "NULL step -> DDPM_ERR_INVALID_ARGUMENT (%s)",
          err.message);
    vt.step = noop_step;
    vt.name = "Bad-Name";
    CHECK(ddpm_sampler_register(&vt, &err) == DDPM_ERR_INVALID_ARGUMENT, "name outside [a-z0-9_] -> invalid (%s)",
          err.message);
    vt.name = NULL;
    CHECK(ddpm_sampler_register(&vt, &err) == DDPM_ERR_INVALID_ARGUMENT, "NULL name -> invalid");
    CHECK(ddpm_sampler_register(NULL, &err) == DDPM_ERR_INVALID_ARGUMENT, "NULL vtable -> invalid");
    CHECK(ddpm_sampler_count() == n0, "failed registrations add nothing");
    st = ddpm_sampler_unregister("no_such_sampler", &err);
    CHECK(st == DDPM_ERR_NOT_FOUND && err.message[0], "unregister unknown -> DDPM_ERR_NOT_FOUND (%s)", err.message);

    /* a run holds its sampler */
    vt.name = "test_busy";
    CHECK(ddpm_sampler_register(&vt, &err) == DDPM_OK && ddpm_sampler_count() == n0 + 1 &&
              ddpm_sampler_find("test_busy") != NULL,
          "register test_busy (%s)", err.message);
    ddpm_sample_params p = ddpm_sample_default_params();
    p.sampler = "test_busy";
    p.steps = 2;
    ddpm_run *r1 = NULL, *r2 = NULL;
    CHECK(ddpm_run_create(m, &p, &r1, &err) == DDPM_OK && ddpm_run_create(m, &p, &r2, &err) == DDPM_OK,
          "two runs on test_busy (%s)", err.message);
    st = ddpm_sampler_unregister("test_busy", &err);
    CHECK(st == DDPM_ERR_BUSY && err.message[0], "unregister while two runs hold it -> DDPM_ERR_BUSY (%s)",
          err.message);
    ddpm_run_free(r1);
    st = ddpm_sampler_unregister("test_busy", &err);
    CHECK(st == DDPM_ERR_BUSY, "still busy while one run holds it");
    ddpm_run_step(r2, &err);
    ddpm_run_free(r2);
    st = ddpm_sampler_unregister("test_busy", &err);
    CHECK(st == DDPM_OK && ddpm_sampler_find("test_busy") == NULL && ddpm_sampler_count() == n0,
          "unregister -> OK after ddpm_run_free; gone from the registry");
    st = ddpm_sampler_unregister("test_busy", &err);
    CHECK(st == DDPM_ERR_NOT_FOUND, "unregister twice -> DDPM_ERR_NOT_FOUND");
}

/* ================================================================================================================
 * 9. Per-image labels
 * ============================================================================================================= */

/* labels[k] reaches the model for image k (null = num_classes), and image k of the batch equals a batch-1 run of its
 * own class and first_image, bit for bit, with and without guidance (a null-labelled image under guidance equals
 * the unguided run); conflicting or out-of-range labels are refused. */
static void test_labels(ddpm_model *cond, ddpm_model *unc) {
    printf("-- per-image labels\n");
    const size_t D = image_elems(cond);
    const int nc = ddpm_model_get_config(cond)->num_classes;
    enum { B = 4 };
    const int labels[B] = {1, -1, 0, nc - 1};
    ddpm_error err;
    ddpm_sample_params p = ddpm_sample_default_params();
    p.steps = 4;
    p.seed = 11;
    p.batch = B;
    p.first_image = 5;
    p.labels = labels;

    recorder rec;
    memset(&rec, 0, sizeof rec);
    ddpm_denoiser d = model_denoiser(cond, &rec);
    ddpm_run *run = NULL;
    CHECK(ddpm_run_create_with(&d, &p, &run, &err) == DDPM_OK && ddpm_run_step(run, &err) == DDPM_OK,
          "a run with per-image labels (%s)", err.message);
    CHECK(rec.calls == 1 && rec.last_n == B && rec.had_y && rec.y[0] == 1 && rec.y[1] == nc && rec.y[2] == 0 &&
              rec.y[3] == nc - 1,
          "the model sees labels {1, null = %d, 0, %d} (got %d %d %d %d)", nc, nc - 1, rec.y[0], rec.y[1], rec.y[2],
          rec.y[3]);
    ddpm_run_free(run);
    p.guidance = 2.0f;
    rec.calls = 0;
    CHECK(ddpm_run_create_with(&d, &p, &run, &err) == DDPM_OK && ddpm_run_step(run, &err) == DDPM_OK,
          "per-image labels under guidance (%s)", err.message);
    int y_ok = rec.last_n == 2 * B;
    for (int k = 0; k < B; k++) y_ok &= rec.y[k] == (labels[k] < 0 ? nc : labels[k]) && rec.y[B + k] == nc;
    CHECK(y_ok, "guidance: one batch of %d, the labels then %d null labels", 2 * B, B);
    ddpm_run_free(run);

    for (int guided = 0; guided < 2; guided++) {
        float *all = malloc(sizeof(float) * B * D), *one = malloc(sizeof(float) * D);
        p.batch = B;
        p.labels = labels;
        p.class_label = -1;
        p.first_image = 5;
        p.guidance = guided ? 2.0f : 1.0f;
        CHECK(ddpm_sample(cond, &p, all, NULL, NULL, &err) == DDPM_OK, "batch of 4 labels%s (%s)",
              guided ? ", guidance 2" : "", err.message);
        int same = 1;
        for (int k = 0; k < B; k++) {
            ddpm_sample_params q = p;
            q.batch = 1;
            q.labels = NULL;
            q.class_label = labels[k];
            q.first_image = p.first_image + (uint32_t)k;
            if (labels[k] < 0) q.guidance = 1.0f; /* a null label is sampled unguided */
            if (ddpm_sample(cond, &q, one, NULL, NULL, &err) != DDPM_OK ||
                memcmp(one, all + (size_t)k * D, sizeof(float) * D) != 0)
                same = 0;
        }
        CHECK(same, "%s: image k of the batch == a batch-1 run of class labels[k], first_image 5 + k, bit for bit",
              guided ? "guidance 2 (the null-labelled image unguided)" : "no guidance");
        free(all);
        free(one);
    }

    p.guidance = 1.0f;
    p.class_label = 2;
    expect_refused(cond, &p, DDPM_ERR_INVALID_ARGUMENT, "labels and class_label together");
    p.class_label = -1;
    const int bad_hi[B] = {0, 1, nc, 2}, bad_lo[B] = {0, -2, 1, 2}, all_null[B] = {-1, -1, -1, -1};
    p.labels = bad_hi;
    expect_refused(cond, &p, DDPM_ERR_INVALID_ARGUMENT, "labels[2] = num_classes");
    p.labels = bad_lo;
    expect_refused(cond, &p, DDPM_ERR_INVALID_ARGUMENT, "labels[1] = -2");
    p.labels = labels;
    expect_refused(unc, &p, DDPM_ERR_INVALID_ARGUMENT, "labels on an unconditional model");
    p.labels = all_null;
    p.guidance = 2.0f;
    expect_refused(cond, &p, DDPM_ERR_INVALID_ARGUMENT, "guidance with every label null");
    p.guidance = 1.0f;
    CHECK(ddpm_sample(unc, &p, NULL, NULL, NULL, &err) == DDPM_ERR_INVALID_ARGUMENT, "(out NULL refused)");
    float *a = malloc(sizeof(float) * B * D), *b = malloc(sizeof(float) * B * D);
    ddpm_sample_params q = p;
    q.labels = NULL;
    CHECK(ddpm_sample(unc, &p, a, NULL, NULL, &err) == DDPM_OK && ddpm_sample(unc, &q, b, NULL, NULL, &err) == DDPM_OK &&
              memcmp(a, b, sizeof(float) * B * D) == 0,
          "all-null labels on an unconditional model == no labels, bit for bit");
    free(a);
    free(b);
    recorder r2;
    memset(&r2, 0, sizeof r2);
    ddpm_denoiser d2 = model_denoiser(cond, &r2);
    d2.labels_required = 1;
    p.labels = labels;
    expect_refused_with(&d2, &p, DDPM_ERR_INVALID_ARGUMENT, "a null label where the model has no null class");
}

int main(void) {
    ddpm_model *cond = load(COND), *unc = load(UNCOND);
    if (!cond || !unc) {
        ddpm_model_free(cond);
        ddpm_model_free(unc);
        return tu_finish("test_run");
    }
    test_invalid(cond, unc);
    test_options(cond);
    test_determinism(cond, "cond, class 1, guidance 2.5", 1, 2.5f);
    test_determinism(unc, "uncond", -1, 1.0f);
    test_run_state(cond);
    test_x_T(cond, "cond");
    test_x_T(unc, "uncond");
    test_ddpm_step(unc, cond);
    test_guidance(cond);
    test_grids();
    test_img2img(cond);
    test_registry(cond);
    test_labels(cond, unc);
    ddpm_model_free(cond);
    ddpm_model_free(unc);
    return tu_finish("test_run");
}
