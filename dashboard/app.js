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
    if (b.dataset.tab === 'items') loadItemList();
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
    ['live NDCG@10', fmt(s.live_ndcg10, 3)], ['ranked HR@10', fmt(s.ranked_hr10, 3) + (s.ranker_in_use ? ' (in use)' : '')], ['latency p99', fmt(s.latency_p99_ms, 3) + ' ms'],
    ['requests', fmt(s.requests)], ['online loss', s.online_loss == null ? '–' : fmt(s.online_loss, 3)],
    ['ANN items', fmt(s.ann_items)], ['model rows', fmt(s.model_rows)],
    ['last publish', fmt(s.last_publish_ms, 1) + ' ms (' + fmt(s.publishes_delta) + ' by delta, ' + fmt(s.publishes_full) + ' full)'],
    ['model memory', fmt(s.model_bytes / 1e6, 1) + ' MB'],
    ['DP epsilon spent', s.dp_epsilon == null ? 'no DP' : fmt(s.dp_epsilon, 2) + ' (' + fmt(s.dp_online_steps) + ' online steps)'],
    ['role', s.role === 'replica' ? `replica${s.stale ? ' (stale)' : ''}, ${fmt(s.lag_ms)} ms lag` : `leader, ${fmt(s.replicas)} replicas`],
  ];
  tiles.innerHTML = list.map(([l, v]) => `<div class="tile" data-metric="${l}"><div class="label">${l}</div><div class="value">${v}</div></div>`).join('');
}

const charts = {};
// series: [label, colour, pointsOnly?]
function makeChart(id, series) {
  const el = document.getElementById(id);
  const opts = {
    width: el.clientWidth || 500, height: 220,
    series: [{}, ...series.map(([label, stroke, pointsOnly]) => pointsOnly
      ? { label, stroke, width: 0, paths: () => null, points: { show: true, size: 11, fill: stroke } }
      : { label, stroke, width: 1.5, spanGaps: true })],
    axes: [{}, { size: 60 }],
  };
  charts[id] = { plot: new uPlot(opts, [[], ...series.map(() => [])], el), el, series };
}
makeChart('chart-events', [['ingested/s', '#2b7bd6'], ['learned/s', '#d6762b']]);
makeChart('chart-quality', [['HR@10 (model)', '#2ba14b'], ['NDCG@10 (model)', '#8a2bd6'], ['HR@10 (fusion ranker)', '#d6762b']]);
makeChart('chart-fairness', [['cold', '#2b7bd6'], ['medium', '#2ba14b'], ['heavy', '#d6762b']]);
makeChart('chart-freshness', [['p50 ms', '#2b7bd6'], ['p99 ms', '#d62b4b']]);
makeChart('chart-latency', [['p50 ms', '#2b7bd6'], ['p99 ms', '#d62b4b'], ['requests/s', '#777']]);
makeChart('chart-loss', [['loss', '#d62b4b']]);
makeChart('chart-tables', [['users', '#2b7bd6'], ['items', '#d6762b'], ['model rows', '#2ba14b'], ['model MB', '#777']]);
makeChart('chart-replication', [['replicas', '#2b7bd6'], ['lag ms', '#d62b4b']]);
makeChart('chart-versions', [['live HR@10', '#2ba14b'], ['version made (HR@10 then)', '#d6762b', true]]);
makeChart('chart-activity', [['events', '#2b7bd6']]);

function resizeCharts() {
  for (const c of Object.values(charts)) c.plot.setSize({ width: c.el.clientWidth || 500, height: 220 });
}
window.addEventListener('resize', resizeCharts);

