/*
 * ddpm — the native command-line tool: `info`, `sample`, `samplers`, `forward`, `convert`.
 *
 * Every failure prints one line "ddpm: <message>" to stderr and exits non-zero: 1 for a failure while working, 2 for
 * a bad command line, which adds one line naming the command's --help (the full usage goes to stdout with --help,
 * exit 0). Arguments are parsed strictly: numbers must be whole strings of the right kind and range, unknown flags
 * are refused, a flag given twice is refused unless it is repeatable.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"
#include "io/json.h" /* the library's strict JSON parser, for metadata values that are JSON */

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- usage ---- */

static const char usage_main[] =
    "usage: ddpm <command> [arguments]\n"
    "\n"
    "commands:\n"
    "  info MODEL          the model's config, schedule, parameters, cost, dtypes and metadata\n"
    "  sample MODEL ...    draw samples with a registered sampler; writes a PNG grid and/or raw float32\n"
    "  samplers            the registered samplers and their options\n"
    "  forward MODEL ...   one forward pass on raw float32 input: the network's raw output (eps, x0 or v,\n"
    "                      whatever the model predicts); `eps` is an older name for it\n"
    "  convert MODEL ...   write MODEL as one .safetensors file in F32, F16 or I8\n"
    "  help [COMMAND]      this text, or a command's usage (also: ddpm COMMAND --help)\n"
    "  version             the library version (also: --version)\n"
    "\n"
    "MODEL is a .safetensors weights file, or a Hugging Face diffusers UNet2DModel folder (config.json +\n"
    "diffusion_pytorch_model.safetensors [+ scheduler_config.json], or a pipeline folder with model_index.json).\n"
    "Errors print \"ddpm: <message>\" and exit non-zero.\n";

static const char usage_info[] = "usage: ddpm info MODEL [model options]\n\n" CLI_MODEL_FLAGS_USAGE;

static const char usage_convert[] =
    "usage: ddpm convert MODEL --dtype f32|f16|i8 --out FILE.safetensors [model options]\n"
    "\n"
    "  --dtype D           f32, f16 (every tensor) or i8 (rank >= 2 tensors as int8 with one float32 scale per\n"
    "                      output channel, \"<name>_scale\"; the rest f32)\n"
    "  --out FILE          the single-file model; a diffusers model's file carries its config.json and\n"
    "                      scheduler_config.json in the metadata and loads exactly as the folder did\n"
    "\n" CLI_MODEL_FLAGS_USAGE;

static const char usage_samplers[] = "usage: ddpm samplers\n";

