/*
 * The U-Net forward pass, block by block over the whole batch. Within a block the images go in groups of at most
 * DDPM_FWD_GROUP: each op (GroupNorm, conv, ...) runs over the group before the next op, so that a convolution sees
 * the group's images at once (the Winograd kernel gathers their tiles into the same GEMMs). Every kernel computes
 * each output element independently of the batch and the grouping, so image k of a batch is bitwise image k alone.
 *
 * Workspace layout (floats), sized by ddpm_unet_workspace_floats():
 *   temb [n, E] | temb_silu [n, E] | scratch_e [n, max(C, E)] | tproj [n, maxc]
 *   skips: conv_in and every encoder output, [n, c, r, r] each, in push order
 *   bufA, bufB, bufCat: [n, maxact] each         (decoder activations and the [h, skip] concat)
 *   t1, t2: [g, maxact] each                     (a group's temporaries inside a block; g = min(n, GROUP))
 *   conv: [maxconv(g)]                           (convolution scratch for a group: im2col or Winograd buffers)
 *   att1, att2: [maxatt] each                    (one image's q^T / scores / scores^T)
 *   pre_a, pre_b: [g, maxcin] each               (a group's GroupNorm scale and shift, when fused into the conv)
 *
 * GroupNorm (+ SiLU) before a Winograd convolution is fused into the convolution's input packing when the kernel
 * table supports it (conv_pre): group_norm_coeffs gives the per-channel scale and shift, the conv applies them while
 * it packs its input; the result is bitwise the unfused one, and one pass over the activations is saved.
 */
#include "unet/unet.h"
#include "io/safetensors.h"
#include "nn/winograd.h"
#include "core/par.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#ifndef DDPM_FWD_GROUP
#define DDPM_FWD_GROUP 8
#endif

/* The one size table of the forward pass: every buffer's floats, computed in double (exact: every quantity is an
 * integer far below 2^53), so that a config too large for the workspace limit is refused before any size_t
 * arithmetic could wrap in wasm32; the pointer carving in ddpm_unet_forward reads the same table. */
typedef struct sizes {
    double maxact, maxconv, maxatt, skips;
    double maxwino, maxexpand; /* one conv's Winograd weights (wino_lazy) / expanded 3x3 weights (compact) */
    int maxc, maxcin, group;
} sizes;

static double umax(double a, double b) { return a > b ? a : b; }

static ddpm_conv_desc desc_of(const ddpm_conv *c, int r_in, const float *bias2, ddpm_par *par) {
    const int ro = c->stride == 2 ? (r_in + 1) / 2 : r_in;
    ddpm_conv_desc d = {.cin = c->cin, .cout = c->cout, .k = c->k, .stride = c->stride, .h = r_in, .w = r_in,
                        .ho = ro, .wo = ro, .weight = c->w, .bias = c->b, .wino = c->wino, .bias2 = bias2,
                        .pad_after_only = c->pad_after_only, .par = par};
    return d;
}

/* Floats of convolution scratch for g images, at least ddpm_conv_scratch_floats(), in double: a 3x3 stride-1 conv
 * always runs Winograd under the SIMD table (its weights precomputed or transformed per call, desc_for) and directly
 * under the scalar and precise ones, so it needs Winograd's padded input and chunk buffers (winograd.c); the other
 * convolutions the im2col matrix (kernels_common.c; none for 1x1 stride 1). */
static double scratch_of(const ddpm_conv *c, int r_in, int g, int th) {
    const double ro = c->stride == 2 ? (r_in + 1) / 2 : r_in;
    if (c->k != 3 || c->stride != 1) return (c->k == 1 && c->stride == 1) ? 0.0 : (double)c->cin * c->k * c->k * ro * ro;
    const double side = 4.0 * ((r_in + 3) / 4) + 2, cin4 = (c->cin + 3) / 4 * 4.0;
    const double coutp = (double)((c->cout + DDPM_WINO_NB - 1) / DDPM_WINO_NB * DDPM_WINO_NB);
    return g * cin4 * side * side + th * 36.0 * (DDPM_WINO_CHUNK * (cin4 + coutp) + 2 * DDPM_WINO_PLANE_PAD) + 16;
}

static void max_wino(void *ctx, ddpm_conv *c) { /* the convs without precomputed Winograd weights */
    double *m = ctx;
    if (c->k == 3 && c->stride == 1 && !c->wino) *m = umax(*m, (double)ddpm_wino_weight_floats(c->cin, c->cout));
}

