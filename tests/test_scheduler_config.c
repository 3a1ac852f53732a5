/*
 * diffusers scheduler_config.json parsing (src/io/scheduler_config.h).
 *
 * 1. The two configs diffusers v0.21.4 wrote for the golden runs (tests/data/diffusers/sampling/{ddpm,ddim}/), every
 *    field; the schedule they give against diffusers' own float32 betas and alphas_cumprod
 *    (tests/data/diffusers/sampling/schedule.safetensors), bit for bit.
 * 2. Per-class defaults and keys (DDPM, DDIM, PNDM), trained_betas, keys a class ignores.
 * 3. Every refusal, with its status and a message naming the key and the value.
 */
#include "ddpm.h"
#include "io/scheduler_config.h"
#include "testutil.h"

#include <stdint.h>

#define DIR "tests/data/diffusers/sampling/"

static int parse(const char *json, ddpm_scheduler_config *c, ddpm_error *err) {
    return ddpm_scheduler_config_parse(json, strlen(json), c, err);
}

static int parse_file(const char *path, ddpm_scheduler_config *c) {
    size_t n;
    unsigned char *text = tu_read_file(path, &n);
    if (!text) {
        CHECK(0, "read %s", path);
        return 0;
    }
    ddpm_error err;
    ddpm_status st = ddpm_scheduler_config_parse((const char *)text, n, c, &err);
    CHECK(st == DDPM_OK, "%s parses (%s)", path, err.message);
    free(text);
    return st == DDPM_OK;
}

static void test_golden_configs(void) {
    ddpm_scheduler_config c;
    if (parse_file(DIR "ddpm/scheduler_config.json", &c)) {
        CHECK(strcmp(c.class_name, "DDPMScheduler") == 0 && strcmp(c.sampler, "ddpm") == 0,
              "ddpm: DDPMScheduler -> sampler %s", c.sampler);
        CHECK(c.schedule.kind == DDPM_SCHEDULE_LINEAR && c.schedule.num_timesteps == 1000 &&
                  c.schedule.beta_start == 0.0001 && c.schedule.beta_end == 0.02 && c.schedule.float32 == 1 &&
                  c.schedule.rescale_zero_snr == 0 && c.schedule.betas == NULL && c.betas == NULL,
              "ddpm: linear 1e-4 .. 0.02, T = 1000, float32, no rescale, no trained betas");
        CHECK(c.prediction == DDPM_PREDICT_EPS && c.variance == DDPM_VARIANCE_FIXED_SMALL,
              "ddpm: epsilon, fixed_small");
        CHECK(c.clip_sample == 1 && c.clip_sample_range == 1.0 && c.spacing == DDPM_SPACING_LEADING &&
                  c.steps_offset == 0 && c.set_alpha_to_one == 1,
              "ddpm: clip_sample true, range 1, leading, steps_offset 0, (set_alpha_to_one 1)");

        /* the schedule against diffusers' own, bit for bit */
        size_t n;
        unsigned char *buf = tu_read_file(DIR "schedule.safetensors", &n);
        static float betas[1000], abar[1000];
        const size_t nb = buf ? tu_raw_tensor(buf, n, "betas", "F32", betas, sizeof betas) / 4 : 0;
        const size_t na = buf ? tu_raw_tensor(buf, n, "alphas_cumprod", "F32", abar, sizeof abar) / 4 : 0;
        CHECK(nb == 1000 && na == 1000, "schedule.safetensors: betas and alphas_cumprod, 1000 float32 each");
        ddpm_schedule *s = NULL;
        ddpm_error err;
        CHECK(ddpm_schedule_create(&c.schedule, &s, &err) == DDPM_OK, "ddpm: the schedule creates");
        if (s && nb == 1000 && na == 1000) {
            const double *b = ddpm_schedule_array_get(s, DDPM_BETAS);
            const double *ab = ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD);
            int db = 0, da = 0;
            for (int t = 0; t < 1000; t++) {
                db += b[t] != (double)betas[t];
                da += ab[t] != (double)abar[t];
            }
            CHECK(db == 0, "float32 linear betas == diffusers' betas, bit for bit (%d of 1000 differ)", db);
            CHECK(da == 0, "float32 alphas_cumprod == diffusers' alphas_cumprod, bit for bit (%d of 1000 differ)", da);
        }
        ddpm_schedule_free(s);
        free(buf);
        ddpm_scheduler_config_free(&c);
    }
    if (parse_file(DIR "ddim/scheduler_config.json", &c)) {
        CHECK(strcmp(c.class_name, "DDIMScheduler") == 0 && strcmp(c.sampler, "ddim") == 0,
              "ddim: DDIMScheduler -> sampler %s", c.sampler);
        CHECK(c.schedule.kind == DDPM_SCHEDULE_LINEAR && c.schedule.num_timesteps == 1000 &&
                  c.schedule.beta_start == 0.0001 && c.schedule.beta_end == 0.02 && c.schedule.float32 == 1 &&
                  c.schedule.rescale_zero_snr == 0 && c.betas == NULL,
              "ddim: linear 1e-4 .. 0.02, T = 1000, float32, rescale_betas_zero_snr false");
        CHECK(c.prediction == DDPM_PREDICT_EPS && c.variance == DDPM_VARIANCE_FIXED_SMALL && c.clip_sample == 1 &&
                  c.clip_sample_range == 1.0 && c.spacing == DDPM_SPACING_LEADING && c.steps_offset == 0 &&
                  c.set_alpha_to_one == 1,
              "ddim: epsilon, clip_sample true, range 1, leading, steps_offset 0, set_alpha_to_one true");
        ddpm_scheduler_config_free(&c);
    }
}

