/*
 * The paper's CIFAR-10 network as diffusers ships it (google/ddpm-cifar10-32: 32x32x3, block_out_channels
 * [128, 256, 256, 256], layers_per_block 2, attention in down block 1 / up block 2, 32 groups, eps 1e-6, one head,
 * downsample_padding 0, flip_sin_to_cos false, freq_shift 1), with random weights from this test's own generator
 * under the pre-0.14 attention names that checkpoint uses. The tensor list is written here from diffusers' module
 * structure (UNet2DModel.__init__: each block's in/out channels, the up blocks' skip widths), independently of the
 * engine's plan. Checks: 35,746,307 parameters (diffusers' count for that checkpoint), a forward pass, DDPM and
 * DDIM runs, batch independence, I8 on load close to F32. (Agreement with PyTorch for this wiring is checked at
 * narrow width by test_diffusers against tests/data/diffusers-ref/cifar-narrow.)
 */
#define _POSIX_C_SOURCE 200809L
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation" /* names are short; snprintf bounds them anyway */
#endif
#include "testutil.h"

#include <time.h>

typedef struct tlist {
    char name[400][128];
    int64_t shape[400][4];
    int ndim[400];
    int n;
} tlist;

static void add(tlist *l, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    l->ndim[l->n] = ndim;
    l->shape[l->n][0] = a, l->shape[l->n][1] = b, l->shape[l->n][2] = c, l->shape[l->n][3] = d;
    snprintf(l->name[l->n], sizeof l->name[0], "%s", name);
    l->n++;
}
#define NAME(l, i) ((l)->name[i])

static void conv(tlist *l, const char *p, int cout, int cin, int k) {
    char b[192];
    snprintf(b, sizeof b, "%s.weight", p), add(l, b, 4, cout, cin, k, k);
    snprintf(b, sizeof b, "%s.bias", p), add(l, b, 1, cout, 0, 0, 0);
}
static void linear(tlist *l, const char *p, int out, int in) {
    char b[192];
    snprintf(b, sizeof b, "%s.weight", p), add(l, b, 2, out, in, 0, 0);
    snprintf(b, sizeof b, "%s.bias", p), add(l, b, 1, out, 0, 0, 0);
}
static void norm(tlist *l, const char *p, int c) {
    char b[192];
    snprintf(b, sizeof b, "%s.weight", p), add(l, b, 1, c, 0, 0, 0);
    snprintf(b, sizeof b, "%s.bias", p), add(l, b, 1, c, 0, 0, 0);
}
static void resnet(tlist *l, const char *p, int in, int out, int temb) {
    char b[192];
    snprintf(b, sizeof b, "%s.norm1", p), norm(l, b, in);
    snprintf(b, sizeof b, "%s.conv1", p), conv(l, b, out, in, 3);
    snprintf(b, sizeof b, "%s.time_emb_proj", p), linear(l, b, out, temb);
    snprintf(b, sizeof b, "%s.norm2", p), norm(l, b, out);
    snprintf(b, sizeof b, "%s.conv2", p), conv(l, b, out, out, 3);
    if (in != out) snprintf(b, sizeof b, "%s.conv_shortcut", p), conv(l, b, out, in, 1);
}
static void attention(tlist *l, const char *p, int c) { /* pre-0.14 names */
    char b[192];
    static const char *const parts[] = {"query", "key", "value", "proj_attn"};
    snprintf(b, sizeof b, "%s.group_norm", p), norm(l, b, c);
    for (int i = 0; i < 4; i++) snprintf(b, sizeof b, "%s.%s", p, parts[i]), linear(l, b, c, c);
}