static void max_expand(void *ctx, ddpm_conv *c) {
    double *m = ctx;
    if (c->k == 3) *m = umax(*m, (double)c->cin * c->cout * 9);
}

static void measure(const ddpm_unet *u, int n, int th, sizes *s) {
    memset(s, 0, sizeof *s);
    if (u->wino_lazy) ddpm_unet_each_conv((ddpm_unet *)u, max_wino, &s->maxwino); /* reads the plan only */
    if (u->compact) ddpm_unet_each_conv((ddpm_unet *)u, max_expand, &s->maxexpand);
    const int S = u->cfg.image_size, g = n < DDPM_FWD_GROUP ? n : DDPM_FWD_GROUP;
    s->group = g;
    s->maxc = u->emb;
    const int C0 = u->cfg.arch.level_channels[0];
    s->maxcin = C0;
    s->maxact = umax((size_t)u->cfg.in_channels * S * S, (size_t)C0 * S * S);
    s->maxact = umax(s->maxact, (size_t)u->cfg.out_channels * S * S);
    s->maxconv = umax(scratch_of(&u->conv_in, S, g, th), scratch_of(&u->conv_out, S, g, th));
    s->skips = (size_t)C0 * S * S;
    const ddpm_block *lists[2] = {u->down, u->up};
    const int counts[2] = {u->num_down, u->num_up};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < counts[l]; i++) {
            const ddpm_block *b = &lists[l][i];
            const double r2 = (double)b->res * b->res;
            int ro = b->res;
            if (b->kind == DDPM_BLOCK_DOWN) ro = (b->res + 1) / 2;
            if (b->kind == DDPM_BLOCK_UP) ro = 2 * b->res;
            const double ro2 = (double)ro * ro;
            s->maxc = b->cout > s->maxc ? b->cout : s->maxc;
            s->maxcin = b->cin > s->maxcin ? b->cin : s->maxcin;
            s->maxcin = b->cout > s->maxcin ? b->cout : s->maxcin;
            s->maxact = umax(s->maxact, umax(b->cin * umax(r2, ro2), b->cout * ro2));
            if (b->kind == DDPM_BLOCK_RES || b->kind == DDPM_BLOCK_RESATTN) {
                s->maxconv = umax(s->maxconv, umax(scratch_of(&b->rb.conv1, ro, g, th), scratch_of(&b->rb.conv2, ro, g, th)));
                if (b->rb.has_skip) s->maxconv = umax(s->maxconv, scratch_of(&b->rb.skip, ro, g, th));
            } else {
                s->maxconv = umax(s->maxconv, scratch_of(&b->conv, b->kind == DDPM_BLOCK_UP ? ro : b->res, g, th));
            }
            if (b->kind == DDPM_BLOCK_RESATTN) {
                s->maxact = umax(s->maxact, 3.0 * b->cout * r2);
                s->maxatt = umax(s->maxatt, umax(r2 * r2, r2 * b->cout));
            }
            if (l == 0) s->skips += b->cout * ro2;
        }
    const double m2 = (double)u->mid_res * u->mid_res;
    const int mc = u->mid1.cout;
    s->maxact = umax(s->maxact, 3.0 * mc * m2);
    s->maxatt = umax(s->maxatt, umax(m2 * m2, m2 * mc));
    s->maxcin = mc > s->maxcin ? mc : s->maxcin;
    s->maxconv = umax(s->maxconv, umax(scratch_of(&u->mid1.conv1, u->mid_res, g, th),
                                       scratch_of(&u->mid1.conv2, u->mid_res, g, th)));
    s->maxconv = umax(s->maxconv, umax(scratch_of(&u->mid2.conv1, u->mid_res, g, th),
                                       scratch_of(&u->mid2.conv2, u->mid_res, g, th)));
}

/* Total floats of the layout at the top of this file, in double. */
static double workspace_total(const ddpm_unet *u, int n, const sizes *s) {
    const double E = u->emb;
    const double per = 3 * E + s->maxc + s->skips + 3 * s->maxact;
    return n * per + 2.0 * s->group * s->maxact + s->maxconv + 2 * s->maxatt + 64 + 2.0 * s->group * s->maxcin +
           s->maxwino + s->maxexpand;
}

