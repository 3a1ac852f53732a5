/* safetensors header parsing and validation; see safetensors.h for the contract and the order of checks. */
#include "io/safetensors.h"

#include "io/json.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

size_t ddpm_st_dtype_size(ddpm_dtype dt) {
    switch (dt) {
    case DDPM_DTYPE_F32: return 4;
    case DDPM_DTYPE_F16: return 2;
    case DDPM_DTYPE_BF16: return 2;
    case DDPM_DTYPE_I8: return 1;
    default: return 0;
    }
}

const char *ddpm_st_dtype_name(ddpm_dtype dt) {
    switch (dt) {
    case DDPM_DTYPE_F32: return "F32";
    case DDPM_DTYPE_F16: return "F16";
    case DDPM_DTYPE_BF16: return "BF16";
    case DDPM_DTYPE_I8: return "I8";
    default: return "?";
    }
}

char *ddpm_st_printable(const char *s, char *buf, size_t size) {
    size_t k = 0;
    if (!buf || size < 8) return buf;
    if (!s) s = "(null)";
    for (size_t i = 0; s[i]; i++) {
        if (k + 4 >= size) { /* room for "..." and the NUL */
            memcpy(buf + k, "...", 3);
            k += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        buf[k++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    buf[k] = '\0';
    return buf;
}

/* Copies a JSON string (no embedded NUL, checked by the caller) into the string block. */
static char *put_string(char **cursor, const char *s, size_t len) {
    char *dst = *cursor;
    memcpy(dst, s, len);
    dst[len] = '\0';
    *cursor += len + 1;
    return dst;
}

static int cmp_tensor_ptr_by_name(const void *a, const void *b) {
    const ddpm_st_tensor *x = *(const ddpm_st_tensor *const *)a, *y = *(const ddpm_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

typedef struct meta_ref {
    const char *key;
    int index;
} meta_ref;

static int cmp_meta_ref(const void *a, const void *b) {
    return strcmp(((const meta_ref *)a)->key, ((const meta_ref *)b)->key);
}

typedef struct span {
    uint64_t begin, end;
    int index;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

void ddpm_st_free(ddpm_st_file *f) {
    if (!f) return;
    free(f->tensors);
    free(f->meta_keys);
    free(f->meta_values);
    free(f->by_name_);
    free(f->meta_by_key_);
    free(f->strings_);
    free(f->fetch_[0]);
    free(f->fetch_[1]);
    free(f);
}

static const char *const k_unsupported_dtypes[] = {"BOOL", "U8", "I16", "U16", "I32", "U32", "F64", "I64",
                                                   "U64", "F8_E5M2", "F8_E4M3", "F8_E8M0", "F4", "F6_E2M3",
                                                   "F6_E3M2", "C64", NULL};

/* Validates one tensor entry and fills t (name already set). data/data_size: the data section. */
static ddpm_status parse_tensor(const ddpm_json_value *v, ddpm_st_tensor *t, const uint8_t *data, size_t data_size,
                                uint64_t *begin_out, uint64_t *end_out, ddpm_error *err) {
    char nb[96];
    const char *nm = ddpm_st_printable(t->name, nb, sizeof nb);
    if (v->type != DDPM_JSON_OBJECT) return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: entry is not an object", nm);
    for (size_t i = 0; i < v->length; i++) {
        const char *k = v->members[i].key;
        if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 && strcmp(k, "data_offsets") != 0) {
            char kb[64];
            return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: unknown field \"%s\"", nm,
                              ddpm_st_printable(k, kb, sizeof kb));
        }
    }
    const ddpm_json_value *dtype = ddpm_json_object_get(v, "dtype");
    const ddpm_json_value *shape = ddpm_json_object_get(v, "shape");
    const ddpm_json_value *offs = ddpm_json_object_get(v, "data_offsets");
    if (!dtype) return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: missing \"dtype\"", nm);
    if (!shape) return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: missing \"shape\"", nm);
    if (!offs) return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: missing \"data_offsets\"", nm);

    /* dtype */
    if (dtype->type != DDPM_JSON_STRING) return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: dtype is not a string", nm);
    if (strlen(dtype->string) != dtype->length)
        return ddpm__fail(err, DDPM_ERR_UNSUPPORTED, "tensor %s: unknown dtype", nm);
    if (strcmp(dtype->string, "F32") == 0) {
        t->dtype = DDPM_DTYPE_F32;
    } else if (strcmp(dtype->string, "F16") == 0) {
        t->dtype = DDPM_DTYPE_F16;
    } else if (strcmp(dtype->string, "BF16") == 0) {
        t->dtype = DDPM_DTYPE_BF16;
    } else if (strcmp(dtype->string, "I8") == 0) {
        t->dtype = DDPM_DTYPE_I8;
    } else {
        char db[32];
        ddpm_st_printable(dtype->string, db, sizeof db);
        for (int i = 0; k_unsupported_dtypes[i]; i++)
            if (strcmp(dtype->string, k_unsupported_dtypes[i]) == 0)
                return ddpm__fail(err, DDPM_ERR_UNSUPPORTED,
                                  "tensor %s: dtype %s is not supported (only F32, F16, BF16 and I8)", nm, db);
        return ddpm__fail(err, DDPM_ERR_UNSUPPORTED, "tensor %s: unknown dtype \"%s\"", nm, db);
    }

    /* shape */
    if (shape->type != DDPM_JSON_ARRAY)
        return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: shape is not an array", nm);
    if (shape->length > DDPM_ST_MAX_RANK)
        return ddpm__fail(err, DDPM_ERR_UNSUPPORTED, "tensor %s: rank %zu is more than %d", nm, shape->length,
                          DDPM_ST_MAX_RANK);
    size_t count = 1;
    t->ndim = (int)shape->length;
    for (size_t i = 0; i < shape->length; i++) {
        const ddpm_json_value *d = &shape->items[i];
        if (d->type != DDPM_JSON_INT)
            return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: shape[%zu] is not an integer", nm, i);
        if (d->integer < 0)
            return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: shape[%zu] = %" PRId64 " is negative", nm, i,
                              d->integer);
        if ((uint64_t)d->integer > (uint64_t)SIZE_MAX || !ddpm__mul_size(count, (size_t)d->integer, &count))
            return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: element count overflows", nm);
        t->shape[i] = d->integer;
    }
    t->num_elements = count;
    if (!ddpm__mul_size(count, ddpm_st_dtype_size(t->dtype), &t->nbytes))
        return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: byte size overflows", nm);

    /* data_offsets */
    if (offs->type != DDPM_JSON_ARRAY || offs->length != 2 || offs->items[0].type != DDPM_JSON_INT ||
        offs->items[1].type != DDPM_JSON_INT)
        return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: data_offsets is not an array of two integers", nm);
    int64_t b = offs->items[0].integer, e = offs->items[1].integer;
    if (b < 0 || e < 0) return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: negative data_offsets", nm);
    if (b > e)
        return ddpm__fail(err, DDPM_ERR_FORMAT, "tensor %s: data_offsets begin %" PRId64 " > end %" PRId64, nm, b, e);
    if ((uint64_t)e > (uint64_t)data_size)
        return ddpm__fail(err, DDPM_ERR_FORMAT,
                          "tensor %s: data_offsets end %" PRId64 " is past the data section (%zu bytes)", nm, e,
                          data_size);
    if ((uint64_t)(e - b) != (uint64_t)t->nbytes)
        return ddpm__fail(err, DDPM_ERR_FORMAT,
                          "tensor %s: shape and dtype need %zu bytes but data_offsets span %" PRId64, nm, t->nbytes,
                          e - b);
    t->data = data ? data + (size_t)b : NULL;
    t->offset = (uint64_t)b;
    *begin_out = (uint64_t)b;
    *end_out = (uint64_t)e;
    return DDPM_OK;
}