async function refresh() {
  try {
    const [s, h] = await Promise.all([api('/v1/stats'), api('/v1/stats/history')]);
    drawTiles(s);
    charts['chart-events'].plot.setData([h.time, h.ingested_per_s, h.learned_per_s]);
    charts['chart-quality'].plot.setData([h.time, h.live_hr10, h.live_ndcg10, h.ranked_hr10]);
    charts['chart-fairness'].plot.setData([h.time, h.live_ndcg10_cold, h.live_ndcg10_medium, h.live_ndcg10_heavy]);
    charts['chart-freshness'].plot.setData([h.time, h.freshness_p50_ms, h.freshness_p99_ms]);
    charts['chart-latency'].plot.setData([h.time, h.latency_p50_ms, h.latency_p99_ms, h.requests_per_s]);
    charts['chart-loss'].plot.setData([h.time, h.online_loss]);
    charts['chart-tables'].plot.setData([h.time, h.users, h.items, h.model_rows, h.model_mb]);
    charts['chart-replication'].plot.setData([h.time, h.replicas, h.lag_ms]);
    drawReplication(await api('/v1/replication/replicas'));
    document.body.dataset.points = h.time.length;
    status.textContent = `live · ${new Date().toLocaleTimeString()}`;
    status.classList.remove('bad');
  } catch (e) {
    status.textContent = e.message;
    status.classList.add('bad');
  }
}
// Replication: a leader lists the replicas that follow it; a replica names its leader.
function drawReplication(r) {
  const summary = document.getElementById('replication-summary');
  const body = document.querySelector('#replicas tbody');
  if (r.role === 'replica') {
    summary.textContent = `This server is a read replica of ${r.leader}: publish ${r.applied} applied, ` +
      `${r.behind_publishes} behind, lag ${fmt(r.lag_ms)} ms${r.stale ? ' (stale: the leader does not answer)' : ''}.`;
    body.innerHTML = '';
    return;
  }
  summary.textContent = `This server is the leader (publish ${r.publish}); ${r.replicas.length} replica(s) polled in the last 10 s` +
    (r.replicas.length ? '.' : ' (start one with serve --follow URL).');
  body.innerHTML = r.replicas.map(x => `<tr><td>${esc(x.id)}</td><td>${x.applied}</td><td>${x.behind_publishes}</td>` +
    `<td>${fmt(x.seen_ms_ago / 1000, 1)} s ago</td></tr>`).join('');
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
  const context = [['device', document.getElementById('user-device').value], ['hour', document.getElementById('user-hour').value]]
    .filter(([, v]) => v !== '').map(([k, v]) => `${k}=${v}`).join(',');
  const category = document.getElementById('user-category').value.trim();
  const params = new URLSearchParams({ user, n, explain: 'true',
    diversity: document.getElementById('user-diversity').value || '0',
    explore: document.getElementById('user-explore').value || '0' });
  if (context) params.set('context', context);
  if (category) params.set('category', category);
  userError.textContent = '';
  try {
    const [recs, hist] = await Promise.all([
      api(`/v1/recommend?${params}`),
      api(`/v1/users/${encodeURIComponent(user)}/history`),
    ]);
    const infos = await Promise.all(recs.items.map(r =>
      api(`/v1/items/${encodeURIComponent(r.item)}`).catch(() => ({}))));
    const parts = p => Object.entries(p || {}).map(([k, v]) => `${k} ${Number(v).toFixed(3)}`).join(', ');
    document.querySelector('#recs tbody').innerHTML = recs.items.map((r, i) =>
      `<tr><td>${i + 1}</td><td>${esc(r.item)}</td><td>${esc(infos[i].title || '')}</td><td>${esc((infos[i].categories || []).join(', '))}</td>` +
      `<td>${r.score.toFixed(3)}</td><td>${esc(r.source)}</td><td class="because">${(r.because || []).map(esc).join(', ')}</td><td class="because">${esc(parts(r.parts))}</td></tr>`).join('');
    document.querySelector('#history tbody').innerHTML = hist.events.slice().reverse().map(e =>
      `<tr><td>${esc(e.item)}</td><td>${esc(e.type)}</td><td>${new Date(e.timestamp * 1000).toLocaleString()}</td></tr>`).join('');
    // seq's self-attention: the weight its last position gave each recent item, as bars.
    const att = (recs.items.find(r => r.attention) || {}).attention || [];
    const top = Math.max(1e-9, ...att.map(a => a.weight));
    document.getElementById('attention').innerHTML = att.slice().reverse().map(a =>
      `<div class="att-row"><span class="att-item">${esc(a.item)}</span>` +
      `<span class="att-bar" style="width:${(60 * a.weight / top).toFixed(1)}%"></span>` +
      `<span class="att-weight">${a.weight.toFixed(3)}</span></div>`).join('');
    document.getElementById('attention-title').hidden = att.length === 0;
    if (!hist.events.length) userError.textContent = 'Unknown user: showing cold-start (popular) recommendations.';
  } catch (e) {
    userError.textContent = e.message;
  }
});

const hourSelect = document.getElementById('user-hour');
for (let h = 0; h < 24; ++h) hourSelect.insertAdjacentHTML('beforeend', `<option>${h}</option>`);

