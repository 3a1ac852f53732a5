/* Helpers shared by the built-in samplers; see common.h. */
#include "sampler/common.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- deterministic exp ---- */

/* ---- phi functions ---- */

void ddpm__phi(double z, int kmax, double *phi) {
    if (kmax > 7) kmax = 7;
    double inv_fact = 1.0; /* 1 / k! */
    if (fabs(z) < 1.0) {
        for (int k = 0; k <= kmax; k++) {
            /* phi_k = (1 / k!) (1 + z / (k+1) (1 + z / (k+2) (1 + ...))), through z^24: remainder < 1e-24 */
            double p = 1.0;
            for (int j = 24; j >= 1; j--) p = 1.0 + p * z / (double)(k + j);
            phi[k] = p * inv_fact;
            inv_fact /= (double)(k + 1);
        }
        return;
    }
    phi[0] = ddpm_det_exp(z);
    for (int k = 0; k < kmax; k++) {
        phi[k + 1] = (phi[k] - inv_fact) / z;
        inv_fact /= (double)(k + 1);
    }
}

/* ---- noise levels ---- */

static double abar_floor(const ddpm_schedule *s, int t) {
    const double ab = ddpm__abar(s, t);
    return ab < DDPM__ABAR_MIN ? DDPM__ABAR_MIN : ab;
}

ddpm__level ddpm__level_at_t(const ddpm_schedule *s, int t) {
    ddpm__level l;
    if (t < 0) {
        l.sigma = 0.0;
        l.abar = 1.0;
        l.sa = 1.0;
        l.s1 = 0.0;
        l.t = -1.0;
        return l;
    }
    l.abar = abar_floor(s, t);
    l.sa = sqrt(l.abar);
    l.s1 = sqrt(1.0 - l.abar);
    l.sigma = l.s1 / l.sa;
    l.t = (double)t;
    return l;
}

static double sigma_of(const ddpm_schedule *s, int t) {
    const double ab = abar_floor(s, t);
    return sqrt((1.0 - ab) / ab);
}

ddpm__level ddpm__level_at_sigma(const ddpm_schedule *s, double sigma) {
    ddpm__level l;
    l.sigma = sigma;
    l.sa = 1.0 / sqrt(1.0 + sigma * sigma);
    l.s1 = sigma * l.sa;
    l.abar = 1.0 / (1.0 + sigma * sigma);
    const int T = ddpm_schedule_num_timesteps(s);
    /* sigma(t) increases with t: the last k with sigma(k) <= sigma */
    if (T < 2 || sigma <= sigma_of(s, 0)) {
        l.t = 0.0;
        return l;
    }
    if (sigma >= sigma_of(s, T - 1)) {
        l.t = (double)(T - 1);
        return l;
    }
    int lo = 0, hi = T - 1; /* sigma(lo) < sigma < sigma(hi) */
    while (hi - lo > 1) {
        const int mid = lo + (hi - lo) / 2;
        if (sigma_of(s, mid) <= sigma) lo = mid;
        else hi = mid;
    }
    const double a = ddpm_det_log(sigma_of(s, lo)), b = ddpm_det_log(sigma_of(s, hi));
    const double w = b > a ? (ddpm_det_log(sigma) - a) / (b - a) : 0.0;
    l.t = (double)lo + (w < 0.0 ? 0.0 : (w > 1.0 ? 1.0 : w));
    return l;
}

double ddpm__sigma_at_t(const ddpm_schedule *s, double t) {
    const int T = ddpm_schedule_num_timesteps(s);
    if (!(t > 0.0)) return sigma_of(s, 0);
    if (t >= (double)(T - 1)) return sigma_of(s, T - 1);
    const int k = (int)floor(t);
    const double w = t - (double)k;
    if (w == 0.0) return sigma_of(s, k);
    const double a = ddpm_det_log(sigma_of(s, k)), b = ddpm_det_log(sigma_of(s, k + 1));
    return ddpm_det_exp(a + w * (b - a));
}

const char *const ddpm__final_sigma_choices[] = {"zero", "sigma_min", NULL};

