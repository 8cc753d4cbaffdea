#!/usr/bin/env bash
# Builds Streamrec and runs every test (unit, oracle, real-data, end-to-end) with CTest,
# after the unit suite under ASan + UBSan and the concurrency tests under TSan
# (scripts/sanitize.sh: build-asan/, build-tsan/) and a short run of each libFuzzer target
# from a fixed seed (build-fuzz/, FUZZ_RUNS inputs each).
# Tests that need ../shared/data skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/sanitize.sh all

echo "== fuzz targets, ${FUZZ_RUNS:=50000} inputs each (seed 1), under ASan + UBSan (build-fuzz/)"
FUZZ_RUNS=$FUZZ_RUNS bash scripts/fuzz.sh all

bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --parallel "$(nproc)" "$@"
