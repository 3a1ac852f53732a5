#!/usr/bin/env bash
# The main job on the bundled default model (models/fmnist-cond.i8.safetensors):
#   1. builds the native engine and CLI, and the WebAssembly engine (web/dist/ddpm.wasm);
#   2. samples one image per class natively (DDPM ancestral on 250 strided steps, guidance 2) -> samples.png
#      (STEPS=1000 for the paper's full chain);
#   3. serves the demo page on http://127.0.0.1:8000/web/ (Ctrl-C to stop).
#   DDPM_NO_SERVE=1 skips step 3; PORT=N changes the port.
set -euo pipefail
cd "$(dirname "$0")/.."
DDPM_DEPS=build source scripts/deps.sh
JOBS=${JOBS:-$(nproc)}
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS" --target ddpm-cli
JOBS=$JOBS bash scripts/build-wasm.sh
MODEL=models/fmnist-cond.i8.safetensors
./build/ddpm info "$MODEL" | sed -n 1,16p   # sed reads it all (head would cut the pipe under pipefail)
./build/ddpm sample "$MODEL" --seed 1 --batch 10 --class all --guidance 2 --steps "${STEPS:-250}" --scale 4 \
  --out samples.png
echo "wrote samples.png"
if [ "${DDPM_NO_SERVE:-0}" != 1 ]; then
  exec node scripts/serve.mjs --port "${PORT:-8000}"
fi
