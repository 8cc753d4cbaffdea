// A full disk under the data directory (issue 26): while the disk is full, event ingest gets
// 507 with a message that says so, reads go on being served, the process does not crash;
// once there is room again (the tmpfs is remounted larger) ingest works again with no
// restart, and after a restart every acknowledged event is there.
//
//   node disk_full.test.mjs <streamrec binary> <mounted tmpfs>   (run by disk_full.sh)
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';

const [binary, mnt] = process.argv.slice(2);
assert.ok(binary && mnt, 'usage: node disk_full.test.mjs <streamrec binary> <mounted tmpfs>');
const dataDir = join(mnt, 'data');
const perBatch = 50;
const start = () => startServer(binary, dataDir, ['--model', 'popular', '--checkpoint-every', '0.2']);

async function post(base, path, body) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, text: await res.text() };
}
const batch = b => Array.from({ length: perBatch }, (_, i) => (
  { user: `batch-${b}`, item: `item-${i}-with-a-longer-name-to-fill-the-disk`, timestamp: 1700000000 + i }));

const servers = [];  // killed on the way out, whatever happens
process.on('exit', () => { for (const s of servers) s.kill('SIGKILL'); });
const first = start();
servers.push(first.server);
const base = await first.base;
const acked = [];
let full = null, b = 0;
for (; b < 20000 && !full; ++b) {
  const r = await post(base, '/v1/events', batch(b));
  if (r.status === 200) acked.push(b);
  else if (r.status === 507) full = r;
  else assert.fail(`batch ${b}: ${r.status} ${r.text}`);
}
assert.ok(full, `the 4 MiB disk never filled (${acked.length} batches acknowledged)`);
assert.match(full.text, /disk is full/, `the 507 does not say why: ${full.text}`);
assert.ok(acked.length > 10, `only ${acked.length} batches before the disk was full`);

// Full: writes keep getting 507 (not 500, no crash), reads are served.
for (let i = 0; i < 5; ++i) {
  const r = await post(base, '/v1/events', batch(b + i));
  assert.equal(r.status, 507, `a write on the full disk: ${r.status} ${r.text}`);
}
const popular = await fetch(`${base}/v1/popular?n=3`);
assert.equal(popular.status, 200, 'reads stop on a full disk');
const history = await (await fetch(`${base}/v1/users/batch-${acked[0]}/history`)).json();
assert.equal(history.events.length, perBatch);

// Room again: writes work again without a restart, once RocksDB has recovered (it checks
// every few seconds for a memtable's size, 64 MiB, free). Until then: 507, nothing else.
execFileSync('mount', ['-o', 'remount,size=256m', mnt]);
let again;
do {
  again = await post(base, '/v1/events', batch(b));
  assert.ok(again.status === 200 || again.status === 507, `after room was made: ${again.status} ${again.text}`);
  if (again.status === 507) await new Promise(r => setTimeout(r, 100));
} while (again.status !== 200);
acked.push(b);
first.server.kill('SIGTERM');
const code = await new Promise(r => first.server.on('exit', r));
assert.equal(code, 0, `the server's exit code after SIGTERM: ${code}`);

// A restart finds every acknowledged event.
const second = start();
servers.push(second.server);
const base2 = await second.base;
let missing = 0;
for (const a of acked) {
  const h = await (await fetch(`${base2}/v1/users/batch-${a}/history`)).json();
  if (h.events.length !== perBatch) ++missing;
}
second.server.kill('SIGTERM');
await new Promise(r => second.server.on('exit', r));
console.log(`disk-full test: ${acked.length} batches acknowledged, 507 "${full.text.slice(0, 160)}", ` +
  `${missing} acknowledged batches missing after the restart`);
assert.equal(missing, 0, `${missing} acknowledged batches are missing after the restart`);
