/*
 * "lms": linear multistep in sigma with integrated coefficients, as Katherine Crowson's k-diffusion sample_lms.
 * In the VE scale (see euler.c), with d_k = eps^(x_k, sigma_k) the derivatives dx/dsigma so far and q = min(i + 1,
 * order):
 *     x_ve_{i+1} = x_ve_i + sum_{j<q} c_j d_{i-j},
 *     c_j = integral over [sigma_i, sigma_{i+1}] of prod_{k<q, k!=j} (s - sigma_{i-k}) / (sigma_{i-j} - sigma_{i-k}) ds
 * (the Lagrange polynomial through the last q derivatives, integrated exactly: 3-point Gauss-Legendre is exact for
 * its degree <= 3). order = 1 is Euler. The last step integrates to sigma = 0.
 */
#include "sampler/common.h"

#include <math.h>

enum { OPT_ORDER, OPT_KARRAS };

static const ddpm_sampler_option lms_options[] = {
    {.name = "order", .type = DDPM_OPTION_INT, .default_value = 4, .min_value = 1, .max_value = 4,
     .help = "how many past derivatives the multistep formula uses (1 = Euler)"},
    DDPM__KARRAS_OPTION,
};

#define LMS_MAX 4
enum { B_OUT, B_D0 }; /* model output; derivatives d (ring of LMS_MAX from B_D0) */

static ddpm_status lms_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    return ddpm__state_create(ctx, 1 + LMS_MAX, ctx->option_values[OPT_KARRAS] != 0.0, st);
}

/* c_j for the nodes sg[0] = sigma_i, sg[1] = sigma_{i-1}, ...; interval [a, b] = [sigma_i, sigma_{i+1}] */
static double lms_coeff(int q, const double *sg, double a, double b, int j) {
    const double g = sqrt(0.6), gx[3] = {-g, 0.0, g}, gw[3] = {5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0};
    const double half = 0.5 * (b - a), mid = 0.5 * (a + b);
    double sum = 0.0;
    for (int p = 0; p < 3; p++) {
        const double s = mid + half * gx[p];
        double prod = 1.0;
        for (int k = 0; k < q; k++)
            if (k != j) prod *= (s - sg[k]) / (sg[j] - sg[k]);
        sum += gw[p] * prod;
    }
    return sum * half;
}

static ddpm_status lms_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const ddpm__level l = s->lv[i], ln = s->lv[i + 1];
    float *out = s->buf[B_OUT];
    if (i == 0) s->count = s->head = 0;
    ddpm_status r = ddpm__denoise_at(ctx, s, x, l.t, out);
    if (r != DDPM_OK) return r;
    s->head = (s->head + 1) % LMS_MAX;
    if (s->count < LMS_MAX) s->count++;
    const float *d[LMS_MAX];
    for (int k = 0; k < LMS_MAX; k++) d[k] = s->buf[B_D0 + (s->head + LMS_MAX - k) % LMS_MAX]; /* d[k] = d_{i-k} */
    float *dn = s->buf[B_D0 + s->head];

    /* the order: as asked, limited by the history and by distinct nodes (a repeated sigma has no Lagrange basis) */
    int q = (int)ctx->option_values[OPT_ORDER];
    if (q > s->count) q = s->count;
    if (q > i + 1) q = i + 1;
    double sg[LMS_MAX], c[LMS_MAX];
    for (int k = 0; k < q; k++) {
        sg[k] = s->lv[i - k].sigma;
        for (int m = 0; m < k; m++)
            if (sg[m] == sg[k]) q = k; /* stops the loop */
    }
    if (q < 1) q = 1;
    for (int j = 0; j < q; j++) c[j] = lms_coeff(q, sg, l.sigma, ln.sigma, j);

    for (size_t e = 0; e < n; e++) {
        double x0, dd;
        ddpm__split(ctx->prediction, l.sa, l.s1, x[e], out[e], &x0, &dd);
        if (ctx->pred_x0) ctx->pred_x0[e] = (float)x0;
        dn[e] = (float)dd;
        double xve = x[e] / l.sa + c[0] * dd;
        for (int j = 1; j < q; j++) xve += c[j] * d[j][e];
        x[e] = (float)(xve * ln.sa);
    }
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_lms = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "lms",
    .description = "Linear multistep in sigma with integrated Lagrange coefficients (k-diffusion's LMS), order 1..4",
    .num_options = 2,
    .options = lms_options,
    .evals_per_step = 1,
    .create = lms_create,
    .step = lms_step,
    .destroy = ddpm__state_destroy,
};
