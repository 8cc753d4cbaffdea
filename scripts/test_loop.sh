#!/usr/bin/env bash
# Flakiness check (issue 26): clones this repository's HEAD into a fresh directory and runs
# the CI entry point once, then the README's test command RUNS - 1 more times, in that one
# clone (incremental builds after the first). One line per run, on stdout and in
# DIR/summary.txt; each run's output in DIR/run_N.log. Stops at nothing: a failed run is
# counted and the loop goes on. About 7 minutes a run here once built, 30-40 cold.
#
#   scripts/test_loop.sh [RUNS=10] [DIR=/tmp/streamrec-loop]
set -uo pipefail
RUNS=${1:-10}
DIR=${2:-/tmp/streamrec-loop}
repo=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$DIR"
mkdir -p "$DIR"
git clone -q "$repo" "$DIR/clone" || exit 1
cd "$DIR/clone"
passed=0
for i in $(seq 1 "$RUNS"); do
  start=$(date +%s)
  if [ "$i" = 1 ]; then cmd=(bash .ci/run); else cmd=(bash scripts/test.sh); fi
  if "${cmd[@]}" >"$DIR/run_$i.log" 2>&1; then r=pass; passed=$((passed + 1)); else r=FAIL; fi
  line="run $i: $r in $(($(date +%s) - start)) s ($(grep -o '[0-9]*% tests passed.*' "$DIR/run_$i.log" | tail -1))"
  echo "$line" | tee -a "$DIR/summary.txt"
done
echo "$passed of $RUNS runs passed" | tee -a "$DIR/summary.txt"
[ "$passed" = "$RUNS" ]
