#!/bin/bash
# Developer loop: rebuild the bench wasm (optionally with extra cflags in $CFLAGS) and time our forward only.
#   CFLAGS=-DDDPM_WINO_CHUNK=64 bash bench/quick.sh [rounds]
set -e
cd "$(dirname "$0")/.."
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
SRC=$(ls src/core/*.c src/schedule/*.c src/gaussian/*.c src/rng/*.c src/nn/*.c src/unet/*.c src/io/*.c src/sampler/*.c)
nice emcc -O3 -msimd128 -ffp-contract=off -fno-fast-math $CFLAGS -Iinclude -Isrc $SRC bench/wasm_bench.c \
  --no-entry -sSTANDALONE_WASM -sALLOW_MEMORY_GROWTH -sINITIAL_MEMORY=16777216 -sMAXIMUM_MEMORY=67108864 -sTOTAL_STACK=1048576 \
  -sEXPORTED_FUNCTIONS=_bw_load,_bw_forward,_bw_sample,_bw_flops,_bw_peak,_bw_error,_bw_set_scalar,_malloc,_free \
  -o bench/out/quick.wasm
node bench/quick.mjs bench/out/quick.wasm ${1:-15}
