"""Float64 reference values for the C tests of schedules, Gaussian operations and the Philox RNG.

    /usr/bin/python3 training/ref_gaussian.py            # prints a summary, writes tests/data/gaussian_ref.h

Written from the papers and the DDPM reference code's formulas, independently of src/ (nothing here reads the C):
  - schedule arrays from training/schedule.py's betas, then numpy float64 as in Ho et al.'s diffusion_utils_2.py
  - the reverse step without clipping from Ho et al. eq. 11, mu = (x_t - beta_t / sqrt(1 - abar_t) eps) / sqrt(alpha_t),
    and with clipping from the posterior q(x_{t-1} | x_t, x0^) (eq. 6-7)
  - the discretized decoder likelihood with the normal cdf from mpmath at 60 digits (the C code uses erfc in double)
  - Philox-4x32-10 in Python integers, checked against Random123's known-answer vectors, and Box-Muller with math.log,
    math.cos, math.sin (libm) where the C code uses its own deterministic routines.
All float32 inputs are generated here, rounded to float32 and written to the header as exact doubles, so the C tests
feed the very same values.
"""

import math
import os
import sys

import mpmath
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schedule  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_PATH = os.path.join(ROOT, "tests", "data", "gaussian_ref.h")

# ----------------------------------------------------------------------------------------------------------------
# Philox-4x32-10 (Salmon et al. 2011)
# ----------------------------------------------------------------------------------------------------------------
M32 = 0xFFFFFFFF


def philox(counter, key):
    c = list(counter)
    k0, k1 = key
    for r in range(10):
        if r:
            k0 = (k0 + 0x9E3779B9) & M32
            k1 = (k1 + 0xBB67AE85) & M32
        p0 = 0xD2511F53 * c[0]
        p1 = 0xCD9E8D57 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c[3] ^ k1) & M32, p0 & M32]
    return c


