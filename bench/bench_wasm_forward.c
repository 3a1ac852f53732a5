#define _POSIX_C_SOURCE 199309L
/*
 * Forward-pass timing that builds both natively and as WebAssembly (node), and prints a hash of the output bits so
 * that the two builds can be compared for bit identity.
 *
 *     native: cc -O2 -ffp-contract=off -Iinclude -Isrc src/{core,io,nn,unet,schedule,rng}/ *.c bench/bench_wasm_forward.c -lm
 *     wasm:   emcc -O3 -msimd128 -ffp-contract=off -Iinclude -Isrc <same sources> -sNODERAWFS=1 \
 *                  -sALLOW_MEMORY_GROWTH=1 -sENVIRONMENT=node -o /tmp/bwf.js && node /tmp/bwf.js MODEL 1 8
 *             (does not work with Debian's emcc 3.1.6: its JS glue does not load in Node 20. Use bench/quick.sh,
 *             bench/peers.mjs and bench/wasm_vs_native.mjs instead, which load a standalone wasm themselves.)
 *
 *     bench_wasm_forward MODEL [batch ...]      (default batches: 1 8)
 *         -s before MODEL: time the scalar kernels too; -t: print a hash of every traced block activation
 *
 * Every batch runs the same inputs (image i of any batch is the same image), so the per-image hashes printed for a
 * batch of 1 and the first image of a batch of 8 must agree as well.
 */
#include "ddpm.h"
#include "ddpm_debug.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t fnv(const float *x, size_t n) {
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p = (const unsigned char *)x;
    for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static void on_trace(void *user, const char *name, const float *data, int n, int c, int h, int w) {
    (void)user;
    printf("  trace %-8s [%d,%d,%d,%d] hash %016llx\n", name, n, c, h, w,
           (unsigned long long)fnv(data, (size_t)n * c * h * w));
}

int main(int argc, char **argv) {
    int scalar = 0, trace = 0, a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (strcmp(argv[a], "-s") == 0) scalar = 1;
        if (strcmp(argv[a], "-t") == 0) trace = 1;
    }
    if (argc <= a) {
        fprintf(stderr, "usage: %s [-s] MODEL [batch ...]\n", argv[0]);
        return 2;
    }
    ddpm_error err;
    ddpm_model *m;
    if (ddpm_model_load_file(argv[a], &m, &err) != DDPM_OK) {
        fprintf(stderr, "bench_wasm_forward: %s\n", err.message);
        return 1;
    }
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const size_t D = (size_t)c->in_channels * c->image_size * c->image_size;
    const size_t Do = (size_t)c->out_channels * c->image_size * c->image_size;
    const double gflop = ddpm_model_flops(m) / 1e9;
    int batches[16] = {1, 8}, nb = 2;
    if (argc > a + 1) {
        nb = 0;
        for (int i = a + 1; i < argc && nb < 16; i++) batches[nb++] = atoi(argv[i]);
    }
    printf("model %s: %.3f GFLOP/image, backend %s\n", argv[a], gflop, ddpm_simd_backend());
    for (int b = 0; b < nb; b++) {
        const int n = batches[b];
        float *x = malloc(sizeof(float) * D * n), *out = malloc(sizeof(float) * Do * n), *t = malloc(sizeof(float) * n);
        int *y = malloc(sizeof(int) * n);
        for (int i = 0; i < n; i++) {
            for (size_t j = 0; j < D; j++)
                x[i * D + j] = (float)(((uint32_t)(j + 977 * (size_t)i) * 2654435761u) % 2001u) / 1000.0f - 1.0f;
            t[i] = (float)(100 + 37 * i);
            y[i] = c->num_classes ? i % (c->num_classes + 1) : 0;
        }
        const int *yy = c->num_classes ? y : NULL;
        for (int pass = 0; pass < 1 + scalar; pass++) {
            ddpm_model_set_kernels(m, pass ? DDPM_KERNELS_SCALAR : DDPM_KERNELS_SIMD);
            if (trace) {
                ddpm_model_set_trace(m, on_trace, NULL);
                ddpm_model_forward(m, n, x, t, yy, out, NULL);
                ddpm_model_set_trace(m, NULL, NULL);
            }
            if (ddpm_model_forward(m, n, x, t, yy, out, &err) != DDPM_OK) { /* warm-up: allocates scratch */
                fprintf(stderr, "forward: %s\n", err.message);
                return 1;
            }
            int reps = 0;
            double t0 = now_ms(), t1, best = 1e30, prev = t0;
            do {
                ddpm_model_forward(m, n, x, t, yy, out, NULL);
                reps++;
                t1 = now_ms();
                if (t1 - prev < best) best = t1 - prev;
                prev = t1;
            } while ((t1 - t0 < (pass ? 500 : 2000)) || reps < 3);
            const double ms = (t1 - t0) / reps;
            printf("%s batch %2d: %8.2f ms/call (best %8.2f), %7.2f ms/image (best %7.2f), %6.2f GFLOP/s | "
                   "hash all %016llx img0 %016llx\n",
                   pass ? "scalar" : "simd  ", n, ms, best, ms / n, best / n, gflop * n / (ms / 1e3),
                   (unsigned long long)fnv(out, Do * n), (unsigned long long)fnv(out, Do));
        }
        ddpm_model_set_kernels(m, DDPM_KERNELS_SIMD);
        free(x), free(out), free(t), free(y);
    }
    ddpm_model_free(m);
    return 0;
}
