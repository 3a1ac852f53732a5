/*
 * Tests of the counter-based RNG (Philox-4x32-10, the normal and uniform streams) and of the deterministic log and
 * sin/cos behind it. Reference values: Random123's known-answer vectors and tests/data/gaussian_ref.h (written by
 * training/ref_gaussian.py: Philox in Python integers, Box-Muller with libm in float64).
 */
#include "ddpm.h"
#include "ddpm_debug.h"
#include "data/gaussian_ref.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int n_pass, n_fail;

static void check(int cond, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", cond ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (cond) n_pass++;
    else n_fail++;
}

/* xorshift64 for test inputs (not the RNG under test) */
static uint64_t xs_state = 0x9E3779B97F4A7C15ULL;
static uint64_t xs64(void) {
    xs_state ^= xs_state << 13;
    xs_state ^= xs_state >> 7;
    xs_state ^= xs_state << 17;
    return xs_state;
}
static double unit(void) { return (double)(xs64() >> 11) / 9007199254740992.0; } /* [0, 1) */

/* ---------------------------------------------------------------------------------------------------------------- */

static void test_philox_kat(void) {
    static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                       {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
                                       {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}};
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
    static const uint32_t want[3][4] = {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
                                        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
                                        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}};
    for (int k = 0; k < 3; k++) {
        uint32_t out[4];
        ddpm_philox4x32_10(ctr[k], key[k], out);
        check(memcmp(out, want[k], sizeof out) == 0, "philox4x32_10 known-answer vector %d: %08x %08x %08x %08x", k,
              out[0], out[1], out[2], out[3]);
    }
}

/* The stream layout: words of block b = philox((b, image, step, purpose), (seed lo, seed hi)), against Python. */
static void test_stream_words(void) {
    for (int s = 0; s < REF_RNG_STREAMS; s++) {
        uint64_t seed = ref_rng_seed[s];
        int same = 1;
        for (int b = 0; b < REF_RNG_N / 4; b++) {
            uint32_t c[4] = {(uint32_t)b, ref_rng_ids[s][0], ref_rng_ids[s][1], ref_rng_ids[s][2]};
            uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)}, out[4];
            ddpm_philox4x32_10(c, k, out);
            for (int j = 0; j < 4; j++) same &= out[j] == ref_rng_words[s][4 * b + j];
        }
        check(same, "stream %d: philox words of blocks 0..%d match the Python implementation", s, REF_RNG_N / 4 - 1);

        double u[REF_RNG_N];
        ddpm_rng_uniform(seed, ref_rng_ids[s][0], ref_rng_ids[s][1], ref_rng_ids[s][2], u, REF_RNG_N);
        int exact = 1;
        for (int i = 0; i < REF_RNG_N; i++) exact &= u[i] == ref_rng_uniform[s][i] && u[i] > 0.0 && u[i] <= 1.0;
        check(exact, "stream %d: ddpm_rng_uniform equals (r + 1) / 2^32 of the Python words exactly", s);

        float nrm[REF_RNG_N];
        ddpm_rng_normal(seed, ref_rng_ids[s][0], ref_rng_ids[s][1], ref_rng_ids[s][2], nrm, REF_RNG_N);
        double worst = 0;
        for (int i = 0; i < REF_RNG_N; i++) {
            double e = fabs(nrm[i] - ref_rng_normal[s][i]) / fabs(ref_rng_normal[s][i]);
            if (e > worst) worst = e;
        }
        /* a float holds 24 bits: rounding alone gives a relative error up to 2^-24 = 6e-8 */
        check(worst <= 1.2e-7, "stream %d: ddpm_rng_normal vs float64 Box-Muller (libm) of the same words: max rel "
              "err %.2e <= 1.2e-7", s, worst);
    }
}

