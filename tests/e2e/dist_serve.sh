#!/usr/bin/env bash
# `mpirun -np 2 streamrec serve --model seq`: rank 0 serves and the other rank learns in lock
# step with it. Events POSTed are logged, learned in online steps on both ranks and served
# from the model. Killing rank 0 (kill -9) ends the job (MPI's default); one process then
# restarts from the checkpoint and the log with every acknowledged event, learns more, and
# 2 ranks resume from its checkpoint; SIGTERM to rank 0 stops the ranks cleanly, reporting
# what they moved; kill -9 of the other rank ends the job too. A model that cannot learn
# online on ranks (mf) stops with a message.
#   tests/e2e/dist_serve.sh <streamrec binary> <mpiexec>
set -euo pipefail
BIN=$1 MPIEXEC=$2
DIR=$(mktemp -d)
job=
trap '[ -n "$job" ] && kill -9 $job 2>/dev/null; rm -rf "$DIR"' EXIT
MPI=("$MPIEXEC" --allow-run-as-root --oversubscribe -np 2)
SPEC=seq:dim=16,maxlen=20,epochs=2,online_batch=32
"$BIN" generate --out "$DIR/data" --gen users=200,items=150,events=3000,sequential=0.6 >/dev/null
# The events as two JSON batches of 1,500.
python3 - "$DIR" <<'PY'
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/data/events.csv")))
ev = [{"user": r["user"], "item": r["item"], "type": r["type"], "timestamp": int(r["timestamp"])}
      for r in rows]
for k in range(2):
    json.dump(ev[k * 1500:(k + 1) * 1500], open(f"{d}/batch{k}.json", "w"))
PY

# Starts the server on `$1` ranks (1: one process, no mpirun) with serve options `${@:2}` in
# the background (job=its pid) and waits for its address (base=).
start() {
  local launch=("$BIN")
  [ "$1" -gt 1 ] && launch=("${MPI[@]}" "$BIN")
  : >"$DIR/out"
  "${launch[@]}" --threads 1 serve --port 0 --data-dir "$DIR/state" --dashboard-dir '' \
    --no-sync --checkpoint-every 0.5 --publish-ms 100 "${@:2}" >"$DIR/out" 2>"$DIR/err" &
  job=$!
  base=
  for _ in $(seq 600); do
    base=$(grep -o 'serving http://[0-9.:]*' "$DIR/out" | cut -d' ' -f2 || true)
    [ -n "$base" ] && return
    kill -0 $job 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start"; cat "$DIR/err"; exit 1
}
# Waits until the server has learned $1 events (a condition, not a duration).
learned() {
  for _ in $(seq 1200); do
    curl -sf "$base/v1/stats" | grep -q "\"events_learned\":$1," && return
    sleep 0.1
  done
  echo "events_learned never reached $1"; curl -sf "$base/v1/stats"; cat "$DIR/err"; exit 1
}
post() { curl -sf -X POST -H 'Content-Type: application/json' --data-binary "@$1" "$base/v1/events" >/dev/null; }
# After a restart: "A B", the model's checkpoint of A logged events and the B logged after it
# that it learns now (A + B must be every event logged: none acknowledged is lost).
resumed() {
  python3 - "$(curl -sf "$base/v1/model/versions")" "$(curl -sf "$base/v1/stats")" <<'PY'
import json, re, sys
reason = json.loads(sys.argv[1])["versions"][-1]["reason"]
m = re.search(r"checkpoint of (\d+) events \+ (\d+) from the log", reason)
assert m, f"the restart did not resume from a checkpoint: {reason}"
a, b = int(m.group(1)), int(m.group(2))
logged = json.loads(sys.argv[2])["events_logged"]
assert a > 0 and a + b == logged, f"checkpoint {a} + log {b} != {logged} logged"
print(a, b)
PY
}
# The pid of MPI rank 0 under the mpirun `job`.
rank0() {
  for p in $(pgrep -P "$job"); do
    tr '\0' '\n' <"/proc/$p/environ" | grep -qx 'OMPI_COMM_WORLD_RANK=0' && { echo "$p"; return; }
  done
}

# 1. Two ranks learn the first batch online; the served model answers.
start 2 --model "$SPEC"
post "$DIR/batch0.json"
learned 1500
user=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["user"])' "$DIR/batch0.json")
python3 - "$(curl -sf "$base/v1/stats")" "$(curl -sf "$base/v1/recommend?user=$user&n=10")" <<'PY'
import json, sys
s, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert s["learn_steps"] > 0 and s["model"].startswith("seq:"), s
assert len(r["items"]) == 10 and all(x["source"] == "model" for x in r["items"]), r
PY
# 2. kill -9 of rank 0 ends the whole job.
kill -9 "$(rank0)"
if wait $job; then echo "the job should end with rank 0 killed"; exit 1; fi
job=

# 3. One process resumes with every acknowledged event, and learns the second batch.
start 1 --model "$SPEC"
r=$(resumed)
read -r a b <<<"$r"
learned "$b"
post "$DIR/batch1.json"
learned $((b + 1500))
kill -TERM $job
wait $job
job=

# 4. Two ranks resume from the one process's checkpoint; SIGTERM to rank 0 stops them.
start 2 --model "$SPEC"
r=$(resumed)
read -r a b <<<"$r"
learned "$b"
[ $((a + b)) -eq 3000 ] || { echo "2 ranks resumed $a + $b events, not 3000"; exit 1; }
kill -TERM "$(rank0)"
wait $job
job=
grep -q "serve: stopped" "$DIR/err" && grep -q "2 ranks: .* steps" "$DIR/err" ||
  { echo "no clean stop of the ranks"; cat "$DIR/err"; exit 1; }

# 5. kill -9 of the other rank ends the job too; the log keeps every acknowledged event.
start 2 --model "$SPEC"
resumed >/dev/null
root=$(rank0)
for p in $(pgrep -P "$job"); do [ "$p" != "$root" ] && kill -9 "$p"; done
if wait $job; then echo "the job should end with rank 1 killed"; exit 1; fi
job=

# 6. A model that cannot learn online on ranks stops with its message.
if "${MPI[@]}" "$BIN" serve --port 0 --data-dir "$DIR/mf" --model mf >"$DIR/mf.txt" 2>&1; then
  echo "mf should not serve on 2 ranks"; exit 1
fi
grep -q "does not learn online on MPI ranks" "$DIR/mf.txt"
echo "serve on 2 MPI ranks: passed"
