// Overview: stat cards and four live charts, polled every 5 s.
import { api, h, fmtNum, fmtPct, fmtAge, fmtClock, muted } from './app.js';
import { timeChart } from './charts.js';

const POLL_MS = 5000;
const ms = (v) => (v === null || v === undefined ? '–' : `${fmtNum(v, 2)} ms`);
const windowText = (w) => (!w || !w.seconds ? 'recent window'
  : w.seconds === 3600 ? 'over the last hour' : `over the last ${fmtAge(w.seconds)}`);

// [name, label, value(d), note(d)]
const STATS = [
  ['items', 'Catalog items', (d) => fmtNum(d.catalog?.items), () => 'items in the catalog'],
  ['users', 'Shoppers', (d) => fmtNum(d.users), () => 'known user ids'],
  ['events', 'Events', (d) => fmtNum(d.events), () => 'stored interactions'],
  ['events-per-min', 'Events / min', (d) => fmtNum(d.window?.events_per_min, 2), (d) => windowText(d.window)],
  ['rps', 'Requests / s', (d) => fmtNum(d.window?.rps, 2),
    (d) => `${fmtNum(d.window?.requests)} requests ${windowText(d.window)}`],
  ['p50', 'Latency p50', (d) => ms(d.window?.p50_ms), (d) => windowText(d.window)],
  ['p99', 'Latency p99', (d) => ms(d.window?.p99_ms), (d) => windowText(d.window)],
  ['cache', 'Cache hit rate', (d) => fmtPct(d.cache?.hit_rate),
    (d) => `${fmtNum(d.cache?.hits)} hits, ${fmtNum(d.cache?.misses)} misses; ${fmtNum(d.cache?.size)} of ${fmtNum(d.cache?.capacity)} entries`],
  ['model', 'Model version', (d) => d.model?.version ?? '–',
    (d) => `${d.model?.name ?? '?'}, saved ${fmtAge(d.model?.age_s)} ago; reload #${fmtNum(d.model?.reload_generation)}`],
  ['index', 'Index', (d) => d.index?.kind ?? '–', (d) => `${fmtNum(d.index?.size)} vectors; worker pid ${d.worker_pid ?? '–'}`],
];

// [id, title, series [key, label], unit, scale]
const CHARTS = [
  ['chart-rps', 'Requests / s', [['rps', 'req/s']], '', 1],
  ['chart-latency', 'Latency (ms)', [['p50_ms', 'p50'], ['p99_ms', 'p99']], ' ms', 1],
  ['chart-events', 'Events / min', [['events_per_min', 'events/min']], '', 1],
  ['chart-cache', 'Cache hit rate (%)', [['cache_hit_rate', 'hit rate']], ' %', 100],
];

function seriesData(series, keys, scale) {
  const t = Array.isArray(series?.t) ? series.t : [];
  const col = (k) => {
    const a = Array.isArray(series?.[k]) ? series[k] : [];
    return t.map((_, i) => (typeof a[i] === 'number' ? a[i] * scale : null));
  };
  return [t, ...keys.map(([k]) => col(k))];
}

export async function render(main, ctx) {
  const stats = {};
  const statGrid = h('div', { class: 'stats' }, STATS.map(([name, label]) => {
    const value = h('div', { class: name === 'model' || name === 'index' ? 'stat-value long' : 'stat-value' }, '…');
    const note = h('div', { class: 'stat-note' }, '');
    stats[name] = { value, note };
    return h('div', { class: 'stat card', 'data-testid': `stat-${name}` }, h('div', { class: 'stat-label' }, label), value, note);
  }));
  const updated = h('span', { id: 'updated', class: 'muted small' }, '');
  const status = h('div', { id: 'overview-status', role: 'status' });
  const chartBoxes = {};
  const chartGrid = h('div', { class: 'charts' }, CHARTS.map(([id, title]) => {
    chartBoxes[id] = h('div', { id, class: 'chart' });
    return h('section', { class: 'card' }, h('h2', {}, title), chartBoxes[id]);
  }));
  main.append(h('div', { 'data-testid': 'overview', class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Overview'), updated),
    status, statGrid, chartGrid));

  const charts = {};
  let timer = 0;
  ctx.onLeave(() => {
    clearTimeout(timer);
    for (const c of Object.values(charts)) c.destroy();
  });

  const tick = async () => {
    const res = await api('/dashboard/api/overview');
    if (!ctx.alive) return;
    if (!res.ok) {
      if (ctx.authFailed(res)) {
        status.replaceChildren(muted('no data without a key; the page stops polling until a key is saved'));
        ctx.ready('overview');
        return; // no polling: each refused request would be another failed load
      }
      status.replaceChildren(h('p', { class: 'error' }, `could not load the overview: ${res.error}`));
      ctx.ready('overview');
      timer = setTimeout(tick, POLL_MS);
      return;
    }
    status.replaceChildren();
    const d = res.data || {};
    for (const [name, , value, note] of STATS) {
      stats[name].value.textContent = value(d);
      stats[name].note.textContent = note(d);
    }
    for (const [id, , keys, unit, scale] of CHARTS) {
      const data = seriesData(d.series, keys, scale);
      if (charts[id]) charts[id].setData(data);
      else charts[id] = timeChart(chartBoxes[id], keys.map(([, label]) => ({ label })), data, { unit });
    }
    const step = d.series?.interval_s;
    updated.textContent = `updated ${fmtClock()}${step ? `; one point per ${fmtAge(step)}` : ''}`;
    ctx.ready('overview');
    timer = setTimeout(tick, POLL_MS);
  };
  await tick();
}