size_t ddpm_unet_workspace_floats(const ddpm_unet *u, int n, int threads) {
    if (n <= 0) return 0;
    sizes s;
    measure(u, n, threads, &s);
    const double total = workspace_total(u, n, &s);
    if (total * sizeof(float) > (double)DDPM_MAX_WORKSPACE_BYTES) return 0;
    return (size_t)total;
}

typedef struct fwd {
    const ddpm_unet *u;
    const ddpm_kernel_table *K;
    int n, group;
    const float *temb_silu;
    float *tproj, *t1, *t2, *scratch, *att1, *att2, *pre_a, *pre_b, *wino_tmp, *wexp;
    ddpm_par *par; /* threads for the convolutions and attention (NULL: one) */
    ddpm_trace_fn trace;
    void *trace_user;
} fwd;

/* The conv's descriptor; for a wino_lazy model's 3x3 stride-1 conv under a table that runs Winograd (conv_pre),
 * its Winograd weights are computed here into f->wino_tmp, the same values a precomputed arena would hold. */
static ddpm_conv_desc desc_for(const fwd *f, const ddpm_conv *c, int r_in, const float *bias2) {
    ddpm_conv_desc d = desc_of(c, r_in, bias2, f->par);
    if (!c->w) { /* compacted: the float32 values the loader's rounding gives, into f->wexp */
        ddpm_unet_conv_expand(c, f->wexp);
        d.weight = f->wexp;
    }
    if (!d.wino && f->u->wino_lazy && f->K->conv_pre && c->k == 3 && c->stride == 1) {
        ddpm_wino_transform_weights(c->cin, c->cout, d.weight, f->wino_tmp);
        d.wino = f->wino_tmp;
    }
    return d;
}

/* y: [gn, cout, ro, ro] = conv(x: [gn, cin, r_in, r_in]) (+ bias2: [gn, cout]) */
static void conv(const fwd *f, const ddpm_conv *c, int r_in, int gn, const float *x, float *y, const float *bias2) {
    ddpm_conv_desc d = desc_for(f, c, r_in, bias2);
    f->K->conv2d(&d, gn, x, y, f->scratch);
}

/* x[0..n) /= d (diffusers' output_scale_factor; a division, as PyTorch does it). */
static void divide(float *x, size_t n, float d) {
    for (size_t i = 0; i < n; i++) x[i] = x[i] / d;
}

/* GroupNorm of one image split by groups across the threads: every group's statistics are computed by one task,
 * alone, as the whole call computes them, so any split gives the same bits. scale: group_norm_coeffs into
 * scale / shift; else group_norm into y. */
typedef struct gn_job {
    const ddpm_kernel_table *K;
    const ddpm_norm *nm;
    const float *x;
    float *y, *scale, *shift;
    int c, hw, groups, silu;
    float eps;
} gn_job;

static void gn_task(void *arg, int lo, int hi, int part) {
    const gn_job *j = arg;
    const int cg = j->c / j->groups, c0 = lo * cg, nc = (hi - lo) * cg;
    const size_t off = (size_t)c0 * j->hw;
    if (j->scale)
        j->K->group_norm_coeffs(j->x + off, nc, j->hw, hi - lo, j->nm->gamma + c0, j->nm->beta + c0, j->eps,
                                j->scale + c0, j->shift + c0);
    else
        j->K->group_norm(j->x + off, j->y + off, nc, j->hw, hi - lo, j->nm->gamma + c0, j->nm->beta + c0, j->eps,
                         j->silu);
}

static void group_norm_par(const fwd *f, const ddpm_norm *nm, const float *x, float *y, int c, int hw, int groups,
                           int silu, float *scale, float *shift) {
    gn_job j = {.K = f->K, .nm = nm, .x = x, .y = y, .scale = scale, .shift = shift, .c = c, .hw = hw,
                .groups = groups, .silu = silu, .eps = f->u->cfg.arch.norm_eps};
    ddpm__par_for(ddpm__par_if(f->par, 8.0 * c * hw), groups, gn_task, &j);
}

/* y = conv(silu(GroupNorm(x))) over a group of gn images: fused into the conv when the table supports it, else
 * group_norm into tmp, then the conv. */
