"""An independent PyTorch re-implementation of Hugging Face diffusers' `UNet2DModel` (the subset DDPM checkpoints use).

Written from the facts in tests/data/diffusers/GOLDENS.md and a reading of diffusers v0.21.4; no diffusers code.
Parameter names equal diffusers' state-dict names, so a `diffusion_pytorch_model.safetensors` loads directly.

Supported config (config.json of UNet2DModel; missing keys take diffusers v0.21.4's defaults): in/out_channels,
sample_size, block_out_channels, layers_per_block, down_block_types DownBlock2D / AttnDownBlock2D, up_block_types
UpBlock2D / AttnUpBlock2D, attention_head_dim (null: one head per block), norm_num_groups, norm_eps,
downsample_padding, flip_sin_to_cos, freq_shift, mid_block_scale_factor, center_input_sample, add_attention,
num_class_embeds, dropout, act_fn, time_embedding_type "positional", resnet_time_scale_shift "default",
down/upsample_type "conv", class_embed_type null. Anything else is refused with a message.

    from diffusers_unet import UNet2D, load_folder
    model = load_folder("tests/data/diffusers/small-rgb")       # config.json + weights (.safetensors or .bin)
    eps = model(x, t)                                            # x [N,C,S,S] float, t [N] (or a scalar)
    rec = {}; eps = model(x, t, record=rec)                      # rec: the goldens' intermediates

    /usr/bin/python3 training/diffusers_unet.py --check [FOLDER]   # max abs errors vs golden.safetensors
    /usr/bin/python3 training/diffusers_unet.py --info FOLDER      # parameter count, resolved config

Float64: `model.double()` computes like diffusers' own float64 model (its time sinusoid and attention softmax stay
float32); `model.pure_f64 = True` keeps those in float64 too (the goldens' `eps_f64_pure`).
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import st  # noqa: E402

# UNet2DModel.__init__'s defaults in diffusers v0.21.4 (a config.json lacking a key means this value)
DEFAULTS = {
    "sample_size": None, "in_channels": 3, "out_channels": 3, "center_input_sample": False,
    "time_embedding_type": "positional", "freq_shift": 0, "flip_sin_to_cos": True,
    "down_block_types": ["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"],
    "up_block_types": ["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
    "block_out_channels": [224, 448, 672, 896], "layers_per_block": 2, "mid_block_scale_factor": 1,
    "downsample_padding": 1, "downsample_type": "conv", "upsample_type": "conv", "dropout": 0.0, "act_fn": "silu",
    "attention_head_dim": 8, "norm_num_groups": 32, "norm_eps": 1e-5, "resnet_time_scale_shift": "default",
    "add_attention": True, "class_embed_type": None, "num_class_embeds": None,
}
# what the subset implements: key -> allowed values (None: any)
_ONLY = {"time_embedding_type": ("positional",), "downsample_type": ("conv",), "upsample_type": ("conv",),
         "resnet_time_scale_shift": ("default",), "class_embed_type": (None,),
         "act_fn": ("silu", "swish", "mish", "gelu", "relu")}
DOWN_TYPES = ("DownBlock2D", "AttnDownBlock2D")
UP_TYPES = ("UpBlock2D", "AttnUpBlock2D")
OLD_ATTN = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def resolve_config(cfg):
    """config.json dict -> the full dict of UNet2DModel arguments (defaults filled), or ValueError if unsupported."""
    if cfg.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise ValueError(f"not a UNet2DModel config: _class_name {cfg['_class_name']!r}")
    c = dict(DEFAULTS)
    c.update({k: v for k, v in cfg.items() if not k.startswith("_") and k in DEFAULTS})
    for k, ok in _ONLY.items():
        if c[k] not in ok:
            raise ValueError(f"unsupported {k} = {c[k]!r} (this implementation has {ok})")
    n = len(c["block_out_channels"])
    if len(c["down_block_types"]) != n or len(c["up_block_types"]) != n:
        raise ValueError("block_out_channels, down_block_types and up_block_types must have the same length")
    for t in c["down_block_types"]:
        if t not in DOWN_TYPES:
            raise ValueError(f"unsupported down block {t!r} (supported: {DOWN_TYPES})")
    for t in c["up_block_types"]:
        if t not in UP_TYPES:
            raise ValueError(f"unsupported up block {t!r} (supported: {UP_TYPES})")
    if c["norm_num_groups"] is None:
        raise ValueError("norm_num_groups null is not supported")
    if c["block_out_channels"][0] % 2:
        raise ValueError("block_out_channels[0] must be even (odd sinusoid widths are not supported)")
    ss = c["sample_size"]
    if isinstance(ss, (list, tuple)):
        ss = ss[0] if ss[0] == ss[1] else ss
    c["sample_size"] = ss
    return c


def _act(name):
    return {"silu": nn.SiLU, "swish": nn.SiLU, "mish": nn.Mish, "gelu": nn.GELU, "relu": nn.ReLU}[name]()


def timestep_sinusoid(t, dim, flip_sin_to_cos, freq_shift, dtype=torch.float32):
    """[N] timesteps -> [N, dim]: half = dim/2, freq_k = exp(-ln(1e4) k / (half - freq_shift)), [sin|cos] or
    [cos|sin]. Computed in `dtype` (diffusers: always float32)."""
    half = dim // 2
    k = torch.arange(half, dtype=dtype, device=t.device)
    freq = torch.exp(-math.log(10000.0) * k / (half - freq_shift))
    arg = t[:, None].to(dtype) * freq[None, :]
    s, c = torch.sin(arg), torch.cos(arg)
    return torch.cat([c, s] if flip_sin_to_cos else [s, c], dim=-1)


class TimeMLP(nn.Module):
    """linear_1 -> SiLU -> linear_2 (diffusers' TimestepEmbedding: SiLU regardless of act_fn)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.linear_1 = nn.Linear(cin, cout)
        self.linear_2 = nn.Linear(cout, cout)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class Resnet(nn.Module):
    """GN-act-conv3x3, + proj(act(emb)), GN-act-dropout-conv3x3, (shortcut(x) + h) / out_scale."""

    def __init__(self, cin, cout, temb, groups, eps, dropout, act, out_scale=1.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.act = _act(act)
        self.out_scale = out_scale

    def forward(self, x, emb):
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.time_emb_proj(self.act(emb))[:, :, None, None]
        h = self.conv2(self.dropout(self.act(self.norm2(h))))
        s = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return (s + h) / self.out_scale


class Attention(nn.Module):
    """Self-attention over the H*W tokens (row-major), GroupNorm first, heads of head_dim channels (channel c in head
    c // head_dim), scores * head_dim^-0.5, softmax in float32 (unless pure_f64), out-proj, + residual, / rescale."""

    def __init__(self, ch, head_dim, groups, eps, rescale=1.0):
        super().__init__()
        if ch % head_dim:
            raise ValueError(f"attention: {ch} channels are not a multiple of attention_head_dim {head_dim}")
        self.heads, self.head_dim, self.rescale = ch // head_dim, head_dim, rescale
        self.group_norm = nn.GroupNorm(groups, ch, eps=eps)
        self.to_q = nn.Linear(ch, ch)
        self.to_k = nn.Linear(ch, ch)
        self.to_v = nn.Linear(ch, ch)
        self.to_out = nn.ModuleList([nn.Linear(ch, ch)])
        self.pure_f64 = False

    def forward(self, x):
        n, c, h, w = x.shape
        hd, nh = self.head_dim, self.heads
        # GroupNorm over the [n, c, L] view (as diffusers does; on [n, c, h, w] it rounds differently)
        tok = self.group_norm(x.reshape(n, c, h * w)).transpose(1, 2)  # [n, L, c]

        def split(z):  # [n, L, c] -> [n*heads, L, hd]
            return z.reshape(n, h * w, nh, hd).permute(0, 2, 1, 3).reshape(n * nh, h * w, hd)

        q, k, v = split(self.to_q(tok)), split(self.to_k(tok)), split(self.to_v(tok))
        scores = torch.bmm(q, k.transpose(1, 2)) * (hd ** -0.5)
        if scores.dtype == torch.float64 and not self.pure_f64:
            p = scores.float().softmax(dim=-1).to(scores.dtype)
        else:
            p = scores.softmax(dim=-1)
        o = torch.bmm(p, v).reshape(n, nh, h * w, hd).permute(0, 2, 1, 3).reshape(n, h * w, c)
        o = self.to_out[0](o).transpose(1, 2).reshape(n, c, h, w)
        return (o + x) / self.rescale


class Downsample(nn.Module):
    """3x3 stride-2 conv; padding 0 means: zero-pad (0,1,0,1) first, then the unpadded conv."""

    def __init__(self, ch, padding):
        super().__init__()
        self.padding = padding
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=padding)

    def forward(self, x):
        if self.padding == 0:
            x = F.pad(x, (0, 1, 0, 1))
        return self.conv(x)


class Upsample(nn.Module):
    """nearest x2, 3x3 conv pad 1."""

    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, cin, cout, n_layers, attn, add_down, c):
        super().__init__()
        temb, g, eps = c["block_out_channels"][0] * 4, c["norm_num_groups"], c["norm_eps"]
        hd = c["attention_head_dim"] or cout
        self.resnets = nn.ModuleList([Resnet(cin if i == 0 else cout, cout, temb, g, eps, c["dropout"], c["act_fn"])
                                      for i in range(n_layers)])
        if attn:
            self.attentions = nn.ModuleList([Attention(cout, hd, g, eps) for _ in range(n_layers)])
        else:
            self.attentions = None
        if add_down:
            self.downsamplers = nn.ModuleList([Downsample(cout, c["downsample_padding"])])
        else:
            self.downsamplers = None

    def forward(self, x, emb):
        skips = []
        for i, r in enumerate(self.resnets):
            x = r(x, emb)
            if self.attentions is not None:
                x = self.attentions[i](x)
            skips.append(x)
        if self.downsamplers is not None:
            x = self.downsamplers[0](x)
            skips.append(x)
        return x, skips


