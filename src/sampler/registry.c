/* The process-global sampler registry. Built-ins enter through the same ddpm_sampler_register() as plugins. */
#include "sampler/builtin.h"

#include <stdlib.h>
#include <string.h>

typedef struct entry {
    ddpm_sampler_vtable vt; /* a copy */
    int in_use;             /* runs holding it */
} entry;

static entry *g_entries; /* [g_cap], grown by doubling; never shrunk (a few dozen bytes per sampler) */
static int g_count, g_cap;
static int g_initialized;

static void init_builtins(void) {
    if (g_initialized) return;
    g_initialized = 1;
    for (int i = 0; ddpm_builtin_samplers[i]; i++) ddpm_sampler_register(ddpm_builtin_samplers[i], NULL);
}

static int find_index(const char *name) {
    for (int i = 0; i < g_count; i++)
        if (strcmp(g_entries[i].vt.name, name) == 0) return i;
    return -1;
}

static int valid_name(const char *name) {
    size_t n = 0;
    for (const char *p = name; *p; p++, n++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
    return n > 0 && n <= 32;
}

ddpm_status ddpm_sampler_register(const ddpm_sampler_vtable *vt, ddpm_error *err) {
    init_builtins();
    if (!vt) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "sampler vtable is NULL");
    /* api_version and name sit at the same place in every version of the vtable */
    if (vt->api_version == 1)
        return ddpm__fail(err, DDPM_ERR_VERSION,
                          "sampler %.32s was built for sampler API version 1; version %d passes user_data first "
                          "to create/step/destroy and the context to destroy: update them and set api_version = %d",
                          vt->name ? vt->name : "(unnamed)", DDPM_SAMPLER_API_VERSION, DDPM_SAMPLER_API_VERSION);
    if (vt->api_version != DDPM_SAMPLER_API_VERSION)
        return ddpm__fail(err, DDPM_ERR_VERSION, "sampler built for API version %u; this engine has version %d",
                          (unsigned)vt->api_version, DDPM_SAMPLER_API_VERSION);
    if (!vt->name || !valid_name(vt->name))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "sampler name must be 1-32 characters of [a-z0-9_]");
    if (!vt->step) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "sampler %s has no step function", vt->name);
    if ((vt->create == NULL) != (vt->destroy == NULL))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "sampler %s: create and destroy go together", vt->name);
    if (vt->num_options < 0 || (vt->num_options > 0 && !vt->options))
        return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "sampler %s: options array missing", vt->name);
    for (int i = 0; i < vt->num_options; i++) {
        const ddpm_sampler_option *o = &vt->options[i];
        if (!o->name || o->type < DDPM_OPTION_FLOAT || o->type > DDPM_OPTION_CHOICE ||
            !(o->min_value <= o->default_value && o->default_value <= o->max_value) ||
            (o->type == DDPM_OPTION_CHOICE && !o->choices))
            return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "sampler %s: option %d is malformed", vt->name, i);
    }
    if (find_index(vt->name) >= 0)
        return ddpm__fail(err, DDPM_ERR_EXISTS, "a sampler named %s is already registered", vt->name);
    if (g_count == g_cap) {
        const int cap = g_cap ? 2 * g_cap : 32;
        entry *e = cap < (1 << 20) ? ddpm__realloc(g_entries, sizeof(entry) * (size_t)cap) : NULL;
        if (!e) return ddpm__fail(err, DDPM_ERR_OUT_OF_MEMORY, "out of memory growing the sampler registry");
        g_entries = e;
        g_cap = cap;
    }
    g_entries[g_count].vt = *vt;
    g_entries[g_count].in_use = 0;
    g_count++;
    ddpm__ok(err);
    return DDPM_OK;
}

ddpm_status ddpm_sampler_unregister(const char *name, ddpm_error *err) {
    init_builtins();
    if (!name) return ddpm__fail(err, DDPM_ERR_INVALID_ARGUMENT, "name is NULL");
    int i = find_index(name);
    if (i < 0) return ddpm__fail(err, DDPM_ERR_NOT_FOUND, "no sampler named %s", name);
    if (g_entries[i].in_use)
        return ddpm__fail(err, DDPM_ERR_BUSY, "sampler %s is used by %d run(s)", name, g_entries[i].in_use);
    memmove(&g_entries[i], &g_entries[i + 1], sizeof(entry) * (size_t)(g_count - i - 1));
    g_count--;
    ddpm__ok(err);
    return DDPM_OK;
}

const ddpm_sampler_vtable *ddpm_sampler_find(const char *name) {
    init_builtins();
    if (!name) return NULL;
    int i = find_index(name);
    return i < 0 ? NULL : &g_entries[i].vt;
}

int ddpm_sampler_count(void) {
    init_builtins();
    return g_count;
}

const ddpm_sampler_vtable *ddpm_sampler_at(int i) {
    init_builtins();
    return (i >= 0 && i < g_count) ? &g_entries[i].vt : NULL;
}

int ddpm__sampler_acquire(const char *name, ddpm_sampler_vtable *copy) {
    init_builtins();
    int i = name ? find_index(name) : -1;
    if (i < 0) return 0;
    g_entries[i].in_use++;
    *copy = g_entries[i].vt;
    return 1;
}

/* Entries move when another sampler is unregistered, so runs hold a copy and release by name (an entry in use
 * cannot be unregistered, so the name still finds it). */
void ddpm__sampler_release(const char *name) {
    int i = find_index(name);
    if (i >= 0 && g_entries[i].in_use > 0) g_entries[i].in_use--;
}

double ddpm__abar(const ddpm_schedule *s, int t) {
    return t < 0 ? 1.0 : ddpm_schedule_array_get(s, DDPM_ALPHAS_CUMPROD)[t];
}

double ddpm__option(const ddpm_sampler_context *ctx, const ddpm_sampler_vtable *vt, const char *name) {
    for (int i = 0; i < vt->num_options; i++)
        if (strcmp(vt->options[i].name, name) == 0) return ctx->option_values[i];
    return 0.0;
}
