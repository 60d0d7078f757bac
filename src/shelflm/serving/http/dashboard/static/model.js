// Model (#/model, #/model?version=<folder>): the model card, versions and a comparison.
import {
  api, h, enc, card, muted, table, kvTable, fmtNum, fmtPct, fmtBytes, fmtTime, fmtValue,
} from './app.js';
import { curvesChart } from './charts.js';

const json = (v) => h('pre', { class: 'mono box' }, JSON.stringify(v, null, 2));
const metricNames = (...objs) => [...new Set(objs.flatMap((o) => Object.keys(o || {})))].filter((k) => k !== 'epoch').sort();

// Without a PEFT method the language model is frozen (its item vectors are cached) and only
// the towers train: their share of their own weights says nothing about the LM.
function fineTuning(t, share, counts) {
  if (typeof t.share !== 'number') return t.method || 'none recorded';
  if (!t.method) return `none: language model frozen; ${fmtNum(t.trainable)} tower weights trained`;
  return `${t.method}: ${share} of the weights trainable${counts}`;
}

function summary(c) {
  const t = c.tuning || {};
  const share = typeof t.share === 'number' ? fmtPct(t.share, t.share >= 0.01 ? 1 : 3) : '–';
  const counts = t.trainable !== null && t.trainable !== undefined
    ? ` (${fmtNum(t.trainable)} of ${fmtNum(t.total)} weights)` : '';
  return kvTable({
    version: c.version ?? '–',
    folder: c.directory ?? c.name ?? '–',
    saved: c.saved ? fmtTime(c.saved) : '–',
    size: fmtBytes(c.size_bytes),
    items: fmtNum(c.num_items),
    dims: `item ${fmtNum(c.dim)}, text ${fmtNum(c.text_dim)}`,
    'encoder model': c.encoder?.model ?? '–',
    pooling: c.encoder?.pooling ?? '–',
    'item template': c.item_format ?? '–',
    'fine-tuning': fineTuning(t, share, counts),
    format: `${c.model ?? '?'} v${c.format_version ?? '?'}`,
    modalities: (c.modalities || []).length ? c.modalities.map(fmtValue).join(', ') : 'text only',
  }, { id: 'model-summary' });
}

function metricsTable(m) {
  const valid = m?.valid || {}, test = m?.test || {};
  const names = metricNames(valid, test);
  if (!names.length) return h('div', { id: 'metrics-table' }, muted('no metrics recorded'));
  return h('div', { id: 'metrics-table' },
    valid.epoch !== undefined ? muted(`valid: best epoch ${valid.epoch}`) : null,
    table(['Metric', 'Valid', 'Test'], names.map((k) => [k, fmtValue(valid[k]), fmtValue(test[k])])));
}

function versionsBlock(ctx, v) {
  const versions = v.versions || [];
  const rows = versions.map((x) => [
    h('a', { href: `#/model?version=${enc(x.name)}` }, x.name),
    x.live ? h('span', { class: 'badge badge-live' }, 'live') : x.name === v.previous ? h('span', { class: 'badge' }, 'previous') : '',
    fmtTime(x.saved), fmtValue(x['ndcg@10'])]);
  const out = [muted(`models directory: ${v.models_dir ?? '?'}`),
    table(['Version', '', 'Saved', 'test ndcg@10'], rows, { id: 'versions-table' })];
  const result = h('div', { id: 'compare-result' });
  if (versions.length < 2) {
    result.append(muted('one version in the models directory: nothing to compare'));
    return [...out, result];
  }
  const names = versions.map((x) => x.name);
  const live = v.live && names.includes(v.live) ? v.live : names[0];
  const other = names.find((n) => n !== live);
  const sel = (id, chosen) => h('select', { id, 'aria-label': id }, names.map((n) => h('option', { value: n, selected: n === chosen }, n)));
  const a = sel('compare-a', live), b = sel('compare-b', other);
  const button = h('button', { id: 'compare-button', type: 'button' }, 'Compare');
  button.addEventListener('click', async () => {
    button.disabled = true;
    result.replaceChildren(muted('comparing…'));
    const res = await api(`/dashboard/api/compare?a=${enc(a.value)}&b=${enc(b.value)}`);
    if (!ctx.alive) return;
    button.disabled = false;
    result.replaceChildren(res.ok ? compareView(res.data || {}) : h('p', { class: 'error' }, `compare failed: ${res.error}`));
  });
  return [...out, h('div', { class: 'row' }, h('span', {}, 'Compare'), a, h('span', {}, 'with'), b, button), result];
}

