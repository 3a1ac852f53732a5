#!/usr/bin/env bash
# Builds the WebAssembly engine: build-wasm/ (Emscripten, Release) -> web/dist/ddpm.wasm, and its threaded variant
# (atomics + shared memory, web/lib/threads.js): build-wasm-threads/ -> web/dist/ddpm-threads.wasm.
# Needs Debian's emscripten (apt-get install -y emscripten); see ../shared/TOOLCHAIN.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"   # emcc's JS optimizer needs Debian's acorn
JOBS="${JOBS:-1}"
# web/lib/constants.js (status codes, enum names, limits) from include/ddpm.h: a header change reaches the JS here
node scripts/gen-constants.mjs
emcmake cmake -S . -B build-wasm -DCMAKE_BUILD_TYPE=Release -DDDPM_BUILD_TESTS=OFF -DDDPM_BUILD_CLI=OFF >/dev/null
cmake --build build-wasm -j "$JOBS"
emcmake cmake -S . -B build-wasm-threads -DCMAKE_BUILD_TYPE=Release -DDDPM_BUILD_TESTS=OFF -DDDPM_BUILD_CLI=OFF \
  -DDDPM_WASM_THREADS=ON >/dev/null
cmake --build build-wasm-threads -j "$JOBS"
mkdir -p web/dist
cp build-wasm/src/wasm/ddpm.wasm web/dist/ddpm.wasm
cp build-wasm-threads/src/wasm/ddpm-threads.wasm web/dist/ddpm-threads.wasm
echo "web/dist/ddpm.wasm: $(stat -c %s web/dist/ddpm.wasm) bytes, ddpm-threads.wasm: $(stat -c %s web/dist/ddpm-threads.wasm) bytes"
