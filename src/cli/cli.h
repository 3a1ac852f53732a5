/* The `ddpm` command-line tool: declarations shared by its source files (not part of the library). */
#ifndef DDPM_CLI_H
#define DDPM_CLI_H

#include "ddpm.h"
#include "ddpm_debug.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define CLI_NORETURN __attribute__((noreturn))
#else
#define CLI_PRINTF(f, a)
#define CLI_NORETURN
#endif

/* ---- main.c: errors and strict argument parsing ---- */

/* Prints "ddpm: <message>" to stderr and exits with status 1. */
void cli_die(const char *fmt, ...) CLI_PRINTF(1, 2) CLI_NORETURN;
/* Prints "ddpm: <message>" and then one line "run 'ddpm <command> --help' for the options" (NULL: "run 'ddpm --help'
 * for the commands") to stderr; exits with status 2. */
void cli_usage_error(const char *command, const char *fmt, ...) CLI_PRINTF(2, 3) CLI_NORETURN;
/* The command being run ("sample", "info", ...), for usage errors raised outside its own file (load.c). */
extern const char *cli_command;
/* 1 when `path` names a .png file (the extension in any case, after a non-empty name): the only image format the
 * CLI writes. */
int cli_is_png_name(const char *path);
/* The default --scale of the PNGs for S x S images: ceil(CLI_DEFAULT_TILE_PX / S), at most 32 (28 or 32 px: 4, 64: 2,
 * 112 and more: 1). bin/ddpm-wasm.mjs uses the same rule. */
#define CLI_DEFAULT_TILE_PX 112
int cli_default_scale(int image_size);
/* Prints the usage of `command` (NULL: all) to stdout. */
void cli_print_usage(const char *command);

/* Whole-string parses; each returns 1 on success, 0 when `s` is not a number of that kind or is out of range. */
int cli_parse_int(const char *s, long lo, long hi, int *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_double(const char *s, double *out); /* finite values only */

/* Loads a model or dies with the library's message. */
ddpm_model *cli_load_model(const char *path);

const char *cli_prediction_name(ddpm_prediction p);

/* A flag "--name" or "--name=value"; "--name value" when it takes a value. */
#define CLI_MAX_REPEAT 64
typedef struct cli_flag {
    const char *name;  /* without the leading "--" */
    int takes_value;   /* 0: a switch (value "1" when given) */
    int repeatable;    /* values[] collects every occurrence */
    const char *value; /* the value given, or NULL */
    int count;         /* occurrences */
    const char *values[CLI_MAX_REPEAT];
} cli_flag;

/*
 * Parses argv[0..argc) against `flags`; other arguments are positional (at most max_positional, else a usage error).
 * --help / -h prints the command's usage and exits 0. Unknown flags, missing values and repeats of non-repeatable
 * flags are usage errors. Returns the number of positional arguments.
 */
int cli_parse_args(const char *command, int argc, char **argv, cli_flag *flags, int nflags, const char **positional,
                   int max_positional);
cli_flag *cli_flag_get(cli_flag *flags, int nflags, const char *name);

/* ---- load.c: MODEL arguments ---- */

/* Every command that takes MODEL also takes these flags, in this order:
 *   --variant NAME     diffusers folders: prefer diffusion_pytorch_model.NAME.safetensors (e.g. fp16)
 *   --quantize Q       f32 (as stored), f16 or i8: round the weights on load
 *   --config FILE      MODEL is a weights file and FILE its UNet config.json
 *   --scheduler FILE   with --config: the scheduler_config.json
 *   --kernels K        simd (default), scalar or precise (ddpm_model_set_kernels)
 *   --compact          with --quantize: keep the 3x3 weights quantized in memory (ddpm_load_options.compact)
 *   --threads N        threads for each forward pass, 0 (default): automatic (ddpm_model_set_threads)
 *   --memory-budget M  MiB the resident weights may take (ddpm_load_options.memory_budget)
 * MODEL is a weights file, a diffusers model or pipeline folder, or such a folder's config.json. */
#define CLI_MODEL_FLAG_COUNT 8
#define CLI_MODEL_FLAGS_USAGE                                                                                         \
    "  MODEL is a weights file (.safetensors), a diffusers UNet2DModel folder (config.json +\n"                       \
    "  diffusion_pytorch_model.safetensors [+ scheduler_config.json], or a pipeline with model_index.json),\n"        \
    "  or that folder's config.json.\n"                                                                               \
    "  --variant NAME      prefer diffusion_pytorch_model.NAME.safetensors (e.g. fp16)\n"                             \
    "  --quantize Q        f32 (default: as stored), f16 or i8: round the weights on load\n"                          \
    "  --config FILE       MODEL is a weights file and FILE its UNet config.json\n"                                   \
    "  --scheduler FILE    with --config: its scheduler_config.json\n"                                              \
    "  --kernels K         simd (default), scalar, or precise: double sums, for reproducing another engine's long\n"   \
    "                      deterministic runs (a DDIM replay) within 1e-3; slowest\n"                                \
    "  --compact           with --quantize i8|f16: keep the 3x3 weights so in memory (a third to a fifth\n"       \
    "                      of the memory, the same results, slower at small sizes)\n"                            \
    "  --threads N         threads for each model evaluation; 0 (default): every processor for models of\n"       \
    "                      2 GFLOP or more per image, else 1. Any count gives the same bits\n"                   \
    "  --memory-budget M   MiB the resident weights may take: with --quantize i8|f16 the 3x3 weights are held\n"   \
    "                      compactly when needed, Winograd weights precomputed for the convolutions that fit\n"  \
    "                      (the same results; `ddpm info` shows the split)\n"
void cli_model_flags_init(cli_flag *flags);
/* Loads MODEL with the values of the CLI_MODEL_FLAG_COUNT flags at mf (NULL: none), or dies. */
ddpm_model *cli_load_model_flags(const char *path, const cli_flag *mf);

/* ---- image.c: PNG in and out ---- */

/*
 * Writes a grid PNG of n images [n, c, s, s] in [-1, 1]: ceil(sqrt(n)) columns, 2 px of black padding around and
 * between tiles, grey for c = 1, RGB for c = 3, and for any other c the channels side by side as grey tiles. Each
 * pixel is ddpm_to_u8(x); the finished grid is upscaled by `scale` (nearest neighbour). Returns 0 and sets *why on
 * failure.
 */
int cli_write_grid_png(const char *path, const float *x, int n, int c, int s, int scale, const char **why);
/*
 * Loads a PNG (or any format stb_image reads) as c channels (1: grey, 3: RGB) of exactly s x s pixels into
 * out [c, s, s] in [-1, 1] (v / 127.5 - 1). Returns 0 and writes a message to msg on failure.
 */
int cli_load_image(const char *path, int c, int s, float *out, char *msg, size_t msg_size);

/* ---- raw float32 files (little-endian) ---- */
int cli_write_f32(const char *path, const float *x, size_t n);
/* Reads a whole file of little-endian float32; *n receives the count. NULL with msg filled on failure. */
float *cli_read_f32(const char *path, size_t *n, char *msg, size_t msg_size);

/* ---- subcommands ---- */
int cli_cmd_info(int argc, char **argv);
int cli_cmd_samplers(int argc, char **argv);
int cli_cmd_sample(int argc, char **argv);
int cli_cmd_forward(int argc, char **argv); /* ddpm forward, also ddpm eps */
int cli_cmd_convert(int argc, char **argv);

#endif
