/*
 * ddpm.h — a Denoising Diffusion Probabilistic Models engine (Ho, Jain & Abbeel 2020) in C11.
 *
 * One header, one prefix (ddpm_), opaque handles, status codes. The same code runs natively and, compiled by
 * Emscripten, as WebAssembly in browsers and Node.
 *
 * Basic usage
 * -----------
 *     ddpm_error err;
 *     ddpm_model *m;
 *     if (ddpm_model_load_file("models/fmnist-cond.i8.safetensors", &m, &err) != DDPM_OK) {
 *         fprintf(stderr, "%s\n", err.message);     // the library itself never prints
 *         return 1;
 *     }
 *     ddpm_sample_params p = ddpm_sample_default_params();   // DDPM ancestral, every timestep
 *     p.seed = 42; p.batch = 4; p.class_label = 3; p.guidance = 3.0f;
 *     ddpm_run *run;
 *     if (ddpm_run_create(m, &p, &run, &err) == DDPM_OK) {
 *         while (!ddpm_run_done(run))
 *             if (ddpm_run_step(run, &err) != DDPM_OK) break;   // one model evaluation per call
 *         const float *img = ddpm_run_x(run);                  // [batch, C, S, S] in about [-1, 1]
 *         ...
 *         ddpm_run_free(run);
 *     }
 *     ddpm_model_free(m);
 *
 * Conventions
 * -----------
 * - Tensors are float32, row-major, NCHW: x: [N, C, H, W]. Images live in [-1, 1].
 * - Timesteps are 0-based: t = 0 .. T-1, where index t is the paper's t+1. alphas_cumprod[t] = prod_{s<=t} (1 - beta_s).
 * - Every function that can fail returns ddpm_status; those that can fail for a reason worth explaining also take a
 *   `ddpm_error *err` (may be NULL) that receives the status and a one-line message.
 * - Every *_free() accepts NULL. Nothing here calls exit(), abort() or prints.
 * - Names: ddpm_<object>_<verb> for actions (ddpm_run_step), ddpm_<object>_<noun> for getters (ddpm_run_x,
 *   ddpm_model_num_params); where the noun is itself a type name the getter says _get (ddpm_model_get_config,
 *   ddpm_model_get_schedule, ddpm_schedule_get_params, ddpm_schedule_array_get). Only DDPM_API functions are
 *   exported from the shared library (the rest is compiled hidden); ddpm_debug.h holds the parts for tests and
 *   debugging.
 * - Thread safety: a ddpm_model may be used by one thread at a time (its forward pass owns scratch memory). Different
 *   models and schedules may be used from different threads. The sampler registry is process-global and not locked:
 *   register plugins before sampling starts.
 */
#ifndef DDPM_H
#define DDPM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DDPM_API marks the public functions: exported from a shared build (the rest of the library is compiled with
 * hidden visibility), imported on Windows when DDPM_SHARED is defined by the user of the DLL. */
#if defined(_WIN32) && defined(DDPM_BUILDING_SHARED)
#define DDPM_API __declspec(dllexport)
#elif defined(_WIN32) && defined(DDPM_SHARED)
#define DDPM_API __declspec(dllimport)
#elif defined(__GNUC__) || defined(__clang__)
#define DDPM_API __attribute__((visibility("default")))
#else
#define DDPM_API
#endif

#define DDPM_VERSION_MAJOR 0
#define DDPM_VERSION_MINOR 1
#define DDPM_VERSION_PATCH 0
DDPM_API const char *ddpm_version(void);

/* ================================================================================================================
 * Status and errors
 * ============================================================================================================= */

typedef enum ddpm_status {
    DDPM_OK = 0,
    DDPM_ERR_INVALID_ARGUMENT = 1,  /* a parameter is out of range, NULL, NaN or infinite */
    DDPM_ERR_OUT_OF_MEMORY = 2,     /* an allocation failed */
    DDPM_ERR_TOO_LARGE = 3,         /* a requested size overflows or exceeds DDPM_MAX_* limits */
    DDPM_ERR_IO = 4,                /* a file could not be opened or read */
    DDPM_ERR_FORMAT = 5,            /* the container is malformed: header length, JSON, offsets, overlaps */
    DDPM_ERR_UNSUPPORTED = 6,       /* a well-formed file asks for something this build does not do (dtype, version) */
    DDPM_ERR_SHAPE = 7,             /* a tensor's shape or dtype disagrees with the model config */
    DDPM_ERR_MISSING_TENSOR = 8,    /* the config needs a tensor that the file lacks */
    DDPM_ERR_CONFIG = 9,            /* the model config in the metadata is missing, invalid or inconsistent */
    DDPM_ERR_NOT_FOUND = 10,        /* no sampler (or other named item) of that name */
    DDPM_ERR_EXISTS = 11,           /* a sampler of that name is already registered */
    DDPM_ERR_VERSION = 12,          /* a plugin was built against another DDPM_SAMPLER_API_VERSION */
    DDPM_ERR_BUSY = 13,             /* the object is in use (e.g. unregistering a sampler a run still uses) */
    DDPM_ERR_ABORTED = 14,          /* a callback asked to stop */
    DDPM_ERR_STATE = 15,            /* the call does not fit the object's state (e.g. stepping a finished run) */
    DDPM_STATUS_COUNT_
} ddpm_status;

/* A fixed, human-readable name for a status ("ok", "invalid argument", ...). Never NULL. */
DDPM_API const char *ddpm_status_str(ddpm_status s);

/* The identifier of each enum value, as the JS API and the CLI spell it, or NULL out of range:
 *     status "OK" "INVALID_ARGUMENT" ... (the enum name without DDPM_ERR_)   prediction "eps" "x0" "v"
 *     variance "fixed_small" "fixed_large"   schedule kind "linear" "scaled_linear" "cosine" "sigmoid" "custom"
 *     schedule array "betas" "alphas_cumprod" ...   spacing "leading" "trailing" "linspace"
 *     dtype "F32" "F16" "I8" "BF16"   winograd "auto" "precomputed" "on-the-fly"   option type "float" "int" "bool"
 *     "choice" (and in ddpm_debug.h: kernels "simd" "scalar" "precise") */
DDPM_API const char *ddpm_status_name(ddpm_status s);

typedef struct ddpm_error {
    ddpm_status status;
    char message[256]; /* NUL-terminated, one line, no trailing newline */
} ddpm_error;

/* Size limits that keep every allocation bounded; a request beyond them fails with DDPM_ERR_TOO_LARGE. */
#define DDPM_MAX_TIMESTEPS 100000
#define DDPM_MAX_LEVELS 8
#define DDPM_MAX_CHANNELS 4096
#define DDPM_MAX_IMAGE_SIZE 1024
#define DDPM_MAX_BATCH 4096
#define DDPM_MAX_WORKSPACE_BYTES ((size_t)1 << 31) /* forward-pass scratch for one call; wasm32 cannot hold more */

/* ================================================================================================================
 * Noise schedules (T doubles per array; computed in double, or from diffusers' float32 values with float32 = 1)
 * ============================================================================================================= */

