#!/usr/bin/env bash
# Prequential replay with online learning on MPI ranks (issue 24): for each rank count,
# `mpirun -np N streamrec replay --mode online` fits seq on the first share of time
# data-parallel, then replays the rest test-then-train; the online steps run on the ranks
# (each user's events on the rank that owns them) and rank 0 scores. One rank is one
# ordinary process. Prints one line per run (HR@10, NDCG@10, scored events, fit and replay
# seconds, rank 0's traffic) and a markdown table.
#
#   bench/dist_replay.sh [DATA]     (default: ../shared/data/movietweetings-100k)
#   env RANKS="1 2"  SPEC=seq:maxlen=50  WARMUP=0.2  THREADS=1  BIN=build/apps/streamrec
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/apps/streamrec}
RANKS=${RANKS:-"1 2"}
SPEC=${SPEC:-seq:maxlen=50}
WARMUP=${WARMUP:-0.2}
THREADS=${THREADS:-1}
data=${1:-../shared/data/movietweetings-100k}
[ -d "$data" ] || { echo "skipped: $data is absent" >&2; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| ranks | HR@10 | NDCG@10 | scored | fit s | replay s | online steps | rank 0 sent MB/step | rank 0 received MB/step | rank 0 in collectives |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for np in $RANKS; do
  mpirun --allow-run-as-root --oversubscribe -np "$np" "$BIN" --threads "$THREADS" replay \
    --data "$data" --model "$SPEC" --mode online --warmup "$WARMUP" --json "$tmp/r.json" \
    >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  traffic=$(grep -o 'ranks: .*collectives' "$tmp/err" | tail -1 || true)
  echo "$(basename "$data") $np ranks: $traffic" >&2
  python3 - "$tmp/r.json" "$np" "$traffic" <<'PY'
import json, re, sys
r = json.load(open(sys.argv[1]))["results"][0]
t = sys.argv[3]
steps = re.search(r"(\d+) steps", t)
mb = [float(x) for x in re.findall(r"([\d.]+) MB", t)]
comm = re.search(r"([\d.]+) s of ([\d.]+) s in", t)
n = int(steps.group(1)) if steps else 0
sent = sum(mb[:4]) / n if n and len(mb) >= 4 else 0
received = mb[4] / n if n and len(mb) >= 5 else 0
share = float(comm.group(1)) / float(comm.group(2)) if comm and float(comm.group(2)) > 0 else 0
print(f"| {sys.argv[2]} | {r['hr']:.4f} | {r['ndcg']:.4f} | {r['scored']} | {r['fit_seconds']:.0f} | "
      f"{r['replay_seconds']:.0f} | {n or '-'} | {sent:.2f} | {received:.2f} | {share:.0%} |")
PY
done
