/* Strict iterative JSON parser; see json.h for the contract. */
#include "io/json.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------------------------
 * Arena: a list of chunks, all freed together. Total chunk bytes never exceed doc->budget.
 * ------------------------------------------------------------------------------------------------------------- */

#define ARENA_ALIGN 16
#define ARENA_MIN_CHUNK ((size_t)16 << 10)
#define ARENA_MAX_CHUNK ((size_t)1 << 20)

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t cap;
    size_t used;
} arena_chunk;

/* Chunk header size rounded up so that the payload is ARENA_ALIGN-aligned (malloc returns >= 16-byte alignment on
 * every target we build for; the payload offset keeps it). */
#define CHUNK_HEADER (((sizeof(arena_chunk) + ARENA_ALIGN - 1) / ARENA_ALIGN) * ARENA_ALIGN)

struct ddpm_json {
    arena_chunk *chunks;
    size_t budget;    /* most chunk payload bytes this document may allocate */
    size_t allocated; /* chunk payload bytes allocated so far */
    ddpm_json_value root;
};

typedef struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    ddpm_json *doc;
    ddpm_error *err;
    ddpm_status status;      /* first error */
    size_t num_values, max_values;
    ddpm_json_member *tmp;   /* children of the open containers, innermost last */
    size_t tmp_count, tmp_cap;
} parser;

static ddpm_status fail_at(parser *P, size_t at, const char *what) {
    if (P->status == DDPM_OK) P->status = ddpm__fail(P->err, DDPM_ERR_FORMAT, "JSON error at byte %zu: %s", at, what);
    return P->status;
}

static ddpm_status fail_oom(parser *P) {
    if (P->status == DDPM_OK) P->status = ddpm__fail(P->err, DDPM_ERR_OUT_OF_MEMORY, "JSON: out of memory");
    return P->status;
}

/* Returns NULL (after recording an error) when out of budget or memory; n == 0 returns a non-NULL dummy. */
static void *arena_alloc(parser *P, size_t n) {
    ddpm_json *d = P->doc;
    static unsigned char empty[ARENA_ALIGN];
    if (n == 0) return empty;
    if (n > SIZE_MAX - ARENA_ALIGN) {
        fail_oom(P);
        return NULL;
    }
    n = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    arena_chunk *c = d->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = c ? c->cap * 2 : ARENA_MIN_CHUNK;
        if (cap > ARENA_MAX_CHUNK) cap = ARENA_MAX_CHUNK;
        if (cap < n) cap = n;
        if (cap > d->budget - d->allocated) cap = n; /* near the end of the budget: allocate exactly */
        if (cap > d->budget - d->allocated) {
            if (P->status == DDPM_OK)
                P->status = ddpm__fail(P->err, DDPM_ERR_TOO_LARGE, "JSON: the document exceeds its memory budget");
            return NULL;
        }
        arena_chunk *nc = ddpm__malloc(CHUNK_HEADER + cap);
        if (!nc) {
            fail_oom(P);
            return NULL;
        }
        nc->next = d->chunks;
        nc->cap = cap;
        nc->used = 0;
        d->chunks = nc;
        d->allocated += cap;
        c = nc;
    }
    void *p = (unsigned char *)c + CHUNK_HEADER + c->used;
    c->used += n;
    return p;
}

void ddpm_json_free(ddpm_json *doc) {
    if (!doc) return;
    arena_chunk *c = doc->chunks;
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(doc);
}

const ddpm_json_value *ddpm_json_root(const ddpm_json *doc) { return doc ? &doc->root : NULL; }

/* ---------------------------------------------------------------------------------------------------------------
 * Lexical helpers
 * ------------------------------------------------------------------------------------------------------------- */