// Items: popular or trending (optionally in one category), and one item's page.
async function loadItemList() {
  try {
    const list = document.getElementById('item-list').value;
    const category = document.getElementById('item-category').value.trim();
    const pop = await api(`/v1/${list}?n=50${category ? `&category=${encodeURIComponent(category)}` : ''}`);
    const titles = await Promise.all(pop.items.map(r =>
      api(`/v1/items/${encodeURIComponent(r.item)}`).then(x => x.title || '').catch(() => '')));
    document.querySelector('#popular tbody').innerHTML = pop.items.map((r, i) =>
      `<tr data-item="${esc(r.item)}" class="clickable"><td>${i + 1}</td><td>${esc(r.item)}</td><td>${esc(titles[i])}</td><td>${r.score.toFixed(2)}</td></tr>`).join('');
    for (const row of document.querySelectorAll('#popular tbody tr'))
      row.addEventListener('click', () => loadItem(row.dataset.item));
  } catch (e) {
    status.textContent = e.message;
  }
}
document.getElementById('item-list').addEventListener('change', loadItemList);
document.getElementById('item-category').addEventListener('change', loadItemList);
document.getElementById('item-form').addEventListener('submit', ev => {
  ev.preventDefault();
  const id = document.getElementById('item-id').value.trim();
  if (id) loadItem(id);
});

async function loadItem(item) {
  document.getElementById('similar-item').textContent = item;
  const error = document.getElementById('similar-error');
  const details = document.getElementById('item-details');
  error.textContent = '';
  details.innerHTML = '';
  try {
    const [info, activity] = await Promise.all([
      api(`/v1/items/${encodeURIComponent(item)}`),
      api(`/v1/items/${encodeURIComponent(item)}/activity?buckets=40`),
    ]);
    const attrs = Object.entries(info.attributes || {}).map(([k, v]) => `${k}=${v}`).join(', ');
    const rows = [['title', info.title], ['categories', (info.categories || []).join(', ')],
      ['tags', (info.tags || []).join(', ')], ['attributes', attrs], ['events', info.events],
      ['popularity', info.popularity.toFixed(2)], ['trending', info.trending.toFixed(2)],
      ['first seen', info.first_seen ? new Date(info.first_seen * 1000).toLocaleString() : '–'],
      ['recommendable', info.recommendable ? 'yes' : 'no (hidden or expired)']];
    details.innerHTML = rows.map(([k, v]) => `<dt>${k}</dt><dd>${esc(v ?? '')}</dd>`).join('');
    const t = activity.counts.map((_, i) => activity.start + (i + 0.5) * activity.bucket_seconds);
    charts['chart-activity'].plot.setData([t, activity.counts]);
    resizeCharts();
  } catch (e) {
    error.textContent = e.message;
  }
  await loadSimilar(item);
}

// Models: kept versions, with rollback.
const modelsStatus = document.getElementById('models-status');
async function loadVersions() {
  try {
    const [v, h] = await Promise.all([api('/v1/model/versions'), api('/v1/stats/history')]);
    // One x axis: the history's seconds and the versions' creation times, merged.
    const points = h.time.map((t, i) => [t, h.live_hr10[i], null])
      .concat(v.versions.map(x => [x.created_ms / 1000, null, x.live_hr10]))
      .sort((a, b) => a[0] - b[0]);
    charts['chart-versions'].plot.setData([points.map(p => p[0]), points.map(p => p[1]), points.map(p => p[2])]);
    document.body.dataset.versionPoints = v.versions.length;
    resizeCharts();
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
  const error = document.getElementById('similar-error');
  try {
    const sim = await api(`/v1/items/${encodeURIComponent(item)}/similar?n=10`);
    document.querySelector('#similar tbody').innerHTML = sim.items.map((r, i) =>
      `<tr data-item="${esc(r.item)}" class="clickable"><td>${i + 1}</td><td>${esc(r.item)}</td><td>${r.score.toFixed(3)}</td></tr>`).join('');
    for (const row of document.querySelectorAll('#similar tbody tr'))
      row.addEventListener('click', () => loadItem(row.dataset.item));
  } catch (e) {
    document.querySelector('#similar tbody').innerHTML = '';
    error.textContent = (error.textContent ? error.textContent + '; ' : '') + e.message;
  }
}
