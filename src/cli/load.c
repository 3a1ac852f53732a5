/* Loading MODEL for every command: a weights file, a diffusers folder (or its config.json), or its files named by
 * flags. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_model_flags_init(cli_flag *f) {
    const char *names[CLI_MODEL_FLAG_COUNT] = {"variant", "quantize", "config", "scheduler", "kernels", "compact",
                                                 "threads"};
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
            cli_die("--threads must be an integer 0..64 (0: automatic), got '%s'", mf[6].value);
        threads = (int)v;
    }
    if (kern) {
        if (strcmp(kern, "simd") == 0) kernels = DDPM_KERNELS_SIMD;
        else if (strcmp(kern, "scalar") == 0) kernels = DDPM_KERNELS_SCALAR;
        else if (strcmp(kern, "precise") == 0) kernels = DDPM_KERNELS_PRECISE;
        else cli_die("--kernels must be simd, scalar or precise, got '%s'", kern);
    }
    if (q) {
        if (strcmp(q, "f32") == 0) o.quantize = DDPM_DTYPE_F32;
        else if (strcmp(q, "f16") == 0) o.quantize = DDPM_DTYPE_F16;
        else if (strcmp(q, "i8") == 0) o.quantize = DDPM_DTYPE_I8;
        else cli_die("--quantize must be f32, f16 or i8, got '%s'", q);
    }
    if (mf && mf[5].count) {
        if (o.quantize == DDPM_DTYPE_F32) cli_die("--compact needs --quantize i8 or f16");
        o.compact = 1;
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
        char *ctext = NULL, *stext = NULL, *wbuf;
        size_t clen = 0, slen = 0, wlen;
        if (sched && !config) cli_die("--scheduler needs --config (the UNet's config.json)");
        ctext = read_text("config", config, &clen);
        if (sched) stext = read_text("scheduler", sched, &slen);
        wbuf = read_text("weights", path, &wlen);
        o.unet_config = ctext;
        o.unet_config_len = clen;
        o.scheduler_config = stext;
        o.scheduler_config_len = slen;
        ddpm_status st = ddpm_model_load_buffer_ex(wbuf, wlen, &o, &m, &err);
        free(ctext), free(stext), free(wbuf);
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
