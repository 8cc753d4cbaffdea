// Batched ingest throughput of a running `streamrec serve`: `clients` concurrent clients
// POST batches of `batch` events to /v1/events for `seconds`; prints acknowledged events/s
// and batch latency percentiles as one JSON line.
//
//   node bench/ingest_load.mjs http://127.0.0.1:8080 [batch=1000] [clients=4] [seconds=10] [key]
const [base, batch = '1000', clients = '4', seconds = '10', key = ''] = process.argv.slice(2);
if (!base) {
  console.error('usage: node bench/ingest_load.mjs <base url> [batch] [clients] [seconds] [key]');
  process.exit(2);
}
const B = Number(batch), C = Number(clients), T = Number(seconds) * 1000;
const headers = { 'content-type': 'application/json', ...(key ? { 'X-API-Key': key } : {}) };
let acked = 0, failed = 0, seq = 0;
const lat = [];
const end = Date.now() + T;
async function client(c) {
  while (Date.now() < end) {
    const base_ = seq++ * B;
    const body = JSON.stringify(Array.from({ length: B }, (_, i) => ({
      user: `load-u${(base_ + i) % 50000}`, item: `load-i${(base_ * 7 + i * 13) % 100000}`, type: 'click',
    })));
    const t0 = performance.now();
    const res = await fetch(`${base}/v1/events`, { method: 'POST', body, headers });
    await res.arrayBuffer();
    lat.push(performance.now() - t0);
    if (res.status === 200) acked += B; else ++failed;
  }
}
const t0 = Date.now();
await Promise.all(Array.from({ length: C }, (_, c) => client(c)));
const secs = (Date.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const pct = p => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] || 0;
console.log(JSON.stringify({ bench: 'ingest', batch: B, clients: C, seconds: secs,
  events_per_s: Math.round(acked / secs), failed_batches: failed,
  batch_ms_p50: +pct(0.5).toFixed(2), batch_ms_p99: +pct(0.99).toFixed(2) }));
