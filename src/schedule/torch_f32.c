/*
 * PyTorch's float32 CPU kernels for the schedule ops diffusers uses (see torch_f32.h for what each reproduces).
 * Only + - * / sqrt and bit moves, evaluated in float32 or double as written (FLT_EVAL_METHOD 0 on x86-64 and
 * WebAssembly; the build turns FP contraction off), so every platform gives the same bits.
 */
#include "schedule/torch_f32.h"

#include "nn/kernels.h" /* ddpm_det_exp */

#include <math.h>
#include <stdint.h>
#include <string.h>

float ddpm__fma_f32(float a, float b, float c) {
    const double p = (double)a * (double)b; /* exact: 24 + 24 significant bits fit in 53 */
    const double s = p + (double)c;
    /* the rounding error of that sum, exactly (Knuth's TwoSum): p + c = s + e */
    const double bv = s - p;
    const double e = (p - (s - bv)) + ((double)c - bv);
    float r = (float)s;
    uint32_t u;
    memcpy(&u, &r, sizeof u);
    if (e == 0.0 || (double)r == s || (u & 0x7f800000u) == 0x7f800000u) return r;
    /* Rounding s to float is wrong only when s is exactly halfway between r and its neighbour q on s's side (the
     * tie went to even, but the exact value p + c lies off the midpoint); then e decides. */
    const uint32_t uq = fabs(s) > fabs((double)r) ? u + 1u : u - 1u; /* one step away from / towards zero */
    float q;
    memcpy(&q, &uq, sizeof q);
    const double mid = ((double)r + (double)q) * 0.5; /* exact: adjacent floats */
    if (s == mid && ((e > 0.0) == (s > (double)r))) r = q;
    return r;
}

/* One entry of torch.linspace computed on its own: the base of a vector, or an entry of the scalar tail. */
static float linspace_entry(float a, float b, float step, int T, int i) {
    return i < T / 2 ? ddpm__fma_f32(step, (float)i, a) : ddpm__fma_f32(-step, (float)(T - 1 - i), b);
}

void ddpm__torch_linspace_f32(float a, float b, int T, float *out) {
    if (T == 1) { /* torch fills with start */
        out[0] = a;
        return;
    }
    const float step = (b - a) / (float)(T - 1);
    int i = 0;
    for (; i + 16 <= T; i += 16) /* two 8-wide vectors per turn */
        for (int c = i; c < i + 16; c += 8) {
            const float base = linspace_entry(a, b, step, T, c);
            for (int k = 0; k < 8; k++) {
                const float ks = (float)k * step;
                out[c + k] = base + ks;
            }
        }
    for (; i < T; i++) out[i] = linspace_entry(a, b, step, T, i);
}

/* 2^q for -126 <= q <= 127, from its bits */
static float pow2i_f32(int q) {
    const uint32_t bits = (uint32_t)(q + 127) << 23;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* SLEEF 3.5's xexpf (Sleef_expf8_u10, AVX2 with FMA), operation for operation; |d| <= 80 here. */
static float sleef_expf_u10(float d) {
    const float r_ln2 = 1.442695040888963407359924681001892137426645954152985934135449406931f;
    const float l2u = 0.693145751953125f, l2l = 1.428606765330187045e-06f;
    const float y = d * r_ln2;
    /* q = round-to-nearest-even(y) (cvtps_epi32) with the 1.5 * 2^23 shifter, exact for |y| < 2^22 */
    const float shifted = y + 12582912.0f;
    const float qf = shifted - 12582912.0f;
    const int q = (int)qf;
    float s = ddpm__fma_f32(qf, -l2u, d);
    s = ddpm__fma_f32(qf, -l2l, s);
    /* the constants are double literals converted to float, as SLEEF's vcast_vf_f receives them */
    float u = (float)0.000198527617612853646278381;
    u = ddpm__fma_f32(u, s, (float)0.00139304355252534151077271);
    u = ddpm__fma_f32(u, s, (float)0.00833336077630519866943359);
    u = ddpm__fma_f32(u, s, (float)0.0416664853692054748535156);
    u = ddpm__fma_f32(u, s, (float)0.166666671633720397949219);
    u = ddpm__fma_f32(u, s, 0.5f);
    const float s2 = s * s;
    u = 1.0f + ddpm__fma_f32(s2, u, s);
    /* vldexp2: u * 2^(q >> 1) * 2^(q - (q >> 1)) */
    u = u * pow2i_f32(q >> 1);
    u = u * pow2i_f32(q - (q >> 1));
    if (d < -104.0f) u = 0.0f;
    if (d > 100.0f) u = INFINITY;
    return u;
}

void ddpm__torch_sigmoid_f32(float *x, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) /* vector part: (exp(0 - x) + 1).reciprocal() */
        for (int j = i; j < i + 16; j++) {
            const float e = sleef_expf_u10(0.0f - x[j]);
            const float d = e + 1.0f;
            x[j] = 1.0f / d;
        }
    for (; i < n; i++) { /* scalar tail: 1 / (1 + std::exp(-x)), glibc's expf */
        const float e = (float)ddpm_det_exp(-(double)x[i]);
        const float d = 1.0f + e;
        x[i] = 1.0f / d;
    }
}

