#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite twice: a normal
# build (with the install test) and an AddressSanitizer + UBSan build; then
# the concurrency tests under ThreadSanitizer, and each libFuzzer target for a
# short time over its seed corpus (docs/security.md, "Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
jobs=$(nproc)

echo "== build and test (Release)"
BUILD_DIR=build ./scripts/build.sh
(cd build && ctest -j"$jobs" --output-on-failure --timeout 300)

echo "== build and test with AddressSanitizer and UndefinedBehaviorSanitizer"
BUILD_DIR=build-asan BUILD_TYPE=Debug ./scripts/build.sh -DWARREN_SANITIZE=ON -DWARREN_BUILD_BENCH=OFF
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest -j"$jobs" --output-on-failure --timeout 300 -LE install)
echo "== build and test the concurrency tests with ThreadSanitizer"
# Only the tests labelled for it are built (tests/CMakeLists.txt, WARREN_TSAN_TESTS).
tsan_start=$(date +%s)
BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo TARGETS=tsan_tests ./scripts/build.sh -DWARREN_TSAN=ON \
  -DWARREN_BUILD_EXAMPLES=OFF -DWARREN_BUILD_BENCH=OFF
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
(cd build-tsan && ctest -j"$jobs" --output-on-failure --timeout 300)
echo "== ThreadSanitizer step took $(( $(date +%s) - tsan_start )) s"

echo "== fuzz each libFuzzer target for ${FUZZ_SECONDS:=10} s (clang, ASan + UBSan)"
fuzz_start=$(date +%s)
fuzz_targets="protocol broker journal pubsub"
BUILD_DIR=build-fuzz BUILD_TYPE=RelWithDebInfo TARGETS="$(printf 'fuzz_%s ' $fuzz_targets)" ./scripts/build.sh \
  -DCMAKE_CXX_COMPILER=clang++ -DWARREN_FUZZ=ON -DWARREN_BUILD_TESTS=OFF \
  -DWARREN_BUILD_EXAMPLES=OFF -DWARREN_BUILD_BENCH=OFF
for t in $fuzz_targets; do
  # New inputs go to a scratch directory; the checked-in corpus is only read.
  # A crash, leak or timeout leaves its input there and fails the run.
  scratch=$(mktemp -d)
  status=0
  ./build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
    -artifact_prefix="$scratch/" "$scratch" tests/fuzz/corpus/"$t" >"$scratch/log" 2>&1 || status=$?
  grep -E '^#[0-9]+ +DONE|^stat::(number_of_executed_units|peak_rss_mb)' "$scratch/log" | sed "s/^/fuzz_$t: /" || true
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$scratch/log"
    echo "fuzz_$t failed (exit $status); its input: $(ls "$scratch" | grep -v -x -e log | grep -E '^(crash|leak|timeout|oom)-' || true)"
    exit 1
  fi
  rm -rf "$scratch"
done
echo "== fuzzing took $(( $(date +%s) - fuzz_start )) s"
echo "== all tests passed"
