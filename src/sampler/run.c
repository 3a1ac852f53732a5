/*
 * Sampling runs: validation, the timestep grid, x_T, the guided denoise callback and the noise callback that every
 * sampler uses, and stepping.
 */
#include "sampler/builtin.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ddpm_run {
    ddpm_denoiser den;          /* a copy */
    ddpm_sampler_vtable vt;     /* a copy, held in the registry until ddpm_run_free */
    void *state;
    ddpm_sampler_context ctx;   /* what the sampler sees; its callbacks find the run from it (run_of) */
    int *timesteps;
    int *prev;                  /* diffusers' t - T / steps targets, or NULL */
    double *options;
    float *x, *pred_x0;         /* [batch, D] */
    float *eval_x, *eval_out;   /* [2 batch, D] model batch (doubled under guidance) */
    float *eval_t;
    int *eval_y;
    int step;                   /* steps taken */
    uint64_t seed;
    uint32_t first_image;
    int *labels;                /* [batch] image k's class, -1 = null class; NULL: no labels at all */
    float guidance;
    ddpm_error last_err;        /* the model's error from inside denoise() */
    float *replay;              /* [replay_count, batch, D] noise to replay (the run's copy), or NULL */
    int replay_count, replay_used, replay_overrun;
    float *cache;               /* DeepCache: [evals, den.cache_floats], or NULL (off) */
    int deep_cache;             /* the interval k (>= 2) */
    long evals;                 /* model evaluations so far */
};

ddpm_sample_params ddpm_sample_default_params(void) {
    ddpm_sample_params p;
    memset(&p, 0, sizeof p);
    p.sampler = "ddpm";
    p.steps = 0;
    p.spacing = DDPM_SPACING_LEADING;
    p.seed = 0;
    p.batch = 1;
    p.class_label = -1;
    p.guidance = 1.0f;
    p.strength = 1.0f;
    return p;
}

uint8_t ddpm_to_u8(float x) {
    if (!(x > -1.0f)) x = -1.0f; /* NaN -> -1 */
    if (x > 1.0f) x = 1.0f;
    return (uint8_t)floorf((x + 1.0f) * 127.5f + 0.5f);
}

/* ---- the timestep grid ---- */

/* Fills ts[0..steps) descending; offset is added to the leading grid (diffusers' steps_offset). numpy: the
 * arithmetic and rounding of diffusers' set_timesteps (np.arange / np.linspace in double, np.round = half to
 * even); else this project's (round half up). */
static void make_grid(int T, int steps, ddpm_spacing spacing, int offset, int numpy, int *ts) {
    for (int i = 0; i < steps; i++) {
        int t;
        if (spacing == DDPM_SPACING_TRAILING) {
            /* round(T - i T / steps) - 1, exact in double for T <= 1e5 */
            if (numpy) t = (int)nearbyint((double)T + (double)i * -((double)T / steps)) - 1;
            else t = (int)floor((double)T - (double)i * T / steps + 0.5) - 1;
        } else if (spacing == DDPM_SPACING_LINSPACE) {
            if (numpy) { /* np.linspace(0, T - 1, steps)[steps - 1 - i]: j * step, the last entry exactly T - 1 */
                const int j = steps - 1 - i;
                t = steps == 1 ? 0 : (j == steps - 1 ? T - 1 : (int)nearbyint(j * ((double)(T - 1) / (steps - 1))));
            } else {
                t = steps == 1 ? T - 1 : (int)floor((double)(T - 1) * (steps - 1 - i) / (steps - 1) + 0.5);
            }
        } else {
            t = (steps - 1 - i) * (T / steps) + offset;
        }
        ts[i] = t < 0 ? 0 : (t > T - 1 ? T - 1 : t);
    }
}

/* ---- callbacks given to the sampler ---- */

/* The run that owns a sampler context (the context is a member of the run). */
static ddpm_run *run_of(const ddpm_sampler_context *ctx) {
    return (ddpm_run *)((uintptr_t)ctx - offsetof(ddpm_run, ctx));
}

/* One model evaluation; with DeepCache every deep_cache-th (the first included) is full and refreshes the cache. */
static ddpm_status eval(ddpm_run *r, int n, const float *x, const float *t, const int *y, float *out) {
    const ddpm_denoiser *d = &r->den;
    if (!r->cache) return d->eval(d->user_data, n, x, t, y, out, &r->last_err);
    const int reuse = r->evals % r->deep_cache != 0;
    r->evals++;
    return d->eval_cached(d->user_data, n, x, t, y, out, r->cache, reuse, &r->last_err);
}