static void test_defaults_and_classes(void) {
    ddpm_scheduler_config c;
    ddpm_error err;
    ddpm_scheduler_config_default(&c);
    CHECK(strcmp(c.class_name, "DDPMScheduler") == 0 && strcmp(c.sampler, "ddpm") == 0 &&
              c.schedule.kind == DDPM_SCHEDULE_LINEAR && c.schedule.num_timesteps == 1000 && c.schedule.float32 == 1 &&
              c.clip_sample == 1 && c.clip_sample_range == 1.0 && c.variance == DDPM_VARIANCE_FIXED_SMALL &&
              c.prediction == DDPM_PREDICT_EPS && c.set_alpha_to_one == 1 && c.betas == NULL,
          "default: DDPMScheduler() (linear, T = 1000, float32, clip_sample, fixed_small, epsilon)");
    ddpm_scheduler_config_free(&c);
    ddpm_scheduler_config_free(NULL);

    CHECK(parse("{}", &c, &err) == DDPM_OK && strcmp(c.class_name, "DDPMScheduler") == 0, "{} is DDPMScheduler()");
    ddpm_scheduler_config_free(&c);

    CHECK(parse("{\"_class_name\": \"DDIMScheduler\", \"beta_schedule\": \"scaled_linear\", \"beta_start\": 0.00085,"
                " \"beta_end\": 0.012, \"clip_sample\": false, \"set_alpha_to_one\": false, \"steps_offset\": 1,"
                " \"prediction_type\": \"v_prediction\", \"timestep_spacing\": \"trailing\","
                " \"rescale_betas_zero_snr\": true, \"variance_type\": \"learned\"}",
                &c, &err) == DDPM_OK,
          "a Stable-Diffusion-like DDIM config (variance_type, which DDIM does not take, ignored): %s", err.message);
    CHECK(c.schedule.kind == DDPM_SCHEDULE_SCALED_LINEAR && c.schedule.beta_start == 0.00085 &&
              c.schedule.rescale_zero_snr == 1 && c.clip_sample == 0 && c.set_alpha_to_one == 0 &&
              c.steps_offset == 1 && c.prediction == DDPM_PREDICT_V && c.spacing == DDPM_SPACING_TRAILING &&
              c.variance == DDPM_VARIANCE_FIXED_SMALL,
          "ddim: scaled_linear, rescale, no clip, set_alpha_to_one false, offset 1, v, trailing");
    ddpm_scheduler_config_free(&c);

    CHECK(parse("{\"_class_name\": \"PNDMScheduler\", \"skip_prk_steps\": true, \"clip_sample\": true,"
                " \"thresholding\": true, \"beta_schedule\": \"squaredcos_cap_v2\","
                " \"timestep_spacing\": \"linspace\"}",
                &c, &err) == DDPM_OK,
          "PNDM with skip_prk_steps (clip_sample and thresholding, which PNDM does not take, ignored): %s",
          err.message);
    CHECK(strcmp(c.sampler, "plms") == 0 && c.clip_sample == 0 && c.set_alpha_to_one == 0 &&
              c.schedule.kind == DDPM_SCHEDULE_COSINE && c.spacing == DDPM_SPACING_LINSPACE,
          "pndm: plms, no clipping, set_alpha_to_one false (its default), cosine, linspace");
    ddpm_scheduler_config_free(&c);

    CHECK(parse("{\"rescale_betas_zero_snr\": true, \"set_alpha_to_one\": false, \"beta_schedule\": \"sigmoid\","
                " \"variance_type\": \"fixed_large_log\", \"clip_sample_range\": 2.5}",
                &c, &err) == DDPM_OK &&
              c.schedule.rescale_zero_snr == 0 && c.set_alpha_to_one == 1 &&
              c.schedule.kind == DDPM_SCHEDULE_SIGMOID && c.variance == DDPM_VARIANCE_FIXED_LARGE &&
              c.clip_sample_range == 2.5,
          "ddpm: sigmoid, fixed_large_log -> FIXED_LARGE, clip range 2.5; DDIM-only keys ignored");
    ddpm_scheduler_config_free(&c);

    /* not NUL-terminated: only text[0..len) is read */
    const char *longer = "{\"num_train_timesteps\": 500}garbage";
    CHECK(ddpm_scheduler_config_parse(longer, strlen(longer) - 7, &c, &err) == DDPM_OK &&
              c.schedule.num_timesteps == 500,
          "reads exactly len bytes (T = %d)", c.schedule.num_timesteps);
    ddpm_scheduler_config_free(&c);
}

