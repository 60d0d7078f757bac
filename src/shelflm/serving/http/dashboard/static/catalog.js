// Catalog search (#/catalog?q=...) and the item page (#/item/<id>).
import {
  api, h, enc, card, muted, table, tableWrap, kvTable, itemLink, userLink, fmtNum, fmtTime, fmtValue, navigate,
} from './app.js';

const score = (v) => (typeof v === 'number' ? v.toFixed(3) : '–');

function resultRows(items, testid) {
  return items.map((it, i) => h('tr', { 'data-testid': testid, 'data-item-id': it.item_id },
    h('td', { class: 'num' }, String(i + 1)),
    h('td', {}, itemLink(it.item_id, it.title || it.item_id), h('div', { class: 'muted small mono' }, it.item_id)),
    h('td', {}, it.category ?? '–'),
    h('td', { class: 'num' }, score(it.score))));
}

export async function renderCatalog(main, ctx, { query }) {
  const q = (query.get('q') || '').trim();
  const input = h('input', {
    id: 'search-input', type: 'search', value: q, placeholder: 'what a shopper might type, e.g. "red running shoes"',
    'aria-label': 'search the catalog', autocomplete: 'off',
  });
  const form = h('form', { class: 'row', role: 'search' }, input, h('button', { id: 'search-button', type: 'submit' }, 'Search'));
  const results = h('div', { id: 'search-results' });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = input.value.trim();
    navigate(v ? `#/catalog?q=${enc(v)}` : '#/catalog');
  });
  main.append(h('div', { 'data-testid': 'catalog', class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Catalog')),
    card('Search', muted('Uses the server\'s own search (POST /search), as shoppers would.'), form, results)));

  if (!q) {
    results.append(muted('Type a few words and press Enter to search the catalog.', { class: 'muted hint' }));
    ctx.ready('catalog');
    return;
  }
  results.append(muted('searching…'));
  const res = await api('/search', { method: 'POST', body: { query: q, k: 20 } });
  if (!ctx.alive) return;
  if (!res.ok) {
    ctx.authFailed(res);
    results.replaceChildren(h('p', { class: 'error' }, `search failed: ${res.error}`));
  } else {
    const items = res.data?.items || [];
    results.replaceChildren(
      muted(`${items.length} result${items.length === 1 ? '' : 's'} for “${q}”; model ${res.data?.model_version ?? '?'}`),
      items.length ? table(['#', 'Title', 'Category', 'Score'], resultRows(items, 'result')) : muted('nothing found'));
  }
  ctx.ready('catalog');
}

function fieldValue(v) {
  if (v && typeof v === 'object' && !Array.isArray(v)) return kvTable(v);
  if (Array.isArray(v)) return v.map(fmtValue).join(', ');
  return fmtValue(v);
}

export async function renderItem(main, ctx, { rest: id }) {
  const page = h('div', { 'data-testid': 'item', class: 'page' });
  main.append(page);
  if (!id) {
    page.append(h('h1', {}, 'Item'), muted('No item id: search the catalog to pick one.'));
    ctx.ready('item');
    return;
  }
  page.append(muted('loading…'));
  const res = await api(`/dashboard/api/items/${enc(id)}`);
  if (!ctx.alive) return;
  if (!res.ok) {
    const msg = res.status === 404 ? `unknown item: ${id}` : ctx.authFailed(res) ? 'no access to this item without a key' : `could not load the item: ${res.error}`;
    page.replaceChildren(h('h1', {}, 'Item'), h('p', { class: 'error', id: 'item-error' }, msg));
    ctx.ready('item');
    return;
  }
  const d = res.data || {};
  const similar = h('div', { id: 'similar-items' }, muted('loading…'));
  const events = d.events || [];
  const fields = Object.entries(d.fields || {});
  page.replaceChildren(
    h('div', { class: 'page-head' }, h('h1', { id: 'item-title' }, d.title || d.item_id), h('span', { class: 'muted mono' }, d.item_id)),
    h('div', { class: 'grid2' },
      card('Item',
        kvTable({
          category: d.category ?? '–',
          brand: d.brand ?? '–',
          price: d.price === null || d.price === undefined ? '–' : fmtNum(d.price, 2),
          stock: d.in_stock === false ? 'out of stock' : d.in_stock === true ? 'in stock' : '–',
          popularity: fmtNum(d.popularity),
        }, { id: 'item-facts' }),
        h('h3', {}, 'What the language model reads'),
        h('pre', { class: 'mono box', id: 'item-text' }, d.text ?? '')),
      card('Similar items', similar)),
    card('Other fields', fields.length
      ? tableWrap(h('table', { class: 'kv', id: 'item-fields' }, h('tbody', {},
        fields.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, fieldValue(v)))))))
      : muted('no other fields')),
    card(`Recent events (${events.length})`, events.length
      ? table(['When', 'Shopper', 'Event', 'Value'], events.map((e) => [fmtTime(e.timestamp), userLink(e.user_id), e.event, fmtNum(e.value)]), { id: 'item-events' })
      : muted('no events for this item yet')));

  const sim = await api(`/items/${enc(id)}/similar?k=10`);
  if (!ctx.alive) return;
  if (!sim.ok) {
    similar.replaceChildren(h('p', { class: 'error' }, `could not load similar items: ${sim.error}`));
  } else {
    const items = sim.data?.items || [];
    similar.replaceChildren(items.length
      ? h('ol', { class: 'linklist' }, items.map((it) => h('li', { 'data-testid': 'similar', 'data-item-id': it.item_id },
        itemLink(it.item_id, it.title || it.item_id), ' ',
        h('span', { class: 'muted small' }, `${it.category ?? ''} · ${score(it.score)}`))))
      : muted('no similar items'));
  }
  ctx.ready('item');
}
