/* The model object, shared by model.c (loading, forward) and export.c (writing it back as safetensors). */
#ifndef DDPM_UNET_MODEL_INTERNAL_H
#define DDPM_UNET_MODEL_INTERNAL_H

#include "io/scheduler_config.h"
#include "unet/unet.h"

struct ddpm_model {
    ddpm_unet u;
    ddpm_schedule *sched;
    float *weights;          /* one arena for every bound tensor, float32 */
    size_t weight_floats;
    float *wino;             /* Winograd-transformed 3x3 stride-1 conv weights, derived from `weights` at load */
    size_t wino_floats;
    size_t compact_bytes;
    void *compact;           /* compacted 3x3 conv weights (load option compact): scales | int8, or halves */
    size_t compact_params;
    double flops;
    /* what the file held, for `ddpm info` */
    int num_tensors;
    ddpm_tensor_info *tensors;
    int num_meta;
    char **meta_keys, **meta_values;
    /* forward-pass scratch */
    float *ws;
    size_t ws_floats;
    const ddpm_kernel_table *K;
    struct ddpm_par *par; /* ddpm_model_set_threads's pool (NULL: one thread) */
    ddpm_trace_fn trace;
    void *trace_user;
    /* diffusers models: the JSON texts (for convert and info), the scheduler's sampling defaults */
    char *unet_json, *sched_json;
    ddpm_scheduler_config sched_cfg;
    int has_sched;
    const char *opt_names[6];
    double opt_values[6];
    int num_opts;
};

#endif
