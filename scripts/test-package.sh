#!/usr/bin/env bash
# The npm package end to end (package-tests/): npm pack, installed into fresh temporary projects, used from Node,
# from a Vite build, an esbuild bundle and an import map page in headless Chromium, and type-checked
# (package.test.mjs); the README's "Embed it (npm)" blocks extracted from README.md and run as written
# (readme.test.mjs); the package's `npx ddpm-wasm` command against the native CLI (bin.test.mjs). Needs the npm
# registry (vite, esbuild, typescript are installed into the temporary project), Debian's chromium, the native CLI
# (build/ddpm) and web/dist/ddpm.wasm. About three minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules/playwright-core ] || npm install --no-audit --no-fund
[ -f web/dist/ddpm.wasm ] || bash scripts/build-wasm.sh
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
exec node --test --test-concurrency=1 package-tests/
