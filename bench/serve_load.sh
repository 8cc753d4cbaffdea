#!/usr/bin/env bash
# Load benchmark of `streamrec serve` on loopback: a generated catalog (ITEMS items, USERS
# users) is ingested as a backlog, then the demo stream keeps flowing at RATE events/s
# (online learning on) while wrk (closed loop, CONNECTIONS connections, one thread) asks
# for recommendations of random users. Prints wrk's latency distribution, the server's own
# stats (freshness p50/p99 of the streamed events, recommendation latency, mean batch of
# encoded queries), the server's CPU time per request and a JSON line.
#
#   bench/serve_load.sh [model] ; env: ITEMS=100000 USERS=20000 EVENTS=300000 RATE=1000
#   SECONDS_=20 CONNECTIONS=4 PORT=18090 QPS= (offered rate; empty: closed loop)
#   ANN_MIN_ITEMS=1 (HNSW retrieval on; a huge value turns it off: every item scored)
#   QUERY= (extra recommend parameters, e.g. "&diversity=0.3")
#   BG_NICE=5 (niceness of the server's learner/ANN/retrain threads; 0: same as requests)
#   BG_IDLE=false (true: those threads also run under SCHED_IDLE)
#   BATCH_SCORING=true (exact scoring of concurrent requests in shared passes; false: alone)
#   BATCH_QUERIES=true (concurrent requests' users encoded in one batch; false: alone)
#   CATALOG=true (every item listed at start; false: each item at its first event, so the
#   catalog holds only the items the events reached)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-mf:algo=bpr}
ITEMS=${ITEMS:-100000} USERS=${USERS:-20000} EVENTS=${EVENTS:-300000} RATE=${RATE:-1000}
DURATION=${SECONDS_:-20} CONNECTIONS=${CONNECTIONS:-4} PORT=${PORT:-18090}
ANN_MIN_ITEMS=${ANN_MIN_ITEMS:-1} QPS=${QPS:-}
DELAY_MS=0
[ -n "$QPS" ] && DELAY_MS=$((CONNECTIONS * 1000 / QPS))
BIN=${BIN:-build/apps/streamrec}
DIR=$(mktemp -d)
trap 'kill -INT $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT

"$BIN" serve --port "$PORT" --data-dir "$DIR" --model "$MODEL" --dashboard-dir '' --demo \
  --ann-min-items "$ANN_MIN_ITEMS" --background-nice "${BG_NICE:-5}" \
  --background-idle "${BG_IDLE:-false}" \
  --batch-scoring "${BATCH_SCORING:-true}" --batch-queries "${BATCH_QUERIES:-true}" \
  --demo-rate "$RATE" --demo-backlog "$EVENTS" --demo-catalog "${CATALOG:-true}" \
  --gen "users=$USERS,items=$ITEMS,events=$EVENTS,new_item_share=0" >"$DIR/server.log" 2>&1 &
PID=$!
# Wait for the backlog to be learned and the learner to have caught up with the stream
# (at most a second of it queued): the load then meets a server in its steady state, not
# one still draining a backlog that was ingested faster than it is learned.
START=$(date +%s.%N)
until curl -sf "http://127.0.0.1:$PORT/v1/stats" 2>/dev/null |
  python3 -c "import json,sys; s=json.load(sys.stdin); sys.exit(0 if s['events_learned']>=$EVENTS and s['queue']<=max(100,$RATE) else 1)" 2>/dev/null; do
  kill -0 $PID 2>/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
  sleep 1
done
BACKLOG_S=$(python3 -c "import time; print(round(time.time() - $START, 1))")
echo "backlog of $EVENTS events learned and the stream caught up in ${BACKLOG_S}s; $ITEMS items; loading for ${DURATION}s at $RATE events/s"
# Wait for the ANN index (when in use) to hold the published model.
if [ "$ANN_MIN_ITEMS" -le "$ITEMS" ]; then
  until curl -sf "http://127.0.0.1:$PORT/v1/stats" |
    python3 -c "import json,sys; sys.exit(0 if json.load(sys.stdin)['ann_items']>0 else 1)"; do
    sleep 1
  done
fi
# The server's CPU time (user + system, clock ticks) over the load, of its threads at the
# requests' niceness (0: request threads, main) and of the others (learner, ANN, retrain):
# per request, a measure that a noisy machine disturbs less than latency does. (A thread's
# comm may hold spaces; the fields after its closing parenthesis are fixed.)
cpu_ticks() {
  cat /proc/$PID/task/*/stat 2>/dev/null | sed 's/^.*) //' |
    awk '{ if ($17 == 0) r += $12 + $13; else b += $12 + $13 } END { print r + 0, b + 0 }'
}
CPU0=$(cpu_ticks)
USERS=$USERS DELAY_MS=$DELAY_MS QUERY=${QUERY:-} wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/recommend.lua \
  "http://127.0.0.1:$PORT" | tee "$DIR/wrk.txt"
CPU1=$(cpu_ticks)
curl -s "http://127.0.0.1:$PORT/v1/stats" | tee "$DIR/stats.json"
echo
python3 - "$DIR/wrk.txt" "$DIR/stats.json" "$MODEL" "$ITEMS" "$RATE" "$ANN_MIN_ITEMS" "${QPS:-closed}" \
  "$CPU0" "$CPU1" "$(getconf CLK_TCK)" "$DURATION" "$BACKLOG_S" <<'PY'
import json, re, sys
wrk = open(sys.argv[1]).read()
stats = json.load(open(sys.argv[2]))
def ms(label):
    m = re.search(r"\s%s%%\s+([\d.]+)(us|ms|s)" % label, wrk)
    if not m: return None
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
qps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
ticks0, ticks1 = sys.argv[8].split(), sys.argv[9].split()
seconds = int(sys.argv[11])
def cpu(k):  # ms over the load
    return (int(ticks1[k]) - int(ticks0[k])) * 1000 / int(sys.argv[10])
print(json.dumps({"bench": "serve_load", "model": sys.argv[3], "items": int(sys.argv[4]),
                  # items in the served catalog, and those the model scores
                  "catalog_items": stats["items"], "model_rows": stats.get("model_rows"),
                  "backlog_learned_s": float(sys.argv[12]),
                  "stream_events_per_s": int(sys.argv[5]), "qps": qps,
                  "ann": int(sys.argv[6]) <= int(sys.argv[4]), "offered_qps": sys.argv[7],
                  "ann_items": stats.get("ann_items"),
                  "wrk_p50_ms": ms("50"), "wrk_p99_ms": ms("99"),
                  "server_latency_p99_ms": stats["latency_p99_ms"],
                  "freshness_p50_ms": stats["freshness_p50_ms"],
                  "freshness_p99_ms": stats["freshness_p99_ms"],
                  "query_batch_mean": stats["query_jobs"] / max(1, stats["query_batches"]),
                  # CPU of the request threads per request, of the background threads per
                  # second (ms)
                  "request_cpu_ms_per_request": cpu(0) / (qps * seconds),
                  "background_cpu_ms_per_s": cpu(1) / seconds}))
PY
