/*
 * Tests of the Gaussian operations (q_sample, parameterisation conversions, posterior, reverse step) and the
 * likelihood terms against the float64 reference of training/ref_gaussian.py (tests/data/gaussian_ref.h), plus round
 * trips, aliasing, zero-terminal-SNR behaviour and argument checking.
 *
 * Tolerances: float outputs are the float rounding of a double computation, so they must agree with the float64
 * reference to a relative 1e-6 (float rounding is 6e-8); double outputs to a relative 1e-9.
 */
#include "ddpm.h"
#include "data/gaussian_ref.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int n_pass, n_fail;

static void check(int cond, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", cond ? "ok" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (cond) n_pass++;
    else n_fail++;
}

#define N REF_N
#define FLOAT_TOL 1e-6
#define DOUBLE_TOL 1e-9

/* max over i of |got - want| / (|want| + 1e-3): relative, with a floor so values near 0 do not blow it up */
static double max_err_f(const float *got, const double *want, int n) {
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (fabs(want[i]) + 1e-3);
        if (!(e <= worst)) worst = e; /* NaN counts as the worst */
    }
    return worst;
}

static double rel_d(double got, double want) { return fabs(got - want) / (fabs(want) + 1e-300); }

static void to_f(const double *in, float *out) {
    for (int i = 0; i < N; i++) out[i] = (float)in[i];
}

static ddpm_schedule *sched(ddpm_schedule_kind kind, int rescale) {
    ddpm_schedule_params p = ddpm_schedule_default_params();
    p.kind = kind;
    p.rescale_zero_snr = rescale;
    ddpm_schedule *s = NULL;
    ddpm_schedule_create(&p, &s, NULL);
    return s;
}

static float x0[N], eps[N], xt[N], out[N], noise[N], m1[N], lv1[N], m2[N], lv2[N];

static void test_forward(const ddpm_schedule *s) {
    float r[N];
    for (int k = 0; k < REF_NQ; k++) {
        int t = ref_q_t[k];
        ddpm_status st = ddpm_q_sample(s, t, x0, eps, r, N);
        double e = max_err_f(r, ref_q_sample[k], N);
        check(st == DDPM_OK && e < FLOAT_TOL, "q_sample t=%d vs Python: max rel err %.2e", t, e);
    }
    int t = REF_T_CONV;
    ddpm_status st = ddpm_x0_from_eps(s, t, xt, out, r, N);
    check(st == DDPM_OK && max_err_f(r, ref_x0_from_eps, N) < FLOAT_TOL, "x0_from_eps t=%d: err %.2e", t,
          max_err_f(r, ref_x0_from_eps, N));
    st = ddpm_x0_from_v(s, t, xt, out, r, N);
    check(st == DDPM_OK && max_err_f(r, ref_x0_from_v, N) < FLOAT_TOL, "x0_from_v t=%d: err %.2e", t,
          max_err_f(r, ref_x0_from_v, N));
    st = ddpm_eps_from_x0(s, t, xt, x0, r, N);
    check(st == DDPM_OK && max_err_f(r, ref_eps_from_x0, N) < FLOAT_TOL, "eps_from_x0 t=%d: err %.2e", t,
          max_err_f(r, ref_eps_from_x0, N));

    const char *pn[3] = {"eps", "x0", "v"};
    for (int p = 0; p < 3; p++) {
        float a[N], b[N];
        st = ddpm_split_prediction(s, t, (ddpm_prediction)p, xt, out, a, b, N);
        double ea = max_err_f(a, ref_split_x0[p], N), eb = max_err_f(b, ref_split_eps[p], N);
        check(st == DDPM_OK && ea < FLOAT_TOL && eb < FLOAT_TOL, "split_prediction(%s) t=%d: x0 err %.2e, eps err %.2e",
              pn[p], t, ea, eb);
        float a2[N], b2[N];
        int same = ddpm_split_prediction(s, t, (ddpm_prediction)p, xt, out, a2, NULL, N) == DDPM_OK &&
                   ddpm_split_prediction(s, t, (ddpm_prediction)p, xt, out, NULL, b2, N) == DDPM_OK &&
                   memcmp(a, a2, sizeof a) == 0 && memcmp(b, b2, sizeof b) == 0;
        check(same, "split_prediction(%s): x0 only / eps only give the same bits", pn[p]);
    }
}

