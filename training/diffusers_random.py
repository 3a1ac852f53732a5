"""Writes a diffusers UNet2DModel folder with seeded random weights (and optionally a golden forward to check an
engine against), built on training/diffusers_unet.py.

    /usr/bin/python3 training/diffusers_random.py --preset cifar10 [--out DIR] [--seed 0] [--fp16] [--bf16]
        [--scheduler] [--old-attention-names] [--bin] [--pipeline] [--golden N [--intermediates] [--f64]]
        [--set KEY=JSON ...] [--config CONFIG.json]

Presets: `cifar10` = google/ddpm-cifar10-32's architecture (35,746,307 parameters, asserted), `small-rgb` = the
config of tests/data/diffusers/small-rgb (1,113,955 parameters), `tiny` (for fast tests). --config starts from a
config.json instead; --set overrides keys (e.g. --set mid_block_scale_factor=1.41421356 --set downsample_padding=1
--set num_class_embeds=10 --set center_input_sample=true), so features the diffusers goldens do not cover can be
exercised (their reference is then this repo's diffusers_unet.py, not diffusers itself).

Output (default /tmp/diffusers-random/PRESET), as diffusers' save_pretrained lays it out:
  config.json                              sorted keys, every UNet2DModel argument of diffusers v0.21.4
  diffusion_pytorch_model.safetensors      F32, metadata {"format": "pt"}
  diffusion_pytorch_model.fp16.safetensors --fp16: the same weights rounded to F16
  diffusion_pytorch_model.bf16.safetensors --bf16: the same weights rounded to BF16 (nearest even)
  diffusion_pytorch_model.bin              --bin: the same F32 state dict via torch.save (for .bin loaders)
  scheduler_config.json                    --scheduler: DDPMScheduler, linear 1e-4..0.02, T 1000, clip_sample true
  --pipeline puts the model in unet/ and the scheduler in scheduler/ beside a model_index.json (DDPMPipeline)
  golden.safetensors                       --golden N: x F32 [N,C,S,S] (seeded normal), t F32 [N] (0, 999, then
                                           seeded integers), [class_labels I64], eps (float32 model, 1 thread);
                                           --f64 adds eps_f64 / eps_f64_pure as in the diffusers goldens
  intermediates.safetensors                --intermediates: time_proj, time_embedding, emb_total, conv_in,
                                           down_blocks.i, mid_block, up_blocks.i, conv_norm_out, conv_out
--old-attention-names writes the pre-0.14 names (query/key/value/proj_attn) that google/ddpm-* checkpoints use.

Weights, like the goldens' (no weight is 0 or 1, activations O(1)): Conv/Linear weights N(0, 1/fan_in), biases
N(0, 0.05^2), GroupNorm weights 1 + N(0, 0.1^2) and biases N(0, 0.1^2), class embedding N(0, 0.5^2); drawn in
state-dict order from torch.Generator().manual_seed(seed).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402
from diffusers_unet import DEFAULTS, UNet2D, n_params  # noqa: E402

DIFFUSERS_VERSION = "0.21.4"  # the config layout written is that release's

PRESETS = {
    "cifar10": dict(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=[128, 256, 256, 256], layers_per_block=2,
        down_block_types=["DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
        up_block_types=["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"], norm_num_groups=32,
        norm_eps=1e-6, attention_head_dim=None, downsample_padding=0, flip_sin_to_cos=False, freq_shift=1,
        mid_block_scale_factor=1, center_input_sample=False, dropout=0.1, act_fn="silu",
        time_embedding_type="positional"),
    "small-rgb": dict(
        sample_size=16, in_channels=3, out_channels=3, block_out_channels=[32, 64, 64], layers_per_block=1,
        down_block_types=["DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
        up_block_types=["UpBlock2D", "AttnUpBlock2D", "UpBlock2D"], norm_num_groups=8, norm_eps=1e-6,
        attention_head_dim=8, downsample_padding=0, flip_sin_to_cos=True, freq_shift=0, dropout=0.0),
    "tiny": dict(
        sample_size=8, in_channels=1, out_channels=1, block_out_channels=[16, 32], layers_per_block=1,
        down_block_types=["AttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "AttnUpBlock2D"],
        norm_num_groups=4, norm_eps=1e-6, attention_head_dim=8, downsample_padding=0),
}
EXPECTED_PARAMS = {"cifar10": 35_746_307, "small-rgb": 1_113_955}

SCHEDULER = {
    "_class_name": "DDPMScheduler", "_diffusers_version": DIFFUSERS_VERSION, "beta_end": 0.02,
    "beta_schedule": "linear", "beta_start": 0.0001, "clip_sample": True, "clip_sample_range": 1.0,
    "dynamic_thresholding_ratio": 0.995, "num_train_timesteps": 1000, "prediction_type": "epsilon",
    "sample_max_value": 1.0, "steps_offset": 0, "thresholding": False, "timestep_spacing": "leading",
    "trained_betas": None, "variance_type": "fixed_small",
}
OLD_NAMES = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def full_config(overrides):
    """UNet2DModel config.json dict: every argument (defaults + overrides) plus _class_name/_diffusers_version."""
    unknown = [k for k in overrides if k not in DEFAULTS]
    if unknown:
        raise ValueError(f"unknown UNet2DModel config keys: {unknown}")
    c = {"_class_name": "UNet2DModel", "_diffusers_version": DIFFUSERS_VERSION, **DEFAULTS, **overrides}
    return c


def random_state_dict(model, seed):
    """Seeded weights in state-dict order (see the module docstring); returns {name: float32 tensor}."""
    g = torch.Generator().manual_seed(seed)
    norms = {n for n, m in model.named_modules() if isinstance(m, torch.nn.GroupNorm)}
    embs = {n for n, m in model.named_modules() if isinstance(m, torch.nn.Embedding)}
    out = {}
    for name, p in model.state_dict().items():
        mod, kind = name.rsplit(".", 1)
        z = torch.randn(p.shape, generator=g, dtype=torch.float32)
        if mod in norms:
            v = 1.0 + 0.1 * z if kind == "weight" else 0.1 * z
        elif mod in embs:
            v = 0.5 * z
        elif kind == "bias":
            v = 0.05 * z
        else:
            v = z / float(np.prod(p.shape[1:])) ** 0.5
        out[name] = v
    bad = [k for k, v in out.items() if bool(((v == 0) | (v == 1)).any())]
    if bad and sum(v.numel() for v in out.values()) > 10_000_000:
        # at 10^8 draws an exact 0 (or 1) is bound to occur: nudge those few values instead of refusing
        for k in bad:
            v = out[k]
            v[v == 0] = 1e-8
            v[v == 1] = 1 + 2 ** -20
        bad = []
    assert not bad, f"a weight is exactly 0 or 1 in {bad}; pick another seed"
    return out


def to_old_names(sd):
    out = {}
    for k, v in sd.items():
        if ".attentions." in k:
            for new, old in OLD_NAMES.items():
                if f".{new}." in k:
                    k = k.replace(f".{new}.", f".{old}.")
                    break
        out[k] = v
    return out


def golden_inputs(cfg, n, seed):
    """x [n,C,S,S] seeded normal, t [n] float32 (0, 999, then seeded integers in [0, 1000)), class labels."""
    g = torch.Generator().manual_seed(seed + 1000)
    s = cfg["sample_size"]
    x = torch.randn((n, cfg["in_channels"], s, s), generator=g, dtype=torch.float32)
    t = torch.randint(0, 1000, (n,), generator=g).to(torch.float32)
    t[:2] = torch.tensor([0.0, 999.0])[:n]
    y = torch.randint(0, cfg["num_class_embeds"], (n,), generator=g) if cfg.get("num_class_embeds") else None
    return x, t, y


def write_json(path, d):
    with open(path, "w") as f:
        f.write(json.dumps(d, indent=2, sort_keys=True) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cifar10")
    p.add_argument("--config", help="start from this config.json instead of a preset")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="override a config key")
    p.add_argument("--out", help="output folder (default /tmp/diffusers-random/PRESET)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fp16", action="store_true", help="also write diffusion_pytorch_model.fp16.safetensors")
    p.add_argument("--bf16", action="store_true", help="also write diffusion_pytorch_model.bf16.safetensors")
    p.add_argument("--bin", action="store_true", help="also write diffusion_pytorch_model.bin (torch.save)")
    p.add_argument("--scheduler", action="store_true", help="also write scheduler_config.json (DDPMScheduler)")
    p.add_argument("--pipeline", action="store_true", help="unet/ + scheduler/ + model_index.json layout")
    p.add_argument("--old-attention-names", action="store_true", help="query/key/value/proj_attn (pre-0.14)")
    p.add_argument("--golden", type=int, default=0, metavar="N", help="write golden.safetensors at batch N")
    p.add_argument("--intermediates", action="store_true", help="with --golden: intermediates.safetensors")
    p.add_argument("--f64", action="store_true", help="with --golden: eps_f64 and eps_f64_pure too")
    a = p.parse_args()
    torch.set_num_threads(1)

    if a.config:
        with open(a.config) as f:
            base = {k: v for k, v in json.load(f).items() if not k.startswith("_")}
        name = os.path.splitext(os.path.basename(a.config))[0]
    else:
        base, name = dict(PRESETS[a.preset]), a.preset
    for kv in a.set:
        k, _, v = kv.partition("=")
        base[k] = json.loads(v)
    cfg = full_config(base)
    model = UNet2D(cfg).eval()
    npar = n_params(model)
    if not a.config and not a.set and name in EXPECTED_PARAMS:
        assert npar == EXPECTED_PARAMS[name], f"{name}: {npar:,} parameters, expected {EXPECTED_PARAMS[name]:,}"
    sd = random_state_dict(model, a.seed)
    model.load_state_dict(sd)

    out = a.out or os.path.join("/tmp", "diffusers-random", name)
    mdir = os.path.join(out, "unet") if a.pipeline else out
    sdir = os.path.join(out, "scheduler") if a.pipeline else out
    os.makedirs(mdir, exist_ok=True)
    write_json(os.path.join(mdir, "config.json"), cfg)
    file_sd = to_old_names(sd) if a.old_attention_names else sd
    arrays = {k: v.numpy() for k, v in file_sd.items()}
    st.save(os.path.join(mdir, "diffusion_pytorch_model.safetensors"), arrays, metadata={"format": "pt"})
    written = ["config.json", "diffusion_pytorch_model.safetensors"]
    if a.fp16:
        st.save(os.path.join(mdir, "diffusion_pytorch_model.fp16.safetensors"),
                {k: v.astype(np.float16) for k, v in arrays.items()}, metadata={"format": "pt"})
        written.append("diffusion_pytorch_model.fp16.safetensors")
    if a.bf16:
        st.save(os.path.join(mdir, "diffusion_pytorch_model.bf16.safetensors"), arrays, metadata={"format": "pt"},
                dtypes={k: "BF16" for k in arrays})
        written.append("diffusion_pytorch_model.bf16.safetensors")
    if a.bin:
        torch.save(dict(file_sd), os.path.join(mdir, "diffusion_pytorch_model.bin"))
        written.append("diffusion_pytorch_model.bin")
    if a.scheduler or a.pipeline:
        os.makedirs(sdir, exist_ok=True)
        write_json(os.path.join(sdir, "scheduler_config.json"), SCHEDULER)
        written.append("scheduler_config.json")
    if a.pipeline:
        write_json(os.path.join(out, "model_index.json"),
                   {"_class_name": "DDPMPipeline", "_diffusers_version": DIFFUSERS_VERSION,
                    "scheduler": ["diffusers", "DDPMScheduler"], "unet": ["diffusers", "UNet2DModel"]})
        written.append("model_index.json")
    meta = {"format": "pt", "producer": "training/diffusers_random.py (reference: training/diffusers_unet.py, "
            f"not diffusers itself), torch {torch.__version__}", "config": name, "seed": str(a.seed)}
    if a.golden:
        x, t, y = golden_inputs(model.config, a.golden, a.seed)
        rec = {}
        with torch.no_grad():
            t0 = time.perf_counter()
            eps = model(x, t, y, record=rec)
            ms = (time.perf_counter() - t0) * 1e3
        g = {"x": x.numpy(), "t": t.numpy(), "eps": eps.numpy()}
        if y is not None:
            g["class_labels"] = y.numpy()
        meta["eps"] = "UNet2D(x, t[, class_labels]) float32, torch.set_num_threads(1)"
        if a.f64:
            m64 = UNet2D(cfg).double().eval()
            m64.load_state_dict({k: v.double() for k, v in sd.items()})
            with torch.no_grad():
                g["eps_f64"] = m64(x.double(), t, y).numpy()
                m64.pure_f64 = True
                g["eps_f64_pure"] = m64(x.double(), t, y).numpy()
            meta["eps_f64"] = "float64 model, time sinusoid and attention softmax in float32 (as diffusers)"
            meta["eps_f64_pure"] = "float64 model, everything in float64"
        st.save(os.path.join(mdir, "golden.safetensors"), g, metadata=meta)
        written.append("golden.safetensors")
        if a.intermediates:
            st.save(os.path.join(mdir, "intermediates.safetensors"), {k: v.numpy() for k, v in rec.items()},
                    metadata={**meta, "inputs": "golden.safetensors x, t[, class_labels]"})
            written.append("intermediates.safetensors")
        print(f"golden: batch {a.golden}, t {t.tolist()}, max |eps| {float(eps.abs().max()):.3f}, "
              f"forward {ms:.0f} ms")
    print(f"wrote {out}: {', '.join(written)}; {npar:,} parameters, {len(sd)} tensors")


if __name__ == "__main__":
    main()
