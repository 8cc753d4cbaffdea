#!/usr/bin/env bash
# End to end: `streamrec train --out D` writes the model artifact; `serve --model-dir D`
# starts from it without a fit, on an empty event log, and answers a user the model knows
# from the model (every item's source "model"); `eval --load D` evaluates it; a truncated
# artifact is a clear error at start.
set -euo pipefail
bin=$1
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -INT $pid 2>/dev/null; rm -rf "$dir"' EXIT
"$bin" generate --out "$dir/data" --gen users=200,items=150,events=4000 >/dev/null
"$bin" train --data "$dir/data" --model seq:dim=16,maxlen=20,epochs=4 --out "$dir/model" \
  >/dev/null 2>&1
user=$(sed -n 2p "$dir/data/events.csv" | cut -d, -f1)

"$bin" serve --port 0 --data-dir "$dir/state" --dashboard-dir '' --no-sync \
  --model-dir "$dir/model" >"$dir/out" 2>"$dir/err" &
pid=$!
base=
for _ in $(seq 300); do
  base=$(grep -o 'serving http://[0-9.:]*' "$dir/out" | cut -d' ' -f2 || true)
  [ -n "$base" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
[ -n "$base" ] || { echo "server did not start"; cat "$dir/err"; exit 1; }
grep -q "starting from the model in" "$dir/err" || { echo "no start from the artifact"; cat "$dir/err"; exit 1; }
python3 - "$(curl -sf "$base/v1/recommend?user=$user&n=10")" "$(curl -sf "$base/v1/stats")" <<'PY'
import json, sys
recs, stats = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert len(recs["items"]) == 10, recs
assert all(r["source"] == "model" for r in recs["items"]), recs
assert stats["events_logged"] == 0 and stats["model"].startswith("seq:"), stats
PY
kill -INT $pid
wait $pid
pid=

"$bin" eval --data "$dir/data" --load "$dir/model" --json "$dir/eval.json" >/dev/null 2>"$dir/eval.err"
grep -q "has seen them" "$dir/eval.err" || { echo "no warning for a model fitted on the test events"; exit 1; }
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["results"][0]["metrics"]["hr@10"] > 0, r' "$dir/eval.json"
# Another data set's ids: refused, naming both sizes.
"$bin" generate --out "$dir/other" --gen users=50,items=40,events=500 >/dev/null
if "$bin" eval --data "$dir/other" --load "$dir/model" >/dev/null 2>"$dir/other.err"; then
  echo "a model of other data must be refused" >&2
  exit 1
fi
grep -q "was trained on other data" "$dir/other.err" || { cat "$dir/other.err"; exit 1; }

# A truncated artifact: a clear error naming the file, and a non-zero exit.
head -c 1000 "$dir/model/model.ckpt" >"$dir/model/cut" && mv "$dir/model/cut" "$dir/model/model.ckpt"
if "$bin" serve --port 0 --data-dir "$dir/state2" --dashboard-dir '' --model-dir "$dir/model" \
    >/dev/null 2>"$dir/bad.err"; then
  echo "a truncated artifact must fail the start" >&2
  exit 1
fi
grep -q "model.ckpt" "$dir/bad.err" || { echo "the error must name the file"; cat "$dir/bad.err"; exit 1; }
echo "model-dir e2e: passed"