static const char usage_sample[] =
    "usage: ddpm sample MODEL --seed S [options] [--out GRID.png] [--raw OUT.f32]\n"
    "\n"
    "  --seed S            RNG seed, an integer 0 .. 2^64-1 (required). Seeds up to 2^53-1 give the same\n"
    "                      images as the JavaScript API and ddpm-wasm, which take no larger ones\n"
    "  --batch B           number of images, 1 .. 4096 (default 1)\n"
    "  --first-image K     global index of image 0 (default 0). Image k's noise depends only on (seed, K + k),\n"
    "                      so a batch split over several commands gives the same images.\n"
    "  --sampler NAME      default ddpm; see `ddpm samplers`\n"
    "  --opt NAME=VALUE    a sampler option (repeatable); CHOICE options take a choice name or its index,\n"
    "                      BOOL options true/false/yes/no/on/off/1/0\n"
    "  --steps N           sampling steps, 1 .. T, the model's number of timesteps (default: T, every one)\n"
    "  --spacing S         timestep grid: leading (default) | trailing | linspace\n"
    "  --class C           conditional models: a class label 0 .. classes-1, -1 for the null class\n"
    "                      (unconditional samples, as without --class), or `all`: image k gets class\n"
    "                      (K + k) % classes. `all` samples the whole batch in one run whose denoiser\n"
    "                      substitutes each image's own label (ddpm_run_create_with around the model), so\n"
    "                      image k equals `--class (K+k)%classes --first-image K+k --batch 1` bit for bit.\n"
    "  --guidance W        classifier-free guidance scale, 0 .. 100 (default 1 = none; other values need\n"
    "                      --class 0 .. classes-1 or `all`: the null class is sampled without guidance)\n"
    "  --init PNG          image-to-image: start from this S x S image (grey for 1 channel, RGB for 3),\n"
    "                      the same for every image of the batch; needs --strength\n"
    "  --strength F        with --init: 0 < F <= 1; sampling starts at t = round(F T) - 1\n"
    "  --out GRID.png      the grid: ceil(sqrt(B)) columns, 2 px padding, grey (1 channel) or RGB (3);\n"
    "                      other channel counts are shown side by side as grey. PNG is the only image\n"
    "                      format written: the name must end in .png\n"
    "  --raw OUT.f32       the final tensor [B, C, S, S] as float32 little-endian\n"
    "                      (at least one of --out and --raw is required)\n"
    "  --frames DIR        also write DIR/step_NNNNN.png: the grid of x before the first step and after\n"
    "                      every K-th step (and the last); DIR is created if missing\n"
    "  --every K           frame interval in steps (default 1)\n"
    "  --scale K           upscale the PNGs K times, nearest neighbour, 1 .. 32 (default: ceil(112 / S)\n"
    "                      for S x S images, so that a tile is at least 112 px: 4 for 28 or 32 px, 2 for\n"
    "                      64, 1 from 112 on; --scale 1 writes the images at their own size)\n"
    "  --quiet             no progress output\n"
    "  --steps-offset N    added to every timestep of the leading grid (diffusers' steps_offset)\n"
    "  --deep-cache K      DeepCache: a full model evaluation every K, the shallow branch only in between\n"
    "                      (K >= 2; faster, approximate; default off)\n"
    "  --timesteps LIST    a custom grid, e.g. 999,750,500,250,0 (strictly descending; replaces --steps)\n"
    "  --start X_T.f32     replay: x at the first timestep, float32 [B, C, S, S] (instead of the seed's)\n"
    "  --noise NOISE.f32   replay: float32 [K, B, C, S, S]; the k-th noise draw of the sampler takes tensor k\n"
    "                      instead of the RNG (ddpm draws on every step but the last; ddim with eta > 0 too;\n"
    "                      euler_a, dpm2_a and dpmpp_2m_sde / dpmpp_3m_sde (eta > 0) once per step whose next\n"
    "                      level is above 0)\n"
    "\n"
    "A diffusers model's scheduler_config.json sets the defaults: the sampler (DDPMScheduler: ddpm,\n"
    "DDIMScheduler: ddim, PNDMScheduler: plms), spacing, steps offset, and the options clip_x0, clip_range,\n"
    "set_alpha_to_one and variance; flags and --opt override them.\n"
    "\n" CLI_MODEL_FLAGS_USAGE "\n"
    "Progress goes to stderr: a line updated in place on a terminal, else a line about every 10%.\n";

static const char usage_forward[] =
    "usage: ddpm forward MODEL --in X.f32 --t T [--class C] --out OUT.f32   (also: ddpm eps ...)\n"
    "\n"
    "  --in X.f32          float32 little-endian [N, C_in, S, S]; N = file size / (4 C_in S S)\n"
    "  --t T               timestep in [0, T], may be fractional; the same for every image\n"
    "  --class C           conditional models: a class label 0 .. classes-1, or -1 for the null class\n"
    "                      (the default; the label value classes means it too)\n"
    "  --out OUT.f32       the network's raw output [N, C_out, S, S], float32 little-endian: the noise eps,\n"
    "                      x0 or v as the model's prediction type says (ddpm info MODEL)\n"
    "\n" CLI_MODEL_FLAGS_USAGE;

static const char *usage_of(const char *command) {
    if (!command) return usage_main;
    if (strcmp(command, "info") == 0) return usage_info;
    if (strcmp(command, "samplers") == 0) return usage_samplers;
    if (strcmp(command, "sample") == 0) return usage_sample;
    if (strcmp(command, "forward") == 0 || strcmp(command, "eps") == 0) return usage_forward;
    if (strcmp(command, "convert") == 0) return usage_convert;
    return NULL;
}

void cli_print_usage(const char *command) {
    const char *u = usage_of(command);
    fputs(u ? u : usage_main, stdout);
}

