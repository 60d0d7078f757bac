// shelflm dashboard: router, API helper, key box and shared DOM helpers.
// Untrusted text only ever goes into the page through textContent / text nodes.
import * as overview from './overview.js';
import * as catalog from './catalog.js';
import * as shopper from './shopper.js';
import * as model from './model.js';
import * as ops from './ops.js';

const KEY_NAME = 'shelflm-api-key';

export function getKey() {
  try { return sessionStorage.getItem(KEY_NAME) || ''; } catch { return ''; }
}

function setKey(value) {
  try {
    if (value) sessionStorage.setItem(KEY_NAME, value); else sessionStorage.removeItem(KEY_NAME);
  } catch { /* storage blocked: the key is simply not kept */ }
}

// fetch JSON; never throws: answers {ok, status, data, error}.
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  const key = getKey();
  if (key) headers['X-API-Key'] = key;
  const init = { method, headers, cache: 'no-store', credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    return { ok: false, status: 0, data: null, error: `network error: ${err && err.message ? err.message : err}` };
  }
  let data = null;
  try { data = await resp.json(); } catch { data = null; }
  const error = resp.ok ? null : (data && typeof data.error === 'string' && data.error) || `HTTP ${resp.status}`;
  return { ok: resp.ok, status: resp.status, data, error };
}

export const isAuth = (res) => res && (res.status === 401 || res.status === 403);

// h('a', {href: '#/x', class: 'y', onclick: fn}, 'text', node, [more])
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const enc = encodeURIComponent;
export const itemLink = (id, text) => h('a', { href: `#/item/${enc(id)}` }, text || id);
export const userLink = (id) => h('a', { href: `#/shopper/${enc(id)}` }, id);
export const muted = (text, attrs) => h('p', { class: 'muted', ...attrs }, text);
export const card = (title, ...children) => h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);
export const tableWrap = (t) => h('div', { class: 'table-wrap' }, t);

export function table(headers, rows, attrs) {
  return tableWrap(h('table', attrs || {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows.map((r) => (r instanceof Node ? r : h('tr', {}, r.map((c) => h('td', {}, c))))))));
}

export function kvTable(obj, attrs) {
  const rows = Object.entries(obj || {}).map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, fmtValue(v))));
  return tableWrap(h('table', { class: 'kv', ...attrs }, h('tbody', {}, rows)));
}

export function fmtValue(v) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'number') return fmtNum(v, 4);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function fmtNum(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  return v.toLocaleString('en-US', { maximumFractionDigits: digits });
}

export const fmtPct = (v, digits = 1) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(digits)} %`);

export function fmtAge(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return '–';
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s} s`;
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), mi = Math.floor((s % 3600) / 60);
  if (d) return hr ? `${d} d ${hr} h` : `${d} d`;
  if (hr) return mi ? `${hr} h ${mi} min` : `${hr} h`;
  return `${mi} min`;
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

// epoch seconds or an ISO string -> local "YYYY-MM-DD HH:MM:SS"
export function fmtTime(t) {
  if (t === null || t === undefined || t === '') return '–';
  const d = typeof t === 'number' ? new Date(t * 1000) : new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export const fmtClock = (d = new Date()) => d.toTimeString().slice(0, 8);

// ---- router ----
const PAGES = {
  overview: overview.render,
  catalog: catalog.renderCatalog,
  item: catalog.renderItem,
  shopper: shopper.render,
  model: model.render,
  ops: ops.render,
};
const NAV_OF = { item: 'catalog' };
let current = null;

function parseHash() {
  let raw = location.hash.replace(/^#\/?/, '');
  let query = '';
  const qi = raw.indexOf('?');
  if (qi >= 0) { query = raw.slice(qi + 1); raw = raw.slice(0, qi); }
  const slash = raw.indexOf('/');
  const name = (slash >= 0 ? raw.slice(0, slash) : raw) || 'overview';
  let rest = slash >= 0 ? raw.slice(slash + 1) : '';
  try { rest = decodeURIComponent(rest); } catch { /* keep it raw */ }
  return { name, rest, query: new URLSearchParams(query) };
}

export function showAuthBanner(show) {
  document.getElementById('auth-banner').hidden = !show;
}

// go to a hash; when it is the current one already, render it again
export function navigate(hash) {
  if (location.hash === hash) route(); else location.hash = hash;
}

function route() {
  if (current) {
    current.alive = false;
    for (const f of current.cleanups) { try { f(); } catch { /* ignore */ } }
  }
  delete document.body.dataset.ready;
  delete document.body.dataset.simulated;
  showAuthBanner(false);
  let { name, rest, query } = parseHash();
  if (!PAGES[name]) { name = 'overview'; history.replaceState(null, '', '#/overview'); }
  const ctx = {
    alive: true,
    cleanups: [],
    onLeave(f) { this.cleanups.push(f); },
    ready(n = name) {
      if (!this.alive) return;
      window.shelflmReadyAt = window.shelflmReadyAt ?? performance.now(); // first data, for benchmarks
      document.body.dataset.ready = n;
    },
    // true (and the banner shown) when a read answered 401/403
    authFailed(res) { if (this.alive && isAuth(res)) { showAuthBanner(true); return true; } return false; },
  };
  current = ctx;
  const nav = NAV_OF[name] || name;
  for (const a of document.querySelectorAll('#nav a')) {
    const on = a.dataset.route === nav;
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${nav[0].toUpperCase()}${nav.slice(1)} · shelflm dashboard`;
  const main = document.getElementById('page');
  main.replaceChildren();
  Promise.resolve()
    .then(() => PAGES[name](main, ctx, { rest, query }))
    .catch((err) => {
      if (!ctx.alive) return;
      main.append(h('p', { class: 'error page-error' }, `page error: ${err && err.message ? err.message : err}`));
      ctx.ready(name);
    });
}

function setupKeyBox() {
  const input = document.getElementById('api-key');
  const state = document.getElementById('key-state');
  const show = () => { state.textContent = getKey() ? 'key set' : 'no key'; };
  input.value = getKey();
  show();
  document.getElementById('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    setKey(input.value.trim());
    show();
    route();
  });
  document.getElementById('forget-key').addEventListener('click', () => {
    setKey('');
    input.value = '';
    show();
    route();
  });
}

setupKeyBox();
window.addEventListener('hashchange', route);
route();