class UpBlock(nn.Module):
    def __init__(self, prev_out, cout, skip_in, n_layers, attn, add_up, c):
        super().__init__()
        temb, g, eps = c["block_out_channels"][0] * 4, c["norm_num_groups"], c["norm_eps"]
        hd = c["attention_head_dim"] or cout
        rs = []
        for i in range(n_layers):
            res_skip = skip_in if i == n_layers - 1 else cout
            rin = prev_out if i == 0 else cout
            rs.append(Resnet(rin + res_skip, cout, temb, g, eps, c["dropout"], c["act_fn"]))
        self.resnets = nn.ModuleList(rs)
        self.attentions = nn.ModuleList([Attention(cout, hd, g, eps) for _ in range(n_layers)]) if attn else None
        self.upsamplers = nn.ModuleList([Upsample(cout)]) if add_up else None

    def forward(self, x, skips, emb):
        for i, r in enumerate(self.resnets):
            x = r(torch.cat([x, skips.pop()], dim=1), emb)
            if self.attentions is not None:
                x = self.attentions[i](x)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x)
        return x


class MidBlock(nn.Module):
    """resnet -> attention -> resnet, everything divided by mid_block_scale_factor (attention included)."""

    def __init__(self, ch, c):
        super().__init__()
        temb, g, eps, s = c["block_out_channels"][0] * 4, c["norm_num_groups"], c["norm_eps"], c[
            "mid_block_scale_factor"]
        self.resnets = nn.ModuleList([Resnet(ch, ch, temb, g, eps, c["dropout"], c["act_fn"], s) for _ in range(2)])
        hd = c["attention_head_dim"] or ch
        self.attentions = nn.ModuleList([Attention(ch, hd, g, eps, s)]) if c["add_attention"] else None

    def forward(self, x, emb):
        x = self.resnets[0](x, emb)
        if self.attentions is not None:
            x = self.attentions[0](x)
        return self.resnets[1](x, emb)


