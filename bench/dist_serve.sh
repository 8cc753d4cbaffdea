#!/usr/bin/env bash
# Online learning of `streamrec serve` on MPI ranks (issue 24): for each rank count, the
# server starts on an empty data directory, the demo ingests a backlog of EVENTS generated
# events (ITEMS items, USERS users) as fast as they are accepted, and the learner (on rank 0
# with the other ranks in lock step) learns them; prints the events learned per second
# from the start of the backlog to its last event learned, the online steps, and rank 0's
# traffic report at the stop (SIGTERM to rank 0). One rank is one ordinary process.
#
#   bench/dist_serve.sh [model]   (default: seq:maxlen=50)
#   env RANKS="1 2"  EVENTS=30000  ITEMS=10000  USERS=3000  THREADS=1  BIN=build/apps/streamrec
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-seq:maxlen=50}
RANKS=${RANKS:-"1 2"}
EVENTS=${EVENTS:-30000} ITEMS=${ITEMS:-10000} USERS=${USERS:-3000} THREADS=${THREADS:-1}
BIN=${BIN:-build/apps/streamrec}
DIR=$(mktemp -d)
job=
trap '[ -n "$job" ] && kill -9 $job 2>/dev/null; rm -rf "$DIR"' EXIT
echo "| ranks | events learned/s | learner micro-batches | seconds | rank 0 traffic at the stop |"
echo "|---|---|---|---|---|"
for np in $RANKS; do
  rm -rf "$DIR/state"
  launch=("$BIN")
  [ "$np" -gt 1 ] && launch=(mpirun --allow-run-as-root --oversubscribe -np "$np" "$BIN")
  : >"$DIR/out"
  "${launch[@]}" --threads "$THREADS" serve --port 0 --data-dir "$DIR/state" --model "$MODEL" \
    --dashboard-dir '' --no-sync --checkpoint-every 0 --demo --demo-rate 1 \
    --demo-backlog "$EVENTS" --demo-catalog true \
    --gen "users=$USERS,items=$ITEMS,events=$EVENTS,new_item_share=0" >"$DIR/out" 2>"$DIR/err" &
  job=$!
  base=
  until [ -n "$base" ]; do
    kill -0 $job 2>/dev/null || { cat "$DIR/err" >&2; exit 1; }
    base=$(grep -o 'serving http://[0-9.:]*' "$DIR/out" | cut -d' ' -f2 || true)
    sleep 0.2
  done
  t0=$(date +%s.%N)
  until curl -sf "$base/v1/stats" | python3 -c "import json,sys; sys.exit(0 if json.load(sys.stdin)['events_learned'] >= $EVENTS else 1)" 2>/dev/null; do
    kill -0 $job 2>/dev/null || { cat "$DIR/err" >&2; exit 1; }
    sleep 0.5
  done
  t1=$(date +%s.%N)
  steps=$(curl -sf "$base/v1/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['learn_steps'])")
  root=$job
  if [ "$np" -gt 1 ]; then
    for p in $(pgrep -P "$job"); do
      tr '\0' '\n' <"/proc/$p/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=0' && root=$p
    done
  fi
  kill -TERM "$root"
  wait $job
  job=
  traffic=$(grep -o 'ranks: .*collectives' "$DIR/err" | tail -1 || true)
  python3 -c "import sys; t=float(sys.argv[2])-float(sys.argv[1]); print(f'| $np | {$EVENTS/t:.0f} | $steps | {t:.1f} | ${traffic:--} |')" "$t0" "$t1"
done
