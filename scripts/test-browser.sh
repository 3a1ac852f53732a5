#!/usr/bin/env bash
# Browser tests of the demo page (web/): headless Debian chromium driven by npm playwright-core, against
# scripts/serve.mjs on a free port. Screenshots, the downloaded PNG and measured numbers (metrics.json) land in
# browser-tests/artifacts/.
#   bash scripts/test-browser.sh            # installs what is missing, builds web/dist/ddpm.wasm when missing
#   CHROMIUM=/path/to/chrome bash ...       # another Chromium build
# About 1-2 minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  if [ "$CHROMIUM" = /usr/bin/chromium ] && [ "$(id -u)" = 0 ]; then
    echo "test-browser: installing Debian's chromium"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
  else
    echo "test-browser: $CHROMIUM is missing (apt-get install -y chromium, or set CHROMIUM)" >&2
    exit 2
  fi
fi
[ -d node_modules/playwright-core ] && [ -d node_modules/axe-core ] || npm install --no-audit --no-fund
[ -f web/dist/ddpm.wasm ] && [ -f web/dist/ddpm-threads.wasm ] || bash scripts/build-wasm.sh
[ -f models/fmnist-cond.i8.safetensors ] || { echo "test-browser: models/fmnist-cond.i8.safetensors is missing" >&2; exit 2; }
export CHROMIUM
exec node --test browser-tests/
