/*
 * Diffusers configs beyond the forward pass (tests/data/diffusers/, GOLDENS.md): bad configs and weights refused with
 * their status (the ASan build runs this too), google/ddpm-celebahq-256's config planned with diffusers' parameter
 * count, diffusers' timestep grids and stepping rule, and a PNDMScheduler config's defaults.
 */
#include "testutil.h"
#include "io/diffusers_config.h"
#include "unet/unet.h"

#define DIR "tests/data/diffusers"

static ddpm_model *load_dir(const char *path) {
    ddpm_model *m = NULL;
    ddpm_error err;
    ddpm_status st = ddpm_model_load_path(path, NULL, NULL, &m, &err);
    CHECK(st == DDPM_OK, "load %s: %s", path, st == DDPM_OK ? "ok" : err.message);
    return m;
}

/* s with the first occurrence of `from` replaced by `to` (malloc'd). */
static char *replaced(const char *s, size_t len, const char *from, const char *to, size_t *out_len) {
    const char *hit = strstr(s, from);
    if (!hit) return NULL;
    const size_t a = (size_t)(hit - s), fl = strlen(from), tl = strlen(to);
    char *r = malloc(len - fl + tl + 1);
    memcpy(r, s, a);
    memcpy(r + a, to, tl);
    memcpy(r + a + tl, hit + fl, len - a - fl);
    r[len - fl + tl] = '\0';
    *out_len = len - fl + tl;
    return r;
}

/* The weights file with its JSON header edited (the data section kept), as a new buffer. */
static unsigned char *edit_header(const unsigned char *w, size_t n, const char *from, const char *to, size_t *out) {
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | w[i];
    char *hdr = malloc(hl + 1);
    memcpy(hdr, w + 8, hl);
    hdr[hl] = '\0';
    size_t nl;
    char *nh = replaced(hdr, hl, from, to, &nl);
    free(hdr);
    if (!nh) return NULL;
    unsigned char *b = malloc(8 + nl + (n - 8 - hl));
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)nl >> (8 * i));
    memcpy(b + 8, nh, nl);
    memcpy(b + 8 + nl, w + 8 + hl, n - 8 - hl);
    *out = 8 + nl + (n - 8 - hl);
    free(nh);
    return b;
}

/* Bad configs and bad weights: each refused with its status and a message naming the culprit; nothing leaks (the
 * ASan build runs this too). */

/* Loading weights (w, wn) with the config text (c, cn) must fail with `want`, the message naming `needle`, and
 * leave no model. */
static void expect_refused(const void *w, size_t wn, const char *c, size_t cn, ddpm_status want, const char *needle,
                           const char *what, const char *edit) {
    ddpm_load_options o = ddpm_load_default_options();
    o.unet_config = c;
    o.unet_config_len = cn;
    ddpm_model *m = NULL;
    ddpm_error err;
    ddpm_status st = ddpm_model_load_buffer_ex(w, wn, &o, &m, &err);
    CHECK(st == want && !m && strstr(err.message, needle), "%s %s -> %s: %s", what, edit, ddpm_status_str(st),
          err.message);
    ddpm_model_free(m);
}