typedef enum ddpm_schedule_kind {
    DDPM_SCHEDULE_LINEAR = 0,        /* beta_t = linspace(beta_start, beta_end, T)             (the paper: 1e-4 .. 0.02) */
    DDPM_SCHEDULE_SCALED_LINEAR = 1, /* beta_t = linspace(sqrt(beta_start), sqrt(beta_end), T)^2                          */
    DDPM_SCHEDULE_COSINE = 2,        /* Nichol & Dhariwal: f(t) = cos^2(((t/T)+s)/(1+s) * pi/2), s = 0.008,
                                        beta_t = min(1 - f(t+1)/f(t), 0.999)                                               */
    DDPM_SCHEDULE_SIGMOID = 3,       /* beta_t = sigmoid(linspace(-6, 6, T)) * (beta_end - beta_start) + beta_start       */
    DDPM_SCHEDULE_CUSTOM = 4         /* beta_t = betas[t], an explicit list (diffusers' trained_betas)                   */
} ddpm_schedule_kind;

typedef struct ddpm_schedule_params {
    ddpm_schedule_kind kind;
    int num_timesteps;    /* T, 1 .. DDPM_MAX_TIMESTEPS */
    double beta_start;    /* linear, scaled_linear, sigmoid; 0 < beta_start <= beta_end < 1 */
    double beta_end;
    int rescale_zero_snr; /* Lin et al. 2023: shift/scale sqrt(alphas_cumprod) so alphas_cumprod[T-1] = 0 exactly;
                             needs T >= 2 */
    const double *betas;  /* DDPM_SCHEDULE_CUSTOM: num_timesteps betas, each in (0, 1]; copied by
                             ddpm_schedule_create (the schedule's own params then point at its copy; other kinds
                             ignore it and their schedule's params hold NULL) */
    int float32;          /* 1: betas, alphas and alphas_cumprod are diffusers v0.21.4's float32 values bit for bit
                             (PyTorch's CPU kernels reproduced: float32 torch.linspace / sigmoid, the betas rounded
                             to float32, torch.cumprod's product kept in double and each entry rounded to float32),
                             widened to double; every derived array is computed from those in double. 0: all in
                             double (this project's own models, training/schedule.py) */
} ddpm_schedule_params;

/* linear, T = 1000, 1e-4 .. 0.02, no rescale. */
DDPM_API ddpm_schedule_params ddpm_schedule_default_params(void);

typedef struct ddpm_schedule ddpm_schedule;

/* Each array has T entries, index t = 0 .. T-1. */
typedef enum ddpm_schedule_array {
    DDPM_BETAS = 0,
    DDPM_ALPHAS,                        /* 1 - beta_t */
    DDPM_ALPHAS_CUMPROD,                /* abar_t */
    DDPM_ALPHAS_CUMPROD_PREV,           /* abar_{t-1}, with abar_{-1} = 1 */
    DDPM_SQRT_ALPHAS_CUMPROD,
    DDPM_SQRT_ONE_MINUS_ALPHAS_CUMPROD,
    DDPM_POSTERIOR_VARIANCE,            /* beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t); 0 at t = 0 */
    DDPM_POSTERIOR_LOG_VARIANCE_CLIPPED,/* log beta~_t, with beta~_1 in place of beta~_0 (which is 0) */
    DDPM_POSTERIOR_MEAN_COEF1,          /* coefficient of x0:  beta_t sqrt(abar_{t-1}) / (1 - abar_t) */
    DDPM_POSTERIOR_MEAN_COEF2,          /* coefficient of x_t: (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t) */
    DDPM_SCHEDULE_ARRAY_COUNT_
} ddpm_schedule_array;

DDPM_API ddpm_status ddpm_schedule_create(const ddpm_schedule_params *p, ddpm_schedule **out, ddpm_error *err);
DDPM_API void ddpm_schedule_free(ddpm_schedule *s);
DDPM_API int ddpm_schedule_num_timesteps(const ddpm_schedule *s);
/* Pointer to T doubles owned by the schedule, or NULL for an unknown array. */
DDPM_API const double *ddpm_schedule_array_get(const ddpm_schedule *s, ddpm_schedule_array which);
DDPM_API const ddpm_schedule_params *ddpm_schedule_get_params(const ddpm_schedule *s);

/* ================================================================================================================
 * Gaussian operations of the forward and reverse processes. Element-wise over n floats; arithmetic in double per
 * element, results rounded to float. t must be in [0, T). Output buffers may alias inputs of the same shape.
 * ============================================================================================================= */

typedef enum ddpm_prediction {
    DDPM_PREDICT_EPS = 0, /* the model outputs the noise eps */
    DDPM_PREDICT_X0 = 1,  /* the model outputs x0 */
    DDPM_PREDICT_V = 2    /* v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022) */
} ddpm_prediction;

typedef enum ddpm_variance {
    DDPM_VARIANCE_FIXED_SMALL = 0, /* sigma_t^2 = beta~_t (posterior variance) */
    DDPM_VARIANCE_FIXED_LARGE = 1  /* sigma_t^2 = beta_t, with beta~_1 at t = 0 as in the reference code */
} ddpm_variance;

/* Divisions by zero are refused (DDPM_ERR_INVALID_ARGUMENT): x0 from eps where abar_t = 0 (the last step of a
 * zero-terminal-SNR schedule: use v-prediction there), eps from x0 where abar_t = 1. The likelihood functions
 * return NaN for NULL inputs. */

/* x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps */
DDPM_API ddpm_status ddpm_q_sample(const ddpm_schedule *s, int t, const float *x0, const float *eps, float *xt, size_t n);
/* x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) */
DDPM_API ddpm_status ddpm_x0_from_eps(const ddpm_schedule *s, int t, const float *xt, const float *eps, float *x0, size_t n);
/* x0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v */
DDPM_API ddpm_status ddpm_x0_from_v(const ddpm_schedule *s, int t, const float *xt, const float *v, float *x0, size_t n);
/* eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t) */
DDPM_API ddpm_status ddpm_eps_from_x0(const ddpm_schedule *s, int t, const float *xt, const float *x0, float *eps, size_t n);
/* Model output of any prediction type -> x0 and/or eps (either output may be NULL). */
DDPM_API ddpm_status ddpm_split_prediction(const ddpm_schedule *s, int t, ddpm_prediction pred, const float *xt,
                                  const float *model_out, float *x0, float *eps, size_t n);
/* Posterior q(x_{t-1} | x_t, x0): mean = coef1 x0 + coef2 x_t; *var and *log_var (clipped) may be NULL. */
DDPM_API ddpm_status ddpm_q_posterior(const ddpm_schedule *s, int t, const float *x0, const float *xt, float *mean, size_t n,
                             double *var, double *log_var);
/*
 * One reverse step of Algorithm 2, generalised: x0^ from the model output (clipped to [-1, 1] when clip_x0), the
 * posterior mean from (x0^, x_t), then x_{t-1} = mean + sigma_t z with z = noise. At t = 0 no noise is added and
 * noise may be NULL. pred_x0 (may be NULL) receives x0^.
 */
DDPM_API ddpm_status ddpm_p_step(const ddpm_schedule *s, int t, ddpm_prediction pred, ddpm_variance var, int clip_x0,
                        const float *xt, const float *model_out, const float *noise, float *x_prev, float *pred_x0,
                        size_t n);

/* Likelihood terms, in nats, summed over n elements. */
/* KL(N(m1, exp(lv1)) || N(m2, exp(lv2))) for diagonal Gaussians; lv are per-element log-variances. */
DDPM_API double ddpm_normal_kl(const float *mean1, const float *log_var1, const float *mean2, const float *log_var2, size_t n);
/* Same with one scalar log-variance per side (the case of fixed variances). */
DDPM_API double ddpm_normal_kl_scalar_var(const float *mean1, double log_var1, const float *mean2, double log_var2, size_t n);
/* log N(x; mean, exp(log_var)) */
DDPM_API double ddpm_gaussian_log_likelihood(const float *x, const float *mean, double log_var, size_t n);
/*
 * The decoder term log p(x0 | x1) of the paper (section 3.3): x in [-1, 1] on a grid of 256 levels, each bin of width
 * 2/255 integrated under N(mean, exp(log_scale)^2), with the edge bins extended to -inf / +inf.
 */
