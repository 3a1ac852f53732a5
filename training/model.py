"""The reference DDPM U-Net (Ho et al. 2020, appendix B), sized by a config.

This file is the single definition of the network. The C engine binds its
tensors by the state-dict names produced here (see `include/ddpm.h`, section
"Weights file"), and the golden files that the C and Node tests compare against
are written by `golden.py` from this module.

Layout (names are state-dict prefixes; C = base_channels, E = 4*C):

    time_embed.fc1 / fc2        sinusoidal(C) -> Linear(C,E) -> SiLU -> Linear(E,E)
    class_embed                 Embedding(num_classes + 1, E)   (row num_classes = null class)
    conv_in                     Conv3x3(in_channels -> C)
    down.{i}                    i-th entry of the encoder list, one of
                                  ResBlock  (norm1, conv1, temb_proj, norm2, conv2, [skip])
                                  ResBlock + attn  (.res.*, .attn.*)
                                  Downsample  (conv: 3x3 stride 2, padding 1)
    mid.res1, mid.attn, mid.res2
    up.{i}                      decoder entries: ResBlock(+attn) on [h, skip] concat, Upsample
                                (nearest x2 + conv3x3)
    norm_out, conv_out          GroupNorm -> SiLU -> Conv3x3(C -> out_channels)

Every encoder entry pushes its output on the skip stack (conv_in too); every
decoder ResBlock pops one. Attention is single-head over all H*W positions with
q, k, v from one 1x1 conv (`qkv`, output channels ordered q|k|v) and a 1x1
output projection (`proj`), scaled by 1/sqrt(channels), added residually.
"""

import math
from dataclasses import dataclass, field, asdict
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class UNetConfig:
    in_channels: int = 1
    out_channels: int = 1
    base_channels: int = 32
    channel_mult: List[int] = field(default_factory=lambda: [1, 2, 2])
    num_res_blocks: int = 2
    attn_resolutions: List[int] = field(default_factory=lambda: [7])
    groups: int = 8
    num_classes: int = 0          # 0 = unconditional; else a null class is added
    image_size: int = 28
    dropout: float = 0.1
    prediction: str = "eps"       # what the network outputs: eps | x0 | v

    def to_dict(self):
        return asdict(self)


def timestep_embedding(t, dim):
    """Sinusoidal embedding, [N] -> [N, dim]: first half sin, second half cos.

    freq_k = exp(-ln(10000) * k / (half - 1)), k = 0..half-1 (the DDPM code's
    convention, `half - 1` in the denominator).
    """
    half = dim // 2
    k = torch.arange(half, dtype=torch.float32, device=t.device)
    freqs = torch.exp(-math.log(10000.0) * k / (half - 1))
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class TimeEmbed(nn.Module):
    def __init__(self, ch, emb):
        super().__init__()
        self.ch = ch
        self.fc1 = nn.Linear(ch, emb)
        self.fc2 = nn.Linear(emb, emb)

    def forward(self, t):
        return self.fc2(F.silu(self.fc1(timestep_embedding(t, self.ch))))


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb, groups, dropout):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=1e-5)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(emb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        # x: [N, cin, H, W], temb: [N, E] -> [N, cout, H, W]
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return (x if self.skip is None else self.skip(x)) + h


class Attention(nn.Module):
    def __init__(self, ch, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-5)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)  # each [N, C, HW]
        a = torch.softmax(torch.einsum("ncq,nck->nqk", q, k) / math.sqrt(c), dim=-1)  # [N, HW, HW]
        out = torch.einsum("nqk,nck->ncq", a, v).reshape(n, c, h, w)
        return x + self.proj(out)


class ResAttn(nn.Module):
    def __init__(self, cin, cout, emb, groups, dropout):
        super().__init__()
        self.res = ResBlock(cin, cout, emb, groups, dropout)
        self.attn = Attention(cout, groups)

    def forward(self, x, temb):
        return self.attn(self.res(x, temb))


class Downsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x, temb=None):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x, temb=None):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def plan(cfg: UNetConfig):
    """The block list both engines build: (kind, cin, cout, resolution) per entry.

    Resolutions follow a 3x3 stride-2 padding-1 conv: r -> (r + 1) // 2. The
    decoder upsamples by 2, so every level's resolution must be even except the
    last (checked here and in C).
    """
    C = cfg.base_channels
    res = cfg.image_size
    down, up = [], []
    skips = [C]
    ch = C
    nlev = len(cfg.channel_mult)
    for lev, m in enumerate(cfg.channel_mult):
        for _ in range(cfg.num_res_blocks):
            kind = "resattn" if res in cfg.attn_resolutions else "res"
            down.append((kind, ch, C * m, res))
            ch = C * m
            skips.append(ch)
        if lev != nlev - 1:
            if res % 2:
                raise ValueError(f"resolution {res} at level {lev} is odd; cannot upsample back")
            down.append(("down", ch, ch, res))
            res //= 2
            skips.append(ch)
    mid_res = res
    for lev in reversed(range(nlev)):
        m = cfg.channel_mult[lev]
        for _ in range(cfg.num_res_blocks + 1):
            kind = "resattn" if res in cfg.attn_resolutions else "res"
            up.append((kind, ch + skips.pop(), C * m, res))
            ch = C * m
        if lev != 0:
            up.append(("up", ch, ch, res))
            res *= 2
    assert not skips
    return down, mid_res, up


