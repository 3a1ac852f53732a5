/*
 * diffusers' float32 noise schedules, computed exactly as PyTorch computes them (ddpm_schedule_params.float32 = 1).
 * Internal to the library; used by schedule.c.
 *
 * diffusers v0.21.4 builds its schedules with float32 tensor ops on the CPU. To give the same bits, this file
 * reproduces PyTorch 1.13's CPU kernels as they run on x86-64 (the AVX2 kernels, PyTorch's default there), with only
 * + - * / sqrt and bit moves, so native and WebAssembly builds agree:
 *   - torch.linspace(a, b, T, float32) (aten RangeFactoriesKernel.cpp): step = (b - a) / (T - 1) in float32;
 *     entries are written 8-wide, two vectors per loop turn: a vector starting at index c < T/2 is
 *     base = fma(step, c, a), else base = fma(-step, T - 1 - c, b) (the compiler contracts `a + step * c` into one
 *     fused multiply-add), and its lane k is base + k * step (two float roundings); the last T % 16 entries are
 *     written one by one as their own base. T = 1 gives a.
 *   - torch.sigmoid (float32): 1 / (exp(0 - x) + 1) with SLEEF's Sleef_expf8_u10 in the vector part (its exact
 *     polynomial and fused multiply-adds) and glibc's expf (correctly rounded here) in the scalar tail.
 *   - torch.cumprod on the CPU accumulates in double (at::acc_type<float> is double) and rounds every output to
 *     float32: abar_t = (float)(alpha_0 * ... * alpha_t), the product kept in double.
 *   - tensor (op) Python float: the Python float is rounded to float32 first, then one float32 operation.
 * Checked bit for bit against PyTorch in tests/test_schedule_f32.c (tests/data/schedule_f32_ref.h, written by
 * training/ref_schedule_f32.py) and against diffusers' own schedule in tests/test_scheduler_config.c. With more than
 * one thread PyTorch splits linspace and sigmoid into chunks only beyond 32768 entries; this is the one-chunk result.
 */
#ifndef DDPM_SCHEDULE_TORCH_F32_H
#define DDPM_SCHEDULE_TORCH_F32_H

#include "core/internal.h"

/* fma(a, b, c) in float32 with one rounding (round to nearest even), from double arithmetic. */
float ddpm__fma_f32(float a, float b, float c);

/* out[0..T) = torch.linspace(a, b, T, dtype=float32); T >= 1. */
void ddpm__torch_linspace_f32(float a, float b, int T, float *out);

/* x[0..n) = torch.sigmoid(x) in float32, in place, |x| <= 80. */
void ddpm__torch_sigmoid_f32(float *x, int n);

/* ab[0..T) = torch.cumprod(alphas, 0) for float32 alphas (double accumulator, float32 outputs). */
void ddpm__torch_cumprod_f32(const float *alphas, float *ab, int T);

/*
 * diffusers' betas in float32, before any rescale, for p->kind (p already validated):
 *   LINEAR          torch.linspace(beta_start, beta_end, T)
 *   SCALED_LINEAR   torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T) ** 2   (x ** 2 is x * x in float32)
 *   COSINE          betas64[t] rounded to float32 (diffusers' betas_for_alpha_bar is a float64 Python list)
 *   SIGMOID         torch.sigmoid(torch.linspace(-6, 6, T)) * (beta_end - beta_start) + beta_start
 *   CUSTOM          p->betas rounded to float32 (torch.tensor(trained_betas, dtype=float32))
 * betas64: the float64 betas of the kind (read for COSINE only; may be NULL otherwise).
 */
void ddpm__diffusers_betas_f32(const ddpm_schedule_params *p, const double *betas64, float *b);

/*
 * diffusers' rescale_zero_terminal_snr in float32, in place on b[0..T) (T >= 2); scratch: T floats. Returns 0 (b
 * unchanged) when sqrt(abar_0) <= sqrt(abar_{T-1}), where the rescale is undefined.
 */
int ddpm__diffusers_rescale_zero_snr_f32(float *b, float *scratch, int T);

#endif
