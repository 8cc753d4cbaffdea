// Streamrec dashboard: polls the server's JSON API and draws it (uPlot for charts).
'use strict';

const keyInput = document.getElementById('api-key');
keyInput.value = localStorage.getItem('streamrec-key') || new URLSearchParams(location.search).get('key') || '';
keyInput.addEventListener('change', () => localStorage.setItem('streamrec-key', keyInput.value));

async function api(path) {
  const headers = keyInput.value ? { 'X-API-Key': keyInput.value } : {};
  const res = await fetch(path, { headers });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

// Tabs.
for (const b of document.querySelectorAll('nav button')) {
  b.addEventListener('click', () => {
    document.querySelectorAll('nav button').forEach(x => x.classList.toggle('active', x === b));
    document.querySelectorAll('.tab').forEach(t => t.classList.toggle('active', t.id === b.dataset.tab));
    if (b.dataset.tab === 'items') loadPopular();
    if (b.dataset.tab === 'models') loadVersions();
    resizeCharts();
  });
}

// Overview: tiles and charts.
const status = document.getElementById('status');
const tiles = document.getElementById('tiles');
const fmt = (v, d = 0) => (v === undefined ? '–' : Number(v).toLocaleString(undefined, { maximumFractionDigits: d, minimumFractionDigits: d }));

function drawTiles(s) {
  const list = [
    ['model', s.model], ['model version', fmt(s.model_version)], ['guard rollbacks', fmt(s.rollbacks)], ['events ingested', fmt(s.events_ingested)], ['events learned', fmt(s.events_learned)],
    ['users', fmt(s.users)], ['items', fmt(s.items)], ['learn queue', fmt(s.queue)],
    ['freshness p99', fmt(s.freshness_p99_ms, 1) + ' ms'], ['live HR@10', fmt(s.live_hr10, 3)],
    ['live NDCG@10', fmt(s.live_ndcg10, 3)], ['latency p99', fmt(s.latency_p99_ms, 3) + ' ms'],
    ['requests', fmt(s.requests)],
  ];
  tiles.innerHTML = list.map(([l, v]) => `<div class="tile" data-metric="${l}"><div class="label">${l}</div><div class="value">${v}</div></div>`).join('');
}

const charts = {};
function makeChart(id, series) {
  const el = document.getElementById(id);
  const opts = {
    width: el.clientWidth || 500, height: 220,
    series: [{}, ...series.map(([label, stroke]) => ({ label, stroke, width: 1.5 }))],
    axes: [{}, { size: 60 }],
  };
  charts[id] = { plot: new uPlot(opts, [[], ...series.map(() => [])], el), el, series };
}
makeChart('chart-events', [['ingested/s', '#2b7bd6'], ['learned/s', '#d6762b']]);
makeChart('chart-quality', [['HR@10', '#2ba14b'], ['NDCG@10', '#8a2bd6']]);
makeChart('chart-freshness', [['p50 ms', '#2b7bd6'], ['p99 ms', '#d62b4b']]);
makeChart('chart-latency', [['p50 ms', '#2b7bd6'], ['p99 ms', '#d62b4b'], ['requests/s', '#777']]);

function resizeCharts() {
  for (const c of Object.values(charts)) c.plot.setSize({ width: c.el.clientWidth || 500, height: 220 });
}
window.addEventListener('resize', resizeCharts);

async function refresh() {
  try {
    const [s, h] = await Promise.all([api('/v1/stats'), api('/v1/stats/history')]);
    drawTiles(s);
    charts['chart-events'].plot.setData([h.time, h.ingested_per_s, h.learned_per_s]);
    charts['chart-quality'].plot.setData([h.time, h.live_hr10, h.live_ndcg10]);
    charts['chart-freshness'].plot.setData([h.time, h.freshness_p50_ms, h.freshness_p99_ms]);
    charts['chart-latency'].plot.setData([h.time, h.latency_p50_ms, h.latency_p99_ms, h.requests_per_s]);
    document.body.dataset.points = h.time.length;
    status.textContent = `live · ${new Date().toLocaleTimeString()}`;
    status.classList.remove('bad');
  } catch (e) {
    status.textContent = e.message;
    status.classList.add('bad');
  }
}
refresh();
setInterval(refresh, 2000);

// Batch update: start a background retrain and follow it until the new version is live.
const retrainButton = document.getElementById('retrain');
const retrainStatus = document.getElementById('retrain-status');
async function showRetrain() {
  const m = await api('/v1/model');
  const r = m.retrain;
  retrainButton.disabled = r.running;
  retrainStatus.textContent = r.running ? 'retraining in the background…'
    : r.error ? `last retrain failed: ${r.error}`
    : r.finished_ms ? `version ${m.version}: retrained on ${r.events_fitted.toLocaleString()} events in ${r.seconds.toFixed(1)} s, caught up ${r.events_caught_up.toLocaleString()}`
    : `version ${m.version}`;
  return r.running;
}
retrainButton.addEventListener('click', async () => {
  try {
    const headers = keyInput.value ? { 'X-API-Key': keyInput.value } : {};
    const res = await fetch('/v1/model/retrain', { method: 'POST', headers });
    if (!res.ok) throw new Error((await res.json()).error);
    const poll = async () => { if (await showRetrain()) setTimeout(poll, 500); else refresh(); };
    poll();
  } catch (e) {
    retrainStatus.textContent = e.message;
  }
});
showRetrain().catch(() => {});

// Users: recommendations with their source, and history.
const userForm = document.getElementById('user-form');
const userError = document.getElementById('user-error');
const esc = s => String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

userForm.addEventListener('submit', async ev => {
  ev.preventDefault();
  const user = document.getElementById('user-id').value.trim();
  const n = document.getElementById('user-n').value;
  userError.textContent = '';
  try {
    const [recs, hist] = await Promise.all([
      api(`/v1/recommend?user=${encodeURIComponent(user)}&n=${n}&explain=true`),
      api(`/v1/users/${encodeURIComponent(user)}/history`),
    ]);
    document.querySelector('#recs tbody').innerHTML = recs.items.map((r, i) =>
      `<tr><td>${i + 1}</td><td>${esc(r.item)}</td><td>${r.score.toFixed(3)}</td><td>${esc(r.source)}</td><td class="because">${(r.because || []).map(esc).join(', ')}</td></tr>`).join('');
    document.querySelector('#history tbody').innerHTML = hist.events.slice().reverse().map(e =>
      `<tr><td>${esc(e.item)}</td><td>${esc(e.type)}</td><td>${new Date(e.timestamp * 1000).toLocaleString()}</td></tr>`).join('');
    if (!hist.events.length) userError.textContent = 'Unknown user: showing cold-start (popular) recommendations.';
  } catch (e) {
    userError.textContent = e.message;
  }
});

async function loadPopular() {
  try {
    const pop = await api('/v1/popular?n=50');
    document.querySelector('#popular tbody').innerHTML = pop.items.map((r, i) =>
      `<tr data-item="${esc(r.item)}" class="clickable"><td>${i + 1}</td><td>${esc(r.item)}</td><td>${r.score.toFixed(2)}</td></tr>`).join('');
    for (const row of document.querySelectorAll('#popular tbody tr'))
      row.addEventListener('click', () => loadSimilar(row.dataset.item));
  } catch (e) {
    status.textContent = e.message;
  }
}

// Models: kept versions, with rollback.
const modelsStatus = document.getElementById('models-status');
async function loadVersions() {
  try {
    const v = await api('/v1/model/versions');
    document.querySelector('#versions tbody').innerHTML = v.versions.slice().reverse().map(x =>
      `<tr data-version="${x.version}"><td>${x.version}${x.version === v.live ? ' (live)' : ''}</td>` +
      `<td>${new Date(x.created_ms).toLocaleTimeString()}</td><td>${esc(x.reason)}</td>` +
      `<td>${x.events_learned.toLocaleString()}</td><td>${x.live_hr10.toFixed(3)}</td>` +
      `<td>${x.version !== v.live && x.restorable ? `<button class="rollback" data-version="${x.version}">Roll back to this</button>` : ''}</td></tr>`).join('');
    for (const b of document.querySelectorAll('button.rollback')) {
      b.addEventListener('click', async () => {
        const headers = keyInput.value ? { 'X-API-Key': keyInput.value } : {};
        const res = await fetch(`/v1/model/rollback?version=${b.dataset.version}`, { method: 'POST', headers });
        const body = await res.json();
        modelsStatus.textContent = res.ok ? `rolled back to ${body.from}: now version ${body.version}` : body.error;
        loadVersions();
      });
    }
  } catch (e) {
    modelsStatus.textContent = e.message;
  }
}

async function loadSimilar(item) {
  document.getElementById('similar-item').textContent = item;
  const error = document.getElementById('similar-error');
  error.textContent = '';
  try {
    const sim = await api(`/v1/items/${encodeURIComponent(item)}/similar?n=10`);
    document.querySelector('#similar tbody').innerHTML = sim.items.map((r, i) =>
      `<tr><td>${i + 1}</td><td>${esc(r.item)}</td><td>${r.score.toFixed(3)}</td></tr>`).join('');
  } catch (e) {
    document.querySelector('#similar tbody').innerHTML = '';
    error.textContent = e.message;
  }
}
