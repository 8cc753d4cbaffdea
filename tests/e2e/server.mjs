// Starts the real `streamrec serve` for the end-to-end tests: `args` after `serve --port 0
// --data-dir DIR --dashboard-dir ''`. Returns the process and a promise of its base URL
// (from its "serving http://..." line); the promise fails with the tail of stderr if the
// server exits first.
import { spawn } from 'node:child_process';

export function startServer(binary, dataDir, args) {
  const server = spawn(binary, ['serve', '--port', '0', '--data-dir', dataDir, '--dashboard-dir', '',
    ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  server.stderr.on('data', d => { err = (err + d).slice(-4000); });
  const base = new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', d => {
      out += d;
      const m = out.match(/serving (http:\/\/[\d.]+:\d+)/);
      if (m) resolve(m[1]);
    });
    server.on('exit', code => reject(new Error(`server exited with ${code} before serving:\n${err}`)));
  });
  return { server, base };
}
