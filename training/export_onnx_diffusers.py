"""Exports a diffusers UNet2DModel folder (through training/diffusers_unet.py) to ONNX, with a PyTorch reference for
cross-checking other runtimes.

    /usr/bin/python3 training/diffusers_random.py --preset cifar10 --out /tmp/ddpm-cifar10-random
    /usr/bin/python3 training/export_onnx_diffusers.py /tmp/ddpm-cifar10-random [--out DIR] [--opset 17]
    node bench/onnx_diffusers_check.mjs DIR        # runs DIR/model.onnx in onnxruntime-web, compares

Writes into --out (default: the model folder):
  model.onnx               torch.onnx.export, opset 17, inputs x float32 [N,C,S,S] and t float32 [N] (the
                           timestep as a float: no int64 cast in the graph), output eps float32 [N,C,S,S]; the
                           batch axis N is dynamic (named "n"); constant folding on; eval mode (no dropout)
  reference.safetensors    x_b1, t_b1, eps_b1 (batch 1) and x_b8, t_b8, eps_b8 (batch 8): seeded inputs, eps from
                           the PyTorch module in float32 with one thread (metadata: config, opset, torch version)
  reference.json           the same numbers' summary (shapes, max |eps|, PyTorch forward ms at batch 1 and 8)

Only the subset diffusers_unet.py implements is exported; the weights' dtype is converted to float32.
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402
from diffusers_unet import load_folder, n_params  # noqa: E402


class EpsOnly(torch.nn.Module):
    """(x, t float [N]) -> eps; the graph's two inputs."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x, t):
        return self.m(x, t)


def reference_inputs(cfg, n, seed=0):
    g = torch.Generator().manual_seed(seed + n)
    s, c = cfg["sample_size"], cfg["in_channels"]
    x = torch.randn((n, c, s, s), generator=g, dtype=torch.float32)
    t = torch.linspace(0, 999, n).round() if n > 1 else torch.tensor([500.0])
    return x, t.to(torch.float32)


def timed(model, x, t, rounds):
    with torch.no_grad():
        eps = model(x, t)
        ms = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            model(x, t)
            ms.append((time.perf_counter() - t0) * 1e3)
    return eps, statistics.median(ms)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="a diffusers UNet2DModel folder (config.json + weights)")
    p.add_argument("--out", help="output folder (default: the model folder)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--variant", help="weights variant, e.g. fp16 (converted to float32)")
    p.add_argument("--rounds", type=int, default=3, help="timed PyTorch forwards per batch size (median)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(1)
    out = a.out or a.folder
    os.makedirs(out, exist_ok=True)
    model = load_folder(a.folder, variant=a.variant).eval()
    cfg = model.config
    if cfg["num_class_embeds"]:
        raise SystemExit("class-conditional models are not exported by this script (inputs are x and t only)")
    wrap = EpsOnly(model).eval()

    tensors, summary = {}, {"folder": os.path.abspath(a.folder), "parameters": n_params(model), "opset": a.opset,
                            "torch": torch.__version__, "threads": 1}
    for n in (1, 8):
        x, t = reference_inputs(cfg, n, a.seed)
        eps, ms = timed(model, x, t, a.rounds)
        tensors.update({f"x_b{n}": x.numpy(), f"t_b{n}": t.numpy(), f"eps_b{n}": eps.numpy()})
        summary[f"b{n}"] = {"x": list(x.shape), "t": t.tolist(), "max_abs_eps": float(eps.abs().max()),
                            "torch_ms_median": round(ms, 2)}
        print(f"batch {n}: PyTorch forward {ms:.1f} ms (1 thread, median of {a.rounds}), "
              f"max |eps| {float(eps.abs().max()):.3f}")

    onnx_path = os.path.join(out, "model.onnx")
    x1, t1 = reference_inputs(cfg, 1, a.seed)
    t0 = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 1.13's shape-inference chatter about constants
        torch.onnx.export(wrap, (x1, t1), onnx_path, input_names=["x", "t"], output_names=["eps"],
                          dynamic_axes={"x": {0: "n"}, "t": {0: "n"}, "eps": {0: "n"}}, opset_version=a.opset,
                          do_constant_folding=True)
    summary["export_s"] = round(time.perf_counter() - t0, 2)
    summary["onnx_bytes"] = os.path.getsize(onnx_path)
    st.save(os.path.join(out, "reference.safetensors"), tensors,
            metadata={"producer": "training/export_onnx_diffusers.py", "config": json.dumps(cfg),
                      "opset": str(a.opset), "torch": torch.__version__,
                      "eps": "diffusers_unet.UNet2D float32, eval, 1 thread"})
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(f"wrote {onnx_path} ({summary['onnx_bytes']:,} bytes, opset {a.opset}, export {summary['export_s']} s), "
          f"reference.safetensors, reference.json")


if __name__ == "__main__":
    main()
