/*
 * Winograd F(4x4, 3x3) through the 4-lane vector layer (see kernels.h and winograd.h). Per call:
 *   1. every image is copied into a zero-padded, channel-interleaved buffer P: [cin4 / 4][hp][wp][4], so that one
 *      vector load fetches one pixel of four channels and edge tiles need no bounds checks;
 *   2. the tiles of the whole batch are processed in chunks of at most DDPM_WINO_CHUNK: the input transform
 *      (four channels per vector) fills V: [36][tiles][cin4], 36 GEMMs M[xi] = V[xi] U[xi] (cout in the vector lanes,
 *      4 tiles x 8 couts per register block) fill M: [36][tiles][coutp] (the 36 planes of V and M are
 *      DDPM_WINO_PLANE_PAD floats further apart than their size), and the output transform (four couts per
 *      vector) adds the biases and writes the pixels inside the image, transposed back to [cout, h, w].
 * With desc.pre_* (GroupNorm + SiLU fused in, see kernels.h) step 1 also applies silu(x * scale + shift) per channel
 * (natively on x86, whole channel planes through wider vectors first, wide.h).
 * The scalar twin is ddpm_wino_conv_scalar (winograd.c).
 */
#include "nn/wide.h"
#include "nn/kernels.h"
#include "nn/simd.h"
#include "nn/simd_math.h"
#include "nn/winograd.h"
#include "core/par.h"

#include <string.h>

/* -DDDPM_PROFILE keeps the stages as separate functions for a profiler */
#ifdef DDPM_PROFILE
#define STAGE __attribute__((noinline))
#else
#define STAGE
#endif

#define WIDE_PLANE 1024 /* largest channel plane (h * w) pack_input transforms through wide.h */
#define WIDE_COUT 256   /* most couts output_tile transforms through wide.h */

#define VADD(a, b) vf4_add(a, b)
#define VSUB(a, b) vf4_sub(a, b)
#define VMUL(a, b) vf4_mul(a, b)

/* Plane plane_idx of P for one image: [cin4 / L][hp][wp][L], P[g][1 + y][1 + x][l] = x[L g + l][y][x], zero elsewhere;
 * L = 4, or natively the wide input transform's 8 or 16 when they divide cin4 (same floats, only the interleave
 * differs). With pre
 * (d->pre_* of this image, see kernels.h), the pixels inside the image become silu?(x * scale + shift), four channels
 * a vector. */
