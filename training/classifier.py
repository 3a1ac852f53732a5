"""The evaluation classifier: a small Fashion-MNIST CNN whose penultimate features define the Frechet distance.

    /usr/bin/python3 training/classifier.py              # trains, writes models/eval/fmnist-classifier.safetensors

Architecture (inputs in [-1, 1], [N, 1, 28, 28]):
    conv3x3(1->32) BN ReLU, conv3x3(32->32) BN ReLU, maxpool2        -> 14x14
    conv3x3(32->64) BN ReLU, conv3x3(64->64) BN ReLU, maxpool2       -> 7x7
    conv3x3(64->128) BN ReLU, global average pool                    -> features [N, 128]
    dropout 0.3, linear(128 -> 10)
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import st  # noqa: E402

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "eval",
                            "fmnist-classifier.safetensors")


def block(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2),
                                  *block(32, 64), *block(64, 64), nn.MaxPool2d(2), *block(64, 128))
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(128, 10)

    def features(self, x):
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.fc(self.drop(self.features(x)))


def load(path=DEFAULT_PATH):
    tensors, _ = st.load(path)
    m = Classifier()
    missing, unexpected = m.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=False)
    if unexpected or any(not k.endswith("num_batches_tracked") for k in missing):
        raise ValueError(f"{path}: not a classifier file (missing {missing}, unexpected {unexpected})")
    return m.eval()


@torch.no_grad()
def features_and_logits(model, x, batch=500):
    """x: float32 [N, 1, 28, 28] in [-1, 1] -> (features [N, 128] float64, logits [N, 10])."""
    fs, ls = [], []
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(np.ascontiguousarray(x[i:i + batch], dtype=np.float32))
        f = model.features(xb)
        fs.append(f.double().numpy())
        ls.append(model.fc(f).numpy())
    return np.concatenate(fs), np.concatenate(ls)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=DEFAULT_PATH)
    p.add_argument("--data-dir", default=data.DEFAULT_DIR)
    p.add_argument("--init", default="", help="fine-tune from this classifier file (cosine LR from --lr to 0)")
    p.add_argument("--lr", type=float, default=5e-4, help="with --init: the starting learning rate")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    try:
        xtr, ytr = data.load("train", a.data_dir)
        xte, yte = data.load("test", a.data_dir)
    except data.DataError as e:
        sys.exit(f"classifier.py: {e}")
    Xtr, Ytr = torch.from_numpy(data.to_model_range(xtr)), torch.from_numpy(ytr)
    Xte = data.to_model_range(xte)
    m = load(a.init) if a.init else Classifier()
    opt = torch.optim.AdamW(m.parameters(), lr=a.lr if a.init else 2e-3, weight_decay=1e-4)
    steps = a.epochs * (len(Xtr) // 128)
    if a.init:  # fine-tuning: cosine from --lr to 0, horizontal flips added to the shifts
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    else:
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    g = torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    for ep in range(a.epochs):
        m.train()
        perm = torch.randperm(len(Xtr), generator=g)
        for i in range(0, len(Xtr) - 127, 128):
            idx = perm[i:i + 128]
            xb = Xtr[idx]
            # light augmentation: random shifts by up to 2 pixels
            dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            if a.init:
                flip = torch.rand(len(xb), generator=g) < 0.5
                xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            loss = F.cross_entropy(m(xb), Ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        m.eval()
        _, logits = features_and_logits(m, Xte)
        acc = (logits.argmax(1) == yte).mean()
        print(f"epoch {ep + 1}/{a.epochs}: loss {loss.item():.3f} test accuracy {acc:.4f} ({time.time() - t0:.0f} s)",
              flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    st.save(a.out, {k: v.detach().numpy().astype(np.float32) for k, v in m.state_dict().items()
                    if v.dtype.is_floating_point},
            {"test_accuracy": f"{acc:.4f}", "epochs": str(a.epochs), "script": "training/classifier.py",
             "finetuned_from": os.path.basename(a.init) if a.init else "", "seed": str(a.seed)})
    print(f"wrote {a.out}: test accuracy {acc:.4f}")


if __name__ == "__main__":
    main()
