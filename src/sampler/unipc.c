/*
 * "unipc": UniPC (Zhao et al. 2023, "UniPC: A Unified Predictor-Corrector Framework for Fast Sampling of Diffusion
 * Models"), the data-prediction (predict_x0) B(h) form, as diffusers' UniPCMultistepScheduler does it: the
 * predictor UniP-p and the corrector UniC-p, one model evaluation per step (the corrector of x_i reuses the model
 * output at x_i that the next predictor needs).
 *
 * VP scale, alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t), lambda_t = log(alpha_t / sigma_t) (= -log of the VE
 * sigma); m_k = the model's x0 estimate at step k, evaluated at the uncorrected x_k. For a step from level s0 to
 * level t with h = lambda_t - lambda_s0, hh = -h, nodes k = 1..n with r_k = (lambda_{s_k} - lambda_s0) / h and
 * D_k = (m_{s_k} - m_s0) / r_k:
 *     x_t = (sigma_t / sigma_s0) x_s0 - alpha_t (e^hh - 1) m_s0 - alpha_t B(h) sum_k rho_k D_k
 *     B(h) = hh (variant bh1) or e^hh - 1 (bh2);   b_j = hh j! phi_{j+1}(hh) / B(h)   (phi_k: common.h)
 *     rho solves sum_k r_k^(j-1) rho_k = b_j, j = 1..n (n = 1: rho_1 = 1/2, diffusers' simplification)
 * Step i, with p_i = min(order, i + 1, num_steps - i if lower_order_final) (1 when the next level is sigma = 0: the
 * higher-order terms are undefined there, r_k = 0):
 *     corrector (i > 0, when on): UniC-p_{i-1} from s0 = step i-1 to t = step i, nodes = the p_{i-1} - 1 steps
 *         before i-1 and step i itself (r = 1, m = m_i):  x_i^c = x_t computed from x_s0 = x_{i-1}^c
 *     predictor: UniP-p_i from s0 = step i (x_s0 = x_i^c) to t = the next level, nodes = the p_i - 1 steps before i
 *         (n = 1: rho = 1/2); the last step returns m_i
 * The run's x after step i is the predictor's output; x_i^c lives in the state. order 1 without corrector is DDIM
 * (eta = 0); lower_order_final applies at any step count, as in diffusers' UniPC. The last step goes to sigma = 0
 * (diffusers >= 0.28's default final_sigmas_type "zero"), or with final_sigma = sigma_min to t = 0's level (v0.21.4's
 * only behaviour, and an option of later versions): that step is then a full UniP step of its order. karras: the
 * levels of ddpm__levels' Karras grid, at fractional timesteps (diffusers' use_karras_sigmas rounds them to integers).
 */
#include "sampler/common.h"

#include <math.h>

enum { OPT_ORDER, OPT_VARIANT, OPT_CORRECTOR, OPT_LOWER_FINAL, OPT_KARRAS, OPT_FINAL_SIGMA };

static const char *const variant_choices[] = {"bh1", "bh2", NULL};

static const ddpm_sampler_option unipc_options[] = {
    {.name = "order", .type = DDPM_OPTION_INT, .default_value = 2, .min_value = 1, .max_value = 3,
     .help = "order p of the predictor UniP-p (diffusers' solver_order; with the corrector the accuracy is p + 1)"},
    {.name = "variant", .type = DDPM_OPTION_CHOICE, .default_value = 1, .min_value = 0, .max_value = 1, .choices = variant_choices,
     .help = "B(h): bh1 = h (for few steps, unconditional), bh2 = e^h - 1 (diffusers' default)"},
    {.name = "corrector", .type = DDPM_OPTION_BOOL, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "apply the corrector UniC after every step but the last"},
    {.name = "lower_order_final", .type = DDPM_OPTION_BOOL, .default_value = 1, .min_value = 0, .max_value = 1,
     .help = "lower the order over the last steps (order <= steps left), which stabilises runs of few steps"},
    DDPM__KARRAS_OPTION,
    DDPM__FINAL_SIGMA_OPTION,
};

