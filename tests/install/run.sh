#!/usr/bin/env bash
# Installs warren from the build the tests run in (BUILD, already built) into
# a scratch prefix, as `cmake --install` does for a user, and builds a small
# outside project against it twice: with find_package(warren) and with
# pkg-config. (It used to configure and build the libraries again on its
# own: minutes of CI for the same install rules.)
set -euo pipefail
src=$1 work=$2 build=$3
rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
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
