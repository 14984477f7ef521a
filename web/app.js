// genrec dashboard. Plain browser JavaScript (no build step), talking to the server's JSON API:
// /api/dashboard/* (made for this page, src/serve/dashboard.ts) and the public API (recommend,
// neighbors, items). Charts are uPlot, served by genrec itself from node_modules at /vendor/.
// Everything shown comes from those endpoints; data text is always inserted as text, never as HTML.

const $ = (id) => document.getElementById(id);

/** Element builder: h('td', {class: 'x', onclick}, 'text', childNode, ...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function table(headers, rows, attrs = {}) {
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', {}, c)))))));
}

const fmt = (v, digits = 4) => {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return Math.abs(v) >= 100 ? v.toFixed(1) : Number(v.toPrecision(digits)).toString();
};
const pct = (v) => (v === null || v === undefined ? '–' : `${(100 * v).toFixed(2)} %`);
const code = (c) => (c && c.length ? c.join('·') : '–');

// ---- API access ---------------------------------------------------------------------------------------
// A server started with --auth-reads wants its key on reads too: ask once, keep it in this browser.
async function api(path) {
  const key = localStorage.getItem('genrec.apiKey');
  let res = await fetch(path, { headers: key ? { 'x-api-key': key } : {} });
  if (res.status === 401) {
    const k = window.prompt('This server needs its API key for reads:');
    if (k) { localStorage.setItem('genrec.apiKey', k); res = await fetch(path, { headers: { 'x-api-key': k } }); }
  }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) { const e = new Error(body.message || `${res.status} ${path}`); e.status = res.status; e.code = body.code; throw e; }
  return body;
}

function showError(e) {
  const box = $('error');
  box.textContent = `${e.code ? e.code + ': ' : ''}${e.message}`;
  box.hidden = false;
}
const clearError = () => { $('error').hidden = true; };

// ---- overview -----------------------------------------------------------------------------------------
let modelVersion = null;

function card(label, value, sub) {
  return h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
}

/** Offline metrics from the bundle manifest: `<group>_<metric>@<k>` keys become a table. */
function offlineTable(metrics) {
  const groups = new Map();
  const other = [];
  for (const [key, v] of Object.entries(metrics || {})) {
    const m = /^(.*)_((?:recall|ndcg)@\d+)$/.exec(key);
    if (m) { if (!groups.has(m[1])) groups.set(m[1], {}); groups.get(m[1])[m[2]] = v; }
    else if (key !== 'valid_ndcg10') other.push([key, v]); // valid_ndcg10 repeats valid_ndcg@10 (genrec train's key)
  }
  const names = { test: 'genrec · test', mostpop_test: 'MostPop · test', valid: 'genrec · validation' };
  const order = ['test', 'mostpop_test', 'valid'];
  const cols = [...groups.keys()].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  const rowsKeys = [...new Set(cols.flatMap((g) => Object.keys(groups.get(g))))].sort((a, b) => {
    const [ma, ka] = a.split('@'), [mb, kb] = b.split('@');
    return Number(ka) - Number(kb) || ma.localeCompare(mb);
  });
  const out = [];
  if (cols.length) {
    out.push(table(['metric', ...cols.map((g) => names[g] || g)], rowsKeys.map((k) => [k, ...cols.map((g) => fmt(groups.get(g)[k]))]), { id: 'offline-table' }));
  }
  if (other.length) out.push(table(['other', 'value'], other.map(([k, v]) => [k, fmt(v)])));
  return out.length ? out : [h('p', { class: 'note' }, 'This bundle records no offline metrics.')];
}

