#!/usr/bin/env bash
# Builds everything and runs every test. The README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest -j2 --output-on-failure --timeout 600
