/*
 * Winograd F(4x4, 3x3): the 1-D transforms shared by the SIMD kernel (winograd_simd.c, T = vf4, four channels per
 * vector) and its scalar twin (winograd.c, T = float), written once so that both perform the same IEEE operations in
 * the same order. ADD, SUB, MUL are function-like macros over T; the constants c2, c4, c5, c8 are T values 2, 4, 5, 8.
 *
 *   B^T = [4  0 -5  0 1 0]    A^T = [1 1  1 1  1 0]    G = [ 1/4     0    0]
 *         [0 -4 -4  1 1 0]          [0 1 -1 2 -2 0]        [-1/6 -1/6 -1/6]
 *         [0  4 -4 -1 1 0]          [0 1  1 4  4 0]        [-1/6  1/6 -1/6]
 *         [0 -2 -1  2 1 0]          [0 1 -1 8 -8 1]        [1/24 1/12  1/6]
 *         [0  2 -1 -2 1 0]                                 [1/24 -1/12 1/6]
 *         [0  4  0 -5 0 1]                                 [   0     0    1]
 */
#ifndef DDPM_WINOGRAD_H
#define DDPM_WINOGRAD_H

#include <stddef.h>

#define DDPM_WINO_M 4  /* output tile side */
#define DDPM_WINO_A 6  /* input tile side: m + r - 1 */
#define DDPM_WINO_NB 8 /* U's cout dimension is padded to a multiple of this (the GEMM's vector width) */
#define DDPM_WINO_MR 4 /* the GEMM's tile rows per register block: chunks are padded to a multiple of this */
#ifndef DDPM_WINO_CHUNK
#define DDPM_WINO_CHUNK 32 /* tiles transformed, multiplied and inverse-transformed together (a multiple of MR) */
#endif
/* Floats added to the stride between the 36 planes of the V and M chunks, so that the stride is never a multiple of
 * 4 KiB: the input and output transforms touch all 36 planes per tile, and power-of-two strides would put those 36
 * cache lines in the same L1 set (measured: the batch-8 forward was slower per image than batch 1 before this). */
#define DDPM_WINO_PLANE_PAD 16

/* o[0..5] = B^T d[0..5] */
#define DDPM_WINO_BT(T, ADD, SUB, MUL, c2, c4, c5, d, o)                                                              \
    do {                                                                                                              \
        const T a_ = SUB((d)[4], MUL(c4, (d)[2])), b_ = SUB((d)[3], MUL(c4, (d)[1]));                                  \
        const T e_ = SUB((d)[4], (d)[2]), f_ = MUL(c2, SUB((d)[3], (d)[1]));                                          \
        (o)[0] = ADD(SUB(MUL(c4, (d)[0]), MUL(c5, (d)[2])), (d)[4]);                                                  \
        (o)[1] = ADD(a_, b_);                                                                                         \
        (o)[2] = SUB(a_, b_);                                                                                         \
        (o)[3] = ADD(e_, f_);                                                                                         \
        (o)[4] = SUB(e_, f_);                                                                                         \
        (o)[5] = ADD(SUB(MUL(c4, (d)[1]), MUL(c5, (d)[3])), (d)[5]);                                                  \
    } while (0)

/* o[0..3] = A^T m[0..5] */
#define DDPM_WINO_AT(T, ADD, SUB, MUL, c2, c4, c8, m, o)                                                              \
    do {                                                                                                              \
        const T s1_ = ADD((m)[1], (m)[2]), d1_ = SUB((m)[1], (m)[2]);                                                 \
        const T s2_ = ADD((m)[3], (m)[4]), d2_ = SUB((m)[3], (m)[4]);                                                 \
        (o)[0] = ADD(ADD((m)[0], s1_), s2_);                                                                          \
        (o)[1] = ADD(d1_, MUL(c2, d2_));                                                                              \
        (o)[2] = ADD(s1_, MUL(c4, s2_));                                                                              \
        (o)[3] = ADD(ADD(d1_, MUL(c8, d2_)), (m)[5]);                                                                 \
    } while (0)

/* Tile geometry of one conv. */
typedef struct ddpm_wino_geom {
    int tiles_y, tiles_x, tiles; /* per image */
    int hp, wp;                  /* the zero-padded input the tiles read: 4 tiles_y + 2, 4 tiles_x + 2 */
    int cin4, coutp;             /* cin rounded up to 4, cout rounded up to DDPM_WINO_NB */
} ddpm_wino_geom;

static inline void ddpm_wino_geometry(const ddpm_conv_desc *d, ddpm_wino_geom *g) {
    g->tiles_y = (d->ho + DDPM_WINO_M - 1) / DDPM_WINO_M;
    g->tiles_x = (d->wo + DDPM_WINO_M - 1) / DDPM_WINO_M;
    g->tiles = g->tiles_y * g->tiles_x;
    g->hp = DDPM_WINO_M * g->tiles_y + 2;
    g->wp = DDPM_WINO_M * g->tiles_x + 2;
    g->cin4 = (d->cin + 3) & ~3;
    g->coutp = (d->cout + DDPM_WINO_NB - 1) / DDPM_WINO_NB * DDPM_WINO_NB;
}

/* Floats of one V chunk and one M chunk (each of the 36 planes DDPM_WINO_PLANE_PAD floats further apart). */
static inline size_t ddpm_wino_chunk_floats(const ddpm_wino_geom *g) {
    return 36 * ((size_t)DDPM_WINO_CHUNK * (g->cin4 + g->coutp) + 2 * DDPM_WINO_PLANE_PAD);
}

#endif