static ddpm_status run_denoise(const ddpm_sampler_context *ctx, const float *x, const float *t, float *out) {
    ddpm_run *r = run_of(ctx);
    const ddpm_denoiser *d = &r->den;
    const int n = ctx->batch;
    const size_t D = ctx->image_elems, nd = (size_t)n * D;
    if (!r->labels) {
        /* unconditional: the null class (conditional model) or no label */
        return eval(r, n, x, t, NULL, out);
    }
    if (r->guidance == 1.0f) { /* the null class (-1) as its label value, num_classes: the same bits as NULL */
        for (int k = 0; k < n; k++) r->eval_y[k] = r->labels[k] < 0 ? d->num_classes : r->labels[k];
        return eval(r, n, x, t, r->eval_y, out);
    }
    /* classifier-free guidance: [cond; uncond] in one batch, out = u + w (c - u) */
    memcpy(r->eval_x, x, sizeof(float) * nd);
    memcpy(r->eval_x + nd, x, sizeof(float) * nd);
    for (int k = 0; k < n; k++) {
        r->eval_t[k] = r->eval_t[n + k] = t[k];
        r->eval_y[k] = r->labels[k] < 0 ? d->num_classes : r->labels[k]; /* -1: cond = uncond, unguided */
        r->eval_y[n + k] = d->num_classes;
    }
    ddpm_status st = eval(r, 2 * n, r->eval_x, r->eval_t, r->eval_y, r->eval_out);
    if (st != DDPM_OK) return st;
    const float w = r->guidance;
    for (size_t j = 0; j < nd; j++) {
        const float cnd = r->eval_out[j], unc = r->eval_out[nd + j];
        out[j] = unc + w * (cnd - unc);
    }
    return DDPM_OK;
}

static void run_noise(const ddpm_sampler_context *ctx, int step, int stream, float *out) {
    ddpm_run *r = run_of(ctx);
    if (r->replay) { /* replay: the next recorded tensor, whatever step and stream ask */
        const size_t nd = (size_t)ctx->batch * ctx->image_elems;
        if (r->replay_used >= r->replay_count) {
            r->replay_overrun = 1;
            memset(out, 0, sizeof(float) * nd);
            return;
        }
        memcpy(out, r->replay + (size_t)r->replay_used++ * nd, sizeof(float) * nd);
        return;
    }
    for (int k = 0; k < ctx->batch; k++)
        ddpm_rng_normal(r->seed, r->first_image + (uint32_t)k, (uint32_t)step,
                        DDPM_NOISE_STEP + 256u * (uint32_t)(stream & 255), out + (size_t)k * ctx->image_elems,
                        ctx->image_elems);
}

/* ---- validation ---- */

static ddpm_status resolve_options(const ddpm_sampler_vtable *vt, const ddpm_denoiser *d, const ddpm_sample_params *p,
                                   double *vals, ddpm_error *err) {
    for (int i = 0; i < vt->num_options; i++) {
        vals[i] = vt->options[i].default_value;
        for (int j = 0; j < d->num_option_defaults; j++) /* the model's defaults (its scheduler config) */
            if (d->option_default_names && strcmp(d->option_default_names[j], vt->options[i].name) == 0) {
                const double v = d->option_default_values[j];
                if (v >= vt->options[i].min_value && v <= vt->options[i].max_value) vals[i] = v;
            }
    }
    if (p->num_options < 0 || (p->num_options > 0 && (!p->option_names || !p->option_values)))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "option arrays are missing");
    for (int j = 0; j < p->num_options; j++) {
        const char *name = p->option_names[j];
        const double v = p->option_values[j];
        int found = -1;
        for (int i = 0; name && i < vt->num_options; i++)
            if (strcmp(vt->options[i].name, name) == 0) found = i;
        if (found < 0)
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "sampler %s has no option %s", vt->name,
                              name ? name : "(null)");
        const ddpm_sampler_option *o = &vt->options[found];
        if (!isfinite(v) || v < o->min_value || v > o->max_value)
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "option %s = %g is outside [%g, %g]", name, v,
                              o->min_value, o->max_value);
        if (o->type != DDPM_OPTION_FLOAT && v != floor(v))
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "option %s must be a whole number, got %g", name, v);
        vals[found] = v;
    }
    return DDPM_OK;
}