static void norm_conv(const fwd *f, const ddpm_norm *nm, const ddpm_conv *c, int r, int gn, const float *x, float *tmp,
                      float *y, const float *bias2) {
    const ddpm_kernel_table *K = f->K;
    const int hw = r * r, G = f->u->cfg.groups;
    const size_t in_sz = (size_t)c->cin * hw;
    ddpm_conv_desc d = desc_for(f, c, r, bias2);
    if (K->conv_pre && d.wino && c->k == 3 && c->stride == 1) {
        for (int i = 0; i < gn; i++)
            group_norm_par(f, nm, x + i * in_sz, NULL, c->cin, hw, G, 0, f->pre_a + (size_t)i * c->cin,
                           f->pre_b + (size_t)i * c->cin);
        d.pre_scale = f->pre_a;
        d.pre_shift = f->pre_b;
        d.pre_silu = 1;
        K->conv2d(&d, gn, x, y, f->scratch);
        return;
    }
    for (int i = 0; i < gn; i++) group_norm_par(f, nm, x + i * in_sz, tmp + i * in_sz, c->cin, hw, G, 1, NULL, NULL);
    conv(f, c, r, gn, tmp, y, bias2);
}

/* y: [n, cout, r, r] = ResBlock(x: [n, cin, r, r]); y must not alias x. */
static void resblock(const fwd *f, const ddpm_resblock *rb, int r, const float *x, float *y) {
    const ddpm_kernel_table *K = f->K;
    const int hw = r * r;
    const size_t in_sz = (size_t)rb->cin * hw, out_sz = (size_t)rb->cout * hw;
    K->linear(f->temb_silu, f->n, f->u->emb, rb->cout, rb->temb_w, rb->temb_b, f->tproj); /* [n, cout] */
    for (int g0 = 0; g0 < f->n; g0 += f->group) {
        const int gn = f->n - g0 < f->group ? f->n - g0 : f->group;
        const float *xg = x + g0 * in_sz;
        float *yg = y + g0 * out_sz;
        norm_conv(f, &rb->norm1, &rb->conv1, r, gn, xg, f->t1, f->t2, f->tproj + (size_t)g0 * rb->cout); /* + temb */
        norm_conv(f, &rb->norm2, &rb->conv2, r, gn, f->t2, f->t1, yg, NULL);
        if (rb->has_skip) {
            conv(f, &rb->skip, r, gn, xg, f->t2, NULL);
            K->add(f->t2, yg, yg, gn * out_sz);
        } else {
            K->add(xg, yg, yg, gn * out_sz);
        }
        if (rb->out_scale != 1.0f) divide(yg, gn * out_sz, rb->out_scale);
    }
}

/* One head's attention split into row blocks, one task each (core/par.h): every element of s, its softmax and o is
 * computed by the same operations whatever the blocks, so the thread count never shows. */
typedef struct att_job {
    const ddpm_kernel_table *K;
    int hw, d, rows, vrows; /* rows of s, of o per task */
    float scale;
    const float *q, *k, *v;
    float *qt, *s, *o; /* qt: q^T [hw, d] | s: [hw, hw], then s^T in qt's place | o: [d, hw] */
} att_job;

static int blocks(int n, int rows) { return (n + rows - 1) / rows; }

static void qt_task(void *arg, int lo, int hi, int part) { /* rows r0:r1 of q^T */
    const att_job *j = arg;
    ddpm_transpose_rows(j->q, j->qt, j->d, j->hw, lo * j->rows, hi * j->rows);
}

static void scores_task(void *arg, int lo, int hi, int part) { /* s[r0:r1] = softmax(scale q^T[r0:r1] k) */
    const att_job *j = arg;
    const int r0 = lo * j->rows, nr = (j->hw < hi * j->rows ? j->hw : hi * j->rows) - r0;
    j->K->gemm(nr, j->hw, j->d, j->qt + (size_t)r0 * j->d, j->d, j->k, j->hw, j->s + (size_t)r0 * j->hw, j->hw, NULL);
    j->K->softmax_rows(j->s + (size_t)r0 * j->hw, nr, j->hw, j->scale);
}

static void transpose_task(void *arg, int lo, int hi, int part) { /* rows r0:r1 of s^T (into qt) */
    const att_job *j = arg;
    ddpm_transpose_rows(j->s, j->qt, j->hw, j->hw, lo * j->rows, hi * j->rows);
}

