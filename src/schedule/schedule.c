/*
 * Noise schedules (Ho et al. 2020, section 4 and appendix B; Nichol & Dhariwal 2021 for cosine; Lin et al. 2023 for
 * the zero-terminal-SNR rescale). Every array is stored as T doubles.
 *
 * float32 = 0 (this project's models): everything in double. The betas follow training/schedule.py formula for
 * formula and operation for operation (numpy's linspace is start + i * (stop - start) / (T - 1) with the last entry
 * set to stop; cumprod is a left-to-right product), so the engine and the trainer agree to the last bit or two.
 * float32 = 1 (diffusers checkpoints): betas, alphas and alphas_cumprod are diffusers' float32 values, bit for bit
 * (torch_f32.c reproduces PyTorch's kernels), widened to double; the other arrays are derived from them in double.
 * Transcendentals go through the library's deterministic routines (ddpm_det_sincos, ddpm_det_log, ddpm_det_exp)
 * so that a schedule has the same bits on every IEEE-754 platform, native or WebAssembly.
 */
#include "core/internal.h"
#include "schedule/torch_f32.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ddpm_schedule {
    ddpm_schedule_params params;
    int T;
    double *arrays[DDPM_SCHEDULE_ARRAY_COUNT_]; /* each T doubles, carved out of `storage` */
    double *storage;                            /* the arrays, then (CUSTOM) the copy of params.betas */
};

ddpm_schedule_params ddpm_schedule_default_params(void) {
    ddpm_schedule_params p;
    memset(&p, 0, sizeof p);
    p.kind = DDPM_SCHEDULE_LINEAR;
    p.num_timesteps = 1000;
    p.beta_start = 1e-4;
    p.beta_end = 0.02;
    p.rescale_zero_snr = 0;
    return p;
}

/* numpy.linspace(a, b, T)[i] */
static double linspace_at(double a, double b, int T, int i) {
    if (T == 1) return a;
    if (i == T - 1) return b;
    double step = (b - a) / (double)(T - 1);
    return (double)i * step + a;
}

/* Nichol & Dhariwal's f(t) = cos^2(((t/T) + s)/(1 + s) * pi/2), s = 0.008 */
static double cosine_f(int t, int T) {
    const double s = 0.008;
    const double pi = 0x1.921fb54442d18p+1;
    double arg = ((double)t / (double)T + s) / (1.0 + s) * pi / 2.0;
    double c;
    ddpm_det_sincos(arg, NULL, &c);
    return c * c;
}

static ddpm_status validate(const ddpm_schedule_params *p, ddpm_error *err) {
    if (p->kind != DDPM_SCHEDULE_LINEAR && p->kind != DDPM_SCHEDULE_SCALED_LINEAR && p->kind != DDPM_SCHEDULE_COSINE &&
        p->kind != DDPM_SCHEDULE_SIGMOID && p->kind != DDPM_SCHEDULE_CUSTOM)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "schedule: unknown kind %d", (int)p->kind);
    if (p->num_timesteps < 1)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "schedule: num_timesteps %d must be at least 1",
                          p->num_timesteps);
    if (p->num_timesteps > DDPM_MAX_TIMESTEPS)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "schedule: num_timesteps %d exceeds DDPM_MAX_TIMESTEPS (%d)",
                          p->num_timesteps, DDPM_MAX_TIMESTEPS);
    if (!isfinite(p->beta_start) || !isfinite(p->beta_end))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "schedule: beta_start (%g) and beta_end (%g) must be finite",
                          p->beta_start, p->beta_end);
    if (p->kind == DDPM_SCHEDULE_CUSTOM) {
        if (!p->betas) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "schedule: custom kind without betas");
        for (int t = 0; t < p->num_timesteps; t++)
            if (!(p->betas[t] > 0.0 && p->betas[t] <= 1.0)) /* also refuses NaN */
                return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "schedule: betas[%d] = %g is outside (0, 1]", t,
                                  p->betas[t]);
    } else if (p->kind != DDPM_SCHEDULE_COSINE) { /* cosine and custom ignore beta_start/beta_end */
        if (!(p->beta_start > 0.0 && p->beta_start <= p->beta_end && p->beta_end < 1.0))
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT,
                              "schedule: need 0 < beta_start <= beta_end < 1, got beta_start = %g, beta_end = %g",
                              p->beta_start, p->beta_end);
    }
    if (p->rescale_zero_snr && p->num_timesteps < 2)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "schedule: rescale_zero_snr needs num_timesteps >= 2");
    return DDPM_OK;
}