static ddpm_status check_params(const ddpm_denoiser *d, const ddpm_sample_params *p, ddpm_error *err) {
    const int T = ddpm_schedule_num_timesteps(d->schedule), nc = d->num_classes;
    if (p->steps < 0 || p->steps > T)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "steps = %d is outside 1..%d (0 means %d)", p->steps, T, T);
    if (p->batch < 1 || p->batch > DDPM_MAX_BATCH)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "batch = %d is outside 1..%d", p->batch, DDPM_MAX_BATCH);
    if (p->spacing < DDPM_SPACING_LEADING || p->spacing > DDPM_SPACING_LINSPACE)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "unknown timestep spacing %d", (int)p->spacing);
    if (p->deep_cache < 0 || p->deep_cache > 1000)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "deep_cache = %d is outside 0..1000 (0 or 1: off)",
                          p->deep_cache);
    if (p->deep_cache >= 2 && (!d->eval_cached || !d->cache_floats))
        return ddpm__fail(err, DDPM_ERR_UNSUPPORTED,
                          "deep_cache needs a U-Net of two levels or more (or a denoiser with eval_cached)");
    if (p->labels && p->class_label != -1)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "give class_label or per-image labels, not both");
    /* every image's label: class_label, or labels[k] (the batch is checked above) */
    int any_label = 0, any_null = 0;
    for (int k = 0; k < (p->labels ? p->batch : 1); k++) {
        const int y = p->labels ? p->labels[k] : p->class_label;
        char what[24] = "class"; /* how the message names it */
        if (p->labels) snprintf(what, sizeof what, "labels[%d]", k);
        if (nc == 0 && y != -1)
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "%s = %d given to an unconditional model", what, y);
        if (y < -1 || y >= nc)
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "%s = %d is outside 0..%d (or -1 for none)", what, y,
                              nc - 1);
        if (y >= 0) any_label = 1;
        else any_null = 1;
    }
    if (!isfinite(p->guidance) || p->guidance < 0.0f || p->guidance > 100.0f)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "guidance = %g is outside [0, 100]", (double)p->guidance);
    if (p->guidance != 1.0f && nc == 0)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "guidance needs a class-conditional model");
    if (p->guidance != 1.0f && !any_label)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "guidance needs a class label");
    if (d->labels_required && nc > 0 && any_null)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT,
                          "this class-conditional model has no null class: give a class label%s",
                          p->labels ? " to every image" : "");
    if (d->labels_required && p->guidance != 1.0f)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT,
                          "classifier-free guidance needs a null class, which this model does not have");
    if (p->steps_offset < 0 || p->steps_offset >= T)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "steps_offset = %d is outside 0..%d", p->steps_offset,
                          T - 1);
    if (p->timesteps || p->num_timesteps) {
        if (!p->timesteps || p->num_timesteps < 1 || p->num_timesteps > T)
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "custom timesteps: %d entries (need 1..%d)",
                              p->num_timesteps, T);
        for (int i = 0; i < p->num_timesteps; i++) {
            const int t = p->timesteps[i];
            if (t < 0 || t >= T)
                return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "custom timestep %d (entry %d) is outside 0..%d", t,
                                  i, T - 1);
            if (i > 0 && t >= p->timesteps[i - 1])
                return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT,
                                  "custom timesteps must be strictly descending (entry %d: %d after %d)", i, t,
                                  p->timesteps[i - 1]);
        }
    }
    if (p->noise_count < 0 || (p->noise_count > 0 && !p->noise) || (p->noise && p->noise_count == 0))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "replay noise: %d tensors given with %s pointer",
                          p->noise_count, p->noise ? "a" : "a NULL");
    if (p->start_x && p->init_image)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "start_x and init_image exclude each other");
    if (p->init_image && (!isfinite(p->strength) || !(p->strength > 0.0f) || p->strength > 1.0f))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "strength = %g is outside (0, 1]", (double)p->strength);
    if ((uint64_t)p->first_image + (uint64_t)p->batch > 0xffffffffull)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "first_image + batch overflows 32 bits");
    return DDPM_OK;
}

/* ---- lifecycle ---- */

