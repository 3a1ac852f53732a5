"""How far a DDIM (eta 0) replay drifts when every eps is off by a little: the tolerance argument of
tests/test_diffusers.c, measured on diffusers' own float32 loop (diffusers_unet.py is bit-exact to diffusers 0.21.4).

    /usr/bin/python3 training/ddim_sensitivity.py [--sd 1e-6 3e-6 1e-5] [--seeds 3]

Runs the 50-step DDIM loop of tests/data/diffusers/sampling/ddim50_eta0.safetensors from its x_T, with Gaussian
noise of standard deviation sd added to the model's eps at every step, and prints the worst max |x - x_golden| over
the steps for each sd and seed. sd 0 reproduces the golden trajectory exactly.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from diffusers_unet import load_folder  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "diffusers")


def drift(model, gold, abar, sd, seed):
    g = torch.Generator().manual_seed(seed)
    ts, xs = gold["timesteps"], torch.tensor(gold["x"])
    x, worst = torch.tensor(gold["x_T"]), 0.0
    for i, t in enumerate(ts):
        with torch.no_grad():
            e = model(x, torch.full((x.shape[0],), float(t)))
        if sd:
            e = e + sd * torch.randn(e.shape, generator=g)
        at = abar[t]
        ap = abar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)  # set_alpha_to_one
        x0 = ((x - (1 - at) ** 0.5 * e) / at ** 0.5).clamp(-1, 1)       # clip_sample; eps stays unclipped
        x = ap ** 0.5 * x0 + (1 - ap) ** 0.5 * e
        worst = max(worst, (x - xs[i]).abs().max().item())
    return worst


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sd", type=float, nargs="+", default=[1e-6, 3e-6, 1e-5])
    p.add_argument("--seeds", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(1)
    model = load_folder(os.path.join(ROOT, "small-rgb"))
    model = model[0] if isinstance(model, tuple) else model
    gold, _ = st.load(os.path.join(ROOT, "sampling", "ddim50_eta0.safetensors"))
    sched, _ = st.load(os.path.join(ROOT, "sampling", "schedule.safetensors"))
    abar = torch.tensor(sched["alphas_cumprod"])
    print(f"sd 0: worst drift {drift(model, gold, abar, 0.0, 0):.3e} (must be 0)")
    for sd in a.sd:
        d = [drift(model, gold, abar, sd, k) for k in range(a.seeds)]
        print(f"sd {sd:.0e}: worst drift " + ", ".join(f"{v:.2e}" for v in d))


if __name__ == "__main__":
    main()
