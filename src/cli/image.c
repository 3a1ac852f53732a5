/*
 * Image and raw-tensor files for the CLI: the grid PNG (encoded by src/image/grid_png.c with stb_image_write),
 * the start image of image-to-image (stb_image, PNG only) and little-endian float32 files. stb_image's
 * implementation lives in this file only.
 */
#include "cli/cli.h"
#include "image/grid_png.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/stb_begin.h" /* the warnings stb would raise */
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

/* The grid and its PNG bytes come from src/image/grid_png.c (shared with the wasm module); this writes them out. */
int cli_write_grid_png(const char *path, const float *x, int n, int c, int s, int scale, const char **why) {
    unsigned char *png;
    size_t len;
    if (ddpm__grid_png(x, n, c, s, scale, &png, &len, why) != DDPM_OK) return 0;
    errno = 0;
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(png, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    free(png);
    if (!ok) *why = errno ? strerror(errno) : "cannot write the file";
    return ok;
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