#define UNIPC_RING 4 /* x0 estimates kept: the corrector at step i reads m_i .. m_{i-3} */
enum { B_OUT, B_LAST, B_M0 }; /* model output; x_i^c; m_k in B_M0 + k % UNIPC_RING */

static ddpm_status unipc_create(void *user, const ddpm_sampler_context *ctx, void **st) {
    const int flags = (ctx->option_values[OPT_KARRAS] != 0.0 ? DDPM__LV_KARRAS : 0) |
                      (ctx->option_values[OPT_FINAL_SIGMA] != 0.0 ? DDPM__LV_FINAL_MIN : 0);
    return ddpm__state_create(ctx, 2 + UNIPC_RING, flags, st);
}

static int unipc_order(const ddpm_sampler_context *ctx, const ddpm__state *s, int i) {
    int p = (int)ctx->option_values[OPT_ORDER];
    if (ctx->option_values[OPT_LOWER_FINAL] != 0.0 && p > ctx->num_steps - i) p = ctx->num_steps - i;
    if (p > i + 1) p = i + 1;
    if (!(s->lv[i + 1].sigma > 0.0)) p = 1;
    return p < 1 ? 1 : p;
}

/* Solves A rho = b for n <= 3 by Gaussian elimination with partial pivoting; 0 if singular. */
static int solve_small(int n, double A[3][3], double *b, double *rho) {
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(A[r][c]) > fabs(A[piv][c])) piv = r;
        if (!(fabs(A[piv][c]) > 0.0)) return 0;
        for (int k = 0; k < n; k++) {
            const double t = A[c][k];
            A[c][k] = A[piv][k];
            A[piv][k] = t;
        }
        const double tb = b[c];
        b[c] = b[piv];
        b[piv] = tb;
        for (int r = c + 1; r < n; r++) {
            const double f = A[r][c] / A[c][c];
            for (int k = c; k < n; k++) A[r][k] -= f * A[c][k];
            b[r] -= f * b[c];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double v = b[r];
        for (int k = r + 1; k < n; k++) v -= A[r][k] * rho[k];
        rho[r] = v / A[r][r];
    }
    return 1;
}

/* One UniP / UniC update as weights: x_t = a x_s0 + w[0] m_s0 + sum_{k=1..n} w[k] m_{s_k}, from levels s0 and t
 * (h = lambda_t - lambda_s0 > 0) and the nodes' r_k. Returns 0 when the weights cannot be formed. */
static int unipc_weights(int bh2, const ddpm__level *s0, const ddpm__level *t, double h, int n, const double *r,
                         double *a, double *w) {
    double ph[5], b[3], rho[3] = {0.5, 0.0, 0.0}, A[3][3];
    const double hh = -h;
    ddpm__phi(hh, n + 1, ph);
    const double e = hh * ph[1]; /* e^hh - 1 */
    const double B = bh2 ? e : hh;
    double fact = 1.0;
    for (int j = 1; j <= n; j++) {
        fact *= (double)j;
        b[j - 1] = hh * fact * ph[j + 1] / B;
    }
    if (n > 1) {
        for (int row = 0; row < n; row++)
            for (int k = 0; k < n; k++) A[row][k] = row == 0 ? 1.0 : A[row - 1][k] * r[k];
        if (!solve_small(n, A, b, rho)) return 0;
    }
    *a = t->s1 / s0->s1;
    w[0] = -t->sa * e;
    for (int k = 0; k < n; k++) {
        const double q = t->sa * B * rho[k] / r[k]; /* alpha_t B rho_k / r_k times (m_k - m_s0) */
        w[k + 1] = -q;
        w[0] += q;
    }
    return 1;
}