void ddpm__torch_cumprod_f32(const float *alphas, float *ab, int T) {
    double prod = 1.0;
    for (int t = 0; t < T; t++) {
        prod *= (double)alphas[t];
        ab[t] = (float)prod;
    }
}

void ddpm__diffusers_betas_f32(const ddpm_schedule_params *p, const double *betas64, float *b) {
    const int T = p->num_timesteps;
    switch (p->kind) {
    case DDPM_SCHEDULE_LINEAR: ddpm__torch_linspace_f32((float)p->beta_start, (float)p->beta_end, T, b); break;
    case DDPM_SCHEDULE_SCALED_LINEAR:
        /* Python's beta ** 0.5 is pow(beta, 0.5): correctly rounded like sqrt */
        ddpm__torch_linspace_f32((float)sqrt(p->beta_start), (float)sqrt(p->beta_end), T, b);
        for (int t = 0; t < T; t++) b[t] = b[t] * b[t];
        break;
    case DDPM_SCHEDULE_COSINE:
        for (int t = 0; t < T; t++) b[t] = (float)betas64[t];
        break;
    case DDPM_SCHEDULE_SIGMOID: {
        const float range = (float)(p->beta_end - p->beta_start), start = (float)p->beta_start;
        ddpm__torch_linspace_f32(-6.0f, 6.0f, T, b);
        ddpm__torch_sigmoid_f32(b, T);
        for (int t = 0; t < T; t++) {
            const float scaled = b[t] * range;
            b[t] = scaled + start;
        }
        break;
    }
    case DDPM_SCHEDULE_CUSTOM:
        for (int t = 0; t < T; t++) b[t] = (float)p->betas[t];
        break;
    default: break; /* rejected by the caller's validation */
    }
}

int ddpm__diffusers_rescale_zero_snr_f32(float *b, float *ab, int T) {
    for (int t = 0; t < T; t++) ab[t] = 1.0f - b[t];
    ddpm__torch_cumprod_f32(ab, ab, T);                             /* in place: ab[t] is read before written */
    for (int t = 0; t < T; t++) ab[t] = (float)sqrt((double)ab[t]); /* correctly rounded float sqrt */
    const float s0 = ab[0], sT = ab[T - 1];
    if (!(s0 > sT)) return 0;
    const float den = s0 - sT;
    const float scale = s0 / den;
    for (int t = 0; t < T; t++) {
        const float shifted = ab[t] - sT;
        const float v = shifted * scale;
        ab[t] = v * v; /* alphas_bar */
    }
    b[0] = 1.0f - ab[0];
    for (int t = 1; t < T; t++) {
        const float alpha = ab[t] / ab[t - 1];
        b[t] = 1.0f - alpha; /* ab[T-1] = 0 exactly, so b[T-1] = 1 */
    }
    return 1;
}
