/*
 * The U-Net forward pass, block by block over the whole batch (within a block, image by image).
 *
 * Workspace layout (floats), sized by ddpm_unet_workspace_floats():
 *   temb [n, E] | temb_silu [n, E] | scratch_e [n, max(C, E)] | tproj [n, maxc]
 *   skips: conv_in and every encoder output, [n, c, r, r] each, in push order
 *   bufA, bufB, bufCat: [n, maxact] each         (decoder activations and the [h, skip] concat)
 *   t1, t2: [maxact] each                        (one image's temporaries inside a block)
 *   col: [maxcol]                                (one image's im2col matrix)
 *   att1, att2: [maxatt] each                    (one image's q^T / scores / scores^T)
 */
#include "unet/unet.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct sizes {
    size_t maxact, maxcol, maxatt, skips;
    int maxc;
} sizes;

static size_t umax(size_t a, size_t b) { return a > b ? a : b; }

static size_t col_of(const ddpm_conv *c, int ro) {
    ddpm_conv_desc d = {c->cin, c->cout, c->k, c->stride, 0, 0, ro, ro, NULL, NULL};
    return ddpm_conv_col_floats(&d);
}

static void measure(const ddpm_unet *u, sizes *s) {
    memset(s, 0, sizeof *s);
    const int S = u->cfg.image_size;
    s->maxc = u->emb;
    s->maxact = umax((size_t)u->cfg.in_channels * S * S, (size_t)u->cfg.base_channels * S * S);
    s->maxact = umax(s->maxact, (size_t)u->cfg.out_channels * S * S);
    s->maxcol = umax(col_of(&u->conv_in, S), col_of(&u->conv_out, S));
    s->skips = (size_t)u->cfg.base_channels * S * S;
    const ddpm_block *lists[2] = {u->down, u->up};
    const int counts[2] = {u->num_down, u->num_up};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < counts[l]; i++) {
            const ddpm_block *b = &lists[l][i];
            const size_t r2 = (size_t)b->res * b->res;
            int ro = b->res;
            if (b->kind == DDPM_BLOCK_DOWN) ro = (b->res + 1) / 2;
            if (b->kind == DDPM_BLOCK_UP) ro = 2 * b->res;
            const size_t ro2 = (size_t)ro * ro;
            s->maxc = b->cout > s->maxc ? b->cout : s->maxc;
            s->maxact = umax(s->maxact, umax((size_t)b->cin * umax(r2, ro2), (size_t)b->cout * ro2));
            if (b->kind == DDPM_BLOCK_RES || b->kind == DDPM_BLOCK_RESATTN) {
                s->maxcol = umax(s->maxcol, umax(col_of(&b->rb.conv1, ro), col_of(&b->rb.conv2, ro)));
            } else {
                s->maxcol = umax(s->maxcol, col_of(&b->conv, ro));
            }
            if (b->kind == DDPM_BLOCK_RESATTN) {
                s->maxact = umax(s->maxact, 3 * (size_t)b->cout * r2);
                s->maxatt = umax(s->maxatt, umax(r2 * r2, r2 * b->cout));
            }
            if (l == 0) s->skips += (size_t)b->cout * ro2;
        }
    const size_t m2 = (size_t)u->mid_res * u->mid_res;
    const int mc = u->mid1.cout;
    s->maxact = umax(s->maxact, 3 * (size_t)mc * m2);
    s->maxatt = umax(s->maxatt, umax(m2 * m2, m2 * mc));
    s->maxcol = umax(s->maxcol, col_of(&u->mid1.conv1, u->mid_res));
}

size_t ddpm_unet_workspace_floats(const ddpm_unet *u, int n) {
    if (n <= 0) return 0;
    sizes s;
    measure(u, &s);
    const size_t E = (size_t)u->emb, nn = (size_t)n;
    /* per-image part, then times n with overflow checks */
    size_t per = 3 * E + (size_t)s.maxc, total, tmp;
    if (!ddpm__add_size(per, s.skips, &per)) return 0;
    if (!ddpm__mul_size(s.maxact, 3, &tmp) || !ddpm__add_size(per, tmp, &per)) return 0;
    if (!ddpm__mul_size(per, nn, &total)) return 0;
    const size_t fixed = 2 * s.maxact + s.maxcol + 2 * s.maxatt + 64;
    if (!ddpm__add_size(total, fixed, &total)) return 0;
    return total;
}

