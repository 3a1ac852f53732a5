/*
 * Loading from the file system: a weights file, or a diffusers model folder in either of its two layouts
 *     DIR/config.json, DIR/diffusion_pytorch_model[.VARIANT].safetensors, DIR/scheduler_config.json   (a model repo)
 *     DIR/model_index.json, DIR/unet/..., DIR/scheduler/scheduler_config.json                          (a pipeline)
 * Only fopen/fread are used (no stat), so the same code builds everywhere; a path is taken as a folder when one of
 * the two JSON files opens inside it.
 */
#include "io/json.h"
#include "io/safetensors.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 4096

ddpm_status ddpm__read_file(const char *path, char **data, size_t *size, ddpm_error *err) {
    *data = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ddpm__fail(err, DDPM_ERR_IO, "cannot open %s", path);
    long len = -1;
    if (fseek(fp, 0, SEEK_END) == 0) len = ftell(fp);
    if (len < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return ddpm__fail(err, DDPM_ERR_IO, "cannot determine the size of %s", path);
    }
    if (len >= ((long)1 << 40)) { /* Linux opens a folder as a file whose "size" is LONG_MAX */
        fclose(fp);
        return ddpm__fail(err, DDPM_ERR_IO, "%s is a folder without config.json or model_index.json", path);
    }
    if ((unsigned long)len > (unsigned long)DDPM_MAX_WORKSPACE_BYTES) {
        fclose(fp);
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "%s is %ld bytes, larger than any model this engine loads", path,
                          len);
    }
    char *buf = ddpm__malloc((size_t)len + 1);
    if (!buf) {
        fclose(fp);
        return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %ld bytes for %s", len, path);
    }
    size_t got = fread(buf, 1, (size_t)len, fp);
    const int is_dir = ferror(fp) && errno == EISDIR;
    fclose(fp);
    if (is_dir) {
        free(buf);
        return ddpm__fail(err, DDPM_ERR_IO, "%s is a folder without config.json or model_index.json", path);
    }
    if (got != (size_t)len) {
        free(buf);
        return ddpm__fail(err, DDPM_ERR_IO, "short read on %s", path);
    }
    buf[len] = '\0'; /* JSON texts are used as C strings */
    *data = buf;
    *size = (size_t)len;
    return DDPM_OK;
}

/* ---- a weights file through a ddpm_reader ---- */

static int file_read(void *user, uint64_t offset, size_t n, void *dst) {
    FILE *fp = user;
    if (offset > (uint64_t)LONG_MAX || fseek(fp, (long)offset, SEEK_SET) != 0) return -1;
    return fread(dst, 1, n, fp) == n ? 0 : -1;
}

ddpm_status ddpm__load_weights_file(const char *path, const ddpm_load_options *opt, ddpm_model **out, ddpm_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return ddpm__fail(err, DDPM_ERR_IO, "cannot open %s", path);
    long len = -1;
    if (fseek(fp, 0, SEEK_END) == 0) len = ftell(fp);
    unsigned char probe;
    ddpm_status st = DDPM_OK;
    if (len < 0 || fseek(fp, 0, SEEK_SET) != 0) {
        st = ddpm__fail(err, DDPM_ERR_IO, "cannot determine the size of %s", path);
    } else if (len >= ((long)1 << 40) || (fread(&probe, 1, 1, fp) != 1 && ferror(fp) && errno == EISDIR)) {
        /* Linux opens a folder as a file whose "size" is LONG_MAX, and reading it fails with EISDIR */
        st = ddpm__fail(err, DDPM_ERR_IO, "%s is a folder without config.json or model_index.json", path);
    } else {
        const ddpm_reader r = {(uint64_t)len, file_read, fp};
        st = ddpm_model_load_reader(&r, opt, out, err);
        if (st == DDPM_ERR_IO && strstr(err ? err->message : "", "of the weights")) /* say which file */
            ddpm__fail(err, DDPM_ERR_IO, "%s: %s", path, err->message);
    }
    fclose(fp);
    return st;
}

static int exists(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    fclose(fp);
    return 1;
}

/* out = dir "/" name (PATH_MAX_LEN bytes); 0 when it does not fit (out is then the empty string). */
static int join(char *out, const char *dir, const char *name) {
    const size_t n = strlen(dir), k = strlen(name);
    const int slash = n > 0 && dir[n - 1] == '/';
    if (n + !slash + k + 1 > PATH_MAX_LEN) {
        out[0] = '\0';
        return 0;
    }
    memcpy(out, dir, n);
    if (!slash) out[n] = '/';
    memcpy(out + n + !slash, name, k + 1);
    return 1;
}

