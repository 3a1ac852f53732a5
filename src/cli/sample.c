/*
 * `ddpm sample`: one sampling run through the public run API (ddpm_run_create / ddpm_run_step), with a progress
 * display on stderr, an optional frame every K steps, and the final batch written as a grid PNG and/or raw float32.
 *
 * --class all: one run with per-image labels (ddpm_sample_params.labels), image k's class being
 * (first_image + k) % num_classes; the run API guarantees that image k equals a run of
 * `--class (first_image + k) % num_classes --first-image first_image + k --batch 1`, bit for bit.
 */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- progress on stderr ---- */

typedef struct progress {
    int enabled, tty, total, last_decile;
    double start, last_draw;
} progress;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_duration(double s, char *buf, size_t n) {
    if (!(s >= 0.0) || s > 359999.0) {
        snprintf(buf, n, "--:--");
        return;
    }
    long v = (long)(s + 0.5);
    if (v >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", v / 3600, (v / 60) % 60, v % 60);
    else snprintf(buf, n, "%ld:%02ld", v / 60, v % 60);
}

static void progress_update(progress *p, int done, int t) {
    if (!p->enabled) return;
    const double now = now_s(), el = now - p->start;
    const double rate = el > 0.0 ? done / el : 0.0;
    char eta[32], elapsed[32];
    format_duration(rate > 0.0 ? (p->total - done) / rate : -1.0, eta, sizeof eta);
    format_duration(el, elapsed, sizeof elapsed);
    if (p->tty) {
        if (done < p->total && now - p->last_draw < 0.1) return;
        p->last_draw = now;
        enum { BAR = 24 };
        char bar[BAR + 1];
        const int fill = (int)((long long)done * BAR / p->total);
        for (int i = 0; i < BAR; i++) bar[i] = i < fill ? '#' : '.';
        bar[BAR] = '\0';
        fprintf(stderr, "\r[%s] step %d/%d  t=%-5d %8.2f it/s  ETA %s   ", bar, done, p->total, t, rate, eta);
        if (done == p->total) fprintf(stderr, "\n");
    } else {
        const int decile = (int)((long long)done * 10 / p->total);
        if (decile == p->last_decile && done != p->total) return;
        if (done == p->total && decile == p->last_decile) return;
        p->last_decile = decile;
        fprintf(stderr, "step %d/%d  t=%d  %.2f it/s  elapsed %s  ETA %s\n", done, p->total, t, rate, elapsed, eta);
    }
    fflush(stderr);
}

/* ---- options ---- */

static int parse_bool_word(const char *s, double *v) {
    static const char *const yes[] = {"true", "yes", "on", NULL}, *const no[] = {"false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++)
        if (strcmp(s, yes[i]) == 0) return (*v = 1.0), 1;
    for (int i = 0; no[i]; i++)
        if (strcmp(s, no[i]) == 0) return (*v = 0.0), 1;
    return 0;
}

/* "name=value" -> the sampler's option name and its value as a double; dies with a usage error when malformed. */
static void resolve_opt(const ddpm_sampler_vtable *vt, const char *spec, char *name, size_t name_size, double *v) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) cli_usage_error("sample", "--opt needs NAME=VALUE, got '%s'", spec);
    const size_t len = (size_t)(eq - spec);
    if (len >= name_size) cli_usage_error("sample", "--opt name too long: '%s'", spec);
    memcpy(name, spec, len);
    name[len] = '\0';
    const char *val = eq + 1;
    const ddpm_sampler_option *o = NULL;
    for (int i = 0; i < vt->num_options; i++)
        if (strcmp(vt->options[i].name, name) == 0) o = &vt->options[i];
    if (!o) {
        char list[512] = "";
        size_t used = 0;
        for (int i = 0; i < vt->num_options && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", vt->options[i].name);
        cli_die("sampler %s has no option '%s' (its options: %s)", vt->name, name,
                vt->num_options ? list : "none");
    }
    if (o->type == DDPM_OPTION_BOOL && parse_bool_word(val, v)) return;
    if (o->type == DDPM_OPTION_CHOICE && o->choices)
        for (int i = 0; o->choices[i]; i++)
            if (strcmp(o->choices[i], val) == 0) {
                *v = (double)i;
                return;
            }
    if (!cli_parse_double(val, v)) {
        if (o->type == DDPM_OPTION_CHOICE) {
            char list[512] = "";
            size_t used = 0;
            for (int i = 0; o->choices && o->choices[i] && used < sizeof list; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", o->choices[i]);
            cli_usage_error("sample", "option %s takes one of: %s (got '%s')", name, list, val);
        }
        if (o->type == DDPM_OPTION_BOOL)
            cli_usage_error("sample", "option %s takes true/false/yes/no/on/off/1/0, got '%s'", name, val);
        cli_usage_error("sample", "option %s needs a number, got '%s'", name, val);
    }
}

/* Dies unless the directory that `path` would be written into exists and is writable (checked before sampling so
 * that a typo does not cost a whole run). */
static void check_output_dir(const char *flag, const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (!*path || (slash && !slash[1])) cli_die("%s %s is not a file name", flag, path);
    if (access(dir, W_OK) != 0) cli_die("%s %s: cannot write into %s: %s", flag, path, dir, strerror(errno));
}

static void ensure_dir(const char *dir) {
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) cli_die("--frames %s exists and is not a directory", dir);
        return;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) cli_die("cannot create directory %s: %s", dir, strerror(errno));
}

