#!/usr/bin/env bash
# The npm package end to end (package-tests/): npm pack, installed into fresh temporary projects, used from Node,
# from a Vite build, an esbuild bundle and an import map page in headless Chromium, and type-checked. Needs the npm
# registry (vite, esbuild, typescript are installed into the temporary project), Debian's chromium, the native CLI
# (build/ddpm) and web/dist/ddpm.wasm. About a minute.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules/playwright-core ] || npm install --no-audit --no-fund
[ -f web/dist/ddpm.wasm ] || bash scripts/build-wasm.sh
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
exec node --test --test-concurrency=1 package-tests/
