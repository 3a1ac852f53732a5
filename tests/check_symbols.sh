#!/usr/bin/env bash
# The shared library exports exactly the public API: every dynamic symbol it defines is a function declared with
# DDPM_API in include/ddpm.h or include/ddpm_debug.h, prefixed ddpm_ (never the internal ddpm__), and every such
# declaration is exported. Usage: check_symbols.sh LIBDDPM.so INCLUDE_DIR
set -euo pipefail
lib=$1 inc=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDRBW]$/ {print $3}' | sort -u)
declared=$(cat "$inc/ddpm.h" "$inc/ddpm_debug.h" | grep -v "^#" | tr '\n' ' ' | grep -oE 'DDPM_API [^;(]*\(' |
           grep -oE '[a-z_0-9]+\($' | tr -d '(' | sort -u)
fail=0
bad=$(echo "$exported" | grep -vE '^ddpm_[a-z0-9]' || true)
[ -z "$bad" ] || { echo "exported, not ddpm_*: $(echo $bad | head -c 2000)"; fail=1; }
extra=$(comm -23 <(echo "$exported") <(echo "$declared"))
[ -z "$extra" ] || { echo "exported but not declared DDPM_API in the headers: $(echo $extra)"; fail=1; }
missing=$(comm -13 <(echo "$exported") <(echo "$declared"))
[ -z "$missing" ] || { echo "declared DDPM_API but not exported: $(echo $missing)"; fail=1; }
n=$(echo "$exported" | wc -l)
[ "$n" -ge 60 ] || { echo "only $n symbols exported"; fail=1; }
[ $fail = 0 ] && echo "ok: $n exported symbols, all ddpm_* and declared DDPM_API"
exit $fail