static void test_trained_betas(void) {
    ddpm_scheduler_config c;
    ddpm_error err;
    CHECK(parse("{\"num_train_timesteps\": 4, \"trained_betas\": [0.001, 0.01, 0.1, 1],"
                " \"beta_schedule\": \"not read with trained betas\"}",
                &c, &err) == DDPM_OK,
          "trained_betas (beta_schedule then not read, as in diffusers): %s", err.message);
    CHECK(c.schedule.kind == DDPM_SCHEDULE_CUSTOM && c.betas && c.schedule.betas == c.betas &&
              c.schedule.num_timesteps == 4 && c.betas[0] == 0.001 && c.betas[2] == 0.1 && c.betas[3] == 1.0,
          "-> DDPM_SCHEDULE_CUSTOM with its betas");
    ddpm_schedule *s = NULL;
    if (ddpm_schedule_create(&c.schedule, &s, &err) == DDPM_OK) {
        const double *b = ddpm_schedule_array_get(s, DDPM_BETAS), *ab = ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD);
        const float a0 = 1.0f - 0.001f, a1 = 1.0f - 0.01f;
        CHECK(b[0] == (double)0.001f && b[1] == (double)0.01f && ab[1] == (double)(float)((double)a0 * (double)a1) &&
                  ab[3] == 0.0,
              "its schedule: float32 betas, torch's cumprod, abar_3 = 0");
        ddpm_schedule_free(s);
    } else {
        CHECK(0, "trained-betas schedule: %s", err.message);
    }
    ddpm_scheduler_config_free(&c);
    CHECK(c.betas == NULL && c.schedule.betas == NULL, "free clears the betas");
    CHECK(parse("{\"trained_betas\": null}", &c, &err) == DDPM_OK && c.schedule.kind == DDPM_SCHEDULE_LINEAR &&
              c.betas == NULL,
          "trained_betas null: the beta_schedule");
    ddpm_scheduler_config_free(&c);
}

typedef struct refusal {
    const char *json;
    ddpm_status status;
    const char *message; /* a part of the message */
} refusal;

