/*
 * Sizes that cannot fit are refused with DDPM_ERR_TOO_LARGE before anything is allocated, and sizes that fit are not.
 *
 * The weights of tests/data/tiny-cond.f32.safetensors do not depend on the image size, so the same file with its
 * metadata saying image_size 1024 (attention then at 512 x 512: one attention matrix is 262144^2 floats, 256 GiB) is
 * a valid model whose forward pass cannot fit in DDPM_MAX_WORKSPACE_BYTES. The workspace is sized in size_t, which
 * is 32 bits in wasm32, so the refusal must come from a bound computed without overflow; the same test runs in the
 * Node suite (wasm-tests/errors.test.mjs).
 */
#include "ddpm.h"
#include "testutil.h"

/* A copy of the safetensors file `src` whose __metadata__ values for image_size and attn_resolutions are replaced. */
static unsigned char *with_image_size(const unsigned char *src, size_t size, const char *img, const char *attn,
                                      size_t *out_size) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | src[i];
    const char *h = (const char *)src + 8;
    char *json = malloc(n + 64);
    size_t j = 0;
    for (size_t i = 0; i < n;) {
        const char *keys[2] = {"\"ddpm.image_size\":\"", "\"ddpm.attn_resolutions\":\""};
        const char *vals[2] = {img, attn};
        int hit = -1;
        for (int k = 0; k < 2; k++)
            if (i + strlen(keys[k]) <= n && memcmp(h + i, keys[k], strlen(keys[k])) == 0) hit = k;
        if (hit < 0) {
            json[j++] = h[i++];
            continue;
        }
        memcpy(json + j, keys[hit], strlen(keys[hit]));
        j += strlen(keys[hit]);
        i += strlen(keys[hit]);
        while (i < n && h[i] != '"') i++; /* skip the old value */
        memcpy(json + j, vals[hit], strlen(vals[hit]));
        j += strlen(vals[hit]);
    }
    *out_size = 8 + j + (size - 8 - n);
    unsigned char *out = malloc(*out_size);
    for (int i = 0; i < 8; i++) out[i] = (unsigned char)((uint64_t)j >> (8 * i));
    memcpy(out + 8, json, j);
    memcpy(out + 8 + j, src + 8 + n, size - 8 - n);
    free(json);
    return out;
}

int main(void) {
    size_t size;
    unsigned char *bytes = tu_read_file("tests/data/tiny-cond.f32.safetensors", &size);
    if (!bytes) {
        CHECK(0, "read tests/data/tiny-cond.f32.safetensors");
        return tu_finish("test_memory_limits");
    }
    /* the file uses compact JSON ("key":"value"); check the rewrite found both keys */
    size_t big_size;
    unsigned char *big = with_image_size(bytes, size, "1024", "512", &big_size);
    ddpm_model *m;
    ddpm_error err;
    ddpm_status st = ddpm_model_load_buffer(big, big_size, &m, &err);
    CHECK(st == DDPM_OK || st == DDPM_ERR_TOO_LARGE, "1024 x 1024 tiny-cond: loads, or is refused as too large (%s)",
          st == DDPM_OK ? "loaded" : err.message);
    if (st == DDPM_OK) {
        CHECK(ddpm_model_get_config(m)->image_size == 1024, "the rewritten file says image_size 1024");
        CHECK(ddpm_model_workspace_bytes(m, 1) == 0, "workspace for one image: 0 (does not fit)");
        ddpm_sample_params p = ddpm_sample_default_params();
        p.steps = 1;
        ddpm_run *r = NULL;
        st = ddpm_run_create(m, &p, &r, &err);
        CHECK(st == DDPM_ERR_TOO_LARGE && r == NULL, "run at batch 1 -> DDPM_ERR_TOO_LARGE, no run (%s)", err.message);
        float t = 5, *x = calloc((size_t)1024 * 1024, sizeof(float)), *out = calloc((size_t)1024 * 1024, sizeof(float));
        int y = 0;
        st = ddpm_model_forward(m, 1, x, &t, &y, out, &err);
        CHECK(st == DDPM_ERR_TOO_LARGE, "forward at batch 1 -> DDPM_ERR_TOO_LARGE (%s)", err.message);
        free(x), free(out);
        ddpm_model_free(m);
    }
    free(big);

    /* 64 x 64 with attention at 32 x 32 fits: a forward of 2 images runs */
    big = with_image_size(bytes, size, "64", "32", &big_size);
    st = ddpm_model_load_buffer(big, big_size, &m, &err);
    CHECK(st == DDPM_OK, "64 x 64 tiny-cond loads (%s)", err.message);
    if (st == DDPM_OK) {
        const size_t ws = ddpm_model_workspace_bytes(m, 2);
        float t[2] = {5, 900}, *x = calloc(2 * 64 * 64, sizeof(float)), *out = calloc(2 * 64 * 64, sizeof(float));
        int y[2] = {0, 3};
        st = ddpm_model_forward(m, 2, x, t, y, out, &err);
        CHECK(ws > 0 && st == DDPM_OK, "64 x 64: workspace %zu bytes, forward of 2 images runs (%s)", ws,
              st == DDPM_OK ? "ok" : err.message);
        free(x), free(out);
        ddpm_model_free(m);
    }
    free(big);

    /* the forward pass runs in chunks of 8 images: its scratch does not grow with the batch beyond 8 */
    st = ddpm_model_load_buffer(bytes, size, &m, &err);
    if (st == DDPM_OK) {
        const size_t w8 = ddpm_model_workspace_bytes(m, 8), w4096 = ddpm_model_workspace_bytes(m, 4096);
        CHECK(w8 > 0 && w4096 == w8, "scratch for 4096 images == for 8 (%zu bytes)", w8);
        ddpm_model_free(m);
    }
    free(bytes);
    return tu_finish("test_memory_limits");
}
