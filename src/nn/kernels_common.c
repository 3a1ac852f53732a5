/* Data movement shared by the scalar and SIMD kernel tables. */
#include "nn/kernels.h"

#include <string.h>

size_t ddpm_conv_col_floats(const ddpm_conv_desc *d) {
    if (d->k == 1 && d->stride == 1) return 0;
    return (size_t)d->cin * d->k * d->k * (size_t)d->ho * d->wo;
}

size_t ddpm_conv_scratch_floats(const ddpm_conv_desc *d, int n) {
    const size_t col = ddpm_conv_col_floats(d);
    if (d->k == 3 && d->stride == 1 && d->wino) return ddpm_wino_scratch_floats(d, n); /* no im2col then */
    return col;
}

void ddpm_im2col(const ddpm_conv_desc *d, const float *x, float *col) {
    const int k = d->k, s = d->stride, pad = d->pad_after_only ? 0 : (k - 1) / 2;
    const int h = d->h, w = d->w, ho = d->ho, wo = d->wo;
    for (int ci = 0; ci < d->cin; ci++) {
        const float *xc = x + (size_t)ci * h * w;
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                float *row = col + ((size_t)(ci * k + ky) * k + kx) * ho * wo;
                for (int oy = 0; oy < ho; oy++) {
                    const int iy = oy * s + ky - pad;
                    float *dst = row + (size_t)oy * wo;
                    if (iy < 0 || iy >= h) {
                        memset(dst, 0, sizeof(float) * wo);
                        continue;
                    }
                    const float *src = xc + (size_t)iy * w;
                    if (s == 1) {
                        /* contiguous run with zero edges */
                        int ox0 = pad - kx > 0 ? pad - kx : 0;
                        int ox1 = w + pad - kx < wo ? w + pad - kx : wo;
                        for (int ox = 0; ox < ox0; ox++) dst[ox] = 0.0f;
                        if (ox1 > ox0) memcpy(dst + ox0, src + ox0 + kx - pad, sizeof(float) * (ox1 - ox0));
                        for (int ox = ox1 > ox0 ? ox1 : ox0; ox < wo; ox++) dst[ox] = 0.0f;
                    } else {
                        for (int ox = 0; ox < wo; ox++) {
                            const int ix = ox * s + kx - pad;
                            dst[ox] = (ix >= 0 && ix < w) ? src[ix] : 0.0f;
                        }
                    }
                }
            }
        }
    }
}

void ddpm_upsample_nearest2x(const float *x, float *y, int c, int h, int w) {
    for (int ci = 0; ci < c; ci++) {
        const float *xc = x + (size_t)ci * h * w;
        float *yc = y + (size_t)ci * 4 * h * w;
        for (int iy = 0; iy < h; iy++) {
            float *r0 = yc + (size_t)(2 * iy) * 2 * w;
            for (int ix = 0; ix < w; ix++) r0[2 * ix] = r0[2 * ix + 1] = xc[(size_t)iy * w + ix];
            memcpy(r0 + 2 * w, r0, sizeof(float) * 2 * w);
        }
    }
}

void ddpm_transpose(const float *x, float *y, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) y[(size_t)c * rows + r] = x[(size_t)r * cols + c];
}

void ddpm_transpose_rows(const float *x, float *y, int rows, int cols, int r0, int r1) {
    for (int i = r0; i < r1 && i < cols; i++)
        for (int r = 0; r < rows; r++) y[(size_t)i * rows + r] = x[(size_t)r * cols + i];
}