void ddpm_run_free(ddpm_run *r) {
    if (!r) return;
    if (r->vt.destroy && r->state) r->vt.destroy(r->vt.user_data, &r->ctx, r->state);
    if (r->vt.name) ddpm__sampler_release(r->vt.name);
    free(r->timesteps);
    free(r->prev);
    free(r->options);
    free(r->x);
    free(r->pred_x0);
    free(r->eval_x);
    free(r->eval_out);
    free(r->eval_t);
    free(r->eval_y);
    free(r->labels);
    free(r->replay);
    free(r->cache);
    free(r);
}

ddpm_status ddpm_run_create_with(const ddpm_denoiser *d, const ddpm_sample_params *p, ddpm_run **out,
                                 ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "out is NULL");
    *out = NULL;
    if (!d || !p) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "denoiser or params is NULL");
    if (!d->schedule || !d->eval || d->channels < 1 || d->image_size < 1 || d->num_classes < 0 ||
        d->channels > DDPM_MAX_CHANNELS || d->image_size > DDPM_MAX_IMAGE_SIZE ||
        (unsigned)d->prediction > DDPM_PREDICT_V)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "denoiser is incomplete or out of range");
    ddpm_status st = check_params(d, p, err);
    if (st != DDPM_OK) return st;
    const ddpm_schedule *sched = d->schedule;
    const int T = ddpm_schedule_num_timesteps(sched);
    const size_t D = (size_t)d->channels * d->image_size * d->image_size;
    const int n = p->batch, evals = p->guidance != 1.0f ? 2 * n : n; /* guidance: checked to have labels */

    /* memory: refuse sizes that cannot fit before allocating anything */
    size_t nd, bytes = d->workspace_bytes ? d->workspace_bytes(d->user_data, evals) : 1;
    if (!bytes || bytes > DDPM_MAX_WORKSPACE_BYTES || !ddpm__mul_size(D, (size_t)evals * 4 * sizeof(float), &nd) ||
        nd > DDPM_MAX_WORKSPACE_BYTES)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "batch %d does not fit in memory (needs over %zu bytes)", n,
                          (size_t)DDPM_MAX_WORKSPACE_BYTES);
    if (p->init_image && !ddpm__all_finite(p->init_image, (size_t)n * D))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "init_image contains NaN or Inf");
    if (p->start_x && !ddpm__all_finite(p->start_x, (size_t)n * D))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "start_x contains NaN or Inf");
    if (p->noise) {
        size_t total;
        if (!ddpm__mul_size((size_t)n * D, (size_t)p->noise_count, &total))
            return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "replay noise is too large");
        if (!ddpm__all_finite(p->noise, total))
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "replay noise contains NaN or Inf");
    }

    ddpm_run *r = ddpm__calloc(1, sizeof *r);
    if (!r) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "out of memory");
    const char *name = p->sampler ? p->sampler : "ddpm";
    if (!ddpm__sampler_acquire(name, &r->vt)) {
        free(r);
        return ddpm__fail(err, DDPM_ERR_NOT_FOUND, "no sampler named %s", name);
    }
    r->den = *d;
    r->seed = p->seed;
    r->first_image = p->first_image;
    r->guidance = p->guidance;
    if (p->labels || p->class_label >= 0) { /* else: no labels (NULL: unconditional, the null class) */
        int any = 0;
        if (!(r->labels = ddpm__malloc(sizeof(int) * (size_t)n))) goto oom;
        for (int k = 0; k < n; k++) any |= (r->labels[k] = p->labels ? p->labels[k] : p->class_label) >= 0;
        if (!any) { /* all null: the same run as no labels */
            free(r->labels);
            r->labels = NULL;
        }
    }
    r->options = ddpm__calloc((size_t)(r->vt.num_options > 0 ? r->vt.num_options : 1), sizeof(double));
    if (!r->options) goto oom;
    if ((st = resolve_options(&r->vt, d, p, r->options, err)) != DDPM_OK) goto fail;
    if (p->noise) { /* a copy: the caller may free its array once the run exists */
        const size_t total = (size_t)p->noise_count * n * D;
        if (!(r->replay = ddpm__malloc(sizeof(float) * total))) goto oom;
        memcpy(r->replay, p->noise, sizeof(float) * total);
        r->replay_count = p->noise_count;
    }
    /* the grid (or the custom one), cut at the start timestep for image-to-image */
    int steps = p->timesteps ? p->num_timesteps : (p->steps ? p->steps : T);
    r->timesteps = ddpm__malloc(sizeof(int) * (size_t)steps);
    if (!r->timesteps) goto oom;
    if (p->timesteps) memcpy(r->timesteps, p->timesteps, sizeof(int) * (size_t)steps);
    else make_grid(T, steps, p->spacing, p->steps_offset, d->diffusers_grid, r->timesteps);
    if (p->init_image) {
        int t_start = (int)floor((double)p->strength * T + 0.5) - 1;
        if (t_start > T - 1) t_start = T - 1;
        int first = 0;
        while (first < steps && r->timesteps[first] > t_start) first++;
        if (first == steps) {
            st = ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "strength %g leaves no step of this %d-step grid",
                            (double)p->strength, steps);
            goto fail;
        }
        memmove(r->timesteps, r->timesteps + first, sizeof(int) * (size_t)(steps - first));
        steps -= first;
    }

    if (d->diffusers_grid && !p->timesteps) { /* DDPMScheduler / DDIMScheduler: step to t - T // steps */
        const int full = p->steps ? p->steps : T;
        if (!(r->prev = ddpm__malloc(sizeof(int) * (size_t)steps))) goto oom;
        for (int i = 0; i < steps; i++) {
            const int v = r->timesteps[i] - T / full;
            r->prev[i] = v < 0 ? -1 : v;
        }
    }
    r->x = ddpm__malloc(sizeof(float) * n * D);
    r->pred_x0 = ddpm__malloc(sizeof(float) * n * D);
    r->eval_x = ddpm__malloc(sizeof(float) * 2 * n * D);
    r->eval_out = ddpm__malloc(sizeof(float) * 2 * n * D);
    r->eval_t = ddpm__malloc(sizeof(float) * 2 * n);
    r->eval_y = ddpm__malloc(sizeof(int) * 2 * n);
    if (!r->x || !r->pred_x0 || !r->eval_x || !r->eval_out || !r->eval_t || !r->eval_y) goto oom;
    if (p->deep_cache >= 2) {
        r->deep_cache = p->deep_cache;
        if (!(r->cache = ddpm__malloc(sizeof(float) * (size_t)evals * d->cache_floats))) goto oom;
    }

    /* x at the first timestep: pure noise, or the start image noised to it */
    for (int k = 0; k < n; k++) {
        float *xk = r->x + (size_t)k * D;
        if (p->start_x) {
            memcpy(xk, p->start_x + (size_t)k * D, sizeof(float) * D);
        } else if (p->init_image) {
            ddpm_rng_normal(p->seed, p->first_image + (uint32_t)k, 0, DDPM_NOISE_FORWARD, r->eval_x, D);
            ddpm_q_sample(sched, r->timesteps[0], p->init_image + (size_t)k * D, r->eval_x, xk, D);
        } else {
            ddpm_rng_normal(p->seed, p->first_image + (uint32_t)k, 0, DDPM_NOISE_INITIAL, xk, D);
        }
    }
    memcpy(r->pred_x0, p->init_image ? p->init_image : r->x, sizeof(float) * n * D);

    ddpm_sampler_context *ctx = &r->ctx;
    ctx->sampler = &r->vt;
    ctx->schedule = sched;
    ctx->prediction = d->prediction;
    ctx->batch = n;
    ctx->image_elems = D;
    ctx->num_steps = steps;
    ctx->timesteps = r->timesteps;
    ctx->option_values = r->options;
    ctx->denoise = run_denoise;
    ctx->noise = run_noise;
    ctx->pred_x0 = r->pred_x0;
    ctx->prev_timesteps = r->prev;
    ctx->labels = r->labels;
    if (r->vt.create && (st = r->vt.create(r->vt.user_data, ctx, &r->state)) != DDPM_OK) {
        ddpm__fail(err, st, "sampler %s failed to start: %s", r->vt.name, ddpm_status_str(st));
        goto fail;
    }
    ddpm__ok(err);
    *out = r;
    return DDPM_OK;
