// Read replicas on loopback: a leader (`streamrec serve`) and two replicas (`serve --follow`).
// Events posted to the leader change a replica's recommendations; a write at a replica is
// redirected to the leader; a replica killed with SIGKILL and restarted catches up; a
// deletion at the leader reaches the replicas; with the leader killed, the replicas keep
// serving their last state and say they are stale. Every wait is for a condition.
//
//   node replicas.test.mjs <streamrec binary>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';

const [binary] = process.argv.slice(2);
assert.ok(binary, 'usage: node replicas.test.mjs <streamrec binary>');
const root = mkdtempSync(join(tmpdir(), 'streamrec-replicas-'));
const json = async (url, init) => (await fetch(url, init)).json();
const post = (url, body) => fetch(url, {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

// Polls `check` (async, truthy when done) every 50 ms, up to 60 s.
async function until(what, check) {
  for (let t = 0; t < 1200; ++t) {
    try { if (await check()) return; } catch { /* not up yet */ }
    await new Promise(r => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting until ${what}`);
}

const children = [];
function start(name, args) {
  const s = startServer(binary, join(root, name), args);
  children.push(s.server);
  return s;
}
const running = s => s.exitCode === null && s.signalCode === null;
const exited = s => new Promise(r => (running(s) ? s.on('exit', r) : r()));

let failed = false;
try {
  const leader = start('leader', ['--model', 'seq:dim=8,maxlen=10,epochs=1,online_batch=32',
    '--publish-ms', '100']);
  const L = await leader.base;
  const events = [];
  for (let u = 0; u < 60; ++u)
    for (let k = 0; k < 8; ++k)
      events.push({ user: `u${u}`, item: `i${(u * 7 + k * 3) % 50}`, timestamp: 1700000000 + u * 10 + k });
  assert.equal((await post(`${L}/v1/events`, events)).status, 200);
  await until('the leader learned the backlog',
    async () => (await json(`${L}/v1/stats`)).events_learned === events.length);

  const a = start('a', ['--follow', L]), b = start('b', ['--follow', L]);
  const A = await a.base, B = await b.base;
  const caughtUp = async R => {
    const [h, l] = [await json(`${R}/v1/health`), await json(`${L}/v1/health`)];
    return h.role === 'replica' && h.status === 'ok' && h.publish === l.publish;
  };
  await until('both replicas loaded the leader\'s state', async () => await caughtUp(A) && await caughtUp(B));

  // An event at the leader changes the replica's answer: the item taken leaves the user's
  // recommendations and joins their history.
  const before = await json(`${A}/v1/recommend?user=u3&n=5&ranker=false`);
  const taken = before.items[0].item;
  assert.equal((await post(`${L}/v1/events`, { user: 'u3', item: taken, timestamp: 1700009999 })).status, 200);
  await until(`${taken} is in u3's history and out of its recommendations at replica a`, async () => {
    const h = await json(`${A}/v1/users/u3/history`);
    const r = await json(`${A}/v1/recommend?user=u3&n=5&ranker=false`);
    return h.events.some(e => e.item === taken) && !r.items.some(x => x.item === taken);
  });

  // A write at a replica: 307 to the leader, before the body is read.
  const redirected = await fetch(`${A}/v1/events`, { method: 'POST', redirect: 'manual',
    headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ user: 'x', item: 'y' }) });
  assert.equal(redirected.status, 307);
  assert.equal(redirected.headers.get('location'), `${L}/v1/events`);

  // Kill -9 replica b, change the leader meanwhile, restart b on its directory: it catches up.
  b.server.kill('SIGKILL');
  await exited(b.server);
  assert.equal((await post(`${L}/v1/events`, { user: 'late', item: 'i7', timestamp: 1700010000 })).status, 200);
  const b2 = start('b', ['--follow', L]);
  const B2 = await b2.base;
  await until('the restarted replica has the event posted while it was down', async () =>
    (await json(`${B2}/v1/users/late/history`)).events.length === 1);

  // A deletion at the leader reaches both replicas.
  assert.equal((await fetch(`${L}/v1/users/u3`, { method: 'DELETE' })).status, 200);
  for (const R of [A, B2])
    await until(`u3 is gone at ${R}`, async () => {
      const h = await json(`${R}/v1/users/u3/history`);
      const r = await json(`${R}/v1/recommend?user=u3&n=5&ranker=false`);
      return h.events.length === 0 && r.items.every(x => x.source === 'popular');
    });
  const { replicas } = await json(`${L}/v1/replication/replicas`);
  for (const R of [A, B2])  // (the killed b may still be listed: seen in the last 10 s)
    assert.ok(replicas.some(r => r.id === R), `the leader lists ${R}: ${JSON.stringify(replicas)}`);

  // The leader dies: the replicas serve their last state and say they are stale.
  leader.server.kill('SIGKILL');
  await exited(leader.server);
  await until('replica a says it is stale', async () => (await json(`${A}/v1/health`)).status === 'stale');
  const still = await fetch(`${A}/v1/recommend?user=u5&n=5`);
  assert.equal(still.status, 200);
  assert.equal((await still.json()).items.length, 5);
  const stats = await json(`${A}/v1/stats`);
  assert.equal(stats.stale, true);
  assert.ok(stats.lag_ms >= 3000, `lag_ms ${stats.lag_ms} counts the time since the leader answered`);
  console.log(`replicas test: 2 replicas followed the leader (publish ${stats.replication_publish}, version ${stats.model_version}); kill -9 and restart caught up; the deletion reached both; stale after the leader died`);
} catch (e) {
  failed = true;
  console.error(e);
} finally {
  for (const c of children) if (running(c)) c.kill('SIGKILL');
  await Promise.all(children.map(exited));
  rmSync(root, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
