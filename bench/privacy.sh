#!/usr/bin/env bash
# The privacy/utility trade-off (issue 28): seq with user-level DP-SGD at several epsilons
# against the same fit without DP (time ratio from alternating runs: each DP run sits
# between two non-private ones), then the federated fit (FedAvg, and DP-FedAvg) after R
# rounds against the centralised one. Leave-one-out, full ranking, NDCG@10 and HR@10.
# Prints markdown tables.
#
#   bench/privacy.sh [DATA=../shared/data/ml-latest-small] ; env BASE, EPSILONS, ROUNDS
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/ml-latest-small}
BIN=${BIN:-build/apps/streamrec}
BASE=${BASE:-"seq:dim=32,maxlen=50,epochs=20,batch=256,lr=0.01"}
EPSILONS=${EPSILONS:-"8 4 1"}
ROUNDS=${ROUNDS:-"25 50 100"}
FED=${FED:-"seq:dim=32,maxlen=50,fed_clients=64"}
[ -d "$DATA" ] || { echo "skipped: $DATA is absent" >&2; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {  # spec -> "ndcg hr epsilon fit_s"
  "$BIN" eval --data "$DATA" --model "$1" --k 10 --json "$tmp/r.json" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; exit 1; }
  python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["results"][0]
x = m["metrics"]
print(x["ndcg@10"], x["hr@10"], x.get("dp_epsilon", float("inf")), m["fit_seconds"])' "$tmp/r.json"
}
echo "### $(basename "$DATA"): DP-SGD, $BASE (eval_every=20 without DP: no early stop)"
echo "| epsilon (delta 1e-5) | NDCG@10 | HR@10 | epsilon spent | fit s | time vs non-private |"
echo "|---|---|---|---|---|---|"
plain="$BASE,eval_every=1000"
read -r n0 h0 e0 t0 <<<"$(run "$plain")"
printf "| inf (no DP) | %.4f | %.4f | - | %.1f | 1 |\n" "$n0" "$h0" "$t0"
for eps in $EPSILONS; do
  read -r n h e t <<<"$(run "$BASE,dp_epsilon=$eps")"
  read -r n1 h1 e1 t1 <<<"$(run "$plain")"
  printf "| %s | %.4f | %.4f | %.3f | %.1f | %.2f (non-private %.1f / %.1f s) |\n" "$eps" "$n" "$h" "$e" \
    "$t" "$(python3 -c "print($t / (($t0 + $t1) / 2))")" "$t0" "$t1"
  t0=$t1
done
echo
echo "### $(basename "$DATA"): federated, $FED"
echo "| rounds | FedAvg NDCG@10 | HR@10 | DP-FedAvg (epsilon 8) NDCG@10 | HR@10 | fit s (FedAvg / DP) |"
echo "|---|---|---|---|---|---|"
for r in $ROUNDS; do
  read -r n h e t <<<"$(run "$FED,fed_rounds=$r")"
  read -r dn dh de dt <<<"$(run "$FED,fed_rounds=$r,dp_epsilon=8")"
  printf "| %s | %.4f | %.4f | %.4f | %.4f | %.1f / %.1f |\n" "$r" "$n" "$h" "$dn" "$dh" "$t" "$dt"
done
echo "(centralised, the same seq without DP: NDCG@10 $(printf %.4f "$n0"))"
