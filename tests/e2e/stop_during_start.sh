#!/usr/bin/env bash
# End to end: SIGTERM while the server fits its model at start (before it listens) stops
# it with exit 0. (Issue 26 saw such a signal lost once: a stop() that came before the
# listen loop began. The race is rare; this checks the behaviour, it does not force the
# race.) Every wait is for a condition (a log line, a count, the process' exit); ctest's
# timeout catches a server that never stops.
set -euo pipefail
bin=$1
dir=/tmp/stoptest; rm -rf $dir; mkdir -p $dir
pid=
trap "" EXIT
"$bin" generate --out "$dir/data" --gen users=300,items=200,events=6000 >/dev/null
model=seq:dim=16,maxlen=20,epochs=30,eval_every=30

# A first run logs the events (and writes a checkpoint, removed below so the next start fits).
"$bin" serve --port 0 --data-dir "$dir/state" --dashboard-dir '' --no-sync --model "$model" \
  --replay "$dir/data" --replay-speed 0 >"$dir/out1" 2>"$dir/err1" &
pid=$!
base=
until [ -n "$base" ]; do
  kill -0 $pid 2>/dev/null || { echo "first server died"; cat "$dir/err1"; exit 1; }
  base=$(grep -o 'serving http://[0-9.:]*' "$dir/out1" | cut -d' ' -f2 || true)
  sleep 0.1
done
until curl -sf "$base/v1/stats" | grep -q '"events_logged":6000'; do sleep 0.2; done
kill -TERM $pid
wait $pid
pid=
rm -f "$dir/state/model.ckpt"

"$bin" serve --port 0 --data-dir "$dir/state" --dashboard-dir '' --no-sync --model "$model" \
  >"$dir/out2" 2>"$dir/err2" &
pid=$!
until grep -q "fitting model" "$dir/err2"; do
  kill -0 $pid 2>/dev/null || { echo "second server died"; cat "$dir/err2"; exit 1; }
  sleep 0.05
done
kill -TERM $pid
code=0
wait $pid || code=$?
pid=
[ $code -eq 0 ] || { echo "exit code $code"; cat "$dir/err2"; exit 1; }
grep -q "stop signal" "$dir/err2" || { echo "the signal was not seen"; cat "$dir/err2"; exit 1; }
grep -q "serve: stopped" "$dir/err2" || { echo "no clean stop"; cat "$dir/err2"; exit 1; }
echo "stopped during the start's fit, exit 0"
