/*
 * Image and raw-tensor files for the CLI: the grid PNG (stb_image_write), the start image of image-to-image
 * (stb_image, PNG only) and little-endian float32 files. The stb implementations live in this file only.
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_NO_SIMD
#define STBI_FAILURE_USERMSG
#include "stb_image.h"
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#define PAD 2

/* smallest c with c * c >= n */
static int ceil_sqrt_int(int n) {
    int c = 1;
    while (c * c < n) c++;
    return c;
}

int cli_write_grid_png(const char *path, const float *x, int n, int c, int s, int scale, const char **why) {
    const int cols = ceil_sqrt_int(n);
    const int rows = (n + cols - 1) / cols;
    const int out_c = c == 3 ? 3 : 1;         /* PNG channels */
    const int tiles_across = c == 3 ? 1 : c;  /* channels side by side when not RGB (1 for grey) */
    const int tile_w = s * tiles_across + PAD * (tiles_across - 1), tile_h = s;
    const size_t W = (size_t)cols * (tile_w + PAD) + PAD, H = (size_t)rows * (tile_h + PAD) + PAD;
    if (scale < 1) scale = 1;
    const size_t SW = W * (size_t)scale, SH = H * (size_t)scale;
    if (SW > 65535 || SH > 65535) {
        *why = "the grid would be larger than 65535 pixels on a side";
        return 0;
    }
    unsigned char *img = calloc(W * H * out_c, 1); /* black padding */
    if (!img) {
        *why = "out of memory";
        return 0;
    }
    const size_t plane = (size_t)s * s, D = plane * (size_t)c;
    for (int k = 0; k < n; k++) {
        const size_t ox = (size_t)(k % cols) * (tile_w + PAD) + PAD, oy = (size_t)(k / cols) * (tile_h + PAD) + PAD;
        const float *xk = x + (size_t)k * D;
        for (int y = 0; y < s; y++)
            for (int xx = 0; xx < s; xx++) {
                if (out_c == 3) {
                    unsigned char *p = img + ((oy + y) * W + ox + xx) * 3;
                    for (int ch = 0; ch < 3; ch++) p[ch] = ddpm_to_u8(xk[ch * plane + (size_t)y * s + xx]);
                } else {
                    for (int ch = 0; ch < c; ch++)
                        img[(oy + y) * W + ox + (size_t)ch * (s + PAD) + xx] =
                            ddpm_to_u8(xk[ch * plane + (size_t)y * s + xx]);
                }
            }
    }
    unsigned char *final = img;
    if (scale > 1) {
        final = malloc(SW * SH * out_c);
        if (!final) {
            free(img);
            *why = "out of memory";
            return 0;
        }
        for (size_t y = 0; y < SH; y++)
            for (size_t xx = 0; xx < SW; xx++)
                memcpy(final + (y * SW + xx) * out_c, img + ((y / scale) * W + xx / scale) * out_c, (size_t)out_c);
    }
    errno = 0;
    int ok = stbi_write_png(path, (int)SW, (int)SH, out_c, final, (int)(SW * out_c));
    if (final != img) free(final);
    free(img);
    if (!ok) *why = errno ? strerror(errno) : "stb_image_write failed";
    return ok != 0;
}

int cli_load_image(const char *path, int c, int s, float *out, char *msg, size_t msg_size) {
    if (c != 1 && c != 3) {
        snprintf(msg, msg_size, "a start image needs a model with 1 or 3 channels (this one has %d)", c);
        return 0;
    }
    int w, h, comp;
    unsigned char *px = stbi_load(path, &w, &h, &comp, c);
    if (!px) {
        snprintf(msg, msg_size, "cannot read %s as a PNG: %s", path, stbi_failure_reason());
        return 0;
    }
    if (w != s || h != s) {
        snprintf(msg, msg_size, "%s is %d x %d pixels; the model needs %d x %d (resize it first)", path, w, h, s, s);
        stbi_image_free(px);
        return 0;
    }
    const size_t plane = (size_t)s * s;
    for (size_t i = 0; i < plane; i++)
        for (int ch = 0; ch < c; ch++) out[(size_t)ch * plane + i] = (float)px[i * c + ch] / 127.5f - 1.0f;
    stbi_image_free(px);
    return 1;
}

/* ---- raw float32, little-endian ---- */

static int host_is_little_endian(void) {
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void swap4(unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++, p += 4) {
        unsigned char t = p[0];
        p[0] = p[3];
        p[3] = t;
        t = p[1];
        p[1] = p[2];
        p[2] = t;
    }
}

int cli_write_f32(const char *path, const float *x, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = 1;
    if (host_is_little_endian()) {
        ok = fwrite(x, sizeof(float), n, f) == n;
    } else {
        float buf[1024];
        for (size_t i = 0; ok && i < n; i += 1024) {
            size_t m = n - i < 1024 ? n - i : 1024;
            memcpy(buf, x + i, m * sizeof(float));
            swap4((unsigned char *)buf, m);
            ok = fwrite(buf, sizeof(float), m, f) == m;
        }
    }
    if (fclose(f) != 0) ok = 0;
    return ok;
}

float *cli_read_f32(const char *path, size_t *n, char *msg, size_t msg_size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(msg, msg_size, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(msg, msg_size, "cannot determine the size of %s", path);
        fclose(f);
        return NULL;
    }
    if (size % 4 != 0) {
        snprintf(msg, msg_size, "%s has %ld bytes, not a whole number of float32 values", path, size);
        fclose(f);
        return NULL;
    }
    *n = (size_t)size / 4;
    float *x = malloc(size ? (size_t)size : 1);
    if (!x) {
        snprintf(msg, msg_size, "out of memory reading %s", path);
        fclose(f);
        return NULL;
    }
    if (fread(x, 4, *n, f) != *n) {
        snprintf(msg, msg_size, "cannot read %s", path);
        free(x);
        fclose(f);
        return NULL;
    }
    fclose(f);
    if (!host_is_little_endian()) swap4((unsigned char *)x, *n);
    return x;
}
