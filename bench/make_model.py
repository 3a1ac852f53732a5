"""Make the benchmark's network: the shipped architecture (training/model.py UNetConfig, 10 classes, 28x28x1) with
random weights, or the weights of an existing checkpoint/safetensors, exported three ways with the SAME numbers:

    bench/out/model.i8.safetensors   what our engine loads (int8 per-row, like the shipped model; with --from an I8
                                     file, that file)
    bench/out/model.f32.safetensors  the dequantized weights in float32 (the tfjs graph is built from these)
    bench/out/model.onnx             torch.onnx.export of training/model.py with the dequantized weights
    bench/out/ref.bin                a PyTorch reference output for the bench's fixed inputs (batch 8)

    /usr/bin/python3 bench/make_model.py [--from SAFETENSORS] [--seed 0]
"""
import argparse
import os
import shutil
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "training"))
import export as ex  # noqa: E402
import st  # noqa: E402
from model import UNet, UNetConfig  # noqa: E402

SCHED = {"kind": "linear", "T": 1000, "beta_start": 1e-4, "beta_end": 0.02}


def bench_inputs(cfg, n):
    """The same inputs as bench/peers.mjs (labels i % (num_classes + 1): the last is the null class): image i, pixel j = ((j + 977 i) * 2654435761 mod 2^32 mod 2001) / 1000 - 1."""
    D = cfg.in_channels * cfg.image_size ** 2
    x = np.zeros((n, D), np.float32)
    for i in range(n):
        j = np.arange(D, dtype=np.uint64)
        x[i] = (((j + 977 * i) * 2654435761) % (1 << 32) % 2001).astype(np.float32) / 1000.0 - 1.0
    t = np.array([100 + 37 * i for i in range(n)], np.float32)
    y = np.array([i % (cfg.num_classes + 1) for i in range(n)], np.int64)
    return x.reshape(n, cfg.in_channels, cfg.image_size, cfg.image_size), t, y


def config_from_meta(meta):
    ints = lambda k: [int(v) for v in meta[k].split(",") if v]  # noqa: E731
    return UNetConfig(in_channels=int(meta["ddpm.in_channels"]), out_channels=int(meta["ddpm.out_channels"]),
                      base_channels=int(meta["ddpm.base_channels"]), channel_mult=ints("ddpm.channel_mult"),
                      num_res_blocks=int(meta["ddpm.num_res_blocks"]), attn_resolutions=ints("ddpm.attn_resolutions"),
                      groups=int(meta["ddpm.groups"]), num_classes=int(meta["ddpm.num_classes"]),
                      image_size=int(meta["ddpm.image_size"]), dropout=0.0,
                      prediction=meta.get("ddpm.prediction", "eps"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--from", dest="src", default=None, help="an existing F32/I8 safetensors to take weights from")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(HERE, "out"))
    a = p.parse_args()
    torch.manual_seed(a.seed)
    sched = SCHED
    if a.src:
        tensors, meta = st.load(a.src)
        cfg = config_from_meta(meta)
        sched = {"kind": meta.get("ddpm.schedule", "linear"), "T": int(meta.get("ddpm.num_timesteps", 1000)),
                 "beta_start": float(meta.get("ddpm.beta_start", 1e-4)),
                 "beta_end": float(meta.get("ddpm.beta_end", 0.02))}
        model = UNet(cfg).eval()
        sd = {}
        for name in model.state_dict():
            w = tensors[name]
            if name + "_scale" in tensors:  # I8: the C loader's dequantization
                w = ex.dequantize_rows(w, tensors[name + "_scale"])
            sd[name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
        model.load_state_dict(sd)
    else:
        cfg = UNetConfig(num_classes=10, dropout=0.0)
        model = UNet(cfg).eval()
        # random, non-trivial GroupNorm affine so every path matters
        with torch.no_grad():
            for name, prm in model.named_parameters():
                if "norm" in name and name.endswith("weight"):
                    prm.uniform_(0.5, 1.5)
                elif name.endswith("bias"):
                    prm.uniform_(-0.1, 0.1)
    os.makedirs(a.out, exist_ok=True)
    # model.i8: what our engine loads (the source file itself when it is I8). Then every other engine gets exactly
    # the weights the C loader computes from it: float32(q) * scale per row (export.dequantize_rows).
    i8 = os.path.join(a.out, "model.i8.safetensors")
    if a.src and meta.get("ddpm.dtype") == "I8":
        shutil.copyfile(a.src, i8)
    else:
        ex.export(model.state_dict(), cfg, sched, i8, "i8")
    tensors, _ = st.load(i8)
    sd = {}
    for name in model.state_dict():
        w = tensors[name]
        if name + "_scale" in tensors:
            w = ex.dequantize_rows(w, tensors[name + "_scale"])
        sd[name] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
    model.load_state_dict(sd)
    ex.export(model.state_dict(), cfg, sched, os.path.join(a.out, "model.f32.safetensors"), "f32")
    x, t, y = bench_inputs(cfg, 8)
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(y)).numpy().astype(np.float32)
    ref.tofile(os.path.join(a.out, "ref.bin"))

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x, t, y):
            return self.m(x, t, y)

    torch.onnx.export(Wrap(model), (torch.from_numpy(x[:1]), torch.from_numpy(t[:1]), torch.from_numpy(y[:1])),
                      os.path.join(a.out, "model.onnx"), input_names=["x", "t", "y"], output_names=["eps"],
                      dynamic_axes={"x": {0: "n"}, "t": {0: "n"}, "y": {0: "n"}, "eps": {0: "n"}}, opset_version=17)
    print("wrote", a.out, "params", sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    main()
