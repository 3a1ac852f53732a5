#!/bin/sh
# Builds bench/out/ddpm_bench.wasm from the library's sources and bench/wasm_bench.c (Emscripten, SIMD128, -O3).
# The heap may grow to 64 MiB and no further (the issue's budget): the batch-16 DDIM run in peers.mjs --e2e checks it.
set -e
cd "$(dirname "$0")/.."
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
mkdir -p bench/out
SRC=$(ls src/core/*.c src/schedule/*.c src/gaussian/*.c src/rng/*.c src/nn/*.c src/unet/*.c src/io/*.c src/sampler/*.c)
emcc -O3 -msimd128 -ffp-contract=off -fno-fast-math -Iinclude -Isrc $SRC bench/wasm_bench.c \
  --no-entry -sSTANDALONE_WASM -sALLOW_MEMORY_GROWTH -sINITIAL_MEMORY=16777216 -sMAXIMUM_MEMORY=67108864 -sTOTAL_STACK=1048576 \
  -sEXPORTED_FUNCTIONS=_bw_load,_bw_forward,_bw_sample,_bw_flops,_bw_peak,_bw_error,_bw_set_scalar,_malloc,_free \
  -o bench/out/ddpm_bench.wasm
ls -l bench/out/ddpm_bench.wasm
