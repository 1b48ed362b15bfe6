#!/usr/bin/env bash
# Installs warren's build and test dependencies from Debian's packages.
# Idempotent: packages already present are skipped; apt-get runs only when needed.
set -euo pipefail

packages=(
  g++ cmake make pkg-config
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev
  libboost-program-options-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgoogle-perftools-dev
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all dependencies present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