static void test_prefix_and_independence(void) {
    float longer[16], shorter[16];
    ddpm_rng_normal(5, 1, 2, DDPM_NOISE_STEP, longer, 16);
    int prefix = 1;
    for (size_t n = 0; n <= 15; n++) {
        memset(shorter, 0x7f, sizeof shorter);
        ddpm_rng_normal(5, 1, 2, DDPM_NOISE_STEP, shorter, n);
        prefix &= memcmp(shorter, longer, n * sizeof(float)) == 0;
        /* nothing beyond n is written */
        for (size_t i = n; i < 16; i++) {
            uint32_t w;
            memcpy(&w, &shorter[i], 4);
            prefix &= w == 0x7f7f7f7fu;
        }
    }
    check(prefix, "rng_normal: n = 0..15 gives exactly the prefix of the 16-element stream and writes nothing more");

    double ul[11], us[11];
    ddpm_rng_uniform(5, 1, 2, DDPM_NOISE_STEP, ul, 11);
    ddpm_rng_uniform(5, 1, 2, DDPM_NOISE_STEP, us, 7);
    check(memcmp(ul, us, 7 * sizeof(double)) == 0, "rng_uniform: n = 7 is a prefix of n = 11");

    /* different seed (low or high word), image, step or purpose: different streams */
    struct { uint64_t seed; uint32_t image, step, purpose; const char *what; } v[] = {
        {5, 1, 2, DDPM_NOISE_STEP, "base"},
        {6, 1, 2, DDPM_NOISE_STEP, "seed low word"},
        {5 + (1ULL << 32), 1, 2, DDPM_NOISE_STEP, "seed high word"},
        {5, 0, 2, DDPM_NOISE_STEP, "image"},
        {5, 1, 3, DDPM_NOISE_STEP, "step"},
        {5, 1, 2, DDPM_NOISE_INITIAL, "purpose"},
        {5, 1, 2, DDPM_NOISE_FORWARD, "purpose 2"},
    };
    enum { NV = sizeof v / sizeof v[0], K = 8 };
    float s[NV][K];
    for (int i = 0; i < NV; i++) ddpm_rng_normal(v[i].seed, v[i].image, v[i].step, v[i].purpose, s[i], K);
    for (int i = 1; i < NV; i++) {
        int differ_all = 1;
        for (int j = 0; j < K; j++) differ_all &= s[i][j] != s[0][j];
        check(differ_all, "rng_normal: changing the %s changes every one of the first %d values", v[i].what, K);
    }
    float again[K];
    ddpm_rng_normal(5, 1, 2, DDPM_NOISE_STEP, again, K);
    check(memcmp(again, s[0], sizeof again) == 0, "rng_normal: the same stream twice gives the same bits");
}

/* FNV-1a over the float bits of a stream: pins the exact output (the same on every IEEE-754 platform). */
static uint64_t stream_hash(size_t n) {
    float *x = malloc(n * sizeof *x);
    if (!x) return 0;
    ddpm_rng_normal(REF_RNG_HASH_SEED, REF_RNG_HASH_IDS, x, n);
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, &x[i], 4);
        for (int b = 0; b < 4; b++) {
            h ^= (w >> (8 * b)) & 0xff;
            h *= 0x100000001b3ULL;
        }
    }
    free(x);
    return h;
}