static void skip_ws(parser *P) {
    while (P->pos < P->len) {
        unsigned char c = P->s[P->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        P->pos++;
    }
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Scans one number starting at s[pos] (grammar of RFC 8259 section 6). Returns 1 and sets *end and *is_int, or 0
 * with *end at the offending byte. */
static int scan_number(const unsigned char *s, size_t len, size_t pos, size_t *end, int *is_int) {
    *is_int = 1;
    if (pos < len && s[pos] == '-') pos++;
    if (pos >= len || !is_digit(s[pos])) {
        *end = pos;
        return 0;
    }
    if (s[pos] == '0') {
        pos++;
    } else {
        while (pos < len && is_digit(s[pos])) pos++;
    }
    if (pos < len && s[pos] == '.') {
        pos++;
        *is_int = 0;
        if (pos >= len || !is_digit(s[pos])) {
            *end = pos;
            return 0;
        }
        while (pos < len && is_digit(s[pos])) pos++;
    }
    if (pos < len && (s[pos] == 'e' || s[pos] == 'E')) {
        pos++;
        *is_int = 0;
        if (pos < len && (s[pos] == '+' || s[pos] == '-')) pos++;
        if (pos >= len || !is_digit(s[pos])) {
            *end = pos;
            return 0;
        }
        while (pos < len && is_digit(s[pos])) pos++;
    }
    *end = pos;
    return 1;
}

/* Text already known to match the number grammar -> double via strtod, with '.' replaced by the locale's decimal
 * point so that a host program's setlocale() cannot change the result. Returns 0 if not finite or out of memory. */
static int number_to_double(const char *text, size_t len, double *out) {
    const char *dp = ".";
    struct lconv *lc = localeconv();
    if (lc && lc->decimal_point && lc->decimal_point[0]) dp = lc->decimal_point;
    size_t dplen = strlen(dp);
    char small[128];
    char *buf = small;
    size_t need;
    if (!ddpm__add_size(len, dplen + 1, &need)) return 0;
    if (need > sizeof small) {
        buf = ddpm__malloc(need);
        if (!buf) return 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '.') {
            memcpy(buf + k, dp, dplen);
            k += dplen;
        } else {
            buf[k++] = text[i];
        }
    }
    buf[k] = '\0';
    char *endp = NULL;
    double v = strtod(buf, &endp);
    int ok = endp == buf + k && isfinite(v);
    if (buf != small) free(buf);
    if (ok) *out = v;
    return ok;
}

int ddpm_json_number_from_text(const char *text, size_t len, double *out) {
    size_t end;
    int is_int;
    if (!text || len == 0) return 0;
    if (!scan_number((const unsigned char *)text, len, 0, &end, &is_int) || end != len) return 0;
    return number_to_double(text, len, out);
}

static ddpm_status parse_number(parser *P, ddpm_json_value *v) {
    size_t start = P->pos, end;
    int is_int;
    if (!scan_number(P->s, P->len, start, &end, &is_int)) return fail_at(P, end, "invalid number");
    memset(v, 0, sizeof *v);
    if (is_int) {
        /* Magnitude in uint64 with an overflow check; the limit is 2^63 for negatives, 2^63 - 1 otherwise. */
        size_t i = start;
        int neg = P->s[i] == '-';
        if (neg) i++;
        uint64_t limit = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1, mag = 0;
        for (; i < end; i++) {
            uint64_t d = (uint64_t)(P->s[i] - '0');
            if (mag > (limit - d) / 10) return fail_at(P, start, "integer does not fit in 64 bits");
            mag = mag * 10 + d;
        }
        v->type = DDPM_JSON_INT;
        if (neg)
            v->integer = mag == ((uint64_t)1 << 63) ? INT64_MIN : -(int64_t)mag;
        else
            v->integer = (int64_t)mag;
        v->number = (double)v->integer;
    } else {
        v->type = DDPM_JSON_NUMBER;
        if (!number_to_double((const char *)P->s + start, end - start, &v->number))
            return fail_at(P, start, "number out of range");
    }
    P->pos = end;
    return DDPM_OK;
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at s[at..at+4) (the caller checked they lie before the closing quote). */
static int read_hex4(const unsigned char *s, size_t at, uint32_t *cp) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(s[at + (size_t)i]);
        if (h < 0) return 0;
        v = v * 16 + (uint32_t)h;
    }
    *cp = v;
    return 1;
}