/* The header length of a file of `size` bytes whose first `avail` (>= min(size, 12)) bytes are buf: the checks of
 * step 1, and text where the length should be (an HTML error page, a JSON config, a README) said as such. */
static ddpm_status header_length(const uint8_t *buf, size_t avail, uint64_t size, uint64_t *out, ddpm_error *err) {
    if (size < 8)
        return ddpm__fail(err, DDPM_ERR_FORMAT,
                          "file is %" PRIu64 " bytes: too short for the 8-byte safetensors header length", size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen == 0) return ddpm__fail(err, DDPM_ERR_FORMAT, "safetensors header length is 0");
    /* a real header length below 2^40 has its top three bytes zero, which no printable text has */
    int text_start = 1;
    for (int i = 0; i < 8; i++) text_start &= (buf[i] >= 0x20 && buf[i] != 0x7f && buf[i] < 0xf5) || buf[i] == '\n' || buf[i] == '\r' ||
                                             buf[i] == '\t';
    if (text_start && hlen > size - 8) {
        char start[16];
        size_t k = 0;
        for (size_t i = 0; i < avail && i < 12 && k + 1 < sizeof start; i++)
            start[k++] = (buf[i] >= 0x20 && buf[i] < 0x7f) ? (char)buf[i] : ' ';
        start[k] = '\0';
        return ddpm__fail(err, DDPM_ERR_FORMAT, "not a safetensors model file (it starts with '%s')%s", start,
                          buf[0] == '{' ? ": a JSON text, perhaps a config.json (load its folder)"
                                        : (buf[0] == '<' ? ": an HTML or XML page" : ""));
    }
    if (hlen > DDPM_ST_MAX_HEADER)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "safetensors header length %" PRIu64 " exceeds the limit of %" PRIu64,
                          hlen, DDPM_ST_MAX_HEADER);
    if (hlen > size - 8)
        return ddpm__fail(err, DDPM_ERR_FORMAT,
                          "safetensors header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes)", hlen,
                          size);
    *out = hlen;
    return DDPM_OK;
}

