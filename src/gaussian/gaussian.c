/*
 * Gaussian operations of the forward process q and the reverse process p (Ho et al. 2020), and the likelihood terms
 * of the variational bound, following the reference implementation (diffusion_utils_2.py of the paper's code).
 *
 * All element-wise functions read element i of every input into doubles before writing element i of any output, so
 * outputs may alias inputs of the same shape. Arithmetic is in double; each output is rounded to float once.
 * Schedule coefficients come from the schedule's double arrays, indexed by the 0-based timestep t.
 */
#include "core/internal.h"

#include <math.h>
#include <stddef.h>

/* -------------------------------------------------------------------------------------------------------------
 * Coefficient lookup
 * ----------------------------------------------------------------------------------------------------------- */

static int t_ok(const ddpm_schedule *s, int t) { return s && t >= 0 && t < ddpm_schedule_num_timesteps(s); }

static double sched_at(const ddpm_schedule *s, ddpm_schedule_array a, int t) {
    return ddpm_schedule_array_get(s, a)[t];
}

/* sqrt(abar_t) and sqrt(1 - abar_t) */
static void sqrt_ab(const ddpm_schedule *s, int t, double *sa, double *s1ma) {
    *sa = sched_at(s, DDPM_SQRT_ALPHAS_CUMPROD, t);
    *s1ma = sched_at(s, DDPM_SQRT_ONE_MINUS_ALPHAS_CUMPROD, t);
}

/* -------------------------------------------------------------------------------------------------------------
 * Forward process and parameterisation conversions
 * ----------------------------------------------------------------------------------------------------------- */

ddpm_status ddpm_q_sample(const ddpm_schedule *s, int t, const float *x0, const float *eps, float *xt, size_t n) {
    if (!t_ok(s, t) || !x0 || !eps || !xt) return DDPM_ERR_INVALID_ARGUMENT;
    double sa, s1ma;
    sqrt_ab(s, t, &sa, &s1ma);
    for (size_t i = 0; i < n; i++) {
        double a = x0[i], e = eps[i];
        xt[i] = (float)(sa * a + s1ma * e); /* x_t = sqrt(abar) x0 + sqrt(1 - abar) eps */
    }
    return DDPM_OK;
}

ddpm_status ddpm_x0_from_eps(const ddpm_schedule *s, int t, const float *xt, const float *eps, float *x0, size_t n) {
    if (!t_ok(s, t) || !xt || !eps || !x0) return DDPM_ERR_INVALID_ARGUMENT;
    double sa, s1ma;
    sqrt_ab(s, t, &sa, &s1ma);
    if (sa == 0.0) return DDPM_ERR_INVALID_ARGUMENT; /* abar_t = 0 (zero terminal SNR): x0 is not determined by eps */
    for (size_t i = 0; i < n; i++) {
        double x = xt[i], e = eps[i];
        x0[i] = (float)((x - s1ma * e) / sa); /* x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar) */
    }
    return DDPM_OK;
}

ddpm_status ddpm_x0_from_v(const ddpm_schedule *s, int t, const float *xt, const float *v, float *x0, size_t n) {
    if (!t_ok(s, t) || !xt || !v || !x0) return DDPM_ERR_INVALID_ARGUMENT;
    double sa, s1ma;
    sqrt_ab(s, t, &sa, &s1ma);
    for (size_t i = 0; i < n; i++) {
        double x = xt[i], vv = v[i];
        x0[i] = (float)(sa * x - s1ma * vv); /* x0 = sqrt(abar) x_t - sqrt(1 - abar) v */
    }
    return DDPM_OK;
}

