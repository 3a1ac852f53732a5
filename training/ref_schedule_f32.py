"""Float32 noise schedules as Hugging Face diffusers v0.21.4 builds them, for the C test tests/test_schedule_f32.c.

    /usr/bin/python3 training/ref_schedule_f32.py        # prints a summary, writes tests/data/schedule_f32_ref.h

The betas and alphas_cumprod of DDPMScheduler / DDIMScheduler.__init__, computed by PyTorch itself (Debian 12's
torch 1.13, CPU, one thread) with diffusers' own expressions, copied here from the v0.21.4 sources (diffusers is not
installed on Debian):
  linear             torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
  scaled_linear      torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float32) ** 2
  squaredcos_cap_v2  betas_for_alpha_bar(T): a Python list of float64 betas -> torch.tensor(dtype=float32)
  sigmoid            torch.sigmoid(torch.linspace(-6, 6, T)) * (beta_end - beta_start) + beta_start   (DDPM only)
  trained_betas      torch.tensor(trained_betas, dtype=torch.float32)
  rescale            rescale_zero_terminal_snr(betas)                                                 (DDIM only)
then alphas = 1.0 - betas and alphas_cumprod = torch.cumprod(alphas, dim=0). Nothing here reads the C. The values are
stored as float32 bit patterns: the C must reproduce them bit for bit.
"""

import math
import os

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_PATH = os.path.join(ROOT, "tests", "data", "schedule_f32_ref.h")

# the C enum ddpm_schedule_kind
KIND = {"linear": 0, "scaled_linear": 1, "squaredcos_cap_v2": 2, "sigmoid": 3, "custom": 4}


def betas_for_alpha_bar(num_diffusion_timesteps, max_beta=0.999):
    """diffusers.schedulers.scheduling_ddpm.betas_for_alpha_bar (alpha_transform_type "cosine"), verbatim."""
    def alpha_bar_fn(t):
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = []
    for i in range(num_diffusion_timesteps):
        t1 = i / num_diffusion_timesteps
        t2 = (i + 1) / num_diffusion_timesteps
        betas.append(min(1 - alpha_bar_fn(t2) / alpha_bar_fn(t1), max_beta))
    return torch.tensor(betas, dtype=torch.float32)


def rescale_zero_terminal_snr(betas):
    """diffusers.schedulers.scheduling_ddim.rescale_zero_terminal_snr, verbatim."""
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    alphas_bar_sqrt = alphas_cumprod.sqrt()
    alphas_bar_sqrt_0 = alphas_bar_sqrt[0].clone()
    alphas_bar_sqrt_T = alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt -= alphas_bar_sqrt_T
    alphas_bar_sqrt *= alphas_bar_sqrt_0 / (alphas_bar_sqrt_0 - alphas_bar_sqrt_T)
    alphas_bar = alphas_bar_sqrt**2
    alphas = alphas_bar[1:] / alphas_bar[:-1]
    alphas = torch.cat([alphas_bar[0:1], alphas])
    betas = 1 - alphas
    return betas


def scheduler_betas(beta_schedule, T, beta_start, beta_end, trained_betas=None, rescale=False):
    """The branch of DDPMScheduler.__init__ / DDIMScheduler.__init__ that sets self.betas, then alphas_cumprod."""
    if trained_betas is not None:
        betas = torch.tensor(trained_betas, dtype=torch.float32)
    elif beta_schedule == "linear":
        betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    elif beta_schedule == "scaled_linear":
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, T, dtype=torch.float32) ** 2
    elif beta_schedule == "squaredcos_cap_v2":
        betas = betas_for_alpha_bar(T)
    elif beta_schedule == "sigmoid":
        betas = torch.linspace(-6, 6, T)
        betas = torch.sigmoid(betas) * (beta_end - beta_start) + beta_start
    else:
        raise ValueError(beta_schedule)
    if rescale:
        betas = rescale_zero_terminal_snr(betas)
    alphas = 1.0 - betas
    alphas_cumprod = torch.cumprod(alphas, dim=0)
    assert betas.dtype == torch.float32 and alphas_cumprod.dtype == torch.float32
    return betas.numpy(), alphas_cumprod.numpy()


CUSTOM = [0.0001, 0.0005, 0.001, 0.01, 0.1, 1.0 / 3.0, 0.7]