/* ---- ddpm sample ---- */

enum {
    F_SEED, F_BATCH, F_FIRST, F_SAMPLER, F_OPT, F_STEPS, F_SPACING, F_CLASS, F_GUIDANCE, F_INIT, F_STRENGTH,
    F_OUT, F_RAW, F_FRAMES, F_EVERY, F_SCALE, F_QUIET, F_OFFSET, F_TIMESTEPS, F_START, F_NOISE, F_DEEP, F_MODEL,
    F_COUNT = F_MODEL + CLI_MODEL_FLAG_COUNT
};

/* "999,500,0" -> a malloc'd int array (dies on anything else). */
static int *parse_timesteps(const char *s, int *n) {
    int cap = 16, k = 0;
    int *v = malloc(sizeof(int) * (size_t)cap);
    char item[32];
    while (v) {
        const char *comma = strchr(s, ',');
        const size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == 0 || len >= sizeof item) cli_usage_error("sample", "--timesteps: bad entry in '%s'", s);
        memcpy(item, s, len);
        item[len] = '\0';
        if (k == cap && !(v = realloc(v, sizeof(int) * (size_t)(cap *= 2)))) break;
        if (!cli_parse_int(item, 0, DDPM_MAX_TIMESTEPS - 1, &v[k++]))
            cli_usage_error("sample", "--timesteps: '%s' is not a timestep", item);
        if (!comma) break;
        s = comma + 1;
    }
    if (!v) cli_die("out of memory");
    *n = k;
    return v;
}

