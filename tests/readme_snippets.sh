#!/usr/bin/env bash
# The README's usage snippets must not rot: its C example (section "C") is built against the installed header and
# library and run, and its command-line examples (section "Command line") run in a scratch folder.
# (The JavaScript example runs in browser-tests/readme.test.mjs.) Usage: readme_snippets.sh BUILD_DIR CC
set -euo pipefail
build=$1 cc=$2
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the block after "### <title>" up to its closing fence
block() { awk -v t="### $1" '$0 == t {s = 1; next} s && /^```/ {if (f) exit; f = 1; next} s && f' "$root/README.md"; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
c=$(block C)
[ -n "$c" ] || { echo "FAIL: no C example in README.md"; exit 1; }
{
  echo '#include <stdio.h>'
  echo '#include <stdlib.h>'
  echo "$c" | grep '^#include'
  echo 'int main(void) {'
  echo "$c" | grep -v '^#include'
  echo '    if (st != DDPM_OK) { fprintf(stderr, "FAIL: %s\n", err.message); return 1; }'
  echo '    printf("ok   the README C example samples (first pixel %g)\n", out[0]);'
  echo '    free(out); ddpm_model_free(m); return 0;'
  echo '}'
} > "$tmp/readme.c"
"$cc" -std=c11 -Wall -Werror -I"$tmp/prefix/include" "$tmp/readme.c" "$tmp/prefix/lib/libddpm.a" -lm -o "$tmp/readme"
(cd "$root" && "$tmp/readme")

cli=$(block "Command line")
[ -n "$cli" ] || { echo "FAIL: no command-line example in README.md"; exit 1; }
mkdir -p "$tmp/cli" && ln -s "$root/build" "$tmp/cli/build" && ln -s "$root/models" "$tmp/cli/models"
if [ "$(cd "$root" && realpath build)" != "$(realpath "$build")" ]; then rm "$tmp/cli/build"; ln -s "$build" "$tmp/cli/build"; fi
# as written, except that a `sample` line without --steps gets --steps 10 (the full 1000 steps take a minute here)
cli=$(echo "$cli" | sed -E '/^\.\/build\/ddpm sample/{/--steps/!s/$/ --steps 10/}')
(cd "$tmp/cli" && bash -euo pipefail -c "$cli" > "$tmp/cli.log" 2>&1) || { echo "FAIL: the README's commands:"; cat "$tmp/cli.log"; exit 1; }
for f in grid.png boots.png frames/step_00000.png; do [ -s "$tmp/cli/$f" ] || { echo "FAIL: $f was not written"; exit 1; }; done
echo "ok   the README's command-line examples run and write grid.png, boots.png, frames/"
