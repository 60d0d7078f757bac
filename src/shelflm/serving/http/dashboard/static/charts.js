// uPlot helpers: charts that follow their container's width and can be fed new data.
import { h } from './app.js';

const COLORS = ['#2f6fde', '#e4572e', '#17a673', '#8e5bd8'];

const fmt = (v, digits = 2) => (v === null || v === undefined ? '–'
  : Number(v).toLocaleString('en-US', { maximumFractionDigits: digits }));

// axis width that fits its longest label
const axisSize = (u, values) => (values && values.length
  ? Math.max(36, Math.ceil(Math.max(...values.map((v) => String(v).length)) * 7.5 + 18)) : 36);

// y from 0 to a little above the highest value of any series (0..1 with no data)
const zeroBased = (u) => {
  let m = 0;
  for (let i = 1; i < u.data.length; i += 1) for (const v of u.data[i]) if (typeof v === 'number' && v > m) m = v;
  return [0, m > 0 ? m * 1.1 : 1];
};

// x: the data's span, widened to 10 minutes around a single point
const timeSpan = (u, min, max) => {
  const t = u.data[0].filter((v) => typeof v === 'number');
  if (!t.length) return [min ?? 0, max ?? 1];
  const lo = Math.min(...t), hi = Math.max(...t);
  return hi > lo ? [lo, hi] : [lo - 300, hi + 300];
};

function mount(el, opts, data) {
  if (!window.uPlot) {
    el.replaceChildren(h('p', { class: 'muted' }, 'charts unavailable (uPlot did not load)'));
    return { setData() {}, destroy() {} };
  }
  const width = () => Math.max(200, Math.floor(el.clientWidth || 300));
  const u = new window.uPlot({ ...opts, width: width() }, data, el);
  let last = width();
  let frame = 0;
  const ro = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      const w = width();
      if (w !== last) { last = w; u.setSize({ width: w, height: opts.height }); }
    });
  });
  ro.observe(el);
  return {
    uplot: u,
    setData(d) { u.setData(d); },
    destroy() { cancelAnimationFrame(frame); ro.disconnect(); u.destroy(); },
  };
}

// series: [{label, digits, unit}], data: [t[], ys[]...] with t in epoch seconds
export function timeChart(el, series, data, { height = 180, unit = '' } = {}) {
  return mount(el, {
    height,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true, range: timeSpan }, y: { range: zeroBased } },
    series: [
      { label: 'time' },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color || COLORS[i % COLORS.length],
        width: 2,
        points: { size: 4 },
        value: (u, v) => (v === null || v === undefined ? '–' : `${fmt(v, s.digits ?? 2)}${unit}`),
      })),
    ],
    axes: [
      { stroke: '#667085', grid: { stroke: '#eef0f3' } },
      { stroke: '#667085', grid: { stroke: '#eef0f3' }, size: axisSize, values: (u, vals) => vals.map((v) => `${fmt(v, 2)}${unit}`) },
    ],
  }, data);
}

// training curves: x = epoch; train_loss on the left axis, valid_ndcg@10 on the right
export function curvesChart(el, curves, { height = 260 } = {}) {
  const rows = [...curves].filter((r) => typeof r.epoch === 'number').sort((a, b) => a.epoch - b.epoch);
  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const data = [rows.map((r) => r.epoch), rows.map((r) => num(r.train_loss)), rows.map((r) => num(r['valid_ndcg@10']))];
  return mount(el, {
    height,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: false }, loss: { auto: true }, ndcg: { auto: true } },
    series: [
      { label: 'epoch', value: (u, v) => (v === null || v === undefined ? '–' : String(v)) },
      { label: 'train loss', scale: 'loss', stroke: COLORS[1], width: 2, spanGaps: true, value: (u, v) => fmt(v, 4) },
      { label: 'valid ndcg@10', scale: 'ndcg', stroke: COLORS[0], width: 2, spanGaps: true, value: (u, v) => fmt(v, 4) },
    ],
    axes: [
      { label: 'epoch', stroke: '#667085', grid: { stroke: '#eef0f3' }, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] },
      { scale: 'loss', label: 'train loss', stroke: COLORS[1], grid: { stroke: '#eef0f3' }, size: axisSize, values: (u, v) => v.map((x) => fmt(x, 3)) },
      { scale: 'ndcg', label: 'ndcg@10', side: 1, stroke: COLORS[0], grid: { show: false }, size: axisSize, values: (u, v) => v.map((x) => fmt(x, 3)) },
    ],
  }, data);
}
