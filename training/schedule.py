"""Noise schedules in float64, the same formulas as src/schedule.c (checked against each other in tests)."""

import math

import numpy as np


def betas(kind="linear", T=1000, beta_start=1e-4, beta_end=0.02, rescale_zero_snr=False):
    if kind == "linear":
        b = np.linspace(beta_start, beta_end, T, dtype=np.float64)
    elif kind == "scaled_linear":
        b = np.linspace(math.sqrt(beta_start), math.sqrt(beta_end), T, dtype=np.float64) ** 2
    elif kind == "cosine":
        s = 0.008
        f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
        b = np.array([min(1 - f(i + 1) / f(i), 0.999) for i in range(T)], dtype=np.float64)
    elif kind == "sigmoid":
        x = np.linspace(-6, 6, T, dtype=np.float64)
        b = 1 / (1 + np.exp(-x)) * (beta_end - beta_start) + beta_start
    else:
        raise ValueError(f"unknown schedule {kind}")
    if rescale_zero_snr:
        sab = np.sqrt(np.cumprod(1 - b))
        s0, sT = sab[0], sab[-1]
        sab = (sab - sT) * s0 / (s0 - sT)
        ab = sab ** 2
        a = np.concatenate([ab[:1], ab[1:] / ab[:-1]])
        b = 1 - a
    return b