/* The pipeline's model_index.json: must name a UNet2DModel under "unet". */
static ddpm_status check_model_index(const char *path, ddpm_error *err) {
    char *text;
    size_t len;
    ddpm_status st = ddpm__read_file(path, &text, &len, err);
    if (st != DDPM_OK) return st;
    ddpm_json *doc = NULL;
    st = ddpm_json_parse(text, len, &doc, err);
    free(text);
    if (st != DDPM_OK) return ddpm__fail(err, st, "%s is not valid JSON", path);
    const ddpm_json_value *root = ddpm_json_root(doc), *unet = ddpm_json_object_get(root, "unet");
    const char *cls = NULL;
    if (unet && unet->type == DDPM_JSON_ARRAY && unet->length == 2 && unet->items[1].type == DDPM_JSON_STRING)
        cls = unet->items[1].string;
    const int latent = ddpm_json_object_get(root, "vae") || ddpm_json_object_get(root, "text_encoder");
    if (latent || (cls && strcmp(cls, "UNet2DModel") != 0)) {
        char vb[64];
        st = ddpm__fail(err, DDPM_ERR_UNSUPPORTED,
                        "%s describes a %s pipeline (unet: %s), not a pixel-space UNet2DModel: latent text-to-image "
                        "pipelines such as Stable Diffusion are not supported", path, latent ? "latent" : "other",
                        cls ? ddpm_st_printable(cls, vb, sizeof vb) : "none");
    } else if (!cls) {
        st = ddpm__fail(err, DDPM_ERR_CONFIG, "%s has no \"unet\": [library, class] entry", path);
    }
    ddpm_json_free(doc);
    return st;
}

ddpm_status ddpm_model_load_path(const char *path, const char *variant, const ddpm_load_options *opt,
                                 ddpm_model **out, ddpm_error *err) {
    if (!out || !path) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "path or out is NULL");
    *out = NULL;
    ddpm_load_options o = opt ? *opt : ddpm_load_default_options();
    if (o.unet_config || o.scheduler_config)
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "load_path reads the folder's own config files");
    if (variant && (!variant[0] || strlen(variant) > 32 || strchr(variant, '/')))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "variant \"%.32s\" is not a plain name", variant);
    char unet_dir[PATH_MAX_LEN], p[PATH_MAX_LEN], sched[PATH_MAX_LEN], weights[PATH_MAX_LEN];
    if (strlen(path) > PATH_MAX_LEN - 64) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "path is too long");
    ddpm_status st;
    sched[0] = '\0';
    join(p, path, "model_index.json");
    char root_cfg[PATH_MAX_LEN], unet_cfg[PATH_MAX_LEN];
    join(root_cfg, path, "config.json");
    join(unet_cfg, path, "unet/config.json");
    if (exists(p) && (exists(unet_cfg) || !exists(root_cfg))) { /* a pipeline: unet/ and scheduler/ */
        if ((st = check_model_index(p, err)) != DDPM_OK) return st;
        join(unet_dir, path, "unet");
        join(sched, path, "scheduler/scheduler_config.json");
    } else if (exists(p)) { /* a flat pipeline (google/ddpm-*): model_index.json beside the model's own files */
        if ((st = check_model_index(p, err)) != DDPM_OK) return st;
        snprintf(unet_dir, sizeof unet_dir, "%s", path);
        join(sched, path, "scheduler_config.json");
    } else {
        snprintf(unet_dir, sizeof unet_dir, "%s", path);
        join(p, path, "config.json");
        if (!exists(p)) return ddpm__load_weights_file(path, &o, out, err); /* a single weights file */
        join(sched, path, "scheduler_config.json");
        if (!exists(sched)) join(sched, path, "../scheduler/scheduler_config.json"); /* PIPELINE/unet given */
    }
    join(p, unet_dir, "config.json");
    char *unet_text = NULL, *sched_text = NULL;
    size_t unet_len = 0, sched_len = 0;
    if ((st = ddpm__read_file(p, &unet_text, &unet_len, err)) != DDPM_OK) return st;
    if (exists(sched) && (st = ddpm__read_file(sched, &sched_text, &sched_len, err)) != DDPM_OK) goto done;
    weights[0] = '\0';
    if (variant) {
        char name[96];
        snprintf(name, sizeof name, "diffusion_pytorch_model.%s.safetensors", variant);
        join(weights, unet_dir, name);
        if (!exists(weights)) weights[0] = '\0';
    }
    if (!weights[0]) join(weights, unet_dir, "diffusion_pytorch_model.safetensors");
    if (!exists(weights)) {
        join(p, unet_dir, "diffusion_pytorch_model.bin");
        st = exists(p) ? ddpm__fail(err, DDPM_ERR_UNSUPPORTED,
                                    "%s holds only a pickle checkpoint, which is never unpickled here; convert it: "
                                    "python3 training/bin_to_safetensors.py %s", unet_dir, p)
                       : ddpm__fail(err, DDPM_ERR_IO, "%s has no diffusion_pytorch_model.safetensors", unet_dir);
        goto done;
    }
    o.unet_config = unet_text;
    o.unet_config_len = unet_len;
    o.scheduler_config = sched_text;
    o.scheduler_config_len = sched_len;
    st = ddpm__load_weights_file(weights, &o, out, err);
done:
    free(unet_text);
    free(sched_text);
    return st;
}