async function loadOverview() {
  const o = await api('/api/dashboard/overview');
  const m = o.Model;
  if (m && m.Version !== modelVersion) { modelVersion = m.Version; loadCurves().catch(showError); loadCodes([]).catch(showError); }
  $('model-badge').textContent = m ? `model v${m.Version}` : 'no model (trending only)';
  $('cards').replaceChildren(
    card('Users', fmt(o.Users)),
    card('Items', fmt(o.Items)),
    card('Events', fmt(o.Events), o.LiveEvents ? `${fmt(o.LiveEvents)} since start` : null),
    card('Model', m ? `v${m.Version}` : '–', m ? `${m.Arch} · d=${m.DModel} · ${m.Layers} layers · ${new Date(m.CreatedAt).toLocaleString()}` : 'none loaded'),
    card('Parameters', m ? fmt(m.Parameters) : '–', m ? `history ≤ ${m.MaxLen}` : null),
    card('Semantic IDs', m ? m.CodeSizes.join(' × ') : '–', m && typeof m.Tokenizer.collisionRate === 'number' ? `collisions before de-dup ${pct(m.Tokenizer.collisionRate)}` : null),
    card('Trained on', m ? `${fmt(m.Data.events)} events` : '–', m ? `${m.Data.label} · ${fmt(m.Data.users)} users · ${fmt(m.Data.items)} items` : null),
  );
  $('offline').replaceChildren(...(m ? offlineTable(m.Metrics) : [h('p', { class: 'note' }, 'No model loaded.')]));
  $('ctr').replaceChildren(o.Ctr.length
    ? table(['model', 'recommendations', 'impressions', 'clicks', 'CTR'], o.Ctr.map((r) => [r.ModelVersion ? `v${r.ModelVersion}` : 'trending', fmt(r.Recommendations), fmt(r.Impressions), fmt(r.Clicks), pct(r.Ctr)]), { id: 'ctr-table' })
    : h('p', { class: 'note' }, 'No recommendations served yet. Feedback that cites a RecommendationId counts as a click.'));
}

// ---- charts -------------------------------------------------------------------------------------------
const charts = {};
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea'];

function lineChart(id, title, xLabel, series, data, { time = false, yLabel = '', axes = null } = {}) {
  const el = $(id);
  charts[id]?.destroy();
  el.replaceChildren();
  const width = Math.max(280, el.clientWidth || 480);
  charts[id] = new uPlot({
    width, height: 240, title,
    scales: { x: { time } },
    // Epochs are whole numbers: integer tick steps only.
    axes: axes || [{ label: xLabel, incrs: [1, 2, 5, 10, 20, 50, 100] }, { label: yLabel, size: 60 }],
    series: [{ label: xLabel }, ...series.map((s, i) => ({ stroke: COLORS[i % COLORS.length], width: 2, points: { show: true, size: time ? 4 : 6 }, spanGaps: !time, ...s }))],
  }, data, el);
}

async function loadCurves() {
  let c;
  try {
    c = await api('/api/dashboard/curves');
  } catch (e) {
    if (e.status !== 404) throw e;
    $('curves-note').textContent = e.message;
    for (const id of ['chart-loss', 'chart-metric']) { charts[id]?.destroy(); delete charts[id]; $(id).replaceChildren(); }
    return;
  }
  const ep = c.Epochs;
  $('curves-note').textContent = `model v${c.ModelVersion}: ${ep.length} epochs; best epoch ${c.BestEpoch ?? '–'} (selected on validation ${c.Metric}).`;
  lineChart('chart-loss', '', 'epoch', [{ label: 'loss' }], [ep.map((e) => e.Epoch), ep.map((e) => e.Loss)], { yLabel: 'cross-entropy' });
  const withM = ep.filter((e) => e.Metrics);
  const keys = withM.length ? Object.keys(withM[0].Metrics).filter((k) => /^(ndcg|recall)@10$/.test(k)) : [];
  $('metric-title').textContent = `Validation ${keys.join(' and ') || c.Metric} per epoch`;
  lineChart('chart-metric', '', 'epoch', keys.map((k) => ({ label: k })), [withM.map((e) => e.Epoch), ...keys.map((k) => withM.map((e) => e.Metrics[k]))]);
}

async function loadLatency() {
  const l = await api('/api/dashboard/latency');
  const xs = Array.from({ length: l.Window }, (_, i) => l.Start + i);
  const r = l.Kinds.recommend;
  const data = [xs, r.P50, r.P95, l.Kinds.read.P50, xs.map((_, i) => l.Kinds.recommend.Rps[i] + l.Kinds.read.Rps[i] + l.Kinds.write.Rps[i])];
  if (!charts['chart-latency']) {
    lineChart('chart-latency', '', 'time', [
      { label: 'recommend p50 ms', scale: 'ms' }, { label: 'recommend p95 ms', scale: 'ms' }, { label: 'other reads p50 ms', scale: 'ms' },
      { label: 'requests/s', scale: 'rps', dash: [4, 4], points: { show: false } },
    ], data, { time: true, axes: [{}, { scale: 'ms', label: 'milliseconds', size: 60 }, { scale: 'rps', side: 1, label: 'requests / s', size: 60, grid: { show: false } }] });
  } else charts['chart-latency'].setData(data);
  const s = (k, label) => {
    const x = l.Kinds[k].Summary;
    return card(label, x.Count ? `${fmt(x.P50, 3)} ms` : '–', x.Count ? `p95 ${fmt(x.P95, 3)} ms · p99 ${fmt(x.P99, 3)} ms · ${fmt(x.Count)} requests` : 'no requests in the window');
  };
  $('latency-summary').replaceChildren(s('recommend', 'Recommendations p50'), s('read', 'Other reads p50'), s('write', 'Writes p50'));
}