typedef struct fwd {
    const ddpm_unet *u;
    const ddpm_kernel_table *K;
    int n;
    const float *temb_silu;
    float *tproj, *t1, *t2, *col, *att1, *att2;
    ddpm_trace_fn trace;
    void *trace_user;
} fwd;

static void conv(const fwd *f, const ddpm_conv *c, int r_in, const float *x, float *y) {
    const int ro = c->stride == 2 ? (r_in + 1) / 2 : r_in;
    ddpm_conv_desc d = {c->cin, c->cout, c->k, c->stride, r_in, r_in, ro, ro, c->w, c->b};
    f->K->conv2d(&d, x, y, f->col);
}

/* y: [n, cout, r, r] = ResBlock(x: [n, cin, r, r]); y must not alias x. */
static void resblock(const fwd *f, const ddpm_resblock *rb, int r, const float *x, float *y) {
    const ddpm_kernel_table *K = f->K;
    const int hw = r * r, G = f->u->cfg.groups;
    const size_t in_sz = (size_t)rb->cin * hw, out_sz = (size_t)rb->cout * hw;
    K->linear(f->temb_silu, f->n, f->u->emb, rb->cout, rb->temb_w, rb->temb_b, f->tproj); /* [n, cout] */
    for (int i = 0; i < f->n; i++) {
        const float *xi = x + i * in_sz;
        float *yi = y + i * out_sz;
        K->group_norm(xi, f->t1, rb->cin, hw, G, rb->norm1.gamma, rb->norm1.beta, 1e-5f, 1);
        conv(f, &rb->conv1, r, f->t1, f->t2);
        const float *tp = f->tproj + (size_t)i * rb->cout;
        for (int c = 0; c < rb->cout; c++) {
            float *row = f->t2 + (size_t)c * hw;
            for (int p = 0; p < hw; p++) row[p] += tp[c];
        }
        K->group_norm(f->t2, f->t1, rb->cout, hw, G, rb->norm2.gamma, rb->norm2.beta, 1e-5f, 1);
        conv(f, &rb->conv2, r, f->t1, yi);
        if (rb->has_skip) {
            conv(f, &rb->skip, r, xi, f->t2);
            K->add(f->t2, yi, yi, out_sz);
        } else {
            K->add(xi, yi, yi, out_sz);
        }
    }
}

/* x: [n, c, r, r] += proj(attention(norm(x))), in place. */
static void attention(const fwd *f, const ddpm_attn *a, int r, float *x) {
    const ddpm_kernel_table *K = f->K;
    const int hw = r * r, c = a->c;
    const size_t sz = (size_t)c * hw;
    const float scale = (float)(1.0 / sqrt((double)c));
    for (int i = 0; i < f->n; i++) {
        float *xi = x + i * sz;
        K->group_norm(xi, f->t1, c, hw, f->u->cfg.groups, a->norm.gamma, a->norm.beta, 1e-5f, 0);
        conv(f, &a->qkv, r, f->t1, f->t2); /* [3c, hw]: q | k | v */
        const float *q = f->t2, *k = f->t2 + sz, *v = f->t2 + 2 * sz;
        ddpm_transpose(q, f->att1, c, hw);                                     /* q^T: [hw, c] */
        K->gemm(hw, hw, c, f->att1, c, k, hw, f->att2, hw, NULL);              /* s = q^T k: [hw, hw] */
        K->softmax_rows(f->att2, hw, hw, scale);                               /* over keys */
        ddpm_transpose(f->att2, f->att1, hw, hw);                              /* s^T */
        K->gemm(c, hw, hw, v, hw, f->att1, hw, f->t1, hw, NULL);               /* o = v s^T: [c, hw] */
        conv(f, &a->proj, r, f->t1, f->t2);
        K->add(xi, f->t2, xi, sz);
    }
}

static void emit(const fwd *f, const char *name, const float *data, int c, int h, int w) {
    if (f->trace) f->trace(f->trace_user, name, data, f->n, c, h, w);
}

/* Sinusoidal embedding as training/model.py computes it in float32: freq_k = exp(-ln(1e4) k / (half - 1)). */
static void timestep_embedding(const float *t, int n, int dim, float *out) {
    const int half = dim / 2;
    const float neg_log = (float)-9.210340371976184; /* -ln(10000) */
    for (int k = 0; k < half; k++) {
        const float e = (neg_log * (float)k) / (float)(half - 1);
        const float freq = (float)ddpm_det_exp((double)e);
        for (int i = 0; i < n; i++) {
            const float arg = t[i] * freq;
            double s, c;
            ddpm_det_sincos((double)arg, &s, &c);
            out[(size_t)i * dim + k] = (float)s;
            out[(size_t)i * dim + half + k] = (float)c;
        }
    }
}