static void test_round_trips(const ddpm_schedule *s) {
    const double *sa = ddpm_schedule_array_get(s, DDPM_SQRT_ALPHAS_CUMPROD);
    const double *s1 = ddpm_schedule_array_get(s, DDPM_SQRT_ONE_MINUS_ALPHAS_CUMPROD);
    const int ts[3] = {0, 300, 999};
    for (int k = 0; k < 3; k++) {
        int t = ts[k];
        float x[N], back[N], e2[N], v[N], x0v[N];
        ddpm_q_sample(s, t, x0, eps, x, N);
        ddpm_x0_from_eps(s, t, x, eps, back, N);
        ddpm_eps_from_x0(s, t, x, x0, e2, N);
        for (int i = 0; i < N; i++) v[i] = (float)(sa[t] * eps[i] - s1[t] * x0[i]); /* v = sqrt(ab) eps - sqrt(1-ab) x0 */
        ddpm_x0_from_v(s, t, x, v, x0v, N);
        /* x_t is rounded to float (error ~6e-8 |x_t|); recovering x0 divides that by sqrt(abar), eps by sqrt(1-abar) */
        double tol0 = 4e-7 / sa[t], tole = 4e-7 / s1[t];
        double w0 = 0, we = 0, wv = 0;
        for (int i = 0; i < N; i++) {
            w0 = fmax(w0, fabs(back[i] - x0[i]));
            we = fmax(we, fabs(e2[i] - eps[i]));
            wv = fmax(wv, fabs(x0v[i] - x0[i]));
        }
        check(w0 < tol0 && we < tole && wv < 1e-6,
              "round trip t=%d: x0 -> x_t -> x0 (err %.1e < %.1e), eps (err %.1e < %.1e), via v (err %.1e)", t, w0,
              tol0, we, tole, wv);
    }
    /* outputs may alias inputs */
    float a[N], b[N];
    memcpy(a, xt, sizeof a);
    ddpm_x0_from_eps(s, 400, xt, out, b, N);
    ddpm_x0_from_eps(s, 400, a, out, a, N);
    int ok = memcmp(a, b, sizeof a) == 0;
    memcpy(a, out, sizeof a);
    float c[N], d[N];
    ddpm_split_prediction(s, 400, DDPM_PREDICT_V, xt, out, c, d, N);
    float e[N];
    memcpy(e, xt, sizeof e);
    ddpm_split_prediction(s, 400, DDPM_PREDICT_V, e, a, e, a, N); /* x0 over x_t, eps over the model output */
    ok &= memcmp(e, c, sizeof c) == 0 && memcmp(a, d, sizeof d) == 0;
    check(ok, "outputs aliasing inputs give the same bits (x0_from_eps, split_prediction v)");
}

static void test_posterior(const ddpm_schedule *s) {
    for (int k = 0; k < REF_NPOST; k++) {
        int t = ref_post_t[k];
        float mean[N];
        double var = -1, lv = -1;
        ddpm_status st = ddpm_q_posterior(s, t, x0, xt, mean, N, &var, &lv);
        double em = max_err_f(mean, ref_post_mean[k], N);
        double ev = t == 0 ? (var == 0.0 ? 0.0 : 1.0) : rel_d(var, ref_post_var[k]);
        double el = rel_d(lv, ref_post_log_var[k]);
        check(st == DDPM_OK && em < FLOAT_TOL && ev < DOUBLE_TOL && el < DOUBLE_TOL,
              "q_posterior t=%d: mean err %.2e, var %.6e (err %.1e), clipped log var %.6f (err %.1e)", t, em, var, ev,
              lv, el);
    }
    float mean[N];
    check(ddpm_q_posterior(s, 5, x0, xt, mean, N, NULL, NULL) == DDPM_OK, "q_posterior accepts NULL var/log_var");
}

