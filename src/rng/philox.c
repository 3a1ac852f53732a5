/*
 * Counter-based RNG: Philox-4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11) and the normal / uniform streams built on it (layout documented in include/ddpm.h).
 *
 * A stream is addressed by (seed, image, step, purpose); its 32-bit words are, in order, the four output words of
 * block 0, then of block 1, ..., where block b is philox(counter = (b, image, step, purpose), key = (seed lo, seed hi)).
 * Block indices are 32-bit, so one stream holds at most 2^34 words; longer requests wrap around.
 */
#include "core/internal.h"

#include <math.h> /* sqrt (correctly rounded by IEEE-754) */
#include <stdint.h>

#define PHILOX_M0 0xD2511F53u /* multiplier applied to counter word 0 */
#define PHILOX_M1 0xCD9E8D57u /* multiplier applied to counter word 2 */
#define PHILOX_W0 0x9E3779B9u /* key bump (golden ratio) */
#define PHILOX_W1 0xBB67AE85u /* key bump (sqrt(3) - 1) */

void ddpm_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        if (round > 0) { /* the key is bumped between rounds, not after the last */
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0; /* mulhilo32: (hi, lo) of the 64-bit product */
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        uint32_t n0 = hi1 ^ c1 ^ k0;
        uint32_t n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The four words of block b of a stream. */
static void stream_block(uint64_t seed, uint32_t image, uint32_t step, uint32_t purpose, uint32_t b, uint32_t r[4]) {
    const uint32_t counter[4] = {b, image, step, purpose};
    const uint32_t key[2] = {(uint32_t)(seed & 0xffffffffu), (uint32_t)(seed >> 32)};
    ddpm_philox4x32_10(counter, key, r);
}

#define TWO_POW_32 4294967296.0
#define TWO_PI 0x1.921fb54442d18p+2 /* 2 pi rounded to double (6.283185307179586) */

/* u = (r + 1) / 2^32 in (0, 1]: exact in double. */
static double word_to_unit(uint32_t r) { return ((double)r + 1.0) / TWO_POW_32; }

/* Box-Muller on two words: (rho cos phi, rho sin phi), u = (ra + 1)/2^32, phi = 2 pi rb / 2^32, rho = sqrt(-2 ln u). */
static void box_muller(uint32_t ra, uint32_t rb, double *n0, double *n1) {
    double u = word_to_unit(ra);
    double phi = TWO_PI * (double)rb / TWO_POW_32; /* division by 2^32 is exact: same as 2 pi (rb / 2^32) */
    double rho = sqrt(-2.0 * ddpm_det_log(u));     /* sqrt is correctly rounded by IEEE-754 */
    double sn, cs;
    ddpm_det_sincos(phi, &sn, &cs);
    *n0 = rho * cs;
    *n1 = rho * sn;
}

void ddpm_rng_normal(uint64_t seed, uint32_t image, uint32_t step, uint32_t purpose, float *out, size_t n) {
    if (!out) return;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t r[4];
        stream_block(seed, image, step, purpose, (uint32_t)(i / 4), r);
        double v[4];
        box_muller(r[0], r[1], &v[0], &v[1]);
        box_muller(r[2], r[3], &v[2], &v[3]);
        /* a tail shorter than 4 takes the prefix of the block, so a shorter request is a prefix of a longer one */
        size_t left = n - i < 4 ? n - i : 4;
        for (size_t j = 0; j < left; j++) out[i + j] = (float)v[j];
    }
}

void ddpm_rng_uniform(uint64_t seed, uint32_t image, uint32_t step, uint32_t purpose, double *out, size_t n) {
    if (!out) return;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t r[4];
        stream_block(seed, image, step, purpose, (uint32_t)(i / 4), r);
        size_t left = n - i < 4 ? n - i : 4;
        for (size_t j = 0; j < left; j++) out[i + j] = word_to_unit(r[j]);
    }
}