DDPM_API double ddpm_discretized_gaussian_log_likelihood(const float *x, const float *mean, double log_scale, size_t n);
/* The prior term L_T = KL(q(x_{T-1} | x0) || N(0, I)). */
DDPM_API double ddpm_prior_kl(const ddpm_schedule *s, const float *x0, size_t n);
/* nats summed over n elements -> bits per dimension */
DDPM_API double ddpm_bits_per_dim(double nats, size_t n);

/* ================================================================================================================
 * Counter-based RNG: Philox-4x32-10 (Salmon et al., SC'11)
 *
 * philox(counter c[4], key k[2]): 10 rounds of
 *     (hi0, lo0) = mulhilo32(0xD2511F53, c0);  (hi1, lo1) = mulhilo32(0xCD9E8D57, c2)
 *     c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
 *     k0 += 0x9E3779B9, k1 += 0xBB67AE85            (the key is bumped between rounds, not after the last)
 *
 * Standard normals: element i of the stream (seed, image, step, purpose) comes from block b = i / 4 with
 *     counter = (b, image, step, purpose), key = (seed & 0xffffffff, seed >> 32)
 * whose four words r0..r3 give two Box-Muller pairs, in double:
 *     u = (r0 + 1) / 2^32 (in (0, 1]),  phi = 2 pi r1 / 2^32,  rho = sqrt(-2 ln u)
 *     n[4b+0] = rho cos(phi), n[4b+1] = rho sin(phi), and likewise (r2, r3) -> n[4b+2], n[4b+3]
 * each rounded to float. ln, cos and sin are the library's own double-precision routines (argument reduction and
 * fixed polynomials, only + - * / and sqrt), so every IEEE-754 platform yields the same bits.
 *
 * Because the counter names the image index, image k of a batch gets the same noise whether it is sampled alone,
 * in a batch, or on another worker.
 * ============================================================================================================= */