void cli_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("ddpm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

const char *cli_command = NULL;

void cli_usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("ddpm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (!command || !usage_of(command)) fputs("run 'ddpm --help' for the commands\n", stderr);
    else if (strcmp(command, "samplers") == 0) fputs("run 'ddpm samplers --help' for the usage\n", stderr);
    else fprintf(stderr, "run 'ddpm %s --help' for the options\n", command);
    exit(2);
}

int cli_is_png_name(const char *path) {
    const size_t n = path ? strlen(path) : 0;
    if (n < 5 || path[n - 5] == '/') return 0; /* a name before the extension */
    const char *e = path + n - 4;
    return e[0] == '.' && (e[1] == 'p' || e[1] == 'P') && (e[2] == 'n' || e[2] == 'N') && (e[3] == 'g' || e[3] == 'G');
}

int cli_default_scale(int image_size) {
    if (image_size < 1) return 1;
    const int k = (CLI_DEFAULT_TILE_PX + image_size - 1) / image_size;
    return k > 32 ? 32 : k;
}

/* ---- strict number parsing ---- */

int cli_parse_int(const char *s, long lo, long hi, int *out) {
    if (!s || !*s || s[0] == ' ' || s[0] == '\t' || s[0] == '+') return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi || v < INT_MIN || v > INT_MAX) return 0;
    *out = (int)v;
    return 1;
}

int cli_parse_u64(const char *s, uint64_t *out) {
    if (!s || s[0] < '0' || s[0] > '9') return 0; /* no sign, no spaces */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > UINT64_MAX) return 0;
    *out = (uint64_t)v;
    return 1;
}

int cli_parse_double(const char *s, double *out) {
    if (!s || !*s || s[0] == ' ' || s[0] == '\t') return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || !isfinite(v) || (errno == ERANGE && fabs(v) > 1.0)) return 0;
    *out = v;
    return 1;
}

/* ---- the argument parser shared by the subcommands ---- */

int cli_parse_args(const char *command, int argc, char **argv, cli_flag *flags, int nflags, const char **positional,
                   int max_positional) {
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_usage(command);
            exit(0);
        }
        if (strcmp(a, "--") == 0) { /* everything after is positional */
            for (i++; i < argc; i++) {
                if (npos == max_positional) cli_usage_error(command, "unexpected argument '%s'", argv[i]);
                positional[npos++] = argv[i];
            }
            break;
        }
        if (a[0] != '-' || a[1] == '\0') {
            if (npos == max_positional) cli_usage_error(command, "unexpected argument '%s'", a);
            positional[npos++] = a;
            continue;
        }
        if (a[1] != '-') cli_usage_error(command, "unknown option '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        const size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_flag *f = NULL;
        for (int k = 0; k < nflags; k++)
            if (strlen(flags[k].name) == len && strncmp(flags[k].name, name, len) == 0) f = &flags[k];
        if (!f) cli_usage_error(command, "unknown option '--%.*s'", (int)len, name);
        const char *value = "1";
        if (f->takes_value) {
            if (eq) value = eq + 1;
            else if (i + 1 < argc) value = argv[++i];
            else cli_usage_error(command, "--%s needs a value", f->name);
        } else if (eq) {
            cli_usage_error(command, "--%s takes no value", f->name);
        }
        if (f->count > 0 && !f->repeatable) cli_usage_error(command, "--%s is given more than once", f->name);
        if (f->repeatable) {
            if (f->count == CLI_MAX_REPEAT) cli_usage_error(command, "--%s is given too many times", f->name);
            f->values[f->count] = value;
        }
        f->value = value;
        f->count++;
    }
    return npos;
}

cli_flag *cli_flag_get(cli_flag *flags, int nflags, const char *name) {
    for (int k = 0; k < nflags; k++)
        if (strcmp(flags[k].name, name) == 0) return &flags[k];
    return NULL;
}

/* ---- names of enum values ---- */

const char *cli_prediction_name(ddpm_prediction p) {
    switch (p) {
    case DDPM_PREDICT_EPS: return "eps";
    case DDPM_PREDICT_X0: return "x0";
    case DDPM_PREDICT_V: return "v";
    }
    return "?";
}

static const char *schedule_name(ddpm_schedule_kind k) {
    switch (k) {
    case DDPM_SCHEDULE_LINEAR: return "linear";
    case DDPM_SCHEDULE_SCALED_LINEAR: return "scaled_linear";
    case DDPM_SCHEDULE_COSINE: return "cosine";
    case DDPM_SCHEDULE_SIGMOID: return "sigmoid";
    case DDPM_SCHEDULE_CUSTOM: return "custom (trained_betas)";
    }
    return "?";
}

