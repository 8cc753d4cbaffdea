#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ (clang, ASan + UBSan) in build-fuzz/:
#   scripts/fuzz.sh TARGET SECONDS   (TARGET: json_records, readers, text_parsers,
#                                     checked_files, or all)
#   FUZZ_RUNS=N scripts/fuzz.sh all   a smoke run from a fixed seed (seed 1, N inputs each),
#                                     as scripts/test.sh runs it (nearly the same inputs each
#                                     time: events without a timestamp take the clock's)
# Each run starts from the committed seeds (fuzz/seeds/TARGET) plus the corpus it grew
# before (build-fuzz/corpus/TARGET); a crash stops it with the input in build-fuzz/ and a
# non-zero exit. Prints one line per target: runs, corpus size, coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET|all SECONDS}
seconds=${2:-30}
[ -n "${FUZZ_RUNS:-}" ] && seconds=0
dir=${FUZZ_DIR:-build-fuzz}
if [ ! -f "$dir/build.ninja" ]; then
  CXX=clang++ cmake -S fuzz -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
fi
targets=(json_records readers text_parsers checked_files)
[ "$target" = all ] || targets=("$target")
cmake --build "$dir" --parallel "$(nproc)" --target "${targets[@]/#/fuzz_}"
for t in "${targets[@]}"; do
  mkdir -p "$dir/corpus/$t"
  log="$dir/fuzz_$t.log"
  limit=(-max_total_time="$seconds")
  [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS" -seed=1)
  if ! (cd "$dir" && ASAN_OPTIONS=detect_leaks=1 "./fuzz_$t" "${limit[@]}" \
          -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 "corpus/$t" \
          "../fuzz/seeds/$t") >"$log" 2>&1; then
    echo "fuzz_$t: FAILED after a crash or a leak; see $log and the crash-* file in $dir" >&2
    tail -40 "$log" >&2
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  echo "fuzz_$t: ${FUZZ_RUNS:+seed 1, }$runs runs, corpus $(ls "$dir/corpus/$t" | wc -l) inputs, coverage $cov edges, no crash"
done