oom:
    st = ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "out of memory");
fail:
    ddpm_run_free(r);
    return st;
}

static ddpm_status model_eval(void *user, int n, const float *x, const float *t, const int *y, float *out,
                              ddpm_error *err) {
    return ddpm_model_forward((ddpm_model *)user, n, x, t, y, out, err);
}

static size_t model_ws(void *user, int n) { return ddpm_model_workspace_bytes((const ddpm_model *)user, n); }

static ddpm_status model_eval_cached(void *user, int n, const float *x, const float *t, const int *y, float *out,
                                     float *cache, int reuse, ddpm_error *err) {
    return ddpm_model_forward_cached((ddpm_model *)user, n, x, t, y, out, cache, reuse, err);
}

ddpm_status ddpm_run_create(ddpm_model *m, const ddpm_sample_params *p, ddpm_run **out, ddpm_error *err) {
    if (out) *out = NULL;
    if (!m) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "model is NULL");
    const ddpm_model_config *c = ddpm_model_get_config(m);
    ddpm_denoiser d = {.schedule = ddpm_model_get_schedule(m),
                       .prediction = c->prediction,
                       .channels = c->in_channels,
                       .image_size = c->image_size,
                       .num_classes = c->num_classes,
                       .eval = model_eval,
                       .user_data = m,
                       .workspace_bytes = model_ws,
                       .eval_cached = ddpm_model_cache_floats(m) ? model_eval_cached : NULL,
                       .cache_floats = ddpm_model_cache_floats(m),
                       .labels_required = c->num_classes > 0 && !c->arch.null_class,
                       .diffusers_grid = c->arch.diffusers_names};
    ddpm_model_option_defaults(m, &d.num_option_defaults, &d.option_default_names, &d.option_default_values);
    if (c->in_channels != c->out_channels)
        return ddpm__fail(err, DDPM_ERR_CONFIG, "a model with %d input and %d output channels cannot be sampled",
                          c->in_channels, c->out_channels);
    return ddpm_run_create_with(&d, p, out, err);
}