static void test_corrupt(void) {
    size_t wn, cn;
    unsigned char *w = tu_read_file(DIR "/small-rgb/diffusion_pytorch_model.safetensors", &wn);
    char *cfg = (char *)tu_read_file(DIR "/small-rgb/config.json", &cn);
    static const struct { const char *from, *to; ddpm_status st; const char *needle; } cfgs[] = {
        {"\"sample_size\": 16", "\"sample_size\": 1000000000", DDPM_ERR_TOO_LARGE, "sample_size"},
        {"\"sample_size\": 16", "\"sample_size\": [16, 32]", DDPM_ERR_UNSUPPORTED, "square"},
        {"\"sample_size\": 16", "\"sample_size\": 10", DDPM_ERR_CONFIG, "odd"},
        {"32,\n    64,\n    64", "32,\n    64,\n    1000000", DDPM_ERR_TOO_LARGE, "block_out_channels"},
        {"32,\n    64,\n    64", "32,\n    64", DDPM_ERR_CONFIG, "down_block_types has 3 entries"},
        {"\"AttnDownBlock2D\"", "\"CrossAttnDownBlock2D\"", DDPM_ERR_UNSUPPORTED, "CrossAttnDownBlock2D"},
        {"\"attention_head_dim\": 8", "\"attention_head_dim\": 24", DDPM_ERR_UNSUPPORTED, "attention_head_dim"},
        {"\"norm_num_groups\": 8", "\"norm_num_groups\": 7", DDPM_ERR_CONFIG, "groups = 7"},
        {"\"time_embedding_type\": \"positional\"", "\"time_embedding_type\": \"fourier\"", DDPM_ERR_UNSUPPORTED,
         "time_embedding_type"},
        {"\"resnet_time_scale_shift\": \"default\"", "\"resnet_time_scale_shift\": \"scale_shift\"",
         DDPM_ERR_UNSUPPORTED, "resnet_time_scale_shift"},
        {"\"in_channels\": 3", "\"in_channels\": 4", DDPM_ERR_SHAPE, "conv_in.weight"},
        {"\"in_channels\": 3", "\"in_channels\": \"3\"", DDPM_ERR_CONFIG, "in_channels"},
        {"\"in_channels\": 3", "\"in_channels\": 3, \"cross_attention_dim\": 768", DDPM_ERR_UNSUPPORTED,
         "cross_attention_dim"},
        {"{", "[", DDPM_ERR_FORMAT, "config.json"},
        {"\"act_fn\": \"silu\",", "\"act_fn\": \"silu\"", DDPM_ERR_FORMAT, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        size_t len;
        char *c = replaced(cfg, cn, cfgs[i].from, cfgs[i].to, &len);
        if (!c) {
            CHECK(0, "config case %zu: pattern not found", i);
            continue;
        }
        expect_refused(w, wn, c, len, cfgs[i].st, cfgs[i].needle, "config", cfgs[i].to);
        free(c);
    }
    static const struct { const char *from, *to; ddpm_status st; const char *needle; } ws[] = {
        {"\"conv_in.weight\"", "\"conv_in.weigxx\"", DDPM_ERR_MISSING_TENSOR, "conv_in.weight"},
        {"{\"__metadata__\"", "{\"extra.bias\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},\"__metadata__\"",
         DDPM_ERR_FORMAT, "unexpected tensor extra.bias"},
        {"\"conv_in.bias\":{\"dtype\":\"F32\"", "\"conv_in.bias\":{\"dtype\":\"I32\"", DDPM_ERR_UNSUPPORTED, "I32"},
        {"\"conv_in.bias\":{\"dtype\":\"F32\",\"shape\":[32]", "\"conv_in.bias\":{\"dtype\":\"F32\",\"shape\":[16,2]",
         DDPM_ERR_SHAPE, "conv_in.bias"},
        {"\"conv_in.bias\":{\"dtype\":\"F32\",\"shape\":[32]", "\"conv_in.bias\":{\"dtype\":\"F16\",\"shape\":[64]",
         DDPM_ERR_SHAPE, "conv_in.bias"},
    };
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) {
        size_t len;
        unsigned char *b = edit_header(w, wn, ws[i].from, ws[i].to, &len);
        if (!b) {
            CHECK(0, "weights case %zu: pattern not found", i);
            continue;
        }
        expect_refused(b, len, cfg, cn, ws[i].st, ws[i].needle, "weights", ws[i].to);
        free(b);
    }
    /* weights without any config, a pipeline index naming Stable Diffusion, a folder holding only a .bin */
    ddpm_model *m = NULL;
    ddpm_error err;
    ddpm_status st = ddpm_model_load_buffer(w, wn, &m, &err);
    CHECK(st == DDPM_ERR_CONFIG && strstr(err.message, "config.json"), "weights alone: %s", err.message);
    FILE *f = fopen("/tmp/ddpm-test-sd/model_index.json", "wb");
    if (!f) {
        (void)system("mkdir -p /tmp/ddpm-test-sd /tmp/ddpm-test-bin");
        f = fopen("/tmp/ddpm-test-sd/model_index.json", "wb");
    }
    if (f) {
        fputs("{\"_class_name\": \"StableDiffusionPipeline\", \"unet\": [\"diffusers\", \"UNet2DConditionModel\"],"
              " \"vae\": [\"diffusers\", \"AutoencoderKL\"]}", f);
        fclose(f);
        st = ddpm_model_load_path("/tmp/ddpm-test-sd", NULL, NULL, &m, &err);
        CHECK(st == DDPM_ERR_UNSUPPORTED && strstr(err.message, "Stable Diffusion"), "a Stable Diffusion pipeline: %s",
              err.message);
    }
    f = fopen("/tmp/ddpm-test-bin/config.json", "wb");
    if (f) {
        fwrite(cfg, 1, cn, f);
        fclose(f);
        f = fopen("/tmp/ddpm-test-bin/diffusion_pytorch_model.bin", "wb");
        if (f) fclose(f);
        st = ddpm_model_load_path("/tmp/ddpm-test-bin", NULL, NULL, &m, &err);
        CHECK(st == DDPM_ERR_UNSUPPORTED && strstr(err.message, "bin_to_safetensors"), "a .bin-only folder: %s",
              err.message);
    }
    free(w);
    free(cfg);
}

