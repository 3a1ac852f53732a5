#!/bin/bash
# The whole benchmark in one run (see bench/README.md):
#   bash bench/run.sh [MODEL.safetensors]     (default: a random-weight model (seed 0) of the shipped architecture)
# Needs: cmake + cc, emcc (Debian emscripten), node 20 with `npm install` done in bench/, /usr/bin/python3 with torch.
set -e
cd "$(dirname "$0")/.."
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
ROUNDS=${ROUNDS:-7}
mkdir -p bench/out
if [ -n "$1" ]; then
  /usr/bin/python3 bench/make_model.py --from "$1" 2>/dev/null
else
  /usr/bin/python3 bench/make_model.py 2>/dev/null
fi
[ -d bench/node_modules ] || (cd bench && npm install --no-audit --no-fund)
bash bench/build_wasm.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null && cmake --build build -j1 --target bench_forward ddpm-cli >/dev/null
M=bench/out/model.i8.safetensors
echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); node $(node --version); $(emcc --version | head -1)"

echo "== native (1 thread; $(./build/ddpm --version)) vs PyTorch CPU, median of 3 runs of build/bench_forward"
for i in 1 2 3; do ./build/bench_forward $M 1 8; done > bench/out/native.txt
NB1=$(grep 'batch  1' bench/out/native.txt | awk '{print $7}' | sort -n | sed -n 2p)
NB8=$(grep 'batch  8' bench/out/native.txt | awk '{print $7}' | sort -n | sed -n 2p)
echo "native ours: batch 1 $NB1 ms, batch 8 $NB8 ms/image"
for TH in 2 1; do
TORCH=$(/usr/bin/python3 bench/torch_cpu.py --threads $TH --rounds $ROUNDS)
echo "pytorch:     $TORCH"
/usr/bin/python3 - "$NB1" "$NB8" "$TORCH" <<'PY'
import json, sys
b1, b8, t = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
print(f"native (1 thread) vs PyTorch {t['torch']} CPU ({t['threads']} thread(s)): batch 1 {t['b1']/b1:.2f}x faster "
      f"(vs torch's best round {t['min1']/b1:.2f}x), batch 8 {t['b8']/b8:.2f}x (vs best {t['min8']/b8:.2f}x)")
PY
done

echo "== wasm build vs native build, same input"
node bench/wasm_vs_native.mjs
echo "== wasm: ours vs onnxruntime-web vs tfjs-wasm (node, one process)"
node bench/peers.mjs --rounds $ROUNDS --e2e --json bench/out/peers.json
echo "== onnxruntime-web with 2 threads (separate process: numThreads is fixed at its first session)"
node bench/peers.mjs --rounds $ROUNDS --only ort --ort-threads 2 --json bench/out/ort2.json | grep -E 'onnxruntime|max'

echo "== end to end, native CLI (1 thread)"
t0=$(date +%s.%N); ./build/ddpm sample $M --seed 1 --class 3 --batch 1 --quiet --raw bench/out/ddpm1000.f32; t1=$(date +%s.%N)
./build/ddpm sample $M --seed 1 --class 3 --batch 16 --sampler ddim --steps 50 --quiet --out bench/out/ddim50.png; t2=$(date +%s.%N)
echo "native: DDPM 1000 steps, 1 image $(echo "$t1 - $t0" | bc) s; DDIM 50 steps, 4x4 grid $(echo "$t2 - $t1" | bc) s"

if [ "$(uname -m)" = x86_64 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  echo "== are CPUs 0 and 1 equally fast? (bench/core_check.c, pinned, one at a time, then both at once)"
  cc -O2 bench/core_check.c -o bench/out/core_check
  for K in reg mem; do
    echo "$K: cpu0 $(taskset -c 0 bench/out/core_check $K | cut -d' ' -f2), cpu1 $(taskset -c 1 bench/out/core_check $K | cut -d' ' -f2)," \
      "together $( (taskset -c 0 bench/out/core_check $K & taskset -c 1 bench/out/core_check $K; wait) | cut -d' ' -f2 | paste -sd+) GFLOP/s"
  done
fi
echo "== two workers vs one (product API web/ddpm.js, shared compiled module, warm workers, split by firstImage)"
[ -f web/dist/ddpm.wasm ] || bash scripts/build-wasm.sh >/dev/null
node bench/workers.mjs $M --batch 16 --steps 20 --reps 7 --verbose
