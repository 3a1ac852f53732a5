#!/usr/bin/env bash
# Builds web/dist/ddpm.wasm (incrementally) and runs the Node tests: node --test wasm-tests/
#
# References the tests use when present, and skip with a message when absent:
#   build/ddpm            the native CLI (cmake -S . -B build && cmake --build build): wasm vs native, bit for bit
#   models/fmnist-cond.i8.safetensors, tests/data/fmnist-cond.golden.safetensors: the shipped model
#   /usr/bin/chromium + wasm-tests/node_modules (npm ci --prefix wasm-tests): the browser test and the type check
# Set SKIP_BUILD=1 to test the wasm already in web/dist.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  bash scripts/build-wasm.sh
fi
[ -f web/dist/ddpm.wasm ] || { echo "web/dist/ddpm.wasm is missing: run scripts/build-wasm.sh" >&2; exit 1; }
[ -x build/ddpm ] || echo "note: build/ddpm is missing; the wasm-vs-native tests will be skipped" >&2
exec node --test wasm-tests/
