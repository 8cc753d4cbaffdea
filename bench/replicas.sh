#!/usr/bin/env bash
# Read replicas on loopback (issue 25): a leader learning a generated stream online (the
# demo: a backlog of EVENTS events, then RATE events/s) and two replicas following it.
#   1. freshness at a replica under that load (bench/replica_freshness.mjs: an event
#      acknowledged by the leader -> gone from the replica's recommendations), PROBES probes;
#   2. requests/s under wrk (closed loop, CONNECTIONS connections each): the leader alone,
#      then the leader and both replicas at once, and each process's CPU per request, from
#      which the requests/s of N replica machines follow.
# On one 2-core machine the three processes share the cores: step 2 measures CPU per
# request, not what separate machines would add. Prints a JSON line at the end.
#
#   bench/replicas.sh [model] ; env: ITEMS=20000 USERS=5000 EVENTS=100000 RATE=300
#   PUBLISH_MS=1000 PROBES=200 SECONDS_=15 CONNECTIONS=4 PORT=18100
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-seq:dim=32,maxlen=50}
ITEMS=${ITEMS:-20000} USERS=${USERS:-5000} EVENTS=${EVENTS:-100000} RATE=${RATE:-300}
PUBLISH_MS=${PUBLISH_MS:-1000} PROBES=${PROBES:-200} DURATION=${SECONDS_:-15}
CONNECTIONS=${CONNECTIONS:-4} PORT=${PORT:-18100}
BIN=${BIN:-build/apps/streamrec}
DIR=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -INT $p 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"' EXIT
L=http://127.0.0.1:$PORT R1=http://127.0.0.1:$((PORT + 1)) R2=http://127.0.0.1:$((PORT + 2))

"$BIN" serve --port "$PORT" --data-dir "$DIR/leader" --model "$MODEL" --dashboard-dir '' --demo \
  --publish-ms "$PUBLISH_MS" --demo-rate "$RATE" --demo-backlog "$EVENTS" \
  --gen "users=$USERS,items=$ITEMS,events=$EVENTS,new_item_share=0" >"$DIR/leader.log" 2>&1 &
PIDS+=($!)
LEADER=$!
stat() { curl -sf "$1/v1/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"; }
# Until the backlog is learned and the learner has caught up with the stream (at most a
# second of it queued): the probes then meet a leader in its steady state.
until [ "$(stat $L events_learned 2>/dev/null || echo 0)" -ge "$EVENTS" ] &&
  [ "$(stat $L queue)" -le "$RATE" ]; do
  kill -0 $LEADER 2>/dev/null || { cat "$DIR/leader.log" >&2; exit 1; }
  sleep 1
done
for k in 1 2; do
  "$BIN" serve --port $((PORT + k)) --data-dir "$DIR/replica$k" --dashboard-dir '' --follow "$L" \
    >"$DIR/replica$k.log" 2>&1 &
  PIDS+=($!)
done
REPLICAS=("${PIDS[1]}" "${PIDS[2]}")
for R in $R1 $R2; do
  until [ "$(stat $R replication_publish 2>/dev/null || echo 0)" -gt 0 ] &&
    [ "$(stat $R behind_publishes)" -eq 0 ]; do sleep 0.5; done
done
echo "leader learned $EVENTS events; $RATE events/s streaming; 2 replicas following (model $MODEL, --publish-ms $PUBLISH_MS)"
node bench/replica_freshness.mjs "$L" "$R1" "$PROBES" "$USERS" | tee "$DIR/fresh.txt"

cpu_ticks() {  # user + system clock ticks of process $1
  sed 's/^.*) //' /proc/$1/stat | awk '{ print $12 + $13 }'
}
load() {  # wrk against $1 for DURATION s into $2
  USERS=$USERS wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/recommend.lua "$1" >"$2"
}
rps() { grep -o 'Requests/sec: *[0-9.]*' "$1" | awk '{ print $2 }'; }
C0=$(cpu_ticks $LEADER)
load $L "$DIR/alone.txt"
C1=$(cpu_ticks $LEADER)
A0=($(cpu_ticks $LEADER) $(cpu_ticks ${REPLICAS[0]}) $(cpu_ticks ${REPLICAS[1]}))
load $L "$DIR/l.txt" & W1=$!
load $R1 "$DIR/r1.txt" & W2=$!
load $R2 "$DIR/r2.txt" & W3=$!
wait $W1 $W2 $W3
A1=($(cpu_ticks $LEADER) $(cpu_ticks ${REPLICAS[0]}) $(cpu_ticks ${REPLICAS[1]}))
echo "wrk ${DURATION}s, $CONNECTIONS connections each: leader alone $(rps $DIR/alone.txt) req/s;" \
  "leader + 2 replicas at once: $(rps $DIR/l.txt) + $(rps $DIR/r1.txt) + $(rps $DIR/r2.txt) req/s"
python3 - "$DIR" "$MODEL" "$RATE" "$PUBLISH_MS" "$C0" "$C1" "${A0[*]}" "${A1[*]}" \
  "$(getconf CLK_TCK)" "$DURATION" "$(stat $R1 lag_ms)" <<'PY'
import json, re, sys
d, model, rate, publish_ms = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
tick_ms, seconds = 1000 / int(sys.argv[9]), int(sys.argv[10])
def rps(f):
    return float(re.search(r"Requests/sec:\s+([\d.]+)", open(f"{d}/{f}").read()).group(1))
fresh = json.loads(open(f"{d}/fresh.txt").read().strip().splitlines()[-1])
alone = rps("alone.txt")
both = [rps("l.txt"), rps("r1.txt"), rps("r2.txt")]
a0, a1 = [int(x) for x in sys.argv[7].split()], [int(x) for x in sys.argv[8].split()]
cpu_alone = (int(sys.argv[6]) - int(sys.argv[5])) * tick_ms / (alone * seconds)
replica_cpu = [(a1[k] - a0[k]) * tick_ms / (both[k] * seconds) for k in (1, 2)]
per_request = sum(replica_cpu) / 2  # CPU ms a replica spends per request
print(f"CPU per request: leader alone {cpu_alone:.2f} ms (its learning included); "
      f"replicas {replica_cpu[0]:.2f} / {replica_cpu[1]:.2f} ms")
print(f"a replica machine with C cores serves about C x {1000 / per_request:.0f} req/s; "
      f"N of them N times that (the leader's publishes cost each the same)")
print(json.dumps({"bench": "replicas", "model": model, "events_per_s": rate,
                  "publish_ms": publish_ms, "freshness": fresh, "leader_alone_rps": alone,
                  "together_rps": both, "total_rps": sum(both),
                  "leader_cpu_ms_per_request_alone": round(cpu_alone, 3),
                  "replica_cpu_ms_per_request": [round(x, 3) for x in replica_cpu],
                  "replica_rps_per_core": round(1000 / per_request),
                  "replica_lag_ms_after": float(sys.argv[11])}))
PY
