#!/usr/bin/env bash
# Builds everything and runs every test. The README's test command.
#  1. The release build (g++) and its whole suite, fuzz seeds replayed.
#  2. A clang build with AddressSanitizer + UndefinedBehaviorSanitizer: the
#     whole suite again (any sanitizer report fails its test), and every
#     libFuzzer target for FUZZ_SECONDS (default 60) from its seed corpus.
# `scripts/test.sh --quick` runs step 1 only, for a fast local loop.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
(cd build && ctest -j2 --output-on-failure --timeout 600)
[ "${1:-}" = "--quick" ] && exit 0

scripts/build.sh --sanitize
# Leak checking stays on; reports name the source lines.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
cd build-sanitize
# Fuzzers first (they are the longest); the rest of the suite runs beside them.
ctest -j2 --output-on-failure --timeout 900