static size_t put_utf8(unsigned char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at s[i..end) with lead byte >= 0x80, or 0 when invalid (RFC 3629 table). */
static size_t utf8_seq(const unsigned char *s, size_t i, size_t end) {
    unsigned char c = s[i];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (end - i < n) return 0;
    if (s[i + 1] < lo || s[i + 1] > hi) return 0;
    for (size_t k = 2; k < n; k++)
        if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
    return n;
}

/* Parses the string starting at the '"' at s[pos] into arena memory. is_key: reject an embedded NUL. */
static ddpm_status parse_string(parser *P, int is_key, const char **out, size_t *out_len) {
    const unsigned char *s = P->s;
    size_t start = P->pos + 1, i = start;
    /* Find the closing quote first (escapes skip one byte; escape contents are validated below). */
    for (;;) {
        if (i >= P->len) return fail_at(P, P->pos, "unterminated string");
        if (s[i] == '"') break;
        if (s[i] == '\\') i++;
        i++;
    }
    size_t end = i; /* s[end] == '"' */
    /* Decoding never grows: every escape is at least as long as its UTF-8 output. */
    unsigned char *o = arena_alloc(P, end - start + 1);
    if (!o) return P->status;
    size_t k = 0;
    i = start;
    while (i < end) {
        unsigned char c = s[i];
        if (c < 0x20) return fail_at(P, i, "control character in string");
        if (c == '\\') {
            if (i + 1 >= end) return fail_at(P, i, "invalid escape"); /* "\" right before the closing quote */
            unsigned char e = s[i + 1];
            switch (e) {
            case '"': o[k++] = '"'; i += 2; continue;
            case '\\': o[k++] = '\\'; i += 2; continue;
            case '/': o[k++] = '/'; i += 2; continue;
            case 'b': o[k++] = '\b'; i += 2; continue;
            case 'f': o[k++] = '\f'; i += 2; continue;
            case 'n': o[k++] = '\n'; i += 2; continue;
            case 'r': o[k++] = '\r'; i += 2; continue;
            case 't': o[k++] = '\t'; i += 2; continue;
            case 'u': break;
            default: return fail_at(P, i, "invalid escape");
            }
            uint32_t cp;
            if (end - i < 6 || !read_hex4(s, i + 2, &cp)) return fail_at(P, i, "invalid \\u escape");
            size_t esc_at = i;
            i += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return fail_at(P, esc_at, "unpaired low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (end - i < 6 || s[i] != '\\' || s[i + 1] != 'u' || !read_hex4(s, i + 2, &lo) || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    return fail_at(P, esc_at, "unpaired high surrogate");
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0 && is_key) return fail_at(P, esc_at, "NUL character in object key");
            k += put_utf8(o + k, cp);
            continue;
        }
        if (c < 0x80) {
            o[k++] = c;
            i++;
            continue;
        }
        size_t n = utf8_seq(s, i, end);
        if (n == 0) return fail_at(P, i, "invalid UTF-8 in string");
        memcpy(o + k, s + i, n);
        k += n;
        i += n;
    }
    o[k] = '\0';
    *out = (const char *)o;
    *out_len = k;
    P->pos = end + 1;
    return DDPM_OK;
}

static int match_literal(parser *P, const char *lit) {
    size_t n = strlen(lit);
    if (P->len - P->pos < n || memcmp(P->s + P->pos, lit, n) != 0) return 0;
    P->pos += n;
    return 1;
}

static ddpm_status parse_scalar(parser *P, ddpm_json_value *v) {
    unsigned char c = P->s[P->pos];
    memset(v, 0, sizeof *v);
    if (c == '"') {
        v->type = DDPM_JSON_STRING;
        return parse_string(P, 0, &v->string, &v->length);
    }
    if (c == '-' || is_digit(c)) return parse_number(P, v);
    if (match_literal(P, "true")) {
        v->type = DDPM_JSON_BOOL;
        v->boolean = 1;
        return DDPM_OK;
    }
    if (match_literal(P, "false")) {
        v->type = DDPM_JSON_BOOL;
        return DDPM_OK;
    }
    if (match_literal(P, "null")) {
        v->type = DDPM_JSON_NULL;
        return DDPM_OK;
    }
    return fail_at(P, P->pos, "expected a value");
}

/* ---------------------------------------------------------------------------------------------------------------
 * Containers
 * ------------------------------------------------------------------------------------------------------------- */

static int key_cmp(const ddpm_json_member *a, const ddpm_json_member *b) {
    size_t n = a->key_length < b->key_length ? a->key_length : b->key_length;
    int c = memcmp(a->key, b->key, n);
    if (c != 0) return c;
    return (a->key_length > b->key_length) - (a->key_length < b->key_length);
}

/* In-place heapsort of member indices by key (no recursion, no extra memory). */
static void sift_down(uint32_t *idx, size_t start, size_t n, const ddpm_json_member *m) {
    size_t root = start;
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && key_cmp(&m[idx[child]], &m[idx[child + 1]]) < 0) child++;
        if (key_cmp(&m[idx[root]], &m[idx[child]]) >= 0) return;
        uint32_t t = idx[root];
        idx[root] = idx[child];
        idx[child] = t;
        root = child;
    }
}

