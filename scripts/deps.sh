#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if any is missing (sourced by demo.sh and test.sh).
#   DDPM_DEPS=build     compiler, cmake, stb, emscripten (the demo)
#   DDPM_DEPS=test      + clang-14 sanitizer/libFuzzer runtimes, chromium (the whole test suite)
# Nothing is installed when everything is present; without root it only says what is missing.
ddpm_need_pkgs() {
  local missing=()
  command -v cc >/dev/null || missing+=(build-essential)
  command -v cmake >/dev/null || missing+=(cmake)
  [ -f /usr/include/stb/stb_image_write.h ] || [ -f /usr/include/stb_image_write.h ] || missing+=(libstb-dev)
  command -v emcc >/dev/null || missing+=(emscripten)
  command -v node >/dev/null || missing+=(nodejs)
  if [ "${DDPM_DEPS:-build}" = test ]; then
    command -v clang-14 >/dev/null || missing+=(clang-14)
    ls /usr/lib/llvm-14/lib/clang/14*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
      missing+=(libclang-rt-14-dev)
    command -v ld.lld-14 >/dev/null || missing+=(lld-14)
    command -v chromium >/dev/null || missing+=(chromium)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "installing: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
      return 1
    fi
  fi
  # npm packages (playwright-core) for the browser tests
  if [ "${DDPM_DEPS:-build}" = test ] && [ ! -d node_modules/playwright-core ]; then
    npm install --no-audit --no-fund --silent
  fi
}
ddpm_need_pkgs
