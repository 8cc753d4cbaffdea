#!/usr/bin/env bash
# `mpirun -np 2 streamrec train --model seq`: the data-parallel fit writes the same artifact
# as one process, which `eval --load` in one process scores as rank 0's own evaluation did
# (and well above popularity); its manifest says what the ranks moved. A model that cannot
# fit on ranks stops every rank with a message naming it; tune refuses to run on ranks.
#   tests/e2e/dist_seq.sh <streamrec binary> <mpiexec>
set -euo pipefail
BIN=$1 MPIEXEC=$2
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
GEN=users=600,items=400,events=20000,sequential=0.6
SPEC=seq:dim=24,maxlen=20,blocks=1,epochs=10,eval_every=5
MPI=("$MPIEXEC" --allow-run-as-root --oversubscribe -np 2)
"${MPI[@]}" "$BIN" --threads 1 train --gen "$GEN" --model "$SPEC" --holdout loo \
  --out "$DIR/model" >"$DIR/train.txt" 2>"$DIR/train.err"
"${MPI[@]}" "$BIN" --threads 1 eval --gen "$GEN" --model "$SPEC" --k 10 \
  --json "$DIR/ranks.json" >/dev/null 2>&1
"$BIN" eval --gen "$GEN" --load "$DIR/model" --k 10 --json "$DIR/loaded.json" >/dev/null 2>&1
"$BIN" eval --gen "$GEN" --model popular --k 10 --json "$DIR/popular.json" >/dev/null 2>&1
grep -q "2 ranks: .* steps; rank 0 sent" "$DIR/train.err"
if "${MPI[@]}" "$BIN" eval --gen "$GEN" --model mf >"$DIR/mf.txt" 2>&1; then
  echo "mf on 2 ranks should fail" >&2
  exit 1
fi
grep -q "mf does not fit on MPI ranks" "$DIR/mf.txt"
if "${MPI[@]}" "$BIN" tune --gen "$GEN" --model seq --budget 1m >"$DIR/tune.txt" 2>&1; then
  echo "tune on 2 ranks should refuse" >&2
  exit 1
fi
grep -q "tune runs in one process, not on 2 MPI ranks" "$DIR/tune.txt"
python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
ndcg = lambda f: json.load(open(f"{d}/{f}.json"))["results"][0]["metrics"]["ndcg@10"]
ranks, loaded, pop = ndcg("ranks"), ndcg("loaded"), ndcg("popular")
manifest = json.load(open(f"{d}/model/manifest.json"))
print(f"ndcg@10: 2 ranks {ranks:.4f}, their artifact loaded in one process {loaded:.4f}, "
      f"popular {pop:.4f}; manifest ranks {manifest['ranks']}")
assert manifest["ranks"]["ranks"] == 2 and manifest["ranks"]["steps"] > 0
assert manifest["ranks"]["rank0_row_bytes"] > 0 and manifest["ranks"]["rank0_reduce_bytes"] > 0
assert abs(ranks - loaded) <= 1e-9, "the artifact should score as the ranks' model did"
assert loaded >= 2 * pop, "seq should beat popularity by far"
PY