# (name, beta_schedule, T, beta_start, beta_end, rescale). T values exercise PyTorch's kernels: linspace and sigmoid
# run 8-wide vectors two at a time and finish the last T % 16 entries one by one.
CASES = [
    ("linear_T1", "linear", 1, 1e-4, 0.02, False),
    ("linear_T2", "linear", 2, 1e-4, 0.02, False),
    ("linear_T17", "linear", 17, 1e-4, 0.02, False),
    ("linear_sd_T1001", "linear", 1001, 0.00085, 0.012, False),
    ("scaled_linear_sd_T1000", "scaled_linear", 1000, 0.00085, 0.012, False),
    ("scaled_linear_T37", "scaled_linear", 37, 1e-4, 0.02, False),
    ("sigmoid_T1000", "sigmoid", 1000, 1e-4, 0.02, False),
    ("sigmoid_T33", "sigmoid", 33, 0.001, 0.05, False),
    ("cosine_T1000", "squaredcos_cap_v2", 1000, 1e-4, 0.02, False),
    ("cosine_T50", "squaredcos_cap_v2", 50, 1e-4, 0.02, False),
    ("scaled_linear_sd_T1000_rescaled", "scaled_linear", 1000, 0.00085, 0.012, True),
    ("linear_T1000_rescaled", "linear", 1000, 1e-4, 0.02, True),
    ("custom_T7", "custom", len(CUSTOM), 1e-4, 0.02, False),
]


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def c_array(name, a):
    words = ["0x%08xu" % int(w) for w in bits(a)]
    lines = [", ".join(words[i:i + 8]) for i in range(0, len(words), 8)]
    return "static const uint32_t %s[%d] = {\n    %s};\n" % (name, len(words), ",\n    ".join(lines))


def main():
    torch.set_num_threads(1)  # the CPU is shared; and PyTorch splits linspace across threads only past 32768 entries
    out = ["/* Generated by training/ref_schedule_f32.py (PyTorch %s, CPU, one thread; diffusers v0.21.4's schedule"
           % torch.__version__,
           " * expressions, written independently of src/):",
           " *     /usr/bin/python3 training/ref_schedule_f32.py",
           " * Do not edit by hand. betas and alphas_cumprod are float32 bit patterns. */",
           "#ifndef SCHEDULE_F32_REF_H", "#define SCHEDULE_F32_REF_H", "", "#include <stdint.h>", ""]
    out.append("static const double sf_custom_betas[%d] = {%s};" % (len(CUSTOM), ", ".join(repr(b) for b in CUSTOM)))
    out.append("")
    rows = []
    for name, sched, T, b0, b1, rescale in CASES:
        betas, ab = scheduler_betas(sched, T, b0, b1, CUSTOM if sched == "custom" else None, rescale)
        out.append(c_array("sf_%s_betas" % name, betas))
        out.append(c_array("sf_%s_alphas_cumprod" % name, ab))
        rows.append('    {"%s", %d, %d, %r, %r, %d, %s, sf_%s_betas, sf_%s_alphas_cumprod},'
                    % (name, KIND[sched], T, b0, b1,
                       int(rescale), "sf_custom_betas" if sched == "custom" else "0", name, name))
        print("%-34s T=%5d  beta[0]=%.9g beta[-1]=%.9g abar[-1]=%.9g" % (name, T, betas[0], betas[-1], ab[-1]))
    out.append("typedef struct sf_case {")
    out.append("    const char *name;")
    out.append("    int kind;                       /* ddpm_schedule_kind */")
    out.append("    int T;")
    out.append("    double beta_start, beta_end;")
    out.append("    int rescale_zero_snr;")
    out.append("    const double *custom_betas;     /* kind 4 (custom): T betas as given to diffusers */")
    out.append("    const uint32_t *betas, *alphas_cumprod; /* T float32 bit patterns each */")
    out.append("} sf_case;")
    out.append("")
    out.append("#define SF_NUM_CASES %d" % len(CASES))
    out.append("static const sf_case sf_cases[SF_NUM_CASES] = {")
    out.extend(rows)
    out.append("};")
    out.append("")
    out.append("#endif")
    with open(OUT_PATH, "w") as f:
        f.write("\n".join(out) + "\n")
    print("wrote", OUT_PATH)


if __name__ == "__main__":
    main()