int cli_cmd_sample(int argc, char **argv) {
    cli_flag flags[F_COUNT] = {
        [F_SEED] = {"seed", 1},         [F_BATCH] = {"batch", 1},     [F_FIRST] = {"first-image", 1},
        [F_SAMPLER] = {"sampler", 1},   [F_OPT] = {"opt", 1, 1},      [F_STEPS] = {"steps", 1},
        [F_SPACING] = {"spacing", 1},   [F_CLASS] = {"class", 1},     [F_GUIDANCE] = {"guidance", 1},
        [F_INIT] = {"init", 1},         [F_STRENGTH] = {"strength", 1}, [F_OUT] = {"out", 1},
        [F_RAW] = {"raw", 1},           [F_FRAMES] = {"frames", 1},   [F_EVERY] = {"every", 1},
        [F_SCALE] = {"scale", 1},       [F_QUIET] = {"quiet", 0},     [F_OFFSET] = {"steps-offset", 1},
        [F_TIMESTEPS] = {"timesteps", 1}, [F_START] = {"start", 1},   [F_NOISE] = {"noise", 1},
        [F_DEEP] = {"deep-cache", 1},
    };
    cli_model_flags_init(flags + F_MODEL);
    const char *pos[1];
    if (cli_parse_args("sample", argc, argv, flags, F_COUNT, pos, 1) != 1)
        cli_usage_error("sample", "sample needs a MODEL");
    const char *model_path = pos[0];
#define V(f) (flags[f].value)

    /* what needs no model first; then the model, whose scheduler config sets the defaults the flags override */
    if (!V(F_SEED)) cli_usage_error("sample", "--seed is required (an integer in 0..2^64-1)");
    if (!V(F_OUT) && !V(F_RAW)) cli_usage_error("sample", "--out (PNG) or --raw (float32) is required");
    uint64_t seed;
    if (!cli_parse_u64(V(F_SEED), &seed))
        cli_usage_error("sample", "--seed must be an integer in 0..2^64-1 (18446744073709551615), got '%s'", V(F_SEED));
    if (V(F_OUT) && !cli_is_png_name(V(F_OUT)))
        cli_usage_error("sample", "--out must name a .png file (PNG is the only image format written), got '%s'",
                        V(F_OUT));
    /* --steps: an integer now, its range (1..T) once the model is loaded */
    long steps_arg = 0;
    if (V(F_STEPS)) {
        const char *q = V(F_STEPS) + (V(F_STEPS)[0] == '-');
        char *end;
        if (*q < '0' || *q > '9') cli_usage_error("sample", "--steps must be an integer, got '%s'", V(F_STEPS));
        errno = 0;
        steps_arg = strtol(V(F_STEPS), &end, 10);
        if (*end) cli_usage_error("sample", "--steps must be an integer, got '%s'", V(F_STEPS));
        if (errno) steps_arg = steps_arg < 0 ? -1 : DDPM_MAX_TIMESTEPS + 1L; /* out of any range */
    }
    ddpm_model *m = cli_load_model_flags(model_path, flags + F_MODEL);
    const ddpm_model_config *c = ddpm_model_get_config(m);
    const int T = ddpm_schedule_num_timesteps(ddpm_model_get_schedule(m));
    ddpm_sample_params p = ddpm_model_sample_defaults(m);
    p.seed = seed;
    if (V(F_BATCH) && !cli_parse_int(V(F_BATCH), 1, DDPM_MAX_BATCH, &p.batch))
        cli_usage_error("sample", "--batch must be an integer in 1..%d, got '%s'", DDPM_MAX_BATCH, V(F_BATCH));
    if (V(F_FIRST)) {
        uint64_t f;
        if (!cli_parse_u64(V(F_FIRST), &f) || f > 0xffffffffu)
            cli_usage_error("sample", "--first-image must be an integer in 0..4294967295, got '%s'", V(F_FIRST));
        p.first_image = (uint32_t)f;
    }
    if (V(F_SAMPLER)) p.sampler = V(F_SAMPLER);
    if (V(F_STEPS)) {
        if (steps_arg < 1 || steps_arg > T)
            cli_usage_error("sample", "--steps must be an integer in 1..%d (the model's T), got %s", T, V(F_STEPS));
        p.steps = (int)steps_arg;
    }
    if (V(F_SPACING)) {
        if (strcmp(V(F_SPACING), "leading") == 0) p.spacing = DDPM_SPACING_LEADING;
        else if (strcmp(V(F_SPACING), "trailing") == 0) p.spacing = DDPM_SPACING_TRAILING;
        else if (strcmp(V(F_SPACING), "linspace") == 0) p.spacing = DDPM_SPACING_LINSPACE;
        else cli_usage_error("sample", "--spacing must be leading, trailing or linspace, got '%s'", V(F_SPACING));
    }
    /* --class: -1 (the null class: the library's class_label -1, as without --class), 0..classes-1, or all */
    int class_all = 0;
    if (V(F_CLASS)) {
        const int nc = c->num_classes, null_ok = c->arch.null_class != 0;
        if (nc == 0)
            cli_usage_error("sample", "--class needs a class-conditional model; %s is unconditional", model_path);
        if (strcmp(V(F_CLASS), "all") == 0) class_all = 1;
        else if (!cli_parse_int(V(F_CLASS), null_ok ? -1 : 0, nc - 1, &p.class_label)) {
            if (null_ok)
                cli_usage_error("sample", "--class must be -1 (the null class), 0..%d or 'all', got '%s'", nc - 1,
                                V(F_CLASS));
            cli_usage_error("sample", "--class must be 0..%d or 'all' (this model has no null class), got '%s'",
                            nc - 1, V(F_CLASS));
        }
    }
    if (V(F_GUIDANCE)) {
        double g;
        if (!cli_parse_double(V(F_GUIDANCE), &g))
            cli_usage_error("sample", "--guidance must be a finite number, got '%s'", V(F_GUIDANCE));
        if (g < 0.0 || g > 100.0)
            cli_usage_error("sample", "--guidance must be a number in 0..100, got '%s'", V(F_GUIDANCE));
        p.guidance = (float)g;
        if (p.guidance != 1.0f) {
            if (c->num_classes == 0)
                cli_usage_error("sample", "--guidance needs a class-conditional model; %s is unconditional",
                                model_path);
            if (!V(F_CLASS))
                cli_usage_error("sample", "--guidance %s needs --class 0..%d or 'all'", V(F_GUIDANCE),
                                c->num_classes - 1);
            if (!class_all && p.class_label == -1)
                cli_usage_error("sample",
                                "--guidance %s cannot be used with --class -1: the null class is sampled without "
                                "guidance (give --class 0..%d or 'all', or no --guidance)",
                                V(F_GUIDANCE), c->num_classes - 1);
        }
    }
    if (V(F_INIT) && !V(F_STRENGTH)) cli_usage_error("sample", "--init needs --strength");
    if (V(F_STRENGTH)) {
        double s;
        if (!V(F_INIT)) cli_usage_error("sample", "--strength needs --init");
        if (!cli_parse_double(V(F_STRENGTH), &s))
            cli_usage_error("sample", "--strength must be a number in (0, 1], got '%s'", V(F_STRENGTH));
        p.strength = (float)s;
    }
    if (V(F_DEEP) && !cli_parse_int(V(F_DEEP), 0, 1000, &p.deep_cache))
        cli_usage_error("sample", "--deep-cache must be an integer 0..1000 (0 or 1: off), got '%s'", V(F_DEEP));
    if (V(F_OFFSET) && !cli_parse_int(V(F_OFFSET), 0, DDPM_MAX_TIMESTEPS, &p.steps_offset))
        cli_usage_error("sample", "--steps-offset must be a non-negative integer, got '%s'", V(F_OFFSET));
    int *custom = NULL;
    if (V(F_TIMESTEPS)) {
        if (V(F_STEPS)) cli_usage_error("sample", "--timesteps replaces --steps: give one of them");
        custom = parse_timesteps(V(F_TIMESTEPS), &p.num_timesteps);
        p.timesteps = custom;
    }
    int every = 1, scale = cli_default_scale(c->image_size);
    if (V(F_EVERY)) {
        if (!V(F_FRAMES)) cli_usage_error("sample", "--every needs --frames");
        if (!cli_parse_int(V(F_EVERY), 1, DDPM_MAX_TIMESTEPS, &every))
            cli_usage_error("sample", "--every must be a positive integer, got '%s'", V(F_EVERY));
    }
    if (V(F_SCALE) && !cli_parse_int(V(F_SCALE), 1, 32, &scale))
        cli_usage_error("sample", "--scale must be an integer in 1..32, got '%s'", V(F_SCALE));
    const int quiet = flags[F_QUIET].count > 0;
    if (V(F_OUT)) check_output_dir("--out", V(F_OUT));
    if (V(F_RAW)) check_output_dir("--raw", V(F_RAW));

    /* the sampler and its options, by name */
    const ddpm_sampler_vtable *vt = ddpm_sampler_find(p.sampler);
    if (!vt) cli_die("no sampler named '%s' (see `ddpm samplers`)", p.sampler);
    const int nopt = flags[F_OPT].count;
    char opt_names[CLI_MAX_REPEAT][64];
    const char *opt_name_ptrs[CLI_MAX_REPEAT];
    double opt_values[CLI_MAX_REPEAT];
    for (int i = 0; i < nopt; i++) {
        resolve_opt(vt, flags[F_OPT].values[i], opt_names[i], sizeof opt_names[i], &opt_values[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(opt_names[j], opt_names[i]) == 0)
                cli_usage_error("sample", "option %s is given more than once", opt_names[i]);
        opt_name_ptrs[i] = opt_names[i];
    }
    p.num_options = nopt;
    p.option_names = opt_name_ptrs;
    p.option_values = opt_values;

    const int C = c->in_channels, S = c->image_size, B = p.batch;
    const size_t D = (size_t)C * S * S;

    /* replay inputs */
    float *start = NULL, *noise = NULL;
    if (V(F_START)) {
        char msg[512];
        size_t count;
        if (!(start = cli_read_f32(V(F_START), &count, msg, sizeof msg))) cli_die("--start: %s", msg);
        if (count != D * (size_t)B)
            cli_die("--start %s holds %zu floats; x_T of %d images of %d x %d x %d needs %zu", V(F_START), count, B, C,
                    S, S, D * (size_t)B);
        p.start_x = start;
    }
    if (V(F_NOISE)) {
        char msg[512];
        size_t count;
        if (!(noise = cli_read_f32(V(F_NOISE), &count, msg, sizeof msg))) cli_die("--noise: %s", msg);
        if (count == 0 || count % (D * (size_t)B) != 0 || count / (D * (size_t)B) > 0x7fffffff)
            cli_die("--noise %s holds %zu floats, not a whole number of [%d, %d, %d, %d] tensors", V(F_NOISE), count,
                    B, C, S, S);
        p.noise = noise;
        p.noise_count = (int)(count / (D * (size_t)B));
    }

    float *init = NULL;
    if (V(F_INIT)) {
        char msg[512];
        init = malloc(sizeof(float) * D * (size_t)B);
        if (!init) cli_die("out of memory");
        if (!cli_load_image(V(F_INIT), C, S, init, msg, sizeof msg)) cli_die("--init: %s", msg);
        for (int k = 1; k < B; k++) memcpy(init + (size_t)k * D, init, sizeof(float) * D);
        p.init_image = init;
    }

    ddpm_error err;
    ddpm_run *run = NULL;
    ddpm_status st;
    int *labels = NULL;
    if (class_all) {
        if (!(labels = malloc(sizeof(int) * (size_t)B))) cli_die("out of memory");
        for (int k = 0; k < B; k++) labels[k] = (int)((p.first_image + (uint64_t)k) % (uint64_t)c->num_classes);
        p.labels = labels;
    }
    st = ddpm_run_create(m, &p, &run, &err);
    if (st != DDPM_OK) cli_die("%s", err.message);

    const int N = ddpm_run_num_steps(run);
    const char *frames = V(F_FRAMES);
    char frame_path[4096];
    const char *why;
    if (frames) {
        ensure_dir(frames);
        snprintf(frame_path, sizeof frame_path, "%s/step_%05d.png", frames, 0);
        if (!cli_write_grid_png(frame_path, ddpm_run_x(run), B, C, S, scale, &why))
            cli_die("cannot write %s: %s", frame_path, why);
    }
    progress pr = {!quiet, isatty(fileno(stderr)), N, 0, now_s(), 0.0};
    if (!quiet)
        fprintf(stderr, "sampling %d image%s of %dx%dx%d with %s, %d step%s (t = %d .. %d)\n", B, B == 1 ? "" : "s",
                C, S, S, vt->name, N, N == 1 ? "" : "s", ddpm_run_timestep(run, 0), ddpm_run_timestep(run, N - 1));
    while (!ddpm_run_done(run)) {
        const int i = ddpm_run_current_step(run);
        if ((st = ddpm_run_step(run, &err)) != DDPM_OK) {
            const int t = ddpm_run_timestep(run, i);
            if (pr.tty && pr.enabled) fputc('\n', stderr);
            ddpm_run_free(run);
            cli_die("step %d (t = %d): %s", i, t, err.message);
        }
        progress_update(&pr, i + 1, ddpm_run_timestep(run, i));
        if (frames && ((i + 1) % every == 0 || i + 1 == N)) {
            snprintf(frame_path, sizeof frame_path, "%s/step_%05d.png", frames, i + 1);
            if (!cli_write_grid_png(frame_path, ddpm_run_x(run), B, C, S, scale, &why))
                cli_die("cannot write %s: %s", frame_path, why);
        }
    }
    const double elapsed = now_s() - pr.start;

    const float *x = ddpm_run_x(run);
    int rc = 0;
    if (V(F_OUT) && !cli_write_grid_png(V(F_OUT), x, B, C, S, scale, &why)) {
        fprintf(stderr, "ddpm: cannot write %s: %s\n", V(F_OUT), why);
        rc = 1;
    }
    if (V(F_RAW) && !cli_write_f32(V(F_RAW), x, D * (size_t)B)) {
        fprintf(stderr, "ddpm: cannot write %s: %s\n", V(F_RAW), strerror(errno));
        rc = 1;
    }
    if (!rc && !quiet)
        fprintf(stderr, "wrote %s%s%s in %.2f s\n", V(F_OUT) ? V(F_OUT) : "", V(F_OUT) && V(F_RAW) ? " and " : "",
                V(F_RAW) ? V(F_RAW) : "", elapsed);
    ddpm_run_free(run);
    free(labels);
    free(init);
    free(start);
    free(noise);
    free(custom);
    ddpm_model_free(m);
#undef V
    return rc;
}
