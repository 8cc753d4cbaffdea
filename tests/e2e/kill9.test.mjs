// Durability under a crash: the real `streamrec serve` is killed with SIGKILL while
// several clients ingest batches; after a restart on the same data directory, every batch
// that was acknowledged (HTTP 200) is there in full. Each batch belongs to its own user,
// so the user's history counts it. The server writes model checkpoints every 0.2 s: the
// restart resumes the model from the last one and learns the events logged after it.
//
//   node kill9.test.mjs <streamrec binary>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';

const [binary] = process.argv.slice(2);
assert.ok(binary, 'usage: node kill9.test.mjs <streamrec binary>');
const dataDir = mkdtempSync(join(tmpdir(), 'streamrec-kill9-'));
const perBatch = 50;

const start = () => startServer(binary, dataDir, ['--model', 'popular', '--checkpoint-every', '0.2']);

let failed = false;
try {
  const first = start();
  const base = await first.base;
  const acked = [];
  let next = 0, stop = false;
  async function client() {
    while (!stop) {
      const b = next++;
      const events = Array.from({ length: perBatch }, (_, i) => ({ user: `batch-${b}`, item: `i${i}`, timestamp: 1700000000 + i }));
      try {
        const res = await fetch(`${base}/v1/events`, {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(events) });
        if (res.status === 200) acked.push(b);
      } catch { /* the server died mid-request: not acknowledged */ }
    }
  }
  const clients = Array.from({ length: 4 }, client);
  await new Promise(r => setTimeout(r, 1500));
  first.server.kill('SIGKILL');
  await new Promise(r => first.server.on('exit', r));
  stop = true;
  await Promise.all(clients);
  assert.ok(acked.length > 10, `only ${acked.length} batches were acknowledged before the kill`);

  const second = start();
  const base2 = await second.base;
  const stats = await (await fetch(`${base2}/v1/stats`)).json();
  const { versions } = await (await fetch(`${base2}/v1/model/versions`)).json();
  const resumed = versions[versions.length - 1].reason.match(/checkpoint of (\d+) events \+ (\d+) from the log/);
  assert.ok(resumed, `the restart did not resume from a checkpoint: ${versions[versions.length - 1].reason}`);
  let missing = 0;
  for (const b of acked) {
    const h = await (await fetch(`${base2}/v1/users/batch-${b}/history`)).json();
    if (h.events.length !== perBatch) ++missing;
  }
  second.server.kill('SIGINT');
  await new Promise(r => second.server.on('exit', r));
  console.log(`kill -9 test: ${acked.length} batches acknowledged, ${stats.events_logged} events in the log after restart, ${missing} acknowledged batches missing; the model resumed from a checkpoint of ${resumed[1]} events + ${resumed[2]} from the log`);
  assert.ok(Number(resumed[1]) > 0, 'the checkpoint covers no event: none was written during the ingest');
  assert.equal(Number(resumed[1]) + Number(resumed[2]), stats.events_logged);
  assert.equal(missing, 0, 'acknowledged batches were lost');
  assert.ok(stats.events_logged >= acked.length * perBatch);
  assert.equal(stats.events_logged % perBatch, 0, 'a batch was logged partially');
} catch (e) {
  failed = true;
  console.error('kill -9 test failed:', e);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
