/* Tensor conversion to float32 (F32, F16, BF16, I8 + per-row scale) and the "every tensor used" check. */
#include "io/safetensors.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

float ddpm_quantize_row_i8(const float *w, size_t n, int8_t *q) {
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) amax = fabsf(w[i]) > amax ? fabsf(w[i]) : amax;
    const float scale = amax > 0.0f ? (float)((double)amax / 127.0) : 1.0f;
    for (size_t i = 0; i < n; i++) {
        const double v = nearbyint((double)w[i] / (double)scale);
        q[i] = (int8_t)(v < -127.0 ? -127.0 : (v > 127.0 ? 127.0 : v));
    }
    return scale;
}

uint16_t ddpm_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | (ax >> 13 & 0x3ffu) : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504: infinity */
    if (ax < 0x38800000u) {                                   /* below 2^-14: a subnormal half (or zero) */
        if (ax < 0x33000000u) return sign;                     /* below 2^-25: rounds to zero */
        const uint32_t m = (ax & 0x7fffffu) | 0x800000u, e = ax >> 23; /* value = m * 2^(e - 150) */
        const uint32_t shift = 126 - e;                        /* half subnormal = m >> (shift) with 2^-24 units */
        uint32_t h = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (h & 1u))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((ax - 0x38000000u) >> 13);                  /* rebias the exponent, keep 10 mantissa bits */
    const uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;   /* round to nearest even (may carry into the exponent) */
    return (uint16_t)(sign | h);
}