static void test_refusals(void) {
    static const refusal cases[] = {
        {"{", DDPM_ERR_FORMAT, "scheduler_config.json: "},
        {"[1, 2]", DDPM_ERR_FORMAT, "the root is not an object"},
        {"{\"a\": 1, \"a\": 2}", DDPM_ERR_FORMAT, "scheduler_config.json"},
        {"{\"beta_schedule\": \"foo\"}", DDPM_ERR_CONFIG,
         "scheduler_config.json: beta_schedule = \"foo\": "
         "expected linear, scaled_linear, squaredcos_cap_v2 or sigmoid"},
        {"{\"beta_schedule\": 3}", DDPM_ERR_CONFIG, "beta_schedule = 3: expected linear"},
        {"{\"_class_name\": \"DDIMScheduler\", \"beta_schedule\": \"sigmoid\"}", DDPM_ERR_CONFIG,
         "beta_schedule = \"sigmoid\": DDIMScheduler takes linear, scaled_linear or squaredcos_cap_v2"},
        {"{\"variance_type\": \"learned\"}", DDPM_ERR_UNSUPPORTED, "variance_type = \"learned\""},
        {"{\"variance_type\": \"learned_range\"}", DDPM_ERR_UNSUPPORTED, "variance_type = \"learned_range\""},
        {"{\"variance_type\": \"tiny\"}", DDPM_ERR_CONFIG, "variance_type = \"tiny\": expected fixed_small"},
        {"{\"thresholding\": true}", DDPM_ERR_UNSUPPORTED, "thresholding = true"},
        {"{\"thresholding\": \"no\"}", DDPM_ERR_CONFIG, "thresholding = \"no\": expected true or false"},
        {"{\"num_train_timesteps\": 0}", DDPM_ERR_CONFIG, "num_train_timesteps = 0"},
        {"{\"num_train_timesteps\": -3}", DDPM_ERR_CONFIG, "num_train_timesteps = -3"},
        {"{\"num_train_timesteps\": 1000000000}", DDPM_ERR_TOO_LARGE, "num_train_timesteps = 1000000000"},
        {"{\"num_train_timesteps\": 1000.5}", DDPM_ERR_CONFIG, "num_train_timesteps = 1000.5: expected an integer"},
        {"{\"num_train_timesteps\": \"1000\"}", DDPM_ERR_CONFIG, "num_train_timesteps = \"1000\""},
        {"{\"num_train_timesteps\": 3, \"trained_betas\": [0.1, 0.2]}", DDPM_ERR_CONFIG,
         "trained_betas has 2 entries, num_train_timesteps = 3"},
        {"{\"trained_betas\": [0.1, 0.2]}", DDPM_ERR_CONFIG, "trained_betas has 2 entries, num_train_timesteps = 1000"},
        {"{\"num_train_timesteps\": 2, \"trained_betas\": [0.1, \"x\"]}", DDPM_ERR_CONFIG, "trained_betas[1] = \"x\""},
        {"{\"num_train_timesteps\": 2, \"trained_betas\": [0.1, 0]}", DDPM_ERR_CONFIG,
         "trained_betas[1] = 0: expected a number in (0, 1]"},
        {"{\"num_train_timesteps\": 2, \"trained_betas\": [1.5, 0.1]}", DDPM_ERR_CONFIG, "trained_betas[0] = 1.5"},
        {"{\"trained_betas\": []}", DDPM_ERR_CONFIG, "trained_betas = [0 entries]: must not be empty"},
        {"{\"trained_betas\": {}}", DDPM_ERR_CONFIG, "trained_betas = {...}: expected a list or null"},
        {"{\"_class_name\": \"EulerDiscreteScheduler\"}", DDPM_ERR_UNSUPPORTED,
         "_class_name = \"EulerDiscreteScheduler\": not supported"},
        {"{\"_class_name\": \"UNet2DModel\"}", DDPM_ERR_CONFIG,
         "_class_name = \"UNet2DModel\": expected DDPMScheduler"},
        {"{\"_class_name\": null}", DDPM_ERR_CONFIG, "_class_name = null: expected a string"},
        {"{\"_class_name\": \"PNDMScheduler\"}", DDPM_ERR_UNSUPPORTED, "without skip_prk_steps = true"},
        {"{\"_class_name\": \"PNDMScheduler\", \"skip_prk_steps\": false}", DDPM_ERR_UNSUPPORTED,
         "skip_prk_steps = false"},
        {"{\"_class_name\": \"PNDMScheduler\", \"skip_prk_steps\": true, \"prediction_type\": \"sample\"}",
         DDPM_ERR_CONFIG, "prediction_type = \"sample\": expected epsilon or v_prediction"},
        {"{\"prediction_type\": \"x0\"}", DDPM_ERR_CONFIG, "prediction_type = \"x0\""},
        {"{\"timestep_spacing\": \"even\"}", DDPM_ERR_CONFIG, "timestep_spacing = \"even\""},
        {"{\"steps_offset\": -1}", DDPM_ERR_CONFIG, "steps_offset = -1"},
        {"{\"steps_offset\": 1000}", DDPM_ERR_CONFIG, "steps_offset = 1000"},
        {"{\"clip_sample\": 1}", DDPM_ERR_CONFIG, "clip_sample = 1: expected true or false"},
        {"{\"clip_sample_range\": 0}", DDPM_ERR_CONFIG, "clip_sample_range = 0: expected a number in (0, 100]"},
        {"{\"clip_sample_range\": 1e3}", DDPM_ERR_CONFIG, "clip_sample_range = 1000"},
        {"{\"beta_start\": \"0.1\"}", DDPM_ERR_CONFIG, "beta_start = \"0.1\": expected a number"},
        {"{\"beta_start\": 0.1, \"beta_end\": 0.01}", DDPM_ERR_CONFIG,
         "beta_start = 0.1, beta_end = 0.01: need 0 < beta_start <= beta_end < 1"},
        {"{\"beta_end\": 1}", DDPM_ERR_CONFIG, "beta_end = 1"},
        {"{\"_class_name\": \"DDIMScheduler\", \"num_train_timesteps\": 1, \"rescale_betas_zero_snr\": true}",
         DDPM_ERR_CONFIG, "scheduler_config.json: schedule: rescale_zero_snr needs num_timesteps >= 2"},
        {"{\"_class_name\": \"DDIMScheduler\", \"set_alpha_to_one\": 0}", DDPM_ERR_CONFIG, "set_alpha_to_one = 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ddpm_scheduler_config c;
        ddpm_error err;
        memset(&err, 0, sizeof err);
        ddpm_status st = parse(cases[i].json, &c, &err);
        CHECK(st == cases[i].status && strstr(err.message, cases[i].message) && c.betas == NULL &&
                  c.schedule.kind == DDPM_SCHEDULE_LINEAR && strcmp(c.sampler, "ddpm") == 0,
              "%s -> %s (%s); defaults left, nothing allocated", cases[i].json, ddpm_status_str(st), err.message);
        ddpm_scheduler_config_free(&c);
    }
    ddpm_scheduler_config c;
    ddpm_error err;
    CHECK(ddpm_scheduler_config_parse(NULL, 0, &c, &err) == DDPM_ERR_INVALID_ARGUMENT, "NULL text refused");
    CHECK(ddpm_scheduler_config_parse("{}", 2, NULL, &err) == DDPM_ERR_INVALID_ARGUMENT, "NULL out refused");

    /* trained_betas past DDPM_MAX_TIMESTEPS (num_train_timesteps absent: the list length is checked first) */
    const size_t n = (size_t)DDPM_MAX_TIMESTEPS + 1;
    char *big = malloc(n * 5 + 64);
    size_t k = (size_t)sprintf(big, "{\"trained_betas\": [");
    for (size_t i = 0; i < n; i++) k += (size_t)sprintf(big + k, i ? ",0.01" : "0.01");
    k += (size_t)sprintf(big + k, "]}");
    ddpm_status st = ddpm_scheduler_config_parse(big, k, &c, &err);
    CHECK(st == DDPM_ERR_TOO_LARGE && strstr(err.message, "trained_betas = [100001 entries]") && c.betas == NULL,
          "trained_betas with %zu entries -> %s (%s)", n, ddpm_status_str(st), err.message);
    ddpm_scheduler_config_free(&c);
    /* and exactly DDPM_MAX_TIMESTEPS entries load */
    k = (size_t)sprintf(big, "{\"num_train_timesteps\": %d, \"trained_betas\": [", DDPM_MAX_TIMESTEPS);
    for (size_t i = 0; i + 1 < n; i++) k += (size_t)sprintf(big + k, i ? ",1e-4" : "1e-4");
    k += (size_t)sprintf(big + k, "]}");
    st = ddpm_scheduler_config_parse(big, k, &c, &err);
    CHECK(st == DDPM_OK && c.schedule.num_timesteps == DDPM_MAX_TIMESTEPS && c.betas &&
              c.betas[DDPM_MAX_TIMESTEPS - 1] == 1e-4,
          "trained_betas with DDPM_MAX_TIMESTEPS entries load (%s)", err.message);
    ddpm_scheduler_config_free(&c);
    free(big);
}

int main(void) {
    test_golden_configs();
    test_defaults_and_classes();
    test_trained_betas();
    test_refusals();
    return tu_finish("test_scheduler_config");
}