function compareView(d) {
  const head = (c) => h('div', { class: 'cmp-head' }, h('strong', {}, c?.name ?? '?'),
    h('div', { class: 'mono small' }, c?.version ?? '–'), h('div', { class: 'muted small' }, fmtTime(c?.saved)));
  const diff = (a, b) => (typeof a === 'number' && typeof b === 'number' ? b - a : null);
  const sign = (x) => (x === null ? '–' : `${x > 0 ? '+' : ''}${fmtNum(x, 4)}`);
  const metrics = d.metrics || [];
  const cfg = d.config_diff || [];
  return h('div', {},
    h('div', { class: 'grid2 cmp' }, h('div', {}, h('span', { class: 'muted small' }, 'A'), head(d.a)),
      h('div', {}, h('span', { class: 'muted small' }, 'B'), head(d.b))),
    h('h3', {}, 'Metrics'),
    metrics.length
      ? table(['Split', 'Metric', 'A', 'B', 'B − A'], metrics.map((m) => {
        const x = diff(m.a, m.b);
        return h('tr', {}, h('td', {}, m.split ?? ''), h('td', {}, m.metric ?? ''), h('td', {}, fmtValue(m.a)), h('td', {}, fmtValue(m.b)),
          h('td', { class: x === null ? '' : x > 0 ? 'up' : x < 0 ? 'down' : '' }, sign(x)));
      }), { id: 'compare-metrics' })
      : muted('no metrics to compare'),
    h('h3', {}, 'Settings that differ'),
    cfg.length
      ? table(['Setting', 'A', 'B'], cfg.map((c) => [h('span', { class: 'mono' }, c.key), fmtValue(c.a), fmtValue(c.b)]), { id: 'config-diff' })
      : muted('no setting differs'));
}

export async function render(main, ctx, { query }) {
  const version = query.get('version');
  const page = h('div', { 'data-testid': 'model', class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, version ? `Model ${version}` : 'Model (live)')));
  const body = h('div', {}, muted('loading…'));
  page.append(body);
  main.append(page);
  const res = await api(`/dashboard/api/model${version ? `?version=${enc(version)}` : ''}`);
  if (!ctx.alive) return;
  if (!res.ok) {
    const msg = res.status === 404 ? `unknown version: ${version}` : ctx.authFailed(res) ? 'no access without a key' : `could not load the model card: ${res.error}`;
    body.replaceChildren(h('p', { class: 'error' }, msg));
    ctx.ready('model');
    return;
  }
  const c = res.data || {};
  const curvesBox = h('div', { id: 'curves-chart', class: 'chart' });
  const curves = Array.isArray(c.curves) ? c.curves.filter((r) => typeof r?.epoch === 'number') : [];
  const versionsBox = h('div', { id: 'versions' }, muted('loading…'));
  const data = c.data && typeof c.data === 'object' ? c.data : null;
  body.replaceChildren(
    h('div', { class: 'grid2' },
      card('Model card', summary(c)),
      h('div', { class: 'stack' },
        card('Metrics', metricsTable(c.metrics)),
        card('Data', data ? kvTable(data, { id: 'data-table' }) : muted('no data section recorded')))),
    card('Training curves', curvesBox),
    card('Versions', versionsBox),
    card('Details',
      h('details', { id: 'lineage' }, h('summary', {}, 'Lineage (parent, ancestors)'), c.lineage ? json(c.lineage) : muted('no lineage recorded')),
      h('details', { id: 'training' }, h('summary', {}, 'Training record'), c.training ? json(c.training) : muted('none recorded')),
      h('details', { id: 'encoder' }, h('summary', {}, 'Encoder'), json(c.encoder ?? null)),
      h('details', { id: 'config' }, h('summary', {}, 'Full config (JSON)'), c.config ? json(c.config) : muted('no config recorded'))));
  if (curves.length) {
    const chart = curvesChart(curvesBox, curves);
    ctx.onLeave(() => chart.destroy());
  } else {
    curvesBox.replaceChildren(muted('no training curve recorded'));
  }
  const vres = await api('/dashboard/api/versions');
  if (!ctx.alive) return;
  versionsBox.replaceChildren(...(vres.ok ? versionsBlock(ctx, vres.data || {})
    : [h('p', { class: 'error' }, `could not list the versions: ${vres.error}`)]));
  ctx.ready('model');
}