static void test_p_step(const ddpm_schedule *s) {
    const char *pn[3] = {"eps", "x0", "v"}, *vn[2] = {"fixed_small", "fixed_large"};
    for (int k = 0; k < REF_NP; k++) {
        int pred = ref_p_case[k][0], var = ref_p_case[k][1], clip = ref_p_case[k][2], t = ref_p_case[k][3];
        float xp[N], px[N];
        /* at t = 0 no noise: pass NULL to show it is not read */
        ddpm_status st = ddpm_p_step(s, t, (ddpm_prediction)pred, (ddpm_variance)var, clip, xt, out,
                                     t == 0 ? NULL : noise, xp, px, N);
        double e1 = max_err_f(xp, ref_p_x_prev[k], N), e2 = max_err_f(px, ref_p_pred_x0[k], N);
        int clipped = 0, in_range = 1;
        for (int i = 0; i < N; i++) {
            clipped += fabs(px[i]) == 1.0f;
            in_range &= fabs(px[i]) <= 1.0f;
        }
        check(st == DDPM_OK && e1 < FLOAT_TOL && e2 < FLOAT_TOL && (!clip || in_range),
              "p_step pred=%s %s clip=%d t=%d%s: x_prev err %.2e, pred_x0 err %.2e%s", pn[pred], vn[var], clip, t,
              t == 0 ? " (noise NULL)" : "", e1, e2, clip ? (clipped ? ", some x0 clipped to +-1" : ", nothing clipped")
                                                          : "");
        float xp2[N];
        ddpm_p_step(s, t, (ddpm_prediction)pred, (ddpm_variance)var, clip, xt, out, noise, xp2, NULL, N);
        check(memcmp(xp, xp2, sizeof xp) == 0, "p_step case %d: pred_x0 = NULL gives the same x_prev%s", k,
              t == 0 ? "; at t = 0 the noise is ignored" : "");
    }
    /* in place: x_prev over x_t */
    float a[N], b[N];
    memcpy(a, xt, sizeof a);
    ddpm_p_step(s, 500, DDPM_PREDICT_EPS, DDPM_VARIANCE_FIXED_SMALL, 1, xt, out, noise, b, NULL, N);
    ddpm_p_step(s, 500, DDPM_PREDICT_EPS, DDPM_VARIANCE_FIXED_SMALL, 1, a, out, noise, a, NULL, N);
    check(memcmp(a, b, sizeof a) == 0, "p_step in place (x_prev aliasing x_t) gives the same bits");
}