// ---- items (titles, links) ----------------------------------------------------------------------------
const titles = new Map();
const itemLink = (id, title) => {
  if (title !== undefined) titles.set(id, title);
  return h('a', { href: `#similar`, class: 'item', 'data-item': id, onclick: (ev) => { ev.preventDefault(); openItem(id).catch(showError); } }, titles.get(id) || id);
};

async function titleOf(id) {
  if (!titles.has(id)) {
    try { titles.set(id, (await api(`/api/item/${encodeURIComponent(id)}`)).Title || id); } catch { titles.set(id, id); }
  }
  return titles.get(id);
}

// ---- user explorer ------------------------------------------------------------------------------------
async function loadUserPicks() {
  const u = await api('/api/dashboard/users?n=6');
  $('user-picks').replaceChildren('most active: ', ...u.Users.map((x) => h('button', { type: 'button', class: 'link', onclick: () => openUser(x.UserId).catch(showError) }, x.UserId)));
}

async function suggestUsers() {
  const q = $('user-q').value.trim();
  const u = await api(`/api/dashboard/users?n=20&q=${encodeURIComponent(q)}`);
  $('user-list').replaceChildren(...u.Users.map((x) => h('option', { value: x.UserId }, `${x.Events} events`)));
}

async function openUser(id) {
  clearError();
  $('user-q').value = id;
  const [u, rec] = await Promise.all([api(`/api/dashboard/user/${encodeURIComponent(id)}?n=30`), api(`/api/recommend/${encodeURIComponent(id)}?n=10`)]);
  for (const e of u.History) titles.set(e.ItemId, e.Title);
  $('user-events').textContent = `(last ${u.History.length} of ${u.Events} events, newest first)`;
  $('user-history').replaceChildren(table(['title', 'event', 'time', 'semantic ID'],
    [...u.History].reverse().map((e) => [itemLink(e.ItemId, e.Title), e.FeedbackType, e.Timestamp ? e.Timestamp.replace('T', ' ').slice(0, 16) : '–', h('code', {}, code(e.SemanticId))]), { id: 'history-table' }));
  $('rec-source').textContent = rec.Source === 'generator' ? `(generated by model v${rec.ModelVersion})` : `(${rec.Source}: ${rec.Reason || ''})`;
  const followed = (x) => (x.Why && x.Why.Followed ? x.Why.Followed : []);
  const whyIds = [...new Set(rec.Items.flatMap((x) => (x.Why ? [...x.Why.Items, ...followed(x).map((f) => f.ItemId)] : [])))];
  await Promise.all(whyIds.map(titleOf));
  // Why: the history items sharing its semantic-ID prefix, and the recent ones it was memorised after.
  const why = (x) => {
    if (!x.Why) return 'popular right now';
    const parts = [];
    if (x.Why.Items.length && x.Why.SharedPrefix.length) parts.push(`shares prefix ${code(x.Why.SharedPrefix)} with `, ...x.Why.Items.flatMap((w, k) => [k ? ', ' : '', itemLink(w)]));
    if (followed(x).length) parts.push(parts.length ? '; ' : '', 'came next after ', ...followed(x).flatMap((f, k) => [k ? ', ' : '', itemLink(f.ItemId), ` (${fmt(f.Times, 2)}×)`]));
    return parts.length ? h('span', {}, ...parts) : 'no history item shares its first code';
  };
  $('user-recs').replaceChildren(rec.Items.length ? table(['#', 'recommended', 'score (log p)', 'why'], rec.Items.map((x, i) => [
    String(i + 1), itemLink(x.ItemId, x.Title), fmt(x.Score, 3), why(x),
  ]), { id: 'recs-table' }) : h('p', { class: 'note' }, 'No recommendations: every item the model knows is excluded for this user (items already seen are left out).'));
  $('user-view').hidden = false;
  history.replaceState(null, '', `#user=${encodeURIComponent(id)}`);
}