STAGE static void pack_input(const ddpm_conv_desc *d, const ddpm_wino_geom *g, int L, const float *x,
                             const float *pre_scale, const float *pre_shift, float *P, int plane_idx) {
    const int h = d->h, w = d->w, hp = g->hp, wp = g->wp, q4 = L / 4;
    const size_t hw = (size_t)h * w, row = (size_t)wp * L;
    const vf4 zero = vf4_splat(0.0f);
    float planebuf[4][WIDE_PLANE];
    for (int grp = plane_idx * q4; grp < (plane_idx + 1) * q4; grp++) {
        const float *xc[4];
        float sc[4] = {0.0f, 0.0f, 0.0f, 0.0f}, sh[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int l = 0; l < 4; l++) {
            xc[l] = 4 * grp + l < d->cin ? x + (size_t)(4 * grp + l) * hw : NULL;
            if (pre_scale && xc[l]) sc[l] = pre_scale[4 * grp + l], sh[l] = pre_shift[4 * grp + l];
        }
        const vf4 sc4 = vf4_load(sc), sh4 = vf4_load(sh);
        const float *src[4] = {xc[0], xc[1], xc[2], xc[3]};
        int pre = pre_scale != NULL;
        if (pre && hw <= WIDE_PLANE) {
            /* native x86: the affine + SiLU of whole channel planes through wider vectors, same bits (wide.h) */
            int done = 1;
            for (int l = 0; l < 4 && done; l++)
                if (xc[l]) {
                    done = ddpm_wide_affine_silu(xc[l], planebuf[l], (int)hw, sc[l], sh[l], d->pre_silu);
                    src[l] = planebuf[l];
                }
            if (done)
                pre = 0;
            else
                for (int l = 0; l < 4; l++) src[l] = xc[l];
        }
        float *plane = P + (size_t)(grp / q4) * hp * row, *pg = plane + 4 * (grp % q4);
        if (grp % q4 == 0) {
            memset(plane, 0, sizeof(float) * row);
            memset(plane + (size_t)(h + 1) * row, 0, sizeof(float) * row * (hp - h - 1));
        }
        for (int yy = 0; yy < h; yy++) {
            float *pr = pg + (size_t)(yy + 1) * row;
            vf4_store(pr, zero);
            for (int xx = w + 1; xx < wp; xx++) vf4_store(pr + (size_t)L * xx, zero);
            const size_t off = (size_t)yy * w;
            int xx = 0;
            for (; xx + 4 <= w; xx += 4) {
                vf4 r[4];
                for (int l = 0; l < 4; l++) r[l] = src[l] ? vf4_load(src[l] + off + xx) : zero;
                vf4_transpose4(&r[0], &r[1], &r[2], &r[3]);
                if (pre) {
                    for (int j = 0; j < 4; j++) {
                        r[j] = vf4_add(vf4_mul(r[j], sc4), sh4);
                        if (d->pre_silu) r[j] = vf4_silu(r[j]);
                    }
                }
                float *q = pr + (size_t)L * (xx + 1);
                for (int j = 0; j < 4; j++) vf4_store(q + (size_t)L * j, r[j]);
            }
            for (; xx < w; xx++) {
                float v[4];
                for (int l = 0; l < 4; l++) v[l] = src[l] ? src[l][off + xx] : 0.0f;
                vf4 q = vf4_load(v);
                if (pre) {
                    q = vf4_add(vf4_mul(q, sc4), sh4);
                    if (d->pre_silu) q = vf4_silu(q);
                }
                vf4_store(pr + (size_t)L * (xx + 1), q);
            }
        }
    }
}

/* V rows of one tile: v[xi * vs + 4 grp + l] = (B^T d B)[xi] of channel 4 grp + l. */
STAGE static void input_tile(const float *P, const ddpm_wino_geom *g, int ty, int tx, float *v, size_t vs) {
    const vf4 c2 = vf4_splat(2.0f), c4 = vf4_splat(4.0f), c5 = vf4_splat(5.0f);
    const size_t row = (size_t)g->wp * 4, plane = (size_t)g->hp * row;
    for (int grp = 0; grp < g->cin4 / 4; grp++) {
        const float *p = P + grp * plane + (size_t)(4 * ty) * row + (size_t)(4 * tx) * 4;
        vf4 t[6][6];
        for (int j = 0; j < 6; j++) {
            vf4 col[6], o[6];
            for (int i = 0; i < 6; i++) col[i] = vf4_load(p + i * row + 4 * j);
            DDPM_WINO_BT(vf4, VADD, VSUB, VMUL, c2, c4, c5, col, o);
            for (int i = 0; i < 6; i++) t[i][j] = o[i];
        }
        for (int i = 0; i < 6; i++) {
            vf4 o[6];
            DDPM_WINO_BT(vf4, VADD, VSUB, VMUL, c2, c4, c5, t[i], o);
            for (int j = 0; j < 6; j++) vf4_store(v + (size_t)(i * 6 + j) * vs + 4 * grp, o[j]);
        }
    }
}

/* C[rows, N] = A[rows, K] B[K, N] (row strides lda, ld, ld) for rows a multiple of 4 and N a multiple of 8; k
 * ascending from 0 per element, so any split of the columns gives the same bits. */