ddpm_status ddpm_eps_from_x0(const ddpm_schedule *s, int t, const float *xt, const float *x0, float *eps, size_t n) {
    if (!t_ok(s, t) || !xt || !x0 || !eps) return DDPM_ERR_INVALID_ARGUMENT;
    double sa, s1ma;
    sqrt_ab(s, t, &sa, &s1ma);
    if (s1ma == 0.0) return DDPM_ERR_INVALID_ARGUMENT; /* abar_t = 1: no noise at all, eps is not determined */
    for (size_t i = 0; i < n; i++) {
        double x = xt[i], a = x0[i];
        eps[i] = (float)((x - sa * a) / s1ma); /* eps = (x_t - sqrt(abar) x0) / sqrt(1 - abar) */
    }
    return DDPM_OK;
}

/*
 * x0 and eps (in double) from one element of the model output:
 *   eps: eps = out,                            x0 = (x_t - sqrt(1-abar) eps) / sqrt(abar)
 *   x0:  x0 = out,                             eps = (x_t - sqrt(abar) x0) / sqrt(1-abar)
 *   v:   x0 = sqrt(abar) x_t - sqrt(1-abar) v, eps = sqrt(abar) v + sqrt(1-abar) x_t
 * (the v identities follow from x_t = sqrt(abar) x0 + sqrt(1-abar) eps, v = sqrt(abar) eps - sqrt(1-abar) x0 and
 * abar + (1 - abar) = 1).
 */
static void split_one(ddpm_prediction pred, double sa, double s1ma, double x, double out, double *x0, double *eps) {
    switch (pred) {
    case DDPM_PREDICT_EPS:
        *eps = out;
        *x0 = (x - s1ma * out) / sa;
        break;
    case DDPM_PREDICT_X0:
        *x0 = out;
        *eps = (x - sa * out) / s1ma;
        break;
    default: /* DDPM_PREDICT_V */
        *x0 = sa * x - s1ma * out;
        *eps = sa * out + s1ma * x;
        break;
    }
}

static int pred_ok(ddpm_prediction p) {
    return p == DDPM_PREDICT_EPS || p == DDPM_PREDICT_X0 || p == DDPM_PREDICT_V;
}

ddpm_status ddpm_split_prediction(const ddpm_schedule *s, int t, ddpm_prediction pred, const float *xt,
                                  const float *model_out, float *x0, float *eps, size_t n) {
    if (!t_ok(s, t) || !pred_ok(pred) || !xt || !model_out) return DDPM_ERR_INVALID_ARGUMENT;
    double sa, s1ma;
    sqrt_ab(s, t, &sa, &s1ma);
    /* a division by zero is only an error when its result is asked for */
    if (pred == DDPM_PREDICT_EPS && x0 && sa == 0.0) return DDPM_ERR_INVALID_ARGUMENT;
    if (pred == DDPM_PREDICT_X0 && eps && s1ma == 0.0) return DDPM_ERR_INVALID_ARGUMENT;
    if (!x0 && !eps) return DDPM_OK; /* nothing asked for */
    for (size_t i = 0; i < n; i++) {
        double a, e;
        double x = xt[i], o = model_out[i];
        if (pred == DDPM_PREDICT_EPS && !x0) { /* avoid computing the unused (maybe 0/0) x0 */
            eps[i] = (float)o;
            continue;
        }
        if (pred == DDPM_PREDICT_X0 && !eps) {
            if (x0) x0[i] = (float)o;
            continue;
        }
        split_one(pred, sa, s1ma, x, o, &a, &e);
        if (x0) x0[i] = (float)a;
        if (eps) eps[i] = (float)e;
    }
    return DDPM_OK;
}

/* -------------------------------------------------------------------------------------------------------------
 * Posterior and reverse step
 * ----------------------------------------------------------------------------------------------------------- */