static void sort_indices(uint32_t *idx, size_t n, const ddpm_json_member *m) {
    if (n < 2) return;
    for (size_t i = n / 2; i-- > 0;) sift_down(idx, i, n, m);
    for (size_t end = n - 1; end > 0; end--) {
        uint32_t t = idx[0];
        idx[0] = idx[end];
        idx[end] = t;
        sift_down(idx, 0, end, m);
    }
}

static ddpm_status push_tmp(parser *P, const char *key, size_t key_len, const ddpm_json_value *v) {
    if (P->tmp_count == P->tmp_cap) {
        size_t cap = P->tmp_cap ? P->tmp_cap * 2 : 64, bytes;
        if (!ddpm__mul_size(cap, sizeof *P->tmp, &bytes)) return fail_oom(P);
        ddpm_json_member *t = ddpm__realloc(P->tmp, bytes);
        if (!t) return fail_oom(P);
        P->tmp = t;
        P->tmp_cap = cap;
    }
    ddpm_json_member *m = &P->tmp[P->tmp_count++];
    m->key = key;
    m->key_length = key_len;
    m->value = *v;
    return DDPM_OK;
}

typedef struct frame {
    int is_object;
    size_t base;        /* first child in P->tmp */
    size_t open_pos;    /* offset of the '{' or '[' */
    const char *key;    /* object: key of the member being parsed */
    size_t key_len;
} frame;

