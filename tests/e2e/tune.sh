#!/usr/bin/env bash
# `streamrec tune` end to end on generated data: ASHA promotes seq's best configurations to
# more epochs (choice parameters searched too), the same --seed gives the same trials and best spec, and the best spec is
# what `eval --model @FILE` runs. Bad input is refused with a message naming it.
#   tests/e2e/tune.sh BUILD/apps/streamrec
set -euo pipefail
bin=${1:?usage: tune.sh STREAMREC}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gen="users=200,items=120,events=5000"
for run in a b; do
  "$bin" --threads 1 tune --gen "$gen" --model itemknn --model seq:maxlen=20 --trials 16 \
    --budget 10m --seed 7 --json "$tmp/$run.json" >"$tmp/$run.txt" 2>/dev/null
done
python3 - "$tmp/a.json" "$tmp/b.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
specs = lambda r: [t["spec"] for t in r["trials"]]
assert specs(a) == specs(b), "the same seed gave other trials"
assert a["model"] == b["model"], (a["model"], b["model"])
assert len(a["trials"]) == 16
assert any(t["rung"] >= 1 for t in a["trials"]), "no configuration was promoted"
best = max(t["validation_ndcg10"] for t in a["trials"])
assert a["validation_ndcg10"] == best
assert 0 < a["found_at_seconds"] <= a["elapsed_seconds"]
# Choice parameters are searched too: both of seq's windows appear.
windows = {p for t in a["trials"] if t["spec"].startswith("seq:")
           for p in t["spec"].split(":", 1)[1].split(",") if p.startswith("windows=")}
assert windows == {"windows=last", "windows=all"}, windows
print("tune:", a["model"], a["validation_ndcg10"])
PY
out=$("$bin" --threads 1 eval --gen "$gen" --model "@$tmp/a.json" --k 10 2>/dev/null)
model=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["model"])' "$tmp/a.json")
grep -qF "$model" <<<"$out" || { echo "eval did not run the tuned spec: $out" >&2; exit 1; }
if err=$("$bin" eval --gen "$gen" --model @"$tmp/none.json" 2>&1); then exit 1; fi
grep -q "cannot read the model spec file" <<<"$err" || { echo "$err" >&2; exit 1; }
if err=$("$bin" tune --gen "$gen" --budget soon 2>&1); then exit 1; fi
grep -q "budget 'soon'" <<<"$err" || { echo "$err" >&2; exit 1; }
if err=$("$bin" tune --gen "$gen" --model usercf 2>&1); then exit 1; fi
grep -q "no search space for model 'usercf'" <<<"$err" || { echo "$err" >&2; exit 1; }
echo "tune: deterministic, promoted, and its spec runs in eval"
