/*
 * libFuzzer target for the weights-file layer: the strict JSON parser, ddpm_st_parse, ddpm_config_from_metadata,
 * ddpm_st_read_f32 of every tensor with its own shape, and ddpm_st_check_all_used. Built with
 * -fsanitize=fuzzer,address,undefined (cmake -DDDPM_FUZZ=ON, clang only). Seeds: tests/fuzz/corpus/ (written by
 * tests/data/make_corrupt.py); dictionary: tests/fuzz/weights.dict.
 *
 *     ./fuzz_weights -max_total_time=60 -dict=tests/fuzz/weights.dict /tmp/corpus tests/fuzz/corpus
 *
 * Besides the sanitizers, the target traps when a contract is broken: an error without a one-line message, a
 * success that leaves a NULL object, tensor data outside the input, a name lookup that does not find its tensor, or
 * the same bytes read through a ddpm_reader (ddpm_st_parse_reader) giving another status, message or value.
 */
#include "io/config.h"
#include "io/json.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void require(int cond) {
    if (!cond) __builtin_trap();
}

static void check_err(ddpm_status st, const ddpm_error *err) {
    require(err->status == st);
    const char *nul = memchr(err->message, '\0', sizeof err->message);
    require(nul != NULL);
    if (st != DDPM_OK) require(err->message[0] != '\0' && strchr(err->message, '\n') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct span_in {
    const uint8_t *data;
    size_t size;
} span_in;

static int span_read(void *user, uint64_t offset, size_t n, void *dst) {
    const span_in *s = user;
    require(offset <= s->size && n <= s->size - offset); /* the parser never asks past the end it was told */
    memcpy(dst, s->data + offset, n);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ddpm_error err;

    /* The JSON parser alone, on the whole input. */
    ddpm_json *doc = NULL;
    ddpm_status st = ddpm_json_parse((const char *)data, size, &doc, &err);
    check_err(st, &err);
    require((st == DDPM_OK) == (doc != NULL));
    ddpm_json_free(doc);
    if (size <= 64) {
        double d;
        if (ddpm_json_number_from_text((const char *)data, size, &d)) require(d == d);
    }

    /* The safetensors layer, from the buffer and through a reader of the same bytes. */
    ddpm_st_file *f = NULL, *g = NULL;
    st = ddpm_st_parse(data, size, &f, &err);
    check_err(st, &err);
    const span_in in = {data, size};
    const ddpm_reader reader = {size, span_read, (void *)&in};
    ddpm_error rerr;
    const ddpm_status rst = ddpm_st_parse_reader(&reader, &g, &rerr);
    check_err(rst, &rerr);
    require(rst == st && strcmp(rerr.message, err.message) == 0);
    if (st != DDPM_OK) {
        require(f == NULL && g == NULL);
        return 0;
    }
    require(g != NULL && g->num_tensors == f->num_tensors && g->num_meta == f->num_meta);
    require(f != NULL);
    for (int i = 0; i < f->num_meta; i++) require(ddpm_st_meta(f, f->meta_keys[i]) == f->meta_values[i]);

    ddpm_model_config cfg;
    st = ddpm_config_from_metadata(f, &cfg, &err);
    check_err(st, &err);
    if (st == DDPM_OK) check_err(ddpm_config_validate(&cfg, &err), &err);

    for (int i = 0; i < f->num_tensors; i++) {
        ddpm_st_tensor *t = &f->tensors[i];
        require(ddpm_st_find(f, t->name) == t);
        require(t->ndim >= 0 && t->ndim <= 4);
        if (t->nbytes) require(t->data >= data && t->data + t->nbytes <= data + size);
        /* num_elements <= nbytes <= size, so this allocation is bounded by the input. */
        float *dst = malloc(t->num_elements ? t->num_elements * sizeof(float) : 1);
        if (!dst) continue;
        float *dst2 = malloc(t->num_elements ? t->num_elements * sizeof(float) : 1);
        if (!dst2) {
            free(dst);
            continue;
        }
        st = ddpm_st_read_f32(f, t->name, t->ndim, t->shape, dst, &err);
        check_err(st, &err);
        const ddpm_status st2 = ddpm_st_read_f32(g, t->name, t->ndim, t->shape, dst2, &rerr);
        check_err(st2, &rerr);
        require(st2 == st && strcmp(rerr.message, err.message) == 0);
        if (st == DDPM_OK) require(memcmp(dst, dst2, t->num_elements * sizeof(float)) == 0);
        free(dst);
        free(dst2);
    }
    check_err(ddpm_st_check_all_used(f, &err), &err);
    check_err(ddpm_st_check_all_used(g, &rerr), &rerr);
    require(rerr.status == err.status);
    ddpm_st_free(f);
    ddpm_st_free(g);
    return 0;
}