static void values_task(void *arg, int lo, int hi, int part) { /* o[r0:r1] = v[r0:r1] s^T */
    const att_job *j = arg;
    const int r0 = lo * j->vrows, nr = (j->d < hi * j->vrows ? j->d : hi * j->vrows) - r0;
    j->K->gemm(nr, j->hw, j->hw, j->v + (size_t)r0 * j->hw, j->hw, j->qt, j->hw, j->o + (size_t)r0 * j->hw, j->hw,
               NULL);
}

/* x: [n, c, r, r] = (x + proj(attention(norm(x)))) / out_scale, in place. With H heads of d = c / H channels, head
 * h attends with channels [h d, (h + 1) d) of q, k and v, and its output fills the same channels of o. */
static void attention(const fwd *f, const ddpm_attn *a, int r, float *x) {
    const ddpm_kernel_table *K = f->K;
    const int hw = r * r, c = a->c, H = a->heads, d = c / H;
    const size_t sz = (size_t)c * hw, hsz = (size_t)d * hw;
    /* tasks of 4 rows (the GEMM's register block), when the work pays for threads (the same bits either way) */
    ddpm_par *par = ddpm__par_if(f->par, 2.0 * hw * hw * d);
    att_job j = {.K = K, .hw = hw, .d = d, .scale = (float)(1.0 / sqrt((double)d)), .qt = f->att1, .s = f->att2,
                 .rows = 4, .vrows = 4};
    for (int i = 0; i < f->n; i++) {
        float *xi = x + i * sz;
        group_norm_par(f, &a->norm, xi, f->t1, c, hw, f->u->cfg.arch.attn_groups, 0, NULL, NULL);
        conv(f, &a->qkv, r, 1, f->t1, f->t2, NULL); /* [3c, hw]: q | k | v */
        for (int h = 0; h < H; h++) {
            j.q = f->t2 + h * hsz;
            j.k = f->t2 + sz + h * hsz;
            j.v = f->t2 + 2 * sz + h * hsz;
            j.o = f->t1 + h * hsz;
            ddpm__par_for(par, blocks(hw, j.rows), qt_task, &j);          /* q^T: [hw, d] */
            ddpm__par_for(par, blocks(hw, j.rows), scores_task, &j);      /* s = softmax(q^T k): [hw, hw] */
            ddpm__par_for(par, blocks(hw, j.rows), transpose_task, &j);   /* s^T */
            ddpm__par_for(par, blocks(d, j.vrows), values_task, &j);      /* o_h = v_h s^T: [d, hw] */
        }
        conv(f, &a->proj, r, 1, f->t1, f->t2, NULL);
        K->add(xi, f->t2, xi, sz);
        if (a->out_scale != 1.0f) divide(xi, sz, a->out_scale);
    }
}

static void emit(const fwd *f, const char *name, const float *data, int c, int h, int w) {
    if (f->trace) f->trace(f->trace_user, name, data, f->n, c, h, w);
}

/* Sinusoidal embedding as training/model.py and diffusers compute it in float32:
 * freq_k = exp(-ln(1e4) k / (half - shift)), out = [sin(t freq) | cos(t freq)], or [cos | sin] when flip. */
static void timestep_embedding(const float *t, int n, int dim, int shift, int flip, float *out) {
    const int half = dim / 2;
    const float neg_log = (float)-9.210340371976184; /* -ln(10000) */
    const size_t so = flip ? (size_t)half : 0, co = flip ? 0 : (size_t)half;
    for (int k = 0; k < half; k++) {
        const float e = (neg_log * (float)k) / (float)(half - shift);
        const float freq = (float)ddpm_det_exp((double)e);
        for (int i = 0; i < n; i++) {
            const float arg = t[i] * freq;
            double s, c;
            ddpm_det_sincos((double)arg, &s, &c);
            out[(size_t)i * dim + so + k] = (float)s;
            out[(size_t)i * dim + co + k] = (float)c;
        }
    }
}

/* DeepCache (Ma et al. 2024) over this U-Net: the first up block of level 0, whose input (the deep branch's output,
 * [ch, S, S] per image) is what a cached pass reuses; -1 without a level below the top. */
static int cache_block(const ddpm_unet *u) {
    for (int b = 1; b < u->num_up; b++)
        if (u->up[b].level == 0) return b;
    return -1;
}

