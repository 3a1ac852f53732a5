"""Ship a trained model: export, measure with the C engine, write the model card.

    /usr/bin/python3 training/ship.py --ckpt /work/runs/cond/ckpt.pt --name fmnist-cond \
        --eval-n 1000 --eval-steps 1000 --guidance 2 --jobs 2

1. exports the EMA weights to models/NAME.i8.safetensors and models/NAME.f16.safetensors (F32 to a temp folder);
2. I8 vs F32 eps-prediction relative L2 error on 100 random (x_t, t) inputs from the test set (PyTorch, with the I8
   weights dequantized exactly as the C loader does; tests/test_unet_golden.c holds C and PyTorch to 1e-4 on that);
3. samples with the native CLI (build/ddpm) from the I8 file and from the F32 file: DDPM ancestral, --eval-steps steps
   (1000 = the paper's setting), classes k % 10 with guidance --guidance, and unconditional (null class); split over
   --jobs processes with --first-image, which gives the same images as one process; with --sample-cache DIR the
   images are made in chunks kept in DIR, so a long evaluation (10k x 1000 steps) resumes after a stop;
4. training/evaluate.py: FD against the test set, the same-N train/test floor, per-class accuracy;
5. writes the metrics into the shipped files' metadata, a sample grid PNG and models/NAME.md;
6. rewrites tests/data/NAME.golden.safetensors (PyTorch outputs of the shipped I8 file) for the C and Node tests.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import export  # noqa: E402
import golden  # noqa: E402
import png  # noqa: E402
import schedule  # noqa: E402
from model import UNet, UNetConfig, flops  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def eps_rel_l2(model_f32, model_i8, cfg, n=100, seed=0):
    g = torch.Generator().manual_seed(seed)
    xte, yte = data.load("test")
    idx = torch.randint(0, len(xte), (n,), generator=g)
    x0 = torch.from_numpy(data.to_model_range(xte[idx.numpy()]))
    ab = torch.tensor(np.cumprod(1 - schedule.betas()), dtype=torch.float32)
    t = torch.randint(0, 1000, (n,), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    xt = ab[t].sqrt()[:, None, None, None] * x0 + (1 - ab[t]).sqrt()[:, None, None, None] * eps
    y = None
    if cfg.num_classes:
        y = torch.from_numpy(yte[idx.numpy()])
        y[torch.rand(n, generator=g) < 0.1] = cfg.num_classes
    with torch.no_grad():
        a, b = model_f32(xt, t, y), model_i8(xt, t, y)
    return float((a - b).norm() / a.norm()), float((b - eps).pow(2).mean()), float((a - eps).pow(2).mean())


def _file_sha256(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cli_sample(cli, model_path, out_raw, n, steps, seed, cls, guidance, jobs, cache="", chunk=50):
    """Runs `ddpm sample` over disjoint image ranges, `jobs` processes at a time; returns [n, 1, 28, 28] and seconds.

    Without `cache`, one range per job. With `cache` (a folder), the images are made in chunks of `chunk` that are
    kept in cache/<sha256 of model file, steps, seed, class, guidance>/ (written atomically), and chunks already there
    are reused: a long evaluation (10k images x 1000 steps) survives being stopped and resumes where it was. Image k
    depends only on (seed, k), so the chunking does not change the images."""
    t0 = time.time()
    if cache:
        key = f"{_file_sha256(model_path)[:16]}_s{steps}_seed{seed}_c{cls}_g{guidance:g}"
        folder = os.path.join(cache, key)
        os.makedirs(folder, exist_ok=True)
        ranges = [(f, min(chunk, n - f), os.path.join(folder, f"{f:06d}_{min(chunk, n - f)}.f32"))
                  for f in range(0, n, chunk)]
    else:
        per = (n + jobs - 1) // jobs
        ranges = [(j * per, min(per, n - j * per), f"{out_raw}.{j}") for j in range(jobs) if n - j * per > 0]
    todo = [r for r in ranges if not (cache and os.path.exists(r[2]) and os.path.getsize(r[2]) == r[1] * 28 * 28 * 4)]
    if cache:
        print(f"  {len(ranges) - len(todo)} of {len(ranges)} chunks of {chunk} already in {folder}", flush=True)
    running = []
    while todo or running:
        while todo and len(running) < jobs:
            first, count, part = todo.pop(0)
            cmd = [cli, "sample", model_path, "--seed", str(seed), "--batch", str(count), "--first-image", str(first),
                   "--steps", str(steps), "--raw", part + ".tmp", "--quiet"]
            if cls is not None:
                cmd += ["--class", str(cls)]
                if guidance != 1:
                    cmd += ["--guidance", str(guidance)]
            running.append((subprocess.Popen(cmd), part, time.time()))
        done = [r for r in running if r[0].poll() is not None]
        if not done:
            time.sleep(0.2)
            continue
        for proc, part, started in done:
            running.remove((proc, part, started))
            if proc.returncode != 0:
                for pr, _, _ in running:
                    pr.kill()
                sys.exit(f"ship.py: {' '.join(proc.args)} failed")
            if cache:  # the chunk's own sampling time, so that reused chunks still count in "seconds"
                with open(part + ".sec", "w") as f:
                    f.write(f"{time.time() - started:.1f}\n")
            os.replace(part + ".tmp", part)
    x = np.concatenate([np.fromfile(r[2], dtype="<f4") for r in ranges]).reshape(n, 1, 28, 28)
    x.tofile(out_raw)
    if not cache:
        return x, time.time() - t0
    # chunks ran `jobs` at a time: their summed time / jobs is the wall time of one uninterrupted run
    secs = [float(open(r[2] + ".sec").read()) if os.path.exists(r[2] + ".sec") else 0.0 for r in ranges]
    return x, sum(secs) / jobs


def evaluate(raw, labels=None, floor=False):
    cmd = [sys.executable, os.path.join(ROOT, "training", "evaluate.py"), "--samples", raw]
    if labels:
        cmd += ["--labels", labels]
    if floor:
        cmd += ["--floor"]
    return json.loads(subprocess.check_output(cmd))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--eval-n", type=int, default=1000)
    p.add_argument("--eval-steps", type=int, default=1000)
    p.add_argument("--guidance", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--cli", default=os.path.join(ROOT, "build", "ddpm"))
    p.add_argument("--compare-steps", type=int, default=0,
                   help="run the I8-vs-F32 FD comparison at this many steps (both files) instead of --eval-steps")
    p.add_argument("--samples-from", default="", help="a previous ship.py temp folder: reuse its sample files "
                   "(same --eval-n/--eval-steps/--seed/--guidance as the shipped file's ddpm.eval_protocol) instead of "
                   "sampling again, e.g. to re-evaluate after a change to evaluate.py")
    p.add_argument("--sample-cache", default="", help="a folder that keeps sampled chunks (keyed by the model file's "
                   "hash and the protocol), so that a long evaluation resumes after a stop (e.g. runs/samples)")
    p.add_argument("--skip-f32-samples", action="store_true", help="skip the F32 sampling run (halves the time)")
    p.add_argument("--null-at-compare-only", action="store_true",
                   help="conditional models with --compare-steps: sample the null class (a diagnostic, not a target) "
                        "only at --compare-steps, not at --eval-steps (saves a third of a 1000-step evaluation)")
    p.add_argument("--command", default="", help="the training command, for the model card")
    p.add_argument("--notes", default="", help="a Markdown file appended to the model card (limits, history)")
    a = p.parse_args()
    torch.set_num_threads(1)

    old_meta = {}
    if a.samples_from:  # the shipped file's protocol and timings, read before it is overwritten below
        import st
        _, old_meta = st.load(os.path.join(ROOT, "models", f"{a.name}.i8.safetensors"))
    ck = torch.load(a.ckpt, map_location="cpu")
    cfg = UNetConfig(**ck["config"])
    sd = ck["ema"]
    models = os.path.join(ROOT, "models")
    tmp = tempfile.mkdtemp(prefix="ship-")
    base_meta = export.training_metadata(ck, cfg)  # class names and label dropout for conditional models only
    f32_path = export.export(sd, cfg, ck["schedule"], os.path.join(tmp, f"{a.name}.f32.safetensors"), "f32", base_meta)
    i8_path = export.export(sd, cfg, ck["schedule"], os.path.join(models, f"{a.name}.i8.safetensors"), "i8", base_meta)

    m32, m8 = UNet(cfg).eval(), UNet(cfg).eval()
    m32.load_state_dict(sd)
    m8.load_state_dict(export.dequantized_state(sd, "i8"))
    rel, mse8, mse32 = eps_rel_l2(m32, m8, cfg)
    metrics = {"i8_vs_f32_eps_rel_l2": rel, "eps_mse_i8": mse8, "eps_mse_f32": mse32}
    print(f"I8 vs F32 eps rel L2 {rel:.4f} (eps MSE {mse32:.4f} F32, {mse8:.4f} I8)", flush=True)

    sampling = dict(sampler="ddpm (ancestral, fixed_small, x0 clipped)", steps=a.eval_steps, n=a.eval_n, seed=a.seed)
    if cfg.num_classes:  # an unconditional model is sampled without guidance: its protocol names none
        sampling["guidance"] = a.guidance
    # (tag, file, steps, key suffix): the shipped I8 file at --eval-steps; the I8-vs-F32 FD comparison at
    # --compare-steps when that is given (both files at the same, cheaper step count), else at --eval-steps
    runs = [("i8", i8_path, a.eval_steps, "")]
    if not a.skip_f32_samples:
        if a.compare_steps and a.compare_steps != a.eval_steps:
            sfx = f"_{a.compare_steps}steps"
            runs += [("i8", i8_path, a.compare_steps, sfx), ("f32", f32_path, a.compare_steps, sfx)]
            sampling["compare_steps"] = a.compare_steps
        else:
            runs += [("f32", f32_path, a.eval_steps, "")]
    old_metrics = {}
    if a.samples_from:
        old_proto = json.loads(old_meta.get("ddpm.eval_protocol", "{}"))
        mism = {k: (old_proto.get(k), v) for k, v in sampling.items() if k != "compare_steps" and old_proto.get(k) != v}
        if mism:
            sys.exit(f"ship.py: --samples-from: the shipped samples were made with another protocol: {mism}")
        old_metrics = json.loads(old_meta.get("ddpm.metrics", "{}"))

    def samples(key, raw, path, steps, cls, guidance):
        if a.samples_from:
            src = os.path.join(a.samples_from, os.path.basename(raw))
            if not os.path.exists(src) or os.path.getsize(src) != a.eval_n * 28 * 28 * 4:
                sys.exit(f"ship.py: --samples-from: {src} is missing or not {a.eval_n} images")
            x = np.fromfile(src, dtype="<f4").reshape(a.eval_n, 1, 28, 28)
            x.tofile(raw)
            return x, old_metrics.get(key, {}).get("seconds", 0)
        return cli_sample(a.cli, path, raw, a.eval_n, steps, a.seed, cls, guidance, a.jobs, a.sample_cache)

    # the cheaper comparison runs first: with a resumable --sample-cache, a stopped evaluation has their numbers
    runs = runs[1:] + runs[:1]
    for tag, path, steps, sfx in runs:
        main_run = tag == "i8" and not sfx
        if cfg.num_classes:
            raw = os.path.join(tmp, f"cond_{tag}{sfx}.f32")
            x, sec = samples(f"{tag}_guided{sfx}", raw, path, steps, "all", a.guidance)
            ev = evaluate(raw, labels="all10", floor=main_run)
            metrics[f"{tag}_guided{sfx}"] = dict(ev, seconds=round(sec))
            print(tag, steps, "steps, guided", json.dumps(metrics[f"{tag}_guided{sfx}"]), flush=True)
            if main_run:
                # one row per class: image k was asked for class k % 10
                per_class = min(10, len(x) // 10)
                idx = [c + 10 * j for c in range(10) for j in range(per_class)]
                png.write_grid(os.path.join(models, f"{a.name}.png"), x[idx], cols=per_class)
        if cfg.num_classes and main_run and a.null_at_compare_only and "compare_steps" in sampling:
            continue
        raw = os.path.join(tmp, f"uncond_{tag}{sfx}.f32")
        x, sec = samples(f"{tag}_uncond{sfx}", raw, path, steps, None, 1.0)
        ev = evaluate(raw, floor=main_run and not cfg.num_classes)
        metrics[f"{tag}_uncond{sfx}"] = dict(ev, seconds=round(sec))
        print(tag, steps, "steps, uncond", json.dumps(metrics[f"{tag}_uncond{sfx}"]), flush=True)
        if main_run and not cfg.num_classes:
            png.write_grid(os.path.join(models, f"{a.name}.png"), x[:100], cols=10)

    meta = dict(base_meta)
    meta["ddpm.metrics"] = json.dumps(metrics, separators=(",", ":"))
    meta["ddpm.eval_protocol"] = json.dumps(sampling, separators=(",", ":"))
    # the headline under fixed keys (tools read these without parsing the metrics): the main run's FD at 10k
    # samples, or its 1/n-bias fit out to 10k, and the 10k train/test floor
    main = metrics.get("i8_guided" if cfg.num_classes else "i8_uncond", {})
    fd10k = main.get("fd_fit_at_10k", main.get("fd") if main.get("n") == 10000 else None)
    if fd10k is not None:
        meta["ddpm.fd_10k"] = f"{fd10k:.3f}"
        meta["ddpm.fd_floor_10k"] = "0.025"  # evaluate.py --floor: 6 disjoint 10k train sets vs the test set
    for dt in ("i8", "f16"):
        path = export.export(sd, cfg, ck["schedule"], os.path.join(models, f"{a.name}.{dt}.safetensors"), dt, meta)
        print(f"wrote {path} ({os.path.getsize(path)/2**20:.2f} MiB)")
    # the golden file tests/test_unet_golden.c and wasm-tests hold the shipped file to (read back from the file)
    golden.make_shipped(os.path.join(models, f"{a.name}.i8.safetensors"), a.name)
    write_card(a, cfg, ck, metrics, sampling)


def fmt(v, nd=3):
    return "—" if v is None else f"{v:.{nd}f}"


def write_card(a, cfg, ck, metrics, sampling):
    n_params = sum(v.numel() for v in ck["ema"].values())
    lines = [f"# {a.name}", ""]
    kind = "class-conditional (10 Fashion-MNIST classes + a null class for classifier-free guidance)" \
        if cfg.num_classes else "unconditional"
    lines += [f"A DDPM (Ho et al. 2020) U-Net, {kind}, trained on Fashion-MNIST at 28x28 by this project.", "",
              f"![samples](./{a.name}.png)", "",
              "*Samples from the C engine reading the shipped I8 file"
              + (f", one row per class (T-shirt … ankle boot), guidance {a.guidance}" if cfg.num_classes else "")
              + f", {sampling['steps']} DDPM steps.*", "",
              "## Network", "",
              f"- {n_params/1e6:.3f} M parameters, {flops(cfg)/1e9:.3f} GFLOP per evaluation",
              f"- base {cfg.base_channels} channels, multipliers {cfg.channel_mult}, {cfg.num_res_blocks} res blocks per "
              f"level, attention at {cfg.attn_resolutions}, GroupNorm {cfg.groups} groups, dropout {cfg.dropout}",
              "- linear beta schedule 1e-4 .. 0.02, T = 1000, eps-prediction", "",
              "## Files", "",
              f"- `{a.name}.i8.safetensors` — int8 weights with per-output-channel scales (the default)",
              f"- `{a.name}.f16.safetensors` — float16 weights", "",
              "## Training", "",
              f"- command: `{a.command or 'training/train.py ' + ' '.join(f'--{k.replace(chr(95), chr(45))} {v}' for k, v in ck['args'].items() if k in ('num_classes', 'steps', 'batch', 'lr', 'ema'))}`",
              f"- {ck['step']} steps of batch {ck['args']['batch']} ({ck['images_seen']} images), "
              f"{ck['train_seconds']/3600:.1f} h on a 2-core CPU (PyTorch {torch.__version__}), Adam lr "
              f"{ck['args']['lr']} with {ck['args']['warmup']} warm-up steps"
              + (f", then from step {ck['args']['lr_decay_from']} a cosine decay to {ck['args']['lr_final']} at step "
                 f"{ck['args']['steps']}" if ck['args'].get('lr_decay_from', -1) >= 0 else "")
              + ", grad clip 1.0, EMA "
              f"{ck['args']['ema']}"
              + (f", label dropout {ck['args']['label_dropout']}" if cfg.num_classes else ""), "",
              "## Measured quality", "",
              f"Samples: {sampling['n']} images from the native CLI, {sampling['sampler']}, {sampling['steps']} steps, "
              f"seed {sampling['seed']}. FD is the Fréchet distance between the evaluation classifier's 128-d features "
              "(`models/eval/fmnist-classifier.safetensors`, training/classifier.py) of the samples and of the 10k test "
              "images; the floor is FD(N train images, test) with the same N, averaged over disjoint train sets (± their "
              "standard deviation); ± after an FD is its bootstrap standard deviation over the N samples.", "",
              "| setting | FD | floor (same N) | FD / floor | mean class accuracy | pixel mean / std |",
              "|---|---|---|---|---|---|"]
    floor, floor_sd = None, None
    for m in metrics.values():
        if isinstance(m, dict) and m.get("fd_floor") is not None:
            floor, floor_sd = m["fd_floor"], m.get("fd_floor_sd")
    cmp = sampling.get("compare_steps")
    rows = []
    for sfx, st in (("", sampling["steps"]),) + (((f"_{cmp}steps", cmp),) if cmp else ()):
        for key, label in (("i8_guided", f"I8, guidance {a.guidance}"), ("f32_guided", f"F32, guidance {a.guidance}"),
                           ("i8_uncond", "I8, unconditional" if not cfg.num_classes else "I8, null class"),
                           ("f32_uncond", "F32, unconditional" if not cfg.num_classes else "F32, null class")):
            if key + sfx in metrics:
                rows.append((f"{label}, {st} steps", metrics[key + sfx]))
    for label, m in rows:
        fd = fmt(m["fd"]) + (f" ± {m['fd_boot_sd']:.3f}" if m.get("fd_boot_sd") is not None else "")
        fl = fmt(floor) + (f" ± {floor_sd:.3f}" if floor_sd is not None else "")
        lines.append(f"| {label} | {fd} | {fl} | {fmt(m['fd'] / floor if floor else None, 2)} | "
                     f"{fmt(m.get('mean_class_accuracy'))} | {m['pixel_mean']:.3f} / {m['pixel_std']:.3f} |")
    if cmp:
        lines += ["", f"The {cmp}-step rows compare the I8 and F32 files on the same seeds at a lower cost; the "
                  f"{sampling['steps']}-step rows are the shipped I8 file at the evaluation protocol."]
    if "i8_guided" in metrics:
        per = metrics["i8_guided"]["class_accuracy"]
        lines += ["", "Per-class accuracy of guided I8 samples: " +
                  ", ".join(f"{data.CLASSES[int(k)]} {v:.2f}" for k, v in per.items())]
    lines += ["", f"I8 vs F32: eps-prediction relative L2 error {metrics['i8_vs_f32_eps_rel_l2']:.4f} on 100 random "
              f"(x_t, t) test inputs.", ""]
    if a.notes:
        with open(a.notes) as f:
            lines += [f.read().rstrip("\n"), ""]
    with open(os.path.join(ROOT, "models", f"{a.name}.md"), "w") as f:
        f.write("\n".join(lines))
    print(f"wrote models/{a.name}.md")


if __name__ == "__main__":
    main()
