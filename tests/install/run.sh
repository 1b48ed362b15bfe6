#!/usr/bin/env bash
# Installs warren into a scratch prefix and builds a small outside project
# against it twice: with find_package(warren) and with pkg-config.
set -euo pipefail
src=$1 work=$2 type=${3:-RelWithDebInfo}
rm -rf "$work"
mkdir -p "$work"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE="$type" -DCMAKE_INSTALL_PREFIX="$work/prefix" \
  -DWARREN_BUILD_TESTS=OFF -DWARREN_BUILD_EXAMPLES=OFF -DWARREN_BUILD_BENCH=OFF >/dev/null
cmake --build "$work/build" -j2 >/dev/null
cmake --install "$work/build" >/dev/null
test -x "$work/prefix/bin/warrend"
test -f "$work/prefix/include/warren/warren.hpp"
test -f "$work/prefix/include/warren/broker.hpp"

# 1. CMake package
cmake -S "$src/tests/install/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
"$work/consumer/consumer"

# 2. pkg-config
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig" \
  g++ -std=c++20 "$src/tests/install/consumer/main.cpp" -o "$work/consumer-pc" \
  $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig:$work/prefix/lib/x86_64-linux-gnu/pkgconfig" pkg-config --cflags --libs warren-broker)
"$work/consumer-pc"
echo "install_consumer: ok"
