/* The U-Net's internal structure: the block plan derived from a config, and the bound weights. */
#ifndef DDPM_UNET_H
#define DDPM_UNET_H

#include "core/internal.h"
#include "nn/kernels.h"

#include <stddef.h>

#define DDPM_MAX_BLOCKS 128

typedef struct ddpm_conv {
    int cin, cout, k, stride;
    int pad_after_only;     /* see ddpm_conv_desc */
    float *w; /* [cout, cin, k, k]; NULL when compacted (then wq + wscale or wh hold it) */
    float *b; /* [cout] */
    float *wino; /* 3x3 stride 1: ddpm_wino_transform_weights(w), filled after binding (NULL until then) */
    /* a compacted 3x3 conv's weights (ddpm_load_options.compact): int8 rows with one scale per output channel,
     * w[o, ...] = wscale[o] * wq[o, ...], or binary16; the forward pass expands them per call */
    const int8_t *wq;
    const float *wscale;
    const uint16_t *wh;
} ddpm_conv;

typedef struct ddpm_norm {
    int c;
    float *gamma, *beta; /* [c] */
} ddpm_norm;

typedef struct ddpm_resblock {
    int cin, cout;
    float out_scale;        /* (shortcut(x) + h) / out_scale */
    ddpm_norm norm1, norm2;
    ddpm_conv conv1, conv2;
    float *temb_w, *temb_b; /* [cout, E], [cout] */
    int has_skip;
    ddpm_conv skip;         /* 1x1 when cin != cout */
} ddpm_resblock;

typedef struct ddpm_attn {
    int c, heads;           /* channel ch belongs to head ch / (c / heads) */
    float out_scale;        /* (x + proj(...)) / out_scale */
    ddpm_norm norm;
    ddpm_conv qkv, proj;    /* 1x1: c -> 3c (q | k | v), c -> c */
} ddpm_attn;

typedef enum { DDPM_BLOCK_RES, DDPM_BLOCK_RESATTN, DDPM_BLOCK_DOWN, DDPM_BLOCK_UP } ddpm_block_kind;

typedef struct ddpm_block {
    ddpm_block_kind kind;
    int cin, cout, res;     /* res: input resolution (pixels per side) */
    int level, index;       /* the level, and the resnet's index within it (RES, RESATTN) */
    ddpm_resblock rb;       /* RES, RESATTN */
    ddpm_attn attn;         /* RESATTN */
    ddpm_conv conv;         /* DOWN (3x3 stride 2), UP (3x3 after nearest x2) */
} ddpm_block;

typedef struct ddpm_unet {
    ddpm_model_config cfg;
    int emb;                 /* E: the time embedding's width (arch.temb_dim) */
    float *fc1_w, *fc1_b, *fc2_w, *fc2_b; /* time MLP: [E, C], [E], [E, E], [E] */
    float *class_w;          /* [num_classes + arch.null_class, E] or NULL */
    ddpm_conv conv_in, conv_out;
    ddpm_norm norm_out;
    int num_down, num_up;
    ddpm_block down[DDPM_MAX_BLOCKS], up[DDPM_MAX_BLOCKS];
    int compact;             /* 1: 3x3 conv weights kept compacted (ddpm_conv.wq / wh), expanded per call */
    int wino_lazy;           /* 1: some 3x3 stride-1 convs have no precomputed Winograd weights (wino NULL); the
                                forward pass transforms theirs into scratch when its kernel table runs Winograd
                                (the same values) */
    ddpm_resblock mid1, mid2;
    ddpm_attn mid_attn;      /* used when cfg.arch.mid_attention */
    int mid_res;
} ddpm_unet;

/* Builds the block plan (shapes only, no weights) from a validated config, mirroring training/model.py plan() and
 * diffusers' UNet2DModel (the two wire the same network; cfg.arch says how this one is set). */
ddpm_status ddpm_unet_plan(ddpm_unet *u, const ddpm_model_config *cfg, ddpm_error *err);

/*
 * Visits every tensor the plan needs, in a fixed order, as (name, ndim, shape, destination pointer slot), under the
 * names of the config's format (cfg.arch.diffusers_names). The loader calls it twice: once to count floats, once to
 * bind slots into one weights arena and fill them. A slot of NULL continues the previous tensor: its floats follow
 * the previous call's in the same array (diffusers' separate to_q / to_k / to_v fill one [3c, c] q | k | v array).
 * `alt` (may be NULL) is the same tensor's name in an older naming (diffusers before 0.14: query / key / value /
 * proj_attn), for the visitor to try when `name` is absent.
 */
typedef ddpm_status (*ddpm_tensor_visitor)(void *ctx, const char *name, const char *alt, int ndim,
                                           const int64_t *shape, float **slot, ddpm_error *err);
ddpm_status ddpm_unet_visit(ddpm_unet *u, ddpm_tensor_visitor fn, void *ctx, ddpm_error *err);

/* Every 3x3 conv weight is visited with slot = &conv->w (plan.c's v_conv): the conv that slot belongs to. */
static inline ddpm_conv *ddpm_unet_conv_of_weight_slot(float **slot) {
    return (ddpm_conv *)(void *)((char *)slot - offsetof(ddpm_conv, w));
}

/* Calls fn on every convolution of the plan, in a fixed order. */
void ddpm_unet_each_conv(ddpm_unet *u, void (*fn)(void *ctx, ddpm_conv *c), void *ctx);

/* Floats of pre-transformed (Winograd) weights every 3x3 stride-1 conv of the plan needs, and their computation into
 * one arena of that size (sets each such conv's wino pointer). */
size_t ddpm_unet_wino_floats(ddpm_unet *u);
/* out: [cout, cin, k, k] = the conv's float32 weights (a compacted conv's expanded: the loader's rounding). */
void ddpm_unet_conv_expand(const ddpm_conv *c, float *out);
void ddpm_unet_wino_fill(ddpm_unet *u, float *arena);

/* Workspace floats for a batch of n (0 on overflow). */
size_t ddpm_unet_workspace_floats(const ddpm_unet *u, int n, int threads);

double ddpm_unet_flops(const ddpm_unet *u);

/* DeepCache: floats per image of the deep branch's output a cached pass reuses (0: the U-Net has one level). */
size_t ddpm_unet_cache_floats(const ddpm_unet *u);
#define DDPM_CACHE_STORE 1 /* a full pass that also writes the deep branch's output to cache */
#define DDPM_CACHE_REUSE 2 /* the shallow branch only (conv_in, level 0 down and up), the deep output from cache */

/* The forward pass proper; arguments already validated. ws: ddpm_unet_workspace_floats(u, n) floats. cache: NULL,
 * or [n, ddpm_unet_cache_floats(u)] with cache_mode STORE or REUSE. */
void ddpm_unet_forward(const ddpm_unet *u, const ddpm_kernel_table *K, int n, const float *x, const float *t,
                       const int *y, float *out, float *ws, struct ddpm_par *par, float *cache, int cache_mode,
                       ddpm_trace_fn trace, void *trace_user);

#endif
