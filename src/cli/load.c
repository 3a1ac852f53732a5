/* Loading MODEL for every command: a weights file, a diffusers folder (or its config.json), or its files named by
 * flags. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_model_flags_init(cli_flag *f) {
    const char *names[CLI_MODEL_FLAG_COUNT] = {"variant", "quantize", "config", "scheduler", "kernels", "compact",
                                                 "threads", "memory-budget"};
    for (int i = 0; i < CLI_MODEL_FLAG_COUNT; i++) {
        memset(&f[i], 0, sizeof f[i]);
        f[i].name = names[i];
        f[i].takes_value = i != 5; /* --compact is a switch */
    }
}

static char *read_text(const char *flag, const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) cli_die("--%s %s: cannot open it", flag, path);
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 65536 > cap) {
            cap = cap ? 2 * cap : 65536;
            if (cap > ((size_t)64 << 20)) cli_die("--%s %s: larger than 64 MiB, not a config file", flag, path);
            char *q = realloc(buf, cap + 1);
            if (!q) cli_die("out of memory");
            buf = q;
        }
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
    } while (got > 0);
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The weights through the public reader interface: tensor by tensor, never the whole file in memory. */
static int file_read(void *user, uint64_t offset, size_t n, void *dst) {
    FILE *fp = user;
    return fseek(fp, (long)offset, SEEK_SET) == 0 && fread(dst, 1, n, fp) == n ? 0 : -1;
}

static ddpm_status load_weights_file(const char *path, const ddpm_load_options *o, ddpm_model **m, ddpm_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) cli_die("%s: cannot open it", path);
    long len = -1;
    if (fseek(fp, 0, SEEK_END) == 0) len = ftell(fp);
    if (len < 0 || len >= ((long)1 << 40)) cli_die("%s: not a weights file (a folder?)", path);
    const ddpm_reader r = {(uint64_t)len, file_read, fp};
    const ddpm_status st = ddpm_model_load_reader(&r, o, m, err);
    fclose(fp);
    return st;
}

static void die_load(const char *path, const ddpm_error *err) {
    if (strstr(err->message, path)) cli_die("%s", err->message);
    cli_die("%s: %s", path, err->message);
}

ddpm_model *cli_load_model_flags(const char *path, const cli_flag *mf) {
    ddpm_load_options o = ddpm_load_default_options();
    const char *variant = mf ? mf[0].value : NULL, *q = mf ? mf[1].value : NULL;
    const char *config = mf ? mf[2].value : NULL, *sched = mf ? mf[3].value : NULL, *kern = mf ? mf[4].value : NULL;
    ddpm_kernels kernels = DDPM_KERNELS_SIMD;
    int threads = 0; /* automatic: every processor for models large enough to gain (ddpm_model_set_threads) */
    if (mf && mf[6].value) {
        char *end;
        const long v = strtol(mf[6].value, &end, 10);
        if (*mf[6].value == '\0' || *end || v < 0 || v > 64)
            cli_usage_error(cli_command, "--threads must be an integer 0..64 (0: automatic), got '%s'", mf[6].value);
        threads = (int)v;
    }
    if (kern) {
        if (strcmp(kern, "simd") == 0) kernels = DDPM_KERNELS_SIMD;
        else if (strcmp(kern, "scalar") == 0) kernels = DDPM_KERNELS_SCALAR;
        else if (strcmp(kern, "precise") == 0) kernels = DDPM_KERNELS_PRECISE;
        else cli_usage_error(cli_command, "--kernels must be simd, scalar or precise, got '%s'", kern);
    }
    if (q) {
        if (strcmp(q, "f32") == 0) o.quantize = DDPM_DTYPE_F32;
        else if (strcmp(q, "f16") == 0) o.quantize = DDPM_DTYPE_F16;
        else if (strcmp(q, "i8") == 0) o.quantize = DDPM_DTYPE_I8;
        else cli_usage_error(cli_command, "--quantize must be f32, f16 or i8, got '%s'", q);
    }
    if (mf && mf[5].count) {
        if (o.quantize == DDPM_DTYPE_F32) cli_usage_error(cli_command, "--compact needs --quantize i8 or f16");
        o.compact = 1;
    }
    if (mf && mf[7].value) {
        char *end;
        const double v = strtod(mf[7].value, &end);
        if (*mf[7].value == '\0' || *end || !(v > 0) || v > 1048576.0)
            cli_usage_error(cli_command, "--memory-budget must be a number of MiB in (0, 1048576], got '%s'", mf[7].value);
        o.memory_budget = (size_t)(v * 1048576.0);
    }
    ddpm_error err;
    ddpm_model *m = NULL;
    char dir[4096];
    const size_t n = strlen(path);
    /* MODEL given as a folder's config.json: the folder */
    if (!config && n >= 11 && strcmp(path + n - 11, "config.json") == 0 && (n == 11 || path[n - 12] == '/') &&
        !(n >= 16 && strcmp(path + n - 16, "scheduler_config.json") == 0)) {
        snprintf(dir, sizeof dir, "%.*s", n == 11 ? 1 : (int)(n - 12), n == 11 ? "." : path);
        path = dir;
    }
    if (config || sched) { /* weights file + explicit JSON files */
        char *ctext = NULL, *stext = NULL;
        size_t clen = 0, slen = 0;
        if (sched && !config) cli_usage_error(cli_command, "--scheduler needs --config (the UNet's config.json)");
        ctext = read_text("config", config, &clen);
        if (sched) stext = read_text("scheduler", sched, &slen);
        o.unet_config = ctext;
        o.unet_config_len = clen;
        o.scheduler_config = stext;
        o.scheduler_config_len = slen;
        ddpm_status st = load_weights_file(path, &o, &m, &err);
        free(ctext), free(stext);
        if (st != DDPM_OK) die_load(path, &err);
    } else if (ddpm_model_load_path(path, variant, &o, &m, &err) != DDPM_OK) {
        die_load(path, &err);
    }
    ddpm_model_set_kernels(m, kernels);
    if (ddpm_model_set_threads(m, threads, &err) != DDPM_OK) {
        ddpm_model_free(m);
        cli_die("--threads %d: %s", threads, err.message);
    }
    return m;
}

ddpm_model *cli_load_model(const char *path) { return cli_load_model_flags(path, NULL); }
