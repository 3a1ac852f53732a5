"""Train a DDPM on Fashion-MNIST with the paper's Algorithm 1; checkpoints atomically and resumes.

    /usr/bin/python3 training/train.py --out runs/cond --num-classes 10 --steps 60000

Algorithm 1: x0 ~ data, t ~ U{1..T}, eps ~ N(0, I); descend on ||eps - eps_theta(sqrt(ab_t) x0 + sqrt(1-ab_t) eps, t)||^2.
Here t is 0-based (0..T-1) as everywhere in this project: index t means the paper's t+1.

Every step draws its batch, timesteps, noise, label dropout and dropout masks from
generators seeded by (seed, step), so a run resumed from a checkpoint continues
exactly as the uninterrupted run would have.
"""

import argparse
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
import schedule  # noqa: E402
from model import UNet, UNetConfig, flops  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="run folder (checkpoint, log, sample grids)")
    p.add_argument("--num-classes", type=int, default=10, help="0 = unconditional")
    p.add_argument("--base-channels", type=int, default=32)
    p.add_argument("--channel-mult", default="1,2,2")
    p.add_argument("--num-res-blocks", type=int, default=2)
    p.add_argument("--attn-resolutions", default="7")
    p.add_argument("--groups", type=int, default=8)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=60000, help="total optimizer steps")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--warmup", type=int, default=1000, help="linear LR warm-up steps")
    p.add_argument("--lr-decay-from", type=int, default=-1,
                   help="from this step on, the LR follows a cosine from --lr down to --lr-final at --steps "
                        "(an annealing phase at the end of a run); -1 = constant LR")
    p.add_argument("--lr-final", type=float, default=2e-6)
    p.add_argument("--ema", type=float, default=0.9995)
    p.add_argument("--label-dropout", type=float, default=0.1, help="classifier-free guidance: P(label -> null)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ckpt-every", type=float, default=300, help="seconds between checkpoints")
    p.add_argument("--grid-every", type=int, default=2000, help="steps between sample grids (0 = never)")
    p.add_argument("--data-dir", default=data.DEFAULT_DIR)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--init-from", default="", help="start a new run from exported weights (an F32/F16 .safetensors, "
                   "e.g. models/NAME.f16.safetensors): model and EMA start from them, the step count from its "
                   "ddpm.train_steps; the optimizer starts fresh with a new warm-up; a conditional file can start an "
                   "unconditional run (its null class becomes the model). Ignored when a checkpoint exists")
    p.add_argument("--max-minutes", type=float, default=0, help="stop (after a checkpoint) after this long; 0 = no limit")
    p.add_argument("--ckpt", default="", help="full-state checkpoint path (model, EMA, optimizer, step, RNG seeds are "
                   "derived from the step); default OUT/ckpt.pt. training/checkpoints/*.pt are the committed ones")
    p.add_argument("--csv", default="", help="append one row per 50 steps (step, loss, lr, images, train hours, "
                   "unix time) to this CSV; default OUT/loss.csv")
    return p.parse_args(argv)


def lr_at(a, step, warm_from):
    """Linear warm-up over a.warmup steps from warm_from, then constant a.lr, or, from a.lr_decay_from on,
    a cosine from a.lr to a.lr_final that reaches a.lr_final at a.steps."""
    lr = a.lr * min(1.0, (step - warm_from + 1) / max(1, a.warmup))
    if 0 <= a.lr_decay_from <= step:
        frac = min(1.0, (step - a.lr_decay_from) / max(1, a.steps - a.lr_decay_from))
        lr = a.lr_final + (lr - a.lr_final) * 0.5 * (1.0 + math.cos(math.pi * frac))
    return lr


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


