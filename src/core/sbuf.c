/* The growable byte buffer of core/sbuf.h. */
#include "core/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ddpm__sbuf_put(ddpm__sbuf *b, const void *data, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *q = ddpm__realloc(b->p, cap);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

void ddpm__sbuf_puts(ddpm__sbuf *b, const char *s) { ddpm__sbuf_put(b, s, strlen(s)); }

void ddpm__sbuf_printf(ddpm__sbuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    const int k = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)k < sizeof small) {
        ddpm__sbuf_put(b, small, (size_t)k);
        return;
    }
    char *big = ddpm__malloc((size_t)k + 1);
    if (!big) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)k + 1, fmt, ap);
    va_end(ap);
    ddpm__sbuf_put(b, big, (size_t)k);
    free(big);
}

void ddpm__sbuf_json_string(ddpm__sbuf *b, const char *s) {
    ddpm__sbuf_puts(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[8];
        if (*c == '"' || *c == '\\') {
            esc[0] = '\\', esc[1] = (char)*c, esc[2] = 0;
            ddpm__sbuf_puts(b, esc);
        } else if (*c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *c);
            ddpm__sbuf_puts(b, esc);
        } else {
            ddpm__sbuf_put(b, c, 1);
        }
    }
    ddpm__sbuf_puts(b, "\"");
}