size_t ddpm_unet_cache_floats(const ddpm_unet *u) {
    const int b = cache_block(u);
    return b < 0 ? 0 : (size_t)u->up[b - 1].cout * u->cfg.image_size * u->cfg.image_size;
}

void ddpm_unet_forward(const ddpm_unet *u, const ddpm_kernel_table *K, int n, const float *x, const float *t,
                       const int *y, float *out, float *ws, ddpm_par *par, float *cache, int cache_mode,
                       ddpm_trace_fn trace, void *trace_user) {
    sizes s;
    measure(u, n, ddpm__par_threads(par), &s);
    const ddpm_unet_arch *a = &u->cfg.arch;
    const int C = a->level_channels[0], E = u->emb, S = u->cfg.image_size, GR = s.group;
    const size_t nn = (size_t)n;
    float *temb = ws;
    float *temb_silu = temb + nn * E;
    float *scratch = temb_silu + nn * E;
    float *tproj = scratch + nn * (size_t)(C > E ? C : E);
    const size_t maxact = (size_t)s.maxact, maxatt = (size_t)s.maxatt;
    float *skips = tproj + nn * s.maxc;
    float *bufA = skips + nn * (size_t)s.skips;
    float *bufB = bufA + nn * maxact;
    float *bufCat = bufB + nn * maxact;
    float *t1 = bufCat + nn * maxact;
    float *t2 = t1 + (size_t)GR * maxact;
    float *cs = t2 + (size_t)GR * maxact;
    float *att1 = cs + (size_t)s.maxconv;
    float *att2 = att1 + maxatt;
    float *pre_a = att2 + maxatt, *pre_b = pre_a + (size_t)GR * s.maxcin;
    float *wino_tmp = pre_b + (size_t)GR * s.maxcin, *wexp = wino_tmp + (size_t)s.maxwino;
    fwd f = {u, K, n, GR, temb_silu, tproj, t1, t2, cs, att1, att2, pre_a, pre_b, wino_tmp, wexp, par, trace,
             trace_user};

    /* temb: [n, E] = fc2(silu(fc1(sinusoid(t)))) + class_embed[y] */
    timestep_embedding(t, n, C, a->freq_shift, a->flip_sin_to_cos, scratch);
    emit(&f, "time_proj", scratch, C, 1, 1);
    K->linear(scratch, n, C, E, u->fc1_w, u->fc1_b, temb);
    K->silu(temb, temb, nn * E);
    K->linear(temb, n, E, E, u->fc2_w, u->fc2_b, scratch);
    memcpy(temb, scratch, sizeof(float) * nn * E);
    if (u->class_w) {
        for (int i = 0; i < n; i++) {
            const int label = y ? y[i] : u->cfg.num_classes; /* NULL only with a null class (checked) */
            K->add(temb + (size_t)i * E, u->class_w + (size_t)label * E, temb + (size_t)i * E, E);
        }
    }
    emit(&f, "temb", temb, E, 1, 1);
    K->silu(temb, temb_silu, nn * E);

    /* encoder: every output lands in its own skip slot */
    float *slot[DDPM_MAX_BLOCKS + 1];
    int chs[DDPM_MAX_BLOCKS + 1], ns = 0;
    float *h = skips;
    const size_t in_sz = (size_t)u->cfg.in_channels * S * S, c0_sz = (size_t)C * S * S;
    if (a->center_input) { /* x -> 2x - 1 (diffusers' center_input_sample), into the decoder buffer first */
        for (size_t j = 0; j < nn * in_sz; j++) bufA[j] = 2.0f * x[j] - 1.0f;
        x = bufA;
    }
    for (int g0 = 0; g0 < n; g0 += GR)
        conv(&f, &u->conv_in, S, n - g0 < GR ? n - g0 : GR, x + g0 * in_sz, h + g0 * c0_sz, NULL);
    emit(&f, "conv_in", h, C, S, S);
    slot[ns] = h; chs[ns] = C; ns++;
    float *next = h + nn * c0_sz;
    int ch = C, r = S;
    char name[32];
    const int reuse = cache && cache_mode == DDPM_CACHE_REUSE, b0 = cache ? cache_block(u) : -1;
    for (int b = 0; b < u->num_down; b++) {
        const ddpm_block *blk = &u->down[b];
        if (reuse && blk->kind == DDPM_BLOCK_DOWN) break; /* the shallow branch: level 0's skips only */
        if (blk->kind == DDPM_BLOCK_DOWN) {
            const int ro = (r + 1) / 2;
            const size_t isz = (size_t)ch * r * r, osz = (size_t)blk->cout * ro * ro;
            for (int g0 = 0; g0 < n; g0 += GR)
                conv(&f, &blk->conv, r, n - g0 < GR ? n - g0 : GR, h + g0 * isz, next + g0 * osz, NULL);
            r = ro;
        } else {
            resblock(&f, &blk->rb, r, h, next);
            if (blk->kind == DDPM_BLOCK_RESATTN) attention(&f, &blk->attn, r, next);
        }
        ch = blk->cout;
        h = next;
        next += nn * (size_t)ch * r * r;
        slot[ns] = h; chs[ns] = ch; ns++;
        snprintf(name, sizeof name, "down.%d", b);
        emit(&f, name, h, ch, r, r);
        if (b + 1 == u->num_down || u->down[b + 1].level != blk->level) { /* a level's last block */
            snprintf(name, sizeof name, "down_blocks.%d", blk->level);
            emit(&f, name, h, ch, r, r);
        }
    }

    int first_up = 0;
    if (reuse) { /* the deep branch's output from the cache: [n, ch, S, S] */
        first_up = b0;
        ch = u->up[b0 - 1].cout;
        r = S;
        memcpy(bufB, cache, sizeof(float) * nn * ddpm_unet_cache_floats(u));
        h = bufB;
    } else {
        /* middle */
        resblock(&f, &u->mid1, r, h, bufA);
        if (a->mid_attention) attention(&f, &u->mid_attn, r, bufA);
        resblock(&f, &u->mid2, r, bufA, bufB);
        h = bufB;
        emit(&f, "mid", h, ch, r, r);
    }

    /* decoder: alternate between bufA and bufB */
    for (int b = first_up; b < u->num_up; b++) {
        const ddpm_block *blk = &u->up[b];
        float *dst = (h == bufA) ? bufB : bufA;
        if (b == b0 && cache_mode == DDPM_CACHE_STORE)
            memcpy(cache, h, sizeof(float) * nn * ddpm_unet_cache_floats(u));
        if (blk->kind == DDPM_BLOCK_UP) {
            const int ro = 2 * r;
            const size_t isz = (size_t)ch * r * r, usz = (size_t)ch * ro * ro, osz = (size_t)blk->cout * ro * ro;
            for (int g0 = 0; g0 < n; g0 += GR) {
                const int gn = n - g0 < GR ? n - g0 : GR;
                for (int i = 0; i < gn; i++) ddpm_upsample_nearest2x(h + (g0 + i) * isz, t1 + i * usz, ch, r, r);
                conv(&f, &blk->conv, ro, gn, t1, dst + g0 * osz, NULL);
            }
            r = ro;
        } else {
            /* [h, skip] along channels, per image */
            ns--;
            const int sc = chs[ns];
            const size_t hsz = (size_t)ch * r * r, ssz = (size_t)sc * r * r;
            for (int i = 0; i < n; i++) {
                memcpy(bufCat + i * (hsz + ssz), h + i * hsz, sizeof(float) * hsz);
                memcpy(bufCat + i * (hsz + ssz) + hsz, slot[ns] + i * ssz, sizeof(float) * ssz);
            }
            resblock(&f, &blk->rb, r, bufCat, dst);
            if (blk->kind == DDPM_BLOCK_RESATTN) attention(&f, &blk->attn, r, dst);
        }
        ch = blk->cout;
        h = dst;
        snprintf(name, sizeof name, "up.%d", b);
        emit(&f, name, h, ch, r, r);
        if (b + 1 == u->num_up || u->up[b + 1].level != blk->level) {
            snprintf(name, sizeof name, "up_blocks.%d", u->cfg.num_levels - 1 - blk->level);
            emit(&f, name, h, ch, r, r);
        }
    }

    /* out = conv_out(silu(norm_out(h))) */
    const size_t out_sz = (size_t)u->cfg.out_channels * S * S;
    for (int g0 = 0; g0 < n; g0 += GR) {
        const int gn = n - g0 < GR ? n - g0 : GR;
        norm_conv(&f, &u->norm_out, &u->conv_out, S, gn, h + g0 * c0_sz, t1, out + g0 * out_sz, NULL);
    }
    emit(&f, "out", out, u->cfg.out_channels, S, S);
}
