#define _POSIX_C_SOURCE 199309L
/* Native forward-pass timing: ms per U-Net evaluation and GFLOP/s at several batch sizes.
 *     build/bench_forward MODEL [--threads N] [batch ...]
 * (default batches: 1 8; MODEL: a weights file or a diffusers folder; N: threads per forward pass, default 1) */
#include "ddpm.h"
#include "ddpm_debug.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [batch ...]\n", argv[0]);
        return 2;
    }
    ddpm_error err;
    ddpm_model *m;
    if (ddpm_model_load_path(argv[1], NULL, NULL, &m, &err) != DDPM_OK) { /* a file or a diffusers folder */
        fprintf(stderr, "bench_forward: %s\n", err.message);
        return 1;
    }
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const size_t D = (size_t)c->in_channels * c->image_size * c->image_size;
    const double gflop = ddpm_model_flops(m) / 1e9;
    int batches[16] = {1, 8}, nb = 2, threads = 1;
    int first = 2;
    if (argc > 3 && strcmp(argv[2], "--threads") == 0) threads = atoi(argv[3]), first = 4;
    if (argc > first) {
        nb = 0;
        for (int i = first; i < argc && nb < 16; i++) batches[nb++] = atoi(argv[i]);
    }
    if (ddpm_model_set_threads(m, threads, &err) != DDPM_OK) {
        fprintf(stderr, "bench_forward: %s\n", err.message);
        return 1;
    }
    if (getenv("DDPM_THREAD_MIN_WORK")) /* experiments: the smallest operation (flops) the threads split */
        ddpm_model_set_thread_min_work(m, atof(getenv("DDPM_THREAD_MIN_WORK")));
    printf("model %s: %.3f GFLOP/image, backend %s, %d thread(s)\n", argv[1], gflop, ddpm_simd_backend(),
           ddpm_model_threads(m));
    for (int b = 0; b < nb; b++) {
        const int n = batches[b];
        float *x = malloc(sizeof(float) * D * n), *out = malloc(sizeof(float) * D * n), *t = malloc(sizeof(float) * n);
        for (size_t i = 0; i < D * n; i++) x[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
        for (int i = 0; i < n; i++) t[i] = (float)(100 + 37 * i);
        ddpm_model_forward(m, n, x, t, NULL, out, NULL); /* warm-up: allocates scratch */
        int reps = 0;
        double b0[2];
        ddpm_model_thread_times(m, &b0[0], &b0[1]);
        double t0 = now_ms(), t1;
        do {
            ddpm_model_forward(m, n, x, t, NULL, out, NULL);
            reps++;
            t1 = now_ms();
        } while (t1 - t0 < 2000 || reps < 3);
        const double ms = (t1 - t0) / reps;
        double wb, cw, wb0, cw0;
        ddpm_model_thread_times(m, &wb, &cw);
        wb0 = b0[0], cw0 = b0[1];
        const double busy = (t1 - t0) - (cw - cw0) * 1e3 + (wb - wb0) * 1e3; /* ms, all threads */
        printf("batch %2d: %8.2f ms per call, %7.2f ms per image, %6.2f GFLOP/s; busy %.2f thread-ms per call\n", n, ms,
               ms / n, gflop * n / (ms / 1e3), busy / reps);
        const size_t cf = ddpm_model_cache_floats(m);
        float *cache = cf ? malloc(sizeof(float) * cf * n) : NULL;
        if (cache) { /* DeepCache: the shallow pass over a kept deep output */
            ddpm_model_forward_cached(m, n, x, t, NULL, out, cache, 0, NULL);
            int r2 = 0;
            double s0 = now_ms(), s1;
            do {
                ddpm_model_forward_cached(m, n, x, t, NULL, out, cache, 1, NULL);
                r2++;
                s1 = now_ms();
            } while (s1 - s0 < 1000 || r2 < 3);
            printf("          DeepCache shallow pass: %8.2f ms per call (%.2f of the full pass)\n", (s1 - s0) / r2,
                   (s1 - s0) / r2 / ms);
            free(cache);
        }
        free(x), free(out), free(t);
    }
    ddpm_model_free(m);
    return 0;
}