static void test_moments(void) {
    enum { N = 1000000 };
    float *x = malloc(N * sizeof *x);
    if (!x) {
        check(0, "allocation");
        return;
    }
    ddpm_rng_normal(20240601, 0, 0, DDPM_NOISE_INITIAL, x, N);
    double sum = 0, sum2 = 0, maxabs = 0;
    int finite = 1;
    for (int i = 0; i < N; i++) {
        finite &= isfinite(x[i]) != 0;
        sum += x[i];
        if (fabs(x[i]) > maxabs) maxabs = fabs(x[i]);
    }
    double mean = sum / N;
    for (int i = 0; i < N; i++) sum2 += (x[i] - mean) * (x[i] - mean);
    double var = sum2 / (N - 1);
    /* standard errors for N(0, 1): mean 1/sqrt(N) = 1.0e-3, sample variance sqrt(2/N) = 1.41e-3; allow 5 of them */
    check(finite, "1e6 normals are all finite");
    check(fabs(mean) < 5e-3, "mean of 1e6 normals %.5f within 5 standard errors (5e-3) of 0", mean);
    check(fabs(var - 1.0) < 7.1e-3, "variance of 1e6 normals %.5f within 5 standard errors (7.1e-3) of 1", var);
    /* |n| <= rho_max = sqrt(-2 ln 2^-32) = 6.66 by construction */
    check(maxabs <= 6.6604 && maxabs > 4.0, "max |n| = %.4f lies in (4, sqrt(-2 ln 2^-32) = 6.6604]", maxabs);
    int tail = 0;
    for (int i = 0; i < N; i++) tail += fabs(x[i]) > 1.959964;
    /* P(|Z| > 1.96) = 0.05: expected 50000, binomial sd 218 */
    check(abs(tail - 50000) < 1100, "%d of 1e6 normals beyond |1.96| (expected 50000 +- 5 sd = 1090)", tail);
    free(x);

    /* the exact bits: Python's float64 Box-Muller with libm, rounded to float, gives this hash; the C routines (only
     * + - * / sqrt) are within 1 ulp of libm in double, so after rounding to float they agree bit for bit here, and
     * every IEEE-754 platform (x86-64, WebAssembly) must reproduce it */
    uint64_t h = stream_hash(REF_RNG_HASH_N);
    check(h == REF_RNG_HASH, "bits of the first %d normals of a fixed stream: FNV-1a %016llx (Python: %016llx)",
          REF_RNG_HASH_N, (unsigned long long)h, (unsigned long long)REF_RNG_HASH);
}

/* ---------------------------------------------------------------------------------------------------------------- */

static double rel_err(double got, double want) {
    if (want == 0.0) return got == 0.0 ? 0.0 : INFINITY;
    return fabs(got - want) / fabs(want);
}

static void test_det_log(void) {
    double worst = 0, worst_x = 0;
    long count = 0;
    /* random bit patterns over all positive finite doubles, subnormals included */
    for (int i = 0; i < 1000000; i++) {
        uint64_t u = xs64() & 0x7fffffffffffffffULL;
        double x;
        memcpy(&x, &u, 8);
        if (!(x > 0.0) || !isfinite(x)) continue;
        double e = rel_err(ddpm_det_log(x), log(x));
        if (e > worst) { worst = e; worst_x = x; }
        count++;
    }
    /* near 1, where log x ~ x - 1 is small and relative accuracy is hardest */
    for (int i = 0; i < 1000000; i++) {
        double scale = i % 3 == 0 ? 1e-12 : (i % 3 == 1 ? 1e-4 : 0.9);
        double x = 1.0 + (unit() - 0.5) * scale;
        double e = rel_err(ddpm_det_log(x), log(x));
        if (e > worst) { worst = e; worst_x = x; }
        count++;
    }
    /* the Box-Muller domain (0, 1] on its own grid, and extremes */
    for (int i = 0; i < 200000; i++) {
        double x = ((double)(uint32_t)xs64() + 1.0) / 4294967296.0;
        double e = rel_err(ddpm_det_log(x), log(x));
        if (e > worst) { worst = e; worst_x = x; }
        count++;
    }
    const double special[] = {DBL_MIN, DBL_TRUE_MIN, DBL_MAX, 1e-300, 1e300, 0.5, 2.0, 0x1p-1074, 0x1.fffffffffffffp-1,
                              0x1.0000000000001p+0, 1.4142135623730951, 0.70710678118654757, 10.0, 4294967296.0};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        double e = rel_err(ddpm_det_log(special[i]), log(special[i]));
        if (e > worst) { worst = e; worst_x = special[i]; }
        count++;
    }
    check(worst < 4e-16, "det_log vs libm log over %ld inputs (tiny, huge, subnormal, near 1): max rel err %.3g "
          "(at %.17g) < 4e-16", count, worst, worst_x);
    check(ddpm_det_log(1.0) == 0.0, "det_log(1) == 0 exactly");
    int exact_pow2 = 1;
    for (int k = -1074; k <= 1023; k++) exact_pow2 &= rel_err(ddpm_det_log(ldexp(1.0, k)), k * log(2.0)) < 4e-16;
    check(exact_pow2, "det_log(2^k) = k ln 2 for k = -1074 .. 1023");
    check(ddpm_det_log(0.0) == -INFINITY && ddpm_det_log(INFINITY) == INFINITY && isnan(ddpm_det_log(-1.0)) &&
          isnan(ddpm_det_log(NAN)), "det_log(0) = -inf, det_log(inf) = inf, det_log(-1) and det_log(NaN) are NaN");
}

