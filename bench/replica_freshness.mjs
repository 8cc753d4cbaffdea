// Freshness at a replica: from an event acknowledged by the leader to the replica's
// /v1/recommend showing it. Each probe takes a user's current top recommendation at the
// replica, posts that (user, item) event to the leader, and polls the replica every 5 ms
// until the item has left the user's list (a seen item is excluded). One probe at a time,
// each on a user not probed before; whatever else loads the leader (the demo stream) runs
// beside it. Prints p50/p90/p99/max and a JSON line.
//
//   node bench/replica_freshness.mjs LEADER_URL REPLICA_URL [probes=200] [users=5000]
const [leader, replica, probes = '200', users = '5000'] = process.argv.slice(2);
if (!leader || !replica) throw new Error('usage: replica_freshness.mjs LEADER REPLICA [probes] [users]');
const json = async url => (await fetch(url)).json();
const sleep = ms => new Promise(r => setTimeout(r, ms));
const ms = [];
const t0 = Date.now();
let skipped = 0;
for (let p = 0; p < Number(probes); ++p) {
  const user = `u${(p * 7919) % Number(users)}`;
  const url = `${replica}/v1/recommend?user=${user}&n=10&ranker=false`;
  const before = await json(url);
  if (!before.items?.length || before.items[0].source === 'popular') { ++skipped; continue; }
  const item = before.items[0].item;
  const res = await fetch(`${leader}/v1/events`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ user, item, timestamp: Math.floor(Date.now() / 1000) }) });
  const acked = performance.now();
  if (res.status !== 200) throw new Error(`leader answered ${res.status}: ${await res.text()}`);
  for (;;) {
    const now = await json(url);
    if (!now.items.some(x => x.item === item)) break;
    if (performance.now() - acked > 30000) throw new Error(`probe ${p}: not visible after 30 s`);
    await sleep(5);
  }
  ms.push(performance.now() - acked);
  if (process.stderr.isTTY && p % 10 === 0) {
    const eta = ((Date.now() - t0) / (p + 1)) * (Number(probes) - p - 1) / 1000;
    process.stderr.write(`\rprobe ${p + 1}/${probes}, ETA ${eta.toFixed(0)} s   `);
  }
}
if (process.stderr.isTTY) process.stderr.write('\n');
ms.sort((a, b) => a - b);
const q = f => ms[Math.min(ms.length - 1, Math.floor(f * ms.length))];
const out = { probes: ms.length, skipped, p50_ms: q(0.5), p90_ms: q(0.9), p99_ms: q(0.99), max_ms: ms[ms.length - 1] };
for (const k of ['p50_ms', 'p90_ms', 'p99_ms', 'max_ms']) out[k] = Math.round(out[k]);
console.log(`freshness at the replica (acknowledged by the leader -> gone from the replica's list): p50 ${out.p50_ms} ms, p90 ${out.p90_ms} ms, p99 ${out.p99_ms} ms, max ${out.max_ms} ms over ${out.probes} probes`);
console.log(JSON.stringify(out));
