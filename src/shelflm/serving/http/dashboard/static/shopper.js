// Shopper (#/shopper/<id>): timeline, recommendations, risk and an event simulator.
import {
  api, h, enc, card, muted, kvTable, itemLink, fmtNum, fmtTime, navigate, getKey, isAuth,
} from './app.js';

const EVENTS = ['view', 'click', 'add_to_cart', 'purchase'];

function timelineList(user) {
  const events = [...(user.events || [])].reverse(); // newest at the top
  if (!events.length) return muted(user.known === false ? 'unknown shopper: no events yet' : 'no events yet');
  return h('ol', { class: 'timeline' }, events.map((e) => h('li', { 'data-item-id': e.item_id },
    h('span', { class: 'muted small' }, fmtTime(e.timestamp)), ' ',
    h('span', { class: `badge ev-${e.event}` }, e.event), ' ',
    itemLink(e.item_id, e.title || e.item_id),
    e.title ? h('span', { class: 'muted small mono' }, ` ${e.item_id}`) : null,
    typeof e.value === 'number' && e.value !== 1 ? h('span', { class: 'muted small' }, ` × ${fmtNum(e.value, 2)}`) : null)));
}

function recList(recs, fresh) {
  const items = recs.items || [];
  if (!items.length) return muted('no recommendations');
  return h('ol', { class: 'recs' }, items.map((it) => {
    const isNew = fresh && fresh.has(it.item_id);
    return h('li', { 'data-testid': 'rec', 'data-item-id': it.item_id, class: isNew ? 'new' : null },
      h('div', { class: 'rec-head' },
        itemLink(it.item_id, it.title || it.item_id),
        isNew ? h('span', { class: 'badge badge-new' }, 'new') : null,
        h('span', { class: 'muted small score' }, typeof it.score === 'number' ? it.score.toFixed(3) : '–')),
      it.category ? h('div', { class: 'muted small' }, it.category) : null,
      it.because?.text ? h('div', { class: 'because' }, it.because.text) : null);
  }));
}

const sourceText = (r) => (r.source === 'popular' ? 'popular: no events yet'
  : r.source === 'personal' ? 'personal' : String(r.source ?? '?'));

function riskView(res) {
  if (!res) return muted('risk: needs the admin key');
  if (res === 'none') return muted('risk: no events yet for this shopper');
  if (isAuth(res)) return muted('risk: needs the admin key');
  if (!res.ok) return h('p', { class: 'error' }, `risk: ${res.error}`);
  const r = res.data || {};
  const reasons = (r.reasons || []).map((x) => (typeof x === 'string' ? x : x?.text)).filter(Boolean);
  return h('div', {},
    kvTable({
      score: typeof r.score === 'number' ? r.score.toFixed(3) : '–',
      flagged: r.flagged ? 'yes' : 'no',
      status: r.status ?? '–',
      quarantined: r.quarantined ? 'yes' : 'no',
      ...(typeof r.events === 'number' ? { 'events scored': fmtNum(r.events) } : {}),
    }),
    reasons.length ? h('ul', { class: 'reasons' }, reasons.map((t) => h('li', {}, t))) : muted('no reasons given'));
}

