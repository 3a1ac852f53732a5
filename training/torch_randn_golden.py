"""torch.randn of torch.manual_seed(0) as the diffusers DDPM scheduler test draws it (999 tensors of [4, 3, 8, 8]):
the first tensor in full and, per tensor, its sum and sum of squares in float64 -> tests/data/torch_randn_seed0.json.
The reference for wasm-tests/torch-randn.mjs (a JS torch.randn used to replay that test's noise)."""
import json
import sys

import torch

def main(out):
    g = torch.manual_seed(0)
    draws = [torch.randn((4, 3, 8, 8), generator=g) for _ in range(999)]
    d0 = draws[0].flatten().tolist()
    sums = [float(d.double().sum()) for d in draws]
    sq = [float((d.double() ** 2).sum()) for d in draws]
    # a size that 16 does not divide (the redrawn tail), from a fresh generator
    g2 = torch.manual_seed(7)
    odd = torch.randn(37, generator=g2).tolist()
    json.dump({"torch": torch.__version__, "seed": 0, "shape": [4, 3, 8, 8], "first": d0, "sums": sums,
               "sumsq": sq, "seed7_37": odd}, open(out, "w"))

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/torch_randn_seed0.json")