static void test_likelihood(const ddpm_schedule *lin, const ddpm_schedule *cosine) {
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, rel_d(ddpm_normal_kl(&m1[i], &lv1[i], &m2[i], &lv2[i], 1),
                                                          ref_kl_elem[i]));
    check(worst < DOUBLE_TOL, "normal_kl per element vs Python: max rel err %.2e", worst);
    double kl = ddpm_normal_kl(m1, lv1, m2, lv2, N);
    check(rel_d(kl, ref_kl_sum) < DOUBLE_TOL, "normal_kl summed = %.12f (err %.1e)", kl, rel_d(kl, ref_kl_sum));
    double kls = ddpm_normal_kl_scalar_var(m1, REF_KL_SLV1, m2, REF_KL_SLV2, N);
    check(rel_d(kls, ref_kl_scalar) < DOUBLE_TOL, "normal_kl_scalar_var = %.12f (err %.1e)", kls,
          rel_d(kls, ref_kl_scalar));
    check(ddpm_normal_kl(m1, lv1, m1, lv1, N) == 0.0 && ddpm_normal_kl_scalar_var(m2, 0.3, m2, 0.3, N) == 0.0,
          "KL of a distribution with itself is 0");
    double gll = ddpm_gaussian_log_likelihood(m1, m2, REF_GLL_LV, N);
    check(rel_d(gll, ref_gauss_ll) < DOUBLE_TOL, "gaussian_log_likelihood = %.12f (err %.1e)", gll,
          rel_d(gll, ref_gauss_ll));

    float dx[N], dm[N];
    to_f(ref_disc_x, dx);
    to_f(ref_disc_mean, dm);
    static const char *what[N] = {"x=-1 edge", "x=+1 edge", "middle", "middle", "next to -1", "next to +1",
                                  "middle, far", "middle, far"};
    for (int k = 0; k < REF_NDLS; k++) {
        double ls = ref_disc_log_scale[k];
        double sum_ref = 0;
        for (int i = 0; i < N; i++) {
            double got = ddpm_discretized_gaussian_log_likelihood(&dx[i], &dm[i], ls, 1);
            sum_ref += ref_disc_elem[k][i];
            check(rel_d(got, ref_disc_elem[k][i]) < DOUBLE_TOL,
                  "discretized loglik %s (x=%.6f, mean=%.3f, log_scale=%.3f) = %.10f vs %.10f", what[i], dx[i], dm[i], ls,
                  got, ref_disc_elem[k][i]);
        }
        double sum = ddpm_discretized_gaussian_log_likelihood(dx, dm, ls, N);
        check(rel_d(sum, sum_ref) < DOUBLE_TOL, "discretized loglik summed over %d elements, log_scale=%.3f", N, ls);
    }
    /* the clamp: a bin far in the tail has log probability log(1e-12) */
    float fx = 0.5f, fm = -0.5f;
    double clamped = ddpm_discretized_gaussian_log_likelihood(&fx, &fm, log(0.01), 1);
    check(fabs(clamped - log(1e-12)) < 1e-12, "discretized loglik clamps a vanishing bin mass to log(1e-12)");

    double pk = ddpm_prior_kl(lin, x0, N), pc = ddpm_prior_kl(cosine, x0, N);
    check(rel_d(pk, ref_prior_kl_linear) < DOUBLE_TOL, "prior_kl linear = %.6e (err %.1e)", pk,
          rel_d(pk, ref_prior_kl_linear));
    check(rel_d(pc, ref_prior_kl_cosine) < DOUBLE_TOL, "prior_kl cosine = %.6e (err %.1e)", pc,
          rel_d(pc, ref_prior_kl_cosine));
    double bpd = ddpm_bits_per_dim(1234.5, 784);
    check(rel_d(bpd, ref_bpd) < 1e-15, "bits_per_dim(1234.5 nats, 784) = %.12f", bpd);
    check(isnan(ddpm_normal_kl(NULL, lv1, m2, lv2, N)) && isnan(ddpm_gaussian_log_likelihood(m1, NULL, 0.0, N)) &&
          isnan(ddpm_discretized_gaussian_log_likelihood(NULL, dm, 0.0, N)) && isnan(ddpm_prior_kl(NULL, x0, N)) &&
          isnan(ddpm_bits_per_dim(1.0, 0)),
          "likelihood terms return NaN for NULL pointers; bits_per_dim with n = 0 is NaN");
}

static void test_zero_snr(void) {
    ddpm_schedule *z = sched(DDPM_SCHEDULE_LINEAR, 1);
    check(z != NULL, "zero-SNR schedule creates");
    if (!z) return;
    int T = ddpm_schedule_num_timesteps(z);
    float a[N], b[N];
    check(ddpm_x0_from_eps(z, T - 1, xt, eps, a, N) == DDPM_ERR_INVALID_ARGUMENT,
          "zero SNR: x0_from_eps at T-1 (divides by sqrt(abar) = 0) is rejected");
    check(ddpm_eps_from_x0(z, T - 1, xt, x0, a, N) == DDPM_OK, "zero SNR: eps_from_x0 at T-1 is fine (eps = x_t)");
    int eq = 1;
    for (int i = 0; i < N; i++) eq &= a[i] == xt[i];
    check(eq, "zero SNR: at T-1, x_t is pure noise so eps == x_t");
    check(ddpm_split_prediction(z, T - 1, DDPM_PREDICT_EPS, xt, out, a, b, N) == DDPM_ERR_INVALID_ARGUMENT &&
          ddpm_split_prediction(z, T - 1, DDPM_PREDICT_EPS, xt, out, NULL, b, N) == DDPM_OK,
          "zero SNR: split_prediction(eps) at T-1 rejects an x0 request, allows eps only");
    check(ddpm_p_step(z, T - 1, DDPM_PREDICT_EPS, DDPM_VARIANCE_FIXED_SMALL, 0, xt, out, noise, a, NULL, N) ==
          DDPM_ERR_INVALID_ARGUMENT, "zero SNR: p_step with eps prediction at T-1 is rejected");
    ddpm_status st = ddpm_p_step(z, T - 1, DDPM_PREDICT_V, DDPM_VARIANCE_FIXED_SMALL, 1, xt, out, noise, a, b, N);
    int fin = 1, x0eq = 1;
    for (int i = 0; i < N; i++) {
        fin &= isfinite(a[i]) != 0;
        float want = -out[i] < -1.0f ? -1.0f : (-out[i] > 1.0f ? 1.0f : -out[i]);
        x0eq &= b[i] == want;
    }
    check(st == DDPM_OK && fin && x0eq, "zero SNR: p_step with v prediction at T-1 is finite and x0^ = clip(-v)");
    double pk = ddpm_prior_kl(z, x0, N);
    check(pk == 0.0, "zero SNR: prior KL is 0 (q(x_{T-1} | x0) = N(0, I))");
    ddpm_schedule_free(z);
}