STAGE static void wino_gemm(int rows, int K, int N, const float *A, int lda, const float *B, float *C, int ld) {
    if (ddpm_wide_gemm(rows, N, K, A, lda, B, ld, C, ld, NULL) == N) return; /* native x86, same bits (wide.h) */
    for (int t = 0; t < rows; t += 4) {
        const float *a0 = A + (size_t)t * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        float *c = C + (size_t)t * ld;
        static const float zero[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (int n = 0; n < N; n += 8) vf4_tile_4x8(K, a0, a1, a2, a3, B + n, (size_t)ld, zero, c + n, (size_t)ld);
    }
}

static vf4 load_part(const float *p, int k) {
    if (k >= 4) return vf4_load(p);
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int i = 0; i < k; i++) t[i] = p[i];
    return vf4_load(t);
}

/* One tile's outputs from its M rows (m[xi * ms + co]): y = (A^T M A + bias) + bias2, the pixels inside the image. */
STAGE static void output_tile(const ddpm_conv_desc *d, const float *m, size_t ms, int coutp, int img, int ty, int tx,
                               float *y) {
    const vf4 c2 = vf4_splat(2.0f), c4 = vf4_splat(4.0f), c8 = vf4_splat(8.0f);
    const int cout = d->cout, h = d->ho, w = d->wo, ox = 4 * tx;
    const int nx = w - ox < 4 ? w - ox : 4;
    /* native x86: the transform and biases for all couts through wider vectors, same bits (wide.h) */
    float ow[16 * WIDE_COUT];
    const int wide = coutp <= WIDE_COUT && ddpm_wide_wino_output(m, ms, coutp, cout, d->bias,
                                                                 d->bias2 ? d->bias2 + (size_t)img * cout : NULL, ow);
    for (int co = 0; co < cout; co += 4) {
        const int nc = cout - co < 4 ? cout - co : 4;
        vf4 t[4][6], o[4][4];
        if (wide) {
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) o[i][j] = vf4_load(ow + (size_t)(i * 4 + j) * coutp + co);
        } else {
            for (int j = 0; j < 6; j++) {
                vf4 col[6], r[4];
                for (int i = 0; i < 6; i++) col[i] = vf4_load(m + (size_t)(i * 6 + j) * ms + co);
                DDPM_WINO_AT(vf4, VADD, VSUB, VMUL, c2, c4, c8, col, r);
                for (int i = 0; i < 4; i++) t[i][j] = r[i];
            }
            for (int i = 0; i < 4; i++) DDPM_WINO_AT(vf4, VADD, VSUB, VMUL, c2, c4, c8, t[i], o[i]);
            if (d->bias) {
                const vf4 b = load_part(d->bias + co, nc);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) o[i][j] = vf4_add(o[i][j], b);
            }
            if (d->bias2) {
                const vf4 b = load_part(d->bias2 + (size_t)img * cout + co, nc);
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) o[i][j] = vf4_add(o[i][j], b);
            }
        }
        float *yc = y + ((size_t)img * cout + co) * h * w;
        for (int i = 0; i < 4 && 4 * ty + i < h; i++) {
            vf4_transpose4(&o[i][0], &o[i][1], &o[i][2], &o[i][3]); /* o[i][l]: the 4 pixels of channel co + l */
            float *dst = yc + (size_t)(4 * ty + i) * w + ox;
            for (int l = 0; l < nc; l++, dst += (size_t)h * w) {
                if (nx == 4) {
                    vf4_store(dst, o[i][l]);
                } else {
                    float tmp[4];
                    vf4_store(tmp, o[i][l]);
                    for (int j = 0; j < nx; j++) dst[j] = tmp[j];
                }
            }
        }
    }
}

/* One call's state, shared by the tasks of its parallel stages (core/par.h): every task writes its own part of P,
 * V, M or y, computed by the same operations whatever the partition, so any thread count gives the same bits. */