static ddpm_status parse_header(const char *text, uint64_t hlen, const uint8_t *data, size_t data_size,
                                ddpm_st_file **out, ddpm_error *err);

ddpm_status ddpm_st_parse(const uint8_t *buf, size_t size, ddpm_st_file **out, ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "safetensors: out is NULL");
    *out = NULL;
    if (!buf && size) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "safetensors: buffer is NULL");
    uint64_t hlen;
    ddpm_status st = header_length(buf, size, size, &hlen, err);
    if (st != DDPM_OK) return st;
    return parse_header((const char *)buf + 8, hlen, buf + 8 + (size_t)hlen, size - 8 - (size_t)hlen, out, err);
}

ddpm_status ddpm_st_parse_reader(const ddpm_reader *r, ddpm_st_file **out, ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "safetensors: out is NULL");
    *out = NULL;
    if (!r || !r->read) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "safetensors: the reader or its read() is NULL");
    uint8_t first[16] = {0};
    const size_t avail = r->size < sizeof first ? (size_t)r->size : sizeof first;
    if (avail && r->read(r->user, 0, avail, first) != 0)
        return ddpm__fail(err, DDPM_ERR_IO, "reading bytes [0, %zu) of the weights failed", avail);
    uint64_t hlen;
    ddpm_status st = header_length(first, avail, r->size, &hlen, err);
    if (st != DDPM_OK) return st;
    if (r->size - 8 - hlen > (uint64_t)SIZE_MAX)
        return ddpm__fail(err, DDPM_ERR_TOO_LARGE, "the weights' data section (%" PRIu64 " bytes) cannot be addressed here",
                          r->size - 8 - hlen);
    char *text = ddpm__malloc((size_t)hlen ? (size_t)hlen : 1);
    if (!text) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "cannot allocate %" PRIu64 " bytes of safetensors header", hlen);
    if (r->read(r->user, 8, (size_t)hlen, text) != 0) {
        free(text);
        return ddpm__fail(err, DDPM_ERR_IO, "reading bytes [8, %" PRIu64 ") of the weights (the header) failed", 8 + hlen);
    }
    st = parse_header(text, hlen, NULL, (size_t)(r->size - 8 - hlen), out, err);
    free(text);
    if (st != DDPM_OK) return st;
    (*out)->reader_ = r;
    (*out)->data_start_ = 8 + hlen;
    return DDPM_OK;
}

