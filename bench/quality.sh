#!/usr/bin/env bash
# Ranking quality over seeds (issue 27): each labelled spec on each data set, leave-one-out
# by time, full ranking, one `eval` per seed (`seed=S` appended for models that declare it).
# Prints one line per run and a markdown table of NDCG@10 / HR@10 (mean, min-max) and seq's training speed.
#
#   bench/quality.sh [DATA ...]     (default: ml-latest-small and movietweetings-100k)
#   env SPECS="label=spec;label=spec"  SEEDS="1 2 3"  THREADS=2  BIN=build/apps/streamrec
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/apps/streamrec}
SEEDS=${SEEDS:-"1 2 3"}
THREADS=${THREADS:-2}
SPECS=${SPECS:-"reference=seq:maxlen=50,dim=50,blocks=2,dropout=0.2,lr=0.001,batch=128;defaults=seq"}
[ $# -gt 0 ] || set -- ../shared/data/ml-latest-small ../shared/data/movietweetings-100k
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
IFS=';' read -ra specs <<<"$SPECS"
for data in "$@"; do
  [ -d "$data" ] || { echo "skipped: $data is absent" >&2; continue; }
  rows=()
  for entry in "${specs[@]}"; do
    label=${entry%%=*}
    spec=${entry#*=}
    : >"$tmp/runs"
    for seed in $SEEDS; do
      s="$spec"  # the seed goes only to models that declare one (`streamrec models`)
      name=${spec%%:*}
      if "$BIN" models | awk -v m="$name:" '$1 == m {f = 1; next} /^[a-z]/ {f = 0} f && $1 == "seed" {found = 1} END {exit !found}'; then
        [[ $s == *:* ]] && s="$s,seed=$seed" || s="$s:seed=$seed"
      fi
      "$BIN" --threads "$THREADS" eval --data "$data" --model "$s" --k 10 --json "$tmp/r.json" \
        >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
      speed=$(grep -o '[0-9]* sequences/s' "$tmp/err" | tail -1 | cut -d' ' -f1 || true)
      python3 - "$tmp/r.json" "${speed:-0}" >>"$tmp/runs" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["results"][0]
print(m["metrics"]["ndcg@10"], m["metrics"]["hr@10"], m["fit_seconds"], sys.argv[2])
EOF
      echo "$(basename "$data") $label seed $seed: $(tail -1 "$tmp/runs")" >&2
    done
    rows+=("$(python3 - "$tmp/runs" "$label" "$spec" <<'EOF'
import sys
runs = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
col = lambda k: [r[k] for r in runs]
def f(k, p=4):
    v = col(k)
    return f"{sum(v)/len(v):.{p}f} ({min(v):.{p}f}-{max(v):.{p}f})"
speed = col(3)
s = f"{sum(speed)/len(speed):.0f}" if all(speed) else "-"
print(f"| {sys.argv[2]} | `{sys.argv[3]}` | {f(0)} | {f(1)} | {sum(col(2))/len(runs):.0f} | {s} |")
EOF
)")
  done
  echo "### $(basename "$data"): seeds $SEEDS, $THREADS threads"
  echo "| label | spec | NDCG@10 mean (min-max) | HR@10 mean (min-max) | fit s | seq/s |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
done
