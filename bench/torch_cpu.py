"""PyTorch CPU reference timing of the same network (bench/out/model.f32.safetensors), batch 1 (and 8), N threads.

    /usr/bin/python3 bench/torch_cpu.py [--threads 2] [--rounds 7]
Prints one JSON line: median (b1, b8) and best (min1, min8) ms per U-Net evaluation (per image at batch 8).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "training"))
import st  # noqa: E402
from model import UNet  # noqa: E402
from make_model import bench_inputs, config_from_meta  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--threads", type=int, default=2)
p.add_argument("--rounds", type=int, default=7)
a = p.parse_args()
torch.set_num_threads(a.threads)
tensors, meta = st.load(os.path.join(HERE, "out", "model.f32.safetensors"))
cfg = config_from_meta(meta)
model = UNet(cfg).eval()
model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()})
res = {"torch": torch.__version__, "threads": a.threads}
with torch.inference_mode():
    for n in (1, 8):
        x, t, y = (torch.from_numpy(v) for v in bench_inputs(cfg, n))
        for _ in range(3):
            model(x, t, y)
        ms = []
        for _ in range(a.rounds):
            reps = 5 if n == 1 else 1
            t0 = time.perf_counter()
            for _ in range(reps):
                model(x, t, y)
            ms.append((time.perf_counter() - t0) * 1e3 / reps / n)
        res[f"b{n}"] = statistics.median(ms)
        res[f"min{n}"] = min(ms)
print(json.dumps(res))
