#!/usr/bin/env bash
# Builds Streamrec and runs every test (unit, oracle, real-data, end-to-end) with CTest,
# after the embedding-table tests under ThreadSanitizer (build-tsan/, only that target) and
# a short run of each libFuzzer target from a fixed seed (build-fuzz/, FUZZ_RUNS inputs each).
# Tests that need ../shared/data skip with a message when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

TSAN_DIR=${TSAN_DIR:-build-tsan}
if [ ! -f "$TSAN_DIR/build.ninja" ]; then
  cmake -S . -B "$TSAN_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSTREAMREC_SANITIZE=thread -DSTREAMREC_BENCH=OFF > /dev/null
fi
cmake --build "$TSAN_DIR" --target embedding_tests --parallel "$(nproc)"
echo "== embedding tests under ThreadSanitizer"
TSAN_OPTIONS="halt_on_error=1" "$TSAN_DIR/tests/embedding_tests" --gtest_brief=1

echo "== fuzz targets, ${FUZZ_RUNS:=50000} inputs each (seed 1), under ASan + UBSan (build-fuzz/)"
FUZZ_RUNS=$FUZZ_RUNS bash scripts/fuzz.sh all

bash scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --parallel "$(nproc)" "$@"