export async function render(main, ctx, { rest: id }) {
  const input = h('input', { id: 'user-input', type: 'text', value: id || '', placeholder: 'user id', 'aria-label': 'user id', autocomplete: 'off' });
  const form = h('form', { class: 'row' }, input, h('button', { id: 'user-go', type: 'submit' }, 'Show shopper'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = input.value.trim();
    navigate(v ? `#/shopper/${enc(v)}` : '#/shopper');
  });
  const page = h('div', { 'data-testid': 'shopper', class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, id ? `Shopper ${id}` : 'Shopper')), card(null, form));
  main.append(page);
  if (!id) {
    page.append(muted('Enter a shopper\'s user id to see their events, recommendations and risk.'));
    ctx.ready('shopper');
    return;
  }
  const body = h('div', {}, muted('loading…'));
  page.append(body);
  const ures = await api(`/dashboard/api/users/${enc(id)}`);
  if (!ctx.alive) return;
  if (ures.status === 404) { // an unknown shopper: still show what they would be recommended
    ures.ok = true;
    ures.data = { user_id: id, known: false, events: [], ab_bucket: null };
  }
  if (!ures.ok) {
    const msg = ctx.authFailed(ures) ? 'no access without a key' : `could not load the shopper: ${ures.error}`;
    body.replaceChildren(h('p', { class: 'error' }, msg));
    ctx.ready('shopper');
    return;
  }
  const recPath = `/users/${enc(id)}/recommendations?k=10`;
  // risk: admin only, and the route answers 404 for a shopper with no stored events
  const riskOf = (u) => (!getKey() ? null : (u.events || []).length ? api(`/users/${enc(id)}/risk`) : 'none');
  const [rres, risk] = await Promise.all([api(recPath), riskOf(ures.data || {})]);
  if (!ctx.alive) return;

  const timeline = h('div', { id: 'timeline' }, timelineList(ures.data || {}));
  const recBox = h('div', { id: 'recommendations' });
  const source = h('p', { id: 'rec-source', class: 'muted' });
  const showRecs = (r, fresh) => {
    if (!r.ok) {
      source.textContent = '';
      recBox.replaceChildren(h('p', { class: 'error' }, `could not load recommendations: ${r.error}`));
      return;
    }
    source.textContent = `source: ${sourceText(r.data)}; model ${r.data?.model_version ?? '?'}`;
    recBox.replaceChildren(recList(r.data || {}, fresh));
  };
  showRecs(rres);
  const bucket = ures.data?.ab_bucket;
  const riskBox = h('div', { id: 'risk' }, riskView(risk));

  // simulator
  const datalist = h('datalist', { id: 'sim-items' });
  const fillChoices = (r) => datalist.replaceChildren(...(r.data?.items || []).map((it) => h('option', { value: it.item_id }, it.title || '')));
  fillChoices(rres);
  const simItem = h('input', { id: 'sim-item', type: 'text', list: 'sim-items', value: rres.data?.items?.[0]?.item_id || '', 'aria-label': 'item id', autocomplete: 'off' });
  const simEvent = h('select', { id: 'sim-event', 'aria-label': 'event' }, EVENTS.map((e) => h('option', { value: e }, e)));
  const simSend = h('button', { id: 'sim-send', type: 'submit' }, 'Post event as this user');
  const simStatus = h('p', { id: 'sim-status', role: 'status', class: 'muted' });
  const simForm = h('form', { class: 'row' }, simItem, datalist, simEvent, simSend);
  let lastRecs = rres;
  simForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const item = simItem.value.trim();
    if (!item) { simStatus.textContent = 'choose an item first'; return; }
    delete document.body.dataset.simulated;
    simSend.disabled = true;
    simStatus.textContent = 'posting…';
    const post = await api('/events', { method: 'POST', body: { events: [{ user_id: id, item_id: item, event: simEvent.value }] } });
    if (!ctx.alive) return;
    if (!post.ok) {
      simSend.disabled = false;
      simStatus.textContent = isAuth(post) ? 'refused: posting events needs the admin key' : `refused: ${post.error}`;
      return;
    }
    simStatus.textContent = 'stored; refreshing…';
    const [u2, r2] = await Promise.all([api(`/dashboard/api/users/${enc(id)}`), api(recPath)]);
    if (!ctx.alive) return;
    if (u2.ok) riskBox.replaceChildren(riskView(await riskOf(u2.data || {})));
    if (!ctx.alive) return;
    simSend.disabled = false;
    if (u2.ok || u2.status === 404) timeline.replaceChildren(timelineList(u2.data?.events ? u2.data : { known: false }));
    const before = new Set((lastRecs.data?.items || []).map((it) => it.item_id));
    const after = r2.data?.items || [];
    const fresh = new Set(after.map((it) => it.item_id).filter((x) => !before.has(x)));
    showRecs(r2, fresh);
    if (r2.ok) { lastRecs = r2; fillChoices(r2); }
    simStatus.textContent = r2.ok
      ? `stored; ${fresh.size} of ${after.length} recommendations changed`
      : `stored; could not refresh the recommendations: ${r2.error}`;
    document.body.dataset.simulated = String(fresh.size);
  });

  const simCard = card('Simulator', muted('Post one event as this shopper (needs the admin key), then see what changes.'),
    simForm, simStatus);
  simCard.setAttribute('data-testid', 'simulator');
  body.replaceChildren(h('div', { class: 'grid2' },
    card('Recommendations', source, recBox),
    h('div', { class: 'stack' },
      simCard,
      card('Risk', riskBox),
      card('A/B', h('p', { id: 'ab-bucket' }, bucket === null || bucket === undefined ? 'A/B: no test running' : `A/B bucket: ${typeof bucket === 'object' ? JSON.stringify(bucket) : bucket}`)))),
  card('Timeline (latest events, newest first)', timeline));
  ctx.ready('shopper');
}