/* Moves the children of frame f from P->tmp into the arena and makes *v the finished container. */
static ddpm_status close_container(parser *P, const frame *f, ddpm_json_value *v) {
    size_t count = P->tmp_count - f->base, bytes;
    memset(v, 0, sizeof *v);
    v->length = count;
    if (!f->is_object) {
        v->type = DDPM_JSON_ARRAY;
        if (!ddpm__mul_size(count, sizeof(ddpm_json_value), &bytes)) return fail_oom(P);
        ddpm_json_value *items = arena_alloc(P, bytes);
        if (!items) return P->status;
        for (size_t i = 0; i < count; i++) items[i] = P->tmp[f->base + i].value;
        v->items = items;
    } else {
        v->type = DDPM_JSON_OBJECT;
        if (count > UINT32_MAX) return fail_at(P, f->open_pos, "object has too many members");
        if (!ddpm__mul_size(count, sizeof(ddpm_json_member), &bytes)) return fail_oom(P);
        ddpm_json_member *members = arena_alloc(P, bytes);
        if (!members) return P->status;
        for (size_t i = 0; i < count; i++) members[i] = P->tmp[f->base + i];
        if (!ddpm__mul_size(count, sizeof(uint32_t), &bytes)) return fail_oom(P);
        uint32_t *idx = arena_alloc(P, bytes);
        if (!idx) return P->status;
        for (size_t i = 0; i < count; i++) idx[i] = (uint32_t)i;
        sort_indices(idx, count, members);
        for (size_t i = 1; i < count; i++) {
            if (key_cmp(&members[idx[i - 1]], &members[idx[i]]) == 0) {
                /* Name the key (control bytes as '?', cut at 64 bytes) in the message. */
                char msg[96] = "duplicate key \"";
                size_t k = strlen(msg);
                const char *key = members[idx[i]].key;
                for (size_t j = 0; key[j] && j < 64; j++) {
                    unsigned char c = (unsigned char)key[j];
                    msg[k++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
                }
                msg[k++] = '"';
                msg[k] = '\0';
                return fail_at(P, f->open_pos, msg);
            }
        }
        v->members = members;
        v->sorted_ = idx;
    }
    P->tmp_count = f->base;
    return DDPM_OK;
}

/* After '{' or ',' inside an object: whitespace, a key string, whitespace, ':'. */
static ddpm_status parse_key(parser *P, frame *f) {
    skip_ws(P);
    if (P->pos >= P->len || P->s[P->pos] != '"') return fail_at(P, P->pos, "expected a string key");
    if (parse_string(P, 1, &f->key, &f->key_len) != DDPM_OK) return P->status;
    skip_ws(P);
    if (P->pos >= P->len || P->s[P->pos] != ':') return fail_at(P, P->pos, "expected ':'");
    P->pos++;
    return DDPM_OK;
}

static ddpm_status parse_document(parser *P) {
    frame stack[DDPM_JSON_MAX_DEPTH];
    int depth = 0;
    ddpm_json_value v;
    for (;;) {
        /* Expecting a value. */
        skip_ws(P);
        if (P->pos >= P->len) return fail_at(P, P->pos, "unexpected end of input, expected a value");
        if (++P->num_values > P->max_values) {
            P->status = ddpm__fail(P->err, DDPM_ERR_TOO_LARGE, "JSON: more than %zu values", P->max_values);
            return P->status;
        }
        unsigned char c = P->s[P->pos];
        if (c == '{' || c == '[') {
            if (depth == DDPM_JSON_MAX_DEPTH) return fail_at(P, P->pos, "nesting too deep");
            frame *f = &stack[depth++];
            f->is_object = c == '{';
            f->base = P->tmp_count;
            f->open_pos = P->pos;
            f->key = NULL;
            f->key_len = 0;
            P->pos++;
            skip_ws(P);
            if (P->pos < P->len && P->s[P->pos] == (f->is_object ? '}' : ']')) {
                P->pos++;
                if (close_container(P, f, &v) != DDPM_OK) return P->status;
                depth--;
            } else {
                if (f->is_object && parse_key(P, f) != DDPM_OK) return P->status;
                continue;
            }
        } else if (parse_scalar(P, &v) != DDPM_OK) {
            return P->status;
        }
        /* Have a complete value v: attach it to the innermost container, closing containers as they end. */
        for (;;) {
            if (depth == 0) {
                skip_ws(P);
                if (P->pos != P->len) return fail_at(P, P->pos, "unexpected data after the JSON value");
                P->doc->root = v;
                return DDPM_OK;
            }
            frame *f = &stack[depth - 1];
            if (push_tmp(P, f->key, f->key_len, &v) != DDPM_OK) return P->status;
            skip_ws(P);
            if (P->pos >= P->len) return fail_at(P, P->pos, "unexpected end of input in a container");
            c = P->s[P->pos];
            if (c == ',') {
                P->pos++;
                if (f->is_object && parse_key(P, f) != DDPM_OK) return P->status;
                break; /* parse the next value */
            }
            if (c != (f->is_object ? '}' : ']'))
                return fail_at(P, P->pos, f->is_object ? "expected ',' or '}'" : "expected ',' or ']'");
            P->pos++;
            if (close_container(P, f, &v) != DDPM_OK) return P->status;
            depth--;
        }
    }
}

ddpm_status ddpm_json_parse(const char *text, size_t len, ddpm_json **out, ddpm_error *err) {
    return ddpm_json_parse_limited(text, len, SIZE_MAX, out, err);
}

ddpm_status ddpm_json_parse_limited(const char *text, size_t len, size_t max_values, ddpm_json **out,
                                    ddpm_error *err) {
    if (!out) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "JSON: out is NULL");
    *out = NULL;
    if (!text && len) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "JSON: text is NULL");
    ddpm_json *doc = ddpm__calloc(1, sizeof *doc);
    if (!doc) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "JSON: out of memory");
    /* Budget: 64 KiB + 128 bytes per input byte. The tree needs at most ~48 bytes per input byte (an array of 1-byte
     * values costs 64 bytes per 2 input bytes, a short key member ~90 bytes per 6), plus chunk slack. */
    size_t per;
    if (!ddpm__mul_size(len, 128, &per) || !ddpm__add_size(per, (size_t)64 << 10, &doc->budget)) doc->budget = SIZE_MAX;
    parser P;
    memset(&P, 0, sizeof P);
    P.s = (const unsigned char *)(text ? text : "");
    P.len = len;
    P.doc = doc;
    P.err = err;
    P.status = DDPM_OK;
    P.max_values = max_values;
    ddpm_status st = parse_document(&P);
    free(P.tmp);
    if (st != DDPM_OK) {
        ddpm_json_free(doc);
        return st;
    }
    *out = doc;
    ddpm__ok(err);
    return DDPM_OK;
}

const ddpm_json_value *ddpm_json_object_get(const ddpm_json_value *v, const char *key) {
    if (!v || v->type != DDPM_JSON_OBJECT || !key) return NULL;
    ddpm_json_member probe;
    probe.key = key;
    probe.key_length = strlen(key);
    size_t lo = 0, hi = v->length;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ddpm_json_member *m = &v->members[v->sorted_[mid]];
        int c = key_cmp(m, &probe);
        if (c == 0) return &m->value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}
