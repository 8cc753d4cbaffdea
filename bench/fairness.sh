#!/usr/bin/env bash
# The fairness trade-off of the re-ranking (issue 28): NDCG@10 against Gini of exposure,
# the long tail's share, calibration KL and the activity groups' NDCG gap, for calibrate and
# max_category_share settings (the server's request parameters, applied offline by `eval`).
# Leave-one-out, full ranking. Prints a markdown table per data set.
#
#   bench/fairness.sh [MODEL=ease] ; env DATA="../shared/data/ml-latest-small ..."
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-ease}
BIN=${BIN:-build/apps/streamrec}
DATA=${DATA:-"../shared/data/ml-latest-small ../shared/data/movietweetings-100k"}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in $DATA; do
  [ -d "$d" ] || { echo "skipped: $d is absent" >&2; continue; }
  echo "### $(basename "$d"), $MODEL"
  echo "| calibrate | max_category_share | NDCG@10 | Gini@10 | long tail@10 | calibration KL@10 | NDCG gap (cold/medium/heavy) |"
  echo "|---|---|---|---|---|---|---|"
  for setting in "0 1" "0.3 1" "0.6 1" "0.9 1" "0 0.3" "0.6 0.3"; do
    set -- $setting
    "$BIN" eval --data "$d" --model "$MODEL" --k 10 --calibrate "$1" --max-category-share "$2" \
      --json "$tmp/r.json" >/dev/null 2>&1
    python3 - "$tmp/r.json" "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = (r["results"] if isinstance(r, dict) else r)[0]["metrics"]
g = lambda k: m.get(k, float("nan"))
print(f"| {sys.argv[2]} | {sys.argv[3]} | {g('ndcg@10'):.4f} | {g('gini@10'):.3f} | {g('longtail@10'):.3f} | "
      f"{g('calibration_kl@10'):.3f} | {g('ndcg@10_gap'):.4f} ({g('ndcg@10_cold'):.4f}/{g('ndcg@10_medium'):.4f}/{g('ndcg@10_heavy'):.4f}) |")
PY
  done
done
