/*
 * Winograd F(4x4, 3x3), the parts shared by both kernel tables: the weight transform (once, at load, in float64),
 * the SIMD kernel's scratch size, and the scalar twin of the SIMD kernel (plain loops, one channel at a time, the
 * same operations in the same order as winograd_simd.c performs four channels at a time).
 */
#include "nn/kernels.h"
#include "nn/winograd.h"
#include "core/par.h"

#include <stdlib.h>
#include <string.h>

size_t ddpm_wino_weight_floats(int cin, int cout) {
    const size_t coutp = (size_t)(cout + DDPM_WINO_NB - 1) / DDPM_WINO_NB * DDPM_WINO_NB;
    return 36 * (size_t)cin * coutp;
}

/* u: [36][cin][coutp], u[xi = 6 i + j][ci][co] = (G g G^T)[i][j] for g = weight[co, ci] (zeros for co >= cout) */
void ddpm_wino_transform_weights(int cin, int cout, const float *weight, float *u) {
    static const double G[6][3] = {{1.0 / 4, 0, 0},
                                   {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                   {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                   {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                   {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                   {0, 0, 1}};
    const size_t coutp = (size_t)(cout + DDPM_WINO_NB - 1) / DDPM_WINO_NB * DDPM_WINO_NB;
    memset(u, 0, sizeof(float) * ddpm_wino_weight_floats(cin, cout));
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci++) {
            const float *g = weight + ((size_t)co * cin + ci) * 9;
            double t[6][3];
            for (int i = 0; i < 6; i++)
                for (int c = 0; c < 3; c++)
                    t[i][c] = G[i][0] * g[0 * 3 + c] + G[i][1] * g[1 * 3 + c] + G[i][2] * g[2 * 3 + c];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) {
                    const double v = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
                    u[((size_t)(i * 6 + j) * cin + ci) * coutp + co] = (float)v;
                }
        }
}

size_t ddpm_wino_scratch_floats(const ddpm_conv_desc *d, int n) {
    ddpm_wino_geom g;
    ddpm_wino_geometry(d, &g);
    /* the zero-padded, channel-interleaved input of every image | a V chunk and an M chunk per thread */
    return (size_t)n * g.cin4 * g.hp * g.wp + (size_t)ddpm__par_threads(d->par) * ddpm_wino_chunk_floats(&g) + 16;
}

#define SADD(a, b) ((a) + (b))
#define SSUB(a, b) ((a) - (b))
#define SMUL(a, b) ((a) * (b))

void ddpm_wino_conv_scalar(const ddpm_conv_desc *d, int n, const float *x, float *y) {
    ddpm_wino_geom g;
    ddpm_wino_geometry(d, &g);
    const int cin = d->cin, cout = d->cout, h = d->h, w = d->w;
    const float c2 = 2.0f, c4 = 4.0f, c5 = 5.0f, c8 = 8.0f;
    float *V = ddpm__malloc(sizeof(float) * 36 * (size_t)cin);
    if (!V) return;
    for (int img = 0; img < n; img++) {
        const float *xi = x + (size_t)img * cin * h * w;
        float *yi = y + (size_t)img * cout * h * w;
        for (int ty = 0; ty < g.tiles_y; ty++)
            for (int tx = 0; tx < g.tiles_x; tx++) {
                /* V[xi][ci] = (B^T d B)[i][j]: columns first, then rows */
                for (int ci = 0; ci < cin; ci++) {
                    float t[6][6];
                    const float *ps = d->pre_scale ? d->pre_scale + (size_t)img * cin + ci : NULL;
                    const float *pt = d->pre_scale ? d->pre_shift + (size_t)img * cin + ci : NULL;
                    for (int j = 0; j < 6; j++) {
                        float col[6], o[6];
                        for (int i = 0; i < 6; i++) {
                            const int iy = 4 * ty + i - 1, ix = 4 * tx + j - 1;
                            col[i] = (iy >= 0 && iy < h && ix >= 0 && ix < w) ? xi[((size_t)ci * h + iy) * w + ix]
                                                                               : 0.0f;
                            if (ps && iy >= 0 && iy < h && ix >= 0 && ix < w) { /* fused GroupNorm affine (+ SiLU) */
                                col[i] = col[i] * *ps + *pt;
                                if (d->pre_silu) col[i] = col[i] / (1.0f + ddpm_expf_scalar(-col[i]));
                            }
                        }
                        DDPM_WINO_BT(float, SADD, SSUB, SMUL, c2, c4, c5, col, o);
                        for (int i = 0; i < 6; i++) t[i][j] = o[i];
                    }
                    for (int i = 0; i < 6; i++) {
                        float o[6];
                        DDPM_WINO_BT(float, SADD, SSUB, SMUL, c2, c4, c5, t[i], o);
                        for (int j = 0; j < 6; j++) V[(size_t)(i * 6 + j) * cin + ci] = o[j];
                    }
                }
                for (int co = 0; co < cout; co++) {
                    float m[36], t[4][6], o[4][4];
                    for (int xi6 = 0; xi6 < 36; xi6++) {
                        const float *u = d->wino + (size_t)xi6 * cin * g.coutp + co;
                        const float *v = V + (size_t)xi6 * cin;
                        float acc = 0.0f;
                        for (int ci = 0; ci < cin; ci++) acc += v[ci] * u[(size_t)ci * g.coutp];
                        m[xi6] = acc;
                    }
                    for (int j = 0; j < 6; j++) {
                        float col[6], r[4];
                        for (int i = 0; i < 6; i++) col[i] = m[i * 6 + j];
                        DDPM_WINO_AT(float, SADD, SSUB, SMUL, c2, c4, c8, col, r);
                        for (int i = 0; i < 4; i++) t[i][j] = r[i];
                    }
                    for (int i = 0; i < 4; i++) DDPM_WINO_AT(float, SADD, SSUB, SMUL, c2, c4, c8, t[i], o[i]);
                    for (int i = 0; i < 4; i++)
                        for (int j = 0; j < 4; j++) {
                            const int oy = 4 * ty + i, ox = 4 * tx + j;
                            if (oy >= h || ox >= w) continue;
                            float v = o[i][j];
                            if (d->bias) v = v + d->bias[co];
                            if (d->bias2) v = v + d->bias2[(size_t)img * cout + co];
                            yi[((size_t)co * h + oy) * w + ox] = v;
                        }
                }
            }
    }
    free(V);
}
