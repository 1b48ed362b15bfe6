#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite twice: a normal
# build (with the install test) and an AddressSanitizer + UBSan build.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)

echo "== build and test (RelWithDebInfo)"
BUILD_DIR=build ./scripts/build.sh
(cd build && ctest -j"$jobs" --output-on-failure --timeout 300)

echo "== build and test with AddressSanitizer and UndefinedBehaviorSanitizer"
BUILD_DIR=build-asan BUILD_TYPE=Debug ./scripts/build.sh -DWARREN_SANITIZE=ON -DWARREN_BUILD_BENCH=OFF
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest -j"$jobs" --output-on-failure --timeout 300 -LE install)
echo "== all tests passed"
