/* Deterministic exponentials: only + - * / and integer bit moves, so every IEEE-754 platform gives the same bits.
 * ddpm_det_exp is the one double exp of the library (schedules, samplers, the time embedding, precise kernels). */
#include "nn/kernels.h"
#include "ddpm.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Constants shared with the vector version in kernels_simd.c (keep them in sync). */
#define EXPF_LOG2E 1.44269504088896341f
#define EXPF_LN2_HI 0.693145751953125f       /* 12 significant bits: n * LN2_HI is exact for |n| < 2^12 */
#define EXPF_LN2_LO 1.42860682030941723e-6f

float ddpm_expf_scalar(float x) {
    /* clamp: keeps 2^n a normal float (n in [-126, 127]) */
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    float y = x * EXPF_LOG2E;
    /* n = round-to-nearest-even(y) with the 1.5 * 2^23 shifter (|y| < 2^7): t's low mantissa bits hold n, and
     * |r| <= ln2 / 2. The same two adds in SIMD replace a float-to-int conversion (slow in WebAssembly). */
    const float t = y + 12582912.0f;
    const float nf = t - 12582912.0f;
    uint32_t tb;
    memcpy(&tb, &t, 4);
    float r = (x - nf * EXPF_LN2_HI) - nf * EXPF_LN2_LO;
    /* Taylor series to r^7: truncation error < 0.347^8 / 8! = 5e-9 relative */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const uint32_t bits = (tb - (0x4B400000u - 127u)) << 23; /* (n + 127) << 23 */
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

float ddpm_det_expf(float x) { return ddpm_expf_scalar(x); }

double ddpm_det_exp(double x) {
    if (x != x) return x;
    if (x > 709.0) return INFINITY;
    if (x < -708.0) return 0.0;
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    double y = x * 1.44269504088896338700;
    int32_t n = (int32_t)(y + (y < 0 ? -0.5 : 0.5));
    double r = (x - n * ln2_hi) - n * ln2_lo; /* |r| <= 0.347 */
    /* Taylor series to r^13: truncation error < 0.347^14 / 14! = 3e-18 relative */
    double p = 1.0 / 6227020800.0;
    static const double inv_fact[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
                                      1.0 / 40320.0,     1.0 / 5040.0,     1.0 / 720.0,      1.0 / 120.0,
                                      1.0 / 24.0,        1.0 / 6.0,        0.5,              1.0,
                                      1.0};
    for (int i = 0; i < 13; i++) p = p * r + inv_fact[i];
    uint64_t bits = (uint64_t)(n + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, 8);
    return p * scale;
}
