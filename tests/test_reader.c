/*
 * ddpm_model_load_reader: a weights file read through a callback is the model ddpm_model_load_buffer builds from the
 * same bytes (the same forward bits, F32 / F16 / I8 files, with quantize and compact); the header is read first,
 * then each tensor once, never more than the largest tensor at a time, and no byte outside the file; a reader that
 * fails at any call gives DDPM_ERR_IO naming the bytes, and nothing stays allocated (ASan); a truncated or non-model
 * file gives the buffer loader's own status and message; ddpm_model_load_file reads the same way.
 */
#include "testutil.h"

typedef struct mem_reader {
    const unsigned char *data;
    size_t size;
    int calls, fail_at;     /* fail_at: the call (1-based) that fails; 0: none */
    size_t max_read, total, out_of_range;
} mem_reader;

static int mem_read(void *user, uint64_t offset, size_t n, void *dst) {
    mem_reader *r = user;
    r->calls++;
    if (r->fail_at && r->calls == r->fail_at) return -1;
    if (offset > r->size || n > r->size - offset) {
        r->out_of_range++;
        return -1;
    }
    memcpy(dst, r->data + offset, n);
    if (n > r->max_read) r->max_read = n;
    r->total += n;
    return 0;
}

static void forward(ddpm_model *m, float *out) {
    const ddpm_model_config *c = ddpm_model_get_config(m);
    static float x[2 * 3 * 32 * 32];
    const float t[2] = {30, 700};
    const int y[2] = {2, 7};
    tu_fill(x, 2 * (size_t)c->in_channels * c->image_size * c->image_size, 3, -1, 1);
    ddpm_model_forward(m, 2, x, t, c->num_classes ? y : NULL, out, NULL);
}

