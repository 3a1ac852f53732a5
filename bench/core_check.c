#define _POSIX_C_SOURCE 199309L
/* Is every core of this machine equally fast? Two single-thread loops, run pinned to each CPU in turn by run.sh:
 *   reg: 12 independent SSE chains (6 mul + 6 add), registers only          -> GFLOP/s
 *   mem: the same chains kept in a small stack array (L1 loads and stores)   -> GFLOP/s
 * On a VM whose vCPU shares a physical core with another tenant, `mem` on that vCPU drops while `reg` may not;
 * that caps what two workers can gain over one, whatever the engine does.
 *     bench/core_check reg|mem */
#include <emmintrin.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ITERS 100000000L

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static float run_reg(void) {
    const __m128 m = _mm_set1_ps(0.99999f), c = _mm_set1_ps(1e-6f);
    __m128 a0 = _mm_set1_ps(1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    __m128 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    for (long it = 0; it < 2 * ITERS; it++) {
        a0 = _mm_mul_ps(a0, m), a1 = _mm_mul_ps(a1, m), a2 = _mm_mul_ps(a2, m);
        a3 = _mm_mul_ps(a3, m), a4 = _mm_mul_ps(a4, m), a5 = _mm_mul_ps(a5, m);
        b0 = _mm_add_ps(b0, c), b1 = _mm_add_ps(b1, c), b2 = _mm_add_ps(b2, c);
        b3 = _mm_add_ps(b3, c), b4 = _mm_add_ps(b4, c), b5 = _mm_add_ps(b5, c);
        __asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));
        __asm__ volatile("" : "+x"(b0), "+x"(b1), "+x"(b2), "+x"(b3), "+x"(b4), "+x"(b5));
    }
    __m128 s = _mm_add_ps(_mm_add_ps(_mm_add_ps(a0, a1), _mm_add_ps(a2, a3)), _mm_add_ps(_mm_add_ps(a4, a5), b0));
    s = _mm_add_ps(s, _mm_add_ps(_mm_add_ps(b1, b2), _mm_add_ps(_mm_add_ps(b3, b4), b5)));
    return _mm_cvtss_f32(s);
}

static float run_mem(void) {
    const __m128 m = _mm_set1_ps(0.99999f), c = _mm_set1_ps(1e-6f);
    volatile __m128 x[12];
    for (int i = 0; i < 12; i++) x[i] = _mm_set1_ps(1.0f);
    for (long it = 0; it < ITERS; it++) {
        for (int i = 0; i < 6; i++) x[i] = _mm_mul_ps(x[i], m);
        for (int i = 6; i < 12; i++) x[i] = _mm_add_ps(x[i], c);
    }
    float s = 0;
    for (int i = 0; i < 12; i++) s += _mm_cvtss_f32(x[i]);
    return s;
}

int main(int argc, char **argv) {
    const int mem = argc > 1 && strcmp(argv[1], "mem") == 0;
    const double t0 = now_ms();
    const float s = mem ? run_mem() : run_reg();
    const double ms = now_ms() - t0;
    const double flop = (double)(mem ? ITERS : 2 * ITERS) * 12 * 4;
    printf("%s %.1f GFLOP/s%s\n", mem ? "mem" : "reg", flop / ms / 1e6, s == 0 ? " " : "");
    return 0;
}