static const char *dtype_name(ddpm_dtype d) {
    switch (d) {
    case DDPM_DTYPE_F32: return "F32";
    case DDPM_DTYPE_F16: return "F16";
    case DDPM_DTYPE_I8: return "I8";
    case DDPM_DTYPE_BF16: return "BF16";
    }
    return "?";
}

static void human_bytes(double b, char *buf, size_t n) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024.0 && u < 4) {
        b /= 1024.0;
        u++;
    }
    if (u == 0) snprintf(buf, n, "%.0f %s", b, units[u]);
    else snprintf(buf, n, "%.1f %s", b, units[u]);
}

/* ---- ddpm info: metadata values that are JSON ---- */

/* Text as it is, but control characters (a newline in a metadata value, an escape sequence) as '?'. */
static void put_text(const char *t, size_t n) {
    for (size_t i = 0; i < n; i++) putchar((unsigned char)t[i] < 0x20 || t[i] == 0x7f ? '?' : t[i]);
}

static int json_is_container(const ddpm_json_value *v) {
    return v->type == DDPM_JSON_ARRAY || v->type == DDPM_JSON_OBJECT;
}

/* An array with no arrays or objects in it, written on one line. */
static int json_is_flat_array(const ddpm_json_value *v) {
    if (v->type != DDPM_JSON_ARRAY) return 0;
    for (size_t i = 0; i < v->length; i++)
        if (json_is_container(&v->items[i])) return 0;
    return 1;
}

/* A scalar: integers in full, other numbers to 4 significant digits, strings as they are (quoted in arrays). */
static void print_json_scalar(const ddpm_json_value *v, int quote) {
    switch (v->type) {
    case DDPM_JSON_NULL: fputs("null", stdout); break;
    case DDPM_JSON_BOOL: fputs(v->boolean ? "true" : "false", stdout); break;
    case DDPM_JSON_INT: printf("%lld", (long long)v->integer); break;
    case DDPM_JSON_NUMBER: printf("%.4g", v->number); break;
    case DDPM_JSON_STRING:
        if (quote) putchar('"');
        put_text(v->string, v->length);
        if (quote) putchar('"');
        break;
    default: break;
    }
}

static void print_json_inline(const ddpm_json_value *v) {
    if (!json_is_flat_array(v)) {
        print_json_scalar(v, 0);
        return;
    }
    putchar('[');
    for (size_t i = 0; i < v->length; i++) {
        if (i) fputs(", ", stdout);
        print_json_scalar(&v->items[i], 1);
    }
    putchar(']');
}

/* The members of an object (or the items of an array, as [i]) one per line at `indent`; containers below their
 * key, indented two more. JSON nests at most DDPM_JSON_MAX_DEPTH deep, which bounds the recursion. */
static void print_json_tree(const ddpm_json_value *v, int indent) {
    for (size_t i = 0; i < v->length; i++) {
        const ddpm_json_value *c = v->type == DDPM_JSON_OBJECT ? &v->members[i].value : &v->items[i];
        printf("%*s", indent, "");
        if (v->type == DDPM_JSON_OBJECT) put_text(v->members[i].key, v->members[i].key_length);
        else printf("[%zu]", i);
        if (json_is_container(c) && !json_is_flat_array(c)) {
            fputs(":\n", stdout);
            print_json_tree(c, indent + 2);
        } else {
            fputs(": ", stdout);
            print_json_inline(c);
            putchar('\n');
        }
    }
}

/* "  key = value", or for a value that is a JSON object or array (ddpm.metrics, ddpm.eval_protocol) the key and then
 * the value pretty-printed below it, one member per line. */
static void print_metadata_entry(const char *k, const char *v) {
    const char *p = v;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    ddpm_json *doc = NULL;
    ddpm_error err;
    if ((*p == '{' || *p == '[') && ddpm_json_parse(v, strlen(v), &doc, &err) == DDPM_OK) {
        const ddpm_json_value *root = ddpm_json_root(doc);
        if (json_is_flat_array(root) || root->length == 0) {
            fputs("  ", stdout);
            put_text(k, strlen(k));
            fputs(" = ", stdout);
            if (root->type == DDPM_JSON_OBJECT) fputs("{}", stdout);
            else print_json_inline(root);
            putchar('\n');
        } else {
            fputs("  ", stdout);
            put_text(k, strlen(k));
            fputs(":\n", stdout);
            print_json_tree(root, 4);
        }
        ddpm_json_free(doc);
        return;
    }
    fputs("  ", stdout);
    put_text(k, strlen(k));
    fputs(" = ", stdout);
    put_text(v, strlen(v));
    putchar('\n');
}