class UNet2D(nn.Module):
    """diffusers UNet2DModel (the subset above). forward(x, t, class_labels=None, record=None) -> eps."""

    def __init__(self, config):
        super().__init__()
        c = self.config = resolve_config(config)
        ch, L = c["block_out_channels"], c["layers_per_block"]
        temb = ch[0] * 4
        self.conv_in = nn.Conv2d(c["in_channels"], ch[0], 3, padding=1)
        self.time_embedding = TimeMLP(ch[0], temb)
        self.class_embedding = nn.Embedding(c["num_class_embeds"], temb) if c["num_class_embeds"] else None
        self.down_blocks = nn.ModuleList()
        cout = ch[0]
        for i, typ in enumerate(c["down_block_types"]):
            cin, cout = cout, ch[i]
            self.down_blocks.append(DownBlock(cin, cout, L, typ == "AttnDownBlock2D", i < len(ch) - 1, c))
        self.mid_block = MidBlock(ch[-1], c)
        rev = list(reversed(ch))
        self.up_blocks = nn.ModuleList()
        cout = rev[0]
        for i, typ in enumerate(c["up_block_types"]):
            prev, cout = cout, rev[i]
            skip_in = rev[min(i + 1, len(ch) - 1)]
            self.up_blocks.append(UpBlock(prev, cout, skip_in, L + 1, typ == "AttnUpBlock2D", i < len(ch) - 1, c))
        self.conv_norm_out = nn.GroupNorm(c["norm_num_groups"], ch[0], eps=c["norm_eps"])
        self.conv_out = nn.Conv2d(ch[0], c["out_channels"], 3, padding=1)

    @property
    def pure_f64(self):
        return getattr(self, "_pure_f64", False)

    @pure_f64.setter
    def pure_f64(self, v):
        self._pure_f64 = bool(v)
        for m in self.modules():
            if isinstance(m, Attention):
                m.pure_f64 = bool(v)

    def forward(self, x, t, class_labels=None, record=None):
        """x [N,C,H,W]; t: [N] or a scalar (int or float, tensor or not); class_labels [N] int64 when
        num_class_embeds is set. record: a dict to receive the goldens' intermediates (time_proj,
        time_embedding, emb_total, conv_in, down_blocks.i, mid_block, up_blocks.i, conv_norm_out, conv_out)."""
        c, rec = self.config, (record if record is not None else {})
        dt = self.conv_in.weight.dtype
        if c["center_input_sample"]:
            x = 2 * x - 1.0
        if not torch.is_tensor(t):
            t = torch.tensor([t], dtype=torch.int64 if isinstance(t, int) else torch.float32, device=x.device)
        if t.dim() == 0:
            t = t[None]
        t = t.to(x.device)
        # one timestep for the whole batch; a [N] t is used as it is (so the ONNX graph has no broadcast)
        if not torch.jit.is_tracing() and t.shape[0] != x.shape[0]:
            t = t.expand(x.shape[0])
        sin_dt = torch.float64 if (dt == torch.float64 and self.pure_f64) else torch.float32
        t_emb = timestep_sinusoid(t, c["block_out_channels"][0], c["flip_sin_to_cos"], c["freq_shift"], sin_dt)
        rec["time_proj"] = t_emb
        emb = self.time_embedding(t_emb.to(dt))
        rec["time_embedding"] = emb
        if self.class_embedding is not None:
            if class_labels is None:
                raise ValueError("this model is class-conditional (num_class_embeds): pass class_labels")
            emb = emb + self.class_embedding(class_labels.to(x.device)).to(dt)
        rec["emb_total"] = emb
        h = self.conv_in(x)
        rec["conv_in"] = h
        skips = [h]
        for i, b in enumerate(self.down_blocks):
            h, s = b(h, emb)
            skips += s
            rec[f"down_blocks.{i}"] = h
        h = self.mid_block(h, emb)
        rec["mid_block"] = h
        for i, b in enumerate(self.up_blocks):
            h = b(h, skips, emb)
            rec[f"up_blocks.{i}"] = h
        h = self.conv_norm_out(h)
        rec["conv_norm_out"] = h
        h = self.conv_out(F.silu(h))
        rec["conv_out"] = h
        return h


