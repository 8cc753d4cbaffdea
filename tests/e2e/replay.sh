#!/usr/bin/env bash
# End to end: `streamrec serve --replay DIR` feeds a data set (here a generated one) in event
# time order with its items' attributes; every event is logged and learned, the catalog has
# the items, Ctrl-C (SIGINT) stops the server cleanly.
set -euo pipefail
bin=$1
dir=$(mktemp -d)
trap 'kill -INT $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" generate --out "$dir/data" --gen users=200,items=150,events=3000 >/dev/null
"$bin" serve --port 0 --data-dir "$dir/state" --dashboard-dir '' --no-sync \
  --replay "$dir/data" >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do
  base=$(grep -o 'serving http://[0-9.:]*' "$dir/out" | cut -d' ' -f2 || true)
  [ -n "$base" ] && break
  sleep 0.1
done
[ -n "$base" ] || { echo "server did not start"; cat "$dir/err"; exit 1; }
for _ in $(seq 300); do
  stats=$(curl -sf "$base/v1/stats" || true)
  if python3 -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s["events_learned"]==3000 else 1)' "$stats" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
python3 - "$stats" "$(curl -sf "$base/v1/items/i5")" <<'PY'
import json, sys
s, item = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert s["events_logged"] == 3000 and s["events_learned"] == 3000, s
assert item["in_catalog"] and item["title"].endswith(" 5") and item["categories"], item
assert item["first_seen"] < 1800000000, item  # the events' own timestamps, not now
PY
kill -INT $pid
wait $pid
echo "replay e2e: passed"
