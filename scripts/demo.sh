#!/usr/bin/env bash
# Installs dependencies, builds, starts warrend on its defaults
# (tcp://127.0.0.1:5673) and runs the hello world example against it.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
TARGETS="warrend hello_send hello_receive" ./scripts/build.sh
build=${BUILD_DIR:-build}

./"$build"/devices/broker/warrend &
warrend=$!
trap 'kill $warrend 2>/dev/null; wait $warrend 2>/dev/null || true' EXIT
# No wait needed: send connects (and retries) until warrend answers, up to 10 s.
./"$build"/examples/hello_world/send tcp://127.0.0.1:5673 "Hello World!"
./"$build"/examples/hello_world/receive tcp://127.0.0.1:5673 1