/* UNet2DModel's state dict for the CIFAR-10 config, from diffusers' constructor. */
static void cifar_tensors(tlist *l) {
    const int ch[4] = {128, 256, 256, 256}, L = 4, lpb = 2, E = 512;
    const int attn_down[4] = {0, 1, 0, 0}, attn_up[4] = {0, 0, 1, 0};
    char p[128];
    l->n = 0;
    conv(l, "conv_in", ch[0], 3, 3);
    linear(l, "time_embedding.linear_1", E, ch[0]);
    linear(l, "time_embedding.linear_2", E, E);
    int out = ch[0];
    for (int i = 0; i < L; i++) { /* down: resnets in -> out, then (not last) a stride-2 conv */
        const int in = out;
        out = ch[i];
        for (int j = 0; j < lpb; j++) {
            snprintf(p, sizeof p, "down_blocks.%d.resnets.%d", i, j), resnet(l, p, j ? out : in, out, E);
            if (attn_down[i]) snprintf(p, sizeof p, "down_blocks.%d.attentions.%d", i, j), attention(l, p, out);
        }
        if (i < L - 1) snprintf(p, sizeof p, "down_blocks.%d.downsamplers.0.conv", i), conv(l, p, out, out, 3);
    }
    resnet(l, "mid_block.resnets.0", ch[L - 1], ch[L - 1], E);
    attention(l, "mid_block.attentions.0", ch[L - 1]);
    resnet(l, "mid_block.resnets.1", ch[L - 1], ch[L - 1], E);
    int prev = ch[L - 1];
    for (int i = 0; i < L; i++) { /* up: lpb + 1 resnets over [h, skip] */
        const int o = ch[L - 1 - i], in = ch[L - 1 - (i + 1 < L ? i + 1 : L - 1)];
        for (int j = 0; j < lpb + 1; j++) {
            const int skip = j == lpb ? in : o, rin = j == 0 ? prev : o;
            snprintf(p, sizeof p, "up_blocks.%d.resnets.%d", i, j), resnet(l, p, rin + skip, o, E);
            if (attn_up[i]) snprintf(p, sizeof p, "up_blocks.%d.attentions.%d", i, j), attention(l, p, o);
        }
        if (i < L - 1) snprintf(p, sizeof p, "up_blocks.%d.upsamplers.0.conv", i), conv(l, p, o, o, 3);
        prev = o;
    }
    norm(l, "conv_norm_out", ch[0]);
    conv(l, "conv_out", 3, ch[0], 3);
}

static const char config_json[] =
    "{\"_class_name\": \"UNet2DModel\", \"_diffusers_version\": \"0.1.0\", \"act_fn\": \"silu\","
    " \"attention_head_dim\": null, \"block_out_channels\": [128, 256, 256, 256], \"center_input_sample\": false,"
    " \"down_block_types\": [\"DownBlock2D\", \"AttnDownBlock2D\", \"DownBlock2D\", \"DownBlock2D\"],"
    " \"downsample_padding\": 0, \"flip_sin_to_cos\": false, \"freq_shift\": 1, \"in_channels\": 3,"
    " \"layers_per_block\": 2, \"mid_block_scale_factor\": 1, \"norm_eps\": 1e-06, \"norm_num_groups\": 32,"
    " \"out_channels\": 3, \"sample_size\": 32, \"time_embedding_type\": \"positional\","
    " \"up_block_types\": [\"UpBlock2D\", \"UpBlock2D\", \"AttnUpBlock2D\", \"UpBlock2D\"]}";
static const char sched_json[] =
    "{\"_class_name\": \"DDPMScheduler\", \"beta_end\": 0.02, \"beta_schedule\": \"linear\", \"beta_start\": 0.0001,"
    " \"clip_sample\": true, \"num_train_timesteps\": 1000, \"trained_betas\": null, \"variance_type\": \"fixed_small\"}";

/* A safetensors file of the list, F32, each weight uniform in +-sqrt(3 / fan_in) (sd 1/sqrt(fan_in)), norms
 * 1 +- 0.1, biases +- 0.05: activations stay O(1). */