static void test_arguments(const ddpm_schedule *s) {
    float r[N];
    int T = ddpm_schedule_num_timesteps(s);
    int ok = 1;
    ok &= ddpm_q_sample(NULL, 0, x0, eps, r, N) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_q_sample(s, -1, x0, eps, r, N) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_q_sample(s, T, x0, eps, r, N) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_q_sample(s, 0, NULL, eps, r, N) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_q_sample(s, 0, x0, eps, NULL, N) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_x0_from_eps(s, T, xt, eps, r, N) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_x0_from_v(s, 0, xt, NULL, r, N) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_eps_from_x0(s, -5, xt, x0, r, N) == DDPM_ERR_INVALID_ARGUMENT;
    check(ok, "q_sample / conversions: NULL schedule or buffer, t = -1, t = T rejected");
    ok = ddpm_split_prediction(s, 0, (ddpm_prediction)3, xt, out, r, NULL, N) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_split_prediction(s, 0, DDPM_PREDICT_EPS, NULL, out, r, NULL, N) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_q_posterior(s, T, x0, xt, r, N, NULL, NULL) == DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_q_posterior(s, 0, x0, xt, NULL, N, NULL, NULL) == DDPM_ERR_INVALID_ARGUMENT;
    check(ok, "split_prediction (bad prediction enum, NULL x_t) and q_posterior (t = T, NULL mean) rejected");
    check(ddpm_split_prediction(s, 0, DDPM_PREDICT_EPS, xt, out, NULL, NULL, N) == DDPM_OK,
          "split_prediction with both outputs NULL does nothing");
    ok = ddpm_p_step(s, 10, DDPM_PREDICT_EPS, DDPM_VARIANCE_FIXED_SMALL, 0, xt, out, NULL, r, NULL, N) ==
         DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_p_step(s, 10, DDPM_PREDICT_EPS, (ddpm_variance)2, 0, xt, out, noise, r, NULL, N) ==
          DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_p_step(s, 10, (ddpm_prediction)-1, DDPM_VARIANCE_FIXED_SMALL, 0, xt, out, noise, r, NULL, N) ==
          DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_p_step(s, T, DDPM_PREDICT_EPS, DDPM_VARIANCE_FIXED_SMALL, 0, xt, out, noise, r, NULL, N) ==
          DDPM_ERR_INVALID_ARGUMENT;
    ok &= ddpm_p_step(s, 10, DDPM_PREDICT_EPS, DDPM_VARIANCE_FIXED_SMALL, 0, xt, NULL, noise, r, NULL, N) ==
          DDPM_ERR_INVALID_ARGUMENT;
    check(ok, "p_step: NULL noise at t > 0, bad variance / prediction enum, t = T, NULL model output rejected");
}

int main(void) {
    to_f(ref_in_x0, x0);
    to_f(ref_in_eps, eps);
    to_f(ref_in_xt, xt);
    to_f(ref_in_out, out);
    to_f(ref_in_noise, noise);
    to_f(ref_in_m1, m1);
    to_f(ref_in_lv1, lv1);
    to_f(ref_in_m2, m2);
    to_f(ref_in_lv2, lv2);
    ddpm_schedule *lin = sched(DDPM_SCHEDULE_LINEAR, 0), *cosine = sched(DDPM_SCHEDULE_COSINE, 0);
    check(lin && cosine, "linear and cosine schedules (T = 1000) create");
    if (lin && cosine) {
        test_forward(lin);
        test_round_trips(lin);
        test_posterior(lin);
        test_p_step(lin);
        test_likelihood(lin, cosine);
        test_arguments(lin);
    }
    test_zero_snr();
    ddpm_schedule_free(lin);
    ddpm_schedule_free(cosine);
    printf("test_gaussian: %d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