static void same_model(const char *what, const char *path, ddpm_dtype q, int compact) {
    size_t size;
    unsigned char *buf = tu_read_file(path, &size);
    CHECK(buf != NULL, "%s: read %s", what, path);
    if (!buf) return;
    ddpm_load_options o = ddpm_load_default_options();
    o.quantize = q;
    o.compact = compact;
    ddpm_model *a = NULL, *b = NULL;
    ddpm_error err;
    CHECK(ddpm_model_load_buffer_ex(buf, size, &o, &a, &err) == DDPM_OK, "%s: buffer load: %s", what, err.message);
    mem_reader r = {buf, size, 0, 0, 0, 0, 0};
    const ddpm_reader rd = {size, mem_read, &r};
    CHECK(ddpm_model_load_reader(&rd, &o, &b, &err) == DDPM_OK, "%s: reader load: %s", what, err.message);
    if (!a || !b) goto done;
    static float fa[2 * 3 * 32 * 32], fb[2 * 3 * 32 * 32];
    forward(a, fa);
    forward(b, fb);
    const ddpm_model_config *c = ddpm_model_get_config(a);
    const size_t n = 2 * (size_t)c->out_channels * c->image_size * c->image_size;
    CHECK(memcmp(fa, fb, n * sizeof(float)) == 0, "%s: the reader's model = the buffer's, bit for bit", what);
    CHECK(ddpm_model_num_params(a) == ddpm_model_num_params(b) && ddpm_model_num_metadata(a) == ddpm_model_num_metadata(b),
          "%s: the same parameters and metadata", what);
    /* what was read: the header, then each tensor once, one at a time */
    size_t largest = 0, tensor_bytes = 0;
    for (int i = 0; i < ddpm_model_num_tensors(a); i++) {
        ddpm_tensor_info ti;
        ddpm_model_tensor_info(a, i, &ti);
        const size_t es = ti.dtype == DDPM_DTYPE_F32 ? 4 : ti.dtype == DDPM_DTYPE_I8 ? 1 : 2;
        const size_t bytes = ti.num_elements * es;
        tensor_bytes += bytes;
        if (bytes > largest) largest = bytes;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    CHECK(r.out_of_range == 0, "%s: no read outside the file", what);
    CHECK(r.max_read <= (largest > hlen ? largest : hlen), "%s: the largest read (%zu bytes) is one tensor or the header "
          "(largest tensor %zu, header %llu)", what, r.max_read, largest, (unsigned long long)hlen);
    CHECK(r.total <= 16 + hlen + tensor_bytes && r.total >= hlen + tensor_bytes - 0,
          "%s: %zu bytes read for a %zu-byte file: each tensor once (%zu tensor bytes)", what, r.total, size, tensor_bytes);
    CHECK(r.calls == 2 + ddpm_model_num_tensors(a), "%s: %d reads: the first bytes, the header, one per tensor", what,
          r.calls);
    /* a failure at every call: IO, no model, the bytes named */
    const int calls = r.calls;
    int io = 0, named = 0;
    for (int k = 1; k <= calls; k++) {
        mem_reader f = {buf, size, 0, k, 0, 0, 0};
        const ddpm_reader fr = {size, mem_read, &f};
        ddpm_model *m = NULL;
        const ddpm_status st = ddpm_model_load_reader(&fr, &o, &m, &err);
        io += st == DDPM_ERR_IO && m == NULL;
        named += strstr(err.message, "reading bytes [") != NULL && strstr(err.message, "of the weights") != NULL;
        ddpm_model_free(m);
    }
    CHECK(io == calls && named == calls, "%s: a reader failing at any of its %d calls: IO with the bytes named (%d, %d)",
          what, calls, io, named);
done:
    ddpm_model_free(a);
    ddpm_model_free(b);
    free(buf);
}

/* A cut or foreign file: the reader path says what the buffer path says. */
static void same_error(const char *what, const unsigned char *data, size_t size) {
    ddpm_model *a = NULL, *b = NULL;
    ddpm_error ea, eb;
    const ddpm_status sa = ddpm_model_load_buffer(data, size, &a, &ea);
    mem_reader r = {data, size, 0, 0, 0, 0, 0};
    const ddpm_reader rd = {size, mem_read, &r};
    const ddpm_status sb = ddpm_model_load_reader(&rd, NULL, &b, &eb);
    CHECK(sa != DDPM_OK && sa == sb && strcmp(ea.message, eb.message) == 0 && !a && !b && r.out_of_range == 0,
          "%s: %s / %s (\"%s\")", what, ddpm_status_name(sa), ddpm_status_name(sb), eb.message);
}

int main(void) {
    same_model("fmnist-cond I8", "models/fmnist-cond.i8.safetensors", DDPM_DTYPE_F32, 0);
    same_model("fmnist-cond F16", "models/fmnist-cond.f16.safetensors", DDPM_DTYPE_F32, 0);
    same_model("fmnist-cond I8, quantize I8 + compact", "models/fmnist-cond.i8.safetensors", DDPM_DTYPE_I8, 1);
    same_model("tiny-cond F32", "tests/data/tiny-cond.f32.safetensors", DDPM_DTYPE_F16, 0);

    size_t size;
    unsigned char *buf = tu_read_file("models/fmnist-cond.i8.safetensors", &size);
    if (buf) {
        for (size_t cut = 0; cut < 40; cut += 7) same_error("the first bytes only", buf, cut);
        same_error("cut inside the header", buf, 200);
        same_error("cut inside the data", buf, size - 1000);
        free(buf);
    }
    const char *html = "<!doctype html><html><body>Not found</body></html>";
    same_error("an HTML page", (const unsigned char *)html, strlen(html));
    const char *json = "{\"_class_name\": \"UNet2DModel\", \"in_channels\": 3}";
    same_error("a config.json", (const unsigned char *)json, strlen(json));

    ddpm_reader none = {10, NULL, NULL};
    ddpm_model *m = NULL;
    ddpm_error err;
    CHECK(ddpm_model_load_reader(&none, NULL, &m, &err) == DDPM_ERR_INVALID_ARGUMENT && !m, "a reader without read()");
    CHECK(ddpm_model_load_reader(NULL, NULL, &m, &err) == DDPM_ERR_INVALID_ARGUMENT, "no reader");
    CHECK(ddpm_model_load_file("models", &m, &err) == DDPM_ERR_IO && strstr(err.message, "is a folder"),
          "a folder given as a weights file: %s", err.message);
    CHECK(ddpm_model_load_file("models/no-such.safetensors", &m, &err) == DDPM_ERR_IO && strstr(err.message, "cannot open"),
          "a missing file: %s", err.message);
    return tu_finish("test_reader");
}