KAT = [  # Random123 kat_vectors, philox4x32 10 rounds: counter, key, expected
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([M32] * 4, [M32, M32], [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]
for ctr, key, want in KAT:
    assert philox(ctr, key) == want, (ctr, key, [hex(v) for v in philox(ctr, key)])


def stream_words(seed, image, step, purpose, nwords):
    words = []
    b = 0
    while len(words) < nwords:
        words += philox([b, image, step, purpose], [seed & M32, seed >> 32])
        b += 1
    return words[:nwords]


def rng_normal(seed, image, step, purpose, n):
    w = stream_words(seed, image, step, purpose, ((n + 3) // 4) * 4)
    out = []
    for j in range(0, len(w), 2):
        u = (w[j] + 1) / 2.0**32
        phi = 2 * math.pi * w[j + 1] / 2.0**32
        rho = math.sqrt(-2 * math.log(u))
        out += [rho * math.cos(phi), rho * math.sin(phi)]
    return out[:n]


def rng_uniform(seed, image, step, purpose, n):
    return [(r + 1) / 2.0**32 for r in stream_words(seed, image, step, purpose, n)]


RNG_STREAMS = [  # (seed, image, step, purpose)
    (42, 3, 7, 1),
    (0x0123456789ABCDEF, 0, 999, 0),
]
RNG_N = 16
HASH_STREAM = (0x0123456789ABCDEF, 7, 11, 1)  # (seed, image, step, purpose)
HASH_N = 4096


def fnv1a_float32(values):
    """FNV-1a 64 over the little-endian bytes of the values rounded to float32."""
    h = 0xCBF29CE484222325
    for w in np.asarray(values, dtype=np.float32).view(np.uint32):
        for b in range(4):
            h ^= (int(w) >> (8 * b)) & 0xFF
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h

# ----------------------------------------------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------------------------------------------
ARRAY_NAMES = ["betas", "alphas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod",
               "sqrt_one_minus_alphas_cumprod", "posterior_variance", "posterior_log_variance_clipped",
               "posterior_mean_coef1", "posterior_mean_coef2"]


def sched_arrays(kind, T, beta_start, beta_end, rescale):
    b = schedule.betas(kind, T, beta_start, beta_end, rescale)
    a = 1.0 - b
    ab = np.cumprod(a)
    abp = np.append(1.0, ab[:-1])
    with np.errstate(divide="ignore"):
        pv = b * (1.0 - abp) / (1.0 - ab)
        plv = np.log(np.append(pv[1], pv[1:]))
    return dict(
        betas=b, alphas=a, alphas_cumprod=ab, alphas_cumprod_prev=abp, sqrt_alphas_cumprod=np.sqrt(ab),
        sqrt_one_minus_alphas_cumprod=np.sqrt(1.0 - ab), posterior_variance=pv, posterior_log_variance_clipped=plv,
        posterior_mean_coef1=b * np.sqrt(abp) / (1.0 - ab), posterior_mean_coef2=(1.0 - abp) * np.sqrt(a) / (1.0 - ab))


# (name, kind enum value, T, beta_start, beta_end, rescale)
SCHEDULES = [
    ("linear", 0, 1000, 1e-4, 0.02, 0),
    ("scaled_linear", 1, 1000, 0.00085, 0.012, 0),
    ("cosine", 2, 1000, 1e-4, 0.02, 0),
    ("sigmoid", 3, 1000, 1e-4, 0.02, 0),
    ("linear_zsnr", 0, 1000, 1e-4, 0.02, 1),
    ("cosine_t50", 2, 50, 1e-4, 0.02, 0),
]
SCHED_IDX = [0, 1, 2, 499, 998, 999]
KIND_NAMES = {0: "linear", 1: "scaled_linear", 2: "cosine", 3: "sigmoid"}


def sched_table():
    rows = []
    for name, kind, T, bs, be, rs in SCHEDULES:
        arr = sched_arrays(KIND_NAMES[kind], T, bs, be, bool(rs))
        idx = [min(i, T - 1) for i in SCHED_IDX]
        rows.append((name, kind, T, bs, be, rs, idx, [[float(arr[k][i]) for i in idx] for k in ARRAY_NAMES]))
    return rows


# ----------------------------------------------------------------------------------------------------------------
# Gaussian operations (linear schedule, T = 1000), on float32 inputs
# ----------------------------------------------------------------------------------------------------------------
N = 8
gen = np.random.default_rng(20200619)  # any fixed seed


def f32(v):
    return np.asarray(v, dtype=np.float32).astype(np.float64)


X0 = f32(np.clip(gen.normal(0.0, 0.6, N), -1, 1))
EPS = f32(gen.normal(0.0, 1.0, N))
XT = f32(gen.normal(0.0, 1.0, N))
OUT = f32(gen.normal(0.0, 1.0, N))  # a model output
NOISE = f32(gen.normal(0.0, 1.0, N))
M1 = f32(gen.normal(0.0, 0.5, N))
LV1 = f32(gen.uniform(-3.0, 1.0, N))
M2 = f32(gen.normal(0.0, 0.5, N))
LV2 = f32(gen.uniform(-3.0, 1.0, N))

LIN = sched_arrays("linear", 1000, 1e-4, 0.02, False)
SA, S1MA = LIN["sqrt_alphas_cumprod"], LIN["sqrt_one_minus_alphas_cumprod"]
T_Q = [0, 10, 500, 999]  # q_sample timesteps
T_CONV = 300  # conversions / split_prediction


def x0_from(pred, t, x, out):
    if pred == 0:
        return (x - S1MA[t] * out) / SA[t]
    if pred == 1:
        return out.copy()
    return SA[t] * x - S1MA[t] * out


def eps_from(pred, t, x, out):
    if pred == 0:
        return out.copy()
    if pred == 1:
        return (x - SA[t] * out) / S1MA[t]
    return SA[t] * out + S1MA[t] * x


def p_step_ref(pred, var, clip, t, x, out, noise):
    b, ab, abp = LIN["betas"][t], LIN["alphas_cumprod"][t], LIN["alphas_cumprod_prev"][t]
    x0 = x0_from(pred, t, x, out)
    if clip:
        x0 = np.clip(x0, -1.0, 1.0)
    if pred == 0 and not clip:  # Ho et al. eq. 11
        mean = (x - b / math.sqrt(1.0 - ab) * out) / math.sqrt(1.0 - b)
    else:  # posterior mean of q(x_{t-1} | x_t, x0^), eq. 7
        mean = (math.sqrt(abp) * b / (1.0 - ab)) * x0 + (math.sqrt(1.0 - b) * (1.0 - abp) / (1.0 - ab)) * x
    if t == 0:
        return mean, x0
    if var == 0:
        sigma2 = b * (1.0 - abp) / (1.0 - ab)
    else:
        sigma2 = b
    return mean + math.sqrt(sigma2) * noise, x0


# (pred, var, clip, t)
P_CASES = [(0, 0, 0, 500), (0, 1, 0, 500), (0, 0, 1, 500), (0, 1, 1, 500), (1, 0, 0, 700), (2, 0, 1, 20),
           (2, 1, 0, 999), (0, 0, 0, 0), (0, 1, 1, 0), (2, 1, 0, 1)]


def normal_kl(m1, lv1, m2, lv2):
    return 0.5 * (-1.0 + lv2 - lv1 + np.exp(lv1 - lv2) + (m1 - m2) ** 2 * np.exp(-lv2))


# Discretized decoder likelihood: x on the 256-level grid (k / 127.5 - 1 in float32), including both edge bins.
DX = f32([-1.0, 1.0, 128 / 127.5 - 1, 64 / 127.5 - 1, 1 / 127.5 - 1, 254 / 127.5 - 1, 200 / 127.5 - 1, 0.5])
DM = f32([-0.97, 0.93, 0.01, -0.45, -1.2, 1.05, -0.3, -0.5])
DLOGSCALES = [math.log(0.1), math.log(0.01), 0.0]

mpmath.mp.dps = 60


def disc_loglik_elem(x, m, log_scale):
    """log of the mass N(m, e^{2 log_scale}) puts on x's bin; bins of width 2/255, edge bins open-ended."""
    xs, ms = mpmath.mpf(x), mpmath.mpf(m)
    inv_std = mpmath.exp(-mpmath.mpf(log_scale))
    h = mpmath.mpf(1) / 255
    up = (xs - ms + h) * inv_std
    lo = (xs - ms - h) * inv_std
    if x < -0.999:
        p = mpmath.ncdf(up)
    elif x > 0.999:
        p = 1 - mpmath.ncdf(lo)
    else:
        p = mpmath.ncdf(up) - mpmath.ncdf(lo)
    return float(mpmath.log(max(p, mpmath.mpf("1e-12"))))


def gaussian_loglik(x, m, lv):
    return float(np.sum(-0.5 * (math.log(2 * math.pi) + lv + (x - m) ** 2 * math.exp(-lv))))


def prior_kl(arr, x0):
    """KL(q(x_{T-1} | x0) || N(0, I)) at 60 digits: abar_{T-1} is tiny, and the variance part
    (1 - abar) - 1 - log(1 - abar) ~ abar^2 / 2 cancels catastrophically in float64."""
    ab = mpmath.mpf(float(arr["alphas_cumprod"][-1]))
    v = 1 - ab
    total = mpmath.mpf(0)
    for x in x0:
        m = mpmath.sqrt(ab) * mpmath.mpf(float(x))
        total += (v - 1 - mpmath.log(v) + m * m) / 2  # KL(N(m, v) || N(0, 1))
    return float(total)


# ----------------------------------------------------------------------------------------------------------------
# Header writer
# ----------------------------------------------------------------------------------------------------------------
def c_doubles(vals):
    return "{" + ", ".join(repr(float(v)) if np.isfinite(v) else ("-INFINITY" if v < 0 else "INFINITY")
                           for v in vals) + "}"


def main():
    L = []
    w = L.append
    w("/* Generated by training/ref_gaussian.py (float64 numpy/mpmath, written independently of src/):")
    w(" *     /usr/bin/python3 training/ref_gaussian.py")
    w(" * Do not edit by hand. Inputs are float32 values stored as exact doubles. */")
    w("#ifndef GAUSSIAN_REF_H")
    w("#define GAUSSIAN_REF_H")
    w("")
    w("#if defined(__GNUC__) || defined(__clang__)")
    w("#define REF_UNUSED __attribute__((unused)) /* each test uses only part of this file */")
    w("#else")
    w("#define REF_UNUSED")
    w("#endif")
    w("")
    w("/* ---- Philox / normal stream ---- */")
    w("#define REF_RNG_N %d" % RNG_N)
    w("#define REF_RNG_STREAMS %d" % len(RNG_STREAMS))
    w("static const unsigned long long ref_rng_seed[REF_RNG_STREAMS] = {%s};"
      % ", ".join("0x%016xULL" % s[0] for s in RNG_STREAMS))
    w("static const unsigned ref_rng_ids[REF_RNG_STREAMS][3] = {%s}; /* image, step, purpose */"
      % ", ".join("{%d, %d, %d}" % s[1:] for s in RNG_STREAMS))
    w("static const unsigned ref_rng_words[REF_RNG_STREAMS][REF_RNG_N] = {%s};"
      % ", ".join("{" + ", ".join("0x%08xu" % v for v in stream_words(*s, RNG_N)) + "}" for s in RNG_STREAMS))
    w("static const double ref_rng_normal[REF_RNG_STREAMS][REF_RNG_N] = {%s};"
      % ", ".join(c_doubles(rng_normal(*s, RNG_N)) for s in RNG_STREAMS))
    w("static const double ref_rng_uniform[REF_RNG_STREAMS][REF_RNG_N] = {%s};"
      % ", ".join(c_doubles(rng_uniform(*s, RNG_N)) for s in RNG_STREAMS))
    w("/* FNV-1a of the first REF_RNG_HASH_N float32 normals of one stream (libm Box-Muller rounded to float; the C")
    w(" * routines must give exactly these bits) */")
    w("#define REF_RNG_HASH_SEED 0x%016xULL" % HASH_STREAM[0])
    w("#define REF_RNG_HASH_IDS %d, %d, %d /* image, step, purpose */" % HASH_STREAM[1:])
    w("#define REF_RNG_HASH_N %d" % HASH_N)
    w("#define REF_RNG_HASH 0x%016xULL" % fnv1a_float32(rng_normal(*HASH_STREAM, HASH_N)))
    w("")
    w("/* ---- Schedules: arrays (in ddpm_schedule_array order) at indices ref_sched_idx (clamped to T-1) ---- */")
    rows = sched_table()
    w("#define REF_SCHED_COUNT %d" % len(rows))
    w("#define REF_SCHED_NIDX %d" % len(SCHED_IDX))
    w("#define REF_SCHED_NARR %d" % len(ARRAY_NAMES))
    w("typedef struct { const char *name; int kind, T; double beta_start, beta_end; int rescale; int idx[%d];"
      " double v[%d][%d]; } ref_sched_row;" % (len(SCHED_IDX), len(ARRAY_NAMES), len(SCHED_IDX)))
    w("static const ref_sched_row ref_sched[REF_SCHED_COUNT] = {")
    for name, kind, T, bs, be, rs, idx, vals in rows:
        w('    {"%s", %d, %d, %r, %r, %d, {%s},' % (name, kind, T, bs, be, rs, ", ".join(map(str, idx))))
        w("     {" + ",\n      ".join(c_doubles(v) for v in vals) + "}},")
    w("};")
    w("")
    w("/* ---- Gaussian operations, linear schedule T = 1000 (1e-4 .. 0.02) ---- */")
    w("#define REF_N %d" % N)
    for nm, arr in [("x0", X0), ("eps", EPS), ("xt", XT), ("out", OUT), ("noise", NOISE), ("m1", M1), ("lv1", LV1),
                    ("m2", M2), ("lv2", LV2)]:
        w("static const double ref_in_%s[REF_N] = %s;" % (nm, c_doubles(arr)))
    w("#define REF_NQ %d" % len(T_Q))
    w("static const int ref_q_t[REF_NQ] = {%s};" % ", ".join(map(str, T_Q)))
    w("static const double ref_q_sample[REF_NQ][REF_N] = {%s};"
      % ", ".join(c_doubles(SA[t] * X0 + S1MA[t] * EPS) for t in T_Q))
    t = T_CONV
    w("#define REF_T_CONV %d" % t)
    w("static const double ref_x0_from_eps[REF_N] = %s; /* (xt, out as eps) */" % c_doubles(x0_from(0, t, XT, OUT)))
    w("static const double ref_x0_from_v[REF_N] = %s; /* (xt, out as v) */" % c_doubles(x0_from(2, t, XT, OUT)))
    w("static const double ref_eps_from_x0[REF_N] = %s; /* (xt, x0) */" % c_doubles(eps_from(1, t, XT, X0)))
    w("static const double ref_split_x0[3][REF_N] = {%s}; /* pred eps, x0, v; (xt, out) */"
      % ", ".join(c_doubles(x0_from(p, t, XT, OUT)) for p in range(3)))
    w("static const double ref_split_eps[3][REF_N] = {%s};" % ", ".join(c_doubles(eps_from(p, t, XT, OUT))
                                                                        for p in range(3)))
    # posterior at two timesteps
    TP = [0, 250]
    w("#define REF_NPOST %d" % len(TP))
    w("static const int ref_post_t[REF_NPOST] = {%s};" % ", ".join(map(str, TP)))
    post_mean, post_var, post_lv = [], [], []
    for tp in TP:
        b, ab, abp = LIN["betas"][tp], LIN["alphas_cumprod"][tp], LIN["alphas_cumprod_prev"][tp]
        post_mean.append(math.sqrt(abp) * b / (1 - ab) * X0 + math.sqrt(1 - b) * (1 - abp) / (1 - ab) * XT)
        post_var.append(b * (1 - abp) / (1 - ab))
        nxt = LIN["betas"][1] * (1 - LIN["alphas_cumprod"][0]) / (1 - LIN["alphas_cumprod"][1])
        post_lv.append(math.log(post_var[-1] if tp > 0 else nxt))
    w("static const double ref_post_mean[REF_NPOST][REF_N] = {%s}; /* (x0, xt) */"
      % ", ".join(c_doubles(m) for m in post_mean))
    w("static const double ref_post_var[REF_NPOST] = %s;" % c_doubles(post_var))
    w("static const double ref_post_log_var[REF_NPOST] = %s;" % c_doubles(post_lv))
    # p_step
    w("#define REF_NP %d" % len(P_CASES))
    w("static const int ref_p_case[REF_NP][4] = {%s}; /* pred, variance, clip, t */"
      % ", ".join("{%d, %d, %d, %d}" % c for c in P_CASES))
    xp, px = zip(*[p_step_ref(*c[:3], c[3], XT, OUT, NOISE) for c in P_CASES])
    w("static const double ref_p_x_prev[REF_NP][REF_N] = {%s}; /* (xt, out, noise) */"
      % ", ".join(c_doubles(v) for v in xp))
    w("static const double ref_p_pred_x0[REF_NP][REF_N] = {%s};" % ", ".join(c_doubles(v) for v in px))
    # likelihood terms
    kl_elem = normal_kl(M1, LV1, M2, LV2)
    w("static const double ref_kl_elem[REF_N] = %s; /* KL(N(m1, e^lv1) || N(m2, e^lv2)) per element */"
      % c_doubles(kl_elem))
    w("static const double ref_kl_sum = %r;" % float(np.sum(kl_elem)))
    SLV1, SLV2 = -1.25, 0.5
    w("#define REF_KL_SLV1 %r" % SLV1)
    w("#define REF_KL_SLV2 %r" % SLV2)
    w("static const double ref_kl_scalar = %r;" % float(np.sum(normal_kl(M1, SLV1, M2, SLV2))))
    GLV = -0.7
    w("#define REF_GLL_LV %r" % GLV)
    w("static const double ref_gauss_ll = %r; /* log N(m1; m2, e^REF_GLL_LV) summed */" % gaussian_loglik(M1, M2, GLV))
    w("static const double ref_disc_x[REF_N] = %s;" % c_doubles(DX))
    w("static const double ref_disc_mean[REF_N] = %s;" % c_doubles(DM))
    w("#define REF_NDLS %d" % len(DLOGSCALES))
    w("static const double ref_disc_log_scale[REF_NDLS] = %s;" % c_doubles(DLOGSCALES))
    disc = [[disc_loglik_elem(DX[i], DM[i], ls) for i in range(N)] for ls in DLOGSCALES]
    w("static const double ref_disc_elem[REF_NDLS][REF_N] = {%s};" % ", ".join(c_doubles(d) for d in disc))
    w("static const double ref_prior_kl_linear = %r; /* ddpm_prior_kl(linear T=1000, ref_in_x0) */"
      % prior_kl(LIN, X0))
    COS = sched_arrays("cosine", 1000, 1e-4, 0.02, False)
    w("static const double ref_prior_kl_cosine = %r;" % prior_kl(COS, X0))
    w("static const double ref_bpd = %r; /* ddpm_bits_per_dim(1234.5, 784) */" % (1234.5 / (784 * math.log(2))))
    w("")
    w("#endif")
    text = "\n".join(L) + "\n"
    text = text.replace("\nstatic const ", "\nREF_UNUSED static const ")
    with open(OUT_PATH, "w") as f:
        f.write(text)

    print("philox KAT vectors: ok")
    print("linear T=1000: abar[999] = %.6e, sqrt((1-abar)/abar) = %.4f" % (LIN["alphas_cumprod"][999],
          math.sqrt((1 - LIN["alphas_cumprod"][999]) / LIN["alphas_cumprod"][999])))
    print("cosine T=1000: beta[999] = %r" % COS["betas"][999])
    print("rng_normal(42, 3, 7, 1)[:4] =", rng_normal(42, 3, 7, 1, 4))
    print("disc loglik (log_scale=log 0.1):", disc[0])
    print("wrote", OUT_PATH)


if __name__ == "__main__":
    main()
