#!/usr/bin/env bash
# Configures and builds meshtrust (Ninja, ccache, -j2).
#   scripts/build.sh             release build (g++) into ./build
#   scripts/build.sh --sanitize  clang build with AddressSanitizer, UBSan and
#                                libFuzzer targets into ./build-sanitize
set -euo pipefail
cd "$(dirname "$0")/.."
# Paths relative to the checkout, and the build directory left out of the
# hash, so every clone on a machine shares the compiler cache (debug info of
# a cached object may name another clone's directory).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
if [ "${1:-}" = "--sanitize" ]; then
  scripts/install-deps.sh --sanitizers
  BUILD_DIR=${BUILD_DIR:-build-sanitize}
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_COMPILER=clang++ -DMESHTRUST_SANITIZE=ON -DMESHTRUST_FUZZ=ON \
      -DMESHTRUST_BUILD_BENCH=OFF -DMESHTRUST_FUZZ_SECONDS="${FUZZ_SECONDS:-60}" >/dev/null
  fi
else
  scripts/install-deps.sh
  BUILD_DIR=${BUILD_DIR:-build}
  if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
fi
ninja -C "$BUILD_DIR" -j"${JOBS:-2}"
