/*
 * Deterministic double-precision log and sin/cos for the RNG (Box-Muller) and anything else that needs the same
 * bits on every IEEE-754 platform (x86-64 SSE2, AArch64, WebAssembly).
 *
 * Only + - * / and sqrt on doubles, integer bit manipulation, and constants written as hexadecimal literals are used:
 * no libm call, no long double. IEEE-754 round-to-nearest makes each of these operations exactly reproducible, and the
 * build uses -ffp-contract=off so that no compiler fuses a*b+c into an FMA (which would round once instead of twice).
 *
 * Accuracy (checked against libm in tests/test_rng.c): both functions are within about 1 ulp of the true value.
 */
#include "core/internal.h"

#include <math.h> /* INFINITY, NAN only: no libm function is called */
#include <stdint.h>
#include <string.h>

static uint64_t bits_of(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static double double_of(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* ---------------------------------------------------------------------------------------------------------------
 * log
 *
 * x = 2^k m with m in [sqrt(1/2), sqrt(2)), taken apart by bit manipulation. With f = m - 1 (exact, Sterbenz) and
 * s = f / (2 + f), log(m) = log(1 + f) = 2 atanh(s) = 2s + s R(s^2),  R(z) = 2z/3 + 2z^2/5 + 2z^3/7 + ...
 * Since 2s = f - s f, this is rearranged into the exact identity
 *     log(1 + f) = f - hf + s (hf + R),   hf = f^2 / 2,
 * whose leading term f carries no rounding error; the correction is at most ~0.3 |f|, so the result is good to
 * about 1 ulp. |s| <= (sqrt2 - 1)/(sqrt2 + 1) = 0.1716, z = s^2 <= 0.0295: the Taylor series of R through z^10 leaves
 * a truncation error below z^11 / 23 < 1e-18 relative.
 * Finally log x = k ln2 + log m with ln2 = LN2_HI + LN2_LO, LN2_HI having 32 significant bits so that k * LN2_HI is
 * exact for every |k| <= 1100.
 * ------------------------------------------------------------------------------------------------------------- */

#define LN2_HI 0x1.62e42ff000000p-1    /* ln 2 rounded to 32 significant bits */
#define LN2_LO (-0x1.718432a1b0e26p-35) /* ln 2 - LN2_HI */
#define SQRT2 0x1.6a09e667f3bcdp+0      /* sqrt(2) rounded to double */
#define TWO_POW_54 0x1p54

double ddpm_det_log(double x) {
    if (x != x) return x;            /* NaN */
    if (x < 0.0) return NAN;
    if (x == 0.0) return -INFINITY;
    if (x == INFINITY) return INFINITY;

    int k = 0;
    if (x < 0x1p-1022) { /* subnormal: scale into the normal range (exact) */
        x *= TWO_POW_54;
        k = -54;
    }
    uint64_t u = bits_of(x);
    k += (int)((u >> 52) & 0x7ff) - 1023;
    /* m in [1, 2): the same mantissa with the exponent field of 1.0 */
    double m = double_of((u & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
    if (m > SQRT2) { /* move to [sqrt(1/2), sqrt(2)) */
        m *= 0.5;
        k += 1;
    }

    double f = m - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    /* R(z) = sum_{j=1..10} 2 z^j / (2j + 1), Horner form */
    double R = z * (2.0 / 3 + z * (2.0 / 5 + z * (2.0 / 7 + z * (2.0 / 9 + z * (2.0 / 11 + z * (2.0 / 13 +
               z * (2.0 / 15 + z * (2.0 / 17 + z * (2.0 / 19 + z * (2.0 / 21))))))))));
    double hf = 0.5 * f * f;
    double dk = (double)k;
    /* k ln2 + f - hf + s (hf + R), summed from the smallest terms up */
    return dk * LN2_HI + (f - (hf - (s * (hf + R) + dk * LN2_LO)));
}

/* ---------------------------------------------------------------------------------------------------------------
 * sin and cos
 *
 * Reduction: n = nearest integer to x * 2/pi, y = x - n pi/2 in about [-pi/4, pi/4], computed Cody-Waite style with
 * pi/2 = P1 + P2 + P3, where P1 and P2 have 33 significant bits: for |n| <= 2^20 (|x| <= 1e6 gives |n| <= 636620)
 * the products n P1 and n P2 are exact, x - n P1 is exact (Sterbenz), and the remaining subtractions are carried as a
 * double-double (y, yl) so that the reduced argument is good to far below 1 ulp. pi/2 - (P1 + P2 + P3) ~ 1e-37.
 *
 * Kernels on |y| <= pi/4 (z = y^2 <= 0.617), Taylor series:
 *     sin y = y - y^3/3! + ... + y^17/17!     (first omitted term y^19/19! < 2e-19 |y|)
 *     cos y = 1 - y^2/2! + ... + y^20/20!     (first omitted term < 1e-22)
 * plus the first-order effect of the low part yl: sin(y + yl) ~ sin y + yl cos y, cos(y + yl) ~ cos y - yl sin y.
 * ------------------------------------------------------------------------------------------------------------- */

#define PIO2_1 0x1.921fb54400000p+0  /* first 33 bits of pi/2 */
#define PIO2_2 0x1.0b4611a600000p-34 /* next 33 bits */
#define PIO2_3 0x1.3198a2e037073p-69 /* the rest, rounded to double */
#define TWO_OVER_PI 0x1.45f306dc9c883p-1
#define SINCOS_MAX_ARG 1e6

/* 1/k! for the kernels, written as exact quotients of integers (each rounded once at compile time). */
#define INV_F2 (1.0 / 2.0)
#define INV_F3 (1.0 / 6.0)
#define INV_F4 (1.0 / 24.0)
#define INV_F5 (1.0 / 120.0)
#define INV_F6 (1.0 / 720.0)
#define INV_F7 (1.0 / 5040.0)
#define INV_F8 (1.0 / 40320.0)
#define INV_F9 (1.0 / 362880.0)
#define INV_F10 (1.0 / 3628800.0)
#define INV_F11 (1.0 / 39916800.0)
#define INV_F12 (1.0 / 479001600.0)
#define INV_F13 (1.0 / 6227020800.0)
#define INV_F14 (1.0 / 87178291200.0)
#define INV_F15 (1.0 / 1307674368000.0)
#define INV_F16 (1.0 / 20922789888000.0)
#define INV_F17 (1.0 / 355687428096000.0)
#define INV_F18 (1.0 / 6402373705728000.0)
#define INV_F19 (1.0 / 121645100408832000.0)
#define INV_F20 (1.0 / 2432902008176640000.0)

/* Knuth's TwoSum: *hi + *lo = a + b exactly, *hi = fl(a + b), whatever the magnitudes. */
static void two_sum(double a, double b, double *hi, double *lo) {
    double sum = a + b;
    double bv = sum - a;
    double av = sum - bv;
    *hi = sum;
    *lo = (a - av) + (b - bv);
}

/* sin(y + yl) for |y| <= ~pi/4, |yl| <= ulp(y) */
static double kernel_sin(double y, double yl) {
    double z = y * y;
    double v = z * y; /* y^3 */
    /* P(z) = -1/3! + z/5! - z^2/7! + ... + z^7/17! so that sin y = y + y^3 P(z) */
    double p = -INV_F3 + z * (INV_F5 + z * (-INV_F7 + z * (INV_F9 + z * (-INV_F11 + z * (INV_F13 +
               z * (-INV_F15 + z * INV_F17))))));
    return y + (v * p + yl * (1.0 - 0.5 * z));
}

/* cos(y + yl) for |y| <= ~pi/4, |yl| <= ulp(y) */
static double kernel_cos(double y, double yl) {
    double z = y * y;
    /* Q(z) = 1/4! - z/6! + ... + z^8/20! so that cos y = 1 - z/2 + z^2 Q(z) */
    double q = INV_F4 + z * (-INV_F6 + z * (INV_F8 + z * (-INV_F10 + z * (INV_F12 + z * (-INV_F14 +
               z * (INV_F16 + z * (-INV_F18 + z * INV_F20)))))));
    double hz = INV_F2 * z;
    double w = 1.0 - hz;
    /* (1 - w) - hz recovers the rounding error of w exactly (w is within a factor 2 of 1) */
    return w + (((1.0 - w) - hz) + (z * z * q - y * yl));
}

void ddpm_det_sincos(double x, double *s, double *c) {
    double sv, cv;
    if (!(x >= -SINCOS_MAX_ARG && x <= SINCOS_MAX_ARG)) { /* NaN, Inf, or outside the documented domain */
        sv = NAN;
        cv = NAN;
    } else if (x == 0.0) { /* keeps the sign of zero: sin(-0) = -0 */
        sv = x;
        cv = 1.0;
    } else {
        /* n = round-half-away(x * 2/pi); |n| <= 636620 */
        double fn = x * TWO_OVER_PI;
        int64_t n = (int64_t)(fn >= 0.0 ? fn + 0.5 : fn - 0.5);
        double dn = (double)n;

        double t1 = x - dn * PIO2_1; /* exact */
        double w2 = dn * PIO2_2;     /* exact (33 + 20 bits) */
        double r, e, y, yl;
        two_sum(t1, -w2, &r, &e);    /* r + e = t1 - w2 exactly */
        double w3 = dn * PIO2_3;     /* tiny: |w3| < 2^-48 */
        two_sum(r, e - w3, &y, &yl); /* y + yl = x - n pi/2 to ~2^-100 absolute */

        double ks = kernel_sin(y, yl);
        double kc = kernel_cos(y, yl);
        switch ((int)(n & 3)) { /* n mod 4, also for negative n (two's complement) */
        case 0: sv = ks; cv = kc; break;
        case 1: sv = kc; cv = -ks; break;
        case 2: sv = -ks; cv = -kc; break;
        default: sv = -kc; cv = ks; break;
        }
    }
    if (s) *s = sv;
    if (c) *c = cv;
}
