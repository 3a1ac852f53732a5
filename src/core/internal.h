/* Internal helpers shared by every part of the library (not installed). */
#ifndef DDPM_INTERNAL_H
#define DDPM_INTERNAL_H

#include "ddpm.h"
#include "ddpm_debug.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define DDPM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DDPM_PRINTF(f, a)


#endif

/* Fills err (when not NULL) with status and a printf-style message; returns status. */
ddpm_status ddpm__fail(ddpm_error *err, ddpm_status status, const char *fmt, ...) DDPM_PRINTF(3, 4);
/* Sets err to DDPM_OK with an empty message. */
void ddpm__ok(ddpm_error *err);

/* Overflow-checked size arithmetic: return 0 on overflow, else 1 with *out set. */
int ddpm__mul_size(size_t a, size_t b, size_t *out);
int ddpm__add_size(size_t a, size_t b, size_t *out);

/* 1 when every one of the n floats is finite. */
int ddpm__all_finite(const float *x, size_t n);
/* A malloc'd copy of s (NULL when s is NULL or out of memory). */
char *ddpm__strdup(const char *s);

/* The library's allocator (core/alloc.c): the C allocator's functions behind a test hook that can fail the n-th
 * call (ddpm_debug_fail_allocation). Every allocation of the library goes through these; free() as usual. */
void *ddpm__malloc(size_t n);
void *ddpm__calloc(size_t n, size_t size);
void *ddpm__realloc(void *p, size_t n);

/* Aligned (64-byte) allocation; NULL on failure or size 0 overflow. Free with ddpm__free_aligned. */
void *ddpm__alloc_aligned(size_t bytes);
void ddpm__free_aligned(void *p);

/* Reads a whole file into a malloc'd buffer with a NUL appended (*size excludes it). */
ddpm_status ddpm__read_file(const char *path, char **data, size_t *size, ddpm_error *err);
/* ddpm_model_load_reader over the file at path (folder.c): never held whole in memory. */
ddpm_status ddpm__load_weights_file(const char *path, const ddpm_load_options *opt, ddpm_model **out, ddpm_error *err);


#endif