/* "class names    0 T-shirt/top, 1 Trouser, ..." from the metadata's ddpm.class_names (a JSON list of strings). */
static void print_class_names(const ddpm_model *m) {
    const char *v = ddpm_model_metadata(m, "ddpm.class_names");
    if (!v) v = ddpm_model_metadata(m, "class_names");
    ddpm_json *doc = NULL;
    ddpm_error err;
    if (!v || ddpm_json_parse(v, strlen(v), &doc, &err) != DDPM_OK) return;
    const ddpm_json_value *root = ddpm_json_root(doc);
    int strings = root->type == DDPM_JSON_ARRAY && root->length > 0;
    for (size_t i = 0; strings && i < root->length; i++) strings = root->items[i].type == DDPM_JSON_STRING;
    if (strings) {
        printf("class names    ");
        for (size_t i = 0; i < root->length; i++) {
            printf("%s%zu ", i ? ", " : "", i);
            put_text(root->items[i].string, root->items[i].length);
        }
        putchar('\n');
    }
    ddpm_json_free(doc);
}

/* ---- ddpm info ---- */

int cli_cmd_info(int argc, char **argv) {
    const char *pos[1];
    cli_flag mf[CLI_MODEL_FLAG_COUNT];
    cli_model_flags_init(mf);
    if (cli_parse_args("info", argc, argv, mf, CLI_MODEL_FLAG_COUNT, pos, 1) != 1)
        cli_usage_error("info", "info needs a MODEL");
    const char *path = pos[0];
    ddpm_model *m = cli_load_model_flags(path, mf);
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const ddpm_schedule *s = ddpm_model_get_schedule(m);
    const int T = ddpm_schedule_num_timesteps(s);
    const double *betas = ddpm_schedule_array_get(s, DDPM_BETAS);
    const double *abar = ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD);

    struct stat sb;
    char hb[32];
    printf("model          %s\n", path);
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        human_bytes((double)sb.st_size, hb, sizeof hb);
        printf("file size      %lld bytes (%s)\n", (long long)sb.st_size, hb);
    }
    const ddpm_unet_arch *a = &c->arch;
    printf("format         %s\n", a->diffusers_names ? "diffusers UNet2DModel" : "ddpm (training/model.py)");
    printf("channels       in %d, out %d, base %d\n", c->in_channels, c->out_channels, a->level_channels[0]);
    if (!a->diffusers_names) {
        printf("channel mult   ");
        for (int i = 0; i < c->num_levels; i++) printf("%s%d", i ? "," : "", c->channel_mult[i]);
        printf("\n");
    }
    printf("levels         %d; widths", c->num_levels);
    for (int i = 0; i < c->num_levels; i++) printf(" %d", a->level_channels[i]);
    printf("\n");
    printf("res blocks     %d per level (%d in the decoder)\n", c->num_res_blocks, c->num_res_blocks + 1);
    printf("attention      down levels:");
    for (int i = 0; i < c->num_levels; i++)
        if (a->attn_down >> i & 1) printf(" %d (%d px)", i, c->image_size >> i);
    printf("; up levels:");
    for (int i = 0; i < c->num_levels; i++)
        if (a->attn_up >> i & 1) printf(" %d", i);
    printf("; mid %s; ", a->mid_attention ? "yes" : "no");
    if (a->head_dim) printf("heads of %d channels\n", a->head_dim);
    else printf("one head\n");
    printf("groups         %d (GroupNorm, eps %g; attention %d groups)\n", c->groups, (double)a->norm_eps,
           a->attn_groups);
    printf("time embedding %d wide, %s, freq_shift %d%s\n", a->temb_dim, a->flip_sin_to_cos ? "[cos | sin]" : "[sin | cos]",
           a->freq_shift, a->center_input ? "; input centred (2x - 1)" : "");
    if (a->downsample_one_sided || a->mid_scale != 1.0f)
        printf("details        downsampling %s, mid block scale %g\n",
               a->downsample_one_sided ? "padded bottom/right only" : "padded 1", (double)a->mid_scale);
    if (c->num_classes && a->null_class)
        printf("classes        %d (labels 0..%d; -1 = the null class, row %d of the class table)\n", c->num_classes,
               c->num_classes - 1, c->num_classes);
    else if (c->num_classes)
        printf("classes        %d (labels 0..%d, required: no null class)\n", c->num_classes, c->num_classes - 1);
    else
        printf("classes        0 (unconditional)\n");
    if (c->num_classes) print_class_names(m);
    printf("image size     %d x %d\n", c->image_size, c->image_size);
    printf("prediction     %s\n", cli_prediction_name(c->prediction));
    printf("variance       %s\n", c->variance == DDPM_VARIANCE_FIXED_LARGE ? "fixed_large" : "fixed_small");
    printf("schedule       %s, T = %d", schedule_name(c->schedule.kind), T);
    if (c->schedule.kind != DDPM_SCHEDULE_COSINE)
        printf(", beta_start %.6g, beta_end %.6g", c->schedule.beta_start, c->schedule.beta_end);
    printf(", rescale_zero_snr %s\n", c->schedule.rescale_zero_snr ? "yes" : "no");
    if (a->diffusers_names) {
        const ddpm_sample_params d = ddpm_model_sample_defaults(m);
        static const char *const sp[] = {"leading", "trailing", "linspace"};
        printf("scheduler      %s -> sampler %s, spacing %s, steps_offset %d (arithmetic in float32)\n",
               ddpm_model_scheduler_config_json(m) ? "scheduler_config.json" : "DDPMScheduler defaults", d.sampler,
               sp[d.spacing], d.steps_offset);
    }
    if (betas && abar && T > 0)
        printf("               betas[0] = %.6g, betas[T-1] = %.6g, alphas_cumprod[T-1] = %.6g\n", betas[0],
               betas[T - 1], abar[T - 1]);
    const size_t np = ddpm_model_num_params(m);
    printf("parameters     %zu (%.3f M)\n", np, (double)np / 1e6);
    printf("cost           %.4f GFLOP per image per forward pass\n", ddpm_model_flops(m) / 1e9);
    ddpm_model_memory_info mi;
    if (ddpm_model_memory(m, &mi) == DDPM_OK)
        printf("memory         %.1f MiB resident: weights %.1f MiB%s, Winograd %.1f MiB (%d of %d 3x3 convs "
               "precomputed)\n", (double)(mi.weight_bytes + mi.compact_bytes + mi.winograd_bytes) / 1048576.0,
               (double)(mi.weight_bytes + mi.compact_bytes) / 1048576.0, mi.compact ? " (3x3 held compactly)" : "",
               (double)mi.winograd_bytes / 1048576.0, mi.winograd_precomputed, mi.winograd_convs);

    int per_dtype[4] = {0, 0, 0, 0}, other = 0;
    const int nt = ddpm_model_num_tensors(m);
    for (int i = 0; i < nt; i++) {
        ddpm_tensor_info ti;
        if (ddpm_model_tensor_info(m, i, &ti) != DDPM_OK) continue;
        if ((unsigned)ti.dtype < 4) per_dtype[ti.dtype]++;
        else other++;
    }
    printf("tensors        %d:", nt);
    int first = 1;
    for (int d = 0; d < 4; d++)
        if (per_dtype[d]) {
            printf("%s %s x %d", first ? "" : ",", dtype_name((ddpm_dtype)d), per_dtype[d]);
            first = 0;
        }
    if (other) printf("%s other x %d", first ? "" : ",", other);
    printf("\n");
    printf("simd backend   %s\n", ddpm_simd_backend());
    const int nm = ddpm_model_num_metadata(m);
    printf("metadata       %d key%s\n", nm, nm == 1 ? "" : "s");
    for (int i = 0; i < nm; i++) {
        const char *k, *v;
        if (ddpm_model_metadata_at(m, i, &k, &v) != DDPM_OK) continue;
        if (strncmp(k, "diffusers.", 10) == 0) printf("  %s = (%zu bytes of JSON)\n", k, strlen(v));
        else print_metadata_entry(k, v);
    }
    ddpm_model_free(m);
    return 0;
}

