#!/usr/bin/env bash
# Builds the sampler-plugin and model-plugin tutorials of include/ddpm.h as a program of its own, against the installed header and
# library only (cmake --install into a temporary prefix), and runs it. Usage: plugin_example.sh BUILD_DIR CC
set -euo pipefail
build=$1 cc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
# the tutorial: from its first #include to the line before "// once, before sampling", without the " * " margin
sed -n '/^ \*     #include <math.h>/,/^ \*     \/\/ once, before sampling/p' "$tmp/prefix/include/ddpm.h" |
  sed '$d' | sed -E 's/^ \* {5}?//' > "$tmp/plugin.c"
[ "$(wc -l < "$tmp/plugin.c")" -gt 30 ] || { echo "FAIL: the sampler tutorial was not found in ddpm.h"; exit 1; }
# the model-plugin tutorial: from its struct to the paragraph after it
sed -n '/^ \*     typedef struct { double mu, s;/,/^ \* A network that answers asynchronously/p' "$tmp/prefix/include/ddpm.h" |
  sed '$d' | sed -E 's/^ \* {5}?//' > "$tmp/model.c"
[ "$(wc -l < "$tmp/model.c")" -gt 20 ] || { echo "FAIL: the model-plugin tutorial was not found in ddpm.h"; exit 1; }
cat "$tmp/model.c" >> "$tmp/plugin.c"
cat "$(dirname "$0")/plugin_example_main.c" >> "$tmp/plugin.c"
"$cc" -std=c11 -O1 -Wall -Wextra -Werror -I"$tmp/prefix/include" "$tmp/plugin.c" "$tmp/prefix/lib/libddpm.a" -lm \
  -o "$tmp/plugin"
"$tmp/plugin"
