#!/bin/bash
# The CIFAR-10 diffusers benchmark in one run (bench/README.md): builds a random-weight google/ddpm-cifar10-32
# architecture folder, exports its ONNX graph from the PyTorch reference, then times in the same run
#   - this engine's wasm (1 thread) and onnxruntime-web's wasm EP (1 and 2 threads), batch 1 and 8 (node);
#   - this engine natively (1 thread) and PyTorch CPU (1 thread).
# The background trainer (scripts/train-bg.sh) is paused meanwhile (SIGSTOP / SIGCONT) so that both cores are free.
#   bash bench/diffusers_cifar.sh
set -e
cd "$(dirname "$0")/.."
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
D=bench/out/cifar10
mkdir -p bench/out
[ -f $D/diffusion_pytorch_model.safetensors ] || /usr/bin/python3 training/diffusers_random.py --preset cifar10 --out $D
[ -f $D/model.onnx ] || /usr/bin/python3 training/export_onnx_diffusers.py $D --out $D
[ -d bench/node_modules ] || (cd bench && npm install --no-audit --no-fund)
bash scripts/build-wasm.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j1 --target bench_forward >/dev/null
PID=$(cat runs/fmnist-cond-long/pid 2>/dev/null || true)
if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -STOP "$PID"; trap 'kill -CONT '"$PID" EXIT; fi
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); node $(node --version)"
node bench/diffusers_cifar.mjs $D --rounds ${ROUNDS:-5} --json bench/out/diffusers_cifar.json
echo "== native (1 and 2 threads; busy: the thread-milliseconds the threads computed) vs PyTorch CPU (1 thread)"
./build/bench_forward $D --threads 1 1 8
./build/bench_forward $D --threads 2 1 8
/usr/bin/python3 - $D <<'PY'
import sys, time, statistics, torch
sys.path.insert(0, "training")
from diffusers_unet import load_folder
torch.set_num_threads(1)
m = load_folder(sys.argv[1]); m = m[0] if isinstance(m, tuple) else m
for n in (1, 8):
    x, t = torch.randn(n, 3, 32, 32), torch.full((n,), 500.0)
    with torch.no_grad():
        m(x, t); ms = []
        for _ in range(3):
            t0 = time.perf_counter(); m(x, t); ms.append((time.perf_counter() - t0) * 1e3)
    print(f"pytorch {torch.__version__} CPU, 1 thread, batch {n}: {statistics.median(ms):.1f} ms per call, "
          f"{statistics.median(ms) / n:.1f} ms per image")
PY
