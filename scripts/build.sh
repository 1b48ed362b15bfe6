#!/usr/bin/env bash
# Configures and builds warren into build/ (or $BUILD_DIR). Extra arguments
# go to cmake; $TARGETS (space-separated) limits what is built.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} "$@" >/dev/null
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j"$(nproc)" "${targets[@]}"
