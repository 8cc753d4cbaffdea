// Fault injection: the real `streamrec serve` is killed with SIGKILL at a random moment,
// round after round, on one data directory, while clients ingest batches, delete users and
// ask for retrains (and the server checkpoints every 0.3 s and retrains every second). After
// every restart: each acknowledged batch is there in full, each acknowledged deletion
// stayed deleted, the log holds at least every acknowledged event, and the live model is
// one of the published versions. Each batch belongs to its own user, so the user's history
// counts it.
//
//   node faults.test.mjs <streamrec binary> [rounds] [seed]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';

const [binary, roundsArg = '5', seedArg = '1'] = process.argv.slice(2);
assert.ok(binary, 'usage: node faults.test.mjs <streamrec binary> [rounds] [seed]');
const rounds = Number(roundsArg);
let seed = Number(seedArg);
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const dataDir = mkdtempSync(join(tmpdir(), 'streamrec-faults-'));
const perBatch = 20;
const json = { 'Content-Type': 'application/json' };

const start = () => startServer(binary, dataDir, ['--model', 'mf:algo=bpr,factors=8',
  '--checkpoint-every', '0.3', '--retrain-every', '1', '--publish-ms', '100']);

const acked = new Map();    // user -> batch acknowledged
const deleted = new Set();  // users whose deletion was acknowledged
const maybe = new Set();    // users whose deletion was sent, unanswered: all or nothing
let sent = 0, deletions = 0, retrains = 0;

// Checks the batches acknowledged since the last check, the deletions, and a sample of
// 300 older batches (`all`: every batch).
let checkedUpTo = 0;
async function check(base, all = false) {
  const stats = await (await fetch(`${base}/v1/stats`)).json();
  let missing = 0, revived = 0;
  const users = [...acked.keys()];
  const older = users.slice(0, checkedUpTo);
  const sample = all ? users : [...users.slice(checkedUpTo),
    ...Array.from({ length: Math.min(300, older.length) }, () => older[Math.floor(random() * older.length)])];
  checkedUpTo = users.length;
  for (const user of sample) {
    if (deleted.has(user)) continue;
    const h = await (await fetch(`${base}/v1/users/${user}/history`)).json();
    const n = h.events.length;
    if (n === perBatch || (maybe.has(user) && n === 0)) continue;
    ++missing;
    console.error(`user ${user}: ${n} of ${perBatch} events${maybe.has(user) ? ' (deletion unanswered)' : ''}`);
  }
  for (const user of deleted) {
    const h = await (await fetch(`${base}/v1/users/${user}/history`)).json();
    if (h.events.length !== 0) ++revived;
  }
  const { live, versions } = await (await fetch(`${base}/v1/model/versions`)).json();
  assert.equal(missing, 0, 'acknowledged batches were lost');
  assert.equal(revived, 0, 'a deleted user came back');
  assert.ok(versions.some(v => v.version === live), `live version ${live} is not a published one`);
  const kept = [...acked.keys()].filter(u => !deleted.has(u) && !maybe.has(u)).length * perBatch;
  assert.ok(stats.events_logged >= kept, `${stats.events_logged} events logged < ${kept} acknowledged`);
  return stats.events_logged;
}

async function round(r, base, server) {
  let stop = false;
  async function writer(w) {
    for (let n = 0; !stop; ++n) {
      const user = `r${r}-w${w}-b${n}`;
      const events = Array.from({ length: perBatch }, (_, i) => ({ user, item: `i${(n * 7 + i) % 300}` }));
      ++sent;
      try {
        const res = await fetch(`${base}/v1/events`, { method: 'POST', headers: json, body: JSON.stringify(events) });
        if (res.status === 200) acked.set(user, n);
      } catch { /* the server died mid-request: not acknowledged */ }
    }
  }
  async function admin() {
    while (!stop) {
      const users = [...acked.keys()].filter(u => !deleted.has(u) && !maybe.has(u));
      try {
        if (users.length > 5 && random() < 0.5) {
          const user = users[Math.floor(random() * users.length)];
          maybe.add(user);
          const res = await fetch(`${base}/v1/users/${user}`, { method: 'DELETE' });
          if (res.status === 200) { deleted.add(user); maybe.delete(user); ++deletions; }
        } else {
          const res = await fetch(`${base}/v1/model/retrain`, { method: 'POST' });
          if (res.status === 202) ++retrains;
        }
      } catch { /* died mid-request */ }
    }
  }
  const clients = [writer(0), writer(1), writer(2), admin()];
  await new Promise(res => setTimeout(res, 200 + random() * 1800));  // the fault's moment
  server.kill('SIGKILL');
  await new Promise(res => server.on('exit', res));
  stop = true;
  await Promise.all(clients);
}

let failed = false;
try {
  let current = start();
  for (let r = 0; r < rounds; ++r) {
    const base = await current.base;
    if (r > 0) await check(base);
    await round(r, base, current.server);
    current = start();
  }
  const base = await current.base;
  const logged = await check(base, true);
  current.server.kill('SIGINT');
  await new Promise(res => current.server.on('exit', res));
  console.log(`faults: ${rounds} kill -9 rounds; ${acked.size} of ${sent} batches acknowledged, ` +
    `${deletions} deletions, ${retrains} retrains started; ${logged} events in the log; ` +
    'no acknowledged batch lost, no deleted user back, the live model a published one');
} catch (e) {
  failed = true;
  console.error('fault injection failed:', e);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
