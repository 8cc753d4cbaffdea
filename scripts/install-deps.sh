#!/usr/bin/env bash
# Installs every Debian 12 package Streamrec needs to build, test and run.
# Idempotent: apt-get only installs what is missing. Run as root (or with sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential g++ cmake ninja-build ccache pkg-config clang-format git
  # numerics: libtorch for every neural network; OpenBLAS is mandatory, the
  # reference BLAS makes libtorch's matrix products ~30x slower.
  libtorch-dev libopenblas0-pthread libopenblas-dev
  # storage, ANN, HTTP, JSON, CLI, logging
  librocksdb-dev libhnswlib-dev libcpp-httplib-dev nlohmann-json3-dev libsimdjson-dev
  libcli11-dev libspdlog-dev libfmt-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # scale-out and streaming sources
  libopenmpi-dev openmpi-bin libhiredis-dev redis-server
  # images for the item CNN
  libstb-dev
  # tools used by tests/benchmarks
  curl wrk
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# libtorch must run its matrix products on OpenBLAS (pthread flavour), not the
# reference BLAS: point the libblas.so.3 alternative at it.
arch_dir=/usr/lib/x86_64-linux-gnu
if [ -e "$arch_dir/openblas-pthread/libblas.so.3" ]; then
  $SUDO update-alternatives --set "libblas.so.3-x86_64-linux-gnu" \
    "$arch_dir/openblas-pthread/libblas.so.3" >/dev/null
  $SUDO update-alternatives --set "liblapack.so.3-x86_64-linux-gnu" \
    "$arch_dir/openblas-pthread/liblapack.so.3" >/dev/null
fi
