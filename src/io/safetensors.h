/*
 * safetensors container (see "Weights file" in ddpm.h): parsing, validation and conversion to float32.
 * Internal to the library.
 *
 * Layout: u64 little-endian header length L | L bytes of JSON | data section (the rest of the buffer).
 *
 * ddpm_st_parse() checks, in this order (status DDPM_ERR_FORMAT unless noted):
 *   1. the buffer holds the 8-byte length; L > 0; L <= DDPM_ST_MAX_HEADER (else DDPM_ERR_TOO_LARGE); L <= size - 8;
 *   2. the header is strict JSON (json.h) with at most DDPM_ST_MAX_JSON_VALUES values (else DDPM_ERR_TOO_LARGE)
 *      whose root is an object;
 *   3. "__metadata__", when present, is an object whose values are strings without embedded NUL, with at most
 *      DDPM_ST_MAX_METADATA entries (else DDPM_ERR_TOO_LARGE);
 *   4. at most DDPM_ST_MAX_TENSORS tensors (else DDPM_ERR_TOO_LARGE);
 *   5. per tensor (in header order): the entry is an object with exactly the members "dtype" (string), "shape"
 *      (array of integers) and "data_offsets" (array of two integers); dtype is F32, F16, BF16 or I8 (any other string:
 *      DDPM_ERR_UNSUPPORTED); rank <= 4 (else DDPM_ERR_UNSUPPORTED); no negative dimension; the element count and
 *      byte size fit in size_t; begin <= end; end <= data section size; end - begin == byte size;
 *   6. no two non-empty spans overlap (gaps between spans are allowed; empty tensors overlap nothing).
 * It does not check I8 companions, finiteness, or which tensors a model needs: ddpm_st_read_f32() and
 * ddpm_st_check_all_used() do that.
 *
 * Tensor data pointers point into the caller's buffer, which must outlive the ddpm_st_file. They carry no alignment
 * guarantee (the header length is arbitrary): read elements with memcpy, never through a cast pointer. Multi-byte
 * elements are little-endian.
 */
#ifndef DDPM_IO_SAFETENSORS_H
#define DDPM_IO_SAFETENSORS_H

#include "core/internal.h"

#include <stddef.h>
#include <stdint.h>

#define DDPM_ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* bytes of JSON header, as in the reference implementation */
#define DDPM_ST_MAX_TENSORS 10000
#define DDPM_ST_MAX_RANK 4
#define DDPM_ST_MAX_METADATA 100000 /* __metadata__ entries */
/* JSON values a header may hold: per tensor at most 10 (entry, dtype, shape + 4 dims, data_offsets + 2), per metadata
 * entry 1, plus the root and __metadata__ objects. Passing it fails with DDPM_ERR_TOO_LARGE before the JSON tree
 * grows beyond ~50 MB, whatever the header length. */
#define DDPM_ST_MAX_JSON_VALUES ((size_t)10 * DDPM_ST_MAX_TENSORS + DDPM_ST_MAX_METADATA + 16)

typedef struct ddpm_st_tensor {
    char *name;               /* NUL-terminated UTF-8, no embedded NUL; owned by the file */
    ddpm_dtype dtype;
    int ndim;                 /* 0 .. 4; rank 0 is a scalar (one element) */
    int64_t shape[4];         /* entries past ndim are 0 */
    const uint8_t *data;      /* into the parsed buffer; UNALIGNED: read with memcpy. NULL for a file read through a
                                 ddpm_reader (ddpm_st_parse_reader): ddpm_st_read_f32 fetches the bytes */
    uint64_t offset;          /* of the bytes, from the start of the data section */
    size_t nbytes;            /* num_elements * element size == data_offsets[1] - data_offsets[0] */
    size_t num_elements;
    int used;                 /* set by ddpm_st_read_f32 (for the tensor and, for I8, its scale) */
} ddpm_st_tensor;

