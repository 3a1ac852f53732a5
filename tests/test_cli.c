/*
 * The native CLI end to end: `ddpm info`, `ddpm sample` (PNG grid + raw float32), error handling.
 * Run by ctest as: test_cli PATH_TO_DDPM (from the repository root).
 *
 * References: the raw output must equal, bit for bit, the library's ddpm_sample() run one image at a time with the
 * label and first-image index the CLI promises (`--class all`: image k gets class k % classes); the PNG, decoded by
 * stb_image (an independent decoder), must hold ddpm_to_u8() of those floats at the documented grid positions
 * (ceil(sqrt(B)) columns, 2 px black padding). Failures must exit non-zero with a "ddpm: " message and create no
 * output file.
 */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, sys/wait.h */
#include "ddpm.h"
#include "testutil.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#endif
#include "stb_image.h"
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *CLI;
static char tmpdir[] = "/tmp/ddpm-test-cli-XXXXXX";

/* Runs the CLI with `args`; stdout+stderr go to `log` (a path in tmpdir). Returns the exit status. */
static int run_cli(const char *args, char *log, size_t log_size) {
    char cmd[4096], logpath[512];
    snprintf(logpath, sizeof logpath, "%s/log.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "%s %s > %s 2>&1", CLI, args, logpath);
    int rc = system(cmd);
    log[0] = 0;
    FILE *f = fopen(logpath, "rb");
    if (f) {
        size_t n = fread(log, 1, log_size - 1, f);
        log[n] = 0;
        fclose(f);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_info(void) {
    char log[8192];
    int rc = run_cli("info tests/data/tiny-cond.i8.safetensors", log, sizeof log);
    CHECK(rc == 0 && strstr(log, "classes") && strstr(log, "3") && strstr(log, "I8") && strstr(log, "parameters"),
          "ddpm info: exit 0, prints classes, dtypes and parameters (rc %d)", rc);
    rc = run_cli("info tests/data/no-such-file.safetensors", log, sizeof log);
    CHECK(rc != 0 && strncmp(log, "ddpm: ", 6) == 0, "ddpm info on a missing file: exit %d, \"%.60s\"", rc, log);
    rc = run_cli("info tests/data/corrupt/truncated_header.safetensors", log, sizeof log);
    CHECK(rc != 0 && strstr(log, "ddpm: "), "ddpm info on a corrupt file: exit %d, \"%.70s\"", rc, log);
}

static void test_sample(void) {
    const char *model = "tests/data/tiny-cond.f32.safetensors";
    const int B = 5, steps = 30, classes = 3, S = 12;
    char args[2048], log[8192], raw[512], png[512];
    snprintf(raw, sizeof raw, "%s/a.f32", tmpdir);
    snprintf(png, sizeof png, "%s/a.png", tmpdir);
    snprintf(args, sizeof args,
             "sample %s --seed 11 --batch %d --steps %d --class all --guidance 2 --raw %s --out %s --quiet", model, B,
             steps, raw, png);
    int rc = run_cli(args, log, sizeof log);
    CHECK(rc == 0, "ddpm sample: exit 0 (%s)", log);
    size_t nraw = 0;
    unsigned char *rb = tu_read_file(raw, &nraw);
    CHECK(rb && nraw == sizeof(float) * B * S * S, "raw output: %zu bytes, want %zu", nraw, sizeof(float) * B * S * S);
    if (!rb || nraw != sizeof(float) * B * S * S) {
        free(rb);
        return;
    }
    const float *cli_x = (const float *)rb;

    /* the library, one image at a time */
    ddpm_model *m;
    ddpm_error err;
    if (ddpm_model_load_file(model, &m, &err) != DDPM_OK) {
        CHECK(0, "load %s: %s", model, err.message);
        free(rb);
        return;
    }
    float ref[5 * 12 * 12];
    int same = 1;
    for (int k = 0; k < B; k++) {
        ddpm_sample_params p = ddpm_sample_default_params();
        p.seed = 11;
        p.steps = steps;
        p.batch = 1;
        p.first_image = (uint32_t)k;
        p.class_label = k % classes;
        p.guidance = 2.0f;
        if (ddpm_sample(m, &p, ref + k * S * S, NULL, NULL, &err) != DDPM_OK) {
            CHECK(0, "ddpm_sample: %s", err.message);
            same = 0;
            break;
        }
        same &= memcmp(ref + k * S * S, cli_x + k * S * S, sizeof(float) * S * S) == 0;
    }
    CHECK(same, "CLI --batch %d --class all == library ddpm_sample per image (class k %% %d, first_image k), bitwise", B,
          classes);
    ddpm_model_free(m);

    int w, h, comp;
    unsigned char *px = stbi_load(png, &w, &h, &comp, 0);
    const int cols = 3, rows = 2, PAD = 2; /* ceil(sqrt(5)) = 3 columns */
    CHECK(px && comp == 1 && w == cols * (S + PAD) + PAD && h == rows * (S + PAD) + PAD,
          "PNG grid: grey %d x %d (got %d x %d, %d channels)", cols * (S + PAD) + PAD, rows * (S + PAD) + PAD, w, h,
          comp);
    if (px && comp == 1 && w == cols * (S + PAD) + PAD) {
        int pix_ok = 1, pad_black = 1;
        for (int k = 0; k < B; k++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    const int gx = (k % cols) * (S + PAD) + PAD + x, gy = (k / cols) * (S + PAD) + PAD + y;
                    pix_ok &= px[gy * w + gx] == ddpm_to_u8(cli_x[(k * S + y) * S + x]);
                }
        for (int x = 0; x < w; x++) pad_black &= px[x] == 0 && px[w + x] == 0; /* the top padding rows */
        CHECK(pix_ok && pad_black, "PNG pixels == ddpm_to_u8(raw) at every grid position, padding black");
    }
    stbi_image_free(px);
    free(rb);
}

static void test_refusals(void) {
    char args[2048], log[8192], out[512];
    snprintf(out, sizeof out, "%s/refused.png", tmpdir);
    static const struct {
        const char *args, *what;
    } bad[] = {
        {"--seed 1 --steps 0", "steps 0"},
        {"--seed 1 --steps 1001", "steps > T"},
        {"--seed 1 --batch 0", "batch 0"},
        {"--seed -3", "negative seed"},
        {"--seed 1.5", "non-integer seed"},
        {"--seed 1 --class 3", "class out of range"},
        {"--seed 1 --class 1 --guidance nan", "NaN guidance"},
        {"--seed 1 --sampler nope", "unknown sampler"},
        {"--seed 1 --sampler ddim --opt eta=2", "option out of range"},
        {"--steps 10", "missing --seed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "sample tests/data/tiny-cond.f32.safetensors %s --out %s --quiet", bad[i].args,
                 out);
        int rc = run_cli(args, log, sizeof log);
        CHECK(rc != 0 && strncmp(log, "ddpm: ", 6) == 0 && !exists(out), "refused: %-20s exit %d, no file, \"%.90s\"",
              bad[i].what, rc, strtok(log, "\n") ? log : "");
        remove(out);
    }
    snprintf(args, sizeof args, "sample tests/data/tiny-uncond.f32.safetensors --seed 1 --class 0 --out %s --quiet",
             out);
    int rc = run_cli(args, log, sizeof log);
    CHECK(rc != 0 && !exists(out), "refused: a class label on an unconditional model (exit %d)", rc);
}

/* Diffusers folders from the command line: info on the folder and on its config.json, convert to I8 and back (the
 * converted file gives the bytes --quantize i8 gives), replay inputs checked, and clear words for files that are not
 * models. */
static int same_file(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    const int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
}

static void test_diffusers(void) {
    const char *dir = "tests/data/diffusers/small-rgb";
    char args[2048], log[8192], conv[512], x[512], e1[512], e2[512];
    snprintf(args, sizeof args, "info %s", dir);
    int rc = run_cli(args, log, sizeof log);
    CHECK(rc == 0 && strstr(log, "diffusers UNet2DModel") && strstr(log, "parameters     1113955"),
          "info on a diffusers folder (exit %d)", rc);
    snprintf(args, sizeof args, "info %s/config.json", dir);
    rc = run_cli(args, log, sizeof log);
    CHECK(rc == 0 && strstr(log, "parameters     1113955"), "info on its config.json (exit %d)", rc);
    snprintf(conv, sizeof conv, "%s/small.i8.safetensors", tmpdir);
    snprintf(args, sizeof args, "convert %s --dtype i8 --out %s", dir, conv);
    rc = run_cli(args, log, sizeof log);
    CHECK(rc == 0 && exists(conv), "convert --dtype i8 (exit %d)", rc);
    /* the output of the converted file (ddpm forward) = that of the folder quantized on load (the older name, ddpm eps),
     * byte for byte */
    snprintf(x, sizeof x, "%s/x.f32", tmpdir);
    float xs[768];
    tu_fill(xs, 768, 5, -1.0f, 1.0f);
    FILE *f = fopen(x, "wb");
    if (f) fwrite(xs, sizeof xs, 1, f), fclose(f);
    snprintf(e1, sizeof e1, "%s/e1.f32", tmpdir);
    snprintf(e2, sizeof e2, "%s/e2.f32", tmpdir);
    snprintf(args, sizeof args, "forward %s --in %s --t 321 --out %s", conv, x, e1);
    const int r1 = run_cli(args, log, sizeof log);
    snprintf(args, sizeof args, "eps %s --quantize i8 --in %s --t 321 --out %s", dir, x, e2);
    const int r2 = run_cli(args, log, sizeof log);
    CHECK(r1 == 0 && r2 == 0 && same_file(e1, e2), "the converted I8 file = the folder with --quantize i8, bit for bit");
    /* replay noise: one tensor where a 3-step DDPM run draws two is refused at the step that runs out */
    snprintf(args, sizeof args, "sample %s --seed 1 --steps 3 --noise %s --raw %s/r.f32 --quiet", dir, x, tmpdir);
    rc = run_cli(args, log, sizeof log);
    CHECK(rc != 0 && strstr(log, "replay noise tensor 2, but only 1"), "--noise too short: \"%.80s\"", log);
    char raw[600];
    snprintf(raw, sizeof raw, "%s/r.f32", tmpdir);
    snprintf(args, sizeof args, "sample %s --seed 1 --steps 3 --start %s --raw %s --quiet", dir, x, raw);
    rc = run_cli(args, log, sizeof log);
    CHECK(rc == 0 && exists(raw), "--start with one image's x_T (exit %d)", rc);
    /* not models */
    rc = run_cli("info README.md", log, sizeof log);
    CHECK(rc != 0 && strstr(log, "not a safetensors model file"), "a text file: \"%.90s\"", log);
    rc = run_cli("info tests", log, sizeof log);
    CHECK(rc != 0 && strstr(log, "is a folder without config.json"), "a folder that is no model: \"%.90s\"", log);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_cli PATH_TO_DDPM\n");
        return 2;
    }
    CLI = argv[1];
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_info();
    test_sample();
    test_refusals();
    test_diffusers();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tu_finish("test_cli");
}