ddpm_status ddpm_q_posterior(const ddpm_schedule *s, int t, const float *x0, const float *xt, float *mean, size_t n,
                             double *var, double *log_var) {
    if (!t_ok(s, t) || !x0 || !xt || !mean) return DDPM_ERR_INVALID_ARGUMENT;
    double c1 = sched_at(s, DDPM_POSTERIOR_MEAN_COEF1, t);
    double c2 = sched_at(s, DDPM_POSTERIOR_MEAN_COEF2, t);
    for (size_t i = 0; i < n; i++) {
        double a = x0[i], x = xt[i];
        mean[i] = (float)(c1 * a + c2 * x); /* mu~_t = coef1 x0 + coef2 x_t */
    }
    if (var) *var = sched_at(s, DDPM_POSTERIOR_VARIANCE, t);
    if (log_var) *log_var = sched_at(s, DDPM_POSTERIOR_LOG_VARIANCE_CLIPPED, t);
    return DDPM_OK;
}

ddpm_status ddpm_p_step(const ddpm_schedule *s, int t, ddpm_prediction pred, ddpm_variance var, int clip_x0,
                        const float *xt, const float *model_out, const float *noise, float *x_prev, float *pred_x0,
                        size_t n) {
    if (!t_ok(s, t) || !pred_ok(pred) || !xt || !model_out || !x_prev) return DDPM_ERR_INVALID_ARGUMENT;
    if (var != DDPM_VARIANCE_FIXED_SMALL && var != DDPM_VARIANCE_FIXED_LARGE) return DDPM_ERR_INVALID_ARGUMENT;
    if (t > 0 && !noise) return DDPM_ERR_INVALID_ARGUMENT;
    double sa, s1ma;
    sqrt_ab(s, t, &sa, &s1ma);
    if (pred == DDPM_PREDICT_EPS && sa == 0.0) return DDPM_ERR_INVALID_ARGUMENT; /* x0 = (..)/0 at zero SNR */

    /* sigma_t: fixed_small sqrt(beta~_t), fixed_large sqrt(beta_t); at t = 0 no noise is added (sigma = 0). */
    double sigma = 0.0;
    if (t > 0)
        sigma = sqrt(var == DDPM_VARIANCE_FIXED_SMALL ? sched_at(s, DDPM_POSTERIOR_VARIANCE, t)
                                                      : sched_at(s, DDPM_BETAS, t));
    double c1 = sched_at(s, DDPM_POSTERIOR_MEAN_COEF1, t);
    double c2 = sched_at(s, DDPM_POSTERIOR_MEAN_COEF2, t);
    for (size_t i = 0; i < n; i++) {
        double x = xt[i], o = model_out[i];
        double z = t > 0 ? (double)noise[i] : 0.0;
        double a;
        if (pred == DDPM_PREDICT_X0) {
            a = o;
        } else {
            double e;
            split_one(pred, sa, s1ma, x, o, &a, &e);
        }
        if (clip_x0) a = a < -1.0 ? -1.0 : (a > 1.0 ? 1.0 : a);
        double mean = c1 * a + c2 * x;    /* posterior mean from (x0^, x_t) */
        x_prev[i] = (float)(mean + sigma * z); /* x_{t-1} = mean + sigma_t z */
        if (pred_x0) pred_x0[i] = (float)a;
    }
    return DDPM_OK;
}

/* -------------------------------------------------------------------------------------------------------------
 * Likelihood terms (nats, summed over elements). NULL pointers give NaN.
 * ----------------------------------------------------------------------------------------------------------- */

/* KL(N(m1, e^lv1) || N(m2, e^lv2)) = 0.5 (-1 + lv2 - lv1 + e^(lv1 - lv2) + (m1 - m2)^2 e^(-lv2)) */
static double kl_one(double m1, double lv1, double m2, double lv2) {
    double d = m1 - m2;
    return 0.5 * (-1.0 + lv2 - lv1 + exp(lv1 - lv2) + d * d * exp(-lv2));
}

double ddpm_normal_kl(const float *mean1, const float *log_var1, const float *mean2, const float *log_var2, size_t n) {
    if (!mean1 || !log_var1 || !mean2 || !log_var2) return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += kl_one(mean1[i], log_var1[i], mean2[i], log_var2[i]);
    return sum;
}