/* betas[0..T) for the kind, before any rescale. */
static void base_betas(const ddpm_schedule_params *p, double *b) {
    int T = p->num_timesteps;
    switch (p->kind) {
    case DDPM_SCHEDULE_LINEAR:
        for (int i = 0; i < T; i++) b[i] = linspace_at(p->beta_start, p->beta_end, T, i);
        break;
    case DDPM_SCHEDULE_SCALED_LINEAR: {
        double a = sqrt(p->beta_start), e = sqrt(p->beta_end);
        for (int i = 0; i < T; i++) {
            double v = linspace_at(a, e, T, i);
            b[i] = v * v;
        }
        break;
    }
    case DDPM_SCHEDULE_COSINE: {
        double f_prev = cosine_f(0, T);
        for (int i = 0; i < T; i++) {
            double f_next = cosine_f(i + 1, T);
            double beta = 1.0 - f_next / f_prev;
            b[i] = beta < 0.999 ? beta : 0.999; /* the 0.999 cap avoids a singularity at t = T-1 */
            f_prev = f_next;
        }
        break;
    }
    case DDPM_SCHEDULE_SIGMOID:
        for (int i = 0; i < T; i++) {
            double x = linspace_at(-6.0, 6.0, T, i);
            b[i] = 1.0 / (1.0 + ddpm_det_exp(-x)) * (p->beta_end - p->beta_start) + p->beta_start;
        }
        break;
    case DDPM_SCHEDULE_CUSTOM: memcpy(b, p->betas, sizeof(double) * (size_t)T); break;
    default: break; /* rejected by validate() */
    }
}

/*
 * Lin et al. 2023, Algorithm 1: with sab = sqrt(alphas_cumprod), shift and scale so that sab[0] is kept and
 * sab[T-1] becomes 0: sab' = (sab - sab[T-1]) * sab[0] / (sab[0] - sab[T-1]); then abar' = sab'^2,
 * alpha'_0 = abar'_0, alpha'_t = abar'_t / abar'_{t-1}, beta' = 1 - alpha'. `ab` is scratch of T doubles.
 * Returns 0 when the schedule cannot be rescaled (sab[0] == sab[T-1]).
 */
static int rescale_zero_snr(double *b, double *ab, int T) {
    double prod = 1.0;
    for (int i = 0; i < T; i++) {
        prod *= 1.0 - b[i];
        ab[i] = sqrt(prod);
    }
    double s0 = ab[0], sT = ab[T - 1];
    if (!(s0 > sT)) return 0;
    for (int i = 0; i < T; i++) {
        double v = (ab[i] - sT) * s0 / (s0 - sT);
        ab[i] = v * v;
    }
    b[0] = 1.0 - ab[0];
    for (int i = 1; i < T; i++) b[i] = 1.0 - ab[i] / ab[i - 1]; /* ab[T-1] = 0 exactly, so b[T-1] = 1 */
    return 1;
}

