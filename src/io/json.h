/*
 * A small strict JSON parser (RFC 8259) for safetensors headers. Internal to the library.
 *
 * Contract
 * - Input is (ptr, len) and need not be NUL-terminated. Exactly one value, optionally surrounded by JSON whitespace
 *   (space, tab, LF, CR); anything else after it is an error. No BOM, no comments, no trailing commas.
 * - Strings must be valid UTF-8 (no overlongs, no surrogate code points, nothing above U+10FFFF) without raw
 *   control characters; escapes \" \\ \/ \b \f \n \r \t and \uXXXX are decoded to UTF-8 (a surrogate pair gives one
 *   4-byte sequence; a lone surrogate is an error). Decoded strings are NUL-terminated; a value string may contain
 *   "\u0000" (use .length), an object key may not.
 * - Numbers follow the RFC grammar exactly (no leading zeros, no '+', no bare '.', no inf/nan). A number without
 *   fraction or exponent is DDPM_JSON_INT and must fit int64_t (else an error); others are DDPM_JSON_NUMBER (double,
 *   correctly rounded by strtod, independent of the C locale; a result that overflows to infinity is an error).
 * - Containers nest at most DDPM_JSON_MAX_DEPTH deep; parsing is iterative (no recursion).
 * - Duplicate keys in one object are an error.
 * - Every error is DDPM_ERR_FORMAT with a message naming the byte offset, except allocation failure
 *   (DDPM_ERR_OUT_OF_MEMORY). Nothing is left allocated on error.
 *
 * Memory: the whole tree lives in one arena owned by the ddpm_json document, capped by a budget proportional to len
 * (64 KiB + 128 bytes per input byte; a dense array of one-digit numbers needs about 32), and ddpm_json_free()
 * releases everything at once. Parse-time scratch (the children of open containers) is a separate growable buffer,
 * freed before returning. Use ddpm_json_parse_limited() to bound memory by a value count as well.
 */
#ifndef DDPM_IO_JSON_H
#define DDPM_IO_JSON_H

#include "core/internal.h"

#include <stddef.h>
#include <stdint.h>

#define DDPM_JSON_MAX_DEPTH 16

typedef enum ddpm_json_type {
    DDPM_JSON_NULL = 0,
    DDPM_JSON_BOOL = 1,
    DDPM_JSON_INT = 2,    /* integer literal, exact in .integer (also converted to .number) */
    DDPM_JSON_NUMBER = 3, /* literal with fraction or exponent, in .number */
    DDPM_JSON_STRING = 4,
    DDPM_JSON_ARRAY = 5,
    DDPM_JSON_OBJECT = 6
} ddpm_json_type;

typedef struct ddpm_json_value ddpm_json_value;
typedef struct ddpm_json_member ddpm_json_member;

struct ddpm_json_value {
    ddpm_json_type type;
    int boolean;                           /* BOOL: 0 or 1 */
    int64_t integer;                       /* INT */
    double number;                         /* INT and NUMBER */
    size_t length;                         /* STRING: bytes (without the NUL); ARRAY / OBJECT: entries */
    const char *string;                    /* STRING: NUL-terminated UTF-8 */
    const ddpm_json_value *items;          /* ARRAY: length values */
    const ddpm_json_member *members;       /* OBJECT: length members in document order */
    const uint32_t *sorted_;               /* OBJECT: member indices sorted by key (for ddpm_json_object_get) */
};

struct ddpm_json_member {
    const char *key;                       /* NUL-terminated, no embedded NUL */
    size_t key_length;
    ddpm_json_value value;
};

typedef struct ddpm_json ddpm_json;

/* Parses text[0..len). On success *out owns the tree (free with ddpm_json_free); on error *out is NULL. */
ddpm_status ddpm_json_parse(const char *text, size_t len, ddpm_json **out, ddpm_error *err);
/* Same, but a document with more than max_values values (scalars and containers, at any depth) is refused with
 * DDPM_ERR_TOO_LARGE as soon as the limit is passed. This bounds memory by the value count rather than the input
 * size (about 150 bytes per value at worst, parse-time scratch included). */
ddpm_status ddpm_json_parse_limited(const char *text, size_t len, size_t max_values, ddpm_json **out,
                                    ddpm_error *err);
void ddpm_json_free(ddpm_json *doc);
/* The root value; valid until ddpm_json_free. */
const ddpm_json_value *ddpm_json_root(const ddpm_json *doc);
/* The value of member `key` of an object, or NULL (also when v is not an object). O(log n). */
const ddpm_json_value *ddpm_json_object_get(const ddpm_json_value *v, const char *key);

/*
 * Converts text[0..len) that must be exactly one JSON number (the grammar above, nothing before or after) to a
 * double, correctly rounded and independent of the current C locale. Returns 1 on success, 0 when the text is not a
 * JSON number or the value is not finite. Used for JSON numbers and for numeric metadata strings.
 */
int ddpm_json_number_from_text(const char *text, size_t len, double *out);

#endif
