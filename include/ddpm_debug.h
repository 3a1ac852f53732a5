/*
 * ddpm_debug.h — the parts of the API for debugging, tests and reproducing other engines bit for bit: the
 * deterministic math, per-block traces of the forward pass and the choice of kernels. Less stable than ddpm.h:
 * these may change between minor versions (a program that needs a fixed surface includes only ddpm.h).
 */
#ifndef DDPM_DEBUG_H
#define DDPM_DEBUG_H

#include "ddpm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ================================================================================================================
 * Deterministic math: only + - * / and bit moves, the same bits on every IEEE-754 platform (natively and in
 * WebAssembly). The RNG, the schedules, the samplers and the forward pass use these and nothing from libm.
 * ============================================================================================================= */

DDPM_API double ddpm_det_log(double x);                        /* x > 0 */
DDPM_API void ddpm_det_sincos(double x, double *s, double *c); /* |x| <= 1e6 (Cody-Waite reduction); NaN beyond */
/* exp(x), about 1 ulp; +inf above 709, 0 below -708, NaN for NaN. */
DDPM_API double ddpm_det_exp(double x);
/* exp(x) for float math inside the network (SiLU, softmax); |rel err| < 2e-7. */
DDPM_API float ddpm_det_expf(float x);

/* ================================================================================================================
 * The forward pass
 * ============================================================================================================= */

/*
 * Debugging and tests: when set, `fn` is called after every block of the forward pass with the block's name (the
 * same names as training/model.py's trace: "time_proj" (the sinusoid), "temb", "conv_in", "down.3", "mid", "up.0",
 * "out") and its activation (shape [n, c, h, w]; for "time_proj" and "temb" h = w = 1). After the last block of each
 * level it is also called as diffusers' blocks are named, "down_blocks.<level>" and "up_blocks.<L-1-level>".
 * Pass fn = NULL to turn it off.
 */
typedef void (*ddpm_trace_fn)(void *user_data, const char *name, const float *data, int n, int c, int h, int w);
DDPM_API void ddpm_model_set_trace(ddpm_model *m, ddpm_trace_fn fn, void *user_data);

/* Which kernels the forward pass uses. DDPM_KERNELS_SCALAR is the plain reference for every op (float32 sums, direct
 * convolutions). DDPM_KERNELS_PRECISE carries every sum, GroupNorm, SiLU and softmax in double and rounds each op's
 * output once to float32 (eps within ~1e-7 of a float64 forward pass, where SIMD's Winograd gives ~1e-5): for
 * reproducing another engine's long deterministic runs (a DDIM replay at eta 0 compounds every rounding); slowest. */
typedef enum ddpm_kernels { DDPM_KERNELS_SIMD = 0, DDPM_KERNELS_SCALAR = 1, DDPM_KERNELS_PRECISE = 2 } ddpm_kernels;
DDPM_API void ddpm_model_set_kernels(ddpm_model *m, ddpm_kernels k);
DDPM_API const char *ddpm_kernels_name(ddpm_kernels k); /* "simd" "scalar" "precise", NULL out of range */
/* Tests of the failure paths: the n-th allocation the library makes from now on fails (n <= 0: none), as if memory
 * ran out; ddpm_debug_allocations() counts the allocations since the call. A plain global, for single-threaded
 * tests: every load and run must then return DDPM_ERR_OUT_OF_MEMORY with a message and leak nothing. */
DDPM_API void ddpm_debug_fail_allocation(long n);
DDPM_API long ddpm_debug_allocations(void);
/* The smallest operation, in floating-point operations, that ddpm_model_set_threads' threads split (smaller ones run
 * on the calling thread: the split costs microseconds). Default 2e6; 0 splits everything, which tests use to run every
 * split path on small models. The bits are the same for any value. Applies to the current thread pool (call after
 * ddpm_model_set_threads). */
DDPM_API void ddpm_model_set_thread_min_work(ddpm_model *m, double flops);
/* For benchmarks (natively; zeros in wasm): since the last ddpm_model_set_threads, the seconds its worker threads
 * spent computing, summed, and the seconds the calling thread waited for them inside the forward passes. Over a wall
 * time w of forward passes, the threads were busy w - caller_wait + worker_busy in all. */
DDPM_API void ddpm_model_thread_times(const ddpm_model *m, double *worker_busy, double *caller_wait);
#ifdef __cplusplus
}
#endif
#endif /* DDPM_DEBUG_H */