void ddpm_unet_forward(const ddpm_unet *u, const ddpm_kernel_table *K, int n, const float *x, const float *t,
                       const int *y, float *out, float *ws, ddpm_trace_fn trace, void *trace_user) {
    sizes s;
    measure(u, &s);
    const int C = u->cfg.base_channels, E = u->emb, S = u->cfg.image_size, G = u->cfg.groups;
    const size_t nn = (size_t)n;
    float *temb = ws;
    float *temb_silu = temb + nn * E;
    float *scratch = temb_silu + nn * E;
    float *tproj = scratch + nn * (size_t)(C > E ? C : E);
    float *skips = tproj + nn * s.maxc;
    float *bufA = skips + nn * s.skips;
    float *bufB = bufA + nn * s.maxact;
    float *bufCat = bufB + nn * s.maxact;
    float *t1 = bufCat + nn * s.maxact;
    float *t2 = t1 + s.maxact;
    float *col = t2 + s.maxact;
    float *att1 = col + s.maxcol;
    float *att2 = att1 + s.maxatt;
    fwd f = {u, K, n, temb_silu, tproj, t1, t2, col, att1, att2, trace, trace_user};

    /* temb: [n, E] = fc2(silu(fc1(sinusoid(t)))) + class_embed[y] */
    timestep_embedding(t, n, C, scratch);
    K->linear(scratch, n, C, E, u->fc1_w, u->fc1_b, temb);
    K->silu(temb, temb, nn * E);
    K->linear(temb, n, E, E, u->fc2_w, u->fc2_b, scratch);
    memcpy(temb, scratch, sizeof(float) * nn * E);
    if (u->class_w) {
        for (int i = 0; i < n; i++) {
            const int label = y ? y[i] : u->cfg.num_classes;
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
    for (int i = 0; i < n; i++) conv(&f, &u->conv_in, S, x + i * in_sz, h + i * c0_sz);
    emit(&f, "conv_in", h, C, S, S);
    slot[ns] = h; chs[ns] = C; ns++;
    float *next = h + nn * c0_sz;
    int ch = C, r = S;
    char name[32];
    for (int b = 0; b < u->num_down; b++) {
        const ddpm_block *blk = &u->down[b];
        if (blk->kind == DDPM_BLOCK_DOWN) {
            const int ro = (r + 1) / 2;
            for (int i = 0; i < n; i++)
                conv(&f, &blk->conv, r, h + i * (size_t)ch * r * r, next + i * (size_t)blk->cout * ro * ro);
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
    }

    /* middle */
    resblock(&f, &u->mid1, r, h, bufA);
    attention(&f, &u->mid_attn, r, bufA);
    resblock(&f, &u->mid2, r, bufA, bufB);
    h = bufB;
    emit(&f, "mid", h, ch, r, r);

    /* decoder: alternate between bufA and bufB */
    for (int b = 0; b < u->num_up; b++) {
        const ddpm_block *blk = &u->up[b];
        float *dst = (h == bufA) ? bufB : bufA;
        if (blk->kind == DDPM_BLOCK_UP) {
            const int ro = 2 * r;
            for (int i = 0; i < n; i++) {
                ddpm_upsample_nearest2x(h + i * (size_t)ch * r * r, t1, ch, r, r);
                ddpm_conv_desc d = {ch, blk->cout, 3, 1, ro, ro, ro, ro, blk->conv.w, blk->conv.b};
                K->conv2d(&d, t1, dst + i * (size_t)blk->cout * ro * ro, col);
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
    }

    /* out = conv_out(silu(norm_out(h))) */
    const size_t out_sz = (size_t)u->cfg.out_channels * S * S;
    for (int i = 0; i < n; i++) {
        K->group_norm(h + i * c0_sz, t1, C, S * S, G, u->norm_out.gamma, u->norm_out.beta, 1e-5f, 1);
        conv(&f, &u->conv_out, S, t1, out + i * out_sz);
    }
    emit(&f, "out", out, u->cfg.out_channels, S, S);
}
