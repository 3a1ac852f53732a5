/*
 * libFuzzer target for the weights-file layer: the strict JSON parser, ddpm_st_parse, ddpm_config_from_metadata,
 * ddpm_st_read_f32 of every tensor with its own shape, and ddpm_st_check_all_used. Built with
 * -fsanitize=fuzzer,address,undefined (cmake -DDDPM_FUZZ=ON, clang only). Seeds: tests/fuzz/corpus/ (written by
 * tests/data/make_corrupt.py); dictionary: tests/fuzz/weights.dict.
 *
 *     ./fuzz_weights -max_total_time=60 -dict=tests/fuzz/weights.dict /tmp/corpus tests/fuzz/corpus
 *
 * Besides the sanitizers, the target traps when a contract is broken: an error without a one-line message, a
 * success that leaves a NULL object, tensor data outside the input, a name lookup that does not find its tensor.
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

    /* The safetensors layer. */
    ddpm_st_file *f = NULL;
    st = ddpm_st_parse(data, size, &f, &err);
    check_err(st, &err);
    if (st != DDPM_OK) {
        require(f == NULL);
        return 0;
    }
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
        st = ddpm_st_read_f32(f, t->name, t->ndim, t->shape, dst, &err);
        check_err(st, &err);
        free(dst);
    }
    check_err(ddpm_st_check_all_used(f, &err), &err);
    ddpm_st_free(f);
    return 0;
}
