/*
 * png.c — the grid PNG for the JS API (result.png() in web/lib/job.js), WebAssembly builds only: the CLI's encoder
 * (src/image/grid_png.c, stb_image_write), so `ddpm sample ... --out grid.png` and the JS bytes are the same.
 */
#include "core/internal.h" /* ddpm__fail */
#include "image/grid_png.h"

#define WASM_EXPORT __attribute__((used, visibility("default")))

/*
 * The PNG of images [n, c, s, s] in [-1, 1] (see grid_png.h for the layout), upscaled `scale` times: a malloc'd
 * buffer of *len bytes (free it), or NULL with err set (status and message; *len = 0).
 */
WASM_EXPORT unsigned char *ddpm_wasm_grid_png(const float *images, int n, int c, int s, int scale, size_t *len,
                                              ddpm_error *err) {
    unsigned char *png = NULL;
    const char *why = NULL;
    const int st = ddpm__grid_png(images, n, c, s, scale, &png, len, &why);
    if (st != DDPM_OK) {
        ddpm__fail(err, (ddpm_status)st, "png: %s", why);
        return NULL;
    }
    ddpm__ok(err);
    return png;
}
