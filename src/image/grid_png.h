/*
 * The grid PNG of a sampled batch, encoded in memory. Shared by the CLI (src/cli/image.c writes it to a file) and
 * the WebAssembly module (src/wasm/png.c, the JS result's png()), so both give the same bytes. Not part of the
 * library `ddpm`: it uses stb_image_write (libstb-dev), which the library does not need.
 */
#ifndef DDPM_IMAGE_GRID_PNG_H
#define DDPM_IMAGE_GRID_PNG_H

#include <stddef.h>

/* Black padding around and between the tiles, in pixels (before upscaling). */
#define DDPM_GRID_PAD 2

/*
 * Encodes n images [n, c, s, s] in [-1, 1] as one PNG: ceil(sqrt(n)) columns, DDPM_GRID_PAD px of black padding
 * around and between tiles, grey for c = 1, RGB for c = 3, and for any other c the channels side by side as grey
 * tiles. Each pixel is ddpm_to_u8(x); the finished grid is upscaled by `scale` (nearest neighbour; scale < 1 counts
 * as 1). stb_image_write's defaults (compression level 8, the filter chosen per row).
 * Returns a ddpm_status: DDPM_OK with *png (malloc'd, free() it) and *len set; otherwise *png = NULL, *len = 0 and
 * *why a static one-line message: DDPM_ERR_INVALID_ARGUMENT (NULL pointers, n, c or s < 1), DDPM_ERR_TOO_LARGE
 * (a side over 65535 pixels, or more than stb_image_write can index), DDPM_ERR_OUT_OF_MEMORY.
 */
int ddpm__grid_png(const float *images, int n, int c, int s, int scale, unsigned char **png, size_t *len,
                   const char **why);

#endif