class UNet(nn.Module):
    def __init__(self, cfg: UNetConfig):
        super().__init__()
        self.cfg = cfg
        C, E = cfg.base_channels, 4 * cfg.base_channels
        g, p = cfg.groups, cfg.dropout
        self.time_embed = TimeEmbed(C, E)
        self.class_embed = nn.Embedding(cfg.num_classes + 1, E) if cfg.num_classes > 0 else None
        self.conv_in = nn.Conv2d(cfg.in_channels, C, 3, padding=1)
        down_plan, _, up_plan = plan(cfg)

        def make(kind, cin, cout):
            if kind == "res":
                return ResBlock(cin, cout, E, g, p)
            if kind == "resattn":
                return ResAttn(cin, cout, E, g, p)
            return Downsample(cin) if kind == "down" else Upsample(cin)

        self.down = nn.ModuleList([make(k, a, b) for k, a, b, _ in down_plan])
        ch = down_plan[-1][2]
        self.mid = nn.ModuleDict(dict(res1=ResBlock(ch, ch, E, g, p), attn=Attention(ch, g),
                                      res2=ResBlock(ch, ch, E, g, p)))
        self.up = nn.ModuleList([make(k, a, b) for k, a, b, _ in up_plan])
        self.norm_out = nn.GroupNorm(g, C, eps=1e-5)
        self.conv_out = nn.Conv2d(C, cfg.out_channels, 3, padding=1)

    def forward(self, x, t, y=None, trace=None):
        """x: [N, in, S, S], t: [N] int, y: [N] int in [0, num_classes] or None.

        `trace`, when a list, receives (name, tensor) after every block; the
        golden files store these so the C tests can localise a mismatch.
        """
        def rec(name, v):
            if trace is not None:
                trace.append((name, v.detach().clone()))

        temb = self.time_embed(t)
        if self.class_embed is not None:
            if y is None:
                y = torch.full_like(t, self.cfg.num_classes)
            temb = temb + self.class_embed(y)
        rec("temb", temb)
        h = self.conv_in(x)
        rec("conv_in", h)
        hs = [h]
        for i, blk in enumerate(self.down):
            h = blk(h, temb)
            rec(f"down.{i}", h)
            hs.append(h)
        h = self.mid["res1"](h, temb)
        h = self.mid["attn"](h)
        h = self.mid["res2"](h, temb)
        rec("mid", h)
        for i, blk in enumerate(self.up):
            if isinstance(blk, Upsample):
                h = blk(h)
            else:
                h = blk(torch.cat([h, hs.pop()], dim=1), temb)
            rec(f"up.{i}", h)
        out = self.conv_out(F.silu(self.norm_out(h)))
        rec("out", out)
        return out


def flops(cfg: UNetConfig):
    """Multiply-adds x 2 for one image, counted from the plan (convs, linears, attention)."""
    down_plan, mid_res, up_plan = plan(cfg)
    C, E, S = cfg.base_channels, 4 * cfg.base_channels, cfg.image_size
    f = 2 * (C * E + E * E)
    conv = lambda cin, cout, k, r: 2 * cin * cout * k * k * r * r
    attn = lambda c, r: conv(c, 3 * c, 1, r) + conv(c, c, 1, r) + 4 * c * (r * r) ** 2

    def res(cin, cout, r):
        return conv(cin, cout, 3, r) + conv(cout, cout, 3, r) + (conv(cin, cout, 1, r) if cin != cout else 0) + 2 * E * cout

    f += conv(cfg.in_channels, C, 3, S) + conv(C, cfg.out_channels, 3, S)
    for kind, cin, cout, r in down_plan + up_plan:
        if kind == "down":
            f += conv(cin, cout, 3, r // 2)
        elif kind == "up":
            f += conv(cin, cout, 3, 2 * r)
        else:
            f += res(cin, cout, r) + (attn(cout, r) if kind == "resattn" else 0)
    ch = down_plan[-1][2]
    f += 2 * res(ch, ch, mid_res) + attn(ch, mid_res)
    return f


if __name__ == "__main__":
    for nc in (0, 10):
        cfg = UNetConfig(num_classes=nc)
        m = UNet(cfg)
        n = sum(p.numel() for p in m.parameters())
        print(f"num_classes={nc}: {n/1e6:.3f} M params, {flops(cfg)/1e9:.3f} GFLOP per image")