/* ---- ddpm samplers ---- */

static const char *option_type_name(ddpm_option_type t) {
    switch (t) {
    case DDPM_OPTION_FLOAT: return "float";
    case DDPM_OPTION_INT: return "int";
    case DDPM_OPTION_BOOL: return "bool";
    case DDPM_OPTION_CHOICE: return "choice";
    }
    return "?";
}

int cli_cmd_samplers(int argc, char **argv) {
    const char *pos[1];
    if (cli_parse_args("samplers", argc, argv, NULL, 0, pos, 0) != 0)
        cli_usage_error("samplers", "samplers takes no arguments");
    const int n = ddpm_sampler_count();
    for (int i = 0; i < n; i++) {
        const ddpm_sampler_vtable *vt = ddpm_sampler_at(i);
        if (!vt) continue;
        printf("%s%s\n", i ? "\n" : "", vt->name);
        if (vt->description) printf("  %s\n", vt->description);
        printf("  %d model evaluation%s per step\n", vt->evals_per_step, vt->evals_per_step == 1 ? "" : "s");
        if (vt->num_options == 0) printf("  options: none\n");
        for (int j = 0; j < vt->num_options; j++) {
            const ddpm_sampler_option *o = &vt->options[j];
            printf("  --opt %s=...  %s, default ", o->name, option_type_name(o->type));
            switch (o->type) {
            case DDPM_OPTION_BOOL: printf("%s", o->default_value != 0.0 ? "true" : "false"); break;
            case DDPM_OPTION_CHOICE: {
                int nch = 0;
                while (o->choices && o->choices[nch]) nch++;
                int d = (int)o->default_value;
                printf("%s", d >= 0 && d < nch ? o->choices[d] : "?");
                printf(", choices:");
                for (int k = 0; k < nch; k++) printf(" %s", o->choices[k]);
                break;
            }
            case DDPM_OPTION_INT:
                printf("%.0f, range %.0f .. %.0f", o->default_value, o->min_value, o->max_value);
                break;
            default: printf("%g, range %g .. %g", o->default_value, o->min_value, o->max_value); break;
            }
            printf("\n");
            if (o->help) printf("      %s\n", o->help);
        }
    }
    return 0;
}

