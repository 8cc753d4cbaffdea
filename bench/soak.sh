#!/usr/bin/env bash
# Soak of `streamrec serve` on loopback: the demo stream at RATE events/s (items enter the
# catalog at their first event, so the catalog keeps changing), wrk asking QPS
# recommendations/s, for MINUTES minutes. Every 10 s it samples the server's RSS and
# /v1/stats (recommend p99, freshness p99, request errors, events learned); at the end it writes
# an HTML report with the curves (DIR/soak.html, kept) and prints a JSON line: RSS, p99
# and freshness in the first and the last quarter, errors. Nothing here fails on a number.
#
#   bench/soak.sh [MINUTES=30] ; env: MODEL=seq:maxlen=50,dim=32 RATE=300 QPS=200
#   USERS=20000 ITEMS=100000 TTL=0 (--state-ttl-s: 0 keeps all state) PORT=18095
#   OUT=soak-report (the report's directory)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-30}
MODEL=${MODEL:-seq:maxlen=50,dim=32} RATE=${RATE:-300} QPS=${QPS:-200}
USERS=${USERS:-20000} ITEMS=${ITEMS:-100000} PORT=${PORT:-18095} OUT=${OUT:-soak-report}
TTL=${TTL:-0}
BIN=${BIN:-build/apps/streamrec}
DIR=$(mktemp -d)
mkdir -p "$OUT"
trap 'kill -INT $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; kill $WRK 2>/dev/null || true; rm -rf "$DIR"' EXIT
"$BIN" serve --port "$PORT" --data-dir "$DIR/data" --model "$MODEL" --dashboard-dir '' --demo \
  --demo-rate "$RATE" --demo-backlog 20000 --demo-catalog false --ann-min-items 1000000000 \
  --state-ttl-s "$TTL" \
  --gen "users=$USERS,items=$ITEMS,events=20000" >"$DIR/server.log" 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/v1/stats" >/dev/null 2>&1; do
  kill -0 $PID 2>/dev/null || { cat "$DIR/server.log" >&2; exit 1; }
  sleep 1
done
CONNECTIONS=4
USERS=$USERS DELAY_MS=$((CONNECTIONS * 1000 / QPS)) wrk -t1 -c$CONNECTIONS -d"${MINUTES}m" \
  --latency -s bench/recommend.lua "http://127.0.0.1:$PORT" >"$DIR/wrk.txt" 2>&1 &
WRK=$!
echo "t_s,rss_mb,recommend_p99_ms,freshness_p99_ms,request_errors,events_learned,requests,model_rows,state_expired" >"$OUT/soak.csv"
T0=$(date +%s)
END=$((T0 + MINUTES * 60))
while [ "$(date +%s)" -lt "$END" ]; do
  kill -0 $PID 2>/dev/null || { echo "the server died" >&2; tail -20 "$DIR/server.log" >&2; exit 1; }
  RSS=$(awk '/VmRSS/ {print $2 / 1024}' /proc/$PID/status)
  curl -sf "http://127.0.0.1:$PORT/v1/stats" | python3 -c "
import json, sys
s = json.load(sys.stdin)
print(f\"$(( $(date +%s) - T0 )),$RSS,{s['latency_p99_ms']},{s['freshness_p99_ms']},{s['request_errors']},{s['events_learned']},{s['requests']},{s['model_rows']},{s['state_expired']}\")
" >>"$OUT/soak.csv"
  if [ -t 1 ]; then  # progress with an ETA on a terminal only
    printf '\rsoak: %d of %d s, RSS %.0f MB' $(( $(date +%s) - T0 )) $((MINUTES * 60)) "$RSS"
  fi
  sleep 10
done
[ -t 1 ] && echo
wait $WRK || true
python3 - "$OUT/soak.csv" "$OUT/soak.html" "$DIR/wrk.txt" "$MODEL" "$RATE" "$QPS" "$TTL" <<'PY'
import csv, json, re, sys
rows = list(csv.DictReader(open(sys.argv[1])))
wrk = open(sys.argv[3]).read()
cols = ["rss_mb", "recommend_p99_ms", "freshness_p99_ms", "request_errors", "model_rows"]
def quarter(col, last):
    n = max(1, len(rows) // 4)
    part = rows[-n:] if last else rows[:n]
    return round(sum(float(r[col]) for r in part) / len(part), 2)
def svg(col):
    xs = [float(r["t_s"]) for r in rows]; ys = [float(r[col]) for r in rows]
    if not xs: return ""
    w, h, top = 600, 160, max(ys) * 1.1 or 1
    pts = " ".join(f"{40 + (x / max(xs[-1], 1)) * (w - 50):.1f},{h - 20 - (y / top) * (h - 30):.1f}"
                   for x, y in zip(xs, ys))
    return (f"<h3>{col}</h3><svg width='{w}' height='{h}'><polyline fill='none' stroke='#36c' "
            f"stroke-width='1.5' points='{pts}'/><text x='2' y='14'>{top:.1f}</text>"
            f"<text x='2' y='{h - 22}'>0</text><text x='{w - 60}' y='{h - 4}'>{xs[-1]:.0f} s</text></svg>")
def quarters(col):
    n = max(1, len(rows) // 4)
    return [round(sum(float(r[col]) for r in rows[q * n:(q + 1) * n]) / n, 1) for q in range(4)]
html = "<html><body><h2>streamrec soak</h2><p>" + " ".join(sys.argv[4:8]) + "</p>" + \
       "".join(svg(c) for c in cols) + "</body></html>"
open(sys.argv[2], "w").write(html)
m = re.search(r"Requests/sec:\s+([\d.]+)", wrk)
print(json.dumps({"bench": "soak", "model": sys.argv[4], "rate": int(sys.argv[5]),
                  "qps_offered": int(sys.argv[6]), "state_ttl_s": int(sys.argv[7]),
                  "qps": float(m.group(1)) if m else None,
                  "samples": len(rows), "minutes": round(float(rows[-1]["t_s"]) / 60, 1) if rows else 0,
                  **{f"{c}_first_quarter": quarter(c, False) for c in cols},
                  **{f"{c}_last_quarter": quarter(c, True) for c in cols},
                  "rss_mb_max": max(float(r["rss_mb"]) for r in rows) if rows else None,
                  "rss_mb_by_quarter": quarters("rss_mb") if len(rows) >= 4 else None,
                  "state_expired": int(rows[-1]["state_expired"]) if rows else 0,
                  "report": sys.argv[2]}))
PY
