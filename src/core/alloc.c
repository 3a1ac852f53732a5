/*
 * The library's allocations, in one place: ddpm__malloc / ddpm__calloc / ddpm__realloc are the C allocator's, with a
 * test hook (ddpm_debug_fail_allocation, ddpm_debug.h) that makes the n-th allocation from now fail, so that tests
 * can walk every allocation of a model load or a run and check that each failure is reported as OUT_OF_MEMORY and
 * leaks nothing. The counter is a plain global: the hook is for single-threaded tests (the forward pass's threads
 * allocate nothing).
 */
#include "core/internal.h"

#include <stdlib.h>

static long fail_at;  /* 0: off; else the allocation number that fails */
static long counted;  /* allocations since the hook was set */

void ddpm_debug_fail_allocation(long n) {
    fail_at = n > 0 ? n : 0;
    counted = 0;
}

long ddpm_debug_allocations(void) { return counted; }

static int fails(void) {
    counted++;
    if (fail_at && counted == fail_at) return 1;
    return 0;
}

void *ddpm__malloc(size_t n) { return fails() ? NULL : malloc(n); }
void *ddpm__calloc(size_t n, size_t size) { return fails() ? NULL : calloc(n, size); }
void *ddpm__realloc(void *p, size_t n) { return fails() ? NULL : realloc(p, n); }