/* ---- ddpm forward (ddpm eps) ---- */

int cli_cmd_forward(int argc, char **argv) {
    cli_flag flags[4 + CLI_MODEL_FLAG_COUNT] = {{.name = "in", .takes_value = 1}, {.name = "t", .takes_value = 1},
                                               {.name = "class", .takes_value = 1}, {.name = "out", .takes_value = 1}};
    cli_model_flags_init(flags + 4);
    const int nf = (int)(sizeof flags / sizeof flags[0]);
    const char *pos[1];
    if (cli_parse_args("forward", argc, argv, flags, nf, pos, 1) != 1) cli_usage_error("forward", "forward needs a MODEL");
    const char *in = cli_flag_get(flags, nf, "in")->value, *out_path = cli_flag_get(flags, nf, "out")->value;
    const char *t_str = cli_flag_get(flags, nf, "t")->value, *class_str = cli_flag_get(flags, nf, "class")->value;
    if (!in) cli_usage_error("forward", "--in is required");
    if (!out_path) cli_usage_error("forward", "--out is required");
    if (!t_str) cli_usage_error("forward", "--t is required");
    double tv;
    if (!cli_parse_double(t_str, &tv)) cli_usage_error("forward", "--t must be a finite number, got '%s'", t_str);

    ddpm_model *m = cli_load_model_flags(pos[0], flags + 4);
    const ddpm_model_config *c = ddpm_model_get_config(m);
    int label = -1;
    if (class_str) {
        if (c->num_classes == 0)
            cli_usage_error("forward", "--class needs a class-conditional model; %s is unconditional", pos[0]);
        /* -1 and num_classes both name the null class (y = NULL and y = num_classes give the same bits) */
        const int null_ok = c->arch.null_class != 0;
        if (!cli_parse_int(class_str, null_ok ? -1 : 0, null_ok ? c->num_classes : c->num_classes - 1, &label)) {
            if (null_ok)
                cli_usage_error("forward",
                                "--class must be -1 (the null class), 0..%d or %d (also the null class), got '%s'",
                                c->num_classes - 1, c->num_classes, class_str);
            cli_usage_error("forward", "--class must be 0..%d (this model has no null class), got '%s'",
                            c->num_classes - 1, class_str);
        }
    }
    const size_t din = (size_t)c->in_channels * c->image_size * c->image_size;
    const size_t dout = (size_t)c->out_channels * c->image_size * c->image_size;
    char msg[512];
    size_t count;
    float *x = cli_read_f32(in, &count, msg, sizeof msg);
    if (!x) cli_die("%s", msg);
    if (count == 0 || count % din != 0) {
        cli_die("%s holds %zu floats, not a whole number (>= 1) of %d x %d x %d images", in, count,
                c->in_channels, c->image_size, c->image_size);
    }
    const size_t n = count / din;
    float *out = malloc(sizeof(float) * (n * dout > 0 ? n * dout : 1));
    enum { CHUNK = 256 };
    float tt[CHUNK];
    int yy[CHUNK];
    for (int k = 0; k < CHUNK; k++) {
        tt[k] = (float)tv;
        yy[k] = label;
    }
    ddpm_error err;
    ddpm_status st = out ? DDPM_OK : DDPM_ERR_OUT_OF_MEMORY;
    if (!out) snprintf(err.message, sizeof err.message, "out of memory");
    for (size_t i = 0; st == DDPM_OK && i < n; i += CHUNK) {
        const int b = (int)(n - i < CHUNK ? n - i : CHUNK);
        st = ddpm_model_forward(m, b, x + i * din, tt, label >= 0 ? yy : NULL, out + i * dout, &err);
    }
    free(x);
    ddpm_model_free(m);
    if (st != DDPM_OK) {
        free(out);
        cli_die("forward pass: %s", err.message);
    }
    int ok = cli_write_f32(out_path, out, n * dout);
    free(out);
    if (!ok) cli_die("cannot write %s: %s", out_path, strerror(errno));
    return 0;
}

