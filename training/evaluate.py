"""Sample quality: Frechet distance in the evaluation classifier's feature space, and class accuracy of samples.

    # samples written by the C CLI (ddpm sample ... --raw FILE): float32 [N, 1, 28, 28] in [-1, 1]
    /usr/bin/python3 training/evaluate.py --samples s.f32 [--labels all10] [--floor]

FD(a, b) = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) over the classifier's 128-d penultimate features.
FD is biased upwards for small N, so the floor FD(N train images, test set) is computed with the same N as the
samples: the ratio FD / floor compares like with like. The floor is the mean over --floor-reps disjoint sets of N
train images (fd_floor_sd: their spread), and fd_boot_sd is the bootstrap standard deviation of the samples' FD
(--boot resamples of the N samples), so a difference between two models can be read against the noise of N.
--fd-curve K fits that bias: FD of the first N/K, 2N/K, ..., N samples, least squares FD(n) = fd_inf + b / n (the
1/n bias of Chong & Forsyth 2020), and reports the fit's value at n = 10000 (the issue's protocol) and at infinity.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import classifier  # noqa: E402
import data  # noqa: E402


def frechet(f1, f2):
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    # Tr (S1 S2)^(1/2) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2))), a symmetric PSD matrix
    w, V = np.linalg.eigh(s1)
    r1 = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    m = r1 @ s2 @ r1
    ev = np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(ev).sum())


def load_raw(path, size=28):
    x = np.fromfile(path, dtype="<f4")
    if x.size % (size * size):
        raise SystemExit(f"evaluate.py: {path} holds {x.size} floats, not a whole number of {size}x{size} images")
    return x.reshape(-1, 1, size, size)


def fd_curve(fs, fte, k):
    """FD of the first n samples for k sizes n up to len(fs) (multiples of 10, so classes k % 10 stay balanced) and
    the least-squares line FD = fd_inf + b * (1/n)."""
    sizes = sorted({max(10, (len(fs) * i // k) // 10 * 10) for i in range(1, k + 1)})
    if len(sizes) < 2:
        raise SystemExit("evaluate.py: --fd-curve needs at least 20 samples and K >= 2")
    fds = [frechet(fs[:n], fte) for n in sizes]
    b, fd_inf = np.polyfit(1.0 / np.array(sizes, dtype=np.float64), np.array(fds), 1)
    return {"fd_curve": {str(n): v for n, v in zip(sizes, fds)}, "fd_inf": float(fd_inf), "fd_bias_b": float(b),
            "fd_fit_at_10k": float(fd_inf + b / 10000)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", nargs="*", default=[], help="raw float32 files of samples (concatenated)")
    p.add_argument("--labels", default="", help="'all10': image k was asked for class k %% 10; or an integer class")
    p.add_argument("--floor", action="store_true", help="also report FD(N train images, test) with the same N")
    p.add_argument("--n", type=int, default=0, help="use only the first N samples")
    p.add_argument("--classifier", default=classifier.DEFAULT_PATH)
    p.add_argument("--data-dir", default=data.DEFAULT_DIR)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--floor-reps", type=int, default=10, help="disjoint train sets averaged for the floor")
    p.add_argument("--boot", type=int, default=50, help="bootstrap resamples for fd_boot_sd (0 = none)")
    p.add_argument("--fd-curve", type=int, default=0, metavar="K",
                   help="FD of K prefixes of the samples and the fit FD(n) = fd_inf + b/n (see above)")
    a = p.parse_args()
    clf = classifier.load(a.classifier)
    xte, yte = data.load("test", a.data_dir)
    fte, lte = classifier.features_and_logits(clf, data.to_model_range(xte))
    out = {"classifier_test_accuracy": float((lte.argmax(1) == yte).mean())}
    n = 0
    if a.samples:
        xs = np.concatenate([load_raw(f) for f in a.samples])
        if a.n:
            xs = xs[:a.n]
        n = len(xs)
        fs, ls = classifier.features_and_logits(clf, np.clip(xs, -1, 1))
        out.update(n=n, fd=frechet(fs, fte), pixel_mean=float(xs.mean()), pixel_std=float(xs.std()))
        if a.boot:
            rng = np.random.default_rng(a.seed + 1)
            out["fd_boot_sd"] = float(np.std([frechet(fs[rng.integers(0, n, n)], fte) for _ in range(a.boot)]))
        if a.fd_curve:
            out.update(fd_curve(fs, fte, a.fd_curve))
        if a.labels:
            want = np.arange(n) % 10 if a.labels == "all10" else np.full(n, int(a.labels))
            pred = ls.argmax(1)
            per = {int(c): float((pred[want == c] == c).mean()) for c in np.unique(want)}
            out.update(class_accuracy=per, mean_class_accuracy=float(np.mean(list(per.values()))))
    if a.floor:
        xtr, _ = data.load("train", a.data_dir)
        rng = np.random.default_rng(a.seed)
        m = n or 10000
        reps = max(1, min(a.floor_reps, len(xtr) // m))
        perm = rng.permutation(len(xtr))[:reps * m]
        ftr, _ = classifier.features_and_logits(clf, data.to_model_range(xtr[perm]))
        floors = [frechet(ftr[r * m:(r + 1) * m], fte) for r in range(reps)]
        out["floor_n"] = m
        out["fd_floor"] = float(np.mean(floors))
        out["fd_floor_sd"] = float(np.std(floors))
        out["floor_reps"] = reps
        if n:
            out["fd_over_floor"] = out["fd"] / out["fd_floor"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