static void test_det_sincos(void) {
    double worst = 0, worst_x = 0;
    long count = 0;
    for (int i = 0; i < 1500000; i++) {
        double range = i % 3 == 0 ? 1e6 : (i % 3 == 1 ? 10.0 : 0.78539816339744828);
        double x = (2.0 * unit() - 1.0) * range;
        double s, c;
        ddpm_det_sincos(x, &s, &c);
        double e = fmax(rel_err(s, sin(x)), rel_err(c, cos(x)));
        if (e > worst) { worst = e; worst_x = x; }
        count++;
    }
    /* next to the multiples of pi/2 up to 1e6, where one of sin/cos is small and the reduction must be exact */
    for (long k = -636600; k <= 636600; k += 7) {
        double x0 = (double)k * 1.5707963267948966;
        double xs[3] = {nextafter(x0, -INFINITY), x0, nextafter(x0, INFINITY)};
        for (int j = 0; j < 3; j++) {
            if (fabs(xs[j]) > 1e6) continue;
            double s, c;
            ddpm_det_sincos(xs[j], &s, &c);
            double e = fmax(rel_err(s, sin(xs[j])), rel_err(c, cos(xs[j])));
            if (e > worst) { worst = e; worst_x = xs[j]; }
            count++;
        }
    }
    /* the Box-Muller angles 2 pi r / 2^32 */
    for (int i = 0; i < 200000; i++) {
        double x = 6.283185307179586 * (double)(uint32_t)xs64() / 4294967296.0;
        double s, c;
        ddpm_det_sincos(x, &s, &c);
        double e = fmax(rel_err(s, sin(x)), rel_err(c, cos(x)));
        if (e > worst) { worst = e; worst_x = x; }
        count++;
    }
    const double special[] = {1e-300, -1e-300, 1e-20, 1e-8, 0.5, 1.0, 3.141592653589793, 1e6, -1e6, 999999.5,
                              4.9e-324, 1.5707963267948966, 0.78539816339744828};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) {
        double s, c;
        ddpm_det_sincos(special[i], &s, &c);
        double e = fmax(rel_err(s, sin(special[i])), rel_err(c, cos(special[i])));
        if (e > worst) { worst = e; worst_x = special[i]; }
        count++;
    }
    check(worst < 4e-16, "det_sincos vs libm sin/cos over %ld inputs, |x| <= 1e6: max rel err %.3g (at %.17g) "
          "< 4e-16", count, worst, worst_x);

    double s, c;
    ddpm_det_sincos(0.0, &s, &c);
    int ok0 = s == 0.0 && !signbit(s) && c == 1.0;
    ddpm_det_sincos(-0.0, &s, &c);
    ok0 &= s == 0.0 && signbit(s) && c == 1.0;
    check(ok0, "det_sincos(+-0) = (+-0, 1)");
    ddpm_det_sincos(2e6, &s, &c);
    int nan_out = isnan(s) && isnan(c);
    ddpm_det_sincos(NAN, &s, &c);
    nan_out &= isnan(s) && isnan(c);
    ddpm_det_sincos(INFINITY, &s, &c);
    nan_out &= isnan(s) && isnan(c);
    check(nan_out, "det_sincos outside |x| <= 1e6 (2e6, inf, NaN) gives NaN");
    ddpm_det_sincos(1.0, &s, NULL);
    double c2;
    ddpm_det_sincos(1.0, NULL, &c2);
    check(rel_err(s, sin(1.0)) < 4e-16 && rel_err(c2, cos(1.0)) < 4e-16, "det_sincos accepts a NULL output");
}

int main(void) {
    test_philox_kat();
    test_stream_words();
    test_prefix_and_independence();
    test_moments();
    test_det_log();
    test_det_sincos();
    printf("test_rng: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