/* One Philox-4x32-10 block. */
DDPM_API void ddpm_philox4x32_10(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

typedef enum ddpm_noise_purpose {
    DDPM_NOISE_INITIAL = 0, /* x_T at the start of sampling */
    DDPM_NOISE_STEP = 1,    /* the noise added by reverse step `step` */
    DDPM_NOISE_FORWARD = 2, /* q_sample of a start image (image-to-image) */
    DDPM_NOISE_USER = 16    /* first value free for plugins */
} ddpm_noise_purpose;

/* Fills out[0..n) with elements [0, n) of the stream (seed, image, step, purpose). */
DDPM_API void ddpm_rng_normal(uint64_t seed, uint32_t image, uint32_t step, uint32_t purpose, float *out, size_t n);
/* Uniform doubles in (0, 1]: u = (r + 1) / 2^32 with r the 32-bit words of the same stream, in order. */
DDPM_API void ddpm_rng_uniform(uint64_t seed, uint32_t image, uint32_t step, uint32_t purpose, double *out, size_t n);

/* ================================================================================================================
 * The U-Net (paper appendix B) and its weights file
 *
 * Weights file: safetensors (https://github.com/huggingface/safetensors):
 *     u64 little-endian header length L | L bytes of JSON | raw tensor data
 * The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data
 * section), plus "__metadata__": a map of string to string. Tensor names are the PyTorch state-dict names of
 * training/model.py. Supported dtypes: "F32", "F16", and "I8" for weights of rank >= 2, which then need a companion
 * tensor "<name>_scale" of dtype F32 and shape [out_channels]: w[o, ...] = scale[o] * q[o, ...].
 *
 * __metadata__ keys (all values are strings):
 *     ddpm.format           "1"
 *     ddpm.in_channels, ddpm.out_channels, ddpm.base_channels, ddpm.num_res_blocks, ddpm.groups, ddpm.num_classes,
 *     ddpm.image_size       decimal integers
 *     ddpm.channel_mult     comma-separated integers, e.g. "1,2,2"
 *     ddpm.attn_resolutions comma-separated integers (may be empty)
 *     ddpm.prediction       "eps" | "x0" | "v"
 *     ddpm.schedule         "linear" | "scaled_linear" | "cosine" | "sigmoid"
 *     ddpm.num_timesteps, ddpm.beta_start, ddpm.beta_end, ddpm.rescale_zero_snr (optional, "0"/"1")
 *     ddpm.variance         "fixed_small" | "fixed_large" (optional; default fixed_small)
 * Other keys (dataset, training steps, metrics, ...) are kept and readable with ddpm_model_metadata(); unknown keys
 * are ignored. Required: every key above except rescale_zero_snr and variance; beta_start/beta_end may be omitted for
 * the cosine schedule; attn_resolutions must be present but may be empty. Integers are plain decimals. The config
 * must also satisfy: base_channels even and >= 4 (the embedding divides by C/2 - 1), channel_mult[0] == 1, groups
 * dividing every channel count, attention resolutions distinct and <= image_size. Values beyond a DDPM_MAX_* limit
 * give DDPM_ERR_TOO_LARGE; any other config violation DDPM_ERR_CONFIG.
 * Container limits: JSON header <= 100 MB, rank <= 4, <= 10000 tensors; gaps between tensor data are allowed.
 *
 * Loading checks the header length against the buffer, the JSON's syntax and nesting depth, each dtype, that every
 * shape's byte size equals its offsets' span, that spans lie in the data section and do not overlap, that every
 * tensor the config needs is present with the shape the config implies, and that no tensor is left unused. F16 and
 * I8 weights are converted to float32 once, at load.
 * ============================================================================================================= */

/*
 * How the U-Net is wired beyond the fields of ddpm_model_config. A file in this project's own format gets the
 * values in [brackets]; a diffusers UNet2DModel config.json sets them from the key named after the semicolon.
 */
typedef struct ddpm_unet_arch {
    int level_channels[DDPM_MAX_LEVELS]; /* channels of level i [base_channels * channel_mult[i]]; block_out_channels */
    uint32_t attn_down, attn_up;   /* bit i: the down / up blocks of level i have self-attention [from attn_resolutions];
                                      AttnDownBlock2D in down_block_types[i], AttnUpBlock2D in up_block_types[L-1-i] */
    int mid_attention;             /* the mid block's attention [1]; add_attention */
    int head_dim;                  /* channels per attention head, 0 = one head over all channels [0];
                                      attention_head_dim (null: 0) */
    int attn_groups;               /* GroupNorm groups before attention [groups]; attn_norm_num_groups or
                                      norm_num_groups */
    float norm_eps;                /* eps of every GroupNorm [1e-5]; norm_eps */
    int flip_sin_to_cos;           /* timestep sinusoid order: 0 = [sin | cos], 1 = [cos | sin] [0]; flip_sin_to_cos */
    int freq_shift;                /* freq_k = exp(-ln(10^4) k / (C/2 - freq_shift)) [1]; freq_shift */
    int downsample_one_sided;      /* 0: stride-2 3x3 conv with padding 1 [0]; 1: padding only at the bottom and
                                      right (diffusers' downsample_padding 0: F.pad(x, (0, 1, 0, 1)), then no padding) */
    float mid_scale;               /* the mid block's resnets and attention divide their output by this [1];
                                      mid_block_scale_factor */
    int center_input;              /* x -> 2x - 1 before conv_in [0]; center_input_sample */
    int temb_dim;                  /* width of the time embedding [4 * base_channels]; time_embedding_dim or
                                      4 * block_out_channels[0] */
    int null_class;                /* 1: the class table has num_classes + 1 rows, the last the null class used for
                                      unconditional and guided sampling [1]; 0: num_class_embeds rows, every
                                      evaluation needs labels */
    int diffusers_names;           /* tensor names: 0 = training/model.py's [0], 1 = diffusers' state-dict names */
} ddpm_unet_arch;

typedef struct ddpm_model_config {
    int in_channels;
    int out_channels;
    int base_channels;
    int num_levels;                            /* entries of channel_mult */
    int channel_mult[DDPM_MAX_LEVELS];
    int num_res_blocks;
    int num_attn_resolutions;
    int attn_resolutions[DDPM_MAX_LEVELS];     /* spatial sizes (pixels per side) that get self-attention */
    int groups;                                /* GroupNorm groups; divides every channel count */
    int num_classes;                           /* 0: unconditional; else labels 0..num_classes-1, and num_classes = null */
    int image_size;
    ddpm_prediction prediction;
    ddpm_variance variance;
    ddpm_schedule_params schedule;
    ddpm_unet_arch arch;
} ddpm_model_config;

typedef enum ddpm_dtype { DDPM_DTYPE_F32 = 0, DDPM_DTYPE_F16 = 1, DDPM_DTYPE_I8 = 2, DDPM_DTYPE_BF16 = 3 } ddpm_dtype;

typedef struct ddpm_tensor_info {
    const char *name;   /* owned by the model */
    ddpm_dtype dtype;   /* as stored in the file */
    int ndim;
    int64_t shape[4];
    size_t num_elements;
} ddpm_tensor_info;

typedef struct ddpm_model ddpm_model;

DDPM_API ddpm_status ddpm_model_load_file(const char *path, ddpm_model **out, ddpm_error *err);
/* The bytes are parsed and copied; the caller may free `data` as soon as this returns. */
DDPM_API ddpm_status ddpm_model_load_buffer(const void *data, size_t size, ddpm_model **out, ddpm_error *err);
DDPM_API void ddpm_model_free(ddpm_model *m);

/*
 * Hugging Face diffusers models
 * -----------------------------
 * A diffusers UNet2DModel is three files: config.json (the architecture), diffusion_pytorch_model.safetensors (the
 * weights under diffusers' state-dict names, F32, F16 or BF16; the ".fp16" variant holds F16) and, beside them or in
 * a pipeline's scheduler/ folder, scheduler_config.json (DDPMScheduler, DDIMScheduler or PNDMScheduler: the noise
 * schedule, prediction type, variance, clipping and timestep spacing). The engine runs what diffusers' UNet2DModel
 * computes for the configurations listed in src/io/diffusers_config.h; any other value is refused with
 * DDPM_ERR_UNSUPPORTED naming the key. Attention tensors may use the names of diffusers >= 0.14 (to_q, to_k, to_v,
 * to_out.0) or older ones (query, key, value, proj_attn). Every tensor's presence, dtype and shape is checked against
 * the config; a tensor the config does not use is refused with its name. Pickle (.bin) checkpoints are never read:
 * convert them with training/bin_to_safetensors.py.
 *
 * The scheduler config sets the model's schedule (computed in float32 as diffusers does: ddpm_schedule_params.float32)
 * and its sampling defaults (ddpm_model_sample_defaults): "ddpm" for DDPMScheduler, "ddim" for DDIMScheduler, "plms"
 * for PNDMScheduler, with clip_sample, timestep_spacing, steps_offset and set_alpha_to_one as the samplers' options.
 */
typedef enum ddpm_winograd {
    DDPM_WINOGRAD_AUTO = 0,
    DDPM_WINOGRAD_PRECOMPUTED = 1, /* computed once at load and kept */
    DDPM_WINOGRAD_ON_THE_FLY = 2   /* computed into scratch by every convolution that needs them */
} ddpm_winograd;
#define DDPM_WINOGRAD_PRECOMPUTE_MAX_BYTES ((size_t)512 << 20)

/* Enum names (see ddpm_status_name). */
DDPM_API const char *ddpm_prediction_name(ddpm_prediction p);
DDPM_API const char *ddpm_variance_name(ddpm_variance v);
DDPM_API const char *ddpm_schedule_kind_name(ddpm_schedule_kind k);
DDPM_API const char *ddpm_schedule_array_name(ddpm_schedule_array a);
DDPM_API const char *ddpm_dtype_name(ddpm_dtype d);
DDPM_API const char *ddpm_winograd_name(ddpm_winograd w);

typedef struct ddpm_load_options {
    const char *unet_config;      /* config.json text of a UNet2DModel (need not be NUL-terminated), or NULL: the
                                     configuration comes from the weights file's own metadata (this project's format,
                                     or a file written by `ddpm convert`, which carries both JSON texts) */
    size_t unet_config_len;
    const char *scheduler_config; /* scheduler_config.json text, or NULL: the file's metadata, else DDPMScheduler's
                                     defaults (linear 1e-4 .. 0.02, T = 1000, fixed_small, clip_sample) */
    size_t scheduler_config_len;
    ddpm_dtype quantize;          /* F32 (default): weights as stored. F16: every weight rounded to binary16. I8:
                                     every weight of rank >= 2 rounded to int8 with one scale per output channel,
                                     scale = max|w[o]| / 127 (as training/export.py and `ddpm convert` store them).
                                     The engine computes in float32 either way; the rounding makes a model behave as
                                     its F16 / I8 file will */
    ddpm_winograd winograd;       /* where the 3x3 convolutions' Winograd weights (4x the raw 3x3 weights) live:
                                     AUTO (default) precomputes them when they take at most
                                     DDPM_WINOGRAD_PRECOMPUTE_MAX_BYTES, else transforms each conv's weights when it
                                     runs: the same bits either way. The transform's cost is per weight, the
                                     convolution's per pixel: on the fly, the CIFAR-10 network (32x32) needs 187 MiB
                                     instead of 597 MiB of wasm heap but runs 6.7x slower; at 256x256 the transform is
                                     64x smaller next to the convolutions */
    int compact;                  /* 1 (needs quantize F16 or I8): the 3x3 convolutions' weights, nearly all of a
                                     U-Net's, stay int8 (+ one scale per output channel) or binary16 in memory and are
                                     expanded per call, with Winograd weights on the fly; the same bits as compact 0
                                     with the same quantize. The CIFAR-10 network then holds 45 MB of weights instead
                                     of 143 MB (and no 430 MB of precomputed transforms) */
    size_t memory_budget;         /* 0 (default): no budget. Otherwise the bytes the model's resident weights may
                                     take (the float32 arena, the compact arenas and the precomputed Winograd
                                     weights; the forward pass's workspace is apart: ddpm_model_workspace_bytes):
                                     with quantize F16 or I8 the 3x3 weights are kept compact when the float32 ones
                                     do not fit; then Winograd weights are precomputed for the 3x3 stride-1
                                     convolutions that fit, in the plan's order (the shallow levels, which DeepCache
                                     runs most, come first), the others transformed per call (winograd AUTO; with
                                     PRECOMPUTED all must fit). The same bits for any budget. DDPM_ERR_TOO_LARGE,
                                     with the bytes needed, when even the compact weights do not fit */
} ddpm_load_options;

DDPM_API ddpm_load_options ddpm_load_default_options(void);
/* ddpm_model_load_buffer with options (opt may be NULL: the defaults). */
DDPM_API ddpm_status ddpm_model_load_buffer_ex(const void *data, size_t size, const ddpm_load_options *opt, ddpm_model **out,
                                      ddpm_error *err);
/*
 * A weights file read through a callback, as whisper.cpp's model loader: the header first, then each tensor's bytes
 * once, decoded before the next is read, so the file is never held whole (the peak is the model plus its largest
 * tensor). read(user, offset, n, dst) fills dst with bytes [offset, offset + n) of the file and returns 0, or
 * nonzero when it cannot (the load then fails with DDPM_ERR_IO naming the bytes). size: the file's length.
 * ddpm_model_load_file and ddpm_model_load_path read files this way.
 */
typedef struct ddpm_reader {
    uint64_t size;
    int (*read)(void *user, uint64_t offset, size_t n, void *dst);
    void *user;
} ddpm_reader;
DDPM_API ddpm_status ddpm_model_load_reader(const ddpm_reader *reader, const ddpm_load_options *opt, ddpm_model **out,
                                            ddpm_error *err);
/*
 * Loads a weights file or a diffusers folder: PATH/config.json + PATH/diffusion_pytorch_model[.VARIANT].safetensors
 * (+ PATH/scheduler_config.json, or PATH/../scheduler/scheduler_config.json), or a pipeline folder whose
 * model_index.json names a UNet2DModel in PATH/unet/ and a scheduler in PATH/scheduler/. variant: NULL, or e.g.
 * "fp16" to prefer diffusion_pytorch_model.fp16.safetensors. A folder without safetensors weights but with a
 * diffusion_pytorch_model.bin is refused (DDPM_ERR_UNSUPPORTED) with the command that converts it. The options'
 * config texts must be NULL here (the folder's files are used); quantize applies.
 */
DDPM_API ddpm_status ddpm_model_load_path(const char *path, const char *variant, const ddpm_load_options *opt,
                                 ddpm_model **out, ddpm_error *err);
/*
 * The model as one safetensors file in memory (*out: malloc'd, free() it): F32, F16 (every tensor) or I8 (every
 * tensor of rank >= 2 with a "<name>_scale" F32 tensor of one scale per output channel; the rest F32), under the
 * tensor names it was loaded with, with the file's metadata. A diffusers model's file also carries its JSON texts
 * as "diffusers.unet_config" and "diffusers.scheduler_config", so that ddpm_model_load_buffer() of the result
 * alone gives the same model (`ddpm convert`).
 */
DDPM_API ddpm_status ddpm_model_export(const ddpm_model *m, ddpm_dtype dtype, void **out, size_t *size, ddpm_error *err);
/* The JSON texts a diffusers model was loaded with (NUL-terminated, owned by the model), or NULL for this project's
 * own format or when there was none. */
DDPM_API const char *ddpm_model_unet_config_json(const ddpm_model *m);
DDPM_API const char *ddpm_model_scheduler_config_json(const ddpm_model *m);

DDPM_API const ddpm_model_config *ddpm_model_get_config(const ddpm_model *m);
DDPM_API const ddpm_schedule *ddpm_model_get_schedule(const ddpm_model *m);
DDPM_API size_t ddpm_model_num_params(const ddpm_model *m);     /* weights and biases, not counting I8 scales */
DDPM_API int ddpm_model_num_tensors(const ddpm_model *m);        /* tensors in the file, scales included */
DDPM_API ddpm_status ddpm_model_tensor_info(const ddpm_model *m, int i, ddpm_tensor_info *info);
/* Metadata value for `key`, or NULL. The string is owned by the model. */
DDPM_API const char *ddpm_model_metadata(const ddpm_model *m, const char *key);
DDPM_API int ddpm_model_num_metadata(const ddpm_model *m);
DDPM_API ddpm_status ddpm_model_metadata_at(const ddpm_model *m, int i, const char **key, const char **value);
/* Floating-point operations of one forward pass for one image (multiply-add = 2). */
DDPM_API double ddpm_model_flops(const ddpm_model *m);

/* Where a loaded model's resident memory goes (ddpm_load_options.memory_budget bounds the sum of the three). */
typedef struct ddpm_model_memory_info {
    size_t weight_bytes;      /* the float32 arena: every weight not held compactly */
    size_t compact_bytes;     /* the compact 3x3 weights (int8 + scales, or binary16); 0 without compact */
    size_t winograd_bytes;    /* precomputed Winograd weights */
    int winograd_convs;       /* 3x3 stride-1 convolutions */
    int winograd_precomputed; /* of them, with precomputed Winograd weights (the others transform per call) */
    int compact;              /* 1: the 3x3 weights are held compactly */
} ddpm_model_memory_info;
DDPM_API ddpm_status ddpm_model_memory(const ddpm_model *m, ddpm_model_memory_info *info);

/*
 * Threads for one forward pass (default 1): the convolutions, GEMMs and attention of even a single image are split
 * into tasks that each compute their own output elements by the same operations, so every thread count gives the
 * same bits (tested for 1 .. 4 threads). threads: 1 .. 64, or 0: every processor of this machine for a model of at
 * least DDPM_THREADS_AUTO_MIN_FLOPS per image and evaluation, else 1 (the shipped 28x28 models, 0.55 GFLOP, gain
 * nothing from a split on a 2-core machine; the CIFAR-10 network, 12 GFLOP, runs 1.55x faster on 2). Natively the
 * model starts threads - 1 pthreads (joined here when the count changes, and by ddpm_model_free). A build without
 * threads (the plain WebAssembly module) accepts 1 and 0 and refuses more with DDPM_ERR_UNSUPPORTED and the reason;
 * the threaded WebAssembly module gets its workers from the JS layer (web/lib/threads.js). The scalar and precise
 * reference kernels (ddpm_debug.h) always run on one thread. Not to be called while a forward pass runs.
 */
#define DDPM_THREADS_AUTO_MIN_FLOPS 2000000000
DDPM_API ddpm_status ddpm_model_set_threads(ddpm_model *m, int threads, ddpm_error *err);
/* DeepCache on a loaded U-Net (ddpm_sample_params.deep_cache uses these): floats per image of the deep branch's
 * output (0: the network has one level, nothing to cache), and a forward pass that writes it (reuse 0: the same
 * output as ddpm_model_forward, bit for bit) or reads it and computes the shallow branch only (reuse 1).
 * cache: [n, ddpm_model_cache_floats(m)]. */
DDPM_API size_t ddpm_model_cache_floats(const ddpm_model *m);
DDPM_API ddpm_status ddpm_model_forward_cached(ddpm_model *m, int n, const float *x, const float *t, const int *y,
                                               float *out, float *cache, int reuse, ddpm_error *err);
DDPM_API int ddpm_model_threads(const ddpm_model *m); /* the count in use (at least 1) */

/*
 * The network's raw output for a batch.
 *     x:   [n, in_channels, S, S]
 *     t:   [n] timesteps; fractional values are allowed (the embedding is continuous in t)
 *     y:   [n] class labels in [0, num_classes] (num_classes = the null class), or NULL for the null class;
 *          must be NULL for an unconditional model
 *     out: [n, out_channels, S, S]
 * Scratch memory grows to fit the largest n seen and is kept until ddpm_model_free(); it is bounded by
 * DDPM_MAX_WORKSPACE_BYTES (DDPM_ERR_TOO_LARGE beyond). Inputs with NaN or Inf are refused (DDPM_ERR_INVALID_ARGUMENT).
 */
DDPM_API ddpm_status ddpm_model_forward(ddpm_model *m, int n, const float *x, const float *t, const int *y, float *out,
                               ddpm_error *err);
/* Scratch bytes the forward pass needs for a batch of n (0 when n is out of range). */
DDPM_API size_t ddpm_model_workspace_bytes(const ddpm_model *m, int n);

/* The vector backend: "wasm-simd128", "sse2" or "scalar" (the 4-lane layer compiled into this build), natively on x86
 * followed by " + avx2" or " + avx512f" when the CPU lets the GEMMs and Winograd transforms run wider (same results
 * bit for bit). */
DDPM_API const char *ddpm_simd_backend(void);

/* ================================================================================================================
 * Samplers: a versioned plugin interface and a registry
 *
 * A sampler owns the update rule of the reverse loop. It sees the model only through ctx->denoise (the model output,
 * already guided, for a batch at given timesteps) and draws noise only through ctx->noise, which makes every image's
 * noise depend on (seed, image index, step) alone. Built-in samplers register through ddpm_sampler_register() like
 * any plugin.
 *
 * Writing one: a complete plugin, Euler's method on the probability-flow ODE in the variance-exploding scale
 * (tests/plugin_example.sh cuts this text out of the installed header, builds it against that header alone and
 * runs it under ctest):
 *
 *     #include <math.h>
 *     #include <stdlib.h>
 *     #include <string.h>
 *     #include "ddpm.h"
 *
 *     typedef struct { float *out; float *t; } euler_state;     // per-run scratch
 *
 *     static ddpm_status euler_create(void *user, const ddpm_sampler_context *ctx, void **state) {
 *         (void)user;
 *         euler_state *s = calloc(1, sizeof *s);
 *         if (!s) return DDPM_ERR_OUT_OF_MEMORY;
 *         s->out = malloc(sizeof(float) * ctx->batch * ctx->image_elems);
 *         s->t = malloc(sizeof(float) * ctx->batch);
 *         if (!s->out || !s->t) { free(s->out); free(s->t); free(s); return DDPM_ERR_OUT_OF_MEMORY; }
 *         *state = s;
 *         return DDPM_OK;
 *     }
 *
 *     // abar(t): alphas_cumprod, 1 past the end
 *     static double abar(const ddpm_sampler_context *ctx, int t) {
 *         return t < 0 ? 1.0 : ddpm_schedule_array_get(ctx->schedule, DDPM_ALPHAS_CUMPROD)[t];
 *     }
 *
 *     static ddpm_status euler_step(void *user, void *state, const ddpm_sampler_context *ctx, int i, float *x) {
 *         (void)user;
 *         euler_state *s = state;
 *         const int t = ctx->timesteps[i], tn = i + 1 < ctx->num_steps ? ctx->timesteps[i + 1] : -1;
 *         const double a = abar(ctx, t), an = abar(ctx, tn);
 *         for (int k = 0; k < ctx->batch; k++) s->t[k] = (float)t;
 *         ddpm_status st = ctx->denoise(ctx, x, s->t, s->out);     // [batch, image_elems]
 *         if (st != DDPM_OK) return st;
 *         if (ctx->prediction != DDPM_PREDICT_EPS) return DDPM_ERR_UNSUPPORTED;
 *         // x_ve = x / sqrt(abar) moves along eps: x_ve' = x_ve + (sigma' - sigma) eps
 *         const double sig = sqrt((1 - a) / a), sign = sqrt((1 - an) / an);
 *         for (size_t j = 0; j < ctx->batch * ctx->image_elems; j++)
 *             x[j] = (float)(sqrt(an) * (x[j] / sqrt(a) + (sign - sig) * s->out[j]));
 *         return DDPM_OK;
 *     }
 *
 *     static void euler_destroy(void *user, const ddpm_sampler_context *ctx, void *state) {
 *         (void)user; (void)ctx;
 *         euler_state *s = state;
 *         free(s->out); free(s->t); free(s);
 *     }
 *
 *     static const ddpm_sampler_vtable my_euler = {
 *         .api_version = DDPM_SAMPLER_API_VERSION,
 *         .name = "my_euler",
 *         .description = "Euler on the probability-flow ODE",
 *         .evals_per_step = 1,
 *         .create = euler_create, .step = euler_step, .destroy = euler_destroy,
 *     };
 *
 *     // once, before sampling:  ddpm_sampler_register(&my_euler, &err);
 *     // then any run:           params.sampler = "my_euler";
 *
 * Options (ddpm_sampler_option) appear in UIs and are validated by the run before create() is called; the values
 * arrive in ctx->option_values in the vtable's declared order. The noise of step i comes from ctx->noise(ctx, i,
 * stream, out); a sampler that draws only there is bit-reproducible for any batch split.
 *
 * Version 2 (this header) passes every callback the vtable's user_data first and gives destroy() the context; the
 * context names its sampler (ctx->sampler) and no longer carries the engine's pointer. A version 1 vtable is refused
 * with DDPM_ERR_VERSION: add the user_data parameter to create / step / destroy and set api_version = 2.
 * ============================================================================================================= */

#define DDPM_SAMPLER_API_VERSION 2

typedef enum ddpm_option_type { DDPM_OPTION_FLOAT = 0, DDPM_OPTION_INT = 1, DDPM_OPTION_BOOL = 2,
                                DDPM_OPTION_CHOICE = 3 } ddpm_option_type;
DDPM_API const char *ddpm_option_type_name(ddpm_option_type o); /* see ddpm_status_name */

/* One option a sampler accepts; a UI builds its controls from these. Values are passed as doubles (a CHOICE as the
 * index into `choices`, a BOOL as 0/1). */
typedef struct ddpm_sampler_option {
    const char *name;
    ddpm_option_type type;
    double default_value, min_value, max_value;
    const char *const *choices; /* CHOICE only: NULL-terminated list */
    const char *help;
} ddpm_sampler_option;

typedef struct ddpm_sampler_vtable ddpm_sampler_vtable;
typedef struct ddpm_sampler_context ddpm_sampler_context;

/* What a sampler sees of its run. The engine owns it; it stays at one address for the life of the run. */
struct ddpm_sampler_context {
    const ddpm_sampler_vtable *sampler; /* the run's copy of the registered vtable (name, options, user_data) */
    const ddpm_schedule *schedule;
    ddpm_prediction prediction;     /* what denoise() returns */
    int batch;                      /* images in x */
    size_t image_elems;             /* floats per image (C * S * S) */
    int num_steps;                  /* entries of timesteps */
    const int *timesteps;           /* descending, timesteps[0] = first t; the step after the last goes to t = -1 */
    const double *option_values;    /* one per option of the sampler, in its declared order, validated in range */
    /* The model output for x at timesteps t (n = batch; t may be fractional). */
    ddpm_status (*denoise)(const ddpm_sampler_context *ctx, const float *x, const float *t, float *out);
    /* Standard normals for reverse step `step` of every image: out [batch, image_elems]. `stream` (0 .. 255)
     * separates several draws in one step. Image k's noise is the RNG stream (seed, first_image + k, step,
     * DDPM_NOISE_STEP + 256 * stream). */
    void (*noise)(const ddpm_sampler_context *ctx, int step, int stream, float *out);
    /* The sampler may write its current estimate of x0 here after each step ([batch, image_elems], may be NULL). */
    float *pred_x0;
    /* NULL, or num_steps entries: the timestep step i moves to (-1: the end), where it is not timesteps[i + 1]:
     * diffusers' DDPMScheduler and DDIMScheduler step from t to t - T / steps (integer division) on a grid they
     * made, whatever the grid's next entry (ddpm_denoiser.diffusers_grid). The built-in ddpm and ddim samplers
     * follow it; the others ignore it. */
    const int *prev_timesteps;
    /* Per-image class labels ([batch]; -1 = none / the null class), or NULL for an unconditional run. For the
     * sampler's information: denoise() applies them (and guidance) itself. */
    const int *labels;
};

struct ddpm_sampler_vtable {
    uint32_t api_version;           /* DDPM_SAMPLER_API_VERSION */
    const char *name;               /* unique, [a-z0-9_]+ */
    const char *description;
    int num_options;
    const ddpm_sampler_option *options;
    /* Model evaluations per step (1 for first-order samplers, 2 for Heun/DPM2; informational). */
    int evals_per_step;
    /* Allocate per-run state (may set *state = NULL). Called once before step 0; optional (with destroy). */
    ddpm_status (*create)(void *user_data, const ddpm_sampler_context *ctx, void **state);
    /* Advance x ([batch, image_elems], in place) by step i of ctx->num_steps. Required. */
    ddpm_status (*step)(void *user_data, void *state, const ddpm_sampler_context *ctx, int i, float *x);
    /* Free what create() made (called once, also when the run stops early). */
    void (*destroy)(void *user_data, const ddpm_sampler_context *ctx, void *state);
    void *user_data;                /* the plugin's: passed to every callback; the registry keeps the pointer */
};

/* The vtable is copied; the strings and options it points to must outlive the registration. */
DDPM_API ddpm_status ddpm_sampler_register(const ddpm_sampler_vtable *vt, ddpm_error *err);
/* DDPM_ERR_NOT_FOUND if unknown, DDPM_ERR_BUSY while a run uses it. */
DDPM_API ddpm_status ddpm_sampler_unregister(const char *name, ddpm_error *err);
/* NULL if unknown. Built-ins are registered on first use of the registry. */
DDPM_API const ddpm_sampler_vtable *ddpm_sampler_find(const char *name);
DDPM_API int ddpm_sampler_count(void);
DDPM_API const ddpm_sampler_vtable *ddpm_sampler_at(int i);

/* ================================================================================================================
 * Sampling runs
 * ============================================================================================================= */

typedef enum ddpm_spacing {
    DDPM_SPACING_LEADING = 0,  /* t_i = i * (T / steps) (+ offset), the DDIM paper's  */
    DDPM_SPACING_TRAILING = 1, /* t_i = round(T - i * T / steps) - 1, always ends at T-1 */
    DDPM_SPACING_LINSPACE = 2  /* round(linspace(0, T-1, steps)) */
} ddpm_spacing;                /* round: half up; for diffusers models (diffusers_grid) half to even, as numpy */
DDPM_API const char *ddpm_spacing_name(ddpm_spacing s); /* see ddpm_status_name */

typedef struct ddpm_sample_params {
    const char *sampler;        /* registry name; default "ddpm" */
    int num_options;            /* entries in option_names / option_values; unspecified options take defaults */
    const char *const *option_names;
    const double *option_values;
    int steps;                  /* 1 .. T; T (the default, 0 means T) = every timestep */
    ddpm_spacing spacing;
    uint64_t seed;
    int batch;                  /* images, 1 .. DDPM_MAX_BATCH */
    uint32_t first_image;       /* global index of image 0 (to split a batch across workers) */
    int class_label;            /* -1: unconditional (null class); else 0 .. num_classes-1 */
    const int *labels;          /* optional [batch]: image k's own class (-1 = the null class), instead of
                                   class_label; image k then equals a batch-1 run with class_label = labels[k] and
                                   first_image + k, bit for bit. Under guidance, images labelled -1 are sampled
                                   unguided (their guided output equals the unconditional one). */
    float guidance;             /* classifier-free guidance scale w: out = uncond + w (cond - uncond); 1 = none */
    const float *init_image;    /* optional [batch, C, S, S] start image in [-1, 1] (image-to-image) */
    float strength;             /* with init_image: 0 < strength <= 1; starts at t = round(strength * T) - 1 */
    int steps_offset;           /* added to every timestep of the leading grid (diffusers' steps_offset), >= 0; the
                                   result is clamped to T - 1 */
    const int *timesteps;       /* optional custom grid (diffusers' set_timesteps(timesteps=...)): num_timesteps
                                   strictly descending values in [0, T); replaces steps and spacing */
    int num_timesteps;
    /* Replay, to reproduce a run of another engine step by step: */
    const float *start_x;       /* optional x at the first timestep, [batch, C, S, S] (instead of the seeded x_T) */
    const float *noise;         /* optional [noise_count, batch, C, S, S]: the k-th draw of the sampler's noise
                                   (ctx->noise, in call order) takes tensor k instead of the RNG. The built-ins draw
                                   once per step that adds noise: ddpm on every step but the last; ddim with eta > 0
                                   on every step but the last (with set_alpha_to_one = 0 the last too); euler_a,
                                   dpm2_a, and dpmpp_2m_sde / dpmpp_3m_sde with eta > 0, once per step whose next
                                   level is above 0. A run that draws more than noise_count tensors fails with
                                   DDPM_ERR_INVALID_ARGUMENT at that step. The run keeps a copy: the caller may
                                   free both arrays once ddpm_run_create() returns. */
    int noise_count;
    int deep_cache;             /* DeepCache (Ma et al. 2024): 0 or 1 (default): off. k >= 2: every k-th model
                                   evaluation (the first included) is a full pass that also keeps the output of the
                                   U-Net's deep branch (everything below the top level); the k - 1 evaluations in
                                   between compute only the shallow branch (conv_in, the top level's down and up
                                   blocks, the output) on top of that kept output: about (k + (k - 1) s) / k times
                                   less work, s the shallow share (0.3-0.5 here). Any sampler. An approximation: the
                                   images change (models/fmnist-cond.md measures what it costs in FD). Needs a
                                   loaded U-Net with at least two levels, or a denoiser with eval_cached
                                   (DDPM_ERR_UNSUPPORTED otherwise). */
} ddpm_sample_params;

DDPM_API ddpm_sample_params ddpm_sample_default_params(void);
/* ddpm_sample_default_params() with what the model's scheduler config asks for (diffusers models): the sampler
 * ("ddpm", "ddim" or "plms"), spacing and steps_offset. The scheduler's clip_sample, clip_sample_range,
 * set_alpha_to_one and variance become the default values of the sampler options of those names (clip_x0,
 * clip_range, set_alpha_to_one, variance; DDIM also gets clip_eps = 0, diffusers' rule) in every run of the model,
 * whatever the sampler params say, unless the params set those options themselves. */
DDPM_API ddpm_sample_params ddpm_model_sample_defaults(const ddpm_model *m);
/* Those option defaults (none for this project's own format), for a ddpm_denoiser built around the model. The
 * arrays are owned by the model. */
DDPM_API void ddpm_model_option_defaults(const ddpm_model *m, int *n, const char *const **names, const double **values);

typedef struct ddpm_run ddpm_run;

/*
 * Model plugins: what a run samples from is a ddpm_denoiser, a model or any function with the same contract (an
 * analytic model in tests, a network evaluated by another runtime). ddpm_run_create() wraps a ddpm_model in one;
 * ddpm_run_create_with() runs every registered sampler over yours. A complete one, the exact noise prediction of
 * Gaussian data N(mu, s^2) per pixel (tests/plugin_example.sh builds and runs this text too; DDIM at eta 0 must
 * then land on the probability-flow ODE's end point mu + s (x_T - sqrt(abar) mu) / sqrt(abar s^2 + 1 - abar)):
 *
 *     typedef struct { double mu, s; const ddpm_schedule *schedule; } gauss_model;
 *
 *     // eps(x, t) = sqrt(1 - abar) (x - sqrt(abar) mu) / (abar s^2 + 1 - abar), per pixel; y unused
 *     static ddpm_status gauss_eval(void *user, int n, const float *x, const float *t, const int *y, float *out,
 *                                   ddpm_error *err) {
 *         (void)y; (void)err;
 *         const gauss_model *g = user;
 *         for (int k = 0; k < n; k++) {
 *             const double a = ddpm_schedule_array_get(g->schedule, DDPM_ALPHAS_CUMPROD)[(int)t[k]];
 *             for (int j = 0; j < 16; j++) {
 *                 const double v = x[k * 16 + j];
 *                 out[k * 16 + j] = (float)(sqrt(1 - a) * (v - sqrt(a) * g->mu) / (a * g->s * g->s + 1 - a));
 *             }
 *         }
 *         return DDPM_OK;
 *     }
 *
 *     // out32: the start x (at timestep *t_first), then the sample; both [1, 1, 4, 4]
 *     static ddpm_status sample_gauss(const gauss_model *g, float *out32, int *t_first) {
 *         ddpm_denoiser d = {
 *             .schedule = g->schedule, .prediction = DDPM_PREDICT_EPS,
 *             .channels = 1, .image_size = 4,                // x: [n, 1, 4, 4]
 *             .eval = gauss_eval, .user_data = (void *)g,
 *         };
 *         ddpm_sample_params p = ddpm_sample_default_params();
 *         p.sampler = "ddim";                                // eta 0 by default
 *         p.steps = 0;                                       // every timestep: t = 999 .. 0
 *         p.seed = 3;
 *         ddpm_run *run;
 *         ddpm_error err;
 *         ddpm_status st = ddpm_run_create_with(&d, &p, &run, &err);
 *         if (st != DDPM_OK) return st;
 *         memcpy(out32, ddpm_run_x(run), sizeof(float) * 16);
 *         *t_first = ddpm_run_timestep(run, 0);
 *         while (st == DDPM_OK && !ddpm_run_done(run)) st = ddpm_run_step(run, &err);
 *         if (st == DDPM_OK) memcpy(out32 + 16, ddpm_run_x(run), sizeof(float) * 16);
 *         ddpm_run_free(run);
 *         return st;
 *     }
 *
 * A network that answers asynchronously (WebGPU, a server) cannot reply inside eval(); it can still be driven step
 * by step: with a sampler of one evaluation per step, step i evaluates ddpm_run_x() at ddpm_run_timestep(run, i), so
 * the caller computes that output before ddpm_run_step() and eval() returns it (web/lib/net-model.js does this).
 */
typedef struct ddpm_denoiser {
    const ddpm_schedule *schedule;
    ddpm_prediction prediction;
    int channels, image_size;   /* x: [n, channels, image_size, image_size] */
    int num_classes;            /* 0: no labels; else labels 0..num_classes-1 and num_classes = null */
    /* out: [n, channels, S, S] for x at timesteps t; y is NULL (no label / null class) or n labels. */
    ddpm_status (*eval)(void *user_data, int n, const float *x, const float *t, const int *y, float *out,
                        ddpm_error *err);
    void *user_data;
    size_t (*workspace_bytes)(void *user_data, int n); /* optional: scratch eval needs for a batch of n */
    /* optional: default values for sampler options of these names, used where the sampler has such an option and
     * the params do not set it (a model's scheduler config: clip_x0, set_alpha_to_one, ...) */
    int num_option_defaults;
    const char *const *option_default_names;
    const double *option_default_values;
    int labels_required;        /* 1: every evaluation needs labels (no null class): unconditional runs and
                                   guidance are refused */
    int diffusers_grid;         /* 1 (diffusers models): grids as diffusers' set_timesteps() makes them (numpy's
                                   round half to even; trailing = round(arange(T, 0, -T / steps)) - 1), and on those
                                   grids ddpm / ddim step to t - T / steps (ddpm_sampler_context.prev_timesteps) */
    /* optional, for ddpm_sample_params.deep_cache: eval with a cache of cache_floats floats per image: reuse 0: a
     * full evaluation that writes the cache; 1: a cheaper one that reads it (cache: [n, cache_floats]). */
    ddpm_status (*eval_cached)(void *user_data, int n, const float *x, const float *t, const int *y, float *out,
                               float *cache, int reuse, ddpm_error *err);
    size_t cache_floats;
} ddpm_denoiser;

/* A run over any denoiser; the denoiser (and its schedule) must outlive the run. */
DDPM_API ddpm_status ddpm_run_create_with(const ddpm_denoiser *d, const ddpm_sample_params *p, ddpm_run **out,
                                 ddpm_error *err);

/* Validates everything (sampler name, options, steps, batch, class, guidance, strength, NaN/Inf) before allocating;
 * on error nothing is left allocated. x starts as x_T (or the noised start image). */
DDPM_API ddpm_status ddpm_run_create(ddpm_model *m, const ddpm_sample_params *p, ddpm_run **out, ddpm_error *err);
/* One sampler step. DDPM_ERR_STATE once done. */
DDPM_API ddpm_status ddpm_run_step(ddpm_run *r, ddpm_error *err);
DDPM_API int ddpm_run_done(const ddpm_run *r);
DDPM_API int ddpm_run_num_steps(const ddpm_run *r);
DDPM_API int ddpm_run_current_step(const ddpm_run *r);    /* steps taken so far */
DDPM_API int ddpm_run_timestep(const ddpm_run *r, int i);  /* t of step i, -1 out of range */
DDPM_API const float *ddpm_run_x(const ddpm_run *r);       /* [batch, C, S, S] current x */
DDPM_API const float *ddpm_run_pred_x0(const ddpm_run *r); /* [batch, C, S, S] latest x0 estimate (x before the first step) */
DDPM_API void ddpm_run_free(ddpm_run *r);

/* Convenience: a whole run; out receives [batch, C, S, S]. progress (may be NULL) is called after each step and
 * stops the run with DDPM_ERR_ABORTED when it returns non-zero. */
typedef int (*ddpm_progress_fn)(void *user_data, int step, int num_steps, int t, const ddpm_run *run);
DDPM_API ddpm_status ddpm_sample(ddpm_model *m, const ddpm_sample_params *p, float *out, ddpm_progress_fn progress,
                        void *user_data, ddpm_error *err);

/* [-1, 1] -> 0..255: floor((clamp(x, -1, 1) + 1) * 127.5 + 0.5). */
DDPM_API uint8_t ddpm_to_u8(float x);

#ifdef __cplusplus
}
#endif
#endif /* DDPM_H */
