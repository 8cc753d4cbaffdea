#!/usr/bin/env python3
# Feeds a MovieLens-format data set (movies.dat "id::title::genre|genre", ratings.dat
# "user::item::rating::timestamp", e.g. ../shared/data/movietweetings-100k) into a running
# `streamrec serve` in time order over HTTP: the catalog first (genres as categories), then
# the events in batches of 200; waits until all are learned and prints the live prequential
# HR@10/NDCG@10 of the model and after the fusion ranker (last 1,000 checks).
#
#   build/apps/streamrec serve --data-dir /tmp/mt --no-sync --port 18185 --dashboard-dir '' &
#   bench/feed_stream.py http://127.0.0.1:18185 ../shared/data/movietweetings-100k
import json, sys, time, urllib.request
base = sys.argv[1]; data = sys.argv[2]
def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={'Content-Type': 'application/json'})
    urllib.request.urlopen(req).read()
items = []
for line in open(data + '/movies.dat', encoding='utf-8', errors='replace'):
    p = line.rstrip('\n').split('::')
    if len(p) < 3: continue
    items.append({'id': p[0], 'title': p[1], 'categories': [g for g in p[2].split('|') if g]})
for k in range(0, len(items), 2000): post('/v1/items', items[k:k+2000])
ev = []
for line in open(data + '/ratings.dat'):
    u, i, r, t = line.strip().split('::')
    ev.append({'user': u, 'item': i, 'value': float(r), 'type': 'rating', 'timestamp': int(t)})
ev.sort(key=lambda e: e['timestamp'])
for k in range(0, len(ev), 200):
    post('/v1/events', ev[k:k+200])
    if k % 20000 == 0: time.sleep(0.2)
while True:
    s = json.load(urllib.request.urlopen(base + '/v1/stats'))
    if s['events_learned'] >= len(ev): break
    time.sleep(1)
print({k: s[k] for k in ['events_learned', 'live_scored', 'live_hr10', 'ranked_hr10', 'live_ndcg10', 'ranked_ndcg10', 'ranker_steps']})
