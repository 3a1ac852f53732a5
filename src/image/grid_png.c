/*
 * The grid PNG in memory (see grid_png.h): the layout, the 8-bit pixels, the upscaling and stb_image_write's PNG
 * encoder. stb_image_write's implementation lives in this file only, without its file functions
 * (STBI_WRITE_NO_STDIO): callers get the bytes and write them where they like.
 */
#include "image/grid_png.h"

#include "ddpm.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "image/stb_begin.h" /* the warnings stb would raise */
#define STBI_WRITE_NO_STDIO
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#define PAD DDPM_GRID_PAD

/* smallest c with c * c >= n */
static int ceil_sqrt_int(int n) {
    int c = 1;
    while ((long long)c * c < n) c++;
    return c;
}

static int fail(int status, const char *msg, const char **why) {
    *why = msg;
    return status;
}

int ddpm__grid_png(const float *x, int n, int c, int s, int scale, unsigned char **png, size_t *len,
                   const char **why) {
    static const char *no_mem = "out of memory";
    *png = NULL;
    *len = 0;
    if (!x || n < 1 || c < 1 || s < 1) return fail(DDPM_ERR_INVALID_ARGUMENT, "no images to write", why);
    const size_t cols = (size_t)ceil_sqrt_int(n);
    const size_t rows = ((size_t)n + cols - 1) / cols;
    const int out_c = c == 3 ? 3 : 1;           /* PNG channels */
    const size_t tiles_across = c == 3 ? 1 : c; /* channels side by side when not RGB (1 for grey) */
    const size_t tile_w = (size_t)s * tiles_across + PAD * (tiles_across - 1), tile_h = (size_t)s;
    const size_t W = cols * (tile_w + PAD) + PAD, H = rows * (tile_h + PAD) + PAD;
    if (scale < 1) scale = 1;
    if (W > 65535 || H > 65535 || W * (size_t)scale > 65535 || H * (size_t)scale > 65535)
        return fail(DDPM_ERR_TOO_LARGE, "the grid would be larger than 65535 pixels on a side", why);
    const size_t SW = W * (size_t)scale, SH = H * (size_t)scale;
    if ((SW * out_c + 1) * SH > INT_MAX) /* stb_image_write indexes the filtered rows with int */
        return fail(DDPM_ERR_TOO_LARGE, "the grid would be larger than 2 GiB of pixels", why);

    unsigned char *img = calloc(W * H * out_c, 1); /* [H, W, out_c], black padding */
    if (!img) return fail(DDPM_ERR_OUT_OF_MEMORY, no_mem, why);
    const size_t plane = (size_t)s * s, D = plane * (size_t)c;
    for (size_t k = 0; k < (size_t)n; k++) {
        const size_t ox = (k % cols) * (tile_w + PAD) + PAD, oy = (k / cols) * (tile_h + PAD) + PAD;
        const float *xk = x + k * D; /* [c, s, s] */
        for (size_t y = 0; y < (size_t)s; y++)
            for (size_t xx = 0; xx < (size_t)s; xx++) {
                if (out_c == 3) {
                    unsigned char *p = img + ((oy + y) * W + ox + xx) * 3;
                    for (int ch = 0; ch < 3; ch++) p[ch] = ddpm_to_u8(xk[ch * plane + y * s + xx]);
                } else {
                    for (int ch = 0; ch < c; ch++)
                        img[(oy + y) * W + ox + (size_t)ch * (s + PAD) + xx] = ddpm_to_u8(xk[ch * plane + y * s + xx]);
                }
            }
    }
    unsigned char *final = img; /* [SH, SW, out_c] */
    if (scale > 1) {
        final = malloc(SW * SH * out_c);
        if (!final) {
            free(img);
            return fail(DDPM_ERR_OUT_OF_MEMORY, no_mem, why);
        }
        for (size_t y = 0; y < SH; y++)
            for (size_t xx = 0; xx < SW; xx++)
                memcpy(final + (y * SW + xx) * out_c, img + ((y / scale) * W + xx / scale) * out_c, (size_t)out_c);
    }
    int out_len = 0;
    unsigned char *buf = stbi_write_png_to_mem(final, (int)(SW * out_c), (int)SW, (int)SH, out_c, &out_len);
    if (final != img) free(final);
    free(img);
    if (!buf) return fail(DDPM_ERR_OUT_OF_MEMORY, no_mem, why);
    *png = buf; /* STBIW_MALLOC is malloc */
    *len = (size_t)out_len;
    return DDPM_OK;
}
