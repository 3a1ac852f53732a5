/*
 * The "ddim" and "ddpm" samplers against diffusers' own trajectories, model left out: diffusers v0.21.4's
 * DDIMScheduler (50 steps, eta 0) and DDPMScheduler (20 leading steps, fixed_small) recorded every step's model
 * output eps[i], x after each step x[i] and the noise they drew (tests/data/diffusers/sampling/, GOLDENS.md). A
 * denoiser that returns the recorded eps replaces the U-Net, so this checks the schedule (scheduler_config.json
 * read the diffusers way, float32) and the update rules alone.
 *
 * Teacher forcing: step i runs on its own, from diffusers' x[i-1] (x_T for i = 0) over the remaining grid (a custom
 * timestep list), with the recorded noise of that step; its output must equal diffusers' x[i] to float32 rounding
 * (diffusers computes in float32, the samplers in double from the same float32 schedule): within 5e-6 (measured
 * 6e-7), while GLIDE's re-derived eps (clip_eps = 1, this engine's default) or no clipping miss by more than 1.
 */
#include "ddpm.h"
#include "io/scheduler_config.h"
#include "testutil.h"

#include <stdint.h>

#define DIR "tests/data/diffusers/sampling/"
#define B 2
#define NE (B * 3 * 16 * 16)
#define MAX_STEPS 50

typedef struct golden {
    int steps;
    int timesteps[MAX_STEPS];
    float x_T[NE], x[MAX_STEPS][NE], eps[MAX_STEPS][NE], noise[MAX_STEPS][NE];
    int noise_step[MAX_STEPS], noise_count;
} golden;

static int load(const char *path, golden *g) {
    size_t n;
    unsigned char *buf = tu_read_file(path, &n);
    if (!buf) return 0;
    int64_t ts[MAX_STEPS], ns[MAX_STEPS];
    const size_t tb = tu_raw_tensor(buf, n, "timesteps", "I64", ts, sizeof ts);
    g->steps = (int)(tb / 8);
    int ok = g->steps > 0 && tu_raw_tensor(buf, n, "x_T", "F32", g->x_T, sizeof g->x_T) == sizeof g->x_T &&
             tu_raw_tensor(buf, n, "x", "F32", g->x, sizeof g->x) == sizeof(float) * NE * g->steps &&
             tu_raw_tensor(buf, n, "eps", "F32", g->eps, sizeof g->eps) == sizeof(float) * NE * g->steps;
    for (int i = 0; i < g->steps; i++) g->timesteps[i] = (int)ts[i];
    g->noise_count = (int)(tu_raw_tensor(buf, n, "noise_step_index", "I64", ns, sizeof ns) / 8);
    if (g->noise_count)
        ok &= tu_raw_tensor(buf, n, "noise", "F32", g->noise, sizeof g->noise) == sizeof(float) * NE * g->noise_count;
    for (int j = 0; j < g->noise_count; j++) g->noise_step[j] = (int)ns[j];
    free(buf);
    return ok;
}

typedef struct replay {
    const float *eps; /* the recorded model output of the step being run */
    int t, bad_t;
} replay;

static ddpm_status replay_eval(void *user, int n, const float *x, const float *t, const int *y, float *out,
                               ddpm_error *err) {
    replay *r = user;
    for (int k = 0; k < n; k++) r->bad_t |= t[k] != (float)r->t;
    memcpy(out, r->eps, sizeof(float) * NE);
    return DDPM_OK;
}

/* Step i of golden g with the sampler and options, teacher-forced; returns max |x - x_diffusers[i]| over all steps
 * (-1 on failure). */