/* Steps 2-6 on the header text; data: the data section, or NULL when the tensors' bytes come from a reader. */
static ddpm_status parse_header(const char *text, uint64_t hlen, const uint8_t *data, size_t data_size,
                                ddpm_st_file **out, ddpm_error *err) {
    ddpm_json *doc = NULL;
    ddpm_error jerr;
    *out = NULL;
    ddpm_status st = ddpm_json_parse_limited(text, (size_t)hlen, DDPM_ST_MAX_JSON_VALUES, &doc, &jerr);
    if (st != DDPM_OK) return ddpm__fail(err, st, "safetensors header: %s", jerr.message);
    const ddpm_json_value *root = ddpm_json_root(doc);
    ddpm_st_file *f = NULL;
    span *spans = NULL;
    const ddpm_st_tensor **ptrs = NULL;
    meta_ref *mrefs = NULL;
    if (root->type != DDPM_JSON_OBJECT) {
        st = ddpm__fail(err, DDPM_ERR_FORMAT, "safetensors header is not a JSON object");
        goto done;
    }

    /* Count tensors and string bytes; validate __metadata__. */
    const ddpm_json_value *meta = NULL;
    size_t ntensors = 0, nmeta = 0, string_bytes = 0;
    for (size_t i = 0; i < root->length; i++) {
        const ddpm_json_member *m = &root->members[i];
        if (strcmp(m->key, "__metadata__") == 0) {
            meta = &m->value;
        } else {
            ntensors++;
            string_bytes += m->key_length + 1; /* cannot overflow: bounded by the header length */
        }
    }
    if (ntensors > DDPM_ST_MAX_TENSORS) {
        st = ddpm__fail(err, DDPM_ERR_TOO_LARGE, "safetensors header lists %zu tensors; the limit is %d", ntensors,
                        DDPM_ST_MAX_TENSORS);
        goto done;
    }
    if (meta) {
        if (meta->type != DDPM_JSON_OBJECT) {
            st = ddpm__fail(err, DDPM_ERR_FORMAT, "__metadata__ is not an object");
            goto done;
        }
        nmeta = meta->length;
        if (nmeta > DDPM_ST_MAX_METADATA) {
            st = ddpm__fail(err, DDPM_ERR_TOO_LARGE, "__metadata__ has %zu entries; the limit is %d", nmeta,
                            DDPM_ST_MAX_METADATA);
            goto done;
        }
        for (size_t i = 0; i < meta->length; i++) {
            const ddpm_json_member *m = &meta->members[i];
            char kb[96];
            if (m->value.type != DDPM_JSON_STRING) {
                st = ddpm__fail(err, DDPM_ERR_FORMAT, "__metadata__ value for \"%s\" is not a string",
                                ddpm_st_printable(m->key, kb, sizeof kb));
                goto done;
            }
            if (strlen(m->value.string) != m->value.length) {
                st = ddpm__fail(err, DDPM_ERR_FORMAT, "__metadata__ value for \"%s\" contains a NUL character",
                                ddpm_st_printable(m->key, kb, sizeof kb));
                goto done;
            }
            string_bytes += m->key_length + 1 + m->value.length + 1;
        }
    }

    /* Allocate everything (sizes bounded by the header length, which is bounded by the buffer). */
    f = ddpm__calloc(1, sizeof *f);
    if (!f) goto oom;
    f->tensors = ddpm__calloc(ntensors ? ntensors : 1, sizeof *f->tensors);
    f->by_name_ = ddpm__calloc(ntensors ? ntensors : 1, sizeof *f->by_name_);
    f->meta_keys = ddpm__calloc(nmeta ? nmeta : 1, sizeof *f->meta_keys);
    f->meta_values = ddpm__calloc(nmeta ? nmeta : 1, sizeof *f->meta_values);
    f->meta_by_key_ = ddpm__calloc(nmeta ? nmeta : 1, sizeof *f->meta_by_key_);
    f->strings_ = ddpm__malloc(string_bytes ? string_bytes : 1);
    spans = ddpm__calloc(ntensors ? ntensors : 1, sizeof *spans);
    ptrs = ddpm__calloc(ntensors ? ntensors : 1, sizeof *ptrs);
    mrefs = ddpm__calloc(nmeta ? nmeta : 1, sizeof *mrefs);
    if (!f->tensors || !f->by_name_ || !f->meta_keys || !f->meta_values || !f->meta_by_key_ || !f->strings_ ||
        !spans || !ptrs || !mrefs)
        goto oom;
    char *cursor = f->strings_;

    for (size_t i = 0; i < nmeta; i++) {
        const ddpm_json_member *m = &meta->members[i];
        f->meta_keys[i] = put_string(&cursor, m->key, m->key_length);
        f->meta_values[i] = put_string(&cursor, m->value.string, m->value.length);
        mrefs[i].key = f->meta_keys[i];
        mrefs[i].index = (int)i;
    }
    f->num_meta = (int)nmeta;
    if (nmeta > 1) qsort(mrefs, nmeta, sizeof *mrefs, cmp_meta_ref);
    for (size_t i = 0; i < nmeta; i++) f->meta_by_key_[i] = mrefs[i].index;

    /* Tensors, in header order. */
    size_t nt = 0, nspans = 0;
    for (size_t i = 0; i < root->length; i++) {
        const ddpm_json_member *m = &root->members[i];
        if (strcmp(m->key, "__metadata__") == 0) continue;
        ddpm_st_tensor *t = &f->tensors[nt];
        t->name = put_string(&cursor, m->key, m->key_length);
        uint64_t b = 0, e = 0;
        st = parse_tensor(&m->value, t, data, data_size, &b, &e, err);
        if (st != DDPM_OK) goto done;
        if (e > b) {
            spans[nspans].begin = b;
            spans[nspans].end = e;
            spans[nspans].index = (int)nt;
            nspans++;
        }
        ptrs[nt] = t;
        nt++;
    }
    f->num_tensors = (int)nt;

    /* Overlaps: after sorting by begin, each span must start at or after the end of the previous one. */
    if (nspans > 1) qsort(spans, nspans, sizeof *spans, cmp_span);
    for (size_t i = 1; i < nspans; i++) {
        if (spans[i].begin < spans[i - 1].end) {
            char a[96], b[96];
            st = ddpm__fail(err, DDPM_ERR_FORMAT,
                            "tensors %s and %s overlap in the data section",
                            ddpm_st_printable(f->tensors[spans[i - 1].index].name, a, sizeof a),
                            ddpm_st_printable(f->tensors[spans[i].index].name, b, sizeof b));
            goto done;
        }
    }

    /* Name index (names are unique: the JSON parser rejects duplicate keys). */
    if (nt > 1) qsort(ptrs, nt, sizeof *ptrs, cmp_tensor_ptr_by_name);
    for (size_t i = 0; i < nt; i++) f->by_name_[i] = (int)(ptrs[i] - f->tensors);
    st = DDPM_OK;
    goto done;

oom:
    st = ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "safetensors: out of memory");
done:
    free(spans);
    free(ptrs);
    free(mrefs);
    ddpm_json_free(doc);
    if (st != DDPM_OK) {
        ddpm_st_free(f);
        return st;
    }
    *out = f;
    ddpm__ok(err);
    return DDPM_OK;
}

const ddpm_st_tensor *ddpm_st_find(const ddpm_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    int lo = 0, hi = f->num_tensors;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        const ddpm_st_tensor *t = &f->tensors[f->by_name_[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *ddpm_st_meta(const ddpm_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    int lo = 0, hi = f->num_meta;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int i = f->meta_by_key_[mid];
        int c = strcmp(f->meta_keys[i], key);
        if (c == 0) return f->meta_values[i];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
