/* A growable byte buffer for writing files and JSON in memory; on allocation failure `failed` is set and later
 * writes are dropped, so a writer checks once at the end. Used by the model export and the wasm layer's JSON. */
#ifndef DDPM_CORE_SBUF_H
#define DDPM_CORE_SBUF_H

#include "core/internal.h"

typedef struct ddpm__sbuf {
    char *p;
    size_t len, cap;
    int failed;
} ddpm__sbuf;

void ddpm__sbuf_put(ddpm__sbuf *b, const void *data, size_t n);
void ddpm__sbuf_puts(ddpm__sbuf *b, const char *s);
void ddpm__sbuf_printf(ddpm__sbuf *b, const char *fmt, ...) DDPM_PRINTF(2, 3);
/* s as a JSON string literal (quotes, backslashes and control characters escaped). */
void ddpm__sbuf_json_string(ddpm__sbuf *b, const char *s);

#endif
