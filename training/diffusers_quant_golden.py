"""Reference eps of a diffusers folder with its weights as an F16 or I8 file holds them (training/export.py's
quantizer: F16 rounding of every tensor; int8 with one float32 scale per output channel for every tensor of rank
>= 2), computed by the PyTorch reference training/diffusers_unet.py, for tests/test_diffusers.c's quantize-on-load
checks.

    /usr/bin/python3 training/diffusers_quant_golden.py [--folder tests/data/diffusers/small-rgb]
        [--out tests/data/diffusers-ref/small-rgb-quant.safetensors]

Inputs are the folder's golden.safetensors x and t; the output holds eps_f16 and eps_i8 (F32).
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from diffusers_unet import UNet2D, load_weights  # noqa: E402
from export import dequantized_state  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", default=os.path.join(ROOT, "tests/data/diffusers/small-rgb"))
    p.add_argument("--out", default=os.path.join(ROOT, "tests/data/diffusers-ref/small-rgb-quant.safetensors"))
    a = p.parse_args()
    torch.set_num_threads(1)
    import json
    with open(os.path.join(a.folder, "config.json")) as f:
        cfg = json.load(f)
    weights, _ = st.load(os.path.join(a.folder, "diffusion_pytorch_model.safetensors"))
    gold, _ = st.load(os.path.join(a.folder, "golden.safetensors"))
    x, t = torch.from_numpy(gold["x"]), torch.from_numpy(gold["t"])
    sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
    out = {}
    for dt in ("f16", "i8"):
        model = load_weights(UNet2D(cfg).eval(), dequantized_state(sd, dt))
        with torch.no_grad():
            out[f"eps_{dt}"] = model(x, t).numpy().astype(np.float32)
        print(f"{dt}: max |eps_{dt} - eps| = {np.abs(out[f'eps_{dt}'] - gold['eps']).max():.3e}")
    st.save(a.out, out, {"what": "eps of golden.safetensors' x, t with the weights export.py's F16 / I8 files hold",
                         "producer": "training/diffusers_quant_golden.py"})
    print("wrote", a.out)


if __name__ == "__main__":
    main()
