#include "core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ddpm_version(void) { return "0.1.0"; }

const char *ddpm_status_str(ddpm_status s) {
    switch (s) {
    case DDPM_OK: return "ok";
    case DDPM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case DDPM_ERR_OUT_OF_MEMORY: return "out of memory";
    case DDPM_ERR_TOO_LARGE: return "too large";
    case DDPM_ERR_IO: return "i/o error";
    case DDPM_ERR_FORMAT: return "malformed file";
    case DDPM_ERR_UNSUPPORTED: return "unsupported";
    case DDPM_ERR_SHAPE: return "shape mismatch";
    case DDPM_ERR_MISSING_TENSOR: return "missing tensor";
    case DDPM_ERR_CONFIG: return "invalid model config";
    case DDPM_ERR_NOT_FOUND: return "not found";
    case DDPM_ERR_EXISTS: return "already exists";
    case DDPM_ERR_VERSION: return "api version mismatch";
    case DDPM_ERR_BUSY: return "busy";
    case DDPM_ERR_ABORTED: return "aborted";
    case DDPM_ERR_STATE: return "invalid state";
    default: return "unknown status";
    }
}

ddpm_status ddpm__fail(ddpm_error *err, ddpm_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->status = status;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

void ddpm__ok(ddpm_error *err) {
    if (err) {
        err->status = DDPM_OK;
        err->message[0] = '\0';
    }
}

int ddpm__mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

int ddpm__add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return 0;
    *out = a + b;
    return 1;
}

char *ddpm__strdup(const char *s) {
    if (!s) return NULL;
    const size_t n = strlen(s) + 1;
    char *d = ddpm__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int ddpm__all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Over-allocate and stash the original pointer just before the aligned block (portable, no aligned_alloc quirks). */
void *ddpm__alloc_aligned(size_t bytes) {
    size_t total;
    if (bytes == 0 || !ddpm__add_size(bytes, 64 + sizeof(void *), &total)) return NULL;
    unsigned char *raw = ddpm__malloc(total);
    if (!raw) return NULL;
    uintptr_t p = ((uintptr_t)(raw + sizeof(void *)) + 63) & ~(uintptr_t)63;
    ((void **)p)[-1] = raw;
    return (void *)p;
}

void ddpm__free_aligned(void *p) {
    if (p) free(((void **)p)[-1]);
}
