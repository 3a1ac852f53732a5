/*
 * exp and SiLU through the vector layer (simd.h), lane by lane the same operations as ddpm_expf_scalar (detexp.c) and
 * the scalar SiLU v / (1 + exp(-v)): the SIMD kernels and their scalar twins agree bit for bit.
 */
#ifndef DDPM_SIMD_MATH_H
#define DDPM_SIMD_MATH_H

#include "nn/simd.h"

/* ---- exp, lane by lane the same operations as ddpm_expf_scalar ---- */
static inline vf4 vf4_exp(vf4 x) {
    x = vf4_max(x, vf4_splat(-87.0f));
    x = vf4_min(x, vf4_splat(88.0f));
    const vf4 y = vf4_mul(x, vf4_splat(1.44269504088896341f));
    /* n = round-to-nearest-even(y) through the 1.5 * 2^23 shifter: t's low mantissa bits hold n */
    const vf4 t = vf4_add(y, vf4_splat(12582912.0f));
    const vf4 nf = vf4_sub(t, vf4_splat(12582912.0f));
    const vf4 r = vf4_sub(vf4_sub(x, vf4_mul(nf, vf4_splat(0.693145751953125f))),
                          vf4_mul(nf, vf4_splat(1.42860682030941723e-6f)));
    vf4 p = vf4_splat(1.0f / 5040.0f);
    p = vf4_add(vf4_mul(p, r), vf4_splat(1.0f / 720.0f));
    p = vf4_add(vf4_mul(p, r), vf4_splat(1.0f / 120.0f));
    p = vf4_add(vf4_mul(p, r), vf4_splat(1.0f / 24.0f));
    p = vf4_add(vf4_mul(p, r), vf4_splat(1.0f / 6.0f));
    p = vf4_add(vf4_mul(p, r), vf4_splat(0.5f));
    p = vf4_add(vf4_mul(p, r), vf4_splat(1.0f));
    p = vf4_add(vf4_mul(p, r), vf4_splat(1.0f));
    /* 2^n: bits(t) - bits(1.5 * 2^23) = n, plus the exponent bias 127, into the exponent field */
    const vf4 scale = vi4_as_f4(vi4_shl(vi4_sub(vf4_as_i4(t), vi4_splat(0x4B400000 - 127)), 23));
    return vf4_mul(p, scale);
}

static inline vf4 vf4_silu(vf4 v) {
    const vf4 zero = vf4_splat(0.0f);
    return vf4_div(v, vf4_add(vf4_splat(1.0f), vf4_exp(vf4_sub(zero, v))));
}

#endif