/* diffusers' grids (np.round half to even, np.arange / np.linspace in double) and its t - T // steps stepping rule:
 * expected values printed by numpy from set_timesteps()'s expressions of diffusers v0.21.4. */
static int seen_prev[64], seen_n;
static ddpm_status record_step(void *user, void *st, const ddpm_sampler_context *ctx, int i, float *x) {
    (void)st, (void)x;
    if (i == 0) {
        seen_n = ctx->num_steps;
        for (int k = 0; k < ctx->num_steps && k < 64; k++)
            seen_prev[k] = ctx->prev_timesteps ? ctx->prev_timesteps[k] : -99;
    }
    return DDPM_OK;
}

static void test_grids(void) {
    static const int tr16[16] = {999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61};
    static const int tr16_prev[16] = {937, 875, 812, 749, 687, 625, 562, 499, 437, 375, 312, 249, 187, 125, 62, -1};
    static const int li16[16] = {999, 932, 866, 799, 733, 666, 599, 533, 466, 400, 333, 266, 200, 133, 67, 0};
    static const int tr7[7] = {999, 856, 713, 570, 428, 285, 142}, tr7_prev[7] = {857, 714, 571, 428, 286, 143, 0};
    static const ddpm_sampler_vtable rec = {.api_version = DDPM_SAMPLER_API_VERSION,
                                            .name = "test_record_prev",
                                            .description = "records prev_timesteps",
                                            .evals_per_step = 1,
                                            .step = record_step};
    ddpm_sampler_register(&rec, NULL);
    ddpm_model *m = load_dir(DIR "/small-rgb");
    if (!m) return;
    const struct { ddpm_spacing sp; int n; const int *ts, *prev; const char *name; } cases[] = {
        {DDPM_SPACING_TRAILING, 16, tr16, tr16_prev, "trailing 16"},
        {DDPM_SPACING_LINSPACE, 16, li16, NULL, "linspace 16"},
        {DDPM_SPACING_TRAILING, 7, tr7, tr7_prev, "trailing 7"},
    };
    for (int k = 0; k < 3; k++) {
        ddpm_sample_params p = ddpm_model_sample_defaults(m);
        p.sampler = "test_record_prev";
        p.spacing = cases[k].sp;
        p.steps = cases[k].n;
        ddpm_run *r = NULL;
        ddpm_run_create(m, &p, &r, NULL);
        int same = r != NULL;
        for (int i = 0; same && i < cases[k].n; i++) same = ddpm_run_timestep(r, i) == cases[k].ts[i];
        CHECK(same, "%s: the grid equals diffusers' set_timesteps (np.round half to even)", cases[k].name);
        if (r) ddpm_run_step(r, NULL);
        int prev_ok = seen_n == cases[k].n;
        for (int i = 0; prev_ok && i < cases[k].n; i++)
            prev_ok = seen_prev[i] == (cases[k].prev ? cases[k].prev[i] : cases[k].ts[i] - 1000 / cases[k].n < 0
                                                                                ? -1
                                                                                : cases[k].ts[i] - 1000 / cases[k].n);
        CHECK(prev_ok, "%s: each step goes to t - T // steps (-1 below 0), as DDPMScheduler / DDIMScheduler", cases[k].name);
        ddpm_run_free(r);
    }
    /* a custom list steps to its next entry, as diffusers' custom_timesteps */
    ddpm_sample_params p = ddpm_model_sample_defaults(m);
    const int custom[3] = {900, 450, 10};
    p.sampler = "test_record_prev";
    p.timesteps = custom;
    p.num_timesteps = 3;
    ddpm_run *r = NULL;
    ddpm_run_create(m, &p, &r, NULL);
    if (r) ddpm_run_step(r, NULL);
    CHECK(seen_n == 3 && seen_prev[0] == -99, "custom timesteps: no t - T // steps rule (the next entry)");
    ddpm_run_free(r);
    ddpm_model_free(m);
    ddpm_sampler_unregister("test_record_prev", NULL);
}

/* The paper's 256x256 networks (google/ddpm-celebahq-256 and its siblings: 6 levels, attention at 16x16 only) from
 * their config alone: the plan's tensor count against diffusers' parameter count, 113,673,219. */