@torch.no_grad()
def sample_grid(model, cfg, ab, path, n=16, seed=1234, device="cpu"):
    """1000-step ancestral sampling (fixed_small), classes 0..n-1 mod num_classes; writes a PNG."""
    from png import write_grid
    g = torch.Generator(device="cpu").manual_seed(seed)
    T = len(ab)
    betas = 1 - ab / np.concatenate([[1.0], ab[:-1]])
    x = torch.randn(n, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g).to(device)
    y = (torch.arange(n) % cfg.num_classes).to(device) if cfg.num_classes else None
    for t in reversed(range(T)):
        tt = torch.full((n,), t, dtype=torch.long, device=device)
        eps = model(x, tt, y)
        a_t, ab_t = 1 - betas[t], ab[t]
        ab_prev = ab[t - 1] if t > 0 else 1.0
        mean = (x - betas[t] / math.sqrt(1 - ab_t) * eps) / math.sqrt(a_t)
        if t > 0:
            var = betas[t] * (1 - ab_prev) / (1 - ab_t)
            x = mean + math.sqrt(var) * torch.randn(x.shape, generator=g).to(device)
        else:
            x = mean
    write_grid(path, x.clamp(-1, 1).cpu().numpy(), cols=int(math.ceil(math.sqrt(n))))


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    ckpt_path = a.ckpt or os.path.join(a.out, "ckpt.pt")
    if os.path.dirname(ckpt_path):
        os.makedirs(os.path.dirname(ckpt_path), exist_ok=True)
    log = open(os.path.join(a.out, "log.txt"), "a")
    csv_path = a.csv or os.path.join(a.out, "loss.csv")
    if os.path.dirname(csv_path):
        os.makedirs(os.path.dirname(csv_path), exist_ok=True)
    new_csv = not os.path.exists(csv_path)
    csv = open(csv_path, "a")
    if new_csv:
        csv.write("step,loss_ema,lr,images_seen,train_hours,unix_time\n")
        csv.flush()

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    cfg = UNetConfig(base_channels=a.base_channels, channel_mult=[int(v) for v in a.channel_mult.split(",")],
                     num_res_blocks=a.num_res_blocks,
                     attn_resolutions=[int(v) for v in a.attn_resolutions.split(",") if v],
                     groups=a.groups, num_classes=a.num_classes, dropout=a.dropout)
    sched = dict(kind="linear", T=1000, beta_start=1e-4, beta_end=0.02)
    dev = torch.device(a.device)

    try:
        xs, ys = data.load("train", a.data_dir)
    except data.DataError as e:
        sys.exit(f"train.py: {e}")
    X = torch.from_numpy(data.to_model_range(xs))
    Y = torch.from_numpy(ys)
    if dev.type == "cuda":
        X, Y = X.to(dev), Y.to(dev)

    model = UNet(cfg).to(dev)
    ema = UNet(cfg).to(dev)
    ema.load_state_dict(model.state_dict())
    ema.eval().requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    step = 0
    images_seen = 0
    train_seconds = 0.0

    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location=dev)
        if ck["config"] != cfg.to_dict():
            sys.exit(f"train.py: {ckpt_path} was made with config {ck['config']}, not {cfg.to_dict()}; "
                     f"use another --out or the same options")
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        step, images_seen, train_seconds = ck["step"], ck["images_seen"], ck["train_seconds"]
        say(f"resumed from {ckpt_path} at step {step} ({images_seen} images, {train_seconds/3600:.2f} h)")
    elif a.init_from:
        import st
        tensors, meta = st.load(a.init_from)
        if any(v.dtype == np.int8 for v in tensors.values()):
            sys.exit(f"train.py: {a.init_from} holds int8 weights; start from the F16 or F32 export")
        sd = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in tensors.items()}
        folded = ""
        if cfg.num_classes == 0 and "class_embed.weight" in sd:
            # A conditional model's null class as the start of an unconditional one: its embedding row
            # (the last) is a constant added to the time embedding, so it folds exactly into fc2's bias.
            null = sd.pop("class_embed.weight")[-1]
            sd["time_embed.fc2.bias"] = sd["time_embed.fc2.bias"] + null
            folded = " (conditional model: null-class embedding folded into time_embed.fc2.bias)"
        try:
            model.load_state_dict(sd)
        except RuntimeError as e:
            sys.exit(f"train.py: {a.init_from} does not fit this config: {e}")
        ema.load_state_dict(model.state_dict())
        step = int(meta.get("ddpm.train_steps", "0"))
        images_seen = int(meta.get("ddpm.train_images", str(step * a.batch)))
        train_seconds = float(meta.get("ddpm.train_hours", "0")) * 3600
        say(f"new run from {a.init_from}{folded} (EMA weights of step {step}); fresh optimizer, warm-up from here")
    else:
        n = sum(p.numel() for p in model.parameters())
        say(f"new run: {n/1e6:.3f} M params, {flops(cfg)/1e9:.3f} GFLOP/image, config {json.dumps(cfg.to_dict())}")

    ab = np.cumprod(1 - schedule.betas(sched["kind"], sched["T"], sched["beta_start"], sched["beta_end"]))
    sqrt_ab = torch.tensor(np.sqrt(ab), dtype=torch.float32, device=dev)
    sqrt_1mab = torch.tensor(np.sqrt(1 - ab), dtype=torch.float32, device=dev)

    def checkpoint():
        atomic_save(dict(config=cfg.to_dict(), schedule=sched, model=model.state_dict(), ema=ema.state_dict(),
                         opt=opt.state_dict(), step=step, images_seen=images_seen, train_seconds=train_seconds,
                         args=vars(a)), ckpt_path)

    stop = {"signal": None}

    def on_term(signum, frame):
        stop["signal"] = signum  # checkpoint after the current step, then exit

    signal.signal(signal.SIGTERM, on_term)
    warm_from = step if (a.init_from and not os.path.exists(ckpt_path)) else 0
    t_start = time.time()
    last_ckpt = time.time()
    loss_avg = None
    window_t, window_n = time.time(), 0
    model.train()
    while step < a.steps:
        t0 = time.time()
        g = torch.Generator(device="cpu").manual_seed(a.seed * 1_000_003 + step)
        torch.manual_seed(a.seed * 7_000_003 + step)  # dropout masks
        idx = torch.randint(0, X.shape[0], (a.batch,), generator=g)
        t = torch.randint(0, sched["T"], (a.batch,), generator=g).to(dev)
        eps = torch.randn((a.batch,) + tuple(X.shape[1:]), generator=g).to(dev)
        x0 = X[idx.to(X.device)]
        y = None
        if cfg.num_classes:
            y = Y[idx.to(Y.device)].clone()
            drop = torch.rand(a.batch, generator=g).to(dev) < a.label_dropout
            y[drop] = cfg.num_classes
        xt = sqrt_ab[t][:, None, None, None] * x0 + sqrt_1mab[t][:, None, None, None] * eps
        loss = F.mse_loss(model(xt, t, y), eps)

        for group in opt.param_groups:
            group["lr"] = lr_at(a, step, warm_from)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            d = min(a.ema, (1 + step) / (10 + step))
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(d).add_(pm.detach(), alpha=1 - d)

        step += 1
        images_seen += a.batch
        train_seconds += time.time() - t0
        window_n += a.batch
        loss_avg = loss.item() if loss_avg is None else 0.98 * loss_avg + 0.02 * loss.item()

        if step % 50 == 0 or step == a.steps:
            ips = window_n / max(1e-9, time.time() - window_t)
            eta = (a.steps - step) * a.batch / max(ips, 1e-9)
            say(f"step {step}/{a.steps} loss {loss_avg:.4f} lr {opt.param_groups[0]['lr']:.2e} {ips:.1f} img/s eta {eta/3600:.2f} h")
            csv.write(f"{step},{loss_avg:.5f},{opt.param_groups[0]['lr']:.3e},{images_seen},{train_seconds/3600:.4f},"
                      f"{time.time():.0f}\n")
            csv.flush()
            window_t, window_n = time.time(), 0
        done = step == a.steps
        out_of_time = (a.max_minutes and (time.time() - t_start) > 60 * a.max_minutes) or stop["signal"]
        if done or out_of_time or time.time() - last_ckpt > a.ckpt_every:
            checkpoint()
            last_ckpt = time.time()
        if a.grid_every and (step % a.grid_every == 0 or done):
            ema_was = ema.training
            sample_grid(ema, cfg, ab, os.path.join(a.out, f"grid_{step:07d}.png"), device=dev)
            ema.train(ema_was)
            say(f"wrote grid_{step:07d}.png")
        if out_of_time:
            say(f"stopping at step {step} ({'SIGTERM' if stop['signal'] else f'{a.max_minutes} minutes'})")
            break
    checkpoint()


if __name__ == "__main__":
    main()