ddpm_status ddpm_run_step(ddpm_run *r, ddpm_error *err) {
    if (!r) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "run is NULL");
    if (r->step >= r->ctx.num_steps) return ddpm__fail(err, DDPM_ERR_STATE, "the run is already finished");
    r->last_err.status = DDPM_OK;
    r->last_err.message[0] = '\0';
    ddpm_status st = r->vt.step(r->vt.user_data, r->state, &r->ctx, r->step, r->x);
    if (st == DDPM_OK && r->replay_overrun)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT,
                          "step %d drew replay noise tensor %d, but only %d were given", r->step, r->replay_used + 1,
                          r->replay_count);
    if (st != DDPM_OK) {
        if (r->last_err.status != DDPM_OK && err) *err = r->last_err;
        else ddpm__fail(err, st, "sampler %s failed at step %d: %s", r->vt.name, r->step, ddpm_status_str(st));
        return st;
    }
    r->step++;
    ddpm__ok(err);
    return DDPM_OK;
}

int ddpm_run_done(const ddpm_run *r) { return !r || r->step >= r->ctx.num_steps; }
int ddpm_run_num_steps(const ddpm_run *r) { return r ? r->ctx.num_steps : 0; }
int ddpm_run_current_step(const ddpm_run *r) { return r ? r->step : 0; }
int ddpm_run_timestep(const ddpm_run *r, int i) {
    return (r && i >= 0 && i < r->ctx.num_steps) ? r->timesteps[i] : -1;
}
const float *ddpm_run_x(const ddpm_run *r) { return r ? r->x : NULL; }
const float *ddpm_run_pred_x0(const ddpm_run *r) { return r ? r->pred_x0 : NULL; }

ddpm_status ddpm_sample(ddpm_model *m, const ddpm_sample_params *p, float *out, ddpm_progress_fn progress,
                        void *user_data, ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "out is NULL");
    ddpm_run *r;
    ddpm_status st = ddpm_run_create(m, p, &r, err);
    if (st != DDPM_OK) return st;
    while (!ddpm_run_done(r)) {
        if ((st = ddpm_run_step(r, err)) != DDPM_OK) break;
        if (progress && progress(user_data, r->step - 1, r->ctx.num_steps, r->timesteps[r->step - 1], r)) {
            st = ddpm__fail(err, DDPM_ERR_ABORTED, "stopped by the progress callback at step %d", r->step);
            break;
        }
    }
    if (st == DDPM_OK) memcpy(out, r->x, sizeof(float) * (size_t)p->batch * r->ctx.image_elems);
    ddpm_run_free(r);
    return st;
}
