#!/usr/bin/env bash
# Installs every Debian 12 package Streamrec needs to build, test and run.
# Idempotent: apt-get only installs what is missing. Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # toolchain
  build-essential g++ cmake ninja-build ccache pkg-config clang-format git
  # clang with libFuzzer and the sanitizer runtimes (fuzz/, scripts/fuzz.sh)
  clang libclang-rt-14-dev
  # numerics: libtorch for every neural network; OpenBLAS is mandatory, the
  # reference BLAS makes libtorch's matrix products ~30x slower.
  libtorch-dev libopenblas0-pthread libopenblas-dev
  # oneDNN's headers (libtorch already links its library): sgemm with the CPU's own kernels
  libdnnl-dev
  # storage, ANN, HTTP, JSON, CLI, logging
  librocksdb-dev libhnswlib-dev libcpp-httplib-dev nlohmann-json3-dev libsimdjson-dev
  libcli11-dev libspdlog-dev libfmt-dev zlib1g-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # scale-out and streaming sources
  libopenmpi-dev openmpi-bin libhiredis-dev redis-server
  # images for the item CNN
  libstb-dev
  # tools used by tests/benchmarks; Chromium for the dashboard's browser tests
  curl wrk chromium python3
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

# The dashboard's npm packages (uPlot for charts, playwright-core for its browser tests),
# pinned by dashboard/package-lock.json. Node.js and npm come with the machine; Debian's
# nodejs/npm are installed only where they are missing.
if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ ! -d dashboard/node_modules/uplot ] || [ ! -d dashboard/node_modules/playwright-core ]; then
  (cd dashboard && npm ci --no-audit --no-fund --loglevel=error)
fi
