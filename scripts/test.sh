#!/usr/bin/env bash
# Every test of the project, in order of cost. Exits non-zero on the first failure.
#   bash scripts/test.sh            native (Release), sanitizers, fuzz, JS constants vs ddpm.h, wasm + Node, browser,
#                                   the npm package
#   DDPM_TEST_QUICK=1 bash ...      native Release ctest only
#   DDPM_FUZZ_SECONDS=N             libFuzzer budget (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
DDPM_DEPS=test source scripts/deps.sh
JOBS=${JOBS:-$(nproc)}
step() { printf '\n==== %s\n' "$*"; }

step "native Release build + ctest"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$JOBS"
(cd build && ctest --output-on-failure)

if [ "${DDPM_TEST_QUICK:-0}" = 1 ]; then exit 0; fi

step "AddressSanitizer + UndefinedBehaviorSanitizer build + ctest"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDDPM_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$JOBS"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure)

step "libFuzzer on the weights parser (${DDPM_FUZZ_SECONDS:-60} s) and the diffusers configs (${DDPM_FUZZ_CONFIG_SECONDS:-30} s)"
CC=clang-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDDPM_FUZZ=ON -DDDPM_BUILD_CLI=OFF >/dev/null
cmake --build build-fuzz -j"$JOBS" --target fuzz_weights fuzz_configs
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# new inputs go to the scratch folder (first), the committed corpus is only read
./build-fuzz/tests/fuzz_weights "$scratch" tests/fuzz/corpus -dict=tests/fuzz/weights.dict \
  -max_total_time="${DDPM_FUZZ_SECONDS:-60}" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 15
mkdir -p "$scratch/configs"
./build-fuzz/tests/fuzz_configs "$scratch/configs" tests/fuzz/corpus-configs -dict=tests/fuzz/configs.dict \
  -max_total_time="${DDPM_FUZZ_CONFIG_SECONDS:-30}" -max_len=16384 -rss_limit_mb=2048 -print_final_stats=1 2>&1 | tail -n 8

step "web/lib/constants.js matches include/ddpm.h (before the wasm build regenerates it)"
node scripts/gen-constants.mjs --check

if [ -f scripts/test-wasm.sh ]; then
  step "WebAssembly build + Node tests"
  # dev tools of the Node suite (typescript for the .d.ts check, playwright-core for its in-browser check)
  [ -d wasm-tests/node_modules ] || npm ci --prefix wasm-tests --no-audit --no-fund --silent
  JOBS=$JOBS bash scripts/test-wasm.sh
fi
if [ -f scripts/test-browser.sh ]; then
  step "browser tests (headless Chromium)"
  bash scripts/test-browser.sh
fi
if [ -f scripts/test-package.sh ]; then
  step "the npm package: npm pack, installed into fresh projects (Node, Vite, esbuild, import map, tsc)"
  bash scripts/test-package.sh
fi
step "all tests passed"
