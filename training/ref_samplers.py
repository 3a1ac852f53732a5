"""Float64 reference trajectories for the C tests of the samplers (tests/test_samplers_ref.c).

    /usr/bin/python3 training/ref_samplers.py            # prints a summary, writes tests/data/samplers_ref.h

Written from the papers and the formulas of the reference implementations, independently of src/ (nothing here
reads the C), each sampler in its own published form:
  - ddim:      Song et al. 2021 eq. 12 in the DDPM (variance-preserving) scale; with clip_x0 the noise estimate is
               re-derived from the clipped x0 (GLIDE / diffusers use_clipped_model_output)
  - plms:      diffusers' PNDMScheduler.step_plms with skip_prk_steps (the counter / ets / cur_sample logic and
               _get_prev_sample's formula), on noise estimates (a model predicting x0 or v is converted to eps at the
               timestep of each evaluation)
  - dpmpp_2m, euler, euler_a, heun, lms, dpm2_a: k-diffusion's sample_* functions (Karras et al.'s sigma
               parameterisation, x_sigma = x0 + sigma eps) with k-diffusion's DiscreteEpsDDPMDenoiser /
               DiscreteVDDPMDenoiser wrappers (c_in = 1 / sqrt(sigma^2 + 1), c_out = -sigma or
               -sigma / sqrt(sigma^2 + 1), c_skip = 1 / (sigma^2 + 1)), sigma_to_t's log-sigma interpolation,
               get_sigmas_karras (rho = 7) and linear_multistep_coeff (here integrated exactly with numpy
               polynomials instead of scipy.integrate.quad).
  - dpmpp_2m_sde, dpmpp_3m_sde: k-diffusion's sample_dpmpp_2m_sde (solver_type midpoint / heun) and
               sample_dpmpp_3m_sde in the same sigma parameterisation, with the BrownianTreeNoiseSampler replaced by
               the table of i.i.d. normals below (one draw per step, as diffusers' sde-dpmsolver++ draws them).
  - unipc:     diffusers' UniPCMultistepScheduler with predict_x0 = True: v0.21.4's step() bookkeeping
               (model_outputs / timestep_list, this_order, lower_order_nums, last_sample, the corrector on every step
               after the first), multistep_uni_p_bh_update and multistep_uni_c_bh_update's R / b construction (the
               h_phi_k recurrence, torch.linalg.solve -> np.linalg.solve) in the VP scale, lambda = log alpha - log
               sigma, alpha and sigma from the VE sigma as later versions' _sigma_to_alpha_sigma_t (Karras grids).
               The step after the last goes to sigma = 0 (the engine's convention and diffusers' later
               final_sigmas_type "zero"), where the predictor is taken first order (its r_k are 0 there).
The model is an analytic one: per element j, data x0 ~ N(mu_j, s_j^2), and the exact posterior-mean noise predictor
E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mu) / (a s^2 + 1 - a), a = abar(t), with abar at fractional t from log sigma
interpolated linearly between integer timesteps; x0 and v predictions are derived from it. Timesteps reach the
model as float32 (the C API's type) and are rounded so here too.

The C test feeds x_i of this trajectory (rounded to float32) into step i and compares its output with x_{i+1}
("teacher forcing": each step is checked on its own, multistep samplers keep their history of earlier steps), with
the injected noise taken from the table written here.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schedule  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_PATH = os.path.join(ROOT, "tests", "data", "samplers_ref.h")

T = 1000
BETAS = schedule.betas("linear", T, 1e-4, 0.02)
ABAR = np.cumprod(1.0 - BETAS)
SIGMAS = np.sqrt((1.0 - ABAR) / ABAR)
LOG_SIGMAS = np.log(SIGMAS)

TIMESTEPS = [999, 874, 700, 512, 300, 151, 40, 3]  # a descending, unevenly spaced grid
NSTEPS = len(TIMESTEPS)
BATCH, D = 2, 6
N = BATCH * D
MU = np.array([0.3, -0.5, 0.0, 0.8, -0.2, 0.1])
SD = np.array([0.5, 0.2, 1.0, 0.3, 0.7, 0.05])
MU_N = np.tile(MU, BATCH)
SD_N = np.tile(SD, BATCH)

EPS, X0, V = 0, 1, 2
PRED_NAMES = {EPS: "eps", X0: "x0", V: "v"}

rng = np.random.default_rng(20240607)
X_T = rng.standard_normal(N).astype(np.float32).astype(np.float64)
NSTREAMS = 2
NOISE = rng.standard_normal((NSTEPS, NSTREAMS, N)).astype(np.float32).astype(np.float64)


def f32(v):
    return float(np.float32(v))


# ----------------------------------------------------------------------------------------------------------------
# the analytic model
# ----------------------------------------------------------------------------------------------------------------
def abar_at(t):
    """abar at a (fractional) timestep: log sigma interpolated linearly between integer timesteps."""
    if t == math.floor(t):
        return ABAR[int(t)]
    k = int(math.floor(t))
    w = t - k
    ls = (1 - w) * LOG_SIGMAS[k] + w * LOG_SIGMAS[k + 1]
    return 1.0 / (1.0 + math.exp(2 * ls))


class Model:
    def __init__(self, pred):
        self.pred = pred
        self.calls = []

    def __call__(self, x, t):
        """The raw model output at VP x and timestep t (rounded to float32 like the C API's t)."""
        t = f32(t)
        self.calls.append(t)
        a = abar_at(t)
        eps = math.sqrt(1 - a) * (x - math.sqrt(a) * MU_N) / (a * SD_N ** 2 + 1 - a)
        x0 = (x - math.sqrt(1 - a) * eps) / math.sqrt(a)
        if self.pred == EPS:
            return eps
        if self.pred == X0:
            return x0
        return math.sqrt(a) * eps - math.sqrt(1 - a) * x0

    # VP-scale conversions (for ddim / plms)
    def x0_eps(self, x, t):
        out = self(x, t)
        a = abar_at(f32(t))
        if self.pred == EPS:
            return (x - math.sqrt(1 - a) * out) / math.sqrt(a), out
        if self.pred == X0:
            return out, (x - math.sqrt(a) * out) / math.sqrt(1 - a)
        return math.sqrt(a) * x - math.sqrt(1 - a) * out, math.sqrt(a) * out + math.sqrt(1 - a) * x


def sigma_to_t(sigma):
    """k-diffusion DiscreteSchedule.sigma_to_t"""
    log_sigma = math.log(sigma)
    dists = log_sigma - LOG_SIGMAS
    low_idx = min(int(np.nonzero(dists >= 0)[0].max()) if (dists >= 0).any() else 0, T - 2)
    high_idx = low_idx + 1
    low, high = LOG_SIGMAS[low_idx], LOG_SIGMAS[high_idx]
    w = min(max((low - log_sigma) / (low - high), 0.0), 1.0)
    return (1 - w) * low_idx + w * high_idx


class KDenoiser:
    """k-diffusion's discrete DDPM wrappers: x0 estimate from x in the sigma (VE) scale."""

    def __init__(self, model):
        self.model = model

    def __call__(self, x, sigma):
        c_in = 1 / math.sqrt(sigma ** 2 + 1)
        out = self.model(x * c_in, sigma_to_t(sigma))
        if self.model.pred == EPS:
            return x + out * (-sigma)
        if self.model.pred == V:
            c_skip = 1 / (sigma ** 2 + 1)
            c_out = -sigma / math.sqrt(sigma ** 2 + 1)
            return x * c_skip + out * c_out
        return out


def to_d(x, sigma, denoised):
    return (x - denoised) / sigma


def get_ancestral_step(sigma_from, sigma_to, eta=1.0):
    if not eta:
        return sigma_to, 0.0
    sigma_up = min(sigma_to, eta * math.sqrt(sigma_to ** 2 * (sigma_from ** 2 - sigma_to ** 2) / sigma_from ** 2))
    sigma_down = math.sqrt(sigma_to ** 2 - sigma_up ** 2)
    return sigma_down, sigma_up


def grid_sigmas(karras):
    if karras:
        rho = 7.0
        smin, smax = SIGMAS[TIMESTEPS[-1]], SIGMAS[TIMESTEPS[0]]
        ramp = np.linspace(0, 1, NSTEPS)
        min_inv, max_inv = smin ** (1 / rho), smax ** (1 / rho)
        s = (max_inv + ramp * (min_inv - max_inv)) ** rho
    else:
        s = SIGMAS[TIMESTEPS]
    return np.append(s, 0.0)


def noise(i, stream=0):
    return NOISE[i, stream]


# ----------------------------------------------------------------------------------------------------------------
# k-diffusion samplers; each yields x (VE scale) after every step
# ----------------------------------------------------------------------------------------------------------------
def sample_euler(model, x, sigmas):
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        d = to_d(x, sigmas[i], denoised)
        x = x + d * (sigmas[i + 1] - sigmas[i])
        yield x


def sample_euler_ancestral(model, x, sigmas, eta=1.0, s_noise=1.0):
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        d = to_d(x, sigmas[i], denoised)
        x = x + d * (sigma_down - sigmas[i])
        if sigmas[i + 1] > 0:
            x = x + noise(i) * s_noise * sigma_up
        yield x


def sample_heun(model, x, sigmas):
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        d = to_d(x, sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            denoised_2 = model(x_2, sigmas[i + 1])
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            x = x + (d + d_2) / 2 * dt
        yield x


def sample_dpm_2_ancestral(model, x, sigmas, eta=1.0, s_noise=1.0):
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        sigma_down, sigma_up = get_ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        d = to_d(x, sigmas[i], denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigmas[i])
        else:
            sigma_mid = math.exp((math.log(sigmas[i]) + math.log(sigma_down)) / 2)
            x_2 = x + d * (sigma_mid - sigmas[i])
            denoised_2 = model(x_2, sigma_mid)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * (sigma_down - sigmas[i])
            x = x + noise(i) * s_noise * sigma_up
        yield x


def linear_multistep_coeff(order, t, i, j):
    """integral over [t[i], t[i+1]] of the Lagrange basis polynomial of node t[i-j] among t[i], ..., t[i-order+1]"""
    p = np.polynomial.Polynomial([1.0])
    for k in range(order):
        if j == k:
            continue
        p = p * np.polynomial.Polynomial([-t[i - k], 1.0]) / (t[i - j] - t[i - k])
    P = p.integ()
    return P(t[i + 1]) - P(t[i])


def sample_lms(model, x, sigmas, order=4):
    ds = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        d = to_d(x, sigmas[i], denoised)
        ds.append(d)
        if len(ds) > order:
            ds.pop(0)
        cur_order = min(i + 1, order)
        coeffs = [linear_multistep_coeff(cur_order, sigmas, i, j) for j in range(cur_order)]
        x = x + sum(coeff * d for coeff, d in zip(coeffs, reversed(ds)))
        yield x


def sample_dpmpp_2m(model, x, sigmas):
    def t_fn(sigma):
        return -math.log(sigma) if sigma > 0 else math.inf

    def sigma_fn(t):
        return math.exp(-t)

    old_denoised = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        t, t_next = t_fn(sigmas[i]), t_fn(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            ratio = 0.0 if sigmas[i + 1] == 0 else sigma_fn(t_next) / sigma_fn(t)
            x = ratio * x - (-1.0 if h == math.inf else math.expm1(-h)) * denoised
        else:
            h_last = t - t_fn(sigmas[i - 1])
            r = h_last / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (sigma_fn(t_next) / sigma_fn(t)) * x - math.expm1(-h) * denoised_d
        old_denoised = denoised
        yield x


def log_step(sigmas, i):
    """h = lambda_{i+1} - lambda_i, lambda = -log sigma (k-diffusion's t_fn)"""
    return math.log(sigmas[i]) - math.log(sigmas[i + 1])


def sde_noise(i, sigma_next, eta_h, s_noise):
    """k-diffusion: noise_sampler(sigma, sigma_next) * sigma_next * (-2 eta h).expm1().neg().sqrt() * s_noise"""
    return noise(i) * sigma_next * math.sqrt(-math.expm1(-2 * eta_h)) * s_noise


def sde_multistep(model, x, sigmas, update):
    """the loop of k-diffusion's sample_dpmpp_{2m,3m}_sde: the last step (to sigma = 0) is the denoising step
    x = denoised; the others call update(i, x, denoised, h), which keeps the sampler's history"""
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i])
        x = denoised if sigmas[i + 1] == 0 else update(i, x, denoised, log_step(sigmas, i))
        yield x


def sample_dpmpp_2m_sde(model, x, sigmas, eta=1.0, s_noise=1.0, solver_type="midpoint"):
    hist = {"old_denoised": None, "h_last": None}

    def update(i, x, denoised, h):
        eta_h = eta * h
        x = sigmas[i + 1] / sigmas[i] * math.exp(-eta_h) * x + (-math.expm1(-h - eta_h)) * denoised
        old_denoised, h_last = hist["old_denoised"], hist["h_last"]
        if old_denoised is not None:
            r = h_last / h
            if solver_type == "heun":
                x = x + ((-math.expm1(-h - eta_h)) / (-h - eta_h) + 1) * (1 / r) * (denoised - old_denoised)
            else:
                x = x + 0.5 * (-math.expm1(-h - eta_h)) * (1 / r) * (denoised - old_denoised)
        if eta:
            x = x + sde_noise(i, sigmas[i + 1], eta_h, s_noise)
        hist["old_denoised"], hist["h_last"] = denoised, h
        return x

    return sde_multistep(model, x, sigmas, update)


def sample_dpmpp_3m_sde(model, x, sigmas, eta=1.0, s_noise=1.0):
    hist = {"denoised_1": None, "denoised_2": None, "h_1": None, "h_2": None}

    def update(i, x, denoised, h):
        denoised_1, denoised_2, h_1, h_2 = hist["denoised_1"], hist["denoised_2"], hist["h_1"], hist["h_2"]
        h_eta = h * (eta + 1)
        x = math.exp(-h_eta) * x + (-math.expm1(-h_eta)) * denoised
        if h_2 is not None:
            r0 = h_1 / h
            r1 = h_2 / h
            d1_0 = (denoised - denoised_1) / r0
            d1_1 = (denoised_1 - denoised_2) / r1
            d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
            d2 = (d1_0 - d1_1) / (r0 + r1)
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            phi_3 = phi_2 / h_eta - 0.5
            x = x + phi_2 * d1 - phi_3 * d2
        elif h_1 is not None:
            r = h_1 / h
            d = (denoised - denoised_1) / r
            phi_2 = math.expm1(-h_eta) / h_eta + 1
            x = x + phi_2 * d
        if eta:
            x = x + sde_noise(i, sigmas[i + 1], h * eta, s_noise)
        hist.update(denoised_1=denoised, denoised_2=denoised_1, h_1=h, h_2=h_1)
        return x

    return sde_multistep(model, x, sigmas, update)


K_SAMPLERS = {
    "euler": sample_euler,
    "euler_a": sample_euler_ancestral,
    "heun": sample_heun,
    "dpm2_a": sample_dpm_2_ancestral,
    "lms": sample_lms,
    "dpmpp_2m": sample_dpmpp_2m,
    "dpmpp_2m_sde": sample_dpmpp_2m_sde,
    "dpmpp_3m_sde": sample_dpmpp_3m_sde,
}


def run_k(name, model, opts):
    karras = bool(opts.pop("karras", 0))
    sigmas = grid_sigmas(karras)
    kw = {}
    if name in ("euler_a", "dpm2_a"):
        kw = {"eta": opts.get("eta", 1.0), "s_noise": opts.get("s_noise", 1.0)}
    if name == "lms":
        kw = {"order": int(opts.get("order", 4))}
    if name in ("dpmpp_2m_sde", "dpmpp_3m_sde"):
        kw = {"eta": opts.get("eta", 1.0), "s_noise": opts.get("s_noise", 1.0)}
    if name == "dpmpp_2m_sde":
        kw["solver_type"] = ("midpoint", "heun")[int(opts.get("solver_type", 0))]
    x_ve = X_T * math.sqrt(1 + sigmas[0] ** 2)  # the run's x_T is VP at the first level
    traj = [X_T]
    for i, x in enumerate(K_SAMPLERS[name](KDenoiser(model), x_ve, sigmas, **kw)):
        traj.append(x / math.sqrt(1 + sigmas[i + 1] ** 2))
    return traj


# ----------------------------------------------------------------------------------------------------------------
# DDIM and PLMS in the VP scale
# ----------------------------------------------------------------------------------------------------------------
def abar_next(i):
    return ABAR[TIMESTEPS[i + 1]] if i + 1 < NSTEPS else 1.0


def run_ddim(model, opts):
    eta, clip = opts.get("eta", 0.0), bool(opts.get("clip_x0", 0))
    x = X_T.copy()
    traj = [x]
    for i, t in enumerate(TIMESTEPS):
        a, ap = ABAR[t], abar_next(i)
        x0, eps = model.x0_eps(x, t)
        if clip:
            x0 = np.clip(x0, -1, 1)
            eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        sigma = eta * math.sqrt((1 - ap) / (1 - a)) * math.sqrt(1 - a / ap)
        x = math.sqrt(ap) * x0 + math.sqrt(1 - ap - sigma ** 2) * eps
        if sigma > 0:
            x = x + sigma * noise(i)
        traj.append(x)
    return traj


def run_plms(model, opts):
    """diffusers PNDMScheduler.step_plms (skip_prk_steps) on TIMESTEPS, final abar 1."""
    def prev_of(t):
        k = TIMESTEPS.index(t)
        return TIMESTEPS[k + 1] if k + 1 < NSTEPS else -1

    def get_prev_sample(sample, timestep, prev_timestep, model_output):
        alpha_prod_t = ABAR[timestep]
        alpha_prod_t_prev = ABAR[prev_timestep] if prev_timestep >= 0 else 1.0
        beta_prod_t = 1 - alpha_prod_t
        beta_prod_t_prev = 1 - alpha_prod_t_prev
        sample_coeff = (alpha_prod_t_prev / alpha_prod_t) ** 0.5
        denom = alpha_prod_t * beta_prod_t_prev ** 0.5 + (alpha_prod_t * beta_prod_t * alpha_prod_t_prev) ** 0.5
        return sample_coeff * sample - (alpha_prod_t_prev - alpha_prod_t) * model_output / denom

    plms_timesteps = TIMESTEPS[:1] + TIMESTEPS[1:2] + TIMESTEPS[1:] if NSTEPS > 1 else TIMESTEPS[:1]
    ets, counter, cur_sample = [], 0, None
    x = X_T.copy()
    traj = [x]
    for timestep in plms_timesteps:
        _, model_output = model.x0_eps(x, timestep)  # eps at this evaluation's own timestep
        prev_timestep = prev_of(timestep)
        if counter != 1:
            ets = ets[-3:]
            ets.append(model_output)
        else:
            prev_timestep = timestep
            timestep = TIMESTEPS[0]
        if len(ets) == 1 and counter == 0:
            cur_sample = x
        elif len(ets) == 1 and counter == 1:
            model_output = (model_output + ets[-1]) / 2
            x = cur_sample
            cur_sample = None
        elif len(ets) == 2:
            model_output = (3 * ets[-1] - ets[-2]) / 2
        elif len(ets) == 3:
            model_output = (23 * ets[-1] - 16 * ets[-2] + 5 * ets[-3]) / 12
        else:
            model_output = (1 / 24) * (55 * ets[-1] - 59 * ets[-2] + 37 * ets[-3] - 9 * ets[-4])
        x = get_prev_sample(x, timestep, prev_timestep, model_output)
        if counter != 0 or NSTEPS == 1:
            traj.append(x)  # after counter 0 x is only the predictor x'_1 of the first step
        counter += 1
    return traj


# ----------------------------------------------------------------------------------------------------------------
# UniPC (diffusers' UniPCMultistepScheduler, predict_x0 = True) in the VP scale
# ----------------------------------------------------------------------------------------------------------------
class UniPC:
    """The scheduler's state and its two updates; levels are indexed by grid position (NSTEPS = the end, sigma 0)."""

    def __init__(self, sigmas, solver_order=2, solver_type="bh2", lower_order_final=True, corrector=True):
        self.solver_order, self.solver_type = solver_order, solver_type
        self.lower_order_final, self.corrector = lower_order_final, corrector
        # _sigma_to_alpha_sigma_t of the VE sigmas (NSTEPS + 1 levels, the last 0)
        self.alpha = [1 / math.sqrt(sg ** 2 + 1) for sg in sigmas]
        self.sigma = [sg * al for sg, al in zip(sigmas, self.alpha)]
        self.lam = [math.log(al) - math.log(sg) if sg > 0 else math.inf for al, sg in zip(self.alpha, self.sigma)]
        self.model_outputs = [None] * solver_order
        self.timestep_list = [None] * solver_order
        self.lower_order_nums = 0
        self.last_sample = None
        self.this_order = None

    def convert_model_output(self, model_output, k, sample, pred):
        alpha_t, sigma_t = self.alpha[k], self.sigma[k]
        if pred == EPS:
            return (sample - sigma_t * model_output) / alpha_t
        if pred == X0:
            return model_output
        return alpha_t * sample - sigma_t * model_output

    def _r_b(self, h, s0, order):
        """rks, D1s' nodes and b as multistep_uni_*_bh_update build them"""
        rks, nodes = [], []
        for i in range(1, order):
            si = self.timestep_list[-(i + 1)]
            rks.append((self.lam[si] - self.lam[s0]) / h)
            nodes.append(self.model_outputs[-(i + 1)])
        rks.append(1.0)
        rks = np.array(rks)
        hh = -h
        h_phi_1 = math.expm1(hh)
        h_phi_k = h_phi_1 / hh - 1
        factorial_i = 1
        B_h = hh if self.solver_type == "bh1" else math.expm1(hh)
        R, b = [], []
        for i in range(1, order + 1):
            R.append(rks ** (i - 1))
            b.append(h_phi_k * factorial_i / B_h)
            factorial_i *= i + 1
            h_phi_k = h_phi_k / hh - 1 / factorial_i
        return rks, nodes, np.array(R), np.array(b), h_phi_1, B_h

    def predictor(self, t, x, order):
        s0 = self.timestep_list[-1]
        m0 = self.model_outputs[-1]
        h = self.lam[t] - self.lam[s0]
        rks, nodes, R, b, h_phi_1, B_h = self._r_b(h, s0, order)
        D1s = [(mi - m0) / rk for mi, rk in zip(nodes, rks[:-1])]
        if order == 2:
            rhos_p = np.array([0.5])
        elif order > 2:
            rhos_p = np.linalg.solve(R[:-1, :-1], b[:-1])
        x_t_ = self.sigma[t] / self.sigma[s0] * x - self.alpha[t] * h_phi_1 * m0
        if not D1s:  # diffusers adds alpha_t B_h * 0, which is NaN for bh1 (B_h = -inf) on the step to sigma = 0
            return x_t_
        pred_res = sum(rho * d for rho, d in zip(rhos_p, D1s))
        return x_t_ - self.alpha[t] * B_h * pred_res

    def corrector_update(self, model_t, t, last_sample, order):
        s0 = self.timestep_list[-1]
        m0 = self.model_outputs[-1]
        h = self.lam[t] - self.lam[s0]
        rks, nodes, R, b, h_phi_1, B_h = self._r_b(h, s0, order)
        D1s = [(mi - m0) / rk for mi, rk in zip(nodes, rks[:-1])]
        rhos_c = np.array([0.5]) if order == 1 else np.linalg.solve(R, b)
        x_t_ = self.sigma[t] / self.sigma[s0] * last_sample - self.alpha[t] * h_phi_1 * m0
        corr_res = sum(rho * d for rho, d in zip(rhos_c[:-1], D1s)) if D1s else 0
        return x_t_ - self.alpha[t] * B_h * (corr_res + rhos_c[-1] * (model_t - m0))

    def step(self, x0_pred, k, sample):
        """step(): k = grid position; x0_pred = convert_model_output at the uncorrected sample"""
        if self.corrector and k > 0 and self.last_sample is not None:
            sample = self.corrector_update(x0_pred, k, self.last_sample, self.this_order)
        self.model_outputs = self.model_outputs[1:] + [x0_pred]
        self.timestep_list = self.timestep_list[1:] + [k]
        this_order = min(self.solver_order, NSTEPS - k) if self.lower_order_final else self.solver_order
        self.this_order = min(this_order, self.lower_order_nums + 1)
        if k == NSTEPS - 1:
            self.this_order = 1  # to sigma = 0
        self.last_sample = sample
        prev = self.predictor(k + 1, sample, self.this_order)
        self.lower_order_nums = min(self.lower_order_nums + 1, self.solver_order)
        return prev


def run_unipc(model, opts):
    karras = bool(opts.get("karras", 0))
    sigmas = grid_sigmas(karras)
    sched = UniPC(sigmas, int(opts.get("order", 2)), ("bh1", "bh2")[int(opts.get("variant", 1))],
                  bool(opts.get("lower_order_final", 1)), bool(opts.get("corrector", 1)))
    x = X_T.copy()
    traj = [x]
    for k, t in enumerate(TIMESTEPS):
        t_model = sigma_to_t(sigmas[k]) if karras else t  # fractional on the Karras grid (diffusers rounds it)
        x0 = sched.convert_model_output(model(x, t_model), k, x, model.pred)
        x = sched.step(x0, k, x)
        traj.append(x)
    return traj


# ----------------------------------------------------------------------------------------------------------------
CASES = [  # sampler, prediction, options
    ("ddim", EPS, {}),
    ("ddim", X0, {"eta": 0.7, "clip_x0": 1}),
    ("ddim", V, {"eta": 1.0}),
    ("plms", EPS, {}),
    ("plms", V, {}),
    ("dpmpp_2m", EPS, {}),
    ("dpmpp_2m", V, {"karras": 1}),
    ("euler", EPS, {}),
    ("euler", X0, {"karras": 1}),
    ("euler_a", EPS, {}),
    ("euler_a", V, {"eta": 0.5, "s_noise": 0.9, "karras": 1}),
    ("heun", EPS, {}),
    ("heun", V, {"karras": 1}),
    ("lms", EPS, {}),
    ("lms", X0, {"order": 2, "karras": 1}),
    ("lms", V, {"order": 3}),
    ("dpm2_a", EPS, {}),
    ("dpm2_a", X0, {"eta": 0.5, "s_noise": 1.1, "karras": 1}),
    ("unipc", EPS, {}),
    ("unipc", V, {"order": 3, "variant": 0}),
    ("unipc", X0, {"order": 3, "corrector": 0}),
    ("unipc", EPS, {"order": 3, "lower_order_final": 0}),
    ("unipc", V, {"order": 1}),
    ("unipc", X0, {"order": 2, "variant": 0, "lower_order_final": 0}),
    ("unipc", EPS, {"order": 3, "karras": 1}),
    ("dpmpp_2m_sde", EPS, {}),
    ("dpmpp_2m_sde", V, {"solver_type": 1, "karras": 1, "eta": 0.6}),
    ("dpmpp_2m_sde", X0, {"eta": 0.0}),
    ("dpmpp_2m_sde", EPS, {"solver_type": 1, "s_noise": 0.8}),
    ("dpmpp_3m_sde", EPS, {}),
    ("dpmpp_3m_sde", X0, {"eta": 0.5, "karras": 1, "s_noise": 1.2}),
    ("dpmpp_3m_sde", V, {"eta": 0.0}),
]
MAX_CALLS = 2 * NSTEPS + 1
MAX_OPTIONS = max(len(o) for _, _, o in CASES)


def run_case(name, pred, opts):
    model = Model(pred)
    opts = dict(opts)
    if name == "ddim":
        traj = run_ddim(model, opts)
    elif name == "plms":
        traj = run_plms(model, opts)
    elif name == "unipc":
        traj = run_unipc(model, opts)
    else:
        traj = run_k(name, model, opts)
    assert len(traj) == NSTEPS + 1, (name, len(traj))
    assert len(model.calls) <= MAX_CALLS
    return np.array(traj), model.calls


def exact(v):
    return repr(float(v))


def fmt(arr):
    return "{" + ", ".join(exact(v) for v in np.asarray(arr).ravel()) + "}"


def main():
    lines = []
    w = lines.append
    w("/* Generated by training/ref_samplers.py (float64 numpy, written independently of src/):")
    w(" *     /usr/bin/python3 training/ref_samplers.py")
    w(" * Do not edit by hand. x_T and the noise table are float32 values stored as exact doubles. */")
    w("#ifndef SAMPLERS_REF_H")
    w("#define SAMPLERS_REF_H")
    w("")
    w("/* linear schedule 1e-4 .. 0.02, T = %d; model: per element j of an image, data N(mu_j, sd_j^2) and the exact" % T)
    w(" * noise predictor (x0 and v derived from it); abar at fractional t by log-sigma interpolation */")
    w("#define REF_S_T %d" % T)
    w("#define REF_S_STEPS %d" % NSTEPS)
    w("#define REF_S_BATCH %d" % BATCH)
    w("#define REF_S_D %d" % D)
    w("#define REF_S_N %d" % N)
    w("#define REF_S_STREAMS %d" % NSTREAMS)
    w("#define REF_S_MAX_CALLS %d" % MAX_CALLS)
    w("#define REF_S_MAX_OPTIONS %d" % MAX_OPTIONS)
    w("static const int ref_s_timesteps[REF_S_STEPS] = {%s};" % ", ".join(str(t) for t in TIMESTEPS))
    w("static const double ref_s_mu[REF_S_D] = %s;" % fmt(MU))
    w("static const double ref_s_sd[REF_S_D] = %s;" % fmt(SD))
    w("/* noise injected at step i, stream k: ref_s_noise[i][k][batch * D] */")
    w("static const double ref_s_noise[REF_S_STEPS][REF_S_STREAMS][REF_S_N] = {%s};" % ", ".join(
        "{" + ", ".join(fmt(NOISE[i, k]) for k in range(NSTREAMS)) + "}" for i in range(NSTEPS)))
    w("")
    w("typedef struct ref_s_case {")
    w("    const char *sampler;")
    w("    int prediction;                 /* ddpm_prediction */")
    w("    int num_options;")
    w("    const char *option_names[REF_S_MAX_OPTIONS];")
    w("    double option_values[REF_S_MAX_OPTIONS];")
    w("    int num_calls;                  /* model evaluations of the whole run, and their timesteps */")
    w("    double call_t[REF_S_MAX_CALLS];")
    w("    double x[REF_S_STEPS + 1][REF_S_N]; /* x[0] = x_T; x[i + 1] = after step i (VP scale) */")
    w("} ref_s_case;")
    w("")
    w("#define REF_S_NCASES %d" % len(CASES))
    w("static const ref_s_case ref_s_cases[REF_S_NCASES] = {")
    for name, pred, opts in CASES:
        traj, calls = run_case(name, pred, opts)
        names = list(opts.keys())
        vals = [float(opts[k]) for k in names]
        on = "{" + ", ".join('"%s"' % k for k in names) + "}" if names else "{0}"
        ov = "{" + ", ".join(exact(v) for v in vals) + "}" if vals else "{0}"
        ct = fmt(calls + [0.0] * (MAX_CALLS - len(calls)))
        xs = "{" + ", ".join(fmt(traj[i]) for i in range(NSTEPS + 1)) + "}"
        w("    {\"%s\", %d, %d, %s, %s, %d, %s, %s}," % (name, pred, len(names), on, ov, len(calls), ct, xs))
        print("%-12s %-3s %-48s calls %2d  mean |x_final| %.4f  x_final[0:3] %s" % (
            name, PRED_NAMES[pred], opts, len(calls), float(np.mean(np.abs(traj[-1]))),
            np.array2string(traj[-1][:3], precision=5)))
    w("};")
    w("")
    w("#endif")
    with open(OUT_PATH, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", OUT_PATH)


if __name__ == "__main__":
    main()