static ddpm_status count_visit(void *ctx, const char *name, const char *alt, int ndim, const int64_t *shape,
                               float **slot, ddpm_error *err) {
    (void)name, (void)alt, (void)slot, (void)err;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    *(size_t *)ctx += n;
    return DDPM_OK;
}

static void test_256_config(void) {
    static const char cfg[] =
        "{\"_class_name\": \"UNet2DModel\", \"act_fn\": \"silu\", \"attention_head_dim\": null,"
        " \"block_out_channels\": [128, 128, 256, 256, 512, 512], \"center_input_sample\": false,"
        " \"down_block_types\": [\"DownBlock2D\", \"DownBlock2D\", \"DownBlock2D\", \"DownBlock2D\", \"AttnDownBlock2D\","
        " \"DownBlock2D\"], \"downsample_padding\": 0, \"flip_sin_to_cos\": false, \"freq_shift\": 1,"
        " \"in_channels\": 3, \"layers_per_block\": 2, \"mid_block_scale_factor\": 1, \"norm_eps\": 1e-06,"
        " \"norm_num_groups\": 32, \"out_channels\": 3, \"sample_size\": 256, \"time_embedding_type\": \"positional\","
        " \"up_block_types\": [\"UpBlock2D\", \"AttnUpBlock2D\", \"UpBlock2D\", \"UpBlock2D\", \"UpBlock2D\","
        " \"UpBlock2D\"]}";
    ddpm_model_config c;
    ddpm_error err;
    ddpm_status st = ddpm_diffusers_config_parse(cfg, strlen(cfg), &c, &err);
    CHECK(st == DDPM_OK && c.num_levels == 6 && c.arch.level_channels[4] == 512 && c.arch.level_channels[5] == 512,
          "google/ddpm-celebahq-256's config: 6 levels, widths ... 512 512: %s", st == DDPM_OK ? "ok" : err.message);
    static ddpm_unet u;
    size_t params = 0;
    if (st == DDPM_OK && ddpm_unet_plan(&u, &c, &err) == DDPM_OK) ddpm_unet_visit(&u, count_visit, &params, &err);
    CHECK(params == 113673219, "its plan holds %zu parameters (diffusers: 113,673,219)", params);
}

/* A PNDMScheduler config selects plms with PNDM's set_alpha_to_one = false: the run's last step ends at
 * alphas_cumprod[0], as diffusers' PNDM does, unless the params say otherwise. */
static void test_pndm_defaults(void) {
    static const char sched[] = "{\"_class_name\": \"PNDMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": "
                                "\"scaled_linear\", \"beta_start\": 0.00085, \"num_train_timesteps\": 1000, "
                                "\"skip_prk_steps\": true, \"steps_offset\": 1}";
    size_t wn, cn;
    unsigned char *w = tu_read_file(DIR "/small-rgb/diffusion_pytorch_model.safetensors", &wn);
    char *cfg = (char *)tu_read_file(DIR "/small-rgb/config.json", &cn);
    ddpm_load_options o = ddpm_load_default_options();
    o.unet_config = cfg, o.unet_config_len = cn, o.scheduler_config = sched, o.scheduler_config_len = strlen(sched);
    ddpm_model *m = NULL;
    ddpm_error err;
    ddpm_status st = ddpm_model_load_buffer_ex(w, wn, &o, &m, &err);
    CHECK(st == DDPM_OK, "PNDMScheduler config: %s", st == DDPM_OK ? "ok" : err.message);
    if (m) {
        ddpm_sample_params p = ddpm_model_sample_defaults(m);
        CHECK(strcmp(p.sampler, "plms") == 0 && p.steps_offset == 1, "PNDMScheduler -> %s, steps_offset %d", p.sampler,
              p.steps_offset);
        p.steps = 5;
        p.seed = 2;
        static float a[768], b[768], c[768];
        const char *names[1] = {"set_alpha_to_one"};
        const double zero[1] = {0}, one[1] = {1};
        ddpm_sample(m, &p, a, NULL, NULL, NULL);
        p.num_options = 1, p.option_names = names, p.option_values = zero;
        ddpm_sample(m, &p, b, NULL, NULL, NULL);
        p.option_values = one;
        ddpm_sample(m, &p, c, NULL, NULL, NULL);
        CHECK(memcmp(a, b, sizeof a) == 0 && memcmp(a, c, sizeof a) != 0,
              "plms on a PNDM model ends at alphas_cumprod[0] (set_alpha_to_one = false) unless asked otherwise");
    }
    ddpm_model_free(m);
    free(w);
    free(cfg);
}

int main(void) {
    test_pndm_defaults();
    test_256_config();
    test_grids();
    test_corrupt();
    return tu_finish("test_diffusers_config");
}