def convert_state_dict(sd):
    """Renames pre-0.14 attention names (query/key/value/proj_attn -> to_q/to_k/to_v/to_out.0; group_norm stays)
    and squeezes 1x1-conv-shaped attention projections to Linear shape. Values are left as they are."""
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if ".attentions." in k and len(parts) >= 2 and parts[-2] in OLD_ATTN:
            k = ".".join(parts[:-2] + [OLD_ATTN[parts[-2]], parts[-1]])
        if ".attentions." in k and k.endswith(".weight") and ("to_" in k) and getattr(v, "ndim", 2) == 4:
            v = v.reshape(v.shape[0], v.shape[1])
        out[k] = v
    return out


def load_weights(model, sd):
    """sd: {diffusers name: np.ndarray or tensor} (any float dtype, either attention naming). Strict: every
    parameter present with its shape, nothing unknown."""
    sd = convert_state_dict(sd)
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    extra = [k for k in sd if k not in own]
    if missing or extra:
        raise ValueError(f"state dict mismatch: missing {missing[:8]}{'...' if len(missing) > 8 else ''} "
                         f"({len(missing)}), unexpected {extra[:8]}{'...' if len(extra) > 8 else ''} ({len(extra)})")
    new = {}
    for k, p in own.items():
        v = sd[k] if torch.is_tensor(sd[k]) else torch.from_numpy(np.ascontiguousarray(sd[k]))
        if tuple(v.shape) != tuple(p.shape):
            raise ValueError(f"{k}: shape {tuple(v.shape)} in the file, {tuple(p.shape)} in the model")
        new[k] = v.to(p.dtype)
    model.load_state_dict(new)
    return model