ddpm_status ddpm_schedule_create(const ddpm_schedule_params *p, ddpm_schedule **out, ddpm_error *err) {
    if (out) *out = NULL;
    if (!p || !out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "schedule: NULL argument");
    ddpm_status st = validate(p, err);
    if (st != DDPM_OK) return st;

    int T = p->num_timesteps;
    const size_t narrays = DDPM_SCHEDULE_ARRAY_COUNT_ + (p->kind == DDPM_SCHEDULE_CUSTOM ? 1 : 0);
    size_t bytes, fbytes = 0;
    if (!ddpm__mul_size((size_t)T * narrays, sizeof(double), &bytes) ||
        (p->float32 && !ddpm__mul_size((size_t)T * 2, sizeof(float), &fbytes)))
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "schedule: size overflow");
    ddpm_schedule *s = ddpm__calloc(1, sizeof *s);
    double *storage = ddpm__malloc(bytes);
    float *f32 = p->float32 ? ddpm__malloc(fbytes) : NULL; /* float32: betas [T], then scratch / alphas_cumprod [T] */
    if (!s || !storage || (p->float32 && !f32)) {
        free(s);
        free(storage);
        free(f32);
        return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "schedule: cannot allocate %zu bytes", bytes + fbytes);
    }
    s->params = *p;
    s->T = T;
    s->storage = storage;
    for (int a = 0; a < DDPM_SCHEDULE_ARRAY_COUNT_; a++) s->arrays[a] = storage + (size_t)a * (size_t)T;
    if (p->kind == DDPM_SCHEDULE_CUSTOM) { /* the schedule's own copy; its params point at it */
        double *copy = storage + (size_t)DDPM_SCHEDULE_ARRAY_COUNT_ * (size_t)T;
        memcpy(copy, p->betas, sizeof(double) * (size_t)T);
        s->params.betas = copy;
    } else {
        s->params.betas = NULL;
    }

    double *beta = s->arrays[DDPM_BETAS];
    double *alpha = s->arrays[DDPM_ALPHAS];
    double *ab = s->arrays[DDPM_ALPHAS_CUMPROD];
    double *ab_prev = s->arrays[DDPM_ALPHAS_CUMPROD_PREV];
    double *sab = s->arrays[DDPM_SQRT_ALPHAS_CUMPROD];
    double *s1mab = s->arrays[DDPM_SQRT_ONE_MINUS_ALPHAS_CUMPROD];
    double *pvar = s->arrays[DDPM_POSTERIOR_VARIANCE];
    double *plogvar = s->arrays[DDPM_POSTERIOR_LOG_VARIANCE_CLIPPED];
    double *coef1 = s->arrays[DDPM_POSTERIOR_MEAN_COEF1];
    double *coef2 = s->arrays[DDPM_POSTERIOR_MEAN_COEF2];

    /* betas, alphas and alphas_cumprod */
    int rescaled = 1;
    base_betas(&s->params, beta); /* float32: only cosine reads these (diffusers computes it in float64) */
    if (p->float32) {
        float *b32 = f32, *ab32 = f32 + T;
        ddpm__diffusers_betas_f32(&s->params, beta, b32);
        if (p->rescale_zero_snr) rescaled = ddpm__diffusers_rescale_zero_snr_f32(b32, ab32 /* scratch */, T);
        for (int t = 0; t < T; t++) ab32[t] = 1.0f - b32[t]; /* alphas = 1.0 - betas */
        for (int t = 0; t < T; t++) alpha[t] = ab32[t];
        ddpm__torch_cumprod_f32(ab32, ab32, T);
        for (int t = 0; t < T; t++) {
            beta[t] = b32[t];
            ab[t] = ab32[t];
        }
        free(f32);
    } else {
        if (p->rescale_zero_snr) rescaled = rescale_zero_snr(beta, ab /* scratch */, T);
        double prod = 1.0;
        for (int t = 0; t < T; t++) {
            alpha[t] = 1.0 - beta[t];
            prod *= alpha[t];
            ab[t] = prod; /* abar_t = prod_{s <= t} (1 - beta_s) */
        }
    }
    if (!rescaled) {
        ddpm_schedule_free(s);
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT,
                          "schedule: rescale_zero_snr needs alphas_cumprod[0] > alphas_cumprod[T-1]");
    }

    for (int t = 0; t < T; t++) {
        ab_prev[t] = t > 0 ? ab[t - 1] : 1.0; /* abar_{t-1}, abar_{-1} = 1 */
        sab[t] = sqrt(ab[t]);
        s1mab[t] = sqrt(1.0 - ab[t]);
        /* q(x_{t-1} | x_t, x0) = N(coef1 x0 + coef2 x_t, beta~_t) (Ho et al. eq. 6-7) */
        double one_minus_ab = 1.0 - ab[t];
        pvar[t] = beta[t] * (1.0 - ab_prev[t]) / one_minus_ab;
        coef1[t] = beta[t] * sqrt(ab_prev[t]) / one_minus_ab;
        coef2[t] = (1.0 - ab_prev[t]) * sqrt(alpha[t]) / one_minus_ab;
    }
    /* log beta~_t, clipped: beta~_0 = 0, so t = 0 takes beta~_1 (with T = 1 there is none: beta_0 instead) */
    for (int t = 1; t < T; t++) plogvar[t] = ddpm_det_log(pvar[t]);
    plogvar[0] = T > 1 ? plogvar[1] : ddpm_det_log(beta[0]);

    /* Every entry must be finite (e.g. 1 - beta rounding to 1 would make 1 - abar_0 = 0 and divide by zero). */
    for (int a = 0; a < DDPM_SCHEDULE_ARRAY_COUNT_; a++)
        for (int t = 0; t < T; t++)
            if (!isfinite(s->arrays[a][t])) {
                ddpm_schedule_free(s);
                return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT,
                                  "schedule: array %d is not finite at t = %d (betas too close to 0?)", a, t);
            }
    *out = s;
    ddpm__ok(err);
    return DDPM_OK;
}

void ddpm_schedule_free(ddpm_schedule *s) {
    if (!s) return;
    free(s->storage);
    free(s);
}

int ddpm_schedule_num_timesteps(const ddpm_schedule *s) { return s ? s->T : 0; }

const double *ddpm_schedule_array_get(const ddpm_schedule *s, ddpm_schedule_array which) {
    if (!s || (int)which < 0 || (int)which >= DDPM_SCHEDULE_ARRAY_COUNT_) return NULL;
    return s->arrays[which];
}

const ddpm_schedule_params *ddpm_schedule_get_params(const ddpm_schedule *s) { return s ? &s->params : NULL; }
