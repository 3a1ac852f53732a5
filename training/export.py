"""Export a model's weights to the C engine's safetensors format (F32, F16 or I8).

    /usr/bin/python3 training/export.py --ckpt /work/runs/cond/ckpt.pt --out models/fmnist-cond --dtypes i8,f32

I8: every weight of rank >= 2 (convolutions, linears, the class embedding) is stored as int8 with one float32 scale
per output channel (row): scale[o] = max|w[o]| / 127, q = round(w / scale) in [-127, 127], tensor "<name>_scale".
Biases and GroupNorm parameters stay F32. F16 stores every tensor as float16.

Metadata: the config (config_metadata), the training run (training_metadata: for a conditional model also its label
dropout and ddpm.class_names, a JSON list of the label names) and ddpm.dtype. training/set_metadata.py edits the
metadata of a shipped file without touching its tensors.
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import st  # noqa: E402
from model import UNet, UNetConfig  # noqa: E402


def config_metadata(cfg: UNetConfig, sched: dict):
    return {
        "ddpm.format": "1",
        "ddpm.in_channels": cfg.in_channels, "ddpm.out_channels": cfg.out_channels,
        "ddpm.base_channels": cfg.base_channels, "ddpm.num_res_blocks": cfg.num_res_blocks,
        "ddpm.groups": cfg.groups, "ddpm.num_classes": cfg.num_classes, "ddpm.image_size": cfg.image_size,
        "ddpm.channel_mult": ",".join(str(m) for m in cfg.channel_mult),
        "ddpm.attn_resolutions": ",".join(str(r) for r in cfg.attn_resolutions),
        "ddpm.prediction": cfg.prediction,
        "ddpm.schedule": sched.get("kind", "linear"), "ddpm.num_timesteps": sched.get("T", 1000),
        "ddpm.beta_start": repr(float(sched.get("beta_start", 1e-4))),
        "ddpm.beta_end": repr(float(sched.get("beta_end", 0.02))),
        "ddpm.variance": "fixed_small",
    }


FMNIST_CLASSES = data.CLASSES  # label k's name


def training_metadata(ck, cfg: UNetConfig):
    """The metadata of a trained checkpoint (this project's Fashion-MNIST runs): data, training, and for conditional
    models the label dropout (what trained the null class) and ddpm.class_names (a JSON list, label k's name); an
    unconditional model gets neither (its run's --label-dropout did nothing)."""
    meta = {"ddpm.dataset": "fashion-mnist (Debian dataset-fashion-mnist), 28x28, scaled to [-1, 1], no padding",
            "ddpm.train_steps": str(ck["step"]), "ddpm.train_images": str(ck["images_seen"]),
            "ddpm.train_hours": f"{ck['train_seconds']/3600:.2f}", "ddpm.weights": "EMA",
            "ddpm.train_batch": str(ck["args"]["batch"]), "ddpm.train_lr": str(ck["args"]["lr"]),
            "ddpm.train_ema": str(ck["args"]["ema"])}
    if cfg.num_classes:
        meta["ddpm.label_dropout"] = str(ck["args"]["label_dropout"])
    if cfg.num_classes == len(FMNIST_CLASSES):
        meta["ddpm.class_names"] = json.dumps(FMNIST_CLASSES, separators=(",", ":"))
    return meta


def quantize_rows(w: np.ndarray):
    """w: [O, ...] float32 -> (q int8 [O, ...], scale float32 [O])."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    amax = np.abs(flat).max(axis=1)
    scale = np.where(amax > 0, amax / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(flat / scale[:, None].astype(np.float64)), -127, 127).astype(np.int8)
    return q.reshape(w.shape), scale


def dequantize_rows(q: np.ndarray, scale: np.ndarray):
    """The C loader's arithmetic: float32(q) * scale[o] in float32."""
    return (q.astype(np.float32) * scale.reshape((-1,) + (1,) * (q.ndim - 1))).astype(np.float32)


def state_tensors(state_dict, dtype):
    out = {}
    for name, v in state_dict.items():
        w = v.detach().cpu().float().numpy()
        if dtype == "f32":
            out[name] = w
        elif dtype == "f16":
            out[name] = w.astype(np.float16)
        elif dtype == "i8":
            if w.ndim >= 2:
                q, s = quantize_rows(w)
                out[name] = q
                out[name + "_scale"] = s
            else:
                out[name] = w
        else:
            raise ValueError(dtype)
    return out


def dequantized_state(state_dict, dtype):
    """The weights the C engine will compute with after loading `dtype` (for PyTorch goldens and I8 evaluation)."""
    sd = {}
    t = state_tensors(state_dict, dtype)
    for name in state_dict:
        if dtype == "i8" and name + "_scale" in t:
            sd[name] = torch.from_numpy(dequantize_rows(t[name], t[name + "_scale"]))
        else:
            sd[name] = torch.from_numpy(t[name].astype(np.float32))
    return sd


def export(state_dict, cfg, sched, path, dtype, extra_meta=None):
    meta = config_metadata(cfg, sched)
    meta.update(extra_meta or {})
    meta["ddpm.dtype"] = dtype.upper()
    st.save(path, state_tensors(state_dict, dtype), meta)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--out", required=True, help="path prefix: writes PREFIX.{f32,f16,i8}.safetensors")
    p.add_argument("--dtypes", default="i8,f16,f32")
    p.add_argument("--meta", action="append", default=[], help="extra metadata KEY=VALUE (repeatable)")
    a = p.parse_args()
    ck = torch.load(a.ckpt, map_location="cpu")
    cfg = UNetConfig(**ck["config"])
    model = UNet(cfg)
    model.load_state_dict(ck["ema"])
    extra = training_metadata(ck, cfg)
    for kv in a.meta:
        k, v = kv.split("=", 1)
        extra[k] = v
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    for d in a.dtypes.split(","):
        path = export(model.state_dict(), cfg, ck["schedule"], f"{a.out}.{d}.safetensors", d, extra)
        print(f"wrote {path} ({os.path.getsize(path)/2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