// ---- similar items ------------------------------------------------------------------------------------
async function suggestItems() {
  const q = $('item-q').value.trim();
  if (q.length < 2) return;
  const r = await api(`/api/dashboard/items?n=20&q=${encodeURIComponent(q)}`);
  $('item-list').replaceChildren(...r.Items.map((x) => h('option', { value: x.ItemId }, x.Title)));
}

async function openItem(id) {
  clearError();
  const [it, nb] = await Promise.all([api(`/api/item/${encodeURIComponent(id)}`), api(`/api/item/${encodeURIComponent(id)}/neighbors?n=10`)]);
  titles.set(id, it.Title);
  $('item-q').value = id;
  $('item-head').replaceChildren(h('strong', {}, it.Title || id), ` · ${id} · semantic ID `, h('code', {}, code(it.SemanticId)),
    it.Categories && it.Categories.length ? ` · ${it.Categories.join(', ')}` : '');
  $('item-similar').replaceChildren(table(['#', 'similar item', 'score (log p)', 'shared prefix'], nb.Items.map((x, i) => [
    String(i + 1), itemLink(x.ItemId, x.Title), fmt(x.Score, 3), h('code', {}, x.Why ? code(x.Why.SharedPrefix) : '–'),
  ]), { id: 'similar-table' }));
  $('item-view').hidden = false;
  $('similar').scrollIntoView({ behavior: 'smooth' });
}

// ---- semantic-ID explorer -----------------------------------------------------------------------------
async function loadCodes(prefix) {
  let r;
  try { r = await api(`/api/dashboard/codes?prefix=${prefix.join(',')}`); } catch (e) {
    if (e.status !== 404) throw e;
    $('code-children').replaceChildren(h('p', { class: 'note' }, e.message));
    return;
  }
  const L = r.CodeSizes.length;
  $('code-crumbs').replaceChildren(
    h('button', { type: 'button', class: 'link', onclick: () => loadCodes([]).catch(showError) }, `all ${L}-level IDs`),
    ...prefix.map((c, i) => [' › ', h('button', { type: 'button', class: 'link', onclick: () => loadCodes(prefix.slice(0, i + 1)).catch(showError) }, `level ${i + 1}: ${c}`)]).flat(),
    ` — ${fmt(r.Items)} items`,
  );
  const deeper = prefix.length + 1 < L;
  $('code-children').replaceChildren(table([`level ${prefix.length + 1} code`, 'items', 'for example'], r.Children.map((c) => [
    deeper ? h('button', { type: 'button', class: 'link code', onclick: () => loadCodes([...prefix, c.Code]).catch(showError) }, [...prefix, c.Code].join('·')) : h('code', {}, [...prefix, c.Code].join('·')),
    fmt(c.Items),
    h('span', {}, ...c.Sample.flatMap((s, k) => [k ? ' · ' : '', itemLink(s.ItemId, s.Title)]), c.Items > c.Sample.length ? ' …' : ''),
  ]), { id: 'codes-table' }));
  $('code-items').replaceChildren(...(r.ItemList && prefix.length ? [h('h3', {}, `Items under ${prefix.join('·')}`), table(['title', 'item', 'semantic ID'], r.ItemList.map((x) => [itemLink(x.ItemId, x.Title), x.ItemId, h('code', {}, code(x.SemanticId))]))] : []));
}

// ---- start --------------------------------------------------------------------------------------------
$('user-form').addEventListener('submit', (ev) => { ev.preventDefault(); const id = $('user-q').value.trim(); if (id) openUser(id).catch(showError); });
$('user-q').addEventListener('input', () => { suggestUsers().catch(() => {}); });
$('item-form').addEventListener('submit', (ev) => { ev.preventDefault(); const id = $('item-q').value.trim(); if (id) openItem(id).catch(showError); });
$('item-q').addEventListener('input', () => { suggestItems().catch(() => {}); });
window.addEventListener('resize', () => { for (const [id, c] of Object.entries(charts)) c.setSize({ width: Math.max(280, $(id).clientWidth), height: 240 }); });

async function start() {
  await loadOverview();
  if (modelVersion === null) { loadCurves().catch(showError); loadCodes([]).catch(showError); }
  await loadUserPicks();
  await loadLatency();
  const m = /^#user=(.+)$/.exec(location.hash);
  if (m) await openUser(decodeURIComponent(m[1]));
  setInterval(() => loadOverview().catch(() => {}), 5000);
  setInterval(() => loadLatency().catch(() => {}), 2000);
  document.body.dataset.ready = '1';
}
start().catch(showError);