static double replay_steps(const golden *g, const ddpm_denoiser *den, replay *rp, const char *sampler, int nopt,
                           const char *const *names, const double *vals) {
    double worst = 0;
    for (int i = 0; i < g->steps; i++) {
        ddpm_sample_params p = ddpm_sample_default_params();
        p.sampler = sampler;
        p.batch = B;
        p.num_options = nopt;
        p.option_names = names;
        p.option_values = vals;
        p.timesteps = g->timesteps + i;
        p.num_timesteps = g->steps - i;
        p.start_x = i ? g->x[i - 1] : g->x_T;
        for (int j = 0; j < g->noise_count; j++)
            if (g->noise_step[j] == i) {
                p.noise = g->noise[j];
                p.noise_count = 1;
            }
        rp->eps = g->eps[i];
        rp->t = g->timesteps[i];
        ddpm_run *r = NULL;
        ddpm_error err;
        if (ddpm_run_create_with(den, &p, &r, &err) != DDPM_OK || ddpm_run_step(r, &err) != DDPM_OK) {
            CHECK(0, "%s step %d: %s", sampler, i, err.message);
            ddpm_run_free(r);
            return -1;
        }
        const float *x = ddpm_run_x(r);
        for (int e = 0; e < NE; e++) worst = fmax(worst, fabs((double)x[e] - (double)g->x[i][e]));
        ddpm_run_free(r);
    }
    return worst;
}

static void test_sampler(const char *config, const char *trajectory, const char *sampler) {
    static golden g;
    ddpm_scheduler_config sc;
    size_t n;
    unsigned char *text = tu_read_file(config, &n);
    ddpm_error err;
    const int parsed = text && ddpm_scheduler_config_parse((const char *)text, n, &sc, &err) == DDPM_OK;
    free(text);
    CHECK(parsed && load(trajectory, &g), "%s: config and trajectory (%d steps, %d noise draws)", sampler, g.steps,
          g.noise_count);
    if (!parsed) return;
    ddpm_schedule *s = NULL;
    if (ddpm_schedule_create(&sc.schedule, &s, &err) != DDPM_OK) {
        CHECK(0, "%s: schedule (%s)", sampler, err.message);
        ddpm_scheduler_config_free(&sc);
        return;
    }
    replay rp = {NULL, 0, 0};
    ddpm_denoiser d;
    memset(&d, 0, sizeof d);
    d.schedule = s;
    d.prediction = sc.prediction;
    d.channels = 3;
    d.image_size = 16;
    d.eval = replay_eval;
    d.user_data = &rp;

    if (strcmp(sampler, "ddim") == 0) {
        const char *names[5] = {"eta", "clip_x0", "clip_eps", "set_alpha_to_one", "clip_range"};
        double vals[5] = {0, sc.clip_sample, 0, sc.set_alpha_to_one, sc.clip_sample_range};
        const double diffusers = replay_steps(&g, &d, &rp, "ddim", 5, names, vals);
        vals[2] = 1;
        const double glide = replay_steps(&g, &d, &rp, "ddim", 5, names, vals);
        CHECK(diffusers >= 0 && diffusers < 5e-6 && glide > 100 * diffusers && !rp.bad_t,
              "ddim (clip_eps 0, set_alpha_to_one %d): every step = DDIMScheduler.step, max |dx| %.2e (with GLIDE's "
              "eps: %.2e)",
              sc.set_alpha_to_one, diffusers, glide);
    } else {
        const char *names[3] = {"variance", "clip_x0", "clip_range"};
        double vals[3] = {sc.variance == DDPM_VARIANCE_FIXED_LARGE, sc.clip_sample, sc.clip_sample_range};
        const double worst = replay_steps(&g, &d, &rp, "ddpm", 3, names, vals);
        vals[1] = 0;
        const double unclipped = replay_steps(&g, &d, &rp, "ddpm", 3, names, vals);
        CHECK(worst >= 0 && worst < 5e-6 && unclipped > 100 * worst && !rp.bad_t,
              "ddpm (fixed_small, clip_x0): every step = DDPMScheduler.step, max |dx| %.2e (unclipped: %.2e)", worst,
              unclipped);
    }
    ddpm_schedule_free(s);
    ddpm_scheduler_config_free(&sc);
}

int main(void) {
    test_sampler(DIR "ddim/scheduler_config.json", DIR "ddim50_eta0.safetensors", "ddim");
    test_sampler(DIR "ddpm/scheduler_config.json", DIR "ddpm20_leading.safetensors", "ddpm");
    return tu_finish("test_diffusers_steps");
}
