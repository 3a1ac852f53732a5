#!/usr/bin/env bash
# Resumes the background training of the shipped models, at low priority on one torch thread, while other work goes
# on. Run it at the start of every work session on a machine; it picks up the committed full-state checkpoint
# (training/checkpoints/MODEL.pt: model, EMA, optimizer, step; the batch RNG is derived from the step, so a resumed run
# continues exactly as an uninterrupted one), checkpoints every 5 minutes, and appends the loss curve to
# training/logs/MODEL.csv. Commit both files before the session stops: `bash scripts/train-bg.sh --commit`.
#
#   bash scripts/train-bg.sh            start (or report that it already runs)
#   bash scripts/train-bg.sh --stop     stop it; the trainer checkpoints on SIGTERM before it exits
#   bash scripts/train-bg.sh --commit   git-commit the checkpoint and the loss log as they are now
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=fmnist-cond
CKPT=training/checkpoints/$MODEL.pt
CSV=training/logs/$MODEL.csv
RUN=runs/$MODEL-long
PIDFILE=$RUN/pid

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
  --commit)
    git add "$CKPT" "$CSV"
    step=$(tail -n 1 "$CSV" | cut -d, -f1)
    git commit -q -m "$MODEL background training: checkpoint at step $step" -- "$CKPT" "$CSV" && echo "committed step $step"
    exit 0 ;;
  --stop)
    running && kill "$(cat "$PIDFILE")" && echo "stopped (last checkpoint: $CKPT)"
    exit 0 ;;
esac

if running; then echo "already running (pid $(cat "$PIDFILE")); log: $RUN/stdout.txt"; exit 0; fi
if ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null || [ ! -d /usr/share/datasets/fashion-mnist ]; then
  [ "$(id -u)" = 0 ] || { echo "need: apt-get install python3-torch python3-numpy dataset-fashion-mnist" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch python3-numpy dataset-fashion-mnist >/dev/null
fi
mkdir -p "$RUN"
# The recipe of this run (kept fixed across sessions; the checkpoint refuses another config):
# continue fmnist-cond from its shipped F16 (EMA) weights at step 9520, constant lr 1e-4 after a 500-step warm-up,
# towards 100k steps; the last stretch will be annealed (--lr-decay-from) before a model is shipped from it.
nohup nice -n 19 /usr/bin/python3 training/train.py --out "$RUN" --ckpt "$CKPT" --csv "$CSV" \
  --num-classes 10 --init-from models/$MODEL.f16.safetensors --steps 100000 --lr 1e-4 --warmup 500 \
  --threads 1 --ckpt-every 300 --grid-every 0 >>"$RUN/stdout.txt" 2>&1 &
echo $! >"$PIDFILE"
echo "started pid $! (log: $RUN/stdout.txt, checkpoint: $CKPT every 5 min)"
