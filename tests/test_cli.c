/*
 * The native CLI end to end: `ddpm info`, `ddpm sample` (PNG grid + raw float32), error handling.
 * Run by ctest as: test_cli PATH_TO_DDPM (from the repository root).
 *
 * References: the raw output must equal, bit for bit, the library's ddpm_sample() run one image at a time with the
 * label and first-image index the CLI promises (`--class all`: image k gets class k % classes); the PNG, decoded by
 * stb_image (an independent decoder), must hold ddpm_to_u8() of those floats at the documented grid positions
 * (ceil(sqrt(B)) columns, 2 px black padding, upscaled by the default scale ceil(112 / S)). Failures must exit
 * non-zero with a "ddpm: " message and create no output file.
 *
 * The command line's own words (issue 25, "CLI consistency") are held exactly: a usage error is exit 2 with two lines
 * on stderr, the message and "run 'ddpm COMMAND --help' for the options"; --help prints the whole usage to stdout
 * (exit 0). --steps is checked against the model's T; --class -1 is the null class (the library's class_label -1);
 * --out must end in .png; the seed range is named; `info` pretty-prints metadata values that are JSON and lists
 * ddpm.class_names.
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

/* Runs the CLI with stdout and stderr kept apart (each NUL-terminated, truncated to its size). */
static int run_cli2(const char *args, char *out, size_t out_size, char *err, size_t err_size) {
    char cmd[4096], op[512], ep[512];
    snprintf(op, sizeof op, "%s/stdout.txt", tmpdir);
    snprintf(ep, sizeof ep, "%s/stderr.txt", tmpdir);
    snprintf(cmd, sizeof cmd, "%s %s > %s 2> %s", CLI, args, op, ep);
    int rc = system(cmd);
    const char *paths[2] = {op, ep};
    char *bufs[2] = {out, err};
    size_t sizes[2] = {out_size, err_size};
    for (int i = 0; i < 2; i++) {
        bufs[i][0] = 0;
        FILE *f = fopen(paths[i], "rb");
        if (!f) continue;
        size_t n = fread(bufs[i], 1, sizes[i] - 1, f);
        bufs[i][n] = 0;
        fclose(f);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* The first line of s (a static copy), for the test's own output. */
static const char *line1(const char *s) {
    static char buf[300];
    size_t n = strcspn(s, "\n");
    if (n >= sizeof buf) n = sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = 0;
    return buf;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *x = tu_read_file(a, &na), *y = tu_read_file(b, &nb);
    const int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x), free(y);
    return same;
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

    /* no --scale: the default ceil(112 / S), 10 for these 12 px images: every pixel a 10 x 10 block */
    const int K = (112 + S - 1) / S;
    int w, h, comp;
    unsigned char *px = stbi_load(png, &w, &h, &comp, 0);
    const int cols = 3, rows = 2, PAD = 2; /* ceil(sqrt(5)) = 3 columns */
    const int W = cols * (S + PAD) + PAD, H = rows * (S + PAD) + PAD;
    CHECK(px && comp == 1 && w == K * W && h == K * H,
          "PNG grid: grey %d x %d, the default scale %d (got %d x %d, %d channels)", K * W, K * H, K, w, h, comp);
    if (px && comp == 1 && w == K * W && h == K * H) {
        int pix_ok = 1, pad_black = 1;
        for (int k = 0; k < B; k++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    const int gx = (k % cols) * (S + PAD) + PAD + x, gy = (k / cols) * (S + PAD) + PAD + y;
                    const unsigned char want = ddpm_to_u8(cli_x[(k * S + y) * S + x]);
                    for (int dy = 0; dy < K; dy++)
                        for (int dx = 0; dx < K; dx++) pix_ok &= px[(gy * K + dy) * w + gx * K + dx] == want;
                }
        for (int x = 0; x < w * PAD * K; x++) pad_black &= px[x] == 0; /* the top padding rows */
        CHECK(pix_ok && pad_black, "PNG pixels == ddpm_to_u8(raw) at every grid position (%d x %d blocks), padding "
              "black", K, K);
    }
    stbi_image_free(px);
    /* --scale 1: the images at their own size */
    snprintf(png, sizeof png, "%s/a1.png", tmpdir);
    snprintf(args, sizeof args, "sample %s --seed 11 --batch %d --steps %d --class all --guidance 2 --out %s --scale 1 "
             "--quiet", model, B, steps, png);
    rc = run_cli(args, log, sizeof log);
    px = stbi_load(png, &w, &h, &comp, 0);
    int same1 = px && w == W && h == H;
    for (int k = 0; same1 && k < B; k++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                same1 &= px[((k / cols) * (S + PAD) + PAD + y) * w + (k % cols) * (S + PAD) + PAD + x] ==
                         ddpm_to_u8(cli_x[(k * S + y) * S + x]);
    CHECK(rc == 0 && same1, "--scale 1: %d x %d, the same pixels unscaled (got %d x %d, exit %d)", W, H, w, h, rc);
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

/* The exact words and exit codes of the command line's errors (usage errors: exit 2, the message, then one line
 * naming the command's --help; nothing written). */
#define HINT_SAMPLE "run 'ddpm sample --help' for the options\n"
static void test_messages(void) {
    const char *cond = "tests/data/tiny-cond.f32.safetensors", *uncond = "tests/data/tiny-uncond.f32.safetensors";
    char out[512], args[2048], so[8192], se[8192];
    snprintf(out, sizeof out, "%s/m.png", tmpdir);
    static const struct {
        int uncond;       /* 1: the unconditional tiny model */
        const char *args; /* after "sample MODEL", before "--out OUT --quiet" */
        const char *err;  /* the whole of stderr */
    } cases[] = {
        {0, "--seed 1 --steps 0", "ddpm: --steps must be an integer in 1..1000 (the model's T), got 0\n" HINT_SAMPLE},
        {0, "--seed 1 --steps 100000",
         "ddpm: --steps must be an integer in 1..1000 (the model's T), got 100000\n" HINT_SAMPLE},
        {0, "--seed 1 --steps 1001",
         "ddpm: --steps must be an integer in 1..1000 (the model's T), got 1001\n" HINT_SAMPLE},
        {0, "--seed 1 --steps -5", "ddpm: --steps must be an integer in 1..1000 (the model's T), got -5\n" HINT_SAMPLE},
        {0, "--seed 1 --steps 2.5", "ddpm: --steps must be an integer, got '2.5'\n" HINT_SAMPLE},
        {0, "--seed 1 --steps ten", "ddpm: --steps must be an integer, got 'ten'\n" HINT_SAMPLE},
        {0, "--seed 1 --class 3", "ddpm: --class must be -1 (the null class), 0..2 or 'all', got '3'\n" HINT_SAMPLE},
        {0, "--seed 1 --class -2", "ddpm: --class must be -1 (the null class), 0..2 or 'all', got '-2'\n" HINT_SAMPLE},
        {0, "--seed 1 --class some",
         "ddpm: --class must be -1 (the null class), 0..2 or 'all', got 'some'\n" HINT_SAMPLE},
        {0, "--seed 1 --class -1 --guidance 2",
         "ddpm: --guidance 2 cannot be used with --class -1: the null class is sampled without guidance (give "
         "--class 0..2 or 'all', or no --guidance)\n" HINT_SAMPLE},
        {0, "--seed 1 --guidance 2", "ddpm: --guidance 2 needs --class 0..2 or 'all'\n" HINT_SAMPLE},
        {0, "--seed 1 --class 1 --guidance 101",
         "ddpm: --guidance must be a number in 0..100, got '101'\n" HINT_SAMPLE},
        {1, "--seed 1 --class 0",
         "ddpm: --class needs a class-conditional model; tests/data/tiny-uncond.f32.safetensors is unconditional\n"
         HINT_SAMPLE},
        {1, "--seed 1 --class -1",
         "ddpm: --class needs a class-conditional model; tests/data/tiny-uncond.f32.safetensors is unconditional\n"
         HINT_SAMPLE},
        {1, "--seed 1 --class all",
         "ddpm: --class needs a class-conditional model; tests/data/tiny-uncond.f32.safetensors is unconditional\n"
         HINT_SAMPLE},
        {0, "--seed -3", "ddpm: --seed must be an integer in 0..2^64-1 (18446744073709551615), got '-3'\n" HINT_SAMPLE},
        {0, "--seed 18446744073709551616",
         "ddpm: --seed must be an integer in 0..2^64-1 (18446744073709551615), got '18446744073709551616'\n"
         HINT_SAMPLE},
        {0, "--steps 3", "ddpm: --seed is required (an integer in 0..2^64-1)\n" HINT_SAMPLE},
        {0, "--seed 1 --bogus 3", "ddpm: unknown option '--bogus'\n" HINT_SAMPLE},
        {0, "--seed 1 --scale 0", "ddpm: --scale must be an integer in 1..32, got '0'\n" HINT_SAMPLE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(args, sizeof args, "sample %s %s --out %s --quiet", cases[i].uncond ? uncond : cond, cases[i].args,
                 out);
        const int rc = run_cli2(args, so, sizeof so, se, sizeof se);
        CHECK(rc == 2 && strcmp(se, cases[i].err) == 0 && !so[0] && !exists(out), "usage error, exit 2: %s -> %s",
              cases[i].args, rc == 2 && strcmp(se, cases[i].err) == 0 ? line1(se) : se);
        remove(out);
    }
    /* --out: PNG only, any case of the extension; nothing is written for another name */
    static const char *const not_png[] = {"x.jpg", "x.png.jpg", "x", "x.pn", ".png", "dir/.png"};
    for (size_t i = 0; i < sizeof not_png / sizeof not_png[0]; i++) {
        char want[1024], bad[512];
        snprintf(bad, sizeof bad, "%s/%s", tmpdir, not_png[i]);
        snprintf(args, sizeof args, "sample %s --seed 1 --steps 2 --out %s --quiet", cond, bad);
        snprintf(want, sizeof want,
                 "ddpm: --out must name a .png file (PNG is the only image format written), got '%s'\n" HINT_SAMPLE,
                 bad);
        const int rc = run_cli2(args, so, sizeof so, se, sizeof se);
        CHECK(rc == 2 && strcmp(se, want) == 0 && !exists(bad), "--out %s refused, exit 2, nothing written (%s)",
              not_png[i], strcmp(se, want) == 0 ? line1(se) : se);
    }
    snprintf(out, sizeof out, "%s/UPPER.PNG", tmpdir);
    snprintf(args, sizeof args, "sample %s --seed 1 --steps 2 --out %s --quiet", cond, out);
    int rc = run_cli2(args, so, sizeof so, se, sizeof se);
    CHECK(rc == 0 && exists(out) && !se[0], "--out UPPER.PNG: written (exit %d, \"%.80s\")", rc, se);
    /* the largest seed the command line takes */
    snprintf(out, sizeof out, "%s/maxseed.png", tmpdir);
    snprintf(args, sizeof args, "sample %s --seed 18446744073709551615 --steps 2 --out %s --quiet", cond, out);
    rc = run_cli2(args, so, sizeof so, se, sizeof se);
    CHECK(rc == 0 && exists(out), "--seed 2^64-1 is taken (exit %d)", rc);

    /* the other commands: the hint names each one */
    static const struct {
        const char *args, *err;
    } other[] = {
        {"", "ddpm: no command given\nrun 'ddpm --help' for the commands\n"},
        {"smaple", "ddpm: unknown command 'smaple'\nrun 'ddpm --help' for the commands\n"},
        {"help smaple", "ddpm: unknown command 'smaple'\nrun 'ddpm --help' for the commands\n"},
        {"info", "ddpm: info needs a MODEL\nrun 'ddpm info --help' for the options\n"},
        {"info tests/data/tiny-cond.f32.safetensors --bogus",
         "ddpm: unknown option '--bogus'\nrun 'ddpm info --help' for the options\n"},
        {"convert tests/data/tiny-cond.f32.safetensors --out x.safetensors",
         "ddpm: --dtype is required\nrun 'ddpm convert --help' for the options\n"},
        {"samplers extra", "ddpm: unexpected argument 'extra'\nrun 'ddpm samplers --help' for the usage\n"},
        {"forward tests/data/tiny-cond.f32.safetensors --t 1 --out x.f32",
         "ddpm: --in is required\nrun 'ddpm forward --help' for the options\n"},
        {"sample", "ddpm: sample needs a MODEL\n" HINT_SAMPLE},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        rc = run_cli2(other[i].args, so, sizeof so, se, sizeof se);
        CHECK(rc == 2 && strcmp(se, other[i].err) == 0 && !so[0], "ddpm %s: exit 2, two lines (%d: %s)", other[i].args,
              rc, strcmp(se, other[i].err) == 0 ? line1(se) : se);
    }
    /* --help: the whole usage on stdout, exit 0, nothing on stderr */
    rc = run_cli2("sample --help", so, sizeof so, se, sizeof se);
    int lines = 0;
    for (const char *q = so; *q; q++) lines += *q == '\n';
    CHECK(rc == 0 && !se[0] && strncmp(so, "usage: ddpm sample MODEL --seed S", 33) == 0 && lines > 30 &&
              strstr(so, "default: ceil(112 / S)") && strstr(so, "-1 for the null class") &&
              strstr(so, "0 .. 2^64-1") && strstr(so, "must end in .png"),
          "sample --help: the usage (%d lines) on stdout, exit %d", lines, rc);
    rc = run_cli2("help info", so, sizeof so, se, sizeof se);
    CHECK(rc == 0 && !se[0] && strncmp(so, "usage: ddpm info MODEL", 22) == 0, "help info: exit %d", rc);
}

/* --class -1 is the library's null class: the images of class_label = -1 (ddpm_sample), which are those of a run
 * without --class, bit for bit; and `forward --class -1` = no --class = --class 3 (classes, the null class's row). */
static void test_null_class(void) {
    const char *model = "tests/data/tiny-cond.f32.safetensors";
    enum { B = 3, S = 12, STEPS = 12 };
    char args[2048], log[8192], a[512], b[512];
    snprintf(a, sizeof a, "%s/null.f32", tmpdir);
    snprintf(b, sizeof b, "%s/none.f32", tmpdir);
    snprintf(args, sizeof args, "sample %s --seed 21 --batch %d --steps %d --sampler ddim --class -1 --raw %s --quiet",
             model, B, STEPS, a);
    int rc1 = run_cli(args, log, sizeof log);
    snprintf(args, sizeof args, "sample %s --seed 21 --batch %d --steps %d --sampler ddim --raw %s --quiet", model, B,
             STEPS, b);
    int rc2 = run_cli(args, log, sizeof log);
    size_t na = 0, nb = 0;
    unsigned char *xa = tu_read_file(a, &na), *xb = tu_read_file(b, &nb);
    CHECK(rc1 == 0 && rc2 == 0 && xa && xb && na == sizeof(float) * B * S * S && na == nb && memcmp(xa, xb, na) == 0,
          "--class -1 = no --class, bitwise (exit %d, %d)", rc1, rc2);
    ddpm_model *m;
    ddpm_error err;
    if (xa && na == sizeof(float) * B * S * S && ddpm_model_load_file(model, &m, &err) == DDPM_OK) {
        ddpm_sample_params p = ddpm_sample_default_params();
        p.seed = 21;
        p.batch = B;
        p.steps = STEPS;
        p.sampler = "ddim";
        p.class_label = -1; /* the null class */
        static float ref[B * S * S];
        const ddpm_status st = ddpm_sample(m, &p, ref, NULL, NULL, &err);
        int differs_from_0 = 0;
        static float cls0[B * S * S];
        p.class_label = 0;
        if (ddpm_sample(m, &p, cls0, NULL, NULL, &err) == DDPM_OK) differs_from_0 = memcmp(cls0, ref, sizeof ref) != 0;
        CHECK(st == DDPM_OK && memcmp(ref, xa, sizeof ref) == 0 && differs_from_0,
              "--class -1 = ddpm_sample with class_label -1 (the null class), bitwise; != class 0");
        ddpm_model_free(m);
    }
    free(xa), free(xb);

    /* forward: -1, no --class and the label value classes (3) are the null class */
    char x[512], e[3][512];
    snprintf(x, sizeof x, "%s/fx.f32", tmpdir);
    float xs[2 * S * S];
    tu_fill(xs, 2 * S * S, 9, -1.0f, 1.0f);
    FILE *f = fopen(x, "wb");
    if (f) fwrite(xs, sizeof xs, 1, f), fclose(f);
    const char *cls[3] = {"--class -1", "", "--class 3"};
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        snprintf(e[i], sizeof e[i], "%s/fe%d.f32", tmpdir, i);
        snprintf(args, sizeof args, "forward %s --in %s --t 500 %s --out %s", model, x, cls[i], e[i]);
        ok &= run_cli(args, log, sizeof log) == 0;
    }
    CHECK(ok && same_file(e[0], e[1]) && same_file(e[0], e[2]), "forward --class -1 = no --class = --class 3, bitwise");
    char so[4096], se[4096];
    snprintf(args, sizeof args, "forward %s --in %s --t 500 --class 4 --out %s", model, x, e[0]);
    int rc = run_cli2(args, so, sizeof so, se, sizeof se);
    CHECK(rc == 2 && strcmp(se, "ddpm: --class must be -1 (the null class), 0..2 or 3 (also the null class), got '4'\n"
                                "run 'ddpm forward --help' for the options\n") == 0,
          "forward --class 4: exit %d, %s", rc, line1(se));
}

/* `ddpm info`: metadata values that are JSON pretty-printed below their key (numbers to 4 significant digits), the
 * class names listed beside the classes. The tiny model with metadata added to its header (its tensors as they
 * are). */
static void test_info_metadata(void) {
    size_t n = 0;
    unsigned char *src = tu_read_file("tests/data/tiny-cond.f32.safetensors", &n);
    if (!src || n < 8) {
        CHECK(0, "read tiny-cond.f32.safetensors");
        free(src);
        return;
    }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | src[i];
    const char *key = "\"__metadata__\":{";
    const char *hdr = (const char *)src + 8, *at = NULL;
    for (size_t i = 0; i + strlen(key) <= hl && !at; i++)
        if (memcmp(hdr + i, key, strlen(key)) == 0) at = hdr + i + strlen(key);
    CHECK(at != NULL, "the tiny model's header has __metadata__");
    if (!at) {
        free(src);
        return;
    }
    static const char added[] =
        "\"ddpm.class_names\":\"[\\\"Tee\\\",\\\"Trouser\\\",\\\"Bag\\\"]\","
        "\"ddpm.metrics\":\"{\\\"fd\\\":0.36686734893254425,\\\"n\\\":2700,\\\"per\\\":{\\\"0\\\":0.9481481481481482,"
        "\\\"1\\\":1.0},\\\"list\\\":[1,2.5,\\\"x\\\"],\\\"runs\\\":[{\\\"a\\\":true}],\\\"big\\\":123456.789}\",";
    const size_t pre = (size_t)(at - hdr), body = (size_t)hl - pre;
    size_t nh = pre + strlen(added) + body;
    while (nh % 8) nh++;
    unsigned char *dst = malloc(8 + nh + (n - 8 - (size_t)hl));
    for (int i = 0; i < 8; i++) dst[i] = (unsigned char)((uint64_t)nh >> (8 * i));
    memcpy(dst + 8, hdr, pre);
    memcpy(dst + 8 + pre, added, strlen(added));
    memcpy(dst + 8 + pre + strlen(added), hdr + pre, body);
    memset(dst + 8 + pre + strlen(added) + body, ' ', nh - (pre + strlen(added) + body));
    memcpy(dst + 8 + nh, src + 8 + hl, n - 8 - (size_t)hl);
    char path[512];
    snprintf(path, sizeof path, "%s/meta.safetensors", tmpdir);
    FILE *f = fopen(path, "wb");
    if (f) fwrite(dst, 1, 8 + nh + (n - 8 - (size_t)hl), f), fclose(f);
    free(src), free(dst);

    char args[1024], so[16384], se[4096];
    snprintf(args, sizeof args, "info %s", path);
    const int rc = run_cli2(args, so, sizeof so, se, sizeof se);
    CHECK(rc == 0 && strstr(so, "classes        3 (labels 0..2; -1 = the null class, row 3 of the class table)\n"
                                "class names    0 Tee, 1 Trouser, 2 Bag\n"),
          "info: the class names beside the classes (exit %d, %s)", rc, se);
    CHECK(strstr(so, "  ddpm.class_names = [\"Tee\", \"Trouser\", \"Bag\"]\n") != NULL,
          "info: a JSON list of scalars on one line");
    const char *want = "  ddpm.metrics:\n"
                       "    fd: 0.3669\n"
                       "    n: 2700\n"
                       "    per:\n"
                       "      0: 0.9481\n"
                       "      1: 1\n"
                       "    list: [1, 2.5, \"x\"]\n"
                       "    runs:\n"
                       "      [0]:\n"
                       "        a: true\n"
                       "    big: 1.235e+05\n";
    CHECK(strstr(so, want) != NULL, "info: a JSON object pretty-printed below its key, one member per line%s%s",
          strstr(so, want) ? "" : ":\n", strstr(so, want) ? "" : so);
    /* the shipped conditional model stores its class names */
    if (exists("models/fmnist-cond.i8.safetensors")) {
        const int r2 = run_cli2("info models/fmnist-cond.i8.safetensors", so, sizeof so, se, sizeof se);
        CHECK(r2 == 0 && strstr(so, "\nclass names    0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, "
                                    "6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot\n") &&
                  strstr(so, "\n  ddpm.eval_protocol:\n    sampler: ddpm (ancestral, fixed_small, x0 clipped)\n"),
              "info models/fmnist-cond.i8.safetensors: class names, the eval protocol one key per line");
    }
}

/* Diffusers folders from the command line: info on the folder and on its config.json, convert to I8 and back (the
 * converted file gives the bytes --quantize i8 gives), replay inputs checked, and clear words for files that are not
 * models. */
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

/* --memory-budget: the split shown by info, the same images as without it, a budget too small refused. */
static void test_memory_budget(void) {
    char log[8192], a[600], b[600], args[1600];
    const char *M = "models/fmnist-cond.i8.safetensors";
    int rc = run_cli("info models/fmnist-cond.i8.safetensors --quantize i8 --memory-budget 4", log, sizeof log);
    CHECK(rc == 0 && strstr(log, "memory         4.0 MiB resident: weights 2.4 MiB (3x3 held compactly), Winograd"),
          "info --memory-budget 4: \"%.200s\"", strstr(log, "memory") ? strstr(log, "memory") : log);
    snprintf(a, sizeof a, "%s/budget-a.f32", tmpdir);
    snprintf(b, sizeof b, "%s/budget-b.f32", tmpdir);
    snprintf(args, sizeof args, "sample %s --seed 3 --batch 2 --class 4 --steps 5 --quantize i8 --quiet --raw %s", M, a);
    rc = run_cli(args, log, sizeof log);
    snprintf(args, sizeof args, "sample %s --seed 3 --batch 2 --class 4 --steps 5 --quantize i8 --memory-budget 3.5 "
             "--quiet --raw %s", M, b);
    const int rc2 = run_cli(args, log, sizeof log);
    CHECK(rc == 0 && rc2 == 0 && same_file(a, b), "--memory-budget 3.5: the same images as without a budget (%d, %d)", rc, rc2);
    rc = run_cli("info models/fmnist-cond.i8.safetensors --memory-budget 4", log, sizeof log);
    CHECK(rc == 1 && strstr(log, "the weights need 6498308 bytes (6.2 MiB), more than the memory budget of 4194304 "
                                 "bytes (4.0 MiB) (quantize to F16 or I8"), "float32 over the budget: \"%.200s\"", log);
    rc = run_cli("info models/fmnist-cond.i8.safetensors --memory-budget lots", log, sizeof log);
    CHECK(rc == 2 && strstr(log, "--memory-budget must be a number of MiB in (0, 1048576], got 'lots'"),
          "a bad budget: \"%.200s\"", log);
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
    test_messages();
    test_null_class();
    test_info_metadata();
    test_diffusers();
    test_memory_budget();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tu_finish("test_cli");
}