def find_weights(folder, variant=None):
    """The weights file of a diffusers model folder (or a pipeline folder with unet/)."""
    if not os.path.exists(os.path.join(folder, "config.json")) and os.path.isdir(os.path.join(folder, "unet")):
        folder = os.path.join(folder, "unet")
    mid = f".{variant}" if variant else ""
    for ext in ("safetensors", "bin"):
        p = os.path.join(folder, f"diffusion_pytorch_model{mid}.{ext}")
        if os.path.exists(p):
            return folder, p
    raise FileNotFoundError(f"no diffusion_pytorch_model{mid}.safetensors or .bin in {folder}")


def read_state_dict(path):
    """safetensors (numpy reader) or a torch pickle .bin (weights_only) -> {name: np.ndarray or tensor}."""
    if path.endswith(".safetensors"):
        return st.load(path)[0]
    from bin_to_safetensors import load_bin  # noqa: E402 (torch.load weights_only)
    return load_bin(path)


def load_folder(folder, variant=None, dtype=torch.float32):
    """A diffusers UNet2DModel folder -> UNet2D in eval mode with its weights (converted to `dtype`)."""
    folder, wpath = find_weights(folder, variant)
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    model = UNet2D(cfg).to(dtype).eval()
    return load_weights(model, read_state_dict(wpath))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def check(folder):
    """Compares against golden.safetensors and intermediates.safetensors; returns the worst float32 error."""
    model = load_folder(folder)
    g, _ = st.load(os.path.join(folder, "golden.safetensors"))
    ipath = os.path.join(folder, "intermediates.safetensors")
    inter = st.load(ipath)[0] if os.path.exists(ipath) else {}
    x, t = torch.from_numpy(g["x"]), torch.from_numpy(g["t"])
    y = torch.from_numpy(g["class_labels"]) if "class_labels" in g else None
    print(f"{folder}: {n_params(model):,} parameters, x {list(x.shape)}, t {g['t'].tolist()}")
    rec = {}
    with torch.no_grad():
        t0 = time.perf_counter()
        eps = model(x, t, y, record=rec)
        ms = (time.perf_counter() - t0) * 1e3
    rows = [("eps", eps, g["eps"])]
    for name, gname in (("time_proj", "t_emb"), ("time_embedding", "temb"), ("emb_total", "emb_total")):
        if gname in g:
            rows.append((f"golden {gname}", rec[name], g[gname]))
    for name, ref in inter.items():
        rows.append((f"intermediate {name}", rec[name], ref))
    worst = 0.0
    for name, got, ref in rows:
        err = float((got.double() - torch.from_numpy(ref).double()).abs().max())
        worst = max(worst, err)
        print(f"  {name:28s} max abs err {err:.3e}   (max |ref| {float(np.abs(ref).max()):.3f})")
    print(f"  float32 forward {ms:.1f} ms")
    if "eps_f64" in g:
        m64 = load_folder(folder, dtype=torch.float64)
        with torch.no_grad():
            e64 = m64(x.double(), t, y)
            m64.pure_f64 = True
            e64p = m64(x.double(), t, y)
        for name, got, ref in (("eps_f64", e64, g["eps_f64"]), ("eps_f64_pure", e64p, g.get("eps_f64_pure"))):
            if ref is not None:
                err = float((got - torch.from_numpy(ref)).abs().max())
                print(f"  {name + ' (float64 model)':28s} max abs err {err:.3e}")
        print(f"  float32 eps vs eps_f64_pure (rounding of float32 itself): "
              f"{float((torch.from_numpy(g['eps']).double() - torch.from_numpy(g['eps_f64_pure'])).abs().max()):.3e}")
    return worst


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", nargs="?", const=os.path.join(HERE, "..", "tests", "data", "diffusers", "small-rgb"),
                   metavar="FOLDER", help="compare with FOLDER/golden.safetensors (default: the small-rgb goldens)")
    p.add_argument("--info", metavar="FOLDER", help="print the resolved config and the parameter count")
    p.add_argument("--tol", type=float, default=1e-5, help="--check fails (exit 1) above this max abs error")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.info:
        m = load_folder(a.info)
        print(json.dumps(m.config, indent=1))
        print(f"{n_params(m):,} parameters, {len(m.state_dict())} tensors")
    if a.check:
        worst = check(os.path.normpath(a.check))
        ok = worst <= a.tol
        print(f"worst float32 error {worst:.3e}: {'OK' if ok else 'FAIL'} (tolerance {a.tol:g})")
        sys.exit(0 if ok else 1)
    if not (a.info or a.check):
        p.print_help()


if __name__ == "__main__":
    main()
