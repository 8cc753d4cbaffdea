#!/usr/bin/env bash
# Builds Streamrec and runs every test (unit, oracle, real-data, end-to-end) with CTest.
# Tests that need ../shared/data skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --parallel "$(nproc)" "$@"