void ddpm__levels(const ddpm_sampler_context *ctx, int flags, ddpm__level *lv) {
    const int n = ctx->num_steps;
    for (int i = 0; i < n; i++) lv[i] = ddpm__level_at_t(ctx->schedule, ctx->timesteps[i]);
    lv[n] = ddpm__level_at_t(ctx->schedule, (flags & DDPM__LV_FINAL_MIN) ? 0 : -1);
    if (!(flags & DDPM__LV_KARRAS) || n < 3) return; /* with 1 or 2 steps the Karras grid is just its endpoints */
    const double rho = 7.0;
    const double smax = lv[0].sigma, smin = lv[n - 1].sigma;
    const double a = ddpm_det_exp(ddpm_det_log(smax) / rho), b = ddpm_det_exp(ddpm_det_log(smin) / rho);
    for (int i = 1; i < n - 1; i++) {
        const double r = a + (double)i / (double)(n - 1) * (b - a);
        const double r2 = r * r, r4 = r2 * r2;
        lv[i] = ddpm__level_at_sigma(ctx->schedule, r4 * r2 * r); /* r^7 */
    }
}

void ddpm__ancestral_sigmas(double sigma, double sigma_next, double eta, double *sigma_down, double *sigma_up) {
    double up = 0.0;
    if (eta > 0.0 && sigma > 0.0 && sigma_next > 0.0) {
        const double v = sigma_next * sigma_next * (sigma * sigma - sigma_next * sigma_next) / (sigma * sigma);
        up = v > 0.0 ? eta * sqrt(v) : 0.0;
        if (up > sigma_next) up = sigma_next;
    }
    const double d2 = sigma_next * sigma_next - up * up;
    *sigma_up = up;
    *sigma_down = d2 > 0.0 ? sqrt(d2) : 0.0;
}

/* ---- per-run state ---- */

ddpm_status ddpm__state_create(const ddpm_sampler_context *ctx, int nbuf, int flags, void **state) {
    *state = NULL;
    if (nbuf < 0 || nbuf > DDPM__MAX_BUFS || ctx->batch < 1 || ctx->num_steps < 1) return DDPM_ERR_INVALID_ARGUMENT;
    size_t n, bytes;
    if (!ddpm__mul_size((size_t)ctx->batch, ctx->image_elems, &n) || !ddpm__mul_size(n, sizeof(float), &bytes))
        return DDPM_ERR_TOO_LARGE;
    ddpm__state *s = ddpm__calloc(1, sizeof *s);
    if (!s) return DDPM_ERR_OUT_OF_MEMORY;
    s->nbuf = nbuf;
    s->lv = ddpm__malloc(sizeof(ddpm__level) * ((size_t)ctx->num_steps + 1));
    s->tb = ddpm__malloc(sizeof(float) * (size_t)ctx->batch);
    int ok = s->lv && s->tb;
    for (int k = 0; ok && k < nbuf; k++) ok = (s->buf[k] = ddpm__malloc(bytes ? bytes : 1)) != NULL;
    if (!ok) {
        ddpm__state_destroy(NULL, ctx, s);
        return DDPM_ERR_OUT_OF_MEMORY;
    }
    ddpm__levels(ctx, flags, s->lv);
    *state = s;
    return DDPM_OK;
}

void ddpm__state_destroy(void *user, const ddpm_sampler_context *ctx, void *state) {
    ddpm__state *s = state;
    if (!s) return;
    for (int k = 0; k < DDPM__MAX_BUFS; k++) free(s->buf[k]);
    free(s->lv);
    free(s->tb);
    free(s);
}

ddpm_status ddpm__denoise_at(const ddpm_sampler_context *ctx, ddpm__state *s, const float *x, double t, float *out) {
    for (int k = 0; k < ctx->batch; k++) s->tb[k] = (float)t;
    return ctx->denoise(ctx, x, s->tb, out);
}

double ddpm__sde_noise(const ddpm_sampler_context *ctx, int i, const ddpm__level *ln, double eta, double h,
                       double s_noise, float *z) {
    double pn[2];
    ddpm__phi(-2.0 * eta * h, 1, pn);
    const double v = 2.0 * eta * h * pn[1]; /* 1 - e^(-2 eta h) */
    ctx->noise(ctx, i, 0, z);
    return s_noise * ln->s1 * sqrt(v > 0.0 ? v : 0.0);
}

void ddpm__multistep_update(const ddpm_sampler_context *ctx, const ddpm__level *l, const float *out, float *x,
                            double a, const double *c, int nh, const float *const *hist, double nz, const float *z,
                            float *x0_out) {
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    for (size_t j = 0; j < n; j++) {
        double x0, eps;
        ddpm__split(ctx->prediction, l->sa, l->s1, x[j], out[j], &x0, &eps);
        if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
        double v = a * x[j] + c[0] * x0;
        for (int k = 0; k < nh; k++) v += c[k + 1] * hist[k][j];
        if (z) v += nz * z[j];
        if (x0_out) x0_out[j] = (float)x0;
        x[j] = (float)v;
    }
}