static unsigned char *make_file(const tlist *l, size_t *size, size_t *params) {
    char *hdr = malloc(1 << 20);
    size_t h = 0, off = 0;
    h += (size_t)sprintf(hdr + h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t counts[400];
    for (int i = 0; i < l->n; i++) {
        size_t c = 1;
        for (int d = 0; d < l->ndim[i]; d++) c *= (size_t)l->shape[i][d];
        counts[i] = c;
        h += (size_t)sprintf(hdr + h, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", NAME(l, i));
        for (int d = 0; d < l->ndim[i]; d++) h += (size_t)sprintf(hdr + h, "%s%lld", d ? "," : "", (long long)l->shape[i][d]);
        h += (size_t)sprintf(hdr + h, "],\"data_offsets\":[%zu,%zu]}", off, off + 4 * c);
        off += 4 * c;
    }
    h += (size_t)sprintf(hdr + h, "}");
    while (h % 8) hdr[h++] = ' ';
    unsigned char *buf = malloc(8 + h + off);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, hdr, h);
    float *w = (float *)(void *)(buf + 8 + h); /* h is a multiple of 8: aligned */
    *params = off / 4;
    for (int i = 0; i < l->n; i++) {
        const char *nm = NAME(l, i);
        const int is_norm = strstr(nm, "norm") != NULL, is_bias = strstr(nm, ".bias") != NULL;
        const double fan_in = l->ndim[i] >= 2 ? (double)counts[i] / (double)l->shape[i][0] : 1.0;
        const float a = is_bias ? 0.05f * 1.732f : (is_norm ? 0.1f * 1.732f : (float)sqrt(3.0 / fan_in));
        tu_fill(w, counts[i], 1000u + (unsigned)i, -a, a);
        if (is_norm && !is_bias)
            for (size_t k = 0; k < counts[i]; k++) w[k] += 1.0f;
        w += counts[i];
    }
    free(hdr);
    *size = 8 + h + off;
    return buf;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static ddpm_model *load(const unsigned char *buf, size_t size, ddpm_dtype q, ddpm_winograd wg, int compact) {
    ddpm_load_options o = ddpm_load_default_options();
    o.unet_config = config_json;
    o.unet_config_len = strlen(config_json);
    o.scheduler_config = sched_json;
    o.scheduler_config_len = strlen(sched_json);
    o.quantize = q;
    o.winograd = wg;
    o.compact = compact;
    ddpm_model *m = NULL;
    ddpm_error err;
    const double t0 = now();
    ddpm_status st = ddpm_model_load_buffer_ex(buf, size, &o, &m, &err);
    CHECK(st == DDPM_OK, "load the CIFAR-10 network (quantize %d, winograd %d) in %.2f s: %s", (int)q, (int)wg, now() - t0,
          st == DDPM_OK ? "ok" : err.message);
    return m;
}

int main(void) {
    static tlist l;
    cifar_tensors(&l);
    size_t size, params;
    unsigned char *buf = make_file(&l, &size, &params);
    CHECK(params == 35746307, "the tensor list from diffusers' structure has %zu parameters in %d tensors (35,746,307)",
          params, l.n);
    ddpm_model *m = load(buf, size, DDPM_DTYPE_F32, DDPM_WINOGRAD_AUTO, 0);
    if (!m) return tu_finish("test_diffusers_cifar");
    CHECK(ddpm_model_num_params(m) == 35746307, "the engine reports %zu parameters", ddpm_model_num_params(m));
    printf("     %.3f GFLOP per evaluation\n", ddpm_model_flops(m) / 1e9);

    enum { D = 3 * 32 * 32 };
    static float x[2 * D], y[2 * D], y1[D];
    tu_fill(x, 2 * D, 3, -1.7f, 1.7f);
    const float t[2] = {10.0f, 700.0f};
    double t0 = now();
    ddpm_status st = ddpm_model_forward(m, 2, x, t, NULL, y, NULL);
    const double dt = now() - t0;
    int finite = st == DDPM_OK;
    double ss = 0;
    for (int i = 0; i < 2 * D; i++) finite &= isfinite(y[i]), ss += (double)y[i] * y[i];
    CHECK(finite && ss > 0, "forward at batch 2: finite, rms %.3f, %.0f ms", sqrt(ss / (2 * D)), dt * 1e3);
    ddpm_model_forward(m, 1, x + D, t + 1, NULL, y1, NULL);
    CHECK(memcmp(y1, y + D, sizeof y1) == 0, "image 1 alone = image 1 of the batch, bit for bit");

    /* the scheduler config made DDPM the default; 4 steps of each sampler on a custom grid */
    const int grid[4] = {999, 600, 300, 0};
    const char *samplers[2] = {"ddpm", "ddim"};
    for (int k = 0; k < 2; k++) {
        ddpm_sample_params p = ddpm_model_sample_defaults(m);
        CHECK(strcmp(p.sampler, "ddpm") == 0, "default sampler from the scheduler config: %s", p.sampler);
        p.sampler = samplers[k];
        p.timesteps = grid;
        p.num_timesteps = 4;
        p.batch = 2;
        p.seed = 11;
        static float out[2 * D];
        ddpm_error err;
        st = ddpm_sample(m, &p, out, NULL, NULL, &err);
        int ok = st == DDPM_OK;
        double lo = 0, hi = 0;
        for (int i = 0; ok && i < 2 * D; i++) ok &= isfinite(out[i]), lo = fmin(lo, out[i]), hi = fmax(hi, out[i]);
        CHECK(ok && lo >= -1.0 - 1e-6 && hi <= 1.0 + 1e-6, "%s, 4 steps, batch 2: finite, in [%.3f, %.3f]%s%s",
              samplers[k], lo, hi, ok ? "" : ": ", ok ? "" : err.message);
    }

    /* I8 on load: close to the F32 network */
    /* Winograd weights transformed on the fly: the same bits, without the 430 MB of precomputed transforms */
    ddpm_model *lazy = load(buf, size, DDPM_DTYPE_F32, DDPM_WINOGRAD_ON_THE_FLY, 0);
    if (lazy) {
        static float yl[2 * D];
        t0 = now();
        ddpm_model_forward(lazy, 2, x, t, NULL, yl, NULL);
        CHECK(memcmp(yl, y, sizeof yl) == 0, "on-the-fly Winograd weights: the same bits (%.0f ms at batch 2)",
              (now() - t0) * 1e3);
        ddpm_model_free(lazy);
    }
    ddpm_model *q = load(buf, size, DDPM_DTYPE_I8, DDPM_WINOGRAD_AUTO, 0);
    if (q) {
        static float yq[2 * D];
        ddpm_model_forward(q, 2, x, t, NULL, yq, NULL);
        double num = 0;
        for (int i = 0; i < 2 * D; i++) num += (yq[i] - y[i]) * (double)(yq[i] - y[i]);
        const double rel = sqrt(num / ss);
        CHECK(rel < 0.05, "I8 on load: eps relative L2 vs F32 = %.2e (tolerance 5e-2)", rel);
        ddpm_model_free(q);
        /* compact I8: the 3x3 weights stay int8 (the CIFAR-10 network in ~45 MB of weights), the same bits */
        ddpm_model *qc = load(buf, size, DDPM_DTYPE_I8, DDPM_WINOGRAD_AUTO, 1);
        if (qc) {
            static float yc[2 * D];
            ddpm_model_forward(qc, 2, x, t, NULL, yc, NULL);
            CHECK(memcmp(yc, yq, sizeof yc) == 0 && ddpm_model_num_params(qc) == 35746307,
                  "compact I8: the same bits as I8 on load, 35,746,307 parameters");
            ddpm_model_free(qc);
        }
    }
    ddpm_model_free(m);
    free(buf);
    return tu_finish("test_diffusers_cifar");
}