/* ---- ddpm convert ---- */

int cli_cmd_convert(int argc, char **argv) {
    cli_flag flags[2 + CLI_MODEL_FLAG_COUNT] = {{.name = "dtype", .takes_value = 1}, {.name = "out", .takes_value = 1}};
    cli_model_flags_init(flags + 2);
    const char *pos[1];
    if (cli_parse_args("convert", argc, argv, flags, 2 + CLI_MODEL_FLAG_COUNT, pos, 1) != 1)
        cli_usage_error("convert", "convert needs a MODEL");
    const char *dt = flags[0].value, *out_path = flags[1].value;
    if (!dt) cli_usage_error("convert", "--dtype is required");
    if (!out_path) cli_usage_error("convert", "--out is required");
    ddpm_dtype d;
    if (strcmp(dt, "f32") == 0) d = DDPM_DTYPE_F32;
    else if (strcmp(dt, "f16") == 0) d = DDPM_DTYPE_F16;
    else if (strcmp(dt, "i8") == 0) d = DDPM_DTYPE_I8;
    else cli_usage_error("convert", "--dtype must be f32, f16 or i8, got '%s'", dt);
    ddpm_model *m = cli_load_model_flags(pos[0], flags + 2);
    void *buf;
    size_t size;
    ddpm_error err;
    if (ddpm_model_export(m, d, &buf, &size, &err) != DDPM_OK) cli_die("convert: %s", err.message);
    ddpm_model_free(m);
    FILE *fp = fopen(out_path, "wb");
    if (!fp) cli_die("cannot write %s: %s", out_path, strerror(errno));
    const int ok = fwrite(buf, 1, size, fp) == size;
    free(buf);
    if (fclose(fp) != 0 || !ok) cli_die("cannot write %s: %s", out_path, strerror(errno));
    fprintf(stderr, "wrote %s (%zu bytes, %s)\n", out_path, size, dt);
    return 0;
}

/* ---- main ---- */

int main(int argc, char **argv) {
    if (argc < 2) cli_usage_error(NULL, "no command given");
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && !usage_of(argv[2])) cli_usage_error(NULL, "unknown command '%s'", argv[2]);
        cli_print_usage(argc > 2 ? argv[2] : NULL);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("ddpm %s (%s)\n", ddpm_version(), ddpm_simd_backend());
        return 0;
    }
    cli_command = strcmp(cmd, "eps") == 0 ? "forward" : cmd;
    if (strcmp(cmd, "info") == 0) return cli_cmd_info(argc - 2, argv + 2);
    if (strcmp(cmd, "sample") == 0) return cli_cmd_sample(argc - 2, argv + 2);
    if (strcmp(cmd, "samplers") == 0) return cli_cmd_samplers(argc - 2, argv + 2);
    if (strcmp(cmd, "forward") == 0 || strcmp(cmd, "eps") == 0) return cli_cmd_forward(argc - 2, argv + 2);
    if (strcmp(cmd, "convert") == 0) return cli_cmd_convert(argc - 2, argv + 2);
    cli_usage_error(NULL, "unknown command '%s'", cmd);
}
