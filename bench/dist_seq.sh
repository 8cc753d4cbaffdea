#!/usr/bin/env bash
# `seq` on MPI ranks (issue 24): quality and training speed against the rank count. For each
# rank count and seed, `mpirun -np N streamrec eval` fits seq data-parallel (leave-one-out by
# time, full ranking) and rank 0 evaluates. One rank is one ordinary process. Prints one
# line per run (NDCG@10, HR@10, fit seconds, sequences/s, rank 0's traffic and time in
# collectives) and a markdown table per rank count.
#
#   bench/dist_seq.sh [DATA]     (default: ../shared/data/ml-latest-small)
#   env RANKS="1 2 4"  SEEDS="42 1 2"  SPEC=seq  THREADS=1  BIN=build/apps/streamrec
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/apps/streamrec}
RANKS=${RANKS:-"1 2 4"}
SEEDS=${SEEDS:-"42 1 2"}
SPEC=${SPEC:-seq}
THREADS=${THREADS:-1}
data=${1:-../shared/data/ml-latest-small}
[ -d "$data" ] || { echo "skipped: $data is absent" >&2; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[[ $SPEC == *:* ]] && sep=, || sep=:
echo "| ranks | NDCG@10 per seed | mean | HR@10 mean | fit s (mean) | sequences/s | rank 0 sent MB/step | rank 0 in collectives |" >"$tmp/table"
echo "|---|---|---|---|---|---|---|---|" >>"$tmp/table"
for np in $RANKS; do
  : >"$tmp/runs"
  for seed in $SEEDS; do
    mpirun --allow-run-as-root --oversubscribe -np "$np" "$BIN" --threads "$THREADS" eval \
      --data "$data" --model "$SPEC${sep}seed=$seed" --k 10 --json "$tmp/r.json" \
      >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    speed=$(grep -o '[0-9]* sequences/s' "$tmp/err" | tail -1 | cut -d' ' -f1 || true)
    traffic=$(grep -o 'ranks: .*collectives' "$tmp/err" | tail -1 || true)
    python3 - "$tmp/r.json" "${speed:-0}" "$traffic" >>"$tmp/runs" <<'PY'
import json, re, sys
m = json.load(open(sys.argv[1]))["results"][0]
t = sys.argv[3]
steps = re.search(r"(\d+) steps", t)
mb = [float(x) for x in re.findall(r"([\d.]+) MB", t)]
comm = re.search(r"([\d.]+) s of ([\d.]+) s in", t)
per_step = sum(mb) / int(steps.group(1)) if steps and mb else 0
share = float(comm.group(1)) / float(comm.group(2)) if comm and float(comm.group(2)) > 0 else 0
print(m["metrics"]["ndcg@10"], m["metrics"]["hr@10"], m["fit_seconds"], sys.argv[2], per_step, share)
PY
    echo "$(basename "$data") $np ranks seed $seed: $(tail -1 "$tmp/runs") | $traffic" >&2
  done
  python3 - "$np" "$tmp/runs" >>"$tmp/table" <<'PY'
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[2])]
mean = lambda i: sum(r[i] for r in rows) / len(rows)
per_seed = " / ".join(f"{r[0]:.4f}" for r in rows)
print(f"| {sys.argv[1]} | {per_seed} | **{mean(0):.4f}** | {mean(1):.4f} | {mean(2):.0f} | "
      f"{mean(3):.0f} | {mean(4):.2f} | {100 * mean(5):.0f}% |")
PY
done
cat "$tmp/table"
