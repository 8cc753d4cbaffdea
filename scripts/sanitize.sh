#!/usr/bin/env bash
# The unit suite under sanitizers, each in a build directory of its own (test targets only):
# - AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/): every GoogleTest binary,
#   the dist tests under mpirun on 1 and 3 ranks. LeakSanitizer is on except for the MPI
#   runs (OpenMPI's own allocations at exit are reported as leaks).
# - ThreadSanitizer (build-tsan/): the embedding table's concurrency tests and the engine's
#   threads test (EngineThreads.*: request threads, ingest, the learner publishing, the ANN
#   upkeep thread and a retrain at once, with a model that runs no libtorch code, which is
#   not instrumented).
# Any report fails the run (UBSan too: -fno-sanitize-recover).
#
#   scripts/sanitize.sh [asan|tsan|all]
set -euo pipefail
cd "$(dirname "$0")/.."
WHAT=${1:-all}

build() {  # build DIR SANITIZERS TARGET...
  local dir=$1 san=$2
  shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTREAMREC_SANITIZE="$san" \
      -DSTREAMREC_BENCH=OFF >/dev/null
  fi
  cmake --build "$dir" --target "$@" --parallel "$(nproc)"
}

run() {  # run LOG COMMAND...: the command's last line, or the end of its log when it fails
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    tail -60 "$log"
    echo "failed: $* (log: $log)" >&2
    exit 1
  fi
  tail -1 "$log"
}

if [ "$WHAT" = asan ] || [ "$WHAT" = all ]; then
  build build-asan address,undefined embedding_tests streamrec_tests engine_tests server_tests \
    dist_tests
  echo "== unit tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
  export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
  t=build-asan/tests
  # The longest binary in the background, the others meanwhile (2 cores).
  run build-asan/streamrec_tests.log "$t/streamrec_tests" --gtest_brief=1 &
  long=$!
  for b in embedding_tests engine_tests server_tests; do
    run "build-asan/$b.log" "$t/$b" --gtest_brief=1
  done
  tmp=$(mktemp -d)
  for np in 1 3; do
    STREAMREC_DIST_TMP=$tmp/$np ASAN_OPTIONS=detect_leaks=0 run "build-asan/dist_$np.log" \
      mpirun --allow-run-as-root --oversubscribe -np $np "$t/dist_tests" --gtest_brief=1
  done
  rm -rf "$tmp"
  wait $long
fi

if [ "$WHAT" = tsan ] || [ "$WHAT" = all ]; then
  build build-tsan thread embedding_tests engine_tests
  echo "== concurrency tests under ThreadSanitizer (build-tsan/)"
  export TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/tests/sanitizer/tsan.supp"
  run build-tsan/embedding_tests.log build-tsan/tests/embedding_tests --gtest_brief=1
  run build-tsan/engine_threads.log build-tsan/tests/engine_tests --gtest_brief=1 \
    --gtest_filter='EngineThreads.*'
fi