typedef struct ddpm_st_file {
    ddpm_st_tensor *tensors;  /* in header order */
    int num_tensors;
    char **meta_keys;         /* __metadata__ in header order; NUL-terminated, owned by the file */
    char **meta_values;
    int num_meta;
    /* private */
    int *by_name_;            /* tensor indices sorted by name */
    int *meta_by_key_;        /* metadata indices sorted by key */
    char *strings_;           /* one block holding every name, key and value */
    const ddpm_reader *reader_; /* ddpm_st_parse_reader's: the tensor bytes are read on demand */
    uint64_t data_start_;     /* the data section's offset in the file */
    uint8_t *fetch_[2];       /* a tensor's bytes and an I8 tensor's scales, fetched from the reader */
    size_t fetch_cap_[2];
} ddpm_st_file;

/* Parses and validates buf[0..size) (see above). On success *out is a new file object whose tensor data points into
 * buf; on error *out is NULL and nothing is left allocated. */
ddpm_status ddpm_st_parse(const uint8_t *buf, size_t size, ddpm_st_file **out, ddpm_error *err);
/* The same checks for a file read through `r`: its header is read (and kept by the file object only while parsing),
 * the tensors' bytes later, one at a time, by ddpm_st_read_f32 (a failed read: DDPM_ERR_IO). `r` must outlive the
 * file object. */
ddpm_status ddpm_st_parse_reader(const ddpm_reader *r, ddpm_st_file **out, ddpm_error *err);
void ddpm_st_free(ddpm_st_file *f);
/* The tensor named `name`, or NULL. O(log n). */
const ddpm_st_tensor *ddpm_st_find(const ddpm_st_file *f, const char *name);
/* The __metadata__ value for `key`, or NULL. O(log n). */
const char *ddpm_st_meta(const ddpm_st_file *f, const char *key);
/* Bytes per element of a dtype (4, 2, 2, 1). */
size_t ddpm_st_dtype_size(ddpm_dtype dt);
/* "F32", "F16", "BF16", "I8". */
const char *ddpm_st_dtype_name(ddpm_dtype dt);

/* Copies s into buf (size >= 8) for use in a one-line error message: control bytes become '?', long strings are cut
 * and end in "...". Returns buf. */
char *ddpm_st_printable(const char *s, char *buf, size_t size);

/* ---- convert.c ------------------------------------------------------------------------------------------------ */

/* IEEE-754 binary16 -> binary32, exact for every input (subnormals, infinities; NaNs stay NaN with their payload
 * shifted into the high mantissa bits). */
float ddpm_f16_to_f32(uint16_t h);
/* binary32 -> binary16, rounded to nearest even (overflow to infinity, NaN stays NaN). */
uint16_t ddpm_f32_to_f16(float f);
/* One row of an I8 tensor as training/export.py quantizes it: scale = max|w| / 127 (1 for an all-zero row),
 * q[i] = rint(w[i] / scale) clamped to [-127, 127] (round half to even, as numpy); returns the scale. The loader
 * dequantizes as scale * (float)q[i]. */
float ddpm_quantize_row_i8(const float *w, size_t n, int8_t *q);

/*
 * Reads tensor `name` as float32 into dst (expected_shape[0] * ... * expected_shape[ndim-1] floats; ndim 0 .. 4).
 *   - absent: DDPM_ERR_MISSING_TENSOR;
 *   - shape differs from expected_shape (rank or any dimension): DDPM_ERR_SHAPE, naming both shapes;
 *   - F32 / F16 / BF16: converted element by element;
 *   - I8: needs rank >= 2 (else DDPM_ERR_SHAPE) and a companion "<name>_scale" (absent: DDPM_ERR_MISSING_TENSOR;
 *     not F32 of shape [shape[0]]: DDPM_ERR_SHAPE; a non-finite scale: DDPM_ERR_FORMAT); w[o, ...] = scale[o] * q;
 *   - any NaN or Inf in the result: DDPM_ERR_FORMAT.
 * On success marks the tensor (and its scale) used. On error dst may be partly written.
 */
ddpm_status ddpm_st_read_f32(ddpm_st_file *f, const char *name, int ndim, const int64_t *expected_shape, float *dst,
                             ddpm_error *err);

/* DDPM_ERR_FORMAT "unexpected tensor NAME" for the first tensor (in header order) not marked used, else DDPM_OK. */
ddpm_status ddpm_st_check_all_used(const ddpm_st_file *f, ddpm_error *err);

#endif