double ddpm_normal_kl_scalar_var(const float *mean1, double log_var1, const float *mean2, double log_var2, size_t n) {
    if (!mean1 || !mean2) return NAN;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += kl_one(mean1[i], log_var1, mean2[i], log_var2);
    return sum;
}

#define LOG_2PI 1.8378770664093454835606594728112 /* log(2 pi) */

double ddpm_gaussian_log_likelihood(const float *x, const float *mean, double log_var, size_t n) {
    if (!x || !mean) return NAN;
    double inv_var = exp(-log_var);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)mean[i];
        sum += -0.5 * (LOG_2PI + log_var + d * d * inv_var); /* log N(x; m, e^lv) */
    }
    return sum;
}

/*
 * Standard normal tail probabilities via the exact complementary error function (the reference code uses a tanh
 * approximation of the cdf; the exact one is used here):
 *     Phi(z) = P(Z <= z) = erfc(-z / sqrt 2) / 2,   1 - Phi(z) = P(Z > z) = erfc(z / sqrt 2) / 2.
 * Both are accurate in their own tail, where 1 - Phi computed as a difference would cancel.
 */
#define INV_SQRT2 0.70710678118654752440084436210485
static double cdf_below(double z) { return 0.5 * erfc(-z * INV_SQRT2); }
static double cdf_above(double z) { return 0.5 * erfc(z * INV_SQRT2); }

double ddpm_discretized_gaussian_log_likelihood(const float *x, const float *mean, double log_scale, size_t n) {
    if (!x || !mean) return NAN;
    const double half_bin = 1.0 / 255.0; /* bins of width 2/255 around the 256 levels of [-1, 1] */
    const double floor_p = 1e-12;        /* probabilities are clamped here before the log, as in the reference */
    double inv_std = exp(-log_scale);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double xv = x[i];
        double c = xv - (double)mean[i];
        double plus_in = inv_std * (c + half_bin);  /* upper edge of the bin, standardised */
        double min_in = inv_std * (c - half_bin);   /* lower edge */
        double p; /* the bin's probability mass */
        if (xv < -0.999)      /* lowest level: bin extends to -inf, P = Phi(plus_in) */
            p = cdf_below(plus_in);
        else if (xv > 0.999)  /* highest level: bin extends to +inf, P = 1 - Phi(min_in) */
            p = cdf_above(min_in);
        else                  /* P = Phi(plus_in) - Phi(min_in), on the side of 0 where neither term is close to 1 */
            p = min_in > 0.0 ? cdf_above(min_in) - cdf_above(plus_in) : cdf_below(plus_in) - cdf_below(min_in);
        double lp = log(p < floor_p ? floor_p : p); /* NaN propagates */
        sum += lp;
    }
    return sum;
}

/*
 * KL(N(sqrt(abar) x0, 1 - abar) || N(0, 1)) = 0.5 (v - 1 - log v + abar x0^2) with v = 1 - abar. At the end of a
 * schedule abar is tiny (4e-5 linear, ~1e-9 cosine) and v - 1 - log v = -abar - log1p(-abar) ~ abar^2 / 2 would be lost
 * to cancellation if evaluated as written (as normal_kl does), so it is evaluated through log1p.
 */
double ddpm_prior_kl(const ddpm_schedule *s, const float *x0, size_t n) {
    if (!s || !x0 || ddpm_schedule_num_timesteps(s) < 1) return NAN;
    int t = ddpm_schedule_num_timesteps(s) - 1;
    double ab = sched_at(s, DDPM_ALPHAS_CUMPROD, t);
    double var_term = -ab - log1p(-ab); /* v - 1 - log v, >= 0 */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double x = x0[i];
        sum += 0.5 * (var_term + ab * x * x); /* mean^2 = abar x0^2 */
    }
    return sum;
}

double ddpm_bits_per_dim(double nats, size_t n) {
    if (n == 0) return NAN;
    return nats / ((double)n * 0.69314718055994530941723212145818); /* / (n ln 2) */
}
