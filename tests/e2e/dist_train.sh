#!/usr/bin/env bash
# `mpirun -np N streamrec dist-train`: the same generated data fitted on 1 and on 2 ranks
# (factors sharded by key across them) reaches the same quality, far above popularity; the
# 2-rank run's factors (--out) carry that quality into a 1-rank run of one epoch (--init).
#   tests/e2e/dist_train.sh <streamrec binary> <mpiexec>
set -euo pipefail
BIN=$1 MPIEXEC=$2
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
GEN=users=2000,items=1000,events=60000
for np in 1 2; do
  "$MPIEXEC" --allow-run-as-root --oversubscribe -np "$np" "$BIN" dist-train --gen "$GEN" \
    --model dist-bpr:epochs=20 --json "$DIR/np$np.json" --out "$DIR/factors$np" >"$DIR/np$np.txt"
done
"$BIN" dist-train --gen "$GEN" --model dist-bpr:epochs=1 --init "$DIR/factors2" \
  --json "$DIR/init.json" >/dev/null
"$BIN" dist-train --gen "$GEN" --model dist-bpr:epochs=1 --json "$DIR/one_epoch.json" >/dev/null
"$BIN" eval --gen "$GEN" --model popular --json "$DIR/popular.json" >/dev/null
python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
hr = lambda f: json.load(open(f"{d}/{f}.json"))["results"][0]["metrics"]["hr@10"]
one, two, pop = hr("np1"), hr("np2"), hr("popular")
init, fresh = hr("init"), hr("one_epoch")
print(f"hr@10: 1 rank {one:.4f}, 2 ranks {two:.4f}, popular {pop:.4f}; "
      f"1 epoch from the 2-rank factors {init:.4f}, from scratch {fresh:.4f}")
assert abs(one - two) <= 0.03, "2 ranks should match 1 rank"
assert min(one, two) >= 3 * pop, "dist-bpr should beat popularity by far"
assert abs(init - two) <= 0.03 and init >= 2 * fresh, "--init should start from the saved factors"
PY
