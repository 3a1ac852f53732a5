#!/bin/bash
# Self-time profile of our wasm forward in node (V8 --cpu-prof), the Winograd stages kept as separate functions:
#   bash bench/profile.sh [rounds]
set -e
cd "$(dirname "$0")/.."
export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
mkdir -p bench/out/prof-obj && rm -f bench/out/prof-obj/*.o
for f in $(ls src/core/*.c src/schedule/*.c src/gaussian/*.c src/rng/*.c src/nn/*.c src/unet/*.c src/io/*.c src/sampler/*.c) bench/wasm_bench.c; do
  o=bench/out/prof-obj/$(echo $f | tr / _).o
  nice emcc -c -O3 -msimd128 -ffp-contract=off -fno-fast-math -DDDPM_PROFILE -Iinclude -Isrc $f -o $o
done
nice emcc -O0 bench/out/prof-obj/*.o --no-entry -sSTANDALONE_WASM -sALLOW_MEMORY_GROWTH -sINITIAL_MEMORY=33554432 \
  -sTOTAL_STACK=1048576 --profiling-funcs \
  -sEXPORTED_FUNCTIONS=_bw_load,_bw_forward,_bw_sample,_bw_flops,_bw_peak,_bw_error,_bw_set_scalar,_malloc,_free \
  -o bench/out/prof.wasm
rm -rf bench/out/prof && node --cpu-prof --cpu-prof-dir=bench/out/prof bench/quick.mjs bench/out/prof.wasm ${1:-25}
node bench/profile.mjs bench/out/prof/*.cpuprofile