float ddpm_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign; /* +-0 */
        } else {
            /* Subnormal: man * 2^-24. Shift the leading 1 up to bit 10; each shift lowers the exponent by one. */
            uint32_t e = 0;
            while (!(man & 0x400u)) {
                man <<= 1;
                e++;
            }
            bits = sign | ((127u - 15u + 1u - e) << 23) | ((man & 0x3FFu) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (man << 13); /* inf, or NaN with the payload kept */
    } else {
        bits = sign | ((exp + 127u - 15u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Little-endian loads from possibly unaligned bytes. */
static uint16_t load_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static float load_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* "[a, b, c]" into buf (always NUL-terminated). */
static const char *fmt_shape(char *buf, size_t size, int ndim, const int64_t *shape) {
    size_t k = 0;
    int n = snprintf(buf, size, "[");
    if (n > 0) k = (size_t)n;
    for (int i = 0; i < ndim && k < size; i++) {
        n = snprintf(buf + k, size - k, i ? ", %" PRId64 : "%" PRId64, shape[i]);
        if (n < 0) break;
        k += (size_t)n;
    }
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

static ddpm_st_tensor *find_mut(ddpm_st_file *f, const char *name) {
    const ddpm_st_tensor *t = ddpm_st_find(f, name);
    return t ? &f->tensors[t - f->tensors] : NULL;
}

/* *bytes = the tensor's bytes: in the parsed buffer, or read from the file's reader into fetch buffer `slot`. */
static ddpm_status fetch(ddpm_st_file *f, const ddpm_st_tensor *t, int slot, const uint8_t **bytes, ddpm_error *err) {
    if (!f->reader_ || !t->nbytes) {
        *bytes = t->data;
        return DDPM_OK;
    }
    if (f->fetch_cap_[slot] < t->nbytes) {
        free(f->fetch_[slot]);
        f->fetch_cap_[slot] = 0;
        if (!(f->fetch_[slot] = ddpm__malloc(t->nbytes)))
            return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes to read tensor %s", t->nbytes,
                              t->name);
        f->fetch_cap_[slot] = t->nbytes;
    }
    const uint64_t at = f->data_start_ + t->offset;
    if (f->reader_->read(f->reader_->user, at, t->nbytes, f->fetch_[slot]) != 0)
        return ddpm__fail(err, DDPM_ERR_IO, "reading bytes [%" PRIu64 ", %" PRIu64 ") of the weights (tensor %s) failed",
                          at, at + t->nbytes, t->name);
    *bytes = f->fetch_[slot];
    return DDPM_OK;
}

ddpm_status ddpm_st_read_f32(ddpm_st_file *f, const char *name, int ndim, const int64_t *expected_shape, float *dst,
                             ddpm_error *err) {
    if (!f || !name) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "read tensor: file or name is NULL");
    if (ndim < 0 || ndim > DDPM_ST_MAX_RANK || (ndim > 0 && !expected_shape))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "read tensor: bad expected rank %d", ndim);
    char nb[96], sa[96], sb[96];
    const char *nm = ddpm_st_printable(name, nb, sizeof nb);
    ddpm_st_tensor *t = find_mut(f, name);
    if (!t) return ddpm__fail(err, DDPM_ERR_MISSING_TENSOR, "missing tensor %s", nm);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == expected_shape[i];
    if (!same)
        return ddpm__fail(err, DDPM_ERR_SHAPE, "tensor %s: expected shape %s, found %s", nm,
                          fmt_shape(sa, sizeof sa, ndim, expected_shape), fmt_shape(sb, sizeof sb, t->ndim, t->shape));
    size_t n = t->num_elements;
    if (n > 0 && !dst) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "read tensor %s: dst is NULL", nm);
    const uint8_t *bytes = t->data, *sbytes = NULL;
    ddpm_status st = fetch(f, t, 0, &bytes, err);
    if (st != DDPM_OK) return st;

    ddpm_st_tensor *scale = NULL;
    switch (t->dtype) {
    case DDPM_DTYPE_F32:
        for (size_t i = 0; i < n; i++) dst[i] = load_f32(bytes + 4 * i);
        break;
    case DDPM_DTYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = ddpm_f16_to_f32(load_u16(bytes + 2 * i));
        break;
    case DDPM_DTYPE_BF16: /* the high half of a binary32: exact */
        for (size_t i = 0; i < n; i++) {
            const uint32_t bits = (uint32_t)load_u16(bytes + 2 * i) << 16;
            memcpy(dst + i, &bits, sizeof bits);
        }
        break;
    case DDPM_DTYPE_I8: {
        if (t->ndim < 2)
            return ddpm__fail(err, DDPM_ERR_SHAPE, "tensor %s: I8 is only allowed for rank >= 2, found rank %d", nm,
                              t->ndim);
        size_t len = strlen(name);
        char *sname = ddpm__malloc(len + sizeof "_scale");
        if (!sname) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "read tensor %s: out of memory", nm);
        memcpy(sname, name, len);
        memcpy(sname + len, "_scale", sizeof "_scale");
        scale = find_mut(f, sname);
        free(sname);
        if (!scale) return ddpm__fail(err, DDPM_ERR_MISSING_TENSOR, "tensor %s is I8 but %s_scale is missing", nm, nm);
        if (scale->dtype != DDPM_DTYPE_F32)
            return ddpm__fail(err, DDPM_ERR_SHAPE, "tensor %s_scale: expected dtype F32, found %s", nm,
                              ddpm_st_dtype_name(scale->dtype));
        if (scale->ndim != 1 || scale->shape[0] != t->shape[0])
            return ddpm__fail(err, DDPM_ERR_SHAPE, "tensor %s_scale: expected shape %s, found %s", nm,
                              fmt_shape(sa, sizeof sa, 1, t->shape), fmt_shape(sb, sizeof sb, scale->ndim, scale->shape));
        if ((st = fetch(f, scale, 1, &sbytes, err)) != DDPM_OK) return st;
        size_t rows = (size_t)t->shape[0];
        size_t per_row = rows ? n / rows : 0;
        for (size_t o = 0; o < rows; o++) {
            float s = load_f32(sbytes + 4 * o);
            if (!isfinite(s))
                return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s_scale has NaN/Inf (element %zu)", nm, o);
            const int8_t *q = (const int8_t *)(const void *)(bytes + o * per_row);
            float *w = dst + o * per_row;
            for (size_t i = 0; i < per_row; i++) w[i] = s * (float)q[i];
        }
        break;
    }
    default:
        return ddpm__fail(err, DDPM_ERR_UNSUPPORTED, "tensor %s: unsupported dtype", nm);
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i])) return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s has NaN/Inf (element %zu)", nm, i);
    t->used = 1;
    if (scale) scale->used = 1;
    ddpm__ok(err);
    return DDPM_OK;
}

ddpm_status ddpm_st_check_all_used(const ddpm_st_file *f, ddpm_error *err) {
    if (!f) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "check tensors: file is NULL");
    for (int i = 0; i < f->num_tensors; i++) {
        if (!f->tensors[i].used) {
            char nb[96];
            return ddpm__fail(err, DDPM_ERR_FORMAT, "unexpected tensor %s",
                              ddpm_st_printable(f->tensors[i].name, nb, sizeof nb));
        }
    }
    ddpm__ok(err);
    return DDPM_OK;
}