typedef struct wino_job {
    const ddpm_conv_desc *d;
    ddpm_wino_geom g;
    int L, planes;    /* P's interleave; planes per image: cin4 / L */
    const float *x;
    float *y, *P, *VM; /* VM: a V and an M chunk per thread */
    size_t psz, in_sz;
    int T, per, col_blocks; /* tiles of the batch, tiles per chunk, GEMM tasks per plane */
} wino_job;

/* One chunk: tiles t0 .. t0 + tc - 1 of the batch (tcp: tc padded to the GEMM's MR), in its V and M buffers. */
typedef struct wino_chunk {
    int t0, tc, tcp;
    size_t vs, ms;
    float *V, *M;
} wino_chunk;

typedef struct chunk_job {
    const wino_job *j;
    const wino_chunk *c;
} chunk_job;

#define GEMM_COLS 64 /* columns of M per GEMM task */

static void chunk_at(const wino_job *j, int t0, int part, wino_chunk *c) {
    const ddpm_wino_geom *g = &j->g;
    c->t0 = t0;
    c->tc = j->T - t0 < j->per ? j->T - t0 : j->per;
    c->tcp = (c->tc + DDPM_WINO_MR - 1) / DDPM_WINO_MR * DDPM_WINO_MR;
    c->vs = (size_t)c->tcp * g->cin4 + DDPM_WINO_PLANE_PAD;
    c->ms = (size_t)c->tcp * g->coutp + DDPM_WINO_PLANE_PAD;
    c->V = j->VM + (size_t)part * ddpm_wino_chunk_floats(g);
    c->M = c->V + 36 * ((size_t)DDPM_WINO_CHUNK * g->cin4 + DDPM_WINO_PLANE_PAD);
}

static void pack_task(void *arg, int lo, int hi, int part) { /* task: one plane of one image */
    const wino_job *j = arg;
    const ddpm_conv_desc *d = j->d;
    for (int task = lo; task < hi; task++) {
        const int i = task / j->planes;
        const float *ps = d->pre_scale ? d->pre_scale + (size_t)i * d->cin : NULL;
        const float *pt = d->pre_scale ? d->pre_shift + (size_t)i * d->cin : NULL;
        pack_input(d, &j->g, j->L, j->x + i * j->in_sz, ps, pt, j->P + i * j->psz, task % j->planes);
    }
}

static void input_task(void *arg, int lo, int hi, int part) { /* task: one tile of the chunk */
    const wino_job *j = ((const chunk_job *)arg)->j;
    const wino_chunk *c = ((const chunk_job *)arg)->c;
    const ddpm_wino_geom *g = &j->g;
    for (int t = lo; t < hi; t++) {
        const int img = (c->t0 + t) / g->tiles, r = (c->t0 + t) % g->tiles;
        if (j->L == 4)
            input_tile(j->P + img * j->psz, g, r / g->tiles_x, r % g->tiles_x, c->V + (size_t)t * g->cin4, c->vs);
        else
            ddpm_wide_wino_input(j->L, j->P + img * j->psz, g->cin4, g->hp, g->wp, r / g->tiles_x, r % g->tiles_x,
                                 c->V + (size_t)t * g->cin4, c->vs);
    }
}

static void gemm_task(void *arg, int lo, int hi, int part) { /* task: GEMM_COLS columns of one of the 36 planes */
    const wino_job *j = ((const chunk_job *)arg)->j;
    const wino_chunk *c = ((const chunk_job *)arg)->c;
    const ddpm_wino_geom *g = &j->g;
    for (int task = lo; task < hi; task++) {
        const int xi = task / j->col_blocks, c0 = task % j->col_blocks * GEMM_COLS;
        const int nc = g->coutp - c0 < GEMM_COLS ? g->coutp - c0 : GEMM_COLS;
        wino_gemm(c->tcp, j->d->cin, nc, c->V + xi * c->vs, g->cin4,
                  j->d->wino + (size_t)xi * j->d->cin * g->coutp + c0, c->M + xi * c->ms + c0, g->coutp);
    }
}

