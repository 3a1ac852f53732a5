"""Golden files for the C and Node tests: small random-weight U-Nets run through this PyTorch reference.

    /usr/bin/python3 training/golden.py            # writes tests/data/*.safetensors
    /usr/bin/python3 training/golden.py --shipped models/fmnist-cond.i8.safetensors --name fmnist-cond
                                                   # golden inputs/outputs for a shipped file, read back from it

For each tiny config it writes
  tests/data/<name>.{f32,f16,i8}.safetensors   the model in the engine's weights format
  tests/data/<name>.golden.safetensors         inputs x, t, y (labels as F32; -1 = none) and PyTorch's outputs:
      out.f32 / out.f16 / out.i8   eps-prediction with the weights each file decodes to (F16 and I8 dequantized
                                   exactly as the C loader does), so each dtype has an exact float32 reference
      trace.<block>                every block's activation for the F32 weights (names as in model.py's trace)
The weights are random but not default: biases, GroupNorm scales and shifts are all perturbed, so a wrongly bound
tensor changes the output. Everything is seeded; rerunning reproduces the files bit for bit on the same torch.
"""

import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export  # noqa: E402
import st  # noqa: E402
from model import UNet, UNetConfig  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")
SCHED = dict(kind="linear", T=1000, beta_start=1e-4, beta_end=0.02)

CONFIGS = {
    # class-conditional, three levels (12 -> 6 -> 3), attention at 6 and in the middle, skip 1x1 convs
    "tiny-cond": UNetConfig(in_channels=1, out_channels=1, base_channels=16, channel_mult=[1, 2, 2],
                            num_res_blocks=1, attn_resolutions=[6], groups=4, num_classes=3, image_size=12,
                            dropout=0.0),
    # unconditional, two channels in and out, two res blocks per level (8 -> 4)
    "tiny-uncond": UNetConfig(in_channels=2, out_channels=2, base_channels=8, channel_mult=[1, 2],
                              num_res_blocks=2, attn_resolutions=[4], groups=2, num_classes=0, image_size=8,
                              dropout=0.0),
}


def perturb(model, g):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif p.ndim == 1:  # GroupNorm scale
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))
            elif "class_embed" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.mul_(1.5)


def run(model, x, t, y, trace=None):
    with torch.no_grad():
        return model(x, t, y, trace=trace).numpy()


def make(name, cfg, seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed + 1)
    model = UNet(cfg).eval()
    perturb(model, g)
    n = 3
    S = cfg.image_size
    x = torch.randn(n, cfg.in_channels, S, S, generator=g)
    t = torch.tensor([0.0, 417.5, 999.0])
    y = torch.tensor([0, cfg.num_classes - 1, cfg.num_classes]) if cfg.num_classes else None
    sd = model.state_dict()
    tensors = {"x": x.numpy(), "t": t.numpy(),
               "y": (y.float() if y is not None else torch.full((n,), -1.0)).numpy()}
    for dt in ("f32", "f16", "i8"):
        export.export(sd, cfg, SCHED, os.path.join(OUT, f"{name}.{dt}.safetensors"), dt,
                      {"ddpm.note": "random test weights, not a trained model"})
        m = UNet(cfg).eval()
        m.load_state_dict(export.dequantized_state(sd, dt))
        trace = [] if dt == "f32" else None
        tensors[f"out.{dt}"] = run(m, x, t, y, trace)
        if trace is not None:
            for tname, v in trace:
                tensors[f"trace.{tname}"] = v.numpy()
    st.save(os.path.join(OUT, f"{name}.golden.safetensors"), tensors,
            {"note": "PyTorch reference outputs, see training/golden.py"})
    d = np.abs(tensors["out.i8"] - tensors["out.f32"])
    print(f"{name}: out range [{tensors['out.f32'].min():.3f}, {tensors['out.f32'].max():.3f}], "
          f"I8 vs F32 max|d| {d.max():.4f}, rel L2 "
          f"{np.linalg.norm(d) / np.linalg.norm(tensors['out.f32']):.4f}")


def config_from_metadata(meta):
    ints = lambda s: [int(v) for v in s.split(",") if v]  # noqa: E731
    return UNetConfig(in_channels=int(meta["ddpm.in_channels"]), out_channels=int(meta["ddpm.out_channels"]),
                      base_channels=int(meta["ddpm.base_channels"]), channel_mult=ints(meta["ddpm.channel_mult"]),
                      num_res_blocks=int(meta["ddpm.num_res_blocks"]),
                      attn_resolutions=ints(meta["ddpm.attn_resolutions"]), groups=int(meta["ddpm.groups"]),
                      num_classes=int(meta["ddpm.num_classes"]), image_size=int(meta["ddpm.image_size"]),
                      dropout=0.0)


def make_shipped(path, name, seed=7):
    """Golden for a shipped weights file: the file is read back and decoded (I8 * per-row scale, F16 widened) as the
    C loader does, so the reference is the file's own numbers, whatever checkpoint it came from."""
    tensors, meta = st.load(path)
    cfg = config_from_metadata(meta)
    sd = {}
    for k, v in tensors.items():
        if k.endswith("_scale"):
            continue
        if v.dtype == np.int8:
            v = export.dequantize_rows(v, tensors[k + "_scale"])
        sd[k] = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
    model = UNet(cfg).eval()
    model.load_state_dict(sd)
    g = torch.Generator().manual_seed(seed)
    S, n = cfg.image_size, 4
    x = torch.randn(n, cfg.in_channels, S, S, generator=g)
    t = torch.tensor([0.0, 250.0, 640.5, 999.0])
    y = torch.tensor([0, 3, cfg.num_classes - 1, cfg.num_classes]) if cfg.num_classes else None
    out = {"x": x.numpy(), "t": t.numpy(), "y": (y.float() if y is not None else torch.full((n,), -1.0)).numpy()}
    out[f"out.{meta.get('ddpm.dtype', 'F32').lower()}"] = run(model, x, t, y)
    dst = os.path.join(OUT, f"{name}.golden.safetensors")
    st.save(dst, out, {"note": f"PyTorch reference outputs of {os.path.basename(path)}, see training/golden.py"})
    print(f"wrote {dst}")


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shipped", help="a shipped weights file to write a golden file for (instead of the tiny ones)")
    ap.add_argument("--name", help="with --shipped: tests/data/NAME.golden.safetensors")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    if a.shipped:
        make_shipped(a.shipped, a.name or os.path.basename(a.shipped).split(".")[0])
    else:
        for i, (name, cfg) in enumerate(CONFIGS.items()):
            make(name, cfg, 100 + i)