static ddpm_status unipc_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    ddpm__state *s = st;
    const size_t n = (size_t)ctx->batch * ctx->image_elems;
    const ddpm__level *lv = s->lv;
    const int bh2 = ctx->option_values[OPT_VARIANT] != 0.0;
    float *out = s->buf[B_OUT], *last = s->buf[B_LAST];
    float *m[UNIPC_RING]; /* m[k] = m_{i-k} */
    for (int k = 0; k < UNIPC_RING; k++) m[k] = s->buf[B_M0 + (i - k + UNIPC_RING * 4) % UNIPC_RING];
    if (i == 0) s->count = 0;
    ddpm_status r = ddpm__denoise_at(ctx, s, x, lv[i].t, out);
    if (r != DDPM_OK) return r;

    /* corrector: UniC-p from step i-1 to step i; nodes m_{i-2} .. m_{i-p} and m_i (r = 1) */
    double ac = 1.0, wc[4] = {0}, rk[3];
    int nc = 0, correct = 0;
    if (ctx->option_values[OPT_CORRECTOR] != 0.0 && i > 0 && s->count == i) {
        const int p = unipc_order(ctx, s, i - 1);
        const double l0 = -ddpm_det_log(lv[i - 1].sigma), h = -ddpm_det_log(lv[i].sigma) - l0;
        for (int k = 1; k < p; k++) rk[k - 1] = (-ddpm_det_log(lv[i - 1 - k].sigma) - l0) / h;
        rk[p - 1] = 1.0;
        nc = p;
        correct = h > 0.0 && unipc_weights(bh2, &lv[i - 1], &lv[i], h, nc, rk, &ac, wc);
    }
    /* predictor: UniP-q from step i to the next level; nodes m_{i-1} .. m_{i-q+1} */
    const int q = unipc_order(ctx, s, i);
    double ap = 0.0, wp[3] = {1.0, 0.0, 0.0}; /* to sigma = 0: x = m_i */
    if (lv[i + 1].sigma > 0.0) {
        const double l0 = -ddpm_det_log(lv[i].sigma), h = -ddpm_det_log(lv[i + 1].sigma) - l0;
        for (int k = 1; k < q; k++) rk[k - 1] = (-ddpm_det_log(lv[i - k].sigma) - l0) / h;
        if (!(h > 0.0) || !unipc_weights(bh2, &lv[i], &lv[i + 1], h, q - 1, rk, &ap, wp)) {
            ap = 1.0; /* a repeated level: stay */
            wp[0] = wp[1] = wp[2] = 0.0;
        }
    }

    /* per element: m_i at the uncorrected x_i; x_i^c (kept as the next corrector's x_s0); the predictor */
    const int np = q - 1;
    for (size_t j = 0; j < n; j++) {
        double x0, eps;
        ddpm__split(ctx->prediction, lv[i].sa, lv[i].s1, x[j], out[j], &x0, &eps);
        if (ctx->pred_x0) ctx->pred_x0[j] = (float)x0;
        double xc = x[j];
        if (correct) {
            /* m_s0 = m_{i-1}; nodes m_{i-2} .. m_{i-nc}, then m_i */
            xc = ac * last[j] + wc[0] * m[1][j] + wc[nc] * x0;
            for (int k = 1; k < nc; k++) xc += wc[k] * m[k + 1][j];
        }
        double xn = ap * xc + wp[0] * x0;
        for (int k = 1; k <= np; k++) xn += wp[k] * m[k][j];
        last[j] = (float)xc;
        m[0][j] = (float)x0;
        x[j] = (float)xn;
    }
    s->count = i + 1;
    return DDPM_OK;
}

const ddpm_sampler_vtable ddpm_sampler_unipc = {
    .api_version = DDPM_SAMPLER_API_VERSION,
    .name = "unipc",
    .description = "UniPC (Zhao et al. 2023): multistep predictor UniP-p + corrector UniC, data prediction, one evaluation a step",
    .num_options = (int)(sizeof unipc_options / sizeof unipc_options[0]),
    .options = unipc_options,
    .evals_per_step = 1,
    .create = unipc_create,
    .step = unipc_step,
    .destroy = ddpm__state_destroy,
};