static void output_task(void *arg, int lo, int hi, int part) { /* task: one tile of the chunk */
    const wino_job *j = ((const chunk_job *)arg)->j;
    const wino_chunk *c = ((const chunk_job *)arg)->c;
    const ddpm_wino_geom *g = &j->g;
    for (int t = lo; t < hi; t++) {
        const int img = (c->t0 + t) / g->tiles, r = (c->t0 + t) % g->tiles;
        output_tile(j->d, c->M + (size_t)t * g->coutp, c->ms, g->coutp, img, r / g->tiles_x, r % g->tiles_x, j->y);
    }
}

/* A chunk's stages in turn, each split across par where its work pays for the split. */
static void run_chunk(const wino_job *j, const wino_chunk *c, ddpm_par *par) {
    const ddpm_wino_geom *g = &j->g;
    const chunk_job cj = {j, c};
    ddpm__par_for(ddpm__par_if(par, 36.0 * 12 * c->tc * g->cin4), c->tc, input_task, (void *)&cj);
    for (int xi = 0; xi < 36 && c->tc < c->tcp; xi++)
        memset(c->V + xi * c->vs + (size_t)c->tc * g->cin4, 0, sizeof(float) * (size_t)(c->tcp - c->tc) * g->cin4);
    ddpm__par_for(ddpm__par_if(par, 36.0 * 2 * c->tcp * g->cin4 * g->coutp), 36 * j->col_blocks, gemm_task,
                  (void *)&cj);
    ddpm__par_for(ddpm__par_if(par, 36.0 * 8 * c->tc * g->coutp), c->tc, output_task, (void *)&cj);
}

static void chunks_task(void *arg, int lo, int hi, int part) { /* task: one whole chunk, in this part's buffers */
    const wino_job *j = arg;
    for (int k = lo; k < hi; k++) {
        wino_chunk c;
        chunk_at(j, k * j->per, part, &c);
        run_chunk(j, &c, NULL);
    }
}

void ddpm_wino_conv_simd(const ddpm_conv_desc *d, int n, const float *x, float *y, float *scratch) {
    wino_job j = {.d = d, .x = x, .y = y};
    ddpm_wino_geometry(d, &j.g);
    const ddpm_wino_geom *g = &j.g;
    /* channels interleaved in P: 4, or natively 8 / 16 for the wide input transform (wide.h, same bits) */
    j.L = ddpm_wide_wino_lanes();
    if (j.L == 0 || g->cin4 % j.L != 0) j.L = 4;
    j.planes = g->cin4 / j.L;
    j.psz = (size_t)g->cin4 * g->hp * g->wp;
    j.in_sz = (size_t)d->cin * d->h * d->w;
    j.P = scratch;
    j.VM = j.P + (size_t)n * j.psz;
    /* threads for each stage only where its work pays for the split (the same bits either way) */
    ddpm__par_for(ddpm__par_if(d->par, 4.0 * n * g->cin4 * g->hp * g->wp), n * j.planes, pack_task, &j);
    /* the chunks depend on the batch's tile count only, never on the thread count */
    j.T = n * g->tiles;
    const int nch = (j.T + DDPM_WINO_CHUNK - 1) / DDPM_WINO_CHUNK;
    j.per = ((j.T + nch - 1) / nch + DDPM_WINO_MR - 1) / DDPM_WINO_MR * DDPM_WINO_MR;
    j.col_blocks = (g->coutp + GEMM_COLS - 1) / GEMM_COLS;
    const int chunks = (j.T + j.per - 1) / j.per, threads = ddpm__par_threads(d->par);
    if (threads > 1 && chunks >= threads) { /* whole chunks per thread, each in its own V and M */
        ddpm__par_for(d->par, chunks, chunks_task, &j);
        return;
    }
    for (int k = 0; k < chunks; k++) { /* one chunk at a time, its stages split */
        wino_chunk c;
        chunk_at(&j, k * j.per, 0, &c);
        run_chunk(&j, &c, d->par);
    }
}
