#!/usr/bin/env bash
# Builds the WebAssembly engine: build-wasm/ (Emscripten, Release) -> web/dist/ddpm.wasm.
# Needs Debian's emscripten (apt-get install -y emscripten); see ../shared/TOOLCHAIN.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export NODE_PATH="${NODE_PATH:-/usr/share/nodejs}"   # emcc's JS optimizer needs Debian's acorn
JOBS="${JOBS:-1}"
# web/lib/constants.js (status codes, enum names, limits) from include/ddpm.h: a header change reaches the JS here
node scripts/gen-constants.mjs
emcmake cmake -S . -B build-wasm -DCMAKE_BUILD_TYPE=Release -DDDPM_BUILD_TESTS=OFF -DDDPM_BUILD_CLI=OFF >/dev/null
cmake --build build-wasm -j "$JOBS"
mkdir -p web/dist
cp build-wasm/src/wasm/ddpm.wasm web/dist/ddpm.wasm
echo "web/dist/ddpm.wasm: $(stat -c %s web/dist/ddpm.wasm) bytes"
