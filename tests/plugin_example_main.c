/*
 * The main() of the plugin tutorials in include/ddpm.h: tests/plugin_example.sh cuts the tutorials' code out of the
 * installed header, appends this file and builds the result against the installed header and library only.
 * The sampler plugin registers, runs on a small model, and lands where the built-in Euler sampler lands (the same
 * ODE step, written differently: agreement within float rounding). The model plugin (Gaussian data, exact eps)
 * sampled by DDIM at eta 0 lands on the probability-flow ODE's closed-form end point.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *model_path = argc > 1 ? argv[1] : "tests/data/tiny-uncond.f32.safetensors";
    ddpm_error err;
    ddpm_model *m;
    if (ddpm_model_load_file(model_path, &m, &err) != DDPM_OK) {
        fprintf(stderr, "FAIL load %s: %s\n", model_path, err.message);
        return 1;
    }
    if (ddpm_sampler_register(&my_euler, &err) != DDPM_OK) {
        fprintf(stderr, "FAIL register: %s\n", err.message);
        return 1;
    }
    ddpm_sample_params p = ddpm_sample_default_params();
    p.seed = 5;
    p.batch = 2;
    p.steps = 25;
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const size_t n = (size_t)p.batch * c->in_channels * c->image_size * c->image_size;
    float a[2 * 3 * 64 * 64], b[2 * 3 * 64 * 64];
    if (n > sizeof a / sizeof a[0]) return 1;
    p.sampler = "my_euler";
    ddpm_status s1 = ddpm_sample(m, &p, a, NULL, NULL, &err);
    p.sampler = "euler";
    ddpm_status s2 = ddpm_sample(m, &p, b, NULL, NULL, &err);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - (double)b[i]) / (fabs((double)b[i]) + 1.0);
        if (!(d <= worst)) worst = d;
    }
    ddpm_model_free(m);
    if (s1 != DDPM_OK || s2 != DDPM_OK || !(worst < 1e-4)) {
        fprintf(stderr, "FAIL my_euler vs euler: status %d %d, worst relative difference %.3g\n", s1, s2, worst);
        return 1;
    }
    printf("ok   the tutorial's plugin registers and runs: my_euler = euler within %.2g (25 steps, batch 2)\n", worst);

    ddpm_schedule_params sp = ddpm_schedule_default_params();
    ddpm_schedule *sched;
    if (ddpm_schedule_create(&sp, &sched, &err) != DDPM_OK) return 1;
    const gauss_model g = {0.25, 0.4, sched};
    float xs[32];
    int t0 = 0;
    ddpm_status st = sample_gauss(&g, xs, &t0);
    const double aT = ddpm_schedule_array_get(sched, DDPM_ALPHAS_CUMPROD)[t0];
    double werr = 0.0;
    for (int j = 0; j < 16; j++) {
        const double want = g.mu + g.s * (xs[j] - sqrt(aT) * g.mu) / sqrt(aT * g.s * g.s + 1 - aT);
        const double e = fabs(xs[16 + j] - want);
        if (!(e <= werr)) werr = e;
    }
    ddpm_schedule_free(sched);
    if (st != DDPM_OK || !(werr < 5e-3)) { /* DDIM is first order: 2.4e-3 over the 1000 steps */
        fprintf(stderr, "FAIL the model plugin: status %d, worst |x - ODE end point| %.3g\n", st, werr);
        return 1;
    }
    printf("ok   the tutorial's model plugin lands on the ODE end point within %.2g\n", werr);
    return 0;
}
